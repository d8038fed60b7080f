//! Two vantage points of one connection: the segments each tap saw, and
//! what their comparison proves about the path between the taps.
//!
//! A capture near the client and one near the server, taken at once, see
//! the same packets twice: each packet the client sent either reached the
//! server's tap or did not, and a packet one tap shows "from the server"
//! that the server's tap never saw was not sent by the server. Those are
//! proofs no single capture can give (a single capture infers loss from
//! retransmissions and forged resets from TTLs). The drivers collect a
//! [`WireLog`] per connection; hsp-merge matches them and fills a
//! [`PathFacts`]; this module holds the vocabulary, the sentences and
//! the rule that turns both views into one verdict.

use serde::Serialize;

use crate::network::Side;
use crate::verdict::Verdict;

/// TCP flags of a [`WireSeg`], as bits.
pub mod flag {
    /// SYN.
    pub const SYN: u8 = 1;
    /// ACK.
    pub const ACK: u8 = 2;
    /// FIN.
    pub const FIN: u8 = 4;
    /// RST.
    pub const RST: u8 = 8;
}

/// One segment as a tap saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireSeg {
    /// Capture time, µs since the Unix epoch (this tap's clock).
    pub at_us: u64,
    /// Sent by the client.
    pub from_client: bool,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number (0 without ACK).
    pub ack: u32,
    /// Payload length on the wire.
    pub len: u32,
    /// [`flag`] bits.
    pub flags: u8,
    /// The TCP timestamp option's value, when present: every copy of a
    /// segment Linux sends carries a fresh one, so it tells copies apart.
    pub tsval: Option<u32>,
    /// IP TTL or hop limit at the tap.
    pub ttl: u8,
    /// The capture's frame number.
    pub frame: u64,
}

impl WireSeg {
    /// Has flag bit `f`.
    pub fn has(&self, f: u8) -> bool {
        self.flags & f != 0
    }

    /// The sender's side.
    pub fn sender(&self) -> Side {
        if self.from_client {
            Side::Client
        } else {
            Side::Server
        }
    }

    /// What it carried, for sentences: "the SYN", "a 120-byte segment".
    pub fn what(&self) -> String {
        if self.has(flag::RST) {
            "a RST".into()
        } else if self.has(flag::SYN) && self.has(flag::ACK) {
            "the SYN-ACK".into()
        } else if self.has(flag::SYN) {
            "the SYN".into()
        } else if self.len > 0 {
            format!("{} bytes at seq +{}", self.len, self.seq)
        } else if self.has(flag::FIN) {
            "a FIN".into()
        } else {
            "an ACK".into()
        }
    }
}

/// The segments one tap saw of one connection, in capture order (the first
/// [`WireLog::MAX`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WireLog {
    /// The segments.
    pub segs: Vec<WireSeg>,
    /// Segments past [`WireLog::MAX`], not kept.
    pub more: u64,
}

impl WireLog {
    /// Segments kept per connection: a handshake and its retransmissions
    /// take a few dozen; a long session's rest does not decide its verdict.
    pub const MAX: usize = 512;

    /// Appends `seg` within the bound.
    pub fn push(&mut self, seg: WireSeg) {
        if self.segs.len() < Self::MAX {
            self.segs.push(seg);
        } else {
            self.more += 1;
        }
    }

    /// The client's ISN (from its SYN), if seen.
    pub fn client_isn(&self) -> Option<u32> {
        self.segs
            .iter()
            .find(|s| s.from_client && s.has(flag::SYN))
            .map(|s| s.seq)
    }

    /// The server's ISN (from its SYN-ACK), if seen.
    pub fn server_isn(&self) -> Option<u32> {
        self.segs
            .iter()
            .find(|s| !s.from_client && s.has(flag::SYN))
            .map(|s| s.seq)
    }

    /// First and last capture times.
    pub fn span(&self) -> Option<(u64, u64)> {
        Some((self.segs.first()?.at_us, self.segs.last()?.at_us))
    }
}

/// One-way delays of one direction between the taps, from matched
/// packets (after the clock offset is taken out).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OneWay {
    /// Median, µs.
    pub median: u64,
    /// Largest, µs.
    pub max: u64,
    /// Packets matched.
    pub packets: u32,
}

/// A packet one tap saw leave and the other never saw arrive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LostBetween {
    /// Who sent it.
    pub sender: Side,
    /// What it was (handshake packets by name).
    pub what: String,
    /// When it left, µs since the connection's start at the sender's tap
    /// (each copy).
    pub sent_us: Vec<u64>,
}

