//! Query bytes → the engine → response bytes, over the shipped zones and GeoIP data with a
//! hostile mix added (a CNAME loop, wildcards, a delegation, an empty non-terminal), with DNS
//! cookies, NSID and the identity answers on. The oracle:
//! no panic, a response is decoded by hickory-proto, carries the query's ID, is a response (QR),
//! and fits the size the transport allows; over UDP, the batched path's answer cache
//! (`respond_cached`, asked twice: a miss that may keep the answer, then a hit) gives the same
//! bytes as the engine.
#![no_main]

use std::cell::RefCell;
use std::net::SocketAddr;
use std::sync::{Arc, LazyLock};

use geosteer::engine::{AnswerCache, Limits, Outcome, Transport, respond, respond_cached};
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
        sub NS ns.sub\nns.sub A 192.0.2.3\nbig TXT \""
        .to_string()
        + &"x".repeat(250)
        + "\" \""
        + &"y".repeat(250)
        + "\"\nbig TXT \""
        + &"z".repeat(250)
        + "\"\n";
    let _ = std::fs::write(dir.join("h.test.zone"), hostile);
    let zones = geosteer::load::load_dir(&dir).expect("fuzz zones load");
    let geo = geosteer::geo::Geo::open(&[root.join("geodata/dbip-country.mmdb")])
        .expect("shipped database");
    // cookies on, with the identity answers and NSID, so every EDNS path is reachable
    let mut snap = geosteer::state::Snapshot::plain(zones, Arc::new(geo), Limits::default());
    snap.cookies = Some(geosteer::wire::cookie::Secrets::new(
        Some([7; 16]),
        Some([8; 16]),
    ));
    snap.identity = geosteer::state::Identity::new("fuzz", "geosteer fuzz", true);
    State::start(snap)
});

thread_local! {
    /// One cache for the whole run, as a UDP worker keeps one: earlier inputs' answers stay in it.
    static CACHE: RefCell<AnswerCache> = RefCell::new(AnswerCache::new());
}

/// The engine's answer and the cache's (a miss, then a hit) to one UDP query.
fn engine_and_cached(
    snap: &geosteer::state::Snapshot,
    data: &[u8],
    client: SocketAddr,
) -> [Vec<u8>; 3] {
    let mut outs = [Vec::new(), Vec::new(), Vec::new()];
    let plain = respond(
        snap,
        &snap.limits,
        data,
        client,
        Transport::Udp,
        &mut outs[0],
    );
    if matches!(plain, Outcome::Drop) {
        outs[0].clear();
    }
    CACHE.with_borrow_mut(|cache| {
        for out in &mut outs[1..] {
            let mut report = geosteer::metrics::Report::default();
            let o = respond_cached(
                snap,
                &snap.limits,
                data,
                client,
                Transport::Udp,
                out,
                &mut report,
                cache,
            );
            if matches!(o, Outcome::Drop) {
                out.clear();
            }
        }
    });
    outs
}

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
                assert_eq!(
                    m.metadata.message_type,
                    hickory_proto::op::MessageType::Response
                );
                if transport == Transport::Udp {
                    assert!(out.len() <= 1232, "{} bytes over UDP", out.len());
                }
            }
        }
    }
    // a server cookie holds the time in seconds: a second boundary between the calls changes it,
    // so a difference must survive one retry
    let same = |o: &[Vec<u8>; 3]| o[0] == o[1] && o[0] == o[2];
    if !same(&engine_and_cached(&snap, data, client)) {
        let o = engine_and_cached(&snap, data, client);
        assert!(
            same(&o),
            "the answer cache differs from the engine for {data:?}: {o:?}"
        );
    }
});
