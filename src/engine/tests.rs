//! Lookup edge cases through the whole engine: packet in, packet out.

use std::net::SocketAddr;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};

use super::*;
use crate::model::ZoneSet;

const ZONE: &str = "$ORIGIN t.\n$TTL 60\n\
@ SOA ns h 1 2 3 4 30\n@ NS ns\nns A 192.0.2.1\n\
a.b.ent A 192.0.2.2\n\
*.w A 192.0.2.3\nsub.w TXT \"x\"\n\
*.e A 192.0.2.4\nx.y.e A 192.0.2.5\n\
l1 CNAME l2\nl2 CNAME l1\nc CNAME a.b.ent\nd CNAME nowhere\n\
cut NS ns.cut\ncut NS ns\nns.cut A 192.0.2.6\n";

fn zones() -> ZoneSet {
    let dir = crate::testutil::dir("engine");
    std::fs::write(dir.join("t.zone"), ZONE).unwrap();
    crate::load::load_dir(&dir).unwrap()
}

fn ask(z: &ZoneSet, name: &str, t: RecordType) -> Message {
    let mut q = Message::query();
    q.add_query(hickory_proto::op::Query::query(name.parse().unwrap(), t));
    let pkt = q.to_vec().unwrap();
    let mut out = Vec::new();
    let client: SocketAddr = "192.0.2.99:5353".parse().unwrap();
    match respond(
        z,
        &Limits::default(),
        &pkt,
        client,
        Transport::Udp,
        &mut out,
    ) {
        Outcome::Reply { .. } => Message::from_vec(&out).unwrap(),
        Outcome::Drop => panic!("dropped"),
    }
}

fn a(m: &Message) -> Vec<String> {
    m.answers.iter().map(|r| r.data.to_string()).collect()
}

#[test]
fn empty_non_terminal_is_nodata_not_nxdomain() {
    let z = zones();
    for n in ["ent.t.", "b.ent.t."] {
        let m = ask(&z, n, RecordType::A);
        assert_eq!(m.metadata.response_code, ResponseCode::NoError, "{n}");
        assert!(m.answers.is_empty());
        assert_eq!(
            m.authorities[0].ttl, 30,
            "negative TTL is the SOA minimum here"
        );
    }
    assert_eq!(
        ask(&z, "c.b.ent.t.", RecordType::A).metadata.response_code,
        ResponseCode::NXDomain
    );
}

#[test]
fn wildcards() {
    let z = zones();
    let m = ask(&z, "foo.w.t.", RecordType::A);
    assert_eq!(a(&m), ["192.0.2.3"]);
    assert_eq!(
        m.answers[0].name.to_string(),
        "foo.w.t.",
        "synthesised owner"
    );
    // NODATA at a wildcard
    let m = ask(&z, "foo.w.t.", RecordType::AAAA);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.answers.is_empty());
    // no wildcard at or below an existing name
    assert!(ask(&z, "sub.w.t.", RecordType::A).answers.is_empty());
    assert_eq!(
        ask(&z, "x.sub.w.t.", RecordType::A).metadata.response_code,
        ResponseCode::NXDomain
    );
    // an empty non-terminal (y.e) blocks the wildcard above it
    assert_eq!(
        ask(&z, "z.y.e.t.", RecordType::A).metadata.response_code,
        ResponseCode::NXDomain
    );
    assert_eq!(a(&ask(&z, "q.e.t.", RecordType::A)), ["192.0.2.4"]);
}

#[test]
fn cname_chains_loops_and_dangling() {
    let z = zones();
    let m = ask(&z, "c.t.", RecordType::A);
    assert_eq!(a(&m), ["a.b.ent.t.", "192.0.2.2"]);
    let m = ask(&z, "l1.t.", RecordType::A);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert_eq!(m.answers.len(), 2, "a loop stops where it closes");
    let m = ask(&z, "d.t.", RecordType::A);
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain, "RFC 6604");
    assert_eq!(a(&m), ["nowhere.t."]);
}

#[test]
fn delegation_is_a_referral_with_glue() {
    let z = zones();
    for n in ["cut.t.", "deep.below.cut.t."] {
        let m = ask(&z, n, RecordType::A);
        assert!(!m.metadata.authoritative);
        assert!(m.answers.is_empty());
        assert_eq!(m.authorities.len(), 2);
        let glue: Vec<_> = m.additionals.iter().map(|r| r.name.to_string()).collect();
        assert!(glue.contains(&"ns.cut.t.".to_string()), "{glue:?}");
        assert!(glue.contains(&"ns.t.".to_string()), "{glue:?}");
    }
    // DS at the cut is the parent's: authoritative NODATA
    let m = ask(&z, "cut.t.", RecordType::DS);
    assert!(m.metadata.authoritative);
    assert_eq!(m.authorities[0].record_type(), RecordType::SOA);
    assert!(matches!(
        m.additionals.first().map(|r| &r.data),
        None | Some(RData::A(_))
    ));
}
