//! Deframer + observer over arbitrary two-direction byte streams.
//!
//! Input layout: a sequence of records `[ctl, bytes...]` where `ctl`'s low
//! bit picks the direction and the rest the chunk length. Arbitrary bytes
//! must never panic, and the observer must never buffer beyond its packet
//! limit (checked through a small limit and the deframer's accounting).
#![no_main]

use std::time::Duration;

use hsp_wire::frame::{Deframer, Frame};
use hsp_wire::observer::{Direction, Observer, ObserverConfig};
use libfuzzer_sys::fuzz_target;

const LIMIT: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    let mut obs = Observer::new(ObserverConfig { max_packet: LIMIT });
    let mut d = Deframer::new(LIMIT);
    let mut out = Vec::new();
    let mut rest = data;
    let mut t = 0u64;
    while let Some((&ctl, tail)) = rest.split_first() {
        let n = usize::from(ctl >> 1).min(tail.len());
        let (chunk, tail) = tail.split_at(n);
        rest = tail;
        let dir = if ctl & 1 == 0 { Direction::ServerToClient } else { Direction::ClientToServer };
        t += 1;
        obs.feed(dir, chunk, Duration::from_micros(t), &mut out);
        if ctl == 0xff {
            obs.gap(dir, Duration::from_micros(t), &mut out);
        }
        out.clear();
        d.push(chunk);
        while let Some(f) = d.next_frame() {
            if let Frame::Packet(p) = f {
                assert!(p.payload.len() <= LIMIT);
            }
        }
        // Bytes held: at most one packet plus what one header can announce
        // before it is known to be oversized, plus this chunk.
        assert!(d.buffered() <= LIMIT + 4 + chunk.len() + 4, "deframer holds {} bytes", d.buffered());
    }
});
