//! What the observer hands out: decoded packets, handshake milestones and
//! notices, each stamped with its direction and time, and its settings.

use std::time::Duration;

use crate::codes::{Command, ErrorCode};
use crate::compress::Compression;
use crate::frame::DEFAULT_MAX_PACKET;
use crate::packets::{ClientAuthKind, Ctx, MoreDataMeaning, Packet};
use crate::tls_record::TlsRecord;

/// Which way bytes travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the client to the server.
    ClientToServer,
    /// From the server to the client.
    ServerToClient,
}

impl Direction {
    /// `c2s` or `s2c`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientToServer => "c2s",
            Self::ServerToClient => "s2c",
        }
    }
}

/// A packet the observer decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedPacket {
    /// When its last byte was fed.
    pub at: Duration,
    /// Direction.
    pub dir: Direction,
    /// Sequence id.
    pub seq: u8,
    /// Payload length (joined, for packets over 16 MiB).
    pub len: usize,
    /// The decoded packet.
    pub packet: Packet,
    /// The payload it was decoded from.
    pub payload: bytes::Bytes,
    /// The negotiated context it was decoded with.
    pub ctx: Ctx,
}

/// Handshake milestones, for timelines.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Milestone {
    /// The server's greeting.
    Greeting {
        /// Protocol version (9 or 10).
        protocol: u8,
        /// Server version.
        server_version: String,
        /// Connection id (absent when a snaplen cut it off).
        connection_id: Option<u32>,
    },
    /// The client asked for TLS.
    SslRequest,
    /// From here on the connection is encrypted and not decoded.
    TlsStart,
    /// A TLS record header after the SSLRequest (the first
    /// [`MAX_RECORDS`](crate::tls_record::MAX_RECORDS) of each direction).
    TlsRecord(TlsRecord),
    /// The client's login request.
    Login {
        /// User name.
        user: String,
        /// Database.
        database: Option<String>,
        /// Client auth plugin.
        auth_plugin: Option<String>,
    },
    /// The server asked for another auth plugin.
    AuthSwitch {
        /// The plugin.
        plugin: String,
    },
    /// The server sent AuthMoreData.
    AuthMoreData(MoreDataMeaning),
    /// The server asked for another factor.
    AuthNextFactor {
        /// The plugin.
        plugin: String,
    },
    /// The client sent auth data (switch response or later round).
    ClientAuthData(ClientAuthKind),
    /// OK ending the connection phase (or a COM_CHANGE_USER).
    Ok,
    /// ERR in the connection phase, or any ERR in the command phase.
    Err {
        /// Error code.
        code: ErrorCode,
        /// True when it replaced the greeting.
        in_place_of_greeting: bool,
    },
    /// A command-phase request.
    Command(Command),
    /// The compressed protocol starts.
    CompressionOn(Compression),
}

/// Things the observer could not decode normally.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Notice {
    /// The first packets are not a greeting: the capture began mid-stream.
    MidStream,
    /// A packet exceeded the size limit and was skipped.
    Oversized {
        /// Its announced length.
        len: usize,
    },
    /// A packet did not decode as the state expected.
    Malformed {
        /// What was expected.
        expected: &'static str,
    },
    /// The compressed stream could not be inflated; decoding of that
    /// direction stops.
    Decompress(crate::WireError),
    /// Data arrived after a TLS start and was not decoded.
    Encrypted {
        /// Bytes.
        bytes: usize,
    },
    /// The caller reported missing bytes; decoding resynchronises at the
    /// next client command.
    Gap,
    /// Bytes the capture cut (a snaplen) held a packet header: decoding
    /// of this direction resumes at its next turn.
    CutHeader,
}

/// What [`Observer::feed`](super::Observer::feed) emits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObserverEvent {
    /// A decoded packet.
    Packet(ObservedPacket),
    /// A milestone.
    Milestone {
        /// When.
        at: Duration,
        /// Sent in which direction.
        dir: Direction,
        /// What.
        milestone: Milestone,
    },
    /// Something went wrong in one direction.
    Notice {
        /// When.
        at: Duration,
        /// Which direction.
        dir: Direction,
        /// What.
        notice: Notice,
    },
}

/// Observer settings.
#[derive(Debug, Clone, Copy)]
pub struct ObserverConfig {
    /// Largest packet buffered per direction.
    pub max_packet: usize,
    /// Emit every decoded packet. When off, only milestones and notices,
    /// plus the packets a connection summary needs: the first one (the
    /// connection carried MySQL) unless it is a greeting (its milestone
    /// says as much), ERRs and malformed ones (their text), and oversized
    /// ones. A capture's connection records need nothing
    /// more, and each packet event costs a payload reference and a move.
    pub packets: bool,
}

impl Default for ObserverConfig {
    fn default() -> Self {
        Self {
            max_packet: DEFAULT_MAX_PACKET,
            packets: true,
        }
    }
}
