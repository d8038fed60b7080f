//! One connection's packets at both taps: which packet the client's tap
//! saw is which packet at the server's tap.
//!
//! A packet is known at both taps by what no device on a plain path
//! changes: its sequence and acknowledgment numbers, payload length, flags
//! and TCP timestamp value (a NAT rewrites addresses and ports, not these;
//! Linux gives every copy of a retransmitted segment a fresh timestamp,
//! so copies stay apart). Where the same key repeats (a stack without
//! timestamps resending: Windows by default), the packets that are alone
//! in their key bound the clocks first, and then each arrival pairs with
//! the latest copy that left before it. Taps see segment boundaries
//! differently (the receiver's GRO joins segments, the sender's TSO hands
//! the capture one segment the wire carries as several): a data segment
//! with no exact twin counts as arrived when segments with no twin of
//! their own at the other tap hold all its bytes.

use std::collections::HashMap;

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
    /// The only packet of its key at both taps: it bounds the clocks.
    pub(crate) sure: bool,
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
/// server's tap) of one connection. Copies that share a key (a stack
/// without TCP timestamps resending) pair by time once the clocks'
/// `offset` (server minus client, µs) is known: each arrival with the
/// latest copy that left before it. Before that, they pair in order and
/// are not [`Pair::sure`].
pub(crate) fn sort(client: &WireLog, server: &WireLog, offset: Option<i64>) -> Sorted {
    let mut out = Sorted::default();
    for from_client in [true, false] {
        let (sender, receiver) = if from_client {
            (client, server)
        } else {
            (server, client)
        };
        let sent: Vec<&WireSeg> = sender
            .segs
            .iter()
            .filter(|s| s.from_client == from_client)
            .collect();
        let arrivals: Vec<&WireSeg> = receiver
            .segs
            .iter()
            .filter(|s| s.from_client == from_client)
            .collect();
        let mut by_key: HashMap<Key, (Vec<usize>, Vec<usize>)> = HashMap::new();
        for (i, s) in sent.iter().enumerate() {
            by_key.entry(key(s)).or_default().0.push(i);
        }
        for (i, a) in arrivals.iter().enumerate() {
            by_key.entry(key(a)).or_default().1.push(i);
        }
        // A sent time on the receiver's clock.
        let across = |t: u64| {
            let o = offset.unwrap_or(0);
            t.saturating_add_signed(if from_client { o } else { -o })
        };
        let mut paired_sent = vec![false; sent.len()];
        let mut used = vec![false; arrivals.len()];
        for (ss, aa) in by_key.values() {
            let sure = ss.len() == 1 && aa.len() == 1;
            for &a in aa {
                let free = ss.iter().copied().filter(|&i| !paired_sent[i]);
                let pick = match offset {
                    Some(_) if !sure => free
                        .clone()
                        .rfind(|&i| across(sent[i].at_us) <= arrivals[a].at_us)
                        .or_else(|| free.clone().next()),
                    _ => free.clone().next(),
                };
                let Some(i) = pick else { break };
                paired_sent[i] = true;
                used[a] = true;
                out.pairs.push(Pair {
                    from_client,
                    seg: *sent[i],
                    sent_us: sent[i].at_us,
                    arrived_us: arrivals[a].at_us,
                    sure,
                });
            }
        }
        // Data with no twin at the other tap arrived if segments with no
        // twin of their own there hold all its bytes (the receiver's GRO
        // joined it with others, or the sender's TSO sent what the wire
        // carried as several), with its timestamp when it has one.
        let mut covering = vec![false; arrivals.len()];
        for (i, s) in sent.iter().enumerate() {
            if paired_sent[i] {
                continue;
            }
            let pieces: Vec<usize> = if s.len > 0 && !s.has(flag::SYN | flag::RST) {
                (0..arrivals.len())
                    .filter(|&a| !used[a] && arrivals[a].len > 0)
                    .filter(|&a| s.tsval.is_none() || arrivals[a].tsval == s.tsval)
                    .filter(|&a| overlaps(arrivals[a], s))
                    .collect()
            } else {
                Vec::new()
            };
            if !pieces.is_empty() && covered(s, pieces.iter().map(|&a| arrivals[a])) {
                for a in pieces {
                    covering[a] = true;
                }
            } else {
                out.lost.push(**s);
            }
        }
        for ((a, u), c) in arrivals.iter().zip(&used).zip(&covering) {
            if !u && !c {
                out.unsent.push(**a);
            }
        }
    }
    out.pairs.sort_by_key(|p| p.sent_us);
    out
}

