//! How a probe run is shown: the text summary (hyperfine/oha style), the
//! ping-style line per connection (`-v`), and the JSON summary record.

use std::fmt::Write as _;

use hsp_core::record::ConnectionRecord;
use hsp_core::stats::Summary;
use hsp_core::{Phase, Verdict};
use serde::Serialize;

/// What the run was, beside its figures.
#[derive(Debug, Serialize)]
pub(crate) struct RunMeta {
    pub(crate) target: String,
    pub(crate) addr: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) server_version: Option<String>,
    pub(crate) elapsed_s: f64,
    pub(crate) handshakes_per_s: f64,
    pub(crate) concurrency: usize,
    /// Threads (event loops) the connections ran on.
    pub(crate) threads: usize,
    /// Why the concurrency is not what was asked for (or `--force`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) concurrency_note: Option<String>,
    /// Halvings after ER_CON_COUNT_ERROR.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) backoffs: Vec<String>,
    /// Under --rate: scheduled starts the concurrency cap prevented.
    #[serde(skip_serializing_if = "is_zero")]
    pub(crate) missed_starts: u64,
    pub(crate) interrupted: bool,
    pub(crate) connect_timeout_s: f64,
    /// `flag`, `server` or `assumed`.
    pub(crate) connect_timeout_source: &'static str,
    #[serde(skip)]
    pub(crate) connect_timeout_note: &'static str,
    pub(crate) slow_s: f64,
    pub(crate) credentials: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) dns_us: Option<u64>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// `{"type":"summary", ...}`.
#[derive(Serialize)]
pub(crate) struct JsonSummary<'a> {
    #[serde(flatten)]
    pub(crate) summary: &'a Summary,
    #[serde(flatten)]
    pub(crate) meta: &'a RunMeta,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) server_status: Option<&'a crate::status::StatusReport>,
}

/// A duration in µs, in the unit that reads best.
pub(crate) fn fmt_us(us: u64) -> String {
    if us < 10_000 {
        format!("{:.2} ms", us as f64 / 1e3)
    } else if us < 1_000_000 {
        format!("{:.1} ms", us as f64 / 1e3)
    } else {
        format!("{:.2} s", us as f64 / 1e6)
    }
}

