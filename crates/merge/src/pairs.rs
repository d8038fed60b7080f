//! One connection's packets at both taps: which packet the client's tap
//! saw is which packet at the server's tap.
//!
//! A packet is known at both taps by what no device on a plain path
//! changes: its sequence and acknowledgment numbers, payload length, flags
//! and TCP timestamp value (a NAT rewrites addresses and ports, not these;
//! Linux gives every copy of a retransmitted segment a fresh timestamp,
//! so copies stay apart). Where the same key repeats (a stack without
//! timestamps resending), the k-th sent is the k-th seen. A receiver's
//! capture may coalesce data segments (GRO): a data segment with no exact
//! twin counts as arrived when an unmatched segment at the other tap
//! covers its bytes.

use std::collections::{HashMap, VecDeque};

use hsp_core::path::{WireLog, WireSeg, flag};

/// A packet seen at both taps.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pair {
    pub(crate) from_client: bool,
    /// As the sender's tap saw it.
    pub(crate) seg: WireSeg,
    /// At the sender's tap, µs on that tap's clock.
    pub(crate) sent_us: u64,
    /// At the receiver's tap, µs on that tap's clock.
    pub(crate) arrived_us: u64,
}

/// The packets of one connection, sorted out.
#[derive(Debug, Default)]
pub(crate) struct Sorted {
    /// Seen at both taps, exactly.
    pub(crate) pairs: Vec<Pair>,
    /// Seen leaving (at the sender's tap) and never arriving.
    pub(crate) lost: Vec<WireSeg>,
    /// Seen arriving (at the receiver's tap) and never leaving.
    pub(crate) unsent: Vec<WireSeg>,
}

type Key = (u32, u32, u32, u8, Option<u32>);

fn key(s: &WireSeg) -> Key {
    (s.seq, s.ack, s.len, s.flags, s.tsval)
}

/// Sorts the packets of `client` (the client's tap) and `server` (the
/// server's tap) of one connection.
pub(crate) fn sort(client: &WireLog, server: &WireLog) -> Sorted {
    let mut out = Sorted::default();
    for from_client in [true, false] {
        let (sender, receiver) = if from_client {
            (client, server)
        } else {
            (server, client)
        };
        let mut waiting: HashMap<Key, VecDeque<usize>> = HashMap::new();
        let arrivals: Vec<&WireSeg> = receiver
            .segs
            .iter()
            .filter(|s| s.from_client == from_client)
            .collect();
        for (i, s) in arrivals.iter().enumerate() {
            waiting.entry(key(s)).or_default().push_back(i);
        }
        let mut used = vec![false; arrivals.len()];
        let mut missing = Vec::new();
        for s in sender.segs.iter().filter(|s| s.from_client == from_client) {
            match waiting.get_mut(&key(s)).and_then(VecDeque::pop_front) {
                Some(i) => {
                    used[i] = true;
                    out.pairs.push(Pair {
                        from_client,
                        seg: *s,
                        sent_us: s.at_us,
                        arrived_us: arrivals[i].at_us,
                    });
                }
                None => missing.push(*s),
            }
        }
        // Coalesced at the receiver: covered by a segment with no twin.
        let covers = |a: &WireSeg, s: &WireSeg| {
            a.len > s.len
                && !after(a.seq, s.seq)
                && !after(s.seq.wrapping_add(s.len), a.seq.wrapping_add(a.len))
        };
        let mut covering = vec![false; arrivals.len()];
        for s in missing {
            let merged = (s.len > 0 && !s.has(flag::SYN | flag::RST))
                .then(|| {
                    arrivals
                        .iter()
                        .zip(&used)
                        .position(|(a, u)| !u && covers(a, &s))
                })
                .flatten();
            match merged {
                Some(i) => covering[i] = true,
                None => out.lost.push(s),
            }
        }
        for ((a, u), c) in arrivals.iter().zip(&used).zip(&covering) {
            if !u && !c {
                out.unsent.push(**a);
            }
        }
    }
    out
}

