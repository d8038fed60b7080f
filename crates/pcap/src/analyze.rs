//! A capture file in, classified connection records out, streamed: each
//! record goes to the caller's sink as its connection finishes, so memory
//! follows the connections open at one moment, not the file's size.

use std::path::Path;
use std::time::Duration;

use hsp_core::ConnectionRecord;
use hsp_core::classify::Params;
use hsp_wire::observer::ObserverConfig;

use crate::{Follower, PcapError, PcapFile, slice_tcp};

/// What reading one file took and met.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct FileTotals {
    /// Capture records read.
    pub records: u64,
    /// Of those, TCP segments.
    pub tcp_segments: u64,
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

/// Decodes `path`, giving each connection to a server port in `ports` a
/// record. Fails only when the file cannot be opened at all.
pub fn analyze_file(
    path: &Path,
    ports: &[u16],
    filter: Option<&str>,
    params: &Params,
    mut sink: impl FnMut(ConnectionRecord),
) -> Result<FileTotals, PcapError> {
    let mut file = PcapFile::open(path)?;
    if let Some(f) = filter {
        file.set_filter(f)?;
    }
    let dlt = file.linktype();
    let mut follower = Follower::new(ports.to_vec(), ObserverConfig::default());
    let mut totals = FileTotals::default();
    let mut events = Vec::new();
    let mut first = None;
    let mut last = Duration::ZERO;
    let mut drain = |follower: &mut Follower, start: Duration, totals: &mut FileTotals| {
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
        let rec = match file.next_record() {
            Ok(Some(rec)) => rec,
            Ok(None) => break,
            Err(e) => {
                totals.damaged = Some(e.to_string());
                break;
            }
        };
        totals.records += 1;
        let t0 = *first.get_or_insert(rec.ts);
        last = rec.ts;
        let Some(seg) = slice_tcp(dlt, rec.data) else {
            continue;
        };
        totals.tcp_segments += 1;
        events.clear();
        follower.on_segment(&seg, rec.ts, rec.frame, &mut events);
        drain(&mut follower, t0, &mut totals);
    }
    follower.finish();
    totals.evicted = follower.evicted();
    let t0 = first.unwrap_or_default();
    drain(&mut follower, t0, &mut totals);
    totals.span = last.saturating_sub(t0);
    Ok(totals)
}
