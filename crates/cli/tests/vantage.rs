//! `decode --vantage`: the network-fault fixtures, recorded at both ends
//! of one router at once (scripts/record-netfaults.sh and
//! record-hardcases.sh), decoded as pairs. Every connection is matched
//! exactly once, the clocks' offset comes out within 1 ms of the truth
//! (the namespaces share one clock; and again with one file shifted by
//! `editcap -t`), and each connection gets the merged verdict in
//! fixtures/expected-merged.tsv. The router's resets are shown born
//! between the taps. Unrelated captures, one vantage twice and swapped
//! files are said so, never merged wrongly.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{fixture, records};
use serde_json::Value;

fn merged(client: &Path, server: &Path, extra: &[&str]) -> Output {
    let o = Command::new(env!("CARGO_BIN_EXE_handshake-probe"))
        .arg("decode")
        .args(["--format", "jsonl"])
        .args(extra)
        .arg("--vantage")
        .arg(format!("client={}", client.display()))
        .arg("--vantage")
        .arg(format!("server={}", server.display()))
        .output()
        .unwrap();
    assert!(
        o.status.code().is_some_and(|c| c <= 1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn summary(o: &Output) -> Value {
    records(o)
        .into_iter()
        .find(|r| r["type"] == "summary")
        .expect("a summary")
}

/// A pair's expected connections, (client address, verdict), and the
/// rules' connect_timeout and wait_timeout.
type Pair = (Vec<(String, String)>, String, String);

/// Pair name to its expectations.
fn expectations() -> BTreeMap<String, Pair> {
    let text = std::fs::read_to_string(fixture("expected-merged.tsv")).unwrap();
    let mut m: BTreeMap<String, Pair> = BTreeMap::new();
    for l in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let f: Vec<&str> = l.split('\t').collect();
        let e = m
            .entry(f[0].into())
            .or_insert_with(|| (Vec::new(), f[3].into(), f[4].into()));
        let client = f[1].strip_prefix("client=").unwrap();
        e.0.push((client.into(), f[2].into()));
    }
    m
}

fn rules(ct: &str, wt: &str) -> Vec<String> {
    let mut v = vec!["--connect-timeout".to_string(), format!("{ct}s")];
    if wt != "0" {
        v.extend(["--wait-timeout".to_string(), format!("{wt}s")]);
    }
    v
}

fn connections(path: &Path) -> usize {
    records(&common::decode(path, &["--format", "jsonl"]))
        .iter()
        .filter(|r| r["type"] == "connection")
        .count()
}

#[test]
fn every_pair_matches_each_connection_once_with_its_merged_verdict() {
    let all = expectations();
    assert!(all.len() >= 13, "only {} pairs", all.len());
    let mut checked = 0;
    let mut wrong = Vec::new();
    for (name, (exp, ct, wt)) in &all {
        let c = fixture(&format!("{name}-client.pcap"));
        let s = fixture(&format!("{name}-server.pcap"));
        let args = rules(ct, wt);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = merged(&c, &s, &args);
        let recs: Vec<Value> = records(&o)
            .into_iter()
            .filter(|r| r["type"] == "connection")
            .collect();
        let sum = summary(&o)["vantage"].clone();
        // Each capture's connections, each matched exactly once.
        let (nc, ns) = (connections(&c), connections(&s));
        assert_eq!(nc, ns, "{name}: the two captures differ in connections");
        assert_eq!(sum["matched"], nc as u64, "{name}: {sum}");
        assert_eq!(sum["client_only"], 0, "{name}: {sum}");
        assert_eq!(sum["server_only"], 0, "{name}: {sum}");
        assert_eq!(recs.len(), nc, "{name}");
        let off = sum["offset_us"].as_i64().unwrap();
        assert!(off.abs() <= 1_000, "{name}: offset {off} µs");
        assert!(
            sum["warnings"].as_array().unwrap().is_empty(),
            "{name}: {sum}"
        );
        for (client, verdict) in exp {
            let Some(r) = recs.iter().find(|r| r["client"] == client.as_str()) else {
                wrong.push(format!("{name}: no record for {client}"));
                continue;
            };
            checked += 1;
            assert_eq!(r["path"]["seen_by"], "both", "{name} {client}");
            assert!(r["views"]["client"]["verdict"].is_string());
            assert!(r["views"]["server"]["verdict"].is_string());
            if r["verdict"] != verdict.as_str() {
                wrong.push(format!(
                    "{name} {client}: expected {verdict}, got {} ({})",
                    r["verdict"], r["evidence"]
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert!(checked >= 63, "only {checked} connections checked");
}

#[test]
fn the_routers_resets_are_born_between_the_taps() {
    for name in [
        "net-reject-login",
        "net-reject-idle-to-client",
        "net-reject-idle-to-server",
    ] {
        let o = merged(
            &fixture(&format!("{name}-client.pcap")),
            &fixture(&format!("{name}-server.pcap")),
            &["--connect-timeout", "2s", "--wait-timeout", "3s"],
        );
        for r in records(&o).iter().filter(|r| r["type"] == "connection") {
            assert_eq!(r["verdict"], "middlebox_reset", "{name}: {r}");
            let first = r["evidence"][0].as_str().unwrap();
            assert!(first.contains("born between the taps"), "{name}: {first}");
        }
    }
    // The controls: the ends' own resets are not.
    for name in ["net-wait-timeout", "net-client-linger0"] {
        let o = merged(
            &fixture(&format!("{name}-client.pcap")),
            &fixture(&format!("{name}-server.pcap")),
            &["--connect-timeout", "2s", "--wait-timeout", "3s"],
        );
        for r in records(&o).iter().filter(|r| r["type"] == "connection") {
            assert_ne!(r["verdict"], "middlebox_reset", "{name}: {r}");
        }
    }
}

/// Frame numbers of `name` that tshark's display filter `filter` keeps.
fn frames_of(name: &str, filter: &str) -> Vec<String> {
    let o = Command::new("tshark")
        .args(["-r"])
        .arg(fixture(name))
        .args(["-Y", filter, "-T", "fields", "-e", "frame.number"])
        .output()
        .expect("tshark (scripts/setup.sh installs it)");
    String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// `editcap ARGS... fixture OUT FRAMES...`, OUT in `dir`.
fn editcap(name: &str, args: &[&str], frames: &[String], dir: &Path, out: &str) -> PathBuf {
    let out = dir.join(out);
    let st = Command::new("editcap")
        .args(args)
        .arg(fixture(name))
        .arg(&out)
        .args(frames)
        .status()
        .expect("editcap (scripts/setup.sh installs tshark's tools)");
    assert!(st.success());
    out
}

/// `editcap -t SECS` shifts every timestamp of `name` by SECS.
fn shifted(name: &str, secs: &str, dir: &Path) -> PathBuf {
    editcap(
        name,
        &["-t", secs],
        &[],
        dir,
        &format!("{name}-{secs}.pcap"),
    )
}

#[test]
fn a_known_clock_shift_is_recovered() {
    let dir = tempfile::tempdir().unwrap();
    for (secs, us) in [
        ("2.5", 2_500_000i64),
        ("-0.75", -750_000),
        ("3600", 3_600_000_000),
    ] {
        let s = shifted("net-loss-server.pcap", secs, dir.path());
        let o = merged(
            &fixture("net-loss-client.pcap"),
            &s,
            &["--connect-timeout", "2s"],
        );
        let sum = summary(&o)["vantage"].clone();
        let off = sum["offset_us"].as_i64().unwrap();
        assert!((off - us).abs() <= 1_000, "shift {secs}: offset {off} µs");
        assert_eq!(sum["matched"], 40, "{sum}");
        // The verdicts do not move with the clock.
        let n = records(&o)
            .iter()
            .filter(|r| r["type"] == "connection" && r["verdict"] == "network_stall")
            .count();
        assert_eq!(n, 32, "shift {secs}");
    }
}

#[test]
fn unrelated_captures_one_vantage_twice_and_swapped_files_are_said_so() {
    // Different traffic: nothing matched, each decoded alone.
    let o = merged(
        &fixture("net-loss-client.pcap"),
        &fixture("cli-native-query.pcap"),
        &["--port", &common::port_of("cli-native-query")],
    );
    let sum = summary(&o)["vantage"].clone();
    assert_eq!(sum["merged"], false, "{sum}");
    assert!(
        sum["warnings"][0]
            .as_str()
            .unwrap()
            .contains("different traffic")
    );
    let recs = records(&o);
    let conns: Vec<&Value> = recs.iter().filter(|r| r["type"] == "connection").collect();
    assert_eq!(conns.len(), 41);
    assert!(conns.iter().all(|r| r.get("path").is_none()));
    // One capture given as both ends.
    let f = fixture("net-lost-login-client.pcap");
    let o = merged(&f, &f, &[]);
    let sum = summary(&o)["vantage"].clone();
    assert_eq!(sum["merged"], false, "{sum}");
    assert!(
        sum["warnings"][0]
            .as_str()
            .unwrap()
            .contains("one vantage point"),
        "{sum}"
    );
    // Swapped: read the right way round, and said.
    let name = "net-login-blackhole";
    let (c, s) = (
        fixture(&format!("{name}-client.pcap")),
        fixture(&format!("{name}-server.pcap")),
    );
    let straight = merged(&c, &s, &["--connect-timeout", "2s"]);
    let swapped = merged(&s, &c, &["--connect-timeout", "2s"]);
    let sum = summary(&swapped)["vantage"].clone();
    assert_eq!(sum["swapped"], true, "{sum}");
    let verdicts = |o: &Output| -> Vec<String> {
        records(o)
            .iter()
            .filter(|r| r["type"] == "connection")
            .map(|r| format!("{} {}", r["client"], r["verdict"]))
            .collect()
    };
    assert_eq!(verdicts(&straight), verdicts(&swapped));
}

#[test]
fn one_end_is_not_enough() {
    let o = Command::new(env!("CARGO_BIN_EXE_handshake-probe"))
        .args(["decode", "--vantage"])
        .arg(format!(
            "client={}",
            fixture("net-loss-client.pcap").display()
        ))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("both ends"));
    let o = Command::new(env!("CARGO_BIN_EXE_handshake-probe"))
        .args(["decode", "--vantage", "middle=x.pcap"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&o.stderr).contains("client=FILE"));
}

#[test]
fn the_ladder_shows_each_copy_of_the_lost_login_stopping_between_the_taps() {
    let (c, s) = (
        fixture("net-login-blackhole-client.pcap"),
        fixture("net-login-blackhole-server.pcap"),
    );
    // JSONL: every packet with its two times, the lost ones with one.
    let o = merged(&c, &s, &["--connect-timeout", "2s"]);
    for r in records(&o).iter().filter(|r| r["type"] == "connection") {
        let packets = r["path"]["packets"].as_array().unwrap();
        let logins: Vec<&Value> = packets
            .iter()
            .filter(|p| p["what"] == "the login")
            .collect();
        assert!(logins.len() >= 2, "{packets:?}");
        assert!(logins.iter().all(|p| p.get("arrived_us").is_none()));
        let greeting = packets
            .iter()
            .find(|p| p["what"] == "the greeting")
            .unwrap();
        assert!(greeting["arrived_us"].as_u64() >= greeting["sent_us"].as_u64());
        let c2s = &r["path"]["one_way_us"]["c2s"];
        assert!(c2s["packets"].as_u64().unwrap() >= 2, "{c2s}");
        assert_eq!(
            r["path"]["lost_between"]["c2s"].as_u64(),
            Some(logins.len() as u64)
        );
    }
    // Text: a rung per copy, stopped in the middle.
    let o = Command::new(env!("CARGO_BIN_EXE_handshake-probe"))
        .args(["decode", "--connect-timeout", "2s", "--vantage"])
        .arg(format!("client={}", c.display()))
        .arg("--vantage")
        .arg(format!("server={}", s.display()))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    let lost: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("-- the login") && l.ends_with("lost between the taps"))
        .collect();
    assert!(lost.len() >= 4, "{text}");
    assert!(lost.iter().all(|l| l.contains('X')), "{text}");
    assert!(text.contains("client tap") && text.contains("server tap"));
}

#[test]
fn connections_through_a_nat_are_matched_by_their_sequence_numbers() {
    // scripts/record-nat.sh: MASQUERADE to ports 41000-41999 in the router.
    let o = merged(
        &fixture("net-nat-client.pcap"),
        &fixture("net-nat-server.pcap"),
        &["--connect-timeout", "2s", "--wait-timeout", "3s"],
    );
    let sum = summary(&o)["vantage"].clone();
    assert_eq!(sum["matched"], 4, "{sum}");
    assert_eq!(sum["matched_by_isn"], 4, "{sum}");
    for r in records(&o).iter().filter(|r| r["type"] == "connection") {
        let at_client = r["views"]["client"]["client"].as_str().unwrap();
        let at_server = r["views"]["server"]["client"].as_str().unwrap();
        assert_ne!(at_client, at_server, "not rewritten: {r}");
        let port: u16 = at_server.rsplit_once(':').unwrap().1.parse().unwrap();
        assert!((41_000..42_000).contains(&port), "{at_server}");
        assert_eq!(r["verdict"], "network_stall");
        assert!(
            r["evidence"][0]
                .as_str()
                .unwrap()
                .starts_with("the login left the client")
        );
    }
}

#[test]
fn two_captures_of_one_traffic_given_as_files_get_a_hint() {
    let (c, s) = (
        fixture("net-nat-client.pcap"),
        fixture("net-nat-server.pcap"),
    );
    // Read as one capture, they overlap: the warning names --vantage.
    let o = common::decode(&c, &[s.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--vantage client="), "{err}");
    // Read apart, their SYNs are the same: a hint.
    let o = common::decode(&c, &["--separate", s.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.lines()
            .any(|l| l.starts_with("hint:") && l.contains("4 SYN(s) in common")),
        "{err}"
    );
    // Unrelated files: no hint.
    let o = common::decode(
        &c,
        &[
            "--separate",
            fixture("net-loss-client.pcap").to_str().unwrap(),
        ],
    );
    assert!(!String::from_utf8_lossy(&o.stderr).contains("hint:"));
}

/// Frames of `name` without those of TCP stream `stream`.
fn without_stream(name: &str, stream: u32, dir: &Path) -> PathBuf {
    let list = frames_of(name, &format!("tcp.stream=={stream}"));
    assert!(!list.is_empty());
    editcap(
        name,
        &[],
        &list,
        dir,
        &format!("{name}-without-{stream}.pcap"),
    )
}

#[test]
fn connections_one_tap_never_saw_keep_a_record_that_says_which_end_saw_them() {
    let dir = tempfile::tempdir().unwrap();
    // The server's tap, capturing all along, never saw the second
    // connection: every packet it sent is proven lost between the taps (as
    // a SYN blackholed before the server would be).
    let s = without_stream("net-nat-server.pcap", 1, dir.path());
    let o = merged(
        &fixture("net-nat-client.pcap"),
        &s,
        &["--connect-timeout", "2s"],
    );
    let sum = summary(&o)["vantage"].clone();
    assert_eq!(
        (sum["matched"].as_u64(), sum["client_only"].as_u64()),
        (Some(3), Some(1))
    );
    let recs = records(&o);
    let only = recs
        .iter()
        .find(|r| r["type"] == "connection" && r["path"]["seen_by"] == "client")
        .unwrap();
    assert_eq!(only["verdict"], "network_stall", "{only}");
    assert!(only["views"].get("server").is_none());
    let ev = only["evidence"].as_array().unwrap();
    assert!(
        ev[0]
            .as_str()
            .unwrap()
            .starts_with("the SYN left the client"),
        "{ev:?}"
    );
    assert!(ev.iter().any(|e| e == "seen only by the client's tap"));
    // A server capture that began later: the connections before it are
    // the client's alone, and nothing is claimed lost.
    let first = Command::new("tshark")
        .args(["-r"])
        .arg(fixture("net-nat-server.pcap"))
        .args(["-Y", "tcp.stream==2 && tcp.flags.syn==1"])
        .args(["-T", "fields", "-e", "frame.time_epoch"])
        .output()
        .unwrap();
    let t: f64 = String::from_utf8_lossy(&first.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let start = format!("{:.6}", t - 0.0001);
    let late = editcap(
        "net-nat-server.pcap",
        &["-A", &start],
        &[],
        dir.path(),
        "late.pcap",
    );
    let o = merged(
        &fixture("net-nat-client.pcap"),
        &late,
        &["--connect-timeout", "2s"],
    );
    let sum = summary(&o)["vantage"].clone();
    assert_eq!(
        (sum["matched"].as_u64(), sum["client_only"].as_u64()),
        (Some(2), Some(2)),
        "{sum}"
    );
    for r in records(&o)
        .iter()
        .filter(|r| r["type"] == "connection" && r["path"]["seen_by"] == "client")
    {
        assert_eq!(r["path"]["lost_between"]["c2s"], 0, "{r}");
        // The client's own view stands (its login was resent).
        assert_eq!(r["verdict"], r["views"]["client"]["verdict"]);
    }
}

#[test]
fn too_little_overlap_is_warned() {
    // Only the SYN and the SYN-ACK of each capture: one packet each way.
    let dir = tempfile::tempdir().unwrap();
    let keep = |name: &str| {
        let list = frames_of(name, "tcp.flags.syn==1");
        editcap(name, &["-r"], &list, dir.path(), name)
    };
    let o = merged(
        &keep("net-client-linger0-client.pcap"),
        &keep("net-client-linger0-server.pcap"),
        &[],
    );
    let sum = summary(&o)["vantage"].clone();
    assert_eq!(sum["packets_matched"], serde_json::json!([1, 1]), "{sum}");
    assert!(
        sum["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("too little overlap")),
        "{sum}"
    );
}
