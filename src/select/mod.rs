//! Choosing a pool's answer for one client: a pure function of the pool, the client's location and
//! address, and the health view passed in. No I/O, no failure: every outcome is a value.
//!
//! The steps, one submodule each: `route` (the most specific rule) → `tiers` (the first tier
//! in failover order with an available datacenter; a split tier picks among its datacenters by
//! percentage) → `members` (up to `max_answers` members by weight) → TTL and ECS scope, here.
//! Both sticky choices use weighted rendezvous hashing (`score`) keyed by the client's network
//! (/24 for IPv4, /56 for IPv6) and the pool, so every node of a fleet gives a client the same
//! answer, and a change moves only the clients it must.
//!
//! Health and tracing are seams: the caller passes a [`Health`] view and, for `explain`, a
//! [`Trace`] that every step describes itself into. Without a trace nothing is allocated.

mod members;
mod route;
mod score;
mod tiers;

use std::net::IpAddr;

use crate::geo::Location;
use crate::model::pool::MAX_ANSWERS;
use crate::model::{Datacenter, Family, Member, OnAllDown, Pool};
use crate::net::{family_bits, mask, stable_hash};

/// Most datacenters `nearest` orders (the pool loader rejects pools with more).
pub const MAX_NEAREST: usize = 64;

/// Prefix length of the client network that sticky choices are keyed by.
pub fn sticky_prefix(addr: IpAddr) -> u8 {
    if addr.is_ipv4() { 24 } else { 56 }
}

/// The client as selection sees it.
#[derive(Debug, Clone, Copy)]
pub struct Client<'a> {
    /// The address that locates the client: the ECS address, or the packet's source.
    pub addr: IpAddr,
    pub loc: &'a Location,
    /// Hash of the client's sticky network (see [`client_key`]).
    pub key: u64,
}

/// The sticky key of an address: its /24 or /56, hashed.
pub fn client_key(addr: IpAddr) -> u64 {
    match mask(addr, sticky_prefix(addr)) {
        IpAddr::V4(v) => stable_hash(&[&v.octets()]),
        IpAddr::V6(v) => stable_hash(&[&v.octets()]),
    }
}

/// Member health, as selection needs it: the seam health checks plug into.
pub trait Health {
    /// Whether a member (by position in its datacenter's list of that family) may be answered.
    fn up(&self, pool: &Pool, dc: usize, family: Family, member: usize) -> bool;

    /// The factor (0 to 1) the member's weight is multiplied by: load shedding by the external
    /// feed. 1 unless something says otherwise.
    fn factor(&self, _pool: &Pool, _dc: usize, _family: Family, _member: usize) -> f64 {
        1.0
    }

    /// Whether a member may be answered and with which weight factor: `None` when it is down,
    /// else [`Health::factor`]. Selection asks this once per member; a view that finds both in
    /// one lookup should say so here.
    #[inline]
    fn serving(&self, pool: &Pool, dc: usize, family: Family, member: usize) -> Option<f64> {
        self.up(pool, dc, family, member)
            .then(|| self.factor(pool, dc, family, member))
    }

    /// Why a member is in the state it is, for traces (`drain by override */ams: …`).
    fn why(&self, _pool: &Pool, _dc: usize, _family: Family, _member: usize) -> Option<String> {
        None
    }
}

/// Every member is up.
#[derive(Debug, Clone, Copy, Default)]
pub struct AllUp;

impl Health for AllUp {
    #[inline]
    fn up(&self, _: &Pool, _: usize, _: Family, _: usize) -> bool {
        true
    }
}

/// The steps of a decision, in words: filled by the engine and by selection when `explain` asks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trace {
    steps: Vec<String>,
    located: Option<IpAddr>,
}

impl Trace {
    /// An empty trace.
    pub fn new() -> Trace {
        Trace::default()
    }

    /// Records one step.
    pub fn note(&mut self, step: impl Into<String>) {
        self.steps.push(step.into());
    }

    /// The steps, in order.
    pub fn steps(&self) -> &[String] {
        &self.steps
    }

    /// Records the address the client was located by.
    pub fn set_located(&mut self, addr: IpAddr) {
        self.located = Some(addr);
    }

    /// The address the client was located by, when a pool needed the location.
    pub fn located(&self) -> Option<IpAddr> {
        self.located
    }
}

/// Records a step when a trace is present; formats nothing otherwise.
macro_rules! trace {
    ($t:expr, $($arg:tt)*) => {
        if let Some(t) = $t.as_deref_mut() {
            $crate::select::Trace::note(t, format!($($arg)*));
        }
    };
}
pub(crate) use trace;

