//! OK, ERR and EOF: the generic response packets.
//!
//! Their layouts depend on the negotiated capabilities (PROTOCOL_41 adds
//! status and warnings; SESSION_TRACK makes the info string length-encoded
//! and adds session-state changes), so decoding takes a [`Ctx`]
//! (mysql_common's parse context). An OK may start with 0xFE instead of 0x00
//! when it ends a result set under CLIENT_DEPRECATE_EOF.

use crate::WireError;
use crate::codes::ErrorCode;
use crate::flags::{Capabilities, StatusFlags};
use crate::reader::{Reader, put_lenenc, put_lenenc_bytes};

/// Negotiated state that changes packet layouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ctx {
    /// Capabilities both sides agreed on (client & server).
    pub caps: Capabilities,
}

impl Default for Ctx {
    /// What Wireshark assumes for a capture that starts mid-stream.
    fn default() -> Self {
        Self {
            caps: Capabilities::PROTOCOL_41
                | Capabilities::SECURE_CONNECTION
                | Capabilities::TRANSACTIONS,
        }
    }
}

/// OK packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OkPacket {
    /// 0x00, or 0xFE for an OK that replaces EOF.
    pub header: u8,
    /// Affected rows.
    pub affected_rows: u64,
    /// Last insert id.
    pub last_insert_id: u64,
    /// Server status (absent from some pre-4.1 servers).
    pub status: Option<StatusFlags>,
    /// Warning count (PROTOCOL_41).
    pub warnings: Option<u16>,
    /// Human-readable info.
    pub info: Option<Vec<u8>>,
    /// Raw session-state-change block (SESSION_TRACK).
    pub session_state: Option<Vec<u8>>,
}

impl OkPacket {
    /// Decodes an OK payload (first byte 0x00 or 0xFE).
    pub fn decode(buf: &[u8], ctx: Ctx) -> Result<Self, WireError> {
        let mut r = Reader::new(buf);
        let header = r.u8("header")?;
        if header != 0x00 && header != 0xfe {
            return Err(WireError::Invalid {
                field: "header",
                offset: 0,
            });
        }
        let affected_rows = r.lenenc("affected rows")?;
        let last_insert_id = r.lenenc("last insert id")?;
        let mut status = None;
        let mut warnings = None;
        if ctx.caps.contains(Capabilities::PROTOCOL_41) {
            if !r.is_empty() {
                status = Some(StatusFlags::from_bits_retain(r.u16("status flags")?));
                warnings = Some(r.u16("warnings")?);
            }
        } else if !r.is_empty() {
            status = Some(StatusFlags::from_bits_retain(r.u16("status flags")?));
        }
        let mut info = None;
        let mut session_state = None;
        if ctx.caps.contains(Capabilities::SESSION_TRACK) {
            if !r.is_empty() {
                info = Some(r.lenenc_bytes("info")?.to_vec());
                if status.is_some_and(|s| s.contains(StatusFlags::SESSION_STATE_CHANGED))
                    && !r.is_empty()
                {
                    session_state = Some(r.lenenc_bytes("session state info")?.to_vec());
                }
            }
        } else if !r.is_empty() {
            info = Some(r.rest().to_vec());
        }
        r.expect_end("OK")?;
        Ok(Self {
            header,
            affected_rows,
            last_insert_id,
            status,
            warnings,
            info,
            session_state,
        })
    }

    /// Appends the payload.
    pub fn encode(&self, dst: &mut Vec<u8>, ctx: Ctx) {
        dst.push(self.header);
        put_lenenc(dst, self.affected_rows);
        put_lenenc(dst, self.last_insert_id);
        if let Some(s) = self.status {
            dst.extend_from_slice(&s.bits().to_le_bytes());
        }
        if let Some(w) = self.warnings {
            dst.extend_from_slice(&w.to_le_bytes());
        }
        if ctx.caps.contains(Capabilities::SESSION_TRACK) {
            if let Some(i) = &self.info {
                put_lenenc_bytes(dst, i);
            }
            if let Some(s) = &self.session_state {
                put_lenenc_bytes(dst, s);
            }
        } else if let Some(i) = &self.info {
            dst.extend_from_slice(i);
        }
    }

    /// Decoded session-state changes: (type, data) pairs.
    pub fn session_changes(&self) -> Vec<(u8, Vec<u8>)> {
        let mut out = Vec::new();
        if let Some(block) = &self.session_state {
            let mut r = Reader::new(block);
            while !r.is_empty() {
                let Ok(t) = r.u8("session state type") else {
                    break;
                };
                let Ok(d) = r.lenenc_bytes("session state data") else {
                    break;
                };
                out.push((t, d.to_vec()));
            }
        }
        out
    }
}

/// ERR packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrPacket {
    /// Error code.
    pub code: ErrorCode,
    /// SQL state after the `#` marker (absent when ERR replaces the greeting).
    pub sql_state: Option<[u8; 5]>,
    /// Error message.
    pub message: Vec<u8>,
}

impl ErrPacket {
    /// Decodes an ERR payload (first byte 0xFF). The `#` marker is detected
    /// from the bytes, so no context is needed.
    pub fn decode(buf: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(buf);
        if r.u8("header")? != 0xff {
            return Err(WireError::Invalid {
                field: "header",
                offset: 0,
            });
        }
        let code = ErrorCode(r.u16("error code")?);
        let sql_state = if r.peek() == Some(b'#') && r.remaining() >= 6 {
            r.u8("sql state marker")?;
            Some(r.array::<5>("sql state")?)
        } else {
            None
        };
        Ok(Self {
            code,
            sql_state,
            message: r.rest().to_vec(),
        })
    }

    /// Appends the payload.
    pub fn encode(&self, dst: &mut Vec<u8>) {
        dst.push(0xff);
        dst.extend_from_slice(&self.code.0.to_le_bytes());
        if let Some(s) = &self.sql_state {
            dst.push(b'#');
            dst.extend_from_slice(s);
        }
        dst.extend_from_slice(&self.message);
    }

    /// The message as text.
    pub fn message_lossy(&self) -> String {
        String::from_utf8_lossy(&self.message).into_owned()
    }
}

/// EOF packet (0xFE, under 9 bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EofPacket {
    /// Warning count (PROTOCOL_41).
    pub warnings: Option<u16>,
    /// Server status (PROTOCOL_41).
    pub status: Option<StatusFlags>,
}

impl EofPacket {
    /// Decodes an EOF payload.
    pub fn decode(buf: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(buf);
        if r.u8("header")? != 0xfe {
            return Err(WireError::Invalid {
                field: "header",
                offset: 0,
            });
        }
        let (warnings, status) = if r.is_empty() {
            (None, None)
        } else {
            (
                Some(r.u16("warnings")?),
                Some(StatusFlags::from_bits_retain(r.u16("status flags")?)),
            )
        };
        r.expect_end("EOF")?;
        Ok(Self { warnings, status })
    }

    /// Appends the payload.
    pub fn encode(&self, dst: &mut Vec<u8>) {
        dst.push(0xfe);
        if let (Some(w), Some(s)) = (self.warnings, self.status) {
            dst.extend_from_slice(&w.to_le_bytes());
            dst.extend_from_slice(&s.bits().to_le_bytes());
        }
    }
}

/// True if a server packet starting with 0xFE is an EOF rather than an OK or
/// an AuthSwitchRequest: EOF payloads are shorter than 9 bytes.
pub fn is_eof(payload: &[u8]) -> bool {
    payload.first() == Some(&0xfe) && payload.len() < 9
}
