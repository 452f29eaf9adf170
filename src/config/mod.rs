//! The process configuration: an optional TOML file, overridden by command-line flags.
//!
//! Every key is optional; with no file at all geosteer serves `./zones` on `127.0.0.1:5353`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::error::{LoadError, Problem};

mod abuse;

pub use abuse::{Cookies, Rrl};
use abuse::{CookiesSpec, RrlSpec};

/// The config file as written (every field optional, unknown keys rejected).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSpec {
    zones: Option<PathBuf>,
    listen: Option<Vec<String>>,
    http: Option<String>,
    threads: Option<usize>,
    geoip: Option<Vec<PathBuf>>,
    overrides: Option<PathBuf>,
    feed: Option<PathBuf>,
    #[serde(default)]
    dns: DnsSpec,
    #[serde(default)]
    reload: ReloadSpec,
    #[serde(default)]
    identity: IdentitySpec,
    #[serde(default)]
    metrics: MetricsSpec,
    #[serde(default)]
    rrl: RrlSpec,
    #[serde(default)]
    cookies: CookiesSpec,
    query_log: Option<QueryLogSpec>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct MetricsSpec {
    enabled: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct QueryLogSpec {
    path: PathBuf,
    sample: Option<u64>,
    max_per_second: Option<u32>,
}

/// The opt-in query log (`[query_log]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryLog {
    /// Where the JSON lines go; `-` is standard output.
    pub path: PathBuf,
    /// Log one query in this many (1: every query). Default 100.
    pub sample: u64,
    /// Lines per second at most. Default 1000.
    pub max_per_second: u32,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct IdentitySpec {
    id: Option<String>,
    version: Option<String>,
    nsid: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReloadSpec {
    watch: Option<bool>,
    check_interval: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DnsSpec {
    udp_payload: Option<u16>,
    udp_workers: Option<usize>,
    udp_batch: Option<bool>,
    pin_workers: Option<bool>,
    tcp_idle_timeout: Option<String>,
    tcp_max_connections: Option<usize>,
    tcp_max_connections_per_client: Option<u32>,
    transport: Option<String>,
    ecs: Option<bool>,
    ecs_trusted: Option<Vec<String>>,
}

/// Validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Directory of `*.zone` files.
    pub zones: PathBuf,
    /// Addresses to serve DNS on, UDP and TCP each.
    pub listen: Vec<SocketAddr>,
    /// Address of the HTTP admin endpoint (`/livez`, `/readyz`, `/status`); none by default.
    pub http: Option<SocketAddr>,
    /// Runtime worker threads.
    pub threads: usize,
    /// Largest UDP response, and the payload size we advertise.
    pub udp_payload: u16,
    /// UDP workers per listen address, each a thread with its own socket (default: the number
    /// of CPUs).
    pub udp_workers: usize,
    /// Linux: the batched loop (`recvmmsg`/`sendmmsg`, one `SO_REUSEPORT` socket per worker,
    /// replies from the address asked). Off, or elsewhere: the portable tokio loop.
    pub udp_batch: bool,
    /// Pin UDP worker `i` to the `i`-th CPU the process may run on (mod their count).
    pub pin_workers: bool,
    /// A TCP connection idle for this long is closed (RFC 7766 §6.2.3).
    pub tcp_idle_timeout: Duration,
    /// Open TCP connections at most; when full, the connection idle the longest is closed to
    /// make room (none idle: the new one is closed).
    pub tcp_max_connections: usize,
    /// Open TCP connections one client address (an IPv6 /64) may hold (default: an eighth of
    /// the cap, at least 4).
    pub tcp_max_connections_per_client: u32,
    /// Who owns the sockets.
    pub transport: TransportKind,
    /// GeoIP databases (MaxMind format). Default: every `*.mmdb` in `./geodata`.
    pub geoip: Vec<PathBuf>,
    /// The on-call engineer's overrides file. Default: `overrides.toml` beside the zones
    /// directory.
    pub overrides: PathBuf,
    /// An external feed of member states written by another system; none by default.
    pub feed: Option<PathBuf>,
    /// Use EDNS Client Subnet to locate clients.
    pub ecs: bool,
    /// Whose ECS option is believed (RFC 7871 §11): `None`, everyone's. Others are located by
    /// their own address.
    pub ecs_trusted: Option<Vec<crate::net::Net>>,
    /// Watch the zones, GeoIP and config directories and reload on a change.
    pub watch: bool,
    /// How often the content of every input is compared with what is served, as a backstop for
    /// missed file events (network filesystems, exhausted inotify watches). Zero: never.
    pub check_interval: Duration,
    /// The answer to `id.server`/`hostname.bind` CH TXT and the NSID; empty: not answered.
    /// Default: the host name.
    pub identity: String,
    /// The answer to `version.bind` CH TXT; empty: not answered.
    pub version_txt: String,
    /// Answer the NSID option (RFC 5001) with `identity`.
    pub nsid: bool,
    /// Count queries and decisions for `/metrics` (`[metrics] enabled`, default on).
    pub metrics: bool,
    /// The query log; none by default.
    pub query_log: Option<QueryLog>,
    /// Response rate limiting for UDP.
    pub rrl: Rrl,
    /// DNS Cookies.
    pub cookies: Cookies,
    /// The config file this was read from, and the flags over it: what a reload reads again.
    pub file: Option<PathBuf>,
    pub flags: Overrides,
}

/// Which socket loops feed the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// Our UDP and TCP loops (the default).
    Geosteer,
    /// hickory-server's `Server`, calling the engine through its `RequestHandler`.
    Hickory,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            zones: PathBuf::from("zones"),
            listen: vec![SocketAddr::from(([127, 0, 0, 1], 5353))],
            http: None,
            threads: 2,
            udp_payload: 1232,
            udp_workers: std::thread::available_parallelism().map_or(2, usize::from),
            udp_batch: cfg!(target_os = "linux"),
            pin_workers: false,
            tcp_idle_timeout: Duration::from_secs(10),
            tcp_max_connections: 512,
            tcp_max_connections_per_client: 64,
            transport: TransportKind::Geosteer,
            geoip: crate::geo::databases_in(Path::new("geodata")),
            overrides: PathBuf::from("overrides.toml"),
            feed: None,
            identity: host_name(),
            version_txt: format!("geosteer {}", env!("CARGO_PKG_VERSION")),
            nsid: true,
            metrics: true,
            query_log: None,
            rrl: Rrl::default(),
            cookies: Cookies::default(),
            ecs: true,
            ecs_trusted: None,
            watch: true,
            check_interval: Duration::from_secs(30),
            file: None,
            flags: Overrides::default(),
        }
    }
}

