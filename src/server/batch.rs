//! The UDP fast path (Linux): one socket per worker thread, bound with `SO_REUSEPORT` so the
//! kernel spreads clients over them, each a tight loop of `recvmmsg` → [`crate::engine`] → `sendmmsg`
//! with no task, no channel and no allocation per packet.
//!
//! On a wildcard address (`0.0.0.0`, `::`) every reply goes out from the address the query was
//! sent to: the destination of each datagram is read from its `IP_PKTINFO`/`IPV6_PKTINFO` control
//! message and handed back with the reply, so a host with several addresses (a secondary, an
//! anycast address) never answers from the wrong one.
//!
//! The system calls go through nix's safe wrappers; this module has no `unsafe` of its own.

use std::io::{self, IoSlice, IoSliceMut};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use nix::errno::Errno;
use nix::sys::socket::{
    ControlMessage, ControlMessageOwned, MsgFlags, MultiHeaders, SockaddrIn, SockaddrIn6,
    SockaddrLike, recvmmsg, sendmmsg, setsockopt, sockopt,
};
use socket2::{Domain, Protocol, Socket, Type};

use crate::engine::{AnswerCache, Outcome, Transport};
use crate::querylog::QueryLog;
use crate::state::State;

/// Datagrams taken and answered per system call.
const BATCH: usize = 32;
/// Largest query read whole; a longer datagram is not a query we answer.
const MAX_QUERY: usize = 4096;

/// Opens one worker's socket on `addr`: `SO_REUSEPORT` (every worker binds the same address),
/// IPv6 sockets IPv6-only (so `0.0.0.0:53` and `[::]:53` can both be listened on), destination
/// addresses reported on wildcard binds. No receive timeout: a worker blocks until datagrams come,
/// and shutting the socket down for reading (at stop) wakes it.
pub fn bind(addr: SocketAddr) -> io::Result<std::net::UdpSocket> {
    let domain = if addr.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let s = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_port(true)?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    // a larger receive queue absorbs bursts; the kernel caps it at net.core.rmem_max
    let _ = s.set_recv_buffer_size(4 << 20);
    if addr.ip().is_unspecified() {
        if addr.is_ipv4() {
            setsockopt(&s, sockopt::Ipv4PacketInfo, &true)?;
        } else {
            setsockopt(&s, sockopt::Ipv6RecvPacketInfo, &true)?;
        }
    }
    s.bind(&addr.into())?;
    Ok(s.into())
}

/// Where a query arrived: the local address and interface, from its control message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Local {
    ip: IpAddr,
    ifindex: u32,
}

/// One received datagram.
#[derive(Debug, Clone, Copy)]
struct Received {
    len: usize,
    peer: Option<SocketAddr>,
    local: Option<Local>,
    truncated: bool,
}

const NOTHING: Received = Received {
    len: 0,
    peer: None,
    local: None,
    truncated: false,
};

fn local_of(cmsg: ControlMessageOwned) -> Option<Local> {
    match cmsg {
        ControlMessageOwned::Ipv4PacketInfo(i) => Some(Local {
            ip: IpAddr::V4(Ipv4Addr::from(u32::from_be(i.ipi_addr.s_addr))),
            ifindex: u32::try_from(i.ipi_ifindex).unwrap_or(0),
        }),
        ControlMessageOwned::Ipv6PacketInfo(i) => Some(Local {
            ip: IpAddr::V6(Ipv6Addr::from(i.ipi6_addr.s6_addr)),
            ifindex: i.ipi6_ifindex,
        }),
        _ => None,
    }
}

/// The reply's source address as a control message: the address the query was sent to (and for
/// IPv6 its interface, which a link-local address needs).
enum Pktinfo {
    V4(libc::in_pktinfo),
    V6(libc::in6_pktinfo),
}

