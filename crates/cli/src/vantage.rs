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
