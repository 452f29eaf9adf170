//! Hot reload: one function that rebuilds everything and swaps it in, and the triggers that call
//! it (file events, SIGHUP, `POST /reload`, the periodic content check).
//!
//! A reload reads the config file again, loads every zone and pool file and the GeoIP databases,
//! and only when all of that is valid installs a new snapshot with one atomic swap
//! ([`crate::state::State::install`]). Any problem leaves what is served untouched; every problem
//! is logged with its file and line and kept in the [`Status`] that `/status` shows. Triggers that
//! arrive while a reload runs coalesce into one more reload after it: never lost, never two at
//! once. Reloads run on the blocking pool, never on a query thread.

// Reloads run one at a time on the blocking pool; their locks (the serving configuration, the
// pending reasons, the checker registry) are never touched by a query.
#![allow(clippy::disallowed_types)]

mod fingerprint;
pub mod watch;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use tokio::sync::{Notify, watch as channel};

pub use fingerprint::Fingerprint;

use crate::config::Config;
use crate::error::{LoadError, Problem};
use crate::geo::{Geo, GeoError};
use crate::health::Registry;
use crate::metrics::Metrics;
use crate::model::ZoneSet;
use crate::model::overrides::{Active, Overlay};
use crate::state::{Identity, Limits, Snapshot, State};

/// What the last reload attempt did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// Seconds since the Unix epoch when it finished.
    pub finished_unix: u64,
    /// What asked for it: `file change`, `SIGHUP`, `POST /reload`, `periodic check`.
    pub trigger: String,
    pub ok: bool,
    /// Every problem, `file:line: message`, when it failed.
    pub problems: Vec<String>,
    /// What changed (zones added, removed, re-serialled; pool files; GeoIP), when it succeeded.
    pub changes: String,
    /// Settings that changed in the config file but take effect only after a restart.
    pub needs_restart: Vec<&'static str>,
    pub millis: u64,
}

/// Reload state for `/status` and for callers waiting on a reload.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    /// Reload requests taken up and finished since the process started (an automatic trigger
    /// that finds nothing changed finishes without reloading).
    pub started: u64,
    pub finished: u64,
    /// Reloads actually attempted: configurations read and built, good or bad.
    pub reloads: u64,
    /// Of `reloads`, those installed.
    pub succeeded: u64,
    /// Content hash of the configuration being served (config file, zones directory, GeoIP
    /// databases): equal on every node of a fleet that serves the same files.
    pub config_hash: String,
    /// When the served configuration was installed (seconds since the epoch).
    pub installed_unix: u64,
    pub last: Option<Attempt>,
    /// When the next override expires (a reload then takes it out).
    pub next_expiry: Option<i64>,
}

/// A cheap, cloneable way to ask for a reload and to watch its outcome.
#[derive(Debug, Clone)]
pub struct Handle {
    trigger: Arc<Notify>,
    reasons: Arc<Mutex<BTreeSet<String>>>,
    status: channel::Receiver<Status>,
}

impl Handle {
    /// Asks for a reload (coalesced with any other request made before it starts).
    pub fn request(&self, why: &str) {
        self.reasons
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(why.to_string());
        self.trigger.notify_one();
    }

    /// Asks for a reload and waits until one that started after the request has finished.
    pub async fn request_and_wait(&self, why: &str) -> Status {
        let mut rx = self.status.clone();
        let before = rx.borrow().started;
        self.request(why);
        match rx.wait_for(|s| s.finished > before).await {
            Ok(s) => s.clone(),
            Err(_) => self.status(),
        }
    }

    /// The current reload status.
    pub fn status(&self) -> Status {
        self.status.borrow().clone()
    }
}

/// Triggers that do nothing when the content of every input is unchanged (an explicit SIGHUP
/// or `POST /reload` always reloads).
const AUTOMATIC: [&str; 2] = ["file change", "periodic check"];

/// How long after a reload the memory the old snapshot and the loader used is given back.
const TRIM_AFTER: std::time::Duration = std::time::Duration::from_secs(2);

/// Owns reloading: the configuration being served, the GeoIP readers to reuse, the status.
pub struct Reloader {
    state: Arc<State>,
    /// The configuration the process started with: restart-only settings are compared with it.
    started_with: Config,
    /// The configuration now served.
    serving: Mutex<Serving>,
    trigger: Arc<Notify>,
    reasons: Arc<Mutex<BTreeSet<String>>>,
    status: channel::Sender<Status>,
    /// The health checkers, kept in step with the zones served.
    checks: Mutex<Registry>,
    /// Where checkers are spawned (reloads run on the blocking pool).
    runtime: tokio::runtime::Handle,
    /// Where each new snapshot's counters are resolved; `None`: metrics are off.
    metrics: Option<Arc<Metrics>>,
}

