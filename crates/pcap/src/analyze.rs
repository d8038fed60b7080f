//! Capture records in, classified connection records out, streamed: each
//! record goes to the caller's sink as its connection finishes, so memory
//! follows the connections open at one moment, not the file's size.
//!
//! Three threads share a file: [`crate::Prefetched`] reads records ahead;
//! this one slices them and follows TCP (the part that must see every
//! packet in order), its observers in their milestones-only mode; a
//! recorder turns finished connections into records (classifier, evidence)
//! and hands them to the sink, which usually serialises them. Finished
//! connections cross in batches of 256 over a bounded channel (a slow sink
//! slows the reader instead of queueing), and the batches come back full,
//! to be freed by the thread that allocated them. A live capture
//! hands every finished connection over at once, so records are not held
//! back waiting for a batch to fill.

use std::path::Path;
use std::time::Duration;

use hsp_core::ConnectionRecord;
use hsp_core::classify::Params;
use hsp_core::path::WireLog;
use hsp_wire::observer::ObserverConfig;

use crate::source::{Next, RecordSource};
use crate::{Follower, PcapError, PcapFile, slice_tcp};

/// What reading one capture took and met.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct FileTotals {
    /// Capture records read.
    pub records: u64,
    /// Of those, TCP segments.
    pub tcp_segments: u64,
    /// Records cut short by the capture's snaplen.
    pub snaplen_cut: u64,
    /// IPv4 fragments (not reassembled: counted, and their TCP bytes are
    /// gaps to the decoder).
    pub ip_fragments: u64,
    /// Packets the kernel dropped before the capture saw them (live).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel_dropped: Option<u64>,
    /// From the first record to the last.
    pub span: Duration,
    /// The first record's time (since the epoch).
    #[serde(skip)]
    pub first: Option<Duration>,
    /// The initial sequence numbers of the first SYNs (up to
    /// [`SYN_SAMPLE`]): two captures sharing them saw the same connections.
    #[serde(skip)]
    pub syn_sample: Vec<u32>,
    /// Connections finished early for idleness.
    pub evicted: u64,
    /// Connection records emitted.
    pub connections: u64,
    /// TCP connections left out because their server was never shown to
    /// speak MySQL (a port not given with `--port`).
    pub left_out: u64,
    /// The file's link type, when it is not one this crate decodes (its
    /// records were all skipped).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unsupported_link_type: Option<i32>,
    /// Damaged headers and records read anyway or skipped, each naming its
    /// frame (the first 20, then a count).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// A read error that ended the file early (file, frame, cause); the
    /// connections before it were all emitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub damaged: Option<String>,
}

/// Decodes `path`, giving each MySQL connection a record (connections to a
/// server port in `ports`, and any whose server's first bytes are a MySQL
/// greeting). Fails only when the file cannot be opened at all.
pub fn analyze_file(
    path: &Path,
    ports: &[u16],
    filter: Option<&str>,
    params: &Params,
    sink: impl FnMut(ConnectionRecord) + Send,
) -> Result<FileTotals, PcapError> {
    let mut file = PcapFile::open(path)?;
    if let Some(f) = filter {
        file.set_filter(f)?;
    }
    Ok(analyze(
        &mut crate::source::Prefetched::new(file),
        ports,
        params,
        sink,
    ))
}

/// Client ISNs kept per capture in [`FileTotals::syn_sample`].
pub(crate) const SYN_SAMPLE: usize = 256;

/// Finished connections handed to the recorder at once.
const BATCH: usize = 256;
/// Warnings listed per file; the rest are counted in one more line.
pub(crate) const WARNINGS_MAX: usize = 20;

/// Counts one capture record in `totals` (a snaplen cut, a fragment),
/// notes what is damaged about it in `warnings`, and slices its TCP
/// segment, if it holds one. The one place both capture loops (records,
/// and `--packets`' events) look at a record before the follower does.
pub(crate) fn inspect<'r>(
    rec: &crate::source::Record<'r>,
    dlt: i32,
    totals: &mut FileTotals,
    warnings: &mut Warnings,
    follower: &mut Follower,
) -> Option<crate::Segment<'r>> {
    totals.records += 1;
    let caplen = u32::try_from(rec.data.len()).unwrap_or(u32::MAX);
    if caplen < rec.orig_len {
        totals.snaplen_cut += 1;
        follower.saw_snaplen(caplen);
    } else if caplen > rec.orig_len {
        warnings.push(format!(
            "frame {}: captured length {caplen} exceeds the original length {}; read as captured",
            rec.frame, rec.orig_len
        ));
    }
    let Some(seg) = slice_tcp(dlt, rec.data) else {
        if crate::link::is_ipv4_fragment(dlt, rec.data) {
            totals.ip_fragments += 1;
        } else if let Some(w) = crate::link::ip_length_problem(dlt, rec.data) {
            warnings.push(format!("frame {}: {w}", rec.frame));
        }
        return None;
    };
    totals.tcp_segments += 1;
    Some(seg)
}

/// Collects a file's warnings: the first [`WARNINGS_MAX`] in full.
#[derive(Default)]
pub(crate) struct Warnings {
    list: Vec<String>,
    more: u64,
}

impl Warnings {
    #[cold]
    pub(crate) fn push(&mut self, w: String) {
        if self.list.len() < WARNINGS_MAX {
            self.list.push(w);
        } else {
            self.more += 1;
        }
    }

