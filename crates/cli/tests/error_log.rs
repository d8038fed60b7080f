//! `decode --error-log`: every fixture recorded with its server's error log
//! (`NAME.error.log`, log_warnings=4) joins each line whose thread id is
//! the connection id of a captured greeting (as tshark reads it,
//! `mysql.thread_id`) to that connection's record, and no line to any
//! other. The same log rewritten into MySQL 8's formats (text and JSON)
//! joins the same way;
//! damaged, binary, foreign and unknown logs join nothing and say so.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use common::{decode, fixture, port_of, records};
use serde_json::Value;

/// Every fixture capture, each of which has its server's error log beside
/// it (the recording scripts save one per scenario).
fn with_logs() -> Vec<String> {
    let dir = fixture("");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            let n = e.ok()?.file_name().into_string().ok()?;
            n.strip_suffix(".pcap").map(str::to_owned)
        })
        .collect();
    names.sort();
    assert!(names.len() >= 54, "only {} fixture captures", names.len());
    let missing: Vec<&String> = names
        .iter()
        .filter(|n| !dir.join(format!("{n}.error.log")).exists())
        .collect();
    assert!(
        missing.is_empty(),
        "captures without an error log: {missing:?}"
    );
    names
}

/// tshark's reading: stream index to the greeting's connection id.
fn greetings(name: &str) -> BTreeMap<u64, u64> {
    let out = Command::new("tshark")
        .args(["-r"])
        .arg(fixture(&format!("{name}.pcap")))
        .args(["-d", &format!("tcp.port=={},mysql", port_of(name))])
        .args([
            "-Y",
            "mysql.thread_id",
            "-T",
            "fields",
            "-e",
            "tcp.stream",
            "-e",
            "mysql.thread_id",
        ])
        .output()
        .expect("tshark (scripts/setup.sh installs it)");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (s, t) = l.split_once('\t')?;
            Some((s.parse().ok()?, t.parse().ok()?))
        })
        .collect()
}

/// The log's connection lines: (thread id, message).
fn log_lines(path: &Path) -> Vec<(u64, String)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|l| {
            let rest = l.get(20..)?;
            let (t, rest) = rest.split_once(' ')?;
            let t: u64 = t.parse().ok()?;
            let (_, m) = rest.split_once("] ")?;
            (t != 0).then(|| (t, m.to_owned()))
        })
        .collect()
}

fn joined(name: &str, log: &Path) -> (Vec<Value>, String) {
    let o = decode(
        &fixture(&format!("{name}.pcap")),
        &[
            "--format",
            "jsonl",
            "--connect-timeout",
            "2s",
            "--port",
            &port_of(name),
            "--error-log",
            log.to_str().unwrap(),
        ],
    );
    (records(&o), String::from_utf8_lossy(&o.stderr).into_owned())
}

fn check(name: &str, log: &Path, truth_log: &Path) -> usize {
    let truth = greetings(name);
    let (recs, err) = joined(name, log);
    let mut n = 0;
    let mut seen = BTreeSet::new();
    for r in recs.iter().filter(|r| r["type"] == "connection") {
        let stream = r["stream"].as_u64().unwrap();
        for l in r["server_log"].as_array().into_iter().flatten() {
            let t = l["thread"].as_u64().unwrap();
            assert_eq!(
                truth.get(&stream),
                Some(&t),
                "{name}: a line of thread {t} joined stream {stream} ({err})"
            );
            seen.insert((t, l["message"].as_str().unwrap().to_owned()));
            n += 1;
        }
    }
    let ids: BTreeSet<u64> = truth.values().copied().collect();
    for (t, m) in log_lines(truth_log) {
        if ids.contains(&t) {
            assert!(
                seen.contains(&(t, m.clone())),
                "{name}: thread {t} '{m}' not joined ({err})"
            );
        }
    }
    n
}