impl Pktinfo {
    fn of(local: Local) -> Pktinfo {
        match local.ip {
            IpAddr::V4(a) => Pktinfo::V4(libc::in_pktinfo {
                ipi_ifindex: 0,
                ipi_spec_dst: libc::in_addr {
                    s_addr: u32::from(a).to_be(),
                },
                ipi_addr: libc::in_addr { s_addr: 0 },
            }),
            IpAddr::V6(a) => Pktinfo::V6(libc::in6_pktinfo {
                ipi6_addr: libc::in6_addr {
                    s6_addr: a.octets(),
                },
                ipi6_ifindex: local.ifindex,
            }),
        }
    }

    fn message(&self) -> ControlMessage<'_> {
        match self {
            Pktinfo::V4(i) => ControlMessage::Ipv4PacketInfo(i),
            Pktinfo::V6(i) => ControlMessage::Ipv6PacketInfo(i),
        }
    }
}

/// What a worker answers with and reports to.
pub struct Worker {
    pub socket: std::net::UdpSocket,
    pub state: Arc<State>,
    pub log: Option<Arc<QueryLog>>,
    /// Response rate limiting, shared by every worker.
    pub rrl: Option<Arc<super::rrl::Rrl>>,
    pub stop: Arc<AtomicBool>,
    /// Pin this worker's thread to this CPU.
    pub cpu: Option<usize>,
}

impl Worker {
    /// Answers datagrams until `stop` is set (after the batch in hand is sent) or an
    /// unrecoverable socket error, which is returned. Runs on a thread of its own.
    pub fn run(self) -> io::Result<()> {
        if let Some(cpu) = self.cpu {
            pin(cpu);
        }
        // a socket has one family: its headers hold addresses of that size, not 128-byte
        // storage copied in and out for every datagram
        match self.socket.local_addr()? {
            SocketAddr::V4(_) => self.serve::<SockaddrIn>(),
            SocketAddr::V6(_) => self.serve::<SockaddrIn6>(),
        }
    }

