//! Log keyword monitoring: each rule counts the lines matching its regex in the files matching
//! its glob, per step, as one point (the sum over files, 0 when nothing matched).
//!
//! Files are followed by identity (device and inode), not by name: at each step every followed
//! file is read to its end first, so the last lines of a file renamed by a rotation are counted
//! once whether or not its new name still matches the glob; a file no name matches any more is
//! then let go. A new identity under a matching name (a rotation's new file) is read from its
//! start; a size below the offset is a truncation (`copytruncate`): read from the start again.
//! Offsets are saved in `data_dir` after each step, so a restart resumes where it stopped
//! instead of counting whole files again. The files of a rule never seen before are followed
//! from their end (their past is not news).

use argus_core::agentconf::LogRule;
use argus_core::{Point, Tags};
use regex::bytes::Regex;
use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

/// Most bytes read from one file in one step, so a huge backlog cannot stall the agent; the rest
/// is read in the next steps.
const MAX_READ_PER_STEP: u64 = 64 << 20;

/// A rule whose regex compiled.
struct Rule {
    key: String,
    glob: String,
    regex: Regex,
    metric: String,
    tags: Tags,
}

/// Where reading a file stands.
struct Follow {
    offset: u64,
    file: File,
    partial: Vec<u8>,
}

/// A file's identity: device and inode. Files are followed by identity, not by path, so a
/// rotated file is the same file under its new name (or under none).
type FileId = (u64, u64);

/// Follows the files of every rule.
pub struct LogWatcher {
    rules: Vec<Rule>,
    /// Open files by rule key, then file identity.
    follows: HashMap<String, HashMap<FileId, Follow>>,
    /// Offsets by `rule key \0 dev:ino`, from the previous run and kept up to date.
    saved: HashMap<String, u64>,
    state_path: Option<PathBuf>,
    /// Rule keys whose first scan has not run yet.
    fresh: std::collections::HashSet<String>,
    /// What was last written to `state_path` (not rewritten when unchanged).
    last_saved: Vec<u8>,
}

fn saved_key(rule: &str, id: FileId) -> String {
    format!("{rule}\0{}:{}", id.0, id.1)
}

fn rule_of(saved_key: &str) -> &str {
    saved_key.split('\0').next().unwrap_or("")
}

impl LogWatcher {
    /// A watcher saving offsets to `state_path` (none: offsets live in memory only).
    pub fn new(state_path: Option<PathBuf>) -> Self {
        let saved = state_path
            .as_deref()
            .and_then(|p| std::fs::read(p).ok())
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        LogWatcher {
            rules: Vec::new(),
            follows: HashMap::new(),
            saved,
            state_path,
            fresh: Default::default(),
            last_saved: Vec::new(),
        }
    }

    /// Compiles `rules`; the ones already followed keep their files and offsets. A rule whose
    /// regex does not compile is skipped and its error returned (naming the rule).
    pub fn set_rules(&mut self, rules: &[LogRule]) -> Vec<String> {
        let mut errors = Vec::new();
        let mut next = Vec::new();
        for (i, r) in rules.iter().enumerate() {
            match Regex::new(&r.regex) {
                Ok(regex) => {
                    let key = format!("{}|{}|{}|{}", r.metric, r.tags, r.path_glob, r.regex);
                    // New to this process and unknown to the saved state: its files' past is
                    // not news.
                    if !self.rules.iter().any(|o| o.key == key)
                        && !self.saved.keys().any(|k| rule_of(k) == key)
                    {
                        self.fresh.insert(key.clone());
                    }
                    next.push(Rule {
                        key,
                        glob: r.path_glob.clone(),
                        regex,
                        metric: r.metric.clone(),
                        tags: r.tags.clone(),
                    })
                }
                Err(e) => errors.push(format!("log_rules[{i}].regex ({}): {e}", r.metric)),
            }
        }
        let keys: std::collections::HashSet<String> = next.iter().map(|r| r.key.clone()).collect();
        self.follows.retain(|k, _| keys.contains(k));
        self.rules = next;
        errors
    }

    /// Counts the new matching lines of every rule: `(metric, tags, count)`.
    pub fn step(&mut self) -> Vec<(String, Tags, u64)> {
        let mut out = Vec::with_capacity(self.rules.len());
        let rules = std::mem::take(&mut self.rules);
        for rule in &rules {
            let first = self.fresh.remove(&rule.key);
            let count = self.step_rule(rule, first);
            out.push((rule.metric.clone(), rule.tags.clone(), count));
        }
        self.rules = rules;
        self.save();
        out
    }

