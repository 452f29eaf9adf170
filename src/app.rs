//! Wiring for the subcommands: load everything, bind sockets, run until a signal or a fatal
//! listener error.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinSet;

use crate::config::{Config, TransportKind};
use crate::engine::Limits;
use crate::error::{LoadError, Problem};
use crate::health::Registry;
use crate::reload::{Reloader, watch};
use crate::server::{tcp, udp};
use crate::state::{Snapshot, State};

/// Why `serve` stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{0}")]
    Load(#[from] LoadError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot open the query log {}: {source}", path.display())]
    QueryLog {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("the {what} listener on {addr} failed: {source}")]
    Listener {
        what: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// Loads what `serve` would serve (used by `check` and `explain` too): the zones with their pools
/// and the GeoIP databases. Every problem is reported.
pub fn load(
    config: &Config,
    warnings: &mut Vec<Problem>,
) -> Result<crate::reload::Loaded, LoadError> {
    crate::reload::load(config, warnings, None)
}

/// The engine limits a config asks for.
pub fn limits(config: &Config) -> Limits {
    Limits {
        udp_payload: config.udp_payload,
        ecs: config.ecs,
    }
}

/// The UDP side of one listen address.
enum Udp {
    /// One socket shared by tokio tasks (the portable loop, and hickory's).
    Tokio(UdpSocket),
    /// One `SO_REUSEPORT` socket per worker thread.
    #[cfg(target_os = "linux")]
    Batch(Vec<std::net::UdpSocket>),
}

impl Udp {
    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        match self {
            Udp::Tokio(s) => s.local_addr(),
            #[cfg(target_os = "linux")]
            Udp::Batch(socks) => socks
                .first()
                .ok_or_else(|| std::io::Error::other("no UDP socket"))?
                .local_addr(),
        }
    }

    /// Binds the UDP side of `addr`: one shared socket, or (batched) one per worker, the first
    /// choosing the port when `addr`'s is 0 and the others taking the same one.
    fn bind(addr: SocketAddr, batched: bool, workers: usize) -> std::io::Result<Udp> {
        #[cfg(target_os = "linux")]
        if batched {
            let first = crate::server::batch::bind(addr)?;
            let local = first.local_addr()?;
            let mut socks = vec![first];
            for _ in 1..workers {
                socks.push(crate::server::batch::bind(local)?);
            }
            return Ok(Udp::Batch(socks));
        }
        let _ = (batched, workers);
        let s = std::net::UdpSocket::bind(addr)?;
        s.set_nonblocking(true)?;
        Ok(Udp::Tokio(UdpSocket::from_std(s)?))
    }
}

/// Binds the UDP socket(s) and the TCP listener of one listen address on the same port. With
/// port 0, UDP picks the port and TCP takes the same one, so one printed port serves both.
async fn bind_listener(
    addr: SocketAddr,
    batched: bool,
    workers: usize,
) -> Result<(SocketAddr, Udp, TcpListener), ServeError> {
    let bind_err = |source| ServeError::Bind { addr, source };
    for _ in 0..20 {
        let udp = Udp::bind(addr, batched, workers).map_err(bind_err)?;
        let local = udp.local_addr().map_err(bind_err)?;
        match TcpListener::bind(local).await {
            Ok(tcp) => return Ok((local, udp, tcp)),
            // the port is free for UDP but taken for TCP: with port 0, try another
            Err(e) if addr.port() == 0 && e.kind() == std::io::ErrorKind::AddrInUse => continue,
            Err(e) => return Err(bind_err(e)),
        }
    }
    Err(bind_err(std::io::Error::other(
        "no port free for both UDP and TCP",
    )))
}

/// Raises the soft limit on open descriptors to the hard limit: every TCP connection, health
/// probe and admin request holds one, and the usual soft limit of 1024 is far below what a
/// server facing the internet needs (systemd's default hard limit is 524288).
fn raise_nofile() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => tracing::debug!(from = soft, to = hard, "open file limit raised"),
            Err(e) => tracing::warn!(error = %e, "cannot raise the open file limit from {soft}"),
        },
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cannot read the open file limit"),
    }
}

