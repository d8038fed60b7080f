//! Headers-only captures: every fixture cut as `tcpdump -s 96` and
//! `-s 128` cut it (each frame kept up to the snaplen, its original length
//! left in the record) gives the verdicts of the whole capture, connection
//! by connection, except where the deciding bytes lie past the cut; those
//! are listed below with the reason.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use hsp_core::{ConnectionRecord, Params};
use hsp_pcap::analyze_file;

/// Connections whose verdict needs bytes past the cut: (capture, snaplen,
/// stream, verdict on the cut copy, why).
const PAST_THE_CUT: &[(&str, u32, u32, &str, &str)] = &[];

/// `bytes` (a classic little-endian pcap) with every record cut to
/// `snaplen` bytes, as tcpdump -s writes it.
fn cut(bytes: &[u8], snaplen: u32) -> Vec<u8> {
    let magic = u32::from_le_bytes(bytes[..4].try_into().unwrap());
    assert!(
        matches!(magic, 0xa1b2_c3d4 | 0xa1b2_3c4d),
        "a little-endian classic pcap"
    );
    let mut out = bytes[..24].to_vec();
    out[16..20].copy_from_slice(&snaplen.to_le_bytes());
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let caplen = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap());
        let data = &bytes[at + 16..at + 16 + caplen as usize];
        let kept = caplen.min(snaplen);
        out.extend_from_slice(&bytes[at..at + 8]);
        out.extend_from_slice(&kept.to_le_bytes());
        out.extend_from_slice(&bytes[at + 12..at + 16]);
        out.extend_from_slice(&data[..kept as usize]);
        at += 16 + caplen as usize;
    }
    out
}

fn decode(path: &Path, params: &Params) -> BTreeMap<u32, ConnectionRecord> {
    let mut recs = BTreeMap::new();
    analyze_file(path, &common::all_ports(), None, params, |r| {
        recs.insert(r.stream.unwrap(), r);
    })
    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    recs
}

