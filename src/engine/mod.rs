//! The query engine: one synchronous function from a query packet to a response packet.
//!
//! `respond` takes the snapshot, the packet, the client address and the transport's limits, and
//! writes the response into a caller-owned buffer. It has no `.await`, takes no lock and does not
//! allocate once the buffer has grown: every transport (the UDP loop, TCP connections, the
//! hickory-server handler, the benchmarks) calls this same function.

mod cache;
mod emit;
mod lookup;

use std::net::SocketAddr;

use crate::geo::Geo;
use crate::health::HealthMap;
use crate::metrics::Report;
use crate::model::ZoneSet;
use crate::model::overrides::Overlay;
use crate::select::{Trace, trace};
use crate::state::Snapshot;
use crate::wire::cookie::{self, Secrets};
use crate::wire::ecs::{self, Ecs};
use crate::wire::query::{self, ParseError, Query};
use crate::wire::{reply, rtype};

pub use crate::state::Limits;
pub use crate::wire::rcode;
pub use cache::AnswerCache;
use emit::{Reply, Written, from_cache, identity_answer, write, write_picks};
pub(crate) use lookup::{ClientCtx, Data, Parts, resolve};

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
    /// The overrides in force.
    fn overlay(&self) -> &Overlay;
    /// The health checks' verdicts (`None`: nothing is checked).
    fn health(&self) -> Option<&HealthMap>;
    /// The TXT RDATA answering a CH query for `lc_name` (`id.server`, `version.bind`, …).
    fn chaos(&self, _lc_name: &[u8]) -> Option<&[u8]> {
        None
    }
    /// The NSID to send when asked (RFC 5001).
    fn nsid(&self) -> Option<&[u8]> {
        None
    }
    /// Whether the ECS option of a query from `client` is believed (RFC 7871 §11).
    fn ecs_trusted(&self, _client: std::net::IpAddr) -> bool {
        true
    }
    /// The secrets of server cookies (RFC 7873); `None`: cookies are not answered.
    fn cookies(&self) -> Option<&Secrets> {
        None
    }
    /// Which installed snapshot this is (0: none): what an [`AnswerCache`] keys answers by.
    fn generation(&self) -> u64 {
        0
    }
}

/// Class CH (RFC 1035 §3.2.4), where servers say who they are.
const CLASS_CH: u16 = 3;

/// No databases: every client is unlocated.
static NO_GEO: Geo = Geo::empty();

/// No overrides.
static NO_OVERLAY: std::sync::LazyLock<Overlay> = std::sync::LazyLock::new(Overlay::default);

impl Source for ZoneSet {
    fn zones(&self) -> &ZoneSet {
        self
    }
    fn geo(&self) -> &Geo {
        &NO_GEO
    }
    fn overlay(&self) -> &Overlay {
        &NO_OVERLAY
    }
    fn health(&self) -> Option<&HealthMap> {
        None
    }
}

