//! The `geosteer` binary: command line, logging, exit codes.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use geosteer::config::{Config, Overrides};

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
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
struct Common {
    /// TOML config file; flags given here override it
    #[arg(long, short = 'c')]
    config: Option<PathBuf>,
    /// Directory of *.zone files (default ./zones)
    #[arg(long, short = 'z')]
    zones: Option<PathBuf>,
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
        /// Worker threads (default 2)
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Validate the configuration and zones; print every problem as file:line: message
    #[command(
        after_help = "Exit status: 0 when everything is valid, 1 when not.\n\nExample:\n  geosteer check --zones zones"
    )]
    Check {
        #[command(flatten)]
        common: Common,
    },
    /// Print the version
    Version,
}

fn init_logging(filter: &str) {
    // hickory's own per-request logging is noise at info level
    let filter = format!("hickory_server=warn,{filter}");
    let env = tracing_subscriber::EnvFilter::try_new(&filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(env)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

fn load_config(common: &Common, flags: Overrides) -> Result<Config, ExitCode> {
    let flags = Overrides {
        zones: common.zones.clone(),
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
        Command::Version => {
            println!("geosteer {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::Check { common } => {
            let config = match load_config(&common, Overrides::default()) {
                Ok(c) => c,
                Err(code) => return code,
            };
            match geosteer::app::load(&config) {
                Ok(zones) => {
                    for z in &zones.zones {
                        println!(
                            "{}: zone {} serial {} ok ({} names)",
                            z.file.display(),
                            z.origin,
                            z.serial(),
                            z.nodes.len()
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
        Command::Serve {
            common,
            listen,
            http,
            threads,
        } => {
            init_logging(&cli.log);
            let config = match load_config(
                &common,
                Overrides {
                    listen,
                    http,
                    threads,
                    ..Default::default()
                },
            ) {
                Ok(c) => c,
                Err(code) => return code,
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
                    tracing::error!("{e}");
                    eprintln!("{e}");
                    ExitCode::from(1)
                }
            }
        }
    }
}
