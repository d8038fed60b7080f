//! Link layers down to TCP.
//!
//! etherparse handles Ethernet (with up to three VLAN tags), IPv4 and IPv6;
//! the cooked and loopback headers it lacks are peeled by hand, then handed
//! to `from_ether_type` / `from_ip`. Lax slicing keeps snaplen-truncated
//! packets: their payload is marked `truncated` instead of being dropped.

use std::net::{IpAddr, SocketAddr};

use etherparse::{EtherType, LaxNetSlice, LaxSlicedPacket, TransportSlice};

/// TCP flags the follower uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpFlags {
    /// SYN
    pub syn: bool,
    /// ACK
    pub ack: bool,
    /// FIN
    pub fin: bool,
    /// RST
    pub rst: bool,
}

/// One TCP segment.
#[derive(Debug, Clone)]
pub struct Segment<'a> {
    /// Source address.
    pub src: SocketAddr,
    /// Destination address.
    pub dst: SocketAddr,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number (meaningful when `flags.ack`).
    pub ack: u32,
    /// Advertised receive window (unscaled).
    pub window: u16,
    /// Flags.
    pub flags: TcpFlags,
    /// Payload bytes present in the capture.
    pub payload: &'a [u8],
    /// True when the capture cut the payload short (snaplen).
    pub truncated: bool,
}

const DLT_NULL: i32 = 0;
const DLT_EN10MB: i32 = 1;
const DLT_RAW: i32 = 12;
const DLT_RAW_OPENBSD: i32 = 14;
const DLT_LOOP: i32 = 108;
const DLT_RAW_101: i32 = 101;
const DLT_LINUX_SLL: i32 = 113;
const DLT_IPV4: i32 = 228;
const DLT_IPV6: i32 = 229;
const DLT_LINUX_SLL2: i32 = 276;

/// Slices a record of link type `dlt` down to TCP; `None` for anything
/// that is not TCP over IP.
pub fn slice_tcp(dlt: i32, data: &[u8]) -> Option<Segment<'_>> {
    let pkt = match dlt {
        DLT_EN10MB => LaxSlicedPacket::from_ethernet(data).ok()?,
        DLT_LINUX_SLL => {
            let proto = u16::from_be_bytes(data.get(14..16)?.try_into().ok()?);
            LaxSlicedPacket::from_ether_type(EtherType(proto), data.get(16..)?)
        }
        DLT_LINUX_SLL2 => {
            let proto = u16::from_be_bytes(data.get(0..2)?.try_into().ok()?);
            LaxSlicedPacket::from_ether_type(EtherType(proto), data.get(20..)?)
        }
        DLT_NULL | DLT_LOOP => LaxSlicedPacket::from_ip(data.get(4..)?).ok()?,
        DLT_RAW | DLT_RAW_OPENBSD | DLT_RAW_101 | DLT_IPV4 | DLT_IPV6 => {
            LaxSlicedPacket::from_ip(data).ok()?
        }
        _ => return None,
    };
    let (src_ip, dst_ip, truncated): (IpAddr, IpAddr, bool) = match pkt.net.as_ref()? {
        LaxNetSlice::Ipv4(v4) => {
            if v4.payload().fragmented {
                return None;
            }
            (
                v4.header().source_addr().into(),
                v4.header().destination_addr().into(),
                v4.payload().incomplete,
            )
        }
        LaxNetSlice::Ipv6(v6) => (
            v6.header().source_addr().into(),
            v6.header().destination_addr().into(),
            v6.payload().incomplete,
        ),
        LaxNetSlice::Arp(_) => return None,
    };
    let TransportSlice::Tcp(tcp) = pkt.transport.as_ref()? else {
        return None;
    };
    Some(Segment {
        src: SocketAddr::new(src_ip, tcp.source_port()),
        dst: SocketAddr::new(dst_ip, tcp.destination_port()),
        seq: tcp.sequence_number(),
        ack: tcp.acknowledgment_number(),
        window: tcp.window_size(),
        flags: TcpFlags {
            syn: tcp.syn(),
            ack: tcp.ack(),
            fin: tcp.fin(),
            rst: tcp.rst(),
        },
        payload: tcp.payload(),
        truncated,
    })
}
