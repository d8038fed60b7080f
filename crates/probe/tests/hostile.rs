//! Faults no real server produces on demand, from a scripted hostile
//! server (in addition to the real-MariaDB tests, never instead): no
//! greeting, half a packet, a forged 16 MiB length, garbage, resets. Each
//! must end in a precise verdict within --timeout: no hang, no panic, no
//! waiting for (or buffering of) bytes a forged header announced. The
//! scripts play over `tokio::io::duplex` in paused time, so "at the time
//! limit" and "at once" are exact, on any machine; the resets need a real
//! socket and assert no time.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use hsp_core::{ConnectionRecord, Phase, Verdict};
use hsp_wire::flags::{Capabilities, StatusFlags};
use hsp_wire::frame::write_packet;
use hsp_wire::packets::{GreetingExt, HandshakeV10};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

const LIMIT: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy)]
enum Script {
    NoGreeting,
    HalfGreeting,
    HalfGreetingThenClose,
    ForgedLength,
    Garbage,
    ResetAtOnce,
    ResetAfterLogin,
    WrongProtocolVersion,
    NonsenseAfterLogin,
}

fn greeting() -> Vec<u8> {
    let g = HandshakeV10 {
        server_version: b"8.0.99-hostile".to_vec(),
        connection_id: 7,
        auth_data_1: *b"abcdefgh",
        filler: 0,
        capabilities: Capabilities::from_bits_retain(0xffff_f7ff) - Capabilities::SSL,
        ext: Some(GreetingExt {
            collation: 255,
            status: StatusFlags::AUTOCOMMIT,
            auth_data_len: 21,
            reserved: [0; 10],
            auth_data_2: Some(b"ijklmnopqrst\0".to_vec()),
            auth_plugin: Some((b"mysql_native_password".to_vec(), true)),
            trailing: vec![],
        }),
    };
    let mut payload = Vec::new();
    g.encode(&mut payload);
    let mut wire = BytesMut::new();
    write_packet(&mut wire, 0, &payload);
    wire.to_vec()
}

async fn hold<S: AsyncRead + AsyncWrite + Unpin>(mut s: S) {
    let mut b = [0u8; 1024];
    let _ = tokio::time::timeout(Duration::from_secs(30), async {
        while matches!(s.read(&mut b).await, Ok(n) if n > 0) {}
    })
    .await;
}

fn reset(s: TcpStream) {
    #[allow(deprecated, reason = "set_linger(0) is exactly the RST we want")]
    s.set_linger(Some(Duration::ZERO)).unwrap();
    drop(s);
}

/// The scripts a byte stream can play; `s` dropped is the server's close.
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(script: Script, mut s: S) {
    let g = greeting();
    match script {
        Script::NoGreeting => hold(s).await,
        Script::HalfGreeting => {
            s.write_all(&g[..20]).await.unwrap();
            hold(s).await;
        }
        Script::HalfGreetingThenClose => {
            s.write_all(&g[..20]).await.unwrap();
        }
        Script::ForgedLength => {
            let mut b = vec![0xff, 0xff, 0xff, 0x00, 10];
            b.extend_from_slice(&[b'x'; 200]);
            let _ = s.write_all(&b).await;
            hold(s).await;
        }
        Script::Garbage => {
            let _ = s
                .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                .await;
            hold(s).await;
        }
        Script::WrongProtocolVersion => {
            let _ = s.write_all(&[5, 0, 0, 0, 9, b'3', b'.', b'2', 0]).await;
            hold(s).await;
        }
        Script::NonsenseAfterLogin => {
            s.write_all(&g).await.unwrap();
            let mut b = [0u8; 4096];
            let _ = s.read(&mut b).await;
            let _ = s.write_all(&[2, 0, 0, 2, 0x01, 0x77]).await;
            hold(s).await;
        }
        Script::ResetAtOnce | Script::ResetAfterLogin => {
            unreachable!("a reset needs a real socket: see start_tcp")
        }
    }
}

/// A TCP server on 127.0.0.1 that resets (a byte stream cannot).
fn start_tcp(script: Script) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(l.local_addr().unwrap()).unwrap();
            loop {
                let (mut s, _) = l.accept().await.unwrap();
                tokio::spawn(async move {
                    if let Script::ResetAfterLogin = script {
                        s.write_all(&greeting()).await.unwrap();
                        let mut b = [0u8; 4096];
                        let _ = s.read(&mut b).await;
                    }
                    reset(s);
                });
            }
        });
    });
    rx.recv().unwrap()
}

