//! What one end of a captured connection sent, as TCP shows it: the TTL
//! and timestamp option its packets carry, its first RST and whether it
//! kept sending after it, the sequence space it reached, and a ledger of
//! its handshake packets' first copies so that a retransmission can be
//! told apart from a spurious one.
//!
//! [`Track`](crate::track::Track) keeps one per direction and asks them,
//! at the end, for hsp-core's [`Resent`], [`Unseen`] and
//! [`ResetSignals`]; the weighing and the wording are hsp-core's.

use std::time::Duration;

use hsp_core::network::{HandshakePacket, Resent, ResetSignals, ShownBy, Side, Unseen};

use crate::link::{Segment, has_timestamp, sack_blocks, seq_after as after};

/// Handshake packets remembered per direction (first copies): a lone
/// handshake packet is resent while it is the last one its sender sent, so
/// the last two cover it, inline (a connection's state is allocated once).
const LEDGER: usize = 2;
/// Holes remembered per direction.
const HOLES: usize = 8;
/// A copy of a handshake packet this soon after the first is the same
/// packet captured twice.
const CAPTURE_DUPLICATE: Duration = Duration::from_millis(1);
/// A sequence distance beyond this is not a plausible count of unseen bytes.
const PLAUSIBLE: u32 = 1 << 24;

#[derive(Debug, Clone, Copy)]
struct FirstCopy {
    start: u32,
    end: u32,
    at: Duration,
    packet: HandshakePacket,
}

#[derive(Debug, Clone, Copy)]
struct Resend {
    packet: HandshakePacket,
    first_at: Duration,
    last_at: Duration,
    copies: u32,
    /// The range last retransmitted, until a D-SACK or the next ACK says
    /// whether the first copy had arrived after all.
    watch: Option<(u32, u32)>,
    /// The capture never saw the first copy (`first_at` is then when a
    /// segment numbered past it was seen).
    first_lost: bool,
}

#[derive(Debug, Clone, Copy)]
struct FirstRst {
    at: Duration,
    ttl: u8,
    timestamp: bool,
    seq: u32,
    /// What the peer had acknowledged of this sender's bytes by then.
    peer_ack: Option<u32>,
}

/// What few connections need.
#[derive(Debug, Clone, Default)]
struct Rare {
    first_rst: Option<FirstRst>,
    /// First time it sent a packet that looks like its own after its RST.
    kept_sending: Option<Duration>,
    resend: Option<Resend>,
    /// Sequence ranges this end jumped over (its next segment started past
    /// its edge) that no later segment filled: bytes the capture never saw.
    holes: Vec<Hole>,
    /// When the hole the last segment filled had opened: that segment's
    /// bytes came after later ones.
    filled: Option<Duration>,
}

/// Bytes `[start, end)` this end jumped over at `opened`.
#[derive(Debug, Clone, Copy)]
struct Hole {
    start: u32,
    end: u32,
    opened: Duration,
}

/// One end's packets.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sender {
    /// The ISN from its SYN or SYN-ACK.
    isn: Option<u32>,
    /// Its SYN carried the timestamp option.
    syn_timestamp: bool,
    /// The sequence number after everything it sent (data, SYN, FIN).
    edge: Option<u32>,
    /// The highest ACK the peer sent for its bytes.
    peer_ack: Option<u32>,
    /// TTL of its packets other than RSTs: the first, and whether others
    /// differed.
    ttl: Option<u8>,
    ttl_mixed: bool,
    ledger: [Option<FirstCopy>; LEDGER],
    /// Resets, retransmissions and holes: rare, so boxed on demand (a
    /// connection's state is touched by every packet; small stays in cache).
    rare: Option<Box<Rare>>,
    /// Retransmissions whose original had been acknowledged (or was
    /// reported by a D-SACK as a duplicate).
    pub(crate) spurious: u32,
    /// Its first FIN or RST: the sequence number after its payload, the
    /// edge before it, and whether it was a RST.
    close: Option<(u32, u32, bool)>,
}