struct Serving {
    config: Config,
    fingerprint: Fingerprint,
    /// Fingerprint of the last attempt's inputs, good or bad: an unchanged broken edit is not
    /// retried by the automatic triggers.
    attempted: u64,
    geo: Arc<Geo>,
}

fn now_unix() -> u64 {
    u64::try_from(crate::time::now_unix()).unwrap_or(0)
}

impl Reloader {
    /// Takes over a server that serves `config` (already loaded into `state` with `geo`).
    pub fn new(
        config: Config,
        state: Arc<State>,
        geo: Arc<Geo>,
        checks: Registry,
        metrics: Option<Arc<Metrics>>,
    ) -> (Arc<Reloader>, Handle) {
        let fingerprint = Fingerprint::of(&config);
        let status = Status {
            config_hash: fingerprint.hex(),
            installed_unix: now_unix(),
            next_expiry: state.load().overlay.next_expiry,
            ..Status::default()
        };
        let (tx, rx) = channel::channel(status);
        let trigger = Arc::new(Notify::new());
        let reasons = Arc::new(Mutex::new(BTreeSet::new()));
        let r = Arc::new(Reloader {
            state,
            started_with: config.clone(),
            serving: Mutex::new(Serving {
                attempted: fingerprint.total,
                config,
                fingerprint,
                geo,
            }),
            trigger: trigger.clone(),
            reasons: reasons.clone(),
            status: tx,
            checks: Mutex::new(checks),
            runtime: tokio::runtime::Handle::current(),
            metrics,
        });
        let handle = Handle {
            trigger,
            reasons,
            status: rx,
        };
        (r, handle)
    }

    /// Runs reloads as they are requested, one at a time, until the process ends.
    pub async fn run(self: Arc<Self>) {
        loop {
            let expiry = self.status.borrow().next_expiry;
            match expiry {
                Some(at) => {
                    let wait = u64::try_from(at - crate::time::now_unix()).unwrap_or(0);
                    tokio::select! {
                        _ = self.trigger.notified() => {}
                        _ = tokio::time::sleep(std::time::Duration::from_secs(wait) + std::time::Duration::from_millis(50)) => {
                            self.reasons
                                .lock()
                                .unwrap_or_else(PoisonError::into_inner)
                                .insert("override expired".into());
                        }
                    }
                }
                None => self.trigger.notified().await,
            }
            let reasons: Vec<String> =
                std::mem::take(&mut *self.reasons.lock().unwrap_or_else(PoisonError::into_inner))
                    .into_iter()
                    .collect();
            self.status.send_modify(|s| s.started += 1);
            let me = self.clone();
            let attempt = tokio::task::spawn_blocking(move || me.reload(&reasons)).await;
            let attempt = match attempt {
                Ok(a) => a,
                Err(e) => Some(Attempt {
                    finished_unix: now_unix(),
                    trigger: "?".into(),
                    ok: false,
                    problems: vec![format!("the reload task failed: {e}")],
                    changes: String::new(),
                    needs_restart: Vec::new(),
                    millis: 0,
                }),
            };
            self.status.send_modify(|s| {
                s.finished += 1;
                if let Some(a) = attempt {
                    s.reloads += 1;
                    s.succeeded += u64::from(a.ok);
                    s.last = Some(a);
                }
            });
        }
    }

