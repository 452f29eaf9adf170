//! Active health checks: one checker task per unique (check, address) however many pools and
//! zones name it, rise/fall thresholds, jitter, a cap on probes in flight; the states in a table
//! of atomics that the query path reads without a lock, carried across reloads.
//!
//! Only a checker writes its own slot. A reload [`Registry::sync`]s the checkers with the new zone
//! set: a probe whose check and address did not change keeps its task, its state and its history;
//! removed ones stop, new ones start in the check's initial state.

// Checkers write their details (for /status and explain) under a lock; the query path reads only
// the atomic states.
#![allow(clippy::disallowed_types)]

mod probe;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use crate::model::overrides::{FeedEntry, FeedState, Overlay, Override, OverrideState};
use crate::model::{Check, Pool, ZoneSet};
use crate::net::{mix, stable_hash};

/// Probes in flight at once, across every check.
const MAX_IN_FLIGHT: usize = 64;

/// No probe: the member is not checked.
pub const UNCHECKED: u32 = u32::MAX;

/// What a checker reports of its target, for `/status` and `explain` (never the query path).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Detail {
    /// `check name → address:port`.
    pub target: String,
    pub up: bool,
    /// When the state last changed (or the checker started), seconds since the epoch.
    pub since_unix: i64,
    /// Why it went down (the failing probe's error).
    pub reason: String,
    /// The last probe: ok or not, and how long it took.
    pub last_ok: Option<bool>,
    pub last_ms: u64,
    pub probes: u64,
    /// The check's name and the probed address (`address:port`), for metrics labels.
    pub check: String,
    pub address: String,
    /// Probes that failed, of `probes`.
    pub failures: u64,
    /// Changes of state: to up, to down.
    pub ups: u64,
    pub downs: u64,
    /// Probe durations: the sum, and counts per bucket of [`PROBE_BUCKETS_MS`] (+Inf last).
    pub ms_sum: u64,
    pub ms_buckets: [u64; PROBE_BUCKETS_MS.len() + 1],
}

/// Upper bounds (milliseconds) of the probe duration histogram.
pub const PROBE_BUCKETS_MS: [u64; 9] = [1, 5, 10, 25, 50, 100, 250, 1000, 5000];

/// Member states, one slot per probe: 1 up, 0 down.
#[derive(Debug)]
pub struct Table {
    states: Box<[AtomicU8]>,
    details: Mutex<Vec<Detail>>,
}

impl Table {
    fn new(capacity: usize) -> Table {
        Table {
            states: (0..capacity).map(|_| AtomicU8::new(1)).collect(),
            details: Mutex::new(vec![Detail::default(); capacity]),
        }
    }

    /// Whether the probe in `slot` says up (an unknown slot is up).
    #[inline]
    pub fn up(&self, slot: u32) -> bool {
        self.states
            .get(slot as usize)
            .is_none_or(|s| s.load(Ordering::Relaxed) != 0)
    }

    fn set(&self, slot: usize, up: bool) {
        if let Some(s) = self.states.get(slot) {
            s.store(u8::from(up), Ordering::Relaxed);
        }
    }

    /// What the checker of `slot` reports.
    pub fn detail(&self, slot: u32) -> Option<Detail> {
        self.details
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(slot as usize)
            .cloned()
    }

    fn update(&self, slot: usize, f: impl FnOnce(&mut Detail)) {
        if let Some(d) = self
            .details
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_mut(slot)
        {
            f(d);
        }
    }
}

/// Which probe decides each member: per zone (by position), per member id, a table slot or
/// [`UNCHECKED`]. Part of the snapshot.
#[derive(Debug, Clone)]
pub struct HealthMap {
    slots: Vec<Box<[u32]>>,
    pub table: Arc<Table>,
}

impl Default for HealthMap {
    fn default() -> Self {
        HealthMap {
            slots: Vec::new(),
            table: Arc::new(Table::new(0)),
        }
    }
}

