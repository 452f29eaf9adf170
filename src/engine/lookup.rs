//! Authoritative lookup over the zone set (RFC 1034 §4.3.2, RFC 4592 wildcards, RFC 6604 CNAME
//! chains, RFC 8482 ANY). The result is a list of RRsets per section, collected into a fixed-size
//! array: no allocation.

use std::net::IpAddr;

use smallvec::SmallVec;

use crate::geo::{Geo, Location};
use crate::health::Decider;
use crate::health::HealthMap;
use crate::metrics::{PoolReport, Report};
use crate::model::overrides::Overlay;
use crate::model::pool::MAX_ANSWERS;
use crate::model::{Family, Node, PoolKind, RRset, Rdata, Zone, ZoneSet};
use crate::select::{self, Client, Health, Outcome, Trace, trace};
use crate::wire::encode::Section;
use crate::wire::name::{label_offsets, to_text};
use crate::wire::{Layout, rcode, rtype};

/// Longest CNAME chain followed inside the served zones. Longer chains (and loops) end where they
/// stand: the resolver follows the rest itself.
pub const MAX_CHAIN: usize = 8;

/// Capacity of [`Parts`]. Beyond it, further (additional-section) RRsets are left out.
const MAX_PARTS: usize = 64;

/// The records of one part: a zone RRset, or members a pool picked.
#[derive(Debug, Clone, Copy)]
pub enum Data<'a> {
    Set(&'a RRset),
    Picks {
        rtype: u16,
        layout: Layout,
        rdata: [Option<&'a Rdata>; MAX_ANSWERS],
    },
}

/// One RRset placed in a response section.
#[derive(Debug, Clone, Copy)]
pub struct Part<'a> {
    pub section: Section,
    /// Owner name in wire format (lower case, or the question's own bytes).
    pub owner: &'a [u8],
    pub data: Data<'a>,
    /// TTL to use instead of the records' own (the negative TTL of an SOA).
    pub ttl: Option<u32>,
    /// Leaving it out makes the response truncated (glue of a referral).
    pub required: bool,
}

/// The RRsets of a response, in the order they were found. The inline storage is not
/// initialised as a whole for every query, and never spills: [`Parts::push`] stops at
/// [`MAX_PARTS`].
pub struct Parts<'a> {
    items: SmallVec<[Part<'a>; MAX_PARTS]>,
}

impl Default for Parts<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'a> Parts<'a> {
    /// An empty list.
    #[inline]
    pub fn new() -> Self {
        Parts {
            items: SmallVec::new(),
        }
    }

    pub(crate) fn push(&mut self, p: Part<'a>) {
        let dup = self.iter().any(|o| match (o.data, p.data) {
            (Data::Set(a), Data::Set(b)) => {
                o.section == p.section
                    && std::ptr::eq(a, b)
                    && o.owner.eq_ignore_ascii_case(p.owner)
            }
            _ => false,
        });
        if !dup && self.items.len() < MAX_PARTS {
            self.items.push(p);
        }
    }

    fn add(&mut self, section: Section, owner: &'a [u8], set: &'a RRset) {
        self.push(Part {
            section,
            owner,
            data: Data::Set(set),
            ttl: None,
            required: false,
        });
    }

    /// The parts, in order.
    pub fn iter(&self) -> impl Iterator<Item = &Part<'a>> {
        self.items.iter()
    }
}

/// Header-level result of a lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolution {
    pub rcode: u16,
    /// Authoritative answer: false for referrals and REFUSED.
    pub aa: bool,
}

