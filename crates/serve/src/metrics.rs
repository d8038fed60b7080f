//! What `serve` exposes, by the Prometheus naming conventions (base unit
//! seconds, `_total` counters, `_info` gauges of 1), in the OpenMetrics
//! text format.
//!
//! Two registries: the continuous one behind `/metrics` (histograms and
//! counters per target, the server's counters, the process's own), kept
//! for the life of the process, its label sets bounded by targets ×
//! phases × verdicts; and a fresh one per blackbox-style `/probe` request,
//! with blackbox_exporter's names (`probe_success`,
//! `probe_duration_seconds`) so existing dashboards and alerts work.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use hsp_core::phase::micros;
use hsp_core::{ConnectionRecord, Phase, Verdict};
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

/// The content type of both endpoints.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Phase buckets, seconds: 50 µs to 30 s, dense around the connect_timeout
/// values servers run with (MariaDB's and MySQL's default 10 s, the 5 s
/// and 2-3 s of tuned pools) and around their halves, where the
/// near-timeout warning starts.
pub const BUCKETS: [f64; 30] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 4.5, 5.0, 5.5, 7.5, 9.0, 9.5, 10.0, 10.5, 15.0, 20.0, 30.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabels {
    target: String,
    phase: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VerdictLabels {
    target: String,
    verdict: &'static str,
    party: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TargetLabels {
    target: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServerErrorLabels {
    target: String,
    error: String,
}

type PhaseFamily = Family<PhaseLabels, Histogram, fn() -> Histogram>;

fn phase_histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

/// The continuous registry (`/metrics`).
#[derive(Debug)]
pub struct Continuous {
    registry: Registry,
    phases: PhaseFamily,
    connections: Family<VerdictLabels, Counter>,
    near: Family<TargetLabels, Counter>,
    last_success: Family<TargetLabels, Gauge>,
    last_end: Family<TargetLabels, Gauge<f64, AtomicU64>>,
    connect_timeout: Family<TargetLabels, Gauge<f64, AtomicU64>>,
    aborted_connects: Family<TargetLabels, Counter>,
    connection_errors: Family<ServerErrorLabels, Counter>,
}

impl Default for Continuous {
    fn default() -> Self {
        Self::new()
    }
}

impl Continuous {
    /// Empty metrics, registered.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let phases = PhaseFamily::new_with_constructor(phase_histogram);
        registry.register_with_unit(
            "handshake_probe_phase_duration",
            "Time spent in each handshake phase, per target",
            Unit::Seconds,
            phases.clone(),
        );
        let connections = Family::default();
        registry.register(
            "handshake_probe_connections",
            "Handshakes by verdict and the party it blames",
            connections.clone(),
        );
        let near = Family::default();
        registry.register(
            "handshake_probe_near_connect_timeout",
            "Handshakes with a phase over half of connect_timeout",
            near.clone(),
        );
        let last_success = Family::default();
        registry.register(
            "handshake_probe_last_success",
            "1 if the last handshake ended as expected, else 0",
            last_success.clone(),
        );
        let last_end = Family::default();
        registry.register_with_unit(
            "handshake_probe_last_handshake_timestamp",
            "When the last handshake ended, Unix time",
            Unit::Seconds,
            last_end.clone(),
        );
        let connect_timeout = Family::default();
        registry.register_with_unit(
            "handshake_probe_connect_timeout",
            "The connect_timeout phases are judged against (the server's, read with credentials; else the module's or 10 s)",
            Unit::Seconds,
            connect_timeout.clone(),
        );
        let aborted_connects = Family::default();
        registry.register(
            "handshake_probe_server_aborted_connects",
            "The server's Aborted_connects, counted from the exporter's first reading (with credentials)",
            aborted_connects.clone(),
        );
        let connection_errors = Family::default();
        registry.register(
            "handshake_probe_server_connection_errors",
            "The server's Connection_errors_*, counted from the exporter's first reading (with credentials)",
            connection_errors.clone(),
        );
        registry.register_collector(Box::new(crate::process::Process::new()));
        Self {
            registry,
            phases,
            connections,
            near,
            last_success,
            last_end,
            connect_timeout,
            aborted_connects,
            connection_errors,
        }
    }

    /// Counts `r`, a handshake to `target`.
    pub fn observe(&self, target: &str, r: &ConnectionRecord) {
        for (phase, d) in r.phases_us.iter() {
            if Phase::TIMED.contains(&phase) {
                self.phases
                    .get_or_create(&PhaseLabels {
                        target: target.to_string(),
                        phase: phase.name(),
                    })
                    .observe(seconds(d));
            }
        }
        self.connections
            .get_or_create(&VerdictLabels {
                target: target.to_string(),
                verdict: r.verdict.name(),
                party: r.party.name(),
            })
            .inc();
        let t = TargetLabels {
            target: target.to_string(),
        };
        if r.near_connect_timeout {
            self.near.get_or_create(&t).inc();
        } else {
            // The series exists from the first handshake, so rate() and
            // alerts see a 0, not an absent series.
            let _ = self.near.get_or_create(&t);
        }
        self.last_success
            .get_or_create(&t)
            .set(i64::from(r.verdict == Verdict::Ok));
        if let Some(time) = r.time {
            let end = time.0 + r.phases_us.get(Phase::Total).unwrap_or_default();
            self.last_end.get_or_create(&t).set(end.as_secs_f64());
        }
    }

    /// The connect_timeout in force for `target` (dashboards draw it).
    pub fn connect_timeout(&self, target: &str, t: Duration) {
        self.connect_timeout
            .get_or_create(&TargetLabels {
                target: target.to_string(),
            })
            .set(t.as_secs_f64());
    }

    /// The server's counters grew by `delta` between two readings.
    pub fn server_counter(&self, target: &str, status: &str, delta: u64) {
        let target = target.to_string();
        if status == "Aborted_connects" {
            self.aborted_connects
                .get_or_create(&TargetLabels { target })
                .inc_by(delta);
        } else if let Some(kind) = status.strip_prefix("Connection_errors_") {
            self.connection_errors
                .get_or_create(&ServerErrorLabels {
                    target,
                    error: kind.to_string(),
                })
                .inc_by(delta);
        }
    }

    /// The OpenMetrics text.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String");
        out
    }
}

fn seconds(d: Duration) -> f64 {
    // Whole microseconds, as every record reports.
    micros(d) as f64 / 1e6
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseOnly {
    phase: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VerdictOnly {
    verdict: &'static str,
    party: &'static str,
}

/// A `/probe` answer: `records` of one request that took `elapsed`, all
/// the handshakes it was to make if `complete`. Success means all were
/// made and every one ended as expected; a phase's value is its median
/// over the handshakes.
pub fn blackbox(records: &[ConnectionRecord], complete: bool, elapsed: Duration) -> String {
    let mut registry = Registry::default();
    let success: Gauge = Gauge::default();
    success.set(i64::from(
        complete && !records.is_empty() && records.iter().all(|r| r.verdict == Verdict::Ok),
    ));
    registry.register(
        "probe_success",
        "Whether the handshakes ended as expected",
        success,
    );
    let duration: Gauge<f64, AtomicU64> = Gauge::default();
    duration.set(elapsed.as_secs_f64());
    registry.register_with_unit(
        "probe_duration",
        "How long the probe took",
        Unit::Seconds,
        duration,
    );
    let phases: Family<PhaseOnly, Gauge<f64, AtomicU64>> = Family::default();
    for p in Phase::TIMED {
        let mut v: Vec<Duration> = records.iter().filter_map(|r| r.phases_us.get(*p)).collect();
        if v.is_empty() {
            continue;
        }
        v.sort_unstable();
        phases
            .get_or_create(&PhaseOnly { phase: p.name() })
            .set(seconds(v[(v.len() - 1) / 2]));
    }
    registry.register_with_unit(
        "handshake_probe_phase",
        "Time spent in each handshake phase (the median over the module's handshakes)",
        Unit::Seconds,
        phases,
    );
    let verdicts: Family<VerdictOnly, Gauge> = Family::default();
    for r in records {
        verdicts
            .get_or_create(&VerdictOnly {
                verdict: r.verdict.name(),
                party: r.party.name(),
            })
            .set(1);
    }
    registry.register(
        "handshake_probe_verdict_info",
        "The verdicts of the probe's handshakes, 1 each",
        verdicts,
    );
    let count: Gauge = Gauge::default();
    count.set(i64::try_from(records.len()).unwrap_or(i64::MAX));
    registry.register(
        "handshake_probe_handshakes",
        "Handshakes made for this probe",
        count,
    );
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &registry).expect("writing to a String");
    out
}

/// Encodes one constant sample (the process collector's).
pub(crate) fn constant(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    value: f64,
    counter: bool,
) -> Result<(), std::fmt::Error> {
    if counter {
        let m = encoder.encode_descriptor(name, help, unit, MetricType::Counter)?;
        ConstCounter::new(value).encode(m)
    } else {
        let m = encoder.encode_descriptor(name, help, unit, MetricType::Gauge)?;
        ConstGauge::new(value).encode(m)
    }
}
