//! The TCP transport (RFC 7766): length-prefixed messages, several queries per connection answered
//! in order, an idle timeout, and a cap on open connections. When the cap is reached, the
//! connection idle the longest is closed to make room (RFC 7766 §6.2.3), so a full table of idle
//! clients never locks out a new one.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::timeout;

use crate::engine::{Outcome, Transport};
use crate::querylog::QueryLog;
use crate::state::State;

/// How long a started message may take to arrive, and a response to be taken by the client.
const IO_TIMEOUT: Duration = Duration::from_millis(500);

/// The idle timeout while more than three quarters of the connection cap are in use
/// (RFC 7766 §6.2.3: shorten it under pressure).
const PRESSED_IDLE: Duration = Duration::from_millis(500);
/// How often a connection waiting for its next query looks at the pressure.
const IDLE_STEP: Duration = Duration::from_millis(100);

/// Whether the connection cap is nearly used up.
struct Pressure {
    slots: Arc<Semaphore>,
    max: usize,
}

/// What each open connection is doing, one entry per place under the cap: the table the accept
/// loop reads to find the connection idle the longest when the cap is reached. Fixed size, no
/// lock: an entry is an atomic word, and a `Notify` wakes a connection told to close.
pub struct Idle {
    /// `FREE`, `BUSY`, `SHED`, or `IDLE_BASE` + milliseconds since `start` when it went idle.
    state: Box<[AtomicU64]>,
    wake: Box<[Notify]>,
    start: Instant,
}

const FREE: u64 = 0;
const BUSY: u64 = 1;
/// Told to close: the connection closes at once if idle, or after its current answer.
const SHED: u64 = 2;
const IDLE_BASE: u64 = 3;

impl Idle {
    /// A table for `max` connections.
    pub fn new(max: usize) -> Idle {
        Idle {
            state: (0..max).map(|_| AtomicU64::new(FREE)).collect(),
            wake: (0..max).map(|_| Notify::new()).collect(),
            start: Instant::now(),
        }
    }

    /// Takes a free entry for a new connection (one exists for every permit of the cap).
    fn enter(self: &Arc<Self>) -> Option<Place> {
        let i = self.state.iter().position(|s| {
            s.compare_exchange(FREE, BUSY, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        })?;
        Some(Place {
            table: self.clone(),
            i,
        })
    }

    /// Tells the connection idle the longest to close; false when none is idle.
    fn shed_oldest(&self) -> bool {
        loop {
            let oldest = self
                .state
                .iter()
                .enumerate()
                .map(|(i, s)| (i, s.load(Ordering::Acquire)))
                .filter(|&(_, v)| v >= IDLE_BASE)
                .min_by_key(|&(_, v)| v);
            let Some((i, v)) = oldest else {
                return false;
            };
            let Some(s) = self.state.get(i) else {
                return false;
            };
            // it may have become busy meanwhile: then look again
            if s.compare_exchange(v, SHED, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                if let Some(w) = self.wake.get(i) {
                    w.notify_one();
                }
                return true;
            }
        }
    }
}

/// A connection's entry in the [`Idle`] table; freed when dropped.
struct Place {
    table: Arc<Idle>,
    i: usize,
}

impl Place {
    fn cell(&self) -> Option<&AtomicU64> {
        self.table.state.get(self.i)
    }

    /// Marks the connection idle from now; false when it was told to close.
    fn idle(&self) -> bool {
        let ms = u64::try_from(self.table.start.elapsed().as_millis()).unwrap_or(u64::MAX - 4);
        self.cell().is_some_and(|c| {
            c.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                (v != SHED).then_some(IDLE_BASE + ms)
            })
            .is_ok()
        })
    }

    /// Marks the connection busy (a query is arriving); false when it was told to close.
    fn busy(&self) -> bool {
        self.cell().is_some_and(|c| {
            c.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                (v != SHED).then_some(BUSY)
            })
            .is_ok()
        })
    }

    fn shed(&self) -> bool {
        self.cell()
            .is_some_and(|c| c.load(Ordering::Acquire) == SHED)
    }

    async fn told_to_close(&self) {
        if let Some(w) = self.table.wake.get(self.i) {
            w.notified().await;
        }
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        if let Some(c) = self.cell() {
            c.store(FREE, Ordering::Release);
        }
    }
}

