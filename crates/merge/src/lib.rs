//! # hsp-merge: one connection seen from both ends
//!
//! `decode --vantage client=FILE --vantage server=FILE` reads a capture
//! near the client and one near the server, taken at once, and gives each
//! connection one record with both views. What this crate adds to two
//! single-capture records is what only their comparison proves: a packet
//! that left one tap and never reached the other was lost between them,
//! and a RST one tap saw in a side's name that the side's own tap never
//! saw leave was born between them (a firewall, a load balancer).
//!
//! - Connections are matched by their initial sequence numbers (client
//!   and server ISN, which survive NAT and port rewrites: Linux's
//!   conntrack rewrites addresses and ports, never sequence numbers),
//!   then by the client's ISN alone (a SYN-ACK seen at one tap only),
//!   then by addresses and ports (captures that began after the SYN).
//! - Packets are matched by sequence, acknowledgment, length, flags and
//!   TCP timestamp value ([`pairs`]), so a retransmission's copies stay
//!   apart.
//! - The clocks' offset comes from the matched packets: a packet arrives
//!   after it leaves, so client-to-server packets bound the server tap's
//!   clock minus the client's from above, server-to-client packets from
//!   below; the estimate is the middle, its uncertainty half the gap.
//!
//! The vocabulary and the rule for the merged verdict are hsp-core's
//! ([`hsp_core::path`]).
#![warn(missing_docs)]

mod one;
mod pairs;

use std::collections::HashMap;

use hsp_core::ConnectionRecord;
use hsp_core::path::WireLog;
use serde::Serialize;

use crate::pairs::Bounds;

/// One capture's connections, each with its segments as the tap saw them.
#[derive(Debug, Default)]
pub struct Capture {
    /// The file(s), for messages.
    pub name: String,
    /// Records and wire logs, in the order they came.
    pub conns: Vec<(ConnectionRecord, WireLog)>,
    /// First and last packet of the whole capture, µs since the epoch.
    pub span_us: Option<(u64, u64)>,
}

/// What the merge found, for the summary.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MergeReport {
    /// The capture near the client.
    pub client: String,
    /// The capture near the server.
    pub server: String,
    /// Connections seen at both taps.
    pub matched: u64,
    /// Of those, matched by initial sequence numbers (both, or the
    /// client's alone).
    pub matched_by_isn: u64,
    /// Of those, by addresses and ports (no SYN captured).
    pub matched_by_tuple: u64,
    /// Connections only the client's tap saw.
    pub client_only: u64,
    /// Connections only the server's tap saw.
    pub server_only: u64,
    /// Server tap's clock minus the client tap's, µs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset_us: Option<i64>,
    /// Half the interval the packets leave for the offset, µs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset_uncertainty_us: Option<u64>,
    /// Packets seen at both taps, client to server and server to client.
    pub packets_matched: [u64; 2],
    /// The files were given the other way round, and were read swapped.
    pub swapped: bool,
    /// Whether records were merged at all (nothing matched, or two
    /// captures of one vantage point: each decoded alone).
    pub merged: bool,
    /// What the user must know.
    pub warnings: Vec<String>,
}

/// Fewer packets matched per direction than this, and the offset is a
/// guess.
const FEW_PACKETS: u64 = 3;

