//! The server's own account of a probe run (needs `--user`): its status
//! counters and connection settings before and after, its host cache entry
//! for the probing host, and its `Aborted_connects` set beside what the
//! probe saw end abnormally. Where they differ, someone saw what the other
//! did not: that is said, not smoothed over.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use hsp_probe::session::{HostCache, ServerSnapshot};
use serde::Serialize;

/// A host whose connect errors reach this share of max_connect_errors is
/// warned about.
const NEAR_BLOCKED: f64 = 0.8;

/// The server's counters around the run.
#[derive(Debug, Serialize)]
pub(crate) struct StatusReport {
    pub(crate) variables: BTreeMap<String, String>,
    pub(crate) before: BTreeMap<String, i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) after: Option<BTreeMap<String, i64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) delta: Option<BTreeMap<String, i64>>,
    pub(crate) host_cache: HostCacheReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) aborted_connects: Option<AbortedConnects>,
}

/// `performance_schema.host_cache` for the probing host.
#[derive(Debug, Serialize)]
pub(crate) struct HostCacheReport {
    /// `entry`, `no_entry`, `performance_schema_off`, `unreadable`.
    pub(crate) state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) ip: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) before: BTreeMap<String, i64>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) after: BTreeMap<String, i64>,
    /// What it means, when something needs saying.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) notes: Vec<String>,
}

/// The server's `Aborted_connects` delta beside the probe's count.
#[derive(Debug, Serialize)]
pub(crate) struct AbortedConnects {
    pub(crate) server: i64,
    pub(crate) probe_saw: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) note: Option<String>,
}

impl AbortedConnects {
    /// The note that explains a difference, as the text output and the
    /// report append it (": ..."), or nothing.
    pub(crate) fn note_suffix(&self) -> String {
        self.note
            .as_ref()
            .map(|n| format!(": {n}"))
            .unwrap_or_default()
    }
}

fn counters(h: &HostCache) -> BTreeMap<String, i64> {
    match h {
        HostCache::Entry { counters, .. } => counters.clone(),
        _ => BTreeMap::new(),
    }
}

impl HostCacheReport {
    /// The columns worth showing, before and after: those not zero, and
    /// SUM_CONNECT_ERRORS always.
    pub(crate) fn shown(&self) -> impl Iterator<Item = (&str, i64, i64)> {
        self.after
            .iter()
            .filter(|(k, v)| **v != 0 || *k == "SUM_CONNECT_ERRORS")
            .map(|(k, v)| (k.as_str(), self.before.get(k).copied().unwrap_or(0), *v))
    }

    fn new(before: &ServerSnapshot, after: Option<&ServerSnapshot>) -> Self {
        let last = after.map_or(&before.host_cache, |a| &a.host_cache);
        let (state, ip) = match last {
            HostCache::Entry { ip, .. } => ("entry", Some(ip.clone())),
            HostCache::NoEntry { ip } => ("no_entry", Some(ip.clone())),
            HostCache::PerformanceSchemaOff => ("performance_schema_off", None),
            HostCache::Unreadable(_) | HostCache::Unread => ("unreadable", None),
        };
        let mut notes = Vec::new();
        match last {
            HostCache::PerformanceSchemaOff => notes.push(
                "performance_schema is off: the host cache cannot be read (the server still counts connect errors toward max_connect_errors)".into(),
            ),
            HostCache::Unreadable(e) => notes.push(format!("the host cache could not be read: {e}")),
            HostCache::NoEntry { ip } if ip.parse::<std::net::IpAddr>().is_ok_and(|a| a.is_loopback()) => notes.push(format!(
                "no host cache entry for {ip}: servers keep none for loopback addresses"
            )),
            HostCache::NoEntry { ip } => notes.push(format!(
                "no host cache entry for {ip}: no connect error counted against it (or skip_name_resolve: no host cache)"
            )),
            _ => {}
        }
        let after_counters = after.map(|a| counters(&a.host_cache)).unwrap_or_default();
        let max: Option<f64> = before
            .variables
            .get("max_connect_errors")
            .and_then(|v| v.parse().ok());
        if let (Some(errors), Some(max)) = (after_counters.get("SUM_CONNECT_ERRORS"), max)
            && max > 0.0
            && *errors as f64 >= NEAR_BLOCKED * max
        {
            notes.push(format!(
                "warning: this host has {errors} connect error(s) of max_connect_errors={max}: a few more and the server blocks it (ERR 1129) until FLUSH HOSTS"
            ));
        }
        Self {
            state,
            ip,
            before: counters(&before.host_cache),
            after: after_counters,
            notes,
        }
    }
}