/// `a`'s bytes and `s`'s share at least one.
fn overlaps(a: &WireSeg, s: &WireSeg) -> bool {
    let (a0, a1) = (a.seq, a.seq.wrapping_add(a.len));
    let (s0, s1) = (s.seq, s.seq.wrapping_add(s.len));
    after(a1, s0) && after(s1, a0)
}

/// `pieces` hold every byte of `s`.
fn covered<'a>(s: &WireSeg, pieces: impl Iterator<Item = &'a WireSeg>) -> bool {
    let mut ranges: Vec<(u32, u32)> = pieces
        .map(|a| {
            let start = a.seq.wrapping_sub(s.seq);
            (start, start.wrapping_add(a.len))
        })
        .collect();
    // Relative to `s`: a piece starting before it wraps to a large start;
    // clamp it to 0.
    for r in &mut ranges {
        if (r.0 as i32) < 0 {
            r.0 = 0;
        }
    }
    ranges.sort_unstable();
    let mut reach = 0u32;
    for (a, b) in ranges {
        if a > reach {
            break;
        }
        reach = reach.max(b);
    }
    reach >= s.len
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
    /// The greatest (server time - client time) of client-to-server pairs
    /// and the least of server-to-client ones: the bounds with the files'
    /// roles swapped, where every difference changes sign.
    extremes: (Option<i64>, Option<i64>),
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
            self.extremes.0 = Some(self.extremes.0.map_or(d, |m| m.max(d)));
            self.pairs[0] += 1;
        } else {
            self.lower = Some(self.lower.map_or(d, |l| l.max(d)));
            self.extremes.1 = Some(self.extremes.1.map_or(d, |m| m.min(d)));
            self.pairs[1] += 1;
        }
    }

    /// Whether the files read the other way round (each packet leaving at
    /// the other tap) give bounds that do not cross: every one-way delay
    /// positive with some clock offset.
    pub(crate) fn fit_swapped(&self) -> bool {
        // Swapped, upper is -(greatest client-to-server difference) and
        // lower -(least server-to-client one).
        matches!(self.extremes, (Some(c2s_max), Some(s2c_min)) if s2c_min >= c2s_max)
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
        let s = sort(&client, &server, None);
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
        let s = sort(&client, &server, None);
        assert!(s.lost.is_empty(), "{:?}", s.lost);
        assert_eq!(s.unsent.len(), 1);
        assert!(s.unsent[0].has(flag::RST));
    }

    #[test]
    fn a_segment_the_senders_tso_made_arrived_as_pieces() {
        // 2896 bytes at the sender's tap, two 1448-byte segments on the
        // wire and at the receiver's.
        let client = WireLog {
            segs: vec![seg(1_000, true, 1, 2_896, flag::ACK, 7)],
            more: 0,
        };
        let server = WireLog {
            segs: vec![
                seg(1_050, true, 1, 1_448, flag::ACK, 7),
                seg(1_051, true, 1_449, 1_448, flag::ACK, 7),
            ],
            more: 0,
        };
        let s = sort(&client, &server, None);
        assert!(s.lost.is_empty() && s.unsent.is_empty(), "{s:?}");
        // Half of it missing: lost.
        let half = WireLog {
            segs: vec![server.segs[0]],
            more: 0,
        };
        assert_eq!(sort(&client, &half, None).lost.len(), 1);
    }

    #[test]
    fn copies_without_timestamps_pair_by_time_once_the_clocks_are_known() {
        // No TCP timestamps (Windows' default): the login's two copies
        // share every field; only the second arrives, 40 µs after it left.
        let mut copy = seg(1_000, true, 10, 120, flag::ACK, 0);
        copy.tsval = None;
        let again = WireSeg {
            at_us: 301_000,
            ..copy
        };
        let client = WireLog {
            segs: vec![copy, again],
            more: 0,
        };
        let server = WireLog {
            segs: vec![WireSeg {
                at_us: 301_040,
                ..copy
            }],
            more: 0,
        };
        let blind = sort(&client, &server, None);
        assert!(!blind.pairs[0].sure);
        let s = sort(&client, &server, Some(0));
        assert_eq!(s.pairs[0].sent_us, 301_000);
        assert_eq!(s.lost[0].at_us, 1_000);
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
            sure: true,
        });
        b.add(&Pair {
            from_client: false,
            seg: seg(12_000, false, 1, 0, flag::ACK, 1),
            sent_us: 12_000,
            arrived_us: 11_040,
            sure: true,
        });
        assert_eq!((b.lower, b.upper), (Some(960), Some(1_040)));
    }
}
