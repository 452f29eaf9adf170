//! The `geosteer` binary: command line, logging, exit codes.

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use geosteer::config::{Config, Overrides};
use geosteer::model::overrides::{Overlay, Override, OverrideState, Target};

#[derive(Parser)]
#[command(
    name = "geosteer",
    version,
    about = "A GeoDNS authoritative nameserver",
    long_about = "geosteer answers DNS for the zones in a directory of RFC 1035 zone files, on UDP and TCP.\n\nWith no config file it serves ./zones on 127.0.0.1:5353.",
    after_help = "Examples:\n  geosteer serve                                   serve ./zones on 127.0.0.1:5353\n  geosteer serve --zones /etc/geosteer/zones --listen 0.0.0.0:53 --listen [::]:53\n  geosteer serve --config /etc/geosteer/geosteer.toml\n  geosteer check --zones ./zones                   validate, print every error as file:line: message\n  dig @127.0.0.1 -p 5353 www.example.com A"
)]
struct Cli {
    /// Log filter (tracing syntax: error, warn, info, debug, or per module)
    #[arg(long, global = true, env = "GEOSTEER_LOG", default_value = "info")]
    log: String,
    /// Log line format: text for people, json (one object per line) for log pipelines
    #[arg(
        long,
        global = true,
        env = "GEOSTEER_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
struct Common {
    /// TOML config file; flags given here override it
    #[arg(long, short = 'c')]
    config: Option<PathBuf>,
    /// Directory of *.zone files and their *.pools.toml (default ./zones)
    #[arg(long, short = 'z')]
    zones: Option<PathBuf>,
    /// GeoIP database, MaxMind format (repeatable; default every *.mmdb in ./geodata)
    #[arg(long, short = 'g')]
    geoip: Vec<PathBuf>,
}

/// What `drain`, `down` and `up` write.
#[derive(clap::Args, Clone)]
struct SetOverride {
    /// DATACENTER (every pool), POOL/DATACENTER or POOL/DATACENTER/MEMBER
    target: String,
    /// How long, for example 30m or 2h (default: until removed)
    #[arg(long = "for")]
    duration: Option<String>,
    /// Why: shown in the log, /status and explain
    #[arg(long, default_value = "")]
    reason: String,
}

#[derive(Subcommand)]
enum Command {
    /// Serve DNS until SIGINT or SIGTERM
    #[command(
        after_help = "Examples:\n  geosteer serve\n  geosteer serve --listen 127.0.0.1:0      # any free port; the port is printed in the log\n  geosteer serve --zones zones --listen 0.0.0.0:53 --listen [::]:53 --threads 4"
    )]
    Serve {
        #[command(flatten)]
        common: Common,
        /// Address to serve on, UDP and TCP (repeatable; default 127.0.0.1:5353)
        #[arg(long, short = 'l')]
        listen: Vec<String>,
        /// Address of the HTTP endpoint: /livez, /readyz, /status (default: none)
        #[arg(long)]
        http: Option<String>,
        /// Runtime threads for TCP, the HTTP endpoint and health checks (default 2)
        #[arg(long)]
        threads: Option<usize>,
        /// UDP worker threads per listen address (default: the number of CPUs)
        #[arg(long)]
        udp_workers: Option<usize>,
    },
    /// Validate the configuration and zones; print every problem as file:line: message
    #[command(
        after_help = "Exit status: 0 when everything is valid, 1 when not.\n\nExample:\n  geosteer check --zones zones"
    )]
    Check {
        #[command(flatten)]
        common: Common,
    },
    /// Explain the answer a client would get: GeoIP fields, route, tiers, datacenter, members, TTL, ECS scope
    #[command(
        after_help = "Examples:\n  geosteer explain --client 192.0.2.1 www.example.com\n  geosteer explain --client 198.51.100.7 --ecs 202.232.0.0/24 www.example.com AAAA"
    )]
    Explain {
        #[command(flatten)]
        common: Common,
        /// The address the query comes from (a resolver, or the user's own)
        #[arg(long)]
        client: std::net::IpAddr,
        /// An EDNS Client Subnet the resolver sends, as ADDRESS/PREFIX
        #[arg(long)]
        ecs: Option<String>,
        /// Ask the running server (its HTTP endpoint, host:port) instead of reading the files:
        /// the live configuration, health checks and overrides
        #[arg(long)]
        server: Option<String>,
        /// The name asked for
        name: String,
        /// The type asked for (default A)
        #[arg(default_value = "A")]
        qtype: String,
    },
    /// Take a datacenter or member out of service (no new traffic, still checked) by writing the overrides file
    #[command(
        after_help = "TARGET is DATACENTER (every pool), POOL/DATACENTER or POOL/DATACENTER/MEMBER.\nThe server watches the overrides file and applies it within a second.\n\nExamples:\n  geosteer drain ams --for 2h --reason \"AMS maintenance\"\n  geosteer drain web/iad/192.0.2.10 --reason \"disk errors\""
    )]
    Drain {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        set: SetOverride,
    },
    /// Mark a datacenter or member down, whatever its health checks say
    Down {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        set: SetOverride,
    },
    /// Mark a datacenter or member up, whatever its health checks say
    Up {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        set: SetOverride,
    },
    /// Remove the override of a target: its health checks decide again
    #[command(after_help = "Example:\n  geosteer undrain ams")]
    Undrain {
        #[command(flatten)]
        common: Common,
        /// DATACENTER, POOL/DATACENTER or POOL/DATACENTER/MEMBER, as given to drain
        target: String,
    },
    /// List the overrides file: each target, state, expiry and reason
    Overrides {
        #[command(flatten)]
        common: Common,
    },
    /// Ask the running server to reload its configuration (POST /reload on its HTTP endpoint)
    #[command(
        after_help = "Exit status: 0 when the new configuration is served, 1 when it was refused (the old one keeps serving) or the server could not be reached.\n\nExamples:\n  geosteer reload\n  geosteer reload --config /etc/geosteer/geosteer.toml\n  geosteer reload --http 127.0.0.1:9153"
    )]
    Reload {
        /// The server's config file, to find its HTTP endpoint
        #[arg(long, short = 'c')]
        config: Option<PathBuf>,
        /// The HTTP endpoint (default: the config's `http`, else 127.0.0.1:9153)
        #[arg(long)]
        http: Option<String>,
    },
    /// Ask the running server whether it is alive (GET /livez) or ready (--ready, GET /readyz)
    #[command(
        after_help = "Exit status: 0 when the server says so, 1 otherwise (or when it cannot be reached). For container HEALTHCHECKs and scripts.\n\nExamples:\n  geosteer ping\n  geosteer ping --ready --http 127.0.0.1:9153"
    )]
    Ping {
        /// The server's config file, to find its HTTP endpoint
        #[arg(long, short = 'c')]
        config: Option<PathBuf>,
        /// The HTTP endpoint (default: the config's `http`, else 127.0.0.1:9153)
        #[arg(long)]
        http: Option<String>,
        /// Ask whether it is ready to answer (sockets bound, first health round done)
        #[arg(long)]
        ready: bool,
    },
    /// Print the version
    Version,
    /// Print the manual page (roff), generated from these definitions
    #[command(
        after_help = "Examples:\n  geosteer man > /usr/local/share/man/man1/geosteer.1\n  geosteer man | man -l -"
    )]
    Man,
    /// Print shell completions
    #[command(
        after_help = "Examples:\n  geosteer completions bash > /etc/bash_completion.d/geosteer\n  geosteer completions zsh > \"${fpath[1]}/_geosteer\"\n  geosteer completions fish > ~/.config/fish/completions/geosteer.fish"
    )]
    Completions {
        /// The shell
        shell: clap_complete::Shell,
    },
}

