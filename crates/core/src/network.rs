//! Network facts richer than a retransmission count, and how much each one
//! proves.
//!
//! A capture shows more than the probe's TCP_INFO: which handshake packet
//! was sent again and whether its first copy had arrived, sequence numbers
//! that show bytes the tap never saw, and resets whose TTL, options and
//! aftermath say that their supposed sender did not send them. The drivers
//! fill these structures; this module weighs them and words them, so that
//! the classifier decides and every sentence about them is written here
//! once (`docs/verdicts.md` gives the same weights in prose).

use std::time::Duration;

/// One end of the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The client.
    Client,
    /// The server.
    Server,
}

impl Side {
    /// `client` or `server`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Client => "client",
            Self::Server => "server",
        }
    }

    /// The other end.
    pub fn peer(self) -> Self {
        match self {
            Self::Client => Self::Server,
            Self::Server => Self::Client,
        }
    }
}

/// A packet of the handshake, as far as retransmissions are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HandshakePacket {
    /// The server's greeting (or the ERR in its place).
    Greeting,
    /// The client's first packet: its login or SSLRequest.
    Login,
    /// The server's answer to the login (OK, ERR, an auth switch).
    Answer,
    /// A later auth round of the client.
    AuthData,
    /// A record of the TLS handshake after the SSLRequest.
    Tls,
    /// Segments the client's kernel sent again (TCP_INFO: the probe cannot
    /// tell which packet).
    ClientSegments,
}

impl HandshakePacket {
    /// The packet as evidence names it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Greeting => "the greeting",
            Self::Login => "the login",
            Self::Answer => "the server's answer to the login",
            Self::AuthData => "the client's auth data",
            Self::Tls => "a TLS handshake record",
            Self::ClientSegments => "the client's handshake data",
        }
    }

    /// Who waited for it.
    pub fn waiter(self) -> &'static str {
        match self {
            Self::Greeting | Self::Answer => "the client",
            Self::Login | Self::AuthData | Self::ClientSegments => "the server",
            Self::Tls => "the peer",
        }
    }
}

/// Handshake data retransmitted because its first copy did not arrive
/// (the original was not acknowledged before the retransmission, and no
/// D-SACK reported it as a duplicate later).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resent {
    /// Which packet.
    pub packet: HandshakePacket,
    /// From its first copy to the retransmission that was not followed by
    /// another (the least the receiver waited), when known.
    pub delay: Option<Duration>,
    /// Copies sent after the first.
    pub copies: u32,
    /// The capture never saw the first copy: the sender had already sent
    /// past it when this copy came (`delay` runs from that later segment).
    pub first_lost: bool,
}

impl Resent {
    /// The evidence sentence.
    pub fn sentence(&self) -> String {
        match self.delay {
            Some(d) if self.first_lost => format!(
                "{} came only as a retransmission, {:.3} s after a later segment of its sender: its first copy was lost before this point, and {} waited at least that long",
                self.packet.name(),
                d.as_secs_f64(),
                self.packet.waiter()
            ),
            Some(d) => format!(
                "{} was retransmitted {:.2} s after its first copy ({} retransmission(s), the first copy was never acknowledged): {} waited at least that long",
                self.packet.name(),
                d.as_secs_f64(),
                self.copies,
                self.packet.waiter()
            ),
            None => format!(
                "{} was retransmitted ({} segment(s), TCP_INFO): its first copy was not acknowledged within one RTO (200 ms or more)",
                self.packet.name(),
                self.copies
            ),
        }
    }
}

/// Retransmissions of data the receiver had already acknowledged.
pub fn spurious_sentence(n: u32) -> String {
    format!(
        "{n} spurious retransmission(s): the receiver had already acknowledged the data (or reported a duplicate by D-SACK), so it arrived in time; they decide nothing"
    )
}

/// The segment whose sequence number showed unseen bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShownBy {
    /// The sender's RST.
    Rst,
    /// The sender's FIN.
    Fin,
    /// A later segment of the sender (an ACK, data), and nothing ever
    /// filled the gap before it.
    Later,
}

