//! The connection record as one JSON line, written by hand.
//!
//! A capture of short connections makes one record per handshake, and
//! serde_json spent more time on them than the whole TCP follower did: it
//! escapes every key (the same sixty names, every record) and goes through
//! `fmt` for addresses. This writer knows the keys need no escaping and
//! writes integers with a digit loop. serde's derive stays the definition
//! of the shape: a property test asserts that both give the same bytes for
//! arbitrary records, and every struct is destructured here without `..`,
//! so a new field does not compile until it is written.

use crate::classify::AppError;
use crate::path::{OneWay, PathPacket, PathReport, PerDirection, View, Views};
use crate::phase::{PhaseTimes, micros};
use crate::record::{
    AuthInfo, CaptureCut, ConnectionRecord, Frames, ServerError, TcpEvidence, TcpInfo, TlsInfo,
    Vantage,
};

/// A key as written: `"name":`, put together at compile time.
macro_rules! k {
    ($k:literal) => {
        concat!("\"", $k, "\":")
    };
}

/// An object being written: keys are `'static` names that need no escaping.
struct Obj<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Obj<'a> {
    #[inline(always)]
    fn open(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        Self { out, first: true }
    }

    #[inline(always)]
    /// `k` is the key as [`k!`] writes it: quoted, with its colon.
    fn key(&mut self, k: &'static str) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out.extend_from_slice(k.as_bytes());
    }

    /// A key known only at run time (a phase name; no escaping needed).
    fn key_dyn(&mut self, k: &str) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out.push(b'"');
        self.out.extend_from_slice(k.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    #[inline(always)]
    fn str(&mut self, k: &'static str, v: &str) {
        self.key(k);
        string(self.out, v);
    }

    /// A string of this crate's own vocabulary (an enum's name): needs no
    /// escaping, so none is looked for.
    #[inline(always)]
    fn word(&mut self, k: &'static str, v: &'static str) {
        debug_assert!(!v.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\'));
        self.key(k);
        self.out.push(b'"');
        self.out.extend_from_slice(v.as_bytes());
        self.out.push(b'"');
    }

    #[inline(always)]
    fn opt_word(&mut self, k: &'static str, v: Option<&'static str>) {
        if let Some(v) = v {
            self.word(k, v);
        }
    }

    #[inline(always)]
    fn opt_str(&mut self, k: &'static str, v: Option<&str>) {
        if let Some(v) = v {
            self.str(k, v);
        }
    }

    #[inline(always)]
    fn uint(&mut self, k: &'static str, v: impl Into<u64>) {
        self.key(k);
        uint(self.out, v.into());
    }

    #[inline(always)]
    fn opt_uint(&mut self, k: &'static str, v: Option<impl Into<u64>>) {
        if let Some(v) = v {
            self.uint(k, v);
        }
    }

    #[inline(always)]
    fn bool(&mut self, k: &'static str, v: bool) {
        self.key(k);
        self.out
            .extend_from_slice(if v { b"true" } else { b"false" });
    }

    #[inline(always)]
    fn object(&mut self, k: &'static str, f: impl FnOnce(&mut Obj<'_>)) {
        self.key(k);
        let mut o = Obj::open(self.out);
        f(&mut o);
        o.close();
    }

    #[inline(always)]
    fn close(self) {
        self.out.push(b'}');
    }
}

fn strings(out: &mut Vec<u8>, list: &[String]) {
    out.push(b'[');
    for (i, e) in list.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        string(out, e);
    }
    out.push(b']');
}

fn write_views(o: &mut Obj<'_>, v: &Views) {
    let Views { client, server } = v;
    for (k, view) in [(k!("client"), client), (k!("server"), server)] {
        let Some(View {
            stream,
            client,
            server,
            verdict,
            outcome,
            phase,
            evidence,
        }) = view
        else {
            continue;
        };
        o.object(k, |o| {
            o.opt_uint(k!("stream"), *stream);
            o.opt_str(k!("client"), client.as_deref());
            o.str(k!("server"), server);
            o.word(k!("verdict"), verdict.name());
            o.word(k!("outcome"), outcome);
            o.word(k!("phase"), phase.name());
            o.key(k!("evidence"));
            strings(o.out, evidence);
        });
    }
}

