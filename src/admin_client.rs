//! A minimal HTTP/1.1 client for the admin endpoint, for `geosteer reload` (and systemd's
//! `ExecReload`): one request, `Connection: close`, the status code and body back. It talks to
//! our own endpoint only, so it needs no HTTP stack.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Sends `POST path` to `addr` (`host:port`) and returns the status code and the body.
pub fn post(addr: &str, path: &str) -> io::Result<(u16, String)> {
    request(addr, "POST", path)
}

/// Sends `GET path` to `addr` and returns the status code and the body.
pub fn get(addr: &str, path: &str) -> io::Result<(u16, String)> {
    request(addr, "GET", path)
}

fn request(addr: &str, method: &str, path: &str) -> io::Result<(u16, String)> {
    let mut s = TcpStream::connect(addr)?;
    // a reload of a very large zone takes a while; the server answers when it is done
    s.set_read_timeout(Some(Duration::from_secs(300)))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut resp = String::new();
    s.read_to_string(&mut resp)?;
    let (head, body) = resp.split_once("\r\n\r\n").unwrap_or((&resp, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| io::Error::other(format!("not an HTTP response: {head}")))?;
    Ok((code, body.to_string()))
}
