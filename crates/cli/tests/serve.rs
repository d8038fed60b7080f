//! `serve` as an operator runs it, against a private MariaDB: the
//! continuous `/metrics`, the blackbox-style `/probe` (a target that never
//! answers returns within the scrape timeout), a config reloaded on SIGHUP,
//! a drain on SIGTERM, 1000 scrapes without growth, and a config that
//! cannot be used stopping `serve` before it starts.

mod common;

use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

use common::http::{Serve, get, sample};
use hsp_testkit::{MariaDb, NATIVE_USER};

fn rss(addr: std::net::SocketAddr) -> f64 {
    let (_, _, body) = get(addr, "/metrics", &[]);
    sample(&body, "process_resident_memory_bytes").expect("process metrics")
}

/// Polls `/metrics` (bounded: 150 times, 100 ms apart) until `done` holds.
fn until(addr: std::net::SocketAddr, what: &str, done: impl Fn(&str) -> bool) -> String {
    for _ in 0..150 {
        let (_, _, body) = get(addr, "/metrics", &[]);
        if done(&body) {
            return body;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let (_, _, body) = get(addr, "/metrics", &[]);
    panic!("{what} never showed in /metrics:\n{body}");
}

#[test]
fn serve_probes_targets_answers_probe_requests_reloads_and_drains() {
    let db = MariaDb::start_default();
    let port = db.addr().port();
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, format!("{}\n", NATIVE_USER.1)).unwrap();
    let config = dir.path().join("serve.toml");
    let login_target = format!("127.0.0.1:{port}");
    let text = format!(
        "[modules.login]\nuser = \"{}\"\npassword_file = \"{}\"\nssl_mode = \"DISABLED\"\n\n\
         [[targets]]\naddress = \"{login_target}\"\nmodule = \"login\"\ninterval = \"200ms\"\n",
        NATIVE_USER.0,
        pw.display()
    );
    std::fs::write(&config, &text).unwrap();
    let plain_target = format!("localhost:{port}");
    let serve = Serve::start(&[
        "--config",
        config.to_str().unwrap(),
        "--target",
        &plain_target,
        "--target",
        "nonexistent.invalid:3306",
        "--interval",
        "200ms",
    ]);
    let a = serve.addr;

    // Continuous: both targets, real logins and credential-less ones.
    let ok = |t: &str| {
        format!("handshake_probe_connections_total{{target=\"{t}\",verdict=\"ok\",party=\"none\"}}")
    };
    let body = until(a, "three handshakes per target", |b| {
        sample(b, &ok(&login_target)).is_some_and(|v| v >= 3.0)
            && sample(b, &ok(&plain_target)).is_some_and(|v| v >= 3.0)
    });
    // With credentials, the server's counters: the credential-less
    // target's logins are refused (ERR 1045), which the server counts in
    // Aborted_connects.
    until(a, "the server's Aborted_connects growth", |b| {
        sample(
            b,
            &format!("handshake_probe_server_aborted_connects_total{{target=\"{login_target}\"}}"),
        )
        .is_some_and(|v| v >= 1.0)
    });
    // A name that does not resolve is a metric too.
    until(a, "the unresolvable target", |b| {
        b.contains("handshake_probe_connections_total{target=\"nonexistent.invalid:3306\"")
    });
    for phase in ["tcp_connect", "greeting", "login", "total"] {
        let bucket = format!(
            "handshake_probe_phase_duration_seconds_bucket{{le=\"+Inf\",target=\"{login_target}\",phase=\"{phase}\"}}"
        );
        assert!(
            sample(&body, &bucket).is_some_and(|v| v >= 3.0),
            "{bucket} in\n{body}"
        );
    }
    assert_eq!(
        sample(
            &body,
            &format!("handshake_probe_last_success{{target=\"{login_target}\"}}")
        ),
        Some(1.0)
    );
    assert!(body.ends_with("# EOF\n"), "OpenMetrics ends with # EOF");
    assert!(!body.contains(NATIVE_USER.1), "the password never shows");
    let (status, headers, _) = get(a, "/metrics", &[]);
    assert_eq!(status, 200);
    assert!(
        headers.contains("content-type: application/openmetrics-text; version=1.0.0"),
        "{headers}"
    );

    // Blackbox-style, with a module's credentials.
    let (status, _, body) = get(
        a,
        &format!("/probe?target=127.0.0.1%3A{port}&module=login"),
        &[("X-Prometheus-Scrape-Timeout-Seconds", "5")],
    );
    assert_eq!(status, 200);
    assert_eq!(sample(&body, "probe_success"), Some(1.0), "{body}");
    assert_eq!(
        sample(
            &body,
            "handshake_probe_verdict_info{verdict=\"ok\",party=\"none\"}"
        ),
        Some(1.0),
        "{body}"
    );
    let (status, _, body) = get(a, "/probe?target=127.0.0.1:1&module=nope", &[]);
    assert_eq!(status, 400, "{body}");

    // A server that accepts and never greets: back within the scrape
    // timeout, by the exporter's own clock, with probe_success 0.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let (_, _, body) = get(
        a,
        &format!("/probe?target={}", silent.local_addr().unwrap()),
        &[("X-Prometheus-Scrape-Timeout-Seconds", "1.5")],
    );
    assert_eq!(sample(&body, "probe_success"), Some(0.0), "{body}");
    let took = sample(&body, "probe_duration_seconds").unwrap();
    assert!(took < 1.5, "the probe took {took} s of a 1.5 s scrape");
    // The hung handshake timed itself out within the budget, so it is
    // reported, not dropped.
    assert_eq!(
        sample(&body, "handshake_probe_handshakes"),
        Some(1.0),
        "{body}"
    );

    // Two scrapes of that target at once: one connection at a time, so
    // the second waits its turn (and, out of time, usually makes none).
    let (both, (_, most)) = std::thread::scope(|s| {
        let watcher = s.spawn(|| count_open_connections(&silent, Duration::from_secs(3)));
        let scrape = || {
            get(
                a,
                &format!("/probe?target={}", silent.local_addr().unwrap()),
                &[("X-Prometheus-Scrape-Timeout-Seconds", "1.5")],
            )
            .2
        };
        let (x, y) = (s.spawn(scrape), s.spawn(scrape));
        let both = vec![x.join().unwrap(), y.join().unwrap()];
        (both, watcher.join().unwrap())
    });
    let made: f64 = both
        .iter()
        .map(|b| sample(b, "handshake_probe_handshakes").unwrap())
        .sum();
    assert!(made >= 1.0, "{both:?}");
    assert_eq!(most, 1, "{most} connections at once: {both:?}");

    // 1000 scrapes: memory stays flat.
    for _ in 0..100 {
        get(a, &format!("/probe?target=127.0.0.1:{port}"), &[]);
    }
    let before = rss(a);
    for _ in 0..1000 {
        let (_, _, body) = get(a, &format!("/probe?target=127.0.0.1:{port}"), &[]);
        assert_eq!(sample(&body, "probe_success"), Some(1.0), "{body}");
    }
    let after = rss(a);
    assert!(
        after - before < 2.0 * 1024.0 * 1024.0,
        "RSS grew from {before} to {after} bytes over 1000 scrapes"
    );

    // SIGHUP: a new target (nothing listens there: a metric, not a crash).
    let refused = format!("127.0.0.1:{}", {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    });
    std::fs::write(
        &config,
        format!("{text}\n[[targets]]\naddress = \"{refused}\"\ninterval = \"200ms\"\n"),
    )
    .unwrap();
    serve.signal("HUP");
    until(a, "the reloaded target", |b| {
        sample(
            b,
            &format!("handshake_probe_connections_total{{target=\"{refused}\",verdict=\"no_server\",party=\"server\"}}"),
        )
        .is_some()
    });
    // A broken config on SIGHUP leaves the old one in force.
    std::fs::write(&config, "[[targets]\n").unwrap();
    serve.signal("HUP");
    let (status, _, _) = get(a, "/metrics", &[]);
    assert_eq!(status, 200);

    // SIGTERM: drains and exits 0.
    let mut serve = serve;
    serve.signal("TERM");
    let status = serve.child.wait().unwrap();
    assert!(status.success(), "{status}");
}