fn write_path(o: &mut Obj<'_>, p: &PathReport) {
    let PathReport {
        seen_by,
        offset_us,
        one_way_us,
        lost_between,
        packets,
    } = p;
    o.word(k!("seen_by"), seen_by);
    if let Some(off) = offset_us {
        o.key(k!("offset_us"));
        if *off < 0 {
            o.out.push(b'-');
        }
        uint(o.out, off.unsigned_abs());
    }
    o.object(k!("one_way_us"), |o| {
        let PerDirection { c2s, s2c } = one_way_us;
        for (k, w) in [(k!("c2s"), c2s), (k!("s2c"), s2c)] {
            o.key(k);
            match w {
                Some(OneWay {
                    median,
                    max,
                    packets,
                }) => {
                    let mut w = Obj::open(o.out);
                    w.uint(k!("median"), *median);
                    w.uint(k!("max"), *max);
                    w.uint(k!("packets"), *packets);
                    w.close();
                }
                None => o.out.extend_from_slice(b"null"),
            }
        }
    });
    o.object(k!("lost_between"), |o| {
        let PerDirection { c2s, s2c } = lost_between;
        o.uint(k!("c2s"), *c2s);
        o.uint(k!("s2c"), *s2c);
    });
    o.key(k!("packets"));
    o.out.push(b'[');
    for (i, p) in packets.iter().enumerate() {
        if i > 0 {
            o.out.push(b',');
        }
        let PathPacket {
            from,
            what,
            sent_us,
            arrived_us,
        } = p;
        let mut e = Obj::open(o.out);
        e.word(k!("from"), from);
        e.str(k!("what"), what);
        e.opt_uint(k!("sent_us"), *sent_us);
        e.opt_uint(k!("arrived_us"), *arrived_us);
        e.close();
    }
    o.out.push(b']');
}

/// `v` in decimal: two digits per division, from a table (most of a
/// record's characters are numbers).
pub(crate) fn uint(out: &mut Vec<u8>, mut v: u64) {
    const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";
    if v < 10 {
        out.push(b'0' + v as u8);
        return;
    }
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    while v >= 100 {
        let d = (v % 100) as usize * 2;
        v /= 100;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&PAIRS[d..d + 2]);
    }
    if v >= 10 {
        let d = v as usize * 2;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&PAIRS[d..d + 2]);
    } else {
        i -= 1;
        buf[i] = b'0' + v as u8;
    }
    out.extend_from_slice(&buf[i..]);
}

/// `s` as a JSON string, escaped as serde_json does: `"`, `\` and control
/// characters only (short forms where JSON has them, else `\u00XX`).
fn string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    // Almost every string needs no escape: found without branching per
    // byte (the fold vectorises), copied whole.
    let plain = bytes
        .iter()
        .fold(true, |ok, &b| ok & (b >= 0x20) & (b != b'"') & (b != b'\\'));
    if plain {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..0x20 => &[],
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if esc.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 15)]);
        } else {
            out.extend_from_slice(esc);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

fn vantage(v: Vantage) -> &'static str {
    match v {
        Vantage::NearClient => "near_client",
        Vantage::NearServer => "near_server",
        Vantage::Unknown => "unknown",
    }
}

fn phases(o: &mut Obj<'_>, p: &PhaseTimes) {
    for (phase, d) in p.iter() {
        o.key_dyn(phase.name());
        uint(o.out, micros(d));
    }
}

fn server_error(o: &mut Obj<'_>, e: &ServerError) {
    let ServerError {
        code,
        name,
        sql_state,
        message,
        replaced_greeting,
    } = e;
    o.uint(k!("code"), *code);
    o.opt_word(k!("name"), *name);
    o.opt_str(k!("sql_state"), sql_state.as_deref());
    o.str(k!("message"), message);
    o.bool(k!("replaced_greeting"), *replaced_greeting);
}

