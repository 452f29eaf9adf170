//! The on-call engineer's switch (issue 8): `geosteer drain`, `undrain`, `down`, `up` and
//! `overrides` edit the overrides file, and the running server follows within a second.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::*;

struct Setup {
    dir: PathBuf,
    server: Server,
}

impl Setup {
    fn new(tag: &str) -> Setup {
        let dir = tempdir(tag);
        std::fs::create_dir_all(dir.join("zones")).unwrap();
        for f in ["example.com.zone", "example.com.pools.toml"] {
            std::fs::copy(root().join("zones").join(f), dir.join("zones").join(f)).unwrap();
        }
        std::fs::write(
            dir.join("geosteer.toml"),
            format!(
                "zones = \"zones\"\ngeoip = [\"{}\"]\nhttp = \"127.0.0.1:0\"\n",
                root().join("geodata/dbip-country.mmdb").display()
            ),
        )
        .unwrap();
        let cfg = dir.join("geosteer.toml");
        let server = Server::start(&["--config", cfg.to_str().unwrap()]);
        Setup { dir, server }
    }

    fn cfg(&self) -> String {
        self.dir.join("geosteer.toml").display().to_string()
    }

    /// Runs `geosteer CMD ARGS… --config <ours>`.
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let cfg = self.cfg();
        geosteer(&[args, &["--config", &cfg]].concat())
    }

    /// The addresses a client in the UK gets for www (route EU → [ams, iad]).
    fn uk(&self) -> Vec<String> {
        www(self.server.addr, "81.2.69.0", 24)
    }
}

/// www.example.com A for a client subnet, sorted.
fn www(addr: SocketAddr, subnet: &str, len: u8) -> Vec<String> {
    let q = geosteer::wire::query::build(
        9,
        &wire_name("www.example.com"),
        1,
        Some(1232),
        Some((subnet.parse().unwrap(), len)),
    );
    let m = parse(&udp_raw(addr, &q).unwrap());
    let mut v: Vec<String> = m.answers.iter().map(|r| r.data.to_string()).collect();
    v.sort();
    v
}

const AMS: [&str; 2] = ["198.51.100.10", "198.51.100.11"];
const IAD: [&str; 2] = ["192.0.2.10", "192.0.2.11"];

