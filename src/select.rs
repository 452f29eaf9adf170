//! Choosing a pool's answer for one client: a pure function of the pool, the client's location and
//! address, and health. No I/O, no failure: every outcome is a value.
//!
//! Route (most specific rule) → tiers in failover order → the first tier with an available
//! datacenter (a split tier picks among its datacenters by percentage) → up to `max_answers`
//! members by weight. Both sticky choices use weighted rendezvous hashing keyed by the client's
//! network (/24 for IPv4, /56 for IPv6) and the pool, so every node of a fleet gives a client the
//! same answer, and a change moves only the clients it must.

use std::fmt::Write as _;
use std::net::IpAddr;

use crate::geo::{Location, distance_km, family_bits};
use crate::pool::{
    Datacenter, Family, MAX_ANSWERS, Member, Pool, Tier, Tiers, common_prefix, mask, mix,
    stable_hash,
};

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

/// Member health, as selection needs it. Health checks plug in here; until then every member is
/// up ([`AllUp`]).
pub trait Health {
    /// Whether a member (by position in its datacenter's list of that family) may be answered.
    fn up(&self, pool: &Pool, dc: usize, family: Family, member: usize) -> bool;
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
}

/// What [`select`] decided.
#[derive(Debug, Clone, Copy)]
pub struct Decision<'p> {
    pub outcome: Outcome,
    /// Index into the pool's `dcs` of the datacenter that answers.
    pub dc: Option<usize>,
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

macro_rules! trace {
    ($t:expr, $($arg:tt)*) => {
        if let Some(t) = $t.as_deref_mut() {
            t.push(format!($($arg)*));
        }
    };
}

/// A uniform number in (0, 1) from a hash.
#[inline]
fn unit(h: u64) -> f64 {
    ((h >> 11) as f64 + 0.5) / (1u64 << 53) as f64
}

/// Weighted rendezvous score: the item with the highest score wins with probability
/// weight / total weight, and an item's score depends on nothing but itself and the key.
#[inline]
fn score(key: u64, seed: u64, item: u64, weight: f64) -> f64 {
    -weight / unit(mix(key ^ mix(seed ^ item))).ln()
}

fn available<H: Health>(pool: &Pool, dc: usize, family: Family, health: &H) -> bool {
    let members = pool.dcs[dc].members(family);
    (0..members.len()).any(|m| health.up(pool, dc, family, m))
}

/// Which rule matched, for the trace and the scope.
fn route<'p>(
    pool: &'p Pool,
    client: &Client<'_>,
    trace: &mut Option<&mut Vec<String>>,
) -> (&'p Tiers, Option<u8>) {
    let r = &pool.route;
    let a = client.addr;
    if let Some((net, t)) = r.networks.iter().find(|(n, _)| n.contains(a)) {
        trace!(trace, "route: network {net} matches {a}");
        return (t, Some(net.len));
    }
    let loc = client.loc;
    if let Some(t) = loc.asn.and_then(|n| r.asns.get(&n)) {
        trace!(trace, "route: asns AS{} matches", loc.asn.unwrap_or(0));
        return (t, None);
    }
    if let Some(t) = loc.subdivision.and_then(|c| r.subdivisions.get(&c)) {
        trace!(
            trace,
            "route: subdivisions {} matches",
            loc.subdivision.unwrap_or_default()
        );
        return (t, None);
    }
    if let Some(t) = loc.country.and_then(|c| r.countries.get(&c)) {
        trace!(
            trace,
            "route: countries {} matches",
            loc.country.unwrap_or_default()
        );
        return (t, None);
    }
    if let Some(t) = loc.continent.and_then(|c| r.continents.get(&c)) {
        trace!(
            trace,
            "route: continents {} matches",
            loc.continent.unwrap_or_default()
        );
        return (t, None);
    }
    trace!(
        trace,
        "route: no network, ASN, subdivision, country or continent rule matches: default"
    );
    (&r.default, None)
}

