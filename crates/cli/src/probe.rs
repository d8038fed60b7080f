//! The probe command: flags to a validated [`ProbeConfig`], the run on a
//! tokio runtime, records streamed to the chosen output as connections
//! end, then the summary (see `output`).

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use hsp_core::phase::micros;
use hsp_core::stats::IntervalHistograms;
use hsp_core::{ConnectionRecord, Verdict};
use hsp_probe::attempt::Shared;
use hsp_probe::session::ServerSnapshot;
use hsp_probe::{Credentials, ProbeConfig, SslMode};
use hsp_wire::client::Secret;
use indicatif::{ProgressBar, ProgressStyle};
use tokio_util::sync::CancellationToken;

use crate::args::{ProbeArgs, ProbeFormat, SslModeArg};
use crate::output::{self, RunMeta};
use crate::status::StatusReport;

/// The default threads per CPU (each still at most one per worker). The
/// server and the probe share the machine, and the kernel balances many
/// runnable threads better than a few that each juggle connections: at
/// `-c 8` on 2 CPUs, 8 threads made 19.2k handshakes/s where 2 made 17.0k,
/// and the server spent 50 µs on each connection instead of 64 (the
/// probe's own CPU per handshake the same); at `-c 32`, 8 threads did
/// better than 2 and than 32 (`scripts/bench-probe.sh`).
const THREADS_PER_CPU: usize = 4;

/// Where connect_timeout came from, for the report.
#[derive(Debug, Clone, Copy)]
pub(crate) enum TimeoutSource {
    Flag,
    Server,
    Assumed,
}

impl TimeoutSource {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Flag => "flag",
            Self::Server => "server",
            Self::Assumed => "assumed",
        }
    }

    pub(crate) fn describe(self) -> &'static str {
        match self {
            Self::Flag => "--connect-timeout",
            Self::Server => "read from the server",
            Self::Assumed => "assumed: MySQL's default; pass --connect-timeout or --user to know",
        }
    }
}

fn split_target(t: &str) -> Result<(String, u16)> {
    hsp_probe::config::split_target(t).map_err(anyhow::Error::msg)
}

fn password(args: &ProbeArgs) -> Result<Option<Secret>> {
    if let Some(path) = &args.password_file {
        let pw = hsp_probe::config::read_password_file(path)
            .with_context(|| format!("--password-file {}", path.display()))?;
        return Ok(Some(pw));
    }
    match args.password.as_deref() {
        Some("\u{0}prompt") => {
            let pw = rpassword::prompt_password("Enter password: ")
                .context("-p: cannot read the password from the terminal")?;
            Ok(Some(Secret::new(pw)))
        }
        Some(p) => Ok(Some(Secret::new(p))),
        None => Ok(std::env::var("MYSQL_PWD").ok().map(Secret::new)),
    }
}

