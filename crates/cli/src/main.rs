//! handshake-probe: a thin binary over hsp-wire, hsp-core and hsp-pcap.
//!
//! Parsing of arguments lives in `args`, each subcommand in its own module;
//! errors print as one `error:` line with their cause chain and exit 2
//! (ripgrep), a closed stdout (`| head`) exits quietly.

mod args;
mod decode;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    let result = match cli.command {
        args::Cmd::Decode(d) => decode::run(&d),
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
