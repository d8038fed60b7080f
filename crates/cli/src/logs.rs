//! `--error-log`: the server's error logs, read before the capture, each
//! record annotated as it streams by (hsp-errlog joins, hsp-core says what
//! the lines mean), and a report per log in the summary.

use std::fmt::Write as _;

use anyhow::{Context, Result};
use hsp_core::ConnectionRecord;
use hsp_core::wall::WallTime;
use hsp_errlog::{ErrorLog, LogReport};

use crate::args::AnalysisArgs;

/// The logs given, each with the server it belongs to (if named).
pub(crate) struct ServerLogs {
    logs: Vec<(Option<String>, ErrorLog)>,
}

impl ServerLogs {
    /// Reads every `--error-log`; warnings (damaged lines, an unknown
    /// format) go to stderr at once.
    pub(crate) fn open(args: &AnalysisArgs) -> Result<Self> {
        let mut logs = Vec::new();
        for a in &args.error_logs {
            let log = ErrorLog::read(&a.path, args.log_timezone)
                .with_context(|| format!("--error-log {}", a.path.display()))?;
            logs.push((a.server.map(|s| s.to_string()), log));
        }
        Ok(Self { logs })
    }

    /// Joins the logs' lines to `r`.
    pub(crate) fn annotate(&mut self, r: &mut ConnectionRecord) {
        for (server, log) in &mut self.logs {
            if server.as_deref().is_none_or(|s| s == r.server) {
                log.annotate(r);
            }
        }
    }

    /// One report per log; `span` is the captured connections' wall clock.
    pub(crate) fn reports(&self, span: Option<(WallTime, WallTime)>) -> Vec<LogReport> {
        self.logs.iter().map(|(_, l)| l.report(span)).collect()
    }
}

/// The reports for the text summary.
pub(crate) fn text(o: &mut String, reports: &[LogReport]) {
    for r in reports {
        let _ = writeln!(
            o,
            "  error log {}: {} connection line(s), {} joined to captured connections{}",
            r.file,
            r.connection_lines,
            r.joined,
            r.offset_s
                .map(|s| format!(" (clock offset {s:+.1} s from the handshakes' ends, median)"))
                .unwrap_or_default()
        );
        if !r.unjoined.is_empty() {
            let parts: Vec<String> = r.unjoined.iter().map(|(k, n)| format!("{n} {k}")).collect();
            let _ = writeln!(
                o,
                "    not joined: {}{}",
                parts.join(", "),
                if r.outside_capture > 0 {
                    format!(
                        "; {} of them written outside the capture's time",
                        r.outside_capture
                    )
                } else {
                    String::new()
                }
            );
        }
        for w in &r.warnings {
            let _ = writeln!(o, "    warning: {w}");
        }
    }
}
