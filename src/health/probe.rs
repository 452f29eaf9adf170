//! One probe of one member: a TCP connection, an HTTP GET, a DNS query. Never on a query thread.

use std::net::{IpAddr, SocketAddr};

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpStream, UdpSocket};

use crate::model::{Check, Probe};

/// Most of a response body an HTTP check reads when it looks for a substring.
const MAX_BODY: usize = 64 * 1024;

/// Probes `addr` once (the caller bounds it with the check's timeout). `Err` says why it failed.
pub async fn once(check: &Check, addr: IpAddr) -> Result<(), String> {
    let target = SocketAddr::new(addr, check.port);
    match &check.probe {
        Probe::Tcp => TcpStream::connect(target)
            .await
            .map(drop)
            .map_err(|e| format!("connect {target}: {e}")),
        Probe::Http {
            path,
            host,
            expect,
            body,
        } => http(target, path, host.as_deref(), expect, body.as_deref()).await,
        Probe::Dns { name, qtype } => dns(target, name, *qtype).await,
    }
}

async fn http(
    target: SocketAddr,
    path: &str,
    host: Option<&str>,
    expect: &[u16],
    body: Option<&str>,
) -> Result<(), String> {
    let stream = TcpStream::connect(target)
        .await
        .map_err(|e| format!("connect {target}: {e}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("http {target}: {e}"))?;
    let conn = tokio::spawn(conn);
    let host = host.map_or_else(|| target.to_string(), str::to_string);
    let req = hyper::Request::get(path)
        .header(hyper::header::HOST, host)
        .header(hyper::header::USER_AGENT, "geosteer-health-check")
        .header(hyper::header::CONNECTION, "close")
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("http request: {e}"))?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| format!("http {target}{path}: {e}"))?;
    let status = resp.status().as_u16();
    let result = if !expect.contains(&status) {
        Err(format!(
            "http {target}{path}: status {status}, expected {expect:?}"
        ))
    } else if let Some(want) = body {
        let mut seen = Vec::new();
        let mut b = resp.into_body();
        while let Some(frame) = b.frame().await {
            let frame = frame.map_err(|e| format!("http {target}{path}: {e}"))?;
            if let Some(d) = frame.data_ref() {
                seen.extend_from_slice(d);
            }
            if seen.len() >= MAX_BODY {
                break;
            }
        }
        if String::from_utf8_lossy(&seen).contains(want) {
            Ok(())
        } else {
            Err(format!(
                "http {target}{path}: the body does not contain {want:?}"
            ))
        }
    } else {
        Ok(())
    };
    conn.abort();
    result
}

async fn dns(target: SocketAddr, name: &[u8], qtype: u16) -> Result<(), String> {
    let local: SocketAddr = if target.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let sock = UdpSocket::bind(local)
        .await
        .map_err(|e| format!("dns {target}: {e}"))?;
    let id = u16::try_from(std::process::id() & 0xffff).unwrap_or(1) ^ 0x5a5a;
    let q = crate::wire::query::build(id, name, qtype, Some(1232), None);
    sock.send_to(&q, target)
        .await
        .map_err(|e| format!("dns {target}: {e}"))?;
    let mut buf = [0u8; 1500];
    loop {
        let (n, from) = sock
            .recv_from(&mut buf)
            .await
            .map_err(|e| format!("dns {target}: {e}"))?;
        let Some(h) = buf.get(..n).and_then(crate::wire::query::Header::read) else {
            continue;
        };
        if from != target || h.id != id || !h.is_response() {
            continue;
        }
        let rcode = h.flags_lo & 0x0f;
        return if rcode == 0 {
            Ok(())
        } else {
            Err(format!("dns {target}: rcode {rcode}"))
        };
    }
}
