//! Network transports: UDP and TCP listeners that feed packets to [`crate::engine::respond`], and
//! the adapter that lets hickory-server's `RequestHandler` drive the same engine.

#[cfg(target_os = "linux")]
pub mod batch;
pub mod handler;
pub mod hickory_tcp;
pub mod rrl;
pub mod tcp;
pub mod udp;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use crate::engine::{AnswerCache, Outcome, Transport};
use crate::metrics::{Report, Served};
use crate::querylog::QueryLog;
use crate::state::Snapshot;
use crate::wire::cookie;

/// What a query's DNS cookie proved, and the COOKIE option of its reply.
pub(crate) type CookieSeen = Option<(cookie::Verdict, [u8; cookie::REPLY_LEN])>;

/// Applies response rate limiting to a UDP response in `out`: `false` when it is not to be sent;
/// a slipped response is rewritten in place (TC=1, no records; BADCOOKIE with a fresh cookie
/// when the client sent one). A valid server cookie exempts the response when the settings
/// say so. Counted in the metrics.
#[inline]
pub(crate) fn rate_limit(
    rrl: Option<&rrl::Rrl>,
    snap: &Snapshot,
    peer: SocketAddr,
    cookie: CookieSeen,
    out: &mut Vec<u8>,
) -> bool {
    let Some(rrl) = rrl else {
        return true;
    };
    let verdict = rrl.check(peer.ip(), out);
    let counter = |c: &std::sync::atomic::AtomicU64| {
        c.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    };
    if verdict != rrl::Verdict::Send
        && rrl.exempt_cookies()
        && matches!(cookie, Some((cookie::Verdict::Valid, _)))
    {
        // the client proved its address with our cookie: a forged flood cannot do that
        if let Some(m) = &snap.metrics {
            counter(&m.common().rrl_cookie_exempt);
        }
        return true;
    }
    match verdict {
        rrl::Verdict::Send => true,
        rrl::Verdict::Slip => {
            if let Some((_, data)) = cookie {
                // RFC 7873 §5.2.3: a cookie-aware client gets a cookie it can retry with at
                // once, over UDP, instead of a truncated answer that sends it to TCP
                if let Some(m) = &snap.metrics {
                    counter(&m.common().rrl_badcookie);
                }
                return crate::wire::reply::badcookie(out, &data, snap.limits.udp_payload);
            }
            if let Some(m) = &snap.metrics {
                counter(&m.common().rrl_slipped);
            }
            crate::wire::reply::slip(out)
        }
        rrl::Verdict::Drop => {
            if let Some(m) = &snap.metrics {
                counter(&m.common().rrl_dropped);
            }
            false
        }
    }
}

/// What [`answer`] did with a packet.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Answered {
    pub outcome: Outcome,
    /// What the query's cookie proved, for [`rate_limit`].
    pub cookie: CookieSeen,
    /// A pool answered, so the client was located: the batched path starts the next batch's
    /// GeoIP lookups early only while queries need them.
    pub pool: bool,
}

/// Answers one query packet through the engine into `out`, counts it in the snapshot's metrics
/// and hands it to the query log when the log wants it: what every transport does with a packet
/// before it sends (`t0`: when the packet was read; `None` when the caller counts the latency
/// itself, as the batched UDP path does once per batch). A transport that owns an
/// [`AnswerCache`] passes it: repeat questions for static data are answered from it.
#[inline]
#[allow(
    clippy::too_many_arguments,
    reason = "what every transport passes for each packet; a struct for it would be built per packet too"
)]
pub(crate) fn answer(
    snap: &Arc<Snapshot>,
    request: &[u8],
    peer: SocketAddr,
    transport: Transport,
    out: &mut Vec<u8>,
    t0: Option<Instant>,
    log: Option<&QueryLog>,
    cache: Option<&mut AnswerCache>,
) -> Answered {
    #[cfg(debug_assertions)]
    injected_fault(request);
    let mut report = Report::default();
    let outcome = match cache {
        Some(c) => crate::engine::respond_cached(
            &**snap,
            &snap.limits,
            request,
            peer,
            transport,
            out,
            &mut report,
            c,
        ),
        None => crate::engine::respond_reported(
            &**snap,
            &snap.limits,
            request,
            peer,
            transport,
            out,
            &mut report,
        ),
    };
    let response: &[u8] = out;
    let report = &report;
    let (rcode, truncated) = match outcome {
        Outcome::Reply { rcode, truncated } => (Some(rcode), truncated),
        Outcome::Drop => (None, false),
    };
    if let Some(m) = &snap.metrics {
        m.record(
            report,
            &Served {
                transport: transport as usize,
                rcode,
                truncated,
                request_len: request.len(),
                response_len: if rcode.is_some() { response.len() } else { 0 },
                nanos: t0.map(|t| u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX)),
            },
        );
    }
    if let Some(log) = log
        && rcode.is_some()
        && log.wants()
        && !log.log(
            snap.clone(),
            peer,
            transport == Transport::Tcp,
            request,
            response,
            *report,
        )
        && let Some(m) = &snap.metrics
    {
        m.common()
            .query_log_dropped
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    Answered {
        outcome,
        cookie: report.cookie,
        pool: report.pool.is_some(),
    }
}

/// Runs `f` (the answering of `what`), catching a panic: a bug that panics on some packet must
/// cost that packet (or batch), not the worker and with it a share of the server's capacity.
/// A caught panic is logged and counted (`geosteer_worker_panics_total`); `None` then.
pub(crate) fn survive<R>(snap: &Snapshot, what: &str, f: impl FnOnce() -> R) -> Option<R> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => Some(r),
        Err(_) => {
            tracing::error!(
                "a query worker panicked answering {what}; it is dropped and the worker goes on (a bug: please report it)"
            );
            if let Some(m) = &snap.metrics {
                m.common()
                    .worker_panics
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            None
        }
    }
}

/// Debug builds only (never in a release build): a query for the name in
/// `GEOSTEER_FAULT_QNAME` panics inside the answering, so the tests can show that every
/// transport's worker survives a bug.
#[cfg(debug_assertions)]
#[allow(
    clippy::panic,
    reason = "the injected fault is a panic, in debug builds only"
)]
fn injected_fault(request: &[u8]) {
    static NAME: std::sync::LazyLock<Option<Vec<u8>>> = std::sync::LazyLock::new(|| {
        let name = std::env::var("GEOSTEER_FAULT_QNAME").ok()?;
        Some(crate::wire::name::from_dotted(&name))
    });
    if let Some(name) = NAME.as_deref()
        && request.get(12..).is_some_and(|q| q.starts_with(name))
    {
        panic!("injected fault (GEOSTEER_FAULT_QNAME)");
    }
}

/// Errors after which a listening socket keeps working (a peer went away between SYN and
/// accept, or the process ran out of descriptors for a moment).
pub(crate) fn is_transient(e: &io::Error) -> bool {
    use io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionAborted
            | ConnectionReset
            | ConnectionRefused
            | Interrupted
            | WouldBlock
            | TimedOut
    ) || matches!(e.raw_os_error(), Some(23 | 24 | 105 | 12)) // ENFILE, EMFILE, ENOBUFS, ENOMEM
}
