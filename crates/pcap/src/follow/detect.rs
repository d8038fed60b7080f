//! Which end is the server, and whether a connection is MySQL: the SYN
//! says who connected; a configured port, or the server's first bytes (a
//! greeting, or an ERR in its place), say MySQL. A connection on another
//! port stays undecided, and unreported, until its first payload.

use hsp_wire::observer::{Observer, ObserverConfig};

use super::{Conn, Endpoint};
use crate::link::Segment;

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
    pub(super) fn identify(
        &mut self,
        seg: &Segment<'_>,
        server_ports: &[u16],
        cfg: ObserverConfig,
    ) {
        if self.endpoints.is_none() {
            let greeting_first = !seg.flags.syn
                && !server_ports.contains(&seg.dst.port())
                && !server_ports.contains(&seg.src.port())
                && greets(seg);
            let ep = if seg.flags.syn && !seg.flags.ack {
                Some(Endpoint {
                    client: seg.src,
                    server: seg.dst,
                })
            } else if seg.flags.syn && seg.flags.ack {
                Some(Endpoint {
                    client: seg.dst,
                    server: seg.src,
                })
            } else if server_ports.contains(&seg.dst.port()) {
                Some(Endpoint {
                    client: seg.src,
                    server: seg.dst,
                })
            } else if server_ports.contains(&seg.src.port()) {
                Some(Endpoint {
                    client: seg.dst,
                    server: seg.src,
                })
            } else if greeting_first {
                // Mid-connection on an unknown port, caught at its greeting.
                Some(Endpoint {
                    client: seg.dst,
                    server: seg.src,
                })
            } else {
                None
            };
            if let Some(ep) = ep {
                self.endpoints = Some(ep);
                self.track = Some(Box::default());
                if greeting_first || server_ports.contains(&ep.server.port()) {
                    self.observer = Some(Box::new(Observer::new(cfg)));
                } else {
                    self.pending = true;
                }
            }
        }
        if self.pending && !seg.payload.is_empty() {
            // The first payload decides: the server's greeting makes it
            // MySQL; anything else (the client speaking first, another
            // protocol) drops it for good.
            self.pending = false;
            if self.endpoints.is_some_and(|ep| seg.src == ep.server) && greets(seg) {
                self.observer = Some(Box::new(Observer::new(cfg)));
            } else {
                self.track = None;
            }
        }
    }
}
