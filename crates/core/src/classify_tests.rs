//! The classifier's rules, one test per rule and per precedence decision.

use std::time::Duration;

use crate::classify::{End, Facts, Params, classify};
use crate::phase::{Party, Phase};
use crate::record::ConnectionRecord;
use crate::stats::Stats;
use crate::verdict::Verdict;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn facts(end: End, phase: Phase, phases: &[(Phase, u64)]) -> Facts {
    let mut f = Facts::new(end, phase, "127.0.0.1:3306");
    for (p, d) in phases {
        f.phases.set(*p, ms(*d));
    }
    f
}

fn params() -> Params {
    Params {
        connect_timeout: Duration::from_secs(2),
        ..Params::default()
    }
}

#[test]
fn a_fast_completed_handshake_is_ok() {
    let f = facts(
        End::Completed,
        Phase::Login,
        &[(Phase::Greeting, 1), (Phase::Login, 2), (Phase::Total, 3)],
    );
    let c = classify(&f, &params());
    assert_eq!(c.verdict, Verdict::Ok);
    assert_eq!(c.party, Party::None);
    assert_eq!(c.app_error, None);
    assert!(!c.near_connect_timeout);
}

#[test]
fn server_errors_map_to_auth_refused_and_packet_too_large() {
    for (code, v) in [
        (1045, Verdict::AuthFailed),
        (1044, Verdict::AuthFailed),
        (1040, Verdict::Refused),
        (1129, Verdict::Refused),
        (1153, Verdict::PacketTooLarge),
        (4031, Verdict::IdleTimeout),
    ] {
        let mut f = facts(
            End::ServerError {
                code,
                replaced_greeting: false,
            },
            Phase::Login,
            &[],
        );
        f.server_message = Some("msg".into());
        let c = classify(&f, &params());
        assert_eq!(c.verdict, v, "code {code}");
        assert_eq!(c.app_error.as_ref().map(|e| e.code), Some(code));
    }
}

#[test]
fn explicit_answers_win_over_network_evidence_and_slowness() {
    let mut f = facts(
        End::ServerError {
            code: 1040,
            replaced_greeting: true,
        },
        Phase::Greeting,
        &[(Phase::Greeting, 5000)],
    );
    f.retransmits = 3;
    assert_eq!(classify(&f, &params()).verdict, Verdict::Refused);
}

#[test]
fn expected_access_denied_is_ok_unless_slow() {
    let p = Params {
        access_denied_expected: true,
        ..params()
    };
    let end = End::ServerError {
        code: 1045,
        replaced_greeting: false,
    };
    let f = facts(end, Phase::Login, &[(Phase::Login, 3)]);
    assert_eq!(classify(&f, &p).verdict, Verdict::Ok);
    let f = facts(end, Phase::Login, &[(Phase::Greeting, 1500)]);
    let c = classify(&f, &p);
    assert_eq!(c.verdict, Verdict::ServerSlow);
    assert_eq!(c.phase, Phase::Greeting);
}

#[test]
fn a_reset_at_connect_timeout_while_the_login_is_late_is_server_timeout() {
    let mut f = facts(
        End::ServerClosed { reset: true },
        Phase::ClientReply,
        &[(Phase::ClientReply, 2000)],
    );
    f.server_wait = Some(ms(2000));
    f.errno = Some(104);
    let c = classify(&f, &params());
    assert_eq!(c.verdict, Verdict::ServerTimeout);
    let e = c.app_error.expect("an app error");
    assert_eq!(e.code, 2013);
    assert!(
        e.message.contains("'reading authorization packet'"),
        "{}",
        e.message
    );
    assert!(c.near_connect_timeout);
}

#[test]
fn retransmissions_turn_a_timeout_into_a_network_stall() {
    let mut f = facts(
        End::ServerClosed { reset: true },
        Phase::Login,
        &[(Phase::Login, 1990)],
    );
    f.server_wait = Some(ms(2000));
    f.retransmits = 4;
    let c = classify(&f, &params());
    assert_eq!(c.verdict, Verdict::NetworkStall);
    assert_eq!(c.party, Party::Network);
}

