//! Observability end to end (issue 9): the decision counters follow a scripted sequence of
//! queries, health changes and reloads exactly; the scrape passes `promtool check metrics`; a real
//! Prometheus scrapes it; the shipped alert rules pass `promtool test rules`; the query log writes
//! valid JSON lines, sampled as configured; the status page renders in a real browser; the Grafana
//! dashboard asks only for metrics that exist.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, Query, ResponseCode};
use hickory_proto::rr::RecordType;
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsOption};

use common::*;

const ZONE: &str = "$TTL 60\n@ SOA ns h 1 7200 3600 1209600 60\n@ NS ns\nns A 192.0.2.53\n";

/// Pool `web`: datacenter a (127.0.0.1) then b (127.0.0.2), checked over HTTP; 10/8 pinned to b,
/// 172.16/12 geofenced; when both are down, pool `backup` answers (datacenter c, unchecked).
/// Pool `open` fails open.
fn pools(port: u16) -> String {
    format!(
        r#"version = 1
[datacenters]
a = {{}}
b = {{}}
c = {{}}
[checks.web]
type = "http"
port = {port}
path = "/health"
interval = "100ms"
timeout = "100ms"
rise = 1
fall = 1
jitter = "0%"
[pools.web]
names = ["www"]
check = "web"
on_all_down = {{ pool = "backup" }}
members = {{ a = ["127.0.0.1"], b = ["127.0.0.2"] }}
route = {{ default = ["a", "b"], networks = {{ "10.0.0.0/8" = ["b"], "172.16.0.0/12" = [] }} }}
[pools.backup]
names = ["backup"]
members = {{ c = ["192.0.2.99"] }}
[pools.open]
names = ["open"]
check = "web"
on_all_down = "all"
members = {{ a = ["127.0.0.1"] }}
"#
    )
}

/// A zones directory with the pools above, checked against `port`.
fn zones(tag: &str, port: u16) -> PathBuf {
    let dir = tempdir(tag);
    let z = dir.join("zones");
    std::fs::create_dir_all(&z).unwrap();
    std::fs::write(z.join("obs.test.zone"), ZONE).unwrap();
    std::fs::write(z.join("obs.test.pools.toml"), pools(port)).unwrap();
    dir
}

/// Asks `name` A, from a client subnet when given.
fn ask_from(addr: SocketAddr, name: &str, ecs: Option<(&str, u8)>) -> Message {
    let mut m = Message::query();
    m.metadata.id = 0x5151;
    m.add_query(Query::query(name.parse().unwrap(), RecordType::A));
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    if let Some((a, len)) = ecs {
        edns.options_mut()
            .insert(EdnsOption::Subnet(ClientSubnet::new(
                a.parse().unwrap(),
                len,
                0,
            )));
    }
    m.edns = Some(edns);
    parse(&udp_raw(addr, &m.to_vec().unwrap()).expect("an answer"))
}

fn first_a(m: &Message) -> String {
    m.answers
        .first()
        .map(|r| r.data.to_string())
        .unwrap_or_else(|| format!("{}", m.metadata.response_code))
}

/// A scrape, as (metric name, labels) → value.
type Scrape = BTreeMap<(String, BTreeMap<String, String>), f64>;

fn scrape(http_addr: SocketAddr) -> (String, Scrape) {
    let (code, body) = http(http_addr, "GET", "/metrics");
    assert_eq!(code, 200, "{body}");
    let mut out = Scrape::new();
    for line in body
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, value) = line.rsplit_once(' ').unwrap();
        let (name, labels) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        let labels = labels
            .split("\",")
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap();
                (k.to_string(), v.trim_matches('"').to_string())
            })
            .collect();
        out.insert((name.to_string(), labels), value.parse().unwrap());
    }
    (body, out)
}

/// The value of one series (0 when absent: counters that never moved are not all written).
fn value(s: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let want: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    s.get(&(name.to_string(), want)).copied().unwrap_or(0.0)
}