fn app_error(o: &mut Obj<'_>, e: &AppError) {
    let AppError {
        code,
        name,
        message,
    } = e;
    o.uint(k!("code"), *code);
    o.opt_word(k!("name"), *name);
    o.str(k!("message"), message);
}

fn tcp_info(o: &mut Obj<'_>, t: &TcpInfo) {
    let TcpInfo {
        rtt_us,
        rttvar_us,
        retransmits,
        total_retrans,
        lost,
        unacked,
    } = *t;
    o.uint(k!("rtt_us"), rtt_us);
    o.uint(k!("rttvar_us"), rttvar_us);
    o.uint(k!("retransmits"), retransmits);
    o.uint(k!("total_retrans"), total_retrans);
    o.uint(k!("lost"), lost);
    o.uint(k!("unacked"), unacked);
}

fn tcp_evidence(o: &mut Obj<'_>, t: &TcpEvidence) {
    let TcpEvidence {
        vantage: v,
        handshake_rtt_us,
        syn_retransmits,
        syn_ack_retransmits,
        retransmits_c2s,
        retransmits_s2c,
        spurious_retransmits,
        max_unacked_c2s_us,
        max_unacked_s2c_us,
        zero_windows,
        window_full,
        closed_by,
        close,
        capture_loss,
        encrypted,
    } = *t;
    o.word(k!("vantage"), vantage(v));
    o.opt_uint(k!("handshake_rtt_us"), handshake_rtt_us);
    o.uint(k!("syn_retransmits"), syn_retransmits);
    o.uint(k!("syn_ack_retransmits"), syn_ack_retransmits);
    o.uint(k!("retransmits_c2s"), retransmits_c2s);
    o.uint(k!("retransmits_s2c"), retransmits_s2c);
    o.uint(k!("spurious_retransmits"), spurious_retransmits);
    o.uint(k!("max_unacked_c2s_us"), max_unacked_c2s_us);
    o.uint(k!("max_unacked_s2c_us"), max_unacked_s2c_us);
    o.uint(k!("zero_windows"), zero_windows);
    o.uint(k!("window_full"), window_full);
    o.opt_word(k!("closed_by"), closed_by);
    o.opt_word(k!("close"), close);
    o.uint(k!("capture_loss"), capture_loss);
    o.bool(k!("encrypted"), encrypted);
}

fn frames(o: &mut Obj<'_>, f: &Frames) {
    let Frames {
        syn,
        syn_ack,
        greeting,
        ssl_request,
        login,
        first_answer,
        outcome,
        fin_client,
        fin_server,
        rst_client,
        rst_server,
    } = *f;
    o.opt_uint(k!("syn"), syn);
    o.opt_uint(k!("syn_ack"), syn_ack);
    o.opt_uint(k!("greeting"), greeting);
    o.opt_uint(k!("ssl_request"), ssl_request);
    o.opt_uint(k!("login"), login);
    o.opt_uint(k!("first_answer"), first_answer);
    o.opt_uint(k!("outcome"), outcome);
    o.opt_uint(k!("fin_client"), fin_client);
    o.opt_uint(k!("fin_server"), fin_server);
    o.opt_uint(k!("rst_client"), rst_client);
    o.opt_uint(k!("rst_server"), rst_server);
}