impl StatusReport {
    /// `abnormal` is the number of the probe's handshakes that ended
    /// otherwise than logged in (an ERR, a close, a time limit).
    pub(crate) fn new(
        before: Option<ServerSnapshot>,
        after: Option<ServerSnapshot>,
        abnormal: u64,
    ) -> Option<Self> {
        let before = before?;
        let delta = after.as_ref().map(|a| status_delta(&before, a));
        let host_cache = HostCacheReport::new(&before, after.as_ref());
        let aborted_connects = delta
            .as_ref()
            .and_then(|d| d.get("Aborted_connects"))
            .map(|&server| {
                let note = match server - i64::try_from(abnormal).unwrap_or(i64::MAX) {
                    0 => None,
                    n if n > 0 => Some(format!(
                        "the server counted {n} aborted connect(s) more than the probe saw end abnormally: other clients', or failures the probe could not see"
                    )),
                    n => Some(format!(
                        "the probe saw {} handshake(s) end abnormally that the server did not count as aborted connects: failures before the server counts (a refused SYN, a full listen queue, the network)",
                        -n
                    )),
                };
                AbortedConnects {
                    server,
                    probe_saw: abnormal,
                    note,
                }
            });
        Some(Self {
            variables: before.variables.clone(),
            before: before.status,
            after: after.map(|a| a.status),
            delta,
            host_cache,
            aborted_connects,
        })
    }

    /// The counters worth showing, with their change: those that moved,
    /// and the aborted ones and Connections always.
    pub(crate) fn shown_deltas(&self) -> impl Iterator<Item = (&str, i64)> {
        self.delta.iter().flatten().filter_map(|(k, d)| {
            let interesting = *d != 0 || k.starts_with("Aborted") || k == "Connections";
            interesting.then_some((k.as_str(), *d))
        })
    }

    /// The text section.
    pub(crate) fn text(&self, o: &mut String) {
        let _ = writeln!(
            o,
            "\nServer's view (SHOW GLOBAL STATUS, after - before; Connections includes the probe's status connection)"
        );
        if self.delta.is_some() {
            for (k, d) in self.shown_deltas() {
                let _ = writeln!(o, "  {k:<38} {d:>+8}");
            }
        } else {
            let _ = writeln!(o, "  (not read after the run)");
        }
        let vars = self
            .variables
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ");
        let _ = writeln!(o, "  {vars}");
        if let Some(a) = &self.aborted_connects {
            let _ = writeln!(
                o,
                "  Aborted_connects {:+}; the probe saw {} handshake(s) end abnormally{}",
                a.server,
                a.probe_saw,
                a.note_suffix()
            );
        }
        let h = &self.host_cache;
        if let Some(ip) = &h.ip
            && !h.after.is_empty()
        {
            let shown: Vec<String> = h
                .shown()
                .map(|(k, was, now)| format!("{k} {was} -> {now}"))
                .collect();
            let _ = writeln!(o, "  host cache for {ip}: {}", shown.join(", "));
        }
        for n in &h.notes {
            let _ = writeln!(o, "  {n}");
        }
    }
}

/// Server counters before and after, for the report.
pub(crate) fn status_delta(
    before: &ServerSnapshot,
    after: &ServerSnapshot,
) -> BTreeMap<String, i64> {
    after
        .status
        .iter()
        .map(|(k, v)| (k.clone(), v - before.status.get(k).copied().unwrap_or(0)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(errors: Option<i64>, aborted: i64) -> ServerSnapshot {
        ServerSnapshot {
            status: BTreeMap::from([("Aborted_connects".into(), aborted)]),
            variables: BTreeMap::from([("max_connect_errors".into(), "10".into())]),
            host_cache: match errors {
                Some(n) => HostCache::Entry {
                    ip: "10.0.0.1".into(),
                    counters: BTreeMap::from([("SUM_CONNECT_ERRORS".into(), n)]),
                },
                None => HostCache::PerformanceSchemaOff,
            },
        }
    }

    #[test]
    fn a_host_near_max_connect_errors_is_warned_and_counts_compared() {
        let r = StatusReport::new(Some(snap(Some(2), 100)), Some(snap(Some(8), 105)), 3).unwrap();
        assert_eq!(r.host_cache.state, "entry");
        assert!(
            r.host_cache
                .notes
                .iter()
                .any(|n| n.contains("8 connect error(s) of max_connect_errors=10"))
        );
        let a = r.aborted_connects.unwrap();
        assert_eq!((a.server, a.probe_saw), (5, 3));
        assert!(a.note.unwrap().contains("2 aborted connect(s) more"));
        let mut o = String::new();
        StatusReport::new(Some(snap(Some(2), 100)), Some(snap(Some(3), 100)), 1)
            .unwrap()
            .text(&mut o);
        assert!(o.contains("SUM_CONNECT_ERRORS 2 -> 3"), "{o}");
        assert!(
            o.contains("the probe saw 1 handshake(s) end abnormally that the server did not count"),
            "{o}"
        );
    }

    #[test]
    fn performance_schema_off_is_said_once() {
        let r = StatusReport::new(Some(snap(None, 0)), Some(snap(None, 0)), 0).unwrap();
        assert_eq!(r.host_cache.state, "performance_schema_off");
        assert_eq!(r.host_cache.notes.len(), 1);
        assert!(r.aborted_connects.unwrap().note.is_none());
    }
}
