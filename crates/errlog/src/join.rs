//! A whole error log in memory, split into the server's runs, and the join
//! of its lines to connection records.
//!
//! A run starts at "starting as process" or "Starting MariaDB" (or, if
//! neither was logged, "ready for connections"), whose continuation names
//! the port; thread ids are unique within a run. A record joins the lines
//! of its connection id in the run that holds its start time, if the run's
//! port (when the log names it) is the record's server port, and only the
//! lines written while the connection lived (from its start to a minute
//! after its handshake's end, where every handshake line falls). Lines of
//! the same thread id outside that window are counted, with how far off
//! they are: a time zone set wrong shows as one constant distance.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

use hsp_core::record::ConnectionRecord;
use hsp_core::server_log::{Said, ServerLogLine, apply};
use hsp_core::wall::WallTime;
use serde::Serialize;

use crate::parse::{Entry, NotEntry, parse_line};

/// Before a connection's start, lines still join it (clocks disagree a
/// little).
const BEFORE: Duration = Duration::from_secs(2);
/// After its end (its last packet, else its handshake's end).
const AFTER: Duration = Duration::from_secs(60);
/// Damaged lines listed in warnings; the rest are counted.
const DAMAGED_LISTED: usize = 5;

#[derive(Debug, Default)]
struct Run {
    start: Option<WallTime>,
    port: Option<u16>,
    /// Entry indexes per thread id.
    threads: HashMap<u64, Vec<usize>>,
}

/// An error log, read whole.
#[derive(Debug)]
pub struct ErrorLog {
    name: String,
    entries: Vec<Entry>,
    /// The run each entry belongs to.
    runs: Vec<Run>,
    joined: Vec<bool>,
    /// Line time minus the connection's end (its last packet in a capture,
    /// else its handshake's end), for each joined line: the server logs an
    /// aborted connection as it ends it.
    offsets: Vec<f64>,
    /// Lines of a connection's thread id outside its window: how far.
    off_window: Vec<f64>,
    warnings: Vec<String>,
}

/// What the log gave, for the summary.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LogReport {
    /// The log.
    pub file: String,
    /// Entries read.
    pub entries: usize,
    /// Entries with a thread id (connection lines).
    pub connection_lines: usize,
    /// Of those, joined to a record.
    pub joined: usize,
    /// Connection lines not joined, by what they say and the host they
    /// name.
    pub unjoined: BTreeMap<String, usize>,
    /// Of those, written outside the capture's time.
    pub outside_capture: usize,
    /// Median seconds from a connection's handshake end to its joined
    /// lines: the log's clock against the capture's (MariaDB writes whole
    /// seconds, so about -0.5 s when both agree).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset_s: Option<f64>,
    /// Lines of a captured connection's thread id that were too far from it
    /// in time to join (another run, another server, a time zone).
    pub too_far: usize,
    /// Their median distance, seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub too_far_s: Option<f64>,
    /// What the reader met: damaged lines, an unknown format.
    pub warnings: Vec<String>,
}

fn median(v: &[f64]) -> Option<f64> {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied()
}

/// The host an error-log message names (`host: '...'` or `'user'@'host'`).
fn host_of(m: &str) -> Option<&str> {
    if let Some((_, r)) = m.split_once("host: '") {
        return r.split_once('\'').map(|(h, _)| h);
    }
    let (_, r) = m.split_once("'@'")?;
    r.split_once('\'').map(|(h, _)| h)
}

