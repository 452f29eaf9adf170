//! The HTTP admin endpoint (`--http ADDR`): the status page at `/`, `/metrics`, `/livez`,
//! `/readyz`, `/status`, `/explain` and `POST /reload` (accepted from loopback peers only).
//!
//! A deliberately small HTTP/1.1 responder on tokio: one request per connection, no request
//! bodies, bounded in every way a client controls (connections, head size, time to send the head,
//! time to take the response), so a scraper gone wrong or a port scan cannot hold it. It needs no
//! HTTP stack.

mod page;
mod scrape;
mod status;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::metrics::Metrics;
use crate::reload::Handle;
use crate::state::State;

pub use status::status_json;
use status::{json_str, reload_json};

/// Connections served at once; more wait in the kernel's backlog.
const MAX_CONNECTIONS: usize = 64;
/// Largest request head (request line and headers).
const MAX_HEAD: usize = 8192;
/// Time for a client to send its request head, and to take the response.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// A reload of a large zone takes seconds: `POST /reload` waits this long at most.
const RELOAD_TIMEOUT: Duration = Duration::from_secs(300);

/// What the endpoint reports on.
#[derive(Clone)]
pub struct Context {
    pub state: Arc<State>,
    pub reload: Handle,
    /// `/readyz`: every socket bound and the first health round done.
    pub ready: Arc<AtomicBool>,
    /// `None`: metrics are off, `/metrics` says so.
    pub metrics: Option<Arc<Metrics>>,
    /// Recent answer counts, for the status page's shares.
    recent: Arc<page::Recent>,
}

impl Context {
    /// The endpoint's view of a running server.
    pub fn new(
        state: Arc<State>,
        reload: Handle,
        ready: Arc<AtomicBool>,
        metrics: Option<Arc<Metrics>>,
    ) -> Context {
        Context {
            state,
            reload,
            ready,
            metrics,
            recent: Arc::default(),
        }
    }
}

/// Serves the admin endpoint until an unrecoverable accept error.
pub async fn serve(listener: TcpListener, ctx: Context) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    if let Some(m) = &ctx.metrics {
        tokio::spawn(ctx.recent.clone().sample(m.clone()));
    }
    loop {
        // take a slot before accepting: when all are busy, new connections wait in the backlog
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return Ok(());
        };
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) if crate::server::is_transient(&e) => {
                if matches!(e.raw_os_error(), Some(23 | 24)) {
                    // out of descriptors: retrying at once would spin a core
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                continue;
            }
            Err(e) => return Err(e),
        };
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(RELOAD_TIMEOUT, handle(stream, peer, &ctx)).await;
            drop(permit);
        });
    }
}

/// A request, as far as this endpoint reads it.
struct Request {
    method: String,
    path: String,
    query: String,
    /// The `Accept` header, lower case.
    accept: String,
}

/// Reads the request head: `None` when the client sent no complete head within the limits.
async fn read_head(stream: &mut TcpStream) -> Option<Request> {
    let mut buf = vec![0u8; MAX_HEAD];
    let mut n = 0;
    let complete =
        |b: &[u8]| b.windows(4).any(|w| w == b"\r\n\r\n") || b.windows(2).any(|w| w == b"\n\n");
    let read = async {
        while n < buf.len() {
            let r = stream.read(buf.get_mut(n..)?).await.ok()?;
            if r == 0 {
                break;
            }
            n += r;
            if complete(buf.get(..n)?) {
                return Some(());
            }
        }
        None
    };
    tokio::time::timeout(IO_TIMEOUT, read).await.ok()??;
    let head = String::from_utf8_lossy(buf.get(..n)?);
    let mut lines = head.lines();
    let mut words = lines.next()?.split_whitespace();
    let (method, target) = (words.next()?.to_string(), words.next()?);
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let accept = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("accept"))
        .map(|(_, v)| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    Some(Request {
        method,
        path: path.to_string(),
        query: query.to_string(),
        accept,
    })
}

/// `client=IP&ecs=CIDR&name=NAME&type=TYPE[&format=text]` (type defaults to A, ecs is
/// optional; JSON unless `format=text`).
fn explain_question(query: &str) -> Result<(crate::explain::Question, bool), String> {
    let mut client = None;
    let (mut ecs, mut name, mut qtype) = (None, None, "A".to_string());
    let mut as_text = false;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = percent_decode(v);
        match k {
            "client" => client = Some(v),
            "ecs" => ecs = Some(v),
            "name" => name = Some(v),
            "type" => qtype = v,
            "format" => as_text = v == "text",
            other => {
                return Err(format!(
                    "unknown parameter '{other}' (client, ecs, name, type, format)"
                ));
            }
        }
    }
    let client = client.ok_or("client=IP is missing")?;
    let client: std::net::IpAddr = client
        .parse()
        .map_err(|_| format!("'{client}' is not an address"))?;
    let name = name.ok_or("name=NAME is missing")?;
    crate::explain::Question::parse(client, ecs.as_deref(), &name, &qtype).map(|q| (q, as_text))
}