/// How a decision ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Answer with the picked members.
    Answer,
    /// The matching route is an empty list: NODATA.
    Geofence,
    /// No datacenter of the route has members of the asked family (an AAAA query to an
    /// IPv4-only pool): NODATA.
    NoMembers,
    /// Every datacenter is down and `on_all_down = "nodata"`.
    AllDownNoData,
    /// Every datacenter is down and `on_all_down = "servfail"`.
    ServFail,
}

/// Which route rule matched the client (most specific first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    Network,
    Asn,
    Subdivision,
    Country,
    Continent,
    Default,
}

impl Rule {
    /// Every rule, in label order.
    pub const ALL: [Rule; 6] = [
        Rule::Network,
        Rule::Asn,
        Rule::Subdivision,
        Rule::Country,
        Rule::Continent,
        Rule::Default,
    ];

    /// The name used in metrics labels.
    pub fn name(self) -> &'static str {
        match self {
            Rule::Network => "network",
            Rule::Asn => "asn",
            Rule::Subdivision => "subdivision",
            Rule::Country => "country",
            Rule::Continent => "continent",
            Rule::Default => "default",
        }
    }
}

/// How the answering datacenter was chosen, or why there is none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The first tier of the route, a single datacenter, was available.
    First,
    /// The first tier is `nearest` and the nearest datacenter was available.
    Nearest,
    /// The first tier is a weighted split.
    Split,
    /// A later tier (or a farther datacenter of `nearest`) answered: the first choice was down.
    Failover,
    /// Every datacenter was down and another pool answered (`on_all_down = { pool = … }`).
    Fallback,
    /// Every datacenter was down and `on_all_down = "all"` answered from the first choice.
    FailOpen,
    /// The route is an empty list: NODATA.
    Geofence,
    /// No datacenter of the route has members of the asked family: NODATA.
    NoMembers,
    /// Every datacenter was down: NODATA or SERVFAIL, as `on_all_down` says.
    AllDown,
}

impl Reason {
    /// Every reason, in label order.
    pub const ALL: [Reason; 9] = [
        Reason::First,
        Reason::Nearest,
        Reason::Split,
        Reason::Failover,
        Reason::Fallback,
        Reason::FailOpen,
        Reason::Geofence,
        Reason::NoMembers,
        Reason::AllDown,
    ];

    /// The name used in metrics labels.
    pub fn name(self) -> &'static str {
        match self {
            Reason::First => "first",
            Reason::Nearest => "nearest",
            Reason::Split => "split",
            Reason::Failover => "failover",
            Reason::Fallback => "fallback",
            Reason::FailOpen => "fail_open",
            Reason::Geofence => "geofence",
            Reason::NoMembers => "no_members",
            Reason::AllDown => "all_down",
        }
    }
}

/// What [`select`] decided.
#[derive(Debug, Clone, Copy)]
pub struct Decision<'p> {
    pub outcome: Outcome,
    /// Index into the pool's `dcs` of the datacenter that answers.
    pub dc: Option<usize>,
    /// The zone's datacenter that answers (index into the zone's datacenters): differs from
    /// `dc` in kind, and in pool when a fallback pool answered.
    pub datacenter: Option<usize>,
    /// The route rule of the asked pool that matched the client.
    pub rule: Rule,
    /// How the datacenter was chosen.
    pub reason: Reason,
    picks: [Option<&'p Member>; MAX_ANSWERS],
    pub ttl: u32,
    /// The ECS scope: the prefix length over which this answer stays the same (not yet capped
    /// by the query's source prefix).
    pub scope: u8,
}

impl<'p> Decision<'p> {
    /// The members to answer with, best first.
    pub fn picks(&self) -> impl Iterator<Item = &'p Member> + '_ {
        self.picks.iter().flatten().copied()
    }
}

/// Decides the answer of `pool` for `client`, asking for members of `family`. With `trace`, every
/// step is described in it (for `geosteer explain`); without, nothing is allocated.
///
/// `pools` are the zone's pools, where an `on_all_down = { pool = … }` fallback is found.
pub fn select<'p, H: Health>(
    pool: &'p Pool,
    pools: &'p [Pool],
    dcs: &[Datacenter],
    family: Family,
    client: &Client<'_>,
    health: &H,
    trace: Option<&mut Trace>,
) -> Decision<'p> {
    select_at(pool, pools, dcs, family, client, health, trace, 0)
}

/// Longest chain of `on_all_down` fallback pools followed (the loader rejects cycles).
const MAX_FALLBACKS: usize = 8;

