//! Command-line arguments (clap derive). Meaning and validation live with
//! each subcommand (`probe::Options::from_args`, `decode::run`).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

/// Tells MySQL and MariaDB operators why their connections fail or stall
/// during the handshake.
///
/// Without a subcommand it probes: `handshake-probe --count 10000 db1:3306`
/// makes real handshakes and times every phase against the server's
/// connect_timeout. Without --user it logs in as a user that does not exist
/// and counts ERR 1045 as the expected answer: a complete handshake, which
/// (unlike a connection closed after the greeting) does not count toward the
/// server's max_connect_errors and so never gets the probing host blocked.
#[derive(Debug, Parser)]
#[command(
    name = "handshake-probe",
    version,
    about,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    // -h is the host, as in the mysql client; help is --help and -?.
    disable_help_flag = true,
    // The last of an option wins, as with the mysql client (option files
    // give defaults the command line overrides).
    args_override_self = true
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Option<Cmd>,
    #[command(flatten)]
    pub(crate) probe: ProbeArgs,
    /// Print help (-? as the mysql client).
    #[arg(short = '?', long, action = clap::ArgAction::Help, global = false)]
    help: Option<bool>,
}

/// The mysql client's attached password, `-pSECRET`, as `--password=SECRET`
/// (a separate `-p SECRET` is a bare -p, which prompts, then an argument,
/// as there). Arguments after `--` are left alone.
pub(crate) fn mysql_conventions(
    args: impl IntoIterator<Item = std::ffi::OsString>,
) -> Vec<std::ffi::OsString> {
    let mut out = Vec::new();
    let mut rest = false;
    for a in args {
        if !rest {
            if a == "--" {
                rest = true;
            } else if let Some(pw) = a.to_str().and_then(|s| s.strip_prefix("-p"))
                && !pw.is_empty()
                && !pw.starts_with('=')
            {
                let mut v = std::ffi::OsString::from("--password=");
                v.push(pw);
                out.push(v);
                continue;
            }
        }
        out.push(a);
    }
    out
}

#[derive(Debug, Subcommand)]
pub(crate) enum Cmd {
    /// Decode MySQL/MariaDB traffic from pcap or pcapng captures.
    Decode(DecodeArgs),
    /// Capture live from an interface and judge connections as they end.
    Capture(CaptureArgs),
    /// Merge HdrHistogram interval logs (--hdr-log, from many probing hosts
    /// or other tools) per tag and print the percentiles.
    Hlog(HlogArgs),
    /// Serve Prometheus metrics: blackbox-style /probe?target=HOST:PORT
    /// and continuous /metrics for the targets given.
    Serve(ServeArgs),
}

/// `serve`'s arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    /// Where to listen for scrapes.
    #[arg(long, default_value = "127.0.0.1:9105", value_name = "ADDR")]
    pub(crate) listen: std::net::SocketAddr,
    /// Modules and targets (TOML; reread on SIGHUP).
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// A target probed continuously with the default module (repeatable).
    #[arg(long = "target", value_name = "HOST[:PORT]")]
    pub(crate) targets: Vec<String>,
    /// Between two handshakes to a target (±10% jitter), unless its
    /// config gives one.
    #[arg(long, default_value = "15s", value_parser = humantime::parse_duration)]
    pub(crate) interval: Duration,
    /// After SIGTERM: how long the handshakes in flight may take to end.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub(crate) drain: Duration,
    /// Check the config and exit (0 if it can be used).
    #[arg(long)]
    pub(crate) check: bool,
}

/// `hlog`'s arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct HlogArgs {
    /// Interval logs to merge.
    #[arg(required = true)]
    pub(crate) files: Vec<PathBuf>,
    /// Only intervals that start at or after this many seconds after each
    /// log's start (with --absolute: seconds since the epoch).
    #[arg(long, value_name = "SECONDS")]
    pub(crate) start: Option<f64>,
    /// Only intervals that start at or before this many seconds after each
    /// log's start (with --absolute: seconds since the epoch).
    #[arg(long, value_name = "SECONDS")]
    pub(crate) end: Option<f64>,
    /// --start and --end are Unix times, the same range for every log (as
    /// HistogramLogProcessor's -absolute).
    #[arg(long)]
    pub(crate) absolute: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub(crate) format: HlogFormat,
}

