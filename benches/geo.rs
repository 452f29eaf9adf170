//! Geo steering: `select` alone, and a geo query end to end (ECS packet in, answer out) with the
//! shipped example and the shipped DB-IP database.
//!
//! Run: `cargo bench --bench geo`. Figures: BENCHMARKS.md.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use geosteer::engine::{Limits, Outcome, Transport, respond};
use geosteer::geo::Geo;
use geosteer::model::Family;
use geosteer::select::{AllUp, Client, client_key, select};

fn ecs_query(name: &str, subnet: &str) -> Vec<u8> {
    let ecs = Some((subnet.parse().unwrap(), 24));
    geosteer::wire::query::build(
        0x1234,
        &geosteer::wire::name::from_dotted(name),
        1,
        Some(1232),
        ecs,
    )
}

fn bench(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let zones = geosteer::load::load_dir(&root.join("zones")).expect("shipped zones load");
    let geo = Geo::open(&[root.join("geodata/dbip-country.mmdb")]).expect("shipped database");
    let zone = &zones.zones()[0];
    let pool = zone.pools().iter().find(|p| p.name() == "web").unwrap();

    let mut g = c.benchmark_group("geo");
    g.throughput(Throughput::Elements(1));
    let addr: IpAddr = "202.232.0.1".parse().unwrap();
    let loc = geo.locate(addr);
    let client = Client {
        addr,
        loc: &loc,
        key: client_key(addr),
    };
    g.bench_function(
        "select (country → continent route, 2 of 2 members)",
        |b| {
            b.iter(|| {
                select(
                    pool,
                    zone.pools(),
                    zone.datacenters(),
                    Family::V4,
                    &client,
                    &AllUp,
                    None,
                )
                .ttl
            })
        },
    );
    let addr_ru: IpAddr = "95.165.0.1".parse().unwrap();
    let loc_ru = geo.locate(addr_ru);
    let client_ru = Client {
        addr: addr_ru,
        loc: &loc_ru,
        key: client_key(addr_ru),
    };
    g.bench_function("select (split tier)", |b| {
        b.iter(|| {
            select(
                pool,
                zone.pools(),
                zone.datacenters(),
                Family::V4,
                &client_ru,
                &AllUp,
                None,
            )
            .ttl
        })
    });
    g.bench_function("geo locate (DB-IP country)", |b| {
        b.iter(|| geo.locate(addr).prefix_len)
    });
    // clients spread over the IPv4 space, as a resolver population is: the database's memory is
    // not all in cache, which one repeated address hides
    let mut x: u32 = 0x9e37_79b9;
    let spread: Vec<std::net::IpAddr> = (0..65_536)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            std::net::IpAddr::from(std::net::Ipv4Addr::from(x))
        })
        .collect();
    let mut next = spread.iter().cycle();
    g.bench_function(
        "geo locate (DB-IP country, 65,536 spread IPv4 clients)",
        |b| b.iter(|| next.next().map(|&a| geo.locate(a).prefix_len)),
    );

    let state = geosteer::state::State::new(zones.clone(), Arc::new(geo), Limits::default());
    let snap = state.load();
    let src: SocketAddr = "198.51.100.7:5353".parse().unwrap();
    let mut out = Vec::with_capacity(4096);
    for (name, subnet) in [
        ("Japan", "202.232.0.0"),
        ("UK", "81.2.69.0"),
        ("US", "8.8.8.0"),
    ] {
        let pkt = ecs_query("www.example.com", subnet);
        g.bench_function(format!("www A with ECS, end to end ({name})"), |b| {
            b.iter(|| {
                let o = respond(&**snap, &snap.limits, &pkt, src, Transport::Udp, &mut out);
                assert!(matches!(o, Outcome::Reply { rcode: 0, .. }));
                out.len()
            })
        });
    }
    // the same answer counted into the metrics as the transports count it: the clock read twice,
    // the engine's report, the increments
    let metrics = geosteer::metrics::Metrics::new();
    let handles = metrics.handles(&snap.zones);
    let pkt = ecs_query("www.example.com", "202.232.0.0");
    g.bench_function(
        "www A with ECS, end to end (Japan), counted in metrics",
        |b| {
            b.iter(|| {
                let t0 = std::time::Instant::now();
                let mut report = geosteer::metrics::Report::default();
                let o = geosteer::engine::respond_reported(
                    &**snap,
                    &snap.limits,
                    &pkt,
                    src,
                    Transport::Udp,
                    &mut out,
                    &mut report,
                );
                let Outcome::Reply { rcode, truncated } = o else {
                    unreachable!()
                };
                handles.record(
                    &report,
                    &geosteer::metrics::Served {
                        transport: 0,
                        rcode: Some(rcode),
                        truncated,
                        request_len: pkt.len(),
                        response_len: out.len(),
                        nanos: Some(u64::try_from(t0.elapsed().as_nanos()).unwrap_or(0)),
                    },
                );
                out.len()
            })
        },
    );
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
