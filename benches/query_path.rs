//! The query path, bytes in → bytes out: `engine::respond` over the shipped example zone.
//!
//! Run: `cargo bench --bench query_path`. Figures and the machine they came from: BENCHMARKS.md.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use geosteer::engine::{Limits, Outcome, Transport, respond};
use geosteer::wire::name::from_dotted;

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
    let mut g = c.benchmark_group("respond");
    g.throughput(Throughput::Elements(1));
    let mut out = Vec::with_capacity(4096);
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
}

criterion_group!(benches, bench);
criterion_main!(benches);
