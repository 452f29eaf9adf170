//! The opt-in query log: one JSON line per sampled query, written by its own thread.
//!
//! The query path decides in a few nanoseconds whether a query is logged (a per-thread sample
//! counter, then a per-second budget in one atomic), and only a logged query pays: a copy of the
//! request and the response goes into a bounded queue, and a full queue drops the line (counted)
//! rather than wait. The writer thread decodes both packets, names the pool and datacenter from
//! the snapshot the query was answered from, and appends a line to the file, reopening it when a
//! log rotation moved it away.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hickory_proto::op::Message;
use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption};

use crate::metrics::{Common, Report};
use crate::state::Snapshot;

/// Lines waiting for the writer at most; more are dropped.
const QUEUE: usize = 8192;

/// What to log and how much.
pub use crate::config::QueryLog as Settings;

/// One logged query, as it travels to the writer.
struct Entry {
    at: SystemTime,
    client: SocketAddr,
    tcp: bool,
    request: Vec<u8>,
    response: Vec<u8>,
    report: Report,
    snap: Arc<Snapshot>,
}

/// The query path's side of the log.
pub struct QueryLog {
    tx: SyncSender<Entry>,
    sample: u64,
    max_per_second: u32,
    /// Queries seen, for sampling.
    seen: AtomicU64,
    /// (second since start << 32) | lines in that second.
    window: AtomicU64,
    start: Instant,
}

impl std::fmt::Debug for QueryLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryLog")
            .field("sample", &self.sample)
            .finish_non_exhaustive()
    }
}

impl QueryLog {
    /// Opens the log and starts its writer thread. `common` counts written and dropped lines.
    pub fn start(settings: &Settings, common: Arc<Common>) -> io::Result<Arc<QueryLog>> {
        let out = Output::open(&settings.path)?;
        let (tx, rx) = sync_channel(QUEUE);
        std::thread::Builder::new()
            .name("query-log".into())
            .spawn(move || writer(rx, out, &common))?;
        Ok(Arc::new(QueryLog {
            tx,
            sample: settings.sample.max(1),
            max_per_second: settings.max_per_second,
            seen: AtomicU64::new(0),
            window: AtomicU64::new(0),
            start: Instant::now(),
        }))
    }

    /// Whether this query is to be logged: one in `sample`, within the per-second budget.
    #[inline]
    pub fn wants(&self) -> bool {
        // one counter for all threads: exactly one query in `sample` (the cost, a shared atomic,
        // is paid only with the log on; BENCHMARKS.md measures it)
        let n = self.seen.fetch_add(1, Ordering::Relaxed) + 1;
        if !n.is_multiple_of(self.sample) {
            return false;
        }
        let sec = self.start.elapsed().as_secs();
        let mut cur = self.window.load(Ordering::Relaxed);
        loop {
            let (s, count) = (cur >> 32, cur & 0xffff_ffff);
            let next = if s == sec {
                if count >= u64::from(self.max_per_second) {
                    return false;
                }
                cur + 1
            } else {
                (sec << 32) | 1
            };
            match self
                .window
                .compare_exchange_weak(cur, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(now) => cur = now,
            }
        }
    }

    /// Queues a line (call only when [`QueryLog::wants`] said so). Returns false when the queue
    /// was full and the line is lost.
    pub fn log(
        &self,
        snap: Arc<Snapshot>,
        client: SocketAddr,
        tcp: bool,
        request: &[u8],
        response: &[u8],
        report: Report,
    ) -> bool {
        let e = Entry {
            at: SystemTime::now(),
            client,
            tcp,
            request: request.to_vec(),
            response: response.to_vec(),
            report,
            snap,
        };
        match self.tx.try_send(e) {
            Ok(()) => true,
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
        }
    }
}

/// The file (reopened after rotation) or standard output.
enum Output {
    Stdout(io::Stdout),
    File {
        path: PathBuf,
        w: BufWriter<File>,
        inode: u64,
    },
}

fn inode(path: &std::path::Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| m.ino())
}

impl Output {
    fn open(path: &std::path::Path) -> io::Result<Output> {
        if path.as_os_str() == "-" {
            return Ok(Output::Stdout(io::stdout()));
        }
        let f = OpenOptions::new().create(true).append(true).open(path)?;
        let inode = {
            use std::os::unix::fs::MetadataExt;
            f.metadata()?.ino()
        };
        Ok(Output::File {
            path: path.to_path_buf(),
            w: BufWriter::new(f),
            inode,
        })
    }