/// What one name looks like inside one zone.
enum Found<'a> {
    /// The name exists (or a wildcard matched); answer from this node (its number in the zone)
    /// with this owner.
    Node(u32, &'a Node),
    /// The name is at or below a zone cut.
    Referral(&'a Node),
    /// Neither the name nor a wildcard exists.
    NxDomain,
}

/// Finds `name` (lower-case wire) in `zone`, descending from the apex so zone cuts are seen first.
fn find<'a>(zone: &'a Zone, name: &[u8], qtype: u16) -> Found<'a> {
    let mut offs = [0u8; 128];
    let n = label_offsets(name, &mut offs);
    let apex_labels = crate::wire::name::label_count(zone.apex());
    let mut encloser = (0, zone.apex_node());
    // i indexes labels from the left; the apex is at i == n - apex_labels
    for i in (0..n.saturating_sub(apex_labels)).rev() {
        let suffix = name.get(offs[i] as usize..).unwrap_or_default();
        match zone.node(suffix) {
            Some((at, node)) => {
                // a DS query at the cut itself is answered by the parent side (RFC 4035 §3.1.4.1)
                if node.is_delegation() && !(i == 0 && qtype == rtype::DS) {
                    return Found::Referral(node);
                }
                encloser = (at, node);
            }
            None => {
                // the closest encloser is `encloser`: try its wildcard (RFC 4592 §3.3.1)
                let mut wc = [0u8; 256];
                let el = zone.name_of(encloser.1).len();
                if el + 2 > wc.len() {
                    return Found::NxDomain;
                }
                wc[0] = 1;
                wc[1] = b'*';
                wc[2..2 + el].copy_from_slice(zone.name_of(encloser.1));
                return match zone.node(&wc[..2 + el]) {
                    Some((at, node)) => Found::Node(at, node),
                    None => Found::NxDomain,
                };
            }
        }
    }
    Found::Node(encloser.0, encloser.1)
}

fn negative<'a>(parts: &mut Parts<'a>, zone: &'a Zone) {
    parts.push(Part {
        section: Section::Authority,
        owner: zone.apex(),
        data: Data::Set(zone.soa()),
        ttl: Some(zone.negative_ttl()),
        required: false,
    });
}

/// Adds the addresses of NS/MX/SRV targets that the zone holds.
fn additional<'a>(parts: &mut Parts<'a>, zone: &'a Zone, set: &'a RRset, required: bool) {
    for node in set.additional().iter().filter_map(|&i| zone.node_at(i)) {
        for t in [rtype::A, rtype::AAAA] {
            if let Some(s) = node.rrset(t) {
                parts.push(Part {
                    section: Section::Additional,
                    owner: zone.name_of(node),
                    data: Data::Set(s),
                    ttl: None,
                    required,
                });
            }
        }
    }
}

/// Who is asking, for pool answers: the address that locates the client and, once a pool needed
/// it, the location. Also collects the ECS scope of the answer, and carries the trace `explain`
/// asked for.
pub struct ClientCtx<'g, 't> {
    pub addr: IpAddr,
    pub geo: &'g Geo,
    overlay: &'g Overlay,
    health: Option<&'g HealthMap>,
    loc: Option<Location>,
    /// Largest scope any pool decision of this answer asked for; `None`: no pool was involved.
    pub scope: Option<u8>,
    /// The question itself was answered by the pool at this node (zone position, node number),
    /// with its records and nothing else: an [`super::AnswerCache`] keeps where it is.
    pub direct_pool: Option<(u32, u32)>,
    /// What the metrics learn of this query: the zone, the first pool decision, a GeoIP miss.
    pub report: Report,
    trace: Option<&'t mut Trace>,
}

impl<'g, 't> ClientCtx<'g, 't> {
    /// A client located (lazily) through `geo`.
    pub fn new(
        addr: IpAddr,
        geo: &'g Geo,
        overlay: &'g Overlay,
        health: Option<&'g HealthMap>,
        trace: Option<&'t mut Trace>,
    ) -> Self {
        ClientCtx {
            addr,
            geo,
            overlay,
            health,
            loc: None,
            scope: None,
            direct_pool: None,
            report: Report::default(),
            trace,
        }
    }

    /// The client's location, looked up on first use only: static answers never pay for it.
    pub fn location(&mut self) -> Location {
        if let Some(l) = self.loc {
            return l;
        }
        let l = self.geo.locate(self.addr);
        self.loc = Some(l);
        self.report.geo_miss = !l.found;
        if let Some(t) = self.trace.as_deref_mut() {
            t.set_located(self.addr);
            t.note(format!("GeoIP: {} => {l}", self.addr));
        }
        l
    }
}

