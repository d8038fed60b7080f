//! The server's own account of a connection: what its error-log lines
//! say, in the classifier's vocabulary, so that a record can carry them as
//! evidence, note where they and the capture disagree (a finding, not an
//! error), and decide where the capture alone could not.

use serde::Serialize;

use crate::phase::Party;
use crate::record::ConnectionRecord;
use crate::verdict::Verdict;
use crate::wall::WallTime;

/// One error-log line joined to a connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServerLogLine {
    /// When the server wrote it (UTC).
    pub time: WallTime,
    /// The thread (connection) id.
    pub thread: u64,
    /// `Note`, `Warning`, ...
    pub level: String,
    /// The text after the level (and MySQL 8's tags).
    pub message: String,
}

/// What a line says about the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Said {
    /// The server timed out waiting for the client ("Got timeout reading
    /// communication packets", "Could not read packet ... errno: 110").
    Timeout,
    /// A read failed: the peer reset ("Got an error reading communication
    /// packets", errno 104).
    ReadError,
    /// The server's read found the connection closed (MariaDB's "Could
    /// not read packet ... length: 0").
    PeerClosed,
    /// The connection ended before authenticating (MariaDB writes this for
    /// every aborted handshake, whoever ended it).
    Unauthenticated,
    /// Access denied.
    AccessDenied,
    /// Too many connections.
    TooMany,
    /// The host is blocked (max_connect_errors).
    HostBlocked,
    /// A packet over max_allowed_packet.
    PacketTooBig,
    /// Packets out of order.
    OutOfOrder,
    /// Anything else.
    Other,
}

impl Said {
    /// What `message` says.
    pub fn of(message: &str) -> Self {
        let has = |s: &str| message.contains(s);
        let read = has("Could not read packet");
        if read && message.trim_end().ends_with("length: 0") {
            Self::PeerClosed
        } else if has("Got timeout reading communication packets")
            || (read && (has("vio_errno: 1159") || has("errno: 110 ")))
        {
            Self::Timeout
        } else if has("Got an error reading communication packets") || (read && has("errno: 104 "))
        {
            Self::ReadError
        } else if has("closed normally without authentication") {
            Self::Unauthenticated
        } else if has("Access denied for user") {
            Self::AccessDenied
        } else if has("Too many connections") {
            Self::TooMany
        } else if has("is blocked because of many connection errors") {
            Self::HostBlocked
        } else if has("Got a packet bigger than 'max_allowed_packet'") {
            Self::PacketTooBig
        } else if has("Got packets out of order") {
            Self::OutOfOrder
        } else {
            Self::Other
        }
    }

    /// A short name, for counts.
    pub fn name(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::ReadError => "read_error",
            Self::PeerClosed => "peer_closed",
            Self::Unauthenticated => "unauthenticated",
            Self::AccessDenied => "access_denied",
            Self::TooMany => "too_many_connections",
            Self::HostBlocked => "host_blocked",
            Self::PacketTooBig => "packet_too_big",
            Self::OutOfOrder => "packets_out_of_order",
            Self::Other => "other",
        }
    }

    /// The verdict the words name, where they name one.
    fn verdict(self) -> Option<Verdict> {
        Some(match self {
            Self::Timeout => Verdict::ServerTimeout,
            Self::AccessDenied => Verdict::AuthFailed,
            Self::TooMany | Self::HostBlocked => Verdict::Refused,
            Self::PacketTooBig => Verdict::PacketTooLarge,
            Self::OutOfOrder => Verdict::ProtocolError,
            _ => return None,
        })
    }

    /// Whether the capture's verdict `v` agrees with the words.
    fn agrees(self, v: Verdict) -> bool {
        match self {
            // A timeout on the server's side is what a late client, a lost
            // login or the server's own limit all look like from it.
            Self::Timeout => matches!(
                v,
                Verdict::ServerTimeout
                    | Verdict::ClientSlow
                    | Verdict::NetworkStall
                    | Verdict::IdleTimeout
            ),
            Self::ReadError => matches!(
                v,
                Verdict::ClientAbort | Verdict::NetworkStall | Verdict::MiddleboxReset
            ),
            Self::PeerClosed => matches!(
                v,
                Verdict::ClientAbort
                    | Verdict::ClientSlow
                    | Verdict::NetworkStall
                    | Verdict::MiddleboxReset
            ),
            Self::Unauthenticated => v != Verdict::Ok,
            Self::AccessDenied => v == Verdict::AuthFailed,
            Self::TooMany | Self::HostBlocked => v == Verdict::Refused,
            Self::PacketTooBig => v == Verdict::PacketTooLarge,
            Self::OutOfOrder => v == Verdict::ProtocolError,
            Self::Other => true,
        }
    }

    fn sentence(self) -> &'static str {
        match self {
            Self::Timeout => {
                "the server's log says it timed out waiting for the client's packets: nothing reached it in time"
            }
            Self::ReadError => {
                "the server's log says its read failed (the connection was reset under it)"
            }
            Self::PeerClosed => {
                "the server's log says its read found the connection closed by the other end"
            }
            Self::Unauthenticated => {
                "the server's log counts it as a connection that ended before authenticating"
            }
            Self::AccessDenied => "the server's log says access was denied",
            Self::TooMany => "the server's log says there were too many connections",
            Self::HostBlocked => "the server's log says the host is blocked (max_connect_errors)",
            Self::PacketTooBig => "the server's log says a packet was over max_allowed_packet",
            Self::OutOfOrder => "the server's log says the packets came out of order",
            Self::Other => "",
        }
    }
}