/// Runs the server until SIGINT/SIGTERM (Ok) or a listener dies (Err).
pub async fn serve(config: Config) -> Result<(), ServeError> {
    raise_nofile();
    // SIGHUP's default action ends the process: take it over before anything else
    let hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup());
    let mut warnings = Vec::new();
    let loaded = load(&config, &mut warnings);
    for w in &warnings {
        tracing::warn!("{w}");
    }
    let crate::reload::Loaded {
        zones,
        geo,
        overlay,
    } = loaded?;
    for z in zones.zones() {
        tracing::info!(zone = %z.origin(), serial = z.serial(), names = z.nodes().len(), pools = z.pools().len(), file = %z.file().display(), "zone loaded");
    }
    for db in &geo.databases {
        tracing::info!(file = %db.path.display(), kind = %db.kind, ipv4_networks = db.flat_networks(), "GeoIP database loaded");
    }
    if geo.databases.is_empty() && zones.zones().iter().any(|z| !z.pools().is_empty()) {
        tracing::warn!(
            "pools are configured but no GeoIP database is loaded: every client follows network rules or the default route"
        );
    }
    let mut checks = Registry::default();
    let health = checks.sync(&zones, &tokio::runtime::Handle::current());
    if !checks.is_empty() {
        tracing::info!("{} health checks running", checks.len());
    }
    let metrics = config.metrics.then(crate::metrics::Metrics::new);
    let query_log = match &config.query_log {
        None => None,
        Some(q) => {
            let common = metrics
                .as_ref()
                .map_or_else(Default::default, |m| m.common_arc());
            match crate::querylog::QueryLog::start(q, common) {
                Ok(l) => {
                    tracing::info!(file = %q.path.display(), sample = q.sample, max_per_second = q.max_per_second, "query log on");
                    Some(l)
                }
                Err(source) => {
                    return Err(ServeError::QueryLog {
                        path: q.path.clone(),
                        source,
                    });
                }
            }
        }
    };
    let handles = metrics.as_ref().map(|m| m.handles(&zones));
    let state = State::start(Snapshot {
        zones,
        geo: geo.clone(),
        limits: limits(&config),
        overlay,
        health,
        identity: crate::state::Identity::new(&config.identity, &config.version_txt, config.nsid),
        generation: 0,
        metrics: handles,
        cookies: config.cookies.secrets(),
        ecs_trusted: config.ecs_trusted.as_deref().map(Arc::from),
    });
    // the loader's temporary allocations are freed, but held by the allocator among the live
    // ones: give them back before serving (a large zone: hundreds of megabytes)
    crate::sys::release_free_memory();
    let (reloader, reload) =
        Reloader::new(config.clone(), state.clone(), geo, checks, metrics.clone());
    tokio::spawn(reloader.run());
    match hup {
        Ok(hup) => {
            tokio::spawn(watch::on_sighup(hup, reload.clone()));
        }
        Err(e) => tracing::warn!(error = %e, "cannot install a SIGHUP handler"),
    }
    tokio::spawn(watch::periodic(config.check_interval, reload.clone()));
    // kept alive for as long as the server runs
    let _watcher = if config.watch {
        match watch::start(&config, reload.clone()) {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch the configuration's directories: edits are picked up by SIGHUP, POST /reload and the periodic check only");
                None
            }
        }
    } else {
        None
    };
    // /readyz: 200 once every socket is bound and the health checks have run a first round
    let ready = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let admin = match config.http {
        Some(addr) => {
            let l = TcpListener::bind(addr)
                .await
                .map_err(|source| ServeError::Bind { addr, source })?;
            let local = l
                .local_addr()
                .map_err(|source| ServeError::Bind { addr, source })?;
            tracing::info!(
                "http endpoint on {local} (status page http://{local}/; /metrics /livez /readyz /status /explain, POST /reload)"
            );
            if !local.ip().to_canonical().is_loopback() {
                tracing::warn!(
                    "the http endpoint listens on {local}, not a loopback address: /status and /explain tell anyone who reaches it how traffic is steered (POST /reload stays loopback-only)"
                );
            }
            let ctx = crate::admin::Context::new(
                state.clone(),
                reload.clone(),
                ready.clone(),
                metrics.clone(),
            );
            Some(tokio::spawn(async move {
                crate::admin::serve(l, ctx)
                    .await
                    .map_err(|source| ServeError::Listener {
                        what: "HTTP",
                        addr: local,
                        source,
                    })
            }))
        }
        None => None,
    };
    if let Some(h) = admin {
        // the admin endpoint dying is as fatal as a DNS listener dying
        tokio::spawn(async move {
            if let Ok(Err(e)) = h.await {
                tracing::error!("{e}");
                std::process::exit(1);
            }
        });
    }
    if config.transport == TransportKind::Hickory {
        return serve_hickory(&config, state, query_log, &ready).await;
    }
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let gate = tcp::Gate::new(tcp_limits(&config));
    let mut tasks: JoinSet<Result<(), ServeError>> = JoinSet::new();
    // bind every socket first: readiness (and the "listening" log lines tests and people wait
    // for) comes only when all of them are
    let workers = config.udp_workers.max(1);
    let batched = config.udp_batch;
    let mut bound = Vec::new();
    for &addr in &config.listen {
        bound.push(bind_listener(addr, batched, workers).await?);
    }
    announce_ready(&state, &ready);
    // the batched workers are threads: they look at this flag between batches
    let halt = Arc::new(std::sync::atomic::AtomicBool::new(false));
    #[cfg(target_os = "linux")]
    let mut wakers: Vec<std::net::UdpSocket> = Vec::new();
    // pinning places worker i on the i-th CPU the process may run on, never outside the set the
    // operator gave it (taskset, systemd's CPUAffinity=, a cpuset)
    #[cfg(target_os = "linux")]
    let cpus = crate::server::batch::allowed_cpus();
    let rrl = (config.rrl.responses_per_second > 0)
        .then(|| Arc::new(crate::server::rrl::Rrl::new(config.rrl.clone())));
    let mut next_cpu = 0;
    for (local, udp, tcp_listener) in bound {
        tracing::info!(udp = %local, tcp = %local, workers, batched, "listening on {local}");
        let listener_err = move |what, source| ServeError::Listener {
            what,
            addr: local,
            source,
        };
        match udp {
            Udp::Tokio(sock) => {
                let sock = Arc::new(sock);
                for _ in 0..workers {
                    let (s, st, stop) = (sock.clone(), state.clone(), stop.clone());
                    let log = query_log.clone();
                    let rrl = rrl.clone();
                    tasks.spawn(async move {
                        udp::serve(s, st, log, rrl, stop)
                            .await
                            .map_err(|e| listener_err("UDP", e))
                    });
                }
            }
            #[cfg(target_os = "linux")]
            Udp::Batch(socks) => {
                for socket in socks {
                    // a worker blocks in recvmmsg with no timeout (a timer armed and disarmed
                    // on every wake-up is a cost per batch): shutdown wakes it
                    match socket.try_clone() {
                        Ok(w) => wakers.push(w),
                        Err(e) => return Err(listener_err("UDP", e)),
                    }
                    let worker = crate::server::batch::Worker {
                        socket,
                        state: state.clone(),
                        log: query_log.clone(),
                        rrl: rrl.clone(),
                        stop: halt.clone(),
                        cpu: config
                            .pin_workers
                            .then(|| cpus.get(next_cpu % cpus.len().max(1)).copied())
                            .flatten(),
                    };
                    next_cpu += 1;
                    tasks.spawn_blocking(move || worker.run().map_err(|e| listener_err("UDP", e)));
                }
            }
        }
        let (st, gate, stop) = (state.clone(), gate.clone(), stop.clone());
        let log = query_log.clone();
        tasks.spawn(async move {
            tcp::serve(tcp_listener, st, gate, log, stop)
                .await
                .map_err(|e| listener_err("TCP", e))
        });
    }
    tokio::select! {
        r = tasks.join_next() => match r {
            Some(Ok(Err(e))) => Err(e),
            Some(Err(join)) => Err(ServeError::Listener {
                what: "a",
                addr: config.listen[0],
                source: std::io::Error::other(join.to_string()),
            }),
            _ => Ok(()),
        },
        _ = shutdown_signal() => {
            crate::systemd::notify_or_log("STOPPING=1");
            tracing::info!("shutting down: answering the queries in flight");
            let _ = stop_tx.send(true);
            halt.store(true, std::sync::atomic::Ordering::Relaxed);
            #[cfg(target_os = "linux")]
            for w in &wakers {
                // on an unbound peer Linux says ENOTCONN, and wakes the receiver all the same
                let _ = socket2::SockRef::from(w).shutdown(std::net::Shutdown::Read);
            }
            while tasks.join_next().await.is_some() {}
            // every TCP connection gives its slot back once its query in hand is answered
            let all = u32::try_from(config.tcp_max_connections).unwrap_or(u32::MAX);
            let drained = tokio::time::timeout(DRAIN, gate.slots().acquire_many(all)).await;
            if drained.is_err() {
                tracing::warn!("some TCP connections were still busy after {DRAIN:?}");
            }
            tracing::info!("stopped");
            Ok(())
        }
    }
}

