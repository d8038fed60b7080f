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
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// The window scale shift this side announces (RFC 7323), read from
    /// SYN and SYN-ACK segments only.
    pub wscale: Option<u8>,
    /// Flags.
    pub flags: TcpFlags,
    /// The IP TTL (IPv4) or hop limit (IPv6) the segment arrived with: a
    /// reset forged by a device between the ends arrives with a TTL its
    /// supposed sender's packets do not have.
    pub ttl: u8,
    /// The TCP options, raw (read on demand: timestamps, SACK).
    pub options: &'a [u8],
    /// Payload bytes present in the capture.
    pub payload: &'a [u8],
    /// Payload bytes the segment carried on the wire, from the IP length:
    /// more than `payload` holds when the capture cut it (a snaplen).
    pub len: u32,
    /// True when the capture cut the payload short (snaplen).
    pub truncated: bool,
}

impl Segment<'_> {
    /// Payload bytes on the wire that the capture does not hold.
    #[inline]
    pub fn cut(&self) -> usize {
        (self.len as usize).saturating_sub(self.payload.len())
    }
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

/// The link types [`slice_tcp`] reads, for messages.
pub const SUPPORTED_LINK_TYPES: &str = "0 (BSD loopback), 1 (Ethernet), 12, 14 and 101 (raw IP), 108 (OpenBSD loopback), 113 (Linux cooked), 228 and 229 (raw IPv4 and IPv6), 276 (Linux cooked v2)";

/// libpcap's name for link type `dlt` (`IEEE802_11_RADIO`), if it has one.
pub fn link_type_name(dlt: i32) -> Option<String> {
    pcap::Linktype(dlt).get_name().ok()
}

/// Whether records of link type `dlt` can hold a TCP segment this crate
/// slices.
pub(crate) fn decodable(dlt: i32) -> bool {
    matches!(
        dlt,
        DLT_NULL
            | DLT_EN10MB
            | DLT_RAW
            | DLT_RAW_OPENBSD
            | DLT_LOOP
            | DLT_RAW_101
            | DLT_LINUX_SLL
            | DLT_IPV4
            | DLT_IPV6
            | DLT_LINUX_SLL2
    )
}

/// Slices a record of link type `dlt` down to TCP; `None` for anything
/// that is not TCP over IP.
///
/// The common shapes (untagged Ethernet, cooked, loopback or raw framing
/// around an unfragmented IPv4 or IPv6 header followed directly by TCP)
/// are read from their fixed headers in place, as pcap-parser does; every
/// other shape (VLAN tags, IPv6 extension headers, damaged headers) goes
/// through etherparse. A test checks that both agree on every fixture.
pub fn slice_tcp(dlt: i32, data: &[u8]) -> Option<Segment<'_>> {
    if let Some((ether_type, ip)) = ip_start(dlt, data)
        && let Some(fast) = fast_ip_tcp(ether_type, ip)
    {
        return fast;
    }
    slice_tcp_etherparse(dlt, data)
}

/// The ether type (0: by the version nibble) and the bytes after the link
/// header, for the untagged shapes.
#[inline(always)]
fn ip_start(dlt: i32, data: &[u8]) -> Option<(u16, &[u8])> {
    match dlt {
        DLT_EN10MB if data.len() >= 14 => Some((be16(data, 12), &data[14..])),
        DLT_LINUX_SLL if data.len() >= 16 => Some((be16(data, 14), &data[16..])),
        DLT_LINUX_SLL2 if data.len() >= 20 => Some((be16(data, 0), &data[20..])),
        DLT_NULL | DLT_LOOP if data.len() >= 4 => Some((0, &data[4..])),
        DLT_RAW | DLT_RAW_OPENBSD | DLT_RAW_101 | DLT_IPV4 | DLT_IPV6 => Some((0, data)),
        _ => None,
    }
}

/// Why a record that [`slice_tcp`] declined holds a damaged TCP/IP
/// header: an IPv4 total length shorter than its headers. `None` for
/// records that are simply not TCP.
pub(crate) fn ip_length_problem(dlt: i32, data: &[u8]) -> Option<String> {
    let (ether_type, ip) = ip_start(dlt, data)?;
    if !matches!(ether_type, ETHER_IPV4 | 0)
        || ip.len() < 20
        || ip[0] >> 4 != 4
        || ip[9] != IPPROTO_TCP
    {
        return None;
    }
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let total = usize::from(be16(ip, 2));
    (ihl < 20 || total < ihl + 20).then(|| {
        format!("IPv4 total length {total} is shorter than its headers ({ihl} bytes of IP, at least 20 of TCP); the record is skipped")
    })
}

#[inline(always)]
fn be16(d: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([d[at], d[at + 1]])
}

#[inline(always)]
fn be32(d: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([d[at], d[at + 1], d[at + 2], d[at + 3]])
}

