//! Run statistics: one HdrHistogram per phase, counts per verdict, outcome
//! and error code, and the slowest connections.
//!
//! Memory does not grow with the number of connections: histograms have a
//! fixed range (1 µs to 1 hour at 3 significant digits, auto-sized to the
//! largest value seen) and only the [`SLOWEST_KEPT`] slowest records are
//! kept. Drivers keep one [`Stats`] per worker and [`Stats::merge`] them
//! with `Histogram::add` at the end, so several hosts' or workers' numbers
//! combine without loss.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::phase::{Phase, micros};
use crate::record::ConnectionRecord;
use crate::verdict::Verdict;
use crate::wall::WallTime;

/// How many of the slowest connections a summary keeps.
pub const SLOWEST_KEPT: usize = 5;
/// The largest value a histogram records, µs (an hour); larger values saturate.
pub const MAX_TRACKABLE_US: u64 = 3_600_000_000;

fn new_histogram() -> Histogram<u64> {
    let mut h = Histogram::new_with_max(2048, 3).expect("valid histogram bounds");
    h.auto(true);
    h
}

/// Records each timed phase of `r` in its histogram, µs.
fn record_phases(hists: &mut BTreeMap<Phase, Histogram<u64>>, r: &ConnectionRecord) {
    for (p, d) in r.phases_us.iter() {
        if Phase::TIMED.contains(&p) {
            hists
                .entry(p)
                .or_insert_with(new_histogram)
                .record(micros(d).clamp(1, MAX_TRACKABLE_US))
                .expect("an auto-resizing histogram records any clamped value");
        }
    }
}

/// Counts and histograms for a set of connections.
#[derive(Debug, Clone)]
pub struct Stats {
    phases: BTreeMap<Phase, Histogram<u64>>,
    verdicts: BTreeMap<Verdict, u64>,
    outcomes: BTreeMap<&'static str, u64>,
    errors: BTreeMap<u16, (Option<&'static str>, u64)>,
    near_connect_timeout: u64,
    connections: u64,
    slowest: Vec<ConnectionRecord>,
    /// The first record's wall-clock start, and the last one's end.
    span: Option<(WallTime, WallTime)>,
}

impl Default for Stats {
    fn default() -> Self {
        Self {
            phases: BTreeMap::new(),
            verdicts: BTreeMap::new(),
            outcomes: BTreeMap::new(),
            errors: BTreeMap::new(),
            near_connect_timeout: 0,
            connections: 0,
            slowest: Vec::with_capacity(SLOWEST_KEPT + 1),
            span: None,
        }
    }
}

impl Stats {
    /// Counts one connection.
    pub fn record(&mut self, r: &ConnectionRecord) {
        self.connections += 1;
        *self.verdicts.entry(r.verdict).or_default() += 1;
        *self.outcomes.entry(r.outcome).or_default() += 1;
        if let Some((code, name)) = r.error_code() {
            self.errors.entry(code).or_insert((name, 0)).1 += 1;
        }
        if r.near_connect_timeout {
            self.near_connect_timeout += 1;
        }
        record_phases(&mut self.phases, r);
        self.keep_if_slow(r);
        if let Some(t) = r.time {
            let end = WallTime(t.0 + r.phases_us.get(Phase::Total).unwrap_or_default());
            self.span = Some(match self.span {
                Some((a, b)) => (a.min(t), b.max(end)),
                None => (t, end),
            });
        }
    }

    fn keep_if_slow(&mut self, r: &ConnectionRecord) {
        let total = |r: &ConnectionRecord| r.phases_us.get(Phase::Total).unwrap_or_default();
        if self.slowest.len() == SLOWEST_KEPT
            && self.slowest.last().is_some_and(|l| total(l) >= total(r))
        {
            return;
        }
        let at = self.slowest.partition_point(|k| total(k) >= total(r));
        self.slowest.insert(at, r.clone());
        self.slowest.truncate(SLOWEST_KEPT);
    }

    /// Adds another set's counts (histograms with `Histogram::add`).
    pub fn merge(&mut self, other: &Self) {
        self.connections += other.connections;
        self.near_connect_timeout += other.near_connect_timeout;
        for (k, v) in &other.verdicts {
            *self.verdicts.entry(*k).or_default() += v;
        }
        for (k, v) in &other.outcomes {
            *self.outcomes.entry(k).or_default() += v;
        }
        for (k, (n, v)) in &other.errors {
            self.errors.entry(*k).or_insert((*n, 0)).1 += v;
        }
        for (p, h) in &other.phases {
            self.phases
                .entry(*p)
                .or_insert_with(new_histogram)
                .add(h)
                .expect("auto-resizing histograms always accept another");
        }
        for r in &other.slowest {
            self.keep_if_slow(r);
        }
        if let Some((a, b)) = other.span {
            self.span = Some(match self.span {
                Some((x, y)) => (x.min(a), y.max(b)),
                None => (a, b),
            });
        }
    }

    /// Connections counted.
    pub fn connections(&self) -> u64 {
        self.connections
    }

    /// Connections with verdict `v`.
    pub fn count(&self, v: Verdict) -> u64 {
        self.verdicts.get(&v).copied().unwrap_or(0)
    }

    /// The histogram of phase `p` (µs), if any connection had that phase.
    pub fn histogram(&self, p: Phase) -> Option<&Histogram<u64>> {
        self.phases.get(&p)
    }

