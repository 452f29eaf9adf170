//! The real server over real sockets: transports, EDNS, truncation, malformed input.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Read;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{RData, RecordType};

use common::*;

fn diff_zones() -> std::path::PathBuf {
    let d = tempdir("server-zones");
    std::fs::copy(
        root().join("zones/example.com.zone"),
        d.join("example.com.zone"),
    )
    .unwrap();
    for z in ["diff.test.zone", "child.diff.test.zone"] {
        std::fs::copy(root().join("tests/diff/zones").join(z), d.join(z)).unwrap();
    }
    d
}

#[test]
fn shipped_example_over_udp_and_tcp() {
    let s = Server::start(&[
        "--zones",
        root().join("zones").to_str().unwrap(),
        "--geoip",
        root().join("geodata/dbip-country.mmdb").to_str().unwrap(),
    ]);
    let m = ask(s.addr, "api.example.com", RecordType::A);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.metadata.authoritative);
    assert_eq!(m.answers.len(), 2);
    assert_eq!(m.answers[0].data, RData::A("192.0.2.10".parse().unwrap()));

    // www is a pool: 127.0.0.1 has no location, so the datacenters' order decides (ams)
    let t = parse(&tcp_raw(
        s.addr,
        &query(7, "www.example.com", RecordType::AAAA, None),
    ));
    assert_eq!(t.metadata.id, 7);
    assert_eq!(
        t.answers[0].data,
        RData::AAAA("2001:db8:a::10".parse().unwrap())
    );
    let m = ask(s.addr, "www.example.com", RecordType::A);
    assert_eq!(m.answers.len(), 2, "max_answers = 2");
    assert!(m.answers.iter().all(|r| r.ttl == 60));

    let nx = ask(s.addr, "nope.example.com", RecordType::A);
    assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(nx.authorities[0].record_type(), RecordType::SOA);
    assert_eq!(
        nx.authorities[0].ttl, 300,
        "negative TTL = min(SOA TTL, minimum)"
    );

    let refused = ask(s.addr, "www.example.org", RecordType::A);
    assert_eq!(refused.metadata.response_code, ResponseCode::Refused);
    assert!(!refused.metadata.authoritative);
}

#[test]
fn question_case_is_echoed() {
    let s = Server::with_zones(&diff_zones());
    let r = udp_raw(s.addr, &query(9, "WwW.DiFf.TeSt", RecordType::A, None)).unwrap();
    assert_eq!(&r[12..12 + 15], &wire_name("WwW.DiFf.TeSt")[..]);
    assert_eq!(parse(&r).answers.len(), 2);
}

/// Acceptance 4: EDNS 4096 for an RRset over 1232 bytes gets at most 1232 bytes with TC=1 over
/// UDP, and the whole RRset over TCP.
#[test]
fn large_rrset_truncates_on_udp_and_is_whole_on_tcp() {
    let s = Server::with_zones(&diff_zones());
    let pkt = query(1, "big.diff.test", RecordType::TXT, Some(4096));
    let r = udp_raw(s.addr, &pkt).unwrap();
    assert!(r.len() <= 1232, "{} bytes", r.len());
    let m = parse(&r);
    assert!(m.metadata.truncation);
    assert!(m.answers.is_empty(), "no partial RRsets");
    assert_eq!(m.edns.as_ref().unwrap().max_payload(), 1232);

    let t = tcp_raw(s.addr, &pkt);
    assert!(t.len() > 1232);
    let m = parse(&t);
    assert!(!m.metadata.truncation);
    assert_eq!(m.answers.len(), 6);

    // without EDNS, 512 bytes is the limit
    let r = udp_raw(s.addr, &query(2, "medium.diff.test", RecordType::TXT, None)).unwrap();
    assert!(r.len() <= 512);
    assert!(parse(&r).metadata.truncation);
}