/// Flags that override the file.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Overrides {
    pub zones: Option<PathBuf>,
    pub listen: Vec<String>,
    pub http: Option<String>,
    pub threads: Option<usize>,
    pub geoip: Vec<PathBuf>,
    pub udp_workers: Option<usize>,
}

/// This machine's host name (Linux), or "geosteer".
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "geosteer".into())
}

/// `overrides.toml` in the directory that holds the zones directory.
fn overrides_beside(zones: &Path) -> PathBuf {
    let parent = zones.parent().unwrap_or(Path::new(""));
    parent.join("overrides.toml")
}

pub use crate::time::parse_duration;

/// Reports `key = v` outside `lo..=hi` (in `unit`), so a typo of a few digits is an error with
/// its line instead of an overflow (or a panic) when the value is first used.
#[allow(clippy::too_many_arguments)]
fn check_range(
    problems: &mut Vec<Problem>,
    file: &Path,
    line: usize,
    key: &str,
    v: u128,
    lo: u128,
    hi: u128,
    unit: &str,
) {
    if v < lo || v > hi {
        problems.push(Problem::new(
            file,
            line,
            format!("{key} = {v}{unit} is out of range ({lo} to {hi}{unit})"),
        ));
    }
}

impl Config {
    /// Settings a running server cannot change: a reload that changes them says "needs a restart".
    pub fn restart_only_changes(&self, new: &Config) -> Vec<&'static str> {
        let mut out = Vec::new();
        let pairs: [(&'static str, bool); 11] = [
            ("metrics", self.metrics != new.metrics),
            ("query_log", self.query_log != new.query_log),
            ("rrl", self.rrl != new.rrl),
            ("listen", self.listen != new.listen),
            ("http", self.http != new.http),
            ("threads", self.threads != new.threads),
            ("dns.udp_workers", self.udp_workers != new.udp_workers),
            (
                "dns.udp_batch",
                self.udp_batch != new.udp_batch || self.pin_workers != new.pin_workers,
            ),
            (
                "dns.tcp_idle_timeout",
                self.tcp_idle_timeout != new.tcp_idle_timeout,
            ),
            (
                "dns.tcp_max_connections",
                self.tcp_max_connections != new.tcp_max_connections
                    || self.tcp_max_connections_per_client != new.tcp_max_connections_per_client,
            ),
            ("dns.transport", self.transport != new.transport),
        ];
        for (key, changed) in pairs {
            if changed {
                out.push(key);
            }
        }
        if self.watch != new.watch || self.check_interval != new.check_interval {
            out.push("reload");
        }
        out
    }