/// Output formats of `hlog`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum HlogFormat {
    /// A table, one row per tag.
    Text,
    /// One JSON object.
    Json,
}

/// Output formats of `decode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// One line per connection (or per packet with --packets), then a summary.
    Text,
    /// The summary as one JSON object (not with --packets).
    Json,
    /// One JSON object per connection (or packet), then a summary.
    Jsonl,
}

/// Output formats of the probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ProbeFormat {
    /// A summary for people (and ping-style lines with -v).
    Text,
    /// The summary as one JSON object.
    Json,
    /// One `connection` record per line as connections end, then a `summary`.
    Jsonl,
}

/// TLS modes, as the mysql client's --ssl-mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum SslModeArg {
    /// Plain TCP.
    Disabled,
    /// TLS if the server offers it; certificate not verified.
    Preferred,
    /// TLS or fail; certificate not verified.
    Required,
    /// TLS; chain verified against --ssl-ca.
    VerifyCa,
    /// TLS; chain and host name verified.
    VerifyIdentity,
}

fn parse_count(s: &str) -> Result<u64, String> {
    let t = s.trim().to_ascii_lowercase();
    let (num, mul) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1_000),
        Some('m') => (&t[..t.len() - 1], 1_000_000),
        _ => (&t[..], 1),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a count (examples: 100, 10k, 1m)"))?;
    n.checked_mul(mul)
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("'{s}' must be between 1 and 2^64"))
}

pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s)
        .map_err(|e| format!("'{s}' is not a duration ({e}; examples: 500ms, 3s, 1m)"))
}

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if r > 0.0 && r.is_finite() => Ok(r),
        _ => Err(format!(
            "'{s}' is not a positive rate (connections per second)"
        )),
    }
}

fn parse_concurrency(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=10_000).contains(&n) => Ok(n),
        _ => Err(format!("'{s}' must be a number from 1 to 10000")),
    }
}

#[derive(Debug, clap::Args)]
pub(crate) struct ProbeArgs {
    /// The server: HOST, HOST:PORT or [IPv6]:PORT (port 3306 by default);
    /// or give -h HOST and -P PORT, as to the mysql client.
    #[arg(required_unless_present_any = ["host", "socket"], value_name = "HOST[:PORT]")]
    pub(crate) target: Option<String>,
    /// The server's host, as the mysql client's -h (HOST[:PORT] wins).
    #[arg(short = 'h', long, value_name = "HOST", help_heading = "Server")]
    pub(crate) host: Option<String>,
    /// The server's port, as the mysql client's -P (default 3306; a port
    /// in HOST:PORT wins).
    #[arg(short = 'P', long, value_name = "PORT", help_heading = "Server")]
    pub(crate) port: Option<u16>,
    /// Probe over this Unix socket, as the mysql client's -S: the
    /// server's own handshake time with no network in between (run it
    /// beside a TCP probe of the same server to tell the two apart).
    #[arg(short = 'S', long, value_name = "PATH", help_heading = "Server")]
    pub(crate) socket: Option<PathBuf>,
    /// Read no option file (my.cnf); see --print-defaults.
    #[arg(long, help_heading = "Option files")]
    pub(crate) no_defaults: bool,
    /// Print the options the option files give, and exit. Read, as the
    /// mysql client: /etc/my.cnf, /etc/mysql/my.cnf, $MYSQL_HOME/my.cnf,
    /// ~/.my.cnf; groups [client] and [handshake-probe]; !include,
    /// !includedir. The command line wins.
    #[arg(long, help_heading = "Option files")]
    pub(crate) print_defaults: bool,
    /// Read only this option file.
    #[arg(long, value_name = "FILE", help_heading = "Option files")]
    pub(crate) defaults_file: Option<PathBuf>,
    /// Read this option file after the others.
    #[arg(long, value_name = "FILE", help_heading = "Option files")]
    pub(crate) defaults_extra_file: Option<PathBuf>,
    /// Only the name's IPv4 addresses. By default each connection tries
    /// the name's addresses in turn (localhost: ::1, then 127.0.0.1), as
    /// libmysqlclient does, and the record names the one that answered.
    #[arg(short = '4', conflicts_with = "ipv6", help_heading = "Server")]
    pub(crate) ipv4: bool,
    /// Only the name's IPv6 addresses.
    #[arg(short = '6', help_heading = "Server")]
    pub(crate) ipv6: bool,

