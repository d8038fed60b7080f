//! The charts, as SVG written directly: a few hundred lines instead of a
//! plotting library and an embedded font (the browser draws the text with
//! its own sans-serif). Log axes for latency, since handshake times span
//! microseconds to the connect_timeout's seconds.

use std::fmt::Write;
use std::time::Duration;

use hdrhistogram::Histogram;
use hsp_core::{Party, Phase, Verdict};

use crate::collect::{Point, Slow};
use crate::escape;

/// Above this many connections the timeline draws ok ones as a density
/// and keeps every other one as a mark.
pub const MARKS_MAX: usize = 50_000;

/// Okabe-Ito and Paul Tol's colors: told apart with the common colour
/// vision deficiencies; the legends also name every color.
pub(crate) fn verdict_color(v: Verdict) -> &'static str {
    match v {
        Verdict::Ok => "#009E73",
        Verdict::AuthFailed => "#E69F00",
        Verdict::Refused => "#CC79A7",
        Verdict::ServerTimeout => "#D55E00",
        Verdict::IdleTimeout => "#882255",
        Verdict::PacketTooLarge => "#AA4499",
        Verdict::NetworkStall => "#0072B2",
        Verdict::ServerSlow => "#999933",
        Verdict::ClientSlow => "#F0E442",
        Verdict::ServerReset => "#661100",
        Verdict::ClientAbort => "#DDCC77",
        Verdict::MiddleboxReset => "#56B4E9",
        Verdict::NoServer => "#332288",
        Verdict::ProtocolError => "#117733",
        // Incomplete, and any verdict added later.
        _ => "#888888",
    }
}

/// The party's color (the verdict bars).
pub(crate) fn party_color(p: Party) -> &'static str {
    match p {
        Party::Server => "#D55E00",
        Party::Network => "#0072B2",
        Party::Client => "#E69F00",
        Party::None => "#009E73",
    }
}

fn phase_color(p: Phase) -> &'static str {
    match p {
        Phase::Dns => "#999999",
        Phase::TcpConnect => "#0072B2",
        Phase::Greeting => "#D55E00",
        Phase::ClientReply => "#E69F00",
        Phase::Tls => "#CC79A7",
        Phase::Login => "#009E73",
        Phase::Auth => "#56B4E9",
        Phase::Total | Phase::Command => "#000000",
    }
}

/// "50 µs", "1.25 ms", "3.2 s": a duration in µs as people write it.
pub fn human_us(us: f64) -> String {
    if us < 1000.0 {
        format!("{us:.0} µs")
    } else if us < 1_000_000.0 {
        format!("{} ms", trim(us / 1000.0))
    } else {
        format!("{} s", trim(us / 1_000_000.0))
    }
}

fn trim(v: f64) -> String {
    let s = if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    };
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// A logarithmic axis from `lo` to `hi` (both > 0) onto pixels `a`..`b`.
#[derive(Clone, Copy)]
struct Log {
    lo: f64,
    hi: f64,
    a: f64,
    b: f64,
}

impl Log {
    /// From the decade at or below `lo` to `hi`, so the axis starts on
    /// a labelled line.
    fn new(lo: f64, hi: f64, a: f64, b: f64) -> Self {
        let lo = 10f64.powf(lo.max(1.0).log10().floor());
        Self {
            lo,
            hi: hi.max(lo * 10.0),
            a,
            b,
        }
    }

    fn at(self, v: f64) -> f64 {
        let v = v.clamp(self.lo, self.hi);
        self.a + (v.ln() - self.lo.ln()) / (self.hi.ln() - self.lo.ln()) * (self.b - self.a)
    }

    /// Where the gridlines go: decades, and 2× and 5× them too when the
    /// axis spans under three decades (else few lines would be labelled).
    fn ticks(self) -> Vec<f64> {
        let fine = self.hi / self.lo < 1000.0;
        let first = self.lo.log10().floor() as i32;
        let last = self.hi.log10().ceil() as i32;
        let mut v = Vec::new();
        for e in first..=last {
            let d = 10f64.powi(e);
            let steps: &[f64] = if fine { &[1.0, 2.0, 5.0] } else { &[1.0] };
            v.extend(steps.iter().map(|m| m * d));
        }
        v.retain(|t| *t >= self.lo * 0.999 && *t <= self.hi * 1.001);
        v
    }
}

/// An open `<svg>` of `w` × `h` named `label` for screen readers.
fn open(w: f64, h: f64, label: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"{}\">",
        escape(label)
    )
}