/// How log lines look.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn init_logging(filter: &str, format: LogFormat) {
    // hickory's own per-request logging is noise at info level
    let filter = format!("hickory_server=warn,{filter}");
    let env = tracing_subscriber::EnvFilter::try_new(&filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt()
        .with_env_filter(env)
        .with_writer(std::io::stderr);
    match format {
        // every line has a timestamp (UTC, RFC 3339) and a level, in both formats
        LogFormat::Json => fmt.json().flatten_event(true).init(),
        LogFormat::Text => fmt
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }
}

fn load_config(common: &Common, flags: Overrides) -> Result<Config, ExitCode> {
    let flags = Overrides {
        zones: common.zones.clone(),
        geoip: common.geoip.clone(),
        ..flags
    };
    Config::load(common.config.as_deref(), &flags).map_err(|e| {
        eprintln!("{e}");
        ExitCode::from(1)
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Reload { config, http } => reload(config, http),
        Command::Ping {
            config,
            http,
            ready,
        } => ping(config, http, ready),
        Command::Drain { common, set } => set_override(&common, &set, OverrideState::Drain),
        Command::Down { common, set } => set_override(&common, &set, OverrideState::Down),
        Command::Up { common, set } => set_override(&common, &set, OverrideState::Up),
        Command::Undrain { common, target } => remove_override(&common, &target),
        Command::Overrides { common } => list_overrides(&common),
        Command::Man => {
            use clap::CommandFactory;
            let mut out = Vec::new();
            if let Err(e) = clap_mangen::Man::new(Cli::command()).render(&mut out) {
                eprintln!("cannot render the manual page: {e}");
                return ExitCode::from(1);
            }
            // every subcommand's own page follows, so one page documents the whole tool
            for sub in Cli::command().get_subcommands() {
                let name = format!("geosteer-{}", sub.get_name());
                let sub = sub.clone().name(name);
                if let Err(e) = clap_mangen::Man::new(sub).render(&mut out) {
                    eprintln!("cannot render the manual page: {e}");
                    return ExitCode::from(1);
                }
            }
            print!("{}", String::from_utf8_lossy(&out));
            ExitCode::SUCCESS
        }
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "geosteer",
                &mut std::io::stdout(),
            );
            ExitCode::SUCCESS
        }
        Command::Version => {
            println!("geosteer {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::Check { common } => {
            let config = match load_config(&common, Overrides::default()) {
                Ok(c) => c,
                Err(code) => return code,
            };
            let mut warnings = Vec::new();
            let loaded = geosteer::app::load(&config, &mut warnings);
            for w in &warnings {
                println!("warning: {w}");
            }
            match loaded {
                Ok(geosteer::reload::Loaded {
                    zones,
                    geo,
                    overlay,
                }) => {
                    for a in overlay.active() {
                        println!(
                            "{}:{}: override in force: {} {} ({} members)",
                            a.rule.file.display(),
                            a.rule.line,
                            a.rule.target,
                            a.rule.state.as_str(),
                            a.members
                        );
                    }
                    for z in zones.zones() {
                        println!(
                            "{}: zone {} serial {} ok ({} names, {} pools)",
                            z.file().display(),
                            z.origin(),
                            z.serial(),
                            z.nodes().len(),
                            z.pools().len()
                        );
                    }
                    for db in &geo.databases {
                        println!("{}: GeoIP database ok ({})", db.path.display(), db.kind);
                    }
                    if geo.databases.is_empty()
                        && zones.zones().iter().any(|z| !z.pools().is_empty())
                    {
                        println!(
                            "warning: pools are configured but no GeoIP database is given: clients follow network rules or the default route only"
                        );
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("{e}");
                    eprintln!("{} problem(s) found", e.problems.len());
                    ExitCode::from(1)
                }
            }
        }
        Command::Explain {
            common,
            client,
            ecs,
            name,
            qtype,
            server,
        } => {
            if let Some(addr) = server {
                return explain_remote(&addr, client, ecs.as_deref(), &name, &qtype);
            }
            let config = match load_config(&common, Overrides::default()) {
                Ok(c) => c,
                Err(code) => return code,
            };
            let q = match geosteer::explain::Question::parse(client, ecs.as_deref(), &name, &qtype)
            {
                Ok(q) => q,
                Err(m) => {
                    eprintln!("{m}");
                    return ExitCode::from(2);
                }
            };
            match geosteer::app::load(&config, &mut Vec::new()) {
                Ok(geosteer::reload::Loaded {
                    zones,
                    geo,
                    overlay,
                }) => {
                    let state = geosteer::state::State::start(geosteer::state::Snapshot {
                        zones,
                        geo,
                        limits: geosteer::app::limits(&config),
                        overlay,
                        health: Default::default(),
                        identity: geosteer::state::Identity::new(
                            &config.identity,
                            &config.version_txt,
                            config.nsid,
                        ),
                        generation: 0,
                        metrics: None,
                        cookies: config.cookies.secrets(),
                        ecs_trusted: config.ecs_trusted.as_deref().map(std::sync::Arc::from),
                    });
                    print!("{}", geosteer::explain::explain(&state.load(), &q));
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::from(1)
                }
            }
        }
        Command::Serve {
            common,
            listen,
            http,
            threads,
            udp_workers,
        } => {
            init_logging(&cli.log, cli.log_format);
            let flags = Overrides {
                zones: common.zones.clone(),
                geoip: common.geoip.clone(),
                listen,
                http,
                threads,
                udp_workers,
            };
            let config = match Config::load(common.config.as_deref(), &flags) {
                Ok(c) => c,
                Err(e) => {
                    // a server's fatal errors go to its log, one line (with time and level) each
                    for p in &e.problems {
                        tracing::error!("{p}");
                    }
                    tracing::error!(
                        "{} problem(s) in the configuration, not started",
                        e.problems.len()
                    );
                    return ExitCode::from(1);
                }
            };
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(config.threads)
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("cannot start the runtime: {e}");
                    return ExitCode::from(1);
                }
            };
            match rt.block_on(geosteer::app::serve(config)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    // one log line per problem, so each has its time and level
                    match &e {
                        geosteer::app::ServeError::Load(l) => {
                            for p in &l.problems {
                                tracing::error!("{p}");
                            }
                            tracing::error!("{} problem(s) found, not started", l.problems.len());
                        }
                        other => tracing::error!("{other}"),
                    }
                    ExitCode::from(1)
                }
            }
        }
    }
}

