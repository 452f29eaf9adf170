//! The query engine: one synchronous function from a query packet to a response packet.
//!
//! `respond` takes the snapshot, the packet, the client address and the transport's limits, and
//! writes the response into a caller-owned buffer. It has no `.await`, takes no lock and does not
//! allocate once the buffer has grown: every transport (the UDP loop, TCP connections, the
//! hickory-server handler, the benchmarks) calls this same function.

mod lookup;

use std::net::SocketAddr;

use crate::geo::Geo;
use crate::model::{ZoneSet, rtype};
use crate::wire::ecs::{self, Ecs};
use crate::wire::encode::{Section, Writer};
use crate::wire::query::{self, ParseError, Query};

pub use lookup::{ClientCtx, Parts, Resolution, resolve};

/// Response codes used by the engine (RFC 1035, RFC 6891).
pub mod rcode {
    pub const NOERROR: u16 = 0;
    pub const FORMERR: u16 = 1;
    pub const SERVFAIL: u16 = 2;
    pub const NXDOMAIN: u16 = 3;
    pub const NOTIMP: u16 = 4;
    pub const REFUSED: u16 = 5;
    pub const BADVERS: u16 = 16;
}

/// Smallest UDP payload every DNS client accepts (RFC 1035 §4.2.1).
pub const MIN_UDP: u16 = 512;

/// How the query arrived, which bounds the response size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Datagram: the response must fit the client's advertised payload size, capped by ours.
    Udp,
    /// Stream: up to 65,535 bytes.
    Tcp,
}

/// Settings of the engine that come from the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest UDP response we send, whatever the client advertises (RFC 9715 suggests 1232 to
    /// avoid IP fragmentation). Also the payload size we advertise in our OPT record.
    pub udp_payload: u16,
    /// Use the EDNS Client Subnet option to locate clients (and echo it). When off, the option is
    /// ignored and clients are located by the packet's source address.
    pub ecs: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            udp_payload: 1232,
            ecs: true,
        }
    }
}

/// What happened to one packet, for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// `out` holds a response to send.
    Reply { rcode: u16, truncated: bool },
    /// Send nothing (a response packet, or too short to be DNS).
    Drop,
}

/// The engine's view of the data it answers from.
pub trait Source {
    /// The zones.
    fn zones(&self) -> &ZoneSet;
    /// The GeoIP databases.
    fn geo(&self) -> &Geo;
}

/// No databases: every client is unlocated.
static NO_GEO: Geo = Geo {
    databases: Vec::new(),
};

impl Source for ZoneSet {
    fn zones(&self) -> &ZoneSet {
        self
    }
    fn geo(&self) -> &Geo {
        &NO_GEO
    }
}

