//! Geo steering end to end: GeoIP fixtures in both record layouts (written by the test), a pool
//! file exercising every routing rule, and the real server queried with EDNS Client Subnet.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "common/mmdb.rs"]
mod mmdb;

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption};
use hickory_proto::rr::{RData, RecordType};

use common::*;
use mmdb::{V, map, s};

const ZONE: &str = "$ORIGIN geo.test.\n$TTL 300\n@ SOA ns h 1 7200 3600 1209600 300\n@ NS ns\nns A 192.0.2.53\nstatic-host A 192.0.2.99\n";

const POOLS: &str = r#"version = 1

[datacenters]
ams = { location = [52.37, 4.90] }
iad = { location = [38.95, -77.45] }
sin = { location = [1.35, 103.82] }
sfo = { location = [37.62, -122.38] }
sfo_far = { location = [37.62, -122.38], bias_km = -4000 }

[pools.web]
names = ["www", "@"]
ttl = 60
ttl_degraded = 10
[pools.web.members]
ams = ["192.0.2.1", "2001:db8::a1"]
iad = ["192.0.2.2", "2001:db8::a2"]
sin = ["192.0.2.3"]
sfo = ["192.0.2.4"]
[pools.web.route]
default = "nearest"
networks = { "10.0.0.0/8" = ["sin"] }
asns = { "64501" = ["ams"] }
subdivisions = { "US-CA" = ["sfo", "iad"] }
countries = { JP = ["sin", "iad"], KP = [], BR = [{ ams = 50, iad = 50 }] }
continents = { EU = ["ams", "iad"], NA = ["iad", "ams"] }

[pools.near]
names = ["near"]
members = { sfo = ["192.0.2.40"], iad = ["192.0.2.41"] }

[pools.near_biased]
names = ["near-biased"]
members = { sfo_far = ["192.0.2.50"], iad = ["192.0.2.51"] }

[pools.cdn]
names = ["static"]
type = "CNAME"
ttl = 120
members = { ams = ["eu.cdn.example.net."], iad = ["us.cdn.example.net."] }
route = { default = ["iad"], continents = { EU = ["ams", "iad"] } }
"#;

fn loc(lat: f64, lon: f64) -> V {
    map(&[("latitude", V::F64(lat)), ("longitude", V::F64(lon))])
}

fn geoip2(cc: &str, cont: &str, extra: &[(&str, V)]) -> V {
    let mut pairs = vec![
        ("country", map(&[("iso_code", s(cc))])),
        ("continent", map(&[("code", s(cont))])),
    ];
    pairs.extend(extra.iter().cloned());
    map(&pairs)
}

/// Three databases: a GeoIP2-City-like one, a flat country one, a flat ASN one.
fn fixtures(dir: &Path) -> Vec<PathBuf> {
    let city = mmdb::build(
        "GeoIP2-City",
        &[
            (
                "1.1.0.0",
                16,
                geoip2("DE", "EU", &[("location", loc(50.11, 8.68))]),
            ),
            (
                "1.2.0.0",
                16,
                geoip2(
                    "US",
                    "NA",
                    &[
                        ("subdivisions", V::Arr(vec![map(&[("iso_code", s("CA"))])])),
                        ("location", loc(37.4, -122.1)),
                    ],
                ),
            ),
            (
                "1.3.0.0",
                16,
                geoip2(
                    "US",
                    "NA",
                    &[
                        ("subdivisions", V::Arr(vec![map(&[("iso_code", s("NY"))])])),
                        ("location", loc(40.7, -74.0)),
                    ],
                ),
            ),
            (
                "1.4.0.0",
                16,
                geoip2("JP", "AS", &[("location", loc(35.7, 139.7))]),
            ),
            (
                "1.5.0.0",
                16,
                geoip2("BR", "SA", &[("location", loc(-23.5, -46.6))]),
            ),
            ("1.6.0.0", 16, geoip2("KP", "AS", &[])),
            (
                "1.7.0.0",
                16,
                geoip2("AU", "OC", &[("location", loc(-33.9, 151.2))]),
            ),
            (
                "1.8.0.0",
                16,
                geoip2("GB", "EU", &[("location", loc(51.5, -0.1))]),
            ),
            (
                "2001:db8:1::",
                48,
                geoip2("JP", "AS", &[("location", loc(35.7, 139.7))]),
            ),
        ],
    );
    let flat = mmdb::build(
        "ip-location-db country",
        &[
            ("2.1.0.0", 16, map(&[("country_code", s("FR"))])),
            ("2.2.0.0", 16, map(&[("country_code", s("IN"))])),
        ],
    );
    let asn = mmdb::build(
        "ip-location-db asn",
        &[(
            "1.9.0.0",
            16,
            map(&[
                ("autonomous_system_number", V::U32(64501)),
                ("autonomous_system_organization", s("Example")),
            ]),
        )],
    );
    let mut out = Vec::new();
    for (name, bytes) in [("city.mmdb", city), ("flat.mmdb", flat), ("asn.mmdb", asn)] {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        out.push(p);
    }
    out
}

