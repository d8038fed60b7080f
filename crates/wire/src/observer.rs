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
//! buffers more than the configured packet limit per direction.

use std::time::Duration;

use crate::codes::{Command, ErrorCode};
use crate::compress::{CompressedDeframer, Compression};
use crate::flags::{Capabilities, StatusFlags};
use crate::frame::{DEFAULT_MAX_PACKET, Deframer, Frame, HEADER_LEN, MAX_CHUNK, PacketHeader};
use crate::packets::*;
use crate::tls_record::{TlsRecord, TlsRecordReader};

/// Which way bytes travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the client to the server.
    ClientToServer,
    /// From the server to the client.
    ServerToClient,
}

impl Direction {
    /// `c2s` or `s2c`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientToServer => "c2s",
            Self::ServerToClient => "s2c",
        }
    }
}

/// A packet the observer decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedPacket {
    /// When its last byte was fed.
    pub at: Duration,
    /// Direction.
    pub dir: Direction,
    /// Sequence id.
    pub seq: u8,
    /// Payload length (joined, for packets over 16 MiB).
    pub len: usize,
    /// The decoded packet.
    pub packet: Packet,
    /// The payload it was decoded from.
    pub payload: bytes::Bytes,
    /// The negotiated context it was decoded with.
    pub ctx: Ctx,
}

/// Handshake milestones, for timelines.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Milestone {
    /// The server's greeting.
    Greeting {
        /// Protocol version (9 or 10).
        protocol: u8,
        /// Server version.
        server_version: String,
        /// Connection id.
        connection_id: u32,
    },
    /// The client asked for TLS.
    SslRequest,
    /// From here on the connection is encrypted and not decoded.
    TlsStart,
    /// A TLS record header after the SSLRequest (the first
    /// [`MAX_RECORDS`](crate::tls_record::MAX_RECORDS) of each direction).
    TlsRecord(TlsRecord),
    /// The client's login request.
    Login {
        /// User name.
        user: String,
        /// Database.
        database: Option<String>,
        /// Client auth plugin.
        auth_plugin: Option<String>,
    },
    /// The server asked for another auth plugin.
    AuthSwitch {
        /// The plugin.
        plugin: String,
    },
    /// The server sent AuthMoreData.
    AuthMoreData(MoreDataMeaning),
    /// The server asked for another factor.
    AuthNextFactor {
        /// The plugin.
        plugin: String,
    },
    /// The client sent auth data (switch response or later round).
    ClientAuthData(ClientAuthKind),
    /// OK ending the connection phase (or a COM_CHANGE_USER).
    Ok,
    /// ERR in the connection phase, or any ERR in the command phase.
    Err {
        /// Error code.
        code: ErrorCode,
        /// True when it replaced the greeting.
        in_place_of_greeting: bool,
    },
    /// A command-phase request.
    Command(Command),
    /// The compressed protocol starts.
    CompressionOn(Compression),
}

/// Things the observer could not decode normally.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Notice {
    /// The first packets are not a greeting: the capture began mid-stream.
    MidStream,
    /// A packet exceeded the size limit and was skipped.
    Oversized {
        /// Its announced length.
        len: usize,
    },
    /// A packet did not decode as the state expected.
    Malformed {
        /// What was expected.
        expected: &'static str,
    },
    /// The compressed stream could not be inflated; decoding of that
    /// direction stops.
    Decompress(crate::WireError),
    /// Data arrived after a TLS start and was not decoded.
    Encrypted {
        /// Bytes.
        bytes: usize,
    },
    /// The caller reported missing bytes; decoding resynchronises at the
    /// next client command.
    Gap,
}

/// What [`Observer::feed`] emits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObserverEvent {
    /// A decoded packet.
    Packet(ObservedPacket),
    /// A milestone.
    Milestone {
        /// When.
        at: Duration,
        /// Sent in which direction.
        dir: Direction,
        /// What.
        milestone: Milestone,
    },
    /// Something went wrong in one direction.
    Notice {
        /// When.
        at: Duration,
        /// Which direction.
        dir: Direction,
        /// What.
        notice: Notice,
    },
}

