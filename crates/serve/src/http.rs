//! The HTTP side: `/metrics` (the continuous registry), `/probe` (one
//! blackbox-style probe per request, within the scrape timeout Prometheus
//! sends) and `/` (what is served, for a person with a browser).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;

use crate::config::{Config, DEFAULT_MODULE};
use crate::metrics::{self, Continuous};
use crate::turns::Turns;

/// Blackbox_exporter's margin: the answer must be back before Prometheus
/// gives up, so the probe gets the scrape timeout less this.
const TIMEOUT_OFFSET: Duration = Duration::from_millis(500);

/// The least time worth starting a handshake in: with less left, the probe
/// stops and says how many it made rather than report a handshake cut short
/// by its own budget. Half the least budget (below), so the shortest scrape
/// still makes one.
const MIN_HANDSHAKE: Duration = Duration::from_millis(50);

/// The least budget a scrape gets, whatever timeout it sends.
const MIN_BUDGET: Duration = Duration::from_millis(100);

/// Without the header (a person with curl): the longest a probe may take.
const DEFAULT_SCRAPE_TIMEOUT: Duration = Duration::from_secs(10);

/// `/probe` requests served at once, and one at a time per target; more
/// wait. Each is one connection at a time, so a server sees at most one
/// from here through `/probe`.
const PROBES_AT_ONCE: usize = 4;

/// What the handlers share.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) metrics: Arc<Continuous>,
    pub(crate) config: watch::Receiver<Arc<Config>>,
    pub(crate) probes: Semaphore,
    /// One connection at a time per target: a second scrape of the same
    /// target, or its continuous loop, waits (within its own timeout).
    turns: Arc<Turns>,
}

impl State {
    pub(crate) fn new(
        metrics: Arc<Continuous>,
        config: watch::Receiver<Arc<Config>>,
        turns: Arc<Turns>,
    ) -> Self {
        Self {
            metrics,
            config,
            probes: Semaphore::new(PROBES_AT_ONCE),
            turns,
        }
    }
}

type Answer = Response<Full<Bytes>>;

fn answer(status: StatusCode, content_type: &'static str, body: String) -> Answer {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

fn plain(status: StatusCode, body: impl Into<String>) -> Answer {
    answer(status, "text/plain; charset=utf-8", body.into())
}

pub(crate) async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Answer, Infallible> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Ok(plain(StatusCode::METHOD_NOT_ALLOWED, "GET only\n"));
    }
    Ok(match req.uri().path() {
        "/metrics" => answer(
            StatusCode::OK,
            metrics::CONTENT_TYPE,
            state.metrics.encode(),
        ),
        "/probe" => probe(&state, &req).await,
        "/" => plain(StatusCode::OK, index(&state.config.borrow())),
        _ => plain(StatusCode::NOT_FOUND, "not found: try /metrics or /probe\n"),
    })
}

fn index(cfg: &Config) -> String {
    let mut s = String::from(
        "handshake-probe serve\n\n/metrics                 continuous probes of the targets below\n/probe?target=HOST:PORT&module=NAME   one probe (blackbox-style)\n\nmodules:",
    );
    for m in cfg.modules.keys() {
        s.push(' ');
        s.push_str(m);
    }
    s.push_str("\ntargets:\n");
    for t in &cfg.targets {
        s.push_str(&format!(
            "  {} (module {}, every {})\n",
            t.address,
            t.module,
            humantime::format_duration(t.interval)
        ));
    }
    s
}

async fn probe(state: &State, req: &Request<Incoming>) -> Answer {
    let (mut target, mut module) = (None, None);
    for (k, v) in form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes()) {
        match &*k {
            "target" => target = Some(v.into_owned()),
            "module" => module = Some(v.into_owned()),
            _ => {}
        }
    }
    let Some(target) = target else {
        return plain(StatusCode::BAD_REQUEST, "target parameter is missing\n");
    };
    let (host, port) = match hsp_probe::config::split_target(&target) {
        Ok(t) => t,
        Err(e) => return plain(StatusCode::BAD_REQUEST, format!("{e}\n")),
    };
    let module_name = module.unwrap_or_else(|| DEFAULT_MODULE.to_string());
    let Some(module) = state.config.borrow().modules.get(&module_name).cloned() else {
        return plain(
            StatusCode::BAD_REQUEST,
            format!("unknown module '{module_name}'\n"),
        );
    };
    let scrape_timeout = req
        .headers()
        .get("X-Prometheus-Scrape-Timeout-Seconds")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .map_or(DEFAULT_SCRAPE_TIMEOUT, Duration::from_secs_f64);
    let budget = scrape_timeout
        .saturating_sub(TIMEOUT_OFFSET)
        .max(MIN_BUDGET);
    let start = Instant::now();
    let deadline = start + budget;
    // Waiting for this target's turn and a slot counts against the scrape
    // timeout; the handshakes then keep to it themselves, so those made
    // before it are reported.
    let turn = tokio::time::timeout_at(deadline, async {
        let one = state.turns.take(&target).await;
        let slot = state.probes.acquire().await;
        (one, slot)
    })
    .await;
    let records = match turn {
        Ok((_one, _slot)) => Some(probe_target(&module, &module_name, &host, port, deadline).await),
        Err(_) => None,
    };
    let records = records.unwrap_or_default();
    answer(
        StatusCode::OK,
        metrics::CONTENT_TYPE,
        metrics::blackbox(
            &records,
            records.len() == module.count as usize,
            start.elapsed(),
        ),
    )
}

/// The module's handshakes to `host:port`, one after another, within
/// `deadline`. Each handshake gets an equal share of what is left when the
/// turn comes and times itself out, so a hung one is still a record (a
/// timeout verdict); the outer timer is only a backstop, inside the
/// scrape's margin.
async fn probe_target(
    module: &crate::config::Module,
    module_name: &str,
    host: &str,
    port: u16,
    deadline: Instant,
) -> Vec<hsp_core::ConnectionRecord> {
    let share = deadline.saturating_duration_since(Instant::now()) / module.count.max(1);
    if share < MIN_HANDSHAKE {
        return Vec::new();
    }
    let mut cfg = module.probe_config(host, port);
    cfg.timeout = module.timeout.min(share);
    let shared = match hsp_probe::attempt::Shared::new(cfg) {
        Ok(shared) => shared,
        Err(e) => {
            tracing::warn!(module = %module_name, "cannot set up TLS: {e}");
            return Vec::new();
        }
    };
    let backstop = deadline + TIMEOUT_OFFSET / 2;
    let mut records = Vec::new();
    for id in 0..u64::from(module.count) {
        if deadline.saturating_duration_since(Instant::now()) < MIN_HANDSHAKE {
            break;
        }
        match tokio::time::timeout_at(backstop, hsp_probe::run::single(&shared, id)).await {
            Ok(r) => records.push(r),
            Err(_) => break,
        }
    }
    records
}