const ETHER_IPV4: u16 = 0x0800;
const ETHER_IPV6: u16 = 0x86dd;
const IPPROTO_TCP: u8 = 6;

/// IP then TCP from fixed headers. `ether_type` 0 means "by the version
/// nibble" (raw and loopback framing). `Some(None)`: certainly not TCP;
/// `None`: not a shape read here, ask etherparse.
#[allow(clippy::option_option)]
#[inline(always)]
fn fast_ip_tcp(ether_type: u16, ip: &[u8]) -> Option<Option<Segment<'_>>> {
    let version = ip.first()? >> 4;
    match (ether_type, version) {
        (ETHER_IPV4 | 0, 4) => {
            let ihl = usize::from(ip[0] & 0x0f) * 4;
            if ihl < 20 || ip.len() < ihl {
                return None;
            }
            let total = usize::from(be16(ip, 2));
            let frag = be16(ip, 6);
            if total < ihl || frag & 0x3fff != 0 {
                return None; // fragments and nonsense lengths: etherparse decides
            }
            if ip[9] != IPPROTO_TCP {
                return Some(None);
            }
            let src = std::net::Ipv4Addr::from(be32(ip, 12));
            let dst = std::net::Ipv4Addr::from(be32(ip, 16));
            let (body, truncated) = bounded(ip, ihl, total);
            fast_tcp(src.into(), dst.into(), ip[8], body, truncated, total - ihl)
        }
        (ETHER_IPV6 | 0, 6) => {
            if ip.len() < 40 || ip[6] != IPPROTO_TCP {
                return None; // extension headers or not TCP: etherparse decides
            }
            let total = 40 + usize::from(be16(ip, 4));
            let src = std::net::Ipv6Addr::from(<[u8; 16]>::try_from(&ip[8..24]).ok()?);
            let dst = std::net::Ipv6Addr::from(<[u8; 16]>::try_from(&ip[24..40]).ok()?);
            let (body, truncated) = bounded(ip, 40, total);
            fast_tcp(src.into(), dst.into(), ip[7], body, truncated, total - 40)
        }
        _ => None,
    }
}

/// The IP payload: `ip[hdr..total]`, cut to what was captured (then
/// `truncated`), and without link-layer padding past `total`.
#[inline(always)]
fn bounded(ip: &[u8], hdr: usize, total: usize) -> (&[u8], bool) {
    if ip.len() < total {
        (&ip[hdr..], true)
    } else {
        (&ip[hdr..total], false)
    }
}

#[allow(clippy::option_option)]
#[inline(always)]
fn fast_tcp<'a>(
    src: IpAddr,
    dst: IpAddr,
    ttl: u8,
    tcp: &'a [u8],
    truncated: bool,
    wire: usize,
) -> Option<Option<Segment<'a>>> {
    if tcp.len() < 20 {
        return None;
    }
    let off = usize::from(tcp[12] >> 4) * 4;
    if off < 20 || wire < off || (tcp.len() < off && !truncated) {
        return None;
    }
    // A snaplen may cut the options too: what is left of them is kept.
    let options = &tcp[20..off.min(tcp.len())];
    let flags = tcp[13];
    let wscale = if flags & 0x02 != 0 {
        window_scale(options)
    } else {
        None
    };
    Some(Some(Segment {
        src: SocketAddr::new(src, be16(tcp, 0)),
        dst: SocketAddr::new(dst, be16(tcp, 2)),
        seq: be32(tcp, 4),
        ack: be32(tcp, 8),
        window: be16(tcp, 14),
        wscale,
        flags: TcpFlags {
            fin: flags & 0x01 != 0,
            syn: flags & 0x02 != 0,
            rst: flags & 0x04 != 0,
            ack: flags & 0x10 != 0,
        },
        ttl,
        options,
        payload: tcp.get(off..).unwrap_or(&[]),
        len: u32::try_from(wire - off).unwrap_or(u32::MAX),
        truncated,
    }))
}

/// The window scale option among a SYN's TCP `options`: kind 3, length
/// 3, the shift. Malformed options end the search.
fn window_scale(options: &[u8]) -> Option<u8> {
    match find_option(options, 3)? {
        [shift] => Some(*shift),
        _ => None,
    }
}

/// `a` is after `b` in TCP sequence space (RFC 1982 serial arithmetic).
pub(crate) fn seq_after(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

/// Whether TCP `options` carry the timestamp option (kind 8). Linux puts
/// it first after two NOPs on every segment of a connection that
/// negotiated it, which is checked before the general walk.
pub(crate) fn has_timestamp(options: &[u8]) -> bool {
    if options.len() >= 12 && options[..3] == [1, 1, 8] {
        return true;
    }
    find_option(options, 8).is_some()
}

/// The TCP timestamp option's value (TSval), if present.
pub(crate) fn timestamp_value(options: &[u8]) -> Option<u32> {
    if options.len() >= 12 && options[..4] == [1, 1, 8, 10] {
        return Some(be32(options, 4));
    }
    let body = find_option(options, 8)?;
    (body.len() >= 8).then(|| be32(body, 0))
}

/// The SACK blocks (kind 5) among TCP `options`, as (left, right) edges.
pub(crate) fn sack_blocks(options: &[u8]) -> impl Iterator<Item = (u32, u32)> + '_ {
    let body = find_option(options, 5).unwrap_or(&[]);
    body.chunks_exact(8).map(|b| (be32(b, 0), be32(b, 4)))
}

