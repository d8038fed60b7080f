//! `handshake-probe serve`: the probe as a Prometheus exporter, for the
//! answer all the time on the dashboards and alerts operators already have.
//!
//! blackbox_exporter's TCP probe opens bare connections to port 3306; the
//! server counts each abandoned handshake toward `max_connect_errors` and
//! in time blocks the monitoring host (its issue #505). This exporter makes
//! complete handshakes: credential-less by default (a login the server
//! answers with ERR 1045, which is not counted), one connection at a time
//! per target.
//!
//! Two ways to use it, as blackbox_exporter and node_exporter are used:
//! `/probe?target=HOST:PORT&module=NAME` (one probe per scrape, into a
//! fresh registry; Prometheus's relabelling names the target) and
//! `/metrics` (targets of the config file probed every `interval`, as
//! histograms Prometheus can take quantiles of).
//!
//! The crate sits beside hsp-probe, which makes the handshakes: this one
//! owns the config file, the metrics and HTTP, which change for reasons of
//! their own (Prometheus conventions, new endpoints).

pub mod config;
mod http;
pub mod metrics;
mod process;
mod schedule;
mod turns;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, ConfigError, DefaultsReader};
use crate::metrics::Continuous;

/// What `serve` was asked for.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where to listen.
    pub listen: SocketAddr,
    /// The config file, reread on SIGHUP.
    pub config: Option<PathBuf>,
    /// `--target`s, probed with the default module.
    pub targets: Vec<String>,
    /// Between handshakes to a target that gives no interval.
    pub interval: Duration,
    /// Reads option files (`defaults_file`).
    pub defaults: DefaultsReader,
    /// After SIGTERM: how long handshakes in flight may take to end.
    pub drain: Duration,
}

/// Why `serve` did not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The config could not be used.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The address could not be bound.
    #[error("--listen {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Signal handlers could not be installed.
    #[error("cannot watch signals: {0}")]
    Signals(std::io::Error),
}

impl Options {
    fn load(&self) -> Result<Config, ConfigError> {
        Config::load(
            self.config.as_deref(),
            &self.targets,
            self.interval,
            self.defaults,
        )
    }
}

/// Serves until SIGTERM or SIGINT, then drains: no new connections, the
/// handshakes in flight end (within `drain`), and it returns. `ready` is
/// told the bound address once it accepts (so `--listen 127.0.0.1:0`
/// works).
pub async fn serve(opts: Options, ready: impl FnOnce(SocketAddr)) -> Result<(), ServeError> {
    let cfg = Arc::new(opts.load()?);
    let listener = TcpListener::bind(opts.listen)
        .await
        .map_err(|source| ServeError::Listen {
            addr: opts.listen,
            source,
        })?;
    let local = listener.local_addr().unwrap_or(opts.listen);
    let mut hup = signal(SignalKind::hangup()).map_err(ServeError::Signals)?;
    let mut term = signal(SignalKind::terminate()).map_err(ServeError::Signals)?;
    let mut int = signal(SignalKind::interrupt()).map_err(ServeError::Signals)?;
    let metrics = Arc::new(Continuous::new());
    let (config_tx, config_rx) = watch::channel(cfg.clone());
    let turns = Arc::new(turns::Turns::default());
    let state = Arc::new(http::State::new(metrics.clone(), config_rx, turns.clone()));

    let mut stop = CancellationToken::new();
    let mut probing = tokio::spawn(schedule::run(
        cfg,
        metrics.clone(),
        turns.clone(),
        stop.clone(),
    ));
    ready(local);
    tracing::info!(%local, "serving /metrics and /probe");
    let connections = CancellationToken::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let state = state.clone();
                let closing = connections.clone();
                tokio::spawn(async move {
                    let conn = http1::Builder::new().serve_connection(
                        TokioIo::new(stream),
                        service_fn(move |req| http::handle(state.clone(), req)),
                    );
                    tokio::pin!(conn);
                    tokio::select! {
                        _ = conn.as_mut() => {}
                        () = closing.cancelled() => conn.as_mut().graceful_shutdown(),
                    }
                });
            }
            _ = hup.recv() => match opts.load() {
                Ok(new) => {
                    let new = Arc::new(new);
                    tracing::info!(targets = new.targets.len(), "config reloaded");
                    // The new loops start once the old ones have ended
                    // their handshakes (one at a time per target still),
                    // while scrapes go on being answered.
                    stop.cancel();
                    stop = CancellationToken::new();
                    let old = probing;
                    let (cfg, metrics, turns, token) =
                        (new.clone(), metrics.clone(), turns.clone(), stop.clone());
                    probing = tokio::spawn(async move {
                        let _ = old.await;
                        schedule::run(cfg, metrics, turns, token).await;
                    });
                    let _ = config_tx.send(new);
                }
                // The old config stays in force.
                Err(e) => tracing::error!("config not reloaded: {e}"),
            },
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    tracing::info!("draining");
    drop(listener);
    stop.cancel();
    connections.cancel();
    let _ = tokio::time::timeout(opts.drain, probing).await;
    Ok(())
}
