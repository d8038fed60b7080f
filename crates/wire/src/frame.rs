//! Packet framing: the 4-byte header, splitting on encode, and a streaming
//! deframer that joins what TCP delivers in arbitrary chunks.
//!
//! Every MySQL packet starts with a 3-byte little-endian payload length and a
//! 1-byte sequence id. A payload of 0xFFFFFF bytes or more is sent as chunks
//! of exactly 0xFFFFFF bytes followed by one shorter chunk, which is empty
//! when the length is a multiple of 0xFFFFFF; the receiver joins them.
//!
//! The header is read with `from_le_bytes` (pcap-parser's fast fixed-header
//! path); nom is only worth it for variable fields. The deframer buffers only
//! bytes that actually arrived, and stops buffering a packet once it passes
//! `max_packet` (it then skips the rest and reports [`Frame::Oversized`]), so
//! a forged length can neither allocate up front nor grow memory without
//! bound.

use bytes::{Buf, Bytes, BytesMut};

/// Size of the packet header.
pub const HEADER_LEN: usize = 4;
/// Largest payload one chunk can carry.
pub const MAX_CHUNK: usize = 0xFF_FFFF;
/// Default limit for a joined payload: MySQL 8's default max_allowed_packet.
pub const DEFAULT_MAX_PACKET: usize = 64 * 1024 * 1024;

/// The 4-byte header of one chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketHeader {
    /// Payload length of this chunk.
    pub len: u32,
    /// Sequence id.
    pub seq: u8,
}

impl PacketHeader {
    /// Reads a header from the first four bytes, if there are four.
    pub fn parse(b: &[u8]) -> Option<Self> {
        let h: [u8; 4] = b.get(..HEADER_LEN)?.try_into().ok()?;
        Some(Self {
            len: u32::from_le_bytes([h[0], h[1], h[2], 0]),
            seq: h[3],
        })
    }

    /// The header's wire form.
    pub fn to_bytes(self) -> [u8; 4] {
        let l = self.len.to_le_bytes();
        [l[0], l[1], l[2], self.seq]
    }
}

/// One whole packet as it came off the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawPacket {
    /// Sequence id of the first chunk.
    pub seq: u8,
    /// The joined payload.
    pub payload: Bytes,
    /// Number of chunks it was sent in (1 unless the payload reached 16 MiB).
    pub chunks: u32,
}

/// What the deframer yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A complete packet.
    Packet(RawPacket),
    /// A packet some of whose bytes the capture cut (a snaplen): the
    /// payload up to the first missing byte, and the length its header
    /// announced. See [`Deframer::missing`].
    Cut {
        /// Sequence id of the first chunk.
        seq: u8,
        /// Total payload length.
        len: usize,
        /// The payload before the first missing byte.
        shown: Bytes,
    },
    /// A packet longer than the limit; its bytes were skipped, not kept.
    Oversized {
        /// Sequence id of the first chunk.
        seq: u8,
        /// Total payload length.
        len: usize,
    },
}

#[derive(Debug)]
struct Joining {
    seq: u8,
    data: Option<BytesMut>,
    total: usize,
    chunks: u32,
    /// Bytes of it are missing: `data` holds only what came before them.
    cut: bool,
}

/// Where the stream stands after [`Deframer::missing`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// The missing bytes fell inside packets whose headers were seen: the
    /// packets they cut are yielded as [`Frame::Cut`], and the next bytes
    /// pushed continue where the stream stands.
    InStep,
    /// A packet header was among the missing bytes: where the next packet
    /// starts is unknown, and everything buffered was dropped.
    Lost,
}

/// Streaming deframer for one direction of a connection.
#[derive(Debug)]
pub struct Deframer {
    buf: BytesMut,
    max_packet: usize,
    chunk_len: usize,
    chunk_left: Option<usize>,
    joining: Option<Joining>,
    /// A packet that [`missing`](Self::missing) completed, yielded first.
    ready: Option<Frame>,
}

impl Default for Deframer {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_PACKET)
    }
}

impl Deframer {
    /// A deframer that keeps joined payloads up to `max_packet` bytes.
    pub fn new(max_packet: usize) -> Self {
        Self {
            buf: BytesMut::new(),
            max_packet,
            chunk_len: 0,
            chunk_left: None,
            joining: None,
            ready: None,
        }
    }

