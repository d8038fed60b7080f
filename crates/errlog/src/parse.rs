//! One error-log line: its time, thread id, level, MySQL 8 error code and
//! message. Three text formats are read:
//!
//! ```text
//! MariaDB 10.x/11.x   2026-11-22 13:58:25 10 [Warning] Aborted connection 10 to db: ...
//! MySQL 5.7           2026-11-22T13:58:25.123456Z 10 [Note] Aborted connection 10 to db: ...
//! MySQL 8.x           2026-11-22T13:58:25.123456Z 10 [Note] [MY-010914] [Server] Aborted connection ...
//! ```
//!
//! MySQL 8's JSON sink (`log_sink_json`) writes one object per line
//! (`time`, `thread`, `label`, `err_code`, `msg`), read the same way.
//!
//! MariaDB writes local time without a zone (`--log-timezone` says which);
//! MySQL writes UTC with `Z`, or an offset (`log_timestamps=SYSTEM`).
//! Lines that start otherwise (a `Version: ...` line after "ready for
//! connections", a stack trace) continue the entry before them.

use hsp_core::wall::WallTime;

/// A parsed entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// When, in UTC (the zone applied).
    pub time: WallTime,
    /// Whether the line carried its own zone (`Z` or an offset).
    pub zoned: bool,
    /// The thread (connection) id; 0 for the server's own lines.
    pub thread: u64,
    /// `Note`, `Warning`, `ERROR`, `System`, as written.
    pub level: String,
    /// MySQL 8's `MY-NNNNNN`, when present.
    pub code: Option<String>,
    /// The text after the level (and MySQL 8's tags), whitespace as in the
    /// log; continuation lines joined with `\n`.
    pub message: String,
}

/// Why a line is not an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotEntry {
    /// It does not start with a timestamp: it continues the entry before.
    Continuation,
    /// It starts like one but is cut or damaged.
    Damaged,
}

/// Parses one line (without its newline); `zone` is the offset in seconds
/// applied to times written without one.
pub fn parse_line(line: &str, zone: i64) -> Result<Entry, NotEntry> {
    if line.starts_with('{') {
        return json_line(line, zone);
    }
    let b = line.as_bytes();
    if b.len() < 10 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return Err(NotEntry::Continuation);
    }
    let (time, zoned, rest) = timestamp(line, zone).ok_or(NotEntry::Damaged)?;
    let rest = rest.strip_prefix(' ').ok_or(NotEntry::Damaged)?;
    let (thread, rest) = match rest.split_once(' ') {
        Some((t, r)) if !t.is_empty() && t.bytes().all(|c| c.is_ascii_digit()) => {
            (t.parse().map_err(|_| NotEntry::Damaged)?, r)
        }
        // MariaDB before 10.1 wrote no thread id.
        _ if rest.starts_with('[') => (0, rest),
        _ => return Err(NotEntry::Damaged),
    };
    let (level, rest) = tag(rest).ok_or(NotEntry::Damaged)?;
    let mut message = rest;
    let mut code = None;
    if let Some((c, r)) = tag(message).filter(|(c, _)| c.starts_with("MY-")) {
        code = Some(c.to_owned());
        message = r;
        if let Some((_, r)) = tag(message) {
            // The subsystem: [Server], [InnoDB], [Repl]...
            message = r;
        }
    }
    Ok(Entry {
        time,
        zoned,
        thread,
        level: level.to_owned(),
        code,
        message: message.to_owned(),
    })
}

/// A line of MySQL 8's JSON error log.
#[derive(serde::Deserialize)]
struct JsonLine {
    time: String,
    #[serde(default)]
    thread: u64,
    #[serde(default)]
    label: String,
    #[serde(default)]
    err_code: Option<u64>,
    #[serde(default)]
    msg: String,
}

fn json_line(line: &str, zone: i64) -> Result<Entry, NotEntry> {
    let j: JsonLine = serde_json::from_str(line).map_err(|_| NotEntry::Damaged)?;
    let (time, zoned, _) = timestamp(&j.time, zone).ok_or(NotEntry::Damaged)?;
    Ok(Entry {
        time,
        zoned,
        thread: j.thread,
        level: j.label,
        code: j.err_code.map(|c| format!("MY-{c:06}")),
        message: j.msg,
    })
}