/// The running server's HTTP endpoint: `--http`, else the config file's `http`, else the default.
fn endpoint(config: Option<PathBuf>, http: Option<String>) -> Result<String, ExitCode> {
    if let Some(h) = http {
        return Ok(h
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string());
    }
    let Some(f) = config else {
        return Ok("127.0.0.1:9153".to_string());
    };
    match Config::load(Some(&f), &Overrides::default()) {
        Ok(c) => c.http.map(|a| a.to_string()).ok_or_else(|| {
            eprintln!(
                "{}: no http endpoint is configured; give --http",
                f.display()
            );
            ExitCode::from(1)
        }),
        Err(e) => {
            eprintln!("{e}");
            Err(ExitCode::from(1))
        }
    }
}

/// `geosteer ping`: GET /livez (or /readyz) and exit 0 on 200.
fn ping(config: Option<PathBuf>, http: Option<String>, ready: bool) -> ExitCode {
    let addr = match endpoint(config, http) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let path = if ready { "/readyz" } else { "/livez" };
    match geosteer::admin_client::get(&addr, path) {
        Ok((200, body)) => {
            print!("{body}");
            ExitCode::SUCCESS
        }
        Ok((code, body)) => {
            eprint!("HTTP {code}: {body}");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("cannot reach the server's HTTP endpoint at {addr}: {e}");
            ExitCode::from(1)
        }
    }
}