    pub(crate) fn finish(mut self) -> Vec<String> {
        if self.more > 0 {
            self.list
                .push(format!("{} more warning(s) like these", self.more));
        }
        self.list
    }
}

/// Decodes every record of `source` until it ends (a file's end, a live
/// capture stopped); see [`analyze_file`].
pub fn analyze<S: RecordSource + ?Sized>(
    source: &mut S,
    ports: &[u16],
    params: &Params,
    mut sink: impl FnMut(ConnectionRecord) + Send,
) -> FileTotals {
    analyze_inner(source, ports, params, false, |r, _| sink(r))
}

/// As [`analyze`], with each record its connection's segments as this tap
/// saw them (the first [`WireLog::MAX`]), for comparison with a capture of
/// the same traffic taken elsewhere.
pub fn analyze_with_wire<S: RecordSource + ?Sized>(
    source: &mut S,
    ports: &[u16],
    params: &Params,
    sink: impl FnMut(ConnectionRecord, WireLog) + Send,
) -> FileTotals {
    analyze_inner(source, ports, params, true, sink)
}

fn analyze_inner<S: RecordSource + ?Sized>(
    source: &mut S,
    ports: &[u16],
    params: &Params,
    wire: bool,
    mut sink: impl FnMut(ConnectionRecord, WireLog) + Send,
) -> FileTotals {
    let dlt = source.linktype();
    let mut follower = Follower::new(ports.to_vec(), ObserverConfig::default()).without_events();
    if wire {
        follower = follower.with_wire_log();
    }
    let mut totals = FileTotals::default();
    let mut warnings = Warnings::default();
    if !crate::link::decodable(dlt) {
        totals.unsupported_link_type = Some(dlt);
    }
    let mut first = None;
    let mut last = Duration::ZERO;
    let mut events = Vec::new();
    // Batches go back full: the connections are dropped where they were
    // allocated. glibc's malloc takes the allocating thread's arena lock
    // to free a chunk from another thread, and the two threads then spent
    // a fifth of their time waking each other on it. The way back holds
    // every batch that can exist (a new one is made only when none is
    // waiting there), so returning one never blocks.
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<(crate::Finished, Duration)>>(8);
    let (back_tx, back_rx) = std::sync::mpsc::sync_channel::<Vec<(crate::Finished, Duration)>>(16);
    std::thread::scope(|scope| {
        let recorder = scope.spawn(move || {
            let mut n = 0u64;
            for mut batch in rx {
                for (f, start) in &mut batch {
                    let mut r = f.track.record(f.conn, f.endpoints, *start, params);
                    let log = f.track.take_wire();
                    if f.evicted {
                        r.evidence.push(
                            "evicted: idle past the bound; the rest of it is not judged".into(),
                        );
                    }
                    n += 1;
                    sink(r, log);
                }
                let _ = back_tx.try_send(batch);
            }
            n
        });
        let mut batch: Vec<(crate::Finished, Duration)> = Vec::with_capacity(BATCH);
        let live = source.is_live();
        let flush = |batch: &mut Vec<(crate::Finished, Duration)>, force: bool| {
            if batch.len() >= BATCH || ((force || live) && !batch.is_empty()) {
                let fresh = back_rx.try_recv().map_or_else(
                    |_| Vec::with_capacity(BATCH),
                    |mut done| {
                        done.clear();
                        done
                    },
                );
                // The recorder stops early only by panicking; the join
                // below reports it.
                let _ = tx.send(std::mem::replace(batch, fresh));
            }
        };
        loop {
            let rec = match source.next() {
                Ok(Next::Record(rec)) => rec,
                Ok(Next::Idle(now)) => {
                    follower.advance(now);
                    let t0 = first.unwrap_or(now);
                    batch.extend(follower.drain_finished().map(|f| (f, t0)));
                    flush(&mut batch, true);
                    continue;
                }
                Ok(Next::End) => break,
                Err(e) => {
                    totals.damaged = Some(e.to_string());
                    break;
                }
            };
            let t0 = *first.get_or_insert(rec.ts);
            last = rec.ts;
            let Some(seg) = inspect(&rec, dlt, &mut totals, &mut warnings, &mut follower) else {
                continue;
            };
            if seg.flags.syn && !seg.flags.ack && totals.syn_sample.len() < SYN_SAMPLE {
                totals.syn_sample.push(seg.seq);
            }
            follower.on_segment(&seg, rec.ts, rec.frame, &mut events);
            if follower.has_finished() {
                batch.extend(follower.drain_finished().map(|f| (f, t0)));
                flush(&mut batch, false);
            }
        }
        follower.finish();
        let t0 = first.unwrap_or_default();
        batch.extend(follower.drain_finished().map(|f| (f, t0)));
        flush(&mut batch, true);
        drop(tx);
        totals.evicted = follower.evicted();
        totals.left_out = follower.left_out();
        totals.span = last.saturating_sub(t0);
        totals.first = first;
        totals.kernel_dropped = source.dropped();
        match recorder.join() {
            Ok(n) => totals.connections = n,
            Err(p) => std::panic::resume_unwind(p),
        }
    });
    // What the source noted (a header, a boundary between files) first.
    let mut notes = source.notes();
    notes.extend(warnings.finish());
    totals.warnings = notes;
    totals
}
