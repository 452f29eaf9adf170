//! Lookup edge cases through the whole engine: packet in, packet out.

use std::net::SocketAddr;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};

use super::*;
use crate::model::ZoneSet;
use std::sync::Arc;

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

/// A query with the given EDNS: `None` for none, else (payload, DO bit, raw options).
fn packet(id: u16, name: &str, qtype: u16, edns: Option<(u16, bool, &[u8])>) -> Vec<u8> {
    let mut v = id.to_be_bytes().to_vec();
    v.extend([1, 0, 0, 1, 0, 0, 0, 0, 0, u8::from(edns.is_some())]);
    v.extend(crate::wire::name::parse(name, Some(&[0])).unwrap());
    v.extend(qtype.to_be_bytes());
    v.extend(1u16.to_be_bytes());
    if let Some((payload, dnssec_ok, options)) = edns {
        v.extend([0, 0, 41]);
        v.extend(payload.to_be_bytes());
        v.extend([0, 0, if dnssec_ok { 0x80 } else { 0 }, 0]);
        v.extend((options.len() as u16).to_be_bytes());
        v.extend(options);
    }
    v
}

/// An EDNS option.
fn option(code: u16, data: &[u8]) -> Vec<u8> {
    [
        &code.to_be_bytes()[..],
        &(data.len() as u16).to_be_bytes(),
        data,
    ]
    .concat()
}

