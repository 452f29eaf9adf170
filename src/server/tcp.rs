//! The TCP transport (RFC 7766): length-prefixed messages, several queries per connection answered
//! in order, an idle timeout, and a cap on open connections.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::time::timeout;

use crate::engine::{self, Outcome, Transport};
use crate::metrics::Report;
use crate::querylog::QueryLog;
use crate::state::State;

/// How long a started message may take to arrive, and a response to be taken by the client.
const IO_TIMEOUT: Duration = Duration::from_millis(500);

/// TCP limits.
#[derive(Debug, Clone, Copy)]
pub struct TcpLimits {
    pub idle_timeout: Duration,
}

/// Accepts connections until `stop` turns true or an unrecoverable error, which is returned so the
/// process can stop instead of running half-alive. Each connection holds one of `slots` (the
/// connection cap) while it lives: the caller drains by waiting for all of them to come back.
pub async fn serve(
    listener: TcpListener,
    state: Arc<State>,
    limits: TcpLimits,
    slots: Arc<Semaphore>,
    log: Option<Arc<QueryLog>>,
    stop: watch::Receiver<bool>,
) -> io::Result<()> {
    loop {
        let mut stopping = stop.clone();
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stopping.wait_for(|s| *s) => return Ok(()),
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) if super::is_transient(&e) => {
                tracing::warn!(error = %e, "tcp accept failed, continuing");
                if matches!(e.raw_os_error(), Some(23 | 24)) {
                    // out of descriptors: give open connections a moment to finish
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                continue;
            }
            Err(e) => return Err(e),
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tracing::debug!(%peer, "tcp connection limit reached, closing");
            drop(stream);
            continue;
        };
        let state = state.clone();
        let stop = stop.clone();
        let log = log.clone();
        tokio::spawn(async move {
            if let Err(e) = connection(
                stream,
                peer,
                &state,
                log.as_deref(),
                limits.idle_timeout,
                stop,
            )
            .await
            {
                tracing::debug!(%peer, error = %e, "tcp connection ended");
            }
            drop(permit);
        });
    }
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    state: &State,
    log: Option<&QueryLog>,
    idle: Duration,
    mut stop: watch::Receiver<bool>,
) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    let mut buf = vec![0u8; 65_535];
    let mut out = Vec::with_capacity(4096);
    loop {
        // the idle timeout runs from the end of the last answer to the start of the next query
        // on shutdown a connection between queries closes; one in the middle of a query answers it
        let next = tokio::select! {
            n = timeout(idle, r.read_u16()) => n,
            _ = stop.wait_for(|s| *s) => return Ok(()),
        };
        let len = match next {
            Err(_) => return Ok(()),
            Ok(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Ok(r) => r? as usize,
        };
        // once a message has begun, the rest of it must come promptly: a client that trickles
        // bytes does not hold a slot for the idle timeout of every byte
        match timeout(IO_TIMEOUT, r.read_exact(&mut buf[..len])).await {
            Err(_) => return Ok(()),
            Ok(r) => r?,
        };
        let t0 = Instant::now();
        let request = buf.get(..len).unwrap_or_default();
        let snap = state.load();
        let mut report = Report::default();
        let outcome = engine::respond_reported(
            &**snap,
            &snap.limits,
            request,
            peer,
            Transport::Tcp,
            &mut out,
            &mut report,
        );
        super::observe(
            &snap,
            &report,
            outcome,
            Transport::Tcp,
            peer,
            request,
            &out,
            t0,
            log,
        );
        drop(snap);
        match outcome {
            Outcome::Reply { .. } => {
                let mut msg = Vec::with_capacity(out.len() + 2);
                msg.extend_from_slice(&(out.len() as u16).to_be_bytes());
                msg.extend_from_slice(&out);
                // a client that does not read its answers (pipelining and never reading) would hold
                // its slot forever: the response must be taken within the deadline (Knot: 500 ms)
                match timeout(IO_TIMEOUT, w.write_all(&msg)).await {
                    Ok(r) => r?,
                    Err(_) => {
                        tracing::debug!(%peer, "tcp client does not read its answers: closed");
                        return Ok(());
                    }
                }
            }
            // RFC 7766 §8: nothing to answer (QR=1 or garbage): the stream is not DNS, close it
            Outcome::Drop => return Ok(()),
        }
    }
}