/// Member health: an override in force decides; else the member's health check; else up.
struct MemberHealth<'o> {
    overlay: &'o Overlay,
    checks: Option<&'o HealthMap>,
    zone: usize,
}

impl MemberHealth<'_> {
    fn member(
        pool: &crate::model::Pool,
        dc: usize,
        family: Family,
        member: usize,
    ) -> Option<&crate::model::Member> {
        pool.dcs.get(dc)?.members(family).get(member)
    }
}

impl MemberHealth<'_> {
    #[inline]
    fn state(
        &self,
        pool: &crate::model::Pool,
        dc: usize,
        family: Family,
        member: usize,
    ) -> Option<(bool, f64, Decider<'_>)> {
        let m = Self::member(pool, dc, family, member)?;
        Some(crate::health::state(
            self.overlay,
            self.checks,
            self.zone,
            m.id,
        ))
    }
}

impl Health for MemberHealth<'_> {
    #[inline]
    fn up(&self, pool: &crate::model::Pool, dc: usize, family: Family, member: usize) -> bool {
        self.state(pool, dc, family, member).is_some_and(|s| s.0)
    }

    #[inline]
    fn factor(&self, pool: &crate::model::Pool, dc: usize, family: Family, member: usize) -> f64 {
        self.state(pool, dc, family, member).map_or(1.0, |s| s.1)
    }

    #[inline]
    fn serving(
        &self,
        pool: &crate::model::Pool,
        dc: usize,
        family: Family,
        member: usize,
    ) -> Option<f64> {
        // one lookup of the state, not one for `up` and another for `factor`
        let (up, factor, _) = self.state(pool, dc, family, member)?;
        up.then_some(factor)
    }

    fn why(
        &self,
        pool: &crate::model::Pool,
        dc: usize,
        family: Family,
        member: usize,
    ) -> Option<String> {
        match self.state(pool, dc, family, member)?.2 {
            Decider::Override(o) => {
                let until = o
                    .until
                    .map(|u| format!(" until {}", crate::time::format_rfc3339(u)))
                    .unwrap_or_default();
                let reason = if o.reason.is_empty() {
                    String::new()
                } else {
                    format!(": {}", o.reason)
                };
                Some(format!(
                    "{} by override {}{until}{reason}",
                    o.state.as_str(),
                    o.target
                ))
            }
            Decider::Feed(f) => Some(format!(
                "{} by the feed ({}:{})",
                f.state,
                f.file.display(),
                f.line
            )),
            Decider::Check(slot) => {
                let d = self.checks?.table.detail(slot)?;
                Some(format!(
                    "{} by check {} since {}: {}",
                    if d.up { "up" } else { "down" },
                    d.target,
                    crate::time::format_rfc3339(d.since_unix),
                    d.reason
                ))
            }
            Decider::Nothing => None,
        }
    }
}

/// What a pool answered for one name.
pub(crate) enum PoolAnswer<'a> {
    /// Records to put in the answer section (for a CNAME pool: the CNAME, whose target is the
    /// second value).
    Records(Part<'a>, Option<&'a [u8]>),
    /// No records of the asked type: NODATA.
    NoData,
    /// Every datacenter is down and the pool says SERVFAIL.
    ServFail,
    /// Not a pool question (another type at a pool name): answer from the zone data.
    NotPool,
}