/// Waits until the UK answer is `want`, at most `within` after `since`.
fn uk_gets(s: &Setup, want: &[&str], since: Instant, within: Duration) {
    loop {
        let got = s.uk();
        if got == want {
            return;
        }
        assert!(
            since.elapsed() < within,
            "still {got:?}, want {want:?} after {:?}",
            since.elapsed()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn drain_moves_traffic_within_a_second_and_undrain_brings_it_back() {
    let s = Setup::new("ovr-drain");
    assert_eq!(s.uk(), AMS);
    let (code, out, err) = s.run(&["drain", "ams", "--reason", "AMS maintenance"]);
    assert_eq!(code, 0, "{out}{err}");
    let t = Instant::now();
    uk_gets(&s, &IAD, t, Duration::from_secs(1));
    // the listing, /status and explain say so, with the reason
    let (code, out, _) = s.run(&["overrides"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("*/ams drain until removed: AMS maintenance"),
        "{out}"
    );
    let (_, status) = http(s.server.http().unwrap(), "GET", "/status");
    assert!(
        status.contains("\"target\":\"*/ams\",\"state\":\"drain\""),
        "{status}"
    );
    assert!(
        status.contains("\"reason\":\"AMS maintenance\""),
        "{status}"
    );
    let (_, explained, _) = s.run(&[
        "explain",
        "--client",
        "127.0.0.1",
        "--ecs",
        "81.2.69.0/24",
        "www.example.com",
    ]);
    assert!(
        explained.contains("drain by override */ams: AMS maintenance"),
        "{explained}"
    );
    // the log says it once
    poll(Duration::from_secs(5), "the log line", || {
        s.server
            .log
            .try_iter()
            .find(|l| l.contains("override in force: */ams drain"))
    });
    let (code, _, err) = s.run(&["undrain", "ams"]);
    assert_eq!(code, 0, "{err}");
    let t = Instant::now();
    uk_gets(&s, &AMS, t, Duration::from_secs(1));
    let (code, _, err) = s.run(&["undrain", "ams"]);
    assert_eq!(code, 1, "nothing left to remove");
    assert!(err.contains("no override of */ams"), "{err}");
}

#[test]
fn an_override_expires_by_itself() {
    let s = Setup::new("ovr-expiry");
    let (code, out, err) = s.run(&["drain", "web/ams", "--for", "2s", "--reason", "short"]);
    assert_eq!(code, 0, "{out}{err}");
    let t = Instant::now();
    uk_gets(&s, &IAD, t, Duration::from_secs(1));
    // back when the expiry passes (whole seconds: at most 3 s from now)
    uk_gets(&s, &AMS, t, Duration::from_secs(4));
    let (_, out, _) = s.run(&["overrides"]);
    assert!(out.contains("web/ams drain expired"), "{out}");
}

#[test]
fn down_and_up_of_one_member() {
    let s = Setup::new("ovr-member");
    let (code, _, err) = s.run(&["down", "web/ams/198.51.100.10", "--reason", "disk errors"]);
    assert_eq!(code, 0, "{err}");
    let t = Instant::now();
    uk_gets(&s, &["198.51.100.11"], t, Duration::from_secs(1));
    // "up" replaces the override of the same target: with no health checks, up is the default
    let (code, _, err) = s.run(&["up", "web/ams/198.51.100.10"]);
    assert_eq!(code, 0, "{err}");
    let t = Instant::now();
    uk_gets(&s, &AMS, t, Duration::from_secs(1));
    let (_, out, _) = s.run(&["overrides"]);
    assert_eq!(
        out.trim(),
        "web/ams/198.51.100.10 up until removed",
        "{out}"
    );
}

#[test]
fn mistakes_change_nothing() {
    let s = Setup::new("ovr-broken");
    // a target that names nothing is refused by the command, and the file is not written
    let (code, _, err) = s.run(&["drain", "nowhere"]);
    assert_eq!(code, 1);
    assert!(err.contains("names no member"), "{err}");
    assert!(!s.dir.join("overrides.toml").exists());
    // a broken file written by hand: reported with its line, the previous overrides stay
    let (code, _, err) = s.run(&["drain", "ams"]);
    assert_eq!(code, 0, "{err}");
    uk_gets(&s, &IAD, Instant::now(), Duration::from_secs(1));
    std::fs::write(
        s.dir.join("overrides.toml"),
        "[[override]]\ntarget = \"*/ams\"\nstate = \"sleeping\"\n",
    )
    .unwrap();
    let (code, body) = http(s.server.http().unwrap(), "POST", "/reload");
    assert_eq!(code, 422, "{body}");
    assert!(
        body.contains("overrides.toml:3: state 'sleeping'"),
        "{body}"
    );
    assert_eq!(s.uk(), IAD, "the drain stays in force");
    // and the commands refuse to edit a broken file
    let (code, _, err) = s.run(&["undrain", "ams"]);
    assert_eq!(code, 1);
    assert!(err.contains("fix the overrides file first"), "{err}");
}

/// The external feed: another system writes member states or weight factors; the server follows
/// within a second, overrides still win, a broken feed changes nothing.
#[test]
fn an_external_feed_marks_members_and_sheds_load() {
    let s = Setup::new("ovr-feed");
    let cfg = s.dir.join("geosteer.toml");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str("feed = \"feed.toml\"\n");
    std::fs::write(&cfg, text).unwrap();
    let feed = s.dir.join("feed.toml");
    let write = |t: &str| {
        let tmp = s.dir.join(".feed.toml.tmp");
        std::fs::write(&tmp, t).unwrap();
        std::fs::rename(&tmp, &feed).unwrap();
    };
    write("\"198.51.100.10\" = \"down\"\n");
    let (code, body) = http(s.server.http().unwrap(), "POST", "/reload");
    assert_eq!(code, 200, "{body}");
    uk_gets(
        &s,
        &["198.51.100.11"],
        Instant::now(),
        Duration::from_secs(1),
    );
    let (_, status) = http(s.server.http().unwrap(), "GET", "/status");
    assert!(
        status.contains("\"member\":\"198.51.100.10\",\"up\":false,\"decided_by\":\"feed down\""),
        "{status}"
    );
    // a weight factor of 0 for the datacenter: its traffic moves on, like a drain
    write("\"web/ams\" = 0\n");
    let t = Instant::now();
    uk_gets(&s, &IAD, t, Duration::from_secs(1));
    // an override beats the feed
    let (code, _, err) = s.run(&["up", "web/ams"]);
    assert_eq!(code, 0, "{err}");
    uk_gets(&s, &AMS, Instant::now(), Duration::from_secs(1));
    // a broken feed: reported, nothing changes
    write("\"web/ams\" = 7\n");
    let (code, body) = http(s.server.http().unwrap(), "POST", "/reload");
    assert_eq!(code, 422, "{body}");
    assert!(
        body.contains("feed.toml:1: weight 7 is not from 0 to 1"),
        "{body}"
    );
    assert_eq!(s.uk(), AMS);
}
