//! The verdict classifier: a pure function from what was measured about one
//! connection ([`Facts`]) to a [`Classification`] (verdict, deciding phase,
//! evidence, and the error the application most likely logged).
//!
//! It knows nothing of sockets or captures (tls-parser keeps its state
//! table apart from parsing the same way): the probe fills [`Facts`] from
//! its own clock and TCP_INFO, the capture decoder from packet times and
//! TCP analysis, and both get the same verdicts for the same facts.
//!
//! Precedence, as `docs/verdicts.md` states it: explicit server answers
//! (ERR packets) first, then network evidence, then timeouts, then
//! slowness; what is left is decided by who closed the connection.

use std::fmt::Write as _;
use std::time::Duration;

pub use crate::app_error::{AppError, app_error, cr_name};
use crate::network::{MissedByTap, Resent, ResetSignals, Side, Unseen};
use crate::phase::{Party, Phase, PhaseTimes};
use crate::record::Vantage;
use crate::tls::{TlsAlert, unfinished_sentence};
use crate::verdict::{CLIENT_PROTOCOL_ERRORS, NET_ERRORS, Verdict, verdict_for_server_error};

/// How a connection ended, as its observer saw it (serialized as `outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum End {
    /// OK after authentication.
    Completed,
    /// An ERR from the server.
    ServerError {
        /// The error code.
        code: u16,
        /// Whether it came in place of the greeting.
        replaced_greeting: bool,
    },
    /// The server closed (FIN) or reset (RST) the connection.
    ServerClosed {
        /// RST rather than FIN.
        reset: bool,
    },
    /// The client closed or reset for its own reasons.
    ClientClosed {
        /// RST rather than FIN.
        reset: bool,
    },
    /// The observer's own time limit expired while waiting for the server.
    TimedOut,
    /// The SYN was answered by RST.
    ConnectRefused,
    /// The SYN was never answered.
    ConnectTimedOut,
    /// The connection could not be made for another reason (errno).
    ConnectFailed {
        /// The OS error number.
        errno: i32,
    },
    /// The server sent something that is not a valid handshake packet.
    Malformed,
    /// The server answered the login (it completed on its side), the
    /// answer was never acknowledged, and the client closed: the client
    /// never saw it.
    AnswerLost {
        /// The client's close was a RST.
        reset: bool,
    },
    /// A capture that kept none of the MySQL bytes saw the server answer
    /// the login (see [`Facts::tcp_only`]): an OK, an ERR or another auth
    /// round, which TCP cannot tell apart.
    Answered,
    /// The run was interrupted (Ctrl-C) before the handshake ended.
    Interrupted,
    /// The capture ended (or began) without the outcome.
    CaptureEnded,
}

impl End {
    /// The `outcome` name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::ServerError { .. } => "err",
            Self::ServerClosed { reset: false } => "server_closed",
            Self::ServerClosed { reset: true } => "server_reset",
            Self::ClientClosed { reset: false } => "client_closed",
            Self::ClientClosed { reset: true } => "client_reset",
            Self::TimedOut => "timed_out",
            Self::ConnectRefused => "connect_refused",
            Self::ConnectTimedOut => "connect_timed_out",
            Self::ConnectFailed { .. } => "connect_failed",
            Self::Malformed => "malformed",
            Self::AnswerLost { .. } => "answer_lost",
            Self::Answered => "answered",
            Self::Interrupted => "interrupted",
            Self::CaptureEnded => "capture_ended",
        }
    }
}

/// Thresholds for the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    /// A phase longer than this is slow (`--slow`, default 1 s).
    pub slow: Duration,
    /// The server's `connect_timeout`.
    pub connect_timeout: Duration,
    /// The server's `wait_timeout`, when known.
    pub wait_timeout: Option<Duration>,
    /// ERR 1045 is the expected answer (probing without credentials).
    pub access_denied_expected: bool,
    /// The server's `back_log` (its listen queue), when known.
    pub back_log: Option<u32>,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            slow: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(10),
            wait_timeout: None,
            access_denied_expected: false,
            back_log: None,
        }
    }
}