/// A latency axis on the left: gridlines and labels at decades.
fn latency_axis(s: &mut String, y: Log, x0: f64, x1: f64) {
    for d in y.ticks() {
        let py = y.at(d);
        let _ = write!(
            s,
            "<line x1=\"{x0}\" y1=\"{py:.1}\" x2=\"{x1}\" y2=\"{py:.1}\" class=\"grid\"/><text x=\"{}\" y=\"{:.1}\" class=\"tick\" text-anchor=\"end\">{}</text>",
            x0 - 4.0,
            py + 4.0,
            human_us(d)
        );
    }
}

/// A horizontal reference line with its label (connect_timeout).
fn reference(s: &mut String, y: f64, x0: f64, x1: f64, class: &str, label: &str) {
    let _ = write!(
        s,
        "<line x1=\"{x0}\" y1=\"{y:.1}\" x2=\"{x1}\" y2=\"{y:.1}\" class=\"{class}\"/><text x=\"{}\" y=\"{:.1}\" class=\"ref-label\" text-anchor=\"end\">{}</text>",
        x1 - 2.0,
        y - 4.0,
        escape(label)
    );
}

/// The lines at connect_timeout (`ct`, µs) and half of it, labelled: the
/// rule every latency chart is read against.
fn timeout_lines(s: &mut String, y: Log, x0: f64, x1: f64, ct: f64) {
    reference(
        s,
        y.at(ct),
        x0,
        x1,
        "ref",
        &format!("connect_timeout {}", human_us(ct)),
    );
    reference(
        s,
        y.at(ct / 2.0),
        x0,
        x1,
        "ref half",
        &format!("half of connect_timeout {}", human_us(ct / 2.0)),
    );
}

/// A verdict's bar: `n` of `max`, in the party's color.
pub(crate) fn bar(n: u64, max: u64, color: &str) -> String {
    let w = if max == 0 {
        0.0
    } else {
        (n as f64 / max as f64 * 300.0).max(1.0)
    };
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"300\" height=\"14\" role=\"img\" aria-label=\"{n}\"><rect x=\"0\" y=\"1\" width=\"{w:.1}\" height=\"12\" fill=\"{color}\"/></svg>"
    )
}

/// HH:MM:SS of `us` since the epoch (UTC), with milliseconds when the
/// whole axis spans under a minute; or seconds into the run.
fn clock(us: u64, wall: bool, fine: bool) -> String {
    if !wall {
        return format!("{:.3} s", us as f64 / 1e6);
    }
    let s = us / 1_000_000;
    let hms = format!("{:02}:{:02}:{:02}", s / 3600 % 24, s / 60 % 60, s % 60);
    if fine {
        format!("{hms}.{:03}", us / 1000 % 1000)
    } else {
        hms
    }
}

/// Start time against total handshake time: one mark per connection (a
/// density of the ok ones above [`MARKS_MAX`]), lines at connect_timeout
/// and half of it.
pub(crate) fn timeline(points: &[Point], connect_timeout: Duration) -> String {
    let (w, h) = (960.0, 360.0);
    let (x0, x1, y0, y1) = (70.0, w - 20.0, h - 40.0, 20.0);
    let wall = points
        .first()
        .is_some_and(|p| p.start_us > 365 * 86_400 * 1_000_000);
    let t0 = points.iter().map(|p| p.start_us).min().unwrap_or(0);
    let t1 = points
        .iter()
        .map(|p| p.start_us)
        .max()
        .unwrap_or(0)
        .max(t0 + 1);
    let ct = connect_timeout.as_micros() as f64;
    let max = points.iter().map(|p| p.total_us).max().unwrap_or(1) as f64;
    let min = points.iter().map(|p| p.total_us).min().unwrap_or(1).max(1) as f64;
    let y = Log::new(min / 10.0, (max * 2.0).max(ct * 1.5), y0, y1);
    let x = |t: u64| x0 + (t - t0) as f64 / (t1 - t0) as f64 * (x1 - x0);
    let mut s = open(w, h, "timeline: start time against total handshake time");
    latency_axis(&mut s, y, x0, x1);
    for i in 0..=4 {
        let t = t0 + (t1 - t0) * i / 4;
        let anchor = match i {
            0 => "start",
            4 => "end",
            _ => "middle",
        };
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{}\" class=\"tick\" text-anchor=\"{anchor}\">{}</text>",
            x(t),
            y0 + 18.0,
            clock(t, wall, t1 - t0 < 60_000_000)
        );
    }
    let dense = points.len() > MARKS_MAX;
    if dense {
        // Ok connections as cells shaded by count; so are non-ok ones past
        // the first MARKS_MAX (in the color of a failure), which stay marks.
        let (cols, rows) = (240usize, 90usize);
        let mut ok = vec![0u32; cols * rows];
        let mut rest = vec![0u32; cols * rows];
        let mut not_ok = 0usize;
        for p in points {
            let cx = ((x(p.start_us) - x0) / (x1 - x0) * (cols - 1) as f64) as usize;
            let cy = ((y.at(f64::from(p.total_us.max(1))) - y1) / (y0 - y1) * (rows - 1) as f64)
                as usize;
            let cell = cy.min(rows - 1) * cols + cx.min(cols - 1);
            if Verdict::ALL[p.verdict as usize] == Verdict::Ok {
                ok[cell] += 1;
            } else {
                not_ok += 1;
                if not_ok > MARKS_MAX {
                    rest[cell] += 1;
                }
            }
        }
        let (cw, ch) = ((x1 - x0) / cols as f64, (y0 - y1) / rows as f64);
        for (grid, color) in [(&ok, verdict_color(Verdict::Ok)), (&rest, "#D55E00")] {
            let top = f64::from(grid.iter().copied().max().unwrap_or(1).max(1)).ln_1p();
            for (i, n) in grid.iter().enumerate().filter(|(_, n)| **n > 0) {
                let _ = write!(
                    s,
                    "<rect class=\"cell\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.2}\" height=\"{:.2}\" fill=\"{color}\" fill-opacity=\"{:.2}\"/>",
                    x0 + (i % cols) as f64 * cw,
                    y1 + (i / cols) as f64 * ch,
                    cw,
                    ch,
                    0.15 + 0.85 * f64::from(*n).ln_1p() / top
                );
            }
        }
    }
    let mut marks = 0usize;
    for p in points {
        let v = Verdict::ALL[p.verdict as usize];
        if dense && (v == Verdict::Ok || marks >= MARKS_MAX) {
            continue;
        }
        marks += 1;
        let _ = write!(
            s,
            "<circle class=\"m\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.2\" fill=\"{}\"/>",
            x(p.start_us),
            y.at(f64::from(p.total_us.max(1))),
            verdict_color(v)
        );
    }
    timeout_lines(&mut s, y, x0, x1, ct);
    s.push_str("</svg>");
    s
}