impl ConnectionRecord {
    /// Appends the record as JSON to `out`, byte for byte what
    /// `serde_json::to_writer` writes for it, without the newline.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        let Self {
            kind,
            id,
            stream,
            start_us,
            time,
            duration_us,
            client,
            server,
            verdict,
            party: who,
            outcome,
            phase,
            phases_us,
            clocks,
            error,
            app_error: app,
            server_version,
            connection_id,
            auth,
            tls,
            tcp_info: info,
            tcp,
            frames: fr,
            capture,
            server_log,
            near_connect_timeout,
            views,
            path,
            evidence,
        } = self;
        out.reserve(1024);
        let mut o = Obj::open(out);
        o.word(k!("type"), kind);
        o.uint(k!("id"), *id);
        o.opt_uint(k!("stream"), *stream);
        o.uint(k!("start_us"), *start_us);
        if let Some(t) = time {
            o.key(k!("time"));
            o.out.push(b'"');
            t.write_rfc3339(o.out);
            o.out.push(b'"');
        }
        o.opt_uint(k!("duration_us"), *duration_us);
        o.opt_str(k!("client"), client.as_deref());
        o.str(k!("server"), server);
        o.word(k!("verdict"), verdict.name());
        o.word(k!("party"), who.name());
        o.word(k!("outcome"), outcome);
        o.word(k!("phase"), phase.name());
        o.object(k!("phases_us"), |o| phases(o, phases_us));
        if !clocks.is_empty() {
            o.object(k!("clocks"), |o| {
                for (p, c) in clocks.iter() {
                    o.key_dyn(p.name());
                    o.out.push(b'"');
                    o.out.extend_from_slice(c.name().as_bytes());
                    o.out.push(b'"');
                }
            });
        }
        if let Some(e) = error {
            o.object(k!("error"), |o| server_error(o, e));
        }
        if let Some(e) = app {
            o.object(k!("app_error"), |o| app_error(o, e));
        }
        o.opt_str(k!("server_version"), server_version.as_deref());
        o.opt_uint(k!("connection_id"), *connection_id);
        if let Some(AuthInfo { plugin, rounds }) = auth {
            o.object(k!("auth"), |o| {
                o.str(k!("plugin"), plugin);
                o.uint(k!("rounds"), *rounds);
            });
        }
        if let Some(TlsInfo { version, cipher }) = tls {
            o.object(k!("tls"), |o| {
                o.str(k!("version"), version);
                o.str(k!("cipher"), cipher);
            });
        }
        if let Some(t) = info {
            o.object(k!("tcp_info"), |o| tcp_info(o, t));
        }
        if let Some(t) = tcp {
            o.object(k!("tcp"), |o| tcp_evidence(o, t));
        }
        if let Some(f) = fr {
            o.object(k!("frames"), |o| frames(o, f));
        }
        if let Some(CaptureCut { snaplen, bytes_cut }) = capture {
            o.object(k!("capture"), |o| {
                o.opt_uint(k!("snaplen"), *snaplen);
                o.uint(k!("bytes_cut"), *bytes_cut);
            });
        }
        if !server_log.is_empty() {
            o.key(k!("server_log"));
            o.out.push(b'[');
            for (i, l) in server_log.iter().enumerate() {
                if i > 0 {
                    o.out.push(b',');
                }
                let mut e = Obj::open(o.out);
                e.key(k!("time"));
                e.out.push(b'"');
                l.time.write_rfc3339(e.out);
                e.out.push(b'"');
                e.uint(k!("thread"), l.thread);
                e.str(k!("level"), &l.level);
                e.str(k!("message"), &l.message);
                e.close();
            }
            o.out.push(b']');
        }
        o.bool(k!("near_connect_timeout"), *near_connect_timeout);
        if let Some(v) = views {
            o.object(k!("views"), |o| write_views(o, v));
        }
        if let Some(p) = path {
            o.object(k!("path"), |o| write_path(o, p));
        }
        o.key(k!("evidence"));
        strings(o.out, evidence);
        o.close();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use proptest::prelude::*;

    use super::*;
    use crate::classify::{End, Facts, classify};
    use crate::phase::Phase;
    use crate::verdict::Verdict;
    use crate::{Params, Party};

    fn text() -> impl Strategy<Value = String> {
        // Control characters, quotes, backslashes and non-ASCII: every
        // branch of the escaping.
        proptest::string::string_regex("[\\x00-\\x1f\"\\\\a-z é€😀\\x7f]{0,12}").unwrap()
    }

    fn record() -> impl Strategy<Value = ConnectionRecord> {
        let base = (
            any::<u64>(),
            proptest::option::of(any::<u32>()),
            proptest::option::of(text()),
            text(),
            0..Verdict::ALL.len(),
            0..4usize,
            0..Phase::ALL.len(),
            proptest::collection::vec(proptest::option::of(any::<u32>()), Phase::ALL.len()),
            any::<bool>(),
            proptest::collection::vec(text(), 0..3),
        );
        let optional = (
            proptest::option::of((
                any::<u16>(),
                any::<bool>(),
                proptest::option::of(text()),
                text(),
                any::<bool>(),
            )),
            proptest::option::of((any::<u16>(), any::<bool>(), text())),
            proptest::option::of(text()),
            proptest::option::of(any::<u32>()),
            proptest::option::of((text(), any::<u32>())),
            proptest::option::of((text(), text())),
            proptest::option::of(any::<[u32; 6]>()),
            proptest::option::of((
                0..3usize,
                proptest::option::of(any::<u64>()),
                any::<[u32; 8]>(),
                any::<[bool; 5]>(),
            )),
            proptest::option::of(proptest::collection::vec(
                proptest::option::of(any::<u64>()),
                11,
            )),
            proptest::option::of((proptest::option::of(any::<u32>()), any::<u64>())),
            proptest::option::of((
                proptest::option::of(any::<i64>()),
                any::<[u32; 6]>(),
                any::<[bool; 3]>(),
                text(),
            )),
        );
        (base, optional).prop_map(|(b, o)| {
            let (id, stream, client, server, v, p, ph, times, near, evidence) = b;
            let mut facts = Facts::new(End::Completed, Phase::Login, server);
            let mut clocks = crate::phase::PhaseClocks::default();
            for (phase, t) in Phase::ALL.iter().zip(times) {
                if let Some(t) = t {
                    facts
                        .phases
                        .set(*phase, Duration::from_nanos(u64::from(t) * 997));
                    if let Some(c) = [
                        None,
                        Some(crate::phase::Clock::KernelRx),
                        Some(crate::phase::Clock::KernelRtt),
                        Some(crate::phase::Clock::Send),
                        Some(crate::phase::Clock::Wakeup),
                    ][t as usize % 5]
                    {
                        clocks.set(*phase, c);
                    }
                }
            }
            let mut r =
                ConnectionRecord::new(id, id / 3, &facts, classify(&facts, &Params::default()));
            r.clocks = clocks;
            r.stream = stream;
            r.time =
                stream.map(|s| crate::wall::WallTime(Duration::from_micros(u64::from(s) << 20)));
            r.client = client;
            r.verdict = Verdict::ALL[v];
            r.party = [Party::Server, Party::Network, Party::Client, Party::None][p];
            r.phase = Phase::ALL[ph];
            r.near_connect_timeout = near;
            r.evidence = evidence;
            let (error, app, version, conn_id, auth, tls, info, tcp, frames, cut, two) = o;
            if let Some((offset_us, n, b, t)) = two {
                let view = View {
                    stream: Some(n[0]),
                    client: b[0].then(|| t.clone()),
                    server: t.clone(),
                    verdict: Verdict::ALL[n[1] as usize % Verdict::ALL.len()],
                    outcome: "completed",
                    phase: Phase::ALL[n[2] as usize % Phase::ALL.len()],
                    evidence: vec![t.clone()],
                };
                r.views = Some(Box::new(Views {
                    client: b[1].then(|| view.clone()),
                    server: Some(view),
                }));
                let way = |i: usize| OneWay {
                    median: u64::from(n[i]),
                    max: u64::from(n[i]) << 3,
                    packets: n[i + 1],
                };
                r.path = Some(Box::new(PathReport {
                    seen_by: ["both", "client"][usize::from(b[2])],
                    offset_us,
                    one_way_us: PerDirection {
                        c2s: b[2].then(|| way(3)),
                        s2c: Some(way(4)),
                    },
                    lost_between: PerDirection {
                        c2s: n[5],
                        s2c: n[0],
                    },
                    packets: vec![
                        PathPacket {
                            from: "client",
                            what: t,
                            sent_us: Some(u64::from(n[1])),
                            arrived_us: b[0].then_some(u64::from(n[2])),
                        },
                        PathPacket {
                            from: "server",
                            what: "the greeting".into(),
                            sent_us: None,
                            arrived_us: Some(u64::from(n[3])),
                        },
                    ],
                }));
            }
            r.capture = cut.map(|(snaplen, bytes_cut)| CaptureCut { snaplen, bytes_cut });
            if let Some(t) = r.time {
                r.server_log = vec![crate::server_log::ServerLogLine {
                    time: t,
                    thread: r.id,
                    level: "Warning".into(),
                    message: r.evidence.first().cloned().unwrap_or_default(),
                }];
            }
            r.error =
                error.map(
                    |(code, named, sql_state, message, replaced_greeting)| ServerError {
                        code,
                        name: named.then_some("ER_SOMETHING"),
                        sql_state,
                        message,
                        replaced_greeting,
                    },
                );
            r.app_error = app.map(|(code, named, message)| AppError {
                code,
                name: named.then_some("CR_SERVER_LOST"),
                message,
            });
            r.server_version = version;
            r.connection_id = conn_id;
            r.auth = auth.map(|(plugin, rounds)| AuthInfo { plugin, rounds });
            r.tls = tls.map(|(version, cipher)| TlsInfo { version, cipher });
            r.tcp_info = info.map(|t| TcpInfo {
                rtt_us: t[0],
                rttvar_us: t[1],
                retransmits: t[2] as u8,
                total_retrans: t[3],
                lost: t[4],
                unacked: t[5],
            });
            r.tcp = tcp.map(|(v, rtt, n, b)| TcpEvidence {
                vantage: [Vantage::NearClient, Vantage::NearServer, Vantage::Unknown][v],
                handshake_rtt_us: rtt,
                syn_retransmits: n[0],
                syn_ack_retransmits: n[1],
                retransmits_c2s: n[2],
                retransmits_s2c: n[3],
                spurious_retransmits: n[3] ^ n[6],
                max_unacked_c2s_us: u64::from(n[4]) << 20,
                max_unacked_s2c_us: u64::from(n[5]),
                zero_windows: n[6],
                window_full: n[0] ^ n[7],
                closed_by: b[0].then_some(if b[1] { "client" } else { "server" }),
                close: b[2].then_some(if b[3] { "rst" } else { "fin" }),
                capture_loss: n[7],
                encrypted: b[4],
            });
            r.frames = frames.map(|f| {
                let mut out = Frames::default();
                let slots = [
                    &mut out.syn,
                    &mut out.syn_ack,
                    &mut out.greeting,
                    &mut out.ssl_request,
                    &mut out.login,
                    &mut out.first_answer,
                    &mut out.outcome,
                    &mut out.fin_client,
                    &mut out.fin_server,
                    &mut out.rst_client,
                    &mut out.rst_server,
                ];
                for (slot, v) in slots.into_iter().zip(f) {
                    *slot = v;
                }
                out
            });
            r
        })
    }

    proptest! {
        #[test]
        fn writes_what_serde_json_writes(r in record()) {
            let mut fast = Vec::new();
            r.write_json(&mut fast);
            let serde = serde_json::to_vec(&r).unwrap();
            prop_assert_eq!(String::from_utf8_lossy(&fast), String::from_utf8_lossy(&serde));
        }
    }

    #[test]
    fn integers_at_their_limits() {
        for v in [
            0,
            9,
            10,
            99,
            100,
            101,
            999,
            1000,
            10_001,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let mut out = Vec::new();
            uint(&mut out, v);
            assert_eq!(out, v.to_string().as_bytes());
        }
    }
}