/// What was measured about one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// How it ended.
    pub end: End,
    /// The phase in progress when it ended (the last one, if it completed).
    pub phase: Phase,
    /// Measured phases; an unfinished phase holds the time spent in it.
    pub phases: PhaseTimes,
    /// When the server closed: how long it had been waiting for a client
    /// packet (since its own last packet), if it was the client's move.
    pub server_wait: Option<Duration>,
    /// Whether the end was noticed by a failed write.
    pub write_failed: bool,
    /// TCP retransmissions seen on this connection.
    pub retransmits: u32,
    /// The OS error number behind a close or failure (104 reset, 110 timed out).
    pub errno: Option<i32>,
    /// An error the client itself raised (TLS, plugin, protocol version).
    pub client_error: Option<AppError>,
    /// The server's ERR message, for [`AppError`].
    pub server_message: Option<String>,
    /// Where the connection went, for the `Can't connect` message.
    pub server: String,
    /// The server is on loopback (127.0.0.0/8, ::1): nothing is lost in a
    /// network there; a retransmission means the host's own stack dropped
    /// the segment (a full listen queue, a stopped server).
    pub loopback: bool,
    /// Handshake data whose first copy did not arrive (captures; the probe
    /// from TCP_INFO for its own segments).
    pub resent: Option<Resent>,
    /// A close whose sequence number shows bytes never seen (captures).
    pub unseen: Option<Unseen>,
    /// Bytes the peer acknowledged that the capture never saw.
    pub missed: Option<MissedByTap>,
    /// What the capture shows about the first RST (captures).
    pub reset: Option<ResetSignals>,
    /// An alert sent before the TLS handshake completed (captures).
    pub tls_alert: Option<TlsAlert>,
    /// The connection closed during the TLS handshake (captures): the
    /// record headers show it never completed.
    pub tls_unfinished: bool,
    /// Where these facts were seen from.
    pub viewpoint: Viewpoint,
    /// Connections to the same server being opened at about the same time
    /// (the probe's concurrency; in a capture, first SYNs to that server in
    /// the second up to this one's), this one included; 0 when unknown.
    pub in_flight: u32,
    /// The capture kept none of the connection's MySQL bytes (a snaplen
    /// below the TCP payload): its handshake packets were taken from the
    /// turns of its data, so only verdicts TCP alone decides are given.
    pub tcp_only: bool,
}

/// Where a connection's facts were seen from: what that point cannot see
/// is said beside the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Viewpoint {
    /// The client's own socket (the probe): the server's side is unseen.
    ClientSocket,
    /// A capture, taken where its handshake round trip says.
    Capture(Vantage),
}

impl Facts {
    /// Facts for a connection that ended with `end` in `phase`.
    pub fn new(end: End, phase: Phase, server: impl Into<String>) -> Self {
        Self {
            end,
            phase,
            phases: PhaseTimes::default(),
            server_wait: None,
            write_failed: false,
            retransmits: 0,
            errno: None,
            client_error: None,
            server_message: None,
            server: server.into(),
            loopback: false,
            resent: None,
            unseen: None,
            missed: None,
            reset: None,
            tcp_only: false,
            tls_alert: None,
            tls_unfinished: false,
            viewpoint: Viewpoint::Capture(Vantage::Unknown),
            in_flight: 0,
        }
    }
}

/// The classifier's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classification {
    /// The verdict.
    pub verdict: Verdict,
    /// The party it blames.
    pub party: Party,
    /// The phase that decided it.
    pub phase: Phase,
    /// Why, in measured facts.
    pub evidence: Vec<String>,
    /// What the application most likely logged.
    pub app_error: Option<AppError>,
    /// Some phase took more than half of `connect_timeout`.
    pub near_connect_timeout: bool,
}

/// Milliseconds with one decimal, for evidence text.
fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

/// Seconds with two decimals, for evidence text.
fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// True when `waited` is about `limit`: the server's timers fire late by
/// scheduling and early by the one-way trip our clock cannot see.
fn about(waited: Duration, limit: Duration) -> bool {
    let lo = limit
        .mul_f64(0.9)
        .saturating_sub(Duration::from_millis(100));
    let hi = limit.mul_f64(1.5) + Duration::from_secs(1);
    waited >= lo && waited <= hi
}

/// The phases whose slowness counts, in order (not the `total`, which
/// contains them, nor the command phase).
const SLOW_CANDIDATES: [Phase; 7] = [
    Phase::Dns,
    Phase::TcpConnect,
    Phase::Greeting,
    Phase::ClientReply,
    Phase::Tls,
    Phase::Login,
    Phase::Auth,
];

