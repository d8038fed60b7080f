//! One record per connection from its two views: the packets lost between
//! the taps, the resets born between them, one-way delays, and the
//! merged verdict (hsp-core's rule).

use hsp_core::ConnectionRecord;
use hsp_core::network::Side;
use hsp_core::path::{
    BornBetween, LostBetween, OneWay, PathFacts, PathPacket, PathReport, PerDirection, View, Views,
    WireLog, WireSeg, flag, merged_verdict,
};

use crate::pairs::Sorted;
use crate::{By, Capture, MergeReport};

/// A tap that kept capturing this long after a packet should have
/// arrived (or twice the path's longest one-way delay, if longer) would
/// have seen it: taps record in time order.
const MARGIN_US: u64 = 10_000;

/// The taps' clocks: the server's minus the client's, and each capture's
/// span on its own clock.
struct Clocks {
    offset: i64,
    client_span: Option<(u64, u64)>,
    server_span: Option<(u64, u64)>,
}

impl Clocks {
    /// `t` on `from`'s tap clock, on the other tap's clock.
    fn across(&self, t: u64, from: Side) -> u64 {
        let o = if from == Side::Client {
            self.offset
        } else {
            -self.offset
        };
        t.saturating_add_signed(o)
    }

    /// The tap on `side`'s host was capturing from before `t` (its own
    /// clock) to `margin` µs after it.
    fn covers(&self, side: Side, t: u64, margin: u64) -> bool {
        let span = if side == Side::Client {
            self.client_span
        } else {
            self.server_span
        };
        span.is_some_and(|(a, b)| a <= t && t.saturating_add(margin) <= b)
    }
}

pub(crate) fn build(
    client: Capture,
    server: Capture,
    matches: &[Option<(usize, By)>],
    sorted: Vec<Option<Sorted>>,
    offset: i64,
    rep: &mut MergeReport,
) -> Vec<ConnectionRecord> {
    let clocks = Clocks {
        offset,
        client_span: client.span_us,
        server_span: server.span_us,
    };
    let mut servers: Vec<Option<(ConnectionRecord, WireLog)>> =
        server.conns.into_iter().map(Some).collect();
    let mut out = Vec::new();
    for ((c, m), s) in client.conns.into_iter().zip(matches).zip(sorted) {
        match (m, s) {
            (Some((j, by)), Some(s)) => {
                let Some(sv) = servers[*j].take() else {
                    continue;
                };
                rep.matched += 1;
                match by {
                    By::Isn => rep.matched_by_isn += 1,
                    By::Tuple => rep.matched_by_tuple += 1,
                }
                out.push(both(c, sv, &s, &clocks));
            }
            _ => {
                rep.client_only += 1;
                out.push(client_only(c, &clocks));
            }
        }
    }
    for (r, _) in servers.into_iter().flatten() {
        rep.server_only += 1;
        out.push(one_view(r, Side::Server, PathFacts::default(), None));
    }
    out.sort_by_key(|r| r.time.map(|t| t.0));
    out
}

