//! The probe never makes the server refuse anyone: its own connections
//! stay within a tenth of the server's free connection slots, and a
//! refusal for too many connections (ER_CON_COUNT_ERROR, 1040) during a
//! run halves its concurrency. On a production server the connections a
//! probe crowds out are the application's.
//!
//! - With credentials, the control session reads `max_connections` and
//!   `Threads_connected` before the run: free = max - connected, and the
//!   probe keeps at most `free / 10` (at least 1) in flight.
//! - Without them the free slots are unknown: above [`BLIND_LIMIT`] the
//!   probe needs `--force`.
//! - `--force` lifts both limits, with a warning; the back-off on 1040
//!   stays, as the last safety net, and is reported.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use crate::session::ServerSnapshot;

/// Concurrency allowed without knowing the server's free slots.
pub const BLIND_LIMIT: usize = 16;
/// The share of the free connection slots the probe may take.
pub const SHARE: f64 = 0.10;
/// ER_CON_COUNT_ERROR.
pub const TOO_MANY_CONNECTIONS: u16 = 1040;

/// The concurrency a run may use, and what the user must be told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limit {
    /// Workers to start.
    pub concurrency: usize,
    /// A sentence for the output (lowered, or forced), if any.
    pub note: Option<String>,
}

/// Why a run may not start as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refusal(pub String);

/// The concurrency for `requested`, given what the control session read
/// (`None`: no credentials, or it failed) and `--force`.
pub fn limit(
    requested: usize,
    snapshot: Option<&ServerSnapshot>,
    force: bool,
) -> Result<Limit, Refusal> {
    if force {
        return Ok(Limit {
            concurrency: requested,
            note: Some(format!(
                "--force: up to {requested} connection(s) at once, whatever the server's free slots; it may refuse other clients (1040) while this runs (a refusal still halves the concurrency)"
            )),
        });
    }
    let slots = snapshot.and_then(|s| {
        let max = s.variables.get("max_connections")?.parse::<i64>().ok()?;
        let connected = *s.status.get("Threads_connected")?;
        Some((max, connected))
    });
    let Some((max, connected)) = slots else {
        if requested > BLIND_LIMIT {
            return Err(Refusal(format!(
                "-c {requested}: without the server's status (no --user, --no-server-status, or it could not be read) the probe cannot see the server's free connection slots, and more than {BLIND_LIMIT} at once may exhaust them (other clients then get ER_CON_COUNT_ERROR, 1040); give --user so it can read max_connections, or --force"
            )));
        }
        return Ok(Limit {
            concurrency: requested,
            note: None,
        });
    };
    // The control session is one of the connected threads; it is closed
    // before the run.
    let free = (max - connected + 1).max(0);
    let cap = ((free as f64 * SHARE) as usize).max(1);
    Ok(if requested > cap {
        Limit {
            concurrency: cap,
            note: Some(format!(
                "concurrency lowered from {requested} to {cap}: the probe keeps within 10% of the server's {free} free connection slot(s) (max_connections {max}, Threads_connected {}); --force lifts this",
                connected - 1
            )),
        }
    } else {
        Limit {
            concurrency: requested,
            note: None,
        }
    })
}

/// A halving of the concurrency after a 1040.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Since the run began.
    pub at: Duration,
    /// Workers before.
    pub from: usize,
    /// Workers after.
    pub to: usize,
}

impl Backoff {
    /// The sentence for the output.
    pub fn sentence(&self) -> String {
        format!(
            "the server refused a connection with ER_CON_COUNT_ERROR (1040, too many connections) {:.2} s into the run: concurrency halved from {} to {}",
            self.at.as_secs_f64(),
            self.from,
            self.to
        )
    }
}

/// The workers allowed to start connections now, shared by all of them.
#[derive(Debug)]
pub struct Throttle {
    allowed: AtomicUsize,
    /// When the last halving happened: a refusal of a connection that
    /// started before it was part of the same crowd, and halves nothing
    /// more.
    last: Mutex<Option<Instant>>,
    backoffs: Mutex<Vec<Backoff>>,
}

impl Throttle {
    /// `workers` allowed.
    pub fn new(workers: usize) -> Self {
        Self {
            allowed: AtomicUsize::new(workers.max(1)),
            last: Mutex::new(None),
            backoffs: Mutex::new(Vec::new()),
        }
    }

    /// Worker `w` may start a connection.
    pub fn admits(&self, w: usize) -> bool {
        w < self.allowed.load(Ordering::Relaxed)
    }

    /// A connection that started at `started` was refused with 1040:
    /// halves the workers allowed, down to 1, once per crowd.
    pub fn refused(&self, started: Instant, run_start: Instant) {
        let mut last = self.last.lock().expect("throttle lock");
        if last.is_some_and(|l| started < l) {
            return;
        }
        let from = self.allowed.load(Ordering::Relaxed);
        let to = (from / 2).max(1);
        if to == from {
            return;
        }
        self.allowed.store(to, Ordering::Relaxed);
        let now = Instant::now();
        *last = Some(now);
        self.backoffs.lock().expect("throttle lock").push(Backoff {
            at: now.saturating_duration_since(run_start),
            from,
            to,
        });
    }

    /// The halvings so far.
    pub fn backoffs(&self) -> Vec<Backoff> {
        self.backoffs.lock().expect("throttle lock").clone()
    }

    /// Workers allowed now.
    pub fn allowed(&self) -> usize {
        self.allowed.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(max: &str, connected: i64) -> ServerSnapshot {
        let mut s = ServerSnapshot::default();
        s.variables.insert("max_connections".into(), max.into());
        s.status.insert("Threads_connected".into(), connected);
        s
    }

    #[test]
    fn a_tenth_of_the_free_slots_and_no_more() {
        // 151 slots, 1 taken by the control session itself: 151 free.
        let l = limit(200, Some(&snap("151", 1)), false).unwrap();
        assert_eq!(l.concurrency, 15);
        assert!(l.note.unwrap().contains("lowered from 200 to 15"));
        assert_eq!(
            limit(8, Some(&snap("151", 1)), false).unwrap().concurrency,
            8
        );
        // A full server still gets one, never none.
        assert_eq!(
            limit(8, Some(&snap("20", 20)), false).unwrap().concurrency,
            1
        );
        // --force lifts it, and says so.
        let f = limit(50, Some(&snap("20", 1)), true).unwrap();
        assert_eq!(f.concurrency, 50);
        assert!(f.note.unwrap().starts_with("--force"));
    }

    #[test]
    fn blind_above_sixteen_needs_force() {
        assert!(limit(16, None, false).is_ok());
        let e = limit(17, None, false).unwrap_err();
        assert!(e.0.contains("--force"), "{e}");
        assert_eq!(limit(17, None, true).unwrap().concurrency, 17);
    }

    #[tokio::test(start_paused = true)]
    async fn one_crowd_of_refusals_halves_once() {
        let t = Throttle::new(8);
        let run = Instant::now();
        let started = Instant::now();
        tokio::time::advance(Duration::from_millis(10)).await;
        t.refused(started, run);
        t.refused(started, run);
        assert_eq!(t.allowed(), 4);
        assert!(t.admits(3) && !t.admits(4));
        // A connection started after the halving, refused too: again.
        let later = Instant::now();
        tokio::time::advance(Duration::from_millis(10)).await;
        t.refused(later, run);
        assert_eq!(t.allowed(), 2);
        assert_eq!(t.backoffs().len(), 2);
        assert_eq!(t.backoffs()[0].from, 8);
    }
}
