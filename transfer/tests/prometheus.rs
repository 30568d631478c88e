//! A real Prometheus (Debian's package, from `.ci/services/prometheus.sh`) scraping itself and
//! forwarding by remote_write to the transfer: its series land in storage under the tenant of
//! the token it presents.

mod common;

use common::*;
use std::time::Duration;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_remote_write_lands_in_storage() {
    let Some(bin) =
        argus_core::testing::require_server("ARGUS_TEST_PROMETHEUS_BIN", "a Prometheus binary")
    else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let node = store(&d.path().join("store")).await;
    let t = argus_transfer::start(transfer_cfg(&d.path().join("t"), vec![node.server.url()]))
        .await
        .unwrap();
    let port = free_port();
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
         scrape_configs:\n  - job_name: self\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n\
         remote_write:\n  - url: {}/api/v1/write\n    authorization:\n      credentials: tok-beta\n\
         \x20   queue_config:\n      batch_send_deadline: 1s\n      min_backoff: 100ms\n      max_backoff: 1s\n",
        t.server.url()
    );
    let cfg_file = d.path().join("prometheus.yml");
    std::fs::write(&cfg_file, config).unwrap();
    let log = std::fs::File::create(d.path().join("prometheus.log")).unwrap();
    let mut child = tokio::process::Command::new(bin)
        .arg(format!("--config.file={}", cfg_file.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            d.path().join("tsdb").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("prometheus starts");
    let url = t.server.url();
    let instance = format!("127.0.0.1:{port}");
    let mut found = false;
    for _ in 0..600 {
        let got = read_all(&url, "beta").await;
        let up = got
            .iter()
            .any(|(e, m, _, v)| e == &instance && m == "up" && *v == 1.0);
        let build = got
            .iter()
            .any(|(e, m, _, _)| e == &instance && m == "prometheus_build_info");
        if up && build {
            found = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _ = child.kill().await;
    if !found {
        let log = std::fs::read_to_string(d.path().join("prometheus.log")).unwrap_or_default();
        panic!("Prometheus's series never arrived; its log:\n{log}");
    }
    assert!(
        read_all(&url, "acme").await.is_empty(),
        "only the token's tenant"
    );
    assert!(
        metric(
            &url,
            "argus_transfer_points_accepted_total{tenant=\"beta\"}"
        )
        .await
        .unwrap()
            > 10.0
    );
    t.stop().await;
    node.stop().await;
}
