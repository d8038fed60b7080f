//! `decode` and `capture`: read captures (files, or a live interface),
//! follow TCP, and give every MySQL connection a record and a verdict, then
//! a summary. `decode --packets` lists packets instead (see `packets`).

use std::fmt::Write as _;
use std::io::{BufWriter, Write};
use std::process::ExitCode;

use anyhow::{Context, Result};
use hsp_core::{ConnectionRecord, Params, Stats};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use hsp_pcap::{LiveCapture, Next, PcapError, PcapFile, Prefetched, RecordSource};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::args::{AnalysisArgs, CaptureArgs, DecodeArgs, Format};
use crate::output;

pub(crate) fn run(args: &DecodeArgs) -> Result<ExitCode> {
    let mut ports = vec![3306];
    ports.extend(&args.common.ports);
    if !args.vantage.is_empty() {
        let (client, server) =
            crate::vantage::sides(&args.vantage).map_err(|e| anyhow::anyhow!(e))?;
        return analyze(&args.common, vec![Input::Vantage { client, server }], false);
    }
    if !args.packets {
        return analyze(&args.common, file_inputs(args), !args.no_progress);
    }
    crate::packets::run(args, &ports)
}

/// The inputs of `decode`: files given together are one capture when
/// their times follow each other (see [`hsp_pcap::plan`]), unless
/// `--separate`.
pub(crate) fn file_inputs(args: &DecodeArgs) -> Vec<Input> {
    if args.separate || args.files.len() < 2 {
        return args.files.iter().cloned().map(Input::File).collect();
    }
    hsp_pcap::plan(&args.files)
        .into_iter()
        .map(|mut g| match g.len() {
            1 => Input::File(g.remove(0).path),
            _ => Input::Chain(g),
        })
        .collect()
}

pub(crate) fn output_writer(args: &AnalysisArgs) -> Result<BufWriter<Box<dyn Write + Send>>> {
    let w: Box<dyn Write + Send> = match &args.output {
        Some(p) => {
            Box::new(std::fs::File::create(p).with_context(|| format!("-o {}", p.display()))?)
        }
        None => Box::new(std::io::stdout()),
    };
    Ok(BufWriter::with_capacity(1 << 16, w))
}

/// Patterns worth a sentence of their own in the summary, gathered from
/// the records as they stream by (counts and a few numbers, nothing kept).
#[derive(Debug, Default)]
struct Patterns {
    stalled_then_closed: Vec<f64>,
    timeouts_near_server: u64,
    timeouts: Vec<f64>,
    greeting_lost: u64,
    capture_loss: u64,
}

impl Patterns {
    fn add(&mut self, r: &ConnectionRecord) {
        let Some(tcp) = &r.tcp else { return };
        if tcp.capture_loss > 0 {
            self.capture_loss += 1;
        }
        let total = r
            .phases_us
            .get(hsp_core::Phase::Total)
            .map_or(0.0, |d| d.as_secs_f64());
        match r.verdict {
            hsp_core::Verdict::NetworkStall if tcp.closed_by == Some("server") => {
                self.stalled_then_closed.push(total);
                if tcp.retransmits_s2c > 0 && r.phase == hsp_core::Phase::ClientReply {
                    self.greeting_lost += 1;
                }
            }
            hsp_core::Verdict::ServerTimeout => {
                self.timeouts.push(total);
                if tcp.vantage == hsp_core::record::Vantage::NearServer {
                    self.timeouts_near_server += 1;
                }
            }
            _ => {}
        }
    }

    fn sentences(&self) -> Vec<String> {
        let median = |v: &[f64]| {
            let mut v = v.to_vec();
            v.sort_by(f64::total_cmp);
            v.get(v.len() / 2).copied().unwrap_or_default()
        };
        let mut out = Vec::new();
        if !self.stalled_then_closed.is_empty() {
            out.push(format!(
                "{} connection(s) were closed by the server (median {:.1} s into the handshake) while handshake data was being lost (retransmitted, or sent and never seen): network loss between client and server, not the server{}",
                self.stalled_then_closed.len(),
                median(&self.stalled_then_closed),
                if self.greeting_lost > 0 {
                    format!("; in {} of them the server's greeting never got through", self.greeting_lost)
                } else {
                    String::new()
                }
            ));
        }
        if !self.timeouts.is_empty() {
            out.push(format!(
                "{} connection(s) were dropped by the server at connect_timeout (median {:.1} s) because no login reached it: a late client, or loss on the way{}",
                self.timeouts.len(),
                median(&self.timeouts),
                if self.timeouts_near_server > 0 {
                    format!("; {} of them were captured near the server, which cannot see packets lost before it: capture at the client to tell", self.timeouts_near_server)
                } else {
                    String::new()
                }
            ));
        }
        if self.capture_loss > 0 {
            out.push(format!(
                "{} connection(s) have bytes the capture missed (gaps or snaplen): their packets are not decoded across the gap",
                self.capture_loss
            ));
        }
        out
    }
}