    /// Appends bytes as TCP delivered them.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Bytes received but not yet part of a yielded frame.
    pub fn buffered(&self) -> usize {
        self.buf.len()
            + self
                .joining
                .as_ref()
                .map_or(0, |j| j.data.as_ref().map_or(0, |d| d.len()))
    }

    /// True when nothing is buffered and no packet is half-read: bytes
    /// that arrive now start with a packet header.
    pub fn is_idle(&self) -> bool {
        self.buf.is_empty() && self.at_boundary()
    }

    /// True when no packet is half-read (a clean packet boundary).
    pub fn at_boundary(&self) -> bool {
        self.chunk_left.is_none() && self.joining.is_none() && self.ready.is_none()
    }

    /// The next `n` bytes of the stream exist but were not captured (a
    /// snaplen cut them; their number is known from the IP length). Call
    /// after draining [`next_frame`](Self::next_frame). Bytes inside a
    /// packet whose header was seen are skipped by its length, and the
    /// packet is yielded as [`Frame::Cut`] when its last byte has passed;
    /// missing bytes that hold a header lose the packet boundaries.
    pub fn missing(&mut self, mut n: usize) -> Missing {
        while n > 0 {
            if self.chunk_left.is_none() && self.open_chunk().is_none() {
                // The next header is (partly) among the missing bytes.
                self.buf.clear();
                self.joining = None;
                return Missing::Lost;
            }
            let left = self.chunk_left.unwrap_or(0);
            // A chunk just opened may already have bytes buffered.
            let buffered = self.buf.len().min(left);
            let j = self
                .joining
                .as_mut()
                .expect("joining is set while a chunk is open");
            if let Some(d) = j.data.as_mut().filter(|_| !j.cut) {
                d.extend_from_slice(&self.buf[..buffered]);
            }
            self.buf.advance(buffered);
            let left = left - buffered;
            // Bytes of this chunk are among the missing ones.
            j.cut |= left > 0;
            let take = left.min(n);
            n -= take;
            if take < left {
                self.chunk_left = Some(left - take);
                return Missing::InStep;
            }
            self.chunk_left = None;
            if self.chunk_len == MAX_CHUNK {
                continue;
            }
            let j = self.joining.take().expect("joining is set");
            self.ready = Some(j.finish());
            if n > 0 {
                // The bytes after this packet start the next one.
                return Missing::Lost;
            }
        }
        Missing::InStep
    }

    /// Opens the chunk whose header is buffered; `None` if fewer than four
    /// bytes are.
    fn open_chunk(&mut self) -> Option<usize> {
        let h = PacketHeader::parse(&self.buf)?;
        self.buf.advance(HEADER_LEN);
        let len = h.len as usize;
        let j = self.joining.get_or_insert_with(|| Joining {
            seq: h.seq,
            data: Some(BytesMut::new()),
            total: 0,
            chunks: 0,
            cut: false,
        });
        j.total += len;
        j.chunks += 1;
        if j.total > self.max_packet {
            j.data = None;
        }
        self.chunk_len = len;
        self.chunk_left = Some(len);
        Some(len)
    }

    /// The payload length announced by the packet now being received: the
    /// joined length so far while a multi-chunk packet is open, else the
    /// length in a buffered header. A driver that must not wait for (or
    /// skip) megabytes a hostile peer announced checks this after `push`.
    pub fn announced_len(&self) -> Option<usize> {
        if let Some(j) = &self.joining {
            return Some(j.total);
        }
        PacketHeader::parse(&self.buf).map(|h| h.len as usize)
    }

    /// Takes the unread bytes out, e.g. to hand them to a compressed or TLS
    /// layer that starts at the current packet boundary.
    pub fn take_unread(&mut self) -> BytesMut {
        std::mem::take(&mut self.buf)
    }

