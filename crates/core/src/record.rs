//! Connection records: the one JSON shape both the probe and the capture
//! decoder emit per connection (`{"type":"connection",...}`), documented
//! field by field in `docs/output.md`.

use serde::Serialize;

use crate::classify::{AppError, Classification, End, Facts, Params, classify};
use crate::phase::{Party, Phase, PhaseClocks, PhaseTimes};
use crate::verdict::Verdict;
use crate::wall::WallTime;

/// The kernel's view of the connection (Linux `TCP_INFO`), read at the end
/// of the handshake.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TcpInfo {
    /// Smoothed round-trip time, µs.
    pub rtt_us: u32,
    /// Round-trip time variance, µs.
    pub rttvar_us: u32,
    /// Retransmissions of the segment now at the head of the queue.
    pub retransmits: u8,
    /// Retransmitted segments over the connection's life.
    pub total_retrans: u32,
    /// Segments the kernel considers lost.
    pub lost: u32,
    /// Unacknowledged segments.
    pub unacked: u32,
}

/// Where a capture was taken, inferred from how the TCP handshake's round
/// trip splits: near the client, SYN to SYN-ACK holds the round trip; near
/// the server, SYN-ACK to ACK does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Vantage {
    /// SYN to SYN-ACK holds the round trip.
    NearClient,
    /// SYN-ACK to ACK holds the round trip.
    NearServer,
    /// Too short to tell, or no handshake seen.
    Unknown,
}

/// What TCP showed in a capture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TcpEvidence {
    /// Inferred capture point.
    pub vantage: Vantage,
    /// SYN-to-ACK round trip, µs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handshake_rtt_us: Option<u64>,
    /// SYNs beyond the first.
    pub syn_retransmits: u32,
    /// SYN-ACKs beyond the first (the SYN-ACK or the handshake's ACK was lost).
    pub syn_ack_retransmits: u32,
    /// Retransmitted data segments, client to server.
    pub retransmits_c2s: u32,
    /// Retransmitted data segments, server to client.
    pub retransmits_s2c: u32,
    /// Retransmissions, both directions, of data the receiver had already
    /// acknowledged (or reported as a duplicate by D-SACK): reported, not
    /// counted above, and deciding nothing.
    pub spurious_retransmits: u32,
    /// Longest wait of client data for its ACK, µs.
    pub max_unacked_c2s_us: u64,
    /// Longest wait of server data for its ACK, µs.
    pub max_unacked_s2c_us: u64,
    /// Zero-window advertisements, both directions.
    pub zero_windows: u32,
    /// Data segments that filled the window the receiver offered, both
    /// directions (known when both SYNs were captured).
    pub window_full: u32,
    /// Who closed first: `client`, `server`, or absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed_by: Option<&'static str>,
    /// How: `fin` or `rst`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub close: Option<&'static str>,
    /// Bytes the capture missed (gaps) or cut (snaplen), as events.
    pub capture_loss: u32,
    /// The connection was encrypted after the SSLRequest.
    pub encrypted: bool,
}

/// What a capture cut short (a snaplen) kept of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CaptureCut {
    /// Bytes the capture kept of each frame it cut, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snaplen: Option<u32>,
    /// Payload bytes of this connection the wire carried and the capture
    /// did not keep (each counted once, not again for retransmissions).
    pub bytes_cut: u64,
}

/// The server's ERR packet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServerError {
    /// Error code.
    pub code: u16,
    /// `ER_*` name, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'static str>,
    /// SQL state (absent when the ERR replaced the greeting).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sql_state: Option<String>,
    /// Message.
    pub message: String,
    /// Whether it came in place of the greeting.
    pub replaced_greeting: bool,
}

/// Authentication details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuthInfo {
    /// The plugin that finished the exchange.
    pub plugin: String,
    /// Auth packets sent after the login (switch responses, key requests).
    pub rounds: u32,
}

/// TLS details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TlsInfo {
    /// Negotiated protocol version, e.g. `TLSv1_3`.
    pub version: String,
    /// Negotiated cipher suite.
    pub cipher: String,
}