fn decisions(s: &Scrape, rule: &str, reason: &str) -> f64 {
    value(
        s,
        "geosteer_pool_decisions_total",
        &[
            ("zone", "obs.test."),
            ("pool", "web"),
            ("rule", rule),
            ("reason", reason),
        ],
    )
}

fn answers(s: &Scrape, pool: &str, dc: &str) -> f64 {
    value(
        s,
        "geosteer_pool_answers_total",
        &[("zone", "obs.test."), ("pool", pool), ("datacenter", dc)],
    )
}

fn member_up(s: &Scrape, dc: &str, member: &str) -> f64 {
    let k = [
        ("zone", "obs.test."),
        ("pool", "web"),
        ("datacenter", dc),
        ("member", member),
    ];
    let want: BTreeMap<String, String> = k
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    s[&("geosteer_member_up".to_string(), want)]
}

/// The difference `after - before` of every series that changed.
fn delta(before: &Scrape, after: &Scrape, name: &str) -> Vec<(String, f64)> {
    after
        .iter()
        .filter(|((n, _), _)| n == name)
        .filter_map(|((n, l), v)| {
            let d = v - before.get(&(n.clone(), l.clone())).copied().unwrap_or(0.0);
            (d != 0.0).then(|| {
                let labels: Vec<String> = l
                    .iter()
                    .filter(|(k, _)| *k != "zone")
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                (labels.join(","), d)
            })
        })
        .collect()
}

