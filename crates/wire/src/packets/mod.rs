//! Every packet type of the connection phase and of the command phase that
//! the probe and the decoder need, and [`Packet`], the one enum the observer
//! and the client machine hand out.
//!
//! Each type has `decode(payload[, ctx])` and `encode(&self, dst[, ctx])`
//! over the payload only; framing is [`crate::frame`]'s job. Decoding and
//! encoding are byte-exact inverses for everything real servers and clients
//! send (proptest and the fixture captures check both directions).

mod auth;
mod command;
mod generic;
mod greeting;
mod login;
mod resultset;

pub use auth::{
    AuthMoreData, AuthNextFactor, AuthSwitchRequest, ClientAuthData, ClientAuthKind,
    MoreDataMeaning,
};
pub use command::{
    ComChangeUser, ComQuery, CommandBody, CommandPacket, QueryAttributes, QueryParam,
};
pub use generic::{Ctx, EofPacket, ErrPacket, OkPacket, is_eof};
pub use greeting::{GreetingExt, GreetingExtView, GreetingView, HandshakeV9, HandshakeV10};
pub use login::{
    HandshakeResponse41, HandshakeResponse320, LOGIN_HEADER_LEN, LoginHeader, LoginView, SslRequest,
};
pub use resultset::{ColumnCount, ColumnDefinition, TextRow};

use crate::codes::Command;

/// Any decoded packet, labelled with its role.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Packet {
    /// Initial Handshake v10.
    Greeting(HandshakeV10),
    /// Initial Handshake v9.
    GreetingV9(HandshakeV9),
    /// ERR in place of the greeting (1040, 1129, 1130, ...).
    GreetingError(ErrPacket),
    /// SSLRequest.
    SslRequest(SslRequest),
    /// HandshakeResponse41.
    Login(HandshakeResponse41),
    /// HandshakeResponse320.
    Login320(HandshakeResponse320),
    /// AuthSwitchRequest.
    AuthSwitchRequest(AuthSwitchRequest),
    /// The pre-4.1 one-byte 0xFE: "send the old-style scramble".
    OldAuthSwitchRequest,
    /// The client's answer to an AuthSwitchRequest.
    AuthSwitchResponse(ClientAuthData),
    /// AuthMoreData.
    AuthMoreData(AuthMoreData),
    /// AuthNextFactor.
    AuthNextFactor(AuthNextFactor),
    /// A later client auth round (key request, RSA blob, cleartext).
    ClientAuthData(ClientAuthData),
    /// OK.
    Ok(OkPacket),
    /// ERR.
    Err(ErrPacket),
    /// EOF.
    Eof(EofPacket),
    /// A command-phase request.
    Command(CommandPacket),
    /// Result set: column count.
    ColumnCount(ColumnCount),
    /// Result set: column definition.
    ColumnDefinition(ColumnDefinition),
    /// Result set: text row.
    Row(TextRow),
    /// A response this crate keeps as bytes (binary rows, prepare-OK,
    /// COM_STATISTICS text, LOCAL INFILE request, replication events...).
    Data(Vec<u8>),
    /// Bytes that do not decode as what the state expected.
    Malformed(Vec<u8>),
    /// A packet the capture cut short (a snaplen): its kind and what its
    /// visible bytes show.
    Cut(CutPacket),
}

/// A packet whose end the capture cut (see [`crate::frame::Frame::Cut`]):
/// decoded as far as its visible bytes go, never further.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CutPacket {
    /// What the packet is, as [`Packet::kind`] names it (`greeting`,
    /// `login`, `auth_switch_request`, `row`, ...), or `data`.
    pub kind: &'static str,
    /// What its visible bytes show, as [`Packet::info`] would say it.
    pub info: String,
    /// The visible bytes.
    pub shown: Vec<u8>,
}