    /// The summary: counts and percentiles.
    pub fn summary(&self) -> Summary {
        let phases = self
            .phases
            .iter()
            .map(|(p, h)| (*p, PhaseSummary::of(h)))
            .collect();
        Summary {
            kind: "summary",
            start: self.span.map(|s| s.0),
            end: self.span.map(|s| s.1),
            connections: self.connections,
            verdicts: self.verdicts.iter().map(|(v, n)| (v.name(), *n)).collect(),
            outcomes: self.outcomes.iter().map(|(o, n)| (*o, *n)).collect(),
            errors: self
                .errors
                .iter()
                .map(|(code, (name, count))| ErrorCount {
                    code: *code,
                    name: *name,
                    count: *count,
                })
                .collect(),
            near_connect_timeout: self.near_connect_timeout,
            phases_us: phases,
            total_histogram: self
                .phases
                .get(&Phase::Total)
                .map(latency_buckets)
                .unwrap_or_default(),
            slowest: self.slowest.clone(),
        }
    }
}

/// Percentiles of one phase, µs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhaseSummary {
    /// Samples.
    pub count: u64,
    /// Minimum.
    pub min: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Maximum.
    pub max: u64,
    /// Mean.
    pub mean: f64,
}

impl PhaseSummary {
    /// The percentiles of `h`.
    pub fn of(h: &Histogram<u64>) -> Self {
        Self {
            count: h.len(),
            min: h.min(),
            p50: h.value_at_quantile(0.5),
            p90: h.value_at_quantile(0.9),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
            mean: (h.mean() * 10.0).round() / 10.0,
        }
    }
}

/// A count per error code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorCount {
    /// Server `ER_*` or client `CR_*` code.
    pub code: u16,
    /// Its name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'static str>,
    /// Connections.
    pub count: u64,
}

/// One bar of the latency histogram: connections whose total was at most
/// `le_us` (and over the previous bar's bound).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bucket {
    /// Upper bound, µs.
    pub le_us: u64,
    /// Connections in the bar.
    pub count: u64,
}

/// Ten bars between min and max of the total, on a log scale when the range
/// spans more than a factor of ten.
fn latency_buckets(h: &Histogram<u64>) -> Vec<Bucket> {
    if h.is_empty() {
        return Vec::new();
    }
    let (lo, hi) = (h.min().max(1) as f64, h.max().max(1) as f64);
    if hi < lo * 1.05 {
        // All within 5%: one bar says it.
        return vec![Bucket {
            le_us: h.max(),
            count: h.len(),
        }];
    }
    let n = 10;
    let log = hi / lo > 10.0;
    let mut prev = 0u64;
    let mut out = Vec::new();
    for i in 1..=n {
        let f = f64::from(i) / f64::from(n);
        let bound = if log {
            lo * (hi / lo).powf(f)
        } else {
            lo + (hi - lo) * f
        };
        let bound = (bound.ceil() as u64).max(prev + 1);
        let count = h.count_between(prev + 1, bound);
        // count_between is inclusive and bucket-equivalent: avoid counting a
        // value twice by moving the lower bound past this bar.
        out.push(Bucket {
            le_us: bound,
            count,
        });
        prev = h.highest_equivalent(bound);
    }
    out
}

/// The end-of-run summary (`{"type":"summary",...}`).
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Always `"summary"`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The first connection's wall-clock start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<WallTime>,
    /// The last connection's end (its start plus its total time).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<WallTime>,
    /// Connections.
    pub connections: u64,
    /// Connections per verdict.
    pub verdicts: BTreeMap<&'static str, u64>,
    /// Connections per outcome.
    pub outcomes: BTreeMap<&'static str, u64>,
    /// Connections per error code.
    pub errors: Vec<ErrorCount>,
    /// Connections with a phase over half of connect_timeout.
    pub near_connect_timeout: u64,
    /// Percentiles per phase, µs.
    pub phases_us: BTreeMap<Phase, PhaseSummary>,
    /// A small histogram of the total handshake time.
    pub total_histogram: Vec<Bucket>,
    /// The slowest connections.
    pub slowest: Vec<ConnectionRecord>,
}

/// Collects per-interval histograms for an HdrHistogram interval log, one
/// tag per phase; the caller owns the log writer.
#[derive(Debug)]
pub struct IntervalHistograms {
    interval: Duration,
    start: Duration,
    phases: BTreeMap<Phase, Histogram<u64>>,
}

impl IntervalHistograms {
    /// Intervals of `interval`, the first starting at zero.
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            start: Duration::ZERO,
            phases: BTreeMap::new(),
        }
    }

    /// Records `r`, which ended at `at` since the run began; first hands every
    /// finished interval to `flush(tag, histogram, start, length)`.
    pub fn record<E>(
        &mut self,
        at: Duration,
        r: &ConnectionRecord,
        mut flush: impl FnMut(&str, &Histogram<u64>, Duration, Duration) -> Result<(), E>,
    ) -> Result<(), E> {
        while at >= self.start + self.interval {
            self.flush(&mut flush, self.interval)?;
        }
        record_phases(&mut self.phases, r);
        Ok(())
    }

    fn flush<E>(
        &mut self,
        flush: &mut impl FnMut(&str, &Histogram<u64>, Duration, Duration) -> Result<(), E>,
        len: Duration,
    ) -> Result<(), E> {
        for (p, h) in &mut self.phases {
            if !h.is_empty() {
                flush(p.name(), h, self.start, len)?;
                h.reset();
            }
        }
        self.start += self.interval;
        Ok(())
    }

    /// Hands the last, partial interval (ending at `end`) to `flush`.
    pub fn finish<E>(
        &mut self,
        end: Duration,
        mut flush: impl FnMut(&str, &Histogram<u64>, Duration, Duration) -> Result<(), E>,
    ) -> Result<(), E> {
        let len = end.saturating_sub(self.start).max(Duration::from_millis(1));
        self.flush(&mut flush, len)
    }
}