/// One connection, classified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectionRecord {
    /// Always `"connection"`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Sequence number of the connection in this run (0-based); in a
    /// capture, the TCP stream index.
    pub id: u64,
    /// The TCP stream index (tshark's `tcp.stream`), for captures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<u32>,
    /// Start, µs since the run (or capture) began.
    pub start_us: u64,
    /// Start, wall clock (a capture's first packet of the connection; the
    /// probe's connect).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<WallTime>,
    /// A capture's connection: µs from its first packet to its last (the
    /// session's life, beyond the handshake; error-log lines are written
    /// as it ends).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_us: Option<u64>,
    /// Client `ip:port`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// Server `ip:port`.
    pub server: String,
    /// Why it went the way it did.
    pub verdict: Verdict,
    /// The party the verdict blames.
    pub party: Party,
    /// What happened on the wire.
    pub outcome: &'static str,
    /// The phase that decided the verdict.
    pub phase: Phase,
    /// Phase durations, µs.
    pub phases_us: PhaseTimes,
    /// The probe's records: how the event that ended each phase was timed.
    #[serde(skip_serializing_if = "PhaseClocks::is_empty")]
    pub clocks: PhaseClocks,
    /// The server's ERR, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ServerError>,
    /// What the application would have logged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_error: Option<AppError>,
    /// The server's version string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_version: Option<String>,
    /// The server's connection (thread) id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_id: Option<u32>,
    /// Authentication.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthInfo>,
    /// TLS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsInfo>,
    /// Kernel TCP statistics.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp_info: Option<TcpInfo>,
    /// TCP evidence, for captures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp: Option<TcpEvidence>,
    /// Frame numbers of the packets behind each event, for captures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frames: Option<Frames>,
    /// What a snaplen cut, for captures that cut this connection's bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capture: Option<CaptureCut>,
    /// The server's error-log lines for this connection (`--error-log`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub server_log: Vec<crate::server_log::ServerLogLine>,
    /// A phase took more than half of `connect_timeout`.
    pub near_connect_timeout: bool,
    /// Two captures of the connection (`decode --vantage`): each tap's own
    /// reading.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub views: Option<Box<crate::path::Views>>,
    /// Two captures of the connection: what the path between the taps
    /// did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<Box<crate::path::PathReport>>,
    /// The facts behind the verdict.
    pub evidence: Vec<String>,
}

impl ConnectionRecord {
    /// A record from the classifier's answer; optional details start empty.
    pub fn new(id: u64, start_us: u64, facts: &Facts, c: Classification) -> Self {
        Self {
            kind: "connection",
            id,
            stream: None,
            start_us,
            time: None,
            duration_us: None,
            client: None,
            server: facts.server.clone(),
            verdict: c.verdict,
            party: c.party,
            outcome: facts.end.name(),
            phase: c.phase,
            phases_us: facts.phases,
            clocks: PhaseClocks::default(),
            error: None,
            app_error: c.app_error,
            server_version: None,
            connection_id: None,
            auth: None,
            tls: None,
            tcp_info: None,
            tcp: None,
            frames: None,
            capture: None,
            server_log: Vec::new(),
            near_connect_timeout: c.near_connect_timeout,
            views: None,
            path: None,
            evidence: c.evidence,
        }
    }

    /// The one way both drivers build a record: `facts` classified under
    /// `params`, then what the driver saw beside them. The classifier's
    /// evidence comes first, the driver's observations after it.
    pub fn classified(
        id: u64,
        start_us: u64,
        facts: &Facts,
        params: &Params,
        details: Details,
    ) -> Self {
        let Details {
            time,
            duration_us,
            stream,
            client,
            server_version,
            connection_id,
            error,
            auth,
            tls,
            tcp_info,
            tcp,
            frames,
            capture,
            clocks,
            mut evidence,
        } = details;
        let mut r = Self::new(id, start_us, facts, classify(facts, params));
        r.time = time;
        r.duration_us = duration_us;
        r.stream = stream;
        r.client = client;
        r.server_version = server_version;
        r.connection_id = connection_id;
        r.error = error;
        r.auth = auth;
        r.tls = tls;
        r.tcp_info = tcp_info;
        r.tcp = tcp;
        r.frames = frames;
        r.capture = capture;
        r.clocks = clocks;
        if let Some(t) = &r.tcp {
            r.evidence.extend(t.sentences());
        }
        if let Some(c) = &r.capture {
            r.evidence.push(c.sentence());
        }
        r.evidence.append(&mut evidence);
        r
    }

