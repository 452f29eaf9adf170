//! Response bytes: a resolution written through the general writer ([`write()`]), a pool's own
//! answer written directly ([`write_picks`]), a cached answer ([`from_cache`]), the identity
//! answer, and the size limit and ECS scope they share. Everything here writes what the writer
//! would: `engine::tests::cached_answers_equal_the_engine` compares the shortcuts with it.

use super::{
    CLASS_CH, Data, Limits, MIN_UDP, Outcome, Parts, Transport, asked_nsid, cache, lookup, rcode,
};
use crate::wire::cookie;
use crate::wire::ecs::Ecs;
use crate::wire::encode::{Names, Opt, Section, Writer};
use crate::wire::query::Query;
use crate::wire::{reply, rtype};

/// Writes the response to `q` from a cached answer, as `engine::answer` would have written it: `None`
/// (nothing written) when the whole message would not fit the query's size limit, where the
/// full path may have to leave records out.
#[allow(clippy::too_many_arguments)]
pub(super) fn from_cache(
    hit: &cache::Records<'_>,
    limits: &Limits,
    q: &Query<'_>,
    subnet: Option<Ecs<'_>>,
    nsid: Option<&[u8]>,
    cookie: Option<&[u8; cookie::REPLY_LEN]>,
    transport: Transport,
    out: &mut Vec<u8>,
) -> Option<Outcome> {
    let edns = q.edns;
    let mut limit = size_limit(edns.map(|e| e.payload), limits, transport);
    if edns.is_some() {
        limit -= Opt::wire_len(subnet.as_ref(), nsid, cookie.is_some());
    }
    if 12 + q.question.len() + hit.body.len() > limit {
        return None;
    }
    let [i0, i1] = q.header.id.to_be_bytes();
    let [f0, f1] =
        reply::flags(q.header.flags_hi, q.header.flags_lo, hit.aa, hit.rcode).to_be_bytes();
    let [a0, a1] = hit.counts[0].to_be_bytes();
    let [n0, n1] = hit.counts[1].to_be_bytes();
    let [d0, d1] = (hit.counts[2] + u16::from(edns.is_some())).to_be_bytes();
    out.clear();
    out.extend_from_slice(&[i0, i1, f0, f1, 0, 1, a0, a1, n0, n1, d0, d1]);
    out.extend_from_slice(q.question);
    out.extend_from_slice(hit.body);
    if let Some(e) = edns {
        Opt {
            payload: limits.udp_payload,
            rcode: hit.rcode,
            dnssec_ok: e.dnssec_ok,
            // a static answer holds for every client: scope 0 (RFC 7871 §7.2.1)
            ecs: subnet.map(|s| (s, 0)),
            nsid,
            cookie,
        }
        .write_to(out);
    }
    Some(Outcome::Reply {
        rcode: hit.rcode,
        truncated: false,
    })
}

/// The answer to a CH TXT query for the server's identity: one TXT record, class CH.
pub(super) fn identity_answer(
    q: &Query<'_>,
    txt: &[u8],
    nsid: Option<&[u8]>,
    cookie: Option<&[u8; cookie::REPLY_LEN]>,
    limits: &Limits,
    transport: Transport,
    out: &mut Vec<u8>,
) -> Outcome {
    let nsid = asked_nsid(q).then_some(nsid).flatten();
    let mut limit = size_limit(q.edns.map(|e| e.payload), limits, transport);
    if q.edns.is_some() {
        limit -= Opt::wire_len(None, nsid, cookie.is_some());
    }
    let flags = reply::flags(q.header.flags_hi, q.header.flags_lo, true, rcode::NOERROR);
    let mut names = Names::new();
    let mut w = Writer::new(
        out,
        &mut names,
        q.header.id,
        flags,
        Some((q.qname, q.question)),
        limit,
    );
    w.set_class(CLASS_CH);
    w.rrset(
        Section::Answer,
        q.qname,
        rtype::TXT,
        crate::wire::Layout::Raw,
        [(0, txt)],
        None,
    );
    let truncated = w.truncated();
    let opt = q.edns.map(|e| Opt {
        payload: limits.udp_payload,
        rcode: rcode::NOERROR,
        dnssec_ok: e.dnssec_ok,
        ecs: None,
        nsid,
        cookie,
    });
    w.finish(opt.as_ref());
    Outcome::Reply {
        rcode: rcode::NOERROR,
        truncated,
    }
}