/// Classifies one connection.
pub fn classify(f: &Facts, p: &Params) -> Classification {
    let mut evidence = Vec::new();
    let near = f.phases.iter().any(|(ph, d)| {
        ph != Phase::Command && p.connect_timeout > Duration::ZERO && d * 2 > p.connect_timeout
    });
    let (mut verdict, phase) = decide(f, p, &mut evidence);
    if f.tcp_only && !TCP_DECIDES.contains(&verdict) {
        evidence.push(format!(
            "the capture kept no MySQL bytes to show whether this is {verdict}"
        ));
        verdict = Verdict::Incomplete;
    }
    if near {
        evidence.push(format!(
            "a phase took more than half of connect_timeout ({})",
            secs(p.connect_timeout)
        ));
    }
    if let Some(m) = &f.missed {
        evidence.push(m.sentence());
    }
    // What this viewpoint cannot see, where it matters to the verdict.
    match (verdict, phase, f.viewpoint) {
        (Verdict::ServerSlow, Phase::Greeting, Viewpoint::ClientSocket) => evidence.push(
            "from the client, a greeting delayed by packet loss looks the same; a capture at the server tells them apart"
                .into(),
        ),
        (Verdict::ServerTimeout, _, Viewpoint::Capture(Vantage::NearServer)) => evidence.push(
            "packets lost between the client and this capture point are invisible here, so the login may have been sent in time"
                .into(),
        ),
        _ => {}
    }
    // ERR 1043 and 1156 describe the client's bytes: the client's error.
    let party = match f.end {
        End::ServerError { code, .. } if CLIENT_PROTOCOL_ERRORS.contains(&code) => Party::Client,
        _ => verdict.party(),
    };
    Classification {
        verdict,
        party,
        phase,
        evidence,
        app_error: app_error(f),
        near_connect_timeout: near,
    }
}

/// The verdicts TCP decides without MySQL content (see [`Facts::tcp_only`]):
/// no server; a server reset at connect_timeout with no client data since,
/// or a client's data only after it; a slow greeting; loss; a device's
/// reset. An OK, an ERR's code, a protocol error need the bytes.
const TCP_DECIDES: [Verdict; 7] = [
    Verdict::NoServer,
    Verdict::ServerTimeout,
    Verdict::ClientSlow,
    Verdict::ServerSlow,
    Verdict::NetworkStall,
    Verdict::MiddleboxReset,
    Verdict::Incomplete,
];

/// Connections opened at once that can fill a listen queue whose length is
/// unknown (MariaDB's smallest autosized `back_log` is 80; Linux caps it
/// at `net.core.somaxconn`).
const LISTEN_BURST: u32 = 64;

/// `network_stall` in the slowest phase (else the one in progress). A SYN
/// retransmitted while many connections to the server were being opened
/// may be its full listen queue rather than the network: the evidence
/// says so, naming `back_log` when known.
fn stalled(
    f: &Facts,
    p: &Params,
    slowest: Option<(Phase, Duration)>,
    ev: &mut Vec<String>,
) -> (Verdict, Phase) {
    if let Some((ph, d)) = slowest {
        ev.push(format!("{ph} took {}", ms(d)));
    }
    let phase = slowest.map_or(f.phase, |s| s.0);
    // The queue overflows only when more connections arrive than it holds
    // before the server accepts them.
    let burst = p.back_log.unwrap_or(LISTEN_BURST);
    if phase == Phase::TcpConnect && f.in_flight >= burst {
        let queue = p
            .back_log
            .map_or_else(|| "back_log".to_string(), |b| format!("back_log={b}"));
        ev.push(format!(
            "{} connections to this server were being opened at about the same time: a SYN retransmitted then may be the server's full listen queue ({queue}), not the network",
            f.in_flight
        ));
    }
    (Verdict::NetworkStall, phase)
}

/// The forged reset that ended the connection, if the evidence weighs
/// enough: the first close is a RST in the name of the end it blames.
pub(crate) fn forged_reset(f: &Facts) -> Option<&ResetSignals> {
    let sig = f.reset.as_ref().filter(|s| s.forged())?;
    let by = match f.end {
        End::ServerClosed { reset: true } => Side::Server,
        End::ClientClosed { reset: true } | End::AnswerLost { reset: true } => Side::Client,
        _ => return None,
    };
    (sig.sender == by).then_some(sig)
}

