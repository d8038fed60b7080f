//! What a probe run does: validated options, built by the binary from its
//! flags (this crate never sees clap).

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use hsp_wire::client::Secret;

/// TLS policy, with the mysql client's `--ssl-mode` meanings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// Never TLS.
    Disabled,
    /// TLS when the server offers it, certificate not verified.
    Preferred,
    /// TLS or fail, certificate not verified.
    Required,
    /// TLS, certificate chain verified against the CA; name not checked.
    VerifyCa,
    /// TLS, chain and host name verified.
    VerifyIdentity,
}

/// Credentials for a real login.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// User.
    pub user: String,
    /// Password (never printed).
    pub password: Secret,
}

/// The user name of a credential-less probe: a well-formed login the
/// server answers with ERR 1045 (which does not count toward
/// `max_connect_errors`), instead of an abandoned handshake (which does).
pub const NO_SUCH_USER: &str = "handshake-probe-nx";

/// Everything a run needs.
#[derive(Debug, Clone)]
pub struct ProbeConfig {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Credentials; `None` probes with [`NO_SUCH_USER`] and expects ERR 1045.
    pub credentials: Option<Credentials>,
    /// Initial database.
    pub database: Option<String>,
    /// First-choice auth plugin.
    pub auth_plugin: Option<String>,
    /// Ask for the server's RSA key when caching_sha2 needs it on plain TCP.
    pub get_server_public_key: bool,
    /// TLS policy.
    pub ssl_mode: SslMode,
    /// CA certificates (PEM) for the VERIFY modes.
    pub ssl_ca: Option<PathBuf>,
    /// The probe's own limit per connection.
    pub timeout: Duration,
    /// Wait this long after the greeting before answering it.
    pub login_delay: Duration,
    /// Connections to make (`None`: until `duration` or Ctrl-C).
    pub count: Option<u64>,
    /// Stop starting connections after this long.
    pub duration: Option<Duration>,
    /// Connections in flight at once.
    pub concurrency: usize,
    /// Threads, each with its own single-threaded runtime, that share the
    /// closed loop's workers (1: everything on the caller's runtime).
    pub threads: usize,
    /// `--force`: no cap from the server's free slots (the back-off on
    /// ER_CON_COUNT_ERROR stays).
    pub force: bool,
    /// New connections per second, on a schedule (an open loop): a start
    /// the concurrency cap prevents is a missed start.
    pub rate: Option<f64>,
    /// Under `rate`, a start the cap prevents waits for a free slot
    /// instead, and its total counts from its scheduled time.
    pub latency_correction: bool,
    /// Pause between two connections of one worker.
    pub interval: Duration,
    /// Resolve the host before every connection, not once.
    pub resolve_each: bool,
    /// Local address to connect from.
    pub bind: Option<IpAddr>,
    /// Only addresses of this family (`-4`, `-6`); else every address the
    /// name resolves to, tried in turn.
    pub family: Option<Family>,
    /// Connect to this Unix socket instead of TCP (`-S`): the server's
    /// own time, no network in between.
    pub socket: Option<PathBuf>,
    /// After Ctrl-C, how long in-flight handshakes may still finish.
    pub grace: Duration,
    /// Classifier thresholds.
    pub params: hsp_core::Params,
}

/// An address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// IPv4 (`-4`).
    V4,
    /// IPv6 (`-6`).
    V6,
}

impl ProbeConfig {
    /// The threads a run uses: `threads`, at most one per worker; one
    /// under `--rate` (the open loop's schedule lives on one thread).
    pub fn threads_used(&self) -> usize {
        if self.rate.is_some() {
            1
        } else {
            self.threads.clamp(1, self.concurrency.max(1))
        }
    }

    /// A config for `host:port` with the defaults of the command line.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        Self {
            host: host.into(),
            port,
            credentials: None,
            database: None,
            auth_plugin: None,
            get_server_public_key: false,
            ssl_mode: SslMode::Preferred,
            ssl_ca: None,
            timeout: Duration::from_secs(30),
            login_delay: Duration::ZERO,
            count: Some(10),
            duration: None,
            concurrency: 1,
            force: false,
            rate: None,
            latency_correction: false,
            interval: Duration::ZERO,
            resolve_each: false,
            bind: None,
            family: None,
            socket: None,
            grace: Duration::from_secs(2),
            threads: 1,
            params: hsp_core::Params::default(),
        }
    }

    /// `host:port` as the user wrote it (IPv6 in brackets), or
    /// `unix:PATH` for a socket.
    pub fn target(&self) -> String {
        if let Some(p) = &self.socket {
            return format!("unix:{}", p.display());
        }
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Splits `HOST`, `HOST:PORT`, `[V6]:PORT` or a bare IPv6 address (port
/// 3306 when none is given).
pub fn split_target(t: &str) -> Result<(String, u16), String> {
    let bad = || format!("HOST[:PORT] '{t}': expected HOST, HOST:PORT or [IPv6]:PORT");
    if let Some(rest) = t.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(bad)?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| bad())?,
            None if after.is_empty() => 3306,
            None => return Err(bad()),
        };
        return Ok((host.to_string(), port));
    }
    if t.matches(':').count() > 1 {
        return Ok((t.to_string(), 3306));
    }
    match t.split_once(':') {
        Some((h, p)) if !h.is_empty() => Ok((h.to_string(), p.parse().map_err(|_| bad())?)),
        None if !t.is_empty() => Ok((t.to_string(), 3306)),
        _ => Err(bad()),
    }
}

/// A password file's password: its first line, as `mysql` reads
/// `--password-file` (a trailing newline is not part of it).
pub fn read_password_file(path: &std::path::Path) -> std::io::Result<Secret> {
    let text = std::fs::read_to_string(path)?;
    Ok(Secret::new(text.lines().next().unwrap_or_default()))
}
