//! Which end is the server, and whether a connection is MySQL: the SYN
//! says who connected; a configured port, a server already shown to speak
//! MySQL, or the connection's own first bytes say MySQL. Those bytes are a
//! greeting (or an ERR in its place), or, for a capture that starts after
//! the handshake, the command phase's shape: a client packet with
//! sequence id 0 and a command byte answered by a server packet with
//! sequence id 1 (a login, sequence id 1, answered with 2, for one that
//! starts after the greeting). Wireshark needs "Decode As" for these.
//!
//! A server shown to speak MySQL is known for the rest of the capture:
//! every connection to it is MySQL, including those that ended before it
//! was known (a SYN answered by RST, a client that never heard a
//! greeting), which wait, bounded and counted, until their server is
//! decided or the capture ends.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;

use hsp_wire::codes::Command;
use hsp_wire::flags::Capabilities;
use hsp_wire::frame::{HEADER_LEN, PacketHeader};
use hsp_wire::observer::{Observer, ObserverConfig};

use super::{Conn, Endpoint, FlowKey};
use crate::link::Segment;

/// Payload segments an undecided connection may show before it is given
/// up as not MySQL.
const SNIFF_MAX: u8 = 8;
/// Undecided connections waiting for their server to be known, in all.
const WAITING_MAX: usize = 65_536;

/// What the follower knows about servers.
#[derive(Debug, Default)]
pub(super) struct Servers {
    /// Configured ports: MySQL on any address.
    pub(super) ports: Vec<u16>,
    /// Servers shown to speak MySQL in this capture.
    known: HashSet<SocketAddr>,
    /// Undecided connections per server, until it is known.
    waiting: HashMap<SocketAddr, Vec<FlowKey>>,
    waiting_len: usize,
    /// Connections to servers never shown to speak MySQL, left out.
    pub(super) left_out: u64,
}

impl Servers {
    pub(super) fn new(ports: Vec<u16>) -> Self {
        Self {
            ports,
            ..Self::default()
        }
    }

    /// Whether `addr` is a server whose connections are MySQL.
    fn mysql(&self, addr: SocketAddr) -> bool {
        self.ports.contains(&addr.port()) || (!self.known.is_empty() && self.known.contains(&addr))
    }

    /// `server` was shown to speak MySQL: the connections that waited for
    /// it, to be decided now.
    pub(super) fn learn(&mut self, server: SocketAddr) -> Vec<FlowKey> {
        if !self.known.insert(server) {
            return Vec::new();
        }
        let keys = self.waiting.remove(&server).unwrap_or_default();
        self.waiting_len -= keys.len();
        keys
    }

    /// An undecided connection to `server` waits for it to be known;
    /// `false` when too many already wait.
    fn wait(&mut self, server: SocketAddr, key: FlowKey) -> bool {
        if self.waiting_len >= WAITING_MAX {
            return false;
        }
        self.waiting.entry(server).or_default().push(key);
        self.waiting_len += 1;
        true
    }
}

/// A client packet at the start of `p` that only MySQL sends first in a
/// capture that missed the greeting: sequence id 0 and a command byte, or
/// sequence id 1 and a 4.1 login's capability flags. Its sequence id.
fn client_packet_shape(p: &[u8]) -> Option<u8> {
    let h = PacketHeader::parse(p)?;
    let body = p.get(HEADER_LEN..)?;
    match h.seq {
        0 if h.len >= 1 => {
            let c = Command(*body.first()?);
            (c != Command::COM_SLEEP && c.wireshark_label().is_some()).then_some(0)
        }
        1 if (32..=65_536).contains(&h.len) => {
            let caps = u32::from_le_bytes(body.get(..4)?.try_into().ok()?);
            Capabilities::from_bits_retain(caps)
                .contains(Capabilities::PROTOCOL_41)
                .then_some(1)
        }
        _ => None,
    }
}

/// COM_QUIT, alone in its segment.
const QUIT: [u8; 5] = [1, 0, 0, 0, 1];

/// Whether `p`, the first bytes a server sent, is a MySQL greeting: a
/// packet with sequence id 0 holding protocol version 10 (or 9) and a
/// printable, NUL-terminated version string, or an ERR in its place
/// (max_connections, a blocked host) with a MySQL error code.
pub fn looks_like_greeting(p: &[u8]) -> bool {
    greeting_start(p, false)
}

/// [`looks_like_greeting`] for a segment a snaplen cut: a version string
/// that runs to the cut counts if at least 8 of its bytes are visible,
/// printable and start with a digit.
pub fn looks_like_cut_greeting(p: &[u8]) -> bool {
    greeting_start(p, true)
}

fn greeting_start(p: &[u8], cut: bool) -> bool {
    if p.len() < 7 || p[3] != 0 {
        return false;
    }
    let len = usize::from(p[0]) | usize::from(p[1]) << 8 | usize::from(p[2]) << 16;
    match p[4] {
        9 | 10 if (20..=1024).contains(&len) => {
            let version = &p[5..p.len().min(4 + len).min(5 + 64)];
            let printable = |v: &[u8]| v.iter().all(|b| (0x20..0x7f).contains(b));
            match version.iter().position(|&b| b == 0) {
                Some(n) if n > 0 => printable(&version[..n]),
                None if cut => {
                    version.len() >= 8 && version[0].is_ascii_digit() && printable(version)
                }
                _ => false,
            }
        }
        0xff if (3..=1024).contains(&len) => {
            (1000..5000).contains(&u16::from_le_bytes([p[5], p[6]]))
        }
        _ => false,
    }
}

