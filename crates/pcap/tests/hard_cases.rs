//! The issue 9 rules that need exact TCP details, on constructed
//! segments around a real greeting and login (fixtures/cli-native-query):
//! a lost OK resent one RTO later against a spurious copy (acknowledged
//! first, or reported by D-SACK) and the capture's own duplicate; a reset
//! with a foreign TTL and no timestamp against the server's own. The
//! recorded fixtures show the same on real kernels (net-lost-*,
//! net-reject-*); these pin each signal alone.

mod common;

use std::time::Duration;

use hsp_core::{ConnectionRecord, Params, Verdict};
use hsp_pcap::{Follower, TcpFlags};
use hsp_wire::observer::ObserverConfig;

const C_ISN: u32 = 1000;
const S_ISN: u32 = 5000;
/// Linux's options on a SYN: MSS, SACK permitted, timestamps, window scale.
const SYN_OPTIONS: [u8; 20] = [
    2, 4, 5, 180, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7,
];
/// Linux's options on every later segment: two NOPs, timestamps.
const TS: [u8; 12] = [1, 1, 8, 10, 0, 0, 0, 2, 0, 0, 0, 1];
/// An OK after the login (sequence id 2).
const OK: [u8; 11] = [7, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0];
/// A COM_QUIT.
const QUIT: [u8; 5] = [1, 0, 0, 0, 1];

const ACK: TcpFlags = TcpFlags {
    syn: false,
    ack: true,
    fin: false,
    rst: false,
};

/// One connection fed segment by segment, each at a chosen time.
struct Conn {
    f: Follower,
    frame: u64,
    /// TTL of the server's packets as they arrive at the tap (one hop).
    server_ttl: u8,
}

impl Conn {
    /// SYN, SYN-ACK and ACK with timestamps, in the first 200 µs.
    fn connected() -> Self {
        let mut c = Self {
            f: Follower::new(vec![3306], ObserverConfig::default()),
            frame: 0,
            server_ttl: 63,
        };
        let syn = TcpFlags {
            syn: true,
            ..TcpFlags::default()
        };
        c.send(0, true, C_ISN, 0, syn, &SYN_OPTIONS, &[]);
        let synack = TcpFlags { syn: true, ..ACK };
        c.send(100, false, S_ISN, C_ISN + 1, synack, &SYN_OPTIONS, &[]);
        c.send(200, true, C_ISN + 1, S_ISN + 1, ACK, &TS, &[]);
        c
    }

    /// Connected, then the greeting and the login.
    fn logged_in() -> (Self, u32, u32) {
        let (greeting, login) = common::greeting_and_login();
        let mut c = Self::connected();
        let s = S_ISN + 1;
        c.send(1_000, false, s, C_ISN + 1, ACK, &TS, &greeting);
        let s = s + greeting.len() as u32;
        c.send(1_100, true, C_ISN + 1, s, ACK, &TS, &login);
        let cl = C_ISN + 1 + login.len() as u32;
        (c, cl, s)
    }

    #[allow(clippy::too_many_arguments)]
    fn send(
        &mut self,
        at_us: u64,
        from_client: bool,
        seq: u32,
        ack: u32,
        flags: TcpFlags,
        options: &[u8],
        payload: &[u8],
    ) {
        self.frame += 1;
        let ttl = if from_client { 64 } else { self.server_ttl };
        let seg = common::segment(from_client, seq, ack, flags, ttl, options, payload);
        let mut out = Vec::new();
        self.f
            .on_segment(&seg, Duration::from_micros(at_us), self.frame, &mut out);
    }

    fn record(mut self) -> ConnectionRecord {
        self.f.finish();
        let params = Params {
            connect_timeout: Duration::from_secs(2),
            ..Params::default()
        };
        let mut done: Vec<_> = self.f.drain_finished().collect();
        assert_eq!(done.len(), 1);
        let d = done.remove(0);
        d.track.record(d.conn, d.endpoints, Duration::ZERO, &params)
    }
}

/// From `t` µs: the client's COM_QUIT at `cl`, both FINs (the server's at
/// `s2`), the last ACK; the record.
fn quit_and_close(mut c: Conn, t: u64, cl: u32, s2: u32) -> ConnectionRecord {
    c.send(t + 100, true, cl, s2, ACK, &TS, &QUIT);
    let cl2 = cl + QUIT.len() as u32;
    let fin = TcpFlags { fin: true, ..ACK };
    c.send(t + 200, false, s2, cl2, fin, &TS, &[]);
    c.send(t + 300, true, cl2, s2 + 1, fin, &TS, &[]);
    c.send(t + 400, false, s2 + 1, cl2 + 1, ACK, &TS, &[]);
    c.record()
}

