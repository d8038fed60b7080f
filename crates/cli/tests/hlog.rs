//! HdrHistogram interval logs against an independent implementation:
//! Python's `hdrhistogram` package (PyPI, installed by scripts/setup.sh)
//! reads what `--hdr-log` writes with the same counts and percentiles, and
//! `hlog` reads what it writes, tags we do not know included; a damaged
//! line is named and the rest is read.

use std::process::{Command, Output};

use hsp_testkit::{MariaDb, NATIVE_USER};
use serde_json::Value;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_handshake-probe"));
    c.env_remove("MYSQL_PWD");
    c
}

fn python(script: &str, args: &[&str]) -> Output {
    let o = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3");
    assert!(
        o.status.success(),
        "python (scripts/setup.sh installs hdrhistogram): {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// Reads an interval log with Python's HistogramLogReader and prints, per
/// tag, the merged count and percentiles.
const PY_READ: &str = r#"
import json, sys
from hdrh.histogram import HdrHistogram
from hdrh.log import HistogramLogReader
reader = HistogramLogReader(sys.argv[1], HdrHistogram(1, 3600 * 10**6, 3))
merged = {}
while True:
    h = reader.get_next_interval_histogram()
    if h is None:
        break
    m = merged.setdefault(h.get_tag(), HdrHistogram(1, 3600 * 10**6, 3))
    m.add(h)
print(json.dumps({t: {"count": m.get_total_count(), "p50": m.get_value_at_percentile(50),
                      "p99": m.get_value_at_percentile(99), "max": m.get_max_value()}
                  for t, m in merged.items()}))
"#;

/// Writes an interval log with Python's HistogramLogWriter: two intervals
/// of a tag we do not know and one untagged, then prints what they hold.
const PY_WRITE: &str = r#"
import json, sys
from hdrh.histogram import HdrHistogram
from hdrh.log import HistogramLogWriter
out = open(sys.argv[1], "w")
w = HistogramLogWriter(out)
w.output_comment("written by Python's hdrhistogram")
w.output_base_time(1700000000000)
w.output_legend()
all_ = {"query_ms": HdrHistogram(1, 10**7, 3), "(untagged)": HdrHistogram(1, 10**7, 3)}
lines = []
for i, (tag, values) in enumerate([("query_ms", range(1, 1001)), ("query_ms", range(500, 20000, 7)),
                                   ("(untagged)", [42] * 10)]):
    h = HdrHistogram(1, 10**7, 3)
    for v in values:
        h.record_value(v)
        all_[tag].record_value(v)
    h.set_start_time_stamp(1700000000000 + i * 1000)
    h.set_end_time_stamp(1700000000000 + (i + 1) * 1000)
    import io
    buf = io.StringIO()
    iw = HistogramLogWriter(buf)
    iw.base_time = 1700000000000  # timestamps after BaseTime, as the header says
    iw.output_interval_histogram(h)
    line = buf.getvalue()
    out.write(line if tag == "(untagged)" else "Tag=" + tag + "," + line)
out.close()
print(json.dumps({t: {"count": m.get_total_count(), "p50": m.get_value_at_percentile(50),
                      "p99": m.get_value_at_percentile(99), "max": m.get_max_value()}
                  for t, m in all_.items()}))
"#;

/// Equal within HdrHistogram's 3 significant digits (the two libraries
/// may name different values of one bucket).
fn close(a: u64, b: u64) -> bool {
    a.abs_diff(b) <= a.max(b) / 1000 + 1
}

#[test]
fn python_reads_our_log_with_the_same_counts_and_percentiles() {
    let server = MariaDb::start_default();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("run.hlog");
    let o = bin()
        .args(["-n", "300", "-c", "3", "--format", "json", "-q"])
        .args(["--ssl-mode", "DISABLED", "--no-server-status", "-u"])
        .arg(NATIVE_USER.0)
        .arg(format!("--password={}", NATIVE_USER.1))
        .arg("--hdr-log")
        .arg(&log)
        .arg(server.addr().to_string())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let ours: Value = serde_json::from_slice(&o.stdout).unwrap();
    let py: Value =
        serde_json::from_slice(&python(PY_READ, &[log.to_str().unwrap()]).stdout).unwrap();
    for phase in ["tcp_connect", "greeting", "client_reply", "login", "total"] {
        let a = &ours["phases_us"][phase];
        let b = &py[phase];
        assert_eq!(a["count"], 300, "{phase}: {a}");
        assert_eq!(b["count"], 300, "{phase} read by Python: {b}");
        for k in ["p50", "p99", "max"] {
            let (x, y) = (a[k].as_u64().unwrap(), b[k].as_u64().unwrap());
            assert!(close(x, y), "{phase} {k}: ours {x}, Python's {y}");
        }
    }
}

#[test]
fn hlog_reads_pythons_log_and_unknown_tags_and_names_a_damaged_line() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("py.hlog");
    let py: Value =
        serde_json::from_slice(&python(PY_WRITE, &[log.to_str().unwrap()]).stdout).unwrap();
    let merged = |extra: &[&str]| {
        let o = bin()
            .args(["hlog", "--format", "json"])
            .args(extra)
            .arg(&log)
            .output()
            .unwrap();
        let v: Value = serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stderr)));
        (o, v)
    };
    let (o, v) = merged(&[]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(v["intervals"], 3);
    assert_eq!(
        v["start"], "2023-11-14T22:13:20.000000Z",
        "BaseTime read: {v}"
    );
    let tags: Vec<&Value> = v["tags"].as_array().unwrap().iter().collect();
    assert_eq!(tags.len(), 2, "{v}");
    for t in tags {
        let name = t["tag"].as_str().unwrap();
        let want = &py[name];
        assert_eq!(t["count"], want["count"], "{name}");
        for k in ["p50", "p99", "max"] {
            let (x, y) = (t[k].as_u64().unwrap(), want[k].as_u64().unwrap());
            assert!(close(x, y), "{name} {k}: ours {x}, Python's {y}");
        }
    }

    // A time range (seconds after the log's start) keeps the first two.
    let (_, v) = merged(&["--start", "0", "--end", "1.5"]);
    assert_eq!(v["intervals"], 2, "{v}");

    // A damaged line: named with its number, the rest still merged.
    let mut text = std::fs::read_to_string(&log).unwrap();
    let n = text.lines().count();
    text.push_str("Tag=query_ms,3.000,1.000,9.000,HISTFAAAA this is not base64\n");
    std::fs::write(&log, text).unwrap();
    let (o, v) = merged(&[]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(v["intervals"], 3);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("py.hlog:{}: the histogram is not base64", n + 1)),
        "{err}"
    );
}
