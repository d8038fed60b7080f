//! What one captured connection showed: TCP evidence (handshake round
//! trip, retransmissions, waits for ACKs, zero windows, who closed and
//! how) and the MySQL milestones of the observer, each with its time and
//! frame. [`Track::record`] turns them into hsp-core `Facts`, classifies
//! them with the probe's classifier, and builds the connection record.
//!
//! Directions are indexed 0 = client to server, 1 = server to client.

use std::time::Duration;

use hsp_core::evidence::capture;
use hsp_core::network::{HandshakePacket, Side};
use hsp_core::path::{WireLog, WireSeg, flag};
use hsp_wire::observer::{Direction, Milestone, Notice, ObserverEvent};
use hsp_wire::packets::Packet;

use crate::link::Segment;
use crate::link::seq_after as after;
use crate::sender::Sender;
use crate::tls::TlsSeen;

mod blind;
mod record;

type At = (Duration, u64);

/// Bytes that come after later bytes of their sender within this much (or
/// within the round trip the TCP handshake took at this tap, if longer)
/// were reordered; later, they were resent because their first copy was
/// lost (tshark's default out-of-order threshold is also 3 ms).
const REORDER: Duration = Duration::from_millis(3);

#[derive(Debug, Clone)]
enum Done {
    Ok,
    Err { code: u16, replaced_greeting: bool },
}

/// The evidence of one connection.
#[derive(Debug, Default, Clone)]
pub struct Track {
    first: Option<At>,
    last_seen: Duration,
    syn: Option<At>,
    syn_count: u32,
    synack: Option<At>,
    synack_count: u32,
    established: Option<At>,
    high: [Option<u32>; 2],
    retrans: [u32; 2],
    zero_windows: u32,
    /// Window scale shifts from the SYN (client) and SYN-ACK (server).
    wscale: [Option<u8>; 2],
    /// The right edge of the window each side last offered (its ACK plus
    /// its scaled window), once the scaling is known.
    win_edge: [Option<u32>; 2],
    /// Data segments that filled the window the receiver offered.
    window_full: u32,
    unacked_since: [Option<Duration>; 2],
    max_unacked: [Duration; 2],
    last_data: [Option<Duration>; 2],
    fin: [Option<At>; 2],
    rst: [Option<At>; 2],
    greeting: Option<At>,
    first_client: Option<At>,
    ssl: bool,
    tls: Option<At>,
    encrypted_segments: [u32; 2],
    login: Option<At>,
    first_answer: Option<At>,
    answers: u32,
    done: Option<(At, Done)>,
    command_err: Option<(At, u16)>,
    err_message: Option<String>,
    midstream: bool,
    capture_loss: u32,
    /// Payload bytes the capture cut (a snaplen), new data only.
    bytes_cut: u64,
    /// What the capture kept of the frames it cut, when known.
    pub(crate) snaplen: Option<u32>,
    /// Handshake packets taken from TCP alone (no MySQL bytes captured).
    blind: Option<Box<blind::Blind>>,
    server_version: Option<String>,
    connection_id: Option<u32>,
    plugin: Option<String>,
    auth_rounds: u32,
    mysql: bool,
    quit: bool,
    after_close: Vec<String>,
    /// What each end sent (TTLs, timestamps, resets, first copies).
    senders: [Sender; 2],
    /// The sequence number after the server's answer that completed the
    /// handshake.
    answer_end: Option<u32>,
    /// Connections to the same server whose first SYN came within a second
    /// before this one's, this one included.
    opening: u32,
    /// The TLS record headers after the SSLRequest (TLS connections only).
    tls_records: Option<Box<TlsSeen>>,
    /// Every segment as the tap saw it, for comparison with another
    /// capture of the same traffic (only when the follower was asked).
    wire: Option<Box<WireLog>>,
}

fn idx(d: Direction) -> usize {
    usize::from(d == Direction::ServerToClient)
}

fn side(d: usize) -> Side {
    if d == 0 { Side::Client } else { Side::Server }
}

