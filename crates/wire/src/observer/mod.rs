//! The passive observer: a two-direction connection-phase state machine for
//! captured traffic.
//!
//! It is fed the client->server and server->client byte streams as TCP
//! delivered them, with timestamps chosen by the caller, and emits every
//! decoded packet plus milestone events (greeting, SSL request, TLS start,
//! login, auth switch, auth more data, OK, ERR, command). The transition
//! table is separate from the packet parsers (tls-parser's `tls_states`):
//!
//! ```text
//!   Start --S:greeting--> ExpectLogin --C:login--> ExpectAuthResult
//!     |   --S:ERR-------> Closed          |  C:SSLRequest --> Tls (opaque)
//!     |                                   v
//!     |               ExpectAuthResult --S:OK--> Command  (compression on)
//!     |                |  S:ERR -> Closed
//!     |                |  S:0xFE AuthSwitch ---> ExpectClientAuth --C:data--+
//!     |                |  S:0x01 AuthMoreData -> ExpectClientAuth or stay   |
//!     |                |  S:0x02 AuthNextFactor -> ExpectClientAuth         |
//!     |                +<---------------------------------------------------+
//!     +--(first packet is not a greeting)--> Command, reported as mid-stream
//!
//!   Command: C:request sets what the server's answer looks like
//!            (OK/ERR, result set, field list, prepare, statistics, change user).
//! ```
//!
//! Ambiguous first bytes are resolved by direction, state and length, as
//! Wireshark and Zeek do: server 0xFE is an EOF when shorter than 9 bytes in
//! a result set, an OK under CLIENT_DEPRECATE_EOF, and an AuthSwitchRequest in
//! the connection phase; server 0x01 is AuthMoreData only while
//! authenticating; 0x02 is AuthNextFactor from the server and a public-key
//! request from the client.
//!
//! It never panics on any input (a fuzz target holds it to that) and never

use std::time::Duration;

use crate::compress::CompressedDeframer;
use crate::flags::Capabilities;
use crate::frame::{Deframer, Frame, HEADER_LEN, MAX_CHUNK, Missing, PacketHeader};
use crate::packets::*;
use crate::tls_record::TlsRecordReader;

mod command;
mod connection;
mod cut;
mod events;
mod stream;
#[cfg(test)]
mod tests;

use command::Resp;
pub use events::{Direction, Milestone, Notice, ObservedPacket, ObserverConfig, ObserverEvent};
use stream::Stream;

/// Connection-phase and command-phase states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Start,
    ExpectLogin,
    ExpectAuthResult,
    ExpectClientAuth,
    Command,
    Tls,
    Closed,
}

/// The passive two-direction observer of one TCP connection.
pub struct Observer {
    cfg: ObserverConfig,
    state: State,
    resp: Resp,
    server_caps: Option<Capabilities>,
    client_caps: Option<Capabilities>,
    c2s: Stream,
    s2c: Stream,
    change_user: bool,
    midstream_reported: bool,
    resync: bool,
    after_switch: bool,
    /// A packet event or the greeting milestone was emitted: either shows
    /// that the connection carries MySQL (see [`ObserverConfig::packets`]).
    emitted: bool,
    /// Per direction (client's first): a snaplen cut through a packet
    /// header, so where the next packet starts is unknown; decoding of it
    /// resumes at the next turn (the other side's next bytes), where a
    /// request or its answer starts a packet.
    lost: [bool; 2],
    /// The compression in force, to restart its framing after a loss.
    compression: Option<crate::compress::Compression>,
}

impl std::fmt::Debug for Observer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observer")
            .field("state", &self.state)
            .field("resp", &self.resp)
            .finish_non_exhaustive()
    }
}

impl Default for Observer {
    fn default() -> Self {
        Self::new(ObserverConfig::default())
    }
}