/// The OK, its second copy `resend_us` later (if any), then the client's
/// COM_QUIT and both FINs. `before` runs between the two copies.
fn ok_then_quit(
    resend_us: Option<u64>,
    before: impl FnOnce(&mut Conn, u32, u32),
) -> ConnectionRecord {
    let (mut c, cl, s) = Conn::logged_in();
    c.send(1_300, false, s, cl, ACK, &TS, &OK);
    before(&mut c, cl, s);
    let s2 = s + OK.len() as u32;
    let mut t = 1_400;
    if let Some(r) = resend_us {
        t = 1_300 + r;
        c.send(t, false, s, cl, ACK, &TS, &OK);
    }
    quit_and_close(c, t, cl, s2)
}

#[test]
fn an_ok_resent_after_its_first_copy_was_lost_is_a_network_stall() {
    let r = ok_then_quit(Some(210_000), |_, _, _| {});
    assert_eq!(r.verdict, Verdict::NetworkStall, "{:?}", r.evidence);
    assert_eq!(r.outcome, "completed");
    assert!(
        r.evidence[0].contains("retransmitted 0.21 s after its first copy")
            && r.evidence[0].contains("the client waited"),
        "{:?}",
        r.evidence
    );
    assert_eq!(r.tcp.as_ref().unwrap().retransmits_s2c, 1);
}

#[test]
fn a_copy_of_an_ok_already_acknowledged_decides_nothing() {
    let r = ok_then_quit(Some(210_000), |c, cl, s| {
        // The client acknowledged the first copy: the ACK was lost on its
        // way back, past this tap.
        c.send(1_350, true, cl, s + OK.len() as u32, ACK, &TS, &[]);
    });
    assert_eq!(r.verdict, Verdict::Ok, "{:?}", r.evidence);
    let tcp = r.tcp.as_ref().unwrap();
    assert_eq!((tcp.retransmits_s2c, tcp.spurious_retransmits), (0, 1));
}

#[test]
fn a_copy_reported_by_d_sack_decides_nothing() {
    let (mut c, cl, s) = Conn::logged_in();
    c.send(1_300, false, s, cl, ACK, &TS, &OK);
    let s2 = s + OK.len() as u32;
    // Resent 0.21 s later; the client answers with a D-SACK for it: a
    // SACK block below its cumulative ACK, covering the copy.
    c.send(211_300, false, s, cl, ACK, &TS, &OK);
    let mut dsack = vec![1, 1, 5, 10];
    dsack.extend_from_slice(&s.to_be_bytes());
    dsack.extend_from_slice(&s2.to_be_bytes());
    c.send(211_400, true, cl, s2, ACK, &dsack, &[]);
    let fin = TcpFlags { fin: true, ..ACK };
    c.send(211_500, true, cl, s2, fin, &TS, &[]);
    c.send(211_600, false, s2, cl + 1, fin, &TS, &[]);
    c.send(211_700, true, cl + 1, s2 + 1, ACK, &TS, &[]);
    let r = c.record();
    assert_eq!(r.verdict, Verdict::Ok, "{:?}", r.evidence);
    assert_eq!(r.tcp.as_ref().unwrap().spurious_retransmits, 1);
}

#[test]
fn the_same_packet_captured_twice_is_not_a_retransmission() {
    let r = ok_then_quit(Some(11), |_, _, _| {});
    assert_eq!(r.verdict, Verdict::Ok, "{:?}", r.evidence);
    assert_eq!(r.tcp.as_ref().unwrap().retransmits_s2c, 0);
}

/// The OK's first copy lost before the tap, which sees the server's next
/// segment (an ACK numbered past the OK) first and the OK `late_us` after
/// it, then the client's COM_QUIT and both FINs.
fn ok_after_a_later_segment(late_us: u64) -> ConnectionRecord {
    let (mut c, cl, s) = Conn::logged_in();
    let s2 = s + OK.len() as u32;
    c.send(201_000, false, s2, cl, ACK, &TS, &[]);
    let t = 201_000 + late_us;
    c.send(t, false, s, cl, ACK, &TS, &OK);
    quit_and_close(c, t, cl, s2)
}

