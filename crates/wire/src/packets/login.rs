//! The client's login: SSLRequest, HandshakeResponse41 and HandshakeResponse320.
//!
//! A 4.1+ client starts with a 32-byte fixed part: capabilities u32, max
//! packet size u32, collation u8 and 23 reserved bytes (MariaDB puts its
//! extended capabilities in the last 4 when CLIENT_LONG_PASSWORD is clear).
//! If that is all and CLIENT_SSL is set, it is an SSLRequest and TLS starts.
//! Otherwise the user name, the auth response (length-encoded with
//! PLUGIN_AUTH_LENENC_CLIENT_DATA, 1-byte length with SECURE_CONNECTION,
//! else NUL-terminated), then the database, plugin name, connection
//! attributes and zstd level follow, each only when its flag is set.
//!
//! Optional fields are `Option`s that record presence on the wire rather than
//! the flag, because real clients set flags and then omit the field.

use crate::WireError;
use crate::flags::{Capabilities, MariaDbCapabilities};
use crate::reader::{Reader, put_lenenc, put_lenenc_bytes, put_nul_str, put_u24};

/// Length of the fixed part (and of a whole SSLRequest).
pub const LOGIN_HEADER_LEN: usize = 32;

/// The 32-byte fixed part of SSLRequest and HandshakeResponse41.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginHeader {
    /// Client capabilities.
    pub capabilities: Capabilities,
    /// Largest packet the client wants to receive.
    pub max_packet: u32,
    /// Client collation id.
    pub collation: u8,
    /// Reserved bytes; the last 4 carry MariaDB extended capabilities.
    pub reserved: [u8; 23],
}

impl LoginHeader {
    fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(Self {
            capabilities: Capabilities::from_bits_retain(r.u32("client capabilities")?),
            max_packet: r.u32("max packet size")?,
            collation: r.u8("character set")?,
            reserved: r.array::<23>("reserved")?,
        })
    }

    fn write(&self, dst: &mut Vec<u8>) {
        dst.extend_from_slice(&self.capabilities.bits().to_le_bytes());
        dst.extend_from_slice(&self.max_packet.to_le_bytes());
        dst.push(self.collation);
        dst.extend_from_slice(&self.reserved);
    }

    /// A header with the given capabilities and MariaDB extended
    /// capabilities (only sent when CLIENT_LONG_PASSWORD is clear).
    pub fn new(
        capabilities: Capabilities,
        max_packet: u32,
        collation: u8,
        mariadb: Option<MariaDbCapabilities>,
    ) -> Self {
        let mut reserved = [0u8; 23];
        if let Some(m) = mariadb {
            reserved[19..].copy_from_slice(&m.bits().to_le_bytes());
        }
        Self {
            capabilities,
            max_packet,
            collation,
            reserved,
        }
    }

    /// MariaDB extended capabilities, when CLIENT_LONG_PASSWORD is clear.
    pub fn mariadb_capabilities(&self) -> Option<MariaDbCapabilities> {
        if self.capabilities.contains(Capabilities::LONG_PASSWORD) {
            return None;
        }
        let r = &self.reserved;
        Some(MariaDbCapabilities::from_bits_retain(u32::from_le_bytes([
            r[19], r[20], r[21], r[22],
        ])))
    }
}

/// SSLRequest: the fixed part alone, with CLIENT_SSL set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SslRequest {
    /// The fixed part.
    pub header: LoginHeader,
}

impl SslRequest {
    /// Decodes a 32-byte SSLRequest.
    pub fn decode(buf: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(buf);
        let header = LoginHeader::read(&mut r)?;
        r.expect_end("SSLRequest")?;
        Ok(Self { header })
    }

    /// Appends the payload.
    pub fn encode(&self, dst: &mut Vec<u8>) {
        self.header.write(dst);
    }
}

