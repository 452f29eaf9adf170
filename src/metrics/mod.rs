//! Counters of what the server does and decides, for Prometheus.
//!
//! The query path only increments atomics. Every handle it touches is resolved when a snapshot is
//! built ([`Metrics::handles`]): per zone a block of counters indexed by query type, response code
//! and transport; per pool its decisions by route rule and reason, and its answers per datacenter.
//! The cells belong to the process-wide [`Metrics`] and are found again by name when the next
//! snapshot is built, so counters keep counting across reloads; a zone or pool that is no longer
//! configured is forgotten. The scrape (`admin::scrape`) reads the cells; this module knows no
//! exposition format.
// The lock guards the name → cell maps: taken when a snapshot is built and on a scrape, never by
// the query path (which holds resolved `Arc`s).
#![allow(clippy::disallowed_types)]

pub mod hist;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::model::ZoneSet;
use crate::select::{Reason, Rule};
use crate::wire::{rcode, rtype};
pub use hist::Histogram;

/// The query types counted by name; every other type is counted as `other`.
pub const QTYPES: [(u16, &str); 16] = [
    (rtype::A, "A"),
    (rtype::NS, "NS"),
    (rtype::CNAME, "CNAME"),
    (rtype::SOA, "SOA"),
    (rtype::PTR, "PTR"),
    (rtype::MX, "MX"),
    (rtype::TXT, "TXT"),
    (rtype::AAAA, "AAAA"),
    (rtype::SRV, "SRV"),
    (rtype::NAPTR, "NAPTR"),
    (rtype::DS, "DS"),
    (rtype::DNSKEY, "DNSKEY"),
    (rtype::SVCB, "SVCB"),
    (rtype::HTTPS, "HTTPS"),
    (rtype::CAA, "CAA"),
    (rtype::ANY, "ANY"),
];
const N_QTYPES: usize = QTYPES.len() + 1;

/// The response codes counted by name; every other code is counted as `other`.
pub const RCODES: [(u16, &str); 8] = [
    (rcode::NOERROR, "NOERROR"),
    (rcode::FORMERR, "FORMERR"),
    (rcode::SERVFAIL, "SERVFAIL"),
    (rcode::NXDOMAIN, "NXDOMAIN"),
    (rcode::NOTIMP, "NOTIMP"),
    (rcode::REFUSED, "REFUSED"),
    (rcode::NOTAUTH, "NOTAUTH"),
    (rcode::BADVERS, "BADVERS"),
];
const N_RCODES: usize = RCODES.len() + 1;

/// The transports, as labels (`Transport as usize` indexes them).
pub const TRANSPORTS: [&str; 2] = ["udp", "tcp"];

/// The label of queries in no zone served (REFUSED, FORMERR, class CH).
pub const NO_ZONE: &str = "none";

fn qtype_index(t: u16) -> usize {
    QTYPES
        .iter()
        .position(|&(q, _)| q == t)
        .unwrap_or(QTYPES.len())
}

fn rcode_index(c: u16) -> usize {
    RCODES
        .iter()
        .position(|&(r, _)| r == c)
        .unwrap_or(RCODES.len())
}

/// The label of query type index `i` (`other` past the list).
pub fn qtype_label(i: usize) -> &'static str {
    QTYPES.get(i).map_or("other", |q| q.1)
}

/// The label of response code index `i` (`other` past the list).
pub fn rcode_label(i: usize) -> &'static str {
    RCODES.get(i).map_or("other", |r| r.1)
}

fn counters<const N: usize>() -> [AtomicU64; N] {
    std::array::from_fn(|_| AtomicU64::new(0))
}

