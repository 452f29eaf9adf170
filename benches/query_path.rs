//! The query path, bytes in → bytes out: `engine::respond` over the shipped example zone.
//!
//! Run: `cargo bench --bench query_path`. Figures and the machine they came from: BENCHMARKS.md.
//! Before timing, it counts the allocations of every case (static, geo with and without ECS,
//! NXDOMAIN, ...) with a counting allocator, prints them per query and fails unless all are 0.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// The counting allocator implements `GlobalAlloc`, which is unsafe by definition; it only
// forwards to the system allocator.
#![allow(unsafe_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use geosteer::engine::{Limits, Outcome, Transport, respond};
use geosteer::wire::name::from_dotted;

#[path = "../tests/common/counting.rs"]
mod counting;

use counting::{Counting, allocs};

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations per query of `f` over 10,000 calls after one to warm the output buffer up.
fn allocations_per_query(mut f: impl FnMut()) -> f64 {
    f();
    let before = allocs();
    for _ in 0..10_000 {
        f();
    }
    (allocs() - before) as f64 / 10_000.0
}

fn query(name: &str, qtype: u16, edns: bool) -> Vec<u8> {
    geosteer::wire::query::build(
        0x1234,
        &from_dotted(name),
        qtype,
        edns.then_some(1232),
        None,
    )
}

fn bench(c: &mut Criterion) {
    let zones = geosteer::load::load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("zones"))
        .expect("shipped zones load");
    let limits = Limits::default();
    let client: SocketAddr = "198.51.100.7:40000".parse().unwrap();
    let cases = [
        ("A www", query("www.example.com", 1, true)),
        ("MX apex +additional", query("example.com", 15, true)),
        ("CNAME chain", query("blog.example.com", 1, true)),
        ("wildcard", query("shop.customers.example.com", 1, true)),
        ("NXDOMAIN", query("nope.example.com", 1, true)),
        ("referral", query("host.lab.example.com", 1, true)),
        ("no EDNS", query("www.example.com", 1, false)),
        ("REFUSED", query("www.example.org", 1, true)),
    ];
    // the engine alone, counted: static shapes over the zones, and pool answers located by
    // source and by ECS over the shipped GeoIP data
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let geo = geosteer::geo::Geo::open(&[root.join("geodata/dbip-country.mmdb")]).unwrap();
    let state = geosteer::state::State::new(zones.clone(), Arc::new(geo), limits);
    let snap = state.load_full();
    let ecs = |ip: &str| {
        geosteer::wire::query::build(
            7,
            &from_dotted("www.example.com"),
            1,
            Some(1232),
            Some((ip.parse().unwrap(), 24)),
        )
    };
    let geo_cases = [
        ("geo www (by source)", query("www.example.com", 1, true)),
        ("geo www ECS Japan", ecs("1.0.16.0")),
        ("geo www ECS Germany", ecs("5.1.0.0")),
    ];
    let mut out = Vec::with_capacity(4096);
    println!("allocations per query (engine::respond, 10,000 calls each):");
    let mut total = 0.0;
    for (name, pkt) in &cases {
        let n = allocations_per_query(|| {
            respond(&zones, &limits, pkt, client, Transport::Udp, &mut out);
        });
        println!("  {name:<24} {n}");
        total += n;
    }
    for (name, pkt) in &geo_cases {
        let n = allocations_per_query(|| {
            respond(&*snap, &limits, pkt, client, Transport::Udp, &mut out);
        });
        println!("  {name:<24} {n}");
        total += n;
    }
    // the batched UDP path answers through a worker's cache: static records and pool
    // questions kept after the first call
    let mut cache = geosteer::engine::AnswerCache::new();
    let cached = |cache: &mut geosteer::engine::AnswerCache, pkt: &[u8], out: &mut Vec<u8>| {
        let mut report = geosteer::metrics::Report::default();
        geosteer::engine::respond_cached(
            &*snap,
            &limits,
            pkt,
            client,
            Transport::Udp,
            out,
            &mut report,
            cache,
        )
    };
    for (name, pkt) in cases.iter().chain(&geo_cases) {
        let n = allocations_per_query(|| {
            cached(&mut cache, pkt, &mut out);
        });
        println!("  cached {name:<17} {n}");
        total += n;
    }
    assert_eq!(total, 0.0, "the query path allocates");
    // the geo cases do steer: Japan and Germany get different answers
    let answer = |pkt: &[u8]| {
        let mut o = Vec::new();
        respond(&*snap, &limits, pkt, client, Transport::Udp, &mut o);
        o
    };
    assert_ne!(answer(&geo_cases[1].1), answer(&geo_cases[2].1));

    let mut g = c.benchmark_group("respond");
    g.throughput(Throughput::Elements(1));
    for (name, pkt) in &cases {
        g.bench_function(*name, |b| {
            b.iter(|| {
                let o = respond(&zones, &limits, pkt, client, Transport::Udp, &mut out);
                assert!(matches!(o, Outcome::Reply { .. }));
                out.len()
            })
        });
    }
    g.finish();
    // the same questions from a warm answer cache (the batched UDP path)
    let mut g = c.benchmark_group("respond_cached");
    g.throughput(Throughput::Elements(1));
    for (name, pkt) in cases.iter().chain(&geo_cases) {
        g.bench_function(*name, |b| {
            b.iter(|| {
                let o = cached(&mut cache, pkt, &mut out);
                assert!(matches!(o, Outcome::Reply { .. }));
                out.len()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
