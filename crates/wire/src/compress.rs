//! The compressed protocol: a 7-byte header around zlib or zstd data.
//!
//! Once both sides set CLIENT_COMPRESS (zlib, which wins) or
//! CLIENT_ZSTD_COMPRESSION_ALGORITHM, everything after the OK that ends the
//! login travels in compressed packets: 3-byte compressed length, 1-byte
//! compressed sequence id, 3-byte uncompressed length (0 means the payload is
//! stored as is), then the payload. The inflated bytes are an ordinary packet
//! stream, which may split packets across compressed packets; an inner
//! [`Deframer`] joins them.

use bytes::{Buf, BytesMut};

use crate::WireError;
use crate::frame::{Deframer, Frame};

/// Size of the compressed-packet header.
pub const COMPRESSED_HEADER_LEN: usize = 7;

/// Which algorithm the compressed packets use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// zlib (CLIENT_COMPRESS).
    Zlib,
    /// zstd (CLIENT_ZSTD_COMPRESSION_ALGORITHM).
    Zstd,
}

/// Decompresses one payload to exactly `ulen` bytes, refusing more than
/// `limit`.
pub fn inflate(
    alg: Compression,
    data: &[u8],
    ulen: usize,
    limit: usize,
) -> Result<Vec<u8>, WireError> {
    if ulen > limit {
        return Err(WireError::TooLarge { len: ulen, limit });
    }
    let out = match alg {
        Compression::Zlib => {
            use std::io::Read;
            let mut out = Vec::with_capacity(ulen);
            flate2::read::ZlibDecoder::new(data)
                .take(ulen as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|_| WireError::Decompress("invalid zlib data"))?;
            out
        }
        Compression::Zstd => zstd::bulk::decompress(data, ulen)
            .map_err(|_| WireError::Decompress("invalid zstd data"))?,
    };
    if out.len() != ulen {
        return Err(WireError::Decompress("length differs from header"));
    }
    Ok(out)
}

/// Compresses `payload` into one compressed packet with id `seq`. Payloads
/// under 50 bytes are stored uncompressed, as libmysqlclient does.
pub fn write_compressed(dst: &mut BytesMut, alg: Compression, seq: u8, payload: &[u8]) {
    let (body, ulen) = if payload.len() < 50 {
        (payload.to_vec(), 0)
    } else {
        let c = match alg {
            Compression::Zlib => {
                use std::io::Write;
                let mut e =
                    flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
                e.write_all(payload).expect("writing to a Vec cannot fail");
                e.finish().expect("writing to a Vec cannot fail")
            }
            Compression::Zstd => {
                zstd::bulk::compress(payload, 3).expect("zstd compresses any input")
            }
        };
        (c, payload.len())
    };
    dst.extend_from_slice(&(body.len() as u32).to_le_bytes()[..3]);
    dst.extend_from_slice(&[seq]);
    dst.extend_from_slice(&(ulen as u32).to_le_bytes()[..3]);
    dst.extend_from_slice(&body);
}

/// Deframer for a compressed stream: yields the inner packets.
#[derive(Debug)]
pub struct CompressedDeframer {
    alg: Compression,
    buf: BytesMut,
    inner: Deframer,
    max_packet: usize,
    failed: bool,
}

impl CompressedDeframer {
    /// A compressed deframer; `max_packet` bounds each inflated payload and
    /// each inner packet.
    pub fn new(alg: Compression, max_packet: usize) -> Self {
        Self {
            alg,
            buf: BytesMut::new(),
            inner: Deframer::new(max_packet),
            max_packet,
            failed: false,
        }
    }

    /// Appends bytes as TCP delivered them.
    pub fn push(&mut self, data: &[u8]) {
        if !self.failed {
            self.buf.extend_from_slice(data);
        }
    }

    /// The next inner frame. After a decompression error the stream cannot be
    /// resynchronised; the error is returned once and later calls yield
    /// nothing.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, WireError> {
        loop {
            if let Some(f) = self.inner.next_frame() {
                return Ok(Some(f));
            }
            if self.failed || self.buf.len() < COMPRESSED_HEADER_LEN {
                return Ok(None);
            }
            let clen = u32::from_le_bytes([self.buf[0], self.buf[1], self.buf[2], 0]) as usize;
            let ulen = u32::from_le_bytes([self.buf[4], self.buf[5], self.buf[6], 0]) as usize;
            if self.buf.len() < COMPRESSED_HEADER_LEN + clen {
                if clen > self.max_packet {
                    self.failed = true;
                    self.buf.clear();
                    return Err(WireError::TooLarge {
                        len: clen,
                        limit: self.max_packet,
                    });
                }
                return Ok(None);
            }
            self.buf.advance(COMPRESSED_HEADER_LEN);
            let body = self.buf.split_to(clen);
            if ulen == 0 {
                self.inner.push(&body);
            } else {
                match inflate(self.alg, &body, ulen, self.max_packet) {
                    Ok(v) => self.inner.push(&v),
                    Err(e) => {
                        self.failed = true;
                        self.buf.clear();
                        return Err(e);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::write_packet;

    #[test]
    fn zlib_and_zstd_round_trip_across_splits() {
        for alg in [Compression::Zlib, Compression::Zstd] {
            let mut inner = BytesMut::new();
            write_packet(&mut inner, 0, &[b'x'; 300]);
            write_packet(&mut inner, 1, b"short");
            // Split the inner stream across two compressed packets mid-packet.
            let (a, b) = inner.split_at(100);
            let mut wire = BytesMut::new();
            write_compressed(&mut wire, alg, 0, a);
            write_compressed(&mut wire, alg, 1, b);
            let mut d = CompressedDeframer::new(alg, 1 << 20);
            for c in wire.chunks(3) {
                d.push(c);
            }
            let mut got = Vec::new();
            while let Some(Frame::Packet(p)) = d.next_frame().unwrap() {
                got.push(p.payload.to_vec());
            }
            assert_eq!(got, vec![vec![b'x'; 300], b"short".to_vec()]);
        }
    }

    #[test]
    fn garbage_is_an_error_once() {
        let mut d = CompressedDeframer::new(Compression::Zlib, 1 << 20);
        d.push(&[3, 0, 0, 0, 100, 0, 0, 1, 2, 3]);
        assert!(d.next_frame().is_err());
        assert_eq!(d.next_frame(), Ok(None));
    }
}