/// `%2F` → `/`, `+` → space.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (c, hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Reloading changes what a server answers: only someone on the machine may ask.
fn reload_allowed(peer: std::net::SocketAddr) -> bool {
    peer.ip().to_canonical().is_loopback()
}

async fn handle(mut stream: TcpStream, peer: SocketAddr, ctx: &Context) -> io::Result<()> {
    let Some(req) = read_head(&mut stream).await else {
        let resp = "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
        let _ = tokio::time::timeout(IO_TIMEOUT, stream.write_all(resp.as_bytes())).await;
        return Ok(());
    };
    // HEAD is GET without the body
    let method = if req.method == "HEAD" {
        "GET"
    } else {
        req.method.as_str()
    };
    let text = "text/plain; charset=utf-8";
    let json = "application/json";
    let (code, ctype, body): (&str, &str, String) = match (method, req.path.as_str()) {
        ("GET", "/") => (
            "200 OK",
            "text/html; charset=utf-8",
            page::render(
                &ctx.state.load(),
                &ctx.reload.status(),
                ctx.metrics.as_deref(),
                &ctx.recent,
            ),
        ),
        ("GET", "/metrics") => match &ctx.metrics {
            Some(m) => {
                let open = req.accept.contains("application/openmetrics-text");
                let (ctype, body) =
                    scrape::render(m, &ctx.state.load_full(), &ctx.reload.status(), open);
                ("200 OK", ctype, body)
            }
            None => (
                "404 Not Found",
                text,
                "metrics are off ([metrics] enabled = false)\n".to_string(),
            ),
        },
        ("GET", "/livez") => ("200 OK", text, "ok\n".to_string()),
        ("GET", "/readyz") if ctx.ready.load(Ordering::Relaxed) => {
            ("200 OK", text, "ready\n".to_string())
        }
        ("GET", "/readyz") => (
            "503 Service Unavailable",
            text,
            "not ready: starting (sockets, first health round)\n".to_string(),
        ),
        ("GET", "/status") => ("200 OK", json, status_json(&ctx.state, &ctx.reload)),
        ("GET", "/explain") => match explain_question(&req.query) {
            Ok((q, false)) => {
                let doc = crate::explain::doc(&ctx.state.load(), &q);
                let mut body = serde_json::to_string_pretty(&doc).unwrap_or_default();
                body.push('\n');
                ("200 OK", json, body)
            }
            Ok((q, true)) => (
                "200 OK",
                text,
                crate::explain::explain(&ctx.state.load(), &q),
            ),
            Err(m) => (
                "400 Bad Request",
                json,
                format!("{{\"error\":{}}}\n", json_str(&m)),
            ),
        },
        ("POST", "/reload") if !reload_allowed(peer) => (
            "403 Forbidden",
            text,
            "reload is accepted from loopback addresses only\n".to_string(),
        ),
        ("POST", "/reload") => {
            let s = ctx.reload.request_and_wait("POST /reload").await;
            let ok = s.last.as_ref().is_some_and(|a| a.ok);
            let body = format!(
                "{{\"generation\":{},\"config_hash\":{},\"reload\":{}}}\n",
                ctx.state.load().generation,
                json_str(&s.config_hash),
                reload_json(&s)
            );
            // 422: the request was fine, the configuration it would load is not
            let code = if ok {
                "200 OK"
            } else {
                "422 Unprocessable Entity"
            };
            (code, json, body)
        }
        ("GET", _) => ("404 Not Found", text, "not found\n".to_string()),
        _ => (
            "405 Method Not Allowed",
            text,
            "method not allowed\n".to_string(),
        ),
    };
    let head = format!(
        "HTTP/1.1 {code}\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\ncache-control: no-store\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let write = async {
        stream.write_all(head.as_bytes()).await?;
        if req.method != "HEAD" {
            stream.write_all(body.as_bytes()).await?;
        }
        stream.shutdown().await
    };
    tokio::time::timeout(IO_TIMEOUT, write)
        .await
        .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reload_only_from_loopback() {
        for ok in [
            "127.0.0.1:5",
            "127.9.9.9:5",
            "[::1]:5",
            "[::ffff:127.0.0.1]:5",
        ] {
            assert!(reload_allowed(ok.parse().unwrap()), "{ok}");
        }
        for no in [
            "192.0.2.1:5",
            "[2001:db8::1]:5",
            "[::ffff:192.0.2.1]:5",
            "0.0.0.0:5",
        ] {
            assert!(!reload_allowed(no.parse().unwrap()), "{no}");
        }
    }
}
