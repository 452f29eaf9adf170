//! Hot reload end to end (issue 7): a real server, real files edited the ways editors, `mv`,
//! scripts and Kubernetes edit them, real UDP queries throughout.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{RData, RecordType};

use common::*;

const LIVE: &str =
    "$ORIGIN live.test.\n$TTL 60\n@ SOA ns h 1 7200 3600 1209600 60\n@ NS ns\nns A 192.0.2.53\n";

fn live_zone(v: &str) -> String {
    format!("{LIVE}v TXT \"{v}\"\n")
}

fn pools(member: u8) -> String {
    format!(
        "version = 1\n[datacenters]\na = {{}}\n[pools.web]\nnames = [\"www\"]\nmembers = {{ a = [\"192.0.2.{member}\"] }}\n"
    )
}

fn cm_zone(v: &str) -> String {
    format!(
        "$ORIGIN cm.test.\n$TTL 60\n@ SOA ns h 1 7200 3600 1209600 60\n@ NS ns\nns A 192.0.2.53\nv TXT \"{v}\"\n"
    )
}

/// A configuration directory: `geosteer.toml`, `zones/` (with a ConfigMap-style `..data`
/// symlink for `cm.test`), `geo/db.mmdb`.
struct Setup {
    dir: PathBuf,
    server: Server,
    cm_version: usize,
}

impl Setup {
    fn new(tag: &str) -> Setup {
        let dir = tempdir(tag);
        let zones = dir.join("zones");
        std::fs::create_dir_all(&zones).unwrap();
        std::fs::create_dir_all(dir.join("geo")).unwrap();
        std::fs::copy(
            root().join("geodata/dbip-country.mmdb"),
            dir.join("geo/db.mmdb"),
        )
        .unwrap();
        std::fs::copy(
            root().join("zones/example.com.zone"),
            zones.join("example.com.zone"),
        )
        .unwrap();
        std::fs::copy(
            root().join("zones/example.com.pools.toml"),
            zones.join("example.com.pools.toml"),
        )
        .unwrap();
        std::fs::write(zones.join("live.test.zone"), live_zone("0")).unwrap();
        std::fs::write(zones.join("live.test.pools.toml"), pools(1)).unwrap();
        // Kubernetes mounts a ConfigMap as ..data -> ..<version>/, files -> ..data/<file>
        std::fs::create_dir_all(zones.join("..v0")).unwrap();
        std::fs::write(zones.join("..v0/cm.test.zone"), cm_zone("0")).unwrap();
        std::os::unix::fs::symlink("..v0", zones.join("..data")).unwrap();
        std::os::unix::fs::symlink("..data/cm.test.zone", zones.join("cm.test.zone")).unwrap();
        std::fs::write(dir.join("geosteer.toml"), config_text("")).unwrap();
        let cfg = dir.join("geosteer.toml");
        let server = Server::start(&["--config", cfg.to_str().unwrap()]);
        Setup {
            dir,
            server,
            cm_version: 0,
        }
    }

    fn zones(&self) -> PathBuf {
        self.dir.join("zones")
    }

    fn http(&self) -> SocketAddr {
        self.server.http().expect("the http endpoint")
    }

    /// Writes `text` to a temporary file and renames it over `name`, as editors save.
    fn save_by_rename(&self, name: &str, text: &str) {
        let tmp = self.zones().join(format!(".{name}.tmp"));
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, self.zones().join(name)).unwrap();
    }

    /// Swaps the ConfigMap's `..data` symlink to a new version holding `text`.
    fn swap_configmap(&mut self, text: &str) {
        let z = self.zones();
        let old = self.cm_version;
        self.cm_version += 1;
        let new = format!("..v{}", self.cm_version);
        std::fs::create_dir_all(z.join(&new)).unwrap();
        std::fs::write(z.join(&new).join("cm.test.zone"), text).unwrap();
        std::os::unix::fs::symlink(&new, z.join("..data_tmp")).unwrap();
        std::fs::rename(z.join("..data_tmp"), z.join("..data")).unwrap();
        std::fs::remove_dir_all(z.join(format!("..v{old}"))).unwrap();
    }

    /// POST /reload and wait for its result.
    fn reload(&self) -> (u16, String) {
        http(self.http(), "POST", "/reload")
    }

    fn status(&self) -> String {
        let (code, body) = http(self.http(), "GET", "/status");
        assert_eq!(code, 200);
        body
    }
}

