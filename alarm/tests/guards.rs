//! The internal credential is checked before anything of the request is read: a wrong or
//! missing one is 401 on every internal endpoint whatever the body (huge, garbage, truncated),
//! never the 400 or 413 the body would earn.

// Only the config and client helpers are used here.
#[allow(unused_imports)]
mod common;

use common::*;
use reqwest::Method;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_credential_is_401_whatever_the_body() {
    let dir = tempfile::tempdir().unwrap();
    let alarm = argus_alarm::start(config(dir.path(), vec![]))
        .await
        .unwrap();
    let base = alarm.url();
    // Larger than the JSON limit (64 MiB) would be heavy to send; garbage that is neither JSON
    // nor UTF-8 shows the body is not parsed, a truncated object that it is not read as JSON.
    let garbage: Vec<u8> = (0..256 * 1024).map(|i| (i * 13 % 256) as u8).collect();
    let endpoints = [
        (Method::POST, "/internal/v1/events"),
        (Method::GET, "/internal/v1/events?tenant=acme&limit=0"),
        (Method::POST, "/internal/v1/events/x/ack?tenant=acme"),
        (Method::GET, "/internal/v1/deliveries?tenant=acme&limit=0"),
        (Method::POST, "/internal/v1/deliveries/not-a-number/retry"),
    ];
    for (m, path) in &endpoints {
        for (body, what) in [(garbage.clone(), "garbage"), (b"{".to_vec(), "truncated")] {
            for auth in [Some("Bearer wrong"), None] {
                let mut rq = client()
                    .request(m.clone(), format!("{base}{path}"))
                    .header("content-type", "application/json")
                    .body(body.clone());
                if let Some(a) = auth {
                    rq = rq.header("authorization", a);
                }
                let r = rq.send().await.unwrap();
                assert_eq!(r.status().as_u16(), 401, "{m} {path} {what} {auth:?}");
            }
        }
    }
    // With the credential, the same requests are judged on their content.
    for (m, path) in &endpoints {
        let r = client()
            .request(m.clone(), format!("{base}{path}"))
            .bearer_auth("internal-secret")
            .header("content-type", "application/json")
            .body("{")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 400, "{m} {path} with the credential");
    }
    alarm.stop().await;
}