/// `geosteer reload`: POST /reload to the running server and print what it says.
fn reload(config: Option<PathBuf>, http: Option<String>) -> ExitCode {
    let addr = match endpoint(config, http) {
        Ok(a) => a,
        Err(code) => return code,
    };
    match geosteer::admin_client::post(&addr, "/reload") {
        Ok((200, body)) => {
            print!("{body}");
            ExitCode::SUCCESS
        }
        Ok((code, body)) => {
            eprint!("reload refused (HTTP {code}): {body}");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("cannot reach the server's HTTP endpoint at {addr}: {e}");
            ExitCode::from(1)
        }
    }
}

/// The overrides file's entries, or the exit code after saying why they cannot be read.
fn read_overrides(config: &Config) -> Result<Vec<Override>, ExitCode> {
    geosteer::load::overrides::read(&config.overrides).map_err(|e| {
        eprintln!("{e}");
        eprintln!("fix the overrides file first: nothing was changed");
        ExitCode::from(1)
    })
}

/// Writes `overrides` after checking them against the zones, and says what happens next.
fn write_overrides(config: &Config, overrides: &[Override]) -> ExitCode {
    let zones = match geosteer::load::load_dir(&config.zones) {
        Ok(z) => z,
        Err(e) => {
            eprintln!("{e}");
            eprintln!("the zones do not load: nothing was changed");
            return ExitCode::from(1);
        }
    };
    if let Err(problems) = Overlay::resolve(&zones, overrides, geosteer::time::now_unix()) {
        for p in problems {
            eprintln!("{}", p.message);
        }
        eprintln!("nothing was changed");
        return ExitCode::from(1);
    }
    if let Err(e) = geosteer::load::overrides::write(&config.overrides, overrides) {
        eprintln!("cannot write {}: {e}", config.overrides.display());
        return ExitCode::from(1);
    }
    println!(
        "wrote {}; a running server applies it within a second",
        config.overrides.display()
    );
    ExitCode::SUCCESS
}