/// The port a "ready for connections" entry names (`port: 3306`).
fn port_of(m: &str) -> Option<u16> {
    let (_, r) = m.split_once("port: ")?;
    r.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

impl ErrorLog {
    /// Reads the log at `path`; `zone` (seconds east of UTC) applies to
    /// times written without one (MariaDB's).
    pub fn read(path: &Path, zone: i64) -> std::io::Result<Self> {
        let bytes = std::fs::read(path)?;
        Ok(Self::from_bytes(&path.display().to_string(), &bytes, zone))
    }

    /// A log from its bytes; `name` names it in warnings.
    pub fn from_bytes(name: &str, bytes: &[u8], zone: i64) -> Self {
        let mut log = Self {
            name: name.to_owned(),
            entries: Vec::new(),
            runs: vec![Run::default()],
            joined: Vec::new(),
            offsets: Vec::new(),
            off_window: Vec::new(),
            warnings: Vec::new(),
        };
        let binary = bytes.iter().take(4096).filter(|&&b| b == 0).count() > 0;
        if binary {
            log.warnings.push(format!(
                "{name}: not a text error log (binary bytes in its first 4 KiB); nothing joined"
            ));
            return log;
        }
        let text = String::from_utf8_lossy(bytes);
        let (mut damaged, mut lines) = (Vec::new(), 0usize);
        for (n, line) in text.lines().enumerate() {
            lines += 1;
            match parse_line(line, zone) {
                Ok(e) => log.push(e),
                Err(NotEntry::Continuation) => {
                    if let Some(last) = log.entries.last_mut() {
                        last.message.push('\n');
                        last.message.push_str(line);
                        if let Some(p) = port_of(line)
                            && last.message.contains("ready for connections")
                        {
                            log.runs.last_mut().expect("a run").port.get_or_insert(p);
                        }
                    }
                }
                Err(NotEntry::Damaged) => damaged.push(n + 1),
            }
        }
        if !damaged.is_empty() {
            let listed: Vec<String> = damaged
                .iter()
                .take(DAMAGED_LISTED)
                .map(ToString::to_string)
                .collect();
            log.warnings.push(format!(
                "{name}: {} line(s) cut or damaged, skipped (line {}{})",
                damaged.len(),
                listed.join(", "),
                if damaged.len() > DAMAGED_LISTED {
                    ", ..."
                } else {
                    ""
                }
            ));
        }
        if log.entries.is_empty() && lines > 0 {
            log.warnings.push(format!(
                "{name}: no line in a known error-log format (MariaDB 10.x/11.x, MySQL 5.7/8.x text); nothing joined"
            ));
        }
        log.joined = vec![false; log.entries.len()];
        log
    }

    fn push(&mut self, e: Entry) {
        let m = e.message.as_str();
        let starts = e.thread == 0
            && (m.contains("starting as process") || m.starts_with("Starting MariaDB"));
        let ready = e.thread == 0 && m.contains("ready for connections");
        let run = self.runs.last_mut().expect("a run");
        if starts && (run.start.is_some() || !run.threads.is_empty()) {
            self.runs.push(Run::default());
        } else if ready && !run.threads.is_empty() {
            // Ready again with no start line logged: a new run.
            self.runs.push(Run::default());
        }
        let run = self.runs.last_mut().expect("a run");
        run.start.get_or_insert(e.time);
        if ready && let Some(p) = port_of(m) {
            run.port.get_or_insert(p);
        }
        if e.thread != 0 {
            run.threads
                .entry(e.thread)
                .or_default()
                .push(self.entries.len());
        }
        self.entries.push(e);
    }

    /// Joins the lines of `r`'s connection to it (see the module's
    /// description), adding them and what they say to the record.
    pub fn annotate(&mut self, r: &mut ConnectionRecord) {
        let (Some(id), Some(start)) = (r.connection_id, r.time) else {
            return;
        };
        let port = r
            .server
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse::<u16>().ok());
        // The run whose start is the latest before the connection's; if
        // none started before it, the first (its lines then fall outside
        // the window, and are counted: a clock or time zone off).
        let started = |run: &&Run| run.start.is_some();
        let Some(run) = self
            .runs
            .iter()
            .filter(|run| run.start.is_some_and(|s| s <= WallTime(start.0 + BEFORE)))
            .max_by_key(|run| run.start)
            .or_else(|| self.runs.iter().filter(started).min_by_key(|run| run.start))
        else {
            return;
        };
        if run.port.is_some_and(|p| Some(p) != port) {
            return;
        }
        let Some(idx) = run.threads.get(&u64::from(id)) else {
            return;
        };
        // The connection's end: its last packet (a session's lines come
        // when it ends, hours after its handshake for a wait_timeout),
        // else its handshake's end.
        let handshake = r.phases_us.get(hsp_core::Phase::Total).unwrap_or_default();
        let life = r.duration_us.map(Duration::from_micros).unwrap_or_default();
        let end = start.0 + handshake.max(life);
        let (from, to) = (start.0.saturating_sub(BEFORE), end + AFTER);
        let mut lines = Vec::new();
        for &i in idx {
            let e = &self.entries[i];
            if (from..=to).contains(&e.time.0) {
                self.joined[i] = true;
                self.offsets.push(e.time.secs_since(WallTime(end)));
                lines.push(ServerLogLine {
                    time: e.time,
                    thread: e.thread,
                    level: e.level.clone(),
                    message: e.message.clone(),
                });
            } else {
                self.off_window.push(e.time.secs_since(start));
            }
        }
        if !lines.is_empty() {
            apply(r, lines);
        }
    }

    /// The summary of what joined and what did not; `capture` is the
    /// captured connections' wall-clock span.
    pub fn report(&self, capture: Option<(WallTime, WallTime)>) -> LogReport {
        let mut rep = LogReport {
            file: self.name.clone(),
            entries: self.entries.len(),
            warnings: self.warnings.clone(),
            offset_s: median(&self.offsets),
            too_far: self.off_window.len(),
            too_far_s: median(&self.off_window),
            ..LogReport::default()
        };
        for (e, joined) in self.entries.iter().zip(&self.joined) {
            if e.thread == 0 {
                continue;
            }
            rep.connection_lines += 1;
            if *joined {
                rep.joined += 1;
                continue;
            }
            let said = Said::of(&e.message).name();
            let key = match host_of(&e.message) {
                Some(h) => format!("{said} from {h}"),
                None => said.to_owned(),
            };
            *rep.unjoined.entry(key).or_default() += 1;
            if capture.is_some_and(|(a, b)| e.time.0 + BEFORE < a.0 || e.time.0 > b.0 + AFTER) {
                rep.outside_capture += 1;
            }
        }
        if let Some(o) = rep.offset_s.filter(|o| o.abs() > 2.0) {
            rep.warnings.push(format!(
                "{}: its lines are {o:+.1} s from the ends of the handshakes they describe (median): the log's and the capture's clocks disagree by about that much",
                self.name
            ));
        }
        if let Some(d) = rep.too_far_s.filter(|_| rep.too_far > 0 && rep.joined == 0) {
            rep.warnings.push(format!(
                "{}: {} line(s) carry captured connection ids but were written {:.0} s away from those connections (median): another server's log, another run, or a time zone (--log-timezone) set wrong; none joined",
                self.name, rep.too_far, d
            ));
        }
        rep
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_are_told_apart_and_hosts_named() {
        let log = ErrorLog::from_bytes(
            "t",
            b"2026-11-22 13:00:00 0 [Note] Starting MariaDB 10.11.19 source revision x as process 1\n\
              2026-11-22 13:00:01 0 [Note] /usr/sbin/mariadbd: ready for connections.\n\
              Version: '10.11.19-MariaDB'  socket: '/tmp/s'  port: 3306  Debian 12\n\
              2026-11-22 13:00:05 5 [Warning] Aborted connection 5 to db: 'unconnected' user: 'unauthenticated' host: '10.0.0.7' (Got timeout reading communication packets)\n\
              2026-11-22 14:00:00 0 [Note] Starting MariaDB 10.11.19 source revision x as process 2\n\
              2026-11-22 14:00:05 5 [Warning] Access denied for user 'app'@'10.0.0.8' (using password: YES)\n",
            0,
        );
        assert_eq!(log.runs.len(), 2);
        assert_eq!(log.runs[0].port, Some(3306));
        assert!(
            log.entries[1].message.contains("port: 3306"),
            "continuation joined"
        );
        let rep = log.report(None);
        assert_eq!(rep.connection_lines, 2);
        assert_eq!(rep.unjoined.get("timeout from 10.0.0.7"), Some(&1));
        assert_eq!(rep.unjoined.get("access_denied from 10.0.0.8"), Some(&1));
    }

    #[test]
    fn a_time_zone_set_wrong_joins_nothing_and_says_how_far() {
        use hsp_core::classify::{End, Facts, Params, classify};
        let text = b"2026-11-22 14:00:00 0 [Note] Starting MariaDB 10.11.19 as process 1\n\
              2026-11-22 14:00:09 5 [Warning] Access denied for user 'app'@'10.0.0.8' (using password: YES)\n";
        // Written in UTC+1 but read as UTC: an hour late.
        let mut log = ErrorLog::from_bytes("tz", text, 0);
        let facts = Facts::new(End::Completed, hsp_core::Phase::Login, "10.0.0.2:3306");
        let mut r = ConnectionRecord::new(0, 0, &facts, classify(&facts, &Params::default()));
        r.connection_id = Some(5);
        r.time = WallTime::from_civil(2026, 11, 22, 13, 0, 8, 0);
        log.annotate(&mut r);
        assert!(r.server_log.is_empty());
        let rep = log.report(None);
        assert_eq!(rep.too_far, 1);
        assert!(
            rep.warnings.iter().any(|w| w.contains("3601 s away")),
            "{:?}",
            rep.warnings
        );
        // Read in its own zone, it joins.
        let mut log = ErrorLog::from_bytes("tz", text, 3600);
        log.annotate(&mut r);
        assert_eq!(r.server_log.len(), 1);
    }

    #[test]
    fn a_session_ended_by_wait_timeout_hours_later_joins_by_its_last_packet() {
        use hsp_core::classify::{End, Facts, Params, classify};
        let text = b"2026-11-22 06:00:00 0 [Note] Starting MariaDB 10.11.19 as process 1\n\
              2026-11-22 16:00:10 7 [Warning] Aborted connection 7 to db: 'app' user: 'app' host: '10.0.0.8' (Got timeout reading communication packets)\n";
        let facts = Facts::new(End::Completed, hsp_core::Phase::Login, "10.0.0.2:3306");
        let mut r = ConnectionRecord::new(0, 0, &facts, classify(&facts, &Params::default()));
        r.connection_id = Some(7);
        r.time = WallTime::from_civil(2026, 11, 22, 8, 0, 9, 500_000);
        // Known only by its handshake: 8 hours is too far to join.
        let mut log = ErrorLog::from_bytes("wt", text, 0);
        log.annotate(&mut r);
        assert!(r.server_log.is_empty());
        // Its last packet came 8 hours later (wait_timeout=28800): it joins,
        // and the clocks agree.
        r.duration_us = Some(28_800_000_000);
        let mut log = ErrorLog::from_bytes("wt", text, 0);
        log.annotate(&mut r);
        assert_eq!(r.server_log.len(), 1);
        let off = log.report(None).offset_s.unwrap();
        assert!((-1.0..=1.0).contains(&off), "{off}");
    }

    #[test]
    fn binary_and_unknown_logs_are_warned_and_join_nothing() {
        let log = ErrorLog::from_bytes("b", b"\x00\x01\x02binary", 0);
        assert!(log.warnings[0].contains("not a text error log"));
        let log = ErrorLog::from_bytes("u", b"Jan 1 00:00:00 host sshd[1]: hello\n", 0);
        assert!(log.report(None).warnings[0].contains("no line in a known error-log format"));
        let log = ErrorLog::from_bytes(
            "c",
            b"2026-11-22 13:00:05 5 [Warning] Aborted conn\n2026-11-22 13:0\n",
            0,
        );
        assert!(
            log.warnings[0].contains("1 line(s) cut or damaged"),
            "{:?}",
            log.warnings
        );
    }
}
