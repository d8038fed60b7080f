//! The observer driven by scripted bytes: a server's packets written here,
//! a client's from the client handshake machine answering them, each
//! direction fed whole, byte by byte, and cut as a snaplen cuts it.

use std::time::Duration;

use bytes::BytesMut;

use super::*;
use crate::client::{ClientAction, ClientConfig, ClientHandshake, Secret, TlsWanted};
use crate::codes::{Command, ErrorCode};
use crate::flags::{Capabilities, StatusFlags};
use crate::frame::{RawPacket, write_packet};

const C2S: Direction = Direction::ClientToServer;
const S2C: Direction = Direction::ServerToClient;

fn greeting(version: &[u8], id: u32, caps: Capabilities) -> Vec<u8> {
    let g = HandshakeV10 {
        server_version: version.to_vec(),
        connection_id: id,
        auth_data_1: *b"abcdefgh",
        filler: 0,
        capabilities: caps,
        ext: Some(GreetingExt {
            collation: 45,
            status: StatusFlags::AUTOCOMMIT,
            auth_data_len: 21,
            reserved: [0; 10],
            auth_data_2: Some(b"ijklmnopqrst\0".to_vec()),
            auth_plugin: Some((b"mysql_native_password".to_vec(), true)),
            trailing: vec![],
        }),
    };
    let mut p = Vec::new();
    g.encode(&mut p);
    framed(0, &p)
}

fn framed(seq: u8, payload: &[u8]) -> Vec<u8> {
    let mut b = BytesMut::new();
    write_packet(&mut b, seq, payload);
    b.to_vec()
}

fn server_caps() -> Capabilities {
    Capabilities::PROTOCOL_41
        | Capabilities::SECURE_CONNECTION
        | Capabilities::PLUGIN_AUTH
        | Capabilities::SSL
        | Capabilities::LONG_PASSWORD
        | Capabilities::TRANSACTIONS
}

/// The client machine's answer to `server` (one packet, framed).
fn client_answer(client: &mut ClientHandshake, server: &[u8]) -> Vec<u8> {
    let h = PacketHeader::parse(server).unwrap();
    let raw = RawPacket {
        seq: h.seq,
        payload: bytes::Bytes::copy_from_slice(&server[4..]),
        chunks: 1,
    };
    let mut out = Vec::new();
    for a in client.on_packet(&raw).unwrap() {
        if let ClientAction::Send(b) = a {
            out.extend_from_slice(&b);
        }
    }
    out
}

/// One direction's bytes as the capture holds them: whole, or cut after
/// `keep` bytes (the number cut alongside).
#[derive(Clone, Copy)]
enum Tap {
    Whole,
    ByteByByte,
    Snaplen(usize),
}

fn send(o: &mut Observer, dir: Direction, bytes: &[u8], tap: Tap, t: u64) -> Vec<ObserverEvent> {
    let at = Duration::from_millis(t);
    let mut out = Vec::new();
    match tap {
        Tap::Whole => o.feed(dir, bytes, at, &mut out),
        Tap::ByteByByte => {
            for b in bytes {
                o.feed(dir, std::slice::from_ref(b), at, &mut out);
            }
        }
        Tap::Snaplen(keep) => {
            let keep = keep.min(bytes.len());
            o.feed(dir, &bytes[..keep], at, &mut out);
            o.cut(dir, bytes.len() - keep, at, &mut out);
        }
    }
    out
}

fn milestones(ev: &[ObserverEvent]) -> Vec<Milestone> {
    ev.iter()
        .filter_map(|e| match e {
            ObserverEvent::Milestone { milestone, .. } => Some(milestone.clone()),
            _ => None,
        })
        .collect()
}

fn notices(ev: &[ObserverEvent]) -> Vec<Notice> {
    ev.iter()
        .filter_map(|e| match e {
            ObserverEvent::Notice { notice, .. } => Some(notice.clone()),
            _ => None,
        })
        .collect()
}

/// A login the client machine makes against a scripted server, seen by
/// an observer through `tap`: its milestones.
fn login_seen(tap: Tap) -> Vec<Milestone> {
    let mut o = Observer::default();
    let mut client = ClientHandshake::new(ClientConfig::new("app", Secret::new("pw")));
    let mut ev = Vec::new();
    let g = greeting(b"5.5.5-10.11.6-MariaDB-0+deb12u1", 42, server_caps());
    ev.extend(send(&mut o, S2C, &g, tap, 0));
    let login = client_answer(&mut client, &g);
    assert!(
        login.len() > 60,
        "a login with a user, a scramble and attributes"
    );
    ev.extend(send(&mut o, C2S, &login, tap, 1));
    ev.extend(send(
        &mut o,
        S2C,
        &framed(2, &[0, 0, 0, 2, 0, 0, 0]),
        tap,
        2,
    ));
    ev.extend(send(
        &mut o,
        C2S,
        &framed(0, &[Command::COM_QUIT.0]),
        tap,
        3,
    ));
    assert!(o.in_command_phase());
    milestones(&ev)
}