    /// One reload, all or nothing. `None` when an automatic trigger found nothing changed.
    fn reload(&self, reasons: &[String]) -> Option<Attempt> {
        let t0 = Instant::now();
        let trigger = reasons.join(", ");
        let automatic = reasons.iter().all(|r| AUTOMATIC.contains(&r.as_str()));
        let mut serving = self.serving.lock().unwrap_or_else(PoisonError::into_inner);

        let config = match Config::load(serving.config.file.as_deref(), &serving.config.flags) {
            Ok(c) => c,
            Err(e) => {
                let fp = Fingerprint::of(&serving.config);
                if automatic && fp.total == serving.attempted {
                    return None;
                }
                serving.attempted = fp.total;
                return Some(self.failed(e, trigger, t0));
            }
        };
        let fp = Fingerprint::of(&config);
        if automatic && fp.total == serving.attempted {
            return None;
        }
        serving.attempted = fp.total;
        crate::systemd::notify_or_log(&format!(
            "RELOADING=1\nMONOTONIC_USEC={}",
            crate::systemd::monotonic_usec()
        ));
        let result = self.build(&config, &serving, &fp);
        crate::systemd::notify_or_log("READY=1");
        let (
            Loaded {
                zones,
                geo,
                overlay,
            },
            warnings,
        ) = match result {
            Ok(x) => x,
            Err(e) => return Some(self.failed(e, trigger, t0)),
        };
        for w in &warnings {
            tracing::warn!("{w}");
        }
        let needs_restart = self.started_with.restart_only_changes(&config);
        for key in &needs_restart {
            tracing::warn!(
                "the config file changes {key}: that needs a restart; the running value stays"
            );
        }
        let changes = describe_changes(
            &self.state.load().zones,
            &zones,
            &serving.fingerprint,
            &fp,
            !Arc::ptr_eq(&geo, &serving.geo),
        );
        let limits = Limits {
            udp_payload: config.udp_payload,
            ecs: config.ecs,
        };
        log_override_changes(&self.state.load().overlay, &overlay);
        let next_expiry = overlay.next_expiry;
        let health = self
            .checks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .sync(&zones, &self.runtime);
        let metrics = self.metrics.as_ref().map(|m| m.handles(&zones));
        let generation = self.state.install(Snapshot {
            zones,
            geo: geo.clone(),
            limits,
            overlay,
            health,
            identity: Identity::new(&config.identity, &config.version_txt, config.nsid),
            generation: 0,
            metrics,
            cookies: config.cookies.secrets(),
            ecs_trusted: config.ecs_trusted.as_deref().map(Arc::from),
        });
        self.status.send_modify(|s| s.next_expiry = next_expiry);
        // the old snapshot is freed when the last query holding it finishes (microseconds), and
        // the loader's temporary allocations already are: give the memory back a moment later,
        // off the query threads
        self.runtime.spawn(async {
            tokio::time::sleep(TRIM_AFTER).await;
            let _ = tokio::task::spawn_blocking(crate::sys::release_free_memory).await;
        });
        tracing::info!(
            generation,
            trigger = %trigger,
            config_hash = %fp.hex(),
            "reload: {changes}"
        );
        let attempt = Attempt {
            finished_unix: now_unix(),
            trigger,
            ok: true,
            problems: Vec::new(),
            changes,
            needs_restart,
            millis: u64::try_from(t0.elapsed().as_millis()).unwrap_or(u64::MAX),
        };
        self.status.send_modify(|s| {
            s.config_hash = fp.hex();
            s.installed_unix = attempt.finished_unix;
        });
        *serving = Serving {
            attempted: fp.total,
            config,
            fingerprint: fp,
            geo,
        };
        Some(attempt)
    }

    /// Loads everything a snapshot needs from `config`, reusing the GeoIP readers when their
    /// files did not change.
    fn build(
        &self,
        config: &Config,
        serving: &Serving,
        fp: &Fingerprint,
    ) -> Result<(Loaded, Vec<Problem>), LoadError> {
        let mut warnings = Vec::new();
        let same_geo = config.geoip == serving.config.geoip
            && config
                .geoip
                .iter()
                .all(|p| fp.file(p).is_some() && fp.file(p) == serving.fingerprint.file(p));
        let reuse = same_geo.then(|| serving.geo.clone());
        load(config, &mut warnings, reuse).map(|l| (l, warnings))
    }

    fn failed(&self, e: LoadError, trigger: String, t0: Instant) -> Attempt {
        for p in &e.problems {
            tracing::error!("reload failed, still serving the last good configuration: {p}");
        }
        Attempt {
            finished_unix: now_unix(),
            trigger,
            ok: false,
            problems: e.problems.iter().map(ToString::to_string).collect(),
            changes: String::new(),
            needs_restart: Vec::new(),
            millis: u64::try_from(t0.elapsed().as_millis()).unwrap_or(u64::MAX),
        }
    }
}

/// Everything a snapshot is made of.
#[derive(Debug)]
pub struct Loaded {
    pub zones: ZoneSet,
    pub geo: Arc<Geo>,
    pub overlay: Overlay,
}

