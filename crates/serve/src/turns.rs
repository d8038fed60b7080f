//! One connection at a time per target, whoever asks: a `/probe` scrape and
//! the continuous loop of a target both listed and scraped take turns, so a
//! server never sees two of the exporter's connections at once (unless it
//! is listed under two spellings, which the config check cannot know).
//!
//! Targets are told apart by their `host:port` text with the host in lower
//! case, the form they are configured and scraped in. An entry lives while
//! someone holds or waits for it; unused ones are dropped on the next take,
//! so the map holds only targets being probed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{Mutex as TurnLock, OwnedMutexGuard};

/// The turns of every target.
#[derive(Debug, Default)]
pub(crate) struct Turns {
    targets: Mutex<HashMap<String, Arc<TurnLock<()>>>>,
}

/// A target's turn: held while its handshakes run.
pub(crate) type Turn = OwnedMutexGuard<()>;

impl Turns {
    /// Waits for `target`'s turn. Cancelling the wait (a scrape out of
    /// time) gives up the place in the queue.
    pub(crate) async fn take(&self, target: &str) -> Turn {
        let lock = {
            let mut map = self.targets.lock().expect("turns lock");
            // Only the map holds these: nobody probes or waits.
            map.retain(|_, lock| Arc::strong_count(lock) > 1);
            map.entry(key(target)).or_default().clone()
        };
        lock.lock_owned().await
    }

    /// Targets held or waited for, for tests.
    #[cfg(test)]
    fn len(&self) -> usize {
        let map = self.targets.lock().expect("turns lock");
        map.values().filter(|l| Arc::strong_count(l) > 1).count()
    }
}

fn key(target: &str) -> String {
    match target.rsplit_once(':') {
        Some((host, port)) => format!("{}:{port}", host.to_ascii_lowercase()),
        None => target.to_ascii_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn one_turn_at_a_time_per_target_and_unused_entries_go() {
        let turns = Turns::default();
        let first = turns.take("DB1:3306").await;
        // The same target under another case waits; another target does not.
        let waited = tokio::time::timeout(Duration::from_secs(1), turns.take("db1:3306")).await;
        assert!(
            waited.is_err(),
            "a second turn was given while the first was held"
        );
        let other = tokio::time::timeout(Duration::from_secs(1), turns.take("db2:3306")).await;
        assert!(other.is_ok());
        drop(other);
        assert_eq!(turns.len(), 1);
        drop(first);
        let again = tokio::time::timeout(Duration::from_secs(1), turns.take("db1:3306")).await;
        assert!(again.is_ok(), "the turn was not given back");
        drop(again);
        let _ = turns.take("db3:3306").await;
        assert_eq!(
            turns.targets.lock().unwrap().len(),
            1,
            "unused entries stay"
        );
    }
}