impl Observer {
    /// A fresh observer for a connection seen from its start (or not: it
    /// notices a missing greeting by itself).
    pub fn new(cfg: ObserverConfig) -> Self {
        Self {
            cfg,
            state: State::Start,
            resp: Resp::Generic,
            server_caps: None,
            client_caps: None,
            c2s: Stream::Plain(Deframer::new(cfg.max_packet)),
            s2c: Stream::Plain(Deframer::new(cfg.max_packet)),
            change_user: false,
            midstream_reported: false,
            resync: false,
            after_switch: false,
            emitted: false,
            lost: [false; 2],
            compression: None,
        }
    }

    /// The negotiated context: both sides' capabilities, or Wireshark's
    /// defaults for what was not seen.
    pub fn ctx(&self) -> Ctx {
        match (self.server_caps, self.client_caps) {
            (Some(s), Some(c)) => Ctx { caps: s & c },
            (None, Some(c)) => Ctx { caps: c },
            (Some(s), None) => Ctx { caps: s },
            (None, None) => Ctx::default(),
        }
    }

    /// The capabilities both sides use, once the client's are known: a
    /// client asks only for what the server offered, so when a snaplen cut
    /// the greeting's flags, the login's stand for both.
    fn negotiated(&self) -> Option<Capabilities> {
        match (self.server_caps, self.client_caps) {
            (Some(s), Some(c)) => Some(s & c),
            (None, Some(c)) => Some(c),
            _ => None,
        }
    }

    /// True once the connection phase ended with OK.
    pub fn in_command_phase(&self) -> bool {
        self.state == State::Command
    }

    /// True once TLS started.
    pub fn encrypted(&self) -> bool {
        self.state == State::Tls
    }

    /// Feeds bytes that arrived in direction `dir` at time `at`, appending
    /// what they completed to `out`.
    pub fn feed(
        &mut self,
        dir: Direction,
        data: &[u8],
        at: Duration,
        out: &mut Vec<ObserverEvent>,
    ) {
        if data.is_empty() {
            return;
        }
        self.turn(dir);
        if self.lost[side(dir)] {
            return;
        }
        let Some(data) = self.feed_whole_packets(dir, data, at, out) else {
            return;
        };
        let stream = match dir {
            Direction::ClientToServer => &mut self.c2s,
            Direction::ServerToClient => &mut self.s2c,
        };
        if !stream.push(data) {
            self.feed_opaque(dir, data, at, out);
            return;
        }
        self.drain(dir, at, out);
    }

    /// The next `n` bytes in direction `dir` exist but were not captured
    /// (a snaplen cut the segment; the IP length says how many). Packets
    /// they fall inside are decoded as far as their visible bytes go (see
    /// [`Packet::Cut`]); bytes that held a packet header lose the packet
    /// boundaries until the direction's next turn.
    pub fn cut(&mut self, dir: Direction, n: usize, at: Duration, out: &mut Vec<ObserverEvent>) {
        if n == 0 {
            return;
        }
        self.turn(dir);
        if self.lost[side(dir)] {
            return;
        }
        let stream = match dir {
            Direction::ClientToServer => &mut self.c2s,
            Direction::ServerToClient => &mut self.s2c,
        };
        let missing = match stream {
            Stream::Plain(d) => d.missing(n),
            Stream::Tls(r) => {
                let in_step = r.missing(n, |rec| {
                    out.push(ObserverEvent::Milestone {
                        at,
                        dir,
                        milestone: Milestone::TlsRecord(rec),
                    });
                });
                if in_step {
                    Missing::InStep
                } else {
                    Missing::Lost
                }
            }
            Stream::Compressed(_) => Missing::Lost,
            Stream::Opaque => Missing::InStep,
        };
        self.drain(dir, at, out);
        if missing == Missing::Lost {
            self.lose(dir, at, out);
        }
    }

