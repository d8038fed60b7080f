//! Every connection of every fixture capture (recorded from real MariaDB
//! servers by scripts/record-fixtures.sh) gets the verdict written in
//! fixtures/expected-verdicts.tsv: normal logins, wrong password, too many
//! connections, late logins against connect_timeout, a silent client, an
//! idle session past wait_timeout, a packet over max_allowed_packet, a
//! stopped server, a killed server, a blocked host. Where the probe drove
//! the client, its own records are the expectation: the capture decoder
//! must reach the verdict the client reached. A verdict `a|b` allows
//! either (random loss seen from the server's side, where the decoder
//! must only never blame the server).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hsp_core::{ConnectionRecord, Params};
use hsp_pcap::analyze_file;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

struct Expect {
    key: String,
    verdict: String,
    connect_timeout: u64,
    wait_timeout: u64,
}

fn expectations() -> BTreeMap<String, Vec<Expect>> {
    let text = std::fs::read_to_string(fixtures().join("expected-verdicts.tsv"))
        .expect("fixtures/expected-verdicts.tsv: run scripts/record-fixtures.sh");
    let mut m: BTreeMap<String, Vec<Expect>> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split('\t').collect();
        assert_eq!(f.len(), 5, "bad line: {line}");
        m.entry(f[0].to_string()).or_default().push(Expect {
            key: f[1].to_string(),
            verdict: f[2].to_string(),
            connect_timeout: f[3].parse().unwrap(),
            wait_timeout: f[4].parse().unwrap(),
        });
    }
    m
}

fn port_of(name: &str) -> u16 {
    let text = std::fs::read_to_string(fixtures().join("ports.tsv")).unwrap();
    text.lines()
        .find_map(|l| {
            let (n, p) = l.split_once('\t')?;
            (n == name).then(|| p.trim().parse().unwrap())
        })
        .unwrap_or_else(|| panic!("{name} missing from fixtures/ports.tsv"))
}

fn matches(e: &Expect, r: &ConnectionRecord) -> bool {
    match e.key.split_once('=') {
        Some(("stream", n)) => r.stream == Some(n.parse().unwrap()),
        Some(("client", a)) => r.client.as_deref() == Some(a),
        _ => false,
    }
}

#[test]
fn every_fixture_connection_gets_its_expected_verdict() {
    let all = expectations();
    assert!(
        all.len() >= 15,
        "only {} captures have expectations",
        all.len()
    );
    let mut checked = 0;
    let mut wrong = Vec::new();
    for (name, exp) in &all {
        let e0 = &exp[0];
        let params = Params {
            connect_timeout: Duration::from_secs(e0.connect_timeout),
            wait_timeout: (e0.wait_timeout > 0).then(|| Duration::from_secs(e0.wait_timeout)),
            ..Params::default()
        };
        let mut recs = Vec::new();
        let path = fixtures().join(format!("{name}.pcap"));
        let totals = analyze_file(&path, &[3306, port_of(name)], None, &params, |r| {
            recs.push(r);
        })
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(totals.damaged.is_none(), "{name}: {:?}", totals.damaged);
        assert!(!recs.is_empty(), "{name}: no connection records");
        for e in exp.iter().filter(|e| e.key.contains('=')) {
            assert!(
                recs.iter().any(|r| matches(e, r)),
                "{name}: no connection for {}",
                e.key
            );
        }
        for r in &recs {
            let specific = exp.iter().find(|e| matches(e, r));
            let fallback = || exp.iter().find(|e| e.key == "all" || e.key == "rest");
            let Some(e) = specific.or_else(fallback) else {
                wrong.push(format!(
                    "{name}: stream {:?} ({:?}) has no expectation",
                    r.stream, r.client
                ));
                continue;
            };
            checked += 1;
            if !e.verdict.split('|').any(|v| v == r.verdict.name()) {
                wrong.push(format!(
                    "{name}: stream {:?} {:?}: expected {}, got {} ({}) {:?}",
                    r.stream, r.client, e.verdict, r.verdict, r.outcome, r.evidence
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{checked} checked; wrong:\n{}",
        wrong.join("\n")
    );
    assert!(checked >= 70, "only {checked} connections checked");
}
