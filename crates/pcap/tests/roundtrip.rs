//! encode(decode(bytes)) == bytes for every packet of every real capture:
//! the recorded fixtures (always) and the public corpus in ../shared (when
//! present beside the checkout; CI has it).

mod common;

use std::path::Path;

use common::{all_ports, captures, public_corpus, root};

use hsp_pcap::{Follower, PcapFile, slice_tcp};
use hsp_wire::observer::{ObserverConfig, ObserverEvent};
use hsp_wire::packets::Packet;

/// Re-encodes every decoded packet; returns (packets checked, mismatches).
fn check(path: &Path, ports: Vec<u16>) -> (usize, Vec<String>) {
    let mut f = PcapFile::open(path).unwrap();
    let dlt = f.linktype();
    let mut follower = Follower::new(ports, ObserverConfig::default());
    let mut ev = Vec::new();
    let (mut n, mut bad) = (0, Vec::new());
    while let Some(rec) = f.next_record().unwrap() {
        let frame = rec.frame;
        let Some(seg) = slice_tcp(dlt, rec.data) else {
            continue;
        };
        ev.clear();
        follower.on_segment(&seg, rec.ts, rec.frame, &mut ev);
        for e in &ev {
            if let ObserverEvent::Packet(p) = &e.event {
                if matches!(p.packet, Packet::Data(_) | Packet::Malformed(_)) {
                    continue;
                }
                n += 1;
                if p.packet.to_payload(p.ctx) != p.payload[..] {
                    bad.push(format!(
                        "{} frame {frame}: {} does not re-encode byte-exact",
                        path.display(),
                        p.packet.info()
                    ));
                }
            }
        }
    }
    (n, bad)
}

#[test]
fn fixtures_re_encode_byte_exact() {
    let files = captures(&root().join("fixtures"));
    assert!(
        files.len() >= 8,
        "fixtures/ holds {} captures; run scripts/record-fixtures.sh",
        files.len()
    );
    let mut total = 0;
    for f in files {
        let (n, bad) = check(&f, all_ports());
        assert!(bad.is_empty(), "{bad:#?}");
        total += n;
    }
    assert!(total > 100, "only {total} packets decoded from fixtures");
}

#[test]
fn public_corpus_re_encodes_byte_exact() {
    let dir = public_corpus();
    let (mut total, mut bad) = (0, Vec::new());
    for f in captures(&dir) {
        let (n, b) = check(&f, all_ports());
        total += n;
        bad.extend(b);
    }
    assert!(
        bad.is_empty(),
        "{} of {total} packets differ: {bad:#?}",
        bad.len()
    );
    assert!(total > 3000, "only {total} packets decoded from the corpus");
}

/// The fixed-header fast path of `slice_tcp` and the etherparse path agree
/// on every record of every capture (fixtures and public corpus), and on
/// every prefix of the first 120 bytes of each (snaplen cuts through every
/// header field).
#[test]
fn fast_slicing_agrees_with_etherparse_on_every_record() {
    let public = public_corpus();
    let mut files = captures(&root().join("fixtures"));
    files.extend(captures(&public));
    let (mut tcp, mut bad) = (0u64, Vec::new());
    for path in files {
        let mut f = PcapFile::open(&path).unwrap();
        let dlt = f.linktype();
        // Damaged files in the corpus end early; what was read is compared.
        while let Ok(Some(rec)) = f.next_record() {
            tcp += u64::from(slice_tcp(dlt, rec.data).is_some());
            let cuts = (0..rec.data.len().min(120)).chain([rec.data.len()]);
            for cut in cuts {
                let data = &rec.data[..cut];
                let fast = slice_tcp(dlt, data);
                let slow = hsp_pcap::slice_tcp_etherparse(dlt, data);
                if fast != slow {
                    bad.push(format!(
                        "{} frame {} cut at {cut}: fast {fast:?} etherparse {slow:?}",
                        path.display(),
                        rec.frame
                    ));
                }
            }
        }
    }
    assert!(
        bad.is_empty(),
        "{} records differ: {:#?}",
        bad.len(),
        &bad[..bad.len().min(10)]
    );
    assert!(tcp > 5_000, "only {tcp} TCP records compared");
}