pub(crate) fn pool_answer<'a>(
    zone: &'a Zone,
    node: &'a Node,
    owner: &'a [u8],
    qtype: u16,
    ctx: &mut ClientCtx<'_, '_>,
) -> PoolAnswer<'a> {
    let Some(pool) = node.pool().and_then(|i| zone.pool(i)) else {
        trace!(
            ctx.trace,
            "{} is not a pool name: static data",
            to_text(zone.name_of(node))
        );
        return PoolAnswer::NotPool;
    };
    let (family, rt, layout) = match (pool.kind, qtype) {
        (PoolKind::Cname, _) => (Family::Name, rtype::CNAME, Layout::Name),
        (PoolKind::Address, rtype::A) => (Family::V4, rtype::A, Layout::Raw),
        (PoolKind::Address, rtype::AAAA) => (Family::V6, rtype::AAAA, Layout::Raw),
        // RFC 8482: one RRset for ANY; the IPv4 answer if the pool has one
        (PoolKind::Address, rtype::ANY) => {
            if pool.dcs.iter().any(|d| !d.v4.is_empty()) {
                (Family::V4, rtype::A, Layout::Raw)
            } else {
                (Family::V6, rtype::AAAA, Layout::Raw)
            }
        }
        _ => {
            trace!(
                ctx.trace,
                "{} is answered by pool '{}' for A and AAAA only: static data for type {qtype}",
                to_text(zone.name_of(node)),
                pool.name
            );
            return PoolAnswer::NotPool;
        }
    };
    trace!(
        ctx.trace,
        "{} is answered by pool '{}' ({}:{}), {} members",
        to_text(zone.name_of(node)),
        pool.name,
        pool.file.display(),
        pool.line,
        select::family_name(family)
    );
    let addr = ctx.addr;
    let key = select::client_key(addr);
    let loc = ctx.location();
    let client = Client {
        addr,
        loc: &loc,
        key,
    };
    let trace = ctx.trace.as_deref_mut();
    let d = select::select(
        pool,
        zone.pools(),
        zone.datacenters(),
        family,
        &client,
        &MemberHealth {
            overlay: ctx.overlay,
            checks: ctx.health,
            zone: zone.position(),
        },
        trace,
    );
    ctx.scope = Some(ctx.scope.unwrap_or(0).max(d.scope));
    if ctx.report.pool.is_none()
        && let Some(i) = node.pool()
    {
        ctx.report.pool = Some(PoolReport {
            pool: i,
            datacenter: d.datacenter,
            rule: d.rule,
            reason: d.reason,
        });
    }
    match d.outcome {
        Outcome::Answer => {}
        Outcome::ServFail => return PoolAnswer::ServFail,
        Outcome::Geofence | Outcome::NoMembers | Outcome::AllDownNoData => {
            return PoolAnswer::NoData;
        }
    }
    let mut rdata = [None; MAX_ANSWERS];
    for (slot, m) in rdata.iter_mut().zip(d.picks()) {
        *slot = Some(&m.rdata);
    }
    let target = match pool.kind {
        PoolKind::Cname => rdata[0].map(Rdata::bytes),
        PoolKind::Address => None,
    };
    PoolAnswer::Records(
        Part {
            section: Section::Answer,
            owner,
            data: Data::Picks {
                rtype: rt,
                layout,
                rdata,
            },
            ttl: Some(d.ttl),
            required: false,
        },
        target,
    )
}