/// Totals over the inputs of one run.
#[derive(Debug, Default, Serialize)]
struct CaptureTotals {
    files: usize,
    records: u64,
    tcp_segments: u64,
    snaplen_cut: u64,
    ip_fragments: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    kernel_dropped: Option<u64>,
    span_s: f64,
    evicted: u64,
    left_out: u64,
    unreadable: Vec<String>,
    damaged: Vec<String>,
    /// Files of a link type not decoded.
    skipped: Vec<String>,
    warnings: u64,
}

impl CaptureTotals {
    /// What the capture lost, counted (zeros included).
    fn loss(&self, patterns: &Patterns) -> [(u64, &'static str); 4] {
        [
            (self.snaplen_cut, "record(s) cut short by the snaplen"),
            (self.ip_fragments, "IPv4 fragment(s), not reassembled"),
            (
                self.kernel_dropped.unwrap_or(0),
                "packet(s) dropped by the kernel before the capture saw them",
            ),
            (
                patterns.capture_loss,
                "connection(s) with bytes the capture missed",
            ),
        ]
    }

    /// The report's table of the capture itself.
    fn table(
        &self,
        patterns: &Patterns,
        merge: Option<&hsp_merge::MergeReport>,
    ) -> hsp_report::Table {
        let mut rows = vec![
            ("files".to_string(), self.files.to_string()),
            ("records".to_string(), self.records.to_string()),
            ("capture span".to_string(), format!("{:.2} s", self.span_s)),
        ];
        for (n, what) in self.loss(patterns) {
            if n > 0 {
                rows.push(("capture loss".into(), format!("{n} {what}")));
            }
        }
        if self.left_out > 0 {
            rows.push((
                "left out".into(),
                format!("{} TCP connection(s) never showed MySQL", self.left_out),
            ));
        }
        for d in &self.damaged {
            rows.push(("damaged".into(), d.clone()));
        }
        for d in self.skipped.iter().chain(&self.unreadable) {
            rows.push(("not read".into(), d.clone()));
        }
        if let Some(m) = merge {
            for w in &m.warnings {
                rows.push(("vantage".into(), w.clone()));
            }
        }
        hsp_report::Table {
            title: "The capture".into(),
            caption: "What was read, and what the capture itself lost or cut (a verdict never rests on bytes it did not see; where they were missing, the record says so).".into(),
            rows,
        }
    }
    fn add(&mut self, t: &hsp_pcap::FileTotals) {
        self.files += 1;
        self.records += t.records;
        self.tcp_segments += t.tcp_segments;
        self.snaplen_cut += t.snaplen_cut;
        self.ip_fragments += t.ip_fragments;
        if let Some(d) = t.kernel_dropped {
            *self.kernel_dropped.get_or_insert(0) += d;
        }
        self.span_s += t.span.as_secs_f64();
        self.evicted += t.evicted;
        self.left_out += t.left_out;
        self.warnings += t.warnings.len() as u64;
    }
}

impl Input {
    /// The input in warnings.
    pub(crate) fn name(&self) -> String {
        match self {
            Self::File(p) => p.display().to_string(),
            Self::Chain(parts) => format!(
                "{} and {} more file(s) read as one capture",
                parts[0].path.display(),
                parts.len() - 1
            ),
            Self::Live { interface, .. } => interface.clone(),
            Self::Vantage { client, server } => crate::vantage::input_name(client, server),
        }
    }
}

/// Where records come from.
pub(crate) enum Input {
    File(PathBuf),
    /// Files read as one capture, in time order.
    Chain(Vec<hsp_pcap::Part>),
    Live {
        interface: String,
        stop: Arc<AtomicBool>,
    },
    /// Two captures of the same traffic, near the client and near the
    /// server.
    Vantage {
        client: Vec<PathBuf>,
        server: Vec<PathBuf>,
    },
}

/// A file source that advances a progress bar by the bytes its records
/// take in the file (record headers estimated: pcap's are 16 bytes,
/// pcapng's enhanced packet blocks about 32).
struct WithProgress<S> {
    file: S,
    bar: ProgressBar,
    per_record: u64,
    bytes: u64,
    since: u32,
}

impl<S: RecordSource> RecordSource for WithProgress<S> {
    fn linktype(&self) -> i32 {
        self.file.linktype()
    }

