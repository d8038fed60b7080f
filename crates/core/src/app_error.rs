//! What the application logged: the error libmysqlclient (and the mysql
//! client) reports for a connection, with its `CR_*` code, so that a line in
//! an application's log can be matched to a cause. Every message is
//! written here, for the probe's own failures and for the facts of a
//! capture alike (`docs/verdicts.md`, "What the application logged").

use crate::classify::{End, Facts, forged_reset};
use crate::network::Side;
use crate::phase::Phase;

/// The error a client application reports, in libmysqlclient's words
/// (`CR_*` codes), or the server's ERR as the client shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AppError {
    /// The code (`CR_*` 2000-2999, or the server's `ER_*`).
    pub code: u16,
    /// The symbolic name, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'static str>,
    /// The message, as the official client prints it.
    pub message: String,
}

impl AppError {
    /// A client-side error.
    pub fn client(code: u16, message: impl Into<String>) -> Self {
        Self {
            code,
            name: cr_name(code),
            message: message.into(),
        }
    }
}

/// The name of a libmysqlclient `CR_*` code.
pub fn cr_name(code: u16) -> Option<&'static str> {
    Some(match code {
        2002 => "CR_CONNECTION_ERROR",
        2003 => "CR_CONN_HOST_ERROR",
        2005 => "CR_UNKNOWN_HOST",
        2006 => "CR_SERVER_GONE_ERROR",
        2007 => "CR_VERSION_ERROR",
        2013 => "CR_SERVER_LOST",
        2026 => "CR_SSL_CONNECTION_ERROR",
        2027 => "CR_MALFORMED_PACKET",
        2059 => "CR_AUTH_PLUGIN_CANNOT_LOAD",
        2061 => "CR_AUTH_PLUGIN_ERR",
        _ => return None,
    })
}

impl AppError {
    /// CR_SSL_CONNECTION_ERROR (2026).
    pub fn ssl(detail: impl std::fmt::Display) -> Self {
        Self::client(2026, format!("SSL connection error: {detail}"))
    }

    /// CR_VERSION_ERROR (2007): a greeting of another protocol version.
    pub fn protocol_mismatch(server_version: impl std::fmt::Display) -> Self {
        Self::client(
            2007,
            format!("Protocol mismatch; server version = {server_version}, client version = 10"),
        )
    }

    /// TLS required (`--ssl-mode REQUIRED` or stricter) but not offered.
    pub fn tls_not_offered() -> Self {
        Self::ssl("SSL is required but the server doesn't support it")
    }

    /// CR_AUTH_PLUGIN_CANNOT_LOAD (2059).
    pub fn plugin_cannot_load(plugin: impl std::fmt::Display) -> Self {
        Self::client(
            2059,
            format!("Authentication plugin '{plugin}' cannot be loaded"),
        )
    }

    /// CR_AUTH_PLUGIN_ERR (2061).
    pub fn plugin_error(plugin: impl std::fmt::Display, reason: impl std::fmt::Display) -> Self {
        Self::client(
            2061,
            format!("Authentication plugin '{plugin}' reported error: {reason}"),
        )
    }

    /// CR_MALFORMED_PACKET (2027).
    pub fn malformed() -> Self {
        Self::client(2027, "Malformed packet")
    }

    /// CR_UNKNOWN_HOST (2005).
    pub fn unknown_host(host: impl std::fmt::Display) -> Self {
        Self::client(2005, format!("Unknown MySQL server host '{host}'"))
    }
}

/// What libmysqlclient would have reported for these facts.
pub fn app_error(f: &Facts) -> Option<AppError> {
    if let Some(e) = &f.client_error {
        return Some(e.clone());
    }
    if let Some(a) = &f.tls_alert {
        return Some(AppError::client(2026, a.client_message()));
    }
    let errno = f.errno.unwrap_or(0);
    let lost = |at: &str, errno: i32| {
        AppError::client(
            2013,
            format!("Lost connection to MySQL server at '{at}', system error: {errno}"),
        )
    };
    if let Some(sig) = forged_reset(f)
        && sig.sender == Side::Client
    {
        // The server was reset in the client's name; the client finds its
        // session gone on its next read or write.
        return Some(match f.phase {
            Phase::Command => AppError::client(2006, "MySQL server has gone away"),
            _ => lost("reading authorization packet", 104),
        });
    }
    Some(match f.end {
        End::Completed | End::Answered | End::Interrupted | End::CaptureEnded => return None,
        End::AnswerLost { .. } => lost("reading authorization packet", 110),
        End::ServerError { code, .. } => AppError {
            code,
            name: hsp_wire::codes::ErrorCode(code).name(),
            message: f.server_message.clone().unwrap_or_default(),
        },
        End::ConnectRefused => AppError::client(
            2003,
            format!("Can't connect to MySQL server on '{}' (111)", f.server),
        ),
        End::ConnectTimedOut => AppError::client(
            2003,
            format!("Can't connect to MySQL server on '{}' (110)", f.server),
        ),
        End::ConnectFailed { errno } => AppError::client(
            2003,
            format!("Can't connect to MySQL server on '{}' ({errno})", f.server),
        ),
        End::Malformed => AppError::malformed(),
        End::TimedOut => match f.phase {
            Phase::Greeting => lost("waiting for initial communication packet", 110),
            Phase::Tls => AppError::client(2026, "SSL connection error: handshake timed out"),
            Phase::Command => {
                AppError::client(2013, "Lost connection to MySQL server during query")
            }
            _ => lost("reading authorization packet", 110),
        },
        End::ClientClosed { .. } if f.tls_unfinished => AppError::client(
            2026,
            "SSL connection error: the client ended the TLS handshake",
        ),
        End::ClientClosed { .. } => return None,
        End::ServerClosed { .. } => match f.phase {
            Phase::Greeting | Phase::TcpConnect | Phase::Dns => {
                lost("reading initial communication packet", errno)
            }
            Phase::Tls => AppError::client(
                2026,
                format!(
                    "SSL connection error: the server closed the connection (system error: {errno})"
                ),
            ),
            Phase::Command => AppError::client(2006, "MySQL server has gone away"),
            _ if f.write_failed => lost("sending authentication information", errno),
            _ => lost("reading authorization packet", errno),
        },
    })
}
