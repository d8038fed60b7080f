//! TCP reassembly for the observer: in-order bytes are fed once,
//! retransmitted bytes skipped, segments ahead of a hole held (bounded)
//! until it fills, and a hole that will not fill (acknowledged past by the
//! receiver, the hold full) reported to the observer as a gap so that it
//! never decodes across it. Bytes a snaplen cut are not a hole: the IP
//! length says how many there were, and the observer is told their number
//! ([`Observer::cut`](hsp_wire::observer::Observer::cut)), so it skips
//! them by the MySQL lengths and finds the next packet.

use std::time::Duration;

use hsp_wire::observer::ObserverEvent;

use super::{Conn, HELD_MAX_BYTES, HELD_MAX_SEGMENTS, after, direction};
use crate::link::Segment;

/// Segments held out of order, per direction, and their bytes.
#[derive(Debug, Default)]
pub(super) struct Holding {
    segs: [Vec<Held>; 2],
    bytes: usize,
}

/// A segment held out of order: its visible bytes, then `cut` bytes the
/// capture did not keep.
#[derive(Debug)]
struct Held {
    seq: u32,
    data: Vec<u8>,
    cut: u32,
}

impl Held {
    fn end(&self) -> u32 {
        self.seq
            .wrapping_add(self.data.len() as u32)
            .wrapping_add(self.cut)
    }
}

/// Feeds the bytes of a span from `skip` on: the visible ones, then the
/// number cut. Returns how many sequence numbers that advanced.
fn feed_span(
    obs: &mut hsp_wire::observer::Observer,
    dir: hsp_wire::observer::Direction,
    data: &[u8],
    cut: usize,
    skip: usize,
    at: Duration,
    events: &mut Vec<ObserverEvent>,
) -> usize {
    let shown = data.get(skip..).unwrap_or(&[]);
    let cut = cut.saturating_sub(skip.saturating_sub(data.len()));
    if !shown.is_empty() {
        obs.feed(dir, shown, at, events);
    }
    obs.cut(dir, cut, at, events);
    shown.len() + cut
}

impl Conn {
    /// Segments of direction `d` held out of order.
    fn held(&self, d: usize) -> &[Held] {
        self.held.as_ref().map_or(&[], |h| &h.segs[d])
    }

    /// Bytes held out of order, both directions.
    pub(super) fn held_bytes(&self) -> usize {
        self.held.as_ref().map_or(0, |h| h.bytes)
    }

    /// Tells the observer that bytes of direction `d` are missing.
    fn gap(&mut self, d: usize, at: Duration, events: &mut Vec<ObserverEvent>) {
        if let Some(obs) = self.observer.as_mut() {
            obs.gap(direction(d), at, events);
        }
    }

    /// Feeds held segments of direction `d` that the edge has reached, in
    /// order, trimming what was already fed. They are stamped `at`, when
    /// the hole filled: a packet is complete only then.
    fn release(&mut self, d: usize, at: Duration, events: &mut Vec<ObserverEvent>) {
        let dir = direction(d);
        let Some(held) = self.held.as_mut() else {
            return;
        };
        let (Some(obs), Some(next)) = (self.observer.as_mut(), self.next[d].as_mut()) else {
            // Nothing to feed them to: dropped, so no caller loops on them.
            held.bytes -= held.segs[d].iter().map(|h| h.data.len()).sum::<usize>();
            held.segs[d].clear();
            return;
        };
        loop {
            let edge = *next;
            let Some(i) = held.segs[d].iter().position(|h| !after(h.seq, edge)) else {
                return;
            };
            let h = held.segs[d].swap_remove(i);
            held.bytes -= h.data.len();
            if after(h.end(), edge) {
                let skip = edge.wrapping_sub(h.seq) as usize;
                let n = feed_span(obs, dir, &h.data, h.cut as usize, skip, at, events);
                *next = edge.wrapping_add(n as u32);
            }
        }
    }

    /// Gives up on the hole before direction `d`'s held segments: a gap
    /// to the observer, then the held bytes from the first one on.
    fn skip_hole(&mut self, d: usize, at: Duration, events: &mut Vec<ObserverEvent>) {
        let Some(edge) = self.next[d] else {
            self.release(d, at, events);
            return;
        };
        let Some(first) = self
            .held(d)
            .iter()
            .map(|h| h.seq)
            .min_by_key(|s| s.wrapping_sub(edge))
        else {
            return;
        };
        self.gap(d, at, events);
        self.next[d] = Some(first);
        self.release(d, at, events);
    }