/// A connection both taps saw.
fn both(
    (cr, cl): (ConnectionRecord, WireLog),
    (sr, sl): (ConnectionRecord, WireLog),
    s: &Sorted,
    clocks: &Clocks,
) -> ConnectionRecord {
    let names = Names::of(&cl, &sl);
    let start = cl.span().map_or(0, |(a, _)| a);
    let mut facts = PathFacts {
        offset_us: clocks.offset,
        ..PathFacts::default()
    };
    let mut delays: [Vec<u64>; 2] = [Vec::new(), Vec::new()];
    for p in &s.pairs {
        let (d, from) = if p.from_client {
            (0, Side::Client)
        } else {
            (1, Side::Server)
        };
        let arrived = clocks.across(p.arrived_us, from.peer());
        delays[d].push(arrived.saturating_sub(p.sent_us));
    }
    for (d, v) in delays.iter_mut().enumerate() {
        v.sort_unstable();
        facts.one_way[d] = (!v.is_empty()).then(|| OneWay {
            median: v[v.len() / 2],
            max: *v.last().unwrap_or(&0),
            packets: u32::try_from(v.len()).unwrap_or(u32::MAX),
        });
    }
    let ends = [handshake_end(&cr), handshake_end(&sr)];
    // On the client tap's clock, from the connection's start there.
    let rel = |t: u64, tap: Side| {
        let t = if tap == Side::Client {
            t
        } else {
            clocks.across(t, Side::Server)
        };
        t.saturating_sub(start)
    };
    let mut packets = Vec::new();
    for p in &s.pairs {
        if let Some(what) = names.name(&p.seg) {
            let from = p.seg.sender();
            packets.push(PathPacket {
                from: from.name(),
                what,
                sent_us: Some(rel(p.sent_us, from)),
                arrived_us: Some(rel(p.arrived_us, from.peer())),
            });
        }
    }
    let margin = |d: usize| {
        facts.one_way[d]
            .map_or(0, |w| w.max.saturating_mul(2))
            .max(MARGIN_US)
    };
    let margins = [margin(0), margin(1)];
    for seg in &s.lost {
        let from = seg.sender();
        let (d, peer) = if seg.from_client {
            (0, Side::Server)
        } else {
            (1, Side::Client)
        };
        let peer_log = if seg.from_client { &sl } else { &cl };
        let expected = clocks.across(seg.at_us, from);
        let logged = peer_log.more == 0 || peer_log.span().is_some_and(|(_, b)| expected <= b);
        if !clocks.covers(peer, expected, margins[d]) || !logged {
            continue;
        }
        facts.lost_segments[d] += 1;
        if let Some(what) = names.name(seg) {
            packets.push(PathPacket {
                from: from.name(),
                what,
                sent_us: Some(rel(seg.at_us, from)),
                arrived_us: None,
            });
        }
        if ends[d].is_some_and(|e| seg.at_us > e) {
            continue;
        }
        // On the client's timeline, from the connection's start there.
        let at = if seg.from_client {
            seg.at_us
        } else {
            clocks.across(seg.at_us, Side::Server)
        };
        let Some(what) = names.name(seg) else {
            continue;
        };
        lost_at(&mut facts.lost[d], from, what, at.saturating_sub(start));
    }
    for seg in s.unsent.iter().filter(|s| s.has(flag::RST)) {
        let in_name_of = seg.sender();
        let tap = in_name_of.peer();
        if clocks.covers(in_name_of, clocks.across(seg.at_us, tap), MARGIN_US) {
            let at = if tap == Side::Client {
                seg.at_us
            } else {
                clocks.across(seg.at_us, Side::Server)
            };
            facts.born_between.push(BornBetween {
                in_name_of,
                at_us: at.saturating_sub(start),
                frame: seg.frame,
            });
            packets.push(PathPacket {
                from: in_name_of.name(),
                what: format!("a RST in the {}'s name", in_name_of.name()),
                sent_us: None,
                arrived_us: Some(at.saturating_sub(start)),
            });
        }
    }
    let (verdict, why) = merged_verdict(cr.verdict, sr.verdict, &facts);
    let views = Views {
        client: Some(View::of(&cr)),
        server: Some(View::of(&sr)),
    };
    let decided_by = if verdict == sr.verdict && verdict != cr.verdict {
        sr
    } else {
        cr
    };
    let mut r = decided_by;
    let mut evidence = facts.sentences();
    evidence.extend(why);
    evidence.append(&mut r.evidence);
    if views.client.as_ref().map(|v| v.verdict) != views.server.as_ref().map(|v| v.verdict) {
        evidence.push(format!(
            "alone, the client's capture says {} and the server's {}",
            views.client.as_ref().map_or("-", |v| v.verdict.name()),
            views.server.as_ref().map_or("-", |v| v.verdict.name()),
        ));
    }
    r.evidence = evidence;
    r.verdict = verdict;
    r.party = verdict.party();
    if let Some(c) = &views.client {
        // The record is the client's connection: its address and stream.
        r.client.clone_from(&c.client);
        r.stream = c.stream;
        r.id = c.stream.map_or(r.id, u64::from);
    }
    packets.sort_by_key(|p| p.sent_us.or(p.arrived_us));
    let mut path = report(&facts, "both", Some(clocks.offset));
    path.packets = packets;
    r.path = Some(Box::new(path));
    r.views = Some(Box::new(views));
    r
}

/// A connection only the client's tap saw: when the server's tap was
/// capturing then, none of its packets reached the server's.
fn client_only((r, log): (ConnectionRecord, WireLog), clocks: &Clocks) -> ConnectionRecord {
    let mut facts = PathFacts {
        offset_us: clocks.offset,
        ..PathFacts::default()
    };
    let start = log.span().map_or(0, |(a, _)| a);
    let covered = log.span().is_some_and(|(a, b)| {
        clocks.covers(Side::Server, clocks.across(a, Side::Client), MARGIN_US)
            && clocks.covers(Side::Server, clocks.across(b, Side::Client), MARGIN_US)
    });
    let mut note = None;
    let mut packets = Vec::new();
    if covered {
        let names = Names::of(&log, &WireLog::default());
        let end = handshake_end(&r);
        for seg in log.segs.iter().filter(|s| s.from_client) {
            facts.lost_segments[0] += 1;
            let Some(what) = names.name(seg) else {
                continue;
            };
            packets.push(PathPacket {
                from: "client",
                what: what.clone(),
                sent_us: Some(seg.at_us - start),
                arrived_us: None,
            });
            if end.is_none_or(|e| seg.at_us <= e) {
                lost_at(&mut facts.lost[0], Side::Client, what, seg.at_us - start);
            }
        }
        note = Some(
            "the server's tap, capturing at the time, saw none of this connection's packets"
                .to_owned(),
        );
    }
    let mut r = one_view(r, Side::Client, facts, note);
    if let Some(p) = r.path.as_mut() {
        p.packets = packets;
    }
    r
}

