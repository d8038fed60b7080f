//! Helpers shared by the probe's integration tests.
#![allow(dead_code, unreachable_pub, reason = "each test binary uses a subset")]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hsp_core::{ConnectionRecord, Verdict};
use hsp_probe::attempt::Shared;
use hsp_probe::{Credentials, ProbeConfig, RunReport, SslMode};
use hsp_wire::client::Secret;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A config for `addr` with credentials, plain TCP, short limits.
pub fn config(addr: SocketAddr, creds: Option<(&str, &str)>) -> ProbeConfig {
    let mut c = ProbeConfig::new(addr.ip().to_string(), addr.port());
    c.credentials = creds.map(|(u, p)| Credentials {
        user: u.into(),
        password: Secret::new(p),
    });
    c.params.access_denied_expected = creds.is_none();
    c.ssl_mode = SslMode::Disabled;
    c.timeout = Duration::from_secs(10);
    c.count = Some(5);
    c
}

/// Runs a probe to its end; returns every record (in arrival order) and the report.
pub fn probe(cfg: ProbeConfig) -> (Vec<ConnectionRecord>, RunReport) {
    probe_with(cfg, CancellationToken::new())
}

/// As [`probe`], with a cancellation token the test controls.
pub fn probe_with(
    cfg: ProbeConfig,
    cancel: CancellationToken,
) -> (Vec<ConnectionRecord>, RunReport) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        let shared = Arc::new(Shared::new(cfg).expect("probe setup"));
        let (tx, mut rx) = mpsc::channel(1024);
        let run = tokio::spawn(hsp_probe::run(shared, tx, cancel));
        let mut records = Vec::new();
        while let Some(r) = rx.recv().await {
            records.push(r);
        }
        let report = run.await.expect("run task").expect("run setup");
        (records, report)
    })
}

/// Verdict counts, for assertion messages.
pub fn verdicts(records: &[ConnectionRecord]) -> Vec<(Verdict, &'static str, Option<u16>)> {
    records
        .iter()
        .map(|r| (r.verdict, r.outcome, r.error_code().map(|e| e.0)))
        .collect()
}

/// IPv4 TIME_WAIT sockets with `port` as their local port (the server's
/// side of a connection to it) and as their remote port (the client's).
pub fn time_waits(port: u16) -> (usize, usize) {
    let text = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let port_of = |addr: &str| u16::from_str_radix(addr.rsplit(':').next().unwrap(), 16).unwrap();
    let (mut server_side, mut client_side) = (0, 0);
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        // st 06 is TIME_WAIT.
        if f[3] != "06" {
            continue;
        }
        if port_of(f[1]) == port {
            server_side += 1;
        } else if port_of(f[2]) == port {
            client_side += 1;
        }
    }
    (server_side, client_side)
}
