//! The server's first packet: Initial Handshake v10 (and v9).
//!
//! Layout (dev.mysql.com `page_protocol_connection_phase_packets_protocol_handshake_v10`):
//! protocol 10, server version NUL, connection id u32, 8 bytes of scramble,
//! a filler byte, lower capabilities u16, then optionally collation, status,
//! upper capabilities, scramble length, 10 reserved bytes (MariaDB puts its
//! extended capabilities in the last 4), the rest of the scramble
//! (max(13, len - 8) bytes) and the plugin name.
//!
//! Real-server quirks kept as tests (mysql_common): the plugin name may lack
//! its NUL (MySQL bug #59453); pre-4.1 servers stop after the reserved bytes;
//! MariaDB 10.x prefixes its version with `5.5.5-` for old clients.

use crate::WireError;
use crate::flags::{Capabilities, MariaDbCapabilities, StatusFlags};
use crate::reader::{Reader, put_nul_str};

/// Initial Handshake Packet, protocol version 10.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeV10 {
    /// Server version string as sent (MariaDB 10.x: `5.5.5-10.x.y-MariaDB`).
    pub server_version: Vec<u8>,
    /// The server's thread id for this connection.
    pub connection_id: u32,
    /// First 8 bytes of the scramble.
    pub auth_data_1: [u8; 8],
    /// The byte after the scramble part 1 (always 0 from real servers).
    pub filler: u8,
    /// Capabilities; the upper 16 bits are 0 when the server did not send them.
    pub capabilities: Capabilities,
    /// Everything after the lower capabilities, absent from very old servers.
    pub ext: Option<GreetingExt>,
}

/// The part of the greeting after the lower capability flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GreetingExt {
    /// Default collation id.
    pub collation: u8,
    /// Server status.
    pub status: StatusFlags,
    /// Length of the whole scramble, with CLIENT_PLUGIN_AUTH.
    pub auth_data_len: u8,
    /// The 10 reserved bytes; the last 4 are MariaDB's extended
    /// capabilities when CLIENT_LONG_PASSWORD is clear.
    pub reserved: [u8; 10],
    /// The rest of the scramble, usually with a trailing NUL.
    pub auth_data_2: Option<Vec<u8>>,
    /// The default auth plugin name and whether its NUL was present.
    pub auth_plugin: Option<(Vec<u8>, bool)>,
    /// Bytes after everything the layout accounts for.
    pub trailing: Vec<u8>,
}

/// A HandshakeV10 read in place: the fields borrow the payload. The owned
/// [`HandshakeV10`] is decoded through it (both accept and refuse the same
/// bytes); a passive observer that needs only the version, the connection
/// id and the capabilities reads this and allocates nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GreetingView<'a> {
    /// Server version.
    pub server_version: &'a [u8],
    /// Connection (thread) id.
    pub connection_id: u32,
    /// First 8 bytes of the scramble.
    pub auth_data_1: [u8; 8],
    /// Filler byte.
    pub filler: u8,
    /// Capabilities (both halves when present).
    pub capabilities: Capabilities,
    /// Collation, status, reserved bytes, the rest of the scramble, the
    /// plugin name and trailing bytes, when the greeting goes on.
    pub ext: Option<GreetingExtView<'a>>,
}

/// The part of [`GreetingView`] after the lower capabilities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GreetingExtView<'a> {
    /// Collation id.
    pub collation: u8,
    /// Status flags.
    pub status: StatusFlags,
    /// Announced scramble length.
    pub auth_data_len: u8,
    /// Reserved bytes.
    pub reserved: [u8; 10],
    /// The rest of the scramble.
    pub auth_data_2: Option<&'a [u8]>,
    /// Plugin name, and whether it was NUL-terminated.
    pub auth_plugin: Option<(&'a [u8], bool)>,
    /// Bytes after the plugin name.
    pub trailing: &'a [u8],
}