impl Sender {
    /// Before any other use of `seg`, sent by this end.
    #[inline]
    pub(crate) fn on_sent(&mut self, seg: &Segment<'_>, at: Duration) {
        let f = seg.flags;
        // Read only where it tells something: a SYN's offer, a RST's lack.
        let ts = || !seg.options.is_empty() && has_timestamp(seg.options);
        if (f.fin || f.rst)
            && self.close.is_none()
            && let Some(edge) = self.edge
        {
            let pos = seg.seq.wrapping_add(u32::from(f.syn)).wrapping_add(seg.len);
            self.close = Some((pos, edge, f.rst));
        }
        if f.syn {
            self.isn.get_or_insert(seg.seq);
            self.syn_timestamp = ts();
            self.edge.get_or_insert(seg.seq.wrapping_add(1));
        }
        if f.rst {
            let (ttl, offered, ts) = (self.ttl, self.syn_timestamp, ts());
            let rare = self.rare.get_or_insert_with(Box::default);
            match rare.first_rst {
                None => {
                    rare.first_rst = Some(FirstRst {
                        at,
                        ttl: seg.ttl,
                        timestamp: ts,
                        seq: seg.seq,
                        peer_ack: self.peer_ack,
                    });
                }
                // A later RST that looks more like this end than its first.
                Some(r) if rare.kept_sending.is_none() => {
                    let usual_ttl = ttl == Some(seg.ttl) && r.ttl != seg.ttl;
                    let usual_ts = ts && !r.timestamp && offered;
                    if usual_ttl || usual_ts {
                        rare.kept_sending = Some(at.saturating_sub(r.at));
                    }
                }
                Some(_) => {}
            }
            return;
        }
        if let Some(rare) = self.rare.as_mut()
            && let Some(r) = rare.first_rst
        {
            rare.kept_sending.get_or_insert(at.saturating_sub(r.at));
            return;
        }
        match self.ttl {
            None => self.ttl = Some(seg.ttl),
            Some(t) if t != seg.ttl => self.ttl_mixed = true,
            _ => {}
        }
        let start = seg.seq.wrapping_add(u32::from(f.syn));
        let end = start.wrapping_add(seg.len).wrapping_add(u32::from(f.fin));
        if let Some(rare) = self.rare.as_mut() {
            rare.filled = None;
        }
        if let Some(e) = self.edge {
            if !f.syn && after(start, e) && start.wrapping_sub(e) < PLAUSIBLE {
                let holes = &mut self.rare.get_or_insert_with(Box::default).holes;
                if holes.len() < HOLES {
                    holes.push(Hole {
                        start: e,
                        end: start,
                        opened: at,
                    });
                }
            } else if (seg.len > 0 || f.fin)
                && let Some(rare) = self.rare.as_mut()
                && !rare.holes.is_empty()
            {
                // Late or resent bytes fill what they cover.
                let mut filled = None;
                rare.holes.retain(|h| {
                    let keep = after(start, h.start) || after(h.end, end);
                    if !keep {
                        filled = Some(filled.map_or(h.opened, |o: Duration| o.min(h.opened)));
                    }
                    keep
                });
                rare.filled = filled;
            }
        }
        if self.edge.is_none_or(|e| after(end, e)) {
            self.edge = Some(end);
        }
    }

    /// The peer's ACK `seg` for this end's bytes: SACK blocks below the
    /// cumulative ACK (D-SACK, RFC 2883) report a duplicate, so this end's
    /// last retransmission was spurious.
    #[inline]
    pub(crate) fn on_acked_by_peer(&mut self, seg: &Segment<'_>) {
        let ack = seg.ack;
        if self.peer_ack.is_none_or(|a| after(ack, a)) {
            self.peer_ack = Some(ack);
        }
        let Some(rare) = self.rare.as_mut() else {
            return;
        };
        let Some(r) = rare.resend.as_mut() else {
            return;
        };
        let Some((start, end)) = r.watch else { return };
        if seg.options.is_empty() {
            return;
        }
        if let Some((l, rr)) = sack_blocks(seg.options).next()
            && !after(rr, ack)
            && !after(l, start)
            && !after(end, rr)
        {
            r.watch = None;
            r.copies = r.copies.saturating_sub(1);
            self.spurious += 1;
            if r.copies == 0 {
                rare.resend = None;
            }
        }
    }