impl HealthMap {
    /// The slot of a member of the zone at `zone`, or [`UNCHECKED`].
    #[inline]
    pub fn slot(&self, zone: usize, member: u32) -> u32 {
        self.slots
            .get(zone)
            .and_then(|s| s.get(member as usize))
            .copied()
            .unwrap_or(UNCHECKED)
    }

    /// Every table slot this map uses, once each, in order.
    pub fn used_slots(&self) -> Vec<u32> {
        let mut v: Vec<u32> = self
            .slots
            .iter()
            .flat_map(|s| s.iter().copied())
            .filter(|&slot| slot != UNCHECKED)
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Whether every probe this map uses has run at least once.
    pub fn all_probed(&self) -> bool {
        self.slots
            .iter()
            .flat_map(|s| s.iter())
            .filter(|&&slot| slot != UNCHECKED)
            .all(|&slot| self.table.detail(slot).is_some_and(|d| d.probes > 0))
    }

    /// Whether the health checks say a member is up (unchecked members are).
    #[inline]
    pub fn up(&self, zone: usize, member: u32) -> bool {
        self.table.up(self.slot(zone, member))
    }
}

/// One probe target: a check and an address.
type Key = (Arc<Check>, IpAddr);

struct Running {
    slot: usize,
    task: JoinHandle<()>,
}

/// The running checkers, by (check, address). Owned by the reloader.
pub struct Registry {
    running: HashMap<Key, Running>,
    table: Arc<Table>,
    in_flight: Arc<Semaphore>,
}

impl Default for Registry {
    fn default() -> Self {
        Registry {
            running: HashMap::new(),
            table: Arc::new(Table::new(0)),
            in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        }
    }
}

/// Every (check, address) of a zone set, and where each member's id points.
fn targets(zones: &ZoneSet) -> (Vec<Key>, Vec<Vec<(u32, Key)>>) {
    let mut all: Vec<Key> = Vec::new();
    let mut per_zone = Vec::new();
    for z in zones.zones() {
        let mut members = Vec::new();
        for pool in z.pools() {
            collect(pool, &mut members);
        }
        for (_, k) in &members {
            if !all.contains(k) {
                all.push(k.clone());
            }
        }
        per_zone.push(members);
    }
    (all, per_zone)
}

fn collect(pool: &Pool, out: &mut Vec<(u32, Key)>) {
    let Some(check) = &pool.check else {
        return;
    };
    for pdc in &pool.dcs {
        for m in pdc.v4.iter().chain(&pdc.v6) {
            let addr = match *m.rdata.bytes() {
                [a, b, c, d] => IpAddr::from([a, b, c, d]),
                ref b => match <[u8; 16]>::try_from(b) {
                    Ok(x) => IpAddr::from(x),
                    Err(_) => continue,
                },
            };
            out.push((m.id, (check.clone(), addr)));
        }
    }
}

impl Registry {
    /// Starts, keeps and stops checkers so that exactly the probes `zones` needs run, and returns
    /// the map the snapshot for `zones` uses. Must be called from within a tokio runtime context
    /// (`handle` spawns the checkers).
    pub fn sync(&mut self, zones: &ZoneSet, handle: &tokio::runtime::Handle) -> HealthMap {
        let (wanted, per_zone) = targets(zones);
        // stop what is no longer named
        self.running.retain(|k, r| {
            let keep = wanted.contains(k);
            if !keep {
                r.task.abort();
                tracing::info!("health check {} → {} removed", k.0.name, k.1);
            }
            keep
        });
        // a bigger table when needed: every checker moves to it, states and history copied
        if wanted.len() > self.table.states.len() {
            let capacity = (wanted.len() * 2).max(64);
            let bigger = Arc::new(Table::new(capacity));
            let old_details = self
                .table
                .details
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            let mut new_slots = HashMap::new();
            for (i, (k, r)) in self.running.iter_mut().enumerate() {
                r.task.abort();
                bigger.set(i, self.table.up(u32::try_from(r.slot).unwrap_or(UNCHECKED)));
                if let Some(d) = old_details.get(r.slot) {
                    bigger.update(i, |x| *x = d.clone());
                }
                new_slots.insert(k.clone(), i);
            }
            self.table = bigger;
            for (k, r) in self.running.iter_mut() {
                r.slot = new_slots.get(k).copied().unwrap_or(0);
                r.task = handle.spawn(checker(
                    k.0.clone(),
                    k.1,
                    r.slot,
                    self.table.clone(),
                    self.in_flight.clone(),
                    false,
                ));
            }
        }
        // start what is new, in a free slot
        let mut used: Vec<bool> = vec![false; self.table.states.len()];
        for r in self.running.values() {
            if let Some(u) = used.get_mut(r.slot) {
                *u = true;
            }
        }
        for k in wanted {
            if self.running.contains_key(&k) {
                continue;
            }
            let Some(slot) = used.iter().position(|u| !u) else {
                break; // cannot happen: the table was grown to fit
            };
            if let Some(u) = used.get_mut(slot) {
                *u = true;
            }
            self.table.set(slot, k.0.initial_up);
            self.table.update(slot, |d| {
                *d = Detail {
                    target: format!(
                        "{} → {}",
                        k.0.name,
                        std::net::SocketAddr::new(k.1, k.0.port)
                    ),
                    up: k.0.initial_up,
                    since_unix: crate::time::now_unix(),
                    reason: if k.0.initial_up {
                        String::new()
                    } else {
                        "initial state: down until proven up".into()
                    },
                    ..Detail::default()
                }
            });
            let task = handle.spawn(checker(
                k.0.clone(),
                k.1,
                slot,
                self.table.clone(),
                self.in_flight.clone(),
                true,
            ));
            tracing::info!("health check {} → {} started", k.0.name, k.1);
            self.running.insert(k, Running { slot, task });
        }
        let slots = per_zone
            .into_iter()
            .map(|members| {
                let n = members
                    .iter()
                    .map(|(id, _)| *id as usize + 1)
                    .max()
                    .unwrap_or(0);
                let mut v = vec![UNCHECKED; n];
                for (id, k) in members {
                    if let (Some(s), Some(r)) = (v.get_mut(id as usize), self.running.get(&k)) {
                        *s = u32::try_from(r.slot).unwrap_or(UNCHECKED);
                    }
                }
                v.into_boxed_slice()
            })
            .collect();
        HealthMap {
            slots,
            table: self.table.clone(),
        }
    }