/// Observer settings.
#[derive(Debug, Clone, Copy)]
pub struct ObserverConfig {
    /// Largest packet buffered per direction.
    pub max_packet: usize,
    /// Emit every decoded packet. When off, only milestones and notices,
    /// plus the packets a connection summary needs: the first one (the
    /// connection carried MySQL) unless it is a greeting (its milestone
    /// says as much), ERRs and malformed ones (their text), and oversized
    /// ones. A capture's connection records need nothing
    /// more, and each packet event costs a payload reference and a move.
    pub packets: bool,
}

impl Default for ObserverConfig {
    fn default() -> Self {
        Self {
            max_packet: DEFAULT_MAX_PACKET,
            packets: true,
        }
    }
}

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

/// What the server's next packet in the command phase is expected to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resp {
    Generic,
    ResultStart { binary: bool },
    Columns { left: u64, binary: bool },
    ColumnsEof { binary: bool },
    Rows { binary: bool },
    FieldList,
    PrepareOk,
    PrepareDefs { params: u64, cols: u64 },
    PrepareEof { cols: u64 },
    Statistics,
    InfileData,
    Stream,
}

enum Stream {
    Plain(Deframer),
    Compressed(CompressedDeframer),
    /// After the SSLRequest: only TLS record headers are read.
    Tls(Box<TlsRecordReader>),
    Opaque,
}

impl Stream {
    fn push(&mut self, data: &[u8]) -> bool {
        match self {
            Self::Plain(d) => d.push(data),
            Self::Compressed(d) => d.push(data),
            Self::Tls(_) | Self::Opaque => return false,
        }
        true
    }

