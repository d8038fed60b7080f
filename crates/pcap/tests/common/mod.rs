//! Where the captures are, shared by the integration tests: the recorded
//! fixtures, the public corpus beside the checkout, and the server ports
//! both use.
#![allow(dead_code)] // each test binary uses part of it

use std::path::{Path, PathBuf};

/// The checkout's root.
pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every pcap and pcapng file under `dir`, sorted.
pub(crate) fn captures(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "pcap" || x == "pcapng") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The public capture corpus: beside the checkout (../shared), or where
/// `HSP_SHARED` says (as scripts/test.sh). Missing, the test fails saying so.
pub(crate) fn public_corpus() -> PathBuf {
    let shared =
        std::env::var_os("HSP_SHARED").map_or_else(|| root().join("../shared"), PathBuf::from);
    let dir = shared.join("captures/public");
    assert!(
        dir.is_dir(),
        "{} is missing: the public capture corpus must sit beside the checkout (../shared) or at $HSP_SHARED",
        dir.display()
    );
    dir
}

/// Every server port used by the corpus (PROVENANCE.md) and the fixtures.
pub(crate) fn all_ports() -> Vec<u16> {
    let mut ports = vec![
        3306, 20130, 30130, 6033, 2883, 13001, 3307, 33066, 33308, 5432,
    ];
    let tsv = std::fs::read_to_string(root().join("fixtures/ports.tsv"))
        .expect("fixtures/ports.tsv (run scripts/record-fixtures.sh)");
    ports.extend(
        tsv.lines()
            .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u16>().ok()),
    );
    ports
}

/// The first server and client payloads of the fixture (greeting, login).
pub(crate) fn greeting_and_login() -> (Vec<u8>, Vec<u8>) {
    let path = root().join("fixtures/cli-native-query.pcap");
    let mut f = hsp_pcap::PcapFile::open(&path).unwrap();
    let dlt = f.linktype();
    let (mut greeting, mut login) = (None, None);
    while let Some(r) = f.next_record().unwrap() {
        let Some(seg) = hsp_pcap::slice_tcp(dlt, r.data) else {
            continue;
        };
        if seg.payload.is_empty() {
            continue;
        }
        if greeting.is_none() {
            greeting = Some(seg.payload.to_vec());
        } else if login.is_none() {
            login = Some(seg.payload.to_vec());
            break;
        }
    }
    (greeting.unwrap(), login.unwrap())
}

/// The client and server of the constructed connections.
pub(crate) const CLIENT: &str = "10.0.0.1:40000";
pub(crate) const SERVER: &str = "10.0.0.2:3306";

/// A constructed segment between [`CLIENT`] and [`SERVER`].
pub(crate) fn segment<'a>(
    from_client: bool,
    seq: u32,
    ack: u32,
    flags: hsp_pcap::TcpFlags,
    ttl: u8,
    options: &'a [u8],
    payload: &'a [u8],
) -> hsp_pcap::Segment<'a> {
    let (c, s): (std::net::SocketAddr, std::net::SocketAddr) =
        (CLIENT.parse().unwrap(), SERVER.parse().unwrap());
    let (src, dst) = if from_client { (c, s) } else { (s, c) };
    hsp_pcap::Segment {
        src,
        dst,
        seq,
        ack,
        window: 65535,
        wscale: None,
        flags,
        ttl,
        options,
        payload,
        len: payload.len() as u32,
        truncated: false,
    }
}