    /// Reads the config file (if any) and applies the flags. Every problem is reported.
    pub fn load(file: Option<&Path>, flags: &Overrides) -> Result<Config, LoadError> {
        let mut problems = Vec::new();
        let (spec, path, text) = match file {
            None => (FileSpec::default(), PathBuf::from("<flags>"), String::new()),
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| LoadError {
                    problems: vec![Problem::new(p, 0, format!("cannot read: {e}"))],
                })?;
                // an empty file would mean "every default": most likely a file caught in the middle
                // of being written, or truncated by mistake, never what an operator meant
                if text.trim().is_empty() {
                    return Err(LoadError {
                        problems: vec![Problem::new(
                            p,
                            0,
                            "the config file is empty (to run on the defaults, give no --config)",
                        )],
                    });
                }
                match toml::from_str::<FileSpec>(&text) {
                    Ok(s) => (s, p.to_path_buf(), text),
                    Err(e) => {
                        return Err(LoadError {
                            problems: vec![crate::error::toml_problem(p, &text, &e)],
                        });
                    }
                }
            }
        };
        let key_line = |key: &str| {
            text.lines()
                .position(|l| l.trim_start().starts_with(key))
                .map_or(0, |i| i + 1)
        };
        let mut c = Config {
            file: file.map(Path::to_path_buf),
            flags: flags.clone(),
            ..Config::default()
        };
        // relative paths in a config file are relative to the file
        let base = file.and_then(Path::parent).unwrap_or(Path::new(""));
        if let Some(z) = spec.zones {
            c.zones = base.join(z);
        }
        if let Some(z) = &flags.zones {
            c.zones = z.clone();
        }
        let listen: Vec<(String, usize, &Path)> = if !flags.listen.is_empty() {
            flags
                .listen
                .iter()
                .map(|s| (s.clone(), 0, Path::new("--listen")))
                .collect()
        } else {
            spec.listen
                .unwrap_or_default()
                .into_iter()
                .map(|s| (s, key_line("listen"), path.as_path()))
                .collect()
        };
        if !listen.is_empty() {
            c.listen.clear();
            for (s, line, p) in listen {
                match s.parse() {
                    Ok(a) => c.listen.push(a),
                    Err(_) => problems.push(Problem::new(
                        p,
                        line,
                        format!(
                            "'{s}' is not an address:port (for example 127.0.0.1:53 or [::1]:53)"
                        ),
                    )),
                }
            }
        }
        let http = match (&flags.http, &spec.http) {
            (Some(h), _) => Some((h.clone(), 0, Path::new("--http"))),
            (None, Some(h)) => Some((h.clone(), key_line("http"), path.as_path())),
            (None, None) => None,
        };
        if let Some((h, line, p)) = http {
            match h.parse() {
                Ok(a) => c.http = Some(a),
                Err(_) => problems.push(Problem::new(
                    p,
                    line,
                    format!("'{h}' is not an address:port for the HTTP endpoint"),
                )),
            }
        }
        if let Some(t) = flags.threads.or(spec.threads) {
            if t == 0 && flags.threads.is_some() {
                // a flag error names the flag, not a file
                problems.push(Problem::new(
                    Path::new("--threads"),
                    0,
                    "must be at least 1",
                ));
            } else if t == 0 {
                problems.push(Problem::new(
                    &path,
                    key_line("threads"),
                    "threads must be at least 1",
                ));
            }
            if t > 1024 {
                problems.push(Problem::new(
                    &path,
                    key_line("threads"),
                    format!("threads = {t} is more than 1024"),
                ));
            }
            c.threads = t.clamp(1, 1024);
        }
        if let Some(p) = spec.dns.udp_payload {
            if p < 512 {
                problems.push(Problem::new(
                    &path,
                    key_line("udp_payload"),
                    "udp_payload must be at least 512",
                ));
            }
            c.udp_payload = p.max(512);
        }
        if let Some(w) = flags.udp_workers.or(spec.dns.udp_workers) {
            let (p, line) = if flags.udp_workers.is_some() {
                (Path::new("--udp-workers"), 0)
            } else {
                (path.as_path(), key_line("udp_workers"))
            };
            check_range(
                &mut problems,
                p,
                line,
                "udp_workers",
                w as u128,
                1,
                1024,
                "",
            );
            c.udp_workers = w.clamp(1, 1024);
        }
        if let Some(b) = spec.dns.udp_batch {
            c.udp_batch = b && cfg!(target_os = "linux");
        }
        if let Some(p) = spec.dns.pin_workers {
            c.pin_workers = p;
        }
        if let Some(t) = &spec.dns.tcp_idle_timeout {
            match parse_duration(t) {
                Some(d) => {
                    // a deadline past the clock's range would panic when a connection comes
                    check_range(
                        &mut problems,
                        &path,
                        key_line("tcp_idle_timeout"),
                        "tcp_idle_timeout",
                        d.as_millis(),
                        1,
                        3_600_000,
                        " ms",
                    );
                    c.tcp_idle_timeout =
                        d.clamp(Duration::from_millis(1), Duration::from_secs(3600));
                }
                None => problems.push(Problem::new(
                    &path,
                    key_line("tcp_idle_timeout"),
                    format!("'{t}' is not a duration (for example 10s, 500ms, 2m)"),
                )),
            }
        }
        match spec.dns.transport.as_deref() {
            None | Some("geosteer") => {}
            Some("hickory") => c.transport = TransportKind::Hickory,
            Some(other) => problems.push(Problem::new(
                &path,
                key_line("transport"),
                format!("transport '{other}' is not one of \"geosteer\", \"hickory\""),
            )),
        }
        if let Some(e) = spec.dns.ecs {
            c.ecs = e;
        }
        if let Some(nets) = &spec.dns.ecs_trusted {
            let mut trusted = Vec::new();
            for n in nets {
                match crate::net::Net::parse(n) {
                    Ok(net) => trusted.push(net),
                    Err(e) => problems.push(Problem::new(
                        &path,
                        key_line("ecs_trusted"),
                        format!("ecs_trusted: {e}"),
                    )),
                }
            }
            c.ecs_trusted = Some(trusted);
        }
        if !flags.geoip.is_empty() {
            c.geoip = flags.geoip.clone();
        } else if let Some(g) = spec.geoip {
            c.geoip = g.into_iter().map(|p| base.join(p)).collect();
        }
        if let Some(n) = spec.dns.tcp_max_connections {
            check_range(
                &mut problems,
                &path,
                key_line("tcp_max_connections"),
                "tcp_max_connections",
                n as u128,
                1,
                1_000_000,
                "",
            );
            c.tcp_max_connections = n.clamp(1, 1_000_000);
            c.tcp_max_connections_per_client = u32::try_from(c.tcp_max_connections / 8)
                .unwrap_or(u32::MAX)
                .max(4);
        }
        if let Some(n) = spec.dns.tcp_max_connections_per_client {
            check_range(
                &mut problems,
                &path,
                key_line("tcp_max_connections_per_client"),
                "tcp_max_connections_per_client",
                u128::from(n),
                1,
                1_000_000,
                "",
            );
            c.tcp_max_connections_per_client = n.max(1);
        }
        c.overrides = match &spec.overrides {
            Some(o) => base.join(o),
            None => overrides_beside(&c.zones),
        };
        c.feed = spec.feed.as_ref().map(|f| base.join(f));
        if let Some(id) = spec.identity.id {
            c.identity = id;
        }
        if let Some(v) = spec.identity.version {
            c.version_txt = v;
        }
        if let Some(n) = spec.identity.nsid {
            c.nsid = n;
        }
        c.rrl.apply(spec.rrl, &mut problems, &path, &key_line);
        c.cookies
            .apply(spec.cookies, &mut problems, &path, &key_line);
        if let Some(m) = spec.metrics.enabled {
            c.metrics = m;
        }
        if let Some(q) = spec.query_log {
            let sample = q.sample.unwrap_or(100);
            let max_per_second = q.max_per_second.unwrap_or(1000);
            if sample == 0 {
                problems.push(Problem::new(
                    &path,
                    key_line("sample"),
                    "query_log.sample must be at least 1 (1: every query)",
                ));
            }
            c.query_log = Some(QueryLog {
                path: if q.path.as_os_str() == "-" {
                    q.path
                } else {
                    base.join(q.path)
                },
                sample: sample.max(1),
                max_per_second,
            });
        }
        if let Some(w) = spec.reload.watch {
            c.watch = w;
        }
        if let Some(t) = &spec.reload.check_interval {
            match parse_duration(t) {
                Some(d) => {
                    check_range(
                        &mut problems,
                        &path,
                        key_line("check_interval"),
                        "check_interval",
                        d.as_millis(),
                        0,
                        86_400_000,
                        " ms",
                    );
                    c.check_interval = d.min(Duration::from_secs(86_400));
                }
                None => problems.push(Problem::new(
                    &path,
                    key_line("check_interval"),
                    format!(
                        "'{t}' is not a duration (for example 30s, 5m; 0s turns the check off)"
                    ),
                )),
            }
        }
        if problems.is_empty() {
            Ok(c)
        } else {
            Err(LoadError::sorted(problems))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_config_file_is_refused() {
        let d = crate::testutil::dir("config-empty");
        let f = d.join("geosteer.toml");
        std::fs::write(&f, "\n  \n").unwrap();
        let e = Config::load(Some(&f), &Overrides::default()).unwrap_err();
        assert!(e.to_string().contains("the config file is empty"), "{e}");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Some(Duration::from_secs(10)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("x"), None);
        assert_eq!(parse_duration("10"), None);
    }

    #[test]
    fn file_then_flags() {
        let dir = std::env::temp_dir().join(format!("geosteer-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("g.toml");
        std::fs::write(
            &f,
            "zones = \"z\"\nlisten = [\"127.0.0.1:53\"]\n[dns]\nudp_payload = 1400\n",
        )
        .unwrap();
        let c = Config::load(Some(&f), &Overrides::default()).unwrap();
        assert_eq!(c.zones, dir.join("z"));
        assert_eq!(c.udp_payload, 1400);
        let flags = Overrides {
            listen: vec!["127.0.0.1:0".into()],
            ..Default::default()
        };
        let c = Config::load(Some(&f), &flags).unwrap();
        assert_eq!(c.listen, vec!["127.0.0.1:0".parse().unwrap()]);

        std::fs::write(&f, "zones = \"z\"\nbogus = 1\n").unwrap();
        let e = Config::load(Some(&f), &Overrides::default()).unwrap_err();
        assert_eq!(e.problems[0].line, 2, "{e}");
    }
}
