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
use tokio::time::{Instant, sleep};
use tokio_util::sync::CancellationToken;

use crate::attempt::{Attempt, Shared};
use crate::config::Family;
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
    /// The addresses probed, in the order each connection tries them.
    pub addrs: Vec<SocketAddr>,
    /// Ctrl-C (or the caller) stopped the run early.
    pub interrupted: bool,
    /// Concurrency halvings after the server refused a connection with
    /// ER_CON_COUNT_ERROR (1040).
    pub backoffs: Vec<Backoff>,
    /// Under `--rate`: the scheduled starts the in-flight cap prevented,
    /// each by its intended time since the run began (the records'
    /// `start_us` clock).
    pub missed_starts: Vec<Duration>,
}

/// Resolves `host:port` once, timed: the first address, then the others
/// in the resolver's order (libmysqlclient tries each in turn), only those
/// of `family` when given.
pub async fn resolve(
    host: &str,
    port: u16,
    family: Option<Family>,
) -> Result<(Vec<SocketAddr>, Duration), SetupError> {
    let t = Instant::now();
    let err = |reason: String| SetupError::Resolve {
        host: host.to_string(),
        reason,
    };
    let mut addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| err(e.to_string()))?
        .filter(|a| match family {
            Some(Family::V4) => a.is_ipv4(),
            Some(Family::V6) => a.is_ipv6(),
            None => true,
        })
        .collect();
    let mut seen = std::collections::HashSet::new();
    addrs.retain(|a| seen.insert(*a));
    if addrs.is_empty() {
        return Err(err(match family {
            Some(Family::V4) => "no IPv4 address (-4)".into(),
            Some(Family::V6) => "no IPv6 address (-6)".into(),
            None => "no address".into(),
        }));
    }
    Ok((addrs, t.elapsed()))
}

/// What every worker (and the open loop's connections) share.
pub(crate) struct Ctx {
    pub(crate) shared: Arc<Shared>,
    pub(crate) addrs: Vec<SocketAddr>,
    pub(crate) sink: mpsc::Sender<ConnectionRecord>,
    pub(crate) cancel: CancellationToken,
    pub(crate) shards: Vec<Mutex<Stats>>,
    pub(crate) throttle: Throttle,
    /// When the run began (the throttle's clock).
    pub(crate) start: Instant,
    next_id: AtomicU64,
}

impl Ctx {
    /// Connection `id`, from start to record: the throttle hears of a
    /// refusal for too many connections, the statistics and the sink of
    /// the record. `lag`: how late it started after its scheduled time,
    /// counted in its total under `--latency-correction`. False when the
    /// sink is gone.
    pub(crate) async fn connection(&self, id: u64, lag: Option<Duration>) -> bool {
        let started = Instant::now();
        let cfg = &self.shared.cfg;
        let resolved = (!cfg.resolve_each || cfg.socket.is_some()).then_some(self.addrs.as_slice());
        let mut record = one(&self.shared, id, resolved, &self.cancel).await;
        if record
            .error
            .as_ref()
            .is_some_and(|e| e.code == TOO_MANY_CONNECTIONS)
        {
            self.throttle.refused(started, self.start);
        }
        if let Some(lag) = lag.filter(|l| !l.is_zero()) {
            crate::open::correct(&mut record, lag);
        }
        let shard = &self.shards[usize::try_from(id).unwrap_or(0) % self.shards.len()];
        shard.lock().expect("stats lock").record(&record);
        self.sink.send(record).await.is_ok()
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
    let (addrs, dns) = match &cfg.socket {
        // A Unix socket: no name to resolve (the address is a placeholder
        // the records do not show).
        Some(_) => (
            vec![SocketAddr::from(([127, 0, 0, 1], cfg.port))],
            Duration::ZERO,
        ),
        None => resolve(&cfg.host, cfg.port, cfg.family).await?,
    };
    let dns = (!cfg.resolve_each && cfg.socket.is_none()).then_some(dns);
    let workers = cfg.concurrency.max(1);
    let ctx = Arc::new(Ctx {
        shared: shared.clone(),
        addrs: addrs.clone(),
        sink,
        cancel: cancel.clone(),
        shards: (0..workers.min(16))
            .map(|_| Mutex::new(Stats::default()))
            .collect(),
        throttle: Throttle::new(workers),
        start: Instant::now(),
        next_id: AtomicU64::new(0),
    });
    let start = ctx.start;
    let missed_starts = match cfg.rate {
        Some(rate) => crate::open::run(ctx.clone(), rate).await,
        None => {
            closed_loop(&ctx, workers).await;
            Vec::new()
        }
    };
    let elapsed = start.elapsed();
    let mut stats = Stats::default();
    for s in &ctx.shards {
        stats.merge(&s.lock().expect("stats lock"));
    }
    Ok(RunReport {
        stats,
        elapsed,
        dns,
        addrs,
        interrupted: cancel.is_cancelled(),
        backoffs: ctx.throttle.backoffs(),
        missed_starts,
    })
}

/// The closed loop's `workers`, spread over `--threads` threads: worker
/// `w` runs on thread `w % threads`, thread 0 being the caller's. Each
/// other thread has its own single-threaded runtime, so a connection's
/// reads, writes and timers never leave its thread; only records and the
/// shared counters cross.
async fn closed_loop(ctx: &Arc<Ctx>, workers: usize) {
    let threads = ctx.shared.cfg.threads_used().min(workers);
    let mut done = Vec::new();
    for t in 1..threads {
        let mine = ctx.clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let spawned = std::thread::Builder::new()
            .name(format!("probe-{t}"))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime for a probe thread");
                rt.block_on(workers_of(&mine, t, threads, workers));
                let _ = tx.send(());
            });
        match spawned {
            Ok(_) => done.push(rx),
            // No thread: its workers run here instead.
            Err(e) => {
                tracing::warn!("cannot start probe thread {t}: {e}");
                done.push(run_here(ctx.clone(), t, threads, workers));
            }
        }
    }
    workers_of(ctx, 0, threads, workers).await;
    for d in done {
        // A thread that panicked drops its sender: its workers are gone.
        d.await.expect("a probe thread panicked");
    }
}

