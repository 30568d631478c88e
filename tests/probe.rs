//! `argus probe` against a running platform: every acknowledged point is read back.

use argus::probe::{run, ProbeArgs};
use argus::standalone::{start, Ports, StandaloneConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_reads_back_every_acknowledged_point() {
    let dir = tempfile::tempdir().unwrap();
    let p = start(StandaloneConfig {
        data_dir: dir.path().to_path_buf(),
        ports: Ports::any(),
        agent: false,
        ..Default::default()
    })
    .await
    .unwrap();
    let args = ProbeArgs {
        transfer: p.transfer_url.clone(),
        agent_token: p.credentials.agent_token.clone(),
        web: p.web_url.clone(),
        api_token: p.credentials.api_token.clone(),
        series: 5,
        interval_secs: 0,
        rounds: 3,
        read_deadline_secs: 10,
        endpoint: "probe-host".into(),
        ca_file: None,
    };
    let r = run(&args).await.unwrap();
    assert_eq!(r.acknowledged, 15);
    assert_eq!(r.read_back, 15);
    assert_eq!(r.lost, 0);
    assert_eq!(r.push_errors, 0);

    // With a wrong agent token nothing is acknowledged, and that is reported as push errors.
    let bad = ProbeArgs {
        agent_token: "argus_agt_nope".into(),
        rounds: 1,
        ..args
    };
    let r = run(&bad).await.unwrap();
    assert_eq!((r.acknowledged, r.push_errors), (0, 1));
    p.stop().await;
}
