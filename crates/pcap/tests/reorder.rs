//! TCP reassembly in the follower: segments that arrive ahead of a hole
//! are held (bounded) and decoded once the hole fills; a hole the receiver
//! acknowledges past (the capture missed it) becomes a gap at once, and
//! what was held after it is still decoded. The bytes are a real MariaDB
//! greeting and login from fixtures/cli-native-query.pcap.

use std::net::SocketAddr;
use std::time::Duration;

mod common;

use common::greeting_and_login;
use hsp_pcap::{Follower, FollowerEvent, Segment, TcpFlags};
use hsp_wire::observer::{Notice, ObserverConfig, ObserverEvent};

use common::SERVER;
const C_ISN: u32 = 1000;
const S_ISN: u32 = 5000;

struct Run {
    f: Follower,
    out: Vec<FollowerEvent>,
    frame: u64,
}

impl Run {
    fn new() -> Self {
        let mut r = Self {
            f: Follower::new(vec![3306], ObserverConfig::default()),
            out: Vec::new(),
            frame: 0,
        };
        r.seg(
            true,
            C_ISN,
            0,
            TcpFlags {
                syn: true,
                ..TcpFlags::default()
            },
            &[],
        );
        r.seg(
            false,
            S_ISN,
            C_ISN + 1,
            TcpFlags {
                syn: true,
                ack: true,
                ..TcpFlags::default()
            },
            &[],
        );
        r.seg(
            true,
            C_ISN + 1,
            S_ISN + 1,
            TcpFlags {
                ack: true,
                ..TcpFlags::default()
            },
            &[],
        );
        r
    }

    fn seg(&mut self, from_client: bool, seq: u32, ack: u32, flags: TcpFlags, payload: &[u8]) {
        self.frame += 1;
        let seg = common::segment(from_client, seq, ack, flags, 64, &[], payload);
        self.f.on_segment(
            &seg,
            Duration::from_millis(self.frame),
            self.frame,
            &mut self.out,
        );
    }

    fn data(&mut self, from_client: bool, seq: u32, ack: u32, payload: &[u8]) {
        self.seg(
            from_client,
            seq,
            ack,
            TcpFlags {
                ack: true,
                ..TcpFlags::default()
            },
            payload,
        );
    }

    /// (frame, kind) of decoded packets, and the number of gap notices.
    fn decoded(&self) -> (Vec<&'static str>, usize) {
        let mut kinds = Vec::new();
        let mut gaps = 0;
        for e in &self.out {
            match &e.event {
                ObserverEvent::Packet(p) => kinds.push(p.packet.kind()),
                ObserverEvent::Notice {
                    notice: Notice::Gap,
                    ..
                } => gaps += 1,
                _ => {}
            }
        }
        (kinds, gaps)
    }
}

#[test]
fn a_greeting_split_and_reversed_decodes_once_the_hole_fills() {
    let (greeting, login) = greeting_and_login();
    let mut r = Run::new();
    let cut = 30;
    let g = S_ISN + 1;
    // The second half first: held, nothing decoded yet.
    r.data(false, g + cut as u32, C_ISN + 1, &greeting[cut..]);
    assert_eq!(r.decoded(), (vec![], 0));
    // The first half fills the hole: the whole greeting decodes.
    r.data(false, g, C_ISN + 1, &greeting[..cut]);
    assert_eq!(r.decoded(), (vec!["greeting"], 0));
    // A retransmission of the second half changes nothing.
    r.data(false, g + cut as u32, C_ISN + 1, &greeting[cut..]);
    r.data(true, C_ISN + 1, g + greeting.len() as u32, &login);
    assert_eq!(r.decoded(), (vec!["greeting", "login"], 0));
}

#[test]
fn a_hole_acknowledged_past_is_a_gap_and_what_follows_still_decodes() {
    let (greeting, login) = greeting_and_login();
    let mut r = Run::new();
    let g = S_ISN + 1;
    r.data(false, g, C_ISN + 1, &greeting);
    let c = C_ISN + 1;
    // The capture misses the first 20 bytes of the login; the rest is
    // held, until the server acknowledges the whole login: the capture
    // will never see those 20 bytes, so they are a gap.
    r.data(true, c + 20, g + greeting.len() as u32, &login[20..]);
    assert_eq!(r.decoded(), (vec!["greeting"], 0));
    r.data(
        false,
        g + greeting.len() as u32,
        c + login.len() as u32,
        &[],
    );
    let (kinds, gaps) = r.decoded();
    assert_eq!(gaps, 1, "{kinds:?}");
    assert!(
        !kinds.contains(&"login"),
        "a login decoded across a gap: {kinds:?}"
    );
    // The stream goes on after the gap: a COM_QUIT decodes.
    r.data(
        true,
        c + login.len() as u32,
        g + greeting.len() as u32,
        &[1, 0, 0, 0, 1],
    );
    assert_eq!(r.decoded().0.last(), Some(&"command"), "{:?}", r.decoded());
}

#[test]
fn held_bytes_are_bounded() {
    let (greeting, _) = greeting_and_login();
    let mut r = Run::new();
    let g = S_ISN + 1;
    // A hole at the start, then 300 KiB of data after it, never acked:
    // past the bound the hole is given up on rather than held forever.
    let chunk = vec![0u8; 1400];
    let mut seq = g + greeting.len() as u32 + 100;
    for _ in 0..220 {
        r.data(false, seq, C_ISN + 1, &chunk);
        seq += chunk.len() as u32;
    }
    let (_, gaps) = r.decoded();
    assert!(gaps >= 1, "no gap after 300 KiB held");
}

/// Found by the fuzzer: a connection closed while holding segments must be
/// reported (its held bytes released or dropped), not loop forever.
#[test]
fn a_connection_closed_while_holding_segments_is_reported() {
    let (greeting, _) = greeting_and_login();
    let mut r = Run::new();
    let g = S_ISN + 1;
    r.data(false, g + 10, C_ISN + 1, &greeting[10..]);
    r.seg(
        false,
        g + greeting.len() as u32,
        C_ISN + 1,
        TcpFlags {
            rst: true,
            ..TcpFlags::default()
        },
        &[],
    );
    // Capture time moves past the linger with another connection's SYN.
    let (c, s): (SocketAddr, SocketAddr) =
        ("10.0.0.3:40001".parse().unwrap(), SERVER.parse().unwrap());
    let syn = Segment {
        src: c,
        dst: s,
        seq: 1,
        ack: 0,
        window: 65535,
        wscale: None,
        flags: TcpFlags {
            syn: true,
            ..TcpFlags::default()
        },
        ttl: 64,
        options: &[],
        payload: &[],
        len: 0,
        truncated: false,
    };
    r.f.on_segment(&syn, Duration::from_secs(10), 99, &mut r.out);
    let done: Vec<_> = r.f.drain_finished().collect();
    assert_eq!(done.len(), 1, "{done:?}");
    assert_eq!(done[0].conn, 0);
}
