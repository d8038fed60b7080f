//! `--report FILE.html`: what the probe and `decode`/`capture` know about
//! their run, handed to hsp-report with the statistics and the collected
//! connections, and written to the file.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use hsp_core::{Stats, Summary};
use hsp_report::{Collector, Report, Table};

use crate::status::StatusReport;

/// Writes the report to `path`.
pub(crate) fn write(path: &Path, r: &Report, stats: &Stats, c: &Collector) -> Result<()> {
    let html = hsp_report::render(r, stats, c);
    std::fs::write(path, html).with_context(|| format!("--report {}", path.display()))
}

/// "10 s (read from the server)".
fn secs(d: Duration) -> String {
    hsp_report::svg::human_us(d.as_micros() as f64)
}

/// The header's rows about time and the rules.
pub(crate) fn header_rows(
    summary: &Summary,
    connect_timeout: (Duration, &str),
    wait_timeout: Option<(Duration, &str)>,
    slow: Duration,
) -> Vec<(String, String)> {
    let mut rows = Vec::new();
    if let (Some(a), Some(b)) = (summary.start, summary.end) {
        rows.push(("when".into(), format!("{a} to {b} (UTC)")));
    }
    rows.push(("connections".into(), summary.connections.to_string()));
    rows.push((
        "connect_timeout".into(),
        format!("{} ({})", secs(connect_timeout.0), connect_timeout.1),
    ));
    rows.push((
        "wait_timeout".into(),
        match wait_timeout {
            Some((d, src)) => format!("{} ({src})", secs(d)),
            None => "unknown (pass --wait-timeout, or probe with --user)".into(),
        },
    ));
    rows.push(("slow".into(), format!("over {} (--slow)", secs(slow))));
    rows
}

/// The probe's table of the server's counters and host cache.
pub(crate) fn server_table(status: &StatusReport) -> Table {
    let mut rows = Vec::new();
    for (k, d) in status.shown_deltas() {
        rows.push((k.to_string(), format!("{d:+}")));
    }
    if let Some(a) = &status.aborted_connects {
        rows.push((
            "the probe saw abnormal ends".into(),
            format!("{}{}", a.probe_saw, a.note_suffix()),
        ));
    }
    let h = &status.host_cache;
    rows.push((
        "host cache".into(),
        match &h.ip {
            Some(ip) => format!("{} for {ip}", h.state),
            None => h.state.to_string(),
        },
    ));
    for (k, was, now) in h.shown() {
        rows.push((format!("host cache {k}"), format!("{was} -> {now}")));
    }
    for n in &h.notes {
        rows.push(("note".into(), n.clone()));
    }
    Table {
        title: "The server's view".into(),
        caption: "SHOW GLOBAL STATUS after the run minus before (Connections includes the probe's status session), and the server's host cache for the probing host.".into(),
        rows,
    }
}
