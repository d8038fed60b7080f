//! The connection phase: the greeting (or an ERR in its place), the login
//! or SSLRequest, and the authentication exchange up to OK or ERR.

use std::time::Duration;

use crate::flags::Capabilities;
use crate::packets::*;

use super::command::Resp;
use super::{Direction, Milestone, Observer, ObserverEvent, State, Stream, text};
use crate::codes::ErrorCode;

/// What the server answered in the authentication exchange.
pub(super) enum AuthAnswer {
    /// OK: logged in (or a COM_CHANGE_USER succeeded).
    Ok,
    /// ERR with this code.
    Err(ErrorCode),
    /// AuthSwitchRequest to this plugin.
    Switch(String),
    /// AuthMoreData meaning this.
    MoreData(MoreDataMeaning),
    /// AuthNextFactor with this plugin.
    NextFactor(String),
}

impl Observer {
    /// A greeting: the server's capabilities, the state after it, and its
    /// milestone.
    pub(super) fn greeted(
        &mut self,
        protocol: u8,
        caps: Capabilities,
        version: &[u8],
        connection_id: u32,
        at: Duration,
        out: &mut Vec<ObserverEvent>,
    ) {
        self.greeted_as(
            protocol,
            Some(caps),
            text(version),
            Some(connection_id),
            at,
            out,
        );
    }

    /// [`greeted`](Self::greeted) with the version as text, and the
    /// capabilities and connection id when known (a cut greeting may not
    /// show them).
    pub(super) fn greeted_as(
        &mut self,
        protocol: u8,
        caps: Option<Capabilities>,
        server_version: String,
        connection_id: Option<u32>,
        at: Duration,
        out: &mut Vec<ObserverEvent>,
    ) {
        self.server_caps = caps;
        self.state = State::ExpectLogin;
        Self::milestone(
            out,
            at,
            Direction::ServerToClient,
            Milestone::Greeting {
                protocol,
                server_version,
                connection_id,
            },
        );
    }

    /// The client's SSLRequest: both directions carry TLS records from
    /// here on.
    pub(super) fn start_tls(
        &mut self,
        caps: Capabilities,
        at: Duration,
        out: &mut Vec<ObserverEvent>,
    ) {
        let dir = Direction::ClientToServer;
        self.client_caps = Some(caps);
        self.state = State::Tls;
        Self::milestone(out, at, dir, Milestone::SslRequest);
        Self::milestone(out, at, dir, Milestone::TlsStart);
        // What the client sent after its SSLRequest, already buffered, is
        // the start of TLS.
        let unread = match std::mem::replace(&mut self.c2s, Stream::Opaque) {
            Stream::Plain(mut d) => d.take_unread(),
            _ => bytes::BytesMut::new(),
        };
        self.c2s = Stream::Tls(Box::default());
        self.s2c = Stream::Tls(Box::default());
        self.feed_opaque(dir, &unread, at, out);
    }