#[inline]
fn inc(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// A zone's responses by query type, response code and transport.
#[derive(Debug)]
pub struct ZoneCells {
    responses: [[[AtomicU64; 2]; N_RCODES]; N_QTYPES],
}

impl Default for ZoneCells {
    fn default() -> Self {
        ZoneCells {
            responses: std::array::from_fn(|_| std::array::from_fn(|_| counters())),
        }
    }
}

impl ZoneCells {
    /// Every non-zero count: (query type index, response code index, transport index, count).
    pub fn each(&self, mut f: impl FnMut(usize, usize, usize, u64)) {
        for (q, by_rcode) in self.responses.iter().enumerate() {
            for (r, by_transport) in by_rcode.iter().enumerate() {
                for (t, c) in by_transport.iter().enumerate() {
                    let v = c.load(Ordering::Relaxed);
                    if v > 0 {
                        f(q, r, t, v);
                    }
                }
            }
        }
    }
}

/// A pool's decisions by route rule and reason.
#[derive(Debug)]
pub struct PoolCells {
    decisions: [[AtomicU64; Reason::ALL.len()]; Rule::ALL.len()],
}

impl Default for PoolCells {
    fn default() -> Self {
        PoolCells {
            decisions: std::array::from_fn(|_| counters()),
        }
    }
}

impl PoolCells {
    /// Every non-zero count: (rule, reason, count).
    pub fn each(&self, mut f: impl FnMut(Rule, Reason, u64)) {
        for (rule, row) in Rule::ALL.iter().zip(&self.decisions) {
            for (reason, c) in Reason::ALL.iter().zip(row) {
                let v = c.load(Ordering::Relaxed);
                if v > 0 {
                    f(*rule, *reason, v);
                }
            }
        }
    }
}

const LATENCY_NS: [u64; 14] = [
    1_000,
    2_500,
    5_000,
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    10_000_000,
    100_000_000,
    1_000_000_000,
];
const SIZE_BYTES: [u64; 12] = [
    32, 64, 128, 256, 512, 1024, 1232, 1500, 2048, 4096, 16_384, 65_535,
];

/// Counters of one transport that are not per zone.
#[derive(Debug)]
pub struct TransportCells {
    /// Packets not answered: too short to be DNS, a response, or garbage on TCP.
    pub dropped: AtomicU64,
    pub truncated: AtomicU64,
    /// From the packet read to the response handed to the socket.
    pub latency: Histogram,
    pub request_size: Histogram,
    pub response_size: Histogram,
}

impl Default for TransportCells {
    fn default() -> Self {
        TransportCells {
            dropped: AtomicU64::new(0),
            truncated: AtomicU64::new(0),
            latency: Histogram::new(&LATENCY_NS, 1e9),
            request_size: Histogram::new(&SIZE_BYTES, 1.0),
            response_size: Histogram::new(&SIZE_BYTES, 1.0),
        }
    }
}

/// Counters that are not per zone or pool.
#[derive(Debug)]
pub struct Common {
    pub transports: [TransportCells; 2],
    /// Queries with a usable ECS option, by family (0 IPv4, 1 IPv6).
    pub ecs: [AtomicU64; 2],
    /// The scope returned to ECS queries, by family and prefix length.
    pub ecs_scope: [[AtomicU64; 129]; 2],
    /// Pool answers for which the GeoIP databases knew nothing of the client.
    pub geoip_misses: AtomicU64,
    /// Query log lines dropped by sampling, the rate limit or a full queue.
    pub query_log_dropped: AtomicU64,
    pub query_log_written: AtomicU64,
    /// Batches a UDP worker dropped because answering them panicked (a bug, caught).
    pub worker_panics: AtomicU64,
    /// UDP responses rate limiting sent truncated, and dropped.
    pub rrl_slipped: AtomicU64,
    pub rrl_dropped: AtomicU64,
    /// Limited responses sent as BADCOOKIE with a fresh cookie instead of truncated.
    pub rrl_badcookie: AtomicU64,
    /// Responses rate limiting let through because the query had a valid server cookie.
    pub rrl_cookie_exempt: AtomicU64,
    /// Queries with a COOKIE option, by what it proved (client only, valid, invalid).
    pub cookies: [AtomicU64; 3],
}

impl Default for Common {
    fn default() -> Self {
        Common {
            transports: std::array::from_fn(|_| TransportCells::default()),
            ecs: counters(),
            ecs_scope: std::array::from_fn(|_| counters()),
            geoip_misses: AtomicU64::new(0),
            query_log_dropped: AtomicU64::new(0),
            query_log_written: AtomicU64::new(0),
            worker_panics: AtomicU64::new(0),
            rrl_slipped: AtomicU64::new(0),
            rrl_dropped: AtomicU64::new(0),
            rrl_badcookie: AtomicU64::new(0),
            rrl_cookie_exempt: AtomicU64::new(0),
            cookies: counters(),
        }
    }
}

/// What the engine tells the metrics about one query it answered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Report {
    /// The zone that answered (its position in the zone set).
    pub zone: Option<usize>,
    pub qtype: u16,
    /// The first pool decision of the answer.
    pub pool: Option<PoolReport>,
    /// A usable ECS option: (IPv6, the scope returned).
    pub ecs: Option<(bool, u8)>,
    /// A pool needed the client's location and the databases knew nothing of it.
    pub geo_miss: bool,
    /// The query's DNS cookie: what it proved, and the COOKIE option of the reply (kept for
    /// a rate-limited reply, which turns into BADCOOKIE).
    pub cookie: Option<(
        crate::wire::cookie::Verdict,
        [u8; crate::wire::cookie::REPLY_LEN],
    )>,
}

