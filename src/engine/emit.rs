//! Response bytes: a resolution written through the general writer ([`write()`]), a pool's own
//! answer written directly ([`write_picks`]), a cached answer ([`from_cache`]), the identity
//! answer, and what they share: the [`Reply`] (size limit, OPT record, header) and the ECS scope.
//! Everything here writes what the writer would: `engine::tests::cached_answers_equal_the_engine`
//! compares the shortcuts with it.

use super::{CLASS_CH, Data, Limits, MIN_UDP, Outcome, Parts, Transport, cache, lookup, rcode};
use crate::wire::cookie;
use crate::wire::ecs::Ecs;
use crate::wire::encode::{Names, Opt, Section, Writer};
use crate::wire::query::Query;
use crate::wire::{reply, rtype};

/// What every response to one query carries besides its records, and where it goes: the
/// question, the ECS option to echo, NSID and the cookie (when the query asked for them), the
/// transport whose size limit applies.
pub(super) struct Reply<'a> {
    pub q: &'a Query<'a>,
    pub limits: &'a Limits,
    pub subnet: Option<Ecs<'a>>,
    pub nsid: Option<&'a [u8]>,
    pub cookie: Option<&'a [u8; cookie::REPLY_LEN]>,
    pub transport: Transport,
}

impl<'a> Reply<'a> {
    /// Room for the header, the question and the records: the size limit less the OPT record.
    fn room(&self) -> usize {
        let limit = size_limit(
            self.q.edns.as_ref().map(|e| e.payload),
            self.limits,
            self.transport,
        );
        if self.q.edns.is_some() {
            limit - Opt::wire_len(self.subnet.as_ref(), self.nsid, self.cookie.is_some())
        } else {
            limit
        }
    }

    /// The OPT record of a response with `rcode`, the ECS option echoed with `scope`; `None`
    /// when the query had none.
    fn opt(&self, rcode: u16, scope: u8) -> Option<Opt<'a>> {
        self.q.edns.as_ref().map(|e| Opt {
            payload: self.limits.udp_payload,
            rcode,
            dnssec_ok: e.dnssec_ok,
            ecs: self.subnet.map(|s| (s, scope)),
            nsid: self.nsid,
            cookie: self.cookie,
        })
    }

    /// Appends the OPT record [`Reply::opt`] describes, if any.
    fn write_opt(&self, out: &mut Vec<u8>, rcode: u16, scope: u8) {
        if let Some(opt) = self.opt(rcode, scope) {
            opt.write_to(out);
        }
    }

    /// Starts a response written without the writer: the header (`counts` of the answer,
    /// authority and additional sections; ARCOUNT adds the OPT record) and the question echoed.
    fn start(&self, out: &mut Vec<u8>, aa: bool, rcode: u16, counts: [u16; 3]) {
        let h = &self.q.header;
        let [i0, i1] = h.id.to_be_bytes();
        let [f0, f1] = reply::flags(h.flags_hi, h.flags_lo, aa, rcode).to_be_bytes();
        let [a0, a1] = counts[0].to_be_bytes();
        let [n0, n1] = counts[1].to_be_bytes();
        let [d0, d1] = (counts[2] + u16::from(self.q.edns.is_some())).to_be_bytes();
        out.clear();
        out.extend_from_slice(&[i0, i1, f0, f1, 0, 1, a0, a1, n0, n1, d0, d1]);
        out.extend_from_slice(self.q.question);
    }
}

/// Writes the response to `q` from a cached answer, as `engine::answer` would have written it: `None`
/// (nothing written) when the whole message would not fit the query's size limit, where the
/// full path may have to leave records out.
pub(super) fn from_cache(
    hit: &cache::Records<'_>,
    reply: &Reply<'_>,
    out: &mut Vec<u8>,
) -> Option<Outcome> {
    if 12 + reply.q.question.len() + hit.body.len() > reply.room() {
        return None;
    }
    reply.start(out, hit.aa, hit.rcode, hit.counts);
    out.extend_from_slice(hit.body);
    // a static answer holds for every client: scope 0 (RFC 7871 §7.2.1)
    reply.write_opt(out, hit.rcode, 0);
    Some(Outcome::Reply {
        rcode: hit.rcode,
        truncated: false,
    })
}

