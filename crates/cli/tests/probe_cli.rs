//! The probe command end to end: the real binary against a real MariaDB.
//! Exit codes, output formats, files, Ctrl-C, and secrets never printed.

use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use hsp_testkit::{MariaDb, NATIVE_USER};
use serde_json::Value;

fn server() -> &'static MariaDb {
    static S: OnceLock<MariaDb> = OnceLock::new();
    S.get_or_init(MariaDb::start_default)
}

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_handshake-probe"));
    c.env_remove("MYSQL_PWD");
    c
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("run handshake-probe")
}

fn target() -> String {
    server().addr().to_string()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn text_summary_and_exit_zero_without_credentials() {
    let o = run(&[
        "-n",
        "20",
        "-c",
        "2",
        "-q",
        "--ssl-mode",
        "DISABLED",
        &target(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    for needle in [
        "20 handshakes",
        "Verdicts",
        "ok",
        "Phases",
        "p99.9",
        "tcp_connect",
        "greeting",
        "Total handshake time",
        "1045",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in:\n{out}");
    }
}

#[test]
fn a_wrong_password_exits_one_and_never_prints_the_password() {
    let secret = "Sup3r-Secret-Pa55";
    for format in ["text", "jsonl", "json"] {
        let o = bin()
            .args([
                "-n",
                "3",
                "-v",
                "-u",
                NATIVE_USER.0,
                &format!("--password={secret}"),
                "--format",
                format,
                &target(),
            ])
            .env("RUST_LOG", "trace")
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1), "{format}: {}", stderr(&o));
        let all = format!("{}{}", stdout(&o), stderr(&o));
        assert!(all.contains("1045"), "{format}: {all}");
        assert!(!all.contains(secret), "{format} printed the password");
    }
}

#[test]
fn jsonl_streams_one_record_per_connection_then_a_summary() {
    let o = run(&[
        "-n",
        "7",
        "-c",
        "3",
        "--format",
        "jsonl",
        "-u",
        NATIVE_USER.0,
        &format!("--password={}", NATIVE_USER.1),
        &target(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let lines: Vec<Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(lines.len(), 8);
    for r in &lines[..7] {
        assert_eq!(r["type"], "connection");
        assert_eq!(r["verdict"], "ok");
        assert_eq!(r["outcome"], "completed");
        assert!(r["phases_us"]["total"].as_u64().unwrap() > 0);
        assert!(r["phases_us"]["greeting"].is_u64());
        assert!(r["tcp_info"]["rtt_us"].is_u64());
        assert!(r["evidence"].is_array());
    }
    let s = &lines[7];
    assert_eq!(s["type"], "summary");
    assert_eq!(s["connections"], 7);
    assert_eq!(s["verdicts"]["ok"], 7);
    assert_eq!(s["connect_timeout_source"], "server");
    assert_eq!(s["connect_timeout_s"], 10.0);
    assert!(
        s["phases_us"]["total"]["p99"].as_u64().unwrap()
            >= s["phases_us"]["total"]["p50"].as_u64().unwrap()
    );
    assert_eq!(s["server_status"]["delta"]["Aborted_connects"], 0, "{s}");
    assert_eq!(
        s["server_status"]["delta"]["Aborted_clients"], 0,
        "COM_QUIT after each login: {s}"
    );
}

#[test]
fn json_output_file_and_hdr_log() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run.json");
    let hlog = dir.path().join("run.hlog");
    let o = run(&[
        "-n",
        "30",
        "--format",
        "json",
        "-o",
        out.to_str().unwrap(),
        "--hdr-log",
        hlog.to_str().unwrap(),
        "-q",
        &target(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).is_empty(), "-o takes the output");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(v["type"], "summary");
    assert_eq!(v["phases_us"]["total"]["count"], 30);
    let log = std::fs::read_to_string(&hlog).unwrap();
    assert!(log.contains("#[StartTime:"), "{log}");
    for tag in [
        "Tag=tcp_connect,",
        "Tag=greeting,",
        "Tag=login,",
        "Tag=total,",
    ] {
        assert!(log.contains(tag), "missing {tag} in {log}");
    }
}

#[test]
fn usage_errors_exit_two_and_name_the_flag() {
    let o = run(&["-n", "ten", "127.0.0.1"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--count"), "{}", stderr(&o));
    let o = run(&["127.0.0.1:notaport"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("HOST[:PORT] '127.0.0.1:notaport'"),
        "{}",
        stderr(&o)
    );
    let o = run(&[
        "--ssl-mode",
        "VERIFY_CA",
        "--ssl-ca",
        "/nonexistent/ca.pem",
        "127.0.0.1",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--ssl-ca /nonexistent/ca.pem"),
        "{}",
        stderr(&o)
    );
    let o = run(&["--password=x", "127.0.0.1"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("without --user"), "{}", stderr(&o));
}

#[test]
fn ctrl_c_prints_everything_measured_so_far() {
    let child = bin()
        .args([
            "-n",
            "1000",
            "-c",
            "2",
            "--login-delay",
            "400ms",
            "--format",
            "jsonl",
            &target(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    let t = Instant::now();
    let ok = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let o = child.wait_with_output().unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "ended within the grace period"
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let lines: Vec<Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let summary = lines.last().unwrap();
    assert_eq!(summary["type"], "summary");
    assert_eq!(summary["interrupted"], true);
    let n = summary["connections"].as_u64().unwrap();
    assert!((2..1000).contains(&n), "{n}");
    assert_eq!(
        lines.len() as u64,
        n + 1,
        "every measured connection was written"
    );
    assert!(stderr(&o).contains("interrupted"), "{}", stderr(&o));
}

#[test]
fn login_delay_past_connect_timeout_is_server_timeout_with_the_timeout_read_from_the_server() {
    let db = MariaDb::start(&hsp_testkit::ServerOptions {
        connect_timeout: Some(2),
        ..hsp_testkit::ServerOptions::default()
    });
    let o = run(&[
        "-n",
        "2",
        "-c",
        "2",
        "--login-delay",
        "3s",
        "--format",
        "jsonl",
        "-u",
        NATIVE_USER.0,
        &format!("--password={}", NATIVE_USER.1),
        &db.addr().to_string(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let lines: Vec<Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let summary = lines.last().unwrap();
    assert_eq!(
        summary["connect_timeout_source"],
        "server",
        "{}",
        stderr(&o)
    );
    assert_eq!(summary["connect_timeout_s"], 2.0);
    for r in &lines[..2] {
        assert_eq!(r["verdict"], "server_timeout", "{r}");
        assert_eq!(r["app_error"]["code"], 2013);
    }
    assert_eq!(
        summary["server_status"]["delta"]["Aborted_connects"], 2,
        "{summary}"
    );
}

#[test]
fn the_mysql_clients_conventions_attached_password_host_port_and_help() {
    let db = server();
    let port = db.addr().port().to_string();
    let attached = format!("-p{}", NATIVE_USER.1);
    let user = format!("-u{}", NATIVE_USER.0);
    // -uUSER -pSECRET -h HOST -P PORT, as `mysql` takes them.
    let o = run(&[
        "-n",
        "2",
        "--format",
        "jsonl",
        &user,
        &attached,
        "-h",
        "127.0.0.1",
        "-P",
        &port,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    let summary: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(summary["credentials"], true);
    assert_eq!(summary["verdicts"]["ok"], 2, "{summary}");
    assert_eq!(summary["target"], format!("127.0.0.1:{port}"));
    assert!(!out.contains(NATIVE_USER.1) && !stderr(&o).contains(NATIVE_USER.1));
    // HOST:PORT wins over -h and -P (which an option file's [client]
    // group may give as defaults).
    let o = run(&[
        "-n",
        "1",
        "--format",
        "jsonl",
        "-h",
        "192.0.2.1",
        "-P",
        "1",
        &target(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let summary: Value = serde_json::from_str(stdout(&o).lines().last().unwrap()).unwrap();
    assert_eq!(summary["target"], target());
    // Help is -? and --help; -h wants a host.
    for flag in ["-?", "--help"] {
        let o = run(&[flag]);
        assert_eq!(o.status.code(), Some(0));
        assert!(stdout(&o).contains("-h, --host <HOST>"), "{}", stdout(&o));
    }
    assert_eq!(run(&["-h"]).status.code(), Some(2));
}

#[test]
fn option_files_are_read_as_the_mysql_client_reads_them() {
    use std::os::unix::fs::PermissionsExt;
    let db = server();
    let port = db.addr().port();
    let home = tempfile::tempdir().unwrap();
    let mysql_home = tempfile::tempdir().unwrap();
    let with = |args: &[&str]| {
        bin()
            .env("HOME", home.path())
            .env("MYSQL_HOME", mysql_home.path())
            .args(args)
            .output()
            .unwrap()
    };
    let summary = |o: &Output| -> Value {
        assert_eq!(o.status.code(), Some(0), "{}", stderr(o));
        serde_json::from_str(stdout(o).lines().last().unwrap()).unwrap()
    };
    // ~/.my.cnf: the server and the login from [client], a count from
    // [handshake-probe] via !include, ssl-mode via !includedir.
    let cnf = home.path().join(".my.cnf");
    std::fs::create_dir(home.path().join("my.d")).unwrap();
    std::fs::write(
        home.path().join("my.d/tls.cnf"),
        "[client]\nssl_mode = DISABLED\n",
    )
    .unwrap();
    std::fs::write(
        home.path().join("probe.cnf"),
        "[handshake-probe]\ncount = 3\n",
    )
    .unwrap();
    std::fs::write(
        &cnf,
        format!(
            "[client]\nhost = 127.0.0.1\nport = {port}\nuser = {}\npassword = \"{}\"\nsocket = /nonexistent\n!include probe.cnf\n!includedir my.d\n",
            NATIVE_USER.0, NATIVE_USER.1
        ),
    )
    .unwrap();
    std::fs::set_permissions(&cnf, std::fs::Permissions::from_mode(0o600)).unwrap();
    let o = with(&["--format", "jsonl"]);
    let s = summary(&o);
    assert_eq!(s["connections"], 3, "{s}");
    assert_eq!(s["credentials"], true);
    assert_eq!(s["verdicts"]["ok"], 3, "{s}");
    assert!(!stderr(&o).contains("readable by other users"));
    // The command line wins over the files.
    let s = summary(&with(&["--format", "jsonl", "-n", "1"]));
    assert_eq!(s["connections"], 1);
    // --print-defaults shows them, the password masked.
    let o = with(&["--print-defaults"]);
    assert_eq!(o.status.code(), Some(0));
    let shown = stdout(&o);
    assert!(
        shown.contains(&format!("--port={port}")) && shown.contains("--password=*****"),
        "{shown}"
    );
    assert!(
        !shown.contains(NATIVE_USER.1) && !shown.contains("socket"),
        "{shown}"
    );
    // Readable by others: warned.
    std::fs::set_permissions(&cnf, std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = with(&["--format", "jsonl"]);
    assert!(
        stderr(&o).contains("readable by other users"),
        "{}",
        stderr(&o)
    );
    // --no-defaults: nothing from them (no server given: a usage error).
    assert_eq!(with(&["--no-defaults"]).status.code(), Some(2));
    // $MYSQL_HOME/my.cnf is read before ~/.my.cnf, which wins.
    std::fs::write(
        mysql_home.path().join("my.cnf"),
        "[handshake-probe]\ncount = 2\n",
    )
    .unwrap();
    assert_eq!(summary(&with(&["--format", "jsonl"]))["connections"], 3);
    // --defaults-file: only that file; --defaults-extra-file: after the
    // others.
    let only = home.path().join("only.cnf");
    std::fs::write(&only, format!("[client]\nport = {port}\n")).unwrap();
    let s = summary(&with(&[
        &format!("--defaults-file={}", only.display()),
        "--format",
        "jsonl",
        "127.0.0.1",
    ]));
    assert_eq!(s["credentials"], false, "{s}");
    let extra = home.path().join("extra.cnf");
    std::fs::write(&extra, "[handshake-probe]\ncount = 4\n").unwrap();
    let s = summary(&with(&[
        &format!("--defaults-extra-file={}", extra.display()),
        "--format",
        "jsonl",
    ]));
    assert_eq!(s["connections"], 4);
    // A damaged file names its line.
    std::fs::write(&extra, "count = 4\n").unwrap();
    let o = with(&[&format!("--defaults-extra-file={}", extra.display())]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("extra.cnf:1: an option before any [group]"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_unix_socket_probe_times_the_server_with_no_network_between() {
    let db = server();
    let sock = db.dir().join("mysqld.sock");
    let o = run(&[
        "-n",
        "3",
        "--format",
        "jsonl",
        "-S",
        sock.to_str().unwrap(),
        "-u",
        NATIVE_USER.0,
        &format!("--password={}", NATIVE_USER.1),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let lines: Vec<Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let target = format!("unix:{}", sock.display());
    for r in &lines[..3] {
        assert_eq!(r["verdict"], "ok", "{r}");
        assert_eq!(r["server"], target.as_str());
        assert!(r.get("tcp_info").is_none(), "{r}");
        assert!(r.get("tls").is_none(), "{r}");
    }
    assert_eq!(lines[3]["target"], target.as_str());
    assert_eq!(lines[3]["connect_timeout_source"], "server");
    // TLS over the socket is refused up front, as a usage error.
    let o = run(&["-S", sock.to_str().unwrap(), "--ssl-mode", "REQUIRED"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}
