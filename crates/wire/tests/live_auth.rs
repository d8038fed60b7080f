//! The codec's own packets over a plain blocking TcpStream against a private
//! MariaDB: every plugin MariaDB can serve gets OK (proof the scrambles are
//! right) and a wrong password gets ERR 1045.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use hsp_testkit::{ED25519_USER, EMPTY_USER, MariaDb, NATIVE_USER};
use hsp_wire::client::{ClientAction, ClientConfig, ClientHandshake, Secret};
use hsp_wire::codes::{Command, ErrorCode};
use hsp_wire::frame::{Deframer, Frame, RawPacket, write_packet};
use hsp_wire::packets::{ColumnCount, CommandPacket, Ctx, ErrPacket, OkPacket, Packet, TextRow};
use std::sync::OnceLock;

fn server() -> &'static MariaDb {
    static S: OnceLock<MariaDb> = OnceLock::new();
    S.get_or_init(MariaDb::start_default)
}

struct Conn {
    s: TcpStream,
    d: Deframer,
}

impl Conn {
    fn open(db: &MariaDb) -> Self {
        let s = TcpStream::connect(db.addr()).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Self {
            s,
            d: Deframer::default(),
        }
    }
    fn read(&mut self) -> RawPacket {
        loop {
            if let Some(Frame::Packet(p)) = self.d.next_frame() {
                return p;
            }
            let mut b = [0u8; 4096];
            let n = self.s.read(&mut b).expect("read");
            assert!(n > 0, "server closed");
            self.d.push(&b[..n]);
        }
    }
}

#[allow(
    clippy::large_enum_variant,
    reason = "a test helper returned once per login"
)]
enum End {
    Ok(OkPacket, ClientHandshake, Conn),
    Err(ErrPacket),
}

fn login(user: &str, password: &str, plugin: Option<&str>) -> End {
    let db = server();
    let mut c = Conn::open(db);
    let mut cfg = ClientConfig::new(user, Secret::new(password));
    cfg.auth_plugin = plugin.map(str::to_string);
    let mut hs = ClientHandshake::new(cfg);
    loop {
        let p = c.read();
        for action in hs.on_packet(&p).expect("handshake step") {
            match action {
                ClientAction::Send(b) => c.s.write_all(&b).unwrap(),
                ClientAction::Done(ok) => return End::Ok(ok, hs, c),
                ClientAction::Refused { err, .. } => return End::Err(err),
                ClientAction::StartTls => unreachable!("TLS not requested"),
            }
        }
    }
}

#[test]
fn native_password_gets_ok_and_reads_connect_timeout() {
    let (u, p) = NATIVE_USER;
    let End::Ok(ok, hs, mut c) = login(u, p, None) else {
        panic!("native login refused")
    };
    assert!(
        ok.status
            .is_some_and(|s| s.contains(hsp_wire::flags::StatusFlags::AUTOCOMMIT))
    );
    assert_eq!(hs.plugin(), "mysql_native_password");
    assert_eq!(hs.auth_rounds(), 0, "no switch expected");
    // A text result set through the codec: SELECT @@connect_timeout.
    let ctx = Ctx {
        caps: hs.negotiated(),
    };
    let mut out = bytes::BytesMut::new();
    write_packet(
        &mut out,
        0,
        &Packet::Command(CommandPacket::query("SELECT @@connect_timeout", ctx)).to_payload(ctx),
    );
    c.s.write_all(&out).unwrap();
    let cc = ColumnCount::decode(&c.read().payload).unwrap();
    assert_eq!(cc.count, 1);
    let _coldef = c.read();
    let row = TextRow::decode(&c.read().payload).unwrap();
    assert_eq!(
        row.text(0).as_deref(),
        Some("10"),
        "MariaDB's default connect_timeout"
    );
    let end = c.read();
    assert_eq!(end.payload[0], 0xfe, "DEPRECATE_EOF terminator");
    let mut out = bytes::BytesMut::new();
    write_packet(
        &mut out,
        0,
        &Packet::Command(CommandPacket::simple(Command::COM_QUIT)).to_payload(ctx),
    );
    c.s.write_all(&out).unwrap();
}

#[test]
fn ed25519_via_auth_switch_gets_ok() {
    assert!(
        server().has_ed25519,
        "the auth_ed25519 plugin did not load:\n{}",
        server().error_log()
    );
    let (u, p) = ED25519_USER;
    // The client starts with mysql_native_password; the server switches.
    let End::Ok(..) = login(u, p, Some("mysql_native_password")) else {
        panic!("ed25519 login refused")
    };
    // Starting directly with client_ed25519 works too (no switch).
    let End::Ok(_, hs, _) = login(u, p, Some("client_ed25519")) else {
        panic!("direct ed25519 refused")
    };
    assert_eq!(hs.plugin(), "client_ed25519");
}

#[test]
fn auth_switch_counts_a_round() {
    let (u, p) = ED25519_USER;
    let End::Ok(_, hs, _) = login(u, p, Some("mysql_native_password")) else {
        panic!("refused")
    };
    assert_eq!((hs.plugin(), hs.auth_rounds()), ("client_ed25519", 1));
}

#[test]
fn empty_password_gets_ok() {
    let End::Ok(..) = login(EMPTY_USER, "", None) else {
        panic!("empty-password login refused")
    };
}

#[test]
fn wrong_password_gets_1045_for_each_plugin() {
    for (user, plugin) in [
        (NATIVE_USER.0, "mysql_native_password"),
        (ED25519_USER.0, "mysql_native_password"),
        (ED25519_USER.0, "client_ed25519"),
    ] {
        match login(user, "wrong-password", Some(plugin)) {
            End::Err(e) => assert_eq!(
                e.code,
                ErrorCode::ER_ACCESS_DENIED_ERROR,
                "{user}/{plugin}: {}",
                e.message_lossy()
            ),
            End::Ok(..) => panic!("{user}/{plugin}: wrong password accepted"),
        }
    }
}
