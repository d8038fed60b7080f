//! Many connections: `--concurrency` workers, a global `--rate`, `--count`
//! and `--duration` limits, `--interval` pauses, and Ctrl-C.
//!
//! Records stream out over a bounded channel as connections end (so the
//! binary prints and writes them at once and memory stays flat in the
//! number of connections); statistics are kept in a few shards, one per
//! group of workers, and merged with `Histogram::add` at the end.
//! Cancellation stops new connections at once and gives those in flight
//! [`ProbeConfig::grace`](crate::ProbeConfig) to end; the rest are recorded
//! as `interrupted`, so nothing measured is lost.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hsp_core::classify::{AppError, End, Facts, Viewpoint};
use hsp_core::phase::{Phase, micros};
use hsp_core::record::Details;
use hsp_core::{ConnectionRecord, Stats};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep, sleep_until};
use tokio_util::sync::CancellationToken;

use crate::attempt::{Attempt, Shared};
use crate::guard::{Backoff, TOO_MANY_CONNECTIONS, Throttle};

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The host name did not resolve.
    #[error("cannot resolve {host}: {reason}")]
    Resolve {
        /// The host.
        host: String,
        /// Why.
        reason: String,
    },
    /// TLS could not be configured.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsSetupError),
}

/// What a run measured.
#[derive(Debug)]
pub struct RunReport {
    /// Every connection, merged over workers.
    pub stats: Stats,
    /// From the first connection to the last one's end.
    pub elapsed: Duration,
    /// Name resolution before the run (when not per connection).
    pub dns: Option<Duration>,
    /// The address probed.
    pub addr: SocketAddr,
    /// Ctrl-C (or the caller) stopped the run early.
    pub interrupted: bool,
    /// Concurrency halvings after the server refused a connection with
    /// ER_CON_COUNT_ERROR (1040).
    pub backoffs: Vec<Backoff>,
}

/// Resolves `host:port` once, timed.
pub async fn resolve(host: &str, port: u16) -> Result<(SocketAddr, Duration), SetupError> {
    let t = Instant::now();
    let err = |reason: String| SetupError::Resolve {
        host: host.to_string(),
        reason,
    };
    let mut addrs = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| err(e.to_string()))?;
    let addr = addrs.next().ok_or_else(|| err("no address".into()))?;
    Ok((addr, t.elapsed()))
}

struct Schedule {
    next_id: AtomicU64,
    next_slot: Mutex<Option<Instant>>,
}

impl Schedule {
    /// The next start time under `--rate`, shared by all workers.
    fn slot(&self, rate: f64) -> Instant {
        let period = Duration::from_secs_f64(1.0 / rate);
        let now = Instant::now();
        let mut next = self.next_slot.lock().expect("schedule lock");
        let at = next.map_or(now, |n| n.max(now));
        *next = Some(at + period);
        at
    }
}

/// Runs the probe described by `shared`, sending each connection's record
/// to `sink` as it ends.
pub async fn run(
    shared: Arc<Shared>,
    sink: mpsc::Sender<ConnectionRecord>,
    cancel: CancellationToken,
) -> Result<RunReport, SetupError> {
    let cfg = &shared.cfg;
    let (addr, dns) = resolve(&cfg.host, cfg.port).await?;
    let dns = (!cfg.resolve_each).then_some(dns);
    let workers = cfg.concurrency.max(1);
    let shards: Vec<Arc<Mutex<Stats>>> = (0..workers.min(16))
        .map(|_| Arc::new(Mutex::new(Stats::default())))
        .collect();
    let schedule = Arc::new(Schedule {
        next_id: AtomicU64::new(0),
        next_slot: Mutex::new(None),
    });
    let start = Instant::now();
    let throttle = Arc::new(Throttle::new(workers));
    let mut tasks = Vec::with_capacity(workers);
    for w in 0..workers {
        let shared = shared.clone();
        let sink = sink.clone();
        let cancel = cancel.clone();
        let schedule = schedule.clone();
        let shard = shards[w % shards.len()].clone();
        let throttle = throttle.clone();
        tasks.push(tokio::spawn(async move {
            let me = Worker {
                index: w,
                shared: &shared,
                addr,
                sink: &sink,
                cancel: &cancel,
                schedule: &schedule,
                shard: &shard,
                throttle: &throttle,
                start,
            };
            me.run().await;
        }));
    }
    drop(sink);
    for t in tasks {
        t.await.expect("a probe worker panicked");
    }
    let elapsed = start.elapsed();
    let mut stats = Stats::default();
    for s in &shards {
        stats.merge(&s.lock().expect("stats lock"));
    }
    Ok(RunReport {
        stats,
        elapsed,
        dns,
        addr,
        interrupted: cancel.is_cancelled(),
        backoffs: throttle.backoffs(),
    })
}

