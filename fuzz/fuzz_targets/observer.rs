//! Deframer + observer over arbitrary two-direction byte streams.
//!
//! Input layout: a sequence of records `[ctl, bytes...]` where `ctl`'s low
//! bit picks the direction and the rest the chunk length. Arbitrary bytes
//! must never panic, and the observer must never buffer beyond its packet
//! limit (checked through a small limit and the deframer's accounting).
//! Differential: the packets and milestones must not depend on how the
//! bytes were cut (each chunk also goes in one byte at a time, which never
//! takes the in-place path for whole packets), and the milestones-only
//! mode must give the same milestones. Records whose `ctl` is 0xfd are
//! snaplen cuts: the next byte says how many bytes were cut, in every
//! observer and in the deframer (which must then never hold more).
#![no_main]

use std::time::Duration;

use hsp_wire::frame::{Deframer, Frame};
use hsp_wire::observer::{Direction, Observer, ObserverConfig, ObserverEvent};
use libfuzzer_sys::fuzz_target;

const LIMIT: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    let cfg = ObserverConfig { max_packet: LIMIT, packets: true };
    let mut obs = Observer::new(cfg);
    let mut bytewise = Observer::new(cfg);
    let mut quiet = Observer::new(ObserverConfig { packets: false, ..cfg });
    let (mut out_b, mut out_q) = (Vec::new(), Vec::new());
    let decoded = |v: &[ObserverEvent]| -> Vec<ObserverEvent> {
        v.iter().filter(|e| !matches!(e, ObserverEvent::Notice { .. })).cloned().collect()
    };
    let milestones = |v: &[ObserverEvent]| -> Vec<ObserverEvent> {
        v.iter().filter(|e| matches!(e, ObserverEvent::Milestone { .. })).cloned().collect()
    };
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
        let at = Duration::from_micros(t);
        obs.feed(dir, chunk, at, &mut out);
        quiet.feed(dir, chunk, at, &mut out_q);
        for b in chunk.chunks(1) {
            bytewise.feed(dir, b, at, &mut out_b);
        }
        if ctl == 0xff {
            obs.gap(dir, at, &mut out);
            quiet.gap(dir, at, &mut out_q);
            bytewise.gap(dir, at, &mut out_b);
        }
        if ctl == 0xfd
            && let Some((&cut, tail)) = rest.split_first()
        {
            rest = tail;
            let cut = usize::from(cut) * 7;
            obs.cut(dir, cut, at, &mut out);
            quiet.cut(dir, cut, at, &mut out_q);
            bytewise.cut(dir, cut, at, &mut out_b);
            d.missing(cut);
        }
        assert_eq!(decoded(&out), decoded(&out_b));
        assert_eq!(milestones(&out), milestones(&out_q));
        out.clear();
        out_b.clear();
        out_q.clear();
        d.push(chunk);
        while let Some(f) = d.next_frame() {
            match f {
                Frame::Packet(p) => assert!(p.payload.len() <= LIMIT),
                Frame::Cut { shown, len, .. } => assert!(shown.len() < len.max(1) && shown.len() <= LIMIT),
                Frame::Oversized { .. } => {}
            }
        }
        // Bytes held: at most one packet plus what one header can announce
        // before it is known to be oversized, plus this chunk.
        assert!(d.buffered() <= LIMIT + 4 + chunk.len() + 4, "deframer holds {} bytes", d.buffered());
    }
});