    /// Releases everything still held (the connection closed or the
    /// capture ended), its events going to the tracker.
    pub(super) fn release_all(&mut self, at: Duration, events: &mut Vec<ObserverEvent>) {
        for d in 0..2 {
            // Each round releases at least the first held segment; the
            // bound is a guard, the clear a certainty.
            for _ in 0..=HELD_MAX_SEGMENTS {
                if self.held(d).is_empty() {
                    break;
                }
                self.skip_hole(d, at, events);
            }
        }
        self.held = None;
        if let Some(t) = self.track.as_mut() {
            for e in events.iter() {
                t.on_event(e, self.last_frame);
            }
        }
    }

    /// Segment `seg` of direction `d`: its ACK first (a hole in the other
    /// direction that the receiver acknowledged will not fill), then its
    /// bytes in order, then its FIN's sequence number.
    pub(super) fn reassemble(
        &mut self,
        d: usize,
        seg: &Segment<'_>,
        at: Duration,
        events: &mut Vec<ObserverEvent>,
    ) {
        let dir = direction(d);
        let syn = u32::from(seg.flags.syn);
        // This side's ACK says how far the other side's bytes arrived: a
        // hole the receiver has acknowledged will not be filled in this
        // capture (it missed those packets).
        let o = 1 - d;
        if seg.flags.ack {
            if self.acked[o].is_none_or(|a| after(seg.ack, a)) {
                self.acked[o] = Some(seg.ack);
            }
            if !self.held(o).is_empty() && self.next[o].is_some_and(|n| after(seg.ack, n)) {
                self.skip_hole(o, at, events);
            }
        }
        let start = seg.seq.wrapping_add(syn);
        let expected = *self.next[d].get_or_insert(start);
        let data = seg.payload;
        let cut = seg.cut();
        if seg.len > 0 {
            let delta = start.wrapping_sub(expected) as i32;
            let hole_acked = self.acked[d].is_some_and(|a| after(a, expected));
            let mut skip = 0usize;
            let mut hold = false;
            if delta > 0
                && !hole_acked
                && self.held_bytes() + data.len() <= HELD_MAX_BYTES
                && self.held(d).len() < HELD_MAX_SEGMENTS
            {
                // Ahead of the edge: hold it until the hole fills.
                let held = self.held.get_or_insert_with(Box::default);
                held.bytes += data.len();
                held.segs[d].push(Held {
                    seq: start,
                    data: data.to_vec(),
                    cut: cut as u32,
                });
                hold = true;
            } else if delta > 0 {
                // A hole that will not fill (acknowledged, or the hold is
                // full): a gap, then what is held past it, then this.
                if self.held(d).is_empty() {
                    self.gap(d, at, events);
                    self.next[d] = Some(start);
                } else {
                    self.skip_hole(d, at, events);
                }
                let edge = self.next[d].unwrap_or(start);
                let rel = edge.wrapping_sub(start) as i32;
                if rel < 0 {
                    self.gap(d, at, events);
                    self.next[d] = Some(start);
                } else {
                    skip = rel as usize;
                }
            } else if delta < 0 {
                // Retransmitted or overlapping: keep only the new bytes.
                skip = (-(delta as i64)) as usize;
            }
            if !hold && skip < seg.len as usize {
                let edge = self.next[d].unwrap_or(start);
                let n = match self.observer.as_mut() {
                    Some(obs) => feed_span(obs, dir, data, cut, skip, at, events),
                    None => seg.len as usize - skip,
                };
                self.next[d] = Some(edge.wrapping_add(n as u32));
            }
            if !self.held(d).is_empty() {
                self.release(d, at, events);
            }
        } else if seg.flags.syn {
            self.next[d] = Some(start);
        }
        // A FIN takes one sequence number, right after its payload; one
        // that arrives ahead of missing data (reordered) must not move the
        // edge, or the late data would be read one byte off.
        let fin_seq = start.wrapping_add(seg.len);
        if seg.flags.fin
            && let Some(n) = self.next[d].as_mut()
            && *n == fin_seq
        {
            *n = n.wrapping_add(1);
        }
    }
}