struct Setup {
    server: Server,
    _dir: PathBuf,
}

/// `dir/zones` with the test zone and `pools` as its pool file.
fn test_zones(dir: &Path, pools: &str) -> PathBuf {
    let zones = dir.join("zones");
    std::fs::create_dir_all(&zones).unwrap();
    std::fs::write(zones.join("geo.test.zone"), ZONE).unwrap();
    std::fs::write(zones.join("geo.test.pools.toml"), pools).unwrap();
    zones
}

fn setup() -> Setup {
    let dir = tempdir("geo");
    let zones = test_zones(&dir, POOLS);
    let dbs = fixtures(&dir);
    let mut args: Vec<String> = vec!["--zones".into(), zones.display().to_string()];
    for d in &dbs {
        args.push("--geoip".into());
        args.push(d.display().to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Setup {
        server: Server::start(&args),
        _dir: dir,
    }
}

/// A query with an ECS option (`family` 1 or 2, the address bytes given as the option carries them).
fn ecs_query(name: &str, qtype: RecordType, family: u16, source: u8, addr: &[u8]) -> Vec<u8> {
    let mut p = query(0x5151, name, qtype, None);
    p[11] = 1;
    let mut opt = vec![0, 8];
    opt.extend(((4 + addr.len()) as u16).to_be_bytes());
    opt.extend(family.to_be_bytes());
    opt.push(source);
    opt.push(0);
    opt.extend(addr);
    p.extend([0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0]);
    p.extend((opt.len() as u16).to_be_bytes());
    p.extend(opt);
    p
}

fn subnet(net: &str) -> (u16, u8, Vec<u8>) {
    let (a, l) = net.split_once('/').unwrap();
    let l: u8 = l.parse().unwrap();
    let n = (l as usize).div_ceil(8);
    match a.parse::<IpAddr>().unwrap() {
        IpAddr::V4(v) => (1, l, v.octets()[..n].to_vec()),
        IpAddr::V6(v) => (2, l, v.octets()[..n].to_vec()),
    }
}

fn ask_ecs(s: &Server, name: &str, qtype: RecordType, net: &str) -> Message {
    let (f, l, a) = subnet(net);
    parse(&udp_raw(s.addr, &ecs_query(name, qtype, f, l, &a)).expect("an answer"))
}

fn answers(m: &Message) -> Vec<String> {
    m.answers.iter().map(|r| r.data.to_string()).collect()
}

fn scope(m: &Message) -> u8 {
    match m.edns.as_ref().and_then(|e| e.option(EdnsCode::Subnet)) {
        Some(EdnsOption::Subnet(s)) => s.scope_prefix(),
        other => panic!("no ECS option in the answer: {other:?}"),
    }
}

#[test]
fn every_routing_rule_through_the_server() {
    let t = setup();
    let s = &t.server;
    let a = |net: &str| answers(&ask_ecs(s, "www.geo.test", RecordType::A, net));
    assert_eq!(a("10.1.2.0/24"), ["192.0.2.3"], "network rule");
    assert_eq!(
        a("1.9.0.0/24"),
        ["192.0.2.1"],
        "ASN rule (flat ASN database)"
    );
    assert_eq!(a("1.2.3.0/24"), ["192.0.2.4"], "subdivision US-CA");
    assert_eq!(
        a("1.3.3.0/24"),
        ["192.0.2.2"],
        "continent NA (US-NY has no rule)"
    );
    assert_eq!(a("1.4.0.0/24"), ["192.0.2.3"], "country JP");
    assert_eq!(a("1.8.0.0/24"), ["192.0.2.1"], "continent EU");
    assert_eq!(
        a("2.1.0.0/24"),
        ["192.0.2.1"],
        "flat layout: FR, continent EU from the country table"
    );
    assert_eq!(
        a("1.7.0.0/24"),
        ["192.0.2.3"],
        "no rule for AU: nearest by coordinates (Singapore)"
    );
    assert_eq!(
        a("2.2.0.0/24"),
        ["192.0.2.3"],
        "flat layout IN: nearest from the country centroid"
    );
    assert_eq!(
        a("3.3.3.0/24"),
        ["192.0.2.1"],
        "in no database: nearest falls back to datacenter order"
    );
    // the apex is in the same pool
    assert_eq!(
        answers(&ask_ecs(s, "geo.test", RecordType::A, "1.4.0.0/24")),
        ["192.0.2.3"]
    );
    // IPv6 client subnet
    assert_eq!(
        answers(&ask_ecs(
            s,
            "www.geo.test",
            RecordType::A,
            "2001:db8:1::/48"
        )),
        ["192.0.2.3"]
    );
}

#[test]
fn geofence_failover_families_and_cname_pools() {
    let t = setup();
    let s = &t.server;
    // geofence: NODATA with the SOA
    let m = ask_ecs(s, "www.geo.test", RecordType::A, "1.6.0.0/24");
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.answers.is_empty());
    assert_eq!(m.authorities[0].record_type(), RecordType::SOA);
    // AAAA for JP: sin has no IPv6 member, the next tier (iad) answers, with ttl_degraded
    let m = ask_ecs(s, "www.geo.test", RecordType::AAAA, "1.4.0.0/24");
    assert_eq!(answers(&m), ["2001:db8::a2"]);
    assert_eq!(m.answers[0].ttl, 10);
    // and A for JP has the normal TTL
    assert_eq!(
        ask_ecs(s, "www.geo.test", RecordType::A, "1.4.0.0/24").answers[0].ttl,
        60
    );
    // CNAME pool
    let m = ask_ecs(s, "static.geo.test", RecordType::A, "1.8.0.0/24");
    assert_eq!(
        m.answers[0].data,
        RData::CNAME(hickory_proto::rr::rdata::CNAME(
            "eu.cdn.example.net.".parse().unwrap()
        ))
    );
    assert_eq!(m.answers[0].ttl, 120);
    let m = ask_ecs(s, "static.geo.test", RecordType::A, "1.3.0.0/24");
    assert_eq!(answers(&m), ["us.cdn.example.net."]);
    // other types at a pool name: NODATA
    let m = ask_ecs(s, "www.geo.test", RecordType::MX, "1.4.0.0/24");
    assert!(m.answers.is_empty() && m.metadata.response_code == ResponseCode::NoError);
}

#[test]
fn nearest_with_and_without_bias() {
    let t = setup();
    let s = &t.server;
    // Palo Alto: San Francisco is nearest...
    assert_eq!(
        answers(&ask_ecs(s, "near.geo.test", RecordType::A, "1.2.3.0/24")),
        ["192.0.2.40"]
    );
    // ...unless its bias of −4000 km pushes it behind Ashburn (3,800 km away)
    assert_eq!(
        answers(&ask_ecs(
            s,
            "near-biased.geo.test",
            RecordType::A,
            "1.2.3.0/24"
        )),
        ["192.0.2.51"]
    );
}

#[test]
fn split_tier_is_sticky_per_client_network() {
    let t = setup();
    let s = &t.server;
    let mut seen = std::collections::HashSet::new();
    for i in 0..64u8 {
        let net = format!("1.5.{i}.0/24");
        let first = answers(&ask_ecs(s, "www.geo.test", RecordType::A, &net));
        let again = answers(&ask_ecs(s, "www.geo.test", RecordType::A, &net));
        assert_eq!(first, again, "{net}: the same answer every time");
        seen.insert(first[0].clone());
        assert_eq!(scope(&ask_ecs(s, "www.geo.test", RecordType::A, &net)), 24);
    }
    assert_eq!(seen.len(), 2, "both halves of the split are used: {seen:?}");
}

#[test]
fn ecs_scope_is_returned() {
    let t = setup();
    let s = &t.server;
    // the database network is /16; one member answers: scope /16
    assert_eq!(
        scope(&ask_ecs(s, "www.geo.test", RecordType::A, "1.4.0.0/24")),
        16
    );
    // never longer than the source prefix
    assert_eq!(
        scope(&ask_ecs(s, "www.geo.test", RecordType::A, "1.4.0.0/14")),
        14
    );
    // the network rule: /8
    assert_eq!(
        scope(&ask_ecs(s, "www.geo.test", RecordType::A, "10.1.2.0/24")),
        8
    );
    // a static name: scope 0, but the option is echoed
    let m = ask_ecs(s, "static-host.geo.test", RecordType::A, "1.4.0.0/24");
    assert_eq!(answers(&m), ["192.0.2.99"]);
    assert_eq!(scope(&m), 0);
    // family, source and address come back as sent
    match m.edns.unwrap().option(EdnsCode::Subnet) {
        Some(EdnsOption::Subnet(e)) => {
            assert_eq!(e.addr().to_string(), "1.4.0.0");
            assert_eq!(e.source_prefix(), 24);
        }
        other => panic!("{other:?}"),
    }
    // no ECS: located by the packet source (127.0.0.1, in no database), no option in the answer
    let m = parse(&udp_raw(s.addr, &query(1, "www.geo.test", RecordType::A, Some(1232))).unwrap());
    assert_eq!(answers(&m), ["192.0.2.1"]);
    assert!(m.edns.unwrap().option(EdnsCode::Subnet).is_none());
}

#[test]
fn malformed_ecs_is_formerr() {
    let t = setup();
    let s = &t.server;
    let cases: [(&str, u16, u8, Vec<u8>); 7] = [
        ("bad family", 3, 24, vec![1, 4, 0]),
        ("IPv4 source prefix 33", 1, 33, vec![1, 4, 0, 0, 0]),
        ("IPv6 source prefix 129", 2, 129, vec![0; 17]),
        ("address bits beyond the prefix", 1, 20, vec![1, 4, 0x0f]),
        ("address longer than the prefix", 1, 16, vec![1, 4, 0]),
        ("address shorter than the prefix", 1, 24, vec![1, 4]),
        (
            "IPv6 bits beyond the prefix",
            2,
            33,
            vec![0x20, 1, 0x0d, 0xb8, 0x7f],
        ),
    ];
    for (what, fam, src, addr) in cases {
        let r = udp_raw(
            s.addr,
            &ecs_query("www.geo.test", RecordType::A, fam, src, &addr),
        )
        .unwrap();
        assert_eq!(r[3] & 0x0f, 1, "{what}: FORMERR");
    }
    // an option shorter than its fixed part
    let mut p = query(7, "www.geo.test", RecordType::A, None);
    p[11] = 1;
    p.extend([0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 6, 0, 8, 0, 2, 0, 1]);
    assert_eq!(
        udp_raw(s.addr, &p).unwrap()[3] & 0x0f,
        1,
        "truncated option: FORMERR"
    );
}

#[test]
fn ecs_can_be_switched_off() {
    let dir = tempdir("geo-noecs");
    let zones = test_zones(&dir, POOLS);
    let dbs = fixtures(&dir);
    let cfg = dir.join("g.toml");
    let list: Vec<String> = dbs.iter().map(|d| format!("\"{}\"", d.display())).collect();
    std::fs::write(
        &cfg,
        format!(
            "zones = \"{}\"\ngeoip = [{}]\n[dns]\necs = false\n",
            zones.display(),
            list.join(", ")
        ),
    )
    .unwrap();
    let s = Server::start(&["--config", cfg.to_str().unwrap()]);
    // a JP subnet is ignored: the client is 127.0.0.1, which no database knows
    let m = ask_ecs(&s, "www.geo.test", RecordType::A, "1.4.0.0/24");
    assert_eq!(answers(&m), ["192.0.2.1"]);
    assert!(m.edns.unwrap().option(EdnsCode::Subnet).is_none());
    // and a malformed option is not even looked at
    let r = udp_raw(
        s.addr,
        &ecs_query("www.geo.test", RecordType::A, 3, 24, &[1, 2, 3]),
    )
    .unwrap();
    assert_eq!(r[3] & 0x0f, 0);
}

/// Acceptance: two server processes started separately give identical answers to 1,000 random
/// client /24s.
#[test]
fn two_processes_agree_for_1000_client_networks() {
    let dir = tempdir("sticky");
    let zones = test_zones(
        &dir,
        "version = 1\n[datacenters]\na = {}\nb = {}\n[pools.p]\nnames = [\"www\"]\nmax_answers = 2\n[pools.p.members]\na = [\"192.0.2.1\", { address = \"192.0.2.2\", weight = 2 }, \"192.0.2.3\", \"192.0.2.4\", { address = \"192.0.2.5\", weight = 5 }]\nb = [\"198.51.100.1\"]\n[pools.p.route]\ndefault = [{ a = 70, b = 30 }]\n",
    );
    let one = Server::with_zones(&zones);
    let two = Server::with_zones(&zones);
    let mut x: u32 = 0x1234_5678;
    let mut distinct = std::collections::HashSet::new();
    for _ in 0..1000 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let net = format!(
            "{}.{}.{}.0/24",
            1 + (x >> 24) % 223,
            (x >> 16) & 255,
            (x >> 8) & 255
        );
        let a = answers(&ask_ecs(&one, "www.geo.test", RecordType::A, &net));
        let b = answers(&ask_ecs(&two, "www.geo.test", RecordType::A, &net));
        assert_eq!(a, b, "{net}");
        distinct.insert(a);
    }
    assert!(
        distinct.len() > 5,
        "answers vary across clients: {distinct:?}"
    );
}