    fn notes(&self) -> Vec<String> {
        self.file.notes()
    }

    fn next(&mut self) -> Result<Next<'_>, PcapError> {
        let next = self.file.next()?;
        if let Next::Record(r) = &next {
            self.bytes += self.per_record + r.data.len() as u64;
            self.since += 1;
            if self.since == 4096 {
                self.since = 0;
                self.bar.set_position(self.bytes);
            }
        }
        Ok(next)
    }
}

fn file_bar(paths: &[&Path], enabled: bool) -> (ProgressBar, u64) {
    let Some(&path) = paths.first() else {
        return (ProgressBar::hidden(), 16);
    };
    let size: Option<u64> = paths
        .iter()
        .map(|p| {
            std::fs::metadata(p)
                .ok()
                .filter(|m| m.is_file())
                .map(|m| m.len())
        })
        .sum();
    let (Some(size), true) = (size, enabled && std::io::stderr().is_terminal()) else {
        return (ProgressBar::hidden(), 16);
    };
    let mut magic = [0u8; 4];
    let pcapng = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
        .is_ok_and(|()| magic == [0x0a, 0x0d, 0x0d, 0x0a]);
    let bar = ProgressBar::new(size).with_style(
        ProgressStyle::with_template(
            "{spinner} {prefix} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta})",
        )
        .expect("valid template"),
    );
    bar.set_prefix(path.display().to_string());
    (bar, if pcapng { 32 } else { 16 })
}