    /// New data at `[start, end)`: remember the first copy of a handshake
    /// packet.
    pub(crate) fn first_copy(
        &mut self,
        start: u32,
        end: u32,
        at: Duration,
        packet: Option<HandshakePacket>,
    ) {
        if let Some(packet) = packet {
            // A free slot, else the older entry.
            let slot = match &self.ledger {
                [None, _] => 0,
                [Some(_), None] => 1,
                [Some(a), Some(b)] => usize::from(b.at < a.at),
            };
            self.ledger[slot] = Some(FirstCopy {
                start,
                end,
                at,
                packet,
            });
        }
    }

    /// When the bytes of the segment just sent filled a hole: a segment
    /// numbered past them had come first, at that time.
    pub(crate) fn filled_hole(&self) -> Option<Duration> {
        self.rare.as_ref()?.filled
    }

    /// New data at `[start, end)` that came `late` after a segment numbered
    /// past it, too late for reordering: the first copy never reached this
    /// point and this is a retransmission. For a handshake packet, the
    /// resend is remembered as a lost first copy.
    pub(crate) fn first_copy_lost(
        &mut self,
        start: u32,
        end: u32,
        at: Duration,
        late: Duration,
        packet: HandshakePacket,
    ) {
        self.first_copy(start, end, at, Some(packet));
        let rare = self.rare.get_or_insert_with(Box::default);
        if rare.resend.is_none() {
            rare.resend = Some(Resend {
                packet,
                first_at: at.saturating_sub(late),
                last_at: at,
                copies: 1,
                watch: Some((start, end)),
                first_lost: true,
            });
        }
    }

    /// Data at `[start, end)` sent again. Returns whether it counts: a
    /// copy of a handshake packet whose original was not acknowledged, or
    /// any other retransmission (`None` when it was spurious, or the
    /// capture's own duplicate).
    pub(crate) fn resent(&mut self, start: u32, end: u32, at: Duration) -> Option<bool> {
        if self.peer_ack.is_some_and(|a| !after(end, a)) {
            // The original was acknowledged before this copy: the ACK was
            // lost or late on its way back, the data had arrived.
            self.spurious += 1;
            return None;
        }
        let Some(first) = self
            .ledger
            .iter()
            .flatten()
            .find(|c| !after(c.start, start) && after(c.end, start))
            .copied()
        else {
            return Some(false);
        };
        if at.saturating_sub(first.at) < CAPTURE_DUPLICATE {
            // No loss detection resends a lone handshake packet this soon
            // (Linux's minimum RTO is 200 ms, its tail-loss probe 10 ms):
            // the capture saw one packet twice (two interfaces, a mirror
            // port that copies both ways).
            return None;
        }
        let rare = self.rare.get_or_insert_with(Box::default);
        match rare.resend.as_mut() {
            Some(r) if r.packet == first.packet => {
                r.last_at = at;
                r.copies += 1;
                r.watch = Some((start, end));
            }
            Some(_) => {}
            None => {
                rare.resend = Some(Resend {
                    packet: first.packet,
                    first_at: first.at,
                    last_at: at,
                    copies: 1,
                    watch: Some((start, end)),
                    first_lost: false,
                });
            }
        }
        Some(true)
    }