/// Thread `t`'s workers on the caller's runtime (when a thread could not
/// be started); the receiver says when they are done.
fn run_here(
    ctx: Arc<Ctx>,
    t: usize,
    threads: usize,
    workers: usize,
) -> tokio::sync::oneshot::Receiver<()> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        workers_of(&ctx, t, threads, workers).await;
        let _ = tx.send(());
    });
    rx
}

/// The workers of thread `t`, as tasks of the current runtime.
async fn workers_of(ctx: &Arc<Ctx>, t: usize, threads: usize, workers: usize) {
    let mut tasks = Vec::new();
    for w in (t..workers).step_by(threads) {
        let ctx = ctx.clone();
        tasks.push(tokio::spawn(async move { worker(&ctx, w).await }));
    }
    for task in tasks {
        task.await.expect("a probe worker panicked");
    }
}

/// One worker of the closed loop: a connection, then the next.
async fn worker(ctx: &Ctx, index: usize) {
    let cfg = &ctx.shared.cfg;
    loop {
        if ctx.cancel.is_cancelled()
            || cfg.duration.is_some_and(|d| ctx.start.elapsed() >= d)
            // Halved away after a 1040: never again this run.
            || !ctx.throttle.admits(index)
        {
            return;
        }
        let id = ctx.next_id.fetch_add(1, Ordering::Relaxed);
        if cfg.count.is_some_and(|c| id >= c) {
            return;
        }
        if !ctx.connection(id, None).await {
            return;
        }
        if !cfg.interval.is_zero() {
            tokio::select! {
                () = sleep(cfg.interval) => {}
                () = ctx.cancel.cancelled() => return,
            }
        }
    }
}

/// One handshake to the configured target, its name resolved now (a
/// long-running prober follows DNS changes): the record, whatever
/// happens (a name that does not resolve is a record too).
pub async fn single(shared: &Shared, id: u64) -> ConnectionRecord {
    one(shared, id, None, &CancellationToken::new()).await
}

/// One connection to `addrs`, or to the name resolved now (`None`, as with
/// `--resolve-each`): the first address, the others when it refuses.
async fn one(
    shared: &Shared,
    id: u64,
    addrs: Option<&[SocketAddr]>,
    cancel: &CancellationToken,
) -> ConnectionRecord {
    let cfg = &shared.cfg;
    let resolved;
    let (addrs, dns) = match addrs {
        Some(a) => (a, None),
        None => match resolve(&cfg.host, cfg.port, cfg.family).await {
            Ok((a, d)) => {
                resolved = a;
                (resolved.as_slice(), Some(d))
            }
            Err(e) => return unresolved(shared, id, &e),
        },
    };
    let mut attempt = Attempt::new(shared, id, addrs[0], dns).or_else_try(&addrs[1..]);
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
