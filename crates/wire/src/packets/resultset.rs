//! Text result sets, enough to read `SHOW GLOBAL STATUS` and
//! `SELECT @@connect_timeout`: the column count, column definitions
//! (Protocol::ColumnDefinition41), rows of length-encoded strings (0xFB is
//! NULL), and the EOF or OK that ends them.

use crate::WireError;
use crate::reader::{Reader, put_lenenc, put_lenenc_bytes};

/// The first packet of a result set: the number of columns, plus the
/// metadata-follows byte with CLIENT_OPTIONAL_RESULTSET_METADATA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnCount {
    /// Number of columns.
    pub count: u64,
    /// RESULTSET_METADATA_{NONE,FULL} when optional metadata was negotiated.
    pub metadata_follows: Option<u8>,
}

impl ColumnCount {
    /// Decodes the payload.
    pub fn decode(buf: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(buf);
        let count = r.lenenc("column count")?;
        let metadata_follows = if r.is_empty() {
            None
        } else {
            Some(r.u8("metadata follows")?)
        };
        r.expect_end("column count")?;
        Ok(Self {
            count,
            metadata_follows,
        })
    }

    /// Appends the payload.
    pub fn encode(&self, dst: &mut Vec<u8>) {
        put_lenenc(dst, self.count);
        if let Some(m) = self.metadata_follows {
            dst.push(m);
        }
    }
}

/// Protocol::ColumnDefinition41.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnDefinition {
    /// Always "def".
    pub catalog: Vec<u8>,
    /// Schema.
    pub schema: Vec<u8>,
    /// Table alias.
    pub table: Vec<u8>,
    /// Physical table.
    pub org_table: Vec<u8>,
    /// Column alias.
    pub name: Vec<u8>,
    /// Physical column.
    pub org_name: Vec<u8>,
    /// Length of the fixed fields (0x0C).
    pub fixed_len: u64,
    /// Character set id.
    pub charset: u16,
    /// Maximum column length.
    pub column_length: u32,
    /// MYSQL_TYPE_*.
    pub column_type: u8,
    /// Column flags.
    pub flags: u16,
    /// Decimals.
    pub decimals: u8,
    /// Bytes after the fixed fields (filler, and COM_FIELD_LIST defaults).
    pub rest: Vec<u8>,
}

impl ColumnDefinition {
    /// Decodes the payload.
    pub fn decode(buf: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(buf);
        Ok(Self {
            catalog: r.lenenc_bytes("catalog")?.to_vec(),
            schema: r.lenenc_bytes("schema")?.to_vec(),
            table: r.lenenc_bytes("table")?.to_vec(),
            org_table: r.lenenc_bytes("org_table")?.to_vec(),
            name: r.lenenc_bytes("name")?.to_vec(),
            org_name: r.lenenc_bytes("org_name")?.to_vec(),
            fixed_len: r.lenenc("length of fixed fields")?,
            charset: r.u16("character set")?,
            column_length: r.u32("column length")?,
            column_type: r.u8("type")?,
            flags: r.u16("flags")?,
            decimals: r.u8("decimals")?,
            rest: r.rest().to_vec(),
        })
    }

    /// Appends the payload.
    pub fn encode(&self, dst: &mut Vec<u8>) {
        for s in [
            &self.catalog,
            &self.schema,
            &self.table,
            &self.org_table,
            &self.name,
            &self.org_name,
        ] {
            put_lenenc_bytes(dst, s);
        }
        put_lenenc(dst, self.fixed_len);
        dst.extend_from_slice(&self.charset.to_le_bytes());
        dst.extend_from_slice(&self.column_length.to_le_bytes());
        dst.push(self.column_type);
        dst.extend_from_slice(&self.flags.to_le_bytes());
        dst.push(self.decimals);
        dst.extend_from_slice(&self.rest);
    }
}

/// A text-protocol row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextRow {
    /// Column values; `None` is SQL NULL.
    pub values: Vec<Option<Vec<u8>>>,
}

impl TextRow {
    /// Decodes the payload.
    pub fn decode(buf: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(buf);
        let mut values = Vec::new();
        while !r.is_empty() {
            if r.peek() == Some(0xfb) {
                r.u8("NULL")?;
                values.push(None);
            } else {
                values.push(Some(r.lenenc_bytes("column value")?.to_vec()));
            }
        }
        Ok(Self { values })
    }

    /// Appends the payload.
    pub fn encode(&self, dst: &mut Vec<u8>) {
        for v in &self.values {
            match v {
                None => dst.push(0xfb),
                Some(v) => put_lenenc_bytes(dst, v),
            }
        }
    }

    /// Value of column `i` as text.
    pub fn text(&self, i: usize) -> Option<String> {
        self.values
            .get(i)?
            .as_ref()
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }
}
