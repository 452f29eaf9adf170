//! One probe of one member: a TCP connection, an HTTP GET, a DNS query. Never on a query thread.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::{TcpStream, UdpSocket};

use crate::model::{Check, Probe};

/// Most of a response body an HTTP check reads when it looks for a substring.
const MAX_BODY: usize = 64 * 1024;

/// What a checker keeps between probes: the TLS configuration of an `https` check.
pub struct Prober {
    tls: Option<Result<Arc<rustls::ClientConfig>, String>>,
}

impl Prober {
    /// Prepares probing with `check` (builds its TLS client once).
    pub fn new(check: &Check) -> Prober {
        let tls = match &check.probe {
            Probe::Http {
                tls: true, ca_pem, ..
            } => Some(tls_config(ca_pem.as_deref())),
            _ => None,
        };
        Prober { tls }
    }

    /// Probes `addr` once (the caller bounds it with the check's timeout). `Err` says why it
    /// failed.
    pub async fn once(&self, check: &Check, addr: IpAddr) -> Result<(), String> {
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
                tls,
                ..
            } => {
                let stream = TcpStream::connect(target)
                    .await
                    .map_err(|e| format!("connect {target}: {e}"))?;
                let req = Req {
                    target,
                    path,
                    host: host.as_deref(),
                    expect,
                    body: body.as_deref(),
                };
                if !*tls {
                    return http(stream, &req).await;
                }
                let config = match &self.tls {
                    Some(Ok(c)) => c.clone(),
                    Some(Err(e)) => return Err(e.clone()),
                    None => return Err("no TLS configuration".into()),
                };
                let name = match host {
                    Some(h) => ServerName::try_from(h.clone())
                        .map_err(|e| format!("https {target}: '{h}' is not a server name: {e}"))?,
                    None => ServerName::IpAddress(addr.into()),
                };
                let tls = tokio_rustls::TlsConnector::from(config)
                    .connect(name, stream)
                    .await
                    .map_err(|e| format!("https {target}: TLS: {e}"))?;
                http(tls, &req).await
            }
            Probe::Dns { name, qtype } => dns(target, name, *qtype).await,
        }
    }
}

/// A TLS client trusting the Mozilla roots and the check's own CA certificates.
fn tls_config(ca_pem: Option<&[u8]>) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(pem) = ca_pem {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<_, _>>()
            .map_err(|e| format!("the check's CA file: {e}"))?;
        if certs.is_empty() {
            return Err("the check's CA file holds no certificate".into());
        }
        for c in certs {
            roots
                .add(c)
                .map_err(|e| format!("the check's CA file: {e}"))?;
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("TLS: {e}"))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}

/// An HTTP check's request.
struct Req<'a> {
    target: SocketAddr,
    path: &'a str,
    host: Option<&'a str>,
    expect: &'a [u16],
    body: Option<&'a str>,
}

async fn http<S>(io: S, r: &Req<'_>) -> Result<(), String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (target, path) = (r.target, r.path);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| format!("http {target}: {e}"))?;
    let conn = tokio::spawn(conn);
    let host = r.host.map_or_else(|| target.to_string(), str::to_string);
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
    let result = if !r.expect.contains(&status) {
        Err(format!(
            "http {target}{path}: status {status}, expected {:?}",
            r.expect
        ))
    } else if let Some(want) = r.body {
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

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn dns_check(port: u16) -> Check {
        Check {
            name: "ns".into(),
            probe: Probe::Dns {
                name: b"\x07example\x00".to_vec(),
                qtype: 6,
            },
            port,
            interval_ms: 1000,
            timeout_ms: 500,
            rise: 1,
            fall: 1,
            jitter_pct: 0,
            initial_up: true,
        }
    }

    /// A name server that answers every query with `rcode`.
    async fn responder(rcode: u8) -> u16 {
        let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let port = sock.local_addr().unwrap().port();
        tokio::spawn(async move {
            let mut buf = [0u8; 512];
            while let Ok((n, from)) = sock.recv_from(&mut buf).await {
                let mut r = buf[..n].to_vec();
                r[2] |= 0x80;
                r[3] = (r[3] & 0xf0) | rcode;
                let _ = sock.send_to(&r, from).await;
            }
        });
        port
    }

    #[tokio::test]
    async fn a_dns_check_wants_noerror() {
        let ok = responder(0).await;
        let refused = responder(5).await;
        let local = IpAddr::from([127, 0, 0, 1]);
        let p = Prober::new(&dns_check(ok));
        assert_eq!(p.once(&dns_check(ok), local).await, Ok(()));
        let e = p.once(&dns_check(refused), local).await.unwrap_err();
        assert!(e.contains("rcode 5"), "{e}");
    }

    #[tokio::test]
    async fn a_tcp_check_wants_a_connection() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let mut c = dns_check(port);
        c.probe = Probe::Tcp;
        let local = IpAddr::from([127, 0, 0, 1]);
        assert_eq!(Prober::new(&c).once(&c, local).await, Ok(()));
        drop(l);
        assert!(Prober::new(&c).once(&c, local).await.is_err());
    }
}
