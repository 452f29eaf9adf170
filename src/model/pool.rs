//! Pools: owner names answered by steering, compiled from `zones/<zone>.pools.toml`.
//!
//! The types here are immutable parts of a zone (see [`crate::model::Zone::pools`]):
//! [`crate::load`] builds them from a pool file, [`crate::select`] decides answers from them.
//! Their fields are readable inside the crate and built only by the loader; nothing changes them
//! once the zone that holds them is frozen.

use std::collections::HashMap;

use crate::model::Rdata;
use crate::net::{Code, Net};

/// A place where members live.
#[derive(Debug, Clone, PartialEq)]
pub struct Datacenter {
    pub(crate) name: String,
    /// Latitude and longitude, for `nearest`.
    pub(crate) location: Option<(f64, f64)>,
    /// Kilometres subtracted from the distance to this datacenter: positive pulls traffic in,
    /// negative pushes it away (like Route 53's geoproximity bias).
    pub(crate) bias_km: f64,
}

/// What a pool answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolKind {
    /// A records from IPv4 members, AAAA from IPv6 members.
    Address,
    /// A CNAME to one of the member names.
    Cname,
}

/// One answer a pool can give.
#[derive(Debug, Clone)]
pub struct Member {
    /// The RDATA: 4 or 16 address bytes, or a lower-case wire-format name.
    pub(crate) rdata: Rdata,
    pub(crate) weight: f64,
    /// Stable hash of the member's data, the member's identity in rendezvous hashing.
    pub(crate) key: u64,
    /// Presentation form, for traces.
    pub(crate) text: String,
    /// Position among every member of the zone's pools (0, 1, …): where per-member state such as
    /// overrides is kept.
    pub(crate) id: u32,
}

/// The members of one datacenter in one pool, by answer type.
#[derive(Debug, Clone, Default)]
pub struct PoolDc {
    /// Index into the zone's datacenters.
    pub(crate) dc: usize,
    pub v4: Vec<Member>,
    pub v6: Vec<Member>,
    pub(crate) names: Vec<Member>,
}

/// Which members a query can be answered from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
    Name,
}

impl PoolDc {
    /// The members of a family.
    #[inline]
    pub fn members(&self, f: Family) -> &[Member] {
        match f {
            Family::V4 => &self.v4,
            Family::V6 => &self.v6,
            Family::Name => &self.names,
        }
    }
}

/// One step of a failover list.
#[derive(Debug, Clone, PartialEq)]
pub enum Tier {
    /// A datacenter (index into the pool's `dcs`).
    Dc(usize),
    /// A weighted split between datacenters (index, percentage), sticky per client network.
    Split(Vec<(usize, f64)>),
    /// Every datacenter of the pool, closest to the client first.
    Nearest,
}

/// An ordered failover list. Empty: a geofence (matching clients get NODATA).
pub type Tiers = Vec<Tier>;

/// Routing rules of a pool: the most specific match wins.
#[derive(Debug, Clone, Default)]
pub struct Route {
    pub(crate) default: Tiers,
    /// Longest prefix first.
    pub(crate) networks: Vec<(Net, Tiers)>,
    pub(crate) asns: RouteMap<u32>,
    pub(crate) subdivisions: RouteMap<Code>,
    pub(crate) countries: RouteMap<Code>,
    pub(crate) continents: RouteMap<Code>,
}

/// Route tables, looked up on every steered query: keyed by the operator's own codes, so the
/// model's fast hasher serves (the standard SipHash was 0.5 % of a geo query's CPU).
pub(crate) type RouteMap<K> = HashMap<K, Tiers, std::hash::BuildHasherDefault<super::NameHasher>>;

/// What a health check asks a member.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Probe {
    /// A TCP connection is accepted.
    Tcp,
    /// An HTTP/1.1 GET answers with an expected status (and contains `body`, when given); over
    /// TLS for `https`.
    Http {
        path: String,
        /// The Host header and the TLS server name; default the member's address.
        host: Option<String>,
        expect: Vec<u16>,
        body: Option<String>,
        /// `https`: TLS, verified against the Mozilla roots and `ca_pem` (PEM certificates).
        tls: bool,
        ca_pem: Option<Vec<u8>>,
    },
    /// A DNS query over UDP answers NOERROR (for pools of name servers).
    Dns {
        /// Wire-format name asked.
        name: Vec<u8>,
        qtype: u16,
    },
}

/// A health check as a pool file defines it (`[checks.NAME]`). Two members probed with equal
/// checks at the same address share one probe, whichever pools and zones name them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Check {
    pub name: String,
    pub probe: Probe,
    pub port: u16,
    pub interval_ms: u64,
    pub timeout_ms: u64,
    /// Consecutive successes to come up, failures to go down.
    pub rise: u32,
    pub fall: u32,
    /// Each interval varies by up to this many percent, so checks do not fire in lockstep.
    pub jitter_pct: u32,
    /// The state before the first verdict: up, so a restart never black-holes traffic.
    pub initial_up: bool,
}

/// What a pool answers when no datacenter of its route can.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnAllDown {
    /// Fail open: answer from the first choice as if it were healthy.
    All,
    NoData,
    ServFail,
    /// Answer from another pool of the zone (index).
    Pool(usize),
}

/// One pool.
#[derive(Debug, Clone)]
pub struct Pool {
    pub(crate) name: String,
    pub(crate) kind: PoolKind,
    pub(crate) ttl: u32,
    /// TTL when the answer did not come from the first choice (a failover tier or fail-open),
    /// so clients come back soon.
    pub(crate) ttl_degraded: u32,
    pub(crate) max_answers: usize,
    pub(crate) on_all_down: OnAllDown,
    /// A datacenter counts as down when the healthy share of its members' weight (of the asked
    /// family) falls below this fraction; 0: while any member is up.
    pub(crate) min_healthy: f64,
    /// The health check of the members, if any.
    pub(crate) check: Option<std::sync::Arc<Check>>,
    pub(crate) dcs: Vec<PoolDc>,
    pub(crate) route: Route,
    /// Seed for sticky choices: zone and pool name, so different pools spread independently.
    pub(crate) seed: u64,
    /// Where it was defined, for traces.
    pub(crate) file: std::path::PathBuf,
    pub(crate) line: usize,
}

impl Pool {
    /// The health check of the pool's members.
    pub fn check(&self) -> Option<&Check> {
        self.check.as_deref()
    }

    /// The pool's name in its pool file.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where the pool is defined.
    pub fn defined_at(&self) -> (&std::path::Path, usize) {
        (&self.file, self.line)
    }
}

/// Most members a pool may return in one answer.
pub const MAX_ANSWERS: usize = 8;