    /// Handshakes to make (accepts 10k, 1m); default 10 unless --duration is given.
    #[arg(short = 'n', long, value_parser = parse_count, help_heading = "Load")]
    pub(crate) count: Option<u64>,
    /// Handshakes in flight at once.
    #[arg(short = 'c', long, default_value = "1", value_parser = parse_concurrency, help_heading = "Load")]
    pub(crate) concurrency: usize,
    /// Threads for the connections, each with its own event loop, sharing
    /// the -c workers (without --rate); default: four per CPU, at most one
    /// per worker. One thread makes about 15k handshakes/s against a
    /// loopback server.
    #[arg(long, value_parser = parse_concurrency, help_heading = "Load")]
    pub(crate) threads: Option<usize>,
    /// Lift the probe's limits for the server's sake: by default its
    /// connections stay within 10% of the server's free connection slots
    /// (read with --user; without it, at most 16 at once). A refusal for
    /// too many connections (1040) halves the concurrency even so.
    #[arg(long, help_heading = "Load")]
    pub(crate) force: bool,
    /// New connections per second, started on schedule whatever those in
    /// flight are doing (an open loop; default: each worker starts the next
    /// as its last completes). A start -c does not allow is counted as
    /// missed, with its intended time.
    #[arg(long, value_parser = parse_rate, help_heading = "Load")]
    pub(crate) rate: Option<f64>,
    /// With --rate: a start -c does not allow waits for a free slot instead
    /// of being missed, and its total counts from its scheduled time (as
    /// oha and wrk2 report).
    #[arg(long, requires = "rate", help_heading = "Load")]
    pub(crate) latency_correction: bool,
    /// Stop starting connections after this long (e.g. 30s).
    #[arg(long, value_parser = parse_duration, help_heading = "Load")]
    pub(crate) duration: Option<Duration>,
    /// Pause between two connections of one worker, as ping -i.
    #[arg(long, value_parser = parse_duration, default_value = "0s", help_heading = "Load")]
    pub(crate) interval: Duration,

    /// User to log in as. Without it, the probe logs in as a user that cannot
    /// exist and expects ERR 1045.
    #[arg(short = 'u', long, help_heading = "Login")]
    pub(crate) user: Option<String>,
    /// Password: -pSECRET or --password=SECRET, as the mysql client; a bare
    /// -p asks for it without echo. Also MYSQL_PWD.
    #[arg(short = 'p', long, num_args = 0..=1, require_equals = true, default_missing_value = "\u{0}prompt", help_heading = "Login")]
    pub(crate) password: Option<String>,
    /// Read the password from the first line of this file.
    #[arg(long, value_name = "FILE", help_heading = "Login")]
    pub(crate) password_file: Option<PathBuf>,
    /// Database to select at login.
    #[arg(short = 'D', long, help_heading = "Login")]
    pub(crate) database: Option<String>,
    /// The client's first-choice auth plugin (the server may switch it).
    #[arg(long, value_name = "PLUGIN", help_heading = "Login")]
    pub(crate) auth_plugin: Option<String>,
    /// Ask the server for its RSA key when caching_sha2_password needs
    /// full authentication over plain TCP (as the mysql client's option).
    #[arg(long, help_heading = "Login")]
    pub(crate) get_server_public_key: bool,