/// Answers one query packet. See the module documentation.
pub fn respond(
    src: &impl Source,
    limits: &Limits,
    packet: &[u8],
    client: SocketAddr,
    transport: Transport,
    out: &mut Vec<u8>,
) -> Outcome {
    let q = match query::parse(packet) {
        Ok(q) => q,
        Err(ParseError::Drop) => return Outcome::Drop,
        Err(ParseError::FormErr { question_end, edns }) => {
            return error_reply(packet, question_end, edns, rcode::FORMERR, limits, out);
        }
        Err(ParseError::NotImp) => {
            return error_reply(packet, None, false, rcode::NOTIMP, limits, out);
        }
    };
    if let Some(e) = q.edns
        && e.version > 0
    {
        return error_reply(
            packet,
            Some(12 + q.question.len()),
            true,
            rcode::BADVERS,
            limits,
            out,
        );
    }
    if q.qclass != 1 || matches!(q.qtype, rtype::AXFR | rtype::IXFR) {
        // only class IN is served; zone transfers are not offered
        return error_reply(
            packet,
            Some(12 + q.question.len()),
            q.edns.is_some(),
            rcode::REFUSED,
            limits,
            out,
        );
    }
    // EDNS Client Subnet: a malformed option is FORMERR (RFC 7871 §6), and so are two of them
    let mut subnet = None;
    if limits.ecs
        && let Some(e) = q.edns
    {
        for (code, data) in e.option_iter() {
            if code != ecs::CODE {
                continue;
            }
            match (subnet, ecs::parse(data)) {
                (None, Ok(s)) => subnet = Some(s),
                _ => {
                    return error_reply(
                        packet,
                        Some(12 + q.question.len()),
                        true,
                        rcode::FORMERR,
                        limits,
                        out,
                    );
                }
            }
        }
    }
    // a /0 subnet says "do not use my address": locate by the packet's source, scope 0
    let addr = match subnet {
        Some(s) if s.source_prefix > 0 => s.addr,
        // a dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d: locate them as IPv4
        _ => client.ip().to_canonical(),
    };
    let mut ctx = ClientCtx::new(addr, src.geo());
    answer(src.zones(), limits, &q, subnet, &mut ctx, transport, out)
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

const OPT_LEN: usize = 11;

fn push_opt(out: &mut Vec<u8>, limits: &Limits, ext_rcode: u8, dnssec_ok: bool) {
    let p = limits.udp_payload.to_be_bytes();
    out.extend_from_slice(&[
        0,
        0,
        41,
        p[0],
        p[1],
        ext_rcode,
        0,
        if dnssec_ok { 0x80 } else { 0 },
        0,
        0,
        0,
    ]);
}

#[allow(clippy::too_many_arguments)]
fn answer(
    zones: &ZoneSet,
    limits: &Limits,
    q: &Query<'_>,
    subnet: Option<Ecs<'_>>,
    ctx: &mut ClientCtx<'_>,
    transport: Transport,
    out: &mut Vec<u8>,
) -> Outcome {
    let mut parts = Parts::new();
    let res = resolve(zones, q.qname, q.qname_lc(), q.qtype, ctx, &mut parts);

    let edns = q.edns;
    let mut limit = size_limit(edns.map(|e| e.payload), limits, transport);
    if edns.is_some() {
        limit -= OPT_LEN + subnet.map_or(0, |s| s.echo_len());
    }
    let flags = response_flags(q.header.flags_hi, q.header.flags_lo, res.aa, res.rcode);
    let mut w = Writer::new(out, q.header.id, flags, Some((q.qname, q.question)), limit);
    for section in [Section::Answer, Section::Authority, Section::Additional] {
        for p in parts.iter().filter(|p| p.section == section) {
            let written = w.rrset(
                section,
                p.owner,
                p.data.rtype(),
                p.data.layout(),
                p.data.rdata(),
                p.ttl,
            );
            if !written && p.required {
                // glue that the referral needs did not fit (RFC 9471): the client must retry on TCP
                w.set_truncated();
            }
        }
    }
    let truncated = w.truncated();
    let out = w.finish(u16::from(edns.is_some()));
    if let Some(e) = edns {
        push_opt(out, limits, 0, e.dnssec_ok);
        if let Some(s) = subnet {
            // the scope: how far this answer holds; 0 when no pool decided anything
            let scope = if s.source_prefix == 0 {
                0
            } else {
                ctx.scope.unwrap_or(0)
            };
            let at = out.len();
            s.write_echo(out, scope);
            let rdlen = (out.len() - at) as u16;
            out[at - 2..at].copy_from_slice(&rdlen.to_be_bytes());
        }
    }
    Outcome::Reply {
        rcode: res.rcode,
        truncated,
    }
}

/// Header flags of a response: QR, the query's OPCODE, AA, RD and CD copied, and the RCODE.
fn response_flags(q_hi: u8, q_lo: u8, aa: bool, rcode: u16) -> u16 {
    let hi = 0x80 | (q_hi & 0x78) | if aa { 0x04 } else { 0 } | (q_hi & 0x01);
    let lo = (q_lo & 0x10) | (rcode & 0x0f) as u8;
    u16::from_be_bytes([hi, lo])
}

/// A response carrying only a header, the question (when it could be parsed) and an OPT record
/// (when the query had one): FORMERR, NOTIMP, REFUSED, BADVERS.
fn error_reply(
    packet: &[u8],
    question_end: Option<usize>,
    edns: bool,
    rc: u16,
    limits: &Limits,
    out: &mut Vec<u8>,
) -> Outcome {
    let (q_hi, q_lo) = (packet[2], packet[3]);
    let id = u16::from_be_bytes([packet[0], packet[1]]);
    let flags = response_flags(q_hi & !0x04, q_lo, false, rc);
    let question = question_end.map(|end| {
        let q = &packet[12..end];
        let name_len = end - 12 - 4;
        (&q[..name_len], q)
    });
    let w = Writer::new(out, id, flags, question, usize::MAX);
    let out = w.finish(u16::from(edns));
    if edns {
        push_opt(out, limits, (rc >> 4) as u8, false);
    }
    Outcome::Reply {
        rcode: rc,
        truncated: false,
    }
}

#[cfg(test)]
mod tests;