/// Accepts on `listener` and never greets, for `run`; returns how many
/// connections came and the most that were open at once.
fn count_open_connections(listener: &TcpListener, run: Duration) -> (usize, usize) {
    use std::io::Read;
    listener.set_nonblocking(true).unwrap();
    let (mut open, mut came, mut most) = (Vec::new(), 0, 0);
    let end = std::time::Instant::now() + run;
    while std::time::Instant::now() < end {
        while let Ok((s, _)) = listener.accept() {
            s.set_nonblocking(true).unwrap();
            open.push(s);
            came += 1;
        }
        // A closed one reads end of file (or a reset).
        open.retain_mut(|s| match s.read(&mut [0; 64]) {
            Ok(0) => false,
            Ok(_) => true,
            Err(e) => e.kind() == std::io::ErrorKind::WouldBlock,
        });
        most = most.max(open.len());
        std::thread::sleep(Duration::from_millis(5));
    }
    (came, most)
}

#[test]
fn a_target_both_listed_and_scraped_gets_one_connection_at_a_time() {
    // A server that never greets holds each handshake for the module's
    // 5 s timeout: the continuous loop holds the target's turn, so the
    // scrapes meanwhile wait and make no connection of their own.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let target = silent.local_addr().unwrap().to_string();
    let serve = Serve::start(&["--target", &target, "--interval", "100ms"]);
    let a = serve.addr;
    let (came, most) = std::thread::scope(|s| {
        let watcher = s.spawn(|| count_open_connections(&silent, Duration::from_secs(4)));
        std::thread::sleep(Duration::from_millis(500));
        for _ in 0..2 {
            let (_, _, body) = get(
                a,
                &format!("/probe?target={target}"),
                &[("X-Prometheus-Scrape-Timeout-Seconds", "1.5")],
            );
            assert_eq!(sample(&body, "probe_success"), Some(0.0), "{body}");
            assert_eq!(
                sample(&body, "handshake_probe_handshakes"),
                Some(0.0),
                "a scrape connected while the loop's handshake was in flight:\n{body}"
            );
        }
        watcher.join().unwrap()
    });
    assert!(came >= 1, "the continuous loop never connected");
    assert_eq!(
        most, 1,
        "{most} of the exporter's connections were open at once"
    );
}

#[test]
fn a_config_that_cannot_be_used_stops_serve_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(
        &config,
        "[modules.a]\ntimeout = \"2s\"\n\n[[targets]]\naddress = \"db1\"\nmodule = \"b\"\n",
    )
    .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_handshake-probe"))
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("{}:6: no module named 'b'", config.display())),
        "{err}"
    );
    assert!(!err.contains("serving"), "{err}");
    // --check says the same without starting.
    let o = Command::new(env!("CARGO_BIN_EXE_handshake-probe"))
        .args(["serve", "--check", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
}