    /// The error code to count in summaries: the server's ERR, else the
    /// client's `CR_*`.
    pub fn error_code(&self) -> Option<(u16, Option<&'static str>)> {
        if let Some(e) = &self.error {
            return Some((e.code, e.name));
        }
        self.app_error.as_ref().map(|e| (e.code, e.name))
    }

    /// Whether the outcome was [`End::Completed`].
    pub fn completed(&self) -> bool {
        self.outcome == End::Completed.name()
    }
}

/// What a driver knows about a connection beside the [`Facts`] the
/// classifier reads: the record's descriptive fields, and its own
/// observations for the evidence.
#[derive(Debug, Clone, Default)]
pub struct Details {
    /// The wall-clock start.
    pub time: Option<WallTime>,
    /// First to last packet, for captures.
    pub duration_us: Option<u64>,
    /// The TCP stream index, for captures.
    pub stream: Option<u32>,
    /// Client `ip:port`.
    pub client: Option<String>,
    /// The server's version string.
    pub server_version: Option<String>,
    /// The server's connection (thread) id.
    pub connection_id: Option<u32>,
    /// The server's ERR.
    pub error: Option<ServerError>,
    /// Authentication.
    pub auth: Option<AuthInfo>,
    /// TLS.
    pub tls: Option<TlsInfo>,
    /// Kernel TCP statistics (the probe).
    pub tcp_info: Option<TcpInfo>,
    /// TCP evidence (captures).
    pub tcp: Option<TcpEvidence>,
    /// Frame numbers (captures).
    pub frames: Option<Frames>,
    /// What a snaplen cut (captures).
    pub capture: Option<CaptureCut>,
    /// How each phase's end was timed (the probe).
    pub clocks: PhaseClocks,
    /// The driver's observations, appended after the classifier's evidence.
    pub evidence: Vec<String>,
}

/// Frame numbers (1-based capture records) of the packets behind each
/// event of a decoded connection; absent events are left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Frames {
    /// The client's SYN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub syn: Option<u64>,
    /// The server's SYN-ACK.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub syn_ack: Option<u64>,
    /// The greeting (or the ERR in its place).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub greeting: Option<u64>,
    /// The client's SSLRequest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssl_request: Option<u64>,
    /// The login (HandshakeResponse).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub login: Option<u64>,
    /// The server's first answer to the login.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_answer: Option<u64>,
    /// The packet that decided the outcome (OK or ERR).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<u64>,
    /// The client's FIN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fin_client: Option<u64>,
    /// The server's FIN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fin_server: Option<u64>,
    /// The client's RST.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rst_client: Option<u64>,
    /// The server's RST.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rst_server: Option<u64>,
}

/// `a` as `ip:port`, as its `Display` writes it, without going through
/// `fmt` for IPv4 (two per record, on a capture of short connections a
/// twentieth of the decoding time).
pub fn addr_string(a: std::net::SocketAddr) -> String {
    let std::net::SocketAddr::V4(v4) = a else {
        return a.to_string();
    };
    let mut s = Vec::with_capacity(21);
    for (i, octet) in v4.ip().octets().into_iter().enumerate() {
        if i > 0 {
            s.push(b'.');
        }
        crate::json::uint(&mut s, u64::from(octet));
    }
    s.push(b':');
    crate::json::uint(&mut s, u64::from(v4.port()));
    String::from_utf8(s).unwrap_or_else(|_| a.to_string())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn addr_string_is_display(ip in any::<[u8; 4]>(), v6 in any::<u128>(), port in any::<u16>()) {
            let a = std::net::SocketAddr::from((ip, port));
            prop_assert_eq!(super::addr_string(a), a.to_string());
            let b = std::net::SocketAddr::from((std::net::Ipv6Addr::from(v6), port));
            prop_assert_eq!(super::addr_string(b), b.to_string());
        }
    }
}
