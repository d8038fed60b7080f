//! `--rate`: an open loop. Connections start on the schedule whatever the
//! ones in flight are doing, so a server that freezes for a second gets
//! the second's hundred attempts (or they are counted), not the two its
//! stuck workers would have made: the coordinated omission of closed-loop
//! load tools (wrk2's subject; oha's issues #100 and #211), where the
//! histogram shows two slow handshakes where an application saw a
//! hundred.
//!
//! A start is made only while fewer than the allowed concurrency (`-c`,
//! after the server's limit and any halving) are in flight. One the cap
//! prevents is a missed start, kept with its intended time; with
//! `--latency-correction` it waits for a free slot instead, and its
//! record's total counts from the intended time (as oha and wrk2 report).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hsp_core::ConnectionRecord;
use hsp_core::phase::Phase;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep_until};

use crate::run::Ctx;

/// Runs the schedule of `rate` starts per second; returns the missed
/// starts' intended times since the run began.
pub(crate) async fn run(ctx: Arc<Ctx>, rate: f64) -> Vec<Duration> {
    let cfg = &ctx.shared.cfg;
    let period = Duration::from_secs_f64(1.0 / rate);
    let in_flight = Arc::new(AtomicUsize::new(0));
    let freed = Arc::new(Notify::new());
    let mut set = JoinSet::new();
    let mut missed = Vec::new();
    let mut id = 0u64;
    'schedule: loop {
        if cfg.count.is_some_and(|c| id >= c) {
            break;
        }
        // From the run's start, not from the last start: no drift.
        let offset = period.mul_f64(id as f64);
        if cfg.duration.is_some_and(|d| offset >= d) {
            break;
        }
        let at = ctx.start + offset;
        tokio::select! {
            () = sleep_until(at) => {}
            () = ctx.cancel.cancelled() => break,
        }
        while let Some(done) = set.try_join_next() {
            done.expect("a probe connection panicked");
        }
        let free = || in_flight.load(Ordering::Acquire) < ctx.throttle.allowed();
        let mut admitted = free();
        if !admitted && cfg.latency_correction {
            loop {
                let notified = freed.notified();
                if free() {
                    admitted = true;
                    break;
                }
                tokio::select! {
                    () = notified => {}
                    () = ctx.cancel.cancelled() => break 'schedule,
                }
            }
        }
        if admitted {
            in_flight.fetch_add(1, Ordering::AcqRel);
            let (ctx, in_flight, freed) = (ctx.clone(), in_flight.clone(), freed.clone());
            let lag = Instant::now().saturating_duration_since(at);
            let lag = cfg.latency_correction.then_some(lag);
            set.spawn(async move {
                ctx.connection(id, lag).await;
                in_flight.fetch_sub(1, Ordering::AcqRel);
                freed.notify_one();
            });
        } else {
            missed.push(at.saturating_duration_since(ctx.shared.run_start));
        }
        id += 1;
    }
    while let Some(done) = set.join_next().await {
        done.expect("a probe connection panicked");
    }
    missed
}

/// Counts `lag` (from the scheduled start to the real one) in the
/// record's total, and says so.
pub(crate) fn correct(r: &mut ConnectionRecord, lag: Duration) {
    let total = r.phases_us.get(Phase::Total).unwrap_or_default();
    r.phases_us.set(Phase::Total, total + lag);
    r.evidence.push(format!(
        "started {:.1} ms after its scheduled time (every slot was busy); --latency-correction counts that in its total",
        lag.as_secs_f64() * 1e3
    ));
}
