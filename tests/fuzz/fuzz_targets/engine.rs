//! Query bytes → the engine → response bytes, over the shipped zones and GeoIP data with a
//! hostile mix added (a CNAME loop, wildcards, a delegation, an empty non-terminal), with DNS
//! cookies, NSID and the identity answers on. The oracle:
//! no panic, a response is decoded by hickory-proto, carries the query's ID, is a response (QR),
//! and fits the size the transport allows.
#![no_main]

use std::net::SocketAddr;
use std::sync::{Arc, LazyLock};

use geosteer::engine::{Limits, Outcome, Transport, respond};
use geosteer::state::State;
use libfuzzer_sys::fuzz_target;

static STATE: LazyLock<Arc<State>> = LazyLock::new(|| {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = std::env::temp_dir().join(format!("geosteer-fuzz-engine-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    for f in ["example.com.zone", "example.com.pools.toml"] {
        let _ = std::fs::copy(root.join("zones").join(f), dir.join(f));
    }
    let hostile = "$ORIGIN h.test.\n$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n\
        a CNAME b\nb CNAME a\n*.w A 192.0.2.2\n*.w AAAA 2001:db8::2\nx.y.z TXT \"ent\"\n\
        sub NS ns.sub\nns.sub A 192.0.2.3\nbig TXT \"".to_string()
        + &"x".repeat(250)
        + "\" \"" + &"y".repeat(250) + "\"\nbig TXT \"" + &"z".repeat(250) + "\"\n";
    let _ = std::fs::write(dir.join("h.test.zone"), hostile);
    let zones = geosteer::load::load_dir(&dir).expect("fuzz zones load");
    let geo = geosteer::geo::Geo::open(&[root.join("geodata/dbip-country.mmdb")])
        .expect("shipped database");
    // cookies on, with the identity answers and NSID, so every EDNS path is reachable
    let mut snap = geosteer::state::Snapshot::plain(zones, Arc::new(geo), Limits::default());
    snap.cookies = Some(geosteer::wire::cookie::Secrets::new(Some([7; 16]), Some([8; 16])));
    snap.identity = geosteer::state::Identity::new("fuzz", "geosteer fuzz", true);
    State::start(snap)
});

fuzz_target!(|data: &[u8]| {
    let snap = STATE.load();
    let client: SocketAddr = "198.51.100.7:5353".parse().expect("address");
    let mut out = Vec::new();
    for transport in [Transport::Udp, Transport::Tcp] {
        match respond(&**snap, &snap.limits, data, client, transport, &mut out) {
            Outcome::Drop => {}
            Outcome::Reply { .. } => {
                let m = hickory_proto::op::Message::from_vec(&out)
                    .unwrap_or_else(|e| panic!("undecodable response ({e}) to {data:?}: {out:?}"));
                assert_eq!(out.get(..2), data.get(..2), "the query's ID");
                assert_eq!(m.metadata.message_type, hickory_proto::op::MessageType::Response);
                if transport == Transport::Udp {
                    assert!(out.len() <= 1232, "{} bytes over UDP", out.len());
                }
            }
        }
    }
});
