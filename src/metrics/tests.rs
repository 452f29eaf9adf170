//! The cells a snapshot counts into: resolved by name, kept across reloads, forgotten when no
//! longer configured; a query counts exactly once in the right cells.

use std::net::SocketAddr;

use super::*;
use crate::engine::{Outcome, Transport, respond_reported};
use crate::state::Limits;

fn shipped() -> ZoneSet {
    crate::load::load_dir(std::path::Path::new("zones")).unwrap()
}

fn ask(zones: &ZoneSet, h: &Handles, name: &str, from: &str) {
    let packet = crate::wire::query::build(
        7,
        &crate::wire::name::parse(name, Some(&[0])).unwrap(),
        rtype::A,
        None,
        None,
    );
    let mut out = Vec::new();
    let mut report = Report::default();
    let client: SocketAddr = from.parse().unwrap();
    let outcome = respond_reported(
        zones,
        &Limits::default(),
        &packet,
        client,
        Transport::Udp,
        &mut out,
        &mut report,
    );
    let Outcome::Reply { rcode, truncated } = outcome else {
        panic!("dropped")
    };
    h.record(
        &report,
        &Served {
            transport: 0,
            rcode: Some(rcode),
            truncated,
            request_len: packet.len(),
            response_len: out.len(),
            nanos: Some(1000),
        },
    );
}

fn decisions(m: &Metrics) -> Vec<(String, &'static str, &'static str, u64)> {
    let mut v = Vec::new();
    m.each_pool(|_, pool, cells| {
        cells.each(|rule, reason, n| v.push((pool.to_string(), rule.name(), reason.name(), n)));
    });
    v
}

fn answers(m: &Metrics, pool: &str, dc: &str) -> u64 {
    let mut n = 0;
    m.each_answer(|_, p, d, v| {
        if p == pool && d == dc {
            n = v;
        }
    });
    n
}

#[test]
fn a_query_counts_once_in_its_cells_and_counts_survive_a_reload() {
    let zones = shipped();
    let m = Metrics::default();
    let h = m.handles(&zones);
    // 10.0.0.0/8 is pinned to ams by a network rule; no GeoIP here, so the rest is the default
    ask(&zones, &h, "www.example.com.", "10.1.2.3:53");
    ask(&zones, &h, "www.example.com.", "10.1.2.3:53");
    ask(&zones, &h, "www.example.com.", "192.0.2.1:53");
    ask(&zones, &h, "nope.example.com.", "192.0.2.1:53");
    ask(&zones, &h, "www.example.org.", "192.0.2.1:53");
    assert_eq!(
        decisions(&m),
        vec![
            ("web".to_string(), "network", "first", 2),
            ("web".to_string(), "default", "nearest", 1),
        ]
    );
    assert_eq!(answers(&m, "web", "ams"), 3);
    assert_eq!(m.common().geoip_misses.load(Ordering::Relaxed), 3);
    let mut rows = Vec::new();
    m.each_zone(|z, cells| cells.each(|q, r, t, v| rows.push((z.to_string(), q, r, t, v))));
    let label = |(z, q, r, t, v): &(String, usize, usize, usize, u64)| {
        format!(
            "{z} {} {} {} {v}",
            qtype_label(*q),
            rcode_label(*r),
            TRANSPORTS[*t]
        )
    };
    let rows: Vec<String> = rows.iter().map(label).collect();
    assert_eq!(
        rows,
        vec![
            "none A REFUSED udp 1",
            "example.com. A NOERROR udp 3",
            "example.com. A NXDOMAIN udp 1",
        ]
    );

    // a reload of the same names keeps the cells: the next snapshot counts on
    let h2 = m.handles(&zones);
    ask(&zones, &h2, "www.example.com.", "10.1.2.3:53");
    assert_eq!(answers(&m, "web", "ams"), 4);

    // a configuration without the zone forgets its cells
    let _h3 = m.handles(&ZoneSet::default());
    assert!(decisions(&m).is_empty());
    assert_eq!(answers(&m, "web", "ams"), 0);
}

#[test]
fn labels_are_bounded() {
    assert_eq!(qtype_label(qtype_index(rtype::AAAA)), "AAAA");
    assert_eq!(qtype_label(qtype_index(12345)), "other");
    assert_eq!(rcode_label(rcode_index(rcode::NXDOMAIN)), "NXDOMAIN");
    assert_eq!(rcode_label(rcode_index(11)), "other");
}