/// Connection analysis: one record per MySQL connection, from files or a
/// live capture.
fn analyze(args: &AnalysisArgs, inputs: Vec<Input>, progress: bool) -> Result<ExitCode> {
    let live_input = inputs.iter().any(|i| matches!(i, Input::Live { .. }));
    let mut ports = vec![3306];
    ports.extend(&args.ports);
    let params = Params {
        slow: args.slow,
        connect_timeout: args.connect_timeout,
        wait_timeout: args.wait_timeout,
        ..Params::default()
    };
    let mut logs = crate::logs::ServerLogs::open(args)?;
    let mut out = output_writer(args)?;
    let mut stats = Stats::default();
    let mut patterns = Patterns::default();
    let mut totals = CaptureTotals::default();
    let mut write_error = None;
    let mut line = Vec::new();
    let mut merge_report = None;
    // Each file input's first SYNs, for the pairing hint.
    let mut syns: Vec<(String, Vec<u32>)> = Vec::new();
    let names: Vec<String> = inputs.iter().map(Input::name).collect();
    let mut collector = args.report.as_ref().map(|_| hsp_report::Collector::new());
    for input in inputs {
        let live = matches!(input, Input::Live { .. });
        let name = input.name();
        // A bar on the terminal, unless the records go there too.
        let records_on_tty = args.output.is_none()
            && std::io::stdout().is_terminal()
            && !(args.quiet && args.format == Format::Text);
        let bar_wanted = progress && !records_on_tty;
        let sink = |mut r: ConnectionRecord| {
            logs.annotate(&mut r);
            stats.record(&r);
            if let Some(c) = collector.as_mut() {
                c.add(&r);
            }
            patterns.add(&r);
            if write_error.is_none() {
                let written = write_connection(&mut out, &mut line, &r, args).and_then(|()| {
                    // Live records are for watching: out as each connection ends.
                    if live {
                        out.flush().map_err(Into::into)
                    } else {
                        Ok(())
                    }
                });
                if let Err(e) = written {
                    write_error = Some(e);
                }
            }
        };
        let result = match input {
            Input::Chain(parts) => {
                let paths: Vec<&Path> = parts.iter().map(|p| p.path.as_path()).collect();
                let (bar, per_record) = file_bar(&paths, bar_wanted);
                let mut src = WithProgress {
                    file: hsp_pcap::Chain::new(parts.clone(), args.filter.as_deref()),
                    bar,
                    per_record,
                    bytes: 0,
                    since: 0,
                };
                let t = hsp_pcap::analyze(&mut src, &ports, &params, sink);
                src.bar.finish_and_clear();
                totals.files += parts.len() - 1;
                Ok(t)
            }
            Input::File(path) => {
                let (bar, per_record) = file_bar(&[&path], bar_wanted);
                let opened = PcapFile::open(&path).and_then(|mut file| {
                    if let Some(f) = &args.filter {
                        file.set_filter(f)?;
                    }
                    Ok(file)
                });
                opened.map(|file| {
                    let mut src = WithProgress {
                        file: Prefetched::new(file),
                        bar,
                        per_record,
                        bytes: 0,
                        since: 0,
                    };
                    let t = hsp_pcap::analyze(&mut src, &ports, &params, sink);
                    src.bar.finish_and_clear();
                    t
                })
            }
            Input::Vantage { client, server } => crate::vantage::read(
                &client, &server, args, &ports, &params,
            )
            .map(|(records, mut files, report)| {
                let mut sink = sink;
                for r in records {
                    sink(r);
                }
                merge_report = Some(report);
                let last = files.pop().unwrap_or_default();
                for t in &files {
                    totals.add(t);
                }
                last
            }),
            Input::Live { interface, stop } => {
                LiveCapture::open(&interface, args.filter.as_deref(), stop).map(|mut src| {
                    eprintln!(
                        "capturing on {interface} (link type {}); Ctrl-C for the summary",
                        src.linktype()
                    );
                    hsp_pcap::analyze(&mut src, &ports, &params, sink)
                })
            }
        };
        match result {
            Ok(t) => {
                if !live && merge_report.is_none() {
                    syns.push((name.clone(), t.syn_sample.clone()));
                }
                totals.add(&t);
                for w in &t.warnings {
                    eprintln!("warning: {name}: {w}");
                }
                if let Some(dlt) = t.unsupported_link_type {
                    let w = format!(
                        "{name}: link type {dlt}{} is not one handshake-probe decodes ({}); its {} record(s) were skipped",
                        hsp_pcap::link_type_name(dlt)
                            .map_or_else(String::new, |n| format!(" ({n})")),
                        hsp_pcap::SUPPORTED_LINK_TYPES,
                        t.records
                    );
                    eprintln!("warning: {w}");
                    totals.skipped.push(w);
                }
                if let Some(d) = t.damaged {
                    eprintln!("warning: {d}; every connection decoded before it was reported");
                    totals.damaged.push(d);
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                totals.unreadable.push(e.to_string());
            }
        }
        if let Some(e) = write_error.take() {
            return Err(e);
        }
    }
    let summary = stats.summary();
    let log_reports = logs.reports(summary.start.zip(summary.end));
    for w in log_reports.iter().flat_map(|r| &r.warnings) {
        eprintln!("warning: {w}");
    }
    for w in merge_report.iter().flat_map(|r| &r.warnings) {
        eprintln!("warning: {w}");
    }
    if let Some(h) = crate::vantage::pairing_hint(&syns) {
        eprintln!("hint: {h}");
    }
    if let (Some(path), Some(c)) = (&args.report, &collector) {
        let what = if live_input { "capture" } else { "decode" };
        let mut header = vec![("input".to_string(), names.join(", "))];
        header.extend(crate::report::header_rows(
            &summary,
            (
                args.connect_timeout,
                "--connect-timeout; MySQL's default is 10 s",
            ),
            args.wait_timeout.map(|w| (w, "--wait-timeout")),
            args.slow,
        ));
        let r = hsp_report::Report {
            title: format!("handshake-probe {what}: {}", names.join(", ")),
            header,
            connect_timeout: args.connect_timeout,
            tables: vec![{
                let mut t = totals.table(&patterns, merge_report.as_ref());
                t.rows.extend(c.capture_rows());
                t
            }],
            interrupted: false,
        };
        crate::report::write(path, &r, &stats, c)?;
    }
    match args.format {
        Format::Text => {
            let mut o = String::new();
            let _ = writeln!(
                o,
                "{}handshake-probe {}: {} connection(s) in {} input(s), {} records, {:.2} s of capture",
                if args.quiet { "" } else { "\n" },
                if live_input { "capture" } else { "decode" },
                summary.connections,
                totals.files,
                totals.records,
                totals.span_s
            );
            output::wall_span(&mut o, &summary);
            let _ = writeln!(
                o,
                "  rules: connect_timeout {:.0} s, wait_timeout {}, slow over {}",
                args.connect_timeout.as_secs_f64(),
                args.wait_timeout
                    .map_or_else(|| "unknown".into(), |w| format!("{:.0} s", w.as_secs_f64())),
                output::fmt_us(hsp_core::phase::micros(args.slow))
            );
            if totals.evicted > 0 {
                let _ = writeln!(o, "  {} idle connection(s) evicted", totals.evicted);
            }
            for (n, what) in totals.loss(&patterns) {
                if n > 0 {
                    let _ = writeln!(o, "  capture loss: {n} {what}");
                }
            }
            for d in &totals.damaged {
                let _ = writeln!(o, "  damaged: {d}");
            }
            for s in &totals.skipped {
                let _ = writeln!(o, "  skipped: {s}");
            }
            if totals.warnings > 0 {
                let _ = writeln!(
                    o,
                    "  {} warning(s) about damaged records (on stderr)",
                    totals.warnings
                );
            }
            if summary.connections == 0 && totals.skipped.len() < totals.files {
                let _ = writeln!(
                    o,
                    "  no MySQL connection: {} TCP segment(s), none to port(s) {} nor to a server that showed MySQL (a greeting, or a command answered in sequence)",
                    totals.tcp_segments,
                    ports
                        .iter()
                        .map(u16::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            if totals.left_out > 0 {
                let _ = writeln!(
                    o,
                    "  {} TCP connection(s) never showed MySQL (no greeting, no command answered in sequence) and were left out: name their server's port with --port",
                    totals.left_out
                );
            }
            crate::logs::text(&mut o, &log_reports);
            if let Some(r) = &merge_report {
                crate::vantage::text(&mut o, r);
            }
            output::sections(&mut o, &summary, true);
            let mut advice = patterns.sentences();
            advice.extend(output::advice(args.connect_timeout.as_secs_f64(), &summary));
            if !advice.is_empty() {
                let _ = writeln!(o);
                for a in advice {
                    let _ = writeln!(o, "{a}");
                }
            }
            out.write_all(o.as_bytes())?;
        }
        Format::Json | Format::Jsonl => {
            #[derive(Serialize)]
            struct DecodeSummary<'a> {
                #[serde(flatten)]
                summary: &'a hsp_core::Summary,
                #[serde(flatten)]
                totals: &'a CaptureTotals,
                connect_timeout_s: f64,
                #[serde(skip_serializing_if = "<[_]>::is_empty")]
                server_logs: &'a [hsp_errlog::LogReport],
                #[serde(skip_serializing_if = "Option::is_none")]
                vantage: Option<&'a hsp_merge::MergeReport>,
            }
            serde_json::to_writer(
                &mut out,
                &DecodeSummary {
                    summary: &summary,
                    totals: &totals,
                    connect_timeout_s: args.connect_timeout.as_secs_f64(),
                    server_logs: &log_reports,
                    vantage: merge_report.as_ref(),
                },
            )?;
            out.write_all(b"\n")?;
        }
    }
    out.flush().context("writing output")?;
    if !totals.unreadable.is_empty() || !totals.skipped.is_empty() {
        return Ok(ExitCode::from(2));
    }
    let failed = summary.connections - stats.count(hsp_core::Verdict::Ok);
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `capture`: a live capture until Ctrl-C, SIGTERM or `--duration`.
pub(crate) fn capture(args: &CaptureArgs) -> Result<ExitCode> {
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        let duration = args.duration;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the signal handler")?;
        std::thread::spawn(move || {
            rt.block_on(async {
                let mut term =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
                let term = async {
                    match term.as_mut() {
                        Some(t) => {
                            t.recv().await;
                        }
                        None => std::future::pending().await,
                    }
                };
                let limit = async {
                    match duration {
                        Some(d) => tokio::time::sleep(d).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    () = term => {}
                    () = limit => {}
                }
            });
            stop.store(true, Ordering::Relaxed);
        });
    }
    analyze(
        &args.common,
        vec![Input::Live {
            interface: args.interface.clone(),
            stop,
        }],
        false,
    )
}

fn write_connection(
    out: &mut impl Write,
    line: &mut Vec<u8>,
    r: &ConnectionRecord,
    args: &AnalysisArgs,
) -> Result<()> {
    match args.format {
        Format::Jsonl => {
            line.clear();
            r.write_json(line);
            line.push(b'\n');
            out.write_all(line)?;
        }
        Format::Text if !args.quiet => {
            let total = r
                .phases_us
                .get(hsp_core::Phase::Total)
                .map_or(0, hsp_core::phase::micros);
            writeln!(
                out,
                "{:>5} {} -> {} {:<15} {:<15} {:<12} {:>9}  {}",
                r.stream.unwrap_or_default(),
                r.client.as_deref().unwrap_or("?"),
                r.server,
                r.verdict.name(),
                r.outcome,
                r.phase.name(),
                output::fmt_us(total),
                r.evidence.first().map_or("", String::as_str)
            )?;
            if r.verdict != hsp_core::Verdict::Ok {
                crate::vantage::ladder(out, r)?;
            }
        }
        _ => {}
    }
    Ok(())
}
