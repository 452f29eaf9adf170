//! The HTTP admin endpoint (`--http ADDR`): `/livez`, `/readyz`, `/status` and `POST /reload`
//! (accepted from loopback peers only).
//!
//! A deliberately small HTTP/1.1 responder on tokio (one request per connection, GET only, bodies
//! of a few hundred bytes): it needs no HTTP stack. Later milestones add `/metrics` here.

use std::fmt::Write as _;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::reload::{self, Handle};
use crate::state::State;

/// Serves the admin endpoint until an unrecoverable accept error.
pub async fn serve(
    listener: TcpListener,
    state: Arc<State>,
    reload: Handle,
    ready: Arc<std::sync::atomic::AtomicBool>,
) -> io::Result<()> {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) if crate::server::is_transient(&e) => continue,
            Err(e) => return Err(e),
        };
        let (state, reload, ready) = (state.clone(), reload.clone(), ready.clone());
        tokio::spawn(async move {
            // a reload of a large zone takes seconds: the timeout is the reload's, not a request's
            let _ = tokio::time::timeout(
                Duration::from_secs(300),
                handle(stream, peer, &state, &reload, &ready),
            )
            .await;
        });
    }
}

fn json_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// The reload status as a JSON object.
fn reload_json(s: &reload::Status) -> String {
    let last = match &s.last {
        None => "null".to_string(),
        Some(a) => {
            let problems: Vec<String> = a.problems.iter().map(|p| json_str(p)).collect();
            let restart: Vec<String> = a.needs_restart.iter().map(|k| json_str(k)).collect();
            format!(
                "{{\"finished_unix\":{},\"trigger\":{},\"ok\":{},\"millis\":{},\"changes\":{},\"problems\":[{}],\"needs_restart\":[{}]}}",
                a.finished_unix,
                json_str(&a.trigger),
                a.ok,
                a.millis,
                json_str(&a.changes),
                problems.join(","),
                restart.join(",")
            )
        }
    };
    format!(
        "{{\"reloads\":{},\"reloading\":{},\"installed_unix\":{},\"last\":{last}}}",
        s.reloads,
        s.started > s.finished,
        s.installed_unix
    )
}

/// One member's state for `/status`: what decides it (an override, its health check, or
/// nothing: up) and the check's last probe.
fn member_json(
    snap: &crate::state::Snapshot,
    z: &crate::model::Zone,
    pool: &crate::model::Pool,
    dc: &str,
    m: &crate::model::Member,
) -> String {
    let zone = z.position();
    let (up, _, decider) = crate::health::state(&snap.overlay, Some(&snap.health), zone, m.id);
    let by = match decider {
        crate::health::Decider::Override(o) => {
            format!("override {} {}", o.target, o.state.as_str())
        }
        crate::health::Decider::Feed(f) => format!("feed {}", f.state),
        crate::health::Decider::Check(_) => "check".to_string(),
        crate::health::Decider::Nothing => "no check".to_string(),
    };
    // a drained member is still checked: show its check whatever decides
    let slot = snap.health.slot(zone, m.id);
    let detail = (slot != crate::health::UNCHECKED)
        .then(|| snap.health.table.detail(slot))
        .flatten();
    let check = match detail {
        None => "null".to_string(),
        Some(d) => format!(
            "{{\"target\":{},\"up\":{},\"since\":{},\"reason\":{},\"last_ok\":{},\"last_ms\":{},\"probes\":{}}}",
            json_str(&d.target),
            d.up,
            json_str(&crate::time::format_rfc3339(d.since_unix)),
            json_str(&d.reason),
            d.last_ok.map_or("null".to_string(), |b| b.to_string()),
            d.last_ms,
            d.probes
        ),
    };
    format!(
        "{{\"zone\":{},\"pool\":{},\"datacenter\":{},\"member\":{},\"up\":{up},\"decided_by\":{},\"check\":{check}}}",
        json_str(z.origin()),
        json_str(pool.name()),
        json_str(dc),
        json_str(&m.text),
        json_str(&by)
    )
}

