//! Identity for anycast fleets (issue 9): `id.server`, `hostname.bind` and `version.bind` in class
//! CH, and the NSID option, so an operator can tell which node answered.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::DNSClass;

use common::*;

/// A CH TXT query (with EDNS, optionally asking for the NSID).
fn ch_query(name: &str, nsid: bool) -> Vec<u8> {
    let mut q = geosteer::wire::query::build(7, &wire_name(name), 16, Some(1232), None);
    // class CH
    let qclass_at = 12 + wire_name(name).len() + 2;
    q[qclass_at..qclass_at + 2].copy_from_slice(&3u16.to_be_bytes());
    if nsid {
        let len_at = q.len() - 2;
        q[len_at..].copy_from_slice(&4u16.to_be_bytes());
        q.extend_from_slice(&[0, 3, 0, 0]);
    }
    q
}

#[test]
fn the_configured_identity_answers_and_each_part_switches_off() {
    let d = tempdir("identity");
    let cfg = d.join("geosteer.toml");
    std::fs::write(
        &cfg,
        format!(
            "zones = \"{}\"\n[identity]\nid = \"ams-node-7\"\nversion = \"\"\n",
            root().join("zones").display()
        ),
    )
    .unwrap();
    let s = Server::start(&["--config", cfg.to_str().unwrap()]);
    for name in ["id.server", "hostname.bind", "ID.Server"] {
        let m = parse(&udp_raw(s.addr, &ch_query(name, false)).unwrap());
        assert_eq!(m.metadata.response_code, ResponseCode::NoError, "{name}");
        assert!(m.metadata.authoritative);
        let r = &m.answers[0];
        assert_eq!(r.dns_class, DNSClass::CH);
        assert_eq!(r.data.to_string(), "ams-node-7", "{name}");
    }
    // version.bind switched off: refused like any other CH name
    let m = parse(&udp_raw(s.addr, &ch_query("version.bind", false)).unwrap());
    assert_eq!(m.metadata.response_code, ResponseCode::Refused);
    // NSID on an ordinary query
    let mut q = query(
        9,
        "www.example.com",
        hickory_proto::rr::RecordType::A,
        Some(1232),
    );
    let len_at = q.len() - 2;
    q[len_at..].copy_from_slice(&4u16.to_be_bytes());
    q.extend_from_slice(&[0, 3, 0, 0]);
    let raw = udp_raw(s.addr, &q).unwrap();
    let m = parse(&raw);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(
        raw.windows(14).any(|w| w == b"\x00\x03\x00\x0aams-node-7"),
        "the NSID option is in the OPT record"
    );
    // not asked: not sent
    let plain = udp_raw(
        s.addr,
        &query(
            9,
            "www.example.com",
            hickory_proto::rr::RecordType::A,
            Some(1232),
        ),
    )
    .unwrap();
    assert!(!plain.windows(10).any(|w| w == b"ams-node-7"));
    // and dig sees the same, where it is installed
    if have_tool("dig") {
        let port = s.addr.port().to_string();
        let out = std::process::Command::new("dig")
            .args([
                "@127.0.0.1",
                "-p",
                &port,
                "+nsid",
                "+tries=1",
                "CH",
                "TXT",
                "id.server",
            ])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("id.server.\t\t0\tCH\tTXT\t\"ams-node-7\""),
            "{text}"
        );
        assert!(
            text.contains("NSID: 61 6d 73 2d 6e 6f 64 65 2d 37 (\"ams-node-7\")"),
            "{text}"
        );
    }
}