/// The body of the first option of `kind`; malformed options end the walk.
fn find_option(options: &[u8], kind: u8) -> Option<&[u8]> {
    let mut i = 0;
    while let Some(&k) = options.get(i) {
        match k {
            0 => return None,
            1 => i += 1,
            _ => {
                let len = usize::from(*options.get(i + 1)?);
                if len < 2 {
                    return None;
                }
                if k == kind {
                    return options.get(i + 2..i + len);
                }
                i += len;
            }
        }
    }
    None
}

/// A record of link type `dlt` sliced by etherparse, down to whatever it
/// holds.
fn lax_slice(dlt: i32, data: &[u8]) -> Option<LaxSlicedPacket<'_>> {
    Some(match dlt {
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
    })
}

/// [`slice_tcp`] through etherparse only: every link and IP shape it
/// knows, slower. Public for the test that compares the two paths.
#[doc(hidden)]
pub fn slice_tcp_etherparse(dlt: i32, data: &[u8]) -> Option<Segment<'_>> {
    let pkt = lax_slice(dlt, data)?;
    // The IP payload's length on the wire, where the header says it.
    let (src_ip, dst_ip, ttl, truncated, wire): (IpAddr, IpAddr, u8, bool, Option<usize>) =
        match pkt.net.as_ref()? {
            LaxNetSlice::Ipv4(v4) => {
                if v4.payload().fragmented {
                    return None;
                }
                let h = v4.header();
                (
                    h.source_addr().into(),
                    h.destination_addr().into(),
                    h.ttl(),
                    v4.payload().incomplete,
                    usize::from(h.total_len()).checked_sub(usize::from(h.ihl()) * 4),
                )
            }
            LaxNetSlice::Ipv6(v6) => (
                v6.header().source_addr().into(),
                v6.header().destination_addr().into(),
                v6.header().hop_limit(),
                v6.payload().incomplete,
                usize::from(v6.header().payload_length())
                    .checked_sub(v6.extensions().slice().len()),
            ),
            LaxNetSlice::Arp(_) => return None,
        };
    let Some(TransportSlice::Tcp(tcp)) = pkt.transport.as_ref() else {
        // etherparse declines a TCP header that a snaplen cut inside its
        // options: its fixed part is read as the fast path reads it.
        let ip = match pkt.net.as_ref()? {
            LaxNetSlice::Ipv4(v4) => v4.payload(),
            LaxNetSlice::Ipv6(v6) => v6.payload(),
            LaxNetSlice::Arp(_) => return None,
        };
        if ip.ip_number != etherparse::IpNumber::TCP || !truncated {
            return None;
        }
        return fast_tcp(src_ip, dst_ip, ttl, ip.payload, true, wire?).flatten();
    };
    Some(Segment {
        src: SocketAddr::new(src_ip, tcp.source_port()),
        dst: SocketAddr::new(dst_ip, tcp.destination_port()),
        seq: tcp.sequence_number(),
        ack: tcp.acknowledgment_number(),
        window: tcp.window_size(),
        wscale: if tcp.syn() {
            window_scale(tcp.options())
        } else {
            None
        },
        flags: TcpFlags {
            syn: tcp.syn(),
            ack: tcp.ack(),
            fin: tcp.fin(),
            rst: tcp.rst(),
        },
        ttl,
        options: tcp
            .slice()
            .get(20..usize::from(tcp.data_offset()) * 4)
            .unwrap_or(&[]),
        payload: tcp.payload(),
        len: u32::try_from(
            wire.and_then(|w| w.checked_sub(tcp.slice().len() - tcp.payload().len()))
                .filter(|&w| w >= tcp.payload().len())
                .unwrap_or(tcp.payload().len()),
        )
        .unwrap_or(u32::MAX),
        truncated,
    })
}

/// Whether a record that [`slice_tcp`] declined is an IPv4 fragment (a
/// fragment's TCP bytes cannot be read without reassembling IP, which
/// the decoder does not do: they are counted and become gaps).
pub(crate) fn is_ipv4_fragment(dlt: i32, data: &[u8]) -> bool {
    matches!(
        lax_slice(dlt, data).and_then(|p| p.net),
        Some(LaxNetSlice::Ipv4(v4)) if v4.payload().fragmented
    )
}
