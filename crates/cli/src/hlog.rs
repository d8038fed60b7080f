//! `hlog FILE...`: interval logs from many probing hosts (or any program
//! that writes the standard format) merged per tag into one table, so a
//! fleet of probes gives one answer. Tags we do not know are merged like
//! ours; a line that cannot be read is named and skipped.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use hsp_core::Phase;
use hsp_core::hlog::{BadLine, Interval, read};
use hsp_core::stats::PhaseSummary;
use hsp_core::wall::WallTime;
use serde::Serialize;

use crate::args::{HlogArgs, HlogFormat};

/// Damaged lines listed per file before the rest are only counted.
const LISTED: usize = 5;

/// The tag of intervals written without one.
const UNTAGGED: &str = "(untagged)";

#[derive(Serialize)]
struct FileReport {
    path: String,
    intervals: u64,
    bad_lines: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Serialize)]
struct Report {
    #[serde(rename = "type")]
    kind: &'static str,
    files: Vec<FileReport>,
    intervals: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    start: Option<WallTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    end: Option<WallTime>,
    tags: Vec<TagRow>,
}

/// One tag's merged percentiles.
#[derive(Serialize)]
struct TagRow {
    tag: String,
    #[serde(flatten)]
    percentiles: PhaseSummary,
}

pub(crate) fn run(args: &HlogArgs) -> Result<ExitCode> {
    let mut merged: BTreeMap<String, Histogram<u64>> = BTreeMap::new();
    let mut files = Vec::new();
    let (mut first, mut last) = (f64::INFINITY, f64::NEG_INFINITY);
    let mut troubled = false;
    for path in &args.files {
        let name = path.display().to_string();
        let mut report = FileReport {
            path: name.clone(),
            intervals: 0,
            bad_lines: 0,
            error: None,
        };
        let text = match std::fs::read(path) {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(e) => {
                eprintln!("warning: {name}: cannot read it ({e}); the other logs are merged");
                report.error = Some(e.to_string());
                troubled = true;
                files.push(report);
                continue;
            }
        };
        let mut unmergeable = Vec::new();
        read(
            &text,
            |i: Interval| {
                let when = if args.absolute {
                    i.start
                } else {
                    i.since_log_start
                };
                if args.start.is_some_and(|s| when < s) || args.end.is_some_and(|e| when > e) {
                    return;
                }
                let tag = i.tag.unwrap_or_else(|| UNTAGGED.to_string());
                let into = merged
                    .entry(tag)
                    .or_insert_with(|| Histogram::new(3).expect("3 significant digits"));
                if let Err(e) = into.add(&i.histogram) {
                    unmergeable.push(format!("{e:?}"));
                    return;
                }
                report.intervals += 1;
                first = first.min(i.start);
                last = last.max(i.start + i.len);
            },
            |b: BadLine| {
                if report.bad_lines < LISTED as u64 {
                    eprintln!("warning: {name}:{}: {}; skipped", b.line, b.why);
                }
                report.bad_lines += 1;
            },
        );
        if report.bad_lines > LISTED as u64 {
            eprintln!(
                "warning: {name}: {} more lines could not be read",
                report.bad_lines - LISTED as u64
            );
        }
        if let Some(e) = unmergeable.first() {
            eprintln!(
                "warning: {name}: {} interval(s) hold values out of range ({e}); left out",
                unmergeable.len()
            );
        }
        troubled |= report.bad_lines > 0 || !unmergeable.is_empty();
        files.push(report);
    }
    let wall = |s: f64| (s.is_finite() && s > 0.0).then(|| WallTime(Duration::from_secs_f64(s)));
    let report = Report {
        kind: "hlog",
        intervals: files.iter().map(|f| f.intervals).sum(),
        files,
        // Timestamps that count from the epoch (a log with StartTime or
        // BaseTime); relative ones say nothing about the wall clock.
        start: wall(first).filter(|t| t.0 > Duration::from_secs(365 * 24 * 3600)),
        end: wall(last).filter(|t| t.0 > Duration::from_secs(365 * 24 * 3600)),
        tags: ordered(&merged),
    };
    let mut out = std::io::stdout().lock();
    match args.format {
        HlogFormat::Json => {
            serde_json::to_writer(&mut out, &report)?;
            writeln!(out)?;
        }
        HlogFormat::Text => text(&mut out, &report)?,
    }
    out.flush().context("writing the output")?;
    Ok(if troubled {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Our phases in handshake order, then other tags by name.
fn ordered(merged: &BTreeMap<String, Histogram<u64>>) -> Vec<TagRow> {
    let rank = |tag: &str| {
        Phase::ALL
            .iter()
            .position(|p| p.name() == tag)
            .unwrap_or(Phase::ALL.len())
    };
    let mut tags: Vec<_> = merged
        .iter()
        .filter(|(_, h)| !h.is_empty())
        .map(|(t, h)| TagRow {
            tag: t.clone(),
            percentiles: PhaseSummary::of(h),
        })
        .collect();
    tags.sort_by(|a, b| {
        rank(&a.tag)
            .cmp(&rank(&b.tag))
            .then_with(|| a.tag.cmp(&b.tag))
    });
    tags
}

fn text(out: &mut impl Write, r: &Report) -> Result<()> {
    let span = match (r.start, r.end) {
        (Some(a), Some(b)) => {
            let (mut x, mut y) = (Vec::new(), Vec::new());
            a.write_rfc3339(&mut x);
            b.write_rfc3339(&mut y);
            format!(
                ", {} to {}",
                String::from_utf8_lossy(&x),
                String::from_utf8_lossy(&y)
            )
        }
        _ => String::new(),
    };
    writeln!(
        out,
        "{} interval(s) from {} log(s){span}; values as recorded (handshake-probe's: µs)",
        r.intervals,
        r.files.len()
    )?;
    if r.tags.is_empty() {
        writeln!(out, "no intervals to merge")?;
        return Ok(());
    }
    writeln!(
        out,
        "{:<14} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>11}",
        "tag", "count", "min", "p50", "p90", "p99", "p99.9", "max", "mean"
    )?;
    for TagRow {
        tag,
        percentiles: s,
    } in &r.tags
    {
        writeln!(
            out,
            "{:<14} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>11.1}",
            tag, s.count, s.min, s.p50, s.p90, s.p99, s.p999, s.max, s.mean
        )?;
    }
    Ok(())
}