#[test]
fn every_fixture_cut_to_96_and_128_bytes_keeps_its_verdicts() {
    let dir = tempfile::tempdir().unwrap();
    let params = Params::default();
    let mut compared = 0;
    let mut wrong = Vec::new();
    let mut listed_but_same = Vec::new();
    for path in common::captures(&common::root().join("fixtures")) {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let whole = decode(&path, &params);
        let bytes = std::fs::read(&path).unwrap();
        for snaplen in [96, 128] {
            let cut_path = dir.path().join(format!("{name}-{snaplen}.pcap"));
            std::fs::write(&cut_path, cut(&bytes, snaplen)).unwrap();
            let cut = decode(&cut_path, &params);
            for (stream, w) in &whole {
                let listed = PAST_THE_CUT
                    .iter()
                    .find(|e| e.0 == name && e.1 == snaplen && e.2 == *stream);
                let Some(c) = cut.get(stream) else {
                    wrong.push(format!("{name} -s {snaplen} stream {stream}: no record"));
                    continue;
                };
                compared += 1;
                match listed {
                    Some(e) if c.verdict.name() == e.3 && c.verdict != w.verdict => {}
                    Some(_) if c.verdict == w.verdict => {
                        listed_but_same.push(format!("{name} -s {snaplen} stream {stream}"));
                    }
                    _ if c.verdict == w.verdict => {}
                    _ => wrong.push(format!(
                        "{name} -s {snaplen} stream {stream}: {} whole, {} cut; {:?}",
                        w.verdict, c.verdict, c.evidence
                    )),
                }
            }
            for stream in cut.keys().filter(|s| !whole.contains_key(s)) {
                wrong.push(format!(
                    "{name} -s {snaplen} stream {stream}: a record only the cut copy has"
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{compared} compared; differ:\n{}",
        wrong.join("\n")
    );
    eprintln!(
        "cut to 96 and 128 bytes: {compared} records compared, all with the whole capture's verdict"
    );
    assert!(
        listed_but_same.is_empty(),
        "listed as past the cut but unchanged: {listed_but_same:?}"
    );
    assert!(compared >= 400, "only {compared} connections compared");
}

/// Verdicts a record from TCP alone may give (hsp-core's `TCP_DECIDES`).
const TCP_DECIDES: &[&str] = &[
    "no_server",
    "server_timeout",
    "client_slow",
    "server_slow",
    "network_stall",
    "middlebox_reset",
    "incomplete",
];

/// Cut to 54 and 60 bytes (Ethernet, IPv4 and the TCP header's fixed 20
/// bytes, or 6 of its options): no payload at all. With the port given,
/// every connection still gets a record; its verdict is the whole
/// capture's where TCP decides it (or `network_stall` where only a D-SACK,
/// in the options the cut removed, showed a copy spurious), else
/// `incomplete`, never a verdict
/// that needs the MySQL bytes (a connection that carried none, such as a
/// reset before the greeting, keeps its verdict whatever it is).
#[test]
fn every_fixture_cut_to_its_tcp_headers_keeps_a_record_per_connection() {
    let dir = tempfile::tempdir().unwrap();
    let params = Params::default();
    let (mut compared, mut same, mut unknown, mut dsack) = (0, 0, 0, 0);
    let mut wrong = Vec::new();
    let mut lost = Vec::new();
    for path in common::captures(&common::root().join("fixtures")) {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let whole = decode(&path, &params);
        let bytes = std::fs::read(&path).unwrap();
        for snaplen in [54, 60] {
            let cut_path = dir.path().join(format!("{name}-{snaplen}.pcap"));
            std::fs::write(&cut_path, cut(&bytes, snaplen)).unwrap();
            let cut = decode(&cut_path, &params);
            for (stream, w) in &whole {
                let Some(c) = cut.get(stream) else {
                    wrong.push(format!("{name} -s {snaplen} stream {stream}: no record"));
                    continue;
                };
                compared += 1;
                let v = c.verdict.name();
                let tcp_only = c.evidence.iter().any(|e| e.starts_with("TCP only"));
                if !TCP_DECIDES.contains(&v) && (tcp_only || c.verdict != w.verdict) {
                    wrong.push(format!(
                        "{name} -s {snaplen} stream {stream}: {v} from TCP alone; {:?}",
                        c.evidence
                    ));
                } else if c.verdict == w.verdict {
                    same += 1;
                } else if v == "network_stall"
                    && w.evidence
                        .iter()
                        .any(|e| e.contains("spurious retransmission"))
                {
                    // A D-SACK told the whole capture a copy was spurious;
                    // the snaplen cut the options that carried it.
                    dsack += 1;
                } else if v == "incomplete" {
                    unknown += 1;
                    if TCP_DECIDES.contains(&w.verdict.name()) {
                        lost.push(format!(
                            "{name} -s {snaplen} stream {stream}: {} whole; {:?}",
                            w.verdict, c.evidence
                        ));
                    }
                } else {
                    wrong.push(format!(
                        "{name} -s {snaplen} stream {stream}: {} whole, {v} from TCP; {:?}",
                        w.verdict, c.evidence
                    ));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{compared} compared; wrong:\n{}",
        wrong.join("\n")
    );
    assert!(compared >= 400, "only {compared} connections compared");
    eprintln!(
        "TCP alone: {compared} records, {same} with the whole capture's verdict, {unknown} incomplete, {dsack} network_stall where a D-SACK in the cut options showed a copy spurious"
    );
    // Most of the fixtures' verdicts need content (ok, refused, ...), but
    // the network faults and timeouts are TCP's.
    assert!(same >= 180, "{same} the same, {unknown} incomplete");
    assert!(
        lost.is_empty(),
        "TCP decides these, yet incomplete:\n{}",
        lost.join("\n")
    );
}
