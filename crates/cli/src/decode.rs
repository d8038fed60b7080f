//! `decode`: read captures, follow TCP, print what the observer decodes.
//!
//! With `--packets`, one record per MySQL packet. The JSON Lines form is
//! `{"type":"packet","frame":N,"time":SECONDS,"stream":S,"dir":"c2s"|"s2c",
//! "seq":K,"len":L,"kind":"...","info":"..."}`, where `frame` is the 1-based
//! record that carried the packet's last byte, `time` is seconds since the
//! first record of the file, and `stream` numbers TCP connections in order
//! of first appearance (tshark's frame.number, frame.time_relative and
//! tcp.stream). Notices (mid-stream start, gaps, malformed packets) are
//! `{"type":"notice",...}` records. A read error stops the file but keeps
//! everything printed before it.

use std::io::{BufWriter, Write};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use hsp_pcap::{Follower, PcapFile, slice_tcp};
use hsp_wire::observer::{Notice, ObserverConfig, ObserverEvent};
use serde::Serialize;

use crate::args::{DecodeArgs, Format};

#[derive(Serialize)]
struct PacketLine<'a> {
    #[serde(rename = "type")]
    ty: &'static str,
    frame: u64,
    time: f64,
    stream: u32,
    dir: &'static str,
    seq: u8,
    len: usize,
    kind: &'static str,
    info: &'a str,
}

#[derive(Serialize)]
struct NoticeLine {
    #[serde(rename = "type")]
    ty: &'static str,
    frame: u64,
    time: f64,
    stream: u32,
    dir: &'static str,
    notice: String,
}

fn notice_text(n: &Notice) -> String {
    match n {
        Notice::MidStream => "capture starts mid-connection: no greeting seen".into(),
        Notice::Oversized { len } => format!("packet of {len} bytes over the size limit, skipped"),
        Notice::Malformed { expected } => format!("malformed packet: expected {expected}"),
        Notice::Decompress(e) => format!("compressed stream undecodable: {e}"),
        Notice::Encrypted { bytes } => format!("{bytes} encrypted bytes"),
        Notice::Gap => "bytes missing from the capture; resynchronising".into(),
        _ => "notice".into(),
    }
}

pub(crate) fn run(args: &DecodeArgs) -> Result<ExitCode> {
    if !args.packets {
        bail!(
            "per-connection analysis is not implemented yet; pass --packets to list every MySQL packet"
        );
    }
    let mut ports = vec![3306];
    ports.extend(&args.ports);
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut failed = false;
    for path in &args.files {
        if let Err(e) = decode_file(path, &ports, args.format, &mut out) {
            out.flush().ok();
            if e.downcast_ref::<std::io::Error>().is_some() {
                return Err(e);
            }
            eprintln!("error: {e:#}");
            failed = true;
        }
    }
    out.flush().context("writing output")?;
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn decode_file(
    path: &std::path::Path,
    ports: &[u16],
    format: Format,
    out: &mut impl Write,
) -> Result<()> {
    let mut file = PcapFile::open(path)?;
    let dlt = file.linktype();
    let mut follower = Follower::new(ports.to_vec(), ObserverConfig::default());
    let mut events = Vec::new();
    let mut first = None;
    while let Some(rec) = file.next_record()? {
        let t0 = *first.get_or_insert(rec.ts);
        let rel = rec.ts.saturating_sub(t0);
        let Some(seg) = slice_tcp(dlt, rec.data) else {
            continue;
        };
        events.clear();
        follower.on_segment(&seg, rec.ts, &mut events);
        for ev in &events {
            match &ev.event {
                ObserverEvent::Packet(p) => {
                    let info = p.packet.info();
                    let line = PacketLine {
                        ty: "packet",
                        frame: rec.frame,
                        time: rel.as_secs_f64(),
                        stream: ev.conn,
                        dir: p.dir.as_str(),
                        seq: p.seq,
                        len: p.len,
                        kind: p.packet.kind(),
                        info: &info,
                    };
                    match format {
                        Format::Jsonl => {
                            serde_json::to_writer(&mut *out, &line)?;
                            out.write_all(b"\n")?;
                        }
                        Format::Text => {
                            let (src, dst) = match p.dir {
                                hsp_wire::observer::Direction::ClientToServer => {
                                    (ev.endpoints.client, ev.endpoints.server)
                                }
                                hsp_wire::observer::Direction::ServerToClient => {
                                    (ev.endpoints.server, ev.endpoints.client)
                                }
                            };
                            writeln!(
                                out,
                                "{:>6} {:>12.6} {:>4} {src} -> {dst} seq={} len={} {}",
                                line.frame, line.time, line.stream, line.seq, line.len, info
                            )?;
                        }
                    }
                }
                ObserverEvent::Notice { dir, notice, .. } => {
                    let line = NoticeLine {
                        ty: "notice",
                        frame: rec.frame,
                        time: rel.as_secs_f64(),
                        stream: ev.conn,
                        dir: dir.as_str(),
                        notice: notice_text(notice),
                    };
                    match format {
                        Format::Jsonl => {
                            serde_json::to_writer(&mut *out, &line)?;
                            out.write_all(b"\n")?;
                        }
                        Format::Text => writeln!(
                            out,
                            "{:>6} {:>12.6} {:>4} notice: {}",
                            line.frame, line.time, line.stream, line.notice
                        )?,
                    }
                }
                ObserverEvent::Milestone { .. } => {}
            }
        }
    }
    Ok(())
}