    fn next_frame(&mut self) -> Result<Option<Frame>, crate::WireError> {
        match self {
            Self::Plain(d) => Ok(d.next_frame()),
            Self::Compressed(d) => d.next_frame(),
            Self::Tls(_) | Self::Opaque => Ok(None),
        }
    }
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
                self.state = State::Command;
                if !self.midstream_reported {
                    self.midstream_reported = true;
                    out.push(ObserverEvent::Notice {
                        at,
                        dir,
                        notice: Notice::MidStream,
                    });
                }
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
        let len = payload.len();
        let compression = self.pending_compression(&packet, dir);
        let ctx = decode_ctx;
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
                payload: owned.map_or_else(|| bytes::Bytes::copy_from_slice(payload), Clone::clone),
                ctx,
            }));
        }
        if let Some(alg) = compression {
            self.start_compression(alg);
            Self::milestone(out, at, dir, Milestone::CompressionOn(alg));
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

    /// The compression to switch on after `packet`, if it is the OK that
    /// ends the login and both sides asked for compression.
    fn pending_compression(&self, packet: &Packet, dir: Direction) -> Option<Compression> {
        if dir != Direction::ServerToClient
            || !matches!(packet, Packet::Ok(_))
            || self.state != State::Command
            || self.change_user
        {
            return None;
        }
        let (s, c) = (self.server_caps?, self.client_caps?);
        let both = s & c;
        if both.contains(Capabilities::COMPRESS) {
            Some(Compression::Zlib)
        } else if both.contains(Capabilities::ZSTD_COMPRESSION_ALGORITHM) {
            Some(Compression::Zstd)
        } else {
            None
        }
    }

    fn start_compression(&mut self, alg: Compression) {
        for s in [&mut self.c2s, &mut self.s2c] {
            if let Stream::Plain(d) = s {
                let rest = d.take_unread();
                let mut c = CompressedDeframer::new(alg, self.cfg.max_packet);
                c.push(&rest);
                *s = Stream::Compressed(c);
            }
        }
    }

    /// A greeting: the server's capabilities, the state after it, and its
    /// milestone.
    fn greeted(
        &mut self,
        protocol: u8,
        caps: Capabilities,
        version: &[u8],
        connection_id: u32,
        at: Duration,
        out: &mut Vec<ObserverEvent>,
    ) {
        self.server_caps = Some(caps);
        self.state = State::ExpectLogin;
        Self::milestone(
            out,
            at,
            Direction::ServerToClient,
            Milestone::Greeting {
                protocol,
                server_version: text(version),
                connection_id,
            },
        );
    }

    /// The server's first packet (greeting, or an ERR in its place).
    fn on_greeting(&mut self, pkt: Packet, at: Duration, out: &mut Vec<ObserverEvent>) -> Packet {
        let dir = Direction::ServerToClient;
        let greeting = match &pkt {
            Packet::Greeting(g) => Some((10, g.capabilities, &g.server_version, g.connection_id)),
            Packet::GreetingV9(g) => {
                Some((9, Capabilities::empty(), &g.server_version, g.connection_id))
            }
            _ => None,
        };
        if let Some((protocol, caps, version, connection_id)) = greeting {
            self.greeted(protocol, caps, version, connection_id, at, out);
        }
        if let Packet::GreetingError(e) = &pkt {
            self.state = State::Closed;
            Self::milestone(
                out,
                at,
                dir,
                Milestone::Err {
                    code: e.code,
                    in_place_of_greeting: true,
                },
            );
        }
        pkt
    }

    fn server_packet(&mut self, p: &[u8], at: Duration, out: &mut Vec<ObserverEvent>) -> Packet {
        let dir = Direction::ServerToClient;
        let first = p.first().copied();
        match self.state {
            State::Start => self.on_greeting(decode_greeting(p), at, out),
            State::ExpectAuthResult | State::ExpectClientAuth | State::ExpectLogin => {
                let pkt = match first {
                    Some(0x00) => ok_or_malformed(p, self.ctx()),
                    Some(0xff) => err_or_malformed(p),
                    Some(0xfe) if p.len() == 1 => Packet::OldAuthSwitchRequest,
                    Some(0xfe) => AuthSwitchRequest::decode(p)
                        .map_or_else(|_| Packet::Malformed(p.to_vec()), Packet::AuthSwitchRequest),
                    Some(0x01) => AuthMoreData::decode(p)
                        .map_or_else(|_| Packet::Malformed(p.to_vec()), Packet::AuthMoreData),
                    Some(0x02) => AuthNextFactor::decode(p)
                        .map_or_else(|_| Packet::Malformed(p.to_vec()), Packet::AuthNextFactor),
                    _ => Packet::Malformed(p.to_vec()),
                };
                match &pkt {
                    Packet::Ok(_) => {
                        self.state = State::Command;
                        self.resp = Resp::Generic;
                        Self::milestone(out, at, dir, Milestone::Ok);
                        // pending_compression() looks at change_user, so
                        // clear it only after on_packet has used it.
                    }
                    Packet::Err(e) => {
                        self.state = if self.change_user {
                            State::Command
                        } else {
                            State::Closed
                        };
                        Self::milestone(
                            out,
                            at,
                            dir,
                            Milestone::Err {
                                code: e.code,
                                in_place_of_greeting: false,
                            },
                        );
                    }
                    Packet::AuthSwitchRequest(a) => {
                        self.state = State::ExpectClientAuth;
                        self.after_switch = true;
                        Self::milestone(
                            out,
                            at,
                            dir,
                            Milestone::AuthSwitch {
                                plugin: text(&a.plugin),
                            },
                        );
                    }
                    Packet::OldAuthSwitchRequest => {
                        self.state = State::ExpectClientAuth;
                        self.after_switch = true;
                        Self::milestone(
                            out,
                            at,
                            dir,
                            Milestone::AuthSwitch {
                                plugin: crate::codes::plugin::MYSQL_OLD_PASSWORD.into(),
                            },
                        );
                    }
                    Packet::AuthMoreData(m) => {
                        self.after_switch = false;
                        let meaning = m.meaning();
                        // After fast_auth_success the server sends OK itself;
                        // otherwise it waits for the client.
                        self.state = if meaning == MoreDataMeaning::FastAuthSuccess {
                            State::ExpectAuthResult
                        } else {
                            State::ExpectClientAuth
                        };
                        Self::milestone(out, at, dir, Milestone::AuthMoreData(meaning));
                    }
                    Packet::AuthNextFactor(n) => {
                        self.after_switch = false;
                        self.state = State::ExpectClientAuth;
                        Self::milestone(
                            out,
                            at,
                            dir,
                            Milestone::AuthNextFactor {
                                plugin: text(&n.plugin),
                            },
                        );
                    }
                    _ => {}
                }
                pkt
            }
            State::Command => {
                let pkt = self.command_response(p, at, out);
                if let Packet::Ok(_) = &pkt {
                    self.change_user = false;
                }
                pkt
            }
            State::Tls | State::Closed => {
                if first == Some(0xff) {
                    err_or_malformed(p)
                } else {
                    Packet::Data(p.to_vec())
                }
            }
        }
    }

    /// The client's login: its capabilities, the state after it, and its
    /// milestone.
    fn on_login(
        &mut self,
        caps: Capabilities,
        user: &[u8],
        database: Option<&[u8]>,
        auth_plugin: Option<&[u8]>,
        at: Duration,
        out: &mut Vec<ObserverEvent>,
    ) {
        self.client_caps = Some(caps);
        self.state = State::ExpectAuthResult;
        Self::milestone(
            out,
            at,
            Direction::ClientToServer,
            Milestone::Login {
                user: text(user),
                database: database.map(text),
                auth_plugin: auth_plugin.map(text),
            },
        );
    }

    fn client_packet(
        &mut self,
        seq: u8,
        p: &[u8],
        at: Duration,
        out: &mut Vec<ObserverEvent>,
    ) -> Packet {
        let dir = Direction::ClientToServer;
        match self.state {
            State::ExpectLogin => {
                if let Some(v) = login_view(p) {
                    // The usual login, read in place: the owned packet is
                    // built only if it is to be emitted.
                    self.on_login(
                        v.header.capabilities,
                        v.user,
                        v.database,
                        v.auth_plugin,
                        at,
                        out,
                    );
                    return if self.keeps_every_packet() {
                        Packet::Login(v.to_owned_packet())
                    } else {
                        // Dropped unseen by on_packet (not an ERR, not
                        // malformed).
                        Packet::Data(Vec::new())
                    };
                }
                let pkt = decode_login(p);
                match &pkt {
                    Packet::SslRequest(s) => {
                        self.client_caps = Some(s.header.capabilities);
                        self.state = State::Tls;
                        Self::milestone(out, at, dir, Milestone::SslRequest);
                        Self::milestone(out, at, dir, Milestone::TlsStart);
                        // What the client sent after its SSLRequest, already
                        // buffered, is the start of TLS.
                        let unread = match std::mem::replace(&mut self.c2s, Stream::Opaque) {
                            Stream::Plain(mut d) => d.take_unread(),
                            _ => bytes::BytesMut::new(),
                        };
                        self.c2s = Stream::Tls(Box::default());
                        self.s2c = Stream::Tls(Box::default());
                        self.feed_opaque(Direction::ClientToServer, &unread, at, out);
                    }
                    // (A 4.1 login that decodes was read in place above.)
                    Packet::Login(l) => self.on_login(
                        l.header.capabilities,
                        &l.user,
                        l.database.as_deref(),
                        l.auth_plugin.as_deref(),
                        at,
                        out,
                    ),
                    Packet::Login320(l) => self.on_login(
                        l.capabilities,
                        &l.user,
                        l.database.as_deref(),
                        None,
                        at,
                        out,
                    ),
                    _ => {}
                }
                pkt
            }
            State::ExpectClientAuth | State::ExpectAuthResult => {
                // A client packet while we expected the server's answer is
                // another auth round too (e.g. after fast_auth_success a
                // client never speaks, but a confused one might).
                let data = ClientAuthData { data: p.to_vec() };
                let kind = data.kind();
                let switched = std::mem::take(&mut self.after_switch);
                self.state = State::ExpectAuthResult;
                Self::milestone(out, at, dir, Milestone::ClientAuthData(kind));
                if switched {
                    Packet::AuthSwitchResponse(data)
                } else {
                    Packet::ClientAuthData(data)
                }
            }
            State::Start | State::Command => {
                if self.resp == Resp::InfileData {
                    if p.is_empty() {
                        self.resp = Resp::Generic;
                    }
                    return Packet::Data(p.to_vec());
                }
                if self.resync && seq != 0 {
                    return Packet::Data(p.to_vec());
                }
                self.resync = false;
                let ctx = self.ctx();
                let pkt = CommandPacket::decode(p, ctx)
                    .map_or_else(|_| Packet::Malformed(p.to_vec()), Packet::Command);
                if let Packet::Command(c) = &pkt {
                    self.resp = match c.command {
                        Command::COM_QUERY => Resp::ResultStart { binary: false },
                        Command::COM_STMT_EXECUTE | Command::COM_STMT_FETCH => {
                            Resp::ResultStart { binary: true }
                        }
                        Command::COM_FIELD_LIST => Resp::FieldList,
                        Command::COM_STMT_PREPARE => Resp::PrepareOk,
                        Command::COM_STATISTICS => Resp::Statistics,
                        Command::COM_BINLOG_DUMP | Command::COM_BINLOG_DUMP_GTID => Resp::Stream,
                        Command::COM_CHANGE_USER => {
                            self.change_user = true;
                            self.state = State::ExpectAuthResult;
                            Resp::Generic
                        }
                        _ => Resp::Generic,
                    };
                    Self::milestone(out, at, dir, Milestone::Command(c.command));
                }
                pkt
            }
            State::Tls | State::Closed => Packet::Data(p.to_vec()),
        }
    }

    fn deprecate_eof(&self) -> bool {
        match (self.server_caps, self.client_caps) {
            (Some(s), Some(c)) => (s & c).contains(Capabilities::DEPRECATE_EOF),
            // Mid-stream: Wireshark's assume_deprecate_eof preference is off
            // by default in 4.0; guess from the packets instead (see below).
            _ => false,
        }
    }

    fn command_response(&mut self, p: &[u8], at: Duration, out: &mut Vec<ObserverEvent>) -> Packet {
        let dir = Direction::ServerToClient;
        let first = p.first().copied();
        let ctx = self.ctx();
        let dep = self.deprecate_eof();
        if first == Some(0xff) {
            let pkt = err_or_malformed(p);
            if let Packet::Err(e) = &pkt {
                Self::milestone(
                    out,
                    at,
                    dir,
                    Milestone::Err {
                        code: e.code,
                        in_place_of_greeting: false,
                    },
                );
                if self.resp != Resp::Stream {
                    self.resp = Resp::Generic;
                }
            }
            return pkt;
        }
        // A 0xFE packet shorter than 9 bytes ends a list of definitions or
        // rows: an EOF, or an OK under DEPRECATE_EOF.
        let terminator = |p: &[u8]| -> Packet {
            if is_eof(p) && !dep {
                EofPacket::decode(p).map_or_else(|_| ok_or_malformed(p, ctx), Packet::Eof)
            } else {
                ok_or_malformed(p, ctx)
            }
        };
        let more = |pkt: &Packet| -> bool {
            match pkt {
                Packet::Ok(o) => o
                    .status
                    .is_some_and(|s| s.contains(StatusFlags::MORE_RESULTS_EXISTS)),
                Packet::Eof(e) => e
                    .status
                    .is_some_and(|s| s.contains(StatusFlags::MORE_RESULTS_EXISTS)),
                _ => false,
            }
        };
        match self.resp {
            Resp::Generic => match first {
                Some(0x00) => ok_or_malformed(p, ctx),
                Some(0xfe) if p.len() < 9 => terminator(p),
                _ => Packet::Data(p.to_vec()),
            },
            Resp::Statistics => Packet::Data(p.to_vec()),
            Resp::Stream => Packet::Data(p.to_vec()),
            Resp::InfileData => Packet::Data(p.to_vec()),
            Resp::ResultStart { binary } => match first {
                Some(0x00) => {
                    let pkt = ok_or_malformed(p, ctx);
                    if !more(&pkt) {
                        self.resp = Resp::Generic;
                    }
                    pkt
                }
                Some(0xfb) => {
                    self.resp = Resp::InfileData;
                    Packet::Data(p.to_vec())
                }
                _ => match ColumnCount::decode(p) {
                    Ok(c) => {
                        self.resp = if c.count == 0 {
                            Resp::Generic
                        } else if c.metadata_follows == Some(0) {
                            Resp::Rows { binary }
                        } else {
                            Resp::Columns {
                                left: c.count,
                                binary,
                            }
                        };
                        Packet::ColumnCount(c)
                    }
                    Err(_) => Packet::Malformed(p.to_vec()),
                },
            },
            Resp::Columns { left, binary } => {
                if first == Some(0xfe) && p.len() < 9 {
                    // Fewer columns than announced: accept the terminator.
                    self.resp = Resp::Rows { binary };
                    return terminator(p);
                }
                let pkt = ColumnDefinition::decode(p)
                    .map_or_else(|_| Packet::Malformed(p.to_vec()), Packet::ColumnDefinition);
                self.resp = if left > 1 {
                    Resp::Columns {
                        left: left - 1,
                        binary,
                    }
                } else if dep {
                    Resp::Rows { binary }
                } else {
                    Resp::ColumnsEof { binary }
                };
                pkt
            }
            Resp::ColumnsEof { binary } => {
                self.resp = Resp::Rows { binary };
                if first == Some(0xfe) && p.len() < 9 {
                    terminator(p)
                } else {
                    self.row(p, binary)
                }
            }
            Resp::Rows { binary } => {
                if first == Some(0xfe) && p.len() < 0xff_ffff && (p.len() < 9 || dep) {
                    let pkt = terminator(p);
                    self.resp = if more(&pkt) {
                        Resp::ResultStart { binary }
                    } else {
                        Resp::Generic
                    };
                    pkt
                } else {
                    self.row(p, binary)
                }
            }
            Resp::FieldList => {
                if first == Some(0xfe) && p.len() < 9 {
                    self.resp = Resp::Generic;
                    terminator(p)
                } else {
                    ColumnDefinition::decode(p)
                        .map_or_else(|_| Packet::Malformed(p.to_vec()), Packet::ColumnDefinition)
                }
            }
            Resp::PrepareOk => {
                // COM_STMT_PREPARE_OK: 0x00, id u32, columns u16, params u16,
                // filler, warnings.
                if first == Some(0x00) && p.len() >= 12 {
                    let cols = u64::from(u16::from_le_bytes([p[5], p[6]]));
                    let params = u64::from(u16::from_le_bytes([p[7], p[8]]));
                    self.resp = if params + cols == 0 {
                        Resp::Generic
                    } else {
                        Resp::PrepareDefs { params, cols }
                    };
                    Packet::Data(p.to_vec())
                } else {
                    self.resp = Resp::Generic;
                    Packet::Data(p.to_vec())
                }
            }
            Resp::PrepareDefs { params, cols } => {
                if first == Some(0xfe) && p.len() < 9 {
                    // EOF after the parameter definitions.
                    self.resp = if cols > 0 {
                        Resp::PrepareDefs { params: 0, cols }
                    } else {
                        Resp::Generic
                    };
                    return terminator(p);
                }
                let pkt = ColumnDefinition::decode(p)
                    .map_or_else(|_| Packet::Malformed(p.to_vec()), Packet::ColumnDefinition);
                let (params, cols) = if params > 0 {
                    (params - 1, cols)
                } else {
                    (0, cols.saturating_sub(1))
                };
                self.resp = if dep {
                    if params + cols == 0 {
                        Resp::Generic
                    } else {
                        Resp::PrepareDefs { params, cols }
                    }
                } else if params == 0 && cols == 0 {
                    Resp::PrepareEof { cols: 0 }
                } else {
                    Resp::PrepareDefs { params, cols }
                };
                pkt
            }
            Resp::PrepareEof { .. } => {
                self.resp = Resp::Generic;
                if first == Some(0xfe) && p.len() < 9 {
                    terminator(p)
                } else {
                    Packet::Data(p.to_vec())
                }
            }
        }
    }

    fn row(&self, p: &[u8], binary: bool) -> Packet {
        if binary {
            return Packet::Data(p.to_vec());
        }
        match TextRow::decode(p) {
            Ok(r) => Packet::Row(r),
            Err(_) => Packet::Data(p.to_vec()),
        }
    }
}

