//! The automatic and signal triggers of a reload.
//!
//! Directories are watched, never single files: an editor's save (write a temporary file, rename
//! it over), `mv` over, delete and recreate, and a Kubernetes ConfigMap update (an atomic swap of
//! the `..data` symlink) all show up as events in the directory, where a watch on the file itself
//! would be lost with the file's old inode. `notify-debouncer-full` collects a burst of events
//! into one (and, unlike the mini debouncer, keeps the "rescan needed" flag of a queue overflow);
//! a slow periodic content check catches whatever the kernel still failed to report.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{RecommendedWatcher, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};

use super::Handle;
use super::fingerprint::is_editor_temp;
use crate::config::Config;

/// How long the filesystem must be quiet before a burst of events becomes one reload.
pub const DEBOUNCE: Duration = Duration::from_millis(200);

/// A running watcher: dropping it stops the watches.
pub type Watcher = Debouncer<RecommendedWatcher, RecommendedCache>;

/// The directories to watch for `config`: the zones directory, every GeoIP database's
/// directory, the config file's directory.
pub fn directories(config: &Config) -> Vec<PathBuf> {
    let mut dirs = BTreeSet::new();
    dirs.insert(config.zones.clone());
    let parent = |p: &Path| match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    for g in &config.geoip {
        dirs.insert(parent(g));
    }
    if let Some(f) = &config.file {
        dirs.insert(parent(f));
    }
    dirs.insert(parent(&config.overrides));
    if let Some(f) = &config.feed {
        dirs.insert(parent(f));
    }
    dirs.into_iter().collect()
}

/// Whether an event about `path` can change what is served (editors' side files cannot).
fn relevant(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_none_or(|n| !is_editor_temp(n))
}

/// Starts watching; every relevant burst of events, every watcher error and every "rescan
/// needed" asks for a reload.
pub fn start(config: &Config, handle: Handle) -> Result<Watcher, notify::Error> {
    let mut debouncer = new_debouncer(DEBOUNCE, None, move |res: DebounceEventResult| match res {
        Ok(events) => {
            let rescan = events.iter().any(|e| e.need_rescan());
            // opening and reading files (the reload itself does) is no change
            let changed = events.iter().any(|e| {
                !matches!(e.kind, notify::EventKind::Access(_))
                    && e.paths.iter().any(|p| relevant(p))
            });
            if rescan || changed {
                handle.request("file change");
            }
        }
        Err(errors) => {
            for e in &errors {
                tracing::warn!(error = %e, "file watcher error: rescanning");
            }
            handle.request("file change");
        }
    })?;
    for dir in directories(config) {
        debouncer.watch(&dir, RecursiveMode::NonRecursive)?;
        tracing::debug!(dir = %dir.display(), "watching for changes");
    }
    Ok(debouncer)
}

/// Compares the content of every input with what is served every `interval`: the backstop for
/// events the kernel did not deliver (network filesystems, exhausted inotify watches).
pub async fn periodic(interval: Duration, handle: Handle) {
    if interval.is_zero() {
        return;
    }
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await; // the first tick is immediate
    loop {
        tick.tick().await;
        handle.request("periodic check");
    }
}

/// Reloads on SIGHUP, the reflex of every NSD, BIND and PowerDNS operator. The signal stream is
/// created by the caller as early as it can: until then SIGHUP would end the process.
pub async fn on_sighup(mut hup: tokio::signal::unix::Signal, handle: Handle) {
    while hup.recv().await.is_some() {
        handle.request("SIGHUP");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watched_directories_and_relevant_files() {
        let c = Config {
            zones: "/etc/geosteer/zones".into(),
            geoip: vec![
                "/var/lib/geoip/a.mmdb".into(),
                "/var/lib/geoip/b.mmdb".into(),
            ],
            file: Some("/etc/geosteer/geosteer.toml".into()),
            // overrides.toml beside the zones: in /etc/geosteer, watched already
            overrides: "/etc/geosteer/overrides.toml".into(),
            ..Config::default()
        };
        let d: Vec<String> = directories(&c)
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        assert_eq!(
            d,
            ["/etc/geosteer", "/etc/geosteer/zones", "/var/lib/geoip"]
        );
        assert!(relevant(Path::new("/z/example.com.zone")));
        assert!(relevant(Path::new("/z/..data")));
        assert!(!relevant(Path::new("/z/.example.com.zone.swp")));
    }
}