    /// The next complete frame, or `None` until more bytes arrive.
    pub fn next_frame(&mut self) -> Option<Frame> {
        if let Some(f) = self.ready.take() {
            return Some(f);
        }
        loop {
            let left = match self.chunk_left {
                Some(l) => l,
                None => {
                    let h = PacketHeader::parse(&self.buf)?;
                    let len = h.len as usize;
                    // Fast path: a whole, ordinary packet already buffered.
                    if self.joining.is_none()
                        && len < MAX_CHUNK
                        && len <= self.max_packet
                        && self.buf.len() >= HEADER_LEN + len
                    {
                        self.buf.advance(HEADER_LEN);
                        return Some(Frame::Packet(RawPacket {
                            seq: h.seq,
                            payload: self.buf.split_to(len).freeze(),
                            chunks: 1,
                        }));
                    }
                    self.open_chunk()?
                }
            };
            let take = left.min(self.buf.len());
            let j = self
                .joining
                .as_mut()
                .expect("joining is set while a chunk is open");
            if let Some(d) = j.data.as_mut().filter(|_| !j.cut) {
                d.extend_from_slice(&self.buf[..take]);
            }
            self.buf.advance(take);
            if take < left {
                self.chunk_left = Some(left - take);
                return None;
            }
            self.chunk_left = None;
            if self.chunk_len == MAX_CHUNK {
                continue;
            }
            let j = self.joining.take().expect("joining is set");
            return Some(j.finish());
        }
    }
}

impl Joining {
    /// The frame it makes once its last chunk has passed.
    fn finish(self) -> Frame {
        match self.data {
            Some(d) if self.cut => Frame::Cut {
                seq: self.seq,
                len: self.total,
                shown: d.freeze(),
            },
            Some(d) => Frame::Packet(RawPacket {
                seq: self.seq,
                payload: d.freeze(),
                chunks: self.chunks,
            }),
            None => Frame::Oversized {
                seq: self.seq,
                len: self.total,
            },
        }
    }
}

/// Frames `payload` starting at sequence id `seq`, splitting at 0xFFFFFF, and
/// returns the sequence id that follows.
pub fn write_packet(dst: &mut BytesMut, mut seq: u8, payload: &[u8]) -> u8 {
    let mut rest = payload;
    loop {
        let n = rest.len().min(MAX_CHUNK);
        dst.extend_from_slice(&PacketHeader { len: n as u32, seq }.to_bytes());
        dst.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        seq = seq.wrapping_add(1);
        if n < MAX_CHUNK {
            return seq;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(d: &mut Deframer) -> Vec<Frame> {
        std::iter::from_fn(|| d.next_frame()).collect()
    }

    #[test]
    fn byte_at_a_time() {
        let mut wire = BytesMut::new();
        write_packet(&mut wire, 0, b"hello");
        write_packet(&mut wire, 1, b"");
        let mut d = Deframer::default();
        let mut out = Vec::new();
        for b in wire.iter() {
            d.push(&[*b]);
            out.extend(frames(&mut d));
        }
        assert_eq!(out.len(), 2);
        assert!(matches!(&out[0], Frame::Packet(p) if &p.payload[..] == b"hello" && p.seq == 0));
        assert!(matches!(&out[1], Frame::Packet(p) if p.payload.is_empty() && p.seq == 1));
        assert!(d.at_boundary());
    }

    #[test]
    fn jumbo_payload_split_and_joined_with_trailing_empty_chunk() {
        let payload = vec![7u8; MAX_CHUNK * 2];
        let mut wire = BytesMut::new();
        let next = write_packet(&mut wire, 254, &payload);
        // two full chunks plus the empty terminator; the id wraps.
        assert_eq!(next, 1);
        assert_eq!(wire.len(), payload.len() + 3 * HEADER_LEN);
        let mut d = Deframer::default();
        for c in wire.chunks(65_536) {
            d.push(c);
        }
        let out = frames(&mut d);
        assert_eq!(out.len(), 1);
        let Frame::Packet(p) = &out[0] else {
            panic!("oversized")
        };
        assert_eq!((p.seq, p.chunks, p.payload.len()), (254, 3, payload.len()));
    }

    #[test]
    fn forged_length_is_skipped_not_buffered() {
        let mut d = Deframer::new(1024);
        d.push(&[0xfe, 0xff, 0xff, 0x00]);
        d.push(&[0u8; 4096]);
        assert_eq!(d.next_frame(), None);
        assert!(d.buffered() == 0, "skipped bytes must not be kept");
        d.push(&vec![0u8; 0xff_fffe - 4096]);
        assert_eq!(
            d.next_frame(),
            Some(Frame::Oversized {
                seq: 0,
                len: 0xff_fffe
            })
        );
    }
}