    fn serve<S: Family>(self) -> io::Result<()> {
        let fd = self.socket.as_raw_fd();
        let local = self.socket.local_addr()?;
        let wildcard = local.ip().is_unspecified();
        let mut bufs: Box<[[u8; MAX_QUERY]; BATCH]> = vec![[0u8; MAX_QUERY]; BATCH]
            .into_boxed_slice()
            .try_into()
            .map_err(|_| io::Error::other("batch buffers"))?;
        let mut outs: Vec<Vec<u8>> = (0..BATCH).map(|_| Vec::with_capacity(4096)).collect();
        let space = || {
            if local.is_ipv4() {
                nix::cmsg_space!(libc::in_pktinfo)
            } else {
                nix::cmsg_space!(libc::in6_pktinfo)
            }
        };
        // control data comes only on a wildcard bind (the address each query was sent to)
        let mut rx: MultiHeaders<S> = MultiHeaders::preallocate(BATCH, wildcard.then(space));
        // the kernel reads as much control data as the header says: a header for replies with
        // a source address (exactly one control message of this socket's family) and one for
        // replies without
        let mut tx = Senders {
            plain: MultiHeaders::preallocate(BATCH, None),
            from: MultiHeaders::preallocate(BATCH, Some(space())),
        };
        // this worker's answers from static data (see engine::AnswerCache)
        let mut cache = AnswerCache::new();
        let mut got = [NOTHING; BATCH];
        let mut peers: [Option<S>; BATCH] = [None; BATCH];
        let mut replies = [false; BATCH];
        // whether the last batch had a pool answer: only then are the next batch's clients
        // located ahead (a batch of static answers never needs their locations)
        let mut pools = true;
        while !self.stop.load(Ordering::Relaxed) {
            // wait for one datagram, then take whatever else has queued, up to BATCH
            let n = {
                let mut iovs = bufs.each_mut().map(|b| [IoSliceMut::new(b)]);
                match recvmmsg(fd, &mut rx, iovs.iter_mut(), MsgFlags::MSG_WAITFORONE, None) {
                    Ok(results) => {
                        let mut n = 0;
                        for ((slot, raw), r) in got.iter_mut().zip(peers.iter_mut()).zip(results) {
                            *raw = r.address;
                            *slot = Received {
                                len: r.bytes,
                                peer: r.address.map(Family::to_std),
                                local: if wildcard {
                                    r.cmsgs().ok().and_then(|mut c| c.find_map(local_of))
                                } else {
                                    None
                                },
                                truncated: r.flags.contains(MsgFlags::MSG_TRUNC),
                            };
                            n += 1;
                        }
                        n
                    }
                    Err(Errno::EAGAIN | Errno::EINTR) => continue,
                    Err(e) if super::is_transient(&io::Error::from(e)) => continue,
                    Err(e) => return Err(e.into()),
                }
            };
            let t0 = Instant::now();
            let snap = self.state.load();
            if n > 1 && pools {
                prefetch_locations(&snap, &got[..n], &bufs[..]);
            }
            let mut answered = 0;
            pools = false;
            // a bug that panics on some packet costs that batch, not the worker
            let survived = super::survive(&snap, "a batch of UDP queries", || {
                for i in 0..n {
                    let (Some(r), Some(buf), Some(out), Some(reply)) =
                        (got.get(i), bufs.get(i), outs.get_mut(i), replies.get_mut(i))
                    else {
                        break;
                    };
                    *reply = false;
                    let Some(peer) = r.peer else { continue };
                    if r.truncated {
                        // longer than any query we answer: not DNS we serve
                        continue;
                    }
                    let request = buf.get(..r.len).unwrap_or_default();
                    let a = super::answer(
                        &snap,
                        request,
                        peer,
                        Transport::Udp,
                        out,
                        None,
                        self.log.as_deref(),
                        Some(&mut cache),
                    );
                    pools |= a.pool;
                    if matches!(a.outcome, Outcome::Reply { .. }) {
                        answered += 1;
                        *reply = super::rate_limit(self.rrl.as_deref(), &snap, peer, a.cookie, out);
                    }
                }
            });
            if survived.is_none() {
                replies.iter_mut().for_each(|r| *r = false);
            }
            // every answer of the batch leaves with the batch: one clock read times them all
            if let Some(m) = &snap.metrics {
                let nanos = u64::try_from(t0.elapsed().as_nanos()).unwrap_or(u64::MAX);
                m.latency(Transport::Udp as usize, nanos, answered);
            }
            drop(snap);
            send_all(
                fd,
                &mut tx,
                &got[..n],
                &peers[..n],
                &outs,
                &replies[..n],
                wildcard,
            );
        }
        Ok(())
    }
}

/// The socket address of one family, as nix's message headers hold it.
trait Family: SockaddrLike + Copy {
    fn to_std(self) -> SocketAddr;
}

impl Family for SockaddrIn {
    #[inline]
    fn to_std(self) -> SocketAddr {
        SocketAddr::V4(self.into())
    }
}

impl Family for SockaddrIn6 {
    #[inline]
    fn to_std(self) -> SocketAddr {
        SocketAddr::V6(self.into())
    }
}

/// Starts the GeoIP lookup of every client of a batch (the ECS subnet, or the source address)
/// before any is answered: each lookup is a couple of likely cache misses in megabytes of
/// networks, and started together they overlap instead of waiting one after the other. A hint
/// only: a query that needs no location (a static answer) just costs the ECS scan.
fn prefetch_locations(snap: &crate::state::Snapshot, got: &[Received], bufs: &[[u8; MAX_QUERY]]) {
    let geo = &snap.geo;
    let mut clients = [None; BATCH];
    for ((slot, r), buf) in clients.iter_mut().zip(got).zip(bufs) {
        let request = buf.get(..r.len).unwrap_or_default();
        *slot = crate::wire::query::ecs_hint(request).or(r.peer.map(|p| p.ip().to_canonical()));
        if let Some(a) = *slot {
            geo.prefetch_index(a);
        }
    }
    for &a in clients.iter().flatten() {
        geo.prefetch_networks(a);
    }
}

