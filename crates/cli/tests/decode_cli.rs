//! `decode` on damaged and hostile input, made here from a real fixture:
//! a clear error (file, frame) and exit 2 when the file cannot be read; a
//! warning and every connection that could be decoded when the damage is
//! inside a readable file; never a panic.

mod common;

use common::{decode, fixture, join, port_of, records, split};

#[test]
fn a_truncated_file_warns_with_the_frame_and_keeps_what_was_decoded() {
    let name = "too-many-connections";
    let bytes = std::fs::read(fixture(&format!("{name}.pcap"))).unwrap();
    let (global, recs) = split(&bytes);
    // Cut in the middle of record 150 (of about 170).
    let keep: usize = recs[..149].iter().map(|(h, d)| h.len() + d.len()).sum();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("truncated.pcap");
    std::fs::write(&path, [&global[..], &bytes[24..24 + keep + 20]].concat()).unwrap();
    let o = decode(&path, &["--format", "jsonl", "--port", &port_of(name)]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("warning:") && err.contains("truncated.pcap") && err.contains("frame 150"),
        "{err}"
    );
    assert!(
        matches!(o.status.code(), Some(0 | 1)),
        "a readable file: {err}"
    );
    let recs = records(&o);
    let conns = recs.iter().filter(|r| r["type"] == "connection").count();
    assert_eq!(conns, 12, "every connection before the damage");
    let summary = recs.last().unwrap();
    assert_eq!(summary["type"], "summary");
    assert_eq!(summary["damaged"].as_array().unwrap().len(), 1);
}