/// Each side's packets arrive at both taps with the same TTL: no router
/// between the taps (or one tap captured twice).
pub(crate) fn same_ttls(client: &WireLog, server: &WireLog) -> bool {
    [true, false].into_iter().all(|from_client| {
        let ttl = |w: &WireLog| {
            w.segs
                .iter()
                .find(|s| s.from_client == from_client)
                .map(|s| s.ttl)
        };
        ttl(client) == ttl(server)
    })
}

/// `a` comes after `b` in sequence space.
fn after(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

/// Bounds on the server tap's clock minus the client tap's, from pairs
/// seen both ways: a packet arrives after it leaves, so every client to
/// server pair bounds the offset from above and every server to client
/// pair from below.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Bounds {
    /// The least (server time - client time) of client-to-server pairs.
    pub(crate) upper: Option<i64>,
    /// The greatest (server time - client time) of server-to-client pairs.
    pub(crate) lower: Option<i64>,
    /// Pairs per direction.
    pub(crate) pairs: [u64; 2],
}

impl Bounds {
    pub(crate) fn add(&mut self, p: &Pair) {
        let (c, s) = if p.from_client {
            (p.sent_us, p.arrived_us)
        } else {
            (p.arrived_us, p.sent_us)
        };
        let d = s as i64 - c as i64;
        if p.from_client {
            self.upper = Some(self.upper.map_or(d, |u| u.min(d)));
            self.pairs[0] += 1;
        } else {
            self.lower = Some(self.lower.map_or(d, |l| l.max(d)));
            self.pairs[1] += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(at_us: u64, from_client: bool, seq: u32, len: u32, flags: u8, ts: u32) -> WireSeg {
        WireSeg {
            at_us,
            from_client,
            seq,
            ack: 0,
            len,
            flags,
            tsval: Some(ts),
            ttl: 64,
            frame: 0,
        }
    }

    #[test]
    fn copies_pair_by_timestamp_and_a_lost_copy_is_lost() {
        // The login leaves twice (fresh timestamps); only the second
        // arrives.
        let client = WireLog {
            segs: vec![
                seg(1_000, true, 10, 120, flag::ACK, 1),
                seg(201_000, true, 10, 120, flag::ACK, 2),
            ],
            more: 0,
        };
        let server = WireLog {
            segs: vec![seg(201_050, true, 10, 120, flag::ACK, 2)],
            more: 0,
        };
        let s = sort(&client, &server);
        assert_eq!(s.pairs.len(), 1);
        assert_eq!(s.pairs[0].sent_us, 201_000);
        assert_eq!(s.lost.len(), 1);
        assert_eq!(s.lost[0].at_us, 1_000);
        assert!(s.unsent.is_empty());
    }

    #[test]
    fn a_reset_the_sender_never_sent_is_unsent_and_coalesced_data_arrived() {
        let client = WireLog {
            segs: vec![seg(5_000, false, 500, 0, flag::RST, 9)],
            more: 0,
        };
        let server = WireLog {
            segs: vec![
                seg(1_000, false, 100, 100, flag::ACK, 1),
                seg(1_010, false, 200, 100, flag::ACK, 1),
            ],
            more: 0,
        };
        // The client's tap saw the two segments as one (GRO).
        let mut client = client;
        client
            .segs
            .insert(0, seg(1_100, false, 100, 200, flag::ACK, 1));
        let s = sort(&client, &server);
        assert!(s.lost.is_empty(), "{:?}", s.lost);
        assert_eq!(s.unsent.len(), 1);
        assert!(s.unsent[0].has(flag::RST));
    }

    #[test]
    fn bounds_hold_the_offset_between_the_two_directions() {
        let mut b = Bounds::default();
        // Server clock 1000 µs ahead; 40 µs one way.
        b.add(&Pair {
            from_client: true,
            seg: seg(10_000, true, 1, 0, flag::ACK, 1),
            sent_us: 10_000,
            arrived_us: 11_040,
        });
        b.add(&Pair {
            from_client: false,
            seg: seg(12_000, false, 1, 0, flag::ACK, 1),
            sent_us: 12_000,
            arrived_us: 11_040,
        });
        assert_eq!((b.lower, b.upper), (Some(960), Some(1_040)));
    }
}