/// HdrHistogram-style percentile curves: x = percentile on a 1/(1-p)
/// axis, y = latency on a log axis, one line per phase.
pub(crate) fn percentiles(
    phases: &[(Phase, &Histogram<u64>)],
    connect_timeout: Duration,
) -> String {
    let (w, h) = (960.0, 360.0);
    let (x0, x1, y0, y1) = (70.0, w - 150.0, h - 40.0, 20.0);
    // Decades of 1/(1-p): 0 is the median's left end (p = 0), 5 is 99.999%.
    let depth = phases
        .iter()
        .map(|(_, h)| (h.len().max(1) as f64).log10().ceil())
        .fold(1.0, f64::max)
        .min(5.0);
    let x = |d: f64| x0 + d / depth * (x1 - x0);
    let max = phases.iter().map(|(_, h)| h.max()).max().unwrap_or(1) as f64;
    let min = phases
        .iter()
        .map(|(_, h)| h.min().max(1))
        .min()
        .unwrap_or(1) as f64;
    let ct = connect_timeout.as_micros() as f64;
    let y = Log::new(min / 10.0, (max * 2.0).max(ct * 1.5), y0, y1);
    let mut s = open(w, h, "latency by percentile, per phase");
    latency_axis(&mut s, y, x0, x1);
    for d in 0..=depth as i32 {
        let label = match d {
            0 => "0%".to_string(),
            1 => "90%".to_string(),
            _ => format!("99.{}%", "9".repeat(d as usize - 2)).replace("99.%", "99%"),
        };
        let px = x(f64::from(d));
        let _ = write!(
            s,
            "<line x1=\"{px:.1}\" y1=\"{y1}\" x2=\"{px:.1}\" y2=\"{y0}\" class=\"grid\"/><text x=\"{px:.1}\" y=\"{}\" class=\"tick\" text-anchor=\"middle\">{label}</text>",
            y0 + 18.0
        );
    }
    for (i, (phase, hist)) in phases.iter().enumerate() {
        // Points up to the deepest percentile this many samples support.
        let reach = (hist.len().max(1) as f64).log10().min(depth);
        let mut path = String::new();
        for k in 0..=200 {
            let d = reach * f64::from(k) / 200.0;
            let q = 1.0 - 10f64.powf(-d);
            let v = hist.value_at_quantile(q).max(1) as f64;
            let _ = write!(
                path,
                "{}{:.1},{:.1}",
                if k == 0 { "M" } else { " L" },
                x(d),
                y.at(v)
            );
        }
        let color = phase_color(*phase);
        let ly = y1 + 14.0 + i as f64 * 18.0;
        let _ = write!(
            s,
            "<path d=\"{path}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"{}\"/><line x1=\"{}\" y1=\"{ly}\" x2=\"{}\" y2=\"{ly}\" stroke=\"{color}\" stroke-width=\"3\"/><text x=\"{}\" y=\"{}\" class=\"legend\">{}</text>",
            if *phase == Phase::Total { 2.5 } else { 1.5 },
            x1 + 10.0,
            x1 + 30.0,
            x1 + 36.0,
            ly + 4.0,
            phase.name()
        );
    }
    timeout_lines(&mut s, y, x0, x1, ct);
    s.push_str("</svg>");
    s
}