/// One pool decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolReport {
    /// Index of the pool in its zone.
    pub pool: u32,
    /// The zone's datacenter that answered.
    pub datacenter: Option<usize>,
    pub rule: Rule,
    pub reason: Reason,
}

/// How a query went, for [`Handles::record`].
#[derive(Debug, Clone, Copy)]
pub struct Served {
    /// 0 UDP, 1 TCP.
    pub transport: usize,
    /// The response code, `None` when nothing was sent.
    pub rcode: Option<u16>,
    pub truncated: bool,
    pub request_len: usize,
    pub response_len: usize,
    /// From reading the query to its answer being ready; `None` when the caller counts it
    /// itself ([`Handles::latency`]: a batch of UDP answers leaves together).
    pub nanos: Option<u64>,
}

struct PoolHandles {
    cells: Arc<PoolCells>,
    /// Answers per datacenter of the zone (by the zone's datacenter index).
    answers: Vec<Arc<AtomicU64>>,
}

/// The cells one snapshot's queries count into, resolved when it was built.
pub struct Handles {
    zones: Vec<Arc<ZoneCells>>,
    none: Arc<ZoneCells>,
    /// Per zone, per pool.
    pools: Vec<Vec<PoolHandles>>,
    common: Arc<Common>,
}

impl std::fmt::Debug for Handles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handles")
            .field("zones", &self.zones.len())
            .finish_non_exhaustive()
    }
}

impl Handles {
    /// Counts one query: increments only, no lock, no allocation.
    #[inline]
    pub fn record(&self, report: &Report, served: &Served) {
        let t = served.transport.min(1);
        let Some(tc) = self.common.transports.get(t) else {
            return;
        };
        tc.request_size.observe(served.request_len as u64);
        let Some(rc) = served.rcode else {
            inc(&tc.dropped);
            return;
        };
        if let Some(nanos) = served.nanos {
            tc.latency.observe(nanos);
        }
        tc.response_size.observe(served.response_len as u64);
        if served.truncated {
            inc(&tc.truncated);
        }
        let zone = report
            .zone
            .and_then(|z| self.zones.get(z))
            .unwrap_or(&self.none);
        if let Some(c) = zone
            .responses
            .get(qtype_index(report.qtype))
            .and_then(|r| r.get(rcode_index(rc)))
            .and_then(|r| r.get(t))
        {
            inc(c);
        }
        if let Some((v6, scope)) = report.ecs {
            let f = usize::from(v6);
            if let Some(c) = self.common.ecs.get(f) {
                inc(c);
            }
            if let Some(c) = self
                .common
                .ecs_scope
                .get(f)
                .and_then(|s| s.get(usize::from(scope)))
            {
                inc(c);
            }
        }
        if report.geo_miss {
            inc(&self.common.geoip_misses);
        }
        if let Some((v, _)) = report.cookie
            && let Some(c) = self.common.cookies.get(v as usize)
        {
            inc(c);
        }
        if let Some(p) = report.pool
            && let Some(h) = report
                .zone
                .and_then(|z| self.pools.get(z))
                .and_then(|pools| pools.get(p.pool as usize))
        {
            let (rule, reason) = (p.rule as usize, p.reason as usize);
            if let Some(c) = h.cells.decisions.get(rule).and_then(|r| r.get(reason)) {
                inc(c);
            }
            if let Some(c) = p.datacenter.and_then(|d| h.answers.get(d)) {
                inc(c);
            }
        }
    }

    /// Counts the latency of `answered` responses at once: a batch of UDP answers is sent in
    /// one call, so each of them waited as long as the batch took.
    #[inline]
    pub fn latency(&self, transport: usize, nanos: u64, answered: u64) {
        if let Some(tc) = self.common.transports.get(transport.min(1)) {
            tc.latency.observe_n(nanos, answered);
        }
    }