/// A RST one tap saw in a side's name that the other tap, on that side's
/// host, never saw that side send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BornBetween {
    /// In whose name.
    pub in_name_of: Side,
    /// When it arrived, µs since the connection's start at the tap that
    /// saw it.
    pub at_us: u64,
    /// Its frame there.
    pub frame: u64,
}

/// What both views of one connection prove about the path between the
/// taps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PathFacts {
    /// Server tap's clock minus the client tap's, µs.
    pub offset_us: i64,
    /// Client to server, and server to client.
    pub one_way: [Option<OneWay>; 2],
    /// Packets lost between the taps, per direction (client to server
    /// first): handshake packets named, every copy.
    pub lost: [Vec<LostBetween>; 2],
    /// Packets lost between the taps, per direction, counting every
    /// segment (pure ACKs included).
    pub lost_segments: [u32; 2],
    /// Resets neither end sent.
    pub born_between: Vec<BornBetween>,
    /// A side's tap began after the connection's start or ended before
    /// its end: what it did not see proves nothing.
    pub partial: bool,
}

impl PathFacts {
    /// The sentences of the proof, most telling first.
    pub fn sentences(&self) -> Vec<String> {
        let mut out = Vec::new();
        for b in &self.born_between {
            out.push(format!(
                "a RST in the {}'s name arrived at the {}'s tap at {} (frame {}), but the {}'s own tap never saw it leave: it was born between the taps",
                b.in_name_of.name(),
                b.in_name_of.peer().name(),
                ms(b.at_us),
                b.frame,
                b.in_name_of.name(),
            ));
        }
        for l in self.lost.iter().flatten() {
            let times: Vec<String> = l.sent_us.iter().map(|t| ms(*t)).collect();
            let copies = if times.len() == 1 {
                format!("left the {} at {}", l.sender.name(), times[0])
            } else {
                format!(
                    "left the {} at {} and again at {}",
                    l.sender.name(),
                    times[..times.len() - 1].join(", "),
                    times[times.len() - 1]
                )
            };
            let neither = if times.len() == 1 { "it never" } else { "none" };
            out.push(format!(
                "{} {copies}; {neither} reached the {}'s tap: lost between the taps",
                l.what,
                l.sender.peer().name()
            ));
        }
        out
    }

    /// Packets of a handshake lost between the taps.
    pub fn handshake_lost(&self) -> bool {
        self.lost.iter().flatten().next().is_some()
    }
}

fn ms(us: u64) -> String {
    if us < 1_000_000 {
        format!("{:.2} ms", us as f64 / 1e3)
    } else {
        format!("{:.3} s", us as f64 / 1e6)
    }
}

/// The verdict both views give together, from each side's own verdict and
/// the path's proof, with a sentence when neither view alone says why.
///
/// In order: a reset born between the taps is a middlebox's; a handshake
/// packet lost between them is the network's, unless a view names a cause
/// loss cannot explain (an ERR: credentials, a limit, a packet too large;
/// an idle session's end; bytes that are not MySQL); views that agree
/// stand; otherwise each tap is right about its own end, and the verdict
/// is the one whose party's tap saw the cause.
pub fn merged_verdict(
    client: Verdict,
    server: Verdict,
    path: &PathFacts,
) -> (Verdict, Option<String>) {
    if !path.born_between.is_empty() {
        return (Verdict::MiddleboxReset, None);
    }
    let loss_explains = |v: Verdict| {
        matches!(
            v,
            Verdict::Ok
                | Verdict::NetworkStall
                | Verdict::ServerTimeout
                | Verdict::ServerSlow
                | Verdict::ClientSlow
                | Verdict::ClientAbort
                | Verdict::ServerReset
                | Verdict::NoServer
                | Verdict::Incomplete
        )
    };
    if loss_explains(client) && loss_explains(server) {
        if path.handshake_lost() {
            return (Verdict::NetworkStall, None);
        }
        let lossy = path.lost_segments.iter().any(|n| *n > 0);
        if lossy && client != server && Verdict::NetworkStall.is_one_of(client, server) {
            return (
                Verdict::NetworkStall,
                Some("segments were lost between the taps, and one end's view shows loss holding the handshake up".into()),
            );
        }
    }
    if client == server {
        return (client, None);
    }
    if Verdict::MiddleboxReset.is_one_of(client, server) {
        return (Verdict::MiddleboxReset, None);
    }
    // The server's tap sees what the server did and when; the client's,
    // what the client did.
    let pick = match (client.party(), server.party()) {
        (crate::Party::Client, _) => client,
        (_, crate::Party::Server) => server,
        _ if matches!(client, Verdict::Ok | Verdict::Incomplete) => server,
        _ => client,
    };
    (pick, None)
}