impl Track {
    /// Records a segment's TCP facts (before the observer sees its bytes).
    pub(crate) fn on_segment(
        &mut self,
        dir: Direction,
        seg: &Segment<'_>,
        at: Duration,
        frame: u64,
    ) {
        let d = idx(dir);
        self.first.get_or_insert((at, frame));
        self.last_seen = at;
        let f = seg.flags;
        self.senders[d].on_sent(seg, at);
        if f.ack {
            self.senders[1 - d].on_acked_by_peer(seg);
        }
        if f.syn && !f.ack {
            self.syn_count += 1;
            if self.syn.is_none() {
                self.wscale[0] = seg.wscale;
            }
            self.syn.get_or_insert((at, frame));
        } else if f.syn && f.ack {
            self.synack_count += 1;
            if self.synack.is_none() {
                self.wscale[1] = seg.wscale;
            }
            self.synack.get_or_insert((at, frame));
        } else if f.ack && d == 0 && self.synack.is_some() && self.established.is_none() {
            self.established = Some((at, frame));
        }
        if f.rst {
            self.rst[d].get_or_insert((at, frame));
        }
        if f.fin {
            self.fin[d].get_or_insert((at, frame));
        }
        if seg.window == 0 && !f.rst && !f.syn {
            self.zero_windows += 1;
        }
        if seg.len > 0 {
            let start = seg.seq.wrapping_add(u32::from(f.syn));
            let end = start.wrapping_add(seg.len);
            match self.high[d] {
                Some(h) if !after(end, h) => {
                    // A keep-alive probe re-sends one byte below the edge;
                    // retransmissions after the handshake's outcome do not
                    // explain it (the probe reads TCP_INFO at that moment
                    // too), except copies of the handshake's own packets;
                    // a copy of data already acknowledged decides nothing.
                    let keepalive = seg.len == 1 && start == h.wrapping_sub(1);
                    if !keepalive {
                        match self.senders[d].resent(start, end, at) {
                            Some(true) => self.retrans[d] += 1,
                            Some(false) if self.done.is_none() && !self.closed() => {
                                self.retrans[d] += 1;
                            }
                            _ => {}
                        }
                    }
                }
                _ => {
                    // New bytes the capture cut (those of copies were
                    // counted with their first).
                    self.bytes_cut += seg.cut() as u64;
                    let packet = self.handshake_packet(d);
                    let late = self.senders[d]
                        .filled_hole()
                        .map(|opened| at.saturating_sub(opened))
                        .filter(|late| *late > self.reorder_window());
                    match (late, packet) {
                        (Some(late), Some(packet)) => {
                            self.senders[d].first_copy_lost(start, end, at, late, packet);
                            self.retrans[d] += 1;
                        }
                        (Some(_), None) if self.done.is_none() && !self.closed() => {
                            self.retrans[d] += 1;
                            self.senders[d].first_copy(start, end, at, None);
                        }
                        _ => self.senders[d].first_copy(start, end, at, packet),
                    }
                    if seg.payload.is_empty() {
                        self.blind_data(d, (at, frame), seg.len, end);
                    }
                    // New data that reaches exactly the edge of the window
                    // the receiver offered: the sender must now wait.
                    if self.win_edge[1 - d] == Some(end) {
                        self.window_full += 1;
                    }
                    self.high[d] = Some(end);
                }
            }
            self.last_data[d] = Some(at);
            self.unacked_since[d].get_or_insert(at);
            if self.tls.is_some() {
                self.encrypted_segments[d] += 1;
            }
        }
        if f.ack
            && !f.syn
            && !f.rst
            && seg.window > 0
            && let Some(shift) = self.window_shift(d)
        {
            let window = u32::from(seg.window) << shift;
            self.win_edge[d] = Some(seg.ack.wrapping_add(window));
        }
        if f.ack {
            let o = 1 - d;
            if let (Some(h), Some(since)) = (self.high[o], self.unacked_since[o])
                && !after(h, seg.ack)
            {
                self.max_unacked[o] = self.max_unacked[o].max(at.saturating_sub(since));
                self.unacked_since[o] = None;
            }
        }
    }

    /// Notes `seg`, from direction `d`, in the wire log.
    pub(crate) fn log_wire(&mut self, d: usize, seg: &Segment<'_>, at: Duration, frame: u64) {
        let f = seg.flags;
        let flags = (if f.syn { flag::SYN } else { 0 })
            | (if f.ack { flag::ACK } else { 0 })
            | (if f.fin { flag::FIN } else { 0 })
            | (if f.rst { flag::RST } else { 0 });
        self.wire.get_or_insert_with(Box::default).push(WireSeg {
            at_us: u64::try_from(at.as_micros()).unwrap_or(u64::MAX),
            from_client: d == 0,
            seq: seg.seq,
            ack: if f.ack { seg.ack } else { 0 },
            len: seg.len,
            flags,
            tsval: crate::link::timestamp_value(seg.options),
            ttl: seg.ttl,
            frame,
        });
    }