/// Loads what `config` names: the zones with their pools, the GeoIP databases (or `reuse`s them),
/// the overrides resolved against the zones. Every problem of every file, or everything.
pub fn load(
    config: &Config,
    warnings: &mut Vec<Problem>,
    reuse: Option<Arc<Geo>>,
) -> Result<Loaded, LoadError> {
    let zones = crate::load::load_dir_reporting(&config.zones, warnings);
    let geo = match reuse {
        Some(g) => Ok(g),
        None => open_geo(&config.geoip).map(Arc::new),
    };
    let overrides = crate::load::overrides::read(&config.overrides);
    let feed = match &config.feed {
        Some(f) => crate::load::overrides::read_feed(f),
        None => Ok(Vec::new()),
    };
    match (zones, geo, overrides, feed) {
        (Ok(zones), Ok(geo), Ok(overrides), Ok(feed)) => {
            let overlay = Overlay::resolve(&zones, &overrides, crate::time::now_unix())
                .and_then(|o| o.with_feed(&zones, feed))
                .map_err(LoadError::sorted)?;
            Ok(Loaded {
                zones,
                geo,
                overlay,
            })
        }
        (z, g, o, f) => {
            let mut problems = z.err().map(|e| e.problems).unwrap_or_default();
            problems.extend(g.err().map(|e| e.problems).unwrap_or_default());
            problems.extend(o.err().map(|e| e.problems).unwrap_or_default());
            problems.extend(f.err().map(|e| e.problems).unwrap_or_default());
            Err(LoadError::sorted(problems))
        }
    }
}

/// Opens (and verifies) the GeoIP databases, every failure as a problem of its file.
pub fn open_geo(paths: &[PathBuf]) -> Result<Geo, LoadError> {
    Geo::open(paths).map_err(|errs| {
        LoadError::sorted(
            errs.into_iter()
                .map(|e| {
                    let path = match &e {
                        GeoError::Read { path, .. } | GeoError::Invalid { path, .. } => {
                            path.clone()
                        }
                    };
                    let msg = e.to_string();
                    let msg = msg
                        .trim_start_matches(&format!("{}: ", path.display()))
                        .to_string();
                    Problem::new(&path, 0, msg)
                })
                .collect(),
        )
    })
}

/// One line for the log: zones added, removed and re-serialled, pool files changed, GeoIP.
fn describe_changes(
    old: &ZoneSet,
    new: &ZoneSet,
    old_fp: &Fingerprint,
    new_fp: &Fingerprint,
    geo_reloaded: bool,
) -> String {
    let mut parts = Vec::new();
    let find = |set: &ZoneSet, origin: &str| {
        set.zones()
            .iter()
            .find(|z| z.origin() == origin)
            .map(|z| z.serial())
    };
    let added: Vec<&str> = new
        .zones()
        .iter()
        .filter(|z| find(old, z.origin()).is_none())
        .map(|z| z.origin())
        .collect();
    let removed: Vec<&str> = old
        .zones()
        .iter()
        .filter(|z| find(new, z.origin()).is_none())
        .map(|z| z.origin())
        .collect();
    let serials: Vec<String> = new
        .zones()
        .iter()
        .filter_map(|z| {
            let before = find(old, z.origin())?;
            (before != z.serial()).then(|| format!("{} {before} → {}", z.origin(), z.serial()))
        })
        .collect();
    let pools: Vec<String> = new_fp
        .changed_since(old_fp)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".pools.toml"))
        .map(|p| p.display().to_string())
        .collect();
    if !added.is_empty() {
        parts.push(format!("zones added: {}", added.join(", ")));
    }
    if !removed.is_empty() {
        parts.push(format!("zones removed: {}", removed.join(", ")));
    }
    if !serials.is_empty() {
        parts.push(format!("serials: {}", serials.join(", ")));
    }
    if !pools.is_empty() {
        parts.push(format!("pool files changed: {}", pools.join(", ")));
    }
    if geo_reloaded {
        parts.push("GeoIP databases reloaded".into());
    }
    if parts.is_empty() {
        "no zone, serial, pool file or GeoIP change".into()
    } else {
        parts.join("; ")
    }
}

/// Logs each change of the overrides in force once, with its reason.
fn log_override_changes(old: &Overlay, new: &Overlay) {
    let same = |a: &Active, b: &Active| {
        a.rule.target == b.rule.target
            && a.rule.state == b.rule.state
            && a.rule.until == b.rule.until
            && a.rule.reason == b.rule.reason
    };
    for a in new.active() {
        if !old.active().iter().any(|o| same(o, a)) {
            let until = a
                .rule
                .until
                .map(|u| format!(" until {}", crate::time::format_rfc3339(u)))
                .unwrap_or_default();
            tracing::warn!(
                "override in force: {} {}{until} ({} members): {}",
                a.rule.target,
                a.rule.state.as_str(),
                a.members,
                if a.rule.reason.is_empty() {
                    "no reason given"
                } else {
                    &a.rule.reason
                }
            );
        }
    }
    for o in old.active() {
        if !new.active().iter().any(|a| same(o, a)) {
            tracing::info!(
                "override ended: {} {} ({})",
                o.rule.target,
                o.rule.state.as_str(),
                if o.rule.reason.is_empty() {
                    "no reason given"
                } else {
                    &o.rule.reason
                }
            );
        }
    }
}