    /// The counters that are not per zone (for the query log's own counts).
    pub fn common(&self) -> &Common {
        &self.common
    }
}

/// Cells by name, kept while configured.
#[derive(Default)]
struct Families {
    zones: BTreeMap<String, Arc<ZoneCells>>,
    pools: BTreeMap<(String, String), Arc<PoolCells>>,
    answers: BTreeMap<(String, String, String), Arc<AtomicU64>>,
}

/// The process-wide metrics: every counter cell, by the names that label it.
pub struct Metrics {
    families: Mutex<Families>,
    started_unix: i64,
    none: Arc<ZoneCells>,
    common: Arc<Common>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            families: Mutex::new(Families::default()),
            started_unix: crate::time::now_unix(),
            none: Arc::new(ZoneCells::default()),
            common: Arc::new(Common::default()),
        }
    }
}

impl Metrics {
    /// A fresh set of metrics, all zero.
    pub fn new() -> Arc<Metrics> {
        Arc::new(Metrics::default())
    }

    /// Resolves the cells of every zone, pool and datacenter of `zones` (creating those that are
    /// new, keeping the counts of those already known), and forgets the cells of names no
    /// longer configured.
    pub fn handles(&self, zones: &ZoneSet) -> Arc<Handles> {
        let mut fam = self.families.lock().unwrap_or_else(PoisonError::into_inner);
        let mut next = Families::default();
        let mut h = Handles {
            zones: Vec::with_capacity(zones.zones().len()),
            none: self.none.clone(),
            pools: Vec::with_capacity(zones.zones().len()),
            common: self.common.clone(),
        };
        for zone in zones.zones() {
            let zname = zone.origin().to_string();
            let zc = fam.zones.get(&zname).cloned().unwrap_or_default();
            next.zones.insert(zname.clone(), zc.clone());
            h.zones.push(zc);
            let mut pools = Vec::with_capacity(zone.pools().len());
            for pool in zone.pools() {
                let key = (zname.clone(), pool.name.clone());
                let pc = fam.pools.get(&key).cloned().unwrap_or_default();
                next.pools.insert(key, pc.clone());
                // a cell for every datacenter of the zone: a fallback pool may answer from one
                // this pool does not list; the scrape shows only the pool's own and those used
                let answers = zone
                    .datacenters()
                    .iter()
                    .map(|dc| {
                        let key = (zname.clone(), pool.name.clone(), dc.name.clone());
                        let c = fam.answers.get(&key).cloned().unwrap_or_default();
                        next.answers.insert(key, c.clone());
                        c
                    })
                    .collect();
                pools.push(PoolHandles { cells: pc, answers });
            }
            h.pools.push(pools);
        }
        *fam = next;
        Arc::new(h)
    }

    /// The counters that are not per zone or pool.
    pub fn common(&self) -> &Common {
        &self.common
    }

    /// When the process started (seconds since the epoch).
    pub fn started_unix(&self) -> i64 {
        self.started_unix
    }

    /// The counters that are not per zone or pool, shared (the query log's writer counts into
    /// them).
    pub fn common_arc(&self) -> Arc<Common> {
        self.common.clone()
    }

    /// Visits every zone's cells, `none` (queries in no zone) first.
    pub fn each_zone(&self, mut f: impl FnMut(&str, &ZoneCells)) {
        f(NO_ZONE, &self.none);
        let fam = self.families.lock().unwrap_or_else(PoisonError::into_inner);
        for (name, cells) in &fam.zones {
            f(name, cells);
        }
    }

    /// Visits every pool's decision cells: (zone, pool, cells).
    pub fn each_pool(&self, mut f: impl FnMut(&str, &str, &PoolCells)) {
        let fam = self.families.lock().unwrap_or_else(PoisonError::into_inner);
        for ((zone, pool), cells) in &fam.pools {
            f(zone, pool, cells);
        }
    }

    /// Visits every answer count: (zone, pool, datacenter, count).
    pub fn each_answer(&self, mut f: impl FnMut(&str, &str, &str, u64)) {
        let fam = self.families.lock().unwrap_or_else(PoisonError::into_inner);
        for ((zone, pool, dc), c) in &fam.answers {
            f(zone, pool, dc, c.load(Ordering::Relaxed));
        }
    }
}

#[cfg(test)]
mod tests;
