//! Command-phase requests.
//!
//! Every request starts with a command byte. The probe and the decoder need
//! the bodies of only a few: COM_QUERY (with CLIENT_QUERY_ATTRIBUTES a
//! parameter block precedes the SQL), COM_INIT_DB (the schema) and
//! COM_CHANGE_USER (a second login). Every other command keeps its body as
//! bytes and is recognised by name.

use crate::WireError;
use crate::codes::Command;
use crate::flags::Capabilities;
use crate::reader::{Reader, put_lenenc, put_lenenc_bytes, put_nul_str};

use super::Ctx;

/// A request from the client in the command phase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandPacket {
    /// The command byte.
    pub command: Command,
    /// The decoded body.
    pub body: CommandBody,
}

/// Body of a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandBody {
    /// COM_QUERY.
    Query(ComQuery),
    /// COM_INIT_DB: the schema name.
    InitDb(Vec<u8>),
    /// COM_CHANGE_USER.
    ChangeUser(ComChangeUser),
    /// Any other command (COM_QUIT, COM_PING, COM_STATISTICS,
    /// COM_RESET_CONNECTION normally have an empty body).
    Raw(Vec<u8>),
}

/// COM_QUERY.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComQuery {
    /// Query attributes, present when CLIENT_QUERY_ATTRIBUTES was negotiated.
    pub attributes: Option<QueryAttributes>,
    /// The SQL text.
    pub query: Vec<u8>,
}

/// One query attribute's declared type and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryParam {
    /// MYSQL_TYPE_* (low byte) and flags (high byte, 0x80 = unsigned).
    pub type_and_flags: u16,
    /// Attribute name.
    pub name: Vec<u8>,
}

/// The parameter block of a COM_QUERY with query attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryAttributes {
    /// Number of parameters.
    pub param_count: u64,
    /// Number of parameter sets (always 1).
    pub param_set_count: u64,
    /// NULL bitmap, (count + 7) / 8 bytes.
    pub null_bitmap: Vec<u8>,
    /// new-params-bind flag (present when count > 0).
    pub bind_flag: Option<u8>,
    /// Declared types and names (when the bind flag is 1).
    pub params: Vec<QueryParam>,
    /// Binary-protocol values of the non-NULL parameters, each as on the wire.
    pub values: Vec<Vec<u8>>,
}

/// COM_CHANGE_USER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComChangeUser {
    /// New user.
    pub user: Vec<u8>,
    /// Auth response (secret).
    pub auth_response: Vec<u8>,
    /// New default schema.
    pub database: Vec<u8>,
    /// Charset, plugin name and attributes, kept as bytes.
    pub rest: Vec<u8>,
}

/// Length of a binary-protocol value of MYSQL_TYPE `t` at the reader, as
/// the number of bytes to take (including any length prefix).
fn binary_value_len(t: u8, r: &Reader<'_>, bytes: &[u8]) -> Result<usize, WireError> {
    let at = r.offset();
    let field = "query attribute value";
    let fixed = match t {
        0x06 => 0,               // NULL
        0x01 => 1,               // TINY
        0x02 | 0x0d => 2,        // SHORT, YEAR
        0x03 | 0x09 | 0x04 => 4, // LONG, INT24, FLOAT
        0x05 | 0x08 => 8,        // DOUBLE, LONGLONG
        0x07 | 0x0a | 0x0b | 0x0c => {
            // TIMESTAMP, DATE, TIME, DATETIME
            let n = *bytes
                .get(at)
                .ok_or(WireError::Truncated { field, offset: at })?;
            return Ok(1 + usize::from(n));
        }
        _ => {
            // length-encoded string
            let mut probe = Reader::new(&bytes[at..]);
            let n = probe
                .lenenc(field)
                .map_err(|_| WireError::Truncated { field, offset: at })?;
            let head = probe.offset();
            return usize::try_from(n)
                .ok()
                .and_then(|n| n.checked_add(head))
                .ok_or(WireError::Truncated { field, offset: at });
        }
    };
    Ok(fixed)
}