    /// TLS mode, as the mysql client's --ssl-mode.
    #[arg(long, value_enum, default_value = "PREFERRED", help_heading = "TLS")]
    pub(crate) ssl_mode: SslModeArg,
    /// CA certificates (PEM) for VERIFY_CA and VERIFY_IDENTITY.
    #[arg(long, value_name = "FILE", help_heading = "TLS")]
    pub(crate) ssl_ca: Option<PathBuf>,

    /// The SERVER's connect_timeout, to compare phases against (default:
    /// read from the server when --user is given, else MySQL's 10s).
    #[arg(long, value_parser = parse_duration, help_heading = "Timing")]
    pub(crate) connect_timeout: Option<Duration>,
    /// The probe's own limit per connection: every read and write has this deadline.
    #[arg(long, value_parser = parse_duration, default_value = "30s", help_heading = "Timing")]
    pub(crate) timeout: Duration,
    /// A phase longer than this makes the verdict server_slow or client_slow.
    #[arg(long, value_parser = parse_duration, default_value = "1s", help_heading = "Timing")]
    pub(crate) slow: Duration,
    /// Wait this long after the greeting before sending the login: reproduces
    /// a late client (MySQL bug #28359) on purpose. A login later than the
    /// server's connect_timeout counts toward max_connect_errors.
    #[arg(long, value_parser = parse_duration, default_value = "0s", help_heading = "Timing")]
    pub(crate) login_delay: Duration,
    /// Resolve the host name before every connection (and time it).
    #[arg(long, help_heading = "Timing")]
    pub(crate) resolve_each: bool,
    /// Local address to connect from.
    #[arg(long, value_name = "ADDR", help_heading = "Timing")]
    pub(crate) bind: Option<std::net::IpAddr>,

    /// Output format.
    #[arg(long, value_enum, default_value = "text", help_heading = "Output")]
    pub(crate) format: ProbeFormat,
    /// Write the output to this file instead of standard output.
    #[arg(short = 'o', long, value_name = "FILE", help_heading = "Output")]
    pub(crate) output: Option<PathBuf>,
    /// Write an HdrHistogram interval log (one tag per phase, 1 s intervals).
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub(crate) hdr_log: Option<PathBuf>,
    /// Write a self-contained HTML report with charts (opens offline).
    #[arg(long, value_name = "FILE.html", help_heading = "Output")]
    pub(crate) report: Option<PathBuf>,
    /// No progress bar, no notes on standard error.
    #[arg(short = 'q', long, help_heading = "Output")]
    pub(crate) quiet: bool,
    /// One ping-style line per connection (text format).
    #[arg(short = 'v', long, help_heading = "Output")]
    pub(crate) verbose: bool,
    /// Do not read the server's status counters before and after the run
    /// (they need --user and one extra connection each time).
    #[arg(long, help_heading = "Output")]
    pub(crate) no_server_status: bool,
}

/// Reads pcap or pcapng captures, follows every TCP connection to a MySQL
/// port, and gives each one a timeline and a verdict with its evidence
/// (the probe's vocabulary; docs/verdicts.md). With --packets, lists every
/// MySQL packet instead, as Wireshark does.
#[derive(Debug, clap::Args)]
pub(crate) struct DecodeArgs {
    /// Capture files (pcap or pcapng); `-` reads standard input.
    #[arg(required_unless_present = "vantage", conflicts_with = "vantage")]
    pub(crate) files: Vec<PathBuf>,
    /// Two captures of the same traffic, taken at once: `client=FILE` near
    /// the client and `server=FILE` near the server (each repeatable, for
    /// rotated files). Each connection gets one record with both views:
    /// packets lost between the taps and resets born between them are
    /// proven, and the clocks' offset is estimated.
    #[arg(long, value_name = "client|server=FILE", value_parser = parse_vantage, conflicts_with = "packets")]
    pub(crate) vantage: Vec<VantageArg>,
    /// List every MySQL packet (frame, time, stream, direction, sequence id,
    /// length, kind and a Wireshark-style summary).
    #[arg(long)]
    pub(crate) packets: bool,
    /// Hide the progress bar (bytes read of each file), shown on a terminal
    /// unless the records are printed there too.
    #[arg(long)]
    pub(crate) no_progress: bool,
    /// Read each file on its own. By default files given together are one
    /// capture (the files of a ring buffer: `tcpdump -C/-G/-W`, `dumpcap
    /// -b`), read in the order of their first packets, so that connections
    /// crossing from one file into the next get one record.
    #[arg(long)]
    pub(crate) separate: bool,
    #[command(flatten)]
    pub(crate) common: AnalysisArgs,
}