/// `[text] ` at the start: the text and what follows the space.
fn tag(s: &str) -> Option<(&str, &str)> {
    let inner = s.strip_prefix('[')?;
    let (t, rest) = inner.split_once(']')?;
    Some((t, rest.strip_prefix(' ').unwrap_or(rest)))
}

fn num(s: &str, at: usize, len: usize) -> Option<u32> {
    let d = s.get(at..at + len)?;
    d.bytes()
        .all(|c| c.is_ascii_digit())
        .then(|| d.parse().ok())
        .flatten()
}

/// `YYYY-MM-DD HH:MM:SS` (MariaDB) or `YYYY-MM-DDTHH:MM:SS[.ffffff](Z|±HH:MM)`
/// (MySQL): the UTC time, whether it was zoned, and the rest.
fn timestamp(s: &str, zone: i64) -> Option<(WallTime, bool, &str)> {
    let (y, mo, d) = (num(s, 0, 4)?, num(s, 5, 2)?, num(s, 8, 2)?);
    let sep = *s.as_bytes().get(10)?;
    if (sep != b' ' && sep != b'T') || s.as_bytes().get(7) != Some(&b'-') {
        return None;
    }
    let (h, mi, sec) = (num(s, 11, 2)?, num(s, 14, 2)?, num(s, 17, 2)?);
    if s.as_bytes().get(13) != Some(&b':') || s.as_bytes().get(16) != Some(&b':') {
        return None;
    }
    let mut at = 19;
    let mut micros = 0;
    if s.as_bytes().get(at) == Some(&b'.') {
        let digits = s[at + 1..].bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let frac = &s[at + 1..at + 1 + digits.min(6)];
        micros = frac.parse::<u32>().ok()? * 10u32.pow(6 - frac.len() as u32);
        at += 1 + digits;
    }
    let (offset, zoned) = match s.as_bytes().get(at) {
        Some(b'Z') => {
            at += 1;
            (0, true)
        }
        Some(&c @ (b'+' | b'-')) if sep == b'T' => {
            let (oh, om) = (num(s, at + 1, 2)?, num(s, at + 4, 2)?);
            at += 6;
            let o = i64::from(oh * 3600 + om * 60);
            (if c == b'+' { o } else { -o }, true)
        }
        _ => (zone, false),
    };
    let t = WallTime::from_civil(i64::from(y), mo, d, h, mi, sec, micros)?;
    Some((t.shifted(-offset), zoned, &s[at..]))
}

