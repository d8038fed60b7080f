//! The verdict vocabulary, shared by the live probe and the capture decoder.
//!
//! A verdict names the cause of how a handshake went: the party whose action
//! or delay decided it. What happened on the wire is the separate
//! [`End`](crate::classify::End) (serialized as `outcome`). The rules that
//! choose a verdict are in [`classify`](fn@crate::classify) and, in prose, in
//! `docs/verdicts.md`.

use std::fmt;

use crate::phase::Party;

/// Why a connection went the way it did.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Verdict {
    /// Completed normally (or, probing without credentials, got the
    /// expected ERR 1045 in normal time).
    Ok,
    /// The server rejected the credentials or the database.
    AuthFailed,
    /// The server turned the connection away for a limit or a policy.
    Refused,
    /// The server closed the handshake after about `connect_timeout` of
    /// waiting for a client packet that did not reach it in time.
    ServerTimeout,
    /// In the command phase, the server closed after about `wait_timeout`
    /// of client silence.
    IdleTimeout,
    /// The server answered a packet over `max_allowed_packet`.
    PacketTooLarge,
    /// Loss or retransmissions held the handshake up or broke it.
    NetworkStall,
    /// A phase whose turn was the server's took longer than `--slow`, or
    /// the client gave up waiting for the server.
    ServerSlow,
    /// A phase whose turn was the client's took longer than `--slow`.
    ClientSlow,
    /// The server closed or reset without any pattern above (crash, KILL,
    /// shutdown).
    ServerReset,
    /// The client closed or reset before completing, with no server or
    /// network fault to explain it.
    ClientAbort,
    /// A device between client and server (a firewall, NAT or load
    /// balancer) reset the connection in one end's name.
    MiddleboxReset,
    /// The SYN was answered by RST, or never answered.
    NoServer,
    /// The bytes are not a MySQL handshake: the server's (a forged length,
    /// garbage, not MySQL at all), or the client's, as the server said
    /// with ERR 1043 or 1156 (then the party is the client).
    ProtocolError,
    /// The evidence is missing; never a guess.
    Incomplete,
}

impl Verdict {
    /// Every verdict, in the order summaries list them.
    pub const ALL: [Self; 15] = [
        Self::Ok,
        Self::AuthFailed,
        Self::Refused,
        Self::ServerTimeout,
        Self::IdleTimeout,
        Self::PacketTooLarge,
        Self::NetworkStall,
        Self::ServerSlow,
        Self::ClientSlow,
        Self::ServerReset,
        Self::ClientAbort,
        Self::MiddleboxReset,
        Self::NoServer,
        Self::ProtocolError,
        Self::Incomplete,
    ];

