//! Packets the capture cut short. `tcpdump -s 96` keeps the first 30 or so
//! bytes of each segment's payload: every packet header, and the bytes
//! that say what a handshake packet is and how it ended (a greeting's
//! protocol and version prefix, an ERR's code and SQL state, the OK byte,
//! an auth switch's plugin, the login's capabilities, a command byte).
//! Those drive the same transitions as the whole packet; what lies past
//! the cut is never guessed: a field the cut reached is reported as far as
//! it goes and marked with `…`, or not at all.

use std::time::Duration;

use crate::codes::{Command, ErrorCode, plugin};
use crate::flags::Capabilities;
use crate::packets::*;

use super::connection::AuthAnswer;
use super::{Direction, Milestone, Observer, ObserverEvent, State, text};

/// A field's visible bytes up to its NUL, and whether the NUL was seen.
fn nul_terminated(b: &[u8]) -> (&[u8], bool) {
    match b.iter().position(|&c| c == 0) {
        Some(n) => (&b[..n], true),
        None => (b, false),
    }
}

/// Text for a field the cut may have reached: `…` marks where it did.
fn shown_text(b: &[u8], whole: bool) -> String {
    let mut s = text(b);
    if !whole {
        s.push('…');
    }
    s
}

/// A cut packet of `kind`, showing `info`, from the bytes `shown`.
fn cut_packet(kind: &'static str, info: String, shown: &[u8]) -> Packet {
    Packet::Cut(CutPacket {
        kind,
        info,
        shown: shown.to_vec(),
    })
}

/// The ERR an ERR packet's visible bytes show: its code (the first three
/// bytes), its SQL state when all six of its bytes are visible, and its
/// message as far as it goes.
fn cut_err(p: &[u8]) -> Option<ErrPacket> {
    if p.first() != Some(&0xff) {
        return None;
    }
    let code = ErrorCode(u16::from_le_bytes([*p.get(1)?, *p.get(2)?]));
    let rest = &p[3..];
    let (sql_state, message) = match rest {
        [b'#', s @ ..] if s.len() >= 5 => (s[..5].try_into().ok(), &s[5..]),
        // A marker whose state the cut reached: neither is shown.
        [b'#', ..] => (None, &[][..]),
        m => (None, m),
    };
    Some(ErrPacket {
        code,
        sql_state,
        message: message.to_vec(),
    })
}

impl Observer {
    /// A packet announced `len` bytes long of which only `shown` were
    /// captured: decoded as far as they go, driving the same transitions
    /// as the whole packet would.
    pub(super) fn on_cut_packet(
        &mut self,
        dir: Direction,
        seq: u8,
        shown: &[u8],
        len: usize,
        at: Duration,
        out: &mut Vec<ObserverEvent>,
    ) {
        if self.state == State::Start {
            let greeting = dir == Direction::ServerToClient
                && seq == 0
                && matches!(shown.first(), Some(9 | 10 | 0xff));
            if !greeting {
                self.started_midstream(dir, seq, shown, at, out);
            }
        }
        let ctx = self.ctx();
        let packet = match dir {
            Direction::ServerToClient => self.cut_server_packet(shown, len, at, out),
            Direction::ClientToServer => self.cut_client_packet(seq, shown, len, at, out),
        };
        self.emit(out, (at, dir, seq, len, ctx), packet, || {
            bytes::Bytes::copy_from_slice(shown)
        });
    }