#[test]
fn a_wrong_magic_and_a_non_capture_exit_two_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = std::fs::read(fixture("wrong-password.pcap")).unwrap();
    bytes[..4].copy_from_slice(b"\x00\x11\x22\x33");
    let magic = dir.path().join("magic.pcap");
    std::fs::write(&magic, &bytes).unwrap();
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "this is not a capture\n").unwrap();
    for p in [&magic, &text] {
        let o = decode(p, &[]);
        assert_eq!(o.status.code(), Some(2));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(&p.display().to_string()), "{err}");
    }
    // One unreadable file among readable ones: the others still decode.
    let port = port_of("wrong-password");
    let o = decode(
        &magic,
        &[
            "--format",
            "jsonl",
            "--port",
            &port,
            fixture("wrong-password.pcap").to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(records(&o).iter().any(|r| r["verdict"] == "auth_failed"));
}

#[test]
fn a_snaplen_cut_capture_says_what_was_cut_and_keeps_the_verdict() {
    let name = "cli-native-query";
    let bytes = std::fs::read(fixture(&format!("{name}.pcap"))).unwrap();
    let whole = records(&decode(
        &fixture(&format!("{name}.pcap")),
        &["--format", "jsonl", "--port", &port_of(name)],
    ));
    let (mut global, mut recs) = split(&bytes);
    global[16..20].copy_from_slice(&80u32.to_le_bytes());
    for (h, d) in &mut recs {
        d.truncate(80);
        let n = d.len() as u32;
        h[8..12].copy_from_slice(&n.to_le_bytes());
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("snap.pcap");
    std::fs::write(&path, join(&global, &recs)).unwrap();
    let o = decode(&path, &["--format", "jsonl", "--port", &port_of(name)]);
    let recs = records(&o);
    let c = recs
        .iter()
        .find(|r| r["type"] == "connection")
        .expect("a record");
    let w = whole
        .iter()
        .find(|r| r["type"] == "connection")
        .expect("a record");
    assert_eq!(c["verdict"], w["verdict"], "{c}");
    assert_eq!(c["capture"]["snaplen"], 80, "{c}");
    assert!(c["capture"]["bytes_cut"].as_u64().unwrap() > 0, "{c}");
    assert!(w.get("capture").is_none(), "{w}");
    assert!(
        c["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e.as_str().unwrap().contains("first 80 bytes of each frame")),
        "{c}"
    );
}

#[test]
fn a_capture_starting_mid_connection_is_incomplete_never_guessed() {
    let name = "cli-native-query";
    let bytes = std::fs::read(fixture(&format!("{name}.pcap"))).unwrap();
    let (global, recs) = split(&bytes);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mid.pcap");
    std::fs::write(&path, join(&global, &recs[8..])).unwrap();
    let o = decode(&path, &["--format", "jsonl", "--port", &port_of(name)]);
    let recs = records(&o);
    let c = recs
        .iter()
        .find(|r| r["type"] == "connection")
        .expect("a record");
    assert_eq!(c["verdict"], "incomplete", "{c}");
}

/// One endpoint of the synthetic connection.
#[derive(Clone, Copy)]
struct Host {
    ip: [u8; 4],
    port: u16,
}

/// A raw-IPv4 (LINKTYPE_RAW) TCP segment from `a` to `b`.
fn segment(a: Host, b: Host, seq: u32, ack: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let total = 40 + payload.len();
    let mut p = vec![
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        0,
        0x40,
        0,
        64,
        6,
        0,
        0,
    ];
    p.extend_from_slice(&a.ip);
    p.extend_from_slice(&b.ip);
    p.extend_from_slice(&a.port.to_be_bytes());
    p.extend_from_slice(&b.port.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ack.to_be_bytes());
    p.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    p.extend_from_slice(payload);
    p
}

#[test]
fn garbage_on_port_3306_is_decoded_without_panic_into_one_record() {
    let c = Host {
        ip: [10, 0, 0, 1],
        port: 40000,
    };
    let s = Host {
        ip: [10, 0, 0, 2],
        port: 3306,
    };
    let mut junk = Vec::new();
    let mut x: u32 = 12345;
    for _ in 0..3000 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        junk.push((x >> 16) as u8);
    }
    let pkts = [
        segment(c, s, 100, 0, 0x02, &[]),
        segment(s, c, 500, 101, 0x12, &[]),
        segment(c, s, 101, 501, 0x10, &[]),
        segment(s, c, 501, 101, 0x18, &junk[..1400]),
        segment(c, s, 101, 1901, 0x18, &junk[1400..2800]),
        segment(s, c, 1901, 1501, 0x19, &junk[2800..]),
        segment(c, s, 1501, 2102, 0x11, &[]),
    ];
    let mut file = Vec::new();
    for v in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65535, 101] {
        file.extend_from_slice(&v.to_le_bytes());
    }
    for (i, p) in pkts.iter().enumerate() {
        for v in [
            1_700_000_000u32,
            i as u32 * 1000,
            p.len() as u32,
            p.len() as u32,
        ] {
            file.extend_from_slice(&v.to_le_bytes());
        }
        file.extend_from_slice(p);
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("garbage.pcap");
    std::fs::write(&path, file).unwrap();
    let o = decode(&path, &["--format", "jsonl"]);
    let recs = records(&o);
    let conns: Vec<_> = recs.iter().filter(|r| r["type"] == "connection").collect();
    assert_eq!(conns.len(), 1, "{recs:?}");
    assert_ne!(conns[0]["verdict"], "ok", "{}", conns[0]);
    let o = decode(&path, &["--packets"]);
    assert!(matches!(o.status.code(), Some(0 | 1)));
}

/// A router's reset toward the client, in the server's name, read from a
/// real capture: the text output names the verdict, the signals behind it
/// and the advice; the JSON record gives the party and what the client
/// logged.
#[test]
fn a_reset_forged_by_a_router_is_shown_with_its_signals_and_advice() {
    let name = "net-reject-idle-to-client-client";
    let path = fixture(&format!("{name}.pcap"));
    let port = port_of(name);
    let text = decode(&path, &["--port", &port, "--wait-timeout", "3s"]);
    let out = String::from_utf8_lossy(&text.stdout);
    assert!(out.contains("middlebox_reset"), "{out}");
    assert!(out.contains("TTL 64"), "{out}");
    assert!(
        out.contains("firewall, NAT, load balancer"),
        "the advice: {out}"
    );
    let json = decode(
        &path,
        &["--port", &port, "--wait-timeout", "3s", "--format", "jsonl"],
    );
    let recs = records(&json);
    let r = recs.iter().find(|r| r["type"] == "connection").unwrap();
    assert_eq!(r["verdict"], "middlebox_reset");
    assert_eq!(r["party"], "network");
    assert_eq!(r["app_error"]["code"], 2006);
    assert_eq!(recs.last().unwrap()["verdicts"]["middlebox_reset"], 1);
}