fn phase_list(r: &ConnectionRecord) -> String {
    r.phases_us
        .iter()
        .filter(|(p, _)| *p != Phase::Total)
        .map(|(p, d)| format!("{p} {}", fmt_us(hsp_core::phase::micros(d))))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One line per connection, as ping prints one per echo.
pub(crate) fn ping_line(r: &ConnectionRecord) -> String {
    let total = r
        .phases_us
        .get(Phase::Total)
        .map_or_else(|| "-".into(), |d| fmt_us(hsp_core::phase::micros(d)));
    let mut s = format!(
        "#{:<5} {:<14} {:<13} total {:>9}  ({})",
        r.id,
        r.verdict.name(),
        r.outcome,
        total,
        phase_list(r)
    );
    if let Some(e) = &r.app_error {
        let _ = write!(s, "  {} {}", e.code, e.message);
    }
    s
}

/// The text summary.
pub(crate) fn text(
    meta: &RunMeta,
    s: &Summary,
    status: Option<&crate::status::StatusReport>,
) -> String {
    let mut o = String::new();
    let version = meta
        .server_version
        .as_deref()
        .map(|v| format!(" (server {v})"))
        .unwrap_or_default();
    let _ = writeln!(
        o,
        "handshake-probe {} [{}]{version}",
        meta.target, meta.addr
    );
    let _ = writeln!(
        o,
        "  {} handshakes in {:.2} s, {:.1}/s, concurrency {}{}{}",
        s.connections,
        meta.elapsed_s,
        meta.handshakes_per_s,
        meta.concurrency,
        match meta.threads {
            1 => String::new(),
            n => format!(" on {n} threads"),
        },
        if meta.interrupted {
            " (interrupted)"
        } else {
            ""
        }
    );
    for n in meta.concurrency_note.iter().chain(&meta.backoffs) {
        let _ = writeln!(o, "  {n}");
    }
    if meta.missed_starts > 0 {
        let _ = writeln!(
            o,
            "  {} scheduled start(s) missed: all {} slot(s) were busy (the server or the network held connections up; --latency-correction waits instead)",
            meta.missed_starts, meta.concurrency
        );
    }
    wall_span(&mut o, s);
    let _ = writeln!(
        o,
        "  server connect_timeout {:.0} s ({}); slow means over {}",
        meta.connect_timeout_s,
        meta.connect_timeout_note,
        fmt_us((meta.slow_s * 1e6) as u64)
    );
    if let Some(d) = meta.dns_us {
        let _ = writeln!(o, "  dns {} (resolved once)", fmt_us(d));
    }

    sections(&mut o, s, meta.credentials);

    if let Some(st) = status {
        st.text(&mut o);
    }

    let advice = advice(meta.connect_timeout_s, s);
    if !advice.is_empty() {
        let _ = writeln!(o);
        for a in advice {
            let _ = writeln!(o, "{a}");
        }
    }
    o
}

/// The sections probe and decode share: verdicts, errors, phases, the
/// histogram, the slowest connections.
pub(crate) fn sections(o: &mut String, s: &Summary, credentials: bool) {
    if s.connections == 0 {
        return;
    }
    let _ = writeln!(o, "\nVerdicts");
    for v in Verdict::ALL {
        let n = s.verdicts.get(v.name()).copied().unwrap_or(0);
        if n == 0 {
            continue;
        }
        let pct = 100.0 * n as f64 / s.connections.max(1) as f64;
        let _ = writeln!(o, "  {:<16} {:>8} {:>6.1}%", v.name(), n, pct);
    }
    if !s.errors.is_empty() {
        let _ = writeln!(
            o,
            "\nErrors{}",
            if credentials {
                ""
            } else {
                " (without --user, 1045 is the expected answer)"
            }
        );
        for e in &s.errors {
            let _ = writeln!(
                o,
                "  {:<5} {:<32} {:>8}",
                e.code,
                e.name.unwrap_or("?"),
                e.count
            );
        }
    }

    if !s.phases_us.is_empty() {
        let _ = writeln!(
            o,
            "\nPhases          count       min       p50       p90       p99     p99.9       max"
        );
        for (p, ps) in &s.phases_us {
            let _ = writeln!(
                o,
                "  {:<12} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
                p.name(),
                ps.count,
                fmt_us(ps.min),
                fmt_us(ps.p50),
                fmt_us(ps.p90),
                fmt_us(ps.p99),
                fmt_us(ps.p999),
                fmt_us(ps.max)
            );
        }
    }

    if s.total_histogram.iter().any(|b| b.count > 0) {
        let _ = writeln!(o, "\nTotal handshake time");
        let max = s
            .total_histogram
            .iter()
            .map(|b| b.count)
            .max()
            .unwrap_or(1)
            .max(1);
        for b in &s.total_histogram {
            let bar = "■".repeat(((b.count * 40).div_ceil(max)) as usize);
            let _ = writeln!(o, "  <= {:>9} [{:>7}] {bar}", fmt_us(b.le_us), b.count);
        }
    }

    if !s.slowest.is_empty() && s.connections > 1 {
        let _ = writeln!(o, "\nSlowest connections");
        for r in &s.slowest {
            let total = r
                .phases_us
                .get(Phase::Total)
                .map_or(0, hsp_core::phase::micros);
            let _ = writeln!(
                o,
                "  #{:<6} {:>9} {:<14} {}",
                r.id,
                fmt_us(total),
                r.verdict.name(),
                phase_list(r)
            );
        }
    }
}

pub(crate) fn advice(connect_timeout_s: f64, s: &Summary) -> Vec<String> {
    let mut out = Vec::new();
    if s.near_connect_timeout > 0 {
        out.push(format!(
            "warning: {} handshake(s) had a phase over half of connect_timeout ({:.0} s). A client a little \
             slower, or a little packet loss, and the server drops them with \"Lost connection to MySQL server \
             at 'reading authorization packet'\" (MySQL bug #28359). Find the slow phase above; raise \
             connect_timeout only once the delay is explained.",
            s.near_connect_timeout, connect_timeout_s
        ));
    }
    for v in Verdict::ALL {
        let n = s.verdicts.get(v.name()).copied().unwrap_or(0);
        if n > 0 && v != Verdict::Ok && !v.advice().is_empty() {
            out.push(format!("{}: {n} connection(s): {}", v.name(), v.advice()));
        }
    }
    out
}

/// The summary's wall-clock span, on a line of its own.
pub(crate) fn wall_span(o: &mut String, s: &Summary) {
    if let (Some(a), Some(b)) = (s.start, s.end) {
        let _ = writeln!(o, "  wall clock {a} to {b} (UTC)");
    }
}