impl Verdict {
    fn is_one_of(self, a: Self, b: Self) -> bool {
        self == a || self == b
    }
}

/// One tap's own reading of a connection, kept in the merged record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct View {
    /// Its stream index in that capture.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<u32>,
    /// The client as that tap saw it (a NAT between the taps rewrites it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// The server as that tap saw it.
    pub server: String,
    /// That capture's verdict alone.
    pub verdict: Verdict,
    /// Its outcome.
    pub outcome: &'static str,
    /// Its phase.
    pub phase: crate::Phase,
    /// Its evidence.
    pub evidence: Vec<String>,
}

impl View {
    /// The view of `r`.
    pub fn of(r: &crate::ConnectionRecord) -> Self {
        Self {
            stream: r.stream,
            client: r.client.clone(),
            server: r.server.clone(),
            verdict: r.verdict,
            outcome: r.outcome,
            phase: r.phase,
            evidence: r.evidence.clone(),
        }
    }
}

/// Both taps' readings (one of them when only one tap saw the connection).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Views {
    /// The capture near the client.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<View>,
    /// The capture near the server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<View>,
}

/// Per direction, client to server and server to client.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PerDirection<T> {
    /// Client to server.
    pub c2s: T,
    /// Server to client.
    pub s2c: T,
}

/// The path between the taps, as the record shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PathReport {
    /// `both`, `client` or `server`: which taps saw the connection.
    pub seen_by: &'static str,
    /// Server tap's clock minus the client tap's, µs (the captures'
    /// estimate).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset_us: Option<i64>,
    /// One-way delays per direction.
    pub one_way_us: PerDirection<Option<OneWay>>,
    /// Segments lost between the taps per direction (every copy).
    pub lost_between: PerDirection<u32>,
    /// Every packet but pure ACKs (the first 512 of each tap), in time
    /// order: the ladder diagram's rungs.
    pub packets: Vec<PathPacket>,
}

/// One packet on the path: when it left its sender's tap and reached the
/// other, µs on the client tap's clock from the connection's first packet
/// there. A lost packet has no `arrived_us`; a packet born between the taps
/// no `sent_us`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PathPacket {
    /// `client` or `server`: whose packet it is (or whose name it bears).
    pub from: &'static str,
    /// What it was.
    pub what: String,
    /// Left its sender's tap.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent_us: Option<u64>,
    /// Reached the other tap.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arrived_us: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lost_login() -> PathFacts {
        PathFacts {
            lost: [
                vec![LostBetween {
                    sender: Side::Client,
                    what: "the login".into(),
                    sent_us: vec![410, 207_800],
                }],
                Vec::new(),
            ],
            lost_segments: [2, 0],
            ..PathFacts::default()
        }
    }

    #[test]
    fn a_login_lost_between_the_taps_is_the_network_whatever_each_end_saw() {
        let f = lost_login();
        let (v, _) = merged_verdict(Verdict::NetworkStall, Verdict::ServerTimeout, &f);
        assert_eq!(v, Verdict::NetworkStall);
        let (v, _) = merged_verdict(Verdict::Ok, Verdict::Ok, &f);
        assert_eq!(v, Verdict::NetworkStall);
        assert_eq!(
            f.sentences()[0],
            "the login left the client at 0.41 ms and again at 207.80 ms; none reached the server's tap: lost between the taps"
        );
        // An ERR names a cause loss does not explain.
        let (v, _) = merged_verdict(Verdict::Refused, Verdict::Refused, &f);
        assert_eq!(v, Verdict::Refused);
    }

    #[test]
    fn a_reset_born_between_the_taps_is_a_middlebox_and_differing_views_follow_their_party() {
        let f = PathFacts {
            born_between: vec![BornBetween {
                in_name_of: Side::Server,
                at_us: 1_010_000,
                frame: 15,
            }],
            ..PathFacts::default()
        };
        let (v, _) = merged_verdict(Verdict::ServerReset, Verdict::IdleTimeout, &f);
        assert_eq!(v, Verdict::MiddleboxReset);
        assert!(f.sentences()[0].contains("born between the taps"));
        let none = PathFacts::default();
        let (v, _) = merged_verdict(Verdict::ClientSlow, Verdict::Ok, &none);
        assert_eq!(v, Verdict::ClientSlow);
        let (v, _) = merged_verdict(Verdict::Ok, Verdict::ServerSlow, &none);
        assert_eq!(v, Verdict::ServerSlow);
    }
}