#[test]
fn edns_rules() {
    let s = Server::with_zones(&diff_zones());
    // OPT in the reply only when the query had one
    let m = parse(&udp_raw(s.addr, &query(1, "www.diff.test", RecordType::A, None)).unwrap());
    assert!(m.edns.is_none());
    let m = parse(
        &udp_raw(
            s.addr,
            &query(1, "www.diff.test", RecordType::A, Some(4096)),
        )
        .unwrap(),
    );
    assert_eq!(m.edns.unwrap().max_payload(), 1232);

    // EDNS version 1: BADVERS (extended rcode 16), with an OPT of version 0
    let mut pkt = query(3, "www.diff.test", RecordType::A, Some(1232));
    let n = pkt.len();
    pkt[n - 5] = 1; // the version byte of the OPT TTL
    let m = parse(&udp_raw(s.addr, &pkt).unwrap());
    assert_eq!(u16::from(m.metadata.response_code), 16, "BADVERS");
    assert_eq!(m.edns.unwrap().version(), 0);
    assert!(m.answers.is_empty());

    // two OPT records: FORMERR
    let mut pkt = query(4, "www.diff.test", RecordType::A, Some(1232));
    let opt = pkt[pkt.len() - 11..].to_vec();
    pkt.extend(opt);
    pkt[11] = 2;
    let r = udp_raw(s.addr, &pkt).unwrap();
    assert_eq!(r[3] & 0x0f, 1, "FORMERR");
    assert_eq!(u16::from_be_bytes([r[0], r[1]]), 4);
}

#[test]
fn no_reply_to_responses_and_garbage_survives() {
    let mut s = Server::with_zones(&diff_zones());
    let mut pkt = query(5, "www.diff.test", RecordType::A, None);
    pkt[2] |= 0x80; // QR=1
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    sock.send_to(&pkt, s.addr).unwrap();
    let mut buf = [0u8; 512];
    assert!(
        sock.recv_from(&mut buf).is_err(),
        "a response must not be answered"
    );

    // a spread of malformed packets: each gets FORMERR/NOTIMP or nothing, never a crash
    let good = query(6, "www.diff.test", RecordType::A, Some(1232));
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut rnd = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for i in 0..400 {
        let mut p = good.clone();
        match i % 4 {
            0 => p.truncate((rnd() as usize) % p.len()),
            1 => {
                for _ in 0..3 {
                    let j = (rnd() as usize) % p.len();
                    p[j] = rnd() as u8;
                }
            }
            2 => p.extend((0..(rnd() % 40)).map(|_| rnd() as u8)),
            _ => p = (0..(rnd() % 100)).map(|_| rnd() as u8).collect(),
        }
        sock.send_to(&p, s.addr).unwrap();
    }
    // drain whatever was answered
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    while sock.recv_from(&mut buf).is_ok() {}
    assert!(s.alive());
    let m = ask(s.addr, "www.diff.test", RecordType::A);
    assert_eq!(m.answers.len(), 2);
}

#[test]
fn formerr_and_notimp() {
    let s = Server::with_zones(&diff_zones());
    // two questions
    let mut pkt = query(8, "www.diff.test", RecordType::A, None);
    pkt[5] = 2;
    let r = udp_raw(s.addr, &pkt).unwrap();
    assert_eq!(r[3] & 0x0f, 1);
    // trailing garbage after the question
    let mut pkt = query(8, "www.diff.test", RecordType::A, None);
    pkt.extend([1, 2, 3]);
    assert_eq!(udp_raw(s.addr, &pkt).unwrap()[3] & 0x0f, 1);
    // UPDATE
    let mut pkt = query(8, "diff.test", RecordType::SOA, None);
    pkt[2] = 5 << 3;
    assert_eq!(udp_raw(s.addr, &pkt).unwrap()[3] & 0x0f, 4);
    // AXFR is not offered
    let m = parse(&tcp_raw(
        s.addr,
        &query(8, "diff.test", RecordType::AXFR, None),
    ));
    assert_eq!(m.metadata.response_code, ResponseCode::Refused);
}

#[test]
fn any_is_answered_with_one_rrset() {
    let s = Server::with_zones(&diff_zones());
    let m = ask(s.addr, "www.diff.test", RecordType::ANY);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    let types: std::collections::HashSet<_> = m.answers.iter().map(|r| r.record_type()).collect();
    assert_eq!(types.len(), 1, "RFC 8482: a subset, one RRset");
    let m = ask(s.addr, "ent.diff.test", RecordType::ANY);
    assert!(m.answers.is_empty());
    assert_eq!(m.authorities[0].record_type(), RecordType::SOA);
}