impl Pressure {
    fn high(&self) -> bool {
        self.slots.available_permits() * 4 < self.max
    }
}

/// TCP limits.
#[derive(Debug, Clone, Copy)]
pub struct TcpLimits {
    pub idle_timeout: Duration,
    /// The connection cap (the size of `slots`).
    pub max_connections: usize,
    /// Connections one client address may hold at once.
    pub per_client: u32,
}

/// Open connections per client address, in a fixed table of counters indexed by a hash of the
/// address: no lock, no allocation, and memory that no number of clients can grow. Two addresses
/// that share a counter share its limit, which errs on the side of the server.
pub struct PerClient {
    counts: Box<[std::sync::atomic::AtomicU32]>,
}

impl Default for PerClient {
    fn default() -> Self {
        PerClient {
            counts: (0..4096)
                .map(|_| std::sync::atomic::AtomicU32::new(0))
                .collect(),
        }
    }
}

impl PerClient {
    fn counter(&self, ip: std::net::IpAddr) -> Option<&std::sync::atomic::AtomicU32> {
        let ip = ip.to_canonical();
        let h = match ip {
            std::net::IpAddr::V4(a) => crate::net::stable_hash(&[&a.octets()]),
            // an IPv6 client is its /64: the addresses of one host are one client
            std::net::IpAddr::V6(a) => {
                crate::net::stable_hash(&[a.octets().get(..8).unwrap_or(&[])])
            }
        };
        self.counts.get((h % self.counts.len() as u64) as usize)
    }