/// A FIN, RST or later segment whose sequence number shows that its
/// sender had sent bytes this capture never saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unseen {
    /// Who sent them.
    pub sender: Side,
    /// Bytes sent before that segment that the capture did not see.
    pub bytes: u32,
    /// Which segment showed them.
    pub shown_by: ShownBy,
    /// The peer acknowledged those bytes: they arrived, and only the tap
    /// missed them (capture loss). Otherwise they never reached the peer.
    pub acked: bool,
    /// The sender's first data byte would have been the first unseen one
    /// (nothing of its handshake packet was captured).
    pub nothing_seen: bool,
}

impl Unseen {
    /// Lost on the network (not merely missed by the tap).
    pub fn lost_in_network(&self) -> bool {
        !self.acked
    }

    /// The evidence sentence.
    pub fn sentence(&self) -> String {
        let how = match self.shown_by {
            ShownBy::Rst => "RST",
            ShownBy::Fin => "FIN",
            ShownBy::Later => "later segment",
        };
        let position = if self.nothing_seen {
            format!("has sequence number ISN+1+{}", self.bytes)
        } else {
            format!(
                "comes {} byte(s) after the last one captured from it",
                self.bytes
            )
        };
        if self.acked {
            format!(
                "the {}'s {how} {position}: it had sent {} byte(s) this capture never saw, and the {} acknowledged them: the tap missed them (capture loss), the network did not lose them",
                self.sender.name(),
                self.bytes,
                self.sender.peer().name()
            )
        } else {
            format!(
                "the {}'s {how} {position}: it had sent {} byte(s) that never arrived here and that the {} never acknowledged: lost on the way, not a slow {}",
                self.sender.name(),
                self.bytes,
                self.sender.peer().name(),
                self.sender.name()
            )
        }
    }
}

/// Bytes of one direction that the other side acknowledged but the capture
/// never saw: they arrived, the tap missed them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MissedByTap {
    /// Who sent them.
    pub sender: Side,
    /// How many.
    pub bytes: u32,
    /// Five client bytes in the command phase, acknowledged just before the
    /// server's close: the size of a COM_QUIT.
    pub likely_quit: bool,
}

impl MissedByTap {
    /// The evidence sentence.
    pub fn sentence(&self) -> String {
        let mut s = format!(
            "the {} acknowledged {} byte(s) of the {} that this capture never saw: capture loss at the tap, not network loss",
            self.sender.peer().name(),
            self.bytes,
            self.sender.name()
        );
        if self.likely_quit {
            s.push_str("; 5 bytes just before the server's close are most likely a COM_QUIT the capture dropped, so the close is the normal end");
        }
        s
    }
}

/// What a capture shows about a RST that may not come from its supposed
/// sender (a firewall, NAT or load balancer resetting in its name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResetSignals {
    /// The end the RST claims to come from.
    pub sender: Side,
    /// That end sent again, with its usual TTL and options, this long
    /// after its own RST (data, ACKs, or a RST of its own).
    pub kept_sending: Option<Duration>,
    /// The RST's TTL, when it differs from that of every other packet of
    /// the sender (which all had the second value).
    pub ttl: Option<(u8, u8)>,
    /// Both SYNs negotiated TCP timestamps.
    pub timestamps_negotiated: bool,
    /// The RST lacks the timestamp option both SYNs negotiated (a stack
    /// that negotiated it puts it on every segment, RFC 7323).
    pub no_timestamp: bool,
    /// The RST's sequence number is outside anything its sender had
    /// reached or its peer had acknowledged (offset from the nearest).
    pub seq_off: Option<i64>,
}

impl ResetSignals {
    /// The weight of the evidence (docs/verdicts.md, "Resets the server did
    /// not send"): a sender that keeps sending after its own RST proves it
    /// (3); a foreign TTL weighs 2, or 3 when timestamps were not
    /// negotiated and nothing else can corroborate it; a missing timestamp
    /// 1 (a kernel's RST for a closed socket lacks it too); a sequence
    /// number its sender never reached 1.
    pub fn weight(&self) -> u32 {
        let mut w = 0;
        if self.kept_sending.is_some() {
            w += 3;
        }
        if self.ttl.is_some() {
            w += if self.timestamps_negotiated { 2 } else { 3 };
        }
        if self.no_timestamp {
            w += 1;
        }
        if self.seq_off.is_some() {
            w += 1;
        }
        w
    }

