//! Cursor over one packet payload, plus the encoding helpers for the same
//! primitive types.
//!
//! MySQL packets are built from a handful of primitives: fixed little-endian
//! integers, length-encoded integers and strings, NUL-terminated strings and
//! "rest of packet" strings. The [`Reader`] wraps nom 8's *complete* parsers
//! (the payload length is already known when a body is parsed, so a short
//! body is an error, never "incomplete") and turns nom's errors into a
//! [`WireError`] that names the field and its offset. nom stays private.

use nom::Parser;
use nom::bytes::complete::{take, take_until};
use nom::number::complete::{le_u8, le_u16, le_u24, le_u32, le_u64};

use crate::WireError;

type NomErr<'a> = nom::error::Error<&'a [u8]>;

/// A bounded cursor over one payload (rustls' `Reader`).
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    start_len: usize,
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Starts reading `buf` from its first byte.
    pub fn new(buf: &'a [u8]) -> Self {
        Self {
            start_len: buf.len(),
            rest: buf,
        }
    }

    /// Offset of the next byte inside the original buffer.
    pub fn offset(&self) -> usize {
        self.start_len - self.rest.len()
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// True when everything has been read.
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The next byte, without consuming it.
    pub fn peek(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    fn run<T>(
        &mut self,
        field: &'static str,
        mut p: impl Parser<&'a [u8], Output = T, Error = NomErr<'a>>,
    ) -> Result<T, WireError> {
        let offset = self.offset();
        match p.parse(self.rest) {
            Ok((rest, v)) => {
                self.rest = rest;
                Ok(v)
            }
            Err(_) => Err(WireError::Truncated { field, offset }),
        }
    }

    /// A single byte.
    pub fn u8(&mut self, field: &'static str) -> Result<u8, WireError> {
        self.run(field, le_u8)
    }
    /// A little-endian u16.
    pub fn u16(&mut self, field: &'static str) -> Result<u16, WireError> {
        self.run(field, le_u16)
    }
    /// A little-endian 3-byte integer.
    pub fn u24(&mut self, field: &'static str) -> Result<u32, WireError> {
        self.run(field, le_u24)
    }
    /// A little-endian u32.
    pub fn u32(&mut self, field: &'static str) -> Result<u32, WireError> {
        self.run(field, le_u32)
    }
    /// A little-endian u64.
    pub fn u64(&mut self, field: &'static str) -> Result<u64, WireError> {
        self.run(field, le_u64)
    }
    /// Exactly `n` bytes.
    pub fn bytes(&mut self, field: &'static str, n: usize) -> Result<&'a [u8], WireError> {
        self.run(field, take(n))
    }
    /// Exactly `N` bytes as an array.
    pub fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], WireError> {
        let b = self.bytes(field, N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(b);
        Ok(out)
    }
    /// Everything that is left.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.rest)
    }
    /// A NUL-terminated string; the NUL is consumed, not returned.
    pub fn nul_str(&mut self, field: &'static str) -> Result<&'a [u8], WireError> {
        let s = self.run(field, take_until(&b"\0"[..]))?;
        self.rest = &self.rest[1..];
        Ok(s)
    }
    /// A NUL-terminated string whose NUL some servers forget (MySQL bug
    /// #59453 for the greeting's plugin name). Returns the string and whether
    /// the NUL was present.
    pub fn nul_str_or_rest(&mut self) -> (&'a [u8], bool) {
        match self.rest.iter().position(|&b| b == 0) {
            Some(i) => {
                let s = &self.rest[..i];
                self.rest = &self.rest[i + 1..];
                (s, true)
            }
            None => (self.rest(), false),
        }
    }
    /// A length-encoded integer. `0xfb` (NULL in rows) and `0xff` are
    /// rejected here; callers that accept NULL check [`Reader::peek`] first.
    pub fn lenenc(&mut self, field: &'static str) -> Result<u64, WireError> {
        let offset = self.offset();
        match self.u8(field)? {
            b @ 0..=0xfa => Ok(u64::from(b)),
            0xfc => self.u16(field).map(u64::from),
            0xfd => self.u24(field).map(u64::from),
            0xfe => self.u64(field),
            _ => Err(WireError::Invalid { field, offset }),
        }
    }
    /// A length-encoded string. Its length is checked against what is left
    /// before anything is taken, so a forged length cannot allocate.
    pub fn lenenc_bytes(&mut self, field: &'static str) -> Result<&'a [u8], WireError> {
        let offset = self.offset();
        let n = self.lenenc(field)?;
        let n = usize::try_from(n).map_err(|_| WireError::Truncated { field, offset })?;
        if n > self.remaining() {
            return Err(WireError::Truncated { field, offset });
        }
        self.bytes(field, n)
    }
    /// Fails with `TrailingData` unless everything was read.
    pub fn expect_end(&self, packet: &'static str) -> Result<(), WireError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(WireError::TrailingData {
                packet,
                count: self.rest.len(),
            })
        }
    }
}