    /// Direction `dir` lost its packet boundaries: its stream restarts
    /// empty, and is not fed until the other side speaks.
    fn lose(&mut self, dir: Direction, at: Duration, out: &mut Vec<ObserverEvent>) {
        let fresh = match (self.stream(dir), self.compression) {
            (Stream::Plain(_), _) => Stream::Plain(Deframer::new(self.cfg.max_packet)),
            (Stream::Compressed(_), Some(alg)) => {
                Stream::Compressed(CompressedDeframer::new(alg, self.cfg.max_packet))
            }
            // A flight starts a record: read again at the next turn.
            (Stream::Tls(_), _) => Stream::Tls(Box::default()),
            _ => Stream::Opaque,
        };
        if !matches!(fresh, Stream::Opaque) {
            self.lost[side(dir)] = true;
            if dir == Direction::ClientToServer && self.state == State::Command {
                // The next request starts a command with sequence id 0.
                self.resync = true;
            }
        }
        match dir {
            Direction::ClientToServer => self.c2s = fresh,
            Direction::ServerToClient => self.s2c = fresh,
        }
        out.push(ObserverEvent::Notice {
            at,
            dir,
            notice: Notice::CutHeader,
        });
    }

    /// Bytes from `dir`: a direction that lost its packet boundaries on
    /// the other side picks them up again now.
    #[inline]
    fn turn(&mut self, dir: Direction) {
        self.lost[1 - side(dir)] = false;
    }

    /// Decodes the frames `dir`'s stream has complete.
    fn drain(&mut self, dir: Direction, at: Duration, out: &mut Vec<ObserverEvent>) {
        loop {
            let stream = match dir {
                Direction::ClientToServer => &mut self.c2s,
                Direction::ServerToClient => &mut self.s2c,
            };
            let frame = match stream.next_frame() {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => {
                    *stream = Stream::Opaque;
                    out.push(ObserverEvent::Notice {
                        at,
                        dir,
                        notice: Notice::Decompress(e),
                    });
                    break;
                }
            };
            match frame {
                Frame::Packet(p) => {
                    self.on_packet(dir, p.seq, &p.payload, Some(&p.payload), at, out);
                }
                Frame::Cut { seq, len, shown } => {
                    self.on_cut_packet(dir, seq, &shown, len, at, out);
                }
                Frame::Oversized { seq, len } => {
                    out.push(ObserverEvent::Notice {
                        at,
                        dir,
                        notice: Notice::Oversized { len },
                    });
                    self.emitted = true;
                    out.push(ObserverEvent::Packet(ObservedPacket {
                        at,
                        dir,
                        seq,
                        len,
                        packet: Packet::Data(Vec::new()),
                        payload: bytes::Bytes::new(),
                        ctx: self.ctx(),
                    }));
                }
            }
        }
    }