/// Adds the joined lines to `r`: each telling line becomes evidence; where
/// the capture could not decide (`incomplete`), the server's words do;
/// where they disagree with the capture's verdict, the record says so.
pub fn apply(r: &mut ConnectionRecord, lines: Vec<ServerLogLine>) {
    let mut saids: Vec<Said> = lines.iter().map(|l| Said::of(&l.message)).collect();
    saids.sort_unstable();
    saids.dedup();
    for s in saids.iter().filter(|s| **s != Said::Other) {
        r.evidence.push(s.sentence().to_owned());
    }
    let named = saids.iter().find_map(|s| s.verdict().map(|v| (*s, v)));
    if r.verdict == Verdict::Incomplete
        && let Some((s, v)) = named
    {
        r.evidence.push(format!(
            "decided by the server's log ({}): the capture alone could not",
            s.name()
        ));
        r.verdict = v;
        r.party = v.party();
    } else if let Some(s) = saids
        .iter()
        .find(|s| **s != Said::Other && !s.agrees(r.verdict))
    {
        r.evidence.push(format!(
            "the capture and the server's log disagree: the capture says {}, the log says {} (a finding: one of the two saw something the other did not)",
            r.verdict,
            s.name()
        ));
    }
    if r.party == Party::None && r.verdict != Verdict::Ok {
        r.party = r.verdict.party();
    }
    r.server_log = lines;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::{End, Facts, Params, classify};
    use crate::phase::Phase;

    fn record(end: End) -> ConnectionRecord {
        let facts = Facts::new(end, Phase::ClientReply, "10.0.0.2:3306");
        ConnectionRecord::new(0, 0, &facts, classify(&facts, &Params::default()))
    }

    fn line(message: &str) -> ServerLogLine {
        ServerLogLine {
            time: WallTime(std::time::Duration::from_secs(1)),
            thread: 7,
            level: "Warning".into(),
            message: message.into(),
        }
    }

    #[test]
    fn the_log_decides_where_the_capture_could_not() {
        let mut r = record(End::CaptureEnded);
        assert_eq!(r.verdict, Verdict::Incomplete);
        apply(
            &mut r,
            vec![line(
                "Aborted connection 7 to db: 'unconnected' user: 'unauthenticated' host: '10.0.0.1' (Got timeout reading communication packets)",
            )],
        );
        assert_eq!(
            (r.verdict, r.party),
            (Verdict::ServerTimeout, Party::Server)
        );
        assert!(
            r.evidence
                .iter()
                .any(|e| e.starts_with("decided by the server's log (timeout)"))
        );
        assert_eq!(r.server_log.len(), 1);
    }

    #[test]
    fn a_disagreement_is_a_finding_and_changes_nothing() {
        let mut r = record(End::Completed);
        assert_eq!(r.verdict, Verdict::Ok);
        apply(
            &mut r,
            vec![line("Access denied for user 'a'@'h' (using password: YES)")],
        );
        assert_eq!(r.verdict, Verdict::Ok);
        assert!(
            r.evidence
                .iter()
                .any(|e| e.contains("disagree") && e.contains("access_denied")),
            "{:?}",
            r.evidence
        );
    }

    #[test]
    fn what_lines_say() {
        assert_eq!(
            Said::of(
                "Aborted connection 10 to db: 'unconnected' user: 'unauthenticated' host: '127.0.0.1' (Got timeout reading communication packets)"
            ),
            Said::Timeout
        );
        assert_eq!(
            Said::of(
                "Could not read packet: fd: 42  state: 1  read_length: 4  errno: 110  vio_errno: 1159  length: -1"
            ),
            Said::Timeout
        );
        assert_eq!(
            Said::of(
                "Aborted connection 5 to db: 'unconnected' user: 'unauthenticated' host: '127.0.0.1' (This connection closed normally without authentication)"
            ),
            Said::Unauthenticated
        );
        // MariaDB 10.11, a client that closed after the greeting.
        assert_eq!(
            Said::of(
                "Could not read packet: fd: 43  state: 1  read_length: 4  errno: 11  vio_errno: 1158  length: 0"
            ),
            Said::PeerClosed
        );
        assert_eq!(
            Said::of("Access denied for user 'a'@'h' (using password: YES)"),
            Said::AccessDenied
        );
        assert_eq!(
            Said::of(
                "Host 'h' is blocked because of many connection errors; unblock with 'mariadb-admin flush-hosts'"
            ),
            Said::HostBlocked
        );
        assert_eq!(Said::of("InnoDB: something"), Said::Other);
    }
}