    /// The wire log, taken out (empty unless the follower kept one).
    pub fn take_wire(&mut self) -> WireLog {
        self.wire.take().map(|w| *w).unwrap_or_default()
    }

    /// How late bytes may come after later ones and still be reordered
    /// rather than resent.
    fn reorder_window(&self) -> Duration {
        let rtt = match (self.syn, self.established) {
            (Some((syn, _)), Some((est, _))) => est.saturating_sub(syn),
            _ => Duration::ZERO,
        };
        rtt.max(REORDER)
    }

    /// The handshake packet new data from direction `d` belongs to, judged
    /// before the observer decodes it.
    fn handshake_packet(&self, d: usize) -> Option<HandshakePacket> {
        if self.done.is_some()
            || self.tls_seen().complete()
            || self.rst.iter().any(Option::is_some)
            || self.blind_answered()
        {
            return None;
        }
        match (d, self.greeting.is_some(), self.first_client.is_some()) {
            (1, false, _) => Some(HandshakePacket::Greeting),
            (1, true, true) if self.tls.is_some() && self.login.is_none() => {
                Some(HandshakePacket::Tls)
            }
            (1, true, true) => Some(HandshakePacket::Answer),
            (0, true, false) => Some(HandshakePacket::Login),
            (0, true, true) if self.tls.is_some() && self.login.is_none() => {
                Some(HandshakePacket::Tls)
            }
            (0, true, true) => Some(HandshakePacket::AuthData),
            _ => None,
        }
    }

    /// Whether its SYN was seen.
    pub(crate) fn syn_seen(&self) -> bool {
        self.syn.is_some()
    }

    /// Connections to its server opened around the same time (see
    /// [`Follower`](crate::Follower)).
    pub(crate) fn set_opening(&mut self, n: u32) {
        self.opening = n;
    }

    /// The TLS record headers seen (none outside TLS).
    fn tls_seen(&self) -> &TlsSeen {
        self.tls_records.as_deref().unwrap_or(&TlsSeen::NONE)
    }

    /// The shift of the windows direction `d` advertises: known once both
    /// SYNs were seen (scaling applies only if both announced it; RFC
    /// 7323 caps the shift at 14).
    fn window_shift(&self, d: usize) -> Option<u32> {
        self.syn?;
        self.synack?;
        Some(match self.wscale {
            [Some(c), Some(s)] => u32::from(if d == 0 { c } else { s }.min(14)),
            _ => 0,
        })
    }

    /// As [`on_event`](Self::on_event), keeping the event's strings
    /// instead of copying them (the greeting's server version, the login's
    /// plugin): once per connection, but one per handshake counts on a
    /// capture of short connections.
    pub(crate) fn take_event(&mut self, ev: ObserverEvent, frame: u64) {
        let reset = self.rst.iter().any(Option::is_some);
        if let ObserverEvent::Milestone { .. } = ev {
            self.mysql = true;
        }
        match ev {
            ObserverEvent::Milestone {
                at,
                milestone:
                    Milestone::Greeting {
                        server_version,
                        connection_id,
                        ..
                    },
                ..
            } if !reset => {
                self.greeting.get_or_insert((at, frame));
                self.server_version = Some(server_version);
                self.connection_id = connection_id;
            }
            ObserverEvent::Milestone {
                at,
                milestone: Milestone::Login { auth_plugin, .. },
                ..
            } if !reset => {
                let here = (at, frame);
                self.first_client.get_or_insert(here);
                self.login.get_or_insert(here);
                self.plugin = auth_plugin;
            }
            ev => self.on_event(&ev, frame),
        }
    }