#[test]
fn tcp_pipelining_idle_timeout_and_connection_cap() {
    let dir = diff_zones();
    let cfg = tempdir("tcp-cfg").join("geosteer.toml");
    std::fs::write(
        &cfg,
        format!(
            "zones = \"{}\"\n[dns]\ntcp_idle_timeout = \"2s\"\ntcp_max_connections = 2\n",
            dir.display()
        ),
    )
    .unwrap();
    let s = Server::start(&["--config", cfg.to_str().unwrap()]);

    // several queries on one connection, sent back to back, answered in order
    let mut c = TcpStream::connect(s.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    for id in 1..=5u16 {
        tcp_send(&mut c, &query(id, "www.diff.test", RecordType::A, None));
    }
    for id in 1..=5u16 {
        let m = parse(&tcp_recv(&mut c).unwrap());
        assert_eq!(m.metadata.id, id);
    }

    // the cap: a third connection while two are open and idle makes room by closing the one
    // idle the longest (the first, idle since its five answers), and is served
    let mut c2 = TcpStream::connect(s.addr).unwrap();
    c2.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    tcp_send(&mut c2, &query(1, "www.diff.test", RecordType::A, None));
    assert!(tcp_recv(&mut c2).is_some());
    let mut c3 = TcpStream::connect(s.addr).unwrap();
    c3.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    tcp_send(&mut c3, &query(3, "www.diff.test", RecordType::A, None));
    let m = parse(&tcp_recv(&mut c3).expect("over the cap, room is made"));
    assert_eq!(m.metadata.id, 3);
    assert!(
        tcp_recv(&mut c).is_none(),
        "the connection idle the longest was closed"
    );

    // idle connections are closed by the server after the timeout
    let start = Instant::now();
    assert!(tcp_recv(&mut c2).is_none(), "idle connection closed");
    assert!(start.elapsed() < Duration::from_secs(5));
    drop(c2);
    // with the slots free again, new connections are served (poll until the server noticed)
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut c4 = TcpStream::connect(s.addr).unwrap();
        c4.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        tcp_send(&mut c4, &query(2, "www.diff.test", RecordType::A, None));
        if let Some(r) = tcp_recv(&mut c4) {
            assert_eq!(parse(&r).metadata.id, 2);
            break;
        }
        assert!(Instant::now() < deadline, "slots were not released");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn serve_refuses_an_invalid_zone_set() {
    let d = tempdir("bad-serve");
    std::fs::write(
        d.join("bad.test.zone"),
        "$TTL 60\n@ SOA ns1 h 1 2 3 4 5\n@ NS ns1\nwww CNAME x\nwww A 192.0.2.1\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_geosteer"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--zones",
            d.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.test.zone:4: www.bad.test. has a CNAME and other data"),
        "{err}"
    );
}

fn http_get(addr: &str, path: &str) -> String {
    use std::io::Write;
    let mut s = TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn http_endpoint_reports_liveness_and_zones() {
    let s = Server::start(&[
        "--zones",
        root().join("zones").to_str().unwrap(),
        "--http",
        "127.0.0.1:0",
    ]);
    let line = s
        .startup
        .iter()
        .find(|l| l.contains("http endpoint on "))
        .expect("the http endpoint is logged");
    let addr = line
        .split("http endpoint on ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    assert!(http_get(addr, "/livez").starts_with("HTTP/1.1 200"));
    assert!(http_get(addr, "/readyz").starts_with("HTTP/1.1 200"));
    let status = http_get(addr, "/status");
    assert!(
        status.contains("\"zone\":\"example.com.\",\"serial\":2026112101"),
        "{status}"
    );
    assert!(
        status.contains("\"pools\":[\"web\",\"assets\"]")
            || status.contains("\"pools\":[\"assets\",\"web\"]"),
        "{status}"
    );
    assert!(http_get(addr, "/nope").starts_with("HTTP/1.1 404"));
}

/// Issue 10: on wildcard binds every reply comes from the address the query was sent to (the
/// destination of each datagram is read from IP_PKTINFO / IPV6_PKTINFO and given back), over
/// IPv4 and IPv6.
#[test]
fn wildcard_listeners_answer_from_the_address_asked() {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_geosteer"))
        .args(["serve", "--listen", "0.0.0.0:0", "--listen", "[::]:0"])
        .env("NO_COLOR", "1")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut ports = Vec::new();
    for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)) {
        let line = line.unwrap();
        if let Some(rest) = line.split("listening on ").nth(1) {
            let a: std::net::SocketAddr = rest.split_whitespace().next().unwrap().parse().unwrap();
            ports.push(a);
            if ports.len() == 2 {
                break;
            }
        }
    }
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _kill = Kill(child);
    let v4 = ports.iter().find(|a| a.is_ipv4()).unwrap().port();
    let v6 = ports.iter().find(|a| a.is_ipv6()).unwrap().port();
    let q = query(0x7777, "www.example.com", RecordType::A, Some(1232));
    for (from, to) in [
        ("127.0.0.1:0", format!("127.0.0.1:{v4}")),
        ("127.0.0.1:0", format!("127.0.0.2:{v4}")),
        ("127.0.0.1:0", format!("127.0.0.53:{v4}")),
        ("[::1]:0", format!("[::1]:{v6}")),
    ] {
        let to: std::net::SocketAddr = to.parse().unwrap();
        let s = std::net::UdpSocket::bind(from).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        s.send_to(&q, to).unwrap();
        let mut buf = [0u8; 4096];
        let (n, source) = s.recv_from(&mut buf).expect("a reply");
        assert_eq!(
            source, to,
            "the reply to a query sent to {to} came from {source}"
        );
        let m = parse(&buf[..n]);
        assert_eq!(m.metadata.id, 0x7777);
        assert!(!m.answers.is_empty());
    }
}

/// `pin_workers` places the UDP workers on the CPUs the server was given, not on CPU 0, 1, ...:
/// under `taskset -c N` every thread stays on N (before, both workers were pinned to CPU 0).
#[cfg(target_os = "linux")]
#[test]
fn pinned_workers_stay_on_the_cpus_allowed() {
    let allowed = cpus_allowed("/proc/self/status");
    let Some(&last) = allowed.last().filter(|_| allowed.len() > 1) else {
        eprintln!("SKIPPED: this process may run on one CPU only ({allowed:?}); pinning needs two");
        return;
    };
    if !have_tool("taskset") {
        return;
    }
    let config = shipped_config(
        "pinned",
        "[dns]\nudp_batch = true\nudp_workers = 2\npin_workers = true\n",
    );
    let s = Server::start_on_cpus(&["--config", config.to_str().unwrap()], &last.to_string());
    assert_eq!(
        ask(s.addr, "www.example.com", RecordType::A).answers.len(),
        2
    );
    let tasks = format!("/proc/{}/task", s.pid());
    let mut seen = 0;
    for task in std::fs::read_dir(&tasks).unwrap() {
        let status = task.unwrap().path().join("status");
        assert_eq!(cpus_allowed(status.to_str().unwrap()), [last], "{status:?}");
        seen += 1;
    }
    // the main thread, the runtime's worker, the two UDP workers at least
    assert!(seen >= 4, "{seen} threads");
}

/// The `Cpus_allowed_list` of a `/proc/.../status` file, expanded ("0-2,5" is 0, 1, 2, 5).
#[cfg(target_os = "linux")]
fn cpus_allowed(status: &str) -> Vec<usize> {
    let text = std::fs::read_to_string(status).unwrap();
    let list = text
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .unwrap()
        .trim();
    let mut cpus = Vec::new();
    for part in list.split(',') {
        match part.split_once('-') {
            Some((a, b)) => cpus.extend(a.parse::<usize>().unwrap()..=b.parse().unwrap()),
            None => cpus.push(part.parse().unwrap()),
        }
    }
    cpus
}

/// The portable loop (`[dns] udp_batch = false`, the only one off Linux) still answers.
#[test]
fn the_portable_udp_loop_answers() {
    let config = shipped_config("portable", "[dns]\nudp_batch = false\nudp_workers = 2\n");
    let s = Server::start(&["--config", config.to_str().unwrap()]);
    assert!(s.startup.iter().any(|l| l.contains("batched=false")));
    let m = ask(s.addr, "www.example.com", RecordType::A);
    assert_eq!(m.answers.len(), 2);
}
