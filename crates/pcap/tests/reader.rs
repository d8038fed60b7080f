//! Classic pcap files are read by this crate, not libpcap (for speed):
//! every record must come out as libpcap gives it. Every capture of both
//! corpora, and variants of the fixtures (byte-swapped, nanosecond,
//! a short snaplen, cut at awkward offsets), are read both ways.

mod common;

use std::path::Path;
use std::time::Duration;

use hsp_pcap::{Next, PcapFile, Prefetched, RecordSource};

use common::{captures, public_corpus, root};

type Rec = (u64, Duration, u32, Vec<u8>);

/// Every record, and the frame of the error that ended the file early.
fn read_all(src: &mut dyn RecordSource) -> (Vec<Rec>, Option<u64>) {
    let mut out = Vec::new();
    loop {
        match src.next() {
            Ok(Next::Record(r)) => out.push((r.frame, r.ts, r.orig_len, r.data.to_vec())),
            Ok(Next::End) => return (out, None),
            Ok(Next::Idle(_)) => unreachable!("files are never idle"),
            Err(hsp_pcap::PcapError::Read { frame, .. }) => return (out, Some(frame)),
            Err(e) => panic!("{e}"),
        }
    }
}

/// Reads `path` through libpcap and directly; returns whether the direct
/// path was taken.
fn same_both_ways(path: &Path) -> bool {
    let Ok(file) = PcapFile::open(path) else {
        return false; // libpcap refuses it: so does the direct path (never taken)
    };
    let direct = file.read_directly();
    let (fast, fast_err) = read_all(&mut Prefetched::new(file));
    let (slow, slow_err) = read_all(&mut PcapFile::open(path).unwrap());
    assert_eq!(fast.len(), slow.len(), "{}: record count", path.display());
    for (a, b) in fast.iter().zip(&slow) {
        assert_eq!(a, b, "{}: frame {}", path.display(), b.0);
    }
    assert_eq!(fast_err, slow_err, "{}: the error's frame", path.display());
    direct
}

/// A classic little-endian microsecond pcap, split into its header and
/// records (header fields, data).
/// A record: its header's four fields, its data.
type RawRecord = ([u32; 4], Vec<u8>);

fn parse(bytes: &[u8]) -> ([u8; 24], Vec<RawRecord>) {
    let le = |b: &[u8]| u32::from_le_bytes(b.try_into().unwrap());
    assert_eq!(
        le(&bytes[..4]),
        0xa1b2_c3d4,
        "fixtures are little-endian µs pcap"
    );
    let mut recs = Vec::new();
    let mut at = 24;
    while at < bytes.len() {
        let h = [0, 4, 8, 12].map(|o| le(&bytes[at + o..at + o + 4]));
        let data = bytes[at + 16..at + 16 + h[2] as usize].to_vec();
        at += 16 + data.len();
        recs.push((h, data));
    }
    (bytes[..24].try_into().unwrap(), recs)
}

/// Writes records with the header's fields in big-endian order and/or
/// nanosecond timestamps, and the file's snaplen set to `snaplen`.
fn rewrite(
    header: &[u8; 24],
    recs: &[RawRecord],
    big: bool,
    nanos: bool,
    snaplen: Option<u32>,
) -> Vec<u8> {
    let w32 = |out: &mut Vec<u8>, v: u32| {
        out.extend_from_slice(&if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        });
    };
    let le32 = |o: usize| u32::from_le_bytes(header[o..o + 4].try_into().unwrap());
    let le16 = |o: usize| u16::from_le_bytes(header[o..o + 2].try_into().unwrap());
    let mut out = Vec::new();
    w32(&mut out, if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 });
    for o in [4, 6] {
        let v = le16(o);
        out.extend_from_slice(&if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        });
    }
    w32(&mut out, le32(8));
    w32(&mut out, le32(12));
    w32(&mut out, snaplen.unwrap_or(le32(16)));
    w32(&mut out, le32(20));
    for (h, data) in recs {
        w32(&mut out, h[0]);
        w32(&mut out, if nanos { h[1] * 1000 + 7 } else { h[1] });
        w32(&mut out, h[2]);
        w32(&mut out, h[3]);
        out.extend_from_slice(data);
    }
    out
}

#[test]
fn fixtures_and_their_variants_read_as_libpcap_reads_them() {
    // Removed when dropped, a failed assertion included.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut direct = 0;
    let fixtures = captures(&root().join("fixtures"));
    assert!(
        fixtures.len() >= 10,
        "fixtures/ (run scripts/record-fixtures.sh)"
    );
    for path in &fixtures {
        direct += usize::from(same_both_ways(path));
        let bytes = std::fs::read(path).unwrap();
        let (header, recs) = parse(&bytes);
        let name = path.file_stem().unwrap().to_string_lossy();
        let mut variants = vec![
            ("be", rewrite(&header, &recs, true, false, None)),
            ("ns", rewrite(&header, &recs, false, true, None)),
            ("be-ns", rewrite(&header, &recs, true, true, None)),
            // Records longer than the file's snaplen are cut to it.
            ("snap60", rewrite(&header, &recs, false, false, Some(60))),
            ("snap0", rewrite(&header, &recs, false, false, Some(0))),
        ];
        // Cut inside a record header, inside record data, just before the
        // end; and a record claiming more than libpcap's maximum.
        for cut in [30, 24 + 16 + 5, bytes.len() / 2, bytes.len() - 1] {
            variants.push(("cut", bytes[..cut.min(bytes.len())].to_vec()));
        }
        let mut huge = bytes.clone();
        if let Some((_, first)) = recs.first() {
            let second = 24 + 16 + first.len();
            if second + 16 <= huge.len() {
                huge[second + 8..second + 12].copy_from_slice(&300_000u32.to_le_bytes());
                variants.push(("huge", huge));
            }
        }
        for (i, (what, v)) in variants.into_iter().enumerate() {
            let p = dir.join(format!("{name}-{what}-{i}.pcap"));
            std::fs::write(&p, v).unwrap();
            assert!(same_both_ways(&p), "{}: not read directly", p.display());
            direct += 1;
        }
    }
    assert!(direct > fixtures.len() * 9, "{direct} files read directly");
}

#[test]
fn public_corpus_reads_as_libpcap_reads_it() {
    let all = captures(&public_corpus());
    let direct = all.iter().filter(|p| same_both_ways(p)).count();
    // Most are classic pcap; the pcapng ones go through libpcap.
    assert!(direct >= 60, "{direct} of {} read directly", all.len());
}
