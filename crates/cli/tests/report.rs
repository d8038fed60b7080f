//! `--report FILE.html` in a real browser: headless Chromium (Debian's
//! package, installed by scripts/setup.sh) renders the report of every
//! fixture without an error, the picture is not blank, and the timeline
//! holds one mark per connection. An empty capture says so instead of
//! drawing empty charts; a probe run stopped by Ctrl-C still writes its
//! report with what it measured.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{fixture, port_of};
use hsp_testkit::{MariaDb, NATIVE_USER};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_handshake-probe"));
    c.env_remove("MYSQL_PWD");
    c
}

/// Renders `html` with headless Chromium; the share of pixels that are
/// not the page's white.
fn render(html: &Path) -> f64 {
    let png = html.with_extension("png");
    let o = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1000,1400",
        ])
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", html.display()))
        .output()
        .expect("chromium (scripts/setup.sh installs it)");
    assert!(
        o.status.success(),
        "chromium on {}: {}",
        html.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(&png).expect("the screenshot"),
    ));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let px = info.color_type.samples();
    let pixels = &buf[..info.buffer_size()];
    let inked = pixels
        .chunks(px)
        .filter(|p| p.iter().take(3).any(|c| *c < 200))
        .count();
    inked as f64 / (pixels.len() / px) as f64
}

fn marks(html: &str) -> usize {
    html.matches("<circle class=\"m\"").count()
}

#[test]
fn every_fixture_renders_in_chromium_with_one_mark_per_connection() {
    let dir = tempfile::tempdir().unwrap();
    let mut rendered = 0;
    for entry in std::fs::read_dir(fixture("")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "pcap") {
            continue;
        }
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let html = dir.path().join(format!("{name}.html"));
        let o = bin()
            .args([
                "decode",
                "-q",
                "--format",
                "json",
                "--port",
                &port_of(&name),
            ])
            .arg("--report")
            .arg(&html)
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            o.status.code().is_some_and(|c| c < 2),
            "{name}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let summary: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let text = std::fs::read_to_string(&html).unwrap();
        let connections = summary["connections"].as_u64().unwrap() as usize;
        assert_eq!(marks(&text), connections, "{name}: one mark per connection");
        assert!(!text.contains("<script"), "{name}: no scripts");
        assert!(
            text.contains("vantage point"),
            "{name}: the capture's table"
        );
        assert!(
            !text.contains("http://")
                || text.matches("http://").count()
                    == text.matches("xmlns=\"http://www.w3.org/2000/svg\"").count(),
            "{name}: nothing fetched"
        );
        let ink = render(&html);
        assert!(ink > 0.01, "{name}: the rendered report is blank ({ink})");
        rendered += 1;
    }
    assert!(rendered >= 50, "only {rendered} fixtures");
}

#[test]
fn an_empty_capture_says_so() {
    let dir = tempfile::tempdir().unwrap();
    // A classic pcap header and no packet.
    let pcap = dir.path().join("empty.pcap");
    let mut header = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
    header.extend([0; 8]);
    header.extend(65535u32.to_le_bytes());
    header.extend(1u32.to_le_bytes());
    std::fs::write(&pcap, header).unwrap();
    let html = dir.path().join("empty.html");
    let o = bin()
        .args(["decode", "-q", "--report"])
        .arg(&html)
        .arg(&pcap)
        .output()
        .unwrap();
    assert!(
        o.status.code().is_some_and(|c| c < 2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let text = std::fs::read_to_string(&html).unwrap();
    assert!(text.contains("No connections"), "{text}");
    assert!(!text.contains("<h2>Timeline</h2>"), "no empty charts");
    assert!(render(&html) > 0.001, "the page shows its text");
}

#[test]
fn a_probe_stopped_by_ctrl_c_still_writes_its_report() {
    let db = MariaDb::start_default();
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("run.html");
    let child = bin()
        .args([
            "--duration",
            "60s",
            "--rate",
            "50",
            "-q",
            "--format",
            "json",
        ])
        .args(["--ssl-mode", "DISABLED", "-u", NATIVE_USER.0])
        .arg(format!("--password={}", NATIVE_USER.1))
        .arg("--report")
        .arg(&html)
        .arg(db.addr().to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let ok = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let out = child.wait_with_output().unwrap();
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let n = summary["connections"].as_u64().unwrap() as usize;
    assert!(n > 0, "{summary}");
    let text = std::fs::read_to_string(&html).expect("the report was written");
    assert!(text.contains("interrupted"), "the report says so");
    assert_eq!(marks(&text), n);
    assert!(
        text.contains("The server&#39;s view"),
        "counters and host cache"
    );
    assert!(render(&html) > 0.01);
}
