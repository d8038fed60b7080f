//! Each direction's byte stream: plain packets, the compressed protocol
//! after a login that negotiated it, TLS records after an SSLRequest, or
//! opaque.

use crate::compress::{CompressedDeframer, Compression};
use crate::flags::Capabilities;
use crate::frame::{Deframer, Frame};
use crate::tls_record::TlsRecordReader;

use super::Observer;

pub(super) enum Stream {
    Plain(Deframer),
    Compressed(CompressedDeframer),
    /// After the SSLRequest: only TLS record headers are read.
    Tls(Box<TlsRecordReader>),
    Opaque,
}

impl Stream {
    pub(super) fn push(&mut self, data: &[u8]) -> bool {
        match self {
            Self::Plain(d) => d.push(data),
            Self::Compressed(d) => d.push(data),
            Self::Tls(_) | Self::Opaque => return false,
        }
        true
    }

    pub(super) fn next_frame(&mut self) -> Result<Option<Frame>, crate::WireError> {
        match self {
            Self::Plain(d) => Ok(d.next_frame()),
            Self::Compressed(d) => d.next_frame(),
            Self::Tls(_) | Self::Opaque => Ok(None),
        }
    }
}

impl Observer {
    /// The compression both sides asked for, switched on by the OK that
    /// ends the login.
    pub(super) fn login_compression(&self) -> Option<Compression> {
        let both = self.negotiated()?;
        if both.contains(Capabilities::COMPRESS) {
            Some(Compression::Zlib)
        } else if both.contains(Capabilities::ZSTD_COMPRESSION_ALGORITHM) {
            Some(Compression::Zstd)
        } else {
            None
        }
    }

    pub(super) fn start_compression(&mut self, alg: Compression) {
        self.compression = Some(alg);
        for s in [&mut self.c2s, &mut self.s2c] {
            if let Stream::Plain(d) = s {
                let rest = d.take_unread();
                let mut c = CompressedDeframer::new(alg, self.cfg.max_packet);
                c.push(&rest);
                *s = Stream::Compressed(c);
            }
        }
    }
}
