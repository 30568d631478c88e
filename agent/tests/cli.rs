//! `argus-agent --help` documents every option and every configuration key.

fn keys(prefix: &str, v: &toml::Value, out: &mut Vec<String>) {
    if let toml::Value::Table(t) = v {
        for (k, v) in t {
            out.push(format!("{prefix}{k}"));
            keys("", v, out);
        }
    }
}

#[test]
fn help_documents_every_option_and_config_key() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_argus-agent"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for opt in [
        "--config",
        "--log-json",
        "--print-config",
        "--version",
        "--help",
    ] {
        assert!(help.contains(opt), "--help lacks {opt}");
    }
    let defaults = toml::Value::try_from(argus_agent::AgentConfig::default()).unwrap();
    let mut all = Vec::new();
    keys("", &defaults, &mut all);
    for k in ["plugins", "log_rules", "probes"] {
        all.push(k.to_string());
    }
    for k in all {
        assert!(
            help.contains(&k),
            "--help does not document the config key {k}"
        );
    }
}

#[test]
fn print_config_shows_the_effective_config() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("agent.toml");
    std::fs::write(
        &f,
        "step_secs = 30\n[[probes]]\nkind = \"tcp\"\nname = \"db\"\naddr = \"127.0.0.1:5432\"\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_argus-agent"))
        .args(["--print-config", "--config"])
        .arg(&f)
        .env("ARGUS_AGENT__HOSTNAME", "from-env")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cfg: argus_agent::AgentConfig =
        toml::from_str(&String::from_utf8(out.stdout).unwrap()).unwrap();
    assert_eq!(cfg.step_secs, 30);
    assert_eq!(cfg.hostname, "from-env");
    assert_eq!(cfg.probes[0].name(), "db");
}

#[test]
fn logs_to_a_pipe_carry_no_colour_codes() {
    use std::io::BufRead as _;
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("agent.toml");
    std::fs::write(
        &f,
        "listen = \"127.0.0.1:0\"\ndata_dir = \"\"\nremote_config = false\n\
         collect_host_metrics = false\ntransfers = [\"http://127.0.0.1:9\"]\n",
    )
    .unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_argus-agent"))
        .arg("--config")
        .arg(&f)
        .env_remove("RUST_LOG")
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // stderr is a pipe here, as under a service manager: read up to the start line (a warning
    // about the missing data_dir comes before it).
    let mut logs = String::new();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    while !logs.contains("argus-agent running") {
        if stderr.read_line(&mut logs).unwrap() == 0 {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(logs.contains("argus-agent running"), "{logs}");
    assert!(logs.contains(" WARN "), "{logs}");
    assert!(
        !logs.contains('\u{1b}'),
        "an escape code in a log written to a pipe: {logs:?}"
    );
}