#[test]
fn an_ok_seen_only_as_a_retransmission_is_a_network_stall() {
    // 8 ms after the server's segment numbered past it: resent, as in
    // fixtures/net-loss-client.pcap stream 1.
    let r = ok_after_a_later_segment(8_000);
    assert_eq!(r.verdict, Verdict::NetworkStall, "{:?}", r.evidence);
    assert!(
        r.evidence[0].contains("came only as a retransmission"),
        "{:?}",
        r.evidence
    );
    assert_eq!(r.tcp.as_ref().unwrap().retransmits_s2c, 1);
}

#[test]
fn an_ok_reordered_behind_a_later_segment_decides_nothing() {
    // 100 µs: within the reordering window (3 ms, or the handshake's round
    // trip when longer).
    let r = ok_after_a_later_segment(100);
    assert_eq!(r.verdict, Verdict::Ok, "{:?}", r.evidence);
    assert_eq!(r.tcp.as_ref().unwrap().retransmits_s2c, 0);
}

#[test]
fn a_gap_never_filled_before_a_failed_handshake_is_a_network_stall() {
    // The greeting never arrives; 3 s later the client gives up with a FIN
    // and the server's ACK of it is numbered past 104 bytes this capture
    // never saw (fixtures/net-loss-client.pcap stream 28).
    let mut c = Conn::connected();
    let fin = TcpFlags { fin: true, ..ACK };
    c.send(3_000_000, true, C_ISN + 1, S_ISN + 1, fin, &TS, &[]);
    c.send(3_000_100, false, S_ISN + 105, C_ISN + 2, ACK, &TS, &[]);
    let r = c.record();
    assert_eq!(r.verdict, Verdict::NetworkStall, "{:?}", r.evidence);
    assert!(
        r.evidence[0].contains("later segment has sequence number ISN+1+104"),
        "{:?}",
        r.evidence
    );
}

/// Logged in, a query 1 s later, then a RST "from the server" with
/// `ttl` and `options`, and `after` what follows it.
fn reset_in_command_phase(
    ttl: u8,
    options: &[u8],
    after: impl FnOnce(&mut Conn, u32, u32),
) -> ConnectionRecord {
    let (mut c, cl, s) = Conn::logged_in();
    c.send(1_300, false, s, cl, ACK, &TS, &OK);
    let s2 = s + OK.len() as u32;
    c.send(1_400, true, cl, s2, ACK, &TS, &[]);
    let query = [
        9, 0, 0, 0, 3, b'S', b'E', b'L', b'E', b'C', b'T', b' ', b'1',
    ];
    c.send(1_001_400, true, cl, s2, ACK, &TS, &query);
    c.server_ttl = ttl;
    let rst = TcpFlags {
        rst: true,
        ..TcpFlags::default()
    };
    c.send(1_001_500, false, s2, 0, rst, options, &[]);
    c.server_ttl = 63;
    after(&mut c, cl + query.len() as u32, s2);
    c.record()
}

#[test]
fn a_reset_with_a_foreign_ttl_and_no_timestamp_is_a_middlebox_reset() {
    let r = reset_in_command_phase(64, &[], |_, _, _| {});
    assert_eq!(r.verdict, Verdict::MiddleboxReset, "{:?}", r.evidence);
    assert_eq!(r.party, hsp_core::Party::Network);
    assert!(r.evidence[0].contains("TTL 64"), "{:?}", r.evidence);
    assert!(r.evidence[0].contains("timestamp"), "{:?}", r.evidence);
    assert_eq!(r.app_error.as_ref().unwrap().code, 2006);
}

#[test]
fn a_server_that_keeps_sending_after_its_reset_did_not_send_it() {
    // Same TTL, with a timestamp: only the aftermath gives it away, the
    // server acknowledging the query 0.2 s after "its" RST (a socket that
    // reset sends nothing more but its kernel's timestamp-less RSTs).
    let r = reset_in_command_phase(63, &TS, |c, cl, s| {
        c.send(1_201_500, false, s, cl, ACK, &TS, &[]);
    });
    assert_eq!(r.verdict, Verdict::MiddleboxReset, "{:?}", r.evidence);
    assert!(r.evidence[0].contains("kept sending"), "{:?}", r.evidence);
}

#[test]
fn the_servers_own_reset_keeps_its_verdict() {
    // Its TTL and timestamp, then the kernel's RSTs for the dead socket
    // (no timestamp): nothing forged.
    let r = reset_in_command_phase(63, &TS, |c, cl, s| {
        c.send(1_001_600, true, cl, s, ACK, &TS, &[]);
        let rst = TcpFlags {
            rst: true,
            ..TcpFlags::default()
        };
        c.send(1_001_700, false, s, 0, rst, &[], &[]);
    });
    assert_eq!(r.verdict, Verdict::ServerReset, "{:?}", r.evidence);
}