/// Preallocated `sendmmsg` headers.
struct Senders<S> {
    plain: MultiHeaders<S>,
    from: MultiHeaders<S>,
}

/// Sends every reply of the batch: one `sendmmsg` per local address (the source address control
/// message is shared by the messages of one call), which on most hosts is one call in all.
fn send_all<S: Family>(
    fd: i32,
    tx: &mut Senders<S>,
    got: &[Received],
    peers: &[Option<S>],
    outs: &[Vec<u8>],
    replies: &[bool],
    wildcard: bool,
) {
    let mut done = [false; BATCH];
    for first in 0..got.len() {
        if done.get(first).copied().unwrap_or(true) || !replies.get(first).copied().unwrap_or(false)
        {
            continue;
        }
        let local = if wildcard {
            got.get(first).and_then(|r| r.local)
        } else {
            None
        };
        let mut iovs = [[IoSlice::new(&[])]; BATCH];
        let mut addrs: [Option<S>; BATCH] = [None; BATCH];
        let mut k = 0;
        for i in first..got.len() {
            let same = got.get(i).map(|r| if wildcard { r.local } else { None }) == Some(local);
            if !same
                || !replies.get(i).copied().unwrap_or(false)
                || done.get(i).copied().unwrap_or(true)
            {
                continue;
            }
            let (Some(peer), Some(out)) = (peers.get(i), outs.get(i)) else {
                continue;
            };
            if let (Some(slot), Some(addr)) = (iovs.get_mut(k), addrs.get_mut(k)) {
                *slot = [IoSlice::new(out)];
                *addr = *peer;
                k += 1;
            }
            if let Some(d) = done.get_mut(i) {
                *d = true;
            }
        }
        let info = local.map(Pktinfo::of);
        match &info {
            Some(p) => send_group(fd, &mut tx.from, &iovs[..k], &addrs[..k], &[p.message()]),
            None => send_group(fd, &mut tx.plain, &iovs[..k], &addrs[..k], &[]),
        }
    }
}

/// `sendmmsg` until every message of the group is handed to the kernel (it may take fewer than
/// asked); a failed send loses those answers, never the loop.
fn send_group<S: Family>(
    fd: i32,
    tx: &mut MultiHeaders<S>,
    iovs: &[[IoSlice<'_>; 1]],
    addrs: &[Option<S>],
    cmsg: &[ControlMessage<'_>],
) {
    let mut from = 0;
    while from < iovs.len() {
        let (Some(i), Some(a)) = (iovs.get(from..), addrs.get(from..)) else {
            return;
        };
        match sendmmsg(fd, tx, i, a, cmsg, MsgFlags::empty()) {
            Ok(r) => {
                let sent = r.count();
                if sent == 0 {
                    return;
                }
                from += sent;
            }
            Err(Errno::EINTR) => {}
            Err(e) => {
                // the first message failed (the client's port is gone, a full buffer): skip it
                tracing::debug!(error = %e, "udp send failed");
                from += 1;
            }
        }
    }
}

/// The CPUs this process may run on, in order: its affinity mask when it started (`taskset`,
/// systemd's `CPUAffinity=`, a cpuset). Worker `i` is pinned to the `i`-th of them: pinning by CPU
/// number would move workers onto CPUs the operator kept for something else (with `taskset -c 1`,
/// every worker landed on CPU 0).
pub fn allowed_cpus() -> Vec<usize> {
    match nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)) {
        Ok(set) => (0..nix::sched::CpuSet::count())
            .filter(|&c| set.is_set(c).unwrap_or(false))
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the CPU affinity: UDP workers are not pinned");
            Vec::new()
        }
    }
}

/// Pins the calling thread to `cpu` (best effort: a CPU outside the process's set is logged).
fn pin(cpu: usize) {
    let mut set = nix::sched::CpuSet::new();
    let r = set
        .set(cpu)
        .and_then(|()| nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set));
    if let Err(e) = r {
        tracing::warn!(cpu, error = %e, "cannot pin a UDP worker");
    }
}