/// Answers from the batched path's cache are byte for byte what the engine writes without it,
/// with the same report for the metrics: every kind of answer (pool answers, which are never
/// kept; static data, NODATA, NXDOMAIN, wildcards, CNAME chains and loops, referrals with glue,
/// REFUSED, an RRset too large for 512 bytes, an additional section that does not all fit), in
/// three letter cases, with every EDNS variant (none, small and large payloads, DO, NSID,
/// client subnets of both families and /0, a cookie), asked twice so the second round is
/// answered from the cache; then from a new snapshot generation whose data changed.
#[test]
fn cached_answers_equal_the_engine() {
    use crate::geo::Geo;
    use crate::state::Snapshot;

    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = crate::testutil::dir("engine-cache");
    for f in ["example.com.zone", "example.com.pools.toml"] {
        std::fs::copy(root.join("zones").join(f), dir.join(f)).unwrap();
    }
    // `big` is too large for a cache slot; `mid` fits one, and a 512-byte response only
    // without the OPT options of the last EDNS variants below (so the full path truncates it)
    let big: String = (0..12)
        .map(|i| format!("big TXT \"{}\"\n", "x".repeat(60 + i)))
        .collect();
    let big = big
        + &(0..6)
            .map(|i| format!("mid TXT \"{i}{}\"\n", "y".repeat(59)))
            .collect::<String>();
    let glue: String = (0..40)
        .map(|i| format!("@ MX {i} m{i}\nm{i} A 192.0.2.{i}\nm{i} AAAA 2001:db8::{i}\n"))
        .collect();
    std::fs::write(
        dir.join("t.zone"),
        format!("{ZONE}{big}\n$ORIGIN mx.t.\n{glue}"),
    )
    .unwrap();
    // a pool whose answer is NODATA for one network: a kept pool question whose decision is
    // not records goes the full way
    std::fs::write(
        dir.join("t.pools.toml"),
        "version = 1\n[datacenters]\na = {}\nb = {}\n[pools.g]\nnames = [\"g\"]\n\
         members = { a = [\"192.0.2.50\", \"192.0.2.51\"], b = [\"2001:db8::50\"] }\n\
         route = { default = [\"a\", \"b\"], networks = { \"81.2.0.0/16\" = [] } }\n",
    )
    .unwrap();
    let geo = Arc::new(Geo::open(&[root.join("geodata/dbip-country.mmdb")]).unwrap());
    let snapshot = |zones, generation| {
        let mut s = Snapshot::plain(zones, geo.clone(), Limits::default());
        s.generation = generation;
        s.cookies = Some(Secrets::new(Some([7; 16]), None));
        s.identity.nsid = Some(b"ns-test".to_vec().into());
        s
    };
    let snap = snapshot(crate::load::load_dir(&dir).unwrap(), 1);

    let names = [
        "www.example.com",
        "example.com",
        "api.example.com",
        "blog.example.com",
        "cdn.example.com",
        "assets.example.com",
        "status.example.com",
        "nope.example.com",
        "shop.customers.example.com",
        "host.lab.example.com",
        "lab.example.com",
        "_submission._tcp.example.com",
        "ns1.example.com",
        "not-served.org",
        "foo.w.t",
        "sub.w.t",
        "a.b.ent.t",
        "ent.t",
        "l1.t",
        "c.t",
        "d.t",
        "x.cut.t",
        "big.t",
        "mid.t",
        "mx.t",
        "nx.mx.t",
        "g.t",
    ];
    let types = [1u16, 28, 15, 2, 6, 16, 5, 33, 255, 43];
    let ecs4 = option(8, &[0, 1, 24, 0, 81, 2, 69]);
    let ecs6 = option(8, &[0, 2, 48, 0, 0x20, 0x01, 0x02, 0x00, 0, 0]);
    let ecs0 = option(8, &[0, 1, 0, 0]);
    let mapped = option(
        8,
        &[
            0, 2, 120, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 202, 232, 0,
        ],
    );
    let nsid = option(3, &[]);
    let cookie = option(10, &[1, 2, 3, 4, 5, 6, 7, 8]);
    let both = [ecs4.clone(), nsid.clone(), cookie.clone()].concat();
    let ednss: [Option<(u16, bool, &[u8])>; 10] = [
        None,
        Some((512, false, &[])),
        Some((1232, false, &[])),
        Some((4096, true, &[])),
        Some((1232, false, &ecs4)),
        Some((1232, true, &ecs6)),
        Some((1232, false, &ecs0)),
        Some((1232, false, &mapped)),
        Some((512, false, &both)),
        Some((1232, false, &nsid)),
    ];
    let clients: [SocketAddr; 3] = [
        "198.51.100.7:5353".parse().unwrap(),
        "[2001:200::1]:53".parse().unwrap(),
        "127.0.0.1:4000".parse().unwrap(),
    ];
    let mut cache = AnswerCache::new();
    let mut check = |snap: &Snapshot, round: usize| {
        let (mut kept, mut asked) = (0, 0);
        for (i, name) in names.iter().enumerate() {
            let upper = name.to_uppercase();
            let mixed: String = name
                .chars()
                .enumerate()
                .map(|(j, c)| {
                    if j % 2 == 0 {
                        c.to_ascii_uppercase()
                    } else {
                        c
                    }
                })
                .collect();
            for (case, qname) in [name.to_string(), upper, mixed].iter().enumerate() {
                for &t in &types {
                    for (e, edns) in ednss.iter().enumerate() {
                        let client = clients[(i + e + case) % clients.len()];
                        let q = packet((i * 100 + e) as u16, qname, t, *edns);
                        let (mut plain, mut cached) = (Vec::new(), Vec::new());
                        let (mut rp, mut rc) = (Report::default(), Report::default());
                        let lim = &snap.limits;
                        let a = respond_reported(
                            snap,
                            lim,
                            &q,
                            client,
                            Transport::Udp,
                            &mut plain,
                            &mut rp,
                        );
                        let b = respond_cached(
                            snap,
                            lim,
                            &q,
                            client,
                            Transport::Udp,
                            &mut cached,
                            &mut rc,
                            &mut cache,
                        );
                        let what =
                            format!("round {round}: {qname} type {t} edns #{e} from {client}");
                        assert_eq!(a, b, "{what}");
                        assert_eq!(plain, cached, "{what}");
                        assert_eq!(rp, rc, "{what}");
                        let lc = crate::wire::name::parse(name, Some(&[0])).unwrap();
                        asked += 1;
                        kept += usize::from(cache.get(snap.generation, &lc, t).is_some());
                    }
                }
            }
        }
        (kept, asked)
    };
    let (_, asked) = check(&snap, 1);
    let (kept, _) = check(&snap, 2);
    // most static questions are kept (pool answers and truncated ones are not)
    assert!(kept > asked / 2, "{kept} of {asked} kept");

    // a reload: the same names, other data, the next generation
    std::fs::write(
        dir.join("t.zone"),
        ZONE.replace("192.0.2.3", "192.0.2.33")
            .replace("x.y.e A", "x.y.e AAAA 2001:db8::5\nx.y.e A"),
    )
    .unwrap();
    let next = snapshot(crate::load::load_dir(&dir).unwrap(), 2);
    check(&next, 3);
    assert!(cache.get(1, b"\x03foo\x01w\x01t\x00", 1).is_none());
}
