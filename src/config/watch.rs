//! Hot reload: watch the directories of the config file and of every JWKS file, debounce,
//! recompile the whole configuration, and publish it with
//! [`SharedSnapshot::replace_config`] only when it is valid and different.
//!
//! Directories, not files, are watched: a Kubernetes ConfigMap mount swaps a `..data`
//! symlink and never touches `config.yaml` itself, and editors replace files by rename.
//! Any event in a watched directory triggers a reload attempt; the input digest makes
//! spurious attempts free (no swap, no log). SIGHUP triggers the same reload.

use super::{ConfigError, load};
use crate::lock::lock;
use crate::remote::RemoteKeys;
use crate::snapshot::{SharedSnapshot, Snapshot};
use notify::{EventKind, RecursiveMode, Watcher};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::sync::{mpsc, watch};

/// Debounce applied to file events by default: editors and `kubectl` write in bursts.
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(250);

/// What one reload attempt did.
#[derive(Debug)]
pub enum Outcome {
    /// A new snapshot was stored; the strings describe what changed.
    Applied(Vec<String>),
    /// The inputs are byte-for-byte what is already serving.
    Unchanged,
    /// The new inputs are invalid; the last good snapshot keeps serving.
    Rejected(ConfigError),
}

/// Reload counters, for the admin endpoint (and later metrics).
#[derive(Debug, Default)]
pub struct ReloadStats {
    applied: AtomicU64,
    rejected: AtomicU64,
    last_error: Mutex<Option<String>>,
    last: Mutex<Option<LastReload>>,
}

/// The most recent reload that was applied or (newly) rejected, for the debug page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastReload {
    pub at: SystemTime,
    /// `Ok(what changed)` when applied, `Err(why)` when rejected.
    pub result: Result<Vec<String>, String>,
}

impl ReloadStats {
    pub fn applied(&self) -> u64 {
        self.applied.load(Ordering::Relaxed)
    }
    pub fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }
    /// The error of the most recent rejected attempt, cleared by the next applied one.
    pub fn last_error(&self) -> Option<String> {
        lock(&self.last_error).clone()
    }
    pub fn last(&self) -> Option<LastReload> {
        lock(&self.last).clone()
    }
    fn remember(&self, result: Result<Vec<String>, String>) {
        let at = SystemTime::now();
        *lock(&self.last) = Some(LastReload { at, result });
    }
}

/// Recompiles the config at `path` into the shared snapshot.
pub struct Reloader {
    path: PathBuf,
    snapshot: SharedSnapshot,
    stats: Arc<ReloadStats>,
    /// Remote key refreshers, resynchronised after each applied reload.
    remote: Option<Arc<RemoteKeys>>,
}

impl Reloader {
    pub fn new(
        path: PathBuf,
        snapshot: SharedSnapshot,
        remote: Option<Arc<RemoteKeys>>,
    ) -> Reloader {
        Reloader {
            path,
            snapshot,
            stats: Arc::default(),
            remote,
        }
    }

    pub fn stats(&self) -> Arc<ReloadStats> {
        self.stats.clone()
    }

    /// One attempt: compile everything; store only a valid, different snapshot.
    pub fn reload(&self) -> Outcome {
        let new = match load(&self.path) {
            Ok(new) => new,
            Err(error) => {
                let text = error.to_string();
                let mut last = lock(&self.stats.last_error);
                // The same failure seen again (another event for the same broken file)
                // is neither logged nor counted twice.
                if last.as_deref() != Some(text.as_str()) {
                    self.stats.rejected.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(error = %text, "config reload rejected; the last good config keeps serving");
                    self.stats.remember(Err(text.clone()));
                    *last = Some(text);
                }
                return Outcome::Rejected(error);
            }
        };
        *lock(&self.stats.last_error) = None;
        let old = self.snapshot.load_full();
        if old.digest == new.digest {
            return Outcome::Unchanged;
        }
        let changes = describe_changes(&old, &new);
        // Keeps the fetched keys of unchanged remote providers, even ones a refresher
        // publishes between our load and the swap.
        self.snapshot.replace_config(new);
        if let Some(remote) = &self.remote {
            remote.sync();
        }
        self.stats.applied.fetch_add(1, Ordering::Relaxed);
        tracing::info!(changes = %changes.join("; "), "config reloaded");
        self.stats.remember(Ok(changes.clone()));
        Outcome::Applied(changes)
    }

    /// The directories to watch for the snapshot now serving.
    fn watched_dirs(&self) -> BTreeSet<PathBuf> {
        let mut dirs: BTreeSet<PathBuf> = self
            .snapshot
            .load()
            .input_files()
            .into_iter()
            .map(parent_dir)
            .collect();
        dirs.insert(parent_dir(&self.path));
        dirs
    }
}

