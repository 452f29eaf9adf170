//! A health-check target for tests: a real HTTP server on loopback whose answers the test sets.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicUsize, Ordering};
use std::time::Duration;

/// An HTTP server on `ip`: answers every request with the current status; counts connections.
/// With `flap`, the status alternates between 200 and 503 on every request.
pub struct Target {
    pub port: u16,
    pub status: Arc<AtomicU16>,
    pub connections: Arc<AtomicUsize>,
    pub hang: Arc<AtomicBool>,
    pub flap: Arc<AtomicBool>,
}

impl Target {
    pub fn start(ip: &str) -> Target {
        Target::start_on(ip, 0)
    }

    /// [`Target::start`] on a given port (0: any).
    pub fn start_on(ip: &str, port: u16) -> Target {
        let l = if port == 0 {
            listener_free_on_both(ip)
        } else {
            TcpListener::bind((ip, port)).unwrap()
        };
        let port = l.local_addr().unwrap().port();
        let t = Target {
            port,
            status: Arc::new(AtomicU16::new(200)),
            connections: Arc::new(AtomicUsize::new(0)),
            hang: Arc::new(AtomicBool::new(false)),
            flap: Arc::new(AtomicBool::new(false)),
        };
        let (status, conns, hang, flap) = (
            t.status.clone(),
            t.connections.clone(),
            t.hang.clone(),
            t.flap.clone(),
        );
        std::thread::spawn(move || {
            let mut n = 0u64;
            for s in l.incoming() {
                let Ok(mut s) = s else { continue };
                conns.fetch_add(1, Ordering::SeqCst);
                if hang.load(Ordering::SeqCst) {
                    // hold the connection open without answering
                    std::thread::spawn(move || {
                        std::thread::sleep(Duration::from_secs(5));
                        drop(s);
                    });
                    continue;
                }
                n += 1;
                let code = if flap.load(Ordering::SeqCst) {
                    if n.is_multiple_of(2) { 200 } else { 503 }
                } else {
                    status.load(Ordering::SeqCst)
                };
                let mut buf = [0u8; 1024];
                let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
                let _ = s.read(&mut buf);
                let _ = write!(
                    s,
                    "HTTP/1.1 {code} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                );
            }
        });
        t
    }
}

/// A listener on `ip` whose port is also free on 127.0.0.2, where tests start a second target on
/// the same port. Connections of other tests to 127.0.0.2 (health checks of its members) hold
/// ephemeral ports there, so a port picked on 127.0.0.1 alone is sometimes taken.
pub fn listener_free_on_both(ip: &str) -> TcpListener {
    loop {
        let l = TcpListener::bind((ip, 0)).unwrap();
        let p = l.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.2", p)).is_ok() {
            return l;
        }
    }
}
