//! # hsp-core: what happened on a connection, independent of how it was seen
//!
//! The live probe and the capture decoder both describe a connection in one
//! vocabulary, so that one classifier and one set of statistics serve both:
//!
//! - [`phase`]: the phases that are timed, and whose turn each one is;
//! - [`classify`](mod@classify): [`Facts`] measured about a connection in,
//!   a [`Verdict`] with evidence out (pure, no clock);
//! - [`network`]: what a capture shows beyond a retransmission count
//!   (which packet was resent, unseen bytes, resets their sender did not
//!   send), weighed and worded in one place;
//! - [`path`]: two captures of one connection, at the client and at the
//!   server: what their comparison proves (loss between the taps, resets
//!   born between them);
//! - [`record`]: the `{"type":"connection"}` record both drivers emit;
//! - [`stats`]: HdrHistogram per phase and counts, merged across workers.
//!
//! The events of the MySQL layer come from hsp-wire's observer and client
//! machine; this crate re-exports them for the timeline.
#![warn(missing_docs)]

mod app_error;
pub mod classify;
pub mod evidence;
pub mod hlog;
mod json;
pub mod network;
pub mod path;
pub mod phase;
pub mod record;
pub mod server_log;
pub mod stats;
pub mod tls;
pub mod verdict;
pub mod wall;

pub use classify::{AppError, Classification, End, Facts, Params, Viewpoint, classify};
pub use phase::{Party, Phase, PhaseTimes};
pub use record::ConnectionRecord;
pub use stats::{Stats, Summary};
pub use verdict::Verdict;

use std::time::Duration;

pub use hsp_wire::observer::{Direction, Milestone, Notice, ObservedPacket, ObserverEvent};

/// One timestamped event on a connection's timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimedMilestone {
    /// When, since an epoch chosen by the driver (capture start or probe start).
    pub at: Duration,
    /// Sent in which direction.
    pub dir: Direction,
    /// What happened.
    pub milestone: Milestone,
}

/// The milestones of one connection, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Timeline {
    /// Events in arrival order.
    pub events: Vec<TimedMilestone>,
}

impl Timeline {
    /// Appends the milestones among observer events.
    pub fn extend_from(&mut self, events: &[ObserverEvent]) {
        for e in events {
            if let ObserverEvent::Milestone { at, dir, milestone } = e {
                self.events.push(TimedMilestone {
                    at: *at,
                    dir: *dir,
                    milestone: milestone.clone(),
                });
            }
        }
    }

    /// Time between the first milestone matching `from` and the first
    /// later one matching `to`.
    pub fn between(
        &self,
        from: impl Fn(&Milestone) -> bool,
        to: impl Fn(&Milestone) -> bool,
    ) -> Option<Duration> {
        let i = self.events.iter().position(|e| from(&e.milestone))?;
        let start = self.events[i].at;
        let end = self.events[i..].iter().find(|e| to(&e.milestone))?.at;
        Some(end.saturating_sub(start))
    }
}

#[cfg(test)]
mod classify_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use hsp_wire::observer::Observer;

    #[test]
    fn greeting_to_ok_is_measured_from_observer_events() {
        // A greeting, a login and an OK built with the codec, fed with
        // caller-chosen timestamps: the timeline measures login -> OK.
        use hsp_wire::client::{ClientAction, ClientConfig, ClientHandshake, Secret};
        use hsp_wire::frame::{Deframer, Frame, write_packet};
        use hsp_wire::packets::{GreetingExt, HandshakeV10};
        let g = HandshakeV10 {
            server_version: b"8.0.36".to_vec(),
            connection_id: 1,
            auth_data_1: *b"abcdefgh",
            filler: 0,
            capabilities: hsp_wire::flags::Capabilities::from_bits_retain(0xffff_f7ff),
            ext: Some(GreetingExt {
                collation: 255,
                status: hsp_wire::flags::StatusFlags::AUTOCOMMIT,
                auth_data_len: 21,
                reserved: [0; 10],
                auth_data_2: Some(b"ijklmnopqrst\0".to_vec()),
                auth_plugin: Some((b"mysql_native_password".to_vec(), true)),
                trailing: vec![],
            }),
        };
        let mut greeting = Vec::new();
        g.encode(&mut greeting);
        let mut wire = bytes::BytesMut::new();
        write_packet(&mut wire, 0, &greeting);
        let mut d = Deframer::default();
        d.push(&wire);
        let Some(Frame::Packet(p)) = d.next_frame() else {
            panic!()
        };
        let mut hs = ClientHandshake::new(ClientConfig::new("u", Secret::new("pw")));
        let [ClientAction::Send(login)] = &hs.on_packet(&p).unwrap()[..] else {
            panic!()
        };
        let mut ok = bytes::BytesMut::new();
        write_packet(&mut ok, 2, &[0, 0, 0, 2, 0, 0, 0]);

        let mut obs = Observer::default();
        let mut ev = Vec::new();
        obs.feed(
            Direction::ServerToClient,
            &wire,
            Duration::from_millis(1),
            &mut ev,
        );
        obs.feed(
            Direction::ClientToServer,
            login,
            Duration::from_millis(5),
            &mut ev,
        );
        obs.feed(
            Direction::ServerToClient,
            &ok,
            Duration::from_millis(12),
            &mut ev,
        );
        let mut t = Timeline::default();
        t.extend_from(&ev);
        let login_to_ok = t.between(
            |m| matches!(m, Milestone::Login { .. }),
            |m| matches!(m, Milestone::Ok),
        );
        assert_eq!(login_to_ok, Some(Duration::from_millis(7)));
        assert!(obs.in_command_phase());
    }
}