fn parent_dir(file: &Path) -> PathBuf {
    match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// What changed between two snapshots, for the log: providers added, removed or changed,
/// and key ids added or removed. Never key material.
pub fn describe_changes(old: &Snapshot, new: &Snapshot) -> Vec<String> {
    let mut changes = Vec::new();
    for p in &new.providers {
        match old.providers.iter().find(|o| o.name == p.name) {
            None => changes.push(format!("provider {} added", p.name)),
            Some(o) if o.fingerprint != p.fingerprint => {
                let kids = |p: &crate::snapshot::Provider| -> BTreeSet<String> {
                    p.keys
                        .keys()
                        .iter()
                        .map(|k| k.kid().unwrap_or("(no kid)").to_owned())
                        .collect()
                };
                let (before, after) = (kids(o), kids(p));
                let added: Vec<_> = after.difference(&before).cloned().collect();
                let removed: Vec<_> = before.difference(&after).cloned().collect();
                let mut text = format!("provider {} changed", p.name);
                if !added.is_empty() {
                    text.push_str(&format!(", keys added [{}]", added.join(", ")));
                }
                if !removed.is_empty() {
                    text.push_str(&format!(", keys removed [{}]", removed.join(", ")));
                }
                changes.push(text);
            }
            Some(_) => {}
        }
    }
    for o in &old.providers {
        if !new.providers.iter().any(|p| p.name == o.name) {
            changes.push(format!("provider {} removed", o.name));
        }
    }
    if changes.is_empty() {
        changes.push("routes, challenge, upstream or limits changed".to_owned());
    }
    changes
}

/// Watches until `stop` turns true: file events (debounced) and SIGHUP trigger a reload.
pub async fn run(
    reloader: Arc<Reloader>,
    debounce: Duration,
    mut stop: watch::Receiver<bool>,
) -> Result<(), notify::Error> {
    let (events, mut event_rx) = mpsc::unbounded_channel();
    let mut watcher =
        notify::recommended_watcher(move |event: notify::Result<notify::Event>| match event {
            // Opening and reading files (our own reloads included) changes nothing.
            Ok(event) if matches!(event.kind, EventKind::Access(_)) => {}
            Ok(_) => {
                let _ = events.send(());
            }
            Err(e) => tracing::warn!(error = %e, "file watch error"),
        })?;
    let mut watched = BTreeSet::new();
    sync_watches(&mut watcher, &mut watched, reloader.watched_dirs());
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    let stopping = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    tokio::pin!(stopping);
    loop {
        tokio::select! {
            () = &mut stopping => return Ok(()),
            _ = hangup.recv() => tracing::info!("SIGHUP: reloading the config"),
            Some(()) = event_rx.recv() => {
                // Debounce: wait until the directory has been quiet for `debounce`; a SIGHUP
                // meanwhile reloads at once.
                loop {
                    tokio::select! {
                        () = tokio::time::sleep(debounce) => break,
                        Some(()) = event_rx.recv() => {}
                        _ = hangup.recv() => break,
                    }
                }
            }
        }
        let attempt = reloader.clone();
        if let Err(e) = tokio::task::spawn_blocking(move || attempt.reload()).await {
            tracing::error!(error = %e, "reload task failed");
        }
        sync_watches(&mut watcher, &mut watched, reloader.watched_dirs());
    }
}

/// Watches exactly `wanted` (JWKS files may move between reloads).
fn sync_watches(
    watcher: &mut impl Watcher,
    watched: &mut BTreeSet<PathBuf>,
    wanted: BTreeSet<PathBuf>,
) {
    for dir in watched.difference(&wanted) {
        let _ = watcher.unwatch(dir);
    }
    let mut now_watched: BTreeSet<PathBuf> = watched.intersection(&wanted).cloned().collect();
    for dir in wanted.difference(watched) {
        match watcher.watch(dir, RecursiveMode::NonRecursive) {
            Ok(()) => {
                now_watched.insert(dir.clone());
            }
            // Retried after the next reload attempt (e.g. once the directory exists).
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot watch directory; changes there need SIGHUP")
            }
        }
    }
    *watched = now_watched;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock::tests::poison;

    #[test]
    fn a_poisoned_error_slot_still_counts_and_reports_a_rejected_reload() {
        let dir = std::env::temp_dir().join(format!("authz-watch-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.yaml");
        let jwks = serde_json::json!({"keys": [crate::mint::test_keys::ec(
            crate::algorithm::Algorithm::Es256,
            "k1",
        )
        .public_jwk()]});
        let good = format!(
            "providers:\n  - name: p\n    issuer: https://i.test\n    audiences: [a]\n    jwks: {{ inline: '{jwks}' }}\n"
        );
        std::fs::write(&path, &good).unwrap();
        let shared = SharedSnapshot::new(load(&path).unwrap());
        let reloader = Reloader::new(path.clone(), shared, None);
        poison(&reloader.stats.last_error);

        std::fs::write(&path, "providers: [").unwrap();
        assert!(matches!(reloader.reload(), Outcome::Rejected(_)));
        assert_eq!(reloader.stats().rejected(), 1);
        assert!(reloader.stats().last_error().is_some());
        assert!(reloader.stats().last().unwrap().result.is_err());

        std::fs::write(&path, good.replace("audiences: [a]", "audiences: [b]")).unwrap();
        assert!(matches!(reloader.reload(), Outcome::Applied(_)));
        assert_eq!(reloader.stats().last_error(), None);
        let applied = reloader.stats().last().unwrap().result.unwrap();
        assert_eq!(applied, ["provider p changed"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