    /// The snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::AuthFailed => "auth_failed",
            Self::Refused => "refused",
            Self::ServerTimeout => "server_timeout",
            Self::IdleTimeout => "idle_timeout",
            Self::PacketTooLarge => "packet_too_large",
            Self::NetworkStall => "network_stall",
            Self::ServerSlow => "server_slow",
            Self::ClientSlow => "client_slow",
            Self::ServerReset => "server_reset",
            Self::ClientAbort => "client_abort",
            Self::MiddleboxReset => "middlebox_reset",
            Self::NoServer => "no_server",
            Self::ProtocolError => "protocol_error",
            Self::Incomplete => "incomplete",
        }
    }

    /// The party this verdict blames.
    pub fn party(self) -> Party {
        match self {
            Self::Ok | Self::Incomplete => Party::None,
            Self::AuthFailed | Self::ClientSlow | Self::ClientAbort => Party::Client,
            Self::NetworkStall | Self::MiddleboxReset => Party::Network,
            Self::Refused
            | Self::ServerTimeout
            | Self::IdleTimeout
            | Self::PacketTooLarge
            | Self::ServerSlow
            | Self::ServerReset
            | Self::NoServer
            | Self::ProtocolError => Party::Server,
        }
    }

    /// One line of advice for an operator who sees this verdict.
    pub fn advice(self) -> &'static str {
        match self {
            Self::Ok => "",
            Self::AuthFailed => {
                "check the user, password, host part of the account and the database"
            }
            Self::Refused => {
                "the server turned connections away: see the error codes (max_connections, max_connect_errors and FLUSH HOSTS, host not allowed)"
            }
            Self::ServerTimeout => {
                "logins reached the server after connect_timeout: a late client or loss on the way (the MySQL bug #28359 pattern); raise connect_timeout or find the delay"
            }
            Self::IdleTimeout => {
                "the server closed idle sessions after wait_timeout: the application's pool keeps connections longer than the server does"
            }
            Self::PacketTooLarge => "a packet exceeded max_allowed_packet",
            Self::NetworkStall => {
                "TCP retransmissions held handshakes up: packet loss between client and server, not the server"
            }
            Self::ServerSlow => {
                "the server was slow to answer: reverse DNS (skip_name_resolve=OFF), thread creation, overload, or a stopped process"
            }
            Self::ClientSlow => "the client was slow to answer the server",
            Self::ServerReset => {
                "the server closed connections with no timeout or error to explain it: a crash, KILL, shutdown or a proxy"
            }
            Self::ClientAbort => {
                "the client gave up on its own (TLS verification, unsupported plugin, interrupted)"
            }
            Self::MiddleboxReset => {
                "a device between client and server (firewall, NAT, load balancer) reset connections in one end's name: compare its idle timeout and connection tracking with wait_timeout and the pool's idle time; the server's counters show nothing of it"
            }
            Self::NoServer => "nothing listens there, or a firewall drops the SYN",
            Self::ProtocolError => {
                "the peer does not speak the MySQL protocol (wrong port, a proxy, or a broken server)"
            }
            Self::Incomplete => "",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Server error codes that reject credentials or the database.
pub const AUTH_ERRORS: &[u16] = &[1044, 1045, 1049, 1251, 1698, 3118, 3955, 4151];
/// Server error codes that turn a connection away for a limit or a policy.
pub const REFUSAL_ERRORS: &[u16] = &[1040, 1042, 1053, 1129, 1130, 1203, 1226, 3032, 3159, 1152];
/// Server error codes that describe the client's bytes, not a policy:
/// ER_HANDSHAKE_ERROR (1043, Bad handshake) and ER_NET_PACKETS_OUT_OF_ORDER
/// (1156).
pub const CLIENT_PROTOCOL_ERRORS: &[u16] = &[1043, 1156];
/// Server error codes for a failed or timed-out read or write
/// (ER_NET_READ_ERROR 1158 to ER_NET_WRITE_INTERRUPTED 1161): they follow
/// the network evidence and the timing rules.
pub const NET_ERRORS: std::ops::RangeInclusive<u16> = 1158..=1161;
/// Server error codes for a packet over `max_allowed_packet`.
pub const PACKET_TOO_LARGE_ERRORS: &[u16] = &[1153, 1162];
/// ER_CLIENT_INTERACTION_TIMEOUT: MySQL 8.0.24+ says so before closing an idle session.
pub const IDLE_TIMEOUT_ERROR: u16 = 4031;

/// The verdict for an ERR packet from the server.
pub fn verdict_for_server_error(code: u16) -> Verdict {
    if AUTH_ERRORS.contains(&code) {
        Verdict::AuthFailed
    } else if PACKET_TOO_LARGE_ERRORS.contains(&code) {
        Verdict::PacketTooLarge
    } else if code == IDLE_TIMEOUT_ERROR {
        Verdict::IdleTimeout
    } else if CLIENT_PROTOCOL_ERRORS.contains(&code) {
        Verdict::ProtocolError
    } else {
        // Every other ERR during the handshake is the server's explicit
        // decision to turn the connection away.
        Verdict::Refused
    }
}
