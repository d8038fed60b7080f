//! The probe's phases equal the wire's: the same connections captured by
//! tcpdump (an independent tool, its own timestamps) and decoded. Every
//! phase boundary of a plain loopback handshake is timed by the kernel
//! (receive stamps, the SYN's round trip) or just before the send call, and
//! the record says so. Needs root or CAP_NET_RAW for tcpdump (CI runs as
//! root).

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::Reap;
use hsp_testkit::{MariaDb, NATIVE_USER};
use serde_json::Value;

const PHASES: [(&str, &str); 5] = [
    ("tcp_connect", "kernel_rtt"),
    ("greeting", "kernel_rx"),
    ("client_reply", "send"),
    ("login", "kernel_rx"),
    ("total", "kernel_rx"),
];

fn connections(jsonl: &[u8]) -> BTreeMap<String, Value> {
    String::from_utf8_lossy(jsonl)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("JSON line"))
        .filter(|r| r["type"] == "connection")
        // A client port can come back within a run: the server's
        // connection id tells the connections apart.
        .map(|r| (format!("{} {}", r["client"], r["connection_id"]), r))
        .collect()
}

#[test]
fn every_phase_is_kernel_timed_and_equals_the_capture() {
    let server = MariaDb::start_default();
    let port = server.addr().port();
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("probe.pcap");
    let mut dump = Reap(
        Command::new("tcpdump")
            .args([
                "-i",
                "lo",
                "-s",
                "0",
                "-U",
                "--immediate-mode",
                "-B",
                "65536",
                "-w",
            ])
            .arg(&pcap)
            .arg(format!("tcp port {port}"))
            .stderr(Stdio::piped())
            .spawn()
            .expect("tcpdump (scripts/setup.sh installs it)"),
    );
    let mut err = BufReader::new(dump.0.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    assert!(line.contains("listening on lo"), "tcpdump: {line}");

    let out = Command::new(env!("CARGO_BIN_EXE_handshake-probe"))
        .env_remove("MYSQL_PWD")
        .args(["-n", "200", "-c", "4", "--format", "jsonl", "-q"])
        .args(["--ssl-mode", "DISABLED", "--no-server-status"])
        .args(["--connect-timeout", "10s", "-u", NATIVE_USER.0])
        .arg(format!("--password={}", NATIVE_USER.1))
        .arg(server.addr().to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Stop tcpdump as a user would, once libpcap's buffer timeout (1 s)
    // has flushed its ring (--immediate-mode would wake it for every
    // packet, and its CPU would move the timings it is there to check).
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let ok = Command::new("kill")
        .args(["-INT", &dump.0.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    dump.0.wait().unwrap();

    let probe = connections(&out.stdout);
    assert_eq!(probe.len(), 200);
    let decoded = Command::new(env!("CARGO_BIN_EXE_handshake-probe"))
        .args(["decode", "--format", "jsonl", "--port", &port.to_string()])
        .arg(&pcap)
        .output()
        .unwrap();
    let wire = connections(&decoded.stdout);

    let mut errors: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    let mut compared = 0;
    // The kernel's clock for every phase it can time. A read that came
    // back without a stamp falls back to the probe's wake-up, and the
    // record says so; the benchmark saw that once in 10,000 connections
    // under tcpdump, so it may happen, but not to more than one in 100.
    let mut fell_back = 0;
    for (client, r) in &probe {
        assert_eq!(r["verdict"], "ok", "{r}");
        for (phase, clock) in PHASES {
            if r["clocks"][phase] == "wakeup" {
                fell_back += 1;
            } else {
                assert_eq!(r["clocks"][phase], clock, "{phase} of {r}");
            }
        }
        // A packet tcpdump dropped (it says so on stderr) leaves nothing
        // to compare with.
        let Some(w) = wire.get(client).filter(|w| w["verdict"] == "ok") else {
            continue;
        };
        compared += 1;
        for (phase, _) in PHASES {
            let a = r["phases_us"][phase].as_i64().expect("probe phase");
            let b = w["phases_us"][phase].as_i64().expect("wire phase");
            errors.entry(phase).or_default().push((a - b).abs());
        }
    }
    assert!(
        fell_back <= probe.len() / 100,
        "{fell_back} phases of {} connections were timed on waking",
        probe.len()
    );
    assert!(
        compared >= 180,
        "only {compared} of 200 connections were whole in the capture"
    );
    // The goal is a median of 10 µs (the benchmark's figures are 1-4 µs); a
    // probe timed on waking is off by tens to hundreds at -c 4.
    for (phase, mut e) in errors {
        e.sort_unstable();
        let median = e[e.len() / 2];
        assert!(
            median <= 20,
            "{phase}: median |probe - wire| {median} µs; sorted errors {e:?}"
        );
    }
}