/// Number of bytes [`put_lenenc`] writes for `v`.
pub fn lenenc_len(v: u64) -> usize {
    match v {
        0..=0xfa => 1,
        0xfb..=0xffff => 3,
        0x1_0000..=0xff_ffff => 4,
        _ => 9,
    }
}

/// Writes a length-encoded integer in its shortest form.
pub fn put_lenenc(dst: &mut Vec<u8>, v: u64) {
    match v {
        0..=0xfa => dst.push(v as u8),
        0xfb..=0xffff => {
            dst.push(0xfc);
            dst.extend_from_slice(&(v as u16).to_le_bytes());
        }
        0x1_0000..=0xff_ffff => {
            dst.push(0xfd);
            dst.extend_from_slice(&(v as u32).to_le_bytes()[..3]);
        }
        _ => {
            dst.push(0xfe);
            dst.extend_from_slice(&v.to_le_bytes());
        }
    }
}

/// Writes a length-encoded string.
pub fn put_lenenc_bytes(dst: &mut Vec<u8>, b: &[u8]) {
    put_lenenc(dst, b.len() as u64);
    dst.extend_from_slice(b);
}

/// Writes a NUL-terminated string.
pub fn put_nul_str(dst: &mut Vec<u8>, b: &[u8]) {
    dst.extend_from_slice(b);
    dst.push(0);
}

/// Writes a little-endian 3-byte integer (the upper byte of `v` is dropped).
pub fn put_u24(dst: &mut Vec<u8>, v: u32) {
    dst.extend_from_slice(&v.to_le_bytes()[..3]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenenc_boundaries_round_trip() {
        for v in [
            0u64,
            250,
            251,
            0xffff,
            0x1_0000,
            0xff_ffff,
            0x100_0000,
            u64::MAX,
        ] {
            let mut b = Vec::new();
            put_lenenc(&mut b, v);
            assert_eq!(b.len(), lenenc_len(v));
            let mut r = Reader::new(&b);
            assert_eq!(r.lenenc("v").unwrap(), v);
            assert!(r.is_empty());
        }
    }

    #[test]
    fn forged_lenenc_string_is_truncated_not_allocated() {
        let b = [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, b'a'];
        let err = Reader::new(&b).lenenc_bytes("name").unwrap_err();
        assert_eq!(
            err,
            WireError::Truncated {
                field: "name",
                offset: 0
            }
        );
    }

    #[test]
    fn nul_str_requires_terminator() {
        let mut r = Reader::new(b"abc");
        assert!(matches!(
            r.nul_str("user"),
            Err(WireError::Truncated { .. })
        ));
        let mut r = Reader::new(b"abc\0d");
        assert_eq!(r.nul_str("user").unwrap(), b"abc");
        assert_eq!(r.rest(), b"d");
    }
}