    fn cut_server_packet(
        &mut self,
        p: &[u8],
        len: usize,
        at: Duration,
        out: &mut Vec<ObserverEvent>,
    ) -> Packet {
        let cut = |kind, info| cut_packet(kind, info, p);
        match self.state {
            State::Start => match p.first() {
                Some(&protocol @ (9 | 10)) => {
                    let (version, whole) = nul_terminated(&p[1..]);
                    let after = 1 + version.len() + 1;
                    let id = whole
                        .then(|| p.get(after..after + 4))
                        .flatten()
                        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
                    // protocol 10: id, 8 scramble bytes, a filler, then the
                    // capabilities' low half; their high half 3 bytes on.
                    let low = after + 4 + 8 + 1;
                    // Unknown unless both halves are visible: the login's
                    // flags stand in (see `negotiated`).
                    let caps = match (p.get(low..low + 2), p.get(low + 5..low + 7)) {
                        (Some(l), Some(h)) if whole && protocol == 10 => {
                            Some(Capabilities::from_bits_retain(u32::from_le_bytes([
                                l[0], l[1], h[0], h[1],
                            ])))
                        }
                        _ if protocol == 9 => Some(Capabilities::empty()),
                        _ => None,
                    };
                    let version = shown_text(version, whole);
                    let info = format!(
                        "Server Greeting proto={protocol} version={}",
                        version.strip_prefix("5.5.5-").unwrap_or(&version)
                    );
                    self.emitted = true;
                    self.greeted_as(protocol, caps, version, id, at, out);
                    cut("greeting", info)
                }
                _ => match cut_err(p) {
                    Some(e) => {
                        self.refused_at_greeting(e.code, at, out);
                        Packet::GreetingError(e)
                    }
                    None => cut("data", "Response".into()),
                },
            },
            State::ExpectAuthResult | State::ExpectClientAuth | State::ExpectLogin => {
                // Each kind's meaning lies in its first bytes; a field the
                // cut reached is shown as far as it goes.
                let (answer, packet) = match p.first() {
                    Some(0x00) => (AuthAnswer::Ok, cut("ok", "Response OK".into())),
                    Some(0xff) => match cut_err(p) {
                        Some(e) => (AuthAnswer::Err(e.code), Packet::Err(e)),
                        None => return cut("err", "Response Error".into()),
                    },
                    Some(0xfe) => {
                        let (name, whole) = nul_terminated(&p[1..]);
                        let plugin = if len == 1 {
                            plugin::MYSQL_OLD_PASSWORD.into()
                        } else {
                            shown_text(name, whole)
                        };
                        let info = format!("Auth Switch Request plugin={plugin}");
                        (AuthAnswer::Switch(plugin), cut("auth_switch_request", info))
                    }
                    Some(0x01) => {
                        // fast_auth_success and perform_full_authentication
                        // are two bytes long, never cut: this is key data.
                        let meaning = if p[1..].starts_with(b"-----BEGIN") {
                            MoreDataMeaning::PublicKey
                        } else {
                            MoreDataMeaning::Other
                        };
                        (
                            AuthAnswer::MoreData(meaning),
                            cut("auth_more_data", "Auth More Data".into()),
                        )
                    }
                    Some(0x02) => {
                        let (name, whole) = nul_terminated(&p[1..]);
                        let plugin = shown_text(name, whole);
                        let info = format!("Auth Next Factor plugin={plugin}");
                        (
                            AuthAnswer::NextFactor(plugin),
                            cut("auth_next_factor", info),
                        )
                    }
                    _ => return cut("data", "Response".into()),
                };
                self.on_auth_answer(answer, at, out);
                packet
            }
            State::Command => match cut_err(p) {
                Some(e) => {
                    // An ERR answer, whatever was expected: its transition
                    // is the whole ERR's, made from its code (the first
                    // three bytes); the packet keeps the message shown.
                    let pkt = self.command_response(&p[..3], at, out);
                    match pkt {
                        Packet::Err(_) => Packet::Err(e),
                        _ => cut("err", format!("Response Error {}", e.code.0)),
                    }
                }
                // Terminators are under 9 bytes, never cut: the answer's
                // shape advances with the packets the cut reached, read
                // from the bytes shown (a column count, a row).
                None if p.len() >= 9 => match self.command_response(p, at, out) {
                    Packet::Malformed(_) | Packet::Data(_) => cut("data", "Response".into()),
                    Packet::ColumnDefinition(_) => cut("column_definition", "Field".into()),
                    Packet::Row(_) => cut("row", "Row".into()),
                    other => other,
                },
                None => cut("data", "Response".into()),
            },
            State::Tls | State::Closed => match cut_err(p) {
                Some(e) => Packet::Err(e),
                None => cut("data", "Response".into()),
            },
        }
    }

    fn cut_client_packet(
        &mut self,
        seq: u8,
        p: &[u8],
        len: usize,
        at: Duration,
        out: &mut Vec<ObserverEvent>,
    ) -> Packet {
        let cut = |kind, info| cut_packet(kind, info, p);
        match self.state {
            State::ExpectLogin => {
                let Some(low) = p.get(..2) else {
                    return cut("data", "Request".into());
                };
                let low = u16::from_le_bytes([low[0], low[1]]);
                let caps = match p.get(2..4) {
                    Some(h) => Capabilities::from_bits_retain(
                        u32::from(low) | u32::from(u16::from_le_bytes([h[0], h[1]])) << 16,
                    ),
                    None => Capabilities::from_bits_retain(u32::from(low)),
                };
                if caps.contains(Capabilities::PROTOCOL_41)
                    && caps.contains(Capabilities::SSL)
                    && len == LOGIN_HEADER_LEN
                {
                    self.start_tls(caps, at, out);
                    return cut("ssl_request", "Response: SSL Handshake".into());
                }
                // The user name follows the 32-byte header (4.1) or the
                // 5-byte one (3.20).
                let user_at = if caps.contains(Capabilities::PROTOCOL_41) {
                    LOGIN_HEADER_LEN
                } else {
                    5
                };
                let (user, whole) = nul_terminated(p.get(user_at..).unwrap_or(&[]));
                let user = if user.is_empty() && !whole {
                    "…".to_string()
                } else {
                    shown_text(user, whole)
                };
                let info = format!("Login Request user={user}");
                let login = Milestone::Login {
                    user,
                    database: None,
                    auth_plugin: None,
                };
                self.logged_in(caps, login, at, out);
                cut("login", info)
            }
            State::ExpectClientAuth | State::ExpectAuthResult => {
                // Cut auth data is long: a response or an encrypted password.
                let kind = if matches!(len, 128 | 256 | 384 | 512) {
                    ClientAuthKind::EncryptedPassword
                } else {
                    ClientAuthKind::Response
                };
                if self.client_auth(kind, at, out) {
                    cut("auth_switch_response", "Auth Switch Response".into())
                } else {
                    cut("auth_data", "Auth Data".into())
                }
            }
            State::Start | State::Command => {
                if self.resp == super::command::Resp::InfileData || (self.resync && seq != 0) {
                    return cut("data", "Request".into());
                }
                self.resync = false;
                match p.first() {
                    Some(&b) => {
                        let command = Command(b);
                        self.on_command(command, at, out);
                        let info = match command.wireshark_label() {
                            Some(l) => format!("Request {l}"),
                            None => format!("Request Unknown ({b})"),
                        };
                        cut("command", info)
                    }
                    None => cut("data", "Request".into()),
                }
            }
            State::Tls | State::Closed => cut("data", "Request".into()),
        }
    }
}
