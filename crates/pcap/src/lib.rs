//! # hsp-pcap: captures in, observer events out
//!
//! Reads pcap and pcapng files through libpcap, peels the link layer
//! (Ethernet with VLAN tags, Linux cooked SLL and SLL2, BSD NULL/LOOP, raw
//! IP), slices IPv4/IPv6 and TCP with etherparse, and follows each TCP
//! connection in order, feeding both directions to one
//! [`hsp_wire::observer::Observer`].
//!
//! This is the minimal follower the packet listing needs: in-order data is
//! fed once, retransmitted bytes are skipped, and a jump forward (bytes the
//! capture never saw, or out of order) is reported to the observer as a gap
//! so it never decodes across it. Full reassembly with out-of-order
//! buffering and stall evidence belongs to the capture-analysis work.
#![warn(missing_docs)]

mod follow;
mod link;
mod source;

pub use follow::{ConnId, Endpoint, Follower, FollowerEvent};
pub use link::{Segment, TcpFlags, slice_tcp};
pub use source::{PcapError, PcapFile, Record};