    fn write_line(&mut self, line: &str) -> io::Result<()> {
        match self {
            Output::Stdout(s) => {
                let mut l = s.lock();
                l.write_all(line.as_bytes())?;
                l.write_all(b"\n")
            }
            Output::File { w, .. } => {
                w.write_all(line.as_bytes())?;
                w.write_all(b"\n")
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Output::Stdout(s) => s.flush(),
            Output::File { w, .. } => w.flush(),
        }
    }

    /// After a rotation moved the file away (a new inode, or none), writes go to a new file.
    fn reopen_if_moved(&mut self) {
        if let Output::File {
            path, inode: ino, ..
        } = self
            && inode(path) != Some(*ino)
        {
            let path = path.clone();
            match Output::open(&path) {
                Ok(o) => {
                    let _ = self.flush();
                    *self = o;
                }
                Err(e) => {
                    tracing::warn!(file = %path.display(), error = %e, "cannot reopen the query log")
                }
            }
        }
    }
}

fn writer(rx: Receiver<Entry>, mut out: Output, common: &Common) {
    let mut last_check = Instant::now();
    let write = |out: &mut Output, e: &Entry| {
        let counter = match out.write_line(&render(e)) {
            Ok(()) => &common.query_log_written,
            Err(err) => {
                tracing::warn!(error = %err, "query log write failed");
                &common.query_log_dropped
            }
        };
        counter.fetch_add(1, Ordering::Relaxed);
    };
    loop {
        match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(e) => {
                // write what has queued up, then flush once: lines appear promptly without a
                // write system call per line
                write(&mut out, &e);
                for e in rx.try_iter().take(QUEUE) {
                    write(&mut out, &e);
                }
                let _ = out.flush();
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                let _ = out.flush();
                return;
            }
        }
        if last_check.elapsed() >= Duration::from_secs(1) {
            last_check = Instant::now();
            out.reopen_if_moved();
        }
    }
}

/// The JSON line for one query.
fn render(e: &Entry) -> String {
    let since = e.at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let time = format!(
        "{}.{:03}Z",
        crate::time::format_rfc3339(i64::try_from(since.as_secs()).unwrap_or(0))
            .trim_end_matches('Z'),
        since.subsec_millis()
    );
    let req = Message::from_vec(&e.request).ok();
    let resp = Message::from_vec(&e.response).ok();
    let question = req.as_ref().and_then(|m| m.queries.first());
    let ecs = req.as_ref().and_then(|m| m.edns.as_ref()).and_then(|edns| {
        match edns.option(EdnsCode::Subnet) {
            Some(EdnsOption::Subnet(s)) => Some(format!("{}/{}", s.addr(), s.source_prefix())),
            _ => None,
        }
    });
    let answers: Vec<String> = resp
        .as_ref()
        .map(|m| {
            m.answers
                .iter()
                .map(|r| format!("{} {}", r.record_type(), r.data))
                .collect()
        })
        .unwrap_or_default();
    let zone = e.report.zone.and_then(|z| e.snap.zones.zones().get(z));
    let pool = e
        .report
        .pool
        .and_then(|p| Some((p, zone?.pools().get(p.pool as usize)?)));
    let dc = pool
        .and_then(|(p, _)| zone?.datacenters().get(p.datacenter?))
        .map(|d| d.name.as_str());
    let line = serde_json::json!({
        "time": time,
        "client": e.client.ip().to_canonical().to_string(),
        "port": e.client.port(),
        "transport": if e.tcp { "tcp" } else { "udp" },
        "ecs": ecs,
        "name": question.map(|q| q.name().to_string()),
        "type": question.map(|q| q.query_type().to_string()),
        "rcode": resp.as_ref().map(|m| m.metadata.response_code.to_string()),
        "zone": zone.map(|z| z.origin()),
        "pool": pool.map(|(_, p)| p.name.as_str()),
        "datacenter": dc,
        "reason": pool.map(|(p, _)| p.reason.name()),
        "answers": answers,
        "generation": e.snap.generation,
    });
    line.to_string()
}
