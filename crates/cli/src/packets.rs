//! `decode --packets`: one line per MySQL packet, as Wireshark lists them.
//!
//! The JSON Lines form is `{"type":"packet","frame":N,"time":SECONDS,
//! "stream":S,"dir":"c2s"|"s2c","seq":K,"len":L,"kind":"...","info":"..."}`,
//! where `frame` is the 1-based record that carried the packet's last byte,
//! `time` is seconds since the capture's first record, and `stream` numbers
//! TCP connections in order of first appearance (tshark's frame.number,
//! frame.time_relative and tcp.stream). Notices (mid-stream start, gaps,
//! malformed packets, snaplen cuts) are `{"type":"notice",...}` records.
//! Files given together are one capture, as for connection records. A read
//! error stops that file but keeps everything printed before it; a file
//! that cannot be read at all exits 2, as `decode` does.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use hsp_pcap::{PcapFile, Prefetched, RecordSource, Step};
use hsp_wire::observer::{Direction, Notice, ObserverEvent};
use serde::Serialize;

use crate::args::{DecodeArgs, Format};
use crate::decode::{Input, file_inputs, output_writer};

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

/// A notice in words.
pub(crate) fn notice_text(n: &Notice) -> String {
    match n {
        Notice::MidStream => "capture starts mid-connection: no greeting seen".into(),
        Notice::Oversized { len } => format!("packet of {len} bytes over the size limit, skipped"),
        Notice::Malformed { expected } => format!("malformed packet: expected {expected}"),
        Notice::Decompress(e) => format!("compressed stream undecodable: {e}"),
        Notice::Encrypted { bytes } => format!("{bytes} encrypted bytes"),
        Notice::Gap => "bytes missing from the capture; resynchronising".into(),
        Notice::CutHeader => {
            "a snaplen cut through a packet header; this direction is read again at its next turn"
                .into()
        }
        _ => "notice".into(),
    }
}

/// Lists the packets of every input.
pub(crate) fn run(args: &DecodeArgs, ports: &[u16]) -> Result<ExitCode> {
    if args.common.format == Format::Json {
        bail!("--format json is a summary; with --packets use --format jsonl");
    }
    let mut out = output_writer(&args.common)?;
    let (mut unreadable, mut damaged) = (false, false);
    for input in file_inputs(args) {
        let name = input.name();
        let filter = args.common.filter.as_deref();
        let listed = match input {
            Input::File(path) => match PcapFile::open(&path).and_then(|mut f| {
                if let Some(flt) = filter {
                    f.set_filter(flt)?;
                }
                Ok(f)
            }) {
                Ok(f) => list(&mut Prefetched::new(f), ports, args.common.format, &mut out)?,
                Err(e) => {
                    eprintln!("error: {e}");
                    unreadable = true;
                    continue;
                }
            },
            Input::Chain(parts) => list(
                &mut hsp_pcap::Chain::new(parts, filter),
                ports,
                args.common.format,
                &mut out,
            )?,
            Input::Live { .. } | Input::Vantage { .. } => {
                unreachable!("--packets reads files (--vantage conflicts with it)")
            }
        };
        for w in &listed.warnings {
            eprintln!("warning: {name}: {w}");
        }
        if let Some(d) = listed.damaged {
            out.flush().ok();
            eprintln!("warning: {d}; every packet before it was listed");
            damaged = true;
        }
    }
    out.flush().context("writing output")?;
    Ok(if unreadable {
        ExitCode::from(2)
    } else if damaged {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Lists the packets of one capture.
fn list<S: RecordSource + ?Sized>(
    source: &mut S,
    ports: &[u16],
    format: Format,
    out: &mut impl Write,
) -> Result<hsp_pcap::FileTotals> {
    hsp_pcap::each_event(source, ports, |s: Step<'_>| line(&s, format, out))
}

fn line(s: &Step<'_>, format: Format, out: &mut impl Write) -> Result<()> {
    let (ev, time) = (s.event, s.since_start.as_secs_f64());
    match &ev.event {
        ObserverEvent::Packet(p) => {
            let info = p.packet.info();
            let line = PacketLine {
                ty: "packet",
                frame: s.frame,
                time,
                stream: ev.conn,
                dir: p.dir.as_str(),
                seq: p.seq,
                len: p.len,
                kind: p.packet.kind(),
                info: &info,
            };
            match format {
                Format::Jsonl | Format::Json => {
                    serde_json::to_writer(&mut *out, &line)?;
                    out.write_all(b"\n")?;
                }
                Format::Text => {
                    let (src, dst) = match p.dir {
                        Direction::ClientToServer => (ev.endpoints.client, ev.endpoints.server),
                        Direction::ServerToClient => (ev.endpoints.server, ev.endpoints.client),
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
                frame: s.frame,
                time,
                stream: ev.conn,
                dir: dir.as_str(),
                notice: notice_text(notice),
            };
            match format {
                Format::Jsonl | Format::Json => {
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
    Ok(())
}
