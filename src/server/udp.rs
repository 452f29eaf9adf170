//! The UDP transport: receive loops on a shared socket, one engine call per datagram.
//!
//! hickory-server's own UDP loop spawns a task and goes through a channel for every datagram and
//! echoes the client's payload size; this loop answers in place from a reused buffer instead.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use tokio::net::UdpSocket;
use tokio::sync::watch;

use crate::engine::{Outcome, Transport};
use crate::querylog::QueryLog;
use crate::state::State;

/// Answers datagrams on `socket` until `stop` turns true (after the answer in hand is sent) or an
/// unrecoverable socket error, which is returned.
pub async fn serve(
    socket: Arc<UdpSocket>,
    state: Arc<State>,
    log: Option<Arc<QueryLog>>,
    rrl: Option<Arc<super::rrl::Rrl>>,
    mut stop: watch::Receiver<bool>,
) -> io::Result<()> {
    let mut buf = vec![0u8; 65_535];
    let mut out = Vec::with_capacity(4096);
    loop {
        let received = tokio::select! {
            r = socket.recv_from(&mut buf) => r,
            _ = stop.wait_for(|s| *s) => return Ok(()),
        };
        let (n, peer): (usize, SocketAddr) = match received {
            Ok(x) => x,
            Err(e) if super::is_transient(&e) => continue,
            Err(e) => return Err(e),
        };
        let t0 = Instant::now();
        let request = buf.get(..n).unwrap_or_default();
        let snap = state.load();
        // a bug that panics on some packet costs that packet, not the loop
        let send = super::survive(&snap, "a UDP query", || {
            let super::Answered {
                outcome, cookie, ..
            } = super::answer(
                &snap,
                request,
                peer,
                Transport::Udp,
                &mut out,
                Some(t0),
                log.as_deref(),
                None,
            );
            matches!(outcome, Outcome::Reply { .. })
                && super::rate_limit(rrl.as_deref(), &snap, peer, cookie, &mut out)
        })
        .unwrap_or(false);
        drop(snap);
        if send {
            // a failed send (the client's port is gone, a full buffer) loses one answer, never the loop
            if let Err(e) = socket.send_to(&out, peer).await {
                tracing::debug!(%peer, error = %e, "udp send failed");
            }
        }
    }
}
