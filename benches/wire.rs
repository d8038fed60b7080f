//! Decoding cost of the packets every handshake carries, and deframing
//! throughput. Run: `cargo bench -p hsp-bench`. Figures go in the README.

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hsp_wire::codes::ErrorCode;
use hsp_wire::flags::{Capabilities, StatusFlags};
use hsp_wire::frame::{Deframer, write_packet};
use hsp_wire::packets::*;

fn greeting() -> Vec<u8> {
    let g = HandshakeV10 {
        server_version: b"5.5.5-10.11.19-MariaDB-0+deb12u1".to_vec(),
        connection_id: 42,
        auth_data_1: *b"12345678",
        filler: 0,
        capabilities: Capabilities::from_bits_retain(0xa1fe_f7fe),
        ext: Some(GreetingExt {
            collation: 45,
            status: StatusFlags::AUTOCOMMIT,
            auth_data_len: 21,
            reserved: [0, 0, 0, 0, 0, 0, 0x1d, 0, 0, 0],
            auth_data_2: Some(b"abcdefghijkl\0".to_vec()),
            auth_plugin: Some((b"mysql_native_password".to_vec(), true)),
            trailing: vec![],
        }),
    };
    let mut b = Vec::new();
    g.encode(&mut b);
    b
}

fn login() -> Vec<u8> {
    let caps = Capabilities::PROTOCOL_41
        | Capabilities::SECURE_CONNECTION
        | Capabilities::PLUGIN_AUTH
        | Capabilities::PLUGIN_AUTH_LENENC_CLIENT_DATA
        | Capabilities::CONNECT_ATTRS
        | Capabilities::CONNECT_WITH_DB;
    let l = HandshakeResponse41 {
        header: LoginHeader::new(caps, 1 << 24, 45, None),
        user: b"app_user".to_vec(),
        auth_response: vec![7; 20],
        database: Some(b"shop".to_vec()),
        auth_plugin: Some(b"mysql_native_password".to_vec()),
        attributes: Some(vec![
            (b"_client_name".to_vec(), b"libmariadb".to_vec()),
            (b"_pid".to_vec(), b"12345".to_vec()),
            (b"_os".to_vec(), b"Linux".to_vec()),
        ]),
        zstd_level: None,
    };
    let mut b = Vec::new();
    l.encode(&mut b);
    b
}

fn bench(c: &mut Criterion) {
    let g = greeting();
    let l = login();
    let ctx = Ctx {
        caps: Capabilities::PROTOCOL_41 | Capabilities::SESSION_TRACK,
    };
    let ok = [0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00];
    let mut err = vec![0xff];
    err.extend_from_slice(&ErrorCode::ER_ACCESS_DENIED_ERROR.0.to_le_bytes());
    err.extend_from_slice(
        b"#28000Access denied for user 'app_user'@'10.0.0.7' (using password: YES)",
    );

    let mut grp = c.benchmark_group("decode");
    grp.throughput(Throughput::Elements(1));
    grp.bench_function("greeting", |b| {
        b.iter(|| HandshakeV10::decode(black_box(&g)).unwrap());
    });
    grp.bench_function("login_request", |b| {
        b.iter(|| HandshakeResponse41::decode(black_box(&l)).unwrap());
    });
    grp.bench_function("ok", |b| {
        b.iter(|| OkPacket::decode(black_box(&ok), ctx).unwrap());
    });
    grp.bench_function("err", |b| {
        b.iter(|| ErrPacket::decode(black_box(&err)).unwrap());
    });
    grp.finish();

    // 1 MiB of packets shaped like a result set: 100-byte rows.
    let mut stream = BytesMut::new();
    let mut seq = 0u8;
    let mut packets = 0u64;
    while stream.len() < 1 << 20 {
        seq = write_packet(&mut stream, seq, &[b'r'; 100]);
        packets += 1;
    }
    let mut grp = c.benchmark_group("deframe");
    grp.throughput(Throughput::Bytes(stream.len() as u64));
    for chunk in [1460usize, 65536] {
        grp.bench_function(format!("1MiB_in_{chunk}B_segments"), |b| {
            b.iter(|| {
                let mut d = Deframer::default();
                let mut n = 0u64;
                for c in stream.chunks(chunk) {
                    d.push(c);
                    while d.next_frame().is_some() {
                        n += 1;
                    }
                }
                assert_eq!(n, packets);
            });
        });
    }
    grp.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
