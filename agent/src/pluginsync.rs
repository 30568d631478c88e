//! Plugin sync from a git repository, open-falcon's `plugin.git` habit: the host group names a
//! repository and a revision (branch, tag or commit), the agent keeps a checkout of it in
//! `data_dir/plugin-repo` and runs from it only the plugins the group lists. The `git` command
//! does the work (every host that used open-falcon's sync has it); a failed sync keeps the last
//! checkout in force.

use argus_core::agentconf::PluginRepo;
use std::path::Path;
use std::time::Duration;

/// Longest a sync may take before it is killed and reported.
const SYNC_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs `git args...` in `dir`; its stdout, or why it failed (with the end of its stderr).
async fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let run = tokio::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        // The ext:: transport runs commands; never, whatever the host's git config says.
        .args(["-c", "protocol.ext.allow=never"])
        .args(args)
        // Never wait for a password on a terminal nobody watches.
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(SYNC_TIMEOUT, run)
        .await
        .map_err(|_| format!("git {} timed out after {SYNC_TIMEOUT:?}", args[0]))?
        .map_err(|e| format!("cannot run git: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let mut tail: Vec<char> = err.trim().chars().rev().take(300).collect();
        tail.reverse();
        let tail: String = tail.into_iter().collect();
        return Err(format!("git {} failed ({}): {tail}", args[0], out.status));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Brings the checkout in `dir` to `repo.rev` of `repo.url` (a shallow fetch, then a forced
/// checkout that also removes files the revision does not have); the commit checked out.
pub(crate) async fn sync(repo: &PluginRepo, dir: &Path) -> Result<String, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    if !dir.join(".git").exists() {
        git(dir, &["init", "--quiet"]).await?;
    }
    // The URL is given on every fetch, so a group that changes repository takes effect.
    git(
        dir,
        &[
            "fetch",
            "--quiet",
            "--depth",
            "1",
            "--no-tags",
            &repo.url,
            &repo.rev,
        ],
    )
    .await?;
    git(
        dir,
        &["checkout", "--quiet", "--force", "--detach", "FETCH_HEAD"],
    )
    .await?;
    git(dir, &["clean", "--quiet", "-d", "--force", "-x"]).await?;
    git(dir, &["rev-parse", "HEAD"]).await
}

/// Whether `dir` holds a checkout (from this run's sync or an earlier one).
pub(crate) async fn has_checkout(dir: &Path) -> bool {
    dir.join(".git").exists()
        && git(dir, &["rev-parse", "--verify", "--quiet", "HEAD"])
            .await
            .is_ok()
}