/// The `/status` document: generation, configuration hash, the last reload, every zone served.
pub fn status_json(state: &State, reload: &Handle) -> String {
    let rs = reload.status();
    let snap = state.load();
    let zones: Vec<String> = snap
        .zones
        .zones()
        .iter()
        .map(|z| {
            let pools: Vec<String> = z.pools().iter().map(|p| json_str(&p.name)).collect();
            format!(
                "{{\"zone\":{},\"serial\":{},\"names\":{},\"file\":{},\"pools\":[{}]}}",
                json_str(z.origin()),
                z.serial(),
                z.nodes().len(),
                json_str(&z.file().display().to_string()),
                pools.join(",")
            )
        })
        .collect();
    let overrides: Vec<String> = snap
        .overlay
        .active()
        .iter()
        .map(|a| {
            format!(
                "{{\"target\":{},\"state\":{},\"until\":{},\"reason\":{},\"members\":{},\"file\":{},\"line\":{}}}",
                json_str(&a.rule.target.to_string()),
                json_str(a.rule.state.as_str()),
                a.rule
                    .until
                    .map_or("null".to_string(), |u| json_str(&crate::time::format_rfc3339(u))),
                json_str(&a.rule.reason),
                a.members,
                json_str(&a.rule.file.display().to_string()),
                a.rule.line
            )
        })
        .collect();
    let mut members = Vec::new();
    for z in snap.zones.zones() {
        for pool in z.pools() {
            for pdc in &pool.dcs {
                let dc = z.datacenters().get(pdc.dc).map_or("?", |d| d.name.as_str());
                for m in pdc.v4.iter().chain(&pdc.v6).chain(&pdc.names) {
                    members.push(member_json(&snap, z, pool, dc, m));
                }
            }
        }
    }
    let dbs: Vec<String> = snap
        .geo
        .databases
        .iter()
        .map(|d| {
            format!(
                "{{\"file\":{},\"type\":{},\"build_epoch\":{}}}",
                json_str(&d.path.display().to_string()),
                json_str(&d.kind),
                d.build_epoch()
            )
        })
        .collect();
    format!(
        "{{\"version\":{},\"generation\":{},\"config_hash\":{},\"reload\":{},\"overrides\":[{}],\"members\":[{}],\"zones\":[{}],\"geoip\":[{}]}}\n",
        json_str(env!("CARGO_PKG_VERSION")),
        snap.generation,
        json_str(&rs.config_hash),
        reload_json(&rs),
        overrides.join(","),
        members.join(","),
        zones.join(","),
        dbs.join(",")
    )
}

/// `client=IP&ecs=CIDR&name=NAME&type=TYPE` (type defaults to A, ecs is optional).
fn explain_question(query: &str) -> Result<crate::explain::Question, String> {
    let mut client = None;
    let (mut ecs, mut name, mut qtype) = (None, None, "A".to_string());
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = percent_decode(v);
        match k {
            "client" => client = Some(v),
            "ecs" => ecs = Some(v),
            "name" => name = Some(v),
            "type" => qtype = v,
            other => {
                return Err(format!(
                    "unknown parameter '{other}' (client, ecs, name, type)"
                ));
            }
        }
    }
    let client = client.ok_or("client=IP is missing")?;
    let client: std::net::IpAddr = client
        .parse()
        .map_err(|_| format!("'{client}' is not an address"))?;
    let name = name.ok_or("name=NAME is missing")?;
    crate::explain::Question::parse(client, ecs.as_deref(), &name, &qtype)
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

async fn handle(
    mut stream: TcpStream,
    peer: std::net::SocketAddr,
    state: &State,
    reload: &Handle,
    ready: &std::sync::atomic::AtomicBool,
) -> io::Result<()> {
    let mut buf = [0u8; 2048];
    let mut n = 0;
    // read the request head (we ignore headers and bodies)
    while n < buf.len() {
        let r = stream.read(&mut buf[n..]).await?;
        if r == 0 {
            break;
        }
        n += r;
        if buf[..n].windows(4).any(|w| w == b"\r\n\r\n") || buf[..n].ends_with(b"\n\n") {
            break;
        }
    }
    let head = String::from_utf8_lossy(&buf[..n]);
    let mut words = head.split_whitespace();
    let (asked, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    // HEAD is GET without the body
    let method = if asked == "HEAD" { "GET" } else { asked };
    let (code, ctype, body) = match (method, path) {
        ("GET", "/livez") => ("200 OK", "text/plain", "ok\n".to_string()),
        ("GET", "/readyz") if ready.load(std::sync::atomic::Ordering::Relaxed) => {
            ("200 OK", "text/plain", "ready\n".to_string())
        }
        ("GET", "/readyz") => (
            "503 Service Unavailable",
            "text/plain",
            "not ready: starting (sockets, first health round)\n".to_string(),
        ),
        ("GET", "/status") => ("200 OK", "application/json", status_json(state, reload)),
        ("GET", "/explain") => match explain_question(query) {
            Ok(q) => (
                "200 OK",
                "text/plain; charset=utf-8",
                crate::explain::explain(&state.load(), &q),
            ),
            Err(m) => ("400 Bad Request", "text/plain", format!("{m}\n")),
        },
        ("POST", "/reload") if !reload_allowed(peer) => (
            "403 Forbidden",
            "text/plain",
            "reload is accepted from loopback addresses only\n".to_string(),
        ),
        ("POST", "/reload") => {
            let s = reload.request_and_wait("POST /reload").await;
            let ok = s.last.as_ref().is_some_and(|a| a.ok);
            let body = format!(
                "{{\"generation\":{},\"config_hash\":{},\"reload\":{}}}\n",
                state.load().generation,
                json_str(&s.config_hash),
                reload_json(&s)
            );
            // 422: the request was fine, the configuration it would load is not
            let code = if ok {
                "200 OK"
            } else {
                "422 Unprocessable Entity"
            };
            (code, "application/json", body)
        }
        ("GET", _) => ("404 Not Found", "text/plain", "not found\n".to_string()),
        _ => (
            "405 Method Not Allowed",
            "text/plain",
            "method not allowed\n".to_string(),
        ),
    };
    let resp = format!(
        "HTTP/1.1 {code}\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{}",
        body.len(),
        if asked == "HEAD" { "" } else { body.as_str() }
    );
    stream.write_all(resp.as_bytes()).await?;
    stream.shutdown().await
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