/// The probe against `script` over `tokio::io::duplex`, in paused time:
/// the record, and how much (virtual) time it took, exactly.
fn probe(script: Script) -> (ConnectionRecord, Duration) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let peer = SocketAddr::from(([192, 0, 2, 1], 3306));
        let mut cfg = support::config(peer, None);
        cfg.timeout = LIMIT;
        let shared = hsp_probe::attempt::Shared::new(cfg).unwrap();
        let (client, server) = tokio::io::duplex(64 * 1024);
        tokio::spawn(serve(script, server));
        let t = Instant::now();
        let mut a = hsp_probe::attempt::Attempt::over(&shared, 0, peer, client);
        let end = a.drive().await;
        let r = a.finish(end).await;
        (r, t.elapsed())
    })
}

/// The probe against a resetting TCP server.
fn probe_tcp(script: Script) -> ConnectionRecord {
    let mut cfg = support::config(start_tcp(script), None);
    cfg.timeout = LIMIT;
    cfg.count = Some(1);
    let (mut recs, _) = support::probe(cfg);
    recs.remove(0)
}

#[test]
fn no_greeting_is_server_slow_at_the_time_limit() {
    let (r, took) = probe(Script::NoGreeting);
    assert_eq!(
        (r.verdict, r.outcome, r.phase),
        (Verdict::ServerSlow, "timed_out", Phase::Greeting),
        "{r:?}"
    );
    // Paused time: exactly the limit, no more.
    assert_eq!(took, LIMIT);
    let e = r.app_error.unwrap();
    assert_eq!(e.code, 2013);
    assert!(
        e.message
            .contains("'waiting for initial communication packet'"),
        "{}",
        e.message
    );
}

#[test]
fn half_a_greeting_is_server_slow_and_says_how_much_came() {
    let (r, _) = probe(Script::HalfGreeting);
    assert_eq!(
        (r.verdict, r.outcome),
        (Verdict::ServerSlow, "timed_out"),
        "{r:?}"
    );
    let len = greeting().len();
    assert!(
        r.evidence
            .iter()
            .any(|e| e.contains(&format!("20 byte(s) of a {len}-byte packet"))),
        "{:?}",
        r.evidence
    );
}

#[test]
fn half_a_greeting_then_close_is_server_reset() {
    let (r, _) = probe(Script::HalfGreetingThenClose);
    assert_eq!(
        (r.verdict, r.outcome),
        (Verdict::ServerReset, "server_closed"),
        "{r:?}"
    );
    assert!(
        r.app_error
            .unwrap()
            .message
            .contains("'reading initial communication packet'")
    );
}

#[test]
fn a_forged_16_mib_length_is_a_protocol_error_at_once() {
    let (r, took) = probe(Script::ForgedLength);
    assert_eq!(
        (r.verdict, r.outcome),
        (Verdict::ProtocolError, "malformed"),
        "{r:?}"
    );
    assert_eq!(took, Duration::ZERO, "not waited for");
    assert!(
        r.evidence.iter().any(|e| e.contains("16777215")),
        "{:?}",
        r.evidence
    );
    assert_eq!(r.app_error.unwrap().code, 2027);
}

#[test]
fn garbage_is_a_protocol_error_at_once() {
    let (r, took) = probe(Script::Garbage);
    assert_eq!(r.verdict, Verdict::ProtocolError, "{r:?}");
    assert_eq!(took, Duration::ZERO);
}

#[test]
fn a_reset_at_once_is_server_reset_with_errno_104() {
    let r = probe_tcp(Script::ResetAtOnce);
    assert_eq!(
        (r.verdict, r.outcome, r.phase),
        (Verdict::ServerReset, "server_reset", Phase::Greeting),
        "{r:?}"
    );
    let e = r.app_error.unwrap();
    assert_eq!(
        e.message,
        "Lost connection to MySQL server at 'reading initial communication packet', system error: 104"
    );
}

#[test]
fn a_reset_after_the_login_is_server_reset_reading_authorization_packet() {
    let r = probe_tcp(Script::ResetAfterLogin);
    assert_eq!(
        (r.verdict, r.phase),
        (Verdict::ServerReset, Phase::Login),
        "{r:?}"
    );
    assert!(
        r.app_error
            .unwrap()
            .message
            .contains("'reading authorization packet'")
    );
}

#[test]
fn a_foreign_protocol_version_is_a_protocol_error_with_2007() {
    let (r, _) = probe(Script::WrongProtocolVersion);
    assert_eq!(r.verdict, Verdict::ProtocolError, "{r:?}");
    assert_eq!(r.app_error.unwrap().code, 2007);
}

#[test]
fn nonsense_during_authentication_is_a_protocol_error() {
    let (r, _) = probe(Script::NonsenseAfterLogin);
    assert_eq!(
        (r.verdict, r.phase),
        (Verdict::ProtocolError, Phase::Auth),
        "{r:?}"
    );
    assert_eq!(r.app_error.unwrap().code, 2027);
}
