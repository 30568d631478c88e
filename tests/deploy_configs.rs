//! The example deployment under deploy/ can never drift from the code: every config file parses
//! with its component's struct (unknown keys are errors), the topology is consistent (each
//! transfer lists its region's two stores and two judges with replication 2, judges point at
//! both alarm instances, web knows every region, everything points at the same web), TLS is on
//! for every connection between nodes and across regions (https URLs only, each node with its
//! certificate and the private CA), the certificate recipe of deploy/tls gives certificates the
//! nodes serve, the systemd units name files that exist, and the compose file mounts them.

use argus_agent::AgentConfig;
use argus_alarm::AlarmConfig;
use argus_judge::JudgeConfig;
use argus_store::node::StoreConfig;
use argus_transfer::TransferConfig;
use argus_web::WebConfig;
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};

const REGIONS: [&str; 3] = ["east", "west", "south"];
const DOMAIN: &str = "argus.internal";
const WEB: &str = "https://web.argus.internal:8080";

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy")
}

fn parse<T: DeserializeOwned>(rel: &str) -> T {
    let path = deploy().join("config").join(rel);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    argus_core::config::from_str(&text, rel).unwrap_or_else(|e| panic!("{e}"))
}

fn url(host: &str, port: u16) -> String {
    format!("https://{host}.{DOMAIN}:{port}")
}

/// Internal tokens and other secrets are placeholders naming the environment override.
fn assert_placeholder(file: &str, value: &str, env: &str) {
    assert!(
        value.starts_with("placeholder") && value.contains(env),
        "{file}: the secret must be a placeholder naming {env}, got {value:?}"
    );
}

/// A database URL in a file names the user, never the password (that comes from the environment).
fn assert_no_password(file: &str, url: &str) {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let user_info = rest.split_once('@').map_or("", |(u, _)| u);
    assert!(!user_info.contains(':'), "{file}: a password in {url}");
}

#[test]
fn every_config_file_parses_with_its_struct() {
    let mut seen = 0;
    for dir in ["east", "west", "south", "global"] {
        for e in std::fs::read_dir(deploy().join("config").join(dir)).unwrap() {
            let name = e.unwrap().file_name().into_string().unwrap();
            let rel = format!("{dir}/{name}");
            match name.split(['-', '.']).next().unwrap() {
                "transfer" => parse::<TransferConfig>(&rel).check().unwrap(),
                "store" => drop(parse::<StoreConfig>(&rel)),
                "judge" => parse::<JudgeConfig>(&rel).check().unwrap(),
                "agent" => drop(parse::<AgentConfig>(&rel)),
                "web" => drop(parse::<WebConfig>(&rel)),
                "alarm" => parse::<AlarmConfig>(&rel).check().unwrap(),
                other => panic!("{rel}: no component called {other:?}"),
            }
            seen += 1;
        }
    }
    // Per region 2 transfers, 2 stores, 2 judges and an agent; web and two alarms.
    assert_eq!(seen, REGIONS.len() * 7 + 3);
}

