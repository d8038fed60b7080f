//! The capture path on real fixtures: libpcap read, link layers, TCP
//! following and tracking, the observer, classification, records. Run with
//! `cargo bench -p hsp-bench --bench decode`; scripts/bench-decode.sh
//! measures a large capture against tshark and the libpcap floor.

use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hsp_core::Params;
use hsp_pcap::analyze_file;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures")
        .join(name)
}

fn port_of(name: &str) -> u16 {
    let text = std::fs::read_to_string(fixture("ports.tsv")).expect("fixtures/ports.tsv");
    text.lines()
        .find_map(|l| {
            let (n, p) = l.split_once('\t')?;
            (n == name).then(|| p.trim().parse().expect("a port"))
        })
        .expect("a port for the fixture")
}

fn decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode");
    for name in ["net-loss-server", "too-many-connections", "stopped-server"] {
        let path = fixture(&format!("{name}.pcap"));
        let port = port_of(name);
        let bytes = std::fs::metadata(&path).expect("fixture").len();
        g.throughput(Throughput::Bytes(bytes));
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut n = 0u32;
                analyze_file(&path, &[port], None, &Params::default(), |r| {
                    black_box(r);
                    n += 1;
                })
                .expect("decodes");
                n
            });
        });
    }
    g.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