    /// The handshake packet this end sent again because its first copy
    /// did not arrive.
    pub(crate) fn resent_packet(&self) -> Option<Resent> {
        let r = self.rare.as_ref()?.resend?;
        Some(Resent {
            packet: r.packet,
            delay: Some(r.last_at.saturating_sub(r.first_at)),
            copies: r.copies,
            first_lost: r.first_lost,
        })
    }

    /// Its first close, if its sequence number shows bytes never captured.
    pub(crate) fn unseen(&self, side: Side) -> Option<Unseen> {
        let (pos, edge, reset) = self.close?;
        let isn = self.isn?;
        if !after(pos, edge) || pos.wrapping_sub(edge) >= PLAUSIBLE {
            return None;
        }
        Some(Unseen {
            sender: side,
            bytes: pos.wrapping_sub(edge),
            shown_by: if reset { ShownBy::Rst } else { ShownBy::Fin },
            acked: self.peer_ack.is_some_and(|a| !after(pos, a)),
            nothing_seen: edge == isn.wrapping_add(1),
        })
    }

    /// Its first gap that nothing filled, if the peer never acknowledged
    /// it: bytes a later segment showed it had sent, which never arrived.
    pub(crate) fn unseen_gap(&self, side: Side) -> Option<Unseen> {
        let isn = self.isn?;
        let h = self
            .rare
            .as_ref()?
            .holes
            .iter()
            .find(|h| !self.acked_through(h.end))?;
        Some(Unseen {
            sender: side,
            bytes: h.end.wrapping_sub(h.start),
            shown_by: ShownBy::Later,
            acked: false,
            nothing_seen: h.start == isn.wrapping_add(1),
        })
    }

    /// Bytes the peer acknowledged beyond anything captured from this end
    /// (measured at the end, so that a tap that reorders an ACK before its
    /// data does not count).
    pub(crate) fn missed(&self) -> u32 {
        let (Some(edge), Some(ack)) = (self.edge, self.peer_ack) else {
            return 0;
        };
        let beyond = if after(ack, edge) && ack.wrapping_sub(edge) < PLAUSIBLE {
            ack.wrapping_sub(edge)
        } else {
            0
        };
        let jumped: u32 = self
            .rare
            .iter()
            .flat_map(|r| &r.holes)
            .filter(|h| !after(h.end, ack))
            .map(|h| h.end.wrapping_sub(h.start))
            .sum();
        beyond + jumped
    }

    /// The signals of its first RST, if it sent one.
    pub(crate) fn reset_signals(&self, side: Side, negotiated: bool) -> Option<ResetSignals> {
        let rare = self.rare.as_ref()?;
        let r = rare.first_rst?;
        let ttl = match self.ttl {
            Some(usual) if !self.ttl_mixed && usual != r.ttl => Some((r.ttl, usual)),
            _ => None,
        };
        // A stack that negotiated timestamps sends them on every segment,
        // its RSTs included (RFC 7323; Linux does on a socket's own RST).
        let no_timestamp = negotiated && !r.timestamp;
        // Below what this end had already sent and what its peer had
        // acknowledged: no stack of this end would use that number.
        let seq_off = match (self.edge, r.peer_ack) {
            (Some(edge), Some(acked)) => {
                let low = if after(acked, edge) { edge } else { acked };
                after(low, r.seq).then(|| -i64::from(low.wrapping_sub(r.seq)))
            }
            _ => None,
        }
        .filter(|off| off.unsigned_abs() < u64::from(PLAUSIBLE));
        Some(ResetSignals {
            sender: side,
            kept_sending: rare.kept_sending,
            ttl,
            timestamps_negotiated: negotiated,
            no_timestamp,
            seq_off,
        })
    }

    /// Its SYN offered timestamps.
    pub(crate) fn syn_timestamp(&self) -> bool {
        self.syn_timestamp
    }

    /// The peer acknowledged everything up to `pos`.
    pub(crate) fn acked_through(&self, pos: u32) -> bool {
        self.peer_ack.is_some_and(|a| !after(pos, a))
    }
}
