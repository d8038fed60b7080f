//! `decode --vantage client=FILE --vantage server=FILE`: both captures read
//! with their wire logs, merged by hsp-merge, and handed to `decode`'s
//! output as one record per connection.

use std::fmt::Write as _;
use std::path::PathBuf;

use hsp_core::path::WireLog;
use hsp_core::{ConnectionRecord, Params};
use hsp_merge::{Capture, MergeReport};
use hsp_pcap::{FileTotals, PcapError, PcapFile, Prefetched};

use crate::args::{AnalysisArgs, VantageArg};

/// The files of each side, for [`crate::decode::Input::Vantage`].
pub(crate) fn sides(args: &[VantageArg]) -> Result<(Vec<PathBuf>, Vec<PathBuf>), String> {
    let pick = |client: bool| -> Vec<PathBuf> {
        args.iter()
            .filter(|a| a.client == client)
            .map(|a| a.path.clone())
            .collect()
    };
    let (c, s) = (pick(true), pick(false));
    if c.is_empty() || s.is_empty() {
        return Err(
            "--vantage needs both ends: client=FILE (near the client) and server=FILE (near the server)"
                .into(),
        );
    }
    Ok((c, s))
}

/// Reads both sides and merges them; the totals of every file read.
pub(crate) fn read(
    client: &[PathBuf],
    server: &[PathBuf],
    args: &AnalysisArgs,
    ports: &[u16],
    params: &Params,
) -> Result<(Vec<ConnectionRecord>, Vec<FileTotals>, MergeReport), PcapError> {
    let (c, ct) = side(client, args, ports, params)?;
    let (s, st) = side(server, args, ports, params)?;
    let (records, report) = hsp_merge::merge(c, s);
    Ok((records, [ct, st].concat(), report))
}

fn side(
    paths: &[PathBuf],
    args: &AnalysisArgs,
    ports: &[u16],
    params: &Params,
) -> Result<(Capture, Vec<FileTotals>), PcapError> {
    let mut conns: Vec<(ConnectionRecord, WireLog)> = Vec::new();
    let sink = |r, w| conns.push((r, w));
    let totals = if paths.len() == 1 {
        let mut file = PcapFile::open(&paths[0])?;
        if let Some(f) = &args.filter {
            file.set_filter(f)?;
        }
        hsp_pcap::analyze_with_wire(&mut Prefetched::new(file), ports, params, sink)
    } else {
        let parts = hsp_pcap::plan(paths).into_iter().flatten().collect();
        let mut src = hsp_pcap::Chain::new(parts, args.filter.as_deref());
        hsp_pcap::analyze_with_wire(&mut src, ports, params, sink)
    };
    let span_us = totals.first.map(|first| {
        let us = |d: std::time::Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        (us(first), us(first + totals.span))
    });
    Ok((
        Capture {
            name: names(paths),
            conns,
            span_us,
        },
        vec![totals],
    ))
}

fn names(paths: &[PathBuf]) -> String {
    match paths {
        [one] => one.display().to_string(),
        _ => paths
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(" + "),
    }
}

/// The summary's lines about the two vantage points.
pub(crate) fn text(o: &mut String, r: &MergeReport) {
    let _ = writeln!(
        o,
        "  vantage points: client {}, server {}{}",
        r.client,
        r.server,
        if r.swapped { " (given swapped)" } else { "" }
    );
    if !r.merged {
        let _ = writeln!(
            o,
            "    not merged: each capture decoded alone (warnings above)"
        );
        return;
    }
    let _ = writeln!(
        o,
        "    {} connection(s) seen at both (by initial sequence numbers {}, by addresses {}), {} at the client's only, {} at the server's only",
        r.matched, r.matched_by_isn, r.matched_by_tuple, r.client_only, r.server_only
    );
    if let (Some(off), Some(unc)) = (r.offset_us, r.offset_uncertainty_us) {
        let _ = writeln!(
            o,
            "    server's clock minus client's: {:+.3} ms ± {:.3} ms (from {} packets client to server, {} back)",
            off as f64 / 1e3,
            unc as f64 / 1e3,
            r.packets_matched[0],
            r.packets_matched[1]
        );
    }
}

/// A file's name for the `Input`'s display.
pub(crate) fn input_name(client: &[PathBuf], server: &[PathBuf]) -> String {
    format!("client {} / server {}", names(client), names(server))
}

