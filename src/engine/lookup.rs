//! Authoritative lookup over the zone set (RFC 1034 §4.3.2, RFC 4592 wildcards, RFC 6604 CNAME
//! chains, RFC 8482 ANY). The result is a list of RRsets per section, collected into a fixed-size
//! array: no allocation.

use crate::engine::rcode;
use crate::model::{Node, RRset, Zone, ZoneSet, rtype};
use crate::wire::encode::Section;
use crate::wire::name::label_offsets;

/// Longest CNAME chain followed inside the served zones. Longer chains (and loops) end where they
/// stand: the resolver follows the rest itself.
pub const MAX_CHAIN: usize = 8;

/// Capacity of [`Parts`]. Beyond it, further (additional-section) RRsets are left out.
const MAX_PARTS: usize = 64;

/// One RRset placed in a response section.
#[derive(Debug, Clone, Copy)]
pub struct Part<'a> {
    pub section: Section,
    /// Owner name in wire format (lower case, or the question's own bytes).
    pub owner: &'a [u8],
    pub set: &'a RRset,
    /// TTL to use instead of the records' own (the negative TTL of an SOA).
    pub ttl: Option<u32>,
    /// Leaving it out makes the response truncated (glue of a referral).
    pub required: bool,
}

/// The RRsets of a response, in the order they were found.
pub struct Parts<'a> {
    items: [Option<Part<'a>>; MAX_PARTS],
    len: usize,
}

impl Default for Parts<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'a> Parts<'a> {
    /// An empty list.
    pub fn new() -> Self {
        Parts {
            items: [None; MAX_PARTS],
            len: 0,
        }
    }

    fn push(&mut self, p: Part<'a>) {
        let dup = self.iter().any(|o| {
            o.section == p.section
                && std::ptr::eq(o.set, p.set)
                && o.owner.eq_ignore_ascii_case(p.owner)
        });
        if !dup && self.len < MAX_PARTS {
            self.items[self.len] = Some(p);
            self.len += 1;
        }
    }

    fn add(&mut self, section: Section, owner: &'a [u8], set: &'a RRset) {
        self.push(Part {
            section,
            owner,
            set,
            ttl: None,
            required: false,
        });
    }

    /// The parts, in order.
    pub fn iter(&self) -> impl Iterator<Item = &Part<'a>> {
        self.items[..self.len].iter().flatten()
    }

    /// Number of parts.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
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
    /// The name exists (or a wildcard matched); answer from this node with this owner.
    Node(&'a Node),
    /// The name is at or below a zone cut.
    Referral(&'a Node),
    /// Neither the name nor a wildcard exists.
    NxDomain,
}

/// Finds `name` (lower-case wire) in `zone`, descending from the apex so zone cuts are seen first.
fn find<'a>(zone: &'a Zone, name: &[u8], qtype: u16) -> Found<'a> {
    let mut offs = [0u8; 128];
    let n = label_offsets(name, &mut offs);
    let apex_labels = crate::wire::name::label_count(&zone.apex);
    let mut encloser = zone.apex_node();
    // i indexes labels from the left; the apex is at i == n - apex_labels
    for i in (0..n.saturating_sub(apex_labels)).rev() {
        match zone.node(&name[offs[i] as usize..]) {
            Some((_, node)) => {
                // a DS query at the cut itself is answered by the parent side (RFC 4035 §3.1.4.1)
                if node.delegation && !(i == 0 && qtype == rtype::DS) {
                    return Found::Referral(node);
                }
                encloser = node;
            }
            None => {
                // the closest encloser is `encloser`: try its wildcard (RFC 4592 §3.3.1)
                let mut wc = [0u8; 256];
                let el = encloser.name.len();
                if el + 2 > wc.len() {
                    return Found::NxDomain;
                }
                wc[0] = 1;
                wc[1] = b'*';
                wc[2..2 + el].copy_from_slice(&encloser.name);
                return match zone.node(&wc[..2 + el]) {
                    Some((_, node)) => Found::Node(node),
                    None => Found::NxDomain,
                };
            }
        }
    }
    Found::Node(encloser)
}

fn negative<'a>(parts: &mut Parts<'a>, zone: &'a Zone) {
    parts.push(Part {
        section: Section::Authority,
        owner: &zone.apex,
        set: zone.soa(),
        ttl: Some(zone.negative_ttl),
        required: false,
    });
}

/// Adds the addresses of NS/MX/SRV targets that the zone holds.
fn additional<'a>(parts: &mut Parts<'a>, zone: &'a Zone, set: &'a RRset, required: bool) {
    for &idx in &set.additional {
        let node = &zone.nodes[idx as usize];
        for t in [rtype::A, rtype::AAAA] {
            if let Some(s) = node.rrset(t) {
                parts.push(Part {
                    section: Section::Additional,
                    owner: &node.name,
                    set: s,
                    ttl: None,
                    required,
                });
            }
        }
    }
}

/// Resolves a question. `qname` is the name as received (used as the owner of the first answer so
/// it compresses to the question), `qname_lc` its lower-case form.
pub fn resolve<'a>(
    zones: &'a ZoneSet,
    qname: &'a [u8],
    qname_lc: &[u8],
    qtype: u16,
    parts: &mut Parts<'a>,
) -> Resolution {
    let Some(mut zone) = zones.find(qname_lc) else {
        return Resolution {
            rcode: rcode::REFUSED,
            aa: false,
        };
    };
    // DS at a zone apex belongs to the parent, when we serve it too
    if qtype == rtype::DS
        && qname_lc == &zone.apex[..]
        && let Some(parent) = zones.find_from(qname_lc, 1)
    {
        zone = parent;
    }

    // the name being looked up: first the question, then CNAME targets (lower case, from the zone)
    let mut owner: &'a [u8] = qname;
    let mut lc_buf = [0u8; 255];
    lc_buf[..qname_lc.len()].copy_from_slice(qname_lc);
    let mut chain: [&'a [u8]; MAX_CHAIN] = [&[]; MAX_CHAIN];
    let mut hops = 0;
    loop {
        let lc: &[u8] = if hops == 0 {
            &lc_buf[..qname_lc.len()]
        } else {
            owner
        };
        match find(zone, lc, qtype) {
            Found::NxDomain => {
                negative(parts, zone);
                return Resolution {
                    rcode: rcode::NXDOMAIN,
                    aa: true,
                };
            }
            Found::Referral(cut) => {
                let ns = cut.rrset(rtype::NS).expect("a delegation has NS records");
                parts.push(Part {
                    section: Section::Authority,
                    owner: &cut.name,
                    set: ns,
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
            Found::Node(node) => {
                if qtype == rtype::ANY {
                    // RFC 8482 §4.1: one RRset is enough; a name with none is NODATA
                    match node.rrsets.first() {
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
                chain[hops] = owner;
                let target: &'a [u8] = &cname.rdata[0].bytes;
                hops += 1;
                let looped = chain[..hops].iter().any(|c| c.eq_ignore_ascii_case(target));
                if looped || hops == MAX_CHAIN {
                    return ok();
                }
                // follow the chain into any zone we serve; outside them the resolver goes on
                match zones.find(target) {
                    Some(z) => zone = z,
                    None => return ok(),
                }
                owner = target;
            }
        }
    }
}

fn ok() -> Resolution {
    Resolution {
        rcode: rcode::NOERROR,
        aa: true,
    }
}