fn config_text(extra: &str) -> String {
    format!(
        "zones = \"zones\"\ngeoip = [\"geo/db.mmdb\"]\nhttp = \"127.0.0.1:0\"\n{extra}[reload]\ncheck_interval = \"0s\"\n"
    )
}

/// The TXT string at `name`, or the rcode when there is none.
fn txt(addr: SocketAddr, name: &str) -> String {
    let m = ask(addr, name, RecordType::TXT);
    m.answers
        .iter()
        .find_map(|r| match &r.data {
            RData::TXT(t) => Some(String::from_utf8_lossy(&t.txt_data[0]).to_string()),
            _ => None,
        })
        .unwrap_or_else(|| m.metadata.response_code.to_string())
}

fn a_record(addr: SocketAddr, name: &str) -> String {
    let m = ask(addr, name, RecordType::A);
    m.answers
        .iter()
        .map(|r| r.data.to_string())
        .next()
        .unwrap_or_else(|| m.metadata.response_code.to_string())
}

/// Counts of a client loop's answers.
#[derive(Debug, Default)]
struct Tally {
    sent: u64,
    noerror: u64,
    other: Vec<String>,
    timeouts: u64,
}

/// Queries the server over UDP as fast as one outstanding query allows until `stop`.
fn hammer(addr: SocketAddr, stop: Arc<AtomicBool>) -> Tally {
    let names = [
        ("v.live.test", RecordType::TXT),
        ("www.live.test", RecordType::A),
        ("v.cm.test", RecordType::TXT),
        ("www.example.com", RecordType::A),
        ("api.example.com", RecordType::A),
    ];
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut t = Tally::default();
    let mut buf = [0u8; 4096];
    let mut id: u16 = 0;
    while !stop.load(Ordering::Relaxed) {
        id = id.wrapping_add(1);
        let (name, qt) = names[usize::from(id) % names.len()];
        s.send_to(&query(id, name, qt, Some(1232)), addr).unwrap();
        t.sent += 1;
        loop {
            match s.recv_from(&mut buf) {
                Ok((n, _)) => {
                    let m = parse(&buf[..n]);
                    if m.metadata.id != id {
                        continue; // a late answer to a query that timed out
                    }
                    if m.metadata.response_code == ResponseCode::NoError {
                        t.noerror += 1;
                    } else {
                        t.other
                            .push(format!("{name} {qt}: {}", m.metadata.response_code));
                    }
                }
                Err(_) => t.timeouts += 1,
            }
            break;
        }
    }
    t
}