/// A `--log-timezone` value: `UTC`, `Z` or `±HH:MM`, as seconds east of
/// UTC.
pub fn parse_zone(z: &str) -> Option<i64> {
    match z {
        "UTC" | "utc" | "Z" | "+00:00" => return Some(0),
        _ => {}
    }
    let sign = match z.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (h, m) = z[1..].split_once(':')?;
    let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
    ((0..=14).contains(&h) && (0..60).contains(&m)).then_some(sign * (h * 3600 + m * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> String {
        parse_line(s, 0).unwrap().time.to_string()
    }

    #[test]
    fn mariadb_lines() {
        let e = parse_line(
            "2026-11-22 13:58:25 10 [Warning] Could not read packet: fd: 42  state: 1  read_length: 4  errno: 110  vio_errno: 1159  length: -1",
            3600,
        )
        .unwrap();
        assert_eq!(e.time.to_string(), "2026-11-22T12:58:25.000000Z");
        assert!(!e.zoned);
        assert_eq!((e.thread, e.level.as_str(), e.code), (10, "Warning", None));
        assert_eq!(
            e.message,
            "Could not read packet: fd: 42  state: 1  read_length: 4  errno: 110  vio_errno: 1159  length: -1"
        );
        let e = parse_line(
            "2026-11-30 21:40:35 0 [Note] /usr/sbin/mariadbd: ready for connections.",
            0,
        )
        .unwrap();
        assert_eq!(e.thread, 0);
    }

    /// The MySQL manual's examples (5.4.2.3, "Error Log Output Format").
    #[test]
    fn mysql_57_and_8_lines() {
        let e = parse_line(
            "2020-08-07T15:02:00.832521Z 0 [System] [MY-010116] [Server] /usr/sbin/mysqld (mysqld 8.0.23) starting as process 39",
            0,
        )
        .unwrap();
        assert_eq!(e.code.as_deref(), Some("MY-010116"));
        assert_eq!(e.level, "System");
        assert_eq!(
            e.message,
            "/usr/sbin/mysqld (mysqld 8.0.23) starting as process 39"
        );
        assert_eq!(
            at("2020-08-07T15:02:00.832521Z 0 [System] x"),
            "2020-08-07T15:02:00.832521Z"
        );
        let e = parse_line(
            "2026-11-22T13:58:25.123456Z 10 [Note] [MY-010914] [Server] Aborted connection 10 to db: 'unconnected' user: 'unauthenticated' host: '127.0.0.1' (Got timeout reading communication packets).",
            3600,
        )
        .unwrap();
        assert!(e.zoned, "a Z time ignores the assumed zone");
        assert_eq!(e.time.to_string(), "2026-11-22T13:58:25.123456Z");
        assert_eq!(e.thread, 10);
        assert!(
            e.message
                .starts_with("Aborted connection 10 to db: 'unconnected'")
        );
        // 5.7: no code, no subsystem.
        let e = parse_line(
            "2026-11-22T13:58:25.123456Z 11 [Note] Aborted connection 11 to db: 'unconnected' user: 'unauthenticated' host: 'localhost' (Got timeout reading communication packets)",
            0,
        )
        .unwrap();
        assert_eq!((e.thread, e.code), (11, None));
        // log_timestamps=SYSTEM: an offset.
        assert_eq!(
            at("2026-11-22T14:58:25.000001+01:00 12 [Note] x"),
            "2026-11-22T13:58:25.000001Z"
        );
    }

    /// The MySQL manual's JSON example (log_sink_json), shortened.
    #[test]
    fn mysql_8_json_lines() {
        let e = parse_line(
            r#"{ "prio" : 2, "err_code" : 10914, "subsystem" : "Server", "SQL_state" : "HY000", "source_file" : "sql_connect.cc", "function" : "end_connection", "msg" : "Aborted connection 10 to db: 'unconnected' user: 'unauthenticated' host: '127.0.0.1' (Got timeout reading communication packets).", "time" : "2026-11-22T13:58:25.123456Z", "ts" : 1795355905123, "thread" : 10, "err_symbol" : "ER_ABORTING_USER_CONNECTION", "label" : "Note" }"#,
            0,
        )
        .unwrap();
        assert_eq!(e.time.to_string(), "2026-11-22T13:58:25.123456Z");
        assert_eq!((e.thread, e.level.as_str()), (10, "Note"));
        assert_eq!(e.code.as_deref(), Some("MY-010914"));
        assert!(e.message.starts_with("Aborted connection 10"));
        assert_eq!(parse_line("{ \"time\": 5", 0), Err(NotEntry::Damaged));
    }

    #[test]
    fn continuations_and_damage() {
        assert_eq!(
            parse_line(
                "Version: '10.11.19-MariaDB'  socket: '/tmp/x.sock'  port: 3306  Debian 12",
                0
            ),
            Err(NotEntry::Continuation)
        );
        assert_eq!(parse_line("", 0), Err(NotEntry::Continuation));
        assert_eq!(parse_line("2026-11-22 13:58", 0), Err(NotEntry::Damaged));
        assert_eq!(
            parse_line("2026-11-22 13:58:25 10 Warning x", 0),
            Err(NotEntry::Damaged)
        );
        assert_eq!(
            parse_line("2026-13-22 13:58:25 10 [Warning] x", 0),
            Err(NotEntry::Damaged)
        );
        assert_eq!(parse_zone("+05:30"), Some(19_800));
        assert_eq!(parse_zone("-08:00"), Some(-28_800));
        assert_eq!(parse_zone("Europe/Berlin"), None);
    }
}