impl<'a> GreetingView<'a> {
    /// Reads an Initial Handshake v10.
    pub fn decode(buf: &'a [u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(buf);
        let off = r.offset();
        if r.u8("protocol version")? != 10 {
            return Err(WireError::Invalid {
                field: "protocol version",
                offset: off,
            });
        }
        let server_version = r.nul_str("server version")?;
        let connection_id = r.u32("connection id")?;
        let auth_data_1 = r.array::<8>("auth-plugin-data-part-1")?;
        let filler = r.u8("filler")?;
        let lower = r.u16("capability flags")?;
        let mut capabilities = Capabilities::from_bits_retain(u32::from(lower));
        let ext = if r.is_empty() {
            None
        } else {
            let collation = r.u8("character set")?;
            let status = StatusFlags::from_bits_retain(r.u16("status flags")?);
            let upper = r.u16("capability flags (upper)")?;
            capabilities =
                Capabilities::from_bits_retain(u32::from(lower) | u32::from(upper) << 16);
            let auth_data_len = r.u8("auth-plugin-data length")?;
            let reserved = r.array::<10>("reserved")?;
            let auth_data_2 =
                if capabilities.contains(Capabilities::SECURE_CONNECTION) && !r.is_empty() {
                    let n = (usize::from(auth_data_len).saturating_sub(8))
                        .max(13)
                        .min(r.remaining());
                    Some(r.bytes("auth-plugin-data-part-2", n)?)
                } else {
                    None
                };
            let auth_plugin = if capabilities.contains(Capabilities::PLUGIN_AUTH) && !r.is_empty() {
                let (name, nul) = r.nul_str_or_rest();
                Some((name, nul))
            } else {
                None
            };
            Some(GreetingExtView {
                collation,
                status,
                auth_data_len,
                reserved,
                auth_data_2,
                auth_plugin,
                trailing: r.rest(),
            })
        };
        r.expect_end("greeting")?;
        Ok(Self {
            server_version,
            connection_id,
            auth_data_1,
            filler,
            capabilities,
            ext,
        })
    }

    /// The owned packet.
    pub fn to_owned_packet(&self) -> HandshakeV10 {
        HandshakeV10 {
            server_version: self.server_version.to_vec(),
            connection_id: self.connection_id,
            auth_data_1: self.auth_data_1,
            filler: self.filler,
            capabilities: self.capabilities,
            ext: self.ext.as_ref().map(|e| GreetingExt {
                collation: e.collation,
                status: e.status,
                auth_data_len: e.auth_data_len,
                reserved: e.reserved,
                auth_data_2: e.auth_data_2.map(<[u8]>::to_vec),
                auth_plugin: e.auth_plugin.map(|(n, nul)| (n.to_vec(), nul)),
                trailing: e.trailing.to_vec(),
            }),
        }
    }
}

impl HandshakeV10 {
    /// Decodes a greeting payload whose first byte is 10.
    pub fn decode(buf: &[u8]) -> Result<Self, WireError> {
        GreetingView::decode(buf).map(|v| v.to_owned_packet())
    }

    /// Appends the payload.
    pub fn encode(&self, dst: &mut Vec<u8>) {
        dst.push(10);
        put_nul_str(dst, &self.server_version);
        dst.extend_from_slice(&self.connection_id.to_le_bytes());
        dst.extend_from_slice(&self.auth_data_1);
        dst.push(self.filler);
        let bits = self.capabilities.bits();
        dst.extend_from_slice(&(bits as u16).to_le_bytes());
        if let Some(e) = &self.ext {
            dst.push(e.collation);
            dst.extend_from_slice(&e.status.bits().to_le_bytes());
            dst.extend_from_slice(&((bits >> 16) as u16).to_le_bytes());
            dst.push(e.auth_data_len);
            dst.extend_from_slice(&e.reserved);
            if let Some(a) = &e.auth_data_2 {
                dst.extend_from_slice(a);
            }
            if let Some((name, nul)) = &e.auth_plugin {
                dst.extend_from_slice(name);
                if *nul {
                    dst.push(0);
                }
            }
            dst.extend_from_slice(&e.trailing);
        }
    }

    /// The whole scramble (nonce) without the trailing NUL, usually 20 bytes.
    pub fn scramble(&self) -> Vec<u8> {
        let mut s = self.auth_data_1.to_vec();
        if let Some(a) = self.ext.as_ref().and_then(|e| e.auth_data_2.as_ref()) {
            let a = a.strip_suffix(&[0]).unwrap_or(a);
            s.extend_from_slice(a);
        }
        s
    }

    /// The server's default auth plugin, if it named one.
    pub fn auth_plugin(&self) -> Option<&[u8]> {
        self.ext
            .as_ref()?
            .auth_plugin
            .as_ref()
            .map(|(n, _)| n.as_slice())
    }

    /// MariaDB's extended capabilities, present when CLIENT_LONG_PASSWORD
    /// (CLIENT_MYSQL) is clear.
    pub fn mariadb_capabilities(&self) -> Option<MariaDbCapabilities> {
        let e = self.ext.as_ref()?;
        if self.capabilities.contains(Capabilities::LONG_PASSWORD) {
            return None;
        }
        let r = &e.reserved;
        Some(MariaDbCapabilities::from_bits_retain(u32::from_le_bytes([
            r[6], r[7], r[8], r[9],
        ])))
    }