    /// How many probes run.
    pub fn len(&self) -> usize {
        self.running.len()
    }

    /// Whether no probe runs.
    pub fn is_empty(&self) -> bool {
        self.running.is_empty()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        for r in self.running.values() {
            r.task.abort();
        }
    }
}

/// A deterministic spread in [0, 1) per target and round, so checks do not fire in lockstep.
fn spread(check: &Check, addr: IpAddr, round: u64) -> f64 {
    let h = mix(stable_hash(&[check.name.as_bytes(), addr.to_string().as_bytes()]) ^ round);
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// Probes one target forever: every interval (± jitter), bounded by the timeout; `rise`
/// consecutive successes bring it up, `fall` consecutive failures take it down.
async fn checker(
    check: Arc<Check>,
    addr: IpAddr,
    slot: usize,
    table: Arc<Table>,
    in_flight: Arc<Semaphore>,
    fresh: bool,
) {
    let interval = check.interval_ms as f64;
    let jitter = f64::from(check.jitter_pct) / 100.0;
    // a new checker starts at a random point of its first interval; a moved one at once
    let first = if fresh {
        spread(&check, addr, 0) * interval * jitter.max(0.1)
    } else {
        0.0
    };
    tokio::time::sleep(Duration::from_millis(first as u64)).await;
    let (mut ok_run, mut fail_run) = (0u32, 0u32);
    let mut up = table.up(u32::try_from(slot).unwrap_or(UNCHECKED));
    let target = std::net::SocketAddr::new(addr, check.port);
    let prober = probe::Prober::new(&check);
    for round in 1u64.. {
        let t0 = Instant::now();
        let result = {
            let _permit = in_flight.acquire().await;
            match tokio::time::timeout(
                Duration::from_millis(check.timeout_ms),
                prober.once(&check, addr),
            )
            .await
            {
                Ok(r) => r,
                Err(_) => Err(format!(
                    "{target}: no answer within {} ms",
                    check.timeout_ms
                )),
            }
        };
        let ms = u64::try_from(t0.elapsed().as_millis()).unwrap_or(u64::MAX);
        match &result {
            Ok(()) => {
                ok_run += 1;
                fail_run = 0;
            }
            Err(_) => {
                fail_run += 1;
                ok_run = 0;
            }
        }
        let changed = if !up && ok_run >= check.rise {
            up = true;
            tracing::info!(
                "health: {} {target} is up ({} successful probes in a row)",
                check.name,
                ok_run
            );
            true
        } else if up && fail_run >= check.fall {
            up = false;
            tracing::warn!(
                "health: {} {target} is down ({} failed probes in a row): {}",
                check.name,
                fail_run,
                result.as_ref().err().map_or("", String::as_str)
            );
            true
        } else {
            false
        };
        table.set(slot, up);
        table.update(slot, |d| {
            d.up = up;
            d.probes += 1;
            d.check.clone_from(&check.name);
            d.address = target.to_string();
            d.failures += u64::from(result.is_err());
            if changed {
                *(if up { &mut d.ups } else { &mut d.downs }) += 1;
            }
            d.ms_sum += ms;
            let b = PROBE_BUCKETS_MS.partition_point(|&b| b < ms);
            if let Some(c) = d.ms_buckets.get_mut(b) {
                *c += 1;
            }
            d.last_ok = Some(result.is_ok());
            d.last_ms = ms;
            if changed {
                d.since_unix = crate::time::now_unix();
                d.reason = result.as_ref().err().cloned().unwrap_or_default();
            }
        });
        let factor = 1.0 + jitter * (2.0 * spread(&check, addr, round) - 1.0);
        tokio::time::sleep(Duration::from_millis((interval * factor) as u64)).await;
    }
}

/// What decides a member's state.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decider<'a> {
    Override(&'a Override),
    Feed(&'a FeedEntry),
    /// Its health check, in this slot of the table.
    Check(u32),
    /// Nothing: the member is up.
    Nothing,
}

/// A member's effective state: whether it may be answered, the factor its weight is multiplied
/// by, and what decided. The one place the precedence is written: an override in force, else the
/// external feed, else the health check, else up.
#[inline]
pub fn state<'a>(
    overlay: &'a Overlay,
    checks: Option<&HealthMap>,
    zone: usize,
    member: u32,
) -> (bool, f64, Decider<'a>) {
    if let Some(o) = overlay.of(zone, member) {
        return (o.state == OverrideState::Up, 1.0, Decider::Override(o));
    }
    if let Some(f) = overlay.feed_of(zone, member) {
        return match f.state {
            FeedState::Up => (true, 1.0, Decider::Feed(f)),
            FeedState::Down => (false, 1.0, Decider::Feed(f)),
            FeedState::Weight(w) => (w > 0.0, w, Decider::Feed(f)),
        };
    }
    match checks.map(|c| c.slot(zone, member)) {
        Some(slot) if slot != UNCHECKED => {
            let up = checks.is_none_or(|c| c.table.up(slot));
            (up, 1.0, Decider::Check(slot))
        }
        _ => (true, 1.0, Decider::Nothing),
    }
}
