//! Log keyword monitoring: each rule counts the lines matching its regex in the files matching
//! its glob, per step, as one point (the sum over files, 0 when nothing matched).
//!
//! Files are followed by handle: at each step the open handle is read to its end first, so the
//! last lines of a file renamed by a rotation are still counted, then the path is checked: a new
//! inode is a rotated file (read from its start), a size below the offset is a truncation
//! (`copytruncate`; read from the start again). Offsets are saved in `data_dir` after each step,
//! so a restart resumes where it stopped instead of counting the whole file again. A file seen
//! for the first time when its rule is loaded is followed from its end (its past is not news);
//! one that appears later is read from its start.

use argus_core::agentconf::LogRule;
use argus_core::{Point, Tags};
use regex::bytes::Regex;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

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
    dev: u64,
    ino: u64,
    offset: u64,
    file: File,
    partial: Vec<u8>,
}

/// A saved offset.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
struct Saved {
    dev: u64,
    ino: u64,
    offset: u64,
}

/// Follows the files of every rule.
pub struct LogWatcher {
    rules: Vec<Rule>,
    /// Open files by `rule key \0 path`.
    follows: HashMap<String, Follow>,
    /// Offsets from the previous run (and kept up to date), by the same key.
    saved: HashMap<String, Saved>,
    state_path: Option<PathBuf>,
    /// Rule keys whose first scan has not run yet.
    fresh: std::collections::HashSet<String>,
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
                    if !self.rules.iter().any(|o| o.key == key) {
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
        self.follows
            .retain(|k, _| keys.contains(k.split('\0').next().unwrap_or("")));
        self.rules = next;
        errors
    }

    /// Counts the new matching lines of every rule: `(metric, tags, count)`.
    pub fn step(&mut self) -> Vec<(String, Tags, u64)> {
        let mut out = Vec::with_capacity(self.rules.len());
        let rules = std::mem::take(&mut self.rules);
        for rule in &rules {
            let first = self.fresh.remove(&rule.key);
            let mut count = 0;
            for path in expand(&rule.glob) {
                let key = format!("{}\0{}", rule.key, path.display());
                count += self.follow(&key, &path, &rule.regex, first);
            }
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

    fn follow(&mut self, key: &str, path: &Path, re: &Regex, first_scan: bool) -> u64 {
        let mut count = 0;
        // The open handle first: lines written just before a rotation.
        if let Some(f) = self.follows.get_mut(key) {
            count += read_lines(f, re);
        }
        let Ok(meta) = std::fs::metadata(path) else {
            return count;
        };
        let (dev, ino, size) = (meta.dev(), meta.ino(), meta.len());
        let reopen_at = match self.follows.get_mut(key) {
            Some(f) if f.dev == dev && f.ino == ino => {
                if size < f.offset {
                    tracing::info!(file = %path.display(), "log file truncated; reading from its start");
                    f.offset = 0;
                    f.partial.clear();
                    let _ = f.file.seek(SeekFrom::Start(0));
                }
                None
            }
            Some(_) => {
                tracing::info!(file = %path.display(), "log file rotated; reading the new one");
                Some(0)
            }
            None => Some(match self.saved.get(key) {
                Some(s) if s.dev == dev && s.ino == ino && s.offset <= size => s.offset,
                Some(_) => 0,
                None if first_scan => size,
                None => 0,
            }),
        };
        if let Some(offset) = reopen_at {
            self.follows.remove(key);
            if let Ok(mut file) = File::open(path) {
                if file.seek(SeekFrom::Start(offset)).is_ok() {
                    self.follows.insert(
                        key.to_string(),
                        Follow {
                            dev,
                            ino,
                            offset,
                            file,
                            partial: Vec::new(),
                        },
                    );
                }
            }
        }
        if let Some(f) = self.follows.get_mut(key) {
            count += read_lines(f, re);
            self.saved.insert(
                key.to_string(),
                Saved {
                    dev: f.dev,
                    ino: f.ino,
                    offset: f.offset - f.partial.len() as u64,
                },
            );
        }
        count
    }

    fn save(&mut self) {
        let live: std::collections::HashSet<&str> =
            self.rules.iter().map(|r| r.key.as_str()).collect();
        self.saved
            .retain(|k, _| live.contains(k.split('\0').next().unwrap_or("")));
        let Some(p) = &self.state_path else { return };
        let tmp = p.with_extension("tmp");
        let body = serde_json::to_vec(&self.saved).expect("offsets serialize");
        if let Err(e) = std::fs::write(&tmp, body).and_then(|_| std::fs::rename(&tmp, p)) {
            tracing::warn!(file = %p.display(), error = %e, "cannot save log offsets");
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
