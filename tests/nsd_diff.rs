//! Differential test: geosteer must answer every query in `tests/diff/queries.txt` as NSD does.
//!
//! NSD's normalised answers are recorded in `tests/diff/nsd.golden`, so this test needs no NSD to
//! run. When NSD is installed it is also started on the same zones and must agree with the golden
//! file (`GEOSTEER_UPDATE_GOLDEN=1` rewrites the file from NSD instead).

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

use hickory_proto::op::Message;
use hickory_proto::rr::RecordType;

use common::*;

struct Q {
    line: String,
    name: String,
    qtype: RecordType,
    tcp: bool,
    edns: Option<u16>,
}

fn queries() -> Vec<Q> {
    let text = std::fs::read_to_string(root().join("tests/diff/queries.txt")).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let mut q = Q {
                line: l.to_string(),
                name: w[0].to_string(),
                // TYPEnnn for the types hickory-proto has no name for
                qtype: RecordType::from_str(w[1]).unwrap_or_else(|_| {
                    RecordType::from(w[1].trim_start_matches("TYPE").parse::<u16>().unwrap())
                }),
                tcp: false,
                edns: Some(1232),
            };
            for opt in &w[2..] {
                match *opt {
                    "tcp" => q.tcp = true,
                    "noedns" => q.edns = None,
                    o if o.starts_with("edns=") => q.edns = Some(o[5..].parse().unwrap()),
                    o => panic!("unknown option {o}"),
                }
            }
            q
        })
        .collect()
}

/// The parts of a response the comparison covers, as stable text: rcode, AA, TC, the answer set,
/// the SOA of negative answers, and the NS and glue of referrals.
fn normalise(m: &Message) -> String {
    let rr = |r: &hickory_proto::rr::Record| r.to_string().to_ascii_lowercase();
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v.join("\n    ")
    };
    let md = &m.metadata;
    let mut s = format!(
        "  rcode={} aa={} tc={}\n",
        md.response_code, md.authoritative as u8, md.truncation as u8
    );
    let an: Vec<String> = m.answers.iter().map(rr).collect();
    if !an.is_empty() {
        s += &format!("  an: {}\n", sorted(an));
    }
    let soa: Vec<String> = m
        .authorities
        .iter()
        .filter(|r| r.record_type() == RecordType::SOA)
        .map(rr)
        .collect();
    if !soa.is_empty() {
        s += &format!("  soa: {}\n", sorted(soa));
    }
    if !md.authoritative {
        let ns: Vec<String> = m
            .authorities
            .iter()
            .filter(|r| r.record_type() == RecordType::NS)
            .map(rr)
            .collect();
        if !ns.is_empty() {
            s += &format!("  referral: {}\n", sorted(ns));
        }
        let glue: Vec<String> = m
            .additionals
            .iter()
            .filter(|r| matches!(r.record_type(), RecordType::A | RecordType::AAAA))
            .map(rr)
            .collect();
        if !glue.is_empty() {
            s += &format!("  glue: {}\n", sorted(glue));
        }
    }
    s
}

fn ask_all(addr: SocketAddr, qs: &[Q]) -> String {
    let mut out = String::new();
    for (i, q) in qs.iter().enumerate() {
        let pkt = query(i as u16, &q.name, q.qtype, q.edns);
        let resp = if q.tcp {
            tcp_raw(addr, &pkt)
        } else {
            udp_raw(addr, &pkt).unwrap_or_else(|| panic!("no answer to {}", q.line))
        };
        let m = parse(&resp);
        if q.edns.is_none() && !q.tcp {
            assert!(
                resp.len() <= 512,
                "{}: {} bytes without EDNS",
                q.line,
                resp.len()
            );
        }
        out += &format!("{}\n{}", q.line, normalise(&m));
    }
    out
}

fn zones_dir() -> std::path::PathBuf {
    let d = tempdir("diff-zones");
    std::fs::copy(
        root().join("zones/example.com.zone"),
        d.join("example.com.zone"),
    )
    .unwrap();
    for e in std::fs::read_dir(root().join("tests/diff/zones")).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, d.join(p.file_name().unwrap())).unwrap();
    }
    d
}