impl QueryAttributes {
    fn read(r: &mut Reader<'_>, all: &[u8]) -> Result<Self, WireError> {
        let param_count = r.lenenc("parameter count")?;
        let param_set_count = r.lenenc("parameter set count")?;
        let mut qa = Self {
            param_count,
            param_set_count,
            null_bitmap: Vec::new(),
            bind_flag: None,
            params: Vec::new(),
            values: Vec::new(),
        };
        if param_count == 0 {
            return Ok(qa);
        }
        let n = usize::try_from(param_count)
            .ok()
            .filter(|n| *n <= r.remaining())
            .ok_or(WireError::Invalid {
                field: "parameter count",
                offset: 0,
            })?;
        qa.null_bitmap = r.bytes("null bitmap", n.div_ceil(8))?.to_vec();
        let flag = r.u8("new params bind flag")?;
        qa.bind_flag = Some(flag);
        if flag == 1 {
            for _ in 0..n {
                let type_and_flags = r.u16("parameter type")?;
                let name = r.lenenc_bytes("parameter name")?.to_vec();
                qa.params.push(QueryParam {
                    type_and_flags,
                    name,
                });
            }
            for (i, p) in qa.params.iter().enumerate() {
                if qa.null_bitmap[i / 8] & (1 << (i % 8)) != 0 {
                    continue;
                }
                let len = binary_value_len(p.type_and_flags as u8, r, all)?;
                qa.values
                    .push(r.bytes("query attribute value", len)?.to_vec());
            }
        }
        Ok(qa)
    }

    fn write(&self, dst: &mut Vec<u8>) {
        put_lenenc(dst, self.param_count);
        put_lenenc(dst, self.param_set_count);
        if self.param_count == 0 {
            return;
        }
        dst.extend_from_slice(&self.null_bitmap);
        if let Some(f) = self.bind_flag {
            dst.push(f);
        }
        for p in &self.params {
            dst.extend_from_slice(&p.type_and_flags.to_le_bytes());
            put_lenenc_bytes(dst, &p.name);
        }
        for v in &self.values {
            dst.extend_from_slice(v);
        }
    }
}

impl CommandPacket {
    /// Decodes a request payload.
    pub fn decode(buf: &[u8], ctx: Ctx) -> Result<Self, WireError> {
        let mut r = Reader::new(buf);
        let command = Command(r.u8("command")?);
        let body = match command {
            Command::COM_QUERY => {
                let attributes = if ctx.caps.contains(Capabilities::QUERY_ATTRIBUTES) {
                    Some(QueryAttributes::read(&mut r, buf)?)
                } else {
                    None
                };
                CommandBody::Query(ComQuery {
                    attributes,
                    query: r.rest().to_vec(),
                })
            }
            Command::COM_INIT_DB => CommandBody::InitDb(r.rest().to_vec()),
            Command::COM_CHANGE_USER => {
                let user = r.nul_str("username")?.to_vec();
                let auth_response = if ctx.caps.contains(Capabilities::SECURE_CONNECTION) {
                    let n = r.u8("auth response length")?;
                    r.bytes("auth response", usize::from(n))?.to_vec()
                } else {
                    r.nul_str("auth response")?.to_vec()
                };
                let database = r.nul_str("database")?.to_vec();
                CommandBody::ChangeUser(ComChangeUser {
                    user,
                    auth_response,
                    database,
                    rest: r.rest().to_vec(),
                })
            }
            _ => CommandBody::Raw(r.rest().to_vec()),
        };
        Ok(Self { command, body })
    }

    /// Appends the payload.
    pub fn encode(&self, dst: &mut Vec<u8>, ctx: Ctx) {
        dst.push(self.command.0);
        match &self.body {
            CommandBody::Query(q) => {
                if let Some(a) = &q.attributes {
                    a.write(dst);
                }
                dst.extend_from_slice(&q.query);
            }
            CommandBody::InitDb(s) | CommandBody::Raw(s) => dst.extend_from_slice(s),
            CommandBody::ChangeUser(c) => {
                put_nul_str(dst, &c.user);
                if ctx.caps.contains(Capabilities::SECURE_CONNECTION) {
                    dst.push(c.auth_response.len() as u8);
                    dst.extend_from_slice(&c.auth_response);
                } else {
                    put_nul_str(dst, &c.auth_response);
                }
                put_nul_str(dst, &c.database);
                dst.extend_from_slice(&c.rest);
            }
        }
    }

    /// A COM_QUERY without attributes (or with an empty attribute block when
    /// `ctx` has CLIENT_QUERY_ATTRIBUTES, as the server then requires one).
    pub fn query(sql: &str, ctx: Ctx) -> Self {
        let attributes =
            ctx.caps
                .contains(Capabilities::QUERY_ATTRIBUTES)
                .then(|| QueryAttributes {
                    param_count: 0,
                    param_set_count: 1,
                    null_bitmap: vec![],
                    bind_flag: None,
                    params: vec![],
                    values: vec![],
                });
        Self {
            command: Command::COM_QUERY,
            body: CommandBody::Query(ComQuery {
                attributes,
                query: sql.as_bytes().to_vec(),
            }),
        }
    }

    /// A command with an empty body (COM_QUIT, COM_PING, ...).
    pub fn simple(command: Command) -> Self {
        Self {
            command,
            body: CommandBody::Raw(Vec::new()),
        }
    }
}
