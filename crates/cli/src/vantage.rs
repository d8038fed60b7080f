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
        let l = label.len();
        // Seen by both taps: a full rung from the sender's side. Lost: it
        // starts at the sender's tap and stops short (X). Born between the
        // taps: it starts short (X) and reaches the other.
        let (rung, note) = match (p.sent_us, p.arrived_us) {
            (Some(_), Some(_)) => (Rung::Whole, ""),
            (Some(_), None) => (Rung::Lost, "lost between the taps"),
            (None, _) => (Rung::Born, "born between the taps"),
        };
        let (at_client, at_server) = if from_client {
            (p.sent_us, p.arrived_us)
        } else {
            (p.arrived_us, p.sent_us)
        };
        let (left, right) = match rung {
            Rung::Whole => (at_client, at_server),
            Rung::Lost if from_client => (at_client, None),
            Rung::Lost => (None, at_server),
            Rung::Born if from_client => (None, at_server),
            Rung::Born => (at_client, None),
        };
        let rung = rung.draw(&label, from_client, l);
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

/// What a ladder rung shows of a packet.
#[derive(Clone, Copy)]
enum Rung {
    /// Both taps saw it.
    Whole,
    /// Its sender's tap saw it, the other did not.
    Lost,
    /// Only the receiving side's tap saw it.
    Born,
}

impl Rung {
    /// The rung for `label` (`l` characters) sent rightward (by the
    /// client) or leftward, [`LANE`] wide.
    fn draw(self, label: &str, rightward: bool, l: usize) -> String {
        let (dashes, head, born) = match self {
            Self::Whole => (LANE - l - 5, if rightward { '>' } else { '<' }, false),
            Self::Lost => ((LANE / 2 + 4).saturating_sub(l + 4), 'X', false),
            Self::Born => (
                (LANE / 2).saturating_sub(l + 5),
                if rightward { '>' } else { '<' },
                true,
            ),
        };
        let d = "-".repeat(dashes);
        let x = if born { "X" } else { "" };
        let s = if rightward {
            format!("{x}-- {label} {d}{head}")
        } else {
            format!("{head}{d} {label} --{x}")
        };
        // A partial rung keeps to the side whose tap saw it.
        match self {
            Self::Whole => s,
            Self::Lost if rightward => format!("{s:<LANE$}"),
            Self::Born if !rightward => format!("{s:<LANE$}"),
            _ => format!("{s:>LANE$}"),
        }
    }
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