#[test]
fn a_login_decodes_the_same_whole_and_byte_by_byte() {
    let whole = login_seen(Tap::Whole);
    assert_eq!(whole, login_seen(Tap::ByteByByte));
    assert_eq!(
        whole,
        vec![
            Milestone::Greeting {
                protocol: 10,
                server_version: "5.5.5-10.11.6-MariaDB-0+deb12u1".into(),
                connection_id: Some(42),
            },
            Milestone::Login {
                user: "app".into(),
                database: None,
                auth_plugin: Some("mysql_native_password".into()),
            },
            Milestone::Ok,
            Milestone::Command(Command::COM_QUIT),
        ]
    );
}

#[test]
fn a_login_cut_to_30_bytes_per_segment_keeps_its_milestones_and_marks_the_cut() {
    let cut = login_seen(Tap::Snaplen(30));
    // The greeting's version as far as it goes; its id past the cut.
    assert_eq!(
        cut[0],
        Milestone::Greeting {
            protocol: 10,
            server_version: "5.5.5-10.11.6-MariaDB-0+d…".into(),
            connection_id: None,
        }
    );
    // The login's user name is past the cut: not guessed.
    assert!(matches!(&cut[1], Milestone::Login { user, auth_plugin: None, .. } if user == "…"));
    assert_eq!(
        cut[2..],
        [Milestone::Ok, Milestone::Command(Command::COM_QUIT)]
    );
}

#[test]
fn a_login_cut_to_62_bytes_shows_the_user_and_the_connection_id() {
    let cut = login_seen(Tap::Snaplen(62));
    assert!(
        matches!(&cut[0], Milestone::Greeting { connection_id: Some(42), server_version, .. } if server_version == "5.5.5-10.11.6-MariaDB-0+deb12u1")
    );
    assert!(matches!(&cut[1], Milestone::Login { user, .. } if user == "app"));
}

#[test]
fn a_cut_err_in_place_of_the_greeting_keeps_its_code() {
    let mut err = vec![0xff];
    err.extend_from_slice(&1040u16.to_le_bytes());
    err.extend_from_slice(b"Too many connections");
    let mut o = Observer::default();
    let ev = send(&mut o, S2C, &framed(0, &err), Tap::Snaplen(10), 0);
    assert_eq!(
        milestones(&ev),
        vec![Milestone::Err {
            code: ErrorCode(1040),
            in_place_of_greeting: true
        }]
    );
    let packet = ev.iter().find_map(|e| match e {
        ObserverEvent::Packet(p) => Some(p),
        _ => None,
    });
    let p = packet.expect("the ERR is emitted");
    assert_eq!((p.len, p.payload.len()), (err.len(), 6));
    assert!(matches!(&p.packet, Packet::GreetingError(e) if e.message == b"Too"));
}

#[test]
fn a_cut_auth_switch_names_its_plugin_as_far_as_it_goes() {
    let mut o = Observer::default();
    let g = greeting(b"8.0.36", 7, server_caps());
    send(&mut o, S2C, &g, Tap::Whole, 0);
    let mut client = ClientHandshake::new(ClientConfig::new("app", Secret::new("pw")));
    send(&mut o, C2S, &client_answer(&mut client, &g), Tap::Whole, 1);
    let mut sw = vec![0xfe];
    sw.extend_from_slice(b"caching_sha2_password\0");
    sw.extend_from_slice(&[9u8; 20]);
    let ev = send(&mut o, S2C, &framed(2, &sw), Tap::Snaplen(14), 2);
    assert_eq!(
        milestones(&ev),
        vec![Milestone::AuthSwitch {
            plugin: "caching_s…".into()
        }]
    );
}

#[test]
fn a_cut_ssl_request_starts_tls() {
    let mut o = Observer::default();
    let g = greeting(b"10.11.6-MariaDB", 3, server_caps());
    send(&mut o, S2C, &g, Tap::Whole, 0);
    let mut cfg = ClientConfig::new("app", Secret::new("pw"));
    cfg.tls = TlsWanted::Required;
    let mut client = ClientHandshake::new(cfg);
    let ssl = client_answer(&mut client, &g);
    assert_eq!(ssl.len(), 4 + LOGIN_HEADER_LEN);
    let ev = send(&mut o, C2S, &ssl, Tap::Snaplen(30), 1);
    assert_eq!(
        milestones(&ev),
        vec![Milestone::SslRequest, Milestone::TlsStart]
    );
    assert!(o.encrypted());
}

