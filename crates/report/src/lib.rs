//! One self-contained HTML report of a probe run or a capture: the thing a
//! DBA, the network team and the application's owners look at together
//! and attach to a ticket.
//!
//! Everything is inline (styles, SVG charts; no scripts, fonts or images
//! from anywhere), so the file opens offline. Each section has a one-line
//! caption saying how to read it. The charts are SVG written here: the
//! browser draws their text. Size stays under a few MB for a million
//! connections: above [`svg::MARKS_MAX`] connections the timeline shades
//! the ok ones as a density and keeps every other connection as a mark,
//! and the table of non-ok connections is capped.
//!
//! The crate sees records, statistics and what the driver says about the
//! run (header rows, extra tables), never a socket or a capture file.

mod collect;
pub mod svg;

use std::fmt::Write;
use std::time::Duration;

pub use collect::{Collector, SERVERS, SLOWEST, TABLE_ROWS};
use hsp_core::{Phase, Stats, Verdict};

/// A table of facts about the run (header, server counters, capture loss).
#[derive(Debug, Clone, Default)]
pub struct Table {
    /// Its heading.
    pub title: String,
    /// A line saying how to read it.
    pub caption: String,
    /// Name and value.
    pub rows: Vec<(String, String)>,
}

/// What the report is about, beside the connections.
#[derive(Debug, Clone)]
pub struct Report {
    /// "handshake-probe: db1:3306", "decode: a.pcap".
    pub title: String,
    /// Target or files, server version, when, the rules and where they came
    /// from.
    pub header: Vec<(String, String)>,
    /// The connect_timeout the phases are judged against.
    pub connect_timeout: Duration,
    /// More tables after the charts (server counters, host cache, capture
    /// loss, vantage, truncation).
    pub tables: Vec<Table>,
    /// The run was interrupted (Ctrl-C): what was measured is shown.
    pub interrupted: bool,
}

