//! Queries reach each storage node through the pooled client of its ring member: many queries
//! share one connection to the node instead of opening one each.

mod common;

use actix_web::{web, App, HttpResponse, HttpServer};
use common::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

#[tokio::test]
async fn queries_share_the_ring_members_pooled_connection() {
    // A storage node that answers every query with no series and counts the TCP connections
    // made to it.
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    let node = HttpServer::new(|| {
        // The body is read: actix closes a connection whose request body was left unread.
        App::new().default_service(web::to(|_body: web::Bytes| async {
            HttpResponse::Ok().json(Vec::<serde_json::Value>::new())
        }))
    })
    .on_connect(move |_, _| {
        counted.fetch_add(1, Ordering::SeqCst);
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let node_url = format!("http://{}", node.addrs()[0]);
    let node = node.run();
    let handle = node.handle();
    tokio::spawn(node);

    let dir = tempfile::tempdir().unwrap();
    let t = argus_transfer::start(transfer_cfg(dir.path(), vec![node_url]))
        .await
        .unwrap();
    let url = t.server.url();
    for _ in 0..10 {
        assert!(read_all(&url, "acme").await.is_empty());
    }
    let n = connections.load(Ordering::SeqCst);
    assert!(
        (1..=2).contains(&n),
        "10 queries made {n} connections to the storage node (one each would be 10)"
    );
    t.stop().await;
    handle.stop(false).await;
}
