//! Shared test helpers: start the real server binary, send real packets, find outside tools.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use hickory_proto::op::Message;
use hickory_proto::rr::RecordType;

pub mod target;
#[allow(unused_imports)]
pub use target::Target;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fresh, empty temporary directory.
pub fn tempdir(tag: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let d = std::env::temp_dir().join(format!("geosteer-{tag}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A running `geosteer serve`, killed when dropped.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    /// Lines the server logged (stderr) after start-up, as they arrive.
    pub log: mpsc::Receiver<String>,
    /// Lines logged up to and including the "listening on" line.
    pub startup: Vec<String>,
}

impl Server {
    /// Starts `geosteer serve --listen 127.0.0.1:0 ARGS...` and waits (with a deadline) for the log
    /// line that names the port.
    pub fn start(args: &[&str]) -> Server {
        Server::start_with_env(args, &[])
    }

    /// [`Server::start`] with extra environment variables.
    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_geosteer"));
        cmd.envs(env.iter().copied());
        Server::spawn(cmd, args)
    }

    /// [`Server::start`] in a process that may open at most `nofile` descriptors (soft and hard
    /// limit: the server cannot raise it).
    pub fn start_with_nofile(args: &[&str], nofile: u32) -> Server {
        let mut cmd = Command::new("sh");
        cmd.args([
            "-c",
            &format!("ulimit -n {nofile} && exec \"$0\" \"$@\""),
            env!("CARGO_BIN_EXE_geosteer"),
        ]);
        Server::spawn(cmd, args)
    }

    /// [`Server::start`] in a process allowed to run on `cpus` only (`taskset -c CPUS`).
    pub fn start_on_cpus(args: &[&str], cpus: &str) -> Server {
        let mut cmd = Command::new("taskset");
        cmd.args(["-c", cpus, env!("CARGO_BIN_EXE_geosteer")]);
        Server::spawn(cmd, args)
    }

    fn spawn(mut cmd: Command, args: &[&str]) -> Server {
        let mut child = cmd
            .arg("serve")
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .env("GEOSTEER_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start geosteer");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                eprintln!("[geosteer] {line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut startup = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    startup.push(line.clone());
                    if let Some(rest) = line.split("listening on ").nth(1) {
                        let addr = rest.split_whitespace().next().unwrap().parse().unwrap();
                        return Server {
                            child,
                            addr,
                            log: rx,
                            startup,
                        };
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    panic!("geosteer did not start listening: {:?}", child.wait());
                }
            }
        }
    }

    /// The HTTP endpoint's address, when the server was started with `--http`.
    pub fn http(&self) -> Option<SocketAddr> {
        self.startup.iter().find_map(|l| {
            let rest = l.split("http endpoint on ").nth(1)?;
            rest.split_whitespace().next()?.parse().ok()
        })
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal (`HUP`, `TERM`) with kill(1).
    pub fn signal(&self, sig: &str) {
        let st = Command::new("kill")
            .args([&format!("-{sig}"), &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(st.success());
    }

    /// Waits (with a deadline) for the process to exit.
    pub fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(st) = self.child.try_wait().unwrap() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// Serves the given zones directory.
    pub fn with_zones(dir: &Path) -> Server {
        Server::start(&["--zones", dir.to_str().unwrap()])
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes a name in wire format (presentation escapes such as `\.` and `\032` allowed).
pub fn wire_name(name: &str) -> Vec<u8> {
    geosteer::wire::name::parse(name, Some(&[0])).unwrap()
}

/// A query packet: one question, RD=0, with an OPT record when `edns` gives a payload size.
pub fn query(id: u16, name: &str, qtype: RecordType, edns: Option<u16>) -> Vec<u8> {
    geosteer::wire::query::build(id, &wire_name(name), u16::from(qtype), edns, None)
}

/// Sends a datagram and waits for the answer (retrying a lost one). `None`: no answer.
pub fn udp_raw(addr: SocketAddr, packet: &[u8]) -> Option<Vec<u8>> {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(700)))
        .unwrap();
    let mut buf = vec![0u8; 65535];
    for _ in 0..3 {
        s.send_to(packet, addr).unwrap();
        if let Ok((n, _)) = s.recv_from(&mut buf) {
            return Some(buf[..n].to_vec());
        }
    }
    None
}

/// Sends one query over a new TCP connection.
pub fn tcp_raw(addr: SocketAddr, packet: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    tcp_send(&mut s, packet);
    tcp_recv(&mut s).expect("a TCP answer")
}

/// A message with its TCP length prefix (RFC 1035 §4.2.2).
pub fn frame(packet: &[u8]) -> Vec<u8> {
    let mut m = (packet.len() as u16).to_be_bytes().to_vec();
    m.extend(packet);
    m
}

/// Writes one length-prefixed message.
pub fn tcp_send(s: &mut TcpStream, packet: &[u8]) {
    s.write_all(&frame(packet)).unwrap();
}

/// A config file serving the shipped zones, with `extra` (TOML) after the `zones` line, in a
/// fresh directory (relative paths in `extra` are relative to it). Returns its path.
pub fn shipped_config(tag: &str, extra: &str) -> PathBuf {
    let config = tempdir(tag).join("geosteer.toml");
    std::fs::write(
        &config,
        format!("zones = \"{}\"\n{extra}", root().join("zones").display()),
    )
    .unwrap();
    config
}

/// Reads one length-prefixed message; `None` at end of stream.
pub fn tcp_recv(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut len = [0u8; 2];
    s.read_exact(&mut len).ok()?;
    let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
    s.read_exact(&mut buf).ok()?;
    Some(buf)
}

/// Parses a response.
pub fn parse(b: &[u8]) -> Message {
    Message::from_vec(b).expect("a well-formed DNS message")
}

/// Queries over UDP and parses the answer.
pub fn ask(addr: SocketAddr, name: &str, qtype: RecordType) -> Message {
    parse(&udp_raw(addr, &query(0x4242, name, qtype, Some(1232))).expect("an answer"))
}

/// Whether an outside program is installed. When it is not, the test is skipped with a notice,
/// unless `GEOSTEER_REQUIRE_TOOLS=1` (set by `.ci/run`), which turns the skip into a failure.
pub fn have_tool(name: &str) -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
        || Path::new("/usr/sbin").join(name).is_file();
    if !found {
        if std::env::var("GEOSTEER_REQUIRE_TOOLS").is_ok_and(|v| v == "1") {
            panic!("{name} is required (GEOSTEER_REQUIRE_TOOLS=1) but not installed");
        }
        eprintln!("SKIPPED: {name} is not installed; install it to run this part of the test");
    }
    found
}

/// Runs the `check` subcommand, returning (exit code, stdout, stderr).
pub fn check(args: &[&str]) -> (i32, String, String) {
    geosteer(&[&["check"], args].concat())
}

/// Runs the geosteer binary to completion: (exit status, stdout, stderr).
pub fn geosteer(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_geosteer"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// One HTTP/1.1 request to the admin endpoint: (status code, body).
pub fn http(addr: SocketAddr, method: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut r = String::new();
    s.read_to_string(&mut r).unwrap();
    let (head, body) = r.split_once("\r\n\r\n").unwrap_or((&r, ""));
    let code = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (code, body.to_string())
}

/// Polls `f` every 10 ms until it returns `Some`, or panics after `within`.
pub fn poll<T>(within: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `packet` (built with an OPT record and no option) with a COOKIE option of `data` added.
pub fn with_cookie(mut packet: Vec<u8>, data: &[u8]) -> Vec<u8> {
    let n = packet.len();
    let rdlen = (4 + data.len()) as u16;
    packet[n - 2..].copy_from_slice(&rdlen.to_be_bytes());
    packet.extend(10u16.to_be_bytes());
    packet.extend((data.len() as u16).to_be_bytes());
    packet.extend(data);
    packet
}

/// The COOKIE option's data in a response.
pub fn cookie_of(response: &Message) -> Option<Vec<u8>> {
    use hickory_proto::rr::rdata::opt::EdnsOption;
    let edns = response.edns.as_ref()?;
    edns.options().options.iter().find_map(|(_, o)| match o {
        EdnsOption::Unknown(10, data) => Some(data.clone()),
        _ => None,
    })
}

/// The value of one series in a Prometheus scrape: `series` is the name with its labels as the
/// server writes them (`geosteer_cookies_total{result="valid"}`), or a bare name.
pub fn metric(scrape: &str, series: &str) -> f64 {
    scrape
        .lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{series} not in the scrape"))
}
