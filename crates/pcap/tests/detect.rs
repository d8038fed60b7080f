//! Which connections are MySQL on a port not given with `--port`:
//! connections to a server learn from each other (a SYN refused before a
//! greeting proved the server is MySQL is `no_server` after it), those
//! that never show MySQL are counted as left out, and connections of
//! another protocol are forgotten when they close, not held.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use hsp_core::Params;
use hsp_pcap::{Finished, Follower, Segment, TcpFlags};
use hsp_wire::observer::ObserverConfig;

const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const FIN_ACK: u8 = 0x11;
const ACK: u8 = 0x10;
const PSH_ACK: u8 = 0x18;
const SYN_ACK: u8 = 0x12;

fn seg<'a>(
    src: SocketAddr,
    dst: SocketAddr,
    seq: u32,
    ack: u32,
    flags: u8,
    payload: &'a [u8],
) -> Segment<'a> {
    Segment {
        src,
        dst,
        seq,
        ack,
        window: 65535,
        wscale: None,
        flags: TcpFlags {
            fin: flags & 0x01 != 0,
            syn: flags & 0x02 != 0,
            rst: flags & 0x04 != 0,
            ack: flags & 0x10 != 0,
        },
        ttl: 64,
        options: &[],
        payload,
        len: payload.len() as u32,
        truncated: false,
    }
}

struct Run {
    f: Follower,
    t: u64,
    frame: u64,
    done: Vec<Finished>,
}

impl Run {
    fn new() -> Self {
        Self {
            f: Follower::new(vec![3306], ObserverConfig::default()).without_events(),
            t: 0,
            frame: 0,
            done: Vec::new(),
        }
    }

    fn send(&mut self, s: &Segment<'_>) {
        self.t += 1_000;
        self.frame += 1;
        let mut out = Vec::new();
        self.f
            .on_segment(s, Duration::from_micros(self.t), self.frame, &mut out);
        self.done.extend(self.f.drain_finished());
    }

    /// A client at `client` connects to `server` and is refused.
    fn refused(&mut self, client: SocketAddr, server: SocketAddr) {
        self.send(&seg(client, server, 100, 0, SYN, &[]));
        self.send(&seg(server, client, 0, 101, RST | ACK, &[]));
    }

    /// A connection from `client` to `server` carrying `c2s` then `s2c`,
    /// closed by FINs both ways.
    fn exchange(&mut self, client: SocketAddr, server: SocketAddr, s2c_first: &[u8], c2s: &[u8]) {
        self.send(&seg(client, server, 100, 0, SYN, &[]));
        self.send(&seg(server, client, 500, 101, SYN_ACK, &[]));
        self.send(&seg(client, server, 101, 501, ACK, &[]));
        let s1 = 501 + s2c_first.len() as u32;
        self.send(&seg(server, client, 501, 101, PSH_ACK, s2c_first));
        let c1 = 101 + c2s.len() as u32;
        self.send(&seg(client, server, 101, s1, PSH_ACK, c2s));
        self.send(&seg(client, server, c1, s1, FIN_ACK, &[]));
        self.send(&seg(server, client, s1, c1 + 1, FIN_ACK, &[]));
        self.send(&seg(client, server, c1 + 1, s1 + 1, ACK, &[]));
    }

    fn end(mut self) -> (Vec<Finished>, u64) {
        self.f.finish();
        self.done.extend(self.f.drain_finished());
        let left = self.f.left_out();
        (self.done, left)
    }
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn a_syn_refused_before_the_server_showed_mysql_is_no_server_after() {
    let server = addr("10.0.0.2:33060");
    let mut r = Run::new();
    r.refused(addr("10.0.0.1:40001"), server);
    let (greeting, login) = common::greeting_and_login();
    r.exchange(addr("10.0.0.1:40002"), server, &greeting, &login);
    // A server on another port that never shows MySQL.
    r.refused(addr("10.0.0.1:40003"), addr("10.0.0.9:5000"));
    let (done, left) = r.end();
    let verdicts: Vec<_> = done
        .iter()
        .map(|f| {
            let rec = f
                .track
                .record(f.conn, f.endpoints, Duration::ZERO, &Params::default());
            (f.endpoints.client.port(), rec.verdict.name())
        })
        .collect();
    assert!(verdicts.contains(&(40001, "no_server")), "{verdicts:?}");
    assert!(verdicts.iter().any(|v| v.0 == 40002), "{verdicts:?}");
    assert!(!verdicts.iter().any(|v| v.0 == 40003), "{verdicts:?}");
    assert_eq!(
        left, 1,
        "the refused SYN to a server never shown to be MySQL"
    );
}

#[test]
fn connections_of_another_protocol_are_forgotten_when_they_close() {
    let server = addr("10.0.0.2:8080");
    let mut r = Run::new();
    for i in 0..2_000u16 {
        r.exchange(
            addr(&format!("10.0.0.1:{}", 20_000 + i)),
            server,
            b"HTTP/1.1 200 OK\r\n\r\n",
            b"GET / HTTP/1.1\r\n\r\n",
        );
    }
    // Capture time moves on past the tombstones' life.
    r.t += 60_000_000;
    r.send(&seg(addr("10.0.0.1:9"), addr("10.0.0.3:9"), 1, 0, SYN, &[]));
    assert!(
        r.f.connections() < 10,
        "{} connections held",
        r.f.connections()
    );
    let (done, left) = r.end();
    assert!(done.is_empty());
    // The 2,000 exchanges and the last SYN: none showed MySQL.
    assert_eq!(left, 2_001);
}

/// A late FIN of a connection forgotten after its tombstone's time is not a
/// stream of its own: tshark never forgets the connection, so numbering
/// one would shift every later stream number away from tshark's.
#[test]
fn a_late_close_of_a_forgotten_connection_takes_no_stream_number() {
    let server = addr("10.0.0.2:3306");
    let (greeting, login) = common::greeting_and_login();
    let mut r = Run::new();
    let first = addr("10.0.0.1:40001");
    r.exchange(first, server, &greeting, &login);
    // 30 s later (past the tombstone's 10 s), another connection.
    r.t += 30_000_000;
    r.exchange(addr("10.0.0.1:40002"), server, &greeting, &login);
    r.t += 30_000_000;
    r.send(&seg(addr("10.0.0.1:40003"), server, 1, 0, SYN, &[]));
    // The first connection's FIN, retransmitted late, then a new one.
    r.send(&seg(first, server, 102, 502, FIN_ACK, &[]));
    r.send(&seg(addr("10.0.0.1:40004"), server, 1, 0, SYN, &[]));
    let (done, _) = r.end();
    let ids: Vec<(u16, u32)> = done
        .iter()
        .map(|f| (f.endpoints.client.port(), f.conn))
        .collect();
    assert!(ids.contains(&(40004, 3)), "{ids:?}");
}