/// The answer to a CH TXT query for the server's identity: one TXT record, class CH.
pub(super) fn identity_answer(reply: &Reply<'_>, txt: &[u8], out: &mut Vec<u8>) -> Outcome {
    let q = reply.q;
    let flags = reply::flags(q.header.flags_hi, q.header.flags_lo, true, rcode::NOERROR);
    let mut names = Names::new();
    let mut w = Writer::new(
        out,
        &mut names,
        q.header.id,
        flags,
        Some((q.qname, q.question)),
        reply.room(),
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
    w.finish(reply.opt(rcode::NOERROR, 0).as_ref());
    Outcome::Reply {
        rcode: rcode::NOERROR,
        truncated,
    }
}

/// The size limit for a response, before the OPT record.
fn size_limit(q_edns: Option<u16>, limits: &Limits, transport: Transport) -> usize {
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
pub(super) fn write(
    res: &lookup::Resolution,
    parts: &Parts<'_>,
    reply: &Reply<'_>,
    pool_scope: Option<u8>,
    out: &mut Vec<u8>,
) -> Written {
    let q = reply.q;
    let flags = reply::flags(q.header.flags_hi, q.header.flags_lo, res.aa, res.rcode);
    let mut names = Names::new();
    let mut w = Writer::new(
        out,
        &mut names,
        q.header.id,
        flags,
        Some((q.qname, q.question)),
        reply.room(),
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
    let counts = w.counts();
    let body_end = w.written();
    // the scope: how far this answer holds; 0 when no pool decided anything
    let scope = reply
        .subnet
        .as_ref()
        .map_or(0, |s| echo_scope(s, pool_scope));
    w.finish(reply.opt(res.rcode, scope).as_ref());
    Written {
        outcome: Outcome::Reply {
            rcode: res.rcode,
            truncated,
        },
        scope,
        rcode: res.rcode,
        aa: res.aa,
        counts,
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
pub(super) fn write_picks(
    part: &lookup::Part<'_>,
    reply: &Reply<'_>,
    pool_scope: Option<u8>,
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
    let q = reply.q;
    // the root's name is written whole, not as a pointer: leave it to the writer
    if q.qname.len() < 2 {
        return None;
    }
    let (mut count, mut size) = (0u16, 12 + q.question.len());
    for r in rdata.iter().flatten() {
        count += 1;
        size += 12 + r.bytes().len();
    }
    if count == 0 || size > reply.room() {
        return None;
    }
    reply.start(out, true, rcode::NOERROR, [count, 0, 0]);
    let [t0, t1] = rtype.to_be_bytes();
    for r in rdata.iter().flatten() {
        let [l0, l1, l2, l3] = part.ttl.unwrap_or(r.ttl()).to_be_bytes();
        let b = r.bytes();
        let [d0, d1] = u16::try_from(b.len()).unwrap_or(u16::MAX).to_be_bytes();
        out.extend_from_slice(&[0xc0, 12, t0, t1, 0, 1, l0, l1, l2, l3, d0, d1]);
        out.extend_from_slice(b);
    }
    let body_end = out.len();
    let scope = reply
        .subnet
        .as_ref()
        .map_or(0, |s| echo_scope(s, pool_scope));
    reply.write_opt(out, rcode::NOERROR, scope);
    Some(Written {
        outcome: Outcome::Reply {
            rcode: rcode::NOERROR,
            truncated: false,
        },
        scope,
        rcode: rcode::NOERROR,
        aa: true,
        counts: [count, 0, 0],
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
    /// Records in the answer, authority and additional sections (the OPT record not counted).
    pub counts: [u16; 3],
    /// Where the records end (the OPT record, if any, follows).
    pub body_end: usize,
    /// Every RRset found was written ([`Writer::complete`]).
    pub complete: bool,
}
