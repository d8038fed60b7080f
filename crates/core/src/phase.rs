//! The phases of a connection that handshake-probe times.
//!
//! A phase is named after what the connection waits for, so that each one
//! belongs to one party: `greeting` and `login` are the server's turn,
//! `client_reply` is the client's, `tcp_connect` is the network's and the
//! server kernel's. The classifier uses that ownership to say who was slow.

use std::fmt;
use std::time::Duration;

/// The handshake phases, in the order they happen.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Name resolution of the target host.
    Dns,
    /// SYN sent to connection established.
    TcpConnect,
    /// Connection established to the whole greeting received (the server's
    /// turn: reverse DNS, thread creation and `max_connections` checks all
    /// happen here).
    Greeting,
    /// Greeting received to the client's first packet sent (the client's
    /// turn: zero for a healthy client, `--login-delay` on purpose).
    ClientReply,
    /// The TLS handshake after the SSLRequest.
    Tls,
    /// Login sent to the server's first answer (the server's turn).
    Login,
    /// All further auth rounds (switch, more data, RSA) to OK or ERR.
    Auth,
    /// Start (after DNS) to OK or ERR, or to the failure.
    Total,
    /// After the handshake: a command connection idles (capture decoding).
    Command,
}

impl Phase {
    /// Every phase, in order.
    pub const ALL: [Self; 9] = [
        Self::Dns,
        Self::TcpConnect,
        Self::Greeting,
        Self::ClientReply,
        Self::Tls,
        Self::Login,
        Self::Auth,
        Self::Total,
        Self::Command,
    ];

    /// The phases that get a latency histogram: all but `command`.
    pub const TIMED: &'static [Self] = Self::ALL.as_slice().split_at(8).0;

    /// The snake_case name used in JSON and in HdrHistogram log tags.
    pub fn name(self) -> &'static str {
        match self {
            Self::Dns => "dns",
            Self::TcpConnect => "tcp_connect",
            Self::Greeting => "greeting",
            Self::ClientReply => "client_reply",
            Self::Tls => "tls",
            Self::Login => "login",
            Self::Auth => "auth",
            Self::Total => "total",
            Self::Command => "command",
        }
    }

    /// Whose move it is during this phase.
    pub fn turn(self) -> Party {
        match self {
            Self::Dns | Self::ClientReply | Self::Command => Party::Client,
            Self::TcpConnect => Party::Network,
            Self::Greeting | Self::Tls | Self::Login | Self::Auth | Self::Total => Party::Server,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Who a verdict blames, or whose turn a phase is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Party {
    /// The MySQL/MariaDB server (or a proxy in its place).
    Server,
    /// Loss, retransmission, a middlebox.
    Network,
    /// The connecting client.
    Client,
    /// Nobody: the handshake went as expected, or the evidence is missing.
    None,
}

impl Party {
    /// The snake_case name used in JSON and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Self::Server => "server",
            Self::Network => "network",
            Self::Client => "client",
            Self::None => "none",
        }
    }
}

/// A value per phase, for the phases that have one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PerPhase<T>([Option<T>; Phase::ALL.len()]);

impl<T: Copy> Default for PerPhase<T> {
    fn default() -> Self {
        Self([None; Phase::ALL.len()])
    }
}

impl<T: Copy> PerPhase<T> {
    /// The value of `p`, if it has one.
    pub fn get(&self, p: Phase) -> Option<T> {
        self.0[p.index()]
    }

    /// Sets the value of `p`.
    pub fn set(&mut self, p: Phase, v: T) {
        self.0[p.index()] = Some(v);
    }

    /// No phase has a value.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(Option::is_none)
    }

    /// The phases that have a value, in order.
    pub fn iter(&self) -> impl Iterator<Item = (Phase, T)> + '_ {
        Phase::ALL.iter().filter_map(|p| Some((*p, self.get(*p)?)))
    }
}

/// The measured duration of each phase that happened.
pub type PhaseTimes = PerPhase<Duration>;

impl PhaseTimes {
    /// Adds `d` to `p` (auth rounds accumulate).
    pub fn add(&mut self, p: Phase, d: Duration) {
        let v = self.get(p).unwrap_or_default() + d;
        self.set(p, v);
    }
}

impl serde::Serialize for PhaseTimes {
    /// A map from phase name to whole microseconds; missing phases are left out.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        for (p, d) in self.iter() {
            m.serialize_entry(p.name(), &micros(d))?;
        }
        m.end()
    }
}

/// How the probe timed the event that ended a phase (a phase begins where
/// the one before it ended; `tcp_connect` at the connect call). The kernel
/// stamps packets when they arrive, before the probe is scheduled to read
/// them; on a busy host that wake-up can be longer than the phase itself,
/// so a phase the kernel timed equals what a capture of the same
/// connection shows, and one timed on waking does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Clock {
    /// The kernel's receive timestamp (SO_TIMESTAMPING) of the segment
    /// that completed the server's packet.
    KernelRx,
    /// The kernel's round trip of the SYN (TCP_INFO right after the
    /// connect, when the SYN was sent once).
    KernelRtt,
    /// The probe's clock just before the send call that put the client's
    /// packet on the wire.
    Send,
    /// The probe's clock when it woke to the event (a stream without
    /// kernel timestamps, a timeout, a close).
    Wakeup,
}

impl Clock {
    /// The snake_case name used in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Self::KernelRx => "kernel_rx",
            Self::KernelRtt => "kernel_rtt",
            Self::Send => "send",
            Self::Wakeup => "wakeup",
        }
    }
}

/// Which [`Clock`] ended each timed phase (the probe's records).
pub type PhaseClocks = PerPhase<Clock>;

impl serde::Serialize for PhaseClocks {
    /// A map from phase name to clock name.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        for (p, c) in self.iter() {
            m.serialize_entry(p.name(), c.name())?;
        }
        m.end()
    }
}

/// Whole microseconds, saturating.
pub fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}