#[test]
fn each_region_is_complete_and_self_contained() {
    for r in REGIONS {
        let stores = vec![
            url(&format!("{r}-store-1"), 6071),
            url(&format!("{r}-store-2"), 6071),
        ];
        let judges = vec![
            url(&format!("{r}-judge-1"), 6081),
            url(&format!("{r}-judge-2"), 6081),
        ];
        let mut transfers = Vec::new();
        for i in 1..=2 {
            let f = format!("{r}/transfer-{i}.toml");
            let t: TransferConfig = parse(&f);
            assert_eq!(t.region, r, "{f}");
            assert_eq!(t.stores, stores, "{f}: the region's two storage nodes");
            assert_eq!(t.judges, judges, "{f}: the region's two judges");
            assert_eq!(t.replicas, 2, "{f}");
            assert_eq!(t.config_center.url, WEB, "{f}");
            assert_eq!(
                t.data_dir,
                PathBuf::from(format!("/var/lib/argus/transfer-{i}"))
            );
            assert_placeholder(&f, &t.internal_token, "ARGUS_TRANSFER__INTERNAL_TOKEN");
            transfers.push(t);
        }
        assert_eq!(
            transfers[0].vnodes, transfers[1].vnodes,
            "{r}: rings must agree"
        );

        for i in 1..=2 {
            let f = format!("{r}/store-{i}.toml");
            let s: StoreConfig = parse(&f);
            assert!(s.listen.ends_with(":6071"), "{f}: listen {}", s.listen);
            assert!(
                s.engine.fsync,
                "{f}: acknowledged points must survive power loss"
            );
            assert_eq!(
                s.engine.data_dir,
                PathBuf::from(format!("/var/lib/argus/store-{i}"))
            );
            assert_placeholder(&f, &s.internal_token, "ARGUS_STORE__INTERNAL_TOKEN");

            let f = format!("{r}/judge-{i}.toml");
            let j: JudgeConfig = parse(&f);
            assert_eq!(j.region, r, "{f}");
            assert!(j.listen.ends_with(":6081"), "{f}: listen {}", j.listen);
            assert_eq!(
                j.alarm,
                vec![url("alarm-a", 6090), url("alarm-b", 6090)],
                "{f}: both alarm instances"
            );
            assert_eq!(j.config_center.as_deref(), Some(WEB), "{f}");
            assert_placeholder(&f, &j.internal_token, "ARGUS_JUDGE__INTERNAL_TOKEN");
        }

        let f = format!("{r}/agent.toml");
        let a: AgentConfig = parse(&f);
        assert_eq!(
            a.transfers,
            vec![
                url(&format!("{r}-transfer-1"), 6060),
                url(&format!("{r}-transfer-2"), 6060)
            ],
            "{f}: an agent pushes only to its own region"
        );
        assert!(
            a.remote_config && a.config_url.is_empty(),
            "{f}: config pulls and heartbeats go to the region's transfers, not across"
        );
        assert_placeholder(&f, &a.token, "ARGUS_AGENT__TOKEN");
    }
}

#[test]
fn the_global_zone_knows_every_region_and_runs_alarm_active_standby() {
    let w: WebConfig = parse("global/web.toml");
    let names: Vec<&str> = w.regions.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, REGIONS);
    for r in &w.regions {
        // Each of the region's transfers, in turn when one does not answer.
        assert_eq!(
            r.urls(),
            [
                url(&format!("{}-transfer-1", r.name), 6060),
                url(&format!("{}-transfer-2", r.name), 6060)
            ]
        );
    }
    assert!(
        w.database_url.starts_with("postgres://"),
        "web on PostgreSQL"
    );
    assert_no_password("web.toml", &w.database_url);
    assert!(w.listen.ends_with(":8080"));
    assert!(w.secure_cookies, "behind HTTPS");
    assert_placeholder("web.toml", &w.internal_token, "ARGUS_WEB__INTERNAL_TOKEN");

    let a: AlarmConfig = parse("global/alarm-a.toml");
    let b: AlarmConfig = parse("global/alarm-b.toml");
    assert_eq!(
        (a.instance_id.as_str(), b.instance_id.as_str()),
        ("alarm-a", "alarm-b")
    );
    assert!(
        a.database_url.starts_with("postgres://"),
        "active/standby needs PostgreSQL"
    );
    assert_no_password("alarm-a.toml", &a.database_url);
    assert_eq!(a.database_url, b.database_url, "one shared database");
    assert_eq!(a.ack_secret, b.ack_secret, "ack links must verify on both");
    assert_eq!(a.web_url, WEB);
    assert_eq!(b.web_url, WEB);
    assert_eq!(a.lease_ttl_secs, b.lease_ttl_secs);
    assert!(
        a.lease_ttl_secs + a.lease_renew_secs < 15,
        "failover within 15 s"
    );
    for (f, c) in [("alarm-a.toml", &a), ("alarm-b.toml", &b)] {
        assert_placeholder(f, &c.internal_token, "ARGUS_ALARM__INTERNAL_TOKEN");
        assert_placeholder(f, &c.ack_secret, "ARGUS_ALARM__ACK_SECRET");
        assert!(!c.allow_private_webhooks, "{f}: SSRF protection stays on");
    }
}

