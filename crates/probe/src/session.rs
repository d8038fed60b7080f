//! A logged-in connection that runs a few text queries: the server's own
//! counters (`SHOW GLOBAL STATUS`) and settings (`connect_timeout`,
//! `wait_timeout`, ...) read before and after a run, on a connection of
//! its own so the probed handshakes stay pure.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use bytes::BytesMut;
use hsp_core::ConnectionRecord;
use hsp_wire::frame::{Deframer, Frame, write_packet};
use hsp_wire::packets::{ColumnCount, CommandPacket, Ctx, ErrPacket, Packet, TextRow, is_eof};
use tokio::time::{Instant, timeout_at};

use crate::attempt::{Attempt, Shared};
use crate::stream::Stream;

/// Why a query failed.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The login did not complete.
    #[error("login failed: {verdict} ({outcome})")]
    Login {
        /// The verdict.
        verdict: String,
        /// The outcome.
        outcome: String,
    },
    /// The server answered with ERR.
    #[error("ERR {code}: {message}")]
    Server {
        /// Code.
        code: u16,
        /// Message.
        message: String,
    },
    /// The connection broke or timed out.
    #[error("connection lost while reading the result")]
    Lost,
    /// A result packet did not decode.
    #[error("malformed result: {0}")]
    Malformed(String),
}

/// A logged-in connection.
#[derive(Debug)]
pub struct Session {
    stream: Stream,
    deframer: Deframer,
    ctx: Ctx,
    timeout: std::time::Duration,
}

/// The server's counters and settings at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerSnapshot {
    /// `SHOW GLOBAL STATUS` values that concern connections.
    pub status: BTreeMap<String, i64>,
    /// Connection-related variables.
    pub variables: BTreeMap<String, String>,
    /// The server's host cache entry for the probing host.
    pub host_cache: HostCache,
}

impl ServerSnapshot {
    fn seconds(&self, name: &str) -> Option<std::time::Duration> {
        let v = self.variables.get(name)?.parse::<u64>().ok()?;
        Some(std::time::Duration::from_secs(v))
    }

    /// The server's `connect_timeout`.
    pub fn connect_timeout(&self) -> Option<std::time::Duration> {
        self.seconds("connect_timeout")
    }

    /// The server's `wait_timeout`.
    pub fn wait_timeout(&self) -> Option<std::time::Duration> {
        self.seconds("wait_timeout")
    }

    /// The server's `back_log` (its listen queue).
    pub fn back_log(&self) -> Option<u32> {
        self.variables.get("back_log")?.parse().ok()
    }
}

/// Opens a control session for `cfg`'s server and reads its settings and
/// counters, then closes it (the probe's connections are not among
/// them). The session logs in promptly whatever `--login-delay` says.
pub async fn read_server(cfg: &crate::ProbeConfig) -> Result<ServerSnapshot, String> {
    let mut cfg = cfg.clone();
    cfg.login_delay = std::time::Duration::ZERO;
    let shared = Shared::new(cfg.clone()).map_err(|e| e.to_string())?;
    let addrs = match &cfg.socket {
        Some(_) => vec![SocketAddr::from(([127, 0, 0, 1], cfg.port))],
        None => {
            crate::run::resolve(&cfg.host, cfg.port, cfg.family)
                .await
                .map_err(|e| e.to_string())?
                .0
        }
    };
    let mut s = Session::open(&shared, &addrs).await.map_err(|r| {
        r.app_error.as_ref().map_or_else(
            || r.verdict.to_string(),
            |e| format!("{} ({})", e.message, e.code),
        )
    })?;
    let snap = s.snapshot().await.map_err(|e| e.to_string());
    s.close().await;
    snap
}

