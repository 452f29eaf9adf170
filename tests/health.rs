//! Active health checks end to end (issue 8): real targets on loopback (an HTTP server whose
//! status the test sets, one that never answers, a TCP listener counting connections), a real
//! server, real DNS queries.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::time::{Duration, Instant};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

use common::*;

const ZONE: &str = "$TTL 60\n@ SOA ns h 1 7200 3600 1209600 60\n@ NS ns\nns A 192.0.2.53\n";

/// A pool file: pool `web` in datacenters a (127.0.0.1) then b (127.0.0.2), both checked over
/// HTTP on `port`; and the same check for the pools `nd` (on_all_down nodata), `sf` (servfail).
fn pools(port: u16, extra_pool_line: &str) -> String {
    format!(
        r#"version = 1
[datacenters]
a = {{}}
b = {{}}
[checks.web]
type = "http"
port = {port}
path = "/health"
interval = "200ms"
timeout = "150ms"
rise = 2
fall = 2
jitter = "0%"
[pools.web]
names = ["www"]
check = "web"
{extra_pool_line}
members = {{ a = ["127.0.0.1"], b = ["127.0.0.2"] }}
route = {{ default = ["a", "b"] }}
[pools.nd]
names = ["nd"]
check = "web"
on_all_down = "nodata"
members = {{ a = ["127.0.0.1"] }}
[pools.sf]
names = ["sf"]
check = "web"
on_all_down = "servfail"
members = {{ a = ["127.0.0.1"] }}
[pools.fb]
names = ["fb"]
check = "web"
on_all_down = {{ pool = "spare" }}
members = {{ a = ["127.0.0.1"] }}
[pools.spare]
names = ["spare"]
members = {{ b = ["127.0.0.2"] }}
"#
    )
}

struct Setup {
    dir: std::path::PathBuf,
    server: Server,
}

fn setup(tag: &str, port: u16) -> Setup {
    let dir = tempdir(tag);
    let zones = dir.join("zones");
    std::fs::create_dir_all(&zones).unwrap();
    std::fs::write(zones.join("hc.test.zone"), ZONE).unwrap();
    std::fs::write(zones.join("hc.test.pools.toml"), pools(port, "")).unwrap();
    let server = Server::start(&["--zones", zones.to_str().unwrap(), "--http", "127.0.0.1:0"]);
    Setup { dir, server }
}

fn answer(addr: SocketAddr, name: &str) -> String {
    let m = ask(addr, name, RecordType::A);
    match m.metadata.response_code {
        ResponseCode::NoError => m
            .answers
            .first()
            .map_or("NODATA".to_string(), |r| r.data.to_string()),
        rc => rc.to_string(),
    }
}