/// A port free for both UDP and TCP on 127.0.0.1 (NSD cannot be asked to pick one).
fn free_port() -> u16 {
    loop {
        let u = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = u.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

struct Nsd(Child);

impl Drop for Nsd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_nsd(zones: &Path) -> (Nsd, SocketAddr) {
    start_nsd_with(zones, "")
}

/// NSD over `zones`, with `server_extra` (indented lines) in its `server:` clause.
fn start_nsd_with(zones: &Path, server_extra: &str) -> (Nsd, SocketAddr) {
    let dir = tempdir("nsd");
    let port = free_port();
    let mut conf = format!(
        "server:\n{server_extra}  ip-address: 127.0.0.1@{port}\n  server-count: 1\n  username: \"\"\n  chroot: \"\"\n  zonesdir: \"{z}\"\n  database: \"\"\n  zonelistfile: \"{d}/zone.list\"\n  xfrdfile: \"{d}/xfrd.state\"\n  xfrdir: \"{d}\"\n  pidfile: \"{d}/nsd.pid\"\n  logfile: \"{d}/nsd.log\"\n  verbosity: 1\n  hide-version: yes\n  rrl-ratelimit: 0\n  ipv4-edns-size: 1232\n  ipv6-edns-size: 1232\nremote-control:\n  control-enable: no\n",
        z = zones.display(),
        d = dir.display()
    );
    for e in std::fs::read_dir(zones).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_stem().unwrap().to_str().unwrap().to_string();
        conf += &format!("zone:\n  name: {name}\n  zonefile: {}\n", p.display());
    }
    let cf = dir.join("nsd.conf");
    std::fs::write(&cf, conf).unwrap();
    let child = Command::new("nsd")
        .args(["-d", "-c", cf.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start nsd");
    let nsd = Nsd(child);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Some(r) = udp_raw(addr, &query(1, "example.com", RecordType::SOA, None))
            && parse(&r).answers.len() == 1
        {
            return (nsd, addr);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "nsd did not answer within 30 s; see {}/nsd.log",
        dir.display()
    );
}

fn diff_report(what: &str, expected: &str, got: &str) -> usize {
    let blocks = |s: &str| -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        for l in s.lines() {
            if l.starts_with("  ") {
                let last = v.last_mut().unwrap();
                last.push('\n');
                last.push_str(l);
            } else {
                v.push(l.to_string());
            }
        }
        v
    };
    let (e, g) = (blocks(expected), blocks(got));
    assert_eq!(e.len(), g.len(), "{what}: different number of queries");
    let mut n = 0;
    for (a, b) in e.iter().zip(&g) {
        if a != b {
            n += 1;
            eprintln!("--- {what}: difference\nexpected (NSD):\n{a}\ngot:\n{b}\n");
        }
    }
    n
}

#[test]
fn geosteer_answers_as_nsd_does() {
    let qs = queries();
    let udp = qs.iter().filter(|q| !q.tcp).count();
    assert!(
        udp >= 60 && qs.len() > udp,
        "the query set must keep 60+ UDP queries and a TCP sample"
    );
    let zones = zones_dir();
    let golden_path = root().join("tests/diff/nsd.golden");

    if have_tool("nsd") {
        let (_nsd, addr) = start_nsd(&zones);
        let nsd_text = ask_all(addr, &qs);
        if std::env::var("GEOSTEER_UPDATE_GOLDEN").is_ok_and(|v| v == "1") {
            std::fs::write(&golden_path, &nsd_text).unwrap();
            eprintln!("rewrote {}", golden_path.display());
        }
        let golden = std::fs::read_to_string(&golden_path).expect("tests/diff/nsd.golden");
        let n = diff_report("live NSD vs golden file", &golden, &nsd_text);
        assert_eq!(
            n, 0,
            "the installed NSD disagrees with tests/diff/nsd.golden"
        );
    }

    let golden = std::fs::read_to_string(&golden_path).expect("tests/diff/nsd.golden");
    let server = Server::with_zones(&zones);
    let ours = ask_all(server.addr, &qs);
    let n = diff_report("geosteer vs NSD", &golden, &ours);
    eprintln!("{} queries ({} over UDP), {} differences", qs.len(), udp, n);
    assert_eq!(n, 0, "geosteer differs from NSD in {n} answers");
}

/// The same comparison with hickory-server owning the sockets and calling the engine through its
/// `RequestHandler` (`[dns] transport = "hickory"`).
#[test]
fn hickory_transport_answers_as_nsd_does() {
    let qs = queries();
    let zones = zones_dir();
    let cfg = zones.parent().unwrap().join(format!(
        "hickory-{}.toml",
        zones.file_name().unwrap().to_str().unwrap()
    ));
    std::fs::write(
        &cfg,
        format!(
            "zones = \"{}\"\n[dns]\ntransport = \"hickory\"\n",
            zones.display()
        ),
    )
    .unwrap();
    let golden = std::fs::read_to_string(root().join("tests/diff/nsd.golden")).unwrap();
    let server = Server::start(&["--config", cfg.to_str().unwrap()]);
    let ours = ask_all(server.addr, &qs);
    let n = diff_report("geosteer (hickory transport) vs NSD", &golden, &ours);
    assert_eq!(
        n, 0,
        "the hickory transport differs from NSD in {n} answers"
    );
}

/// The COOKIE option's data (client and server cookie) in the answer to a query for
/// `example.com SOA` carrying the COOKIE option `cookie`, from `sock`.
fn cookie_from(sock: &UdpSocket, to: SocketAddr, cookie: &[u8]) -> Vec<u8> {
    let q = with_cookie(
        query(0x0c0c, "example.com", RecordType::SOA, Some(1232)),
        cookie,
    );
    let mut buf = [0u8; 4096];
    for _ in 0..3 {
        sock.send_to(&q, to).unwrap();
        if let Ok(n) = sock.recv(&mut buf) {
            let m = parse(&buf[..n]);
            assert_eq!(m.answers.len(), 1, "an answer from {to}");
            return cookie_of(&m).unwrap_or_else(|| panic!("no COOKIE option from {to}"));
        }
    }
    panic!("no answer from {to}");
}

/// Server cookies are RFC 9018's, so geosteer and NSD behind one anycast address, sharing a
/// secret, accept each other's: made in the same second for the same client they are the same
/// bytes, and a cookie NSD made is valid at geosteer.
#[test]
fn server_cookies_interoperate_with_nsd() {
    if !have_tool("nsd") {
        return;
    }
    const SECRET: &str = "e5e973e5a6b2a43f48e7dc849e37bfcf";
    let zones = zones_dir();
    let (_nsd, nsd) = start_nsd_with(
        &zones,
        &format!("  answer-cookie: yes\n  cookie-secret: \"{SECRET}\"\n"),
    );
    let cfg = zones.parent().unwrap().join("cookies.toml");
    std::fs::write(
        &cfg,
        format!(
            "zones = \"{}\"\n[cookies]\nsecret = \"{SECRET}\"\n",
            zones.display()
        ),
    )
    .unwrap();
    let geo = Server::start(&["--config", cfg.to_str().unwrap(), "--http", "127.0.0.1:0"]);
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let client = b"\x24\x64\xc4\xab\xcf\x10\xc9\x57";
    // the two may straddle a second: ask again until both answered within one
    let same = poll(
        Duration::from_secs(10),
        "cookies made in one second",
        || {
            let a = cookie_from(&sock, nsd, client);
            let b = cookie_from(&sock, geo.addr, client);
            (a[8..16] == b[8..16]).then_some((a, b))
        },
    );
    assert_eq!(
        same.0, same.1,
        "NSD and geosteer make the same server cookie"
    );
    assert_eq!(same.0.len(), 24);
    // NSD's cookie, returned to geosteer, is valid there
    let from_nsd = cookie_from(&sock, nsd, client);
    let back = cookie_from(&sock, geo.addr, &from_nsd);
    assert_eq!(back[..8], client[..]);
    let (_, metrics) = http(geo.http().unwrap(), "GET", "/metrics");
    let valid = metric(&metrics, "geosteer_cookies_total{result=\"valid\"}");
    assert_eq!(valid, 1.0, "NSD's cookie was valid at geosteer");
}