#[test]
fn a_reset_far_from_connect_timeout_is_server_reset() {
    let mut f = facts(
        End::ServerClosed { reset: true },
        Phase::Login,
        &[(Phase::Login, 30)],
    );
    f.server_wait = Some(ms(30));
    assert_eq!(classify(&f, &params()).verdict, Verdict::ServerReset);
    // Closed before the greeting: what the application logs.
    let f = facts(End::ServerClosed { reset: false }, Phase::Greeting, &[]);
    let c = classify(&f, &params());
    assert_eq!(c.verdict, Verdict::ServerReset);
    assert!(
        c.app_error
            .unwrap()
            .message
            .contains("'reading initial communication packet'")
    );
}

#[test]
fn slowness_is_blamed_on_whose_turn_it_was() {
    let f = facts(
        End::Completed,
        Phase::Login,
        &[(Phase::Greeting, 1500), (Phase::Total, 1600)],
    );
    let c = classify(&f, &params());
    assert_eq!((c.verdict, c.phase), (Verdict::ServerSlow, Phase::Greeting));
    let f = facts(
        End::Completed,
        Phase::Login,
        &[(Phase::ClientReply, 1200), (Phase::Total, 1300)],
    );
    let c = classify(&f, &params());
    assert_eq!(
        (c.verdict, c.phase),
        (Verdict::ClientSlow, Phase::ClientReply)
    );
    // Under --slow: ok.
    let f = facts(End::Completed, Phase::Login, &[(Phase::Greeting, 900)]);
    assert_eq!(classify(&f, &params()).verdict, Verdict::Ok);
}

#[test]
fn giving_up_on_a_silent_server_is_server_slow_with_the_waiting_message() {
    let f = facts(End::TimedOut, Phase::Greeting, &[(Phase::Greeting, 500)]);
    let c = classify(&f, &params());
    assert_eq!(c.verdict, Verdict::ServerSlow);
    assert!(
        c.app_error
            .unwrap()
            .message
            .contains("'waiting for initial communication packet'")
    );
}

#[test]
fn connect_failures_are_no_server() {
    let c = classify(
        &facts(End::ConnectRefused, Phase::TcpConnect, &[]),
        &params(),
    );
    assert_eq!(c.verdict, Verdict::NoServer);
    let e = c.app_error.unwrap();
    assert_eq!(e.code, 2003);
    assert!(e.message.ends_with("(111)"), "{}", e.message);
    let c = classify(
        &facts(End::ConnectTimedOut, Phase::TcpConnect, &[]),
        &params(),
    );
    assert_eq!(c.verdict, Verdict::NoServer);
}

#[test]
fn idle_timeout_needs_the_wait_timeout_pattern() {
    let p = Params {
        wait_timeout: Some(Duration::from_secs(2)),
        ..params()
    };
    let mut f = facts(End::ServerClosed { reset: true }, Phase::Command, &[]);
    f.server_wait = Some(ms(2010));
    let c = classify(&f, &p);
    assert_eq!(c.verdict, Verdict::IdleTimeout);
    assert_eq!(c.app_error.unwrap().code, 2006);
    f.server_wait = Some(ms(200));
    assert_eq!(classify(&f, &p).verdict, Verdict::ServerReset);
}

#[test]
fn malformed_interrupted_and_client_aborts() {
    let c = classify(&facts(End::Malformed, Phase::Greeting, &[]), &params());
    assert_eq!(c.verdict, Verdict::ProtocolError);
    assert_eq!(c.app_error.unwrap().code, 2027);
    let c = classify(&facts(End::Interrupted, Phase::Login, &[]), &params());
    assert_eq!(c.verdict, Verdict::Incomplete);
    let c = classify(
        &facts(End::ClientClosed { reset: false }, Phase::Tls, &[]),
        &params(),
    );
    assert_eq!(c.verdict, Verdict::ClientAbort);
}

