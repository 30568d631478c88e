//! The multi-region launcher: separate processes per node, data staying in its region, tenants
//! kept apart through the global web API.

use argus::cluster::{Cluster, ClusterSpec, Role};
use argus_core::wire::{Batch, PushResponse};
use argus_core::{Point, Tags};
use serde_json::Value;

async fn push(transfer: &str, token: &str, endpoint: &str, value: f64) -> PushResponse {
    let now = argus_core::time::now_secs();
    let batch = Batch {
        points: vec![Point::gauge(endpoint, "app.load", Tags::new(), value, now)],
    };
    let r = reqwest::Client::new()
        .post(format!("{transfer}/api/v1/push"))
        .bearer_auth(token)
        .json(&batch)
        .send()
        .await
        .unwrap();
    assert!(
        r.status().is_success(),
        "push to {transfer}: {}",
        r.status()
    );
    r.json().await.unwrap()
}

async fn query(web: &str, token: &str, params: &str) -> Vec<Value> {
    let r = reqwest::Client::new()
        .get(format!("{web}/api/v1/query?{params}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    r.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_regions_as_processes_keep_tenants_apart() {
    let dir = tempfile::tempdir().unwrap();
    let spec = ClusterSpec::new(
        dir.path().to_path_buf(),
        env!("CARGO_BIN_EXE_argus").into(),
        2,
    );
    let mut cluster = Cluster::up(&spec).await.expect("cluster starts");
    assert_eq!(cluster.regions, vec!["east", "west"]);
    assert_eq!(cluster.nodes_of("east", Role::Store).len(), 2);
    assert_eq!(cluster.nodes_of("west", Role::Transfer).len(), 2);
    let (acme, globex) = (cluster.tenants[0].clone(), cluster.tenants[1].clone());

    // Each tenant's host reports to a transfer of its own region.
    let east = cluster.nodes_of("east", Role::Transfer)[1].url.clone();
    let west = cluster.nodes_of("west", Role::Transfer)[0].url.clone();
    assert_eq!(
        push(&east, &acme.agent_token, "acme-db-1", 1.0)
            .await
            .accepted,
        1
    );
    assert_eq!(
        push(&west, &globex.agent_token, "globex-web-1", 2.0)
            .await
            .accepted,
        1
    );

    // The global API answers from every region, but only with the caller's data.
    let web = cluster.web_url();
    let a = query(&web, &acme.api_token, "metric=app.load").await;
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(a[0]["key"]["endpoint"], "acme-db-1");
    let g = query(&web, &globex.api_token, "metric=app.load").await;
    assert_eq!(g.len(), 1, "{g:?}");
    assert_eq!(g[0]["key"]["endpoint"], "globex-web-1");
    assert!(query(&web, &globex.api_token, "endpoint=acme-db-1")
        .await
        .is_empty());

    // A point stays in its region: the west storage nodes never saw acme's east point.
    for store in cluster.nodes_of("west", Role::Store) {
        let r = reqwest::Client::new()
            .post(format!("{}/internal/v1/query/series", store.url))
            .bearer_auth(&cluster.internal_token)
            .json(&serde_json::json!({"tenant": "acme", "selector": {}}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
        let r: Vec<Value> = r.json().await.unwrap();
        assert!(
            r.is_empty(),
            "acme's series leaked to {}: {r:?}",
            store.name
        );
    }
    for store in cluster.nodes_of("east", Role::Store) {
        let r = reqwest::Client::new()
            .post(format!("{}/internal/v1/query/series", store.url))
            .bearer_auth(&cluster.internal_token)
            .json(&serde_json::json!({"tenant": "acme", "selector": {}}))
            .send()
            .await
            .unwrap();
        let r: Vec<Value> = r.json().await.unwrap();
        assert_eq!(r.len(), 1, "acme's series missing on {}", store.name);
    }

    // A killed storage node comes back with what it had acknowledged.
    let store = cluster.nodes_of("east", Role::Store)[0].name.clone();
    cluster.kill(&store).unwrap();
    cluster.restart(&store).await.unwrap();
    let a = query(&web, &acme.api_token, "metric=app.load").await;
    assert_eq!(a.len(), 1);
    cluster.down();
}
