//! Damaged headers inside a readable capture, made here from a real
//! fixture: a warning naming the file and the frame, and every other
//! connection still decoded. A link type the decoder does not read, and a
//! capture with no MySQL in it, are said as such.

mod common;

use common::{decode, fixture, join, port_of, records, split};

const NAME: &str = "too-many-connections";

/// The fixture's records, changed by `edit`, decoded with its port.
fn decode_edited(
    edit: impl FnOnce(&mut Vec<u8>, &mut Vec<common::PcapRecord>),
) -> (std::process::Output, String) {
    decode_edited_with(edit, &["--format", "jsonl"])
}

/// [`decode_edited`] with other options.
fn decode_edited_with(
    edit: impl FnOnce(&mut Vec<u8>, &mut Vec<common::PcapRecord>),
    opts: &[&str],
) -> (std::process::Output, String) {
    let bytes = std::fs::read(fixture(&format!("{NAME}.pcap"))).unwrap();
    let (mut global, mut recs) = split(&bytes);
    edit(&mut global, &mut recs);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("edited.pcap");
    std::fs::write(&path, join(&global, &recs)).unwrap();
    let port = port_of(NAME);
    let mut args = opts.to_vec();
    args.extend(["--port", port.as_str()]);
    let o = decode(&path, &args);
    (o, path.display().to_string())
}

fn connections(o: &std::process::Output) -> usize {
    records(o)
        .iter()
        .filter(|r| r["type"] == "connection")
        .count()
}

fn whole() -> usize {
    let o = decode(
        &fixture(&format!("{NAME}.pcap")),
        &["--format", "jsonl", "--port", &port_of(NAME)],
    );
    connections(&o)
}

#[test]
fn a_header_snaplen_of_0_or_over_262144_is_a_warning_and_changes_nothing() {
    for snaplen in [0u32, 262_145, u32::MAX] {
        let (o, path) = decode_edited(|g, _| g[16..20].copy_from_slice(&snaplen.to_le_bytes()));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(&path) && err.contains(&format!("snaplen is {snaplen}")),
            "{err}"
        );
        assert_eq!(connections(&o), whole(), "{err}");
    }
}

#[test]
fn a_record_longer_than_on_the_wire_is_a_warning_naming_its_frame() {
    let edit = |_: &mut Vec<u8>, recs: &mut Vec<common::PcapRecord>| {
        let (h, d) = &mut recs[5];
        let short = d.len() as u32 - 10;
        h[12..16].copy_from_slice(&short.to_le_bytes());
    };
    let (o, path) = decode_edited(edit);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&path) && err.contains("frame 6: captured length"),
        "{err}"
    );
    assert_eq!(connections(&o), whole(), "{err}");
    // Listing packets looks at records the same way.
    let (o, path) = decode_edited_with(edit, &["--packets"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&path) && err.contains("frame 6: captured length"),
        "--packets: {err}"
    );
}

#[test]
fn an_ip_length_shorter_than_its_headers_is_a_warning_and_the_rest_is_decoded() {
    // Frame 1 is the first connection's SYN; its IPv4 total length
    // (Ethernet header, then bytes 2..4 of IP) made shorter than IP and
    // TCP together.
    let (o, path) = decode_edited(|_, recs| {
        let (_, d) = &mut recs[0];
        d[16..18].copy_from_slice(&30u16.to_be_bytes());
    });
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&path) && err.contains("frame 1: IPv4 total length 30"),
        "{err}"
    );
    // The connection whose SYN was lost is still decoded (from its
    // SYN-ACK on), and so is every other.
    assert_eq!(connections(&o), whole(), "{err}");
}

#[test]
fn a_link_type_not_decoded_is_named_with_those_that_are() {
    let (o, path) = decode_edited(|g, _| g[20..24].copy_from_slice(&127u32.to_le_bytes()));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&path)
            && err.contains("link type 127 (IEEE802_11_RADIO)")
            && err.contains("1 (Ethernet)"),
        "{err}"
    );
    assert_eq!(o.status.code(), Some(2));
    let recs = records(&o);
    let summary = recs.last().unwrap();
    assert_eq!(summary["type"], "summary");
    assert_eq!(summary["skipped"].as_array().unwrap().len(), 1, "{summary}");
}

#[test]
fn a_capture_without_mysql_says_so() {
    // The fixture's MySQL bytes replaced by an HTTP exchange's: the TCP
    // connections stay, none shows MySQL.
    let bytes = std::fs::read(fixture("cli-native-query.pcap")).unwrap();
    let (global, mut recs) = split(&bytes);
    for (_, d) in &mut recs {
        // Ethernet 14 + IPv4 20 + TCP 32 (timestamps).
        for b in d.iter_mut().skip(66) {
            *b = b'H';
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("http.pcap");
    std::fs::write(&path, join(&global, &recs)).unwrap();
    let o = decode(&path, &[]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("no MySQL connection"), "{out}");
    assert!(
        out.contains("1 TCP connection(s) never showed MySQL"),
        "{out}"
    );
}

#[test]
fn an_unreadable_file_exits_2_with_or_without_packets() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.pcap");
    std::fs::write(&path, b"these are not packets, just notes\n").unwrap();
    for extra in [&["--packets"][..], &[][..]] {
        let o = decode(&path, extra);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {err}");
        assert!(err.contains("notes.pcap"), "{extra:?}: {err}");
    }
}
