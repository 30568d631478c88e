//! Plugins: executables in the plugin directory, each run on its own interval, printing points
//! as JSON in the open-falcon push format (`endpoint` defaults to this host, `timestamp` to now,
//! `step` to the interval).
//!
//! A run that overruns its timeout is killed (its whole process group) and reported; a run that
//! exits non-zero or prints something that is not points is reported with the plugin's name and
//! the reason. Reports are a warning in the log, `argus_agent_plugin_failures_total{plugin,
//! reason}` in `/metrics`, and the point `agent.plugin.ok` (1 or 0, tag `plugin`).

use crate::sender::Queue;
use argus_core::agentconf::PluginSpec;
use argus_core::telemetry::Registry;
use argus_core::validate::{validate_point, Limits};
use argus_core::wire::falcon;
use argus_core::{Point, Tags};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Why a plugin run produced no points.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The path is not a relative path inside the plugin directory.
    #[error(
        "plugin {plugin}: path {path:?} must be relative to the plugin directory, without `..`"
    )]
    BadPath {
        /// The plugin.
        plugin: String,
        /// Its path.
        path: String,
    },
    /// The executable could not be started.
    #[error("plugin {plugin}: cannot start {path}: {reason}")]
    Spawn {
        /// The plugin.
        plugin: String,
        /// The executable.
        path: String,
        /// The OS error.
        reason: String,
    },
    /// It ran longer than its timeout and was killed.
    #[error("plugin {plugin}: killed after its timeout of {secs} s")]
    Timeout {
        /// The plugin.
        plugin: String,
        /// The timeout.
        secs: u64,
    },
    /// It exited with a failure status.
    #[error("plugin {plugin}: exited with {status}: {stderr}")]
    Exit {
        /// The plugin.
        plugin: String,
        /// The exit status.
        status: String,
        /// The end of its stderr.
        stderr: String,
    },
    /// Its output is not points in the falcon format.
    #[error("plugin {plugin}: bad output: {reason}")]
    Output {
        /// The plugin.
        plugin: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl PluginError {
    /// The `reason` label of the failure counter.
    pub fn kind(&self) -> &'static str {
        match self {
            PluginError::BadPath { .. } => "bad_path",
            PluginError::Spawn { .. } => "spawn",
            PluginError::Timeout { .. } => "timeout",
            PluginError::Exit { .. } => "exit",
            PluginError::Output { .. } => "bad_output",
        }
    }
}

/// What plugin runs need.
pub struct PluginContext {
    /// The plugin directory.
    pub dir: PathBuf,
    /// This host's endpoint name.
    pub endpoint: String,
    /// Where points go.
    pub queue: Arc<Queue>,
    /// Point limits.
    pub limits: Limits,
    /// For failure counters.
    pub registry: Registry,
}

