//! The client handshake machine against a scripted server: packets written
//! here, the machine's answers decoded and checked (sequence ids, the
//! login's fields, the scramble computed independently), and its refusals
//! with the codes libmysqlclient reports. The live tests (live_auth.rs)
//! check the same machine against a real MariaDB.

use bytes::Bytes;
use hsp_wire::client::{
    ClientAction, ClientConfig, ClientHandshake, HandshakeError, Secret, TlsWanted,
};
use hsp_wire::flags::{Capabilities, StatusFlags};
use hsp_wire::frame::RawPacket;
use hsp_wire::packets::{GreetingExt, HandshakeResponse41, HandshakeV10};
use sha1::{Digest, Sha1};

const SCRAMBLE: &[u8; 20] = b"abcdefghijklmnopqrst";

fn server_caps(ssl: bool) -> Capabilities {
    let mut c = Capabilities::PROTOCOL_41
        | Capabilities::SECURE_CONNECTION
        | Capabilities::PLUGIN_AUTH
        | Capabilities::LONG_PASSWORD
        | Capabilities::TRANSACTIONS;
    if ssl {
        c |= Capabilities::SSL;
    }
    c
}

fn greeting(caps: Capabilities) -> RawPacket {
    let g = HandshakeV10 {
        server_version: b"8.0.36".to_vec(),
        connection_id: 9,
        auth_data_1: SCRAMBLE[..8].try_into().unwrap(),
        filler: 0,
        capabilities: caps,
        ext: Some(GreetingExt {
            collation: 45,
            status: StatusFlags::AUTOCOMMIT,
            auth_data_len: 21,
            reserved: [0; 10],
            auth_data_2: Some([&SCRAMBLE[8..], &[0][..]].concat()),
            auth_plugin: Some((b"mysql_native_password".to_vec(), true)),
            trailing: vec![],
        }),
    };
    let mut p = Vec::new();
    g.encode(&mut p);
    raw(0, &p)
}

fn raw(seq: u8, payload: &[u8]) -> RawPacket {
    RawPacket {
        seq,
        payload: Bytes::copy_from_slice(payload),
        chunks: 1,
    }
}

const OK: &[u8] = &[0, 0, 0, 2, 0, 0, 0];

