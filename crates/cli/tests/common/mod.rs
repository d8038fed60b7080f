//! Helpers shared by the CLI's tests: fixtures, running `decode`, and
//! taking a classic pcap apart and back together.
#![allow(dead_code)]

pub(crate) mod http;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// A child the test started, killed (by its PID) and reaped when dropped,
/// so a failing test leaves nothing running.
pub(crate) struct Reap(pub(crate) std::process::Child);

impl Drop for Reap {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

pub(crate) fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(name)
}

pub(crate) fn port_of(name: &str) -> String {
    let text = std::fs::read_to_string(fixture("ports.tsv")).unwrap();
    text.lines()
        .find_map(|l| {
            let (n, p) = l.split_once('\t')?;
            (n == name).then(|| p.trim().to_string())
        })
        .unwrap()
}

pub(crate) fn decode(path: &Path, extra: &[&str]) -> Output {
    let o = Command::new(env!("CARGO_BIN_EXE_handshake-probe"))
        .arg("decode")
        .args(extra)
        .arg(path)
        .output()
        .unwrap();
    assert_ne!(
        o.status.code(),
        Some(101),
        "panicked: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

pub(crate) fn records(o: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

/// A capture record: its 16-byte header and its bytes.
pub(crate) type PcapRecord = (Vec<u8>, Vec<u8>);

/// (global header, records) of a classic little-endian pcap.
pub(crate) fn split(bytes: &[u8]) -> (Vec<u8>, Vec<PcapRecord>) {
    let mut recs = Vec::new();
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let hdr = bytes[at..at + 16].to_vec();
        let len = u32::from_le_bytes(hdr[8..12].try_into().unwrap()) as usize;
        recs.push((hdr, bytes[at + 16..at + 16 + len].to_vec()));
        at += 16 + len;
    }
    (bytes[..24].to_vec(), recs)
}

pub(crate) fn join(global: &[u8], recs: &[PcapRecord]) -> Vec<u8> {
    let mut out = global.to_vec();
    for (h, d) in recs {
        out.extend_from_slice(h);
        out.extend_from_slice(d);
    }
    out
}