#[test]
fn stats_merge_adds_histograms_and_keeps_the_slowest() {
    let mk = |id: u64, total: u64, v: End| {
        let f = facts(
            v,
            Phase::Login,
            &[(Phase::Total, total), (Phase::Login, total)],
        );
        let c = classify(&f, &params());
        let mut r = ConnectionRecord::new(id, 0, &f, c);
        r.time = Some(crate::wall::WallTime(Duration::from_secs(1_000 + id)));
        r
    };
    let mut a = Stats::default();
    let mut b = Stats::default();
    for i in 0..100 {
        a.record(&mk(i, 1 + i % 10, End::Completed));
        b.record(&mk(100 + i, 20 + i, End::ServerClosed { reset: true }));
    }
    a.merge(&b);
    let s = a.summary();
    assert_eq!(s.connections, 200);
    assert_eq!(s.verdicts["ok"], 100);
    assert_eq!(s.verdicts["server_reset"], 100);
    let total = &s.phases_us[&Phase::Total];
    assert_eq!(total.count, 200);
    assert_eq!(total.min, 1000);
    assert!((119_000..=119_100).contains(&total.max), "{}", total.max);
    assert_eq!(s.slowest.len(), 5);
    assert_eq!(s.slowest[0].id, 199, "slowest first");
    // The wall-clock span covers both sets (the probe merges its shards).
    assert_eq!(s.start.unwrap().0.as_secs(), 1_000);
    assert_eq!(s.end.unwrap().0.as_secs(), 1_199);
    assert_eq!(
        s.total_histogram.iter().map(|b| b.count).sum::<u64>(),
        200,
        "every connection falls in one bar: {:?}",
        s.total_histogram
    );
}

// Issue 9: the hard cases.

use crate::network::{HandshakePacket, Resent, ResetSignals, Side, Unseen};

fn resent(packet: HandshakePacket, delay_ms: u64) -> Resent {
    Resent {
        packet,
        delay: Some(ms(delay_ms)),
        copies: 1,
        first_lost: false,
    }
}

#[test]
fn a_lost_handshake_packet_is_a_network_stall_even_under_slow() {
    let mut f = facts(
        End::Completed,
        Phase::Login,
        &[
            (Phase::Greeting, 1),
            (Phase::Login, 610),
            (Phase::Total, 612),
        ],
    );
    assert_eq!(classify(&f, &params()).verdict, Verdict::Ok);
    f.resent = Some(resent(HandshakePacket::Answer, 610));
    f.retransmits = 1;
    let c = classify(&f, &params());
    assert_eq!(c.verdict, Verdict::NetworkStall);
    assert_eq!(c.party, Party::Network);
    assert!(
        c.evidence[0].contains(
            "the server's answer to the login was retransmitted 0.61 s after its first copy"
        ),
        "{:?}",
        c.evidence
    );
}

#[test]
fn nothing_is_lost_on_loopback() {
    // SYNs retransmitted by a full listen queue: the server's side.
    let mut f = facts(
        End::Completed,
        Phase::Login,
        &[
            (Phase::TcpConnect, 1003),
            (Phase::Login, 1),
            (Phase::Total, 1005),
        ],
    );
    f.retransmits = 1;
    assert_eq!(classify(&f, &params()).verdict, Verdict::NetworkStall);
    f.loopback = true;
    let c = classify(&f, &params());
    assert_eq!(c.verdict, Verdict::ServerSlow);
    assert!(c.evidence[0].contains("on loopback"), "{:?}", c.evidence);
    // A resent packet on loopback decides nothing either.
    let mut g = facts(End::Completed, Phase::Login, &[(Phase::Login, 300)]);
    g.loopback = true;
    g.resent = Some(resent(HandshakePacket::Login, 300));
    assert_eq!(classify(&g, &params()).verdict, Verdict::Ok);
}

