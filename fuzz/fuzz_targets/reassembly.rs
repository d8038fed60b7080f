//! The capture path behind `decode`: arbitrary TCP segments of one
//! connection (either direction, any flags, sequence numbers that jump
//! back for retransmissions and overlaps, forward for gaps, truncated
//! payloads) through the follower, the per-connection tracker, the
//! observer and the classifier. Nothing may panic, and every connection
//! that finishes must classify.
//!
//! Input layout: records `[ctl, delta_lo, delta_hi, len, payload...]`.
//! `ctl` bit 0 = direction, 1 SYN, 2 ACK, 3 FIN, 4 RST, 5 zero window,
//! 6 truncated (the low 9 bits of `delta` are then the bytes cut); `delta` (i16) moves the sequence number from where the
//! direction's stream stands.
#![no_main]

use std::net::SocketAddr;
use std::time::Duration;

use hsp_core::Params;
use hsp_pcap::{Follower, Segment, TcpFlags};
use hsp_wire::observer::ObserverConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let client: SocketAddr = "10.0.0.1:40000".parse().unwrap();
    let server: SocketAddr = "10.0.0.2:3306".parse().unwrap();
    let mut f = Follower::new(vec![3306], ObserverConfig { max_packet: 64 * 1024, packets: true })
        .with_idle_bound(Duration::from_secs(5));
    let mut seq = [1000u32, 90_000u32];
    let mut out = Vec::new();
    let mut rest = data;
    let mut t = 0u64;
    let mut frame = 0u64;
    while rest.len() >= 4 {
        let (ctl, delta, len) = (rest[0], i16::from_le_bytes([rest[1], rest[2]]), usize::from(rest[3]));
        let len = len.min(rest.len() - 4);
        let payload = &rest[4..4 + len];
        rest = &rest[4 + len..];
        let d = usize::from(ctl & 1);
        let (src, dst) = if d == 0 { (client, server) } else { (server, client) };
        let s = seq[d].wrapping_add(delta as u32);
        let flags = TcpFlags { syn: ctl & 2 != 0, ack: ctl & 4 != 0, fin: ctl & 8 != 0, rst: ctl & 16 != 0 };
        let seg = Segment {
            src,
            dst,
            seq: s,
            ack: seq[1 - d],
            window: if ctl & 32 != 0 { 0 } else { 65535 },
            wscale: (ctl & 2 != 0).then_some(ctl >> 5),
            flags,
            // The TTL varies with the control byte so that resets with a
            // foreign TTL, and senders that keep sending after them, occur.
            ttl: 60 + (ctl >> 6),
            options: if ctl & 128 != 0 { &[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2] } else { &[] },
            payload,
            // A snaplen cut: the wire carried more than the capture kept.
            len: len as u32 + if ctl & 64 != 0 { u32::from(delta as u16 & 0x1ff) } else { 0 },
            truncated: ctl & 64 != 0,
        };
        seq[d] = s.wrapping_add(seg.len).wrapping_add(u32::from(flags.syn));
        t += u64::from(ctl) * 997;
        frame += 1;
        out.clear();
        f.on_segment(&seg, Duration::from_micros(t), frame, &mut out);
        for done in f.drain_finished() {
            let _ = done.track.record(done.conn, done.endpoints, Duration::ZERO, &Params::default());
        }
    }
    f.finish();
    for done in f.drain_finished() {
        let r = done.track.record(done.conn, done.endpoints, Duration::ZERO, &Params::default());
        assert!(r.phases_us.get(hsp_core::Phase::Total).is_some());
    }
});