/// Every socket is bound and the first snapshot installed: tells systemd (`READY=1`), and makes
/// `/readyz` say ready once the health checks have also run a first round.
fn announce_ready(state: &Arc<State>, ready: &Arc<std::sync::atomic::AtomicBool>) {
    crate::systemd::notify_or_log("READY=1");
    if state.load().health.all_probed() {
        // nothing to wait for: ready now, before anyone is told the sockets listen
        ready.store(true, std::sync::atomic::Ordering::Relaxed);
        return;
    }
    let (st, rd) = (state.clone(), ready.clone());
    tokio::spawn(async move {
        // a check that never answers still ends its first probe by its timeout; the deadline is
        // for a checker that cannot start at all
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
        while !st.load().health.all_probed() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        rd.store(true, std::sync::atomic::Ordering::Relaxed);
        tracing::info!("ready");
    });
}

/// The TCP limits of `config`.
fn tcp_limits(config: &Config) -> tcp::TcpLimits {
    tcp::TcpLimits {
        idle_timeout: config.tcp_idle_timeout,
        max_connections: config.tcp_max_connections,
        per_client: config.tcp_max_connections_per_client,
    }
}

/// How long shutdown waits for TCP connections in the middle of a query.
const DRAIN: std::time::Duration = std::time::Duration::from_secs(2);

