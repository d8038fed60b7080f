//! `capture -i lo`: a live capture of real logins to a real MariaDB.
//! Records must come out while the capture runs (as connections end, not
//! at the end), and Ctrl-C must print the summary and exit by its rules.
//! Needs root or CAP_NET_RAW, as capturing does (CI runs as root).

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::Reap;
use hsp_testkit::{MariaDb, NATIVE_USER};
use serde_json::Value;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_handshake-probe"));
    c.env_remove("MYSQL_PWD");
    c
}

/// Lines of a child's stream, as they come, over a channel.
fn lines(r: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

#[test]
fn live_capture_reports_connections_as_they_end_and_summarises_on_ctrl_c() {
    let server = MariaDb::start_default();
    let port = server.addr().port();
    let mut cap = Reap(
        bin()
            .args(["capture", "-i", "lo", "--format", "jsonl", "--filter"])
            .arg(format!("tcp port {port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn handshake-probe capture"),
    );
    let out = lines(cap.0.stdout.take().unwrap());
    let err = lines(cap.0.stderr.take().unwrap());
    let ready = err
        .recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("capture did not start ({e}); it needs root or CAP_NET_RAW"));
    assert!(ready.contains("capturing on lo"), "{ready}");

    // Three good logins, one wrong password: one connection each (no
    // control session: the server's settings are given).
    let login = |user: &str, pw: &str| {
        bin()
            .args([
                "-n",
                "1",
                "-q",
                "--ssl-mode",
                "DISABLED",
                "--no-server-status",
            ])
            .args(["--connect-timeout", "10s", "-u", user])
            .arg(format!("--password={pw}"))
            .arg(server.addr().to_string())
            .output()
            .expect("run the probe")
    };
    for _ in 0..3 {
        assert!(login(NATIVE_USER.0, NATIVE_USER.1).status.success());
    }
    assert_eq!(login(NATIVE_USER.0, "wrong").status.code(), Some(1));

    // The records arrive while the capture still runs: each connection is
    // reported about 2 s (the linger) after it closes, link quiet or not.
    let mut records = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    while records.len() < 4 && Instant::now() < deadline {
        if let Ok(line) = out.recv_timeout(Duration::from_millis(200)) {
            records.push(serde_json::from_str::<Value>(&line).expect(&line));
        }
    }
    assert_eq!(records.len(), 4, "records before Ctrl-C: {records:#?}");
    assert!(
        cap.0.try_wait().unwrap().is_none(),
        "capture ended on its own"
    );
    let verdicts: Vec<&str> = records
        .iter()
        .map(|r| r["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(
        verdicts.iter().filter(|v| **v == "ok").count(),
        3,
        "{verdicts:?}"
    );
    assert_eq!(
        verdicts.iter().filter(|v| **v == "auth_failed").count(),
        1,
        "{verdicts:?}"
    );
    for r in &records {
        assert_eq!(r["server"], server.addr().to_string());
        assert!(r["phases_us"]["greeting"].is_u64(), "{r}");
        assert!(r["tcp"]["handshake_rtt_us"].is_u64(), "{r}");
    }

    // Ctrl-C: the summary, then exit 1 (one connection was not ok).
    let ok = Command::new("kill")
        .args(["-INT", &cap.0.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let summary = out
        .recv_timeout(Duration::from_secs(10))
        .expect("a summary after Ctrl-C");
    let summary: Value = serde_json::from_str(&summary).unwrap();
    assert_eq!(summary["type"], "summary");
    assert_eq!(summary["connections"], 4);
    assert_eq!(summary["verdicts"]["ok"], 3);
    assert!(summary["kernel_dropped"].is_u64(), "{summary}");
    let status = cap.0.wait().unwrap();
    assert_eq!(status.code(), Some(1));
}

#[test]
fn capture_on_a_missing_interface_is_a_clear_error() {
    let o = bin()
        .args(["capture", "-i", "hsp-no-such-if0", "--duration", "1s"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("hsp-no-such-if0"), "{err}");
}