#[test]
fn every_line_of_a_captured_connection_joins_its_record_and_no_other() {
    let mut total = 0;
    for name in with_logs() {
        let log = fixture(&format!("{name}.error.log"));
        total += check(&name, &log, &log);
    }
    // 140 when recorded: every aborted connection, refused login, blocked
    // host and timeout the scenarios provoke.
    assert!(total >= 100, "only {total} lines joined in all");
}

#[test]
fn the_same_log_in_mysql_8_format_joins_the_same_way() {
    let dir = tempfile::tempdir().unwrap();
    for name in with_logs() {
        let log = fixture(&format!("{name}.error.log"));
        // 2026-11-30 21:45:10 7 [Warning] msg -> MySQL 8's form, UTC.
        let rewritten: String = std::fs::read_to_string(&log)
            .unwrap()
            .lines()
            .map(|l| match (l.get(..10), l.get(11..19), l.get(20..)) {
                (Some(d), Some(t), Some(rest)) if l.as_bytes()[10] == b' ' => {
                    let (thread, rest) = rest.split_once(' ').unwrap_or(("0", rest));
                    let (level, msg) = rest.split_once("] ").unwrap_or(("[Note", rest));
                    format!("{d}T{t}.000000Z {thread} {level}] [MY-010914] [Server] {msg}\n")
                }
                _ => format!("{l}\n"),
            })
            .collect();
        let path = dir.path().join(format!("{name}.mysql8.log"));
        std::fs::write(&path, &rewritten).unwrap();
        check(&name, &path, &log);
        // And MySQL 8's JSON sink, one object per entry.
        let json: String = rewritten
            .lines()
            .filter_map(|l| {
                let (time, rest) = l.split_once(' ')?;
                let (thread, rest) = rest.split_once(' ')?;
                let (level, rest) = rest.strip_prefix('[')?.split_once("] ")?;
                let msg = rest.split_once("[Server] ").map_or(rest, |(_, m)| m);
                Some(format!(
                    "{}\n",
                    serde_json::json!({"time": time, "thread": thread.parse::<u64>().ok()?, "label": level, "err_code": 10914, "msg": msg})
                ))
            })
            .collect();
        let path = dir.path().join(format!("{name}.json.log"));
        std::fs::write(&path, json).unwrap();
        check(&name, &path, &log);
    }
}

#[test]
fn damaged_foreign_and_unknown_logs_join_nothing_and_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let name = with_logs().into_iter().find(|n| n == "server-log").unwrap();
    let real = std::fs::read(fixture(&format!("{name}.error.log"))).unwrap();
    let cases: [(&str, Vec<u8>, &str); 3] = [
        (
            "binary.log",
            vec![0u8, 1, 2, 3, 255, 0, 7],
            "not a text error log",
        ),
        (
            "syslog.log",
            b"Nov 30 21:45:09 vm sshd[9]: hello\n".to_vec(),
            "no line in a known",
        ),
        (
            "cut.log",
            {
                // Every line cut in the middle of its timestamp.
                String::from_utf8_lossy(&real)
                    .lines()
                    .map(|l| format!("{}\n", &l[..l.len().min(15)]))
                    .collect::<String>()
                    .into_bytes()
            },
            "cut or damaged",
        ),
    ];
    for (file, bytes, said) in cases {
        let path = dir.path().join(file);
        std::fs::write(&path, bytes).unwrap();
        let (recs, err) = joined(&name, &path);
        assert!(err.contains(said) && err.contains(file), "{file}: {err}");
        assert!(recs.iter().all(|r| r.get("server_log").is_none()), "{file}");
        assert_eq!(
            recs.last().unwrap()["type"],
            "summary",
            "{file}: the decode completes"
        );
    }
    // Another server's log: thread ids that may match, at other times.
    let other = fixture("cli-native-query.pcap");
    let o = decode(
        &other,
        &[
            "--format",
            "jsonl",
            "--error-log",
            fixture(&format!("{name}.error.log")).to_str().unwrap(),
        ],
    );
    let recs = records(&o);
    assert!(recs.iter().all(|r| r.get("server_log").is_none()));
}