/// Resolves a question. `qname` is the name as received (used as the owner of the first answer so
/// it compresses to the question), `qname_lc` its lower-case form.
pub fn resolve<'a>(
    zones: &'a ZoneSet,
    qname: &'a [u8],
    qname_lc: &[u8],
    qtype: u16,
    ctx: &mut ClientCtx<'_, '_>,
    parts: &mut Parts<'a>,
) -> Resolution {
    let Some(mut zone) = zones.find(qname_lc) else {
        trace!(
            ctx.trace,
            "{} is in no zone served: REFUSED",
            to_text(qname_lc)
        );
        return Resolution {
            rcode: rcode::REFUSED,
            aa: false,
        };
    };
    // DS at a zone apex belongs to the parent, when we serve it too
    if qtype == rtype::DS
        && qname_lc == zone.apex()
        && let Some(parent) = zones.find_from(qname_lc, 1)
    {
        zone = parent;
    }
    ctx.report.zone = Some(zone.position());

    // the name being looked up: first the question, then CNAME targets (lower case, from the zone)
    let mut owner: &'a [u8] = qname;
    let mut chain: [&'a [u8]; MAX_CHAIN] = [&[]; MAX_CHAIN];
    let mut hops = 0;
    trace!(ctx.trace, "zone {}", zone.origin());
    loop {
        let lc: &[u8] = if hops == 0 { qname_lc } else { owner };
        match find(zone, lc, qtype) {
            Found::NxDomain => {
                trace!(ctx.trace, "{} does not exist: NXDOMAIN", to_text(lc));
                negative(parts, zone);
                return Resolution {
                    rcode: rcode::NXDOMAIN,
                    aa: true,
                };
            }
            Found::Referral(cut) => {
                // a node is a delegation because it holds NS records
                let Some(ns) = cut.rrset(rtype::NS) else {
                    return ok();
                };
                trace!(
                    ctx.trace,
                    "{} is delegated: referral",
                    to_text(zone.name_of(cut))
                );
                parts.push(Part {
                    section: Section::Authority,
                    owner: zone.name_of(cut),
                    data: Data::Set(ns),
                    ttl: None,
                    required: false,
                });
                additional(parts, zone, ns, true);
                // after a CNAME the answer so far is ours; a bare referral is not authoritative
                return Resolution {
                    rcode: rcode::NOERROR,
                    aa: hops > 0,
                };
            }
            Found::Node(at, node) => {
                match pool_answer(zone, node, owner, qtype, ctx) {
                    PoolAnswer::NotPool => {}
                    PoolAnswer::NoData => {
                        negative(parts, zone);
                        return ok();
                    }
                    PoolAnswer::ServFail => {
                        return Resolution {
                            rcode: rcode::SERVFAIL,
                            aa: false,
                        };
                    }
                    PoolAnswer::Records(part, None) => {
                        parts.push(part);
                        if hops == 0 {
                            ctx.direct_pool = u32::try_from(zone.position()).ok().zip(Some(at));
                        }
                        return ok();
                    }
                    PoolAnswer::Records(part, Some(target)) => {
                        parts.push(part);
                        if qtype == rtype::CNAME || qtype == rtype::ANY {
                            return ok();
                        }
                        match follow(zones, &mut chain, &mut hops, owner, target) {
                            Some(z) => {
                                zone = z;
                                owner = target;
                                continue;
                            }
                            None => return ok(),
                        }
                    }
                }
                if qtype == rtype::ANY {
                    // RFC 8482 §4.1: one RRset is enough; a name with none is NODATA
                    match node.rrsets().first() {
                        Some(set) => parts.add(Section::Answer, owner, set),
                        None => negative(parts, zone),
                    }
                    return ok();
                }
                if let Some(set) = node.rrset(qtype) {
                    parts.add(Section::Answer, owner, set);
                    additional(parts, zone, set, false);
                    return ok();
                }
                let Some(cname) = node.rrset(rtype::CNAME) else {
                    negative(parts, zone);
                    return ok();
                };
                parts.add(Section::Answer, owner, cname);
                let target: &'a [u8] = cname.first();
                // follow the chain into any zone we serve; outside them the resolver goes on
                match follow(zones, &mut chain, &mut hops, owner, target) {
                    Some(z) => zone = z,
                    None => return ok(),
                }
                owner = target;
            }
        }
    }
}

/// One more link of a CNAME chain: the zone to continue in, or `None` when the chain ends here
/// (a loop, too long, or a target outside every zone we serve, which the resolver follows).
fn follow<'a>(
    zones: &'a ZoneSet,
    chain: &mut [&'a [u8]; MAX_CHAIN],
    hops: &mut usize,
    owner: &'a [u8],
    target: &'a [u8],
) -> Option<&'a Zone> {
    chain[*hops] = owner;
    *hops += 1;
    let looped = chain[..*hops]
        .iter()
        .any(|c| c.eq_ignore_ascii_case(target));
    if looped || *hops == MAX_CHAIN {
        return None;
    }
    zones.find(target)
}

fn ok() -> Resolution {
    Resolution {
        rcode: rcode::NOERROR,
        aa: true,
    }
}