    /// The server's first packet (greeting, or an ERR in its place).
    pub(super) fn on_greeting(
        &mut self,
        pkt: Packet,
        at: Duration,
        out: &mut Vec<ObserverEvent>,
    ) -> Packet {
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
            self.refused_at_greeting(e.code, at, out);
        }
        pkt
    }

    /// An ERR in place of the greeting: the server closes.
    pub(super) fn refused_at_greeting(
        &mut self,
        code: ErrorCode,
        at: Duration,
        out: &mut Vec<ObserverEvent>,
    ) {
        self.state = State::Closed;
        Self::milestone(
            out,
            at,
            Direction::ServerToClient,
            Milestone::Err {
                code,
                in_place_of_greeting: true,
            },
        );
    }

    /// The server's answer in the authentication exchange, whole or as
    /// far as a snaplen left it: the one place its transitions are made.
    pub(super) fn on_auth_answer(
        &mut self,
        answer: AuthAnswer,
        at: Duration,
        out: &mut Vec<ObserverEvent>,
    ) {
        let dir = Direction::ServerToClient;
        let m = match answer {
            AuthAnswer::Ok => {
                // The login's OK starts the compression both asked for (a
                // COM_CHANGE_USER's OK changes nothing of it).
                let alg = if self.change_user {
                    None
                } else {
                    self.login_compression()
                };
                self.change_user = false;
                self.state = State::Command;
                self.resp = Resp::Generic;
                Self::milestone(out, at, dir, Milestone::Ok);
                if let Some(alg) = alg {
                    self.start_compression(alg);
                    Self::milestone(out, at, dir, Milestone::CompressionOn(alg));
                }
                return;
            }
            AuthAnswer::Err(code) => {
                // A failed COM_CHANGE_USER leaves the session as it was.
                self.state = if std::mem::take(&mut self.change_user) {
                    State::Command
                } else {
                    State::Closed
                };
                Milestone::Err {
                    code,
                    in_place_of_greeting: false,
                }
            }
            AuthAnswer::Switch(plugin) => {
                self.state = State::ExpectClientAuth;
                self.after_switch = true;
                Milestone::AuthSwitch { plugin }
            }
            AuthAnswer::MoreData(meaning) => {
                self.after_switch = false;
                // After fast_auth_success the server sends OK itself;
                // otherwise it waits for the client.
                self.state = if meaning == MoreDataMeaning::FastAuthSuccess {
                    State::ExpectAuthResult
                } else {
                    State::ExpectClientAuth
                };
                Milestone::AuthMoreData(meaning)
            }
            AuthAnswer::NextFactor(plugin) => {
                self.after_switch = false;
                self.state = State::ExpectClientAuth;
                Milestone::AuthNextFactor { plugin }
            }
        };
        Self::milestone(out, at, dir, m);
    }

    pub(super) fn server_packet(
        &mut self,
        p: &[u8],
        at: Duration,
        out: &mut Vec<ObserverEvent>,
    ) -> Packet {
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
                let answer = match &pkt {
                    Packet::Ok(_) => Some(AuthAnswer::Ok),
                    Packet::Err(e) => Some(AuthAnswer::Err(e.code)),
                    Packet::AuthSwitchRequest(a) => Some(AuthAnswer::Switch(text(&a.plugin))),
                    Packet::OldAuthSwitchRequest => Some(AuthAnswer::Switch(
                        crate::codes::plugin::MYSQL_OLD_PASSWORD.into(),
                    )),
                    Packet::AuthMoreData(m) => Some(AuthAnswer::MoreData(m.meaning())),
                    Packet::AuthNextFactor(n) => Some(AuthAnswer::NextFactor(text(&n.plugin))),
                    _ => None,
                };
                if let Some(a) = answer {
                    self.on_auth_answer(a, at, out);
                }
                pkt
            }
            State::Command => self.command_response(p, at, out),
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
    pub(super) fn on_login(
        &mut self,
        caps: Capabilities,
        user: &[u8],
        database: Option<&[u8]>,
        auth_plugin: Option<&[u8]>,
        at: Duration,
        out: &mut Vec<ObserverEvent>,
    ) {
        let login = Milestone::Login {
            user: text(user),
            database: database.map(text),
            auth_plugin: auth_plugin.map(text),
        };
        self.logged_in(caps, login, at, out);
    }

    /// The login's transition: the client's capabilities, then the
    /// server's answer is awaited. `login` is its milestone.
    pub(super) fn logged_in(
        &mut self,
        caps: Capabilities,
        login: Milestone,
        at: Duration,
        out: &mut Vec<ObserverEvent>,
    ) {
        self.client_caps = Some(caps);
        self.state = State::ExpectAuthResult;
        Self::milestone(out, at, Direction::ClientToServer, login);
    }

    /// Client auth data (a switch response or a later round) of `kind`:
    /// whether it answered an auth switch.
    pub(super) fn client_auth(
        &mut self,
        kind: ClientAuthKind,
        at: Duration,
        out: &mut Vec<ObserverEvent>,
    ) -> bool {
        let switched = std::mem::take(&mut self.after_switch);
        self.state = State::ExpectAuthResult;
        Self::milestone(
            out,
            at,
            Direction::ClientToServer,
            Milestone::ClientAuthData(kind),
        );
        switched
    }

    pub(super) fn client_packet(
        &mut self,
        seq: u8,
        p: &[u8],
        at: Duration,
        out: &mut Vec<ObserverEvent>,
    ) -> Packet {
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
                    Packet::SslRequest(s) => self.start_tls(s.header.capabilities, at, out),
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
                if self.client_auth(data.kind(), at, out) {
                    Packet::AuthSwitchResponse(data)
                } else {
                    Packet::ClientAuthData(data)
                }
            }
            State::Start | State::Command => self.client_command(seq, p, at, out),
            State::Tls | State::Closed => Packet::Data(p.to_vec()),
        }
    }
}

pub(super) fn ok_or_malformed(p: &[u8], ctx: Ctx) -> Packet {
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

pub(super) fn err_or_malformed(p: &[u8]) -> Packet {
    ErrPacket::decode(p).map_or_else(|_| Packet::Malformed(p.to_vec()), Packet::Err)
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
