//! # hsp-pcap: captures in, observer events out
//!
//! Reads pcap and pcapng files (opened by libpcap; classic pcap records
//! read directly, for speed), peels the link layer
//! (Ethernet with VLAN tags, Linux cooked SLL and SLL2, BSD NULL/LOOP, raw
//! IP), slices IPv4/IPv6 and TCP with etherparse, and follows each TCP
//! connection in order, feeding both directions to one
//! [`hsp_wire::observer::Observer`].
//!
//! The follower feeds in-order data once, skips retransmitted bytes, holds
//! segments that arrive ahead of a hole (bounded) until it fills, and
//! reports a hole that will not fill (acknowledged past by the receiver,
//! or the hold full) to the observer as a gap so it never decodes across
//! it; bytes a snaplen cut are passed on as a count, to be skipped by the
//! MySQL lengths. Connections to the configured ports are decoded, and
//! those to any server shown to speak MySQL: by a greeting, or by the
//! command phase's shape answered in sequence ([`looks_like_greeting`]);
//! connections with no MySQL bytes captured at all get records from TCP
//! alone ([`track`]). Files given together are one capture ([`plan`],
//! [`Chain`]). Beside it, a
//! [`track::Track`] per connection keeps the TCP evidence (handshake round
//! trip and vantage point, retransmissions, waits for ACKs, zero windows,
//! FIN/RST) and the MySQL milestones; when the connection closes (or goes
//! idle past a bound, or the capture ends) it is classified with hsp-core's
//! classifier and dropped, so memory follows the open connections, not the
//! file size. Files and live interfaces are both a [`RecordSource`].
#![warn(missing_docs)]

mod analyze;
mod chain;
mod events;
mod follow;
mod link;
mod sender;
mod source;
mod tls;
pub mod track;

pub use analyze::{FileTotals, analyze, analyze_file, analyze_with_wire};
pub use chain::{Chain, Part, plan};
pub use events::{Step, each_event};
pub use follow::{
    ConnId, Endpoint, Finished, Follower, FollowerEvent, looks_like_cut_greeting,
    looks_like_greeting,
};
pub use link::{
    SUPPORTED_LINK_TYPES, Segment, TcpFlags, link_type_name, slice_tcp, slice_tcp_etherparse,
};
pub use source::{LiveCapture, Next, PcapError, PcapFile, Prefetched, Record, RecordSource};