/// `geosteer drain | down | up TARGET`: replaces any override of the same target.
fn set_override(common: &Common, set: &SetOverride, state: OverrideState) -> ExitCode {
    let config = match load_config(common, Overrides::default()) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let target = match Target::parse(&set.target) {
        Ok(t) => t,
        Err(m) => {
            eprintln!("{m}");
            return ExitCode::from(2);
        }
    };
    let until = match &set.duration {
        None => None,
        Some(d) => match geosteer::config::parse_duration(d) {
            Some(d) => Some(
                geosteer::time::now_unix() + i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 2),
            ),
            None => {
                eprintln!("--for '{d}' is not a duration (for example 30m, 2h)");
                return ExitCode::from(2);
            }
        },
    };
    let mut list = match read_overrides(&config) {
        Ok(l) => l,
        Err(code) => return code,
    };
    list.retain(|o| o.target != target);
    list.push(Override {
        target,
        state,
        until,
        reason: set.reason.clone(),
        file: config.overrides.clone(),
        line: 0,
    });
    write_overrides(&config, &list)
}

/// `geosteer undrain TARGET`: removes the override of that target.
fn remove_override(common: &Common, target: &str) -> ExitCode {
    let config = match load_config(common, Overrides::default()) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let target = match Target::parse(target) {
        Ok(t) => t,
        Err(m) => {
            eprintln!("{m}");
            return ExitCode::from(2);
        }
    };
    let mut list = match read_overrides(&config) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let before = list.len();
    list.retain(|o| o.target != target);
    if list.len() == before {
        eprintln!("no override of {target} in {}", config.overrides.display());
        return ExitCode::from(1);
    }
    write_overrides(&config, &list)
}

/// `geosteer overrides`: the file's entries.
fn list_overrides(common: &Common) -> ExitCode {
    let config = match load_config(common, Overrides::default()) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let list = match read_overrides(&config) {
        Ok(l) => l,
        Err(code) => return code,
    };
    if list.is_empty() {
        println!("no overrides ({})", config.overrides.display());
    }
    let now = geosteer::time::now_unix();
    for o in list {
        let until = match o.until {
            None => "until removed".to_string(),
            Some(u) if u <= now => format!("expired {}", geosteer::time::format_rfc3339(u)),
            Some(u) => format!("until {}", geosteer::time::format_rfc3339(u)),
        };
        println!(
            "{} {} {until}{}",
            o.target,
            o.state.as_str(),
            if o.reason.is_empty() {
                String::new()
            } else {
                format!(": {}", o.reason)
            }
        );
    }
    ExitCode::SUCCESS
}

/// `geosteer explain --server`: the running server's answer and reasons, from its `/explain`.
fn explain_remote(
    addr: &str,
    client: std::net::IpAddr,
    ecs: Option<&str>,
    name: &str,
    qtype: &str,
) -> ExitCode {
    let addr = addr
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let mut path = format!("/explain?client={client}&name={name}&type={qtype}");
    if let Some(e) = ecs {
        path.push_str(&format!("&ecs={}", e.replace('/', "%2F")));
    }
    match geosteer::admin_client::get(&addr, &path) {
        Ok((200, body)) => match serde_json::from_str::<geosteer::explain::Doc>(&body) {
            Ok(doc) => {
                print!("{}", doc.text());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("the server's /explain answer is not an explanation ({e}): {body}");
                ExitCode::from(1)
            }
        },
        Ok((code, body)) => {
            eprint!("the server refused (HTTP {code}): {body}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("cannot reach the server's HTTP endpoint at {addr}: {e}");
            ExitCode::from(1)
        }
    }
}