#[test]
fn an_answer_the_client_never_acknowledged_is_a_network_stall() {
    let mut f = facts(
        End::AnswerLost { reset: true },
        Phase::Login,
        &[(Phase::Login, 1), (Phase::Total, 3)],
    );
    f.resent = Some(Resent {
        copies: 4,
        ..resent(HandshakePacket::Answer, 5000)
    });
    let c = classify(&f, &params());
    assert_eq!(c.verdict, Verdict::NetworkStall);
    assert_eq!(f.end.name(), "answer_lost");
    let e = c.app_error.unwrap();
    assert_eq!(e.code, 2013);
    assert!(e.message.contains("reading authorization packet"));
}

#[test]
fn a_close_whose_sequence_shows_a_lost_greeting_is_a_network_stall() {
    let mut f = facts(
        End::ServerClosed { reset: true },
        Phase::Greeting,
        &[(Phase::Greeting, 2000)],
    );
    assert_eq!(classify(&f, &params()).verdict, Verdict::ServerSlow);
    let lost = Unseen {
        sender: Side::Server,
        bytes: 104,
        shown_by: crate::network::ShownBy::Rst,
        acked: false,
        nothing_seen: true,
    };
    f.unseen = Some(lost);
    let c = classify(&f, &params());
    assert_eq!(c.verdict, Verdict::NetworkStall);
    assert!(c.evidence[0].contains("ISN+1+104"), "{:?}", c.evidence);
    // Acknowledged by the client: the tap missed it, the network did not.
    f.unseen = Some(Unseen {
        acked: true,
        ..lost
    });
    f.missed = Some(crate::network::MissedByTap {
        sender: Side::Server,
        bytes: 104,
        likely_quit: false,
    });
    let c = classify(&f, &params());
    assert_eq!(c.verdict, Verdict::ServerSlow);
    assert!(c.evidence.iter().any(|e| e.contains("capture loss")));
}

fn signals(sender: Side) -> ResetSignals {
    ResetSignals {
        sender,
        kept_sending: None,
        ttl: Some((64, 63)),
        timestamps_negotiated: true,
        no_timestamp: true,
        seq_off: None,
    }
}

#[test]
fn a_reset_its_sender_did_not_send_is_a_middlebox_reset() {
    let p = Params {
        wait_timeout: Some(Duration::from_secs(2)),
        ..params()
    };
    // In the command phase, toward the client, after exactly wait_timeout:
    // the timing alone would say idle_timeout.
    let mut f = facts(End::ServerClosed { reset: true }, Phase::Command, &[]);
    f.server_wait = Some(ms(2000));
    assert_eq!(classify(&f, &p).verdict, Verdict::IdleTimeout);
    f.reset = Some(signals(Side::Server));
    let c = classify(&f, &p);
    assert_eq!(c.verdict, Verdict::MiddleboxReset);
    assert_eq!(c.party, Party::Network);
    assert!(c.evidence[0].contains("TTL 64"), "{:?}", c.evidence);
    assert_eq!(c.app_error.unwrap().code, 2006);
    // Toward the server in the client's name: the client finds out later.
    let mut g = facts(End::ClientClosed { reset: true }, Phase::Command, &[]);
    g.reset = Some(signals(Side::Client));
    let c = classify(&g, &p);
    assert_eq!(c.verdict, Verdict::MiddleboxReset);
    assert_eq!(c.app_error.unwrap().code, 2006);
    // A genuine RST (same TTL, its timestamp) keeps its verdict; signals
    // about the other end's RST decide nothing.
    f.reset = Some(ResetSignals {
        ttl: None,
        no_timestamp: false,
        ..signals(Side::Server)
    });
    assert_eq!(classify(&f, &p).verdict, Verdict::IdleTimeout);
    f.reset = Some(signals(Side::Client));
    assert_eq!(classify(&f, &p).verdict, Verdict::IdleTimeout);
}

#[test]
fn errors_about_the_clients_bytes_are_the_clients_protocol_error() {
    for code in [1043, 1156] {
        let f = facts(
            End::ServerError {
                code,
                replaced_greeting: false,
            },
            Phase::Login,
            &[],
        );
        let c = classify(&f, &params());
        assert_eq!(c.verdict, Verdict::ProtocolError, "{code}");
        assert_eq!(c.party, Party::Client, "{code}");
    }
}