/// The one packet an action list sends: (sequence id, payload).
fn sent(actions: &[ClientAction]) -> (u8, Vec<u8>) {
    let sends: Vec<_> = actions
        .iter()
        .filter_map(|a| match a {
            ClientAction::Send(b) => Some(b.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(sends.len(), 1, "{actions:?}");
    let b = &sends[0];
    let len = usize::from(b[0]) | usize::from(b[1]) << 8 | usize::from(b[2]) << 16;
    assert_eq!(b.len(), 4 + len);
    (b[3], b[4..].to_vec())
}

/// mysql_native_password, written out: SHA1(pw) XOR SHA1(scramble +
/// SHA1(SHA1(pw))).
fn native(password: &[u8], scramble: &[u8]) -> Vec<u8> {
    let p1 = Sha1::digest(password);
    let p2 = Sha1::digest(p1);
    let mut h = Sha1::new();
    h.update(scramble);
    h.update(p2);
    let x = h.finalize();
    p1.iter().zip(x.iter()).map(|(a, b)| a ^ b).collect()
}

#[test]
fn a_native_login_answers_the_greeting_in_sequence_and_ends_at_ok() {
    let mut c = ClientHandshake::new(ClientConfig::new("app", Secret::new("pw")));
    let (seq, login) = sent(&c.on_packet(&greeting(server_caps(false))).unwrap());
    assert_eq!(seq, 1);
    let l = HandshakeResponse41::decode(&login).unwrap();
    assert_eq!(l.user, b"app");
    assert_eq!(
        l.auth_plugin.as_deref(),
        Some(&b"mysql_native_password"[..])
    );
    assert_eq!(l.auth_response, native(b"pw", SCRAMBLE));
    assert!(!l.header.capabilities.contains(Capabilities::SSL));
    let done = c.on_packet(&raw(2, OK)).unwrap();
    assert!(matches!(&done[..], [ClientAction::Done(_)]), "{done:?}");
    assert!(c.is_finished());
    let after = c.on_packet(&raw(3, OK));
    assert_eq!(after.unwrap_err().client_error_code(), 2027);
}

#[test]
fn an_err_in_place_of_the_greeting_is_a_refusal() {
    let mut c = ClientHandshake::new(ClientConfig::new("app", Secret::new("pw")));
    let mut err = vec![0xff];
    err.extend_from_slice(&1040u16.to_le_bytes());
    err.extend_from_slice(b"Too many connections");
    let a = c.on_packet(&raw(0, &err)).unwrap();
    assert!(
        matches!(&a[..], [ClientAction::Refused { err, greeting: true }] if err.code.0 == 1040),
        "{a:?}"
    );
}

#[test]
fn an_auth_switch_is_answered_with_the_new_scramble() {
    let mut c = ClientHandshake::new(ClientConfig::new("app", Secret::new("pw")));
    c.on_packet(&greeting(server_caps(false))).unwrap();
    let nonce = b"ABCDEFGHIJKLMNOPQRST";
    let mut switch = vec![0xfe];
    switch.extend_from_slice(b"mysql_native_password\0");
    switch.extend_from_slice(nonce);
    switch.push(0);
    let (seq, answer) = sent(&c.on_packet(&raw(2, &switch)).unwrap());
    assert_eq!(seq, 3);
    assert_eq!(answer, native(b"pw", nonce));
    let done = c.on_packet(&raw(4, OK)).unwrap();
    assert!(matches!(&done[..], [ClientAction::Done(_)]), "{done:?}");
    assert_eq!(c.auth_rounds(), 1);
}

#[test]
fn a_refused_login_is_the_servers_err() {
    let mut c = ClientHandshake::new(ClientConfig::new("app", Secret::new("bad")));
    c.on_packet(&greeting(server_caps(false))).unwrap();
    let mut err = vec![0xff];
    err.extend_from_slice(&1045u16.to_le_bytes());
    err.extend_from_slice(b"#28000Access denied for user 'app'");
    let a = c.on_packet(&raw(2, &err)).unwrap();
    assert!(
        matches!(&a[..], [ClientAction::Refused { err, greeting: false }] if err.code.0 == 1045),
        "{a:?}"
    );
}

#[test]
fn tls_is_asked_for_when_offered_and_refused_when_required_but_absent() {
    let mut cfg = ClientConfig::new("app", Secret::new("pw"));
    cfg.tls = TlsWanted::Required;
    let mut c = ClientHandshake::new(cfg.clone());
    let a = c.on_packet(&greeting(server_caps(true))).unwrap();
    let (seq, req) = sent(&a);
    assert_eq!((seq, req.len()), (1, 32), "an SSLRequest");
    assert!(a.contains(&ClientAction::StartTls));
    // Over TLS, the login follows in sequence.
    let (seq, login) = sent(&c.tls_established().unwrap());
    assert_eq!(seq, 2);
    assert_eq!(HandshakeResponse41::decode(&login).unwrap().user, b"app");

    let mut c = ClientHandshake::new(cfg);
    let e = c.on_packet(&greeting(server_caps(false))).unwrap_err();
    assert_eq!(e, HandshakeError::TlsNotOffered);
    assert_eq!(e.client_error_code(), 2026);
}

#[test]
fn a_protocol_9_greeting_is_refused_as_libmysqlclient_does() {
    let mut c = ClientHandshake::new(ClientConfig::new("app", Secret::new("pw")));
    let e = c.on_packet(&raw(0, b"\x093.20.32\0")).unwrap_err();
    assert_eq!(e.client_error_code(), 2007);
}