/// Whether `seg`'s payload starts with a greeting (as far as it goes, when
/// a snaplen cut it).
fn greets(seg: &Segment<'_>) -> bool {
    if seg.truncated {
        looks_like_cut_greeting(seg.payload)
    } else {
        looks_like_greeting(seg.payload)
    }
}

impl Conn {
    /// Decides the endpoints (once) and whether to decode, from `seg`.
    /// Returns a server this connection just showed to speak MySQL.
    pub(super) fn identify(
        &mut self,
        seg: &Segment<'_>,
        key: FlowKey,
        servers: &mut Servers,
        cfg: ObserverConfig,
    ) -> Option<SocketAddr> {
        let decode = |c: &mut Self| c.observer = Some(Box::new(Observer::new(cfg)));
        if self.endpoints.is_none() && self.sniffed >= SNIFF_MAX {
            return None;
        }
        if self.endpoints.is_none() {
            let ep = if seg.flags.syn && !seg.flags.ack {
                Some((seg.src, seg.dst))
            } else if seg.flags.syn && seg.flags.ack {
                Some((seg.dst, seg.src))
            } else if servers.mysql(seg.dst) {
                Some((seg.src, seg.dst))
            } else if servers.mysql(seg.src) {
                Some((seg.dst, seg.src))
            } else if !seg.payload.is_empty() && greets(seg) {
                // Mid-connection on an unknown port, caught at its greeting.
                Some((seg.dst, seg.src))
            } else if !seg.payload.is_empty() && client_packet_shape(seg.payload).is_some() {
                // After the greeting: the client speaks first.
                Some((seg.src, seg.dst))
            } else {
                if !seg.payload.is_empty() {
                    self.sniffed += 1;
                }
                None
            };
            let (client, server) = ep?;
            self.endpoints = Some(Endpoint { client, server });
            self.track = Some(Box::default());
            if servers.mysql(server) {
                decode(self);
                return None;
            }
            self.pending = true;
            self.waiting = seg.payload.is_empty() && servers.wait(server, key);
        }
        let ep = self.endpoints?;
        if let Some(seq) = self.tentative
            && seg.src == ep.server
        {
            // The answer to the packet that looked like MySQL's.
            let answered =
                PacketHeader::parse(seg.payload).is_some_and(|h| h.seq == seq.wrapping_add(1));
            let quit_closed = seq == 0
                && self.quit_only
                && seg.payload.is_empty()
                && (seg.flags.fin || seg.flags.rst);
            if answered || quit_closed {
                self.tentative = None;
                return Some(ep.server);
            }
            if !seg.payload.is_empty() || seg.flags.fin || seg.flags.rst {
                self.give_up(servers);
            }
            return None;
        }
        if !self.pending {
            return None;
        }
        if servers.mysql(ep.server) {
            self.pending = false;
            decode(self);
            return None;
        }
        if seg.payload.is_empty() {
            return None;
        }
        if seg.src == ep.server && greets(seg) {
            self.pending = false;
            decode(self);
            return Some(ep.server);
        }
        if seg.src == ep.client
            && let Some(seq) = client_packet_shape(seg.payload)
        {
            // MySQL if the server answers in sequence; decoded from here
            // meanwhile, reported only then.
            self.pending = false;
            self.tentative = Some(seq);
            self.quit_only = seg.payload == QUIT;
            decode(self);
            return None;
        }
        self.sniffed += 1;
        if self.sniffed >= SNIFF_MAX {
            self.give_up(servers);
        }
        None
    }

    /// An undecided connection closed: one whose bytes showed no MySQL is
    /// not MySQL; one that carried none (a refused SYN, a client never
    /// greeted) waits for its server to be known, if it is among those
    /// waiting (bounded).
    pub(super) fn closed_undecided(&mut self, servers: &mut Servers) {
        if self.pending && (self.sniffed > 0 || !self.waiting) {
            self.give_up(servers);
        }
    }

    /// Not MySQL as far as its bytes show: followed no further, counted as
    /// left out.
    fn give_up(&mut self, servers: &mut Servers) {
        servers.left_out += u64::from(self.left_out());
        self.pending = false;
        self.tentative = None;
        self.track = None;
        self.observer = None;
    }

    /// Undecided: waiting for its server to be known, or for its first
    /// bytes to show MySQL.
    pub(super) fn undecided(&self) -> bool {
        self.pending || self.tentative.is_some()
    }

    /// Still undecided at its end, though it tried to reach a server (a
    /// SYN) or carried bytes: counted as left out.
    pub(super) fn left_out(&self) -> bool {
        self.undecided()
            && !self.reported
            && self.track.as_ref().is_some_and(|t| t.worth_reporting())
    }
}
