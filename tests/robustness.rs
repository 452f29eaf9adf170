//! Malformed input never panics the engine, and every reply it sends is a well-formed message.
//! 200,000 mutated and random packets, in process (the network version is in tests/server.rs).

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;

use geosteer::engine::{Limits, Outcome, Transport, respond};

fn seeds() -> Vec<Vec<u8>> {
    use geosteer::wire::{name::from_dotted, query::build};
    let q = |name: &str, t: u16, ecs: Option<&str>| {
        let ecs = ecs.map(|a| (a.parse().unwrap(), 24));
        build(0x1234, &from_dotted(name), t, Some(4096), ecs)
    };
    vec![
        q("www.example.com", 1, Some("202.232.0.0")),
        q("example.com", 28, Some("2001:102::")),
        q("blog.example.com", 1, None),
        q("x.customers.example.com", 255, None),
        q("host.lab.example.com", 2, None),
        q("assets.example.com", 5, Some("81.2.69.0")),
        q("_submission._tcp.example.com", 33, None),
    ]
}

#[test]
fn no_panics_and_well_formed_replies() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let zones = geosteer::load::load_dir(&root.join("zones")).unwrap();
    let geo = geosteer::geo::Geo::open(&[root.join("geodata/dbip-country.mmdb")]).unwrap();
    let state = geosteer::state::State::new(zones, Arc::new(geo), Limits::default());
    let snap = state.load();
    let client: SocketAddr = "198.51.100.1:53".parse().unwrap();
    let seeds = seeds();
    let mut x: u64 = 0x243f_6a88_85a3_08d3;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut out = Vec::new();
    let (mut replies, mut drops) = (0, 0);
    for i in 0..200_000 {
        let mut p = seeds[i % seeds.len()].clone();
        match rnd() % 5 {
            0 => {
                for _ in 0..1 + rnd() % 4 {
                    let j = (rnd() as usize) % p.len();
                    p[j] = rnd() as u8;
                }
            }
            1 => p.truncate((rnd() as usize) % p.len()),
            2 => {
                let j = (rnd() as usize) % p.len();
                p.insert(j, rnd() as u8);
            }
            3 => p.extend((0..rnd() % 16).map(|_| rnd() as u8)),
            _ => p = (0..rnd() % 64).map(|_| rnd() as u8).collect(),
        }
        let transport = if i % 3 == 0 {
            Transport::Tcp
        } else {
            Transport::Udp
        };
        match respond(&**snap, &snap.limits, &p, client, transport, &mut out) {
            Outcome::Reply { .. } => {
                replies += 1;
                assert!(out.len() >= 12);
                if transport == Transport::Udp {
                    assert!(out.len() <= 1232, "a UDP reply over the limit");
                }
                assert_eq!(&out[..2], &p[..2], "the reply carries the query's id");
                assert!(
                    hickory_proto::op::Message::from_vec(&out).is_ok(),
                    "malformed reply to {p:02x?}: {out:02x?}"
                );
            }
            Outcome::Drop => drops += 1,
        }
    }
    assert!(
        replies > 100_000 && drops > 1_000,
        "{replies} replies, {drops} drops"
    );
}