/// `serve` with hickory-server owning the sockets (see `server::handler`).
async fn serve_hickory(
    config: &Config,
    state: Arc<State>,
    query_log: Option<Arc<crate::querylog::QueryLog>>,
    ready: &Arc<std::sync::atomic::AtomicBool>,
) -> Result<(), ServeError> {
    let handler = Arc::new(crate::server::handler::EngineHandler::new(
        state.clone(),
        query_log.clone(),
    ));
    let mut server = hickory_server::Server::new(crate::server::handler::EngineHandler::new(
        state.clone(),
        query_log,
    ));
    let gate = tcp::Gate::new(tcp_limits(config));
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    let mut tcp_tasks: JoinSet<(SocketAddr, std::io::Result<()>)> = JoinSet::new();
    let mut bound = Vec::new();
    for &addr in &config.listen {
        let (local, udp, tcp_listener) = bind_listener(addr, false, 1).await?;
        // bound unbatched: hickory-server's own loop reads the one shared socket
        #[allow(irrefutable_let_patterns)]
        let Udp::Tokio(udp_sock) = udp else {
            return Err(ServeError::Bind {
                addr,
                source: std::io::Error::other("hickory needs a shared UDP socket"),
            });
        };
        server.register_socket(udp_sock);
        // TCP: hickory's connection machinery behind our accept loop and its limits
        let (h, g, s, idle) = (
            handler.clone(),
            gate.clone(),
            stop.clone(),
            config.tcp_idle_timeout,
        );
        tcp_tasks.spawn(async move {
            (
                addr,
                crate::server::hickory_tcp::serve(tcp_listener, h, g, idle, s).await,
            )
        });
        bound.push(local);
    }
    announce_ready(&state, ready);
    for local in bound {
        tracing::info!(udp = %local, tcp = %local, transport = "hickory", "listening on {local}");
    }
    // hickory-server 0.26's UDP loop has no rate limiting, and its TCP connections no write
    // deadline: say so where an operator looks
    tracing::warn!(
        "transport = \"hickory\": hickory-server's loops have no response rate limiting, no DNS cookie exemption and no TCP write deadline; use the default transport on a server that faces the internet"
    );
    tokio::select! {
        r = server.block_until_done() => Err(ServeError::Listener {
            what: "hickory-server",
            addr: config.listen[0],
            source: std::io::Error::other(match r {
                Ok(()) => "all listeners stopped".to_string(),
                Err(e) => e.to_string(),
            }),
        }),
        Some(Ok((addr, r))) = tcp_tasks.join_next() => Err(ServeError::Listener {
            what: "TCP",
            addr,
            source: r.err().unwrap_or_else(|| std::io::Error::other("the TCP listener stopped")),
        }),
        _ = shutdown_signal() => {
            tracing::info!("shutting down");
            Ok(())
        }
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(e) => {
            // without a SIGTERM handler the default action (exit) still stops the process
            tracing::warn!(error = %e, "cannot install a SIGTERM handler");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