/// Executables named `<seconds>_<name>` directly in `dir` (open-falcon's convention), as specs
/// with that interval and timeout.
pub fn discover(dir: &Path) -> Vec<PluginSpec> {
    use std::os::unix::fs::PermissionsExt;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PluginSpec> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_string();
            let (secs, rest) = name.split_once('_')?;
            let secs: u64 = secs.parse().ok().filter(|s| *s > 0)?;
            let meta = e.metadata().ok()?;
            (meta.is_file() && meta.permissions().mode() & 0o111 != 0).then(|| PluginSpec {
                name: rest.to_string(),
                path: name.clone(),
                args: Vec::new(),
                interval_secs: secs,
                timeout_secs: secs,
            })
        })
        .collect();
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// Runs `spec` once: its points, or why there are none. Bad points next to good ones are
/// reported as [`PluginError::Output`] only when no point at all could be read.
pub async fn run_once(spec: &PluginSpec, ctx: &PluginContext) -> Result<Vec<Point>, PluginError> {
    if spec.path.is_empty() || spec.path.starts_with('/') || spec.path.split('/').any(|c| c == "..")
    {
        return Err(PluginError::BadPath {
            plugin: spec.name.clone(),
            path: spec.path.clone(),
        });
    }
    // Absolute, since the child runs with the plugin directory as its working directory: a
    // relative path (standalone's `./data/agent/plugins`) joined onto a relative directory
    // would be looked up from inside that directory and not be found.
    let dir = std::path::absolute(&ctx.dir).map_err(|e| PluginError::Spawn {
        plugin: spec.name.clone(),
        path: ctx.dir.join(&spec.path).display().to_string(),
        reason: format!("cannot resolve the plugin directory: {e}"),
    })?;
    let path = dir.join(&spec.path);
    let secs = if spec.timeout_secs > 0 {
        spec.timeout_secs
    } else {
        spec.interval_secs.max(1)
    };
    let mut cmd = tokio::process::Command::new(&path);
    cmd.args(&spec.args)
        .current_dir(&dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        // Its own process group, so a timeout kills what it started too.
        .process_group(0);
    let child = cmd.spawn().map_err(|e| PluginError::Spawn {
        plugin: spec.name.clone(),
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    let pid = child.id();
    let out = match tokio::time::timeout(Duration::from_secs(secs), child.wait_with_output()).await
    {
        Ok(Ok(out)) => out,
        Ok(Err(e)) => {
            return Err(PluginError::Spawn {
                plugin: spec.name.clone(),
                path: path.display().to_string(),
                reason: e.to_string(),
            })
        }
        Err(_) => {
            if let Some(pid) = pid {
                // SAFETY: kill(2) on the plugin's own process group; no memory is involved.
                unsafe { libc::kill(-(pid as i32), libc::SIGKILL) };
            }
            return Err(PluginError::Timeout {
                plugin: spec.name.clone(),
                secs,
            });
        }
    };
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: String = err
            .trim()
            .chars()
            .rev()
            .take(300)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        return Err(PluginError::Exit {
            plugin: spec.name.clone(),
            status: out.status.to_string(),
            stderr: tail,
        });
    }
    parse_output(spec, ctx, &out.stdout)
}

/// Reads a plugin's stdout: a falcon JSON array (or one object); empty output means no points.
fn parse_output(
    spec: &PluginSpec,
    ctx: &PluginContext,
    stdout: &[u8],
) -> Result<Vec<Point>, PluginError> {
    let bad = |reason: String| PluginError::Output {
        plugin: spec.name.clone(),
        reason,
    };
    if stdout.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    let now = argus_core::time::now_secs();
    let mut v: serde_json::Value = serde_json::from_slice(stdout).map_err(|e| {
        let head = String::from_utf8_lossy(&stdout[..stdout.len().min(80)]).into_owned();
        bad(format!("not JSON ({e}); output starts with {head:?}"))
    })?;
    if v.is_object() {
        v = serde_json::Value::Array(vec![v]);
    }
    let Some(items) = v.as_array_mut() else {
        return Err(bad("expected a JSON array of points".into()));
    };
    for it in items.iter_mut().filter_map(|i| i.as_object_mut()) {
        it.entry("timestamp").or_insert(now.into());
        it.entry("step").or_insert(spec.interval_secs.into());
    }
    let body = serde_json::to_vec(&v).expect("re-encoding JSON");
    let (good, rejected) = falcon::decode(&body, &ctx.endpoint).map_err(|e| bad(e.to_string()))?;
    let mut points = Vec::with_capacity(good.len());
    let mut reasons: Vec<String> = rejected.iter().map(|r| r.to_string()).collect();
    for (i, p) in good {
        match validate_point(&p, &ctx.limits, now) {
            Ok(()) => points.push(p),
            Err(e) => reasons.push(format!("point {i}: {}: {}", e.field, e.reason)),
        }
    }
    if !reasons.is_empty() {
        let msg = reasons.join("; ");
        if points.is_empty() {
            return Err(bad(msg));
        }
        tracing::warn!(plugin = %spec.name, reasons = %msg, "plugin printed some invalid points");
    }
    Ok(points)
}

/// Runs `spec` every interval until aborted, reporting each run.
pub async fn run_loop(spec: PluginSpec, ctx: Arc<PluginContext>) {
    let mut tick = tokio::time::interval(Duration::from_secs(spec.interval_secs.max(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let ok = match run_once(&spec, &ctx).await {
            Ok(points) => {
                ctx.queue.push(points);
                1.0
            }
            Err(e) => {
                tracing::warn!(plugin = %spec.name, reason = e.kind(), error = %e, "plugin run failed");
                ctx.registry
                    .counter(
                        "argus_agent_plugin_failures_total",
                        "Plugin runs that failed, by plugin and reason.",
                        &[("plugin", &spec.name), ("reason", e.kind())],
                    )
                    .inc();
                0.0
            }
        };
        let mut p = Point::gauge(
            &ctx.endpoint,
            "agent.plugin.ok",
            Tags::from_pairs([("plugin", spec.name.as_str())]),
            ok,
            argus_core::time::now_secs(),
        );
        p.step = spec.interval_secs.clamp(1, u32::MAX as u64) as u32;
        ctx.queue.push([p]);
    }
}
