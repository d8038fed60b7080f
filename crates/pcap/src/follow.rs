//! Following TCP connections in order and feeding the observer.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use hsp_wire::observer::{Direction, Observer, ObserverConfig, ObserverEvent};

use crate::link::Segment;

/// Stream index in order of first appearance (tshark's tcp.stream).
pub type ConnId = u32;

/// Client and server of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    /// The client's address.
    pub client: SocketAddr,
    /// The server's address.
    pub server: SocketAddr,
}

/// An observer event with the connection it belongs to.
#[derive(Debug, Clone)]
pub struct FollowerEvent {
    /// Stream index.
    pub conn: ConnId,
    /// Who is who.
    pub endpoints: Endpoint,
    /// The event.
    pub event: ObserverEvent,
}

struct Conn {
    id: ConnId,
    endpoints: Option<Endpoint>,
    next: [Option<u32>; 2],
    observer: Option<Observer>,
}

/// Follows every TCP connection of a capture; decodes those with a server
/// port in the configured set.
pub struct Follower {
    conns: HashMap<(SocketAddr, SocketAddr), Conn>,
    next_id: ConnId,
    server_ports: Vec<u16>,
    cfg: ObserverConfig,
}

impl std::fmt::Debug for Follower {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Follower")
            .field("connections", &self.conns.len())
            .field("server_ports", &self.server_ports)
            .finish()
    }
}

fn key(a: SocketAddr, b: SocketAddr) -> (SocketAddr, SocketAddr) {
    if a <= b { (a, b) } else { (b, a) }
}

impl Follower {
    /// A follower decoding MySQL on `server_ports`.
    pub fn new(server_ports: Vec<u16>, cfg: ObserverConfig) -> Self {
        Self {
            conns: HashMap::new(),
            next_id: 0,
            server_ports,
            cfg,
        }
    }

    /// Number of TCP connections seen.
    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    /// Handles one segment captured at `at`, appending observer events.
    pub fn on_segment(&mut self, seg: &Segment<'_>, at: Duration, out: &mut Vec<FollowerEvent>) {
        let k = key(seg.src, seg.dst);
        let next_id = &mut self.next_id;
        let conn = self.conns.entry(k).or_insert_with(|| {
            let id = *next_id;
            *next_id += 1;
            Conn {
                id,
                endpoints: None,
                next: [None, None],
                observer: None,
            }
        });
        if conn.endpoints.is_none() {
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
            } else if self.server_ports.contains(&seg.dst.port()) {
                Some(Endpoint {
                    client: seg.src,
                    server: seg.dst,
                })
            } else if self.server_ports.contains(&seg.src.port()) {
                Some(Endpoint {
                    client: seg.dst,
                    server: seg.src,
                })
            } else {
                None
            };
            if let Some(ep) = ep {
                conn.endpoints = Some(ep);
                if self.server_ports.contains(&ep.server.port()) {
                    conn.observer = Some(Observer::new(self.cfg));
                }
            }
        }
        let Some(ep) = conn.endpoints else { return };
        let dir = if seg.src == ep.client {
            Direction::ClientToServer
        } else {
            Direction::ServerToClient
        };
        let d = usize::from(dir == Direction::ServerToClient);
        let syn = u32::from(seg.flags.syn);
        let Some(obs) = conn.observer.as_mut() else {
            return;
        };
        let mut events = Vec::new();
        let start = seg.seq.wrapping_add(syn);
        let expected = *conn.next[d].get_or_insert(start);
        let mut data = seg.payload;
        if !data.is_empty() {
            let delta = start.wrapping_sub(expected) as i32;
            if delta > 0 {
                obs.gap(dir, at, &mut events);
            } else if delta < 0 {
                // Retransmitted or overlapping: keep only the new bytes.
                let skip = (-(delta as i64)) as usize;
                data = data.get(skip..).unwrap_or(&[]);
            }
            if !data.is_empty() {
                obs.feed(dir, data, at, &mut events);
            }
            let end = start.wrapping_add(seg.payload.len() as u32);
            if (end.wrapping_sub(expected) as i32) > 0 {
                conn.next[d] = Some(end);
            }
            if seg.truncated {
                obs.gap(dir, at, &mut events);
            }
        } else if seg.flags.syn {
            conn.next[d] = Some(start);
        }
        if seg.flags.fin
            && let Some(n) = conn.next[d].as_mut()
        {
            *n = n.wrapping_add(1);
        }
        out.extend(events.into_iter().map(|event| FollowerEvent {
            conn: conn.id,
            endpoints: ep,
            event,
        }));
    }
}