    /// The same as [`step`](Self::step), as points of `endpoint` at `ts`.
    pub fn points(&mut self, endpoint: &str, step: u32, ts: i64) -> Vec<Point> {
        self.step()
            .into_iter()
            .map(|(m, tags, n)| {
                let mut p = Point::gauge(endpoint, &m, tags, n as f64, ts);
                p.step = step;
                p
            })
            .collect()
    }

    fn step_rule(&mut self, rule: &Rule, first_scan: bool) -> u64 {
        let mut follows = self.follows.remove(&rule.key).unwrap_or_default();
        let mut count = 0;
        let mut live = HashMap::new();
        for path in expand(&rule.glob) {
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            live.insert((meta.dev(), meta.ino()), (path, meta.len()));
        }
        // Files followed so far: read to their end, whatever their name now. One no path names
        // any more (rotated away, deleted) is read one last time and let go.
        follows.retain(|id, f| {
            if let Some((path, size)) = live.get(id) {
                if *size < f.offset {
                    tracing::info!(file = %path.display(), "log file truncated; reading from its start");
                    f.offset = 0;
                    f.partial.clear();
                    let _ = f.file.seek(SeekFrom::Start(0));
                }
            }
            count += read_lines(f, &rule.regex);
            live.contains_key(id)
        });
        // Files new to this run: where the saved state says, else from the end at the rule's
        // first scan, else (a file created since: a rotation's new file) from the start.
        for (id, (path, size)) in &live {
            if follows.contains_key(id) {
                continue;
            }
            let offset = match self.saved.get(&saved_key(&rule.key, *id)) {
                Some(o) if *o <= *size => *o,
                Some(_) => 0,
                None if first_scan => *size,
                None => 0,
            };
            let Ok(mut file) = File::open(path) else {
                continue;
            };
            if file.seek(SeekFrom::Start(offset)).is_err() {
                continue;
            }
            let mut f = Follow {
                offset,
                file,
                partial: Vec::new(),
            };
            count += read_lines(&mut f, &rule.regex);
            follows.insert(*id, f);
        }
        self.saved.retain(|k, _| rule_of(k) != rule.key);
        for (id, f) in &follows {
            self.saved
                .insert(saved_key(&rule.key, *id), f.offset - f.partial.len() as u64);
        }
        self.follows.insert(rule.key.clone(), follows);
        count
    }

    fn save(&mut self) {
        let live: std::collections::HashSet<&str> =
            self.rules.iter().map(|r| r.key.as_str()).collect();
        self.saved.retain(|k, _| live.contains(rule_of(k)));
        let Some(p) = &self.state_path else { return };
        let body = serde_json::to_vec(&self.saved).expect("offsets serialize");
        if body == self.last_saved {
            return;
        }
        let tmp = p.with_extension("tmp");
        if let Err(e) = std::fs::write(&tmp, &body).and_then(|_| std::fs::rename(&tmp, p)) {
            tracing::warn!(file = %p.display(), error = %e, "cannot save log offsets");
        } else {
            self.last_saved = body;
        }
    }
}

/// Reads `f` from its offset to its end (at most [`MAX_READ_PER_STEP`]), counting complete lines
/// matching `re`; an incomplete last line waits for its end.
fn read_lines(f: &mut Follow, re: &Regex) -> u64 {
    let mut buf = Vec::new();
    let n = match (&mut f.file).take(MAX_READ_PER_STEP).read_to_end(&mut buf) {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read a log file");
            return 0;
        }
    };
    f.offset += n as u64;
    let mut data = std::mem::take(&mut f.partial);
    data.extend_from_slice(&buf);
    let mut count = 0;
    let mut start = 0;
    for (i, b) in data.iter().enumerate() {
        if *b == b'\n' {
            if re.is_match(&data[start..i]) {
                count += 1;
            }
            start = i + 1;
        }
    }
    f.partial = data[start..].to_vec();
    count
}

/// The files a rule's path or glob names, in order.
fn expand(pattern: &str) -> Vec<PathBuf> {
    match glob::glob(pattern) {
        Ok(paths) => paths
            .filter_map(Result::ok)
            .filter(|p| p.is_file())
            .collect(),
        Err(e) => {
            tracing::warn!(pattern, error = %e, "invalid log path glob");
            Vec::new()
        }
    }
}
