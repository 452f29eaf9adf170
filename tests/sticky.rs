//! Sticky answers that every node of a fleet computes alike, on any build: the answers of the
//! shipped example for 10,000 client networks must equal the committed golden table
//! (`tests/golden/sticky.txt`). A change of the hash, the score or the route compilation that
//! moves any client shows here as a diff. Regenerate deliberately with `GEOSTEER_BLESS=1`.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use geosteer::engine::{Limits, Outcome, Transport, respond};
use geosteer::net::mix;

/// The client networks: 7,000 /24s spread over the IPv4 space, 2,000 /24s inside Russian
/// networks (where the shipped pool splits 90/10 per client network), 1,000 IPv6 /56s.
fn networks() -> Vec<(IpAddr, u8)> {
    let mut out = Vec::new();
    let mut x: u64 = 0x5eed;
    for _ in 0..7_000 {
        x = mix(x.wrapping_add(1));
        let a = Ipv4Addr::from(((x >> 32) as u32) & 0xffff_ff00);
        out.push((IpAddr::V4(a), 24));
    }
    let ru: [(u32, u32); 3] = [
        (u32::from(Ipv4Addr::new(95, 165, 0, 0)), 16),
        (u32::from(Ipv4Addr::new(77, 88, 0, 0)), 18),
        (u32::from(Ipv4Addr::new(87, 250, 224, 0)), 19),
    ];
    for i in 0..2_000u32 {
        let (base, len) = ru[(i % 3) as usize];
        let span = 1u32 << (32 - len - 8);
        let a = base | (((i / 3) % span) << 8);
        out.push((IpAddr::V4(Ipv4Addr::from(a)), 24));
    }
    for _ in 0..1_000 {
        x = mix(x.wrapping_add(1));
        let hi = (u128::from(x) << 64) & !((1u128 << 72) - 1);
        // global unicast 2000::/3
        let a = (hi & !(0b111u128 << 125)) | (1u128 << 125);
        out.push((IpAddr::V6(Ipv6Addr::from(a)), 56));
    }
    out
}

fn table() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let zones = geosteer::load::load_dir(&root.join("zones")).unwrap();
    let geo = geosteer::geo::Geo::open(&[root.join("geodata/dbip-country.mmdb")]).unwrap();
    let state = geosteer::state::State::new(zones, Arc::new(geo), Limits::default());
    let snap = state.load();
    let src: SocketAddr = "192.0.2.1:53".parse().unwrap();
    let www = geosteer::wire::name::from_dotted("www.example.com");
    let mut out = Vec::new();
    let mut s = String::new();
    for (net, len) in networks() {
        let qtype = if net.is_ipv4() { 1 } else { 28 };
        let q = geosteer::wire::query::build(7, &www, qtype, Some(1232), Some((net, len)));
        let o = respond(&**snap, &snap.limits, &q, src, Transport::Udp, &mut out);
        assert!(matches!(o, Outcome::Reply { rcode: 0, .. }), "{net}: {o:?}");
        let m = hickory_proto::op::Message::from_vec(&out).unwrap();
        let answers: Vec<String> = m.answers.iter().map(|r| r.data.to_string()).collect();
        let _ = writeln!(s, "{net}/{len} {}", answers.join(" "));
    }
    s
}

#[test]
fn answers_for_10000_client_networks_match_the_golden_table() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/sticky.txt");
    let got = table();
    assert_eq!(got.lines().count(), 10_000);
    if std::env::var_os("GEOSTEER_BLESS").is_some() {
        std::fs::write(&path, &got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (create it with GEOSTEER_BLESS=1)", path.display()));
    let diff: Vec<String> = want
        .lines()
        .zip(got.lines())
        .filter(|(w, g)| w != g)
        .take(10)
        .map(|(w, g)| format!("  want {w}\n  got  {g}"))
        .collect();
    assert!(
        diff.is_empty() && want.lines().count() == got.lines().count(),
        "sticky answers moved:\n{}",
        diff.join("\n")
    );
}