/// Captures live from a network interface and judges each MySQL
/// connection as it ends, as `decode` does for files; the summary follows
/// on Ctrl-C (or SIGTERM, or after --duration). Needs root or CAP_NET_RAW.
#[derive(Debug, clap::Args)]
pub(crate) struct CaptureArgs {
    /// The interface to capture on (`lo`, `eth0`, `any`).
    #[arg(short = 'i', long, value_name = "IFACE")]
    pub(crate) interface: String,
    /// Stop after this long (default: until Ctrl-C).
    #[arg(long, value_parser = parse_duration)]
    pub(crate) duration: Option<Duration>,
    #[command(flatten)]
    pub(crate) common: AnalysisArgs,
}

/// What `decode` and `capture` share: the rules and the output.
#[derive(Debug, clap::Args)]
pub(crate) struct AnalysisArgs {
    /// The server's connect_timeout, for the rules.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    pub(crate) connect_timeout: Duration,
    /// The server's wait_timeout, for the idle_timeout rule.
    #[arg(long, value_parser = parse_duration)]
    pub(crate) wait_timeout: Option<Duration>,
    /// A phase longer than this is slow.
    #[arg(long, value_parser = parse_duration, default_value = "1s")]
    pub(crate) slow: Duration,
    /// Only the summary, not a line per connection (text format).
    #[arg(short = 'q', long)]
    pub(crate) quiet: bool,
    /// Keep only packets matching this BPF expression (tcpdump syntax).
    #[arg(long, value_name = "BPF")]
    pub(crate) filter: Option<String>,
    /// Write the output to this file instead of standard output.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,
    /// Write a self-contained HTML report with charts (opens offline).
    #[arg(long, value_name = "FILE.html")]
    pub(crate) report: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub(crate) format: Format,
    /// Extra TCP port a MySQL server listens on (repeatable; 3306 is always
    /// included). Servers on other ports are found by their greeting; a
    /// port is needed only for connections whose greeting the capture
    /// missed.
    #[arg(long = "port", value_name = "PORT")]
    pub(crate) ports: Vec<u16>,
    /// The server's error log (repeatable): each line with a thread id is
    /// joined to the connection whose greeting carried it, as evidence
    /// (MariaDB 10.x/11.x, MySQL 5.7/8.x text logs; log_warnings=4 or
    /// log_error_verbosity=3 name every aborted connection).
    /// `HOST:PORT=FILE` joins it to that server's connections only.
    #[arg(long = "error-log", value_name = "[HOST:PORT=]FILE", value_parser = parse_error_log)]
    pub(crate) error_logs: Vec<ErrorLogArg>,
    /// The time zone of error-log times written without one (MariaDB
    /// writes local time): UTC or ±HH:MM.
    #[arg(long, value_name = "ZONE", default_value = "UTC", value_parser = parse_log_zone)]
    pub(crate) log_timezone: i64,
}

/// An `--error-log` value.
#[derive(Debug, Clone)]
pub(crate) struct ErrorLogArg {
    /// The server it belongs to, when named.
    pub(crate) server: Option<std::net::SocketAddr>,
    /// The file.
    pub(crate) path: PathBuf,
}

