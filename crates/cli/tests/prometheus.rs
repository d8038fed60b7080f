//! A real Prometheus (Debian's package, installed by scripts/setup.sh)
//! scrapes `serve` with the shipped docs/monitoring/prometheus.yml, both
//! jobs, against a private MariaDB; its HTTP API then answers the
//! dashboard's p99 query with a number, its verdict counters match the
//! exporter's, and the blackbox-style job shows probe_success 1. The
//! shipped rules pass `promtool check rules`.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::Reap;
use common::http::{Serve, get, sample};
use hsp_testkit::MariaDb;
use serde_json::Value;

fn monitoring(file: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs/monitoring")
        .join(file)
}

fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The result vector of an instant query.
fn query(prom: SocketAddr, q: &str) -> Vec<Value> {
    let (status, _, body) = get(prom, &format!("/api/v1/query?query={}", encode(q)), &[]);
    assert_eq!(status, 200, "{q}: {body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    v["data"]["result"].as_array().cloned().unwrap_or_default()
}

fn value(r: &Value) -> f64 {
    r["value"][1].as_str().unwrap().parse().unwrap()
}

#[test]
fn prometheus_scrapes_serve_and_answers_the_dashboards_queries() {
    let o = Command::new("promtool")
        .args(["check", "rules"])
        .arg(monitoring("alerts.yml"))
        .output()
        .expect("promtool (scripts/setup.sh installs prometheus)");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    let db = MariaDb::start_default();
    let db_addr = db.addr().to_string();
    let serve = Serve::start(&["--target", &db_addr, "--interval", "250ms"]);
    let dir = tempfile::tempdir().unwrap();

    // The shipped config, pointed at this exporter and this database, and
    // scraping every second.
    let shipped = std::fs::read_to_string(monitoring("prometheus.yml")).unwrap();
    let config = shipped
        .replace("127.0.0.1:9105", &serve.addr.to_string())
        .replace("'db1:3306', 'db2:3306'", &format!("'{db_addr}'"))
        .replace("scrape_interval: 15s", "scrape_interval: 1s")
        .replace("scrape_timeout: 10s", "scrape_timeout: 1s")
        .replace(
            "  - alerts.yml",
            &format!("  - {}", monitoring("alerts.yml").display()),
        );
    assert_ne!(config, shipped);
    let config_file = dir.path().join("prometheus.yml");
    std::fs::write(&config_file, &config).unwrap();
    let o = Command::new("promtool")
        .args(["check", "config"])
        .arg(&config_file)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));

    let web: SocketAddr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let _prom = Reap(
        Command::new("prometheus")
            .arg(format!("--config.file={}", config_file.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={web}"))
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus (scripts/setup.sh installs it)"),
    );

    // Bounded wait (60 × 500 ms) until the p99 query has a number: two
    // scrapes of the histogram at least.
    let p99 = "histogram_quantile(0.99, rate(handshake_probe_phase_duration_seconds_bucket{phase=\"total\"}[1m]))";
    let mut got = None;
    for _ in 0..60 {
        std::thread::sleep(Duration::from_millis(500));
        if std::net::TcpStream::connect(web).is_err() {
            continue;
        }
        if let Some(r) = query(web, p99).first() {
            let v = value(r);
            if v.is_finite() {
                got = Some(v);
                break;
            }
        }
    }
    let p99 = got.expect("Prometheus answered the p99 query with a number");
    assert!(p99 > 0.0 && p99 < 1.0, "p99 of total {p99} s on loopback");

    // The counters Prometheus holds are the exporter's (it goes on
    // counting: at most a few handshakes since the last scrape).
    let ok = format!(
        "handshake_probe_connections_total{{target=\"{db_addr}\",verdict=\"ok\",party=\"none\"}}"
    );
    let in_prom = query(
        web,
        &format!("handshake_probe_connections_total{{verdict=\"ok\",target=\"{db_addr}\"}}"),
    );
    assert_eq!(in_prom.len(), 1, "{in_prom:?}");
    let prom_ok = value(&in_prom[0]);
    let (_, _, body) = get(serve.addr, "/metrics", &[]);
    let ours = sample(&body, &ok).unwrap();
    assert!(
        prom_ok <= ours && ours - prom_ok <= 12.0,
        "Prometheus {prom_ok}, exporter {ours}"
    );
    assert!(
        query(web, "handshake_probe_connections_total{verdict!=\"ok\"}").is_empty(),
        "only ok verdicts against a healthy server"
    );

    // The blackbox-style job.
    let mut success = None;
    for _ in 0..20 {
        if let Some(r) = query(web, "probe_success{job=\"mysql_handshake\"}").first() {
            success = Some((value(r), r["metric"]["instance"].clone()));
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let (v, instance) = success.expect("probe_success from the mysql_handshake job");
    assert_eq!(v, 1.0);
    assert_eq!(instance, Value::String(db_addr));
}