/// HandshakeResponse41.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeResponse41 {
    /// The fixed part.
    pub header: LoginHeader,
    /// User name.
    pub user: Vec<u8>,
    /// Plugin-specific auth response (a scramble; never print it).
    pub auth_response: Vec<u8>,
    /// Initial database (CLIENT_CONNECT_WITH_DB).
    pub database: Option<Vec<u8>>,
    /// Client auth plugin name (CLIENT_PLUGIN_AUTH).
    pub auth_plugin: Option<Vec<u8>>,
    /// Connection attributes (CLIENT_CONNECT_ATTRS), in wire order.
    pub attributes: Option<Vec<(Vec<u8>, Vec<u8>)>>,
    /// zstd compression level (CLIENT_ZSTD_COMPRESSION_ALGORITHM).
    pub zstd_level: Option<u8>,
}

/// A HandshakeResponse41 read in place: the fields borrow the payload.
/// The owned [`HandshakeResponse41`] is decoded through it, so both accept
/// and refuse exactly the same bytes; a passive observer that only needs
/// the capabilities and a few names reads this and allocates nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginView<'a> {
    /// The fixed part.
    pub header: LoginHeader,
    /// User name.
    pub user: &'a [u8],
    /// Plugin-specific auth response (a scramble; never print it).
    pub auth_response: &'a [u8],
    /// Initial database.
    pub database: Option<&'a [u8]>,
    /// Client auth plugin name.
    pub auth_plugin: Option<&'a [u8]>,
    /// The connection attributes block (its pairs already checked).
    pub attributes: Option<&'a [u8]>,
    /// zstd compression level.
    pub zstd_level: Option<u8>,
}

impl<'a> LoginView<'a> {
    /// Reads a login request; `buf` must be longer than 32 bytes.
    pub fn decode(buf: &'a [u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(buf);
        let header = LoginHeader::read(&mut r)?;
        let caps = header.capabilities;
        let user = r.nul_str("username")?;
        let auth_response = if caps.contains(Capabilities::PLUGIN_AUTH_LENENC_CLIENT_DATA) {
            r.lenenc_bytes("auth response")?
        } else if caps.contains(Capabilities::SECURE_CONNECTION) {
            let n = r.u8("auth response length")?;
            r.bytes("auth response", usize::from(n))?
        } else {
            r.nul_str("auth response")?
        };
        let database = if caps.contains(Capabilities::CONNECT_WITH_DB) && !r.is_empty() {
            Some(r.nul_str("database")?)
        } else {
            None
        };
        let auth_plugin = if caps.contains(Capabilities::PLUGIN_AUTH) && !r.is_empty() {
            Some(r.nul_str("client plugin name")?)
        } else {
            None
        };
        let attributes = if caps.contains(Capabilities::CONNECT_ATTRS) && !r.is_empty() {
            let block = r.lenenc_bytes("connection attributes")?;
            for pair in attribute_pairs(block) {
                pair?;
            }
            Some(block)
        } else {
            None
        };
        let zstd_level = if caps.contains(Capabilities::ZSTD_COMPRESSION_ALGORITHM) && !r.is_empty()
        {
            Some(r.u8("zstd compression level")?)
        } else {
            None
        };
        r.expect_end("login request")?;
        Ok(Self {
            header,
            user,
            auth_response,
            database,
            auth_plugin,
            attributes,
            zstd_level,
        })
    }

    /// The owned packet.
    pub fn to_owned_packet(&self) -> HandshakeResponse41 {
        HandshakeResponse41 {
            header: self.header.clone(),
            user: self.user.to_vec(),
            auth_response: self.auth_response.to_vec(),
            database: self.database.map(<[u8]>::to_vec),
            auth_plugin: self.auth_plugin.map(<[u8]>::to_vec),
            attributes: self.attributes.map(|block| {
                attribute_pairs(block)
                    .filter_map(Result::ok)
                    .map(|(k, v)| (k.to_vec(), v.to_vec()))
                    .collect()
            }),
            zstd_level: self.zstd_level,
        }
    }
}