/// The size limit for a response, before the OPT record.
pub(super) fn size_limit(q_edns: Option<u16>, limits: &Limits, transport: Transport) -> usize {
    match transport {
        Transport::Tcp => u16::MAX as usize,
        Transport::Udp => match q_edns {
            None => MIN_UDP as usize,
            Some(p) => p.clamp(MIN_UDP, limits.udp_payload.max(MIN_UDP)) as usize,
        },
    }
}

/// Writes the response of a resolution: the parts found, then the OPT record. `pool_scope` is
/// the largest scope a pool decision asked for (`None`: no pool took part).
#[allow(clippy::too_many_arguments)]
pub(super) fn write(
    res: &lookup::Resolution,
    parts: &Parts<'_>,
    limits: &Limits,
    q: &Query<'_>,
    subnet: Option<Ecs<'_>>,
    nsid: Option<&[u8]>,
    cookie: Option<&[u8; cookie::REPLY_LEN]>,
    pool_scope: Option<u8>,
    transport: Transport,
    out: &mut Vec<u8>,
) -> Written {
    let edns = q.edns;
    let mut limit = size_limit(edns.map(|e| e.payload), limits, transport);
    if edns.is_some() {
        limit -= Opt::wire_len(subnet.as_ref(), nsid, cookie.is_some());
    }
    let flags = reply::flags(q.header.flags_hi, q.header.flags_lo, res.aa, res.rcode);
    let mut names = Names::new();
    let mut w = Writer::new(
        out,
        &mut names,
        q.header.id,
        flags,
        Some((q.qname, q.question)),
        limit,
    );
    // a SERVFAIL carries no records, even those a CNAME chain found before it failed
    let sections = if res.rcode == rcode::SERVFAIL {
        &[][..]
    } else {
        &[Section::Answer, Section::Authority, Section::Additional][..]
    };
    for &section in sections {
        for p in parts.iter().filter(|p| p.section == section) {
            let written = match p.data {
                Data::Set(set) => w.rrset(
                    section,
                    p.owner,
                    set.rtype(),
                    set.layout(),
                    set.rdata().iter().map(|r| (r.ttl(), r.bytes())),
                    p.ttl,
                ),
                Data::Picks {
                    rtype,
                    layout,
                    ref rdata,
                } => w.rrset(
                    section,
                    p.owner,
                    rtype,
                    layout,
                    rdata.iter().flatten().map(|r| (r.ttl(), r.bytes())),
                    p.ttl,
                ),
            };
            if !written && p.required {
                // glue that the referral needs did not fit (RFC 9471): the client must retry on TCP
                w.set_truncated();
            }
        }
    }
    let truncated = w.truncated();
    let complete = w.complete();
    let body_end = w.written();
    // the scope: how far this answer holds; 0 when no pool decided anything
    let opt = edns.map(|e| Opt {
        payload: limits.udp_payload,
        rcode: res.rcode,
        dnssec_ok: e.dnssec_ok,
        ecs: subnet.map(|s| (s, echo_scope(&s, pool_scope))),
        nsid,
        cookie,
    });
    w.finish(opt.as_ref());
    let scope = opt.and_then(|o| o.ecs).map_or(0, |(_, scope)| scope);
    Written {
        outcome: Outcome::Reply {
            rcode: res.rcode,
            truncated,
        },
        scope,
        rcode: res.rcode,
        aa: res.aa,
        body_end,
        complete,
    }
}

