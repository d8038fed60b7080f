//! `--rate` is an open loop (issue 13, part 5): a private MariaDB frozen
//! (SIGSTOP) for a second under `--rate 100 -c 2` still gets its scheduled
//! starts, each made or counted as missed with its intended time, never
//! silently gone; with `--latency-correction` they wait for a slot and
//! count the wait. Counts, not durations, are asserted: every one of the
//! 300 scheduled starts is accounted for.

use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::Duration;

use hsp_testkit::MariaDb;
use serde_json::Value;

/// Runs `--rate 100 -c 2 --duration 3s EXTRA` while the server is frozen
/// for 1 s from 1.2 s on; the JSONL lines.
fn frozen_run(db: &MariaDb, extra: &[&str]) -> Vec<Value> {
    let child = Command::new(env!("CARGO_BIN_EXE_handshake-probe"))
        .args(["--rate", "100", "-c", "2", "--duration", "3s"])
        .args(["--format", "jsonl", "--connect-timeout", "10s", "-q"])
        .args(extra)
        .arg(db.addr().to_string())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    sleep(Duration::from_millis(1200));
    db.signal("STOP");
    sleep(Duration::from_secs(1));
    db.signal("CONT");
    let o = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_frozen_server_gets_its_scheduled_starts_or_they_are_counted_missed() {
    let db = MariaDb::start_default();
    let lines = frozen_run(&db, &[]);
    let summary = lines.last().unwrap();
    let made = lines.iter().filter(|l| l["type"] == "connection").count();
    let missed: Vec<u64> = lines
        .iter()
        .filter(|l| l["type"] == "missed_start")
        .map(|l| l["intended_us"].as_u64().unwrap())
        .collect();
    // Every scheduled start is there: made, or missed with its time.
    assert_eq!(made + missed.len(), 300, "{summary}");
    assert_eq!(summary["missed_starts"], missed.len() as u64);
    assert_eq!(summary["connections"], made as u64);
    // The freeze's hundred starts: the two stuck slots made a few, the
    // rest are missed, and none of them before the freeze began.
    assert!(missed.len() >= 50, "{} missed: {summary}", missed.len());
    assert!(missed.iter().all(|t| *t >= 500_000), "{missed:?}");
    // Per 250 ms of the schedule, made plus missed is the rate's 25.
    let mut buckets = [0u32; 12];
    for l in &lines {
        let t = match l["type"].as_str() {
            Some("connection") => l["start_us"].as_u64().unwrap(),
            Some("missed_start") => l["intended_us"].as_u64().unwrap(),
            _ => continue,
        };
        if let Some(b) = buckets.get_mut(usize::try_from(t / 250_000).unwrap()) {
            *b += 1;
        }
    }
    // The first and last buckets straddle the start's own delay.
    for (i, n) in buckets.iter().enumerate().take(11).skip(1) {
        assert!((20..=30).contains(n), "bucket {i}: {n} {buckets:?}");
    }
}

#[test]
fn with_latency_correction_the_starts_wait_and_count_the_wait() {
    let db = MariaDb::start_default();
    let lines = frozen_run(&db, &["--latency-correction"]);
    let summary = lines.last().unwrap();
    assert!(summary.get("missed_starts").is_none(), "{summary}");
    assert!(lines.iter().all(|l| l["type"] != "missed_start"));
    let made: Vec<&Value> = lines.iter().filter(|l| l["type"] == "connection").collect();
    assert_eq!(made.len(), 300, "{summary}");
    // The starts held up by the freeze carry the wait in their total.
    let waited = made
        .iter()
        .filter(|r| {
            r["evidence"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e.as_str().unwrap().contains("--latency-correction"))
        })
        .count();
    assert!(waited >= 50, "{waited} waited: {summary}");
    let max_total = made
        .iter()
        .map(|r| r["phases_us"]["total"].as_u64().unwrap())
        .max()
        .unwrap();
    assert!(max_total >= 500_000, "{max_total}");
}
