//! The probe never makes the server refuse anyone (issue 13, part 3),
//! against a private MariaDB with max_connections=20: `-c 50` is lowered to
//! a tenth of the free slots and no connection gets ER_CON_COUNT_ERROR
//! (1040); with `--force` the server does refuse, and every refusal crowd
//! halves the concurrency, reported. Without credentials, more than 16 at
//! once needs `--force`.

use std::process::{Command, Output};

use hsp_testkit::{MariaDb, NATIVE_USER, ServerOptions};
use serde_json::Value;

/// A server of the test's own (the tests run at once, and each counts
/// the server's free slots).
fn server() -> MariaDb {
    MariaDb::start(&ServerOptions {
        max_connections: Some(20),
        ..ServerOptions::default()
    })
}

fn probe(db: &MariaDb, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_handshake-probe"))
        .env_remove("MYSQL_PWD")
        .args(args)
        .arg(db.addr().to_string())
        .output()
        .unwrap()
}

fn lines(o: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn refused_1040(records: &[Value]) -> usize {
    records
        .iter()
        .filter(|r| r["type"] == "connection" && r["error"]["code"] == 1040)
        .count()
}

fn with_user<'a>(password: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["--format", "jsonl", "-u", NATIVE_USER.0, password];
    v.extend(extra);
    v
}

#[test]
fn fifty_at_once_are_lowered_to_a_tenth_of_the_free_slots() {
    let pw = format!("--password={}", NATIVE_USER.1);
    // Each connection held 200 ms: fifty would overlap far past 20.
    let db = server();
    let o = probe(
        &db,
        &with_user(&pw, &["-n", "20", "-c", "50", "--login-delay", "200ms"]),
    );
    let err = String::from_utf8_lossy(&o.stderr);
    let recs = lines(&o);
    let summary = recs.last().unwrap();
    assert_eq!(summary["type"], "summary");
    assert_eq!(summary["concurrency"], 2, "{summary}");
    assert!(
        summary["concurrency_note"]
            .as_str()
            .unwrap()
            .contains("lowered from 50 to 2"),
        "{summary}"
    );
    assert!(err.contains("lowered from 50 to 2"), "{err}");
    assert_eq!(refused_1040(&recs), 0);
    assert_eq!(summary["connections"], 20);
    assert!(summary.get("backoffs").is_none(), "{summary}");
}

#[test]
fn with_force_the_server_refuses_and_each_crowd_halves_the_concurrency() {
    let pw = format!("--password={}", NATIVE_USER.1);
    let db = server();
    let o = probe(
        &db,
        &with_user(
            &pw,
            &["-n", "100", "-c", "50", "--force", "--login-delay", "200ms"],
        ),
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--force"), "{err}");
    let recs = lines(&o);
    let summary = recs.last().unwrap();
    assert!(refused_1040(&recs) > 0, "{summary}");
    let backoffs: Vec<&str> = summary["backoffs"]
        .as_array()
        .unwrap_or_else(|| panic!("no back-off reported: {summary}"))
        .iter()
        .map(|b| b.as_str().unwrap())
        .collect();
    assert!(backoffs[0].contains("halved from 50 to 25"), "{backoffs:?}");
    // Halving stops where the server has room: never below one.
    assert!(backoffs.len() <= 5, "{backoffs:?}");
    assert!(backoffs.iter().all(|b| b.contains("1040")));
}

#[test]
fn without_credentials_more_than_sixteen_needs_force() {
    let db = server();
    let o = probe(&db, &["-n", "17", "-c", "17"]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--force") && err.contains("-c 17"), "{err}");
    assert!(o.stdout.is_empty());
    let o = probe(
        &db,
        &["-n", "17", "-c", "17", "--force", "--format", "jsonl"],
    );
    let recs = lines(&o);
    assert_eq!(recs.last().unwrap()["concurrency"], 17);
    assert_eq!(refused_1040(&recs), 0);
}
