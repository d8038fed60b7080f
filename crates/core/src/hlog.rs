//! HdrHistogram interval logs in the form the standard tools read: Java's
//! `HistogramLogReader` and `HistogramLogProcessor`, Python's
//! `hdrhistogram` package, and `handshake-probe hlog`.
//!
//! ```text
//! #handshake-probe 0.1.0 db1:3306: per-phase handshake latency, microseconds
//! #[Histogram log format version 1.3]
//! #[StartTime: 1764555000.123 (seconds since epoch), 2025-12-01T02:10:00.123Z]
//! #[BaseTime: 1764555000.123 (seconds since epoch)]
//! "StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"
//! Tag=total,0.000,1.000,412.000,HISTFAAAAB...
//! ```
//!
//! One line per interval and tag (here a phase); the payload is a V2
//! histogram, deflate-compressed and base64-encoded (cookie 0x1c849304).
//! An uncompressed V2 payload, which this project wrote before, is read
//! here but rejected by the Java and Python readers with a cookie error;
//! that is why the writer compresses.
//!
//! The reader follows Java's rules for time: an interval's timestamp is
//! seconds after `BaseTime` when the log gives one, else after
//! `StartTime` when the timestamp is more than a year before it, else
//! seconds since the epoch. A log without `StartTime` starts with its
//! first interval. Lines it cannot read are reported with their
//! number and skipped, so one damaged line costs one interval.

use std::io::{self, Write};
use std::time::Duration;

use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};

use crate::wall::WallTime;

/// The legend line the Java and Python writers put before the intervals.
const LEGEND: &str =
    "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"";

/// Writes the log's header: `comment`, the format version, `StartTime`
/// and `BaseTime` (both `start`: interval timestamps are then seconds since
/// the run began) and the legend.
pub fn write_header(w: &mut impl Write, comment: &str, start: WallTime) -> io::Result<()> {
    let secs = start.0.as_secs_f64();
    let mut iso = Vec::new();
    start.write_rfc3339(&mut iso);
    for line in comment.lines() {
        writeln!(w, "#{line}")?;
    }
    writeln!(w, "#[Histogram log format version 1.3]")?;
    writeln!(
        w,
        "#[StartTime: {secs:.3} (seconds since epoch), {}]",
        String::from_utf8_lossy(&iso)
    )?;
    writeln!(w, "#[BaseTime: {secs:.3} (seconds since epoch)]")?;
    writeln!(w, "{LEGEND}")
}

/// Writes interval lines: compressed V2 payloads, base64.
#[derive(Default)]
pub struct IntervalWriter {
    serializer: V2DeflateSerializer,
    bytes: Vec<u8>,
    text: String,
}

impl std::fmt::Debug for IntervalWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IntervalWriter")
    }
}

impl IntervalWriter {
    /// A writer with empty buffers.
    pub fn new() -> Self {
        Self::default()
    }

    /// One interval of `tag`: `start` after the log's base time, `len`
    /// long.
    pub fn write(
        &mut self,
        w: &mut impl Write,
        tag: &str,
        h: &Histogram<u64>,
        start: Duration,
        len: Duration,
    ) -> io::Result<()> {
        use base64::Engine;
        self.bytes.clear();
        self.text.clear();
        self.serializer
            .serialize(h, &mut self.bytes)
            .map_err(|e| io::Error::other(format!("cannot compress a histogram: {e:?}")))?;
        base64::engine::general_purpose::STANDARD.encode_string(&self.bytes, &mut self.text);
        writeln!(
            w,
            "Tag={tag},{:.3},{:.3},{:.3},{}",
            start.as_secs_f64(),
            len.as_secs_f64(),
            h.max() as f64,
            self.text
        )
    }
}

/// One interval read from a log.
#[derive(Debug)]
pub struct Interval {
    /// Its tag, if the line had one.
    pub tag: Option<String>,
    /// Its start, seconds since the epoch (when the log says where its
    /// timestamps count from; else as written).
    pub start: f64,
    /// Its start, seconds after the log's `StartTime` (or its first
    /// interval).
    pub since_log_start: f64,
    /// Its length, seconds.
    pub len: f64,
    /// The values.
    pub histogram: Histogram<u64>,
}

/// A line that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    /// 1-based.
    pub line: usize,
    /// What is wrong with it.
    pub why: String,
}

/// Reads an interval log, handing each interval to `interval` and each
/// line it cannot read to `bad`; the rest of the log is read either way.
pub fn read(text: &str, mut interval: impl FnMut(Interval), mut bad: impl FnMut(BadLine)) {
    let mut start_time: Option<f64> = None;
    let mut base_time: Option<f64> = None;
    let mut deserializer = Deserializer::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        let fail = |why: &str| BadLine {
            line: i + 1,
            why: why.to_string(),
        };
        if let Some(rest) = line.strip_prefix('#') {
            if let Some(v) = header_seconds(rest, "[StartTime:") {
                start_time = Some(v);
            } else if let Some(v) = header_seconds(rest, "[BaseTime:") {
                base_time = Some(v);
            }
            continue;
        }
        if line.is_empty() || line.starts_with('"') {
            continue;
        }
        let (tag, rest) = match line.strip_prefix("Tag=") {
            Some(r) => match r.split_once(',') {
                Some((t, rest)) => (Some(t.to_string()), rest),
                None => {
                    bad(fail("a tag without the interval after it"));
                    continue;
                }
            },
            None => (None, line),
        };
        let fields: Vec<&str> = rest.splitn(4, ',').collect();
        let [ts, len, _max, payload] = fields[..] else {
            bad(fail(
                "not an interval (expected START,LENGTH,MAX,HISTOGRAM)",
            ));
            continue;
        };
        let (Ok(ts), Ok(len)) = (ts.trim().parse::<f64>(), len.trim().parse::<f64>()) else {
            bad(fail("the start or the length is not a number"));
            continue;
        };
        let histogram = match decode(&mut deserializer, payload.trim()) {
            Ok(h) => h,
            Err(why) => {
                bad(fail(&why));
                continue;
            }
        };
        let base = *base_time.get_or_insert(match start_time {
            Some(start) if ts < start - 365.0 * 24.0 * 3600.0 => start,
            _ => 0.0,
        });
        // Without a StartTime the log starts with its first interval.
        let start = *start_time.get_or_insert(base + ts);
        interval(Interval {
            tag,
            start: base + ts,
            since_log_start: base + ts - start,
            len,
            histogram,
        });
    }
}