    /// The common case without a copy: a segment that starts at a packet
    /// boundary, with nothing buffered, holds whole ordinary packets; they
    /// are decoded in place, and only what is left (a partial packet, a
    /// packet of 16 MiB or over the limit) goes through the deframer.
    /// Returns those bytes, or `None` when decoding a packet made the
    /// direction opaque (TLS): the rest of the segment is then dropped,
    /// as the deframer would have dropped it.
    fn feed_whole_packets<'d>(
        &mut self,
        dir: Direction,
        mut data: &'d [u8],
        at: Duration,
        out: &mut Vec<ObserverEvent>,
    ) -> Option<&'d [u8]> {
        let idle = |o: &Self| match o.stream(dir) {
            Stream::Plain(d) => d.is_idle(),
            _ => false,
        };
        while idle(self) {
            let Some(h) = PacketHeader::parse(data) else {
                break;
            };
            let len = h.len as usize;
            let Some(payload) = data
                .get(HEADER_LEN..HEADER_LEN + len)
                .filter(|_| len < MAX_CHUNK && len <= self.cfg.max_packet)
            else {
                break;
            };
            data = &data[HEADER_LEN + len..];
            self.on_packet(dir, h.seq, payload, None, at, out);
            match self.stream(dir) {
                Stream::Opaque => return None,
                // The SSLRequest: what follows it in the segment is TLS.
                Stream::Tls(_) => {
                    self.feed_opaque(dir, data, at, out);
                    return None;
                }
                _ => {}
            }
        }
        Some(data)
    }

    /// Bytes of a direction that is no longer decoded: TLS record headers
    /// are read (as [`Milestone::TlsRecord`]), and the bytes are reported.
    fn feed_opaque(
        &mut self,
        dir: Direction,
        data: &[u8],
        at: Duration,
        out: &mut Vec<ObserverEvent>,
    ) {
        if data.is_empty() {
            return;
        }
        let stream = match dir {
            Direction::ClientToServer => &mut self.c2s,
            Direction::ServerToClient => &mut self.s2c,
        };
        if let Stream::Tls(r) = stream {
            r.push(data, |rec| {
                out.push(ObserverEvent::Milestone {
                    at,
                    dir,
                    milestone: Milestone::TlsRecord(rec),
                });
            });
        }
        out.push(ObserverEvent::Notice {
            at,
            dir,
            notice: Notice::Encrypted { bytes: data.len() },
        });
    }

    fn stream(&self, dir: Direction) -> &Stream {
        match dir {
            Direction::ClientToServer => &self.c2s,
            Direction::ServerToClient => &self.s2c,
        }
    }

    /// Reports that bytes in `dir` were lost (a capture gap): the partial
    /// packet is dropped and decoding resumes at the next client command.
    pub fn gap(&mut self, dir: Direction, at: Duration, out: &mut Vec<ObserverEvent>) {
        // Under TLS the record boundaries are lost with the bytes.
        let fresh = if self.state == State::Tls {
            Stream::Tls(Box::new(TlsRecordReader::stopped()))
        } else {
            Stream::Plain(Deframer::new(self.cfg.max_packet))
        };
        match dir {
            Direction::ClientToServer => self.c2s = fresh,
            Direction::ServerToClient => self.s2c = fresh,
        }
        if self.state != State::Tls {
            self.resync = true;
            self.state = State::Command;
        }
        out.push(ObserverEvent::Notice {
            at,
            dir,
            notice: Notice::Gap,
        });
    }

    fn milestone(out: &mut Vec<ObserverEvent>, at: Duration, dir: Direction, m: Milestone) {
        out.push(ObserverEvent::Milestone {
            at,
            dir,
            milestone: m,
        });
    }

    /// Decodes one whole packet; `owned` is its payload as shared bytes
    /// when the deframer has them (else they are copied, if the packet is
    /// emitted).
    fn on_packet(
        &mut self,
        dir: Direction,
        seq: u8,
        payload: &[u8],
        owned: Option<&bytes::Bytes>,
        at: Duration,
        out: &mut Vec<ObserverEvent>,
    ) {
        if !self.cfg.packets
            && self.state == State::Start
            && dir == Direction::ServerToClient
            && seq == 0
            && payload.first() == Some(&10)
            && let Ok(g) = GreetingView::decode(payload)
        {
            // Milestones only: the greeting read in place. Its milestone
            // shows the connection carries MySQL, so no packet need be
            // emitted for that.
            self.emitted = true;
            self.greeted(
                10,
                g.capabilities,
                g.server_version,
                g.connection_id,
                at,
                out,
            );
            return;
        }
        // The greeting is decoded once: to tell a capture that starts
        // mid-connection, and as the packet itself.
        let mut greeting = None;
        if self.state == State::Start {
            let candidate = (dir == Direction::ServerToClient
                && seq == 0
                && matches!(payload.first(), Some(9 | 10 | 0xff)))
            .then(|| decode_greeting(payload))
            .filter(|g| !matches!(g, Packet::Malformed(_)));
            let looks_like_greeting = candidate.is_some();
            greeting = candidate;
            if !looks_like_greeting {
                self.started_midstream(dir, seq, payload, at, out);
            }
        }
        let decode_ctx = self.ctx();
        let packet = match (dir, greeting) {
            (_, Some(g)) => self.on_greeting(g, at, out),
            (Direction::ServerToClient, None) => self.server_packet(payload, at, out),
            (Direction::ClientToServer, None) => self.client_packet(seq, payload, at, out),
        };
        if let Packet::Malformed(_) = &packet {
            out.push(ObserverEvent::Notice {
                at,
                dir,
                notice: Notice::Malformed {
                    expected: self.expected_name(dir),
                },
            });
        }
        let shown = || owned.map_or_else(|| bytes::Bytes::copy_from_slice(payload), Clone::clone);
        self.emit(
            out,
            (at, dir, seq, payload.len(), decode_ctx),
            packet,
            shown,
        );
    }

    /// Emits `packet` (its `at`, `dir`, sequence id, announced length and
    /// context; the bytes it came from made only if it is emitted) if this
    /// mode keeps it (see [`ObserverConfig::packets`]): ERRs and malformed
    /// packets always.
    fn emit(
        &mut self,
        out: &mut Vec<ObserverEvent>,
        (at, dir, seq, len, ctx): (Duration, Direction, u8, usize, Ctx),
        packet: Packet,
        payload: impl FnOnce() -> bytes::Bytes,
    ) {
        if self.keeps_every_packet()
            || matches!(
                packet,
                Packet::Err(_) | Packet::GreetingError(_) | Packet::Malformed(_)
            )
        {
            self.emitted = true;
            out.push(ObserverEvent::Packet(ObservedPacket {
                at,
                dir,
                seq,
                len,
                packet,
                payload: payload(),
                ctx,
            }));
        }
    }

    /// The first packet is not a greeting: the capture began after it. A
    /// client packet with sequence id 1 and a 4.1 login's flags is the
    /// login (the capture began between greeting and login); anything
    /// else starts the command phase. Either is noticed once.
    fn started_midstream(
        &mut self,
        dir: Direction,
        seq: u8,
        payload: &[u8],
        at: Duration,
        out: &mut Vec<ObserverEvent>,
    ) {
        let login = dir == Direction::ClientToServer
            && seq == 1
            && payload.get(..4).is_some_and(|c| {
                Capabilities::from_bits_retain(u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .contains(Capabilities::PROTOCOL_41)
            });
        self.state = if login {
            State::ExpectLogin
        } else {
            State::Command
        };
        if !self.midstream_reported {
            self.midstream_reported = true;
            out.push(ObserverEvent::Notice {
                at,
                dir,
                notice: Notice::MidStream,
            });
        }
    }

    /// Whether the next packet is emitted whatever it is (see
    /// [`ObserverConfig::packets`]); else only ERRs and malformed ones are.
    fn keeps_every_packet(&self) -> bool {
        self.cfg.packets || !self.emitted
    }

    fn expected_name(&self, dir: Direction) -> &'static str {
        match (self.state, dir) {
            (State::Start, _) => "greeting",
            (State::ExpectLogin, _) => "login request",
            (State::ExpectAuthResult, _) => "auth result",
            (State::ExpectClientAuth, _) => "client auth data",
            (State::Command, Direction::ClientToServer) => "command",
            (State::Command, Direction::ServerToClient) => "response",
            _ => "packet",
        }
    }
}

/// Index of a direction: the client's 0, the server's 1.
fn side(dir: Direction) -> usize {
    usize::from(dir == Direction::ServerToClient)
}

/// Bytes from the wire as text, invalid UTF-8 replaced: validated first
/// (word at a time for ASCII), since names and versions nearly always are.
fn text(b: &[u8]) -> String {
    std::str::from_utf8(b).map_or_else(|_| String::from_utf8_lossy(b).into_owned(), str::to_owned)
}