/// The name/value pairs of a connection attributes block.
fn attribute_pairs(block: &[u8]) -> impl Iterator<Item = Result<(&[u8], &[u8]), WireError>> {
    let mut a = Reader::new(block);
    std::iter::from_fn(move || {
        if a.is_empty() {
            return None;
        }
        let pair = a
            .lenenc_bytes("attribute name")
            .and_then(|k| Ok((k, a.lenenc_bytes("attribute value")?)));
        if pair.is_err() {
            a.rest();
        }
        Some(pair)
    })
}

impl HandshakeResponse41 {
    /// Decodes a login request; `buf` must be longer than 32 bytes.
    pub fn decode(buf: &[u8]) -> Result<Self, WireError> {
        LoginView::decode(buf).map(|v| v.to_owned_packet())
    }

    /// Appends the payload.
    pub fn encode(&self, dst: &mut Vec<u8>) {
        self.header.write(dst);
        let caps = self.header.capabilities;
        put_nul_str(dst, &self.user);
        if caps.contains(Capabilities::PLUGIN_AUTH_LENENC_CLIENT_DATA) {
            put_lenenc_bytes(dst, &self.auth_response);
        } else if caps.contains(Capabilities::SECURE_CONNECTION) {
            dst.push(self.auth_response.len() as u8);
            dst.extend_from_slice(&self.auth_response);
        } else {
            put_nul_str(dst, &self.auth_response);
        }
        if let Some(db) = &self.database {
            put_nul_str(dst, db);
        }
        if let Some(p) = &self.auth_plugin {
            put_nul_str(dst, p);
        }
        if let Some(attrs) = &self.attributes {
            let mut block = Vec::new();
            for (k, v) in attrs {
                put_lenenc_bytes(&mut block, k);
                put_lenenc_bytes(&mut block, v);
            }
            put_lenenc(dst, block.len() as u64);
            dst.extend_from_slice(&block);
        }
        if let Some(z) = self.zstd_level {
            dst.push(z);
        }
    }
}

/// HandshakeResponse320, sent by clients without CLIENT_PROTOCOL_41.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeResponse320 {
    /// Client capabilities (16 bits).
    pub capabilities: Capabilities,
    /// Largest packet the client wants (24 bits).
    pub max_packet: u32,
    /// User name.
    pub user: Vec<u8>,
    /// Old-style scramble (never print it).
    pub auth_response: Vec<u8>,
    /// Whether the auth response was NUL-terminated.
    pub auth_nul: bool,
    /// Initial database (CLIENT_CONNECT_WITH_DB).
    pub database: Option<Vec<u8>>,
}

impl HandshakeResponse320 {
    /// Decodes a pre-4.1 login request.
    pub fn decode(buf: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(buf);
        let capabilities = Capabilities::from_bits_retain(u32::from(r.u16("client capabilities")?));
        let max_packet = r.u24("max packet size")?;
        let user = r.nul_str("username")?.to_vec();
        let (auth_response, auth_nul, database) =
            if capabilities.contains(Capabilities::CONNECT_WITH_DB) {
                let a = r.nul_str("auth response")?.to_vec();
                let db = if r.is_empty() {
                    None
                } else {
                    Some(r.nul_str("database")?.to_vec())
                };
                (a, true, db)
            } else {
                let (a, nul) = r.nul_str_or_rest();
                (a.to_vec(), nul, None)
            };
        r.expect_end("login request (3.20)")?;
        Ok(Self {
            capabilities,
            max_packet,
            user,
            auth_response,
            auth_nul,
            database,
        })
    }

    /// Appends the payload.
    pub fn encode(&self, dst: &mut Vec<u8>) {
        dst.extend_from_slice(&(self.capabilities.bits() as u16).to_le_bytes());
        put_u24(dst, self.max_packet);
        put_nul_str(dst, &self.user);
        dst.extend_from_slice(&self.auth_response);
        if self.auth_nul {
            dst.push(0);
        }
        if let Some(db) = &self.database {
            put_nul_str(dst, db);
        }
    }
}
