//! The active, client-side handshake machine (sans-IO).
//!
//! The driver owns the socket: it feeds each server packet to
//! [`ClientHandshake::on_packet`] and performs the returned actions (write
//! bytes, start TLS, stop). The machine chooses auth responses, tracks
//! sequence ids and knows which failures the official client would report
//! with which `CR_*` code.
//!
//! ```text
//!  ExpectGreeting --greeting--> [TLS wanted & offered] --SSLRequest--> ExpectTls
//!        |                           |                                   | tls_established()
//!        |                           +----------login-------------------+
//!        |                                                               v
//!        +--ERR--> Finished            ExpectAuthResult <--auth data-- (switch / more data)
//!                                      |  OK -> Finished(ok)   ERR -> Finished(err)
//! ```

use std::fmt;

use bytes::BytesMut;

use crate::WireError;
use crate::auth;
use crate::codes::plugin;
use crate::flags::Capabilities;
use crate::frame::{RawPacket, write_packet};
use crate::packets::*;

/// A password that never prints.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// Wraps a password.
    pub fn new(b: impl Into<Vec<u8>>) -> Self {
        Self(b.into())
    }
    /// The bytes, for the auth functions only.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Whether the client asks for TLS (the verification policy is the
/// driver's; this only decides whether to send an SSLRequest).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsWanted {
    /// Never.
    No,
    /// If the server offers CLIENT_SSL.
    IfOffered,
    /// Always; fail if the server does not offer it.
    Required,
}

/// What the client sends.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// User name.
    pub user: String,
    /// Password.
    pub password: Secret,
    /// Initial database.
    pub database: Option<String>,
    /// First-choice auth plugin; `None` uses the server's default when this
    /// crate supports it, else mysql_native_password.
    pub auth_plugin: Option<String>,
    /// TLS policy.
    pub tls: TlsWanted,
    /// The server's RSA public key (PEM), if known in advance.
    pub server_public_key: Option<Vec<u8>>,
    /// Ask the server for its RSA key when needed (mysql's
    /// --get-server-public-key).
    pub get_server_public_key: bool,
    /// Connection attributes.
    pub attributes: Vec<(String, String)>,
    /// Collation id (45 = utf8mb4_general_ci).
    pub collation: u8,
}

impl ClientConfig {
    /// A config with defaults for everything but the credentials.
    pub fn new(user: impl Into<String>, password: Secret) -> Self {
        Self {
            user: user.into(),
            password,
            database: None,
            auth_plugin: None,
            tls: TlsWanted::No,
            server_public_key: None,
            get_server_public_key: false,
            attributes: vec![("_client_name".into(), "handshake-probe".into())],
            collation: 45,
        }
    }
}

