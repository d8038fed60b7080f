//! Authentication exchange packets after the login request.
//!
//! The first byte of a connection-phase packet is ambiguous on its own:
//! server `0xFE` is an AuthSwitchRequest (or, as a lone byte, the pre-4.1
//! "use old password" request), server `0x01` is AuthMoreData, server `0x02`
//! is AuthNextFactor (multi-factor), while client packets in the same phase
//! are opaque plugin data in which `0x01` / `0x02` ask for the server's RSA
//! key. The observer resolves them by direction and state; these types only
//! carry the bytes.

use crate::WireError;
use crate::reader::{Reader, put_nul_str};

/// AuthSwitchRequest (0xFE): the server asks for another plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSwitchRequest {
    /// Plugin to switch to.
    pub plugin: Vec<u8>,
    /// Plugin data, usually a new scramble with a trailing NUL.
    pub data: Vec<u8>,
}

impl AuthSwitchRequest {
    /// Decodes the payload (first byte 0xFE, longer than one byte).
    pub fn decode(buf: &[u8]) -> Result<Self, WireError> {
        let (plugin, data) = decode_plugin_and_data(buf, 0xfe)?;
        Ok(Self { plugin, data })
    }

    /// Appends the payload.
    pub fn encode(&self, dst: &mut Vec<u8>) {
        encode_plugin_and_data(dst, 0xfe, &self.plugin, &self.data);
    }

    /// The scramble in the plugin data. The password plugins' 20-byte
    /// scramble comes with a trailing NUL that is not part of it; other
    /// plugins' data is taken whole: client_ed25519's 32-byte nonce is
    /// random bytes and ends in 0x00 once in 256 switches, a byte the
    /// signature must cover.
    pub fn scramble(&self) -> &[u8] {
        match self.data.as_slice() {
            [scramble @ .., 0] if scramble.len() == 20 => scramble,
            data => data,
        }
    }
}

/// AuthNextFactor (0x02, server): the next factor of a multi-factor login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthNextFactor {
    /// Plugin for the next factor.
    pub plugin: Vec<u8>,
    /// Plugin data.
    pub data: Vec<u8>,
}

impl AuthNextFactor {
    /// Decodes the payload (first byte 0x02).
    pub fn decode(buf: &[u8]) -> Result<Self, WireError> {
        let (plugin, data) = decode_plugin_and_data(buf, 0x02)?;
        Ok(Self { plugin, data })
    }

    /// Appends the payload.
    pub fn encode(&self, dst: &mut Vec<u8>) {
        encode_plugin_and_data(dst, 0x02, &self.plugin, &self.data);
    }
}

/// The layout AuthSwitchRequest and AuthNextFactor share: a status byte,
/// the plugin's name ending in NUL, then the plugin's data to the end.
fn decode_plugin_and_data(buf: &[u8], status: u8) -> Result<(Vec<u8>, Vec<u8>), WireError> {
    let mut r = Reader::new(buf);
    if r.u8("status")? != status {
        return Err(WireError::Invalid {
            field: "status",
            offset: 0,
        });
    }
    let plugin = r.nul_str("plugin name")?.to_vec();
    Ok((plugin, r.rest().to_vec()))
}

fn encode_plugin_and_data(dst: &mut Vec<u8>, status: u8, plugin: &[u8], data: &[u8]) {
    dst.push(status);
    put_nul_str(dst, plugin);
    dst.extend_from_slice(data);
}

/// What an AuthMoreData payload means, where the protocol defines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoreDataMeaning {
    /// caching_sha2_password: the cached scramble matched (0x03).
    FastAuthSuccess,
    /// caching_sha2_password: send the password over TLS or RSA (0x04).
    PerformFullAuthentication,
    /// The server's RSA public key in PEM.
    PublicKey,
    /// Plugin data this crate does not interpret.
    Other,
}

/// AuthMoreData (0x01, server): extra plugin data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthMoreData {
    /// The data after the 0x01 byte.
    pub data: Vec<u8>,
}

impl AuthMoreData {
    /// Decodes the payload (first byte 0x01).
    pub fn decode(buf: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(buf);
        if r.u8("status")? != 0x01 {
            return Err(WireError::Invalid {
                field: "status",
                offset: 0,
            });
        }
        Ok(Self {
            data: r.rest().to_vec(),
        })
    }

    /// Appends the payload.
    pub fn encode(&self, dst: &mut Vec<u8>) {
        dst.push(0x01);
        dst.extend_from_slice(&self.data);
    }

    /// What the data means.
    pub fn meaning(&self) -> MoreDataMeaning {
        match self.data.as_slice() {
            [3] => MoreDataMeaning::FastAuthSuccess,
            [4] => MoreDataMeaning::PerformFullAuthentication,
            d if d.starts_with(b"-----BEGIN") => MoreDataMeaning::PublicKey,
            _ => MoreDataMeaning::Other,
        }
    }
}

/// What a client's auth data packet is, judged by its size and content
/// (the content itself is secret and never printed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuthKind {
    /// A 1-byte request for the server's RSA public key (0x02 for
    /// caching_sha2_password, 0x01 for sha256_password).
    PublicKeyRequest,
    /// An RSA-encrypted password (the key's modulus size).
    EncryptedPassword,
    /// A scramble or other plugin response.
    Response,
    /// An empty response.
    Empty,
}

/// Client-side auth data: AuthSwitchResponse or a later round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAuthData {
    /// The raw plugin data. Secret: never print or log it.
    pub data: Vec<u8>,
}

impl ClientAuthData {
    /// Classifies the packet without looking beyond what is public: its
    /// length, and the single byte of a key request.
    pub fn kind(&self) -> ClientAuthKind {
        match self.data.as_slice() {
            [] => ClientAuthKind::Empty,
            [1] | [2] => ClientAuthKind::PublicKeyRequest,
            d if matches!(d.len(), 128 | 256 | 384 | 512) => ClientAuthKind::EncryptedPassword,
            _ => ClientAuthKind::Response,
        }
    }

    /// Decodes the payload (all bytes are data).
    pub fn decode(buf: &[u8]) -> Result<Self, WireError> {
        Ok(Self {
            data: Reader::new(buf).rest().to_vec(),
        })
    }

    /// Appends the payload.
    pub fn encode(&self, dst: &mut Vec<u8>) {
        dst.extend_from_slice(&self.data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scramble_keeps_every_byte_but_the_password_plugins_nul() {
        let mut native = b"abcdefghijklmnopqrst".to_vec();
        native.push(0);
        let sw = AuthSwitchRequest {
            plugin: b"mysql_native_password".to_vec(),
            data: native,
        };
        assert_eq!(sw.scramble(), b"abcdefghijklmnopqrst");
        // An ed25519 nonce whose last random byte is 0x00.
        let mut nonce = [7u8; 32];
        nonce[31] = 0;
        let sw = AuthSwitchRequest {
            plugin: b"client_ed25519".to_vec(),
            data: nonce.to_vec(),
        };
        assert_eq!(sw.scramble(), nonce);
    }
}
