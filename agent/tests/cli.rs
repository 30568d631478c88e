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