fn config(args: &ProbeArgs) -> Result<(ProbeConfig, TimeoutSource)> {
    // HOST[:PORT] wins over -h and -P, which may come from an option
    // file's [client] group as defaults.
    let (host, port) = match (&args.target, &args.host) {
        (Some(t), _) => {
            let (host, port) = split_target(t)?;
            let explicit = t.ends_with(&format!(":{port}")) && !t.ends_with("::1");
            match args.port {
                Some(p) if !explicit => (host, p),
                _ => (host, port),
            }
        }
        (None, Some(h)) => (h.clone(), args.port.unwrap_or(3306)),
        (None, None) if args.socket.is_some() => ("localhost".into(), args.port.unwrap_or(3306)),
        (None, None) => bail!("no server: give HOST[:PORT], or -h HOST [-P PORT]"),
    };
    let mut cfg = ProbeConfig::new(host, port);
    let pw = password(args)?;
    cfg.credentials = match (&args.user, pw) {
        (Some(u), pw) => Some(Credentials {
            user: u.clone(),
            password: pw.unwrap_or_default(),
        }),
        (None, Some(_)) if args.password.is_some() || args.password_file.is_some() => {
            bail!("a password was given without --user")
        }
        (None, _) => None,
    };
    cfg.database.clone_from(&args.database);
    cfg.auth_plugin.clone_from(&args.auth_plugin);
    cfg.get_server_public_key = args.get_server_public_key;
    cfg.ssl_mode = match args.ssl_mode {
        SslModeArg::Disabled => SslMode::Disabled,
        SslModeArg::Preferred => SslMode::Preferred,
        SslModeArg::Required => SslMode::Required,
        SslModeArg::VerifyCa => SslMode::VerifyCa,
        SslModeArg::VerifyIdentity => SslMode::VerifyIdentity,
    };
    if args.socket.is_some() {
        // The mysql client does not use TLS over a Unix socket either.
        match cfg.ssl_mode {
            SslMode::Disabled | SslMode::Preferred => cfg.ssl_mode = SslMode::Disabled,
            _ => bail!(
                "--ssl-mode {:?}: TLS over a Unix socket (-S) is not supported",
                args.ssl_mode
            ),
        }
    }
    cfg.socket.clone_from(&args.socket);
    if args.ssl_ca.is_some() && matches!(cfg.ssl_mode, SslMode::Disabled) {
        bail!("--ssl-ca needs an --ssl-mode that uses TLS");
    }
    cfg.ssl_ca.clone_from(&args.ssl_ca);
    if args.timeout.is_zero() {
        bail!("--timeout must be more than 0");
    }
    cfg.timeout = args.timeout;
    cfg.login_delay = args.login_delay;
    cfg.count = match (args.count, args.duration) {
        (None, None) => Some(10),
        (c, _) => c,
    };
    cfg.duration = args.duration;
    cfg.concurrency = args.concurrency;
    cfg.threads = args.threads.unwrap_or_else(|| {
        THREADS_PER_CPU * std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
    });
    cfg.force = args.force;
    cfg.rate = args.rate;
    cfg.latency_correction = args.latency_correction;
    cfg.interval = args.interval;
    cfg.resolve_each = args.resolve_each;
    cfg.bind = args.bind;
    cfg.family = match (args.ipv4, args.ipv6) {
        (true, _) => Some(hsp_probe::Family::V4),
        (_, true) => Some(hsp_probe::Family::V6),
        _ => None,
    };
    cfg.params.slow = args.slow;
    cfg.params.access_denied_expected = cfg.credentials.is_none();
    let source = match args.connect_timeout {
        Some(ct) => {
            cfg.params.connect_timeout = ct;
            TimeoutSource::Flag
        }
        None => TimeoutSource::Assumed,
    };
    Ok((cfg, source))
}