impl Packet {
    /// Short machine-readable kind (the `kind` field of the JSON output).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Greeting(_) | Self::GreetingV9(_) => "greeting",
            Self::GreetingError(_) | Self::Err(_) => "err",
            Self::SslRequest(_) => "ssl_request",
            Self::Login(_) | Self::Login320(_) => "login",
            Self::AuthSwitchRequest(_) | Self::OldAuthSwitchRequest => "auth_switch_request",
            Self::AuthSwitchResponse(_) => "auth_switch_response",
            Self::AuthMoreData(_) => "auth_more_data",
            Self::AuthNextFactor(_) => "auth_next_factor",
            Self::ClientAuthData(_) => "auth_data",
            Self::Ok(_) => "ok",
            Self::Eof(_) => "eof",
            Self::Command(_) => "command",
            Self::ColumnCount(_) => "column_count",
            Self::ColumnDefinition(_) => "column_definition",
            Self::Row(_) => "row",
            Self::Data(_) => "data",
            Self::Malformed(_) => "malformed",
            Self::Cut(c) => c.kind,
        }
    }

    /// One-line summary in the words of Wireshark's Info column. Never
    /// contains a password, scramble or auth response.
    pub fn info(&self) -> String {
        let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        match self {
            Self::Greeting(g) => {
                format!("Server Greeting proto=10 version={}", g.display_version())
            }
            Self::GreetingV9(g) => format!(
                "Server Greeting proto=9 version={}",
                lossy(&g.server_version)
            ),
            Self::GreetingError(e) => format!("Server Greeting Error {}", e.code.0),
            Self::SslRequest(_) => "Response: SSL Handshake".to_string(),
            Self::Login(l) => login_info(&l.user, l.database.as_deref()),
            Self::Login320(l) => login_info(&l.user, l.database.as_deref()),
            Self::AuthSwitchRequest(a) => {
                format!("Auth Switch Request plugin={}", lossy(&a.plugin))
            }
            Self::OldAuthSwitchRequest => "Auth Switch Request (old password)".to_string(),
            Self::AuthSwitchResponse(_) => "Auth Switch Response".to_string(),
            Self::AuthMoreData(m) => match m.meaning() {
                MoreDataMeaning::FastAuthSuccess => "Auth More Data fast_auth_success".to_string(),
                MoreDataMeaning::PerformFullAuthentication => {
                    "Auth More Data perform_full_authentication".to_string()
                }
                MoreDataMeaning::PublicKey => "Auth More Data public key".to_string(),
                MoreDataMeaning::Other => "Auth More Data".to_string(),
            },
            Self::AuthNextFactor(n) => format!("Auth Next Factor plugin={}", lossy(&n.plugin)),
            Self::ClientAuthData(d) => match d.kind() {
                ClientAuthKind::PublicKeyRequest => "Auth Data request public key".to_string(),
                ClientAuthKind::EncryptedPassword => "Auth Data encrypted password".to_string(),
                ClientAuthKind::Response => "Auth Data".to_string(),
                ClientAuthKind::Empty => "Auth Data empty".to_string(),
            },
            Self::Ok(_) => "Response OK".to_string(),
            Self::Err(e) => format!("Response Error {}", e.code.0),
            Self::Eof(_) => "Response EOF".to_string(),
            Self::Command(c) => match c.command.wireshark_label() {
                Some(l) => format!("Request {l}"),
                None => format!("Request Unknown ({})", c.command.0),
            },
            Self::ColumnCount(c) => format!("Response TABULAR columns={}", c.count),
            Self::ColumnDefinition(c) => format!("Field name={}", lossy(&c.name)),
            Self::Row(r) => format!("Row values={}", r.values.len()),
            Self::Data(_) => "Response".to_string(),
            Self::Malformed(_) => "Malformed Packet".to_string(),
            Self::Cut(c) => format!("{} [cut by the snaplen]", c.info),
        }
    }

    /// The command byte, for command packets.
    pub fn command(&self) -> Option<Command> {
        match self {
            Self::Command(c) => Some(c.command),
            _ => None,
        }
    }

    /// Appends the payload this packet came from.
    pub fn encode(&self, dst: &mut Vec<u8>, ctx: Ctx) {
        match self {
            Self::Greeting(p) => p.encode(dst),
            Self::GreetingV9(p) => p.encode(dst),
            Self::GreetingError(p) | Self::Err(p) => p.encode(dst),
            Self::SslRequest(p) => p.encode(dst),
            Self::Login(p) => p.encode(dst),
            Self::Login320(p) => p.encode(dst),
            Self::AuthSwitchRequest(p) => p.encode(dst),
            Self::OldAuthSwitchRequest => dst.push(0xfe),
            Self::AuthSwitchResponse(p) | Self::ClientAuthData(p) => p.encode(dst),
            Self::AuthMoreData(p) => p.encode(dst),
            Self::AuthNextFactor(p) => p.encode(dst),
            Self::Ok(p) => p.encode(dst, ctx),
            Self::Eof(p) => p.encode(dst),
            Self::Command(p) => p.encode(dst, ctx),
            Self::ColumnCount(p) => p.encode(dst),
            Self::ColumnDefinition(p) => p.encode(dst),
            Self::Row(p) => p.encode(dst),
            Self::Data(b) | Self::Malformed(b) => dst.extend_from_slice(b),
            Self::Cut(c) => dst.extend_from_slice(&c.shown),
        }
    }

    /// Convenience: the encoded payload.
    pub fn to_payload(&self, ctx: Ctx) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode(&mut v, ctx);
        v
    }
}

fn login_info(user: &[u8], db: Option<&[u8]>) -> String {
    let mut s = format!("Login Request user={}", String::from_utf8_lossy(user));
    if let Some(db) = db.filter(|d| !d.is_empty()) {
        s.push_str(" db=");
        s.push_str(&String::from_utf8_lossy(db));
    }
    s
}

/// Decodes the server's first packet: a v10 or v9 greeting, or an ERR in
/// its place.
pub fn decode_greeting(payload: &[u8]) -> Packet {
    let r = match payload.first() {
        Some(10) => HandshakeV10::decode(payload).map(Packet::Greeting),
        Some(9) => HandshakeV9::decode(payload).map(Packet::GreetingV9),
        Some(0xff) => ErrPacket::decode(payload).map(Packet::GreetingError),
        _ => return Packet::Malformed(payload.to_vec()),
    };
    r.unwrap_or_else(|_| Packet::Malformed(payload.to_vec()))
}

/// Decodes a client's login: SSLRequest, HandshakeResponse41 or 320.
pub fn decode_login(payload: &[u8]) -> Packet {
    use crate::flags::Capabilities;
    let caps = match payload.get(..2) {
        Some(b) => Capabilities::from_bits_retain(u32::from(u16::from_le_bytes([b[0], b[1]]))),
        None => return Packet::Malformed(payload.to_vec()),
    };
    let r = if caps.contains(Capabilities::PROTOCOL_41) {
        if payload.len() == LOGIN_HEADER_LEN && caps.contains(Capabilities::SSL) {
            SslRequest::decode(payload).map(Packet::SslRequest)
        } else {
            HandshakeResponse41::decode(payload).map(Packet::Login)
        }
    } else {
        HandshakeResponse320::decode(payload).map(Packet::Login320)
    };
    r.unwrap_or_else(|_| Packet::Malformed(payload.to_vec()))
}