/// The scope to return in the ECS echo: what the pool decisions asked for (0 when none did, or
/// when the query's source prefix was 0).
fn echo_scope(s: &Ecs<'_>, pool_scope: Option<u8>) -> u8 {
    let scope = if s.source_prefix == 0 {
        0
    } else {
        pool_scope.unwrap_or(0)
    };
    // a mapped IPv4 subnet was located as IPv4: its scope counts in IPv6 bits again
    if s.addr.is_ipv6() && s.addr.to_canonical().is_ipv4() && scope > 0 {
        scope.saturating_add(96).min(128)
    } else {
        scope
    }
}

/// Writes a pool's own answer to the question (A or AAAA members, owned by the question's
/// name) as [`write()`] would, without the writer's general work: the owner of every record is a
/// pointer to the question, as the writer compresses it, then type, class, TTL and the member's
/// address. `None`, with nothing written, when it would not fit the size limit (the writer
/// decides what then) or is not that shape. The equivalence test compares the two.
#[allow(clippy::too_many_arguments)]
pub(super) fn write_picks(
    part: &lookup::Part<'_>,
    limits: &Limits,
    q: &Query<'_>,
    subnet: Option<Ecs<'_>>,
    nsid: Option<&[u8]>,
    cookie: Option<&[u8; cookie::REPLY_LEN]>,
    pool_scope: Option<u8>,
    transport: Transport,
    out: &mut Vec<u8>,
) -> Option<Written> {
    let Data::Picks {
        rtype,
        layout: crate::wire::Layout::Raw,
        ref rdata,
    } = part.data
    else {
        return None;
    };
    // the root's name is written whole, not as a pointer: leave it to the writer
    if q.qname.len() < 2 {
        return None;
    }
    let edns = q.edns;
    let mut limit = size_limit(edns.map(|e| e.payload), limits, transport);
    if edns.is_some() {
        limit -= Opt::wire_len(subnet.as_ref(), nsid, cookie.is_some());
    }
    let (mut count, mut size) = (0u16, 12 + q.question.len());
    for r in rdata.iter().flatten() {
        count += 1;
        size += 12 + r.bytes().len();
    }
    if count == 0 || size > limit {
        return None;
    }
    let [i0, i1] = q.header.id.to_be_bytes();
    let [f0, f1] =
        reply::flags(q.header.flags_hi, q.header.flags_lo, true, rcode::NOERROR).to_be_bytes();
    let [a0, a1] = count.to_be_bytes();
    let ar = u8::from(edns.is_some());
    out.clear();
    out.extend_from_slice(&[i0, i1, f0, f1, 0, 1, a0, a1, 0, 0, 0, ar]);
    out.extend_from_slice(q.question);
    let [t0, t1] = rtype.to_be_bytes();
    for r in rdata.iter().flatten() {
        let [l0, l1, l2, l3] = part.ttl.unwrap_or(r.ttl()).to_be_bytes();
        let b = r.bytes();
        let [d0, d1] = u16::try_from(b.len()).unwrap_or(u16::MAX).to_be_bytes();
        out.extend_from_slice(&[0xc0, 12, t0, t1, 0, 1, l0, l1, l2, l3, d0, d1]);
        out.extend_from_slice(b);
    }
    let body_end = out.len();
    let scope = subnet.as_ref().map_or(0, |s| echo_scope(s, pool_scope));
    if let Some(e) = edns {
        Opt {
            payload: limits.udp_payload,
            rcode: rcode::NOERROR,
            dnssec_ok: e.dnssec_ok,
            ecs: subnet.map(|s| (s, scope)),
            nsid,
            cookie,
        }
        .write_to(out);
    }
    Some(Written {
        outcome: Outcome::Reply {
            rcode: rcode::NOERROR,
            truncated: false,
        },
        scope,
        rcode: rcode::NOERROR,
        aa: true,
        body_end,
        complete: true,
    })
}

/// What a response writer wrote.
pub(super) struct Written {
    pub outcome: Outcome,
    /// The ECS scope returned.
    pub scope: u8,
    pub rcode: u16,
    pub aa: bool,
    /// Where the records end (the OPT record, if any, follows).
    pub body_end: usize,
    /// Every RRset found was written ([`Writer::complete`]).
    pub complete: bool,
}
