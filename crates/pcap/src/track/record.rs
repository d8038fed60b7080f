//! From a connection's evidence to its record: the outcome (how it ended,
//! in which phase, and the server's wait), the phase times, the network
//! facts for the classifier, and the record's details. The gathering is in
//! the parent module; the wording of every sentence is hsp-core's.

use std::time::Duration;

use hsp_core::classify::{End, Facts, Params, Viewpoint};
use hsp_core::evidence::capture;
use hsp_core::network::{MissedByTap, ResetSignals};
use hsp_core::phase::{Phase, micros};
use hsp_core::record::{
    AuthInfo, CaptureCut, ConnectionRecord, Details, Frames, ServerError, TcpEvidence, Vantage,
    addr_string,
};
use hsp_core::tls::TlsAlert;
use hsp_core::wall::WallTime;

use super::{At, Done, Track, side};
use crate::follow::Endpoint;
use crate::sender::Sender;

impl Track {
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
        } else if self.ssl && self.login.is_none() && self.tls_seen().login().is_none() {
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
            Phase::Login => self.login.or(self.tls_seen().login()).map(|a| a.0),
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
        // The first RST's signals, read once: the outcome and the
        // classifier both weigh them.
        let reset = close.filter(|c| c.2).and_then(|(d, _, _)| {
            self.senders[d].reset_signals(side(d), self.timestamps_negotiated())
        });
        let (end, phase, end_at, server_wait) = self.outcome(close, reset.as_ref(), &mut ev);
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
        if let Some(login) = self.tls_seen().login() {
            // Under TLS, from the record headers: the SSLRequest to the
            // record that carried the login, then to the server's answer.
            set(Phase::Tls, self.first_client.map(|a| a.0), Some(login.0));
            set(
                Phase::Login,
                Some(login.0),
                self.tls_seen().answer().map(|a| a.0),
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
        facts.reset = reset;
        self.network_facts(&mut facts, ep, close);
        let (vantage, rtt) = self.vantage();
        facts.viewpoint = Viewpoint::Capture(vantage);

        let error = match &self.done {
            Some((
                _,
                Done::Err {
                    code,
                    replaced_greeting,
                },
            )) => Some(ServerError {
                code: *code,
                name: hsp_wire::codes::ErrorCode(*code).name(),
                sql_state: None,
                message: self.err_message.clone().unwrap_or_default(),
                replaced_greeting: *replaced_greeting,
            }),
            _ => None,
        };
        let tcp = TcpEvidence {
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
        };
        ev.extend(self.after_close.iter().cloned());
        ev.extend(self.blind_sentence());
        ConnectionRecord::classified(
            u64::from(stream),
            micros(start.saturating_sub(capture_start)),
            &facts,
            params,
            Details {
                time: Some(WallTime(start)),
                duration_us: Some(micros(self.last_seen.saturating_sub(start))),
                stream: Some(stream),
                client: Some(addr_string(ep.client)),
                server_version: self.server_version.clone(),
                connection_id: self.connection_id,
                error,
                auth: self.login.is_some().then(|| AuthInfo {
                    plugin: self.plugin.clone().unwrap_or_default(),
                    rounds: self.auth_rounds,
                }),
                tcp: Some(tcp),
                frames: Some(self.frames()),
                capture: (self.bytes_cut > 0).then_some(CaptureCut {
                    snaplen: self.snaplen,
                    bytes_cut: self.bytes_cut,
                }),
                evidence: ev,
                ..Details::default()
            },
        )
    }

    /// What TCP shows beyond counts: loopback, resent handshake packets,
    /// unseen and missed bytes, TLS.
    fn network_facts(&self, facts: &mut Facts, ep: Endpoint, close: Option<(usize, At, bool)>) {
        facts.loopback = ep.server.ip().is_loopback();
        facts.tcp_only = self.tcp_only();
        facts.in_flight = self.opening;
        facts.tls_alert = self.tls_seen().alert().map(|(d, _, body)| TlsAlert {
            sender: side(d),
            description: body.map(|(_, desc)| desc),
        });
        facts.tls_unfinished = self.tls.is_some()
            && self.tls_seen().seen()
            && !self.tls_seen().complete()
            && close.is_some();
        facts.resent = self
            .senders
            .iter()
            .filter_map(Sender::resent_packet)
            .max_by_key(|r| r.delay);
        if let Some((d, _, _)) = close {
            facts.unseen = self.senders[d].unseen(side(d));
        }
        if facts.unseen.is_none() {
            facts.unseen = (0..2).find_map(|d| self.senders[d].unseen_gap(side(d)));
        }
        facts.missed = (0..2).find_map(|d| {
            let bytes = self.senders[d].missed();
            (bytes > 0).then(|| MissedByTap {
                sender: side(d),
                bytes,
                likely_quit: d == 0 && self.quit_missed(bytes),
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
    fn quit_missed(&self, client_missed: u32) -> bool {
        !self.quit
            && matches!(self.done, Some((_, Done::Ok)))
            && client_missed == 5
            && self.fin[1].is_some()
            && self.rst[1].is_none()
    }

    /// The server's answer completed the handshake on its side, the
    /// client never acknowledged it and closed without sending anything
    /// after it: the client never saw it.
    fn answer_lost(&self) -> Option<(At, bool)> {
        let (done_at, end) = match self.done.as_ref() {
            Some((at, Done::Ok)) => (at, self.answer_end?),
            None => self.blind_answer()?,
            Some(_) => return None,
        };
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
        reset: Option<&ResetSignals>,
        ev: &mut Vec<String>,
    ) -> (End, Phase, Duration, Option<Duration>) {
        let last = self.last_seen;
        if self.midstream || (self.syn.is_none() && self.greeting.is_none() && self.done.is_none())
        {
            ev.push(capture::STARTS_MIDSTREAM.into());
            return (End::CaptureEnded, Phase::Command, last, None);
        }
        if self.blind_answered()
            && let Some(answer) = self.first_answer
        {
            let phase = if self.ssl { Phase::Tls } else { Phase::Login };
            if let Some((cat, reset)) = self.answer_lost() {
                return (End::AnswerLost { reset }, phase, cat.0, None);
            }
            ev.push(capture::TCP_ONLY_ANSWERED.into());
            // A reset forged by a device between is TCP's to see, whenever
            // it came (the client's data after the answer: a session).
            if let (Some((d, at, true)), Some(true)) = (close, reset.map(ResetSignals::forged)) {
                let end = if d == 1 {
                    End::ServerClosed { reset: true }
                } else {
                    End::ClientClosed { reset: true }
                };
                let phase = if self.last_data[0].is_some_and(|t| t > answer.0) {
                    Phase::Command
                } else {
                    phase
                };
                return (end, phase, at.0, None);
            }
            return (End::Answered, phase, answer.0, None);
        }
        if self.syn.is_some() && self.synack.is_none() && self.greeting.is_none() {
            let end = if self.rst[1].is_some() {
                End::ConnectRefused
            } else {
                ev.push(capture::syns_unanswered(self.syn_count));
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
                let quit = self.quit || self.quit_missed(self.senders[0].missed());
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
                    && reset.is_some_and(ResetSignals::forged)
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
                    ev.push(capture::session_closed(quiet));
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
                    ev.push(capture::ENCRYPTED.into());
                    if let Some((d, at, _)) = self.tls_seen().alert() {
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
                    let exchanged = if self.tls_seen().seen() {
                        self.tls_seen().complete()
                    } else {
                        self.encrypted_segments.iter().all(|n| *n >= 2)
                    };
                    if exchanged && after_client.is_none_or(|q| q < Duration::from_millis(100)) {
                        let phase = if self.tls_seen().complete() {
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
                        ev.push(capture::ENDS_EARLY.into());
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
}
