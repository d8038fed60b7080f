//! TLS per --ssl-mode against a real MariaDB with certificates made by the
//! test: encryption, chain verification, name verification, and the
//! client's refusal of a certificate it cannot verify.

mod support;

use std::sync::OnceLock;

use hsp_core::{Phase, Verdict};
use hsp_probe::SslMode;
use hsp_testkit::{MariaDb, NATIVE_USER, ServerOptions};
use support::{config, probe, time_waits, verdicts};

fn tls_server() -> &'static MariaDb {
    static S: OnceLock<MariaDb> = OnceLock::new();
    S.get_or_init(|| {
        MariaDb::start(&ServerOptions {
            tls: true,
            ..ServerOptions::default()
        })
    })
}

fn run(mode: SslMode, ca: Option<std::path::PathBuf>) -> Vec<hsp_core::ConnectionRecord> {
    let db = tls_server();
    let mut cfg = config(db.addr(), Some(NATIVE_USER));
    cfg.ssl_mode = mode;
    cfg.ssl_ca = ca;
    cfg.count = Some(3);
    probe(cfg).0
}

#[test]
fn required_and_preferred_encrypt_and_time_the_tls_phase() {
    for mode in [SslMode::Required, SslMode::Preferred] {
        for r in run(mode, None) {
            assert_eq!(r.verdict, Verdict::Ok, "{mode:?}: {r:?}");
            let tls = r.tls.as_ref().expect("TLS negotiated");
            assert!(tls.version.starts_with("TLSv1_"), "{tls:?}");
            assert!(r.phases_us.get(Phase::Tls).is_some());
        }
    }
}

#[test]
fn disabled_stays_plain() {
    for r in run(SslMode::Disabled, None) {
        assert_eq!(r.verdict, Verdict::Ok);
        assert!(r.tls.is_none());
        assert!(r.phases_us.get(Phase::Tls).is_none());
    }
}

#[test]
fn verify_ca_and_verify_identity_accept_the_test_ca() {
    let ca = tls_server().tls.as_ref().unwrap().ca.clone();
    for mode in [SslMode::VerifyCa, SslMode::VerifyIdentity] {
        let recs = run(mode, Some(ca.clone()));
        assert!(
            recs.iter()
                .all(|r| r.verdict == Verdict::Ok && r.tls.is_some()),
            "{mode:?}: {:?}",
            verdicts(&recs)
        );
    }
}

#[test]
fn verify_ca_with_another_ca_is_a_client_abort_with_2026() {
    let dir = tempfile::tempdir().unwrap();
    let other = hsp_testkit::make_certs(dir.path());
    for r in run(SslMode::VerifyCa, Some(other.ca)) {
        assert_eq!(r.verdict, Verdict::ClientAbort, "{r:?}");
        assert_eq!(r.phase, Phase::Tls);
        let e = r.app_error.as_ref().unwrap();
        assert_eq!(e.code, 2026, "{e:?}");
        assert!(
            e.message.starts_with("SSL connection error"),
            "{}",
            e.message
        );
    }
}

#[test]
fn required_against_a_server_without_tls_is_a_client_abort() {
    let db = MariaDb::start_default();
    let mut cfg = config(db.addr(), Some(NATIVE_USER));
    cfg.ssl_mode = SslMode::Required;
    cfg.count = Some(1);
    let (recs, _) = probe(cfg);
    let r = &recs[0];
    assert_eq!(r.verdict, Verdict::ClientAbort, "{r:?}");
    assert_eq!(r.app_error.as_ref().unwrap().code, 2026);
}

#[test]
fn over_tls_the_probe_quits_first_and_the_server_keeps_no_time_wait() {
    // Its own server: no other test's connections on its port.
    let db = MariaDb::start(&ServerOptions {
        tls: true,
        ..ServerOptions::default()
    });
    let aborted = || {
        db.sql("SHOW GLOBAL STATUS LIKE 'Aborted_clients'")
            .split_whitespace()
            .nth(1)
            .and_then(|v| v.parse::<u64>().ok())
            .expect("Aborted_clients")
    };
    let before = aborted();
    let mut cfg = config(db.addr(), Some(NATIVE_USER));
    cfg.ssl_mode = SslMode::Required;
    cfg.count = Some(50);
    cfg.concurrency = 2;
    let (recs, _) = probe(cfg);
    assert!(
        recs.iter()
            .all(|r| r.verdict == Verdict::Ok && r.tls.is_some()),
        "{:?}",
        verdicts(&recs)
    );
    // COM_QUIT and close_notify went encrypted, with the FIN: the server
    // read the COM_QUIT (no aborted client) and never closed first. (Its
    // own close_notify then meets a closed socket, which answers with a
    // reset, as it does for mysql_close: no TIME_WAIT on either side.)
    assert_eq!(aborted(), before, "the server counted aborted clients");
    let (server_side, _) = time_waits(db.addr().port());
    assert_eq!(
        server_side, 0,
        "the server closed first in {server_side} connections"
    );
}