#[allow(clippy::too_many_arguments)]
fn select_at<'p, H: Health>(
    pool: &'p Pool,
    pools: &'p [Pool],
    dcs: &[Datacenter],
    family: Family,
    client: &Client<'_>,
    health: &H,
    mut trace: Option<&mut Trace>,
    depth: usize,
) -> Decision<'p> {
    let addr = client.addr;
    let (tiers, net_match, rule) = route::matching(pool, client, &mut trace);
    if trace.is_some() {
        let list: Vec<String> = tiers
            .iter()
            .map(|t| tiers::describe(pool, dcs, t))
            .collect();
        trace!(trace, "tiers: [{}]", list.join(", "));
    }
    let mut d = Decision {
        outcome: Outcome::Answer,
        dc: None,
        datacenter: None,
        rule,
        reason: Reason::Geofence,
        picks: [None; MAX_ANSWERS],
        ttl: pool.ttl,
        scope: route::scope(pool, tiers, net_match, client),
    };
    if tiers.is_empty() {
        trace!(
            trace,
            "geofence: the route is an empty list, the answer is NODATA"
        );
        d.outcome = Outcome::Geofence;
        return d;
    }

    let healthy = tiers::choose(pool, dcs, tiers, family, client, health, &mut trace);
    // only when nothing is available: with every member counted up, is there anything of this
    // family at all?
    let any = || tiers::choose(pool, dcs, tiers, family, client, &AllUp, &mut None);
    let (choice, fail_open) = match healthy.map_or_else(|| (None, any()), |c| (Some(c), None)) {
        (Some(c), _) => (c, false),
        (None, None) => {
            trace!(
                trace,
                "no datacenter of the route has {} members: NODATA",
                family_name(family)
            );
            d.outcome = Outcome::NoMembers;
            d.reason = Reason::NoMembers;
            return d;
        }
        (None, Some(first)) => match pool.on_all_down {
            OnAllDown::All => {
                trace!(
                    trace,
                    "every datacenter of the route is down: on_all_down = \"all\", failing open to the first choice"
                );
                (first, true)
            }
            OnAllDown::NoData => {
                trace!(
                    trace,
                    "every datacenter of the route is down: on_all_down = \"nodata\""
                );
                d.outcome = Outcome::AllDownNoData;
                d.reason = Reason::AllDown;
                d.ttl = pool.ttl_degraded;
                return d;
            }
            OnAllDown::ServFail => {
                trace!(
                    trace,
                    "every datacenter of the route is down: on_all_down = \"servfail\""
                );
                d.outcome = Outcome::ServFail;
                d.reason = Reason::AllDown;
                return d;
            }
            OnAllDown::Pool(i) => match pools.get(i).filter(|_| depth < MAX_FALLBACKS) {
                Some(fallback) => {
                    trace!(
                        trace,
                        "every datacenter of the route is down: falling back to pool '{}'",
                        fallback.name
                    );
                    let mut f = select_at(
                        fallback,
                        pools,
                        dcs,
                        family,
                        client,
                        health,
                        trace,
                        depth + 1,
                    );
                    f.ttl = f.ttl.min(pool.ttl_degraded);
                    f.scope = f.scope.max(d.scope);
                    f.rule = rule;
                    if f.outcome == Outcome::Answer {
                        f.reason = Reason::Fallback;
                    }
                    return f;
                }
                None => {
                    d.outcome = Outcome::ServFail;
                    d.reason = Reason::AllDown;
                    return d;
                }
            },
        },
    };
    d.dc = Some(choice.dc);
    d.datacenter = pool.dcs.get(choice.dc).map(|p| p.dc);
    d.reason = if fail_open {
        Reason::FailOpen
    } else {
        choice.reason
    };
    if choice.rank > 0 || fail_open {
        d.ttl = pool.ttl_degraded;
    }
    trace!(
        trace,
        "datacenter: {}{}",
        tiers::dc_name(pool, dcs, choice.dc),
        if fail_open {
            " (failing open: ttl_degraded)"
        } else if choice.rank > 0 {
            " (not the first choice: ttl_degraded)"
        } else {
            ""
        }
    );

    let sticky_members = if fail_open {
        members::pick(
            pool,
            choice.dc,
            family,
            client,
            &AllUp,
            &mut d.picks,
            &mut trace,
        )
    } else {
        members::pick(
            pool,
            choice.dc,
            family,
            client,
            health,
            &mut d.picks,
            &mut trace,
        )
    };
    let sticky = choice.sticky || sticky_members;
    if sticky {
        d.scope = d.scope.max(sticky_prefix(addr));
    }
    d.scope = d.scope.min(family_bits(addr));
    trace!(
        trace,
        "ttl {}, scope /{}{}",
        d.ttl,
        d.scope,
        if sticky {
            format!(" (sticky per /{})", sticky_prefix(addr))
        } else {
            String::new()
        }
    );
    d
}

/// The family in words, for traces.
pub fn family_name(f: Family) -> &'static str {
    match f {
        Family::V4 => "IPv4",
        Family::V6 => "IPv6",
        Family::Name => "name",
    }
}

#[cfg(test)]
mod tests;
