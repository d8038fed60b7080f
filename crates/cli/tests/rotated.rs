//! Rotated captures: a fixture split into files of 50 and of 150 records
//! (as `editcap -c` or a ring buffer splits it), given in shuffled order,
//! decodes to exactly the records of the whole file; `--separate` reads
//! each file alone; overlapping files are named in a warning.

mod common;

use std::path::PathBuf;

use common::{decode, fixture, join, port_of, records, split};
use serde_json::Value;

fn connections(recs: &[Value]) -> Vec<String> {
    recs.iter()
        .filter(|r| r["type"] == "connection")
        .map(Value::to_string)
        .collect()
}

/// `name` split into files of `per` records, in a shuffled order.
fn pieces(dir: &std::path::Path, name: &str, per: usize) -> Vec<PathBuf> {
    let bytes = std::fs::read(fixture(&format!("{name}.pcap"))).unwrap();
    let (global, recs) = split(&bytes);
    let mut paths: Vec<PathBuf> = recs
        .chunks(per)
        .enumerate()
        .map(|(i, c)| {
            let p = dir.join(format!("{name}_{i:05}.pcap"));
            std::fs::write(&p, join(&global, c)).unwrap();
            p
        })
        .collect();
    assert!(paths.len() >= 2, "{name}: only {} pieces", paths.len());
    // A fixed shuffle: reversed, then the halves swapped.
    paths.reverse();
    let half = paths.len() / 2;
    paths.rotate_left(half);
    paths
}

fn decode_all(paths: &[PathBuf], extra: &[&str]) -> std::process::Output {
    let mut args: Vec<&str> = extra.to_vec();
    let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    args.extend(names[1..].iter().map(String::as_str));
    decode(&paths[0], &args)
}

#[test]
fn a_capture_split_in_pieces_decodes_to_the_records_of_the_whole() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["net-loss-client", "stopped-server", "snaplen-96"] {
        let port = port_of(name);
        let opts = ["--format", "jsonl", "--port", &port];
        let whole = connections(&records(&decode(&fixture(&format!("{name}.pcap")), &opts)));
        for per in [50, 150] {
            let sub = dir.path().join(format!("{name}-{per}"));
            std::fs::create_dir(&sub).unwrap();
            let paths = pieces(&sub, name, per);
            let o = decode_all(&paths, &opts);
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(!err.contains("overlap"), "{name} by {per}: {err}");
            let got = connections(&records(&o));
            assert_eq!(got.len(), whole.len(), "{name} by {per}: {err}");
            for (g, w) in got.iter().zip(&whole) {
                assert_eq!(g, w, "{name} by {per}");
            }
            // Alone, a connection crossing a file boundary is cut in two.
            let mut separate = opts.to_vec();
            separate.push("--separate");
            let alone = connections(&records(&decode_all(&paths, &separate)));
            assert!(alone.len() > whole.len(), "{name} by {per}: --separate");
        }
    }
}

#[test]
fn overlapping_files_are_named_in_a_warning() {
    let name = "cli-native-query";
    let path = fixture(&format!("{name}.pcap"));
    let o = decode_all(&[path.clone(), path.clone()], &["--format", "jsonl"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("overlap") && err.contains(&path.display().to_string()),
        "{err}"
    );
}

#[test]
fn a_silence_between_files_longer_than_any_inside_is_named() {
    // Three pieces of a capture, the last moved 100 s later: as if a file
    // of the ring between them were missing.
    let name = "stopped-server";
    let bytes = std::fs::read(fixture(&format!("{name}.pcap"))).unwrap();
    let (global, recs) = split(&bytes);
    let dir = tempfile::tempdir().unwrap();
    let third = recs.len() / 3;
    let mut paths = Vec::new();
    for (i, c) in recs.chunks(third).take(3).enumerate() {
        let mut c = c.to_vec();
        if i == 2 {
            for (h, _) in &mut c {
                let s = u32::from_le_bytes(h[0..4].try_into().unwrap()) + 100;
                h[0..4].copy_from_slice(&s.to_le_bytes());
            }
        }
        let p = dir.path().join(format!("ring{i}.pcap"));
        std::fs::write(&p, join(&global, &c)).unwrap();
        paths.push(p);
    }
    let o = decode_all(&paths, &["--format", "jsonl", "--port", &port_of(name)]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("may be missing") && err.contains("ring1.pcap") && err.contains("ring2.pcap"),
        "{err}"
    );
    assert!(
        !err.contains("ring0.pcap (at"),
        "only the gap that is one: {err}"
    );
}
