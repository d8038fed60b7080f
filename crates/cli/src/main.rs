//! handshake-probe: a thin binary over hsp-probe, hsp-pcap and hsp-core.
//!
//! Parsing of arguments lives in `args`, each command in its own module
//! (`probe`, the default, and `decode`), presentation in `output`. Errors
//! print as one `error:` line with their cause chain and exit 2 (ripgrep);
//! a closed stdout (`| head`) exits quietly. Logs (`RUST_LOG`) go to
//! standard error, data to standard output.

mod args;
mod decode;
mod hlog;
mod logs;
mod optfile;
mod output;
mod packets;
mod probe;
mod report;
mod serve;
mod status;
mod vantage;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let argv = args::mysql_conventions(std::env::args_os());
    // Option files are the probe's (the mysql client's conventions), not
    // decode's or capture's.
    let probe = !matches!(
        argv.get(1).and_then(|a| a.to_str()),
        Some("decode" | "capture" | "hlog" | "serve" | "help")
    );
    let argv = if probe {
        match optfile::apply(argv, &optfile::default_files()) {
            Ok(Some(v)) => v,
            Ok(None) => return ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        }
    } else {
        argv
    };
    let cli = args::Cli::parse_from(argv);
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match &cli.command {
        Some(args::Cmd::Decode(d)) => decode::run(d),
        Some(args::Cmd::Capture(c)) => decode::capture(c),
        Some(args::Cmd::Hlog(h)) => hlog::run(h),
        Some(args::Cmd::Serve(s)) => serve::run(s),
        None => probe::run(&cli.probe),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