#[test]
fn a_cut_through_a_header_waits_for_the_next_turn() {
    let mut o = Observer::default();
    let g = greeting(b"8.0.36", 7, server_caps());
    send(&mut o, S2C, &g, Tap::Whole, 0);
    let mut client = ClientHandshake::new(ClientConfig::new("app", Secret::new("pw")));
    send(&mut o, C2S, &client_answer(&mut client, &g), Tap::Whole, 1);
    send(
        &mut o,
        S2C,
        &framed(2, &[0, 0, 0, 2, 0, 0, 0]),
        Tap::Whole,
        2,
    );
    // A query and a result set in one segment, cut inside the second
    // packet's header: the rest of the answer cannot be framed.
    send(&mut o, C2S, &framed(0, b"\x03SELECT 1"), Tap::Whole, 3);
    let mut answer = framed(1, &[1]);
    answer.extend(framed(
        2,
        &[0x03, b'd', b'e', b'f', 0, 0, 0, 1, b'1', 0, 0x0c],
    ));
    let ev = send(&mut o, S2C, &answer, Tap::Snaplen(6), 4);
    assert_eq!(notices(&ev), vec![Notice::CutHeader]);
    // More of the same answer, in the next segment: not framed.
    let ev = send(&mut o, S2C, &framed(3, &[0xfe, 0, 0, 2, 0]), Tap::Whole, 5);
    assert!(ev.is_empty(), "{ev:?}");
    // The client's next request is a turn: the server's answer after it
    // is read again.
    let ev = send(
        &mut o,
        C2S,
        &framed(0, &[Command::COM_PING.0]),
        Tap::Whole,
        6,
    );
    assert_eq!(milestones(&ev), vec![Milestone::Command(Command::COM_PING)]);
    let ev = send(
        &mut o,
        S2C,
        &framed(1, &[0, 0, 0, 2, 0, 0, 0]),
        Tap::Whole,
        7,
    );
    assert!(
        ev.iter()
            .any(|e| matches!(e, ObserverEvent::Packet(p) if matches!(p.packet, Packet::Ok(_)))),
        "{ev:?}"
    );
}

#[test]
fn a_capture_that_starts_mid_stream_reads_commands() {
    let mut o = Observer::default();
    let ev = send(&mut o, C2S, &framed(0, b"\x03SELECT 1"), Tap::Whole, 0);
    assert_eq!(notices(&ev), vec![Notice::MidStream]);
    assert_eq!(
        milestones(&ev),
        vec![Milestone::Command(Command::COM_QUERY)]
    );
    // Cut after the command byte: the command is known.
    let ev = send(&mut o, C2S, &framed(0, b"\x03SELECT 2"), Tap::Snaplen(5), 1);
    assert_eq!(
        milestones(&ev),
        vec![Milestone::Command(Command::COM_QUERY)]
    );
    // Cut before it: no command is guessed.
    let ev = send(&mut o, C2S, &framed(0, b"\x03SELECT 3"), Tap::Snaplen(4), 2);
    assert_eq!(milestones(&ev), vec![]);
}

#[test]
fn cut_bytes_inside_a_packet_are_skipped_by_its_length() {
    // Three packets; the middle one cut in two places across segments.
    let mut o = Observer::default();
    send(
        &mut o,
        C2S,
        &framed(0, &[Command::COM_PING.0]),
        Tap::Whole,
        0,
    );
    let mut out = Vec::new();
    let at = Duration::ZERO;
    let long = framed(1, &[7u8; 100]);
    o.feed(S2C, &long[..20], at, &mut out);
    o.cut(S2C, 30, at, &mut out);
    o.feed(S2C, &long[50..60], at, &mut out);
    o.cut(S2C, long.len() - 60, at, &mut out);
    o.feed(S2C, &framed(2, &[0xfe, 0, 0, 2, 0]), at, &mut out);
    let packets: Vec<_> = out
        .iter()
        .filter_map(|e| match e {
            ObserverEvent::Packet(p) => Some((p.seq, p.len, p.payload.len())),
            _ => None,
        })
        .collect();
    // The cut packet shows its first 16 payload bytes, then the EOF.
    assert_eq!(packets, vec![(1, 100, 16), (2, 5, 5)]);
    assert!(notices(&out).is_empty(), "{out:?}");
}

#[test]
fn a_capture_that_starts_after_the_greeting_reads_the_login() {
    let mut o = Observer::default();
    let g = greeting(b"8.0.36", 7, server_caps());
    let mut client = ClientHandshake::new(ClientConfig::new("app", Secret::new("pw")));
    let login = client_answer(&mut client, &g);
    // The greeting went by before the capture started.
    let ev = send(&mut o, C2S, &login, Tap::Whole, 0);
    assert_eq!(notices(&ev), vec![Notice::MidStream]);
    assert!(matches!(&milestones(&ev)[..], [Milestone::Login { user, .. }] if user == "app"));
    let ev = send(
        &mut o,
        S2C,
        &framed(2, &[0, 0, 0, 2, 0, 0, 0]),
        Tap::Whole,
        1,
    );
    assert_eq!(milestones(&ev), vec![Milestone::Ok]);
    assert!(o.in_command_phase());
}