/// What `performance_schema.host_cache` holds for the probing host (its
/// address as this session's own, the one the server sees).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum HostCache {
    /// Not read.
    #[default]
    Unread,
    /// performance_schema is off: the host cache cannot be read (it still
    /// counts connect errors toward max_connect_errors).
    PerformanceSchemaOff,
    /// The host cache could not be read (the reason).
    Unreadable(String),
    /// No entry for the host: no error counted (or, with
    /// skip_name_resolve, no host cache at all).
    NoEntry {
        /// The address looked up.
        ip: String,
    },
    /// The host's counters.
    Entry {
        /// The address looked up.
        ip: String,
        /// Column to value.
        counters: BTreeMap<String, i64>,
    },
}

/// The host cache's counters read (present in MySQL 5.6+ and MariaDB 10.x).
const HOST_CACHE_COLUMNS: [&str; 10] = [
    "SUM_CONNECT_ERRORS",
    "COUNT_HOST_BLOCKED_ERRORS",
    "COUNT_HANDSHAKE_ERRORS",
    "COUNT_AUTHENTICATION_ERRORS",
    "COUNT_SSL_ERRORS",
    "COUNT_MAX_USER_CONNECTIONS_ERRORS",
    "COUNT_DEFAULT_DATABASE_ERRORS",
    "COUNT_INIT_CONNECT_ERRORS",
    "COUNT_LOCAL_ERRORS",
    "COUNT_UNKNOWN_ERRORS",
];

/// Status counters read before and after a run.
pub const STATUS_QUERY: &str = "SHOW GLOBAL STATUS WHERE Variable_name IN \
    ('Aborted_connects','Aborted_clients','Threads_connected','Max_used_connections','Connections') \
    OR Variable_name LIKE 'Connection\\_errors\\_%'";
/// Variables that shape handshakes.
pub const VARIABLES_QUERY: &str = "SELECT @@connect_timeout, @@wait_timeout, @@max_connections, \
    @@max_connect_errors, @@skip_name_resolve, @@back_log";
const VARIABLE_NAMES: [&str; 6] = [
    "connect_timeout",
    "wait_timeout",
    "max_connections",
    "max_connect_errors",
    "skip_name_resolve",
    "back_log",
];

impl Session {
    /// Logs in to `addr`; the handshake's record comes back as the error
    /// when it does not end in OK.
    pub async fn open(
        shared: &Shared,
        addrs: &[SocketAddr],
    ) -> Result<Self, Box<ConnectionRecord>> {
        let mut a = Attempt::new(shared, u64::MAX, addrs[0], None).or_else_try(&addrs[1..]);
        let end = a.drive().await;
        let ctx = a.ctx();
        let deframer = a.take_deframer();
        let (rec, stream) = a.finish_keep(end);
        match stream {
            Some(stream) => Ok(Self {
                stream,
                deframer,
                ctx,
                timeout: shared.cfg.timeout,
            }),
            None => Err(Box::new(rec)),
        }
    }

    async fn read(&mut self, deadline: Instant) -> Result<bytes::Bytes, QueryError> {
        let mut buf = [0u8; 8192];
        loop {
            if let Some(f) = self.deframer.next_frame() {
                return match f {
                    Frame::Packet(p) => Ok(p.payload),
                    Frame::Oversized { len, .. } => {
                        Err(QueryError::Malformed(format!("{len}-byte packet")))
                    }
                    // Only a capture's snaplen cuts packets; a socket never does.
                    Frame::Cut { len, .. } => {
                        Err(QueryError::Malformed(format!("{len}-byte packet, cut")))
                    }
                };
            }
            match timeout_at(deadline, self.stream.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => self.deframer.push(&buf[..n]),
                _ => return Err(QueryError::Lost),
            }
        }
    }

