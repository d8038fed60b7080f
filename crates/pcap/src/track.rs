//! What one captured connection showed: TCP evidence (handshake round
//! trip, retransmissions, waits for ACKs, zero windows, who closed and
//! how) and the MySQL milestones of the observer, each with its time and
//! frame. [`Track::record`] turns them into hsp-core [`Facts`], classifies
//! them with the probe's classifier, and builds the connection record.
//!
//! Directions are indexed 0 = client to server, 1 = server to client.

use std::time::Duration;

use hsp_core::classify::{End, Facts, Params, classify};
use hsp_core::network::{HandshakePacket, MissedByTap, Side};
use hsp_core::phase::{Phase, micros};
use hsp_core::record::{
    AuthInfo, ConnectionRecord, Frames, ServerError, TcpEvidence, Vantage, addr_string,
};
use hsp_core::tls::TlsAlert;
use hsp_core::verdict::Verdict;
use hsp_wire::observer::{Direction, Milestone, Notice, ObserverEvent};
use hsp_wire::packets::Packet;

use crate::follow::Endpoint;
use crate::link::Segment;
use crate::sender::{Sender, after};
use crate::tls::TlsSeen;

type At = (Duration, u64);

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
    /// The TLS record headers after the SSLRequest.
    tls_seen: TlsSeen,
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
        if seg.truncated {
            self.capture_loss += 1;
        }
        if !seg.payload.is_empty() {
            let start = seg.seq.wrapping_add(u32::from(f.syn));
            let end = start.wrapping_add(seg.payload.len() as u32);
            match self.high[d] {
                Some(h) if !after(end, h) => {
                    // A keep-alive probe re-sends one byte below the edge;
                    // retransmissions after the handshake's outcome do not
                    // explain it (the probe reads TCP_INFO at that moment
                    // too), except copies of the handshake's own packets;
                    // a copy of data already acknowledged decides nothing.
                    let keepalive = seg.payload.len() == 1 && start == h.wrapping_sub(1);
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
                    let packet = self.handshake_packet(d);
                    self.senders[d].first_copy(start, end, at, packet);
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

    /// The handshake packet new data from direction `d` belongs to, judged
    /// before the observer decodes it.
    fn handshake_packet(&self, d: usize) -> Option<HandshakePacket> {
        if self.done.is_some() || self.tls_seen.complete() || self.rst.iter().any(Option::is_some) {
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
                self.connection_id = Some(connection_id);
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
                self.tls_seen.on_record(idx(*dir), rec, (*at, frame));
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
                        self.after_close.push(format!(
                            "the client's login arrived {:.2} s after the connection was reset (frame {frame})",
                            at.saturating_sub(closed.0).as_secs_f64()
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
                self.connection_id = Some(*connection_id);
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
        self.mysql || self.syn.is_some()
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

    fn vantage(&self) -> (Vantage, Option<Duration>) {
        let (Some(syn), Some(synack), Some(ack)) = (self.syn, self.synack, self.established) else {
            return (Vantage::Unknown, None);
        };
        let a = synack.0.saturating_sub(syn.0);
        let b = ack.0.saturating_sub(synack.0);
        let rtt = ack.0.saturating_sub(syn.0);
        let v = if rtt < Duration::from_micros(500) {
            Vantage::Unknown
        } else if a > b * 4 {
            Vantage::NearClient
        } else if b > a * 4 {
            Vantage::NearServer
        } else {
            Vantage::Unknown
        };
        (v, Some(rtt))
    }

    /// The phase the handshake had reached.
    fn reached(&self) -> Phase {
        if self.greeting.is_none() {
            Phase::Greeting
        } else if self.first_client.is_none() {
            Phase::ClientReply
        } else if self.ssl && self.login.is_none() && self.tls_seen.login().is_none() {
            Phase::Tls
        } else if self.first_answer.is_none() {
            Phase::Login
        } else {
            Phase::Auth
        }
    }

    /// When the phase `p` began, if it did.
    fn phase_start(&self, p: Phase) -> Option<Duration> {
        match p {
            Phase::TcpConnect => self.syn.map(|a| a.0),
            Phase::Greeting => self.established.or(self.synack).or(self.first).map(|a| a.0),
            Phase::ClientReply => self.greeting.map(|a| a.0),
            Phase::Tls => self.first_client.map(|a| a.0),
            Phase::Login => self.login.or(self.tls_seen.login()).map(|a| a.0),
            Phase::Auth => self.first_answer.map(|a| a.0),
            _ => None,
        }
    }

    /// Classifies the connection and builds its record.
    pub fn record(
        &self,
        stream: u32,
        ep: Endpoint,
        capture_start: Duration,
        params: &Params,
    ) -> ConnectionRecord {
        let mut ev = Vec::new();
        let close = self.first_close();
        let (end, phase, end_at, server_wait) = self.outcome(close, &mut ev);
        let mut facts = Facts::new(end, phase, addr_string(ep.server));
        let start = self.syn.or(self.first).map_or(capture_start, |a| a.0);
        // Phases that completed.
        let mut set = |p: Phase, from: Option<Duration>, to: Option<Duration>| {
            if let (Some(a), Some(b)) = (from, to)
                && b >= a
            {
                facts.phases.set(p, b - a);
            }
        };
        set(
            Phase::TcpConnect,
            self.syn.map(|a| a.0),
            self.established.or(self.synack).map(|a| a.0),
        );
        set(
            Phase::Greeting,
            self.phase_start(Phase::Greeting),
            self.greeting.map(|a| a.0),
        );
        set(
            Phase::ClientReply,
            self.greeting.map(|a| a.0),
            self.first_client.map(|a| a.0),
        );
        set(
            Phase::Login,
            self.login.map(|a| a.0),
            self.first_answer.map(|a| a.0),
        );
        if let Some(login) = self.tls_seen.login() {
            // Under TLS, from the record headers: the SSLRequest to the
            // record that carried the login, then to the server's answer.
            set(Phase::Tls, self.first_client.map(|a| a.0), Some(login.0));
            set(
                Phase::Login,
                Some(login.0),
                self.tls_seen.answer().map(|a| a.0),
            );
        }
        if self.answers > 1 {
            set(
                Phase::Auth,
                self.first_answer.map(|a| a.0),
                self.done.as_ref().map(|d| d.0.0),
            );
        }
        // The unfinished phase holds the time spent in it.
        let failed = !matches!(end, End::Completed | End::ServerError { .. });
        if failed
            && facts.phases.get(phase).is_none()
            && let Some(from) = self.phase_start(phase)
        {
            facts.phases.set(phase, end_at.saturating_sub(from));
        }
        // The handshake's total ends at its outcome, not at a later close
        // of the session.
        let total_end = self.done.as_ref().map_or(end_at, |d| d.0.0);
        facts
            .phases
            .set(Phase::Total, total_end.saturating_sub(start));
        facts.server_wait = server_wait;
        facts.retransmits = self.retrans[0]
            + self.retrans[1]
            + self.syn_count.saturating_sub(1)
            + self.synack_count.saturating_sub(1);
        facts.errno = close.map(|(_, _, reset)| if reset { 104 } else { 0 });
        facts.server_message.clone_from(&self.err_message);
        self.network_facts(&mut facts, ep, close);

        let c = classify(&facts, params);
        let mut r = ConnectionRecord::new(
            u64::from(stream),
            micros(start.saturating_sub(capture_start)),
            &facts,
            c,
        );
        r.stream = Some(stream);
        r.client = Some(addr_string(ep.client));
        r.server_version.clone_from(&self.server_version);
        r.connection_id = self.connection_id;
        if let Some((
            _,
            Done::Err {
                code,
                replaced_greeting,
            },
        )) = &self.done
        {
            let code = *code;
            r.error = Some(ServerError {
                code,
                name: hsp_wire::codes::ErrorCode(code).name(),
                sql_state: None,
                message: self.err_message.clone().unwrap_or_default(),
                replaced_greeting: *replaced_greeting,
            });
        }
        if self.login.is_some() {
            r.auth = Some(AuthInfo {
                plugin: self.plugin.clone().unwrap_or_default(),
                rounds: self.auth_rounds,
            });
        }
        let (vantage, rtt) = self.vantage();
        r.tcp = Some(TcpEvidence {
            vantage,
            handshake_rtt_us: rtt.map(micros),
            syn_retransmits: self.syn_count.saturating_sub(1),
            syn_ack_retransmits: self.synack_count.saturating_sub(1),
            retransmits_c2s: self.retrans[0],
            retransmits_s2c: self.retrans[1],
            spurious_retransmits: self.senders[0].spurious + self.senders[1].spurious,
            max_unacked_c2s_us: micros(self.max_unacked[0]),
            max_unacked_s2c_us: micros(self.max_unacked[1]),
            zero_windows: self.zero_windows,
            window_full: self.window_full,
            closed_by: close.map(|(d, _, _)| if d == 0 { "client" } else { "server" }),
            close: close.map(|(_, _, reset)| if reset { "rst" } else { "fin" }),
            capture_loss: self.capture_loss + u32::from(facts.missed.is_some()),
            encrypted: self.tls.is_some(),
        });
        r.frames = Some(self.frames());
        self.add_evidence(&mut r, vantage, &mut ev);
        r
    }

    /// What TCP shows beyond counts: loopback, resent handshake packets,
    /// unseen and missed bytes, the first RST's signals.
    fn network_facts(&self, facts: &mut Facts, ep: Endpoint, close: Option<(usize, At, bool)>) {
        facts.loopback = ep.server.ip().is_loopback();
        facts.tls_alert = self.tls_seen.alert().map(|(d, _, body)| TlsAlert {
            sender: side(d),
            description: body.map(|(_, desc)| desc),
        });
        facts.tls_unfinished = self.tls.is_some()
            && self.tls_seen.seen()
            && !self.tls_seen.complete()
            && close.is_some();
        facts.resent = self
            .senders
            .iter()
            .filter_map(Sender::resent_packet)
            .max_by_key(|r| r.delay);
        if let Some((d, _, reset)) = close {
            facts.unseen = self.senders[d].unseen(side(d));
            if reset {
                facts.reset = self.senders[d].reset_signals(side(d), self.timestamps_negotiated());
            }
        }
        facts.missed = (0..2).find_map(|d| {
            let bytes = self.senders[d].missed();
            (bytes > 0).then(|| MissedByTap {
                sender: side(d),
                bytes,
                likely_quit: d == 0 && self.quit_missed(),
            })
        });
    }

    /// Both SYNs offered TCP timestamps.
    fn timestamps_negotiated(&self) -> bool {
        self.senders.iter().all(Sender::syn_timestamp)
    }

    /// Five client bytes the server acknowledged, the capture never saw,
    /// after the handshake and before the server's FIN: a COM_QUIT the tap
    /// dropped.
    fn quit_missed(&self) -> bool {
        !self.quit
            && matches!(self.done, Some((_, Done::Ok)))
            && self.senders[0].missed() == 5
            && self.fin[1].is_some()
            && self.rst[1].is_none()
    }

    /// Whether the first RST, sent by `d`, weighs as sent by a device
    /// between the ends.
    fn forged_reset(&self, d: usize) -> bool {
        self.senders[d]
            .reset_signals(side(d), self.timestamps_negotiated())
            .is_some_and(|s| s.forged())
    }

    /// The server's answer completed the handshake on its side, the
    /// client never acknowledged it and closed without sending anything
    /// after it: the client never saw it.
    fn answer_lost(&self) -> Option<(At, bool)> {
        let (done_at, Done::Ok) = self.done.as_ref()? else {
            return None;
        };
        let end = self.answer_end?;
        if self.senders[1].acked_through(end) || self.last_data[0].is_some_and(|t| t > done_at.0) {
            return None;
        }
        match (self.rst[0], self.fin[0]) {
            (Some(at), _) => Some((at, true)),
            (None, Some(at)) => Some((at, false)),
            _ => None,
        }
    }

    /// End, deciding phase, time of the end, and the server's wait.
    fn outcome(
        &self,
        close: Option<(usize, At, bool)>,
        ev: &mut Vec<String>,
    ) -> (End, Phase, Duration, Option<Duration>) {
        let last = self.last_seen;
        if self.midstream || (self.syn.is_none() && self.greeting.is_none() && self.done.is_none())
        {
            ev.push("the capture starts after this connection's handshake".into());
            return (End::CaptureEnded, Phase::Command, last, None);
        }
        if self.syn.is_some() && self.synack.is_none() && self.greeting.is_none() {
            let end = if self.rst[1].is_some() {
                End::ConnectRefused
            } else {
                ev.push(format!("{} SYN(s) seen, none answered", self.syn_count));
                End::ConnectTimedOut
            };
            return (end, Phase::TcpConnect, last, None);
        }
        let server_closed_at = |close: Option<(usize, At, bool)>| {
            close.and_then(|(d, at, reset)| (d == 1).then_some((at.0, reset)))
        };
        match &self.done {
            Some((
                at,
                Done::Err {
                    code,
                    replaced_greeting,
                },
            )) => {
                let phase = if *replaced_greeting {
                    Phase::Greeting
                } else if self.answers > 1 {
                    Phase::Auth
                } else {
                    Phase::Login
                };
                // A read error (1158-1161) that answers the client's own
                // close describes that close.
                if hsp_core::verdict::NET_ERRORS.contains(code)
                    && let Some((0, cat, reset)) = close
                    && cat.0 <= at.0
                {
                    return (End::ClientClosed { reset }, phase, cat.0, None);
                }
                let end = End::ServerError {
                    code: *code,
                    replaced_greeting: *replaced_greeting,
                };
                (end, phase, at.0, None)
            }
            Some((at, Done::Ok)) => {
                let auth_phase = if self.answers > 1 {
                    Phase::Auth
                } else {
                    Phase::Login
                };
                if let Some((cat, reset)) = self.answer_lost() {
                    return (End::AnswerLost { reset }, auth_phase, cat.0, None);
                }
                // After COM_QUIT (seen, or five bytes the tap missed) the
                // server's close is the normal end, whoever closes first.
                let quit = self.quit || self.quit_missed();
                // An ERR the server closes after (idle timeout, packet too
                // large, a killed connection, a failed COM_CHANGE_USER) is
                // its explicit answer; a query's error is the application's.
                let closed_after_err = |cat: Duration| {
                    !quit
                        && server_closed_at(close)
                            .is_some_and(|(t, _)| t.saturating_sub(cat) < Duration::from_secs(1))
                };
                if let Some((cat, code)) = self.command_err
                    && (matches!(code, 4031 | 1153 | 1162) || closed_after_err(cat.0))
                {
                    return (
                        End::ServerError {
                            code,
                            replaced_greeting: false,
                        },
                        Phase::Command,
                        cat.0,
                        None,
                    );
                }
                if let Some((0, cat, true)) = close
                    && self.forged_reset(0)
                {
                    return (
                        End::ClientClosed { reset: true },
                        Phase::Command,
                        cat.0,
                        None,
                    );
                }
                if let Some((cat, reset)) = server_closed_at(close)
                    && !quit
                {
                    let quiet = self.last_data[0].map_or(Duration::ZERO, |c| cat.saturating_sub(c));
                    ev.push(format!(
                        "the handshake completed; the server closed the session {:.2} s after the client's last packet",
                        quiet.as_secs_f64()
                    ));
                    return (
                        End::ServerClosed { reset },
                        Phase::Command,
                        cat,
                        Some(quiet),
                    );
                }
                (End::Completed, auth_phase, at.0, None)
            }
            None => {
                let phase = self.reached();
                if self.tls.is_some() {
                    ev.push("encrypted after the SSLRequest: the outcome is inferred from the TLS record headers and what followed".into());
                    if let Some((d, at, _)) = self.tls_seen.alert() {
                        // The alert decided; the close says how it ended.
                        let end = match close {
                            Some((1, _, reset)) => End::ServerClosed { reset },
                            Some((_, _, reset)) => End::ClientClosed { reset },
                            None if d == 1 => End::ServerClosed { reset: false },
                            None => End::ClientClosed { reset: false },
                        };
                        return (end, Phase::Tls, close.map_or(at.0, |c| c.1.0), None);
                    }
                    let server_close = server_closed_at(close);
                    // A server that closes at once after the client's last
                    // encrypted packet is answering a COM_QUIT.
                    let after_client = server_close
                        .and_then(|(cat, _)| self.last_data[0].map(|c| cat.saturating_sub(c)));
                    // With record headers, the server's answer to the
                    // login; without (a gap), data both ways.
                    let exchanged = if self.tls_seen.seen() {
                        self.tls_seen.complete()
                    } else {
                        self.encrypted_segments.iter().all(|n| *n >= 2)
                    };
                    if exchanged && after_client.is_none_or(|q| q < Duration::from_millis(100)) {
                        let phase = if self.tls_seen.complete() {
                            Phase::Login
                        } else {
                            Phase::Tls
                        };
                        return (End::Completed, phase, close.map_or(last, |c| c.1.0), None);
                    }
                    if let Some((cat, reset)) = server_close {
                        return (End::ServerClosed { reset }, phase, cat, None);
                    }
                }
                match close {
                    Some((1, at, reset)) => {
                        let wait = self.last_data[1].map(|t| at.0.saturating_sub(t));
                        (End::ServerClosed { reset }, phase, at.0, wait)
                    }
                    Some((_, at, reset)) => (End::ClientClosed { reset }, phase, at.0, None),
                    None => {
                        ev.push("the capture ends before the handshake's outcome".into());
                        (End::CaptureEnded, phase, last, None)
                    }
                }
            }
        }
    }

    fn frames(&self) -> Frames {
        let f = |v: Option<At>| v.map(|(_, frame)| frame);
        let mut out = Frames::default();
        out.syn = f(self.syn);
        out.syn_ack = f(self.synack);
        out.greeting = f(self.greeting);
        out.ssl_request = f(self.ssl.then_some(self.first_client).flatten());
        out.login = f(self.login);
        out.first_answer = f(self.first_answer);
        out.outcome = f(self.done.as_ref().map(|d| d.0));
        out.fin_client = f(self.fin[0]);
        out.fin_server = f(self.fin[1]);
        out.rst_client = f(self.rst[0]);
        out.rst_server = f(self.rst[1]);
        out
    }

    fn add_evidence(&self, r: &mut ConnectionRecord, vantage: Vantage, ev: &mut Vec<String>) {
        for (d, name) in [(0, "client to server"), (1, "server to client")] {
            if self.retrans[d] > 0 {
                ev.push(format!(
                    "{} retransmitted segment(s) {name}",
                    self.retrans[d]
                ));
            }
            if self.max_unacked[d] >= Duration::from_millis(200) {
                ev.push(format!(
                    "{name} data waited {:.2} s for its ACK",
                    self.max_unacked[d].as_secs_f64()
                ));
            }
        }
        let spurious = self.senders[0].spurious + self.senders[1].spurious;
        if spurious > 0 {
            ev.push(hsp_core::network::spurious_sentence(spurious));
        }
        if self.syn_count > 1 {
            ev.push(format!("{} SYN retransmission(s)", self.syn_count - 1));
        }
        if self.synack_count > 1 {
            ev.push(format!(
                "{} SYN-ACK retransmission(s): the client's SYN-ACK or its ACK was lost",
                self.synack_count - 1
            ));
        }
        if self.window_full > 0 {
            ev.push(format!(
                "{} segment(s) filled the receiver's window (window full)",
                self.window_full
            ));
        }
        if self.zero_windows > 0 {
            ev.push(format!(
                "{} zero-window advertisement(s)",
                self.zero_windows
            ));
        }
        if self.capture_loss > 0 {
            ev.push(format!(
                "the capture lost bytes of this connection {} time(s) (gaps or snaplen)",
                self.capture_loss
            ));
        }
        match vantage {
            Vantage::NearServer if r.verdict == Verdict::ServerTimeout => ev.push(
                "captured near the server: packets lost between the client and this point are invisible here, so the login may have been sent in time"
                    .into(),
            ),
            Vantage::NearClient => ev.push("captured near the client (SYN to SYN-ACK holds the round trip)".into()),
            Vantage::NearServer => ev.push("captured near the server (SYN-ACK to ACK holds the round trip)".into()),
            Vantage::Unknown => {}
        }
        ev.extend(self.after_close.iter().cloned());
        r.evidence.append(ev);
    }
}