pub(crate) fn run(args: &ProbeArgs) -> Result<ExitCode> {
    let (mut cfg, mut source) = config(args)?;
    // A single-threaded runtime here (records, output, the first share of
    // the workers); hsp_probe::run starts one more per extra --threads,
    // each its own event loop, so a connection never crosses threads
    // (against tokio's multi-thread runtime on the 2-core VM: 10-20% less
    // CPU per handshake, no futex wake-ups).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    let out: Box<dyn Write> = match &args.output {
        Some(p) => Box::new(File::create(p).with_context(|| format!("-o {}", p.display()))?),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut out = BufWriter::new(out);
    let mut hlog_file = match &args.hdr_log {
        Some(p) => Some(File::create(p).with_context(|| format!("--hdr-log {}", p.display()))?),
        None => None,
    };
    let quiet = args.quiet;
    let note = |s: &str| {
        if !quiet {
            eprintln!("note: {s}");
        }
    };

    rt.block_on(async {
        let want_status = cfg.credentials.is_some() && !args.no_server_status;
        let before = if want_status {
            match hsp_probe::session::read_server(&cfg).await {
                Ok(s) => Some(s),
                Err(e) => {
                    note(&format!("cannot read the server's status before the run: {e}"));
                    None
                }
            }
        } else {
            None
        };
        if let (TimeoutSource::Assumed, Some(ct)) =
            (source, before.as_ref().and_then(ServerSnapshot::connect_timeout))
        {
            cfg.params.connect_timeout = ct;
            source = TimeoutSource::Server;
        }
        if let Some(wt) = before.as_ref().and_then(ServerSnapshot::wait_timeout) {
            cfg.params.wait_timeout = Some(wt);
        }
        cfg.params.back_log = before.as_ref().and_then(ServerSnapshot::back_log);
        let limit = hsp_probe::guard::limit(cfg.concurrency, before.as_ref(), cfg.force)
            .map_err(|e| anyhow::anyhow!(e))?;
        cfg.concurrency = limit.concurrency;
        if let Some(n) = &limit.note {
            note(n);
        }
        if matches!(source, TimeoutSource::Assumed) {
            note("the server's connect_timeout is assumed to be 10 s (MySQL's default); pass --connect-timeout or --user to know");
        }
        let shared = Arc::new(Shared::new(cfg.clone())?);
        let cancel = CancellationToken::new();
        {
            let cancel = cancel.clone();
            tokio::spawn(async move {
                if tokio::signal::ctrl_c().await.is_ok() {
                    cancel.cancel();
                }
            });
        }
        let (tx, mut rx) = tokio::sync::mpsc::channel::<ConnectionRecord>(1024);
        let runner = tokio::spawn(hsp_probe::run(shared.clone(), tx, cancel.clone()));

        let bar = progress_bar(&cfg, quiet);
        // The log's StartTime and BaseTime are the run's start, the
        // records' start_us clock.
        let mut hlog = match hlog_file.as_mut() {
            Some(f) => {
                hsp_core::hlog::write_header(
                    f,
                    &format!(
                        "handshake-probe {} {}: per-phase handshake latency, microseconds",
                        env!("CARGO_PKG_VERSION"),
                        cfg.target()
                    ),
                    shared.run_wall,
                )
                .context("--hdr-log: cannot write the header")?;
                Some((f, hsp_core::hlog::IntervalWriter::new()))
            }
            None => None,
        };
        let mut intervals = IntervalHistograms::new(Duration::from_secs(1));
        let mut server_version = None;
        let mut write_error = None;
        let mut line = Vec::new();
        // Handshakes the server would count in Aborted_connects: every one
        // that did not log in (an expected 1045 included).
        let mut abnormal = 0u64;
        let mut collector = args.report.as_ref().map(|_| hsp_report::Collector::new());
        while let Some(rec) = rx.recv().await {
            if let Some(c) = collector.as_mut() {
                c.add(&rec);
            }
            bar.inc(1);
            if rec.verdict != Verdict::Ok || rec.error.is_some() {
                abnormal += 1;
            }
            if server_version.is_none() {
                server_version.clone_from(&rec.server_version);
            }
            if write_error.is_none() {
                let r = match args.format {
                    ProbeFormat::Jsonl => {
                        line.clear();
                        rec.write_json(&mut line);
                        line.push(b'\n');
                        out.write_all(&line)
                    }
                    ProbeFormat::Text if args.verbose => {
                        bar.suspend(|| writeln!(out, "{}", output::ping_line(&rec)))
                    }
                    _ => Ok(()),
                };
                if let Err(e) = r {
                    write_error = Some(e);
                    cancel.cancel();
                }
            }
            if let Some((f, w)) = hlog.as_mut() {
                let end = Duration::from_micros(
                    rec.start_us + rec.phases_us.get(hsp_core::Phase::Total).map_or(0, micros),
                );
                intervals
                    .record(end, &rec, |tag, h, start, len| w.write(f, tag, h, start, len))
                    .context("--hdr-log")?;
            }
        }
        bar.finish_and_clear();
        let report = runner.await.context("the probe run panicked")??;
        if let Some((f, w)) = hlog.as_mut() {
            intervals
                .finish(report.elapsed, |tag, h, start, len| {
                    w.write(f, tag, h, start, len)
                })
                .context("--hdr-log")?;
        }
        if let Some(e) = write_error {
            return Err(e).context("writing the output");
        }
        let after = if before.is_some() {
            match hsp_probe::session::read_server(&cfg).await {
                Ok(s) => Some(s),
                Err(e) => {
                    note(&format!("cannot read the server's status after the run: {e}"));
                    None
                }
            }
        } else {
            None
        };
        let status = StatusReport::new(before, after, abnormal);
        let summary = report.stats.summary();
        let meta = RunMeta {
            target: cfg.target(),
            addr: if cfg.socket.is_some() {
                cfg.target()
            } else {
                report
                .addrs
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
            },
            server_version,
            elapsed_s: report.elapsed.as_secs_f64(),
            handshakes_per_s: per_second(summary.connections, report.elapsed),
            concurrency: cfg.concurrency,
            threads: cfg.threads_used(),
            concurrency_note: limit.note.clone(),
            backoffs: report.backoffs.iter().map(|b| b.sentence()).collect(),
            missed_starts: report.missed_starts.len() as u64,
            interrupted: report.interrupted,
            connect_timeout_s: cfg.params.connect_timeout.as_secs_f64(),
            connect_timeout_source: source.name(),
            connect_timeout_note: source.describe(),
            slow_s: cfg.params.slow.as_secs_f64(),
            credentials: cfg.credentials.is_some(),
            dns_us: report.dns.map(micros),
        };
        if let (Some(path), Some(c)) = (&args.report, &collector) {
            let mut header = vec![
                ("target".to_string(), format!("{} [{}]", meta.target, meta.addr)),
                (
                    "server".to_string(),
                    meta.server_version.clone().unwrap_or_else(|| "unknown".into()),
                ),
            ];
            header.extend(crate::report::header_rows(
                &summary,
                (cfg.params.connect_timeout, source.describe()),
                cfg.params.wait_timeout.map(|w| (w, "read from the server")),
                cfg.params.slow,
            ));
            header.push((
                "run".into(),
                format!(
                    "{} handshakes, concurrency {}, {:.1}/s{}",
                    summary.connections,
                    meta.concurrency,
                    meta.handshakes_per_s,
                    if meta.credentials { ", real logins" } else { ", credential-less" }
                ),
            ));
            let r = hsp_report::Report {
                title: format!("handshake-probe: {}", meta.target),
                header,
                connect_timeout: cfg.params.connect_timeout,
                tables: status.iter().map(crate::report::server_table).collect(),
                interrupted: report.interrupted,
            };
            crate::report::write(path, &r, &report.stats, c)?;
        }
        if args.format == ProbeFormat::Jsonl {
            for m in &report.missed_starts {
                writeln!(out, "{{\"type\":\"missed_start\",\"intended_us\":{}}}", micros(*m))?;
            }
        }
        match args.format {
            ProbeFormat::Text => out.write_all(output::text(&meta, &summary, status.as_ref()).as_bytes())?,
            ProbeFormat::Json | ProbeFormat::Jsonl => {
                serde_json::to_writer(
                    &mut out,
                    &output::JsonSummary {
                        meta: &meta,
                        summary: &summary,
                        server_status: status.as_ref(),
                    },
                )?;
                out.write_all(b"\n")?;
            }
        }
        out.flush()?;
        if report.interrupted && !quiet {
            eprintln!("note: interrupted; the figures cover the {} connections made", summary.connections);
        }
        let failed = summary.connections - report.stats.count(Verdict::Ok);
        Ok(if failed == 0 && summary.connections > 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        })
    })
}

fn per_second(n: u64, d: Duration) -> f64 {
    if d.is_zero() {
        0.0
    } else {
        (n as f64 / d.as_secs_f64() * 10.0).round() / 10.0
    }
}

fn progress_bar(cfg: &ProbeConfig, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = match cfg.count {
        Some(n) => ProgressBar::new(n).with_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} handshakes ({per_sec}, eta {eta})",
            )
            .expect("valid template"),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {pos} handshakes ({per_sec})")
                .expect("valid template"),
        ),
    };
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

#[cfg(test)]
mod tests {
    use super::split_target;

    #[test]
    fn targets_split_into_host_and_port() {
        assert_eq!(split_target("db1").unwrap(), ("db1".into(), 3306));
        assert_eq!(split_target("db1:3307").unwrap(), ("db1".into(), 3307));
        assert_eq!(split_target("[::1]:3307").unwrap(), ("::1".into(), 3307));
        assert_eq!(split_target("[::1]").unwrap(), ("::1".into(), 3306));
        assert_eq!(split_target("::1").unwrap(), ("::1".into(), 3306));
        let e = split_target("db1:port").unwrap_err().to_string();
        assert!(e.contains("HOST[:PORT] 'db1:port'"), "{e}");
    }
}