    /// Runs `sql`; returns the rows as text (NULL as `None`).
    pub async fn query(&mut self, sql: &str) -> Result<Vec<Vec<Option<String>>>, QueryError> {
        let deadline = Instant::now() + self.timeout;
        let mut out = BytesMut::new();
        write_packet(
            &mut out,
            0,
            &Packet::Command(CommandPacket::query(sql, self.ctx)).to_payload(self.ctx),
        );
        self.stream
            .write_all(&out)
            .await
            .map_err(|_| QueryError::Lost)?;
        let first = self.read(deadline).await?;
        match first.first() {
            Some(0xff) => {
                let e =
                    ErrPacket::decode(&first).map_err(|e| QueryError::Malformed(e.to_string()))?;
                return Err(QueryError::Server {
                    code: e.code.0,
                    message: e.message_lossy(),
                });
            }
            Some(0x00) => return Ok(Vec::new()),
            _ => {}
        }
        let cols = ColumnCount::decode(&first)
            .map_err(|e| QueryError::Malformed(e.to_string()))?
            .count;
        for _ in 0..cols {
            self.read(deadline).await?;
        }
        let deprecate_eof = self
            .ctx
            .caps
            .contains(hsp_wire::flags::Capabilities::DEPRECATE_EOF);
        if !deprecate_eof {
            self.read(deadline).await?;
        }
        let mut rows = Vec::new();
        loop {
            let p = self.read(deadline).await?;
            if p.first() == Some(&0xff) {
                let e = ErrPacket::decode(&p).map_err(|e| QueryError::Malformed(e.to_string()))?;
                return Err(QueryError::Server {
                    code: e.code.0,
                    message: e.message_lossy(),
                });
            }
            if is_eof(&p) || (deprecate_eof && p.first() == Some(&0xfe) && p.len() < 0xff_ffff) {
                return Ok(rows);
            }
            let row = TextRow::decode(&p).map_err(|e| QueryError::Malformed(e.to_string()))?;
            rows.push(
                (0..row.values.len())
                    .map(|i| row.text(i))
                    .collect::<Vec<_>>(),
            );
        }
    }

    /// Reads the status counters and variables.
    pub async fn snapshot(&mut self) -> Result<ServerSnapshot, QueryError> {
        let mut s = ServerSnapshot::default();
        for row in self.query(STATUS_QUERY).await? {
            if let [Some(k), Some(v)] = &row[..]
                && let Ok(v) = v.parse()
            {
                s.status.insert(k.clone(), v);
            }
        }
        if let Some(row) = self.query(VARIABLES_QUERY).await?.into_iter().next() {
            for (name, v) in VARIABLE_NAMES.iter().zip(row) {
                s.variables
                    .insert((*name).to_string(), v.unwrap_or_else(|| "NULL".into()));
            }
        }
        s.host_cache = self.host_cache().await;
        Ok(s)
    }

    /// The host cache's entry for this session's own address.
    async fn host_cache(&mut self) -> HostCache {
        let on = match self.query("SELECT @@performance_schema").await {
            Ok(rows) => rows
                .first()
                .and_then(|r| r.first().cloned().flatten())
                .is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("ON")),
            Err(e) => return HostCache::Unreadable(e.to_string()),
        };
        if !on {
            return HostCache::PerformanceSchemaOff;
        }
        let Some(local) = self.stream.tcp().and_then(crate::tcp::Tcp::local_addr) else {
            return HostCache::Unreadable("the session's own address is unknown".into());
        };
        // An address formatted here: nothing to escape.
        let ip = local.ip().to_canonical().to_string();
        let sql = format!(
            "SELECT {} FROM performance_schema.host_cache WHERE IP = '{ip}'",
            HOST_CACHE_COLUMNS.join(", ")
        );
        match self.query(&sql).await {
            Ok(rows) => match rows.into_iter().next() {
                None => HostCache::NoEntry { ip },
                Some(row) => HostCache::Entry {
                    ip,
                    counters: HOST_CACHE_COLUMNS
                        .iter()
                        .zip(row)
                        .filter_map(|(c, v)| Some(((*c).to_owned(), v?.parse().ok()?)))
                        .collect(),
                },
            },
            Err(e) => HostCache::Unreadable(e.to_string()),
        }
    }

    /// Sends COM_QUIT and closes.
    pub async fn close(self) {
        self.stream.quit(&self.ctx).await;
    }
}
