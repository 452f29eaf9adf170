//! The query path allocates nothing once its output buffer has grown: a counting allocator
//! watches `engine::respond` answer every shape of query.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// The counting allocator implements `GlobalAlloc`, which is unsafe by definition; it only
// forwards to the system allocator.
#![allow(unsafe_code)]

use std::net::SocketAddr;

use geosteer::engine::{Limits, Transport, respond};

#[path = "common/counting.rs"]
mod counting;

use counting::{Counting, allocs};

#[global_allocator]
static GLOBAL: Counting = Counting;

fn query(name: &str, qtype: u16) -> Vec<u8> {
    geosteer::wire::query::build(
        1,
        &geosteer::wire::name::from_dotted(name),
        qtype,
        Some(4096),
        None,
    )
}

#[test]
fn respond_does_not_allocate() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let zones = geosteer::load::load_dir(&root.join("zones")).unwrap();
    let client: SocketAddr = "192.0.2.1:1".parse().unwrap();
    let packets: Vec<Vec<u8>> = [
        ("www.example.com", 1),
        ("example.com", 15),
        ("example.com", 2),
        ("blog.example.com", 1),
        ("a.customers.example.com", 28),
        ("nope.example.com", 1),
        ("host.lab.example.com", 1),
        ("_submission._tcp.example.com", 33),
        ("www.example.org", 1),
        ("example.com", 255),
    ]
    .iter()
    .map(|(n, t)| query(n, *t))
    .collect();
    let mut out = Vec::with_capacity(65_535);
    let before = allocs();
    for _ in 0..100 {
        for p in &packets {
            respond(
                &zones,
                &Limits::default(),
                p,
                client,
                Transport::Udp,
                &mut out,
            );
            respond(
                &zones,
                &Limits::default(),
                p,
                client,
                Transport::Tcp,
                &mut out,
            );
        }
    }
    let after = allocs();
    assert_eq!(after - before, 0, "allocations on the query path");
}

/// The same with GeoIP and EDNS Client Subnet: locating a client and choosing pool members
/// allocates nothing either.
#[test]
fn geo_answers_do_not_allocate() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let zones = geosteer::load::load_dir(&root.join("zones")).unwrap();
    let geo = geosteer::geo::Geo::open(&[root.join("geodata/dbip-country.mmdb")]).unwrap();
    let state = geosteer::state::State::new(zones, std::sync::Arc::new(geo), Limits::default());
    let snap = state.load();
    let client: SocketAddr = "192.0.2.1:1".parse().unwrap();
    let mut packets = Vec::new();
    for subnet in ["202.232.0.0", "81.2.69.0", "8.8.8.0", "10.1.2.0"] {
        for (name, t) in [
            ("www.example.com", 1u16),
            ("example.com", 28),
            ("assets.example.com", 1),
            ("cdn.example.com", 1),
        ] {
            let ecs = Some((subnet.parse().unwrap(), 24));
            let name = geosteer::wire::name::from_dotted(name);
            packets.push(geosteer::wire::query::build(1, &name, t, Some(4096), ecs));
        }
    }
    let mut out = Vec::with_capacity(65_535);
    for p in &packets {
        respond(&**snap, &snap.limits, p, client, Transport::Udp, &mut out);
    }
    let before = allocs();
    for _ in 0..100 {
        for p in &packets {
            respond(&**snap, &snap.limits, p, client, Transport::Udp, &mut out);
            assert_eq!(out[3] & 0x0f, 0, "NOERROR");
        }
    }
    let after = allocs();
    assert_eq!(after - before, 0, "allocations on the geo query path");

    // counting the queries into the metrics, as the transports do, allocates nothing either
    let metrics = geosteer::metrics::Metrics::new();
    let handles = metrics.handles(&snap.zones);
    let before = allocs();
    for _ in 0..100 {
        for p in &packets {
            let mut report = geosteer::metrics::Report::default();
            let outcome = geosteer::engine::respond_reported(
                &**snap,
                &snap.limits,
                p,
                client,
                Transport::Udp,
                &mut out,
                &mut report,
            );
            let geosteer::engine::Outcome::Reply { rcode, truncated } = outcome else {
                panic!("dropped")
            };
            assert!(report.pool.is_some() || report.zone.is_some());
            handles.record(
                &report,
                &geosteer::metrics::Served {
                    transport: 0,
                    rcode: Some(rcode),
                    truncated,
                    request_len: p.len(),
                    response_len: out.len(),
                    nanos: Some(1234),
                },
            );
        }
    }
    assert_eq!(allocs() - before, 0, "allocations when counting queries");
}