/// A record seen by one tap, with the path's facts so far.
fn one_view(
    mut r: ConnectionRecord,
    side: Side,
    facts: PathFacts,
    note: Option<String>,
) -> ConnectionRecord {
    let view = View::of(&r);
    let (verdict, _) = merged_verdict(r.verdict, r.verdict, &facts);
    let mut evidence = facts.sentences();
    evidence.extend(note);
    evidence.push(format!("seen only by the {}'s tap", side.name()));
    evidence.append(&mut r.evidence);
    r.evidence = evidence;
    r.verdict = verdict;
    r.party = verdict.party();
    let seen_by = if side == Side::Client {
        "client"
    } else {
        "server"
    };
    r.path = Some(Box::new(report(&facts, seen_by, None)));
    r.views = Some(Box::new(if side == Side::Client {
        Views {
            client: Some(view),
            server: None,
        }
    } else {
        Views {
            client: None,
            server: Some(view),
        }
    }));
    r
}

fn report(f: &PathFacts, seen_by: &'static str, offset: Option<i64>) -> PathReport {
    PathReport {
        seen_by,
        offset_us: offset,
        one_way_us: PerDirection {
            c2s: f.one_way[0],
            s2c: f.one_way[1],
        },
        lost_between: PerDirection {
            c2s: f.lost_segments[0],
            s2c: f.lost_segments[1],
        },
        packets: Vec::new(),
    }
}

/// Adds a copy of `what` sent at `at` to the list, one entry per packet.
fn lost_at(list: &mut Vec<LostBetween>, sender: Side, what: String, at: u64) {
    match list.iter_mut().find(|l| l.what == what) {
        Some(l) => l.sent_us.push(at),
        None => list.push(LostBetween {
            sender,
            what,
            sent_us: vec![at],
        }),
    }
}

/// The end of the handshake at that record's tap, µs since the epoch: its
/// start plus its total (to the answer, or to the failure).
fn handshake_end(r: &ConnectionRecord) -> Option<u64> {
    let start = u64::try_from(r.time?.0.as_micros()).ok()?;
    let total = r.phases_us.get(hsp_core::Phase::Total)?;
    let total = u64::try_from(total.as_micros()).ok()?;
    Some(start + total)
}

/// Handshake packets by name, from the ISNs and the greeting's length.
struct Names {
    isn: [Option<u32>; 2],
    greeting_len: Option<u32>,
}

impl Names {
    fn of(a: &WireLog, b: &WireLog) -> Self {
        let isn = [
            a.client_isn().or_else(|| b.client_isn()),
            a.server_isn().or_else(|| b.server_isn()),
        ];
        let greeting_len = isn[1].and_then(|i| {
            a.segs
                .iter()
                .chain(&b.segs)
                .find(|s| !s.from_client && s.len > 0 && s.seq == i.wrapping_add(1))
                .map(|s| s.len)
        });
        Self { isn, greeting_len }
    }

    /// What `s` was, if it is worth naming (pure ACKs are not).
    fn name(&self, s: &WireSeg) -> Option<String> {
        if s.has(flag::SYN) {
            return Some(
                if s.from_client {
                    "the SYN"
                } else {
                    "the SYN-ACK"
                }
                .into(),
            );
        }
        if s.has(flag::RST) {
            return Some(format!("the {}'s RST", s.sender().name()));
        }
        if s.len == 0 {
            return s
                .has(flag::FIN)
                .then(|| format!("the {}'s FIN", s.sender().name()));
        }
        let d = usize::from(!s.from_client);
        let Some(isn) = self.isn[d] else {
            return Some(format!("{} bytes from the {}", s.len, s.sender().name()));
        };
        let rel = s.seq.wrapping_sub(isn).wrapping_sub(1);
        Some(match (s.from_client, rel) {
            (false, 0) => "the greeting".into(),
            (true, 0) if s.len == 36 => "the SSLRequest".into(),
            (true, 0) => "the login".into(),
            (false, r) if Some(r) == self.greeting_len => "the server's answer to the login".into(),
            (_, r) => format!("the {}'s {} bytes at offset {r}", s.sender().name(), s.len),
        })
    }
}