/// `s` safe inside HTML text and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;margin:24px auto;max-width:1000px;color:#222;background:#fff}
h1{font-size:22px;margin:0 0 8px}h2{font-size:17px;margin:28px 0 4px;border-bottom:1px solid #ddd;padding-bottom:3px}
p.how{margin:2px 0 10px;color:#555;font-size:13px}
table{border-collapse:collapse;font-size:13px}td,th{padding:3px 8px;text-align:left;vertical-align:top;border-bottom:1px solid #eee}
th{background:#f6f6f6}td.n{text-align:right;font-variant-numeric:tabular-nums}
.grid{stroke:#e4e4e4;stroke-width:1}.tick{font-size:11px;fill:#555}.legend{font-size:12px;fill:#222}
.ref{stroke:#D55E00;stroke-width:1.5;stroke-dasharray:6 4}.ref.half{stroke:#E69F00}.ref-label{font-size:11px;fill:#222}
.note{background:#fff4e0;border:1px solid #E69F00;padding:6px 10px;margin:10px 0}
.swatch{display:inline-block;width:10px;height:10px;margin-right:4px}
td.ev{max-width:520px;font-size:12px}";

/// Renders the report of `stats` and `c` under `r`.
pub fn render(r: &Report, stats: &Stats, c: &Collector) -> String {
    let mut h = String::with_capacity(64 * 1024);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>\n<h1>{}</h1>\n",
        escape(&r.title),
        escape(&r.title)
    );
    let mut header = r.header.clone();
    if !header.iter().any(|(k, _)| k == "server") && !c.servers.is_empty() {
        let servers: Vec<String> = c.servers.iter().map(|(a, v)| format!("{a} {v}")).collect();
        header.insert(1, ("server".into(), servers.join(", ")));
    }
    table(
        &mut h,
        &Table {
            title: String::new(),
            caption: "What was measured, when, and the rules the verdicts follow (with where each came from).".into(),
            rows: header,
        },
    );
    if r.interrupted {
        h.push_str("<p class=\"note\">The run was interrupted (Ctrl-C): this report shows what was measured until then.</p>\n");
    }
    if c.is_empty() {
        h.push_str("<p class=\"note\">No connections: nothing was measured, so there is nothing to chart. For a capture, check the port (<code>--port</code>) and the filter it was recorded with.</p>\n");
    } else {
        verdicts(&mut h, stats);
        timeline(&mut h, r, c);
        percentile_section(&mut h, r, stats);
        slowest(&mut h, c);
        not_ok(&mut h, c);
    }
    for t in &r.tables {
        table(&mut h, t);
    }
    h.push_str("<p class=\"how\">Made by handshake-probe. Verdict rules: docs/verdicts.md in its repository.</p>\n</body></html>\n");
    h
}

fn table(h: &mut String, t: &Table) {
    if !t.title.is_empty() {
        let _ = writeln!(h, "<h2>{}</h2>", escape(&t.title));
    }
    if !t.caption.is_empty() {
        let _ = writeln!(h, "<p class=\"how\">{}</p>", escape(&t.caption));
    }
    h.push_str("<table>\n");
    for (k, v) in &t.rows {
        let _ = writeln!(h, "<tr><th>{}</th><td>{}</td></tr>", escape(k), escape(v));
    }
    h.push_str("</table>\n");
}

fn verdicts(h: &mut String, stats: &Stats) {
    let total = stats.connections();
    let mut rows: Vec<(Verdict, u64)> = Verdict::ALL
        .iter()
        .map(|v| (*v, stats.count(*v)))
        .filter(|(_, n)| *n > 0)
        .collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.1));
    let max = rows.first().map_or(0, |r| r.1);
    let _ = write!(
        h,
        "<h2>Verdicts</h2>\n<p class=\"how\">One bar per verdict, colored by the party it blames (<span class=\"swatch\" style=\"background:{}\"></span>server, <span class=\"swatch\" style=\"background:{}\"></span>network, <span class=\"swatch\" style=\"background:{}\"></span>client, <span class=\"swatch\" style=\"background:{}\"></span>none); {total} connections.</p>\n<table>\n<tr><th>verdict</th><th>party</th><th>connections</th><th></th><th>what to do</th></tr>\n",
        svg::party_color(hsp_core::Party::Server),
        svg::party_color(hsp_core::Party::Network),
        svg::party_color(hsp_core::Party::Client),
        svg::party_color(hsp_core::Party::None),
    );
    for (v, n) in rows {
        let party = v.party();
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{n} ({:.1}%)</td><td>{}</td><td class=\"ev\">{}</td></tr>",
            v.name(),
            party.name(),
            n as f64 * 100.0 / total.max(1) as f64,
            svg::bar(n, max, svg::party_color(party)),
            escape(v.advice())
        );
    }
    h.push_str("</table>\n");
}

fn timeline(h: &mut String, r: &Report, c: &Collector) {
    let dense = c.points.len() > svg::MARKS_MAX;
    let _ = write!(
        h,
        "<h2>Timeline</h2>\n<p class=\"how\">Each {} is a connection: when it started (x, UTC) and how long its handshake took (y, log scale), colored by verdict; the dashed lines are connect_timeout and half of it, where a slowdown starts to cost logins.</p>\n",
        if dense {
            "mark (every one that did not end ok, up to 50,000 and the rest shaded in vermillion; the ok ones, too many to draw, are the shaded green density)"
        } else {
            "mark"
        }
    );
    h.push_str(&svg::timeline(&c.points, r.connect_timeout));
    h.push_str("\n<p class=\"how\">");
    let mut seen = [0u64; Verdict::ALL.len()];
    for p in &c.points {
        seen[p.verdict as usize] += 1;
    }
    for (v, n) in Verdict::ALL.iter().zip(seen) {
        if n > 0 {
            let _ = write!(
                h,
                "<span class=\"swatch\" style=\"background:{}\"></span>{} {n} &nbsp; ",
                svg::verdict_color(*v),
                v.name()
            );
        }
    }
    h.push_str("</p>\n");
}

fn percentile_section(h: &mut String, r: &Report, stats: &Stats) {
    let phases: Vec<(Phase, &hdrhistogram::Histogram<u64>)> = Phase::TIMED
        .iter()
        .filter(|p| **p != Phase::Dns)
        .filter_map(|p| Some((*p, stats.histogram(*p).filter(|h| !h.is_empty())?)))
        .collect();
    if phases.is_empty() {
        return;
    }
    h.push_str("<h2>Latency by percentile</h2>\n<p class=\"how\">For each phase, the time (y, log scale) that the given share of connections stayed under (x: 90%, 99%, 99.9%... each step ten times rarer), as HdrHistogram plots it; a line that rises toward connect_timeout at the right is the tail that fails logins.</p>\n");
    h.push_str(&svg::percentiles(&phases, r.connect_timeout));
    h.push('\n');
}

fn slowest(h: &mut String, c: &Collector) {
    let _ = write!(
        h,
        "<h2>The slowest {}</h2>\n<p class=\"how\">The slowest connections, each bar split into its phases: the longest color is where the time went (hover for the figures).</p>\n",
        c.slowest.len()
    );
    h.push_str(&svg::slowest(&c.slowest));
    h.push('\n');
}

fn not_ok(h: &mut String, c: &Collector) {
    if c.not_ok == 0 {
        h.push_str("<h2>Connections that did not end ok</h2>\n<p class=\"how\">None: every handshake ended as expected.</p>\n");
        return;
    }
    let _ = write!(
        h,
        "<h2>Connections that did not end ok</h2>\n<p class=\"how\">{} connection(s); {} listed{}: the verdict, the phase that decided it, the evidence, what the application would have logged, and the server's own log line when one was joined.</p>\n<table>\n<tr><th>#</th><th>client</th><th>verdict</th><th>phase</th><th>evidence</th><th>application error</th><th>server log</th></tr>\n",
        c.not_ok,
        c.rows.len(),
        if c.not_ok > c.rows.len() as u64 {
            format!(" ({} more left out)", c.not_ok - c.rows.len() as u64)
        } else {
            String::new()
        }
    );
    for r in &c.rows {
        let _ = writeln!(
            h,
            "<tr><td class=\"n\">{}</td><td>{}</td><td><span class=\"swatch\" style=\"background:{}\"></span>{}</td><td>{}</td><td class=\"ev\">{}</td><td class=\"ev\">{}</td><td class=\"ev\">{}</td></tr>",
            r.id,
            escape(&r.client),
            svg::verdict_color(r.verdict),
            r.verdict.name(),
            r.phase.name(),
            escape(&r.evidence),
            escape(&r.app_error),
            escape(&r.server_log)
        );
    }
    h.push_str("</table>\n");
}