/// Runs `promtool check metrics` on a scrape; panics with its complaints.
fn promtool_check(body: &str) {
    use std::io::Write;
    let mut p = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    p.stdin.take().unwrap().write_all(body.as_bytes()).unwrap();
    let out = p.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn decision_counters_follow_a_scripted_sequence() {
    let a = Target::start("127.0.0.1");
    let b = Target::start_on("127.0.0.2", a.port);
    let dir = zones("obs", a.port);
    let zdir = dir.join("zones");
    let s = Server::start(&["--zones", zdir.to_str().unwrap(), "--http", "127.0.0.1:0"]);
    let web = s.http().unwrap();
    let addr = s.addr;
    poll(Duration::from_secs(10), "readiness", || {
        (http(web, "GET", "/readyz").0 == 200).then_some(())
    });

    // 1. all up: the default route's first datacenter, a network rule, a geofence
    let (_, s0) = scrape(web);
    for _ in 0..3 {
        assert_eq!(first_a(&ask_from(addr, "www.obs.test", None)), "127.0.0.1");
    }
    for _ in 0..2 {
        let m = ask_from(addr, "www.obs.test", Some(("10.1.0.0", 16)));
        assert_eq!(first_a(&m), "127.0.0.2");
    }
    let m = ask_from(addr, "www.obs.test", Some(("172.16.1.0", 24)));
    assert!(m.answers.is_empty() && m.metadata.response_code == ResponseCode::NoError);
    ask_from(addr, "nope.obs.test", None);
    let (_, s1) = scrape(web);
    assert_eq!(
        delta(&s0, &s1, "geosteer_pool_decisions_total"),
        vec![
            ("pool=web,reason=first,rule=default".to_string(), 3.0),
            ("pool=web,reason=first,rule=network".to_string(), 2.0),
            ("pool=web,reason=geofence,rule=network".to_string(), 1.0),
        ]
    );
    assert_eq!(
        delta(&s0, &s1, "geosteer_pool_answers_total"),
        vec![
            ("datacenter=a,pool=web".to_string(), 3.0),
            ("datacenter=b,pool=web".to_string(), 2.0),
        ]
    );
    assert_eq!(
        delta(&s0, &s1, "geosteer_responses_total"),
        vec![
            ("qtype=A,rcode=NOERROR,transport=udp".to_string(), 6.0),
            ("qtype=A,rcode=NXDOMAIN,transport=udp".to_string(), 1.0),
        ]
    );
    assert_eq!(
        delta(&s0, &s1, "geosteer_ecs_queries_total"),
        vec![("family=ipv4".to_string(), 3.0)]
    );
    assert_eq!(member_up(&s1, "a", "127.0.0.1"), 1.0);

    // 2. a goes down: the default route fails over to b, `open` fails open to a
    a.status.store(503, Ordering::SeqCst);
    poll(Duration::from_secs(10), "a to go down", || {
        let (_, m) = scrape(web);
        (member_up(&m, "a", "127.0.0.1") == 0.0).then_some(())
    });
    let (_, s2) = scrape(web);
    for _ in 0..4 {
        assert_eq!(first_a(&ask_from(addr, "www.obs.test", None)), "127.0.0.2");
    }
    for _ in 0..2 {
        assert_eq!(first_a(&ask_from(addr, "open.obs.test", None)), "127.0.0.1");
    }
    let (_, s3) = scrape(web);
    assert_eq!(
        delta(&s2, &s3, "geosteer_pool_decisions_total"),
        vec![
            ("pool=open,reason=fail_open,rule=default".to_string(), 2.0),
            ("pool=web,reason=failover,rule=default".to_string(), 4.0),
        ]
    );
    let open = |s: &Scrape| {
        value(
            s,
            "geosteer_pool_decisions_total",
            &[
                ("zone", "obs.test."),
                ("pool", "open"),
                ("rule", "default"),
                ("reason", "fail_open"),
            ],
        )
    };
    assert_eq!(open(&s3) - open(&s2), 2.0);
    assert_eq!(answers(&s3, "web", "b") - answers(&s2, "web", "b"), 4.0);
    let target_a = format!("127.0.0.1:{}", a.port);
    let trans = |s: &Scrape, to| {
        value(
            s,
            "geosteer_health_transitions_total",
            &[("check", "web"), ("target", &target_a), ("to", to)],
        )
    };
    assert!(trans(&s3, "down") >= 1.0, "a went down");
    assert!(
        value(
            &s3,
            "geosteer_health_probes_total",
            &[("check", "web"), ("target", &target_a), ("result", "fail")]
        ) >= 1.0
    );

    // 3. both down: the fallback pool answers, counted under the pool asked
    b.status.store(503, Ordering::SeqCst);
    poll(Duration::from_secs(10), "b to go down", || {
        let (_, m) = scrape(web);
        (member_up(&m, "b", "127.0.0.2") == 0.0).then_some(())
    });
    let (_, s4) = scrape(web);
    for _ in 0..3 {
        assert_eq!(first_a(&ask_from(addr, "www.obs.test", None)), "192.0.2.99");
    }
    let (_, s5) = scrape(web);
    assert_eq!(
        delta(&s4, &s5, "geosteer_pool_decisions_total"),
        vec![("pool=web,reason=fallback,rule=default".to_string(), 3.0)]
    );
    assert_eq!(
        delta(&s4, &s5, "geosteer_pool_answers_total"),
        vec![("datacenter=c,pool=web".to_string(), 3.0)]
    );

    // 4. both back: the transitions to up are counted
    a.status.store(200, Ordering::SeqCst);
    b.status.store(200, Ordering::SeqCst);
    poll(Duration::from_secs(10), "a to come back", || {
        let (_, m) = scrape(web);
        (member_up(&m, "a", "127.0.0.1") == 1.0 && trans(&m, "up") >= 1.0).then_some(())
    });

    // 5. a good reload, then a broken one
    let gen0 = value(&s5, "geosteer_config_generation", &[]);
    let (code, body) = http(web, "POST", "/reload");
    assert_eq!(code, 200, "{body}");
    std::fs::write(
        zdir.join("obs.test.pools.toml"),
        "version = 1\n[pools.x]\nbogus = 1\n",
    )
    .unwrap();
    let (code, body) = http(web, "POST", "/reload");
    assert_eq!(code, 422, "{body}");
    let (body, s6) = scrape(web);
    assert_eq!(value(&s6, "geosteer_config_generation", &[]), gen0 + 1.0);
    assert_eq!(
        value(&s6, "geosteer_reloads_total", &[("result", "ok")]),
        1.0
    );
    assert_eq!(
        value(&s6, "geosteer_reloads_total", &[("result", "failed")]),
        1.0
    );
    assert_eq!(
        value(&s6, "geosteer_reload_last_attempt_successful", &[]),
        0.0
    );
    // the counters carried over the reload that succeeded
    assert!(decisions(&s6, "default", "first") >= decisions(&s5, "default", "first"));

    // the scrape taken after traffic, failovers and reloads is what promtool wants
    if have_tool("promtool") {
        promtool_check(&body);
    }
    let (code, om) = {
        use std::io::{Read, Write};
        let mut c = std::net::TcpStream::connect(web).unwrap();
        write!(
            c,
            "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: application/openmetrics-text;version=1.0.0\r\n\r\n"
        )
        .unwrap();
        let mut r = String::new();
        c.read_to_string(&mut r).unwrap();
        (r.contains("application/openmetrics-text"), r)
    };
    assert!(code && om.trim_end().ends_with("# EOF"), "{om}");
}

/// A free loopback port (bound, then released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_real_prometheus_scrapes_geosteer() {
    if !have_tool("prometheus") {
        return;
    }
    let s = Server::start(&["--http", "127.0.0.1:0"]);
    let web = s.http().unwrap();
    for _ in 0..5 {
        ask_from(s.addr, "www.example.com", Some(("202.232.0.0", 24)));
    }
    let dir = tempdir("prometheus");
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: geosteer\n    static_configs:\n      - targets: ['{web}']\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let prom = Kill(
        Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let api: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let found = poll(
        Duration::from_secs(60),
        "Prometheus to have scraped",
        || {
            std::net::TcpStream::connect(api).ok()?;
            let (code, body) = http(
                api,
                "GET",
                "/api/v1/query?query=geosteer_queries_total%7Bqtype%3D%22A%22%7D",
            );
            (code == 200 && body.contains("\"zone\":\"example.com.\"")).then_some(body)
        },
    );
    assert!(found.contains("\"transport\":\"udp\""), "{found}");
    assert!(found.contains("\"job\":\"geosteer\""), "{found}");
    let v: serde_json::Value = serde_json::from_str(&found).unwrap();
    let n: f64 = v["data"]["result"][0]["value"][1]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(n >= 5.0, "{found}");
    drop(prom);
}

#[test]
fn the_shipped_alert_rules_pass_promtool() {
    if !have_tool("promtool") {
        return;
    }
    let dist = root().join("dist");
    for args in [
        vec!["check", "rules", "geosteer-alerts.yml"],
        vec!["test", "rules", "geosteer-alerts.test.yml"],
    ] {
        let out = Command::new("promtool")
            .args(&args)
            .current_dir(&dist)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Lines of a file that may not exist yet.
fn lines(p: &Path) -> Vec<String> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn the_query_log_is_json_lines_sampled_as_configured() {
    let dir = tempdir("querylog");
    let log = dir.join("queries.jsonl");
    let config = dir.join("geosteer.toml");
    let zones = root().join("zones");
    let geo = root().join("geodata/dbip-country.mmdb");
    std::fs::write(
        &config,
        format!(
            "zones = \"{}\"\ngeoip = [\"{}\"]\n[query_log]\npath = \"queries.jsonl\"\nsample = 10\nmax_per_second = 100000\n",
            zones.display(),
            geo.display()
        ),
    )
    .unwrap();
    let s = Server::start(&[
        "--config",
        config.to_str().unwrap(),
        "--http",
        "127.0.0.1:0",
    ]);
    for i in 0..200 {
        let ecs = if i % 2 == 0 {
            Some(("202.232.0.0", 24))
        } else {
            Some(("81.2.69.0", 24))
        };
        ask_from(s.addr, "www.example.com", ecs);
    }
    let got = poll(Duration::from_secs(10), "20 log lines", || {
        let l = lines(&log);
        (l.len() >= 20).then_some(l)
    });
    assert_eq!(got.len(), 20, "one query in 10 of 200");
    for l in &got {
        let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
        assert!(v["time"].as_str().unwrap().ends_with('Z'), "{l}");
        assert_eq!(v["client"], "127.0.0.1", "{l}");
        assert_eq!(v["name"], "www.example.com.", "{l}");
        assert_eq!(v["type"], "A", "{l}");
        assert_eq!(v["rcode"], "No Error", "{l}");
        assert_eq!(v["pool"], "web", "{l}");
        assert_eq!(v["transport"], "udp", "{l}");
        let dc = v["datacenter"].as_str().unwrap();
        let ecs = v["ecs"].as_str().unwrap();
        // the sampled queries are every tenth: all from one of the two subnets here
        match ecs {
            "202.232.0.0/24" => assert_eq!(dc, "sin", "{l}"),
            "81.2.69.0/24" => assert_eq!(dc, "ams", "{l}"),
            other => panic!("ecs {other}: {l}"),
        }
        assert_eq!(v["answers"].as_array().unwrap().len(), 2, "{l}");
    }
    let (_, m) = scrape(s.http().unwrap());
    assert_eq!(
        value(
            &m,
            "geosteer_query_log_lines_total",
            &[("result", "written")]
        ),
        20.0
    );
}

#[test]
fn the_query_log_keeps_to_its_budget() {
    let config = shipped_config(
        "querylog-budget",
        "[query_log]\npath = \"q.jsonl\"\nsample = 1\nmax_per_second = 5\n",
    );
    let log = config.with_file_name("q.jsonl");
    let s = Server::start(&["--config", config.to_str().unwrap()]);
    let t0 = Instant::now();
    for _ in 0..100 {
        ask_from(s.addr, "www.example.com", None);
    }
    let secs = t0.elapsed().as_secs() + 1;
    let got = poll(Duration::from_secs(10), "log lines", || {
        let l = lines(&log);
        (l.len() >= 5).then_some(l)
    });
    // at most 5 a second over the seconds the queries took (a second boundary may fall inside)
    assert!(
        got.len() as u64 <= 5 * (secs + 1),
        "{} lines in {secs} s",
        got.len()
    );
}

#[test]
fn the_status_page_shows_a_drained_datacenter_and_a_down_member_in_a_browser() {
    let a = Target::start("127.0.0.1");
    let _b = Target::start_on("127.0.0.2", a.port);
    a.status.store(503, Ordering::SeqCst);
    let dir = zones("page", a.port);
    let zdir = dir.join("zones");
    std::fs::write(
        dir.join("overrides.toml"),
        "[[override]]\ntarget = \"*/b\"\nstate = \"drain\"\nreason = \"maintenance <b>\"\n",
    )
    .unwrap();
    let s = Server::start(&["--zones", zdir.to_str().unwrap(), "--http", "127.0.0.1:0"]);
    let web = s.http().unwrap();
    poll(Duration::from_secs(10), "a to be down", || {
        let (_, m) = scrape(web);
        (member_up(&m, "a", "127.0.0.1") == 0.0).then_some(())
    });
    let (code, html) = http(web, "GET", "/");
    assert_eq!(code, 200);
    // the override's reason is text, not markup
    assert!(html.contains("maintenance &lt;b&gt;"), "{html}");
    if have_tool("tidy") {
        let p = dir.join("page.html");
        std::fs::write(&p, &html).unwrap();
        let out = Command::new("tidy")
            .args(["-errors", "-quiet"])
            .arg(&p)
            .output()
            .unwrap();
        // 0: clean, 1: warnings only, 2: errors
        assert!(
            out.status.code().is_some_and(|c| c < 2),
            "tidy: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    if !have_tool("chromium") {
        return;
    }
    let profile = tempdir("chromium");
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("http://{web}/"))
        .stderr(Stdio::null())
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    // the browser built the tables: the drained datacenter and the down member, as such
    let row = |dc: &str| {
        let start = dom
            .find(&format!("data-dc=\"{dc}\""))
            .unwrap_or_else(|| panic!("no row for {dc}: {dom}"));
        let end = dom[start..].find("</tr>").unwrap() + start;
        dom[start..end].to_string()
    };
    let b_row = row("b");
    assert!(
        b_row.contains("class=\"drained\">drained<"),
        "b is drained: {b_row}"
    );
    let a_row = row("a");
    assert!(a_row.contains("class=\"down\">down<"), "a is down: {a_row}");
    assert!(
        a_row.contains("<code>127.0.0.1</code></td><td class=\"member down\">down</td>"),
        "{a_row}"
    );
    assert!(a_row.contains("status 503"), "the check's reason: {a_row}");
    assert!(dom.contains("maintenance &lt;b&gt;"), "the reason as text");
}

#[test]
fn the_dashboard_asks_only_for_metrics_that_exist() {
    // a configuration with health checks and GeoIP data, after a query: every family has samples
    let a = Target::start("127.0.0.1");
    let _b = Target::start_on("127.0.0.2", a.port);
    let dir = zones("dash", a.port);
    let s = Server::start(&[
        "--zones",
        dir.join("zones").to_str().unwrap(),
        "--http",
        "127.0.0.1:0",
    ]);
    poll(Duration::from_secs(10), "readiness", || {
        (http(s.http().unwrap(), "GET", "/readyz").0 == 200).then_some(())
    });
    ask_from(s.addr, "www.obs.test", Some(("10.0.0.0", 8)));
    let (body, _) = scrape(s.http().unwrap());
    let names: std::collections::BTreeSet<&str> = body
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .collect();
    // the README's metrics table lists every family of the scrape, and nothing else
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let families: std::collections::BTreeSet<&str> = body
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    let documented: std::collections::BTreeSet<&str> = readme
        .lines()
        .filter_map(|l| l.strip_prefix("| `geosteer_"))
        .filter_map(|l| l.split('`').next())
        .collect();
    let documented: std::collections::BTreeSet<String> =
        documented.iter().map(|n| format!("geosteer_{n}")).collect();
    let families: std::collections::BTreeSet<String> =
        families.iter().map(|n| n.to_string()).collect();
    assert_eq!(
        documented, families,
        "README's metrics table vs a live scrape"
    );
    let dash = std::fs::read_to_string(root().join("dist/grafana-dashboard.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&dash).unwrap();
    let mut exprs = Vec::new();
    fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, x) in m {
                    if k == "expr" {
                        out.push(x.as_str().unwrap().to_string());
                    } else {
                        walk(x, out);
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    walk(&v, &mut exprs);
    assert!(exprs.len() >= 8, "{exprs:?}");
    for e in &exprs {
        let used: Vec<&str> = e
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| w.starts_with("geosteer_"))
            .collect();
        assert!(!used.is_empty(), "{e}");
        for name in used {
            assert!(names.contains(name), "{name} (in {e}) is not in a scrape");
        }
    }
}

#[test]
fn live_explain_equals_geosteer_explain() {
    let s = Server::start(&["--http", "127.0.0.1:0"]);
    let web = s.http().unwrap();
    for (client, ecs, name, qtype) in [
        (
            "198.51.100.7",
            Some("202.232.0.0/24"),
            "www.example.com",
            "A",
        ),
        ("198.51.100.7", Some("81.2.69.0/24"), "example.com", "AAAA"),
        ("10.1.2.3", None, "www.example.com", "A"),
        ("192.0.2.1", None, "assets.example.com", "A"),
        ("192.0.2.1", None, "nope.example.com", "A"),
        ("192.0.2.1", None, "example.com", "MX"),
    ] {
        let mut args = vec!["explain", "--client", client];
        if let Some(e) = ecs {
            args.extend(["--ecs", e]);
        }
        args.extend([name, qtype]);
        let (code, files, err) = geosteer(&args);
        assert_eq!(code, 0, "{err}");
        let endpoint = web.to_string();
        let mut remote = vec!["explain", "--server", &endpoint];
        remote.extend(&args[1..]);
        let (code, live, err) = geosteer(&remote);
        assert_eq!(code, 0, "{err}");
        assert_eq!(live, files, "{args:?}");
        // and the JSON itself carries the same steps and records
        let mut path = format!("/explain?client={client}&name={name}&type={qtype}");
        if let Some(e) = ecs {
            path.push_str(&format!("&ecs={}", e.replace('/', "%2F")));
        }
        let (code, body) = http(web, "GET", &path);
        assert_eq!(code, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        for step in v["steps"].as_array().unwrap() {
            assert!(files.contains(step["step"].as_str().unwrap()), "{step}");
        }
        for r in v["answer"]["records"].as_array().unwrap() {
            assert!(files.contains(r.as_str().unwrap()), "{r}");
        }
    }
    let (code, body) = http(web, "GET", "/explain?client=nonsense&name=x");
    assert_eq!(code, 400);
    assert!(body.contains("\"error\""), "{body}");
}

/// The batched UDP path times a whole batch with one clock read: its latency histogram still
/// counts every answered query once, and only those (a packet that is not a query is dropped
/// unanswered and uncounted). A burst from one socket arrives in batches of several datagrams.
#[test]
fn every_answered_udp_query_is_timed_once() {
    let config = shipped_config("latency", "");
    let s = Server::start(&[
        "--config",
        config.to_str().unwrap(),
        "--http",
        "127.0.0.1:0",
    ]);
    let web = s.http().unwrap();
    let (_, before) = scrape(web);
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let names = [
        "www.example.com",
        "example.com",
        "nope.example.com",
        "blog.example.com",
    ];
    let (queries, junk) = (400, 40);
    for i in 0..queries {
        let q = query(i as u16, names[i % names.len()], RecordType::A, Some(1232));
        sock.send_to(&q, s.addr).unwrap();
        if i % 10 == 0 {
            // a response (QR set): not a query, dropped without an answer
            let mut r = q.clone();
            r[2] |= 0x80;
            sock.send_to(&r, s.addr).unwrap();
        }
    }
    let mut buf = [0u8; 4096];
    let mut answered = 0;
    while answered < queries {
        if sock.recv_from(&mut buf).is_err() {
            break; // a datagram lost on loopback under the burst: counted below as sent
        }
        answered += 1;
    }
    assert!(
        answered > queries / 2,
        "only {answered} of {queries} answered"
    );
    let timed = |s: &Scrape, name: &str| value(s, name, &[("transport", "udp")]);
    let (_, after) = poll(Duration::from_secs(5), "every answer counted", || {
        let (body, after) = scrape(web);
        let n = timed(&after, "geosteer_query_duration_seconds_count")
            - timed(&before, "geosteer_query_duration_seconds_count");
        (n >= answered as f64).then_some((body, after))
    });
    let count = |name: &str| timed(&after, name) - timed(&before, name);
    // every query that reached the server was answered and timed once; the dropped packets
    // were read (their request size counted) but never timed
    assert_eq!(
        count("geosteer_query_duration_seconds_count"),
        count("geosteer_response_size_bytes_count")
    );
    assert_eq!(
        count("geosteer_request_size_bytes_count") - count("geosteer_query_duration_seconds_count"),
        f64::from(junk)
    );
    assert!(count("geosteer_query_duration_seconds_sum") > 0.0);
}