/// `[StartTime: 1764555000.123 (seconds ...` → 1764555000.123.
fn header_seconds(rest: &str, key: &str) -> Option<f64> {
    let v = rest.strip_prefix(key)?.trim_start();
    let end = v.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    v[..end].parse().ok()
}

fn decode(d: &mut Deserializer, payload: &str) -> Result<Histogram<u64>, String> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(payload)
        .map_err(|e| format!("the histogram is not base64 ({e})"))?;
    d.deserialize(&mut io::Cursor::new(bytes))
        .map_err(|e| format!("the histogram cannot be decoded ({e:?})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn histogram(values: &[u64]) -> Histogram<u64> {
        let mut h = Histogram::<u64>::new(3).unwrap();
        for v in values {
            h.record(*v).unwrap();
        }
        h
    }

    #[test]
    fn what_is_written_reads_back_with_its_times_and_tags() {
        let mut out = Vec::new();
        let start = WallTime(Duration::from_secs(1_764_555_000));
        write_header(&mut out, "a comment\nover two lines", start).unwrap();
        let mut w = IntervalWriter::new();
        let a = histogram(&[100, 200, 300]);
        let b = histogram(&[5_000_000]);
        w.write(
            &mut out,
            "total",
            &a,
            Duration::ZERO,
            Duration::from_secs(1),
        )
        .unwrap();
        w.write(
            &mut out,
            "greeting",
            &b,
            Duration::from_millis(1500),
            Duration::from_millis(250),
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains(
                "#[StartTime: 1764555000.000 (seconds since epoch), 2025-12-01T02:10:00.000000Z]"
            ),
            "{text}"
        );
        assert!(text.contains(&format!("\n{LEGEND}\n")), "{text}");
        // The compressed V2 cookie, base64: 0x1c849304.
        assert!(text.contains(",HISTFAAAA"), "{text}");
        let mut got = Vec::new();
        read(&text, |i| got.push(i), |b| panic!("{b:?}"));
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].tag.as_deref(), Some("total"));
        assert_eq!(got[0].histogram, a);
        assert_eq!(got[0].start, 1_764_555_000.0);
        assert_eq!(got[1].tag.as_deref(), Some("greeting"));
        assert_eq!(got[1].histogram, b);
        assert!((got[1].since_log_start - 1.5).abs() < 1e-9);
        assert!((got[1].len - 0.25).abs() < 1e-9);
    }

    #[test]
    fn a_damaged_line_is_named_and_the_rest_is_read() {
        let mut out = Vec::new();
        write_header(&mut out, "x", WallTime(Duration::from_secs(1_000_000_000))).unwrap();
        let mut w = IntervalWriter::new();
        let h = histogram(&[7]);
        w.write(
            &mut out,
            "login",
            &h,
            Duration::ZERO,
            Duration::from_secs(1),
        )
        .unwrap();
        let mut text = String::from_utf8(out).unwrap();
        text.push_str("Tag=login,1.000,1.000,7.000,HISTFAAAA!!!not base64\n");
        text.push_str("1.0,2.0\n");
        text.push_str("Tag=login,x,1.000,7.000,AAAA\n");
        let good = text
            .lines()
            .find(|l| l.starts_with("Tag=login,0.000"))
            .unwrap();
        text.push_str(&good.replace("0.000,1.000", "2.000,1.000"));
        text.push('\n');
        let (mut n, mut bad) = (0, Vec::new());
        read(&text, |_| n += 1, |b| bad.push(b.line));
        assert_eq!(n, 2);
        assert_eq!(bad, vec![7, 8, 9]);
    }

    #[test]
    fn without_base_time_java_rules_decide_what_timestamps_mean() {
        let mut w = IntervalWriter::new();
        let h = histogram(&[1]);
        let mut line = Vec::new();
        w.write(
            &mut line,
            "t",
            &h,
            Duration::from_secs(3),
            Duration::from_secs(1),
        )
        .unwrap();
        let line = String::from_utf8(line).unwrap();
        // Relative timestamps after a StartTime: deltas from it.
        let text = format!("#[StartTime: 1000000000.000 (seconds since epoch)]\n{line}");
        let mut got = Vec::new();
        read(&text, |i| got.push(i), |b| panic!("{b:?}"));
        assert_eq!(got[0].start, 1_000_000_003.0);
        assert_eq!(got[0].since_log_start, 3.0);
        // No header at all: the first interval starts the log.
        let mut got = Vec::new();
        read(&line, |i| got.push(i), |b| panic!("{b:?}"));
        assert_eq!(got[0].start, 3.0);
        assert_eq!(got[0].since_log_start, 0.0);
    }
}