/// Why the handshake stopped on the client side.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// A server packet did not decode.
    #[error("malformed packet from server: {0}")]
    Malformed(#[from] WireError),
    /// The server speaks a protocol this client cannot (CR_VERSION_ERROR 2007).
    #[error("protocol version {0} is not supported")]
    ProtocolVersion(u8),
    /// TLS was required but the server does not offer it (CR_SSL_CONNECTION_ERROR 2026).
    #[error("TLS required but the server does not offer CLIENT_SSL")]
    TlsNotOffered,
    /// The server asked for a plugin this client does not implement
    /// (CR_AUTH_PLUGIN_CANNOT_LOAD 2059).
    #[error("authentication plugin '{0}' cannot be loaded")]
    UnsupportedPlugin(String),
    /// The plugin cannot continue (CR_AUTH_PLUGIN_ERR 2061), e.g.
    /// caching_sha2 full authentication over plain TCP without a key.
    #[error("authentication plugin '{plugin}' reported error: {reason}")]
    PluginError {
        /// The plugin.
        plugin: String,
        /// Why.
        reason: &'static str,
    },
    /// The server sent something the state does not allow (CR_MALFORMED_PACKET 2027).
    #[error("unexpected {0} from server")]
    Unexpected(&'static str),
}

impl HandshakeError {
    /// The `CR_*` code libmysqlclient would report.
    pub fn client_error_code(&self) -> u16 {
        match self {
            Self::Malformed(_) | Self::Unexpected(_) => 2027,
            Self::ProtocolVersion(_) => 2007,
            Self::TlsNotOffered => 2026,
            Self::UnsupportedPlugin(_) => 2059,
            Self::PluginError { .. } => 2061,
        }
    }
}

/// What the driver must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientAction {
    /// Write these framed bytes.
    Send(BytesMut),
    /// Start TLS now (after the SSLRequest was written), then call
    /// [`ClientHandshake::tls_established`].
    StartTls,
    /// The server accepted the login.
    Done(OkPacket),
    /// The server refused (ERR in place of the greeting when `greeting` is
    /// true, else after the login).
    Refused {
        /// The ERR.
        err: ErrPacket,
        /// Whether it replaced the greeting.
        greeting: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    ExpectGreeting,
    ExpectTls,
    ExpectAuthResult,
    Finished,
}

/// The client-side handshake.
#[derive(Debug)]
pub struct ClientHandshake {
    cfg: ClientConfig,
    state: State,
    seq: u8,
    greeting: Option<HandshakeV10>,
    nonce: Vec<u8>,
    plugin: String,
    tls: bool,
    caps: Capabilities,
    auth_rounds: u32,
}

/// Capabilities this client asks for (intersected with the server's).
fn client_caps() -> Capabilities {
    Capabilities::LONG_PASSWORD
        | Capabilities::LONG_FLAG
        | Capabilities::PROTOCOL_41
        | Capabilities::TRANSACTIONS
        | Capabilities::SECURE_CONNECTION
        | Capabilities::MULTI_RESULTS
        | Capabilities::PLUGIN_AUTH
        | Capabilities::PLUGIN_AUTH_LENENC_CLIENT_DATA
        | Capabilities::CONNECT_ATTRS
        | Capabilities::DEPRECATE_EOF
}

fn supported(p: &str) -> bool {
    matches!(
        p,
        plugin::MYSQL_NATIVE_PASSWORD
            | plugin::CACHING_SHA2_PASSWORD
            | plugin::SHA256_PASSWORD
            | plugin::CLIENT_ED25519
            | plugin::MYSQL_CLEAR_PASSWORD
    )
}

impl ClientHandshake {
    /// A handshake that waits for the greeting.
    pub fn new(cfg: ClientConfig) -> Self {
        Self {
            cfg,
            state: State::ExpectGreeting,
            seq: 0,
            greeting: None,
            nonce: Vec::new(),
            plugin: String::new(),
            tls: false,
            caps: Capabilities::empty(),
            auth_rounds: 0,
        }
    }

    /// The server's greeting, once received.
    pub fn greeting(&self) -> Option<&HandshakeV10> {
        self.greeting.as_ref()
    }

    /// Capabilities both sides agreed on.
    pub fn negotiated(&self) -> Capabilities {
        self.caps
    }

    /// Auth packets the client sent after the login (switch responses,
    /// key requests, RSA blobs).
    pub fn auth_rounds(&self) -> u32 {
        self.auth_rounds
    }

    /// The auth plugin currently in use.
    pub fn plugin(&self) -> &str {
        &self.plugin
    }

    /// True once OK or ERR ended the handshake.
    pub fn is_finished(&self) -> bool {
        self.state == State::Finished
    }

    fn frame(&mut self, payload: &[u8]) -> BytesMut {
        let mut b = BytesMut::with_capacity(payload.len() + 4);
        self.seq = write_packet(&mut b, self.seq.wrapping_add(1), payload).wrapping_sub(1);
        b
    }

    /// Handles one server packet.
    pub fn on_packet(&mut self, raw: &RawPacket) -> Result<Vec<ClientAction>, HandshakeError> {
        self.seq = raw.seq;
        let p = &raw.payload[..];
        match self.state {
            State::ExpectGreeting => self.on_greeting(p),
            State::ExpectAuthResult => self.on_auth_result(p),
            State::ExpectTls => Err(HandshakeError::Unexpected("packet before TLS started")),
            State::Finished => Err(HandshakeError::Unexpected(
                "packet after the handshake ended",
            )),
        }
    }

    fn on_greeting(&mut self, p: &[u8]) -> Result<Vec<ClientAction>, HandshakeError> {
        match p.first() {
            Some(0xff) => {
                self.state = State::Finished;
                let err = ErrPacket::decode(p)?;
                return Ok(vec![ClientAction::Refused {
                    err,
                    greeting: true,
                }]);
            }
            Some(10) => {}
            Some(v) => return Err(HandshakeError::ProtocolVersion(*v)),
            None => return Err(HandshakeError::Unexpected("empty greeting")),
        }
        let g = HandshakeV10::decode(p)?;
        self.nonce = g.scramble();
        let server_caps = g.capabilities;
        let mut caps = client_caps() & server_caps | Capabilities::PROTOCOL_41;
        if self.cfg.database.is_some() {
            caps |= Capabilities::CONNECT_WITH_DB & server_caps;
        }
        let offered = server_caps.contains(Capabilities::SSL);
        let want_tls = match self.cfg.tls {
            TlsWanted::No => false,
            TlsWanted::IfOffered => offered,
            TlsWanted::Required if !offered => return Err(HandshakeError::TlsNotOffered),
            TlsWanted::Required => true,
        };
        if want_tls {
            caps |= Capabilities::SSL;
        }
        // MariaDB servers clear CLIENT_MYSQL; answering with it clear too
        // makes the reserved bytes carry (empty) extended capabilities.
        if !server_caps.contains(Capabilities::LONG_PASSWORD) {
            caps.remove(Capabilities::LONG_PASSWORD);
        }
        self.caps = caps;
        self.plugin = match (&self.cfg.auth_plugin, g.auth_plugin()) {
            (Some(p), _) => p.clone(),
            (None, Some(s)) if supported(&String::from_utf8_lossy(s)) => {
                String::from_utf8_lossy(s).into_owned()
            }
            _ => plugin::MYSQL_NATIVE_PASSWORD.to_string(),
        };
        self.greeting = Some(g);
        if want_tls {
            let req = SslRequest {
                header: self.header(),
            };
            let mut payload = Vec::new();
            req.encode(&mut payload);
            self.state = State::ExpectTls;
            Ok(vec![
                ClientAction::Send(self.frame(&payload)),
                ClientAction::StartTls,
            ])
        } else {
            self.login()
        }
    }

    fn header(&self) -> LoginHeader {
        let mariadb = (!self.caps.contains(Capabilities::LONG_PASSWORD))
            .then(crate::flags::MariaDbCapabilities::empty);
        LoginHeader::new(self.caps, 16 * 1024 * 1024, self.cfg.collation, mariadb)
    }

    /// Call after the TLS handshake completed; returns the login to send
    /// over TLS.
    pub fn tls_established(&mut self) -> Result<Vec<ClientAction>, HandshakeError> {
        if self.state != State::ExpectTls {
            return Err(HandshakeError::Unexpected("TLS start"));
        }
        self.tls = true;
        self.login()
    }

    fn login(&mut self) -> Result<Vec<ClientAction>, HandshakeError> {
        let plugin = self.plugin.clone();
        let auth_response = self.first_response(&plugin)?;
        let login = HandshakeResponse41 {
            header: self.header(),
            user: self.cfg.user.as_bytes().to_vec(),
            auth_response,
            database: self
                .cfg
                .database
                .as_ref()
                .filter(|_| self.caps.contains(Capabilities::CONNECT_WITH_DB))
                .map(|d| d.as_bytes().to_vec()),
            auth_plugin: self
                .caps
                .contains(Capabilities::PLUGIN_AUTH)
                .then(|| plugin.as_bytes().to_vec()),
            attributes: self.caps.contains(Capabilities::CONNECT_ATTRS).then(|| {
                self.cfg
                    .attributes
                    .iter()
                    .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
                    .collect()
            }),
            zstd_level: None,
        };
        let mut payload = Vec::new();
        login.encode(&mut payload);
        self.state = State::ExpectAuthResult;
        Ok(vec![ClientAction::Send(self.frame(&payload))])
    }

    /// The response for `plugin` to the current nonce, as sent in the login
    /// or in an AuthSwitchResponse.
    fn first_response(&self, plugin_name: &str) -> Result<Vec<u8>, HandshakeError> {
        let pw = self.cfg.password.expose();
        Ok(match plugin_name {
            plugin::MYSQL_NATIVE_PASSWORD => auth::native_password(pw, &self.nonce),
            plugin::CACHING_SHA2_PASSWORD => auth::caching_sha2_password(pw, &self.nonce),
            plugin::CLIENT_ED25519 => auth::client_ed25519(pw, &self.nonce),
            plugin::SHA256_PASSWORD => {
                if pw.is_empty() {
                    vec![0]
                } else if self.tls {
                    auth::cleartext_password(pw)
                } else if let Some(key) = &self.cfg.server_public_key {
                    auth::rsa_encrypt_password(pw, &self.nonce, key)
                        .map_err(|_| self.plugin_err("cannot encrypt with the server's key"))?
                } else {
                    vec![1]
                }
            }
            plugin::MYSQL_CLEAR_PASSWORD => {
                if !self.tls {
                    return Err(self.plugin_err("cleartext password refused without TLS"));
                }
                auth::cleartext_password(pw)
            }
            other => return Err(HandshakeError::UnsupportedPlugin(other.to_string())),
        })
    }

    fn plugin_err(&self, reason: &'static str) -> HandshakeError {
        HandshakeError::PluginError {
            plugin: self.plugin.clone(),
            reason,
        }
    }

    fn send_auth(&mut self, data: &[u8]) -> Vec<ClientAction> {
        self.auth_rounds += 1;
        vec![ClientAction::Send(self.frame(data))]
    }

    fn on_auth_result(&mut self, p: &[u8]) -> Result<Vec<ClientAction>, HandshakeError> {
        match p.first() {
            Some(0x00) => {
                self.state = State::Finished;
                let ok = OkPacket::decode(p, Ctx { caps: self.caps })?;
                Ok(vec![ClientAction::Done(ok)])
            }
            Some(0xff) => {
                self.state = State::Finished;
                let err = ErrPacket::decode(p)?;
                Ok(vec![ClientAction::Refused {
                    err,
                    greeting: false,
                }])
            }
            Some(0xfe) if p.len() == 1 => Err(HandshakeError::UnsupportedPlugin(
                plugin::MYSQL_OLD_PASSWORD.into(),
            )),
            Some(0xfe) => {
                let sw = AuthSwitchRequest::decode(p)?;
                self.plugin = String::from_utf8_lossy(&sw.plugin).into_owned();
                self.nonce = sw.scramble().to_vec();
                let resp = self.first_response(&self.plugin.clone())?;
                Ok(self.send_auth(&resp))
            }
            Some(0x01) => {
                let more = AuthMoreData::decode(p)?;
                match (self.plugin.as_str(), more.meaning()) {
                    (plugin::CACHING_SHA2_PASSWORD, MoreDataMeaning::FastAuthSuccess) => Ok(vec![]),
                    (plugin::CACHING_SHA2_PASSWORD, MoreDataMeaning::PerformFullAuthentication) => {
                        let pw = self.cfg.password.expose().to_vec();
                        if self.tls {
                            Ok(self.send_auth(&auth::cleartext_password(&pw)))
                        } else if let Some(key) = self.cfg.server_public_key.clone() {
                            let blob = auth::rsa_encrypt_password(&pw, &self.nonce, &key).map_err(
                                |_| self.plugin_err("cannot encrypt with the server's key"),
                            )?;
                            Ok(self.send_auth(&blob))
                        } else if self.cfg.get_server_public_key {
                            Ok(self.send_auth(&[2]))
                        } else {
                            Err(self.plugin_err("Authentication requires secure connection."))
                        }
                    }
                    (
                        plugin::CACHING_SHA2_PASSWORD | plugin::SHA256_PASSWORD,
                        MoreDataMeaning::PublicKey,
                    ) => {
                        let pw = self.cfg.password.expose().to_vec();
                        let blob = auth::rsa_encrypt_password(&pw, &self.nonce, &more.data)
                            .map_err(|_| self.plugin_err("cannot use the server's public key"))?;
                        Ok(self.send_auth(&blob))
                    }
                    _ => Err(HandshakeError::Unexpected("AuthMoreData")),
                }
            }
            Some(0x02) => Err(HandshakeError::UnsupportedPlugin(
                String::from_utf8_lossy(&AuthNextFactor::decode(p)?.plugin).into_owned(),
            )),
            _ => Err(HandshakeError::Unexpected("packet during authentication")),
        }
    }
}