/// The answer section `geosteer explain` prints, as presentation lines.
fn explained_answer(text: &str) -> (String, Vec<String>) {
    let mut lines = text.lines().skip_while(|l| !l.starts_with("answer: "));
    let head = lines.next().unwrap_or("").to_string();
    let records = lines
        .take_while(|l| l.starts_with("  ") && !l.starts_with("  ECS scope"))
        .map(|l| l.trim().to_string())
        .collect();
    (head, records)
}

/// Acceptance (issue 6): `explain` and the engine cannot disagree. For 240 questions (client
/// networks × names × types over the test zone: TXT and MX at pool names, AAAA where a datacenter
/// has no IPv6 member, a geofenced country, a split, a CNAME pool) the answer `geosteer explain`
/// prints, from the files on disk, equals the running server's answer over UDP, record for record.
#[test]
fn explain_prints_the_answer_the_server_gives() {
    let st = setup();
    let dir = st._dir.clone();
    let zones = dir.join("zones");
    let subnets = [
        "1.1.0.0/24",
        "1.2.0.0/24",
        "1.3.0.0/24",
        "1.4.0.0/24",
        "1.5.0.0/24",
        "1.5.77.0/24",
        "1.6.0.0/24",
        "1.7.0.0/24",
        "1.8.0.0/24",
        "1.9.0.0/24",
        "2.1.0.0/24",
        "10.1.2.0/24",
    ];
    let questions = [
        ("www.geo.test", RecordType::A),
        ("www.geo.test", RecordType::AAAA),
        ("www.geo.test", RecordType::TXT),
        ("geo.test", RecordType::MX),
        ("geo.test", RecordType::A),
        ("near.geo.test", RecordType::A),
        ("near-biased.geo.test", RecordType::AAAA),
        ("static.geo.test", RecordType::A),
        ("static-host.geo.test", RecordType::A),
        ("nope.geo.test", RecordType::A),
        ("geo.test", RecordType::NS),
        ("example.org", RecordType::A),
        ("static.geo.test", RecordType::CNAME),
        ("www.geo.test", RecordType::ANY),
        ("ns.geo.test", RecordType::AAAA),
        ("geo.test", RecordType::SOA),
        ("near.geo.test", RecordType::AAAA),
        ("www.geo.test", RecordType::MX),
        ("geo.test", RecordType::AAAA),
        ("static.geo.test", RecordType::TXT),
    ];
    let mut checked = 0;
    let mut saw_no_pool = false;
    for subnet in subnets {
        let (net, len) = subnet.split_once('/').unwrap();
        let net: IpAddr = net.parse().unwrap();
        let len: u8 = len.parse().unwrap();
        for (name, qtype) in questions {
            let mut args: Vec<String> = vec![
                "explain".into(),
                "--zones".into(),
                zones.display().to_string(),
                "--client".into(),
                "127.0.0.1".into(),
                "--ecs".into(),
                subnet.into(),
            ];
            for db in ["city.mmdb", "flat.mmdb", "asn.mmdb"] {
                args.push("--geoip".into());
                args.push(dir.join(db).display().to_string());
            }
            args.push(name.into());
            args.push(qtype.to_string());
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_geosteer"))
                .args(&args)
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout).to_string();
            assert!(
                out.status.success(),
                "{args:?}: {text}{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let (head, explained) = explained_answer(&text);

            let mut q = query(0x77, name, qtype, Some(1232));
            let octets: Vec<u8> = match net {
                IpAddr::V4(a) => a.octets()[..usize::from(len).div_ceil(8)].to_vec(),
                IpAddr::V6(a) => a.octets()[..usize::from(len).div_ceil(8)].to_vec(),
            };
            // append the ECS option to the OPT record that `query` wrote
            let opt_len_at = q.len() - 2;
            let mut option = vec![0, 8, 0, (4 + octets.len()) as u8, 0, 1, len, 0];
            option.extend(&octets);
            q[opt_len_at..].copy_from_slice(&(option.len() as u16).to_be_bytes());
            q.extend(option);
            let m = parse(&udp_raw(st.server.addr, &q).unwrap());
            let served: Vec<String> = m
                .answers
                .iter()
                .chain(m.authorities.iter())
                .map(|r| r.to_string())
                .collect();
            assert_eq!(explained, served, "{name} {qtype} from {subnet}:\n{text}");
            assert!(
                head.contains(&m.metadata.response_code.to_string()),
                "{name} {qtype} from {subnet}: {head} vs {}",
                m.metadata.response_code
            );
            // a pool name asked for another type is static data: explain must not trace the pool
            if matches!(qtype, RecordType::TXT | RecordType::MX) && name.starts_with("www") {
                assert!(text.contains("for A and AAAA only"), "{text}");
                assert!(!text.contains("route:"), "{text}");
                saw_no_pool = true;
            }
            checked += 1;
        }
    }
    assert!(checked >= 200 && saw_no_pool, "{checked}");
}

