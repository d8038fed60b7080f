//! Wall-clock time, as fleets, error logs and dashboards join on it:
//! instants since the Unix epoch, written as RFC 3339 UTC with
//! microseconds (`2026-11-22T13:58:23.556754Z`) and read from the civil
//! dates logs carry. The calendar arithmetic is Howard Hinnant's
//! `days_from_civil` and `civil_from_days` (proleptic Gregorian), a few
//! lines that do not justify a date crate.

use std::fmt;
use std::time::{Duration, SystemTime};

use serde::{Serialize, Serializer};

/// An instant since the Unix epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WallTime(pub Duration);

impl WallTime {
    /// Now, from the system clock.
    pub fn now() -> Self {
        Self::from_system(SystemTime::now())
    }

    /// A system time (before the epoch: the epoch).
    pub fn from_system(t: SystemTime) -> Self {
        Self(t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default())
    }

    /// A civil date and time in UTC, `None` if it is not one (month 13,
    /// hour 24, a time before 1970).
    pub fn from_civil(
        year: i64,
        month: u32,
        day: u32,
        hour: u32,
        minute: u32,
        second: u32,
        micros: u32,
    ) -> Option<Self> {
        if !(1..=12).contains(&month)
            || !(1..=days_in_month(year, month)).contains(&day)
            || hour > 23
            || minute > 59
            || second > 60
            || micros > 999_999
        {
            return None;
        }
        let days = days_from_civil(year, month, day);
        let secs = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
        let secs = u64::try_from(secs).ok()?;
        Some(Self(
            Duration::from_secs(secs) + Duration::from_micros(u64::from(micros)),
        ))
    }

    /// Shifted by a signed number of seconds (a time zone's offset).
    pub fn shifted(self, secs: i64) -> Self {
        let d = Duration::from_secs(secs.unsigned_abs());
        Self(if secs >= 0 {
            self.0 + d
        } else {
            self.0.saturating_sub(d)
        })
    }

    /// Signed seconds from `other` to `self`.
    pub fn secs_since(self, other: Self) -> f64 {
        self.0.as_secs_f64() - other.0.as_secs_f64()
    }

    /// Appends the RFC 3339 form (what [`Display`](fmt::Display) writes)
    /// without going through `fmt`.
    pub fn write_rfc3339(self, out: &mut Vec<u8>) {
        let secs = self.0.as_secs();
        let (y, mo, d) = civil_from_days((secs / 86_400) as i64);
        let s = (secs % 86_400) as u32;
        let two = |out: &mut Vec<u8>, v: u32| {
            out.extend_from_slice(&[b'0' + (v / 10 % 10) as u8, b'0' + (v % 10) as u8]);
        };
        let y = y.clamp(0, 9999) as u32;
        two(out, y / 100);
        two(out, y % 100);
        out.push(b'-');
        two(out, mo);
        out.push(b'-');
        two(out, d);
        out.push(b'T');
        two(out, s / 3600);
        out.push(b':');
        two(out, s / 60 % 60);
        out.push(b':');
        two(out, s % 60);
        out.push(b'.');
        let us = self.0.subsec_micros();
        two(out, us / 10_000);
        two(out, us / 100 % 100);
        two(out, us % 100);
        out.push(b'Z');
    }
}

impl fmt::Display for WallTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut b = Vec::with_capacity(27);
        self.write_rfc3339(&mut b);
        f.write_str(std::str::from_utf8(&b).map_err(|_| fmt::Error)?)
    }
}

impl Serialize for WallTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants_are_written_as_rfc3339() {
        assert_eq!(
            WallTime(Duration::ZERO).to_string(),
            "1970-01-01T00:00:00.000000Z"
        );
        // date -u -d @1795355903.556754
        let t = WallTime(Duration::from_micros(1_795_355_903_556_754));
        assert_eq!(t.to_string(), "2026-11-22T13:58:23.556754Z");
        let leap = WallTime::from_civil(2024, 2, 29, 23, 59, 59, 999_999).unwrap();
        assert_eq!(leap.to_string(), "2024-02-29T23:59:59.999999Z");
    }

    #[test]
    fn civil_dates_round_trip_and_nonsense_is_refused() {
        let t = WallTime::from_civil(2026, 11, 22, 13, 58, 23, 556_754).unwrap();
        assert_eq!(t.0, Duration::from_micros(1_795_355_903_556_754));
        for days in (0..40_000).step_by(37) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert!(WallTime::from_civil(2026, 13, 1, 0, 0, 0, 0).is_none());
        assert!(WallTime::from_civil(2026, 2, 29, 0, 0, 0, 0).is_none());
        assert!(WallTime::from_civil(2026, 1, 1, 24, 0, 0, 0).is_none());
        assert!(WallTime::from_civil(1969, 12, 31, 0, 0, 0, 0).is_none());
    }

    #[test]
    fn shifting_by_a_time_zone() {
        let t = WallTime::from_civil(2026, 11, 22, 13, 0, 0, 0).unwrap();
        assert_eq!(t.shifted(-3600).to_string(), "2026-11-22T12:00:00.000000Z");
        assert_eq!(t.shifted(3600).secs_since(t), 3600.0);
    }
}