    /// Takes one of `ip`'s connections, or `None` when it holds `limit` already.
    fn take(self: &Arc<Self>, ip: std::net::IpAddr, limit: u32) -> Option<ClientSlot> {
        use std::sync::atomic::Ordering;
        let c = self.counter(ip)?;
        if c.fetch_add(1, Ordering::Relaxed) >= limit {
            c.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        Some(ClientSlot {
            table: self.clone(),
            ip,
        })
    }
}

/// One connection of a client; given back when dropped.
struct ClientSlot {
    table: Arc<PerClient>,
    ip: std::net::IpAddr,
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        if let Some(c) = self.table.counter(self.ip) {
            c.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// The door every TCP connection comes through, shared by all TCP listeners (ours and the
/// hickory transport's): the connection cap (`slots`), the per-client share, and the [`Idle`]
/// table a full cap sheds from.
pub struct Gate {
    slots: Arc<Semaphore>,
    idle: Arc<Idle>,
    clients: Arc<PerClient>,
    limits: TcpLimits,
}

/// A connection let in: its place under the cap, its permit and its client's share, given back
/// when dropped (in that order: a permit always finds a free place).
pub(crate) struct Admitted {
    place: Place,
    _permit: OwnedSemaphorePermit,
    _client: ClientSlot,
}

impl Admitted {
    /// Waits for `next` (the connection's next message) while marked idle, so a full cap may
    /// shed it; `None` when it was shed meanwhile, and then it must close.
    pub(crate) async fn idle_until<T>(
        &self,
        next: impl std::future::Future<Output = T>,
    ) -> Option<T> {
        if !self.place.idle() {
            return None;
        }
        tokio::pin!(next);
        loop {
            tokio::select! {
                got = &mut next => return self.place.busy().then_some(got),
                _ = self.place.told_to_close() => {
                    if self.place.shed() {
                        return None;
                    }
                }
            }
        }
    }
}

impl Gate {
    /// A gate with `limits`.
    pub fn new(limits: TcpLimits) -> Arc<Gate> {
        Arc::new(Gate {
            slots: Arc::new(Semaphore::new(limits.max_connections)),
            idle: Arc::new(Idle::new(limits.max_connections)),
            clients: Arc::new(PerClient::default()),
            limits,
        })
    }

    /// The connection cap's permits: shutdown drains by taking all of them.
    pub fn slots(&self) -> &Arc<Semaphore> {
        &self.slots
    }

    /// The next connection, or `None` once `stop` turns true. Errors that leave the listener
    /// working are logged and passed over; out of descriptors, it waits a moment first (a tight
    /// retry would spin a core while nothing can be accepted).
    pub(crate) async fn accept(
        &self,
        listener: &TcpListener,
        stop: &watch::Receiver<bool>,
    ) -> io::Result<Option<(TcpStream, SocketAddr)>> {
        loop {
            let mut stopping = stop.clone();
            let accepted = tokio::select! {
                a = listener.accept() => a,
                _ = stopping.wait_for(|s| *s) => return Ok(None),
            };
            match accepted {
                Ok(x) => return Ok(Some(x)),
                Err(e) if super::is_transient(&e) => {
                    tracing::warn!(error = %e, "tcp accept failed, continuing");
                    if matches!(e.raw_os_error(), Some(23 | 24)) {
                        // out of descriptors: give open connections a moment to finish
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The next connection let in ([`Gate::accept`], then [`Gate::admit`]: those refused are
    /// closed), or `None` once `stop` turns true.
    pub(crate) async fn next(
        &self,
        listener: &TcpListener,
        stop: &watch::Receiver<bool>,
    ) -> io::Result<Option<(TcpStream, SocketAddr, Admitted)>> {
        while let Some((stream, peer)) = self.accept(listener, stop).await? {
            if let Some(admitted) = self.admit(peer).await {
                return Ok(Some((stream, peer, admitted)));
            }
        }
        Ok(None)
    }

    /// Lets a connection from `peer` in, or says no: its client holds its share, or the cap is
    /// full and no connection is idle.
    pub(crate) async fn admit(&self, peer: SocketAddr) -> Option<Admitted> {
        let Some(client) = self.clients.take(peer.ip(), self.limits.per_client) else {
            tracing::debug!(%peer, "this client holds its share of TCP connections, closing");
            return None;
        };
        let permit = match self.slots.clone().try_acquire_owned() {
            Ok(p) => p,
            // full: the connection idle the longest makes room (RFC 7766 §6.2.3); it is woken
            // and closes at once, so the wait is short. None idle: every connection is in the
            // middle of a query, and the new one is closed.
            Err(_) if self.idle.shed_oldest() => {
                match timeout(IO_TIMEOUT, self.slots.clone().acquire_owned()).await {
                    Ok(Ok(p)) => p,
                    _ => {
                        tracing::debug!(%peer, "tcp connection limit reached, closing");
                        return None;
                    }
                }
            }
            Err(_) => {
                tracing::debug!(%peer, "tcp connection limit reached and none idle, closing");
                return None;
            }
        };
        let place = self.idle.enter()?;
        Some(Admitted {
            place,
            _permit: permit,
            _client: client,
        })
    }

    /// Whether the connection cap is nearly used up.
    fn pressure(&self) -> Pressure {
        Pressure {
            slots: self.slots.clone(),
            max: self.limits.max_connections,
        }
    }
}

/// Accepts connections until `stop` turns true or an unrecoverable error, which is returned so the
/// process can stop instead of running half-alive. Each connection holds its place at the `gate`
/// while it lives: the caller drains by waiting for all of the gate's slots to come back.
pub async fn serve(
    listener: TcpListener,
    state: Arc<State>,
    gate: Arc<Gate>,
    log: Option<Arc<QueryLog>>,
    stop: watch::Receiver<bool>,
) -> io::Result<()> {
    while let Some((stream, peer, admitted)) = gate.next(&listener, &stop).await? {
        let state = state.clone();
        let stop = stop.clone();
        let log = log.clone();
        let pressure = gate.pressure();
        let idle_timeout = gate.limits.idle_timeout;
        tokio::spawn(async move {
            if let Err(e) = connection(
                stream,
                peer,
                &state,
                log.as_deref(),
                idle_timeout,
                &pressure,
                &admitted.place,
                stop,
            )
            .await
            {
                tracing::debug!(%peer, error = %e, "tcp connection ended");
            }
            drop(admitted);
        });
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    state: &State,
    log: Option<&QueryLog>,
    idle: Duration,
    pressure: &Pressure,
    place: &Place,
    mut stop: watch::Receiver<bool>,
) -> io::Result<()> {
    use tokio::io::AsyncBufReadExt;
    stream.set_nodelay(true)?;
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    let mut buf = vec![0u8; 65_535];
    let mut out = Vec::with_capacity(4096);
    loop {
        // the idle timeout runs from the end of the last answer to the start of the next query,
        // and shrinks while the connection cap is nearly used up; on shutdown a connection
        // between queries closes, one in the middle of a query answers it
        let idle_since = Instant::now();
        if !place.idle() {
            return Ok(());
        }
        loop {
            let limit = if pressure.high() {
                idle.min(PRESSED_IDLE)
            } else {
                idle
            };
            let Some(left) = limit.checked_sub(idle_since.elapsed()) else {
                return Ok(());
            };
            // `fill_buf` only waits for bytes (it is cancel-safe): the length is read after
            // Some(end of stream?) when bytes or the end came; None to look again
            let ready = tokio::select! {
                f = timeout(left.min(IDLE_STEP), r.fill_buf()) => match f {
                    Ok(got) => Some(got.map(|b| b.is_empty())),
                    Err(_) => None,
                },
                _ = stop.wait_for(|s| *s) => return Ok(()),
                _ = place.told_to_close() => None,
            };
            if place.shed() {
                tracing::debug!(%peer, "tcp connection idle the longest, closed to make room");
                return Ok(());
            }
            match ready {
                None => continue,
                Some(Ok(true)) => return Ok(()),
                Some(Ok(false)) if place.busy() => break,
                Some(Ok(false)) => return Ok(()),
                Some(Err(e)) => return Err(e),
            }
        }
        let len = match timeout(IO_TIMEOUT, r.read_u16()).await {
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
        // a bug that panics on some query costs this connection, counted, not silently a task
        let Some(super::Answered { outcome, .. }) = super::survive(&snap, "a TCP query", || {
            super::answer(
                &snap,
                request,
                peer,
                Transport::Tcp,
                &mut out,
                Some(t0),
                log,
                None,
            )
        }) else {
            return Ok(());
        };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_idle_the_longest_is_shed_and_a_busy_one_never() {
        let t = Arc::new(Idle::new(3));
        let a = t.enter().unwrap();
        let b = t.enter().unwrap();
        let c = t.enter().unwrap();
        assert!(t.enter().is_none(), "one entry per place under the cap");
        // nobody idle: nothing to shed
        assert!(!t.shed_oldest());
        assert!(b.idle());
        std::thread::sleep(Duration::from_millis(5));
        assert!(c.idle());
        // b went idle first
        assert!(t.shed_oldest());
        assert!(b.shed() && !c.shed() && !a.shed());
        // a shed connection cannot become busy or idle again: it closes
        assert!(!b.busy() && !b.idle());
        // c becomes busy: only busy and shed are left, nothing more to shed
        assert!(c.busy());
        assert!(!t.shed_oldest());
        // a closed connection's entry is free for the next one
        drop(b);
        let d = t.enter().unwrap();
        assert!(!d.shed());
        assert!(d.idle() && d.busy());
    }
}
