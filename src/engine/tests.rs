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

/// A query for `t. SOA` with one EDNS option (code, data), from `client`, answered by a snapshot
/// with cookie secret `secret`: the response bytes.
fn ask_with_option(secret: Option<[u8; 16]>, option: (u16, &[u8]), client: &str) -> Vec<u8> {
    let mut snap = Snapshot::plain(zones(), Default::default(), Limits::default());
    snap.cookies = secret.map(|s| Secrets::new(Some(s), None));
    let mut pkt = vec![
        0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 1, b't', 0, 0, 6, 0, 1,
    ];
    let (code, data) = option;
    pkt.extend([0, 0, 41, 4, 0xd0, 0, 0, 0, 0]);
    pkt.extend(((data.len() + 4) as u16).to_be_bytes());
    pkt.extend(code.to_be_bytes());
    pkt.extend((data.len() as u16).to_be_bytes());
    pkt.extend(data);
    let mut out = Vec::new();
    let client: SocketAddr = client.parse().unwrap();
    match respond(
        &snap,
        &Limits::default(),
        &pkt,
        client,
        Transport::Udp,
        &mut out,
    ) {
        Outcome::Reply { .. } => out,
        Outcome::Drop => panic!("dropped"),
    }
}

/// The COOKIE option's data in a response.
fn cookie_of(response: &[u8]) -> Option<Vec<u8>> {
    let m = Message::from_vec(response).unwrap();
    let edns = m.edns?;
    edns.options().options.iter().find_map(|(_, o)| match o {
        hickory_proto::rr::rdata::opt::EdnsOption::Unknown(10, data) => Some(data.clone()),
        _ => None,
    })
}

#[test]
fn a_client_cookie_gets_a_server_cookie_that_is_then_valid() {
    let secret = [7u8; 16];
    let client_cookie = *b"\x01\x02\x03\x04\x05\x06\x07\x08";
    let r = ask_with_option(Some(secret), (10, &client_cookie), "192.0.2.99:5353");
    let m = Message::from_vec(&r).unwrap();
    assert_eq!(m.response_code, ResponseCode::NoError);
    assert_eq!(m.answers.len(), 1);
    let c = cookie_of(&r).expect("a COOKIE option in the reply");
    assert_eq!(c.len(), 24);
    assert_eq!(c[..8], client_cookie);
    assert_eq!(c[8], 1, "version 1 (RFC 9018)");
    let now = crate::wire::cookie::unix_now();
    let stamp = u32::from_be_bytes(c[12..16].try_into().unwrap());
    assert!(now.abs_diff(stamp) <= 1);
    // sent back, it is valid and echoed unchanged
    let again = ask_with_option(Some(secret), (10, &c), "192.0.2.99:5353");
    assert_eq!(cookie_of(&again).unwrap(), c);
    // from another address it is not ours: a fresh one comes back
    let other = ask_with_option(Some(secret), (10, &c), "192.0.2.100:5353");
    let fresh = cookie_of(&other).unwrap();
    assert_eq!(fresh[..8], client_cookie);
    assert_ne!(fresh[16..], c[16..]);
}

#[test]
fn a_malformed_cookie_is_formerr_and_no_secret_means_no_cookie() {
    for len in [0, 7, 9, 15, 41] {
        let r = ask_with_option(Some([1; 16]), (10, &vec![0; len]), "192.0.2.99:5353");
        let m = Message::from_vec(&r).unwrap();
        assert_eq!(m.response_code, ResponseCode::FormErr, "{len} bytes");
    }
    let r = ask_with_option(None, (10, b"12345678"), "192.0.2.99:5353");
    let m = Message::from_vec(&r).unwrap();
    assert_eq!(m.response_code, ResponseCode::NoError);
    assert_eq!(cookie_of(&r), None);
}

#[test]
fn badcookie_carries_a_fresh_cookie() {
    let r = ask_with_option(Some([3; 16]), (10, b"abcdefgh"), "192.0.2.99:5353");
    let mut out = r.clone();
    let c: [u8; 24] = cookie_of(&r).unwrap().try_into().unwrap();
    assert!(crate::wire::reply::badcookie(&mut out, &c, 1232));
    let m = Message::from_vec(&out).unwrap();
    assert_eq!(m.response_code, ResponseCode::BADCOOKIE);
    assert!(m.answers.is_empty() && !m.metadata.truncation && !m.metadata.authoritative);
    assert_eq!(m.queries.len(), 1);
    assert_eq!(cookie_of(&out).unwrap(), c);
}

/// Fuzzer finding (2026-11-25): a TSIG record whose key name is 256 octets long (one over the
/// limit, RFC 1035 §3.1) was echoed into the BADKEY answer, which no client could decode. Such
/// a query is now FORMERR, and every answer decodes.
#[test]
fn an_overlong_tsig_key_name_is_formerr_not_echoed() {
    let pkt = include_bytes!("../../tests/fuzz/corpus/engine/regression-tsig-key-name-256");
    let z = zones();
    let client: SocketAddr = "192.0.2.99:5353".parse().unwrap();
    for transport in [Transport::Udp, Transport::Tcp] {
        let mut out = Vec::new();
        let o = respond(&z, &Limits::default(), pkt, client, transport, &mut out);
        assert!(matches!(o, Outcome::Reply { .. }));
        let m = Message::from_vec(&out).expect("a decodable answer");
        assert_eq!(m.response_code, ResponseCode::FormErr);
    }
}