fn ok_or_malformed(p: &[u8], ctx: Ctx) -> Packet {
    OkPacket::decode(p, ctx)
        .or_else(|_| {
            OkPacket::decode(
                p,
                Ctx {
                    caps: ctx.caps ^ Capabilities::SESSION_TRACK,
                },
            )
        })
        .map_or_else(|_| Packet::Malformed(p.to_vec()), Packet::Ok)
}

fn err_or_malformed(p: &[u8]) -> Packet {
    ErrPacket::decode(p).map_or_else(|_| Packet::Malformed(p.to_vec()), Packet::Err)
}

/// Bytes from the wire as text, invalid UTF-8 replaced: validated first
/// (word at a time for ASCII), since names and versions nearly always are.
fn text(b: &[u8]) -> String {
    std::str::from_utf8(b).map_or_else(|_| String::from_utf8_lossy(b).into_owned(), str::to_owned)
}

/// A HandshakeResponse41 read in place, when `p` is one that decodes (as
/// [`decode_login`] would decode it: a 4.1 login that is not an
/// SSLRequest).
fn login_view(p: &[u8]) -> Option<LoginView<'_>> {
    let caps =
        Capabilities::from_bits_retain(u32::from(u16::from_le_bytes([*p.first()?, *p.get(1)?])));
    let ssl_request = p.len() == LOGIN_HEADER_LEN && caps.contains(Capabilities::SSL);
    if !caps.contains(Capabilities::PROTOCOL_41) || ssl_request {
        return None;
    }
    LoginView::decode(p).ok()
}