    /// True for MariaDB servers (version prefix `5.5.5-`, a `MariaDB` version,
    /// or extended capabilities).
    pub fn is_mariadb(&self) -> bool {
        self.server_version.starts_with(b"5.5.5-")
            || self.server_version.windows(7).any(|w| w == b"MariaDB")
            || self.mariadb_capabilities().is_some()
    }

    /// The version without MariaDB's `5.5.5-` compatibility prefix, as
    /// Wireshark shows it.
    pub fn display_version(&self) -> String {
        let v = self
            .server_version
            .strip_prefix(b"5.5.5-")
            .unwrap_or(&self.server_version);
        String::from_utf8_lossy(v).into_owned()
    }
}

/// Initial Handshake Packet, protocol version 9 (MySQL before 3.21).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeV9 {
    /// Server version string.
    pub server_version: Vec<u8>,
    /// Thread id.
    pub connection_id: u32,
    /// The scramble, without its NUL.
    pub scramble: Vec<u8>,
}

impl HandshakeV9 {
    /// Decodes a greeting payload whose first byte is 9.
    pub fn decode(buf: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(buf);
        if r.u8("protocol version")? != 9 {
            return Err(WireError::Invalid {
                field: "protocol version",
                offset: 0,
            });
        }
        let server_version = r.nul_str("server version")?.to_vec();
        let connection_id = r.u32("connection id")?;
        let scramble = r.nul_str("scramble")?.to_vec();
        r.expect_end("greeting v9")?;
        Ok(Self {
            server_version,
            connection_id,
            scramble,
        })
    }

    /// Appends the payload.
    pub fn encode(&self, dst: &mut Vec<u8>) {
        dst.push(9);
        put_nul_str(dst, &self.server_version);
        dst.extend_from_slice(&self.connection_id.to_le_bytes());
        put_nul_str(dst, &self.scramble);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// MariaDB 10.11 greeting as recorded in fixtures/ (bytes written out
    /// here so the quirk tests do not depend on a capture).
    fn mariadb_greeting() -> Vec<u8> {
        let mut g = HandshakeV10 {
            server_version: b"5.5.5-10.11.6-MariaDB-0+deb12u1".to_vec(),
            connection_id: 31,
            auth_data_1: *b"abcdefgh",
            filler: 0,
            capabilities: Capabilities::from_bits_retain(0xa1fe_f7fe),
            ext: Some(GreetingExt {
                collation: 45,
                status: StatusFlags::AUTOCOMMIT,
                auth_data_len: 21,
                reserved: [0, 0, 0, 0, 0, 0, 0x1d, 0, 0, 0],
                auth_data_2: Some(b"ijklmnopqrst\0".to_vec()),
                auth_plugin: Some((b"mysql_native_password".to_vec(), true)),
                trailing: vec![],
            }),
        };
        let mut b = Vec::new();
        g.encode(&mut b);
        g.ext.as_mut().unwrap().trailing.clear();
        b
    }

    #[test]
    fn mariadb_extended_caps_and_version_prefix() {
        let g = HandshakeV10::decode(&mariadb_greeting()).unwrap();
        assert!(g.is_mariadb());
        assert_eq!(g.display_version(), "10.11.6-MariaDB-0+deb12u1");
        let m = g.mariadb_capabilities().unwrap();
        assert!(
            m.contains(MariaDbCapabilities::PROGRESS | MariaDbCapabilities::STMT_BULK_OPERATIONS)
        );
        assert_eq!(g.scramble(), b"abcdefghijklmnopqrst");
    }

    #[test]
    fn plugin_name_without_nul_round_trips() {
        let mut b = mariadb_greeting();
        b.pop();
        let g = HandshakeV10::decode(&b).unwrap();
        assert_eq!(g.auth_plugin(), Some(&b"mysql_native_password"[..]));
        let mut out = Vec::new();
        g.encode(&mut out);
        assert_eq!(out, b);
    }

    #[test]
    fn truncated_greeting_names_the_field() {
        let b = mariadb_greeting();
        let err = HandshakeV10::decode(&b[..40]).unwrap_err();
        assert!(
            matches!(
                err,
                WireError::Truncated {
                    field: "connection id" | "auth-plugin-data-part-1" | "reserved",
                    ..
                }
            ),
            "{err}"
        );
    }
}
