//! Every observer event of a capture, in capture order, with the record it
//! came from: what `decode --packets` lists, as Wireshark lists packets.
//! (Connection records come from [`crate::analyze`], which spreads the
//! same follower's work over threads.)

use std::time::Duration;

use hsp_wire::observer::ObserverConfig;

use crate::analyze::FileTotals;
use crate::source::{Next, RecordSource};
use crate::{Follower, FollowerEvent};

/// One event and where it came from.
#[derive(Debug)]
pub struct Step<'a> {
    /// The capture record (frame) whose segment completed it.
    pub frame: u64,
    /// That record's time since the capture's first record.
    pub since_start: Duration,
    /// The event.
    pub event: &'a FollowerEvent,
}

/// Calls `each` with every observer event of `source`'s connections to
/// `ports` (and of servers found by their bytes), until the source ends
/// or `each` fails. A record the source cannot read ends it as a damaged
/// file (in the totals), after everything before it.
pub fn each_event<S: RecordSource + ?Sized, E>(
    source: &mut S,
    ports: &[u16],
    mut each: impl FnMut(Step<'_>) -> Result<(), E>,
) -> Result<FileTotals, E> {
    let dlt = source.linktype();
    let mut follower = Follower::new(ports.to_vec(), ObserverConfig::default());
    let mut totals = FileTotals::default();
    if !crate::link::decodable(dlt) {
        totals.unsupported_link_type = Some(dlt);
    }
    let mut warnings = crate::analyze::Warnings::default();
    let mut events = Vec::new();
    let mut first = None;
    loop {
        let rec = match source.next() {
            Ok(Next::Record(r)) => r,
            Ok(Next::Idle(now)) => {
                follower.advance(now);
                continue;
            }
            Ok(Next::End) => break,
            Err(e) => {
                totals.damaged = Some(e.to_string());
                break;
            }
        };
        let t0 = *first.get_or_insert(rec.ts);
        let Some(seg) =
            crate::analyze::inspect(&rec, dlt, &mut totals, &mut warnings, &mut follower)
        else {
            continue;
        };
        events.clear();
        follower.on_segment(&seg, rec.ts, rec.frame, &mut events);
        for event in &events {
            each(Step {
                frame: rec.frame,
                since_start: rec.ts.saturating_sub(t0),
                event,
            })?;
        }
        // Records are not wanted here: finished connections are dropped.
        follower.drain_finished().for_each(drop);
    }
    let mut notes = source.notes();
    notes.extend(warnings.finish());
    totals.warnings = notes;
    Ok(totals)
}