/// Waits until `check` returns `want`, within `within` of `since`; panics otherwise.
fn reflects(since: Instant, within: Duration, what: &str, want: &str, check: impl Fn() -> String) {
    loop {
        let got = check();
        if got == want {
            return;
        }
        assert!(
            since.elapsed() < within,
            "{what}: still {got:?}, want {want:?}, {:?} after the last write",
            since.elapsed()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Acceptance 1: 100+ edits of zone and pool files in every way files get edited, under a
/// steady UDP load: no failed answer, no lost query, every final state served within 1 s.
#[test]
fn edits_under_load_lose_no_query() {
    let mut s = Setup::new("reload-load");
    let addr = s.server.addr;
    let stop = Arc::new(AtomicBool::new(false));
    let client = {
        let stop = stop.clone();
        std::thread::spawn(move || hammer(addr, stop))
    };
    let within = Duration::from_secs(1);
    let mut edits = 0;
    // 1. an editor's save: a temporary file renamed over the zone (20 times)
    for i in 1..=20 {
        s.save_by_rename("live.test.zone", &live_zone(&format!("r{i}")));
        edits += 1;
        let t = Instant::now();
        reflects(t, within, "rename", &format!("r{i}"), || {
            txt(addr, "v.live.test")
        });
    }
    // 2. a write in place, and a pool file saved by rename (10 each)
    for i in 1..=10u8 {
        std::fs::write(
            s.zones().join("live.test.zone"),
            live_zone(&format!("w{i}")),
        )
        .unwrap();
        s.save_by_rename("live.test.pools.toml", &pools(10 + i));
        edits += 2;
        let t = Instant::now();
        reflects(t, within, "in place", &format!("w{i}"), || {
            txt(addr, "v.live.test")
        });
        reflects(t, within, "pool", &format!("192.0.2.{}", 10 + i), || {
            a_record(addr, "www.live.test")
        });
    }
    // 3. delete and recreate (10)
    for i in 1..=10 {
        let p = s.zones().join("live.test.zone");
        std::fs::remove_file(&p).unwrap();
        std::fs::write(&p, live_zone(&format!("d{i}"))).unwrap();
        edits += 1;
        let t = Instant::now();
        reflects(t, within, "recreate", &format!("d{i}"), || {
            txt(addr, "v.live.test")
        });
    }
    // 4. a Kubernetes ConfigMap update: the ..data symlink swapped (10)
    for i in 1..=10 {
        s.swap_configmap(&cm_zone(&format!("k{i}")));
        edits += 1;
        let t = Instant::now();
        reflects(t, within, "..data swap", &format!("k{i}"), || {
            txt(addr, "v.cm.test")
        });
    }
    // 5. a script writing 50 times within one second
    for i in 1..=50 {
        std::fs::write(
            s.zones().join("live.test.zone"),
            live_zone(&format!("b{i}")),
        )
        .unwrap();
        edits += 1;
        std::thread::sleep(Duration::from_millis(15));
    }
    let t = Instant::now();
    reflects(t, within, "burst", "b50", || txt(addr, "v.live.test"));
    stop.store(true, Ordering::Relaxed);
    let tally = client.join().unwrap();
    eprintln!("{edits} edits, client: {tally:?}");
    assert!(edits >= 100);
    assert!(tally.sent > 1_000, "{tally:?}");
    assert!(tally.other.is_empty(), "failed answers: {:?}", tally.other);
    // loopback loses nothing: not a single query may go unanswered during a swap
    assert_eq!(tally.timeouts, 0, "{tally:?}");
    assert!(s.server.alive());
}

/// Acceptance 2: ten kinds of broken edit each leave the answers unchanged, show in /status and
/// the log with file:line, and the correct edit after it is applied.
#[test]
fn broken_edits_change_nothing_and_the_next_good_edit_applies() {
    let s = Setup::new("reload-broken");
    let addr = s.server.addr;
    let z = s.zones();
    let live = z.join("live.test.zone");
    let pool = z.join("live.test.pools.toml");
    let cfg = s.dir.join("geosteer.toml");
    let mmdb = s.dir.join("geo/db.mmdb");
    let good_mmdb = std::fs::read(&mmdb).unwrap();
    type Edit = Box<dyn Fn()>;
    let cases: Vec<(&str, Edit, String)> = vec![
        (
            "zone syntax error",
            Box::new({
                let live = live.clone();
                move || {
                    std::fs::write(&live, format!("{}x A 192.0.2.300\n", live_zone("bad"))).unwrap()
                }
            }),
            format!("{}:7: bad A data", live.display()),
        ),
        (
            "missing SOA",
            Box::new({
                let live = live.clone();
                move || {
                    std::fs::write(
                        &live,
                        "$ORIGIN live.test.\n$TTL 60\n@ NS ns\nns A 192.0.2.1\nv TXT \"bad\"\n",
                    )
                    .unwrap()
                }
            }),
            format!("{}: the zone live.test. has no SOA record", live.display()),
        ),
        (
            "CNAME conflict",
            Box::new({
                let live = live.clone();
                move || std::fs::write(&live, format!("{}v CNAME ns\n", live_zone("bad"))).unwrap()
            }),
            "has a CNAME and other data".to_string(),
        ),
        (
            "unknown key in a pool file",
            Box::new({
                let pool = pool.clone();
                move || std::fs::write(&pool, format!("colour = 1\n{}", pools(99))).unwrap()
            }),
            format!("{}:1: unknown key 'colour'", pool.display()),
        ),
        (
            "unknown datacenter",
            Box::new({
                let pool = pool.clone();
                move || std::fs::write(&pool, pools(99).replace("a = [", "zz = [")).unwrap()
            }),
            "unknown datacenter 'zz'".to_string(),
        ),
        (
            "empty member list",
            Box::new({
                let pool = pool.clone();
                move || std::fs::write(&pool, pools(99).replace("[\"192.0.2.99\"]", "[]")).unwrap()
            }),
            "empty member list".to_string(),
        ),
        (
            "pool and zone name conflict",
            Box::new({
                let live = live.clone();
                move || {
                    std::fs::write(&live, format!("{}www A 192.0.2.7\n", live_zone("bad"))).unwrap()
                }
            }),
            "also has static A data".to_string(),
        ),
        (
            "truncated GeoIP database",
            Box::new({
                let (mmdb, good) = (mmdb.clone(), good_mmdb.clone());
                move || std::fs::write(&mmdb, &good[..good.len() / 2]).unwrap()
            }),
            format!("{}", mmdb.display()),
        ),
        (
            "unreadable zone file",
            Box::new({
                let live = live.clone();
                move || std::fs::write(&live, b"\xff\xfe not text\n").unwrap()
            }),
            format!("{}: cannot read", live.display()),
        ),
        (
            "broken config file",
            Box::new({
                let cfg = cfg.clone();
                move || std::fs::write(&cfg, format!("{}colour = 1\n", config_text(""))).unwrap()
            }),
            "unknown key 'colour'".to_string(),
        ),
    ];
    for (i, (what, edit, expect)) in cases.iter().enumerate() {
        let before_txt = txt(addr, "v.live.test");
        let before_www = a_record(addr, "www.live.test");
        let gen_before = generation(&s.status());
        edit();
        let (code, body) = s.reload();
        assert_eq!(code, 422, "{what}: {body}");
        assert!(
            body.contains(expect.as_str()),
            "{what}: {expect} not in {body}"
        );
        let status = s.status();
        assert!(
            status.contains("\"ok\":false") && status.contains(expect.as_str()),
            "{what}: {status}"
        );
        assert_eq!(generation(&status), gen_before, "{what}: nothing installed");
        assert_eq!(txt(addr, "v.live.test"), before_txt, "{what}");
        assert_eq!(a_record(addr, "www.live.test"), before_www, "{what}");
        // the log says it with file:line
        poll(Duration::from_secs(5), "the error in the log", || {
            s.server
                .log
                .try_iter()
                .find(|l| l.contains("reload failed") && l.contains(expect.as_str()))
        });
        // repair everything, with a new value, each file replaced whole (rename over) so a
        // reload the watcher starts meanwhile never reads a half-written file: it is applied
        let replace = |path: &std::path::Path, bytes: &[u8]| {
            let tmp = path.with_extension("repair.tmp");
            std::fs::write(&tmp, bytes).unwrap();
            std::fs::rename(&tmp, path).unwrap();
        };
        replace(&live, live_zone(&format!("fixed{i}")).as_bytes());
        replace(&pool, pools(100 + i as u8).as_bytes());
        replace(&mmdb, &good_mmdb);
        replace(&cfg, config_text("").as_bytes());
        let (code, body) = s.reload();
        assert_eq!(code, 200, "{what}, repaired: {body}");
        assert_eq!(txt(addr, "v.live.test"), format!("fixed{i}"));
        assert_eq!(
            a_record(addr, "www.live.test"),
            format!("192.0.2.{}", 100 + i)
        );
    }
}

fn generation(status: &str) -> u64 {
    let rest = status.split("\"generation\":").nth(1).unwrap();
    rest.split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

fn reloads(status: &str) -> u64 {
    let rest = status.split("\"reloads\":").nth(1).unwrap();
    rest.split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// Acceptance 3: SIGHUP, POST /reload and `geosteer reload` trigger the same reload; ten SIGHUPs
/// during one reload produce at most one further reload.
#[test]
fn every_trigger_reloads_and_signals_coalesce() {
    let s = Setup::new("reload-triggers");
    let addr = s.server.addr;
    let live = s.zones().join("live.test.zone");
    // SIGHUP
    std::fs::write(&live, live_zone("hup")).unwrap();
    let g = generation(&s.status());
    s.server.signal("HUP");
    poll(Duration::from_secs(5), "the SIGHUP reload", || {
        (generation(&s.status()) > g).then_some(())
    });
    assert_eq!(txt(addr, "v.live.test"), "hup");
    assert!(s.status().contains("SIGHUP") || s.status().contains("file change"));
    // POST /reload
    let g = generation(&s.status());
    let (code, body) = s.reload();
    assert_eq!(code, 200, "{body}");
    assert_eq!(generation(&body), g + 1);
    // geosteer reload
    let endpoint = s.http().to_string();
    let (code, out, err) = geosteer(&["reload", "--http", &endpoint]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(generation(&out), g + 2);
    // and from the config file's address (port 0 there: the flag is what reaches this server)
    let (code, _, err) = geosteer(&["reload", "--http", "127.0.0.1:1"]);
    assert_eq!(code, 1);
    assert!(err.contains("cannot reach"), "{err}");

    // a reload that takes a while: a zone of 300,000 names
    let mut big = String::from(
        "$ORIGIN big.test.\n$TTL 60\n@ SOA ns h 1 7200 3600 1209600 60\n@ NS ns\nns A 192.0.2.1\n",
    );
    for i in 0..300_000 {
        big.push_str(&format!("h{i} A 192.0.2.{}\n", i % 250 + 1));
    }
    std::fs::write(s.zones().join("big.test.zone"), big).unwrap();
    // let the watcher's own reload of the new file finish first
    poll(Duration::from_secs(120), "big.test served", || {
        (a_record(addr, "h7.big.test") == "192.0.2.8").then_some(())
    });
    poll(Duration::from_secs(120), "quiet", || {
        (!s.status().contains("\"reloading\":true")).then_some(())
    });
    let before = reloads(&s.status());
    let http_addr = s.http();
    let post = std::thread::spawn(move || http(http_addr, "POST", "/reload"));
    poll(Duration::from_secs(30), "the reload to start", || {
        s.status().contains("\"reloading\":true").then_some(())
    });
    for _ in 0..10 {
        s.server.signal("HUP");
    }
    let during = s.status();
    assert!(
        during.contains("\"reloading\":true") && reloads(&during) == before,
        "the signals must arrive while the first reload runs: {during}"
    );
    assert_eq!(post.join().unwrap().0, 200);
    // exactly one more: the ten signals coalesced
    poll(Duration::from_secs(120), "the coalesced reload", || {
        let st = s.status();
        (!st.contains("\"reloading\":true") && reloads(&st) >= before + 2).then_some(())
    });
    assert_eq!(reloads(&s.status()), before + 2);
}

/// Acceptance 5: systemd's notification protocol, through a fake NOTIFY_SOCKET.
#[test]
fn systemd_is_told_ready_reloading_and_stopping() {
    use std::os::unix::net::UnixDatagram;
    let dir = tempdir("notify");
    let sock_path = dir.join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let zones = dir.join("zones");
    std::fs::create_dir_all(&zones).unwrap();
    std::fs::write(zones.join("live.test.zone"), live_zone("0")).unwrap();
    let mut server = Server::start_with_env(
        &["--zones", zones.to_str().unwrap(), "--http", "127.0.0.1:0"],
        &[("NOTIFY_SOCKET", sock_path.to_str().unwrap())],
    );
    let mut buf = [0u8; 512];
    let mut next = || {
        let n = sock.recv(&mut buf).expect("a notification");
        String::from_utf8_lossy(&buf[..n]).to_string()
    };
    assert_eq!(next(), "READY=1");
    let (code, _) = http(server.http().unwrap(), "POST", "/reload");
    assert_eq!(code, 200);
    let reloading = next();
    let usec: u64 = reloading
        .strip_prefix("RELOADING=1\nMONOTONIC_USEC=")
        .unwrap_or_else(|| panic!("{reloading:?}"))
        .parse()
        .unwrap();
    assert!(usec > 0);
    assert_eq!(next(), "READY=1");
    server.signal("TERM");
    assert_eq!(next(), "STOPPING=1");
    let st = server
        .wait_exit(Duration::from_secs(10))
        .expect("the server stops");
    assert!(st.success(), "{st:?}");
}

/// The shipped unit file passes `systemd-analyze verify` (with the path of the binary just built).
#[test]
fn the_unit_file_verifies() {
    if !have_tool("systemd-analyze") {
        return;
    }
    let unit = std::fs::read_to_string(root().join("dist/geosteer.service")).unwrap();
    for key in [
        "Type=notify",
        "ExecStartPre=",
        "ExecReload=",
        "AmbientCapabilities=CAP_NET_BIND_SERVICE",
        "DynamicUser=yes",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
    ] {
        assert!(unit.contains(key), "{key} missing");
    }
    let d = tempdir("unit");
    let path = d.join("geosteer.service");
    std::fs::write(
        &path,
        unit.replace("/usr/local/bin/geosteer", env!("CARGO_BIN_EXE_geosteer")),
    )
    .unwrap();
    let out = std::process::Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    // messages about the build machine's own units are not ours
    let ours: Vec<&str> = err.lines().filter(|l| l.contains("geosteer")).collect();
    assert!(out.status.success() && ours.is_empty(), "{err}");
}

/// A setting only a restart can change is reported as such, and the rest of the reload applies.
#[test]
fn settings_that_need_a_restart_are_reported() {
    let s = Setup::new("reload-restart");
    let cfg = s.dir.join("geosteer.toml");
    std::fs::write(&cfg, config_text("threads = 3\n")).unwrap();
    std::fs::write(s.zones().join("live.test.zone"), live_zone("after")).unwrap();
    let (code, body) = s.reload();
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"needs_restart\":[\"threads\"]"), "{body}");
    assert_eq!(txt(s.server.addr, "v.live.test"), "after");
    poll(Duration::from_secs(5), "the warning", || {
        s.server
            .log
            .try_iter()
            .find(|l| l.contains("threads: that needs a restart"))
    });
}