    /// Records what the observer decoded from that segment.
    pub(crate) fn on_event(&mut self, ev: &ObserverEvent, frame: u64) {
        match ev {
            ObserverEvent::Packet(p) => {
                self.mysql = true;
                if let Packet::Err(e) | Packet::GreetingError(e) = &p.packet {
                    self.err_message = Some(e.message_lossy());
                }
            }
            ObserverEvent::Notice { notice, .. } => match notice {
                Notice::MidStream => self.midstream = true,
                Notice::Gap => self.capture_loss += 1,
                _ => {}
            },
            ObserverEvent::Milestone {
                at,
                dir,
                milestone: Milestone::TlsRecord(rec),
            } => {
                self.mysql = true;
                self.tls_records.get_or_insert_with(Box::default).on_record(
                    idx(*dir),
                    rec,
                    (*at, frame),
                );
            }
            ObserverEvent::Milestone { at, milestone, .. } => {
                // Milestones come from decoded packets (in milestones-only
                // mode the greeting's packet is not emitted).
                self.mysql = true;
                let here = (*at, frame);
                if let Some((_, closed, _)) = self.first_close()
                    && self.rst.iter().any(Option::is_some)
                {
                    // After a reset nothing changes the outcome; a login
                    // that arrives now is the bug #28359 signature.
                    if let Milestone::Login { .. } = milestone {
                        self.after_close.push(capture::login_after_reset(
                            at.saturating_sub(closed.0),
                            frame,
                        ));
                    }
                    return;
                }
                self.on_milestone(milestone, here);
            }
        }
    }

    fn answer(&mut self, here: At) {
        if self.login.is_some() {
            self.first_answer.get_or_insert(here);
            self.answers += 1;
        }
    }

    fn on_milestone(&mut self, m: &Milestone, here: At) {
        match m {
            Milestone::Greeting {
                server_version,
                connection_id,
                ..
            } => {
                self.greeting.get_or_insert(here);
                self.server_version = Some(server_version.clone());
                self.connection_id = *connection_id;
            }
            Milestone::SslRequest => {
                self.ssl = true;
                self.first_client.get_or_insert(here);
            }
            Milestone::TlsStart => {
                self.tls.get_or_insert(here);
            }
            Milestone::Login { auth_plugin, .. } => {
                self.first_client.get_or_insert(here);
                self.login.get_or_insert(here);
                self.plugin.clone_from(auth_plugin);
            }
            Milestone::AuthSwitch { plugin } | Milestone::AuthNextFactor { plugin } => {
                self.plugin = Some(plugin.clone());
                self.answer(here);
            }
            Milestone::AuthMoreData(_) => self.answer(here),
            Milestone::ClientAuthData(_) => self.auth_rounds += 1,
            Milestone::Command(c) if *c == hsp_wire::codes::Command::COM_QUIT => self.quit = true,
            Milestone::Ok if self.done.is_none() => {
                self.answer(here);
                self.done = Some((here, Done::Ok));
                self.answer_end = self.high[1];
            }
            Milestone::Err {
                code,
                in_place_of_greeting,
            } => {
                if self.done.is_none() {
                    if *in_place_of_greeting {
                        self.greeting.get_or_insert(here);
                    } else {
                        self.answer(here);
                    }
                    self.done = Some((
                        here,
                        Done::Err {
                            code: code.0,
                            replaced_greeting: *in_place_of_greeting,
                        },
                    ));
                } else {
                    self.command_err = Some((here, code.0));
                }
            }
            _ => {}
        }
    }

    /// FIN from both sides and no RST.
    pub(crate) fn closed_by_fins(&self) -> bool {
        self.rst.iter().all(Option::is_none) && self.fin.iter().all(Option::is_some)
    }

    /// RST seen, or FIN from both sides.
    pub(crate) fn closed(&self) -> bool {
        self.rst.iter().any(Option::is_some) || self.fin.iter().all(Option::is_some)
    }

    /// Whether it carried MySQL (a decoded packet) or tried to (a SYN).
    pub(crate) fn worth_reporting(&self) -> bool {
        self.mysql || self.syn.is_some() || self.tcp_only()
    }

    /// Who closed first, when, and whether with RST.
    fn first_close(&self) -> Option<(usize, At, bool)> {
        let mut best: Option<(usize, At, bool)> = None;
        for d in 0..2 {
            for (c, reset) in [(self.fin[d], false), (self.rst[d], true)] {
                if let Some(at) = c
                    && best.is_none_or(|b| at.0 < b.1.0)
                {
                    best = Some((d, at, reset));
                }
            }
        }
        best
    }
}