/// Merges the two captures: one record per connection, both views in it.
/// When nothing matches, or both files are one vantage point, every
/// record comes back alone and the report says why.
pub fn merge(client: Capture, server: Capture) -> (Vec<ConnectionRecord>, MergeReport) {
    let mut rep = MergeReport {
        client: client.name.clone(),
        server: server.name.clone(),
        ..MergeReport::default()
    };
    let matches = match_connections(&client, &server);
    if matches.iter().all(Option::is_none) {
        rep.warnings.push(format!(
            "no connection of {} is in {}: the captures hold different traffic (or another time); each is decoded alone",
            client.name, server.name
        ));
        return (alone(client, server), rep);
    }
    let mut bounds = Bounds::default();
    let mut same_ttl = true;
    for (i, m) in matches.iter().enumerate() {
        let Some((j, _)) = m else {
            continue;
        };
        let s = pairs::sort(&client.conns[i].1, &server.conns[*j].1, None);
        for p in s.pairs.iter().filter(|p| p.sure) {
            bounds.add(p);
        }
        same_ttl &= pairs::same_ttls(&client.conns[i].1, &server.conns[*j].1);
    }
    rep.packets_matched = bounds.pairs;
    let (Some(upper), Some(lower)) = (bounds.upper, bounds.lower) else {
        rep.warnings.push(format!(
            "packets matched in one direction only ({} client to server, {} server to client): the clocks' offset cannot be bounded; each capture is decoded alone",
            bounds.pairs[0], bounds.pairs[1]
        ));
        return (alone(client, server), rep);
    };
    if same_ttl && upper.abs() <= 2 && lower.abs() <= 2 {
        rep.warnings.push(format!(
            "{} and {} show the same packets at the same moments with the same TTLs: one vantage point captured twice, not the two ends of a path; each is decoded alone",
            client.name, server.name
        ));
        return (alone(client, server), rep);
    }
    if upper < lower {
        // The delays come out negative: the server's tap saw client
        // packets before the client's tap did. Read the other way round,
        // they may all be positive.
        if bounds.fit_swapped() {
            rep.warnings.push(format!(
                "the packets arrive before they leave as given: {} is the server's tap and {} the client's; read swapped",
                client.name, server.name
            ));
            rep.swapped = true;
            let (r, mut rep2) = merge(server, client);
            rep2.swapped = true;
            rep2.warnings.splice(0..0, rep.warnings);
            return (r, rep2);
        }
        rep.warnings.push(format!(
            "no clock offset makes every one-way delay positive (the bounds cross by {} µs): the captures' clocks drift, or a device rewrote sequence numbers; delays and losses between the taps are approximate",
            lower - upper
        ));
    }
    let offset = (upper + lower) / 2;
    rep.offset_us = Some(offset);
    rep.offset_uncertainty_us = Some((upper - lower).unsigned_abs() / 2);
    if bounds.pairs.iter().any(|n| *n < FEW_PACKETS) {
        rep.warnings.push(format!(
            "only {} and {} packets matched each way: too little overlap to pin the clocks' offset (±{} µs)",
            bounds.pairs[0],
            bounds.pairs[1],
            (upper - lower).unsigned_abs() / 2
        ));
    }
    rep.merged = true;
    // Again, now that the clocks are known: copies that share a key pair
    // by time.
    let sorted = matches
        .iter()
        .enumerate()
        .map(|(i, m)| {
            m.map(|(j, _)| pairs::sort(&client.conns[i].1, &server.conns[j].1, Some(offset)))
        })
        .collect();
    let out = one::build(client, server, &matches, sorted, offset, &mut rep);
    (out, rep)
}

/// Each capture's records alone.
fn alone(client: Capture, server: Capture) -> Vec<ConnectionRecord> {
    client
        .conns
        .into_iter()
        .chain(server.conns)
        .map(|(r, _)| r)
        .collect()
}

/// How a connection was matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum By {
    Isn,
    Tuple,
}

/// For each client connection, the server connection that is the same
/// one, if any.
fn match_connections(client: &Capture, server: &Capture) -> Vec<Option<(usize, By)>> {
    let mut by_isns: HashMap<(u32, u32), Vec<usize>> = HashMap::new();
    let mut by_cisn: HashMap<u32, Vec<usize>> = HashMap::new();
    let mut by_tuple: HashMap<(&str, &str), Vec<usize>> = HashMap::new();
    for (j, (r, w)) in server.conns.iter().enumerate() {
        let (c, s) = (w.client_isn(), w.server_isn());
        if let (Some(c), Some(s)) = (c, s) {
            by_isns.entry((c, s)).or_default().push(j);
        }
        if let Some(c) = c {
            by_cisn.entry(c).or_default().push(j);
        }
        if let Some(cl) = r.client.as_deref() {
            by_tuple.entry((cl, &r.server)).or_default().push(j);
        }
    }
    let mut taken = vec![false; server.conns.len()];
    let take = |list: Option<&Vec<usize>>, taken: &mut Vec<bool>| {
        let j = *list?.iter().find(|j| !taken[**j])?;
        taken[j] = true;
        Some(j)
    };
    client
        .conns
        .iter()
        .map(|(r, w)| {
            let (c, s) = (w.client_isn(), w.server_isn());
            let isn = match (c, s) {
                (Some(c), Some(s)) => take(by_isns.get(&(c, s)), &mut taken)
                    .or_else(|| take(by_cisn.get(&c), &mut taken)),
                (Some(c), None) => take(by_cisn.get(&c), &mut taken),
                _ => None,
            };
            if let Some(j) = isn {
                return Some((j, By::Isn));
            }
            if c.is_some() {
                // A SYN at the client's tap and none like it at the
                // server's: not this server connection, whatever the ports.
                return None;
            }
            let cl = r.client.as_deref()?;
            let j = take(by_tuple.get(&(cl, r.server.as_str())), &mut taken)?;
            // Both without a SYN, or the server's has one the client's
            // capture began after: either way the same flow.
            Some((j, By::Tuple))
        })
        .collect()
}