/// Every file under deploy/config, as (relative path, component).
fn config_files() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for dir in ["east", "west", "south", "global"] {
        for e in std::fs::read_dir(deploy().join("config").join(dir)).unwrap() {
            let name = e.unwrap().file_name().into_string().unwrap();
            let component = name.split(['-', '.']).next().unwrap().to_string();
            out.push((format!("{dir}/{name}"), component));
        }
    }
    out.sort();
    out
}

/// A node serving HTTPS with its certificate and trusting the private CA.
fn assert_node_tls(file: &str, tls: &argus_core::TlsConfig) {
    let p = |s: &str| Some(PathBuf::from(s));
    assert_eq!(
        tls.cert_file,
        p("/etc/argus/tls/node.pem"),
        "{file}: tls.cert_file"
    );
    assert_eq!(
        tls.key_file,
        p("/etc/argus/tls/node.key"),
        "{file}: tls.key_file"
    );
    assert_eq!(
        tls.ca_file,
        p("/etc/argus/tls/ca.pem"),
        "{file}: tls.ca_file"
    );
}

fn assert_https(file: &str, urls: &[&str]) {
    for u in urls {
        assert!(u.starts_with("https://"), "{file}: {u} is not https");
    }
}

#[test]
fn tls_is_on_between_nodes_and_across_regions() {
    let mut checked = 0;
    for (rel, component) in config_files() {
        // No plain-HTTP URL anywhere, not even in a key this test does not know.
        let text = std::fs::read_to_string(deploy().join("config").join(&rel)).unwrap();
        assert!(!text.contains("\"http://"), "{rel}: a plain-HTTP URL");
        match component.as_str() {
            "transfer" => {
                let t: TransferConfig = parse(&rel);
                assert_node_tls(&rel, &t.tls);
                let mut urls: Vec<&str> = t
                    .stores
                    .iter()
                    .chain(&t.judges)
                    .map(|s| s.as_str())
                    .collect();
                // Region -> global zone.
                urls.push(&t.config_center.url);
                assert_https(&rel, &urls);
            }
            "store" => assert_node_tls(&rel, &parse::<StoreConfig>(&rel).tls),
            "judge" => {
                let j: JudgeConfig = parse(&rel);
                assert_node_tls(&rel, &j.tls);
                let mut urls: Vec<&str> = j.alarm.iter().map(|s| s.as_str()).collect();
                urls.extend(j.config_center.as_deref());
                assert_https(&rel, &urls);
            }
            "agent" => {
                let a: AgentConfig = parse(&rel);
                assert_eq!(
                    a.tls.ca_file,
                    Some(PathBuf::from("/etc/argus/tls/ca.pem")),
                    "{rel}: the agent trusts the private CA"
                );
                assert!(
                    !a.tls.serves_https(),
                    "{rel}: the loopback push port stays plain"
                );
                let mut urls: Vec<&str> = a.transfers.iter().map(|s| s.as_str()).collect();
                if !a.config_url.is_empty() {
                    urls.push(&a.config_url);
                }
                assert_https(&rel, &urls);
            }
            "web" => {
                let w: WebConfig = parse(&rel);
                assert_node_tls(&rel, &w.tls);
                // Global zone -> every region, and to alarm.
                let mut urls: Vec<&str> = w.regions.iter().map(|r| r.query_url.as_str()).collect();
                urls.push(&w.alarm_url);
                assert_https(&rel, &urls);
            }
            "alarm" => {
                let a: AlarmConfig = parse(&rel);
                assert_node_tls(&rel, &a.tls);
                assert_https(&rel, &[&a.web_url, &a.public_url]);
            }
            other => panic!("{rel}: no component called {other:?}"),
        }
        checked += 1;
    }
    assert_eq!(checked, REGIONS.len() * 7 + 3);
}