fn describe(pool: &Pool, dcs: &[Datacenter], t: &Tier) -> String {
    let name = |i: usize| dcs[pool.dcs[i].dc].name.as_str();
    match t {
        Tier::Dc(i) => name(*i).to_string(),
        Tier::Nearest => "nearest".to_string(),
        Tier::Split(parts) => {
            let p: Vec<String> = parts
                .iter()
                .map(|(i, pct)| format!("{} {pct}%", name(*i)))
                .collect();
            format!("split {{{}}}", p.join(", "))
        }
    }
}

/// Decides the answer of `pool` for `client`, asking for members of `family`. With `trace`, every
/// step is described in it (for `geosteer explain`); without, nothing is allocated.
pub fn select<'p, H: Health>(
    pool: &'p Pool,
    dcs: &[Datacenter],
    family: Family,
    client: &Client<'_>,
    health: &H,
    mut trace: Option<&mut Vec<String>>,
) -> Decision<'p> {
    let addr = client.addr;
    let (tiers, net_match) = route(pool, client, &mut trace);
    if trace.is_some() {
        let list: Vec<String> = tiers.iter().map(|t| describe(pool, dcs, t)).collect();
        trace!(trace, "tiers: [{}]", list.join(", "));
    }

    // The scope: the answer holds for the matched rule network, or else for the database network;
    // and it must not reach into a more specific network rule that does not contain the client.
    let mut scope = match net_match {
        Some(len) => len,
        None => {
            let r = &pool.route;
            let geo_used = !(r.asns.is_empty()
                && r.subdivisions.is_empty()
                && r.countries.is_empty()
                && r.continents.is_empty())
                || tiers.contains(&Tier::Nearest);
            if geo_used { client.loc.prefix_len } else { 0 }
        }
    };
    for (net, _) in &pool.route.networks {
        if net.addr.is_ipv4() == addr.is_ipv4() && !net.contains(addr) {
            scope = scope.max(common_prefix(addr, net.addr) + 1);
        }
    }

    let mut d = Decision {
        outcome: Outcome::Answer,
        dc: None,
        picks: [None; MAX_ANSWERS],
        ttl: pool.ttl,
        scope,
    };
    if tiers.is_empty() {
        trace!(
            trace,
            "geofence: the route is an empty list, the answer is NODATA"
        );
        d.outcome = Outcome::Geofence;
        return d;
    }

    let mut sticky = false;
    let mut chosen = None;
    'tiers: for (ti, tier) in tiers.iter().enumerate() {
        match tier {
            Tier::Dc(i) => {
                if available(pool, *i, family, health) {
                    chosen = Some((ti, *i));
                    break 'tiers;
                }
                trace!(
                    trace,
                    "tier {}: {} has no available {:?} members",
                    ti + 1,
                    describe(pool, dcs, tier),
                    family
                );
            }
            Tier::Split(parts) => {
                let best = parts
                    .iter()
                    .filter(|(i, _)| available(pool, *i, family, health))
                    .map(|&(i, pct)| (i, score(client.key, pool.seed ^ 0x5bd1_e995, i as u64, pct)))
                    .max_by(|a, b| a.1.total_cmp(&b.1));
                if let Some((i, _)) = best {
                    sticky = true;
                    trace!(
                        trace,
                        "tier {}: {} → {} (sticky for the client's network)",
                        ti + 1,
                        describe(pool, dcs, tier),
                        dcs[pool.dcs[i].dc].name
                    );
                    chosen = Some((ti, i));
                    break 'tiers;
                }
                trace!(
                    trace,
                    "tier {}: {}: no datacenter available",
                    ti + 1,
                    describe(pool, dcs, tier)
                );
            }
            Tier::Nearest => {
                let mut order = [(0.0, 0); MAX_NEAREST];
                let n = pool.dcs.len().min(MAX_NEAREST);
                for (i, slot) in order.iter_mut().enumerate().take(n) {
                    let dc = &dcs[pool.dcs[i].dc];
                    let dist = match (client.loc.coords, dc.location) {
                        (Some(c), Some(l)) => distance_km(c, l) - dc.bias_km,
                        // no client coordinates: keep the declaration order
                        _ => i as f64,
                    };
                    *slot = (dist, i);
                }
                order[..n].sort_by(|a, b| a.0.total_cmp(&b.0));
                if trace.is_some() {
                    let list: Vec<String> = order[..n]
                        .iter()
                        .map(|&(dist, i)| match client.loc.coords {
                            Some(_) => format!("{} {:.0} km", dcs[pool.dcs[i].dc].name, dist),
                            None => dcs[pool.dcs[i].dc].name.clone(),
                        })
                        .collect();
                    let how = match (client.loc.coords, client.loc.centroid) {
                        (None, _) => "no client location: datacenter order".to_string(),
                        (Some(c), true) => format!(
                            "from the country centroid {:.2}, {:.2}, after bias",
                            c.0, c.1
                        ),
                        (Some(c), false) => format!("from {:.2}, {:.2}, after bias", c.0, c.1),
                    };
                    trace!(
                        trace,
                        "tier {}: nearest ({how}): {}",
                        ti + 1,
                        list.join(", ")
                    );
                }
                for (rank, &(_, i)) in order[..n].iter().enumerate() {
                    if available(pool, i, family, health) {
                        chosen = Some((ti + rank, i));
                        break 'tiers;
                    }
                }
            }
        }
    }
    let Some((rank, dci)) = chosen else {
        trace!(
            trace,
            "no datacenter of the route has {:?} members: NODATA", family
        );
        d.outcome = Outcome::NoMembers;
        return d;
    };
    d.dc = Some(dci);
    if rank > 0 {
        d.ttl = pool.ttl_degraded;
    }
    trace!(
        trace,
        "datacenter: {}{}",
        dcs[pool.dcs[dci].dc].name,
        if rank > 0 {
            " (not the first choice: ttl_degraded)"
        } else {
            ""
        }
    );

    // members: the top max_answers by weighted rendezvous score
    let members = pool.dcs[dci].members(family);
    let mut best: [(f64, usize); MAX_ANSWERS] = [(f64::NEG_INFINITY, usize::MAX); MAX_ANSWERS];
    let k = pool.max_answers.min(MAX_ANSWERS);
    let mut up_count = 0;
    for (mi, m) in members.iter().enumerate() {
        if !health.up(pool, dci, family, mi) {
            continue;
        }
        up_count += 1;
        let s = score(client.key, pool.seed, m.key, m.weight);
        // insert into the sorted top-k
        if s > best[k - 1].0 {
            let mut j = k - 1;
            while j > 0 && best[j - 1].0 < s {
                best[j] = best[j - 1];
                j -= 1;
            }
            best[j] = (s, mi);
        }
    }
    if up_count > k {
        sticky = true;
    }
    for (slot, &(_, mi)) in d.picks.iter_mut().zip(best[..k].iter()) {
        if mi != usize::MAX {
            *slot = Some(&members[mi]);
        }
    }
    if trace.is_some() {
        let list: Vec<String> = d
            .picks()
            .map(|m| format!("{} (weight {})", m.text, m.weight))
            .collect();
        trace!(
            trace,
            "members: {} of {} up: {}",
            list.len(),
            up_count,
            list.join(", ")
        );
    }
    if sticky {
        d.scope = d.scope.max(sticky_prefix(addr));
    }
    d.scope = d.scope.min(family_bits(addr));
    if let Some(t) = trace {
        let mut s = format!("ttl {}, scope /{}", d.ttl, d.scope);
        if sticky {
            let _ = write!(s, " (sticky per /{})", sticky_prefix(addr));
        }
        t.push(s);
    }
    d
}

#[cfg(test)]
mod tests;