/// The slowest connections as stacked horizontal bars by phase.
pub(crate) fn slowest(slow: &[Slow]) -> String {
    let row = 20.0;
    let (w, top) = (960.0, 30.0);
    let h = top + row * slow.len() as f64 + 10.0;
    let (x0, x1) = (260.0, w - 90.0);
    let max = slow
        .iter()
        .map(|s| s.total)
        .max()
        .unwrap_or_default()
        .as_micros() as f64;
    let scale = |us: f64| if max > 0.0 { us / max * (x1 - x0) } else { 0.0 };
    let mut s = open(w, h, "the slowest connections, by phase");
    // The legend: every phase that appears.
    let mut shown: Vec<Phase> = slow
        .iter()
        .flat_map(|s| s.phases.iter().map(|p| p.0))
        .collect();
    shown.sort();
    shown.dedup();
    for (i, p) in shown.iter().enumerate() {
        let lx = x0 + i as f64 * 110.0;
        let _ = write!(
            s,
            "<rect x=\"{lx}\" y=\"6\" width=\"12\" height=\"12\" fill=\"{}\"/><text x=\"{}\" y=\"16\" class=\"legend\">{}</text>",
            phase_color(*p),
            lx + 16.0,
            p.name()
        );
    }
    for (i, c) in slow.iter().enumerate() {
        let yy = top + i as f64 * row;
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{:.1}\" class=\"tick\" text-anchor=\"end\">#{} {} {}</text>",
            x0 - 6.0,
            yy + 13.0,
            c.id,
            escape(&c.client),
            c.verdict.name()
        );
        let mut at = x0;
        for (p, d) in &c.phases {
            let pw = scale(d.as_micros() as f64);
            let _ = write!(
                s,
                "<rect class=\"seg\" x=\"{at:.1}\" y=\"{:.1}\" width=\"{pw:.2}\" height=\"{}\" fill=\"{}\"><title>{} {}</title></rect>",
                yy + 2.0,
                row - 5.0,
                phase_color(*p),
                p.name(),
                human_us(d.as_micros() as f64)
            );
            at += pw;
        }
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" class=\"tick\">{}</text>",
            at + 6.0,
            yy + 13.0,
            human_us(c.total.as_micros() as f64)
        );
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(human_us(50.0), "50 µs");
        assert_eq!(human_us(1250.0), "1.25 ms");
        assert_eq!(human_us(10_000_000.0), "10 s");
        assert_eq!(human_us(5_000_000.0), "5 s");
    }

    #[test]
    fn above_the_mark_limit_ok_connections_shade_and_the_others_stay_marks() {
        let ok = crate::collect::verdict_index(Verdict::Ok);
        let stall = crate::collect::verdict_index(Verdict::NetworkStall);
        let mut points: Vec<Point> = (0..200_000u64)
            .map(|i| Point {
                start_us: 1_764_000_000_000_000 + i * 500,
                total_us: 100 + (i % 900) as u32,
                verdict: ok,
            })
            .collect();
        for i in 0..10 {
            points[i * 1000].verdict = stall;
            points[i * 1000].total_us = 3_000_000;
        }
        let svg = timeline(&points, Duration::from_secs(10));
        assert_eq!(svg.matches("<circle class=\"m\"").count(), 10);
        assert!(svg.contains("<rect class=\"cell\""));
        assert!(svg.len() < 2_000_000, "{} bytes", svg.len());
        // Few enough: every connection is a mark.
        let svg = timeline(&points[..1000], Duration::from_secs(10));
        assert_eq!(svg.matches("<circle class=\"m\"").count(), 1000);
        assert!(!svg.contains("class=\"cell\""));
    }

    #[test]
    fn a_log_axis_puts_decades_evenly() {
        let y = Log::new(10.0, 10_000.0, 0.0, 300.0);
        assert_eq!(y.ticks(), vec![10.0, 100.0, 1000.0, 10_000.0]);
        // Under three decades: 2x and 5x lines too.
        let narrow = Log::new(100.0, 4000.0, 0.0, 300.0);
        assert_eq!(narrow.ticks(), vec![100.0, 200.0, 500.0, 1000.0, 2000.0]);
        assert!((y.at(100.0) - 100.0).abs() < 1e-9);
        assert!((y.at(1_000_000.0) - 300.0).abs() < 1e-9, "clamped");
    }
}