fn decide(f: &Facts, p: &Params, ev: &mut Vec<String>) -> (Verdict, Phase) {
    // The server ended the connection (FIN or RST), or sent a read or
    // write error (1158-1161) that follows the same rules.
    let mut server_ended = None;
    // 1. Explicit answers and failures that need no interpretation.
    match f.end {
        End::ServerError {
            code,
            replaced_greeting,
        } => {
            let expected = p.access_denied_expected && code == 1045;
            let v = verdict_for_server_error(code);
            let mut e = format!("server sent ERR {code}");
            if let Some(n) = hsp_wire::codes::ErrorCode(code).name() {
                let _ = write!(e, " {n}");
            }
            if replaced_greeting {
                e.push_str(" in place of the greeting");
            }
            if CLIENT_PROTOCOL_ERRORS.contains(&code) {
                e.push_str(
                    ": the server describes the client's bytes (a malformed or unexpected client packet), not a policy",
                );
            }
            ev.push(e);
            if NET_ERRORS.contains(&code) {
                // A read or write that failed or timed out: who made it
                // fail is for the network and timing rules below.
                server_ended = Some("sent a read/write error and ended");
            } else if !expected {
                return (v, f.phase);
            } else {
                ev.push("ERR 1045 is the expected answer when probing without credentials".into());
            }
        }
        End::ConnectRefused => {
            ev.push("the SYN was answered by RST: nothing listens on that port".into());
            return (Verdict::NoServer, Phase::TcpConnect);
        }
        End::ConnectTimedOut => {
            let waited = f.phases.get(Phase::TcpConnect).unwrap_or_default();
            ev.push(format!("the SYN was not answered within {}", secs(waited)));
            return (Verdict::NoServer, Phase::TcpConnect);
        }
        End::ConnectFailed { errno } => {
            ev.push(format!("connect failed with OS error {errno}"));
            return (Verdict::NoServer, Phase::TcpConnect);
        }
        End::Malformed => {
            ev.push(format!(
                "the server's bytes are not a valid MySQL packet during {}",
                f.phase
            ));
            return (Verdict::ProtocolError, f.phase);
        }
        End::Interrupted => {
            ev.push(format!("interrupted during {} before the outcome", f.phase));
            return (Verdict::Incomplete, f.phase);
        }
        End::CaptureEnded => {
            // The driver says why (starts mid-connection, ends early).
            return (Verdict::Incomplete, f.phase);
        }
        End::ServerClosed { reset } => {
            server_ended = Some(if reset { "reset (RST)" } else { "closed (FIN)" });
        }
        End::Completed
        | End::Answered
        | End::ClientClosed { .. }
        | End::TimedOut
        | End::AnswerLost { .. } => {}
    }

    // A TLS handshake refused by an alert: the side that sent it decided.
    if let Some(a) = &f.tls_alert {
        ev.push(a.sentence());
        return match a.sender {
            Side::Client => (Verdict::ClientAbort, Phase::Tls),
            Side::Server => (Verdict::Refused, Phase::Tls),
        };
    }
    if f.tls_unfinished {
        let by = match f.end {
            End::ServerClosed { .. } => Side::Server,
            _ => Side::Client,
        };
        ev.push(unfinished_sentence(by));
    }

    // 2. A reset that its supposed sender did not send.
    if let Some(sig) = forged_reset(f) {
        ev.push(sig.sentence());
        ev.push(sig.aftermath(f.phase == Phase::Command));
        return (Verdict::MiddleboxReset, f.phase);
    }
    if let Some(e) = f
        .reset
        .as_ref()
        .and_then(ResetSignals::kernel_reply_sentence)
    {
        ev.push(e);
    }

    let failed = !matches!(
        f.end,
        End::Completed | End::Answered | End::ServerError { .. }
    ) || server_ended.is_some();
    let slowest = SLOW_CANDIDATES
        .iter()
        .filter_map(|ph| Some((*ph, f.phases.get(*ph)?)))
        .filter(|(_, d)| *d > p.slow)
        .max_by_key(|(_, d)| *d);

    // 3. Network evidence: loss that held the handshake up or broke it.
    if f.loopback {
        if f.retransmits > 0 || f.resent.is_some() {
            ev.push(format!(
                "{} retransmission(s) on loopback, where no network loses anything: the host's own stack dropped them (a full listen queue, back_log, or a stopped server)",
                f.retransmits.max(f.resent.map_or(0, |r| r.copies))
            ));
        }
    } else {
        if let End::AnswerLost { reset } = f.end {
            ev.push(format!(
                "the server {} the login, but its answer was never acknowledged: the client never saw it and {} the connection",
                if f.tcp_only { "answered" } else { "completed the handshake on its side, answering" },
                if reset { "reset" } else { "closed" }
            ));
            if let Some(r) = &f.resent {
                ev.push(r.sentence());
            }
            return (Verdict::NetworkStall, f.phase);
        }
        // Bytes lost before a close decide only a handshake that failed
        // (a COM_QUIT lost after the OK explains nothing).
        if failed && let Some(u) = f.unseen.filter(Unseen::lost_in_network) {
            ev.push(u.sentence());
            return (Verdict::NetworkStall, f.phase);
        }
        if let Some(r) = &f.resent {
            ev.push(r.sentence());
            return stalled(f, p, slowest, ev);
        }
        if f.retransmits > 0 && (failed || slowest.is_some()) {
            ev.push(format!(
                "{} TCP retransmission(s) on this connection",
                f.retransmits
            ));
            return stalled(f, p, slowest, ev);
        }
    }

    // 4. Timeouts: the server closed while it waited for the client.
    if let Some(how) = server_ended
        && let Some(waited) = f.server_wait
    {
        let handshake = matches!(
            f.phase,
            Phase::ClientReply | Phase::Tls | Phase::Login | Phase::Auth
        );
        if handshake && about(waited, p.connect_timeout) {
            ev.push(format!(
                "server {how} the connection {} after its last packet, while waiting for the client; connect_timeout is {}",
                secs(waited),
                secs(p.connect_timeout)
            ));
            return (Verdict::ServerTimeout, f.phase);
        }
        if f.phase == Phase::Command
            && let Some(wt) = p.wait_timeout
            && about(waited, wt)
        {
            ev.push(format!(
                "server {how} the session after {} of client silence; wait_timeout is {}",
                secs(waited),
                secs(wt)
            ));
            return (Verdict::IdleTimeout, Phase::Command);
        }
    }

    // 5. Slowness: a phase over --slow, blamed on whose turn it was; a
    // client that gave up during its own slow turn aborted.
    if let Some((ph, d)) = slowest {
        if matches!(f.end, End::ClientClosed { .. }) && ph == f.phase && ph.turn() == Party::Client
        {
            ev.push(format!(
                "the client closed after {} in {ph} without sending its next packet: it gave up by itself",
                ms(d)
            ));
            return (Verdict::ClientAbort, ph);
        }
        ev.push(format!("{ph} took {} (slow is over {})", ms(d), ms(p.slow)));
        let v = match ph.turn() {
            Party::Client => Verdict::ClientSlow,
            _ => Verdict::ServerSlow,
        };
        return (v, ph);
    }

    // 6. Who ended it.
    if let Some(how) = server_ended {
        let mut e = format!("server {how} the connection during {}", f.phase);
        if let Some(w) = f.server_wait {
            let _ = write!(e, ", {} after its last packet", ms(w));
        }
        ev.push(e);
        return (Verdict::ServerReset, f.phase);
    }
    match f.end {
        End::ClientClosed { reset } | End::AnswerLost { reset } => {
            let how = if reset { "reset" } else { "closed" };
            let mut e = format!("client {how} the connection during {}", f.phase);
            if let Some(c) = &f.client_error {
                let _ = write!(e, ": {}", c.message);
            }
            ev.push(e);
            (Verdict::ClientAbort, f.phase)
        }
        End::TimedOut => {
            let waited = f.phases.get(f.phase).unwrap_or_default();
            ev.push(format!(
                "no answer from the server during {} within the client's limit ({})",
                f.phase,
                ms(waited)
            ));
            match f.phase.turn() {
                Party::Client => (Verdict::ClientSlow, f.phase),
                _ => (Verdict::ServerSlow, f.phase),
            }
        }
        _ => (Verdict::Ok, f.phase),
    }
}
