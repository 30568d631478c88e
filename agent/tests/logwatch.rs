//! Log keyword rules: counts per step, rotation, truncation, offsets kept across a restart.

use argus_agent::logwatch::LogWatcher;
use argus_core::agentconf::LogRule;
use std::io::Write;
use std::path::Path;

fn append(p: &Path, lines: &[&str]) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(p)
        .unwrap();
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
}

fn rule(glob: &str) -> LogRule {
    LogRule {
        path_glob: glob.into(),
        regex: "ERROR|FATAL".into(),
        metric: "log.app.error".into(),
        tags: argus_core::Tags::from_pairs([("app", "shop")]),
    }
}

fn count(w: &mut LogWatcher) -> u64 {
    let r = w.step();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].0, "log.app.error");
    assert_eq!(r[0].1.get("app"), Some("shop"));
    r[0].2
}

#[test]
fn counts_new_matching_lines_per_step_from_the_end_at_first_sight() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("app.log");
    append(&log, &["ERROR old, before the agent", "ERROR old too"]);
    let mut w = LogWatcher::new(None);
    assert!(w
        .set_rules(&[rule(&format!("{}/*.log", d.path().display()))])
        .is_empty());
    assert_eq!(count(&mut w), 0, "history is not news");
    append(&log, &["INFO fine", "ERROR one", "FATAL two"]);
    assert_eq!(count(&mut w), 2);
    assert_eq!(count(&mut w), 0);
    // A partial line waits for its end.
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    write!(f, "ERROR half").unwrap();
    assert_eq!(count(&mut w), 0);
    writeln!(f, " done").unwrap();
    assert_eq!(count(&mut w), 1);
    // A file that appears later is read from its start.
    append(&d.path().join("new.log"), &["ERROR a", "ERROR b"]);
    assert_eq!(count(&mut w), 2);
}

#[test]
fn survives_rotation_and_truncation() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("app.log");
    append(&log, &[]);
    let mut w = LogWatcher::new(None);
    w.set_rules(&[rule(log.to_str().unwrap())]);
    assert_eq!(count(&mut w), 0);
    append(&log, &["ERROR 1"]);
    assert_eq!(count(&mut w), 1);
    // Rotation (rename + create): lines written just before it still count, then the new file.
    append(&log, &["ERROR 2 before rotation"]);
    std::fs::rename(&log, d.path().join("app.log.1")).unwrap();
    append(&log, &["ERROR 3 in the new file", "ERROR 4"]);
    assert_eq!(count(&mut w), 3);
    assert_eq!(count(&mut w), 0);
    // Truncation (copytruncate): read from the start again.
    append(&log, &["ERROR 5", "ERROR 6", "ERROR 7"]);
    assert_eq!(count(&mut w), 3);
    std::fs::write(&log, b"").unwrap();
    append(&log, &["ERROR 8"]);
    assert_eq!(count(&mut w), 1);
}

#[test]
fn a_rotated_name_matching_the_glob_is_not_counted_twice() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("app.log");
    append(&log, &[]);
    let mut w = LogWatcher::new(None);
    w.set_rules(&[rule(&format!("{}/app.log*", d.path().display()))]);
    assert_eq!(count(&mut w), 0);
    append(&log, &["ERROR 1", "ERROR 2"]);
    assert_eq!(count(&mut w), 2);
    append(&log, &["ERROR 3 just before rotation"]);
    std::fs::rename(&log, d.path().join("app.log.1")).unwrap();
    append(&log, &["ERROR 4 new file"]);
    assert_eq!(count(&mut w), 2);
    assert_eq!(count(&mut w), 0);
    append(
        &d.path().join("app.log.1"),
        &["ERROR 5 late write to the old file"],
    );
    assert_eq!(count(&mut w), 1);
}

#[test]
fn a_restart_resumes_from_the_saved_offset() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("app.log");
    let state = d.path().join("offsets.json");
    append(&log, &["ERROR before"]);
    let r = [rule(log.to_str().unwrap())];
    {
        let mut w = LogWatcher::new(Some(state.clone()));
        w.set_rules(&r);
        assert_eq!(count(&mut w), 0);
        append(&log, &["ERROR seen by the first run"]);
        assert_eq!(count(&mut w), 1);
    }
    // Written while the agent was down: counted once after the restart, nothing older again.
    append(&log, &["ERROR while down 1", "ERROR while down 2"]);
    let mut w = LogWatcher::new(Some(state.clone()));
    w.set_rules(&r);
    assert_eq!(count(&mut w), 2);
    assert_eq!(count(&mut w), 0);
    // Rotated while down: the new file is read from its start.
    drop(w);
    std::fs::rename(&log, d.path().join("app.log.1")).unwrap();
    append(&log, &["ERROR after rotation"]);
    let mut w = LogWatcher::new(Some(state));
    w.set_rules(&r);
    assert_eq!(count(&mut w), 1);
}

#[test]
fn a_bad_regex_is_reported_naming_the_rule() {
    let mut w = LogWatcher::new(None);
    let mut r = rule("/nonexistent/*.log");
    r.regex = "(unclosed".into();
    let errors = w.set_rules(&[r]);
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].contains("log_rules[0].regex") && errors[0].contains("log.app.error"),
        "{errors:?}"
    );
}
