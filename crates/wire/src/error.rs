//! One flat error type for everything the codec can reject.
//!
//! Modelled on rustls' `InvalidMessage`: every variant names the field or
//! packet it concerns and, where it helps, the byte offset inside the packet
//! payload, so a user can find the bad byte in a hex dump.

/// Why bytes could not be decoded (or a packet could not be encoded).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The payload ended before `field` was complete.
    #[error("truncated {field} at offset {offset}")]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Offset of the field inside the payload.
        offset: usize,
    },
    /// `field` holds a value the protocol does not allow.
    #[error("invalid {field} at offset {offset}")]
    Invalid {
        /// The field being read.
        field: &'static str,
        /// Offset of the field inside the payload.
        offset: usize,
    },
    /// A packet was followed by bytes its layout does not account for.
    #[error("{count} trailing bytes after {packet}")]
    TrailingData {
        /// The packet type.
        packet: &'static str,
        /// How many bytes were left.
        count: usize,
    },
    /// A length field announced more than the configured limit.
    #[error("packet of {len} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Announced length.
        len: usize,
        /// Configured limit.
        limit: usize,
    },
    /// A compressed packet could not be inflated.
    #[error("cannot decompress packet: {0}")]
    Decompress(&'static str),
    /// The packet does not fit the handshake state it arrived in.
    #[error("unexpected {0}")]
    Unexpected(&'static str),
}
