//! The probe must never get the probing host blocked (ER_HOST_IS_BLOCKED
//! 1129). A real MariaDB with name resolution on (private hosts file, no
//! DNS) and max_connect_errors=5, probed from 127.0.0.2 (MariaDB never
//! counts connect errors for 127.0.0.1): 200 credential-less probes leave
//! the host unblocked, while a control of abandoned handshakes from the
//! same address gets it blocked, so the test can fail.
//!
//! A second test measures, mode by mode, what the server's host cache
//! counts; README's "Probing safely" table comes from its output.

mod support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use hsp_core::Verdict;
use hsp_probe::SslMode;
use hsp_testkit::{MariaDb, NATIVE_USER, ServerOptions};
use support::{config, probe, verdicts};

const PROBE_HOST: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

fn server(extra: Vec<String>, tls: bool) -> MariaDb {
    MariaDb::start(&ServerOptions {
        name_resolve: true,
        max_connect_errors: Some(5),
        connect_timeout: Some(2),
        tls,
        extra,
        ..ServerOptions::default()
    })
}

/// Connects from 127.0.0.2, reads the greeting's first bytes and closes:
/// what a port scanner or a naive health check does.
fn abandon(addr: SocketAddr, times: usize) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        for _ in 0..times {
            let s = tokio::net::TcpSocket::new_v4().unwrap();
            s.bind(SocketAddr::new(PROBE_HOST, 0)).unwrap();
            let mut c = s.connect(addr).await.unwrap();
            let mut b = [0u8; 4];
            tokio::io::AsyncReadExt::read_exact(&mut c, &mut b)
                .await
                .unwrap();
            drop(c);
            // The server counts the error when its read fails.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
}

fn probe_from_host(
    db: &MariaDb,
    creds: Option<(&str, &str)>,
    n: u64,
) -> Vec<hsp_core::ConnectionRecord> {
    let mut cfg = config(db.addr(), creds);
    cfg.bind = Some(PROBE_HOST);
    cfg.count = Some(n);
    cfg.concurrency = 4;
    probe(cfg).0
}

#[test]
fn credential_less_probes_never_get_the_host_blocked_but_abandoned_handshakes_do() {
    let db = server(Vec::new(), false);
    let recs = probe_from_host(&db, None, 200);
    assert!(
        recs.iter().all(|r| r.verdict == Verdict::Ok),
        "{:?}",
        verdicts(&recs)
    );
    let after = probe_from_host(&db, None, 1);
    assert_eq!(
        after[0].verdict,
        Verdict::Ok,
        "still unblocked: {:?}",
        after[0]
    );

    // Control: abandoned handshakes from the same address block it.
    abandon(db.addr(), 6);
    let blocked = probe_from_host(&db, None, 1);
    let r = &blocked[0];
    assert_eq!(r.verdict, Verdict::Refused, "{r:?}");
    let e = r.error.as_ref().unwrap();
    assert_eq!((e.code, e.replaced_greeting), (1129, true), "{e:?}");

    db.sql("FLUSH HOSTS");
    assert_eq!(probe_from_host(&db, None, 1)[0].verdict, Verdict::Ok);
}

/// SUM_CONNECT_ERRORS of 127.0.0.2 in the server's host cache.
fn connect_errors(db: &MariaDb) -> u64 {
    db.sql("SELECT COALESCE(SUM(SUM_CONNECT_ERRORS),0) FROM performance_schema.host_cache WHERE IP='127.0.0.2'")
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn which_probe_modes_count_toward_max_connect_errors() {
    let db = server(vec!["--performance-schema=ON".into()], true);
    let n = 3;
    let mut table = Vec::new();
    let mut measure = |name: &str, f: &dyn Fn()| {
        db.sql("FLUSH HOSTS");
        f();
        std::thread::sleep(Duration::from_millis(200));
        let counted = connect_errors(&db);
        table.push((name.to_string(), counted));
        counted
    };
    let run = |creds: Option<(&str, &str)>, tweak: &dyn Fn(&mut hsp_probe::ProbeConfig)| {
        let mut cfg = config(db.addr(), creds);
        cfg.bind = Some(PROBE_HOST);
        cfg.count = Some(n);
        cfg.concurrency = n as usize;
        tweak(&mut cfg);
        probe(cfg)
    };
    let ca_dir = tempfile::tempdir().unwrap();
    let wrong_ca = hsp_testkit::make_certs(ca_dir.path()).ca;

    let default = measure("no credentials (default)", &|| {
        run(None, &|_| {});
    });
    let ok = measure("valid credentials", &|| {
        run(Some(NATIVE_USER), &|_| {});
    });
    let wrong = measure("wrong password", &|| {
        run(Some((NATIVE_USER.0, "wrong")), &|_| {});
    });
    let tls = measure("--ssl-mode REQUIRED", &|| {
        run(None, &|c| c.ssl_mode = SslMode::Required);
    });
    let tls_refused = measure("TLS certificate refused by the client", &|| {
        run(None, &|c| {
            c.ssl_mode = SslMode::VerifyCa;
            c.ssl_ca = Some(wrong_ca.clone());
        });
    });
    let late = measure("--login-delay beyond connect_timeout", &|| {
        run(None, &|c| c.login_delay = Duration::from_secs(3));
    });
    let interrupted = measure("Ctrl-C during a handshake", &|| {
        let mut cfg = config(db.addr(), None);
        cfg.bind = Some(PROBE_HOST);
        cfg.count = Some(n);
        cfg.concurrency = n as usize;
        cfg.login_delay = Duration::from_secs(1);
        cfg.grace = Duration::from_millis(100);
        let cancel = tokio_util::sync::CancellationToken::new();
        let c2 = cancel.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            c2.cancel();
        });
        let (recs, report) = support::probe_with(cfg, cancel);
        t.join().unwrap();
        assert!(report.interrupted);
        assert!(
            recs.iter()
                .all(|r| r.verdict == Verdict::Incomplete && r.outcome == "interrupted"),
            "{:?}",
            verdicts(&recs)
        );
    });
    let abandoned = measure("connection closed after the greeting", &|| {
        abandon(db.addr(), n as usize);
    });

    println!("| mode | connect errors counted for {n} connections |");
    println!("| --- | --- |");
    for (name, c) in &table {
        println!("| {name} | {c} |");
    }
    let t = format!("{table:?}");
    assert_eq!(
        abandoned, n,
        "the control must count, else nothing here is measured: {t}"
    );
    assert_eq!(default, 0, "{t}");
    assert_eq!(ok, 0, "{t}");
    assert_eq!(wrong, 0, "{t}");
    assert_eq!(tls, 0, "{t}");
    // Modes that give up mid-handshake count, as any client's would; the
    // README warns about each one.
    assert_eq!(tls_refused, n, "{t}");
    assert_eq!(late, n, "{t}");
    assert_eq!(interrupted, n, "{t}");
}