/// Waits until `name` answers `want`; returns how long that took.
fn until(addr: SocketAddr, name: &str, want: &str, limit: Duration) -> Duration {
    let t = Instant::now();
    loop {
        let got = answer(addr, name);
        if got == want {
            return t.elapsed();
        }
        assert!(t.elapsed() < limit, "{name}: still {got}, want {want}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The bound a transition must meet: `probes` intervals, the timeout and the jitter (0 here),
/// plus 300 ms for a loaded test machine to schedule the probe and the query.
fn bound(probes: u32) -> Duration {
    Duration::from_millis(u64::from(probes) * 200 + 150 + 300)
}

/// Acceptance 1: a member leaves within fall × interval + timeout + jitter, comes back after rise
/// successes; a hanging target is down; all down gives each on_all_down behaviour.
#[test]
fn a_failing_member_leaves_and_comes_back() {
    let a = Target::start("127.0.0.1");
    let b = Target::start_on("127.0.0.2", a.port);
    let s = setup("health-fail", a.port);
    let addr = s.server.addr;
    until(addr, "www.hc.test", "127.0.0.1", bound(2));
    // 503: gone within fall × interval + timeout (+ scheduling)
    a.status.store(503, Ordering::SeqCst);
    let took = until(
        addr,
        "www.hc.test",
        "127.0.0.2",
        bound(2) + Duration::from_millis(200),
    );
    eprintln!("left after {took:?}");
    // the other pools of that member: nodata and servfail
    until(addr, "nd.hc.test", "NODATA", bound(2));
    until(addr, "sf.hc.test", "Server Failure", bound(2));
    until(addr, "fb.hc.test", "127.0.0.2", bound(2));
    let (_, status) = http(s.server.http().unwrap(), "GET", "/status");
    assert!(
        status.contains("\"member\":\"127.0.0.1\",\"up\":false,\"decided_by\":\"check\""),
        "{status}"
    );
    assert!(status.contains("status 503"), "{status}");
    // the live explain says which member is out, since when and why
    let endpoint = s.server.http().unwrap().to_string();
    let (code, out, err) = geosteer(&[
        "explain",
        "--server",
        &endpoint,
        "--client",
        "127.0.0.1",
        "www.hc.test",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("127.0.0.1 (down by check web → 127.0.0.1:"),
        "{out}"
    );
    assert!(out.contains("status 503, expected [200]"), "{out}");
    assert!(out.contains("datacenter: b"), "{out}");
    // 200 again: back after rise successes
    a.status.store(200, Ordering::SeqCst);
    let took = until(
        addr,
        "www.hc.test",
        "127.0.0.1",
        bound(2) + Duration::from_millis(200),
    );
    eprintln!("back after {took:?}");
    // a target that accepts and never answers is down by timeout
    a.hang.store(true, Ordering::SeqCst);
    until(
        addr,
        "www.hc.test",
        "127.0.0.2",
        bound(2) + Duration::from_millis(200),
    );
    a.hang.store(false, Ordering::SeqCst);
    until(
        addr,
        "www.hc.test",
        "127.0.0.1",
        bound(2) + Duration::from_millis(200),
    );
    // both down: the default on_all_down fails open to the first choice
    a.status.store(503, Ordering::SeqCst);
    b.status.store(503, Ordering::SeqCst);
    let t = Instant::now();
    while t.elapsed() < bound(3) {
        assert_eq!(answer(addr, "www.hc.test"), "127.0.0.1", "fail open");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A target that flaps on every probe changes state at most once per rise + fall probes.
#[test]
fn a_flapping_target_is_damped() {
    let a = Target::start("127.0.0.1");
    let _b = Target::start_on("127.0.0.2", a.port);
    let s = setup("health-flap", a.port);
    a.flap.store(true, Ordering::SeqCst);
    let start = a.connections.load(Ordering::SeqCst);
    let t = Instant::now();
    let mut changes = 0;
    let mut last = answer(s.server.addr, "www.hc.test");
    while t.elapsed() < Duration::from_secs(3) {
        let now = answer(s.server.addr, "www.hc.test");
        if now != last {
            changes += 1;
            last = now;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let probes = a.connections.load(Ordering::SeqCst) - start;
    assert!(probes >= 8, "{probes} probes");
    // alternate results never make 2 in a row: the state never changes
    assert!(
        changes <= probes / 4,
        "{changes} changes in {probes} probes"
    );
    assert_eq!(changes, 0);
}

/// Acceptance 2: the same target in three pools of two zones: one probe per interval.
#[test]
fn one_probe_per_target_however_many_pools_name_it() {
    let a = Target::start("127.0.0.1");
    let _b = Target::start_on("127.0.0.2", a.port);
    let dir = tempdir("health-shared");
    let zones = dir.join("zones");
    std::fs::create_dir_all(&zones).unwrap();
    for z in ["one.test", "two.test"] {
        std::fs::write(zones.join(format!("{z}.zone")), ZONE).unwrap();
        std::fs::write(zones.join(format!("{z}.pools.toml")), pools(a.port, "")).unwrap();
    }
    let server = Server::start(&["--zones", zones.to_str().unwrap()]);
    // wait for the first probes, then count over two seconds
    poll(Duration::from_secs(5), "the first probe", || {
        (a.connections.load(Ordering::SeqCst) > 0).then_some(())
    });
    let c0 = a.connections.load(Ordering::SeqCst);
    let t = Instant::now();
    std::thread::sleep(Duration::from_secs(2));
    let n = a.connections.load(Ordering::SeqCst) - c0;
    let intervals = t.elapsed().as_millis() / 200;
    // 6 pools (3 per zone) name 127.0.0.1 with the same check: still one probe per interval
    assert!(
        (n as u128) <= intervals + 1 && (n as u128) + 2 >= intervals,
        "{n} probes in {intervals} intervals"
    );
    drop(server);
}

/// Acceptance 3: editing a pool file without touching the check keeps its state (no flap to
/// up); removing the check stops its probes.
#[test]
fn state_survives_a_reload_and_removed_checks_stop() {
    let a = Target::start("127.0.0.1");
    let _b = Target::start_on("127.0.0.2", a.port);
    let s = setup("health-reload", a.port);
    let addr = s.server.addr;
    a.status.store(503, Ordering::SeqCst);
    until(
        addr,
        "www.hc.test",
        "127.0.0.2",
        bound(2) + Duration::from_millis(500),
    );
    // an edit that leaves the check alone: the member stays down through the reload
    let file = s.dir.join("zones/hc.test.pools.toml");
    std::fs::write(&file, pools(a.port, "ttl = 30")).unwrap();
    let (code, body) = http(s.server.http().unwrap(), "POST", "/reload");
    assert_eq!(code, 200, "{body}");
    for _ in 0..20 {
        assert_eq!(
            answer(addr, "www.hc.test"),
            "127.0.0.2",
            "no flap to up after the reload"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let ttl = ask(addr, "www.hc.test", RecordType::A).answers[0].ttl;
    assert_eq!(
        ttl, 10,
        "the reloaded pool (ttl_degraded min(30, 10)) answers"
    );
    // remove the check from every pool: its probes stop
    let text = pools(a.port, "").replace("check = \"web\"\n", "");
    std::fs::write(&file, text).unwrap();
    let (code, body) = http(s.server.http().unwrap(), "POST", "/reload");
    assert_eq!(code, 200, "{body}");
    std::thread::sleep(Duration::from_millis(300));
    let c0 = a.connections.load(Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(
        a.connections.load(Ordering::SeqCst),
        c0,
        "no probe after the check was removed"
    );
    // unchecked, the member is up again
    assert_eq!(answer(addr, "www.hc.test"), "127.0.0.1");
}

/// An HTTPS target with a certificate for `localhost` from a test CA: answers with the status
/// the test sets. Returns the port, the status switch and the CA certificate (PEM).
fn https_target() -> (u16, Arc<AtomicU16>, String) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();
    let ca_pem = ca.pem();
    let chain = vec![leaf.der().clone()];
    let key = rustls::pki_types::PrivateKeyDer::try_from(leaf_key.serialize_der()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let status = Arc::new(AtomicU16::new(200));
    let l = common::target::listener_free_on_both("127.0.0.1");
    l.set_nonblocking(true).unwrap();
    let port = l.local_addr().unwrap().port();
    let st = status.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let l = tokio::net::TcpListener::from_std(l).unwrap();
            loop {
                let Ok((s, _)) = l.accept().await else {
                    continue;
                };
                let (acceptor, st) = (acceptor.clone(), st.clone());
                tokio::spawn(async move {
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    let Ok(mut tls) = acceptor.accept(s).await else {
                        return;
                    };
                    let mut buf = [0u8; 1024];
                    let _ = tls.read(&mut buf).await;
                    let code = st.load(Ordering::SeqCst);
                    let resp = format!(
                        "HTTP/1.1 {code} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                    );
                    let _ = tls.write_all(resp.as_bytes()).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
    });
    (port, status, ca_pem)
}

/// HTTPS checks verify the certificate for the configured name (SNI) against the check's CA.
#[test]
fn https_checks_verify_the_server() {
    let (port, status, ca) = https_target();
    let _b = Target::start_on("127.0.0.2", port);
    let dir = tempdir("health-https");
    let zones = dir.join("zones");
    std::fs::create_dir_all(&zones).unwrap();
    std::fs::write(zones.join("test-ca.pem"), ca).unwrap();
    std::fs::write(zones.join("hc.test.zone"), ZONE).unwrap();
    let pool = |host: &str| {
        format!(
            r#"version = 1
[datacenters]
a = {{}}
b = {{}}
[checks.tls]
type = "https"
port = {port}
host = "{host}"
ca = "test-ca.pem"
interval = "200ms"
timeout = "150ms"
rise = 2
fall = 2
jitter = "0%"
[pools.web]
names = ["www"]
check = "tls"
members = {{ a = ["127.0.0.1"] }}
[pools.other]
names = ["other"]
members = {{ b = ["127.0.0.2"] }}
"#
        )
    };
    // the certificate is for localhost: a check for another name fails verification
    std::fs::write(zones.join("hc.test.pools.toml"), pool("wrong.example")).unwrap();
    let s = Server::start(&["--zones", zones.to_str().unwrap(), "--http", "127.0.0.1:0"]);
    let addr = s.addr;
    poll(Duration::from_secs(5), "the TLS failure in /status", || {
        let (_, st) = http(s.http().unwrap(), "GET", "/status");
        (st.contains("\"member\":\"127.0.0.1\",\"up\":false") && st.contains("TLS")).then_some(())
    });
    // the right name: up
    std::fs::write(zones.join("hc.test.pools.toml"), pool("localhost")).unwrap();
    let (code, body) = http(s.http().unwrap(), "POST", "/reload");
    assert_eq!(code, 200, "{body}");
    until(addr, "www.hc.test", "127.0.0.1", bound(3));
    poll(Duration::from_secs(5), "up in /status", || {
        let (_, st) = http(s.http().unwrap(), "GET", "/status");
        st.contains("\"member\":\"127.0.0.1\",\"up\":true")
            .then_some(())
    });
    // a 503 over TLS: down (every pool member down: fail open, so look at /status)
    status.store(503, Ordering::SeqCst);
    poll(bound(3) + Duration::from_secs(1), "down in /status", || {
        let (_, st) = http(s.http().unwrap(), "GET", "/status");
        (st.contains("\"member\":\"127.0.0.1\",\"up\":false") && st.contains("status 503"))
            .then_some(())
    });
}

/// A TCP check: a listener that accepts is up; once it is gone, the member is down.
#[test]
fn tcp_checks_follow_a_listener() {
    let l = common::target::listener_free_on_both("127.0.0.1");
    let port = l.local_addr().unwrap().port();
    let stop = Arc::new(AtomicBool::new(false));
    let st = stop.clone();
    l.set_nonblocking(true).unwrap();
    let th = std::thread::spawn(move || {
        while !st.load(Ordering::SeqCst) {
            let _ = l.accept();
            std::thread::sleep(Duration::from_millis(5));
        }
        // the listener is dropped here: connections are refused from now on
    });
    let _b = Target::start_on("127.0.0.2", port);
    let dir = tempdir("health-tcp");
    let zones = dir.join("zones");
    std::fs::create_dir_all(&zones).unwrap();
    std::fs::write(zones.join("hc.test.zone"), ZONE).unwrap();
    std::fs::write(
        zones.join("hc.test.pools.toml"),
        format!(
            "version = 1\n[datacenters]\na = {{}}\nb = {{}}\n[checks.port]\ntype = \"tcp\"\nport = {port}\ninterval = \"200ms\"\ntimeout = \"150ms\"\nrise = 2\nfall = 2\njitter = \"0%\"\n[pools.web]\nnames = [\"www\"]\ncheck = \"port\"\nmembers = {{ a = [\"127.0.0.1\"], b = [\"127.0.0.2\"] }}\nroute = {{ default = [\"a\", \"b\"] }}\n"
        ),
    )
    .unwrap();
    let s = Server::start(&["--zones", zones.to_str().unwrap()]);
    until(s.addr, "www.hc.test", "127.0.0.1", bound(2));
    stop.store(true, Ordering::SeqCst);
    th.join().unwrap();
    until(
        s.addr,
        "www.hc.test",
        "127.0.0.2",
        bound(2) + Duration::from_millis(200),
    );
}

/// /readyz is 503 until the health checks have run a first round (here: a target that never
/// answers, so the first probe ends by its 1 s timeout), then 200; HEAD works like GET.
#[test]
fn ready_only_after_the_first_health_round() {
    let a = Target::start("127.0.0.1");
    a.hang.store(true, Ordering::SeqCst);
    let _b = Target::start_on("127.0.0.2", a.port);
    let dir = tempdir("health-ready");
    let zones = dir.join("zones");
    std::fs::create_dir_all(&zones).unwrap();
    std::fs::write(zones.join("hc.test.zone"), ZONE).unwrap();
    let slow = pools(a.port, "")
        .replace("interval = \"200ms\"", "interval = \"3s\"")
        .replace("timeout = \"150ms\"", "timeout = \"1s\"");
    std::fs::write(zones.join("hc.test.pools.toml"), slow).unwrap();
    let s = Server::start(&["--zones", zones.to_str().unwrap(), "--http", "127.0.0.1:0"]);
    let endpoint = s.http().unwrap();
    let t = Instant::now();
    let (code, body) = http(endpoint, "GET", "/readyz");
    if t.elapsed() < Duration::from_millis(500) {
        assert_eq!(code, 503, "{body}");
    }
    poll(Duration::from_secs(10), "ready", || {
        (http(endpoint, "GET", "/readyz").0 == 200).then_some(())
    });
    let (code, body) = http(endpoint, "HEAD", "/status");
    assert_eq!(code, 200);
    assert!(body.is_empty(), "HEAD has no body: {body}");
    assert_eq!(http(endpoint, "HEAD", "/livez").0, 200);
}
