//! The continuous probe: one loop per target, one handshake at a time, every
//! `interval` with ±10% jitter (so a fleet of targets does not connect in
//! lockstep), until the config changes or the exporter drains.
//!
//! A target that does not resolve, refuses or hangs gives a record like any
//! other (its handshake is bounded by the module's timeout), so it is a
//! metric, never a stalled loop. With credentials the loop also reads the
//! server's Aborted_connects and Connection_errors_* after each handshake
//! and counts their growth; that is one more short session, run after the
//! handshake, never beside it. A `/probe` scrape of the same target takes
//! turns with the loop (`turns`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use hsp_probe::attempt::Shared;
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;

use crate::config::{Config, Module, Target};
use crate::metrics::Continuous;
use crate::turns::Turns;

/// Runs every target of `cfg` until `stop` is cancelled; returns when the
/// last handshake in flight has ended.
pub(crate) async fn run(
    cfg: Arc<Config>,
    metrics: Arc<Continuous>,
    turns: Arc<Turns>,
    stop: CancellationToken,
) {
    let mut loops = JoinSet::new();
    for (i, t) in cfg.targets.iter().enumerate() {
        let module = cfg.modules.get(&t.module).cloned().unwrap_or_default();
        let (t, metrics, turns, stop) = (t.clone(), metrics.clone(), turns.clone(), stop.clone());
        // The first handshakes spread over the first interval.
        let offset = t.interval.mul_f64(spread(i, cfg.targets.len()));
        loops.spawn(async move { target(t, module, &metrics, &turns, offset, &stop).await });
    }
    while loops.join_next().await.is_some() {}
}

/// Where target `i` of `n` starts within the first interval.
fn spread(i: usize, n: usize) -> f64 {
    if n <= 1 { 0.0 } else { i as f64 / n as f64 }
}

/// A factor in [0.9, 1.1) that differs between calls.
fn jitter() -> f64 {
    0.9 + (hsp_probe::attempt::rand_u64() % 2000) as f64 / 10_000.0
}

async fn target(
    t: Target,
    module: Module,
    metrics: &Continuous,
    turns: &Turns,
    offset: Duration,
    stop: &CancellationToken,
) {
    let Ok((host, port)) = hsp_probe::config::split_target(&t.address) else {
        // Validated when the config loaded.
        return;
    };
    let mut cfg = module.probe_config(&host, port);
    let mut next = Instant::now() + offset;
    let mut server: Option<BTreeMap<String, i64>> = None;
    let mut shared = None;
    for id in 0.. {
        tokio::select! {
            () = sleep_until(next) => {}
            () = stop.cancelled() => return,
        }
        // The target's turn, shared with `/probe` scrapes of it: this
        // loop's connections (the handshake and the counters' session)
        // never overlap another of ours.
        let _turn = tokio::select! {
            turn = turns.take(&t.address) => turn,
            () = stop.cancelled() => return,
        };
        // A handshake longer than the interval delays the next one; it
        // never overlaps it.
        next = next.max(Instant::now()) + t.interval.mul_f64(jitter());
        if cfg.credentials.is_some() && server.is_none() {
            // The server's own settings decide the rules, as for the probe.
            if let Ok(s) = hsp_probe::session::read_server(&cfg).await {
                if module.connect_timeout.is_none()
                    && let Some(ct) = s.connect_timeout()
                {
                    cfg.params.connect_timeout = ct;
                    shared = None;
                }
                server = Some(s.status);
            }
        }
        if shared.is_none() {
            metrics.connect_timeout(&t.address, cfg.params.connect_timeout);
            match Shared::new(cfg.clone()) {
                Ok(s) => shared = Some(s),
                Err(e) => {
                    tracing::error!(target = %t.address, "cannot set up TLS: {e}");
                    return;
                }
            }
        }
        let Some(sh) = shared.as_ref() else { return };
        let record = hsp_probe::run::single(sh, id).await;
        metrics.observe(&t.address, &record);
        if let Some(before) = server.as_mut()
            && let Ok(now) = hsp_probe::session::read_server(&cfg).await
        {
            for (name, v) in &now.status {
                let delta = before.get(name).map_or(0, |b| v - b);
                if delta > 0 {
                    metrics.server_counter(&t.address, name, delta.unsigned_abs());
                }
            }
            *before = now.status;
        }
    }
}
