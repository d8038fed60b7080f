//! Command-line arguments (clap derive). Meaning and validation live with
//! each subcommand.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Tells MySQL and MariaDB operators why their connections fail or stall
/// during the handshake.
#[derive(Debug, Parser)]
#[command(name = "handshake-probe", version, about, long_about = None)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Cmd,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Cmd {
    /// Decode MySQL/MariaDB traffic from pcap or pcapng captures.
    Decode(DecodeArgs),
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// One human-readable line per packet.
    Text,
    /// One JSON object per line.
    Jsonl,
}

#[derive(Debug, clap::Args)]
pub(crate) struct DecodeArgs {
    /// Capture files (pcap or pcapng).
    #[arg(required = true)]
    pub(crate) files: Vec<PathBuf>,
    /// List every MySQL packet (frame, time, stream, direction, sequence id,
    /// length, kind and a Wireshark-style summary).
    #[arg(long)]
    pub(crate) packets: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub(crate) format: Format,
    /// Extra TCP port a MySQL server listens on (repeatable; 3306 is always
    /// included).
    #[arg(long = "port", value_name = "PORT")]
    pub(crate) ports: Vec<u16>,
}