/// The `geoip` fuzz target's seeds are these fixtures (a city, a country and an ASN database), so
/// the fuzzer starts from valid databases of each layout instead of from nothing.
/// `GEOSTEER_UPDATE_GOLDEN=1` writes them.
#[test]
fn the_geoip_fuzz_seeds_are_the_fixtures() {
    let d = tempdir("geo-seeds");
    let seeds = root().join("tests/fuzz/corpus/geoip");
    for p in fixtures(&d) {
        let name = p.file_name().unwrap();
        let built = std::fs::read(&p).unwrap();
        if std::env::var("GEOSTEER_UPDATE_GOLDEN").is_ok_and(|v| v == "1") {
            std::fs::write(seeds.join(name), &built).unwrap();
        }
        let seed = std::fs::read(seeds.join(name)).expect("a committed seed");
        assert_eq!(
            seed, built,
            "{name:?}: GEOSTEER_UPDATE_GOLDEN=1 rewrites the seeds"
        );
    }
}

/// ip-location-db's city databases store latitude and longitude as floats, MaxMind's as doubles.
/// Both load, and the nearest datacenter is chosen from either (before, the float database was
/// refused whole: "not a valid MaxMind DB file: … expected double").
#[test]
fn float_coordinates_are_read() {
    let dir = tempdir("float-coords");
    let zones = test_zones(&dir, POOLS);
    let city = |cc: &str, lat: f32, lon: f32| {
        map(&[
            ("city", s("somewhere")),
            ("country_code", s(cc)),
            ("latitude", V::F32(lat)),
            ("longitude", V::F32(lon)),
        ])
    };
    let db = dir.join("dbip-city-ipv4.mmdb");
    std::fs::write(
        &db,
        mmdb::build(
            "DBIP-City-Lite",
            &[
                ("1.1.0.0", 16, city("FR", 48.86, 2.35)),
                ("1.2.0.0", 16, city("US", 37.77, -122.42)),
            ],
        ),
    )
    .unwrap();
    for (client, location, member) in [
        ("1.1.0.1", "location 48.86, 2.35", "192.0.2.41"),
        ("1.2.0.1", "location 37.77, -122.42", "192.0.2.40"),
    ] {
        let (code, out, err) = geosteer(&[
            "explain",
            "--zones",
            zones.to_str().unwrap(),
            "--geoip",
            db.to_str().unwrap(),
            "--client",
            client,
            "near.geo.test",
        ]);
        assert_eq!(code, 0, "{err}");
        assert!(out.contains(location), "{client}: {out}");
        let (_, records) = explained_answer(&out);
        assert!(
            records.iter().any(|r| r.contains(member)),
            "{client}: {out}"
        );
    }
}