/// The batched UDP path answers through a worker's answer cache: filling it (static answers'
/// records, pool questions' places) and answering from it allocate nothing once the cache exists.
#[test]
fn cached_answers_do_not_allocate() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let zones = geosteer::load::load_dir(&root.join("zones")).unwrap();
    let geo = geosteer::geo::Geo::open(&[root.join("geodata/dbip-country.mmdb")]).unwrap();
    let state = geosteer::state::State::new(zones, std::sync::Arc::new(geo), Limits::default());
    let snap = state.load();
    let client: SocketAddr = "192.0.2.1:1".parse().unwrap();
    let mut packets = Vec::new();
    for subnet in [None, Some("202.232.0.0"), Some("81.2.69.0")] {
        for (name, t) in [
            ("www.example.com", 1u16),
            ("example.com", 28),
            ("example.com", 15),
            ("api.example.com", 1),
            ("blog.example.com", 1),
            ("nope.example.com", 1),
            ("host.lab.example.com", 1),
        ] {
            let ecs = subnet.map(|s| (s.parse().unwrap(), 24));
            let name = geosteer::wire::name::from_dotted(name);
            packets.push(geosteer::wire::query::build(1, &name, t, Some(1232), ecs));
        }
    }
    let mut out = Vec::with_capacity(65_535);
    let mut cache = geosteer::engine::AnswerCache::new();
    let before = allocs();
    // the first round fills the cache, the others answer from it
    for _ in 0..100 {
        for p in &packets {
            let mut report = geosteer::metrics::Report::default();
            let outcome = geosteer::engine::respond_cached(
                &**snap,
                &snap.limits,
                p,
                client,
                Transport::Udp,
                &mut out,
                &mut report,
                &mut cache,
            );
            assert!(matches!(outcome, geosteer::engine::Outcome::Reply { .. }));
        }
    }
    assert_eq!(allocs() - before, 0, "allocations on the cached query path");
}

/// Health-filtered answers allocate nothing either: an override drains a datacenter, so answers
/// fail over (and members are looked up in the overlay and the health map for every pick).
#[test]
fn health_filtered_answers_do_not_allocate() {
    use geosteer::model::overrides::{Overlay, Override, OverrideState, Target};
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let zones = geosteer::load::load_dir(&root.join("zones")).unwrap();
    let geo = geosteer::geo::Geo::open(&[root.join("geodata/dbip-country.mmdb")]).unwrap();
    let drain = Override {
        target: Target::parse("ams").unwrap(),
        state: OverrideState::Drain,
        until: None,
        reason: "test".into(),
        file: "overrides.toml".into(),
        line: 1,
    };
    let overlay = Overlay::resolve(&zones, &[drain], 0).unwrap();
    let mut snap =
        geosteer::state::Snapshot::plain(zones, std::sync::Arc::new(geo), Limits::default());
    snap.overlay = overlay;
    let client: SocketAddr = "192.0.2.1:1".parse().unwrap();
    let packets: Vec<Vec<u8>> = ["81.2.69.0", "202.232.0.0", "8.8.8.0", "95.165.0.0"]
        .iter()
        .map(|s| {
            let name = geosteer::wire::name::from_dotted("www.example.com");
            geosteer::wire::query::build(1, &name, 1, Some(4096), Some((s.parse().unwrap(), 24)))
        })
        .collect();
    let mut out = Vec::with_capacity(65_535);
    for p in &packets {
        respond(&snap, &snap.limits, p, client, Transport::Udp, &mut out);
    }
    let before = allocs();
    for _ in 0..100 {
        for p in &packets {
            respond(&snap, &snap.limits, p, client, Transport::Udp, &mut out);
            assert_eq!(out[3] & 0x0f, 0, "NOERROR");
        }
    }
    assert_eq!(
        allocs() - before,
        0,
        "allocations on the health-filtered query path"
    );
}