#[test]
fn read_and_write_errors_follow_the_timing_and_network_rules() {
    let mut f = facts(
        End::ServerError {
            code: 1159,
            replaced_greeting: false,
        },
        Phase::ClientReply,
        &[(Phase::ClientReply, 2001)],
    );
    f.server_wait = Some(ms(2001));
    assert_eq!(classify(&f, &params()).verdict, Verdict::ServerTimeout);
    f.retransmits = 2;
    assert_eq!(classify(&f, &params()).verdict, Verdict::NetworkStall);
    let mut g = facts(
        End::ServerError {
            code: 1158,
            replaced_greeting: false,
        },
        Phase::Login,
        &[(Phase::Login, 5)],
    );
    g.server_wait = Some(ms(5));
    assert_eq!(classify(&g, &params()).verdict, Verdict::ServerReset);
}

#[test]
fn a_client_that_gives_up_during_its_own_turn_aborts() {
    let mut f = facts(
        End::ClientClosed { reset: false },
        Phase::ClientReply,
        &[(Phase::ClientReply, 5000)],
    );
    let c = classify(&f, &params());
    assert_eq!(c.verdict, Verdict::ClientAbort);
    assert!(
        c.evidence[0].contains("gave up by itself"),
        "{:?}",
        c.evidence
    );
    // The server giving up on it (not at connect_timeout) is client_slow.
    f.end = End::ServerClosed { reset: true };
    f.server_wait = Some(ms(5000));
    assert_eq!(
        classify(
            &f,
            &Params {
                connect_timeout: Duration::from_secs(30),
                ..params()
            }
        )
        .verdict,
        Verdict::ClientSlow
    );
}

#[test]
fn a_tls_alert_before_completion_names_the_side_that_refused() {
    use crate::tls::TlsAlert;
    let mut f = facts(
        End::ClientClosed { reset: false },
        Phase::Tls,
        &[(Phase::Tls, 3)],
    );
    f.tls_alert = Some(TlsAlert {
        sender: Side::Client,
        description: Some(48),
    });
    let c = classify(&f, &params());
    assert_eq!(c.verdict, Verdict::ClientAbort);
    assert_eq!(c.phase, Phase::Tls);
    assert!(c.evidence[0].contains("unknown_ca"), "{:?}", c.evidence);
    assert_eq!(c.app_error.unwrap().code, 2026);
    f.end = End::ServerClosed { reset: false };
    f.tls_alert = Some(TlsAlert {
        sender: Side::Server,
        description: Some(70),
    });
    let c = classify(&f, &params());
    assert_eq!(c.verdict, Verdict::Refused);
    assert!(
        c.evidence[0].contains("protocol_version"),
        "{:?}",
        c.evidence
    );
    // Without an alert, a close during the handshake is said to be one.
    f.tls_alert = None;
    f.tls_unfinished = true;
    f.end = End::ClientClosed { reset: true };
    let c = classify(&f, &params());
    assert_eq!(c.verdict, Verdict::ClientAbort);
    assert!(
        c.evidence[0].contains("during the TLS handshake"),
        "{:?}",
        c.evidence
    );
}

#[test]
fn a_syn_retransmitted_among_many_opening_connections_names_the_listen_queue() {
    let mut f = facts(
        End::Completed,
        Phase::Login,
        &[
            (Phase::TcpConnect, 1003),
            (Phase::Login, 1),
            (Phase::Total, 1005),
        ],
    );
    f.retransmits = 1;
    f.in_flight = 200;
    let p = Params {
        back_log: Some(80),
        ..params()
    };
    let c = classify(&f, &p);
    assert_eq!(c.verdict, Verdict::NetworkStall);
    assert!(
        c.evidence
            .iter()
            .any(|e| e.contains("200 connections") && e.contains("back_log=80")),
        "{:?}",
        c.evidence
    );
    f.in_flight = 1;
    let c = classify(&f, &p);
    assert!(
        !c.evidence.iter().any(|e| e.contains("back_log")),
        "{:?}",
        c.evidence
    );
}
