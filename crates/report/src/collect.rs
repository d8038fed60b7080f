//! What a report keeps of each connection while records stream past: a
//! point for the timeline (16 bytes), the slowest 20 with their phases,
//! and the first non-ok connections for the table. A million connections
//! cost 16 MB here and the records themselves are never kept.

use std::time::Duration;

use hsp_core::phase::micros;
use hsp_core::{ConnectionRecord, Phase, Verdict};

/// Non-ok connections listed in the table; the rest are counted.
pub const TABLE_ROWS: usize = 200;

/// Connections in the slowest chart.
pub const SLOWEST: usize = 20;

/// One connection on the timeline.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Point {
    /// Start, µs since the Unix epoch (or since the run began when the
    /// record has no wall time).
    pub(crate) start_us: u64,
    /// The whole handshake, µs (saturating).
    pub(crate) total_us: u32,
    /// Index in [`Verdict::ALL`].
    pub(crate) verdict: u8,
}

/// A row of the non-ok table.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub(crate) id: u64,
    pub(crate) client: String,
    pub(crate) verdict: Verdict,
    pub(crate) phase: Phase,
    pub(crate) evidence: String,
    pub(crate) app_error: String,
    pub(crate) server_log: String,
}

/// One of the slowest connections.
#[derive(Debug, Clone)]
pub(crate) struct Slow {
    pub(crate) id: u64,
    pub(crate) client: String,
    pub(crate) verdict: Verdict,
    pub(crate) total: Duration,
    pub(crate) phases: Vec<(Phase, Duration)>,
}

/// Collects what the report draws, one record at a time.
#[derive(Debug, Default)]
pub struct Collector {
    pub(crate) points: Vec<Point>,
    pub(crate) rows: Vec<Row>,
    pub(crate) not_ok: u64,
    pub(crate) slowest: Vec<Slow>,
    /// Server address → its version, as greetings gave them (the first
    /// [`SERVERS`]).
    pub(crate) servers: std::collections::BTreeMap<String, String>,
    /// Captures: connections by where the tap sat (near client, near
    /// server, unknown).
    vantage: [u64; 3],
    /// Captures: connections the capture ended before their outcome.
    cut_by_end: u64,
    /// Captures: connections with bytes the snaplen cut.
    snaplen_cut: u64,
}

/// Servers named in the header.
pub const SERVERS: usize = 10;

/// The verdict's index in [`Verdict::ALL`].
pub(crate) fn verdict_index(v: Verdict) -> u8 {
    Verdict::ALL
        .iter()
        .position(|x| *x == v)
        .and_then(|i| u8::try_from(i).ok())
        .unwrap_or(0)
}

impl Collector {
    /// Nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Connections seen.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// No connection seen.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// A capture's rows about where it was taken and what it cut off.
    pub fn capture_rows(&self) -> Vec<(String, String)> {
        let [client, server, unknown] = self.vantage;
        let mut rows = vec![(
            "vantage point".to_string(),
            format!(
                "{client} connection(s) seen near the client, {server} near the server, {unknown} too close to tell (by where the TCP handshake's round trip falls)"
            ),
        )];
        if self.cut_by_end > 0 {
            rows.push((
                "truncated".into(),
                format!(
                    "{} connection(s) still in their handshake when the capture ended",
                    self.cut_by_end
                ),
            ));
        }
        if self.snaplen_cut > 0 {
            rows.push((
                "snaplen".into(),
                format!(
                    "{} connection(s) with bytes cut by the snaplen",
                    self.snaplen_cut
                ),
            ));
        }
        rows
    }

    /// Keeps what the report needs of `r`.
    pub fn add(&mut self, r: &ConnectionRecord) {
        let total = r.phases_us.get(Phase::Total).unwrap_or_default();
        let start_us = r.time.map_or(r.start_us, |t| micros(t.0));
        self.points.push(Point {
            start_us,
            total_us: u32::try_from(micros(total)).unwrap_or(u32::MAX),
            verdict: verdict_index(r.verdict),
        });
        if let Some(v) = &r.server_version
            && (self.servers.len() < SERVERS || self.servers.contains_key(&r.server))
        {
            self.servers.insert(r.server.clone(), v.clone());
        }
        if let Some(t) = &r.tcp {
            self.vantage[match t.vantage {
                hsp_core::record::Vantage::NearClient => 0,
                hsp_core::record::Vantage::NearServer => 1,
                hsp_core::record::Vantage::Unknown => 2,
            }] += 1;
        }
        self.cut_by_end += u64::from(r.outcome == "capture_ended");
        self.snaplen_cut += u64::from(r.capture.is_some());
        let client = r.client.clone().unwrap_or_default();
        if r.verdict != Verdict::Ok {
            self.not_ok += 1;
            if self.rows.len() < TABLE_ROWS {
                self.rows.push(Row {
                    id: r.id,
                    client: client.clone(),
                    verdict: r.verdict,
                    phase: r.phase,
                    evidence: r.evidence.join("; "),
                    app_error: r
                        .app_error
                        .as_ref()
                        .map(|e| {
                            format!("{} ({}) {}", e.name.unwrap_or("error"), e.code, e.message)
                        })
                        .unwrap_or_default(),
                    server_log: r
                        .server_log
                        .iter()
                        .map(|l| format!("[{}] {}", l.level, l.message))
                        .collect::<Vec<_>>()
                        .join(" / "),
                });
            }
        }
        let slower =
            self.slowest.len() < SLOWEST || self.slowest.last().is_some_and(|s| total > s.total);
        if slower {
            let at = self.slowest.partition_point(|s| s.total >= total);
            self.slowest.insert(
                at,
                Slow {
                    id: r.id,
                    client,
                    verdict: r.verdict,
                    total,
                    phases: r
                        .phases_us
                        .iter()
                        .filter(|(p, _)| !matches!(p, Phase::Total | Phase::Dns | Phase::Command))
                        .collect(),
                },
            );
            self.slowest.truncate(SLOWEST);
        }
    }
}