impl Source for Snapshot {
    #[inline]
    fn zones(&self) -> &ZoneSet {
        &self.zones
    }
    #[inline]
    fn geo(&self) -> &Geo {
        &self.geo
    }
    #[inline]
    fn overlay(&self) -> &Overlay {
        &self.overlay
    }
    #[inline]
    fn health(&self) -> Option<&HealthMap> {
        Some(&self.health)
    }
    fn chaos(&self, lc_name: &[u8]) -> Option<&[u8]> {
        match lc_name {
            b"\x02id\x06server\x00" | b"\x08hostname\x04bind\x00" => {
                self.identity.id_txt.as_deref()
            }
            b"\x07version\x04bind\x00" | b"\x07version\x06server\x00" => {
                self.identity.version_txt.as_deref()
            }
            _ => None,
        }
    }
    #[inline]
    fn nsid(&self) -> Option<&[u8]> {
        self.identity.nsid.as_deref()
    }
    #[inline]
    fn ecs_trusted(&self, client: std::net::IpAddr) -> bool {
        let client = client.to_canonical();
        self.ecs_trusted
            .as_deref()
            .is_none_or(|nets| nets.iter().any(|n| n.contains(client)))
    }
    #[inline]
    fn cookies(&self) -> Option<&Secrets> {
        self.cookies.as_ref()
    }
    #[inline]
    fn generation(&self) -> u64 {
        self.generation
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
    respond_traced(src, limits, packet, client, transport, out, None)
}

/// [`respond`], describing every decision into `trace` when one is given: this is what `explain`
/// runs, so its account and the server's answer cannot disagree.
pub fn respond_traced(
    src: &impl Source,
    limits: &Limits,
    packet: &[u8],
    client: SocketAddr,
    transport: Transport,
    out: &mut Vec<u8>,
    trace: Option<&mut Trace>,
) -> Outcome {
    let mut report = Report::default();
    respond_full(
        src,
        limits,
        packet,
        client,
        transport,
        out,
        trace,
        &mut report,
        None,
    )
}

/// [`respond`], also telling the metrics what happened: the zone, the query type, the first
/// pool decision, ECS. This is what the transports call.
#[inline]
pub fn respond_reported(
    src: &impl Source,
    limits: &Limits,
    packet: &[u8],
    client: SocketAddr,
    transport: Transport,
    out: &mut Vec<u8>,
    report: &mut Report,
) -> Outcome {
    respond_full(
        src, limits, packet, client, transport, out, None, report, None,
    )
}

/// [`respond_reported`], answering repeat questions for static data from `cache` and keeping
/// new such answers in it (see [`AnswerCache`]): what the batched UDP path calls. The response
/// is byte for byte the one [`respond_reported`] writes.
#[allow(clippy::too_many_arguments)]
#[inline]
pub fn respond_cached(
    src: &impl Source,
    limits: &Limits,
    packet: &[u8],
    client: SocketAddr,
    transport: Transport,
    out: &mut Vec<u8>,
    report: &mut Report,
    cache: &mut AnswerCache,
) -> Outcome {
    respond_full(
        src,
        limits,
        packet,
        client,
        transport,
        out,
        None,
        report,
        Some(cache),
    )
}

#[allow(clippy::too_many_arguments)]
fn respond_full(
    src: &impl Source,
    limits: &Limits,
    packet: &[u8],
    client: SocketAddr,
    transport: Transport,
    out: &mut Vec<u8>,
    mut trace: Option<&mut Trace>,
    report: &mut Report,
    mut cache: Option<&mut AnswerCache>,
) -> Outcome {
    let error = |question_end, edns, rc, cookie, out: &mut Vec<u8>| {
        if reply::error(
            packet,
            question_end,
            edns,
            rc,
            limits.udp_payload,
            cookie,
            out,
        ) {
            Outcome::Reply {
                rcode: rc,
                truncated: false,
            }
        } else {
            Outcome::Drop
        }
    };
    let mut lc = [0u8; 255];
    let q = match query::parse(packet, &mut lc) {
        Ok(q) => q,
        Err(ParseError::Drop) => {
            trace!(trace, "not a query (too short, or a response): dropped");
            return Outcome::Drop;
        }
        Err(ParseError::FormErr { question_end, edns }) => {
            trace!(trace, "malformed query: FORMERR");
            return error(question_end, edns, rcode::FORMERR, None, out);
        }
        Err(ParseError::NotImp) => {
            trace!(trace, "not a standard query (OPCODE): NOTIMP");
            return error(None, false, rcode::NOTIMP, None, out);
        }
    };
    let question_end = Some(12 + q.question.len());
    report.qtype = q.qtype;
    // signed with a key we cannot have (no keys are configured): NOTAUTH/BADKEY, never a plain
    // answer a client would take as verified (RFC 8945 §5.2)
    if let Some(tsig) = &q.tsig {
        trace!(
            trace,
            "TSIG-signed query: no keys are configured, NOTAUTH (BADKEY)"
        );
        return if reply::badkey(
            packet,
            12 + q.question.len(),
            q.edns.is_some(),
            tsig,
            limits.udp_payload,
            out,
        ) {
            Outcome::Reply {
                rcode: rcode::NOTAUTH,
                truncated: false,
            }
        } else {
            error(question_end, q.edns.is_some(), rcode::FORMERR, None, out)
        };
    }
    if let Some(e) = q.edns
        && e.version > 0
    {
        trace!(trace, "EDNS version {}: BADVERS", e.version);
        return error(question_end, true, rcode::BADVERS, None, out);
    }
    // DNS Cookies (RFC 7873 §5.2): the first COOKIE option counts; a malformed one is FORMERR
    let mut cookie_data = [0u8; cookie::REPLY_LEN];
    let mut cookie_verdict = None;
    if let (Some(data), Some(secrets)) = (q.edns.and_then(|e| e.cookie), src.cookies()) {
        let Some(c) = cookie::parse(data) else {
            trace!(trace, "malformed COOKIE option: FORMERR");
            return error(question_end, true, rcode::FORMERR, None, out);
        };
        let v = secrets.check(&c, client.ip(), cookie::unix_now(), &mut cookie_data);
        trace!(trace, "DNS cookie: {}", v.as_str());
        cookie_verdict = Some(v);
    }
    report.cookie = cookie_verdict.map(|v| (v, cookie_data));
    let cookie_out = cookie_verdict.is_some().then_some(&cookie_data);
    let nsid = asked_nsid(&q).then(|| src.nsid()).flatten();
    if q.qclass == CLASS_CH
        && let Some(txt) = src.chaos(q.qname_lc)
        && matches!(q.qtype, rtype::TXT | rtype::ANY)
    {
        trace!(trace, "the server's identity (class CH)");
        let reply = Reply {
            q: &q,
            limits,
            subnet: None,
            nsid,
            cookie: cookie_out,
            transport,
        };
        return identity_answer(&reply, txt, out);
    }
    if q.qclass != 1 || matches!(q.qtype, rtype::AXFR | rtype::IXFR) {
        // only class IN is served; zone transfers are not offered
        trace!(trace, "class {} or a zone transfer: REFUSED", q.qclass);
        return error(
            question_end,
            q.edns.is_some(),
            rcode::REFUSED,
            cookie_out,
            out,
        );
    }
    // EDNS Client Subnet: a malformed option is FORMERR (RFC 7871 §6), and so are two of them
    let mut subnet = None;
    if limits.ecs
        && let Some(e) = q.edns
        && let Some(data) = e.ecs
    {
        if src.ecs_trusted(client.ip()) {
            match ecs::parse(data) {
                Ok(s) if !e.ecs_repeated => subnet = Some(s),
                _ => {
                    trace!(trace, "malformed or repeated ECS option: FORMERR");
                    return error(question_end, true, rcode::FORMERR, cookie_out, out);
                }
            }
        } else {
            trace!(
                trace,
                "client subnet (ECS) from {}, which is not in ecs_trusted: ignored",
                client.ip()
            );
        }
    }
    // a /0 subnet says "do not use my address": locate by the packet's source, scope 0
    let addr = match subnet {
        Some(s) if s.source_prefix > 0 => {
            // an IPv4-mapped IPv6 subnet (::ffff:a.b.c.d/120) is an IPv4 client
            let a = s.addr.to_canonical();
            trace!(
                trace,
                "client subnet (ECS) {}/{}: locating {a}", s.addr, s.source_prefix
            );
            a
        }
        // a dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d: locate them as IPv4
        _ => {
            let a = client.ip().to_canonical();
            trace!(
                trace,
                "no client subnet: locating the resolver's address {a}"
            );
            a
        }
    };
    let reply = Reply {
        q: &q,
        limits,
        subnet,
        nsid,
        cookie: cookie_out,
        transport,
    };
    let generation = src.generation();
    let hit = match (&cache, &trace) {
        (Some(c), None) => c.get(generation, q.qname_lc, q.qtype),
        _ => None,
    };
    match hit {
        Some(cache::Hit::Static(ref hit)) => {
            if let Some(outcome) = from_cache(hit, &reply, out) {
                report.zone = hit.zone.map(|z| z as usize);
                // no pool decided anything: scope 0
                report.ecs = ecs_report(subnet, 0);
                return outcome;
            }
        }
        Some(cache::Hit::Pool { zone, node }) => {
            // the question is this pool's: only its decision is made again
            if let Some(zone) = src.zones().zones().get(zone as usize)
                && let Some(n) = zone.node_at(node)
            {
                let mut ctx = ClientCtx::new(addr, src.geo(), src.overlay(), src.health(), None);
                ctx.report.qtype = q.qtype;
                ctx.report.cookie = report.cookie;
                ctx.report.zone = Some(zone.position());
                if let lookup::PoolAnswer::Records(part, None) =
                    lookup::pool_answer(zone, n, q.qname, q.qtype, &mut ctx)
                {
                    let w = match write_picks(&part, &reply, ctx.scope, out) {
                        Some(w) => w,
                        None => {
                            let mut parts = Parts::new();
                            parts.push(part);
                            let res = lookup::Resolution {
                                rcode: rcode::NOERROR,
                                aa: true,
                            };
                            write(&res, &parts, &reply, ctx.scope, out)
                        }
                    };
                    *report = ctx.report;
                    report.ecs = ecs_report(subnet, w.scope);
                    return w.outcome;
                }
                // NODATA or SERVFAIL now (members went down): the full path says which
            }
        }
        None => {}
    }
    let traced = trace.is_some();
    let mut ctx = ClientCtx::new(addr, src.geo(), src.overlay(), src.health(), trace);
    ctx.report.qtype = q.qtype;
    ctx.report.cookie = report.cookie;
    let a = answer(src.zones(), &reply, &mut ctx, out);
    // an answer no pool took part in holds for every client: keep its records; a pool's own
    // answer to the question: keep whose it is
    if let Some(cache) = cache.as_deref_mut()
        && !traced
        && let Some((zone, node)) = ctx.direct_pool
    {
        cache.put_pool(generation, q.qname_lc, q.qtype, zone, node);
    } else if let Some(cache) = cache
        && !traced
        && a.complete
        && ctx.scope.is_none()
        && let Some(body) = out.get(12 + q.question.len()..a.body_end)
    {
        cache.put(
            generation,
            q.qname_lc,
            q.qtype,
            &cache::Records {
                zone: ctx.report.zone.and_then(|z| u32::try_from(z).ok()),
                counts: a.counts,
                rcode: a.rcode,
                aa: a.aa,
                body,
            },
        );
    }
    *report = ctx.report;
    report.ecs = ecs_report(subnet, a.scope);
    a.outcome
}

/// Whether the query carries an NSID option (RFC 5001: empty, asking for ours).
fn asked_nsid(q: &Query<'_>) -> bool {
    q.edns.is_some_and(|e| e.nsid)
}

/// Resolves the question and writes the response.
fn answer(
    zones: &ZoneSet,
    reply: &Reply<'_>,
    ctx: &mut ClientCtx<'_, '_>,
    out: &mut Vec<u8>,
) -> Written {
    let q = reply.q;
    let mut parts = Parts::new();
    let res = resolve(zones, q.qname, q.qname_lc, q.qtype, ctx, &mut parts);
    let scope = ctx.scope;
    write(&res, &parts, reply, scope, out)
}

/// What the metrics learn of the query's subnet: its family and the scope returned (`None`:
/// no subnet, or one of prefix 0, which asks not to be located).
fn ecs_report(subnet: Option<Ecs<'_>>, scope: u8) -> Option<(bool, u8)> {
    subnet
        .filter(|s| s.source_prefix > 0)
        .map(|s| (s.addr.is_ipv6(), scope))
}

#[cfg(test)]
mod tests;