/// One worker's share of the run.
struct Worker<'a> {
    index: usize,
    shared: &'a Shared,
    addr: SocketAddr,
    sink: &'a mpsc::Sender<ConnectionRecord>,
    cancel: &'a CancellationToken,
    schedule: &'a Schedule,
    shard: &'a Mutex<Stats>,
    throttle: &'a Throttle,
    start: Instant,
}

impl Worker<'_> {
    async fn run(self) {
        let Self {
            index,
            shared,
            addr,
            sink,
            cancel,
            schedule,
            shard,
            throttle,
            start,
        } = self;
        let cfg = &shared.cfg;
        loop {
            if cancel.is_cancelled()
                || cfg.duration.is_some_and(|d| start.elapsed() >= d)
                // Halved away after a 1040: never again this run.
                || !throttle.admits(index)
            {
                return;
            }
            let id = schedule.next_id.fetch_add(1, Ordering::Relaxed);
            if cfg.count.is_some_and(|c| id >= c) {
                return;
            }
            if let Some(rate) = cfg.rate {
                let at = schedule.slot(rate);
                tokio::select! {
                    () = sleep_until(at) => {}
                    () = cancel.cancelled() => return,
                }
            }
            let started = Instant::now();
            let record = one(shared, id, addr, cancel).await;
            if record
                .error
                .as_ref()
                .is_some_and(|e| e.code == TOO_MANY_CONNECTIONS)
            {
                throttle.refused(started, start);
            }
            shard.lock().expect("stats lock").record(&record);
            if sink.send(record).await.is_err() {
                return;
            }
            if !cfg.interval.is_zero() {
                tokio::select! {
                    () = sleep(cfg.interval) => {}
                    () = cancel.cancelled() => return,
                }
            }
        }
    }
}

/// One connection, resolving first with `--resolve-each`.
async fn one(
    shared: &Shared,
    id: u64,
    addr: SocketAddr,
    cancel: &CancellationToken,
) -> ConnectionRecord {
    let cfg = &shared.cfg;
    let (addr, dns) = if cfg.resolve_each {
        match resolve(&cfg.host, cfg.port).await {
            Ok((a, d)) => (a, Some(d)),
            Err(e) => return unresolved(shared, id, &e),
        }
    } else {
        (addr, None)
    };
    let mut attempt = Attempt::new(shared, id, addr, dns);
    let end = tokio::select! {
        biased;
        end = attempt.drive() => end,
        () = async {
            cancel.cancelled().await;
            sleep(cfg.grace).await;
        } => End::Interrupted,
    };
    attempt.finish(end).await
}

fn unresolved(shared: &Shared, id: u64, e: &SetupError) -> ConnectionRecord {
    let mut f = Facts::new(
        End::ConnectFailed { errno: 0 },
        Phase::Dns,
        shared.cfg.target(),
    );
    f.client_error = Some(AppError::unknown_host(&shared.cfg.host));
    f.viewpoint = Viewpoint::ClientSocket;
    ConnectionRecord::classified(
        id,
        micros(shared.run_start.elapsed()),
        &f,
        &shared.cfg.params,
        Details {
            evidence: vec![e.to_string()],
            ..Details::default()
        },
    )
}