/// deploy/tls/make-certs.sh (the openssl recipe of docs/DEPLOY.md) makes certificates a node
/// serves and a client given the CA accepts, by DNS name: here the wildcard certificate of the
/// compose setup, served by a storage node reached as east-store-1.argus.internal.
#[tokio::test]
async fn certificate_recipe_gives_certificates_the_nodes_serve() {
    // .ci/services/openssl.sh makes sure of it in CI; on a laptop without it this skips loudly.
    let Some(openssl) =
        argus_core::testing::require_server("ARGUS_TEST_OPENSSL", "the openssl CLI")
    else {
        return;
    };
    assert!(
        std::process::Command::new(&openssl)
            .arg("version")
            .status()
            .is_ok_and(|s| s.success()),
        "{openssl} does not run"
    );
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    let out = std::process::Command::new("sh")
        .arg(deploy().join("tls/make-certs.sh"))
        .arg(&pki)
        .args(["compose", "*.argus.internal", "localhost"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let node = pki.join("compose");
    let tls = argus_core::TlsConfig {
        cert_file: Some(node.join("node.pem")),
        key_file: Some(node.join("node.key")),
        ca_file: Some(node.join("ca.pem")),
    };
    tls.check().unwrap();
    let store = argus_store::node::start(StoreConfig {
        listen: "127.0.0.1:0".into(),
        workers: 1,
        engine: argus_store::EngineConfig {
            data_dir: dir.path().join("store"),
            ..Default::default()
        },
        tls: tls.clone(),
        ..Default::default()
    })
    .await
    .unwrap();
    let addr = store.server.addr;
    let health = format!("https://east-store-1.{DOMAIN}:{}/health", addr.port());
    let trusting = argus_core::tls::client_builder(&tls)
        .unwrap()
        .resolve(&format!("east-store-1.{DOMAIN}"), addr)
        .build()
        .unwrap();
    let r = trusting.get(&health).send().await.unwrap();
    assert_eq!(r.status(), 200);
    // Without the CA the same certificate is refused.
    let stranger = reqwest::Client::builder()
        .resolve(&format!("east-store-1.{DOMAIN}"), addr)
        .build()
        .unwrap();
    assert!(stranger.get(&health).send().await.is_err());
    store.stop().await;
}

#[test]
fn systemd_units_read_the_files_they_name() {
    let dir = deploy().join("systemd");
    let mut units = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let exec = text
            .lines()
            .find_map(|l| l.strip_prefix("ExecStart="))
            .unwrap_or_else(|| panic!("{name}: no ExecStart"));
        let bin = exec.split_whitespace().next().unwrap();
        let component = name
            .trim_start_matches("argus-")
            .split(['@', '.'])
            .next()
            .unwrap()
            .to_string();
        assert_eq!(bin, format!("/usr/local/bin/argus-{component}"), "{name}");
        assert!(exec.contains("--config /etc/argus/"), "{name}: {exec}");
        assert!(
            text.contains("EnvironmentFile=/etc/argus/secrets.env"),
            "{name}: secrets come from the environment file"
        );
        // The data directory systemd creates is the one the example configs use.
        let state = text
            .lines()
            .find_map(|l| l.strip_prefix("StateDirectory="))
            .unwrap_or_else(|| panic!("{name}: no StateDirectory"));
        let expected = if name.contains('@') {
            format!("argus/{component}-%i")
        } else {
            format!("argus/{component}")
        };
        assert_eq!(state, expected, "{name}");
        // Only the transfer reloads on SIGHUP; the others would die of it.
        assert_eq!(
            text.contains("ExecReload="),
            component == "transfer",
            "{name}: ExecReload"
        );
        units += 1;
    }
    assert_eq!(units, 6);
}

#[test]
fn compose_file_mounts_every_config_and_runs_every_node() {
    let text = std::fs::read_to_string(deploy().join("docker/docker-compose.yml")).unwrap();
    assert!(!text.contains('\t'), "YAML forbids tabs");
    let mut services = Vec::new();
    for r in REGIONS {
        for n in [
            "transfer-1",
            "transfer-2",
            "store-1",
            "store-2",
            "judge-1",
            "judge-2",
        ] {
            services.push((format!("{r}-{n}"), format!("../config/{r}/{n}.toml")));
        }
    }
    for (s, f) in [
        ("web", "web.toml"),
        ("alarm-a", "alarm-a.toml"),
        ("alarm-b", "alarm-b.toml"),
    ] {
        services.push((s.to_string(), format!("../config/global/{f}")));
    }
    for (service, file) in &services {
        assert!(
            text.contains(&format!("\n  {service}:\n")),
            "compose: no service {service}"
        );
        assert!(
            text.contains(file.as_str()),
            "compose: {file} is not mounted"
        );
        assert!(
            deploy().join("docker").join(file).exists(),
            "compose mounts {file}, which does not exist"
        );
    }
    assert!(text.contains("\n  postgres:\n"), "compose: no postgres");
    // Every node mounts the certificates its [tls] section names.
    assert_eq!(
        text.matches("- ./tls/compose:/etc/argus/tls:ro").count(),
        services.len() + REGIONS.len(),
        "compose: each node and agent mounts tls/compose"
    );
}

/// The compose tool of `ARGUS_TEST_COMPOSE` (`docker-compose`, or `docker compose`; no engine
/// needed; .ci/services/deploy-tools.sh installs it) must accept the file with the example
/// environment, list every service, and refuse it without the required secrets.
#[test]
fn compose_config_validates() {
    let Some(tool) = argus_core::testing::require_server("ARGUS_TEST_COMPOSE", "a compose tool")
    else {
        return;
    };
    let tool: Vec<&str> = tool.split_whitespace().collect();
    let dir = deploy().join("docker");
    let run = |env_file: Option<&str>| {
        let mut c = std::process::Command::new(tool[0]);
        c.args(&tool[1..]).current_dir(&dir).env_clear();
        c.env("PATH", std::env::var("PATH").unwrap_or_default());
        if let Some(f) = env_file {
            c.args(["--env-file", f]);
        }
        c.args([
            "-f",
            "docker-compose.yml",
            "--profile",
            "agents",
            "config",
            "--services",
        ]);
        c.output()
            .unwrap_or_else(|e| panic!("running {tool:?}: {e}"))
    };
    let ok = run(Some(".env.example"));
    assert!(
        ok.status.success(),
        "compose config: {}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let services = String::from_utf8_lossy(&ok.stdout);
    assert_eq!(
        services.lines().count(),
        3 + 1 + REGIONS.len() * 7,
        "{services}"
    );
    if dir.join(".env").exists() {
        return; // A local .env with real secrets: nothing is missing.
    }
    let missing = run(None);
    assert!(
        !missing.status.success(),
        "compose must refuse to run without the secrets"
    );
}

/// hadolint (`ARGUS_TEST_HADOLINT`, installed by .ci/services/deploy-tools.sh) finds nothing in
/// the image's Dockerfile at its default threshold (ignores are inline, with their reason), and
/// does find the faults of a broken one, so a clean answer means it linted.
#[test]
fn dockerfile_passes_hadolint() {
    let Some(hadolint) =
        argus_core::testing::require_server("ARGUS_TEST_HADOLINT", "hadolint (Dockerfile linter)")
    else {
        return;
    };
    let lint = |path: &Path| {
        std::process::Command::new(&hadolint)
            .arg("--no-color")
            .arg(path)
            .output()
            .unwrap_or_else(|e| panic!("running {hadolint}: {e}"))
    };
    let ok = lint(&deploy().join("docker/Dockerfile"));
    assert!(
        ok.status.success(),
        "hadolint deploy/docker/Dockerfile:\n{}{}",
        String::from_utf8_lossy(&ok.stdout),
        String::from_utf8_lossy(&ok.stderr)
    );
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("Dockerfile");
    std::fs::write(&bad, "FROM debian\nRUN cd /tmp && apt-get install curl\n").unwrap();
    let out = lint(&bad);
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{report}");
    for rule in ["DL3006", "DL3003", "DL3015"] {
        assert!(
            report.contains(rule),
            "hadolint should report {rule}: {report}"
        );
    }
}