    /// The weight reaches 3: a device between the ends sent it.
    pub fn forged(&self) -> bool {
        self.weight() >= 3
    }

    /// One sentence naming every signal that fired.
    pub fn sentence(&self) -> String {
        let mut parts = Vec::new();
        if let Some(after) = self.kept_sending {
            parts.push(format!(
                "the {} kept sending {:.2} s after its own RST",
                self.sender.name(),
                after.as_secs_f64()
            ));
        }
        if let Some((rst, usual)) = self.ttl {
            parts.push(format!(
                "the RST arrived with TTL {rst}, every other packet of the {} with TTL {usual}",
                self.sender.name()
            ));
        }
        if self.no_timestamp {
            parts.push(format!(
                "the RST lacks the TCP timestamp the {}'s SYN negotiated",
                self.sender.name()
            ));
        }
        if let Some(off) = self.seq_off {
            parts.push(format!(
                "its sequence number is {off:+} from anything the {} had sent or the {} had acknowledged",
                self.sender.name(),
                self.sender.peer().name()
            ));
        }
        format!(
            "a RST in the {s}'s name that the {s} did not send (weight {}): {}",
            self.weight(),
            parts.join("; "),
            s = self.sender.name(),
        )
    }

    /// A RST without the timestamp its sender's other packets carry, not
    /// weighing as forged: a kernel answering for a socket it no longer
    /// has. When that end never closed before, its socket vanished
    /// silently.
    pub fn kernel_reply_sentence(&self) -> Option<String> {
        (self.no_timestamp && !self.forged()).then(|| {
            format!(
                "the {s}'s RST lacks the timestamp its SYN negotiated: its kernel answered for a socket it no longer had, and no close from the {s} was captured before: its own FIN or RST was lost on the way, or the socket was aborted silently (a RST it received in the {p}'s name from a device in between, a restart); a capture at the {s} tells which",
                s = self.sender.name(),
                p = self.sender.peer().name()
            )
        })
    }

    /// What the end that received the forged RST, and the other one, saw.
    pub fn aftermath(&self, command_phase: bool) -> String {
        match (self.sender, command_phase) {
            (Side::Server, true) => "the client saw the server reset the session (2013 during a query, 2006 on its next command); the server saw nothing and counts nothing".into(),
            (Side::Server, false) => "the client saw the server reset its handshake (2013); the server kept waiting for the login and counts the handshake in Aborted_connects only when its own connect_timeout fires".into(),
            (Side::Client, true) => "the server saw the client reset (Aborted_clients, 'Got an error reading communication packets'); the client learns it on its next command (2006 or 2013)".into(),
            (Side::Client, false) => "the server saw the client reset its handshake (Aborted_connects); the client learns it on its next read or write (2013)".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signals() -> ResetSignals {
        ResetSignals {
            sender: Side::Server,
            kept_sending: None,
            ttl: None,
            timestamps_negotiated: true,
            no_timestamp: false,
            seq_off: None,
        }
    }

    #[test]
    fn a_kernel_reset_for_a_closed_socket_is_not_forged() {
        // Same TTL, no timestamp option, sequence from the peer's ACK.
        let s = ResetSignals {
            no_timestamp: true,
            ..signals()
        };
        assert_eq!(s.weight(), 1);
        assert!(!s.forged());
    }

    #[test]
    fn a_foreign_ttl_needs_a_second_signal_when_timestamps_can_corroborate() {
        let ttl = ResetSignals {
            ttl: Some((64, 63)),
            ..signals()
        };
        assert!(!ttl.forged());
        let both = ResetSignals {
            no_timestamp: true,
            ..ttl
        };
        assert!(both.forged());
        let alone = ResetSignals {
            timestamps_negotiated: false,
            ..ttl
        };
        assert!(alone.forged());
    }

    #[test]
    fn a_sender_that_keeps_sending_after_its_reset_decides_alone() {
        let s = ResetSignals {
            kept_sending: Some(Duration::from_secs(2)),
            ..signals()
        };
        assert!(s.forged());
        assert!(
            s.sentence()
                .contains("kept sending 2.00 s after its own RST")
        );
    }
}