fn parse_error_log(s: &str) -> Result<ErrorLogArg, String> {
    if let Some((addr, file)) = s.split_once('=')
        && let Ok(server) = addr.parse()
    {
        return Ok(ErrorLogArg {
            server: Some(server),
            path: file.into(),
        });
    }
    Ok(ErrorLogArg {
        server: None,
        path: s.into(),
    })
}

/// A `--vantage` value.
#[derive(Debug, Clone)]
pub(crate) struct VantageArg {
    /// Near the client (else near the server).
    pub(crate) client: bool,
    /// The file.
    pub(crate) path: PathBuf,
}

fn parse_vantage(s: &str) -> Result<VantageArg, String> {
    match s.split_once('=') {
        Some(("client", f)) if !f.is_empty() => Ok(VantageArg {
            client: true,
            path: f.into(),
        }),
        Some(("server", f)) if !f.is_empty() => Ok(VantageArg {
            client: false,
            path: f.into(),
        }),
        _ => Err(format!(
            "'{s}': give client=FILE (the capture near the client) or server=FILE (near the server)"
        )),
    }
}

fn parse_log_zone(s: &str) -> Result<i64, String> {
    hsp_errlog::parse::parse_zone(s)
        .ok_or_else(|| format!("'{s}' is not a time zone here: UTC, or an offset such as +01:00"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_attached_password_becomes_the_long_form_and_nothing_else_moves() {
        let args = |v: &[&str]| v.iter().map(std::ffi::OsString::from).collect::<Vec<_>>();
        assert_eq!(
            mysql_conventions(args(&[
                "hp", "-uapp", "-psecret", "-p", "db:3306", "--", "-pkeep"
            ])),
            args(&[
                "hp",
                "-uapp",
                "--password=secret",
                "-p",
                "db:3306",
                "--",
                "-pkeep"
            ])
        );
        // -p=x stays clap's, and parses as the password x.
        assert_eq!(
            mysql_conventions(args(&["hp", "-p=x"])),
            args(&["hp", "-p=x"])
        );
        let cli = Cli::try_parse_from(mysql_conventions(args(&["hp", "-uapp", "-ps3cr3t", "db"])))
            .unwrap();
        assert_eq!(cli.probe.password.as_deref(), Some("s3cr3t"));
        assert_eq!(cli.probe.user.as_deref(), Some("app"));
        let cli = Cli::try_parse_from(mysql_conventions(args(&["hp", "-p", "db"]))).unwrap();
        assert_eq!(cli.probe.password.as_deref(), Some("\u{0}prompt"));
        assert_eq!(cli.probe.target.as_deref(), Some("db"));
    }

    #[test]
    fn counts_accept_suffixes_and_reject_nonsense() {
        assert_eq!(parse_count("10k"), Ok(10_000));
        assert_eq!(parse_count("1m"), Ok(1_000_000));
        assert_eq!(parse_count("7"), Ok(7));
        assert!(parse_count("0").is_err());
        assert!(parse_count("ten").is_err());
    }

    #[test]
    fn probe_is_the_default_command_and_decode_still_parses() {
        let c = Cli::try_parse_from(["hp", "-n", "5", "db:3307"]).unwrap();
        assert!(c.command.is_none());
        assert_eq!(c.probe.target.as_deref(), Some("db:3307"));
        assert_eq!(c.probe.count, Some(5));
        let c = Cli::try_parse_from(["hp", "decode", "x.pcap"]).unwrap();
        assert!(matches!(c.command, Some(Cmd::Decode(_))));
        assert!(Cli::try_parse_from(["hp"]).is_err(), "a target is required");
    }

    #[test]
    fn bare_p_prompts_and_attached_p_is_a_password() {
        let c = Cli::try_parse_from(["hp", "-u", "x", "-p", "db"]).unwrap();
        assert_eq!(c.probe.password.as_deref(), Some("\u{0}prompt"));
        assert_eq!(c.probe.target.as_deref(), Some("db"));
        let c = Cli::try_parse_from(["hp", "-u", "x", "--password=s3", "db"]).unwrap();
        assert_eq!(c.probe.password.as_deref(), Some("s3"));
    }
}
