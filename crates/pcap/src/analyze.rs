//! Capture records in, classified connection records out, streamed: each
//! record goes to the caller's sink as its connection finishes, so memory
//! follows the connections open at one moment, not the file's size.
//!
//! One thread does it all. Handing finished connections to a second thread
//! (records and serialisation there) was measured on the 2-core bench
//! machine and bought nothing: the cross-thread frees and wake-ups cost
//! what the overlap saved.

use std::path::Path;
use std::time::Duration;

use hsp_core::ConnectionRecord;
use hsp_core::classify::Params;
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
    /// Connections finished early for idleness.
    pub evicted: u64,
    /// Connection records emitted.
    pub connections: u64,
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
    sink: impl FnMut(ConnectionRecord),
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

/// Decodes every record of `source` until it ends (a file's end, a live
/// capture stopped); see [`analyze_file`].
pub fn analyze<S: RecordSource + ?Sized>(
    source: &mut S,
    ports: &[u16],
    params: &Params,
    mut sink: impl FnMut(ConnectionRecord),
) -> FileTotals {
    let dlt = source.linktype();
    let mut follower = Follower::new(ports.to_vec(), ObserverConfig::default()).without_events();
    let mut totals = FileTotals::default();
    let mut first = None;
    let mut last = Duration::ZERO;
    let mut events = Vec::new();
    let mut emit = |follower: &mut Follower, start: Duration, totals: &mut FileTotals| {
        for f in follower.drain_finished() {
            let mut r = f.track.record(f.conn, f.endpoints, start, params);
            if f.evicted {
                r.evidence
                    .push("evicted: idle past the bound; the rest of it is not judged".into());
            }
            totals.connections += 1;
            sink(r);
        }
    };
    loop {
        let rec = match source.next() {
            Ok(Next::Record(rec)) => rec,
            Ok(Next::Idle(now)) => {
                follower.advance(now);
                emit(&mut follower, first.unwrap_or(now), &mut totals);
                continue;
            }
            Ok(Next::End) => break,
            Err(e) => {
                totals.damaged = Some(e.to_string());
                break;
            }
        };
        totals.records += 1;
        let t0 = *first.get_or_insert(rec.ts);
        last = rec.ts;
        if (rec.data.len() as u64) < u64::from(rec.orig_len) {
            totals.snaplen_cut += 1;
        }
        let Some(seg) = slice_tcp(dlt, rec.data) else {
            if crate::link::is_ipv4_fragment(dlt, rec.data) {
                totals.ip_fragments += 1;
            }
            continue;
        };
        totals.tcp_segments += 1;
        follower.on_segment(&seg, rec.ts, rec.frame, &mut events);
        emit(&mut follower, t0, &mut totals);
    }
    follower.finish();
    let t0 = first.unwrap_or_default();
    emit(&mut follower, t0, &mut totals);
    totals.evicted = follower.evicted();
    totals.span = last.saturating_sub(t0);
    totals.kernel_dropped = source.dropped();
    totals
}