/// Lane width between the two taps' columns.
const LANE: usize = 46;
/// Rungs drawn of packets both taps saw (lost and born ones are all drawn).
const RUNGS: usize = 30;

/// The ladder diagram of a merged connection: client's tap on the left,
/// server's on the right, one rung per packet (pure ACKs left out) with
/// its time at each tap; a packet lost between the taps stops in the
/// middle, one born between them starts there.
pub(crate) fn ladder(out: &mut impl std::io::Write, r: &ConnectionRecord) -> std::io::Result<()> {
    let Some(path) = r.path.as_deref() else {
        return Ok(());
    };
    if path.packets.is_empty() {
        return Ok(());
    }
    let t = |v: Option<u64>| v.map_or_else(String::new, crate::output::fmt_us);
    let ends = format!("{} -> {}", r.client.as_deref().unwrap_or("?"), r.server);
    writeln!(
        out,
        "      client tap  {ends:<w$}  server tap",
        w = LANE + 2
    )?;
    let mut hidden = 0;
    for (i, p) in path.packets.iter().enumerate() {
        // Every lost or born rung; of those both taps saw, the first ones.
        if i >= RUNGS && p.sent_us.is_some() && p.arrived_us.is_some() {
            hidden += 1;
            continue;
        }
        let label: String = p.what.chars().take(LANE - 10).collect();
        let from_client = p.from == "client";
        let (left, rung, right, note) = match (p.sent_us, p.arrived_us, from_client) {
            (Some(_), Some(_), true) => (
                p.sent_us,
                format!("-- {label} {}>", "-".repeat(LANE - label.len() - 5)),
                p.arrived_us,
                "",
            ),
            (Some(_), Some(_), false) => (
                p.arrived_us,
                format!("<{} {label} --", "-".repeat(LANE - label.len() - 5)),
                p.sent_us,
                "",
            ),
            (Some(_), None, true) => (
                p.sent_us,
                format!(
                    "{:<w$}",
                    format!(
                        "-- {label} {}X",
                        "-".repeat((LANE / 2 + 4).saturating_sub(label.len() + 4))
                    ),
                    w = LANE
                ),
                None,
                "lost between the taps",
            ),
            (Some(_), None, false) => (
                None,
                format!(
                    "{:>w$}",
                    format!(
                        "X{} {label} --",
                        "-".repeat((LANE / 2 + 4).saturating_sub(label.len() + 4))
                    ),
                    w = LANE
                ),
                p.sent_us,
                "lost between the taps",
            ),
            // Born between the taps, in `from`'s name, reaching the other.
            (None, _, true) => (
                None,
                format!(
                    "{:>w$}",
                    format!(
                        "X-- {label} {}>",
                        "-".repeat((LANE / 2).saturating_sub(label.len() + 5))
                    ),
                    w = LANE
                ),
                p.arrived_us,
                "born between the taps",
            ),
            (None, _, false) => (
                p.arrived_us,
                format!(
                    "{:<w$}",
                    format!(
                        "<{} {label} --X",
                        "-".repeat((LANE / 2).saturating_sub(label.len() + 5))
                    ),
                    w = LANE
                ),
                None,
                "born between the taps",
            ),
        };
        let line = format!("      {:>10} |{rung}| {:<10} {note}", t(left), t(right));
        writeln!(out, "{}", line.trim_end())?;
    }
    if hidden > 0 {
        writeln!(
            out,
            "      {:>10}  ... {hidden} more packet(s) seen at both taps",
            ""
        )?;
    }
    Ok(())
}

/// Two inputs that saw the same connections (their SYNs carry the same
/// initial sequence numbers) are two vantage points of one traffic: the
/// hint says how to merge them.
pub(crate) fn pairing_hint(syns: &[(String, Vec<u32>)]) -> Option<String> {
    for (i, (a, sa)) in syns.iter().enumerate() {
        for (b, sb) in &syns[i + 1..] {
            let shared = sa.iter().filter(|isn| sb.contains(isn)).count();
            // Random 32-bit ISNs: two in common is no coincidence.
            if shared >= 2 || (shared == 1 && sa.len().min(sb.len()) == 1) {
                return Some(format!(
                    "{a} and {b} saw the same connections ({shared} SYN(s) in common): two vantage points of one traffic? `decode --vantage client={a} --vantage server={b}` merges them into one record per connection, proving loss and resets between the taps (files given the wrong way round are read swapped)"
                ));
            }
        }
    }
    None
}
