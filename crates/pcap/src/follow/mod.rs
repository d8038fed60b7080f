//! Following TCP connections in order and feeding the observer.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use hsp_wire::observer::{Direction, Observer, ObserverConfig, ObserverEvent};

use crate::link::{Segment, seq_after as after};
use crate::track::Track;

mod detect;
mod reassembly;

use detect::Servers;
pub use detect::{looks_like_cut_greeting, looks_like_greeting};
use reassembly::Holding;

/// Closed connections are kept this long (capture time) after their last
/// packet so that trailing ACKs and retransmitted FINs keep their stream
/// number; then forgotten. Short, because every packet looks up the flow
/// table and a table full of tombstones misses the cache (at 16k
/// connections/s, a minute of them is a million entries).
const TOMBSTONE_TTL: Duration = Duration::from_secs(10);
/// A connection closed by a reset or a half-close is reported this long
/// (capture time) after its close, so that what still trickles in (a login
/// after the server's RST, retransmissions) is decoded and noted first. A
/// close both sides completed is reported at once.
const LINGER: Duration = Duration::from_secs(2);
/// Out-of-order bytes held per connection, waiting for the hole before
/// them to be filled (a retransmission or a reordered segment); past it,
/// the hole is declared a gap.
const HELD_MAX_BYTES: usize = 256 * 1024;
/// Out-of-order segments held per direction: releasing scans them, so
/// their number is bounded too (a flood of one-byte segments must not
/// make reassembly quadratic).
const HELD_MAX_SEGMENTS: usize = 64;
/// Connections opened within this of each other compete for the server's
/// listen queue.
const BURST: Duration = Duration::from_secs(1);
/// SYN times kept per server (a flood must not grow the list without bound).
const BURST_MAX: usize = 65_536;
/// Slots for forgotten flows, so that their late closes are known as such
/// (a power of two).
const FORGOTTEN_MAX: usize = 65_536;
/// How often (in segments) idle connections are swept.
const SWEEP_EVERY: u64 = 65_536;

/// A connection whose record is ready: it closed, went idle past the
/// bound, or the capture ended.
#[derive(Debug)]
pub struct Finished {
    /// Stream index.
    pub conn: ConnId,
    /// Who is who.
    pub endpoints: Endpoint,
    /// Its evidence.
    pub track: Box<Track>,
    /// Evicted for idleness rather than closed or ended with the capture.
    pub evicted: bool,
}

/// Stream index in order of first appearance (tshark's tcp.stream).
pub type ConnId = u32;

/// Client and server of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    /// The client's address.
    pub client: SocketAddr,
    /// The server's address.
    pub server: SocketAddr,
}

/// An observer event with the connection it belongs to.
#[derive(Debug, Clone)]
pub struct FollowerEvent {
    /// Stream index.
    pub conn: ConnId,
    /// Who is who.
    pub endpoints: Endpoint,
    /// The event.
    pub event: ObserverEvent,
}

struct Conn {
    id: ConnId,
    endpoints: Option<Endpoint>,
    next: [Option<u32>; 2],
    observer: Option<Box<Observer>>,
    track: Option<Box<Track>>,
    reported: bool,
    closed_at: Option<Duration>,
    last_seen: Duration,
    /// The client's initial sequence number, from its SYN.
    isn: Option<u32>,
    /// Segments ahead of the in-order edge, per direction, until the hole
    /// before them fills, is acknowledged past (the capture missed it), or
    /// the connection closes.
    /// Boxed, as it is rarely needed: every packet's lookup walks the
    /// table of connections, and small entries stay in cache.
    held: Option<Box<Holding>>,
    /// The highest ACK the other side sent for each direction's bytes.
    acked: [Option<u32>; 2],
    /// The last record's frame number, for events released at the end.
    last_frame: u64,
    /// Not to a server known to speak MySQL: tracked until its server is
    /// known or its bytes show MySQL (see `detect`), never reported while
    /// undecided.
    pending: bool,
    /// Decoded because a client packet looked like MySQL's, reported once
    /// the server answers it in sequence (the sequence id it had).
    tentative: Option<u8>,
    /// That packet was a COM_QUIT alone: the server's close answers it.
    quit_only: bool,
    /// Payload segments seen while undecided.
    sniffed: u8,
    /// Among the connections waiting for their server to be known.
    waiting: bool,
}

impl Conn {
    fn new(id: ConnId, at: Duration) -> Self {
        Self {
            id,
            endpoints: None,
            next: [None, None],
            observer: None,
            track: None,
            reported: false,
            closed_at: None,
            last_seen: at,
            isn: None,
            pending: false,
            tentative: None,
            quit_only: false,
            sniffed: 0,
            waiting: false,
            held: None,
            acked: [None, None],
            last_frame: 0,
        }
    }
}

/// The flow table's hasher: a multiply-rotate hash (FxHash's round) over
/// the [`FlowKey`], seeded per process. SipHash cost an eighth of the
/// decoding time on a capture of short connections; a seed keeps a crafted
/// capture from choosing collisions in advance.
#[derive(Clone)]
struct FlowHasher(u64);

impl std::hash::Hasher for FlowHasher {
    fn finish(&self) -> u64 {
        // The multiply only carries low bits upward, and the table indexes
        // by the low bits: a final mix (MurmurHash3's fmix64) lets every
        // input bit reach them (without it, keys differing only in a high
        // port collided wholesale).
        let mut x = self.0;
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^= x >> 33;
        x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        x ^ (x >> 33)
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.write_u64(u64::from_le_bytes(c.try_into().unwrap_or_default()));
        }
        let mut tail = [0u8; 8];
        let rest = chunks.remainder();
        tail[..rest.len()].copy_from_slice(rest);
        self.write_u64(u64::from_le_bytes(tail) ^ (rest.len() as u64) << 59);
    }
    fn write_u8(&mut self, i: u8) {
        self.write_u64(u64::from(i));
    }
    fn write_u16(&mut self, i: u16) {
        self.write_u64(u64::from(i));
    }
    fn write_u32(&mut self, i: u32) {
        self.write_u64(u64::from(i));
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }
    fn write_u128(&mut self, i: u128) {
        self.write_u64(i as u64);
        self.write_u64((i >> 64) as u64);
    }
}

#[derive(Clone)]
struct FlowHash(u64);

impl std::hash::BuildHasher for FlowHash {
    type Hasher = FlowHasher;
    fn build_hasher(&self) -> FlowHasher {
        FlowHasher(self.0)
    }
}

impl FlowHash {
    fn new() -> Self {
        use std::hash::BuildHasher;
        Self(std::collections::hash_map::RandomState::new().hash_one(0x6873_7000_u64))
    }
}

/// Index 0 is the client's direction, 1 the server's.
fn direction(d: usize) -> Direction {
    if d == 0 {
        Direction::ClientToServer
    } else {
        Direction::ServerToClient
    }
}

impl Conn {
    /// Closed by a FIN each way, each acknowledged, with no reset and
    /// nothing held out of order.
    fn close_completed(&self) -> bool {
        self.held.is_none()
            && self.track.as_ref().is_some_and(|t| t.closed_by_fins())
            && (0..2).all(
                |d| matches!((self.next[d], self.acked[d]), (Some(n), Some(a)) if !after(n, a)),
            )
    }

    /// Reported now: its record (if it has one), and what remains is a
    /// tombstone.
    fn report(&mut self) -> Option<Finished> {
        self.reported = true;
        // Held segments are decoded first, by the observer.
        let finished = self.take_finished(false);
        self.observer = None;
        finished
    }

    /// Its record, if it has one to give (once).
    fn take_finished(&mut self, evicted: bool) -> Option<Finished> {
        if self.undecided() {
            return None;
        }
        if self.held_bytes() > 0 {
            let mut events = Vec::new();
            self.release_all(self.last_seen, &mut events);
        }
        let endpoints = self.endpoints?;
        let track = self.track.take()?;
        track.worth_reporting().then_some(Finished {
            conn: self.id,
            endpoints,
            track,
            evicted,
        })
    }
}

/// Follows every TCP connection of a capture; decodes those with a server
/// port in the configured set, and those whose server speaks first with a
/// MySQL greeting, on any port.
pub struct Follower {
    conns: HashMap<FlowKey, Conn, FlowHash>,
    /// Per server, when its connections' first SYNs came in the last
    /// [`BURST`]: many at once may overflow its listen queue.
    syn_times: HashMap<SocketAddr, std::collections::VecDeque<Duration>>,
    /// Whether callers want the observer's events (packet listings), or
    /// only the finished connections.
    emit_events: bool,
    /// Keep each connection's segments (for a second vantage point).
    wire_log: bool,
    scratch: Vec<ObserverEvent>,
    next_id: ConnId,
    servers: Servers,
    cfg: ObserverConfig,
    finished: Vec<Finished>,
    closing: std::collections::VecDeque<(Duration, FlowKey)>,
    /// Reported connections in the order they were reported, to forget
    /// them after [`TOMBSTONE_TTL`] without sweeping the whole table.
    tombstones: std::collections::VecDeque<(Duration, FlowKey)>,
    idle_bound: Duration,
    /// Capture time of the last sweep.
    last_sweep: Duration,
    segments: u64,
    evicted: u64,
    /// The captured length of frames a snaplen cut, once one was seen.
    snaplen: Option<u32>,
    /// Flows forgotten after their tombstone's time (a late FIN or RST of
    /// one is not a new stream).
    forgotten: Forgotten,
}

/// Flows forgotten lately, by their hash in a direct-mapped table of
/// [`FORGOTTEN_MAX`] slots: remembering one costs a store, and a flow
/// overwritten by a later one is simply forgotten for good.
struct Forgotten {
    slots: Box<[u64]>,
    hash: FlowHash,
}

impl Forgotten {
    fn new() -> Self {
        Self {
            slots: vec![0; FORGOTTEN_MAX].into_boxed_slice(),
            hash: FlowHash::new(),
        }
    }

    fn slot(&self, k: &FlowKey) -> (usize, u64) {
        use std::hash::BuildHasher;
        // Never 0, the empty slot's value.
        let h = self.hash.hash_one(k) | 1;
        ((h >> 7) as usize & (FORGOTTEN_MAX - 1), h)
    }

    fn insert(&mut self, k: &FlowKey) {
        let (i, h) = self.slot(k);
        self.slots[i] = h;
    }

    fn contains(&self, k: &FlowKey) -> bool {
        let (i, h) = self.slot(k);
        self.slots[i] == h
    }
}

impl std::fmt::Debug for Follower {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Follower")
            .field("connections", &self.conns.len())
            .field("server_ports", &self.servers.ports)
            .finish()
    }
}

/// A connection's two endpoints, in a canonical order and in plain
/// integers (IPv4 as IPv4-mapped IPv6), so hashing and comparing them is a
/// few word operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct FlowKey {
    lo: u128,
    hi: u128,
    ports: u32,
}

fn endpoint_bits(a: SocketAddr) -> (u128, u16) {
    let ip = match a.ip() {
        std::net::IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        std::net::IpAddr::V6(v6) => u128::from(v6),
    };
    (ip, a.port())
}

fn key(a: SocketAddr, b: SocketAddr) -> FlowKey {
    let (a, b) = (endpoint_bits(a), endpoint_bits(b));
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    FlowKey {
        lo: lo.0,
        hi: hi.0,
        ports: u32::from(lo.1) << 16 | u32::from(hi.1),
    }
}

impl Follower {
    /// A follower decoding MySQL on `server_ports`.
    pub fn new(server_ports: Vec<u16>, cfg: ObserverConfig) -> Self {
        Self {
            conns: HashMap::with_hasher(FlowHash::new()),
            syn_times: HashMap::new(),
            emit_events: true,
            wire_log: false,
            scratch: Vec::new(),
            next_id: 0,
            servers: Servers::new(server_ports),
            cfg,
            finished: Vec::new(),
            closing: std::collections::VecDeque::new(),
            tombstones: std::collections::VecDeque::new(),
            idle_bound: Duration::from_secs(3600),
            last_sweep: Duration::ZERO,
            segments: 0,
            evicted: 0,
            snaplen: None,
            forgotten: Forgotten::new(),
        }
    }

    /// Open connections idle longer than `bound` (capture time) are
    /// finished as they stand and counted in [`evicted`](Self::evicted).
    pub fn with_idle_bound(mut self, bound: Duration) -> Self {
        self.idle_bound = bound;
        self
    }

    /// Each connection keeps its segments as the tap saw them
    /// ([`Track::take_wire`]), to compare with another capture of the same
    /// traffic.
    pub fn with_wire_log(mut self) -> Self {
        self.wire_log = true;
        self
    }

    /// Only finished connections are wanted: [`on_segment`](Self::on_segment)
    /// leaves its event list empty (saves copying every decoded packet).
    pub fn without_events(mut self) -> Self {
        self.emit_events = false;
        self.cfg.packets = false;
        self
    }

    /// The capture cut a frame to `caplen` bytes (its snaplen): records of
    /// connections whose segments were cut say so.
    pub fn saw_snaplen(&mut self, caplen: u32) {
        self.snaplen = Some(self.snaplen.map_or(caplen, |s| s.max(caplen)));
    }

    /// Connections finished early because they stayed idle past the bound.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Whether [`drain_finished`](Self::drain_finished) has any.
    pub fn has_finished(&self) -> bool {
        !self.finished.is_empty()
    }

    /// Connections whose records are ready, in the order they finished.
    pub fn drain_finished(&mut self) -> std::vec::Drain<'_, Finished> {
        self.finished.drain(..)
    }

    /// Connections left out because their server was never shown to speak
    /// MySQL (on a port not given with `--port`).
    pub fn left_out(&self) -> u64 {
        self.servers.left_out
    }

    /// The capture ended: every connection not yet finished is.
    pub fn finish(&mut self) {
        self.servers.left_out += self.conns.values().filter(|c| c.left_out()).count() as u64;
        let mut rest: Vec<_> = self
            .conns
            .values_mut()
            .filter(|c| !c.reported)
            .filter_map(|c| c.take_finished(false))
            .collect();
        rest.sort_unstable_by_key(|f| f.conn);
        self.finished.extend(rest);
        self.conns.clear();
        self.closing.clear();
        self.tombstones.clear();
    }

    /// Reports connections closed more than [`LINGER`] ago, and forgets
    /// tombstones past their time. Called per packet: the check that
    /// nothing is due stays inline.
    #[inline]
    fn report_closed(&mut self, now: Duration) {
        let due = |q: &std::collections::VecDeque<(Duration, FlowKey)>, after: Duration| {
            q.front()
                .is_some_and(|&(t, _)| now.saturating_sub(t) >= after)
        };
        if due(&self.closing, LINGER) || due(&self.tombstones, TOMBSTONE_TTL) {
            self.report_closed_now(now);
        }
    }

    #[inline(never)]
    fn report_closed_now(&mut self, now: Duration) {
        while let Some(&(closed, k)) = self.closing.front() {
            if now.saturating_sub(closed) < LINGER {
                // Not yet: but tombstones may be due (a busy capture
                // always has a close lingering).
                break;
            }
            self.closing.pop_front();
            let Some(conn) = self.conns.get_mut(&k) else {
                continue;
            };
            if conn.reported || conn.closed_at != Some(closed) {
                continue;
            }
            self.finished.extend(conn.report());
            self.tombstones.push_back((now, k));
        }
        while let Some(&(since, k)) = self.tombstones.front() {
            if now.saturating_sub(since) < TOMBSTONE_TTL {
                return;
            }
            self.tombstones.pop_front();
            let Some(conn) = self.conns.get(&k) else {
                continue;
            };
            if !conn.reported {
                continue; // the four-tuple was reused: a live connection now
            }
            if now.saturating_sub(conn.last_seen) >= TOMBSTONE_TTL {
                self.conns.remove(&k);
                self.forgotten.insert(&k);
            } else {
                self.tombstones.push_back((conn.last_seen, k));
            }
        }
    }

    fn sweep(&mut self, now: Duration) {
        self.last_sweep = now;
        let bound = self.idle_bound;
        let mut evicted = Vec::new();
        let mut left_out = 0;
        self.conns.retain(|_, c| {
            let idle = now.saturating_sub(c.last_seen);
            if c.reported {
                return idle < TOMBSTONE_TTL;
            }
            if idle < bound {
                return true;
            }
            left_out += u64::from(c.left_out());
            evicted.extend(c.take_finished(true));
            false
        });
        self.servers.left_out += left_out;
        evicted.sort_unstable_by_key(|f| f.conn);
        self.evicted += evicted.len() as u64;
        self.finished.extend(evicted);
        // Servers without a SYN in the last burst are forgotten too.
        self.syn_times.retain(|_, t| {
            t.back()
                .is_some_and(|&last| now.saturating_sub(last) <= BURST)
        });
    }

    /// Capture time has reached `now` with no packet (a quiet live
    /// capture): connections that closed more than the linger ago are
    /// reported, and idle ones swept.
    pub fn advance(&mut self, now: Duration) {
        self.report_closed(now);
        // A sweep scans the table: not on every tick, but often enough
        // that an idle connection is evicted soon after its bound.
        let every = self.idle_bound.min(Duration::from_secs(10));
        if now.saturating_sub(self.last_sweep) >= every {
            self.sweep(now);
        }
    }

    /// Number of TCP connections seen.
    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    /// The connection `seg` belongs to (its entry in the flow table, new
    /// or old). A SYN on a four-tuple in use starts a new connection after
    /// a close (ports come back within the linger at high rates), or with
    /// a new initial sequence number (a retransmitted SYN keeps its own);
    /// the old one is reported as it stands.
    fn lookup<'c>(
        conns: &'c mut HashMap<FlowKey, Conn, FlowHash>,
        forgotten: &Forgotten,
        next_id: &mut ConnId,
        finished: &mut Vec<Finished>,
        k: FlowKey,
        seg: &Segment<'_>,
        at: Duration,
    ) -> Option<&'c mut Conn> {
        let conn = match conns.entry(k) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            // A FIN or RST with nothing else, of a flow not in the table: the
            // close of a connection forgotten after its tombstone's time.
            // tshark never forgets it, so giving it a stream number of its
            // own would shift every later one.
            std::collections::hash_map::Entry::Vacant(_)
                if !seg.flags.syn
                    && seg.len == 0
                    && (seg.flags.fin || seg.flags.rst)
                    && forgotten.contains(&k) =>
            {
                return None;
            }
            std::collections::hash_map::Entry::Vacant(v) => {
                let id = *next_id;
                *next_id += 1;
                v.insert(Conn::new(id, at))
            }
        };
        if seg.flags.syn && !seg.flags.ack {
            let reused = conn.reported
                || conn.closed_at.is_some()
                || conn.isn.is_some_and(|isn| isn != seg.seq);
            if reused {
                if !conn.reported {
                    finished.extend(conn.take_finished(false));
                }
                *conn = Conn::new(*next_id, at);
                *next_id += 1;
            }
            conn.isn.get_or_insert(seg.seq);
        }
        Some(conn)
    }

    /// `server` was just shown to speak MySQL (by connection `by`): the
    /// connections that waited for it are MySQL too; those that already
    /// ended are reported now.
    #[cold]
    fn learned(&mut self, server: SocketAddr, by: FlowKey, at: Duration) {
        for k in self.servers.learn(server) {
            if k == by {
                continue;
            }
            let Some(conn) = self.conns.get_mut(&k) else {
                continue;
            };
            if !conn.pending || conn.endpoints.is_none_or(|ep| ep.server != server) {
                continue;
            }
            conn.pending = false;
            if conn.track.as_ref().is_some_and(|t| t.closed()) {
                self.finished.extend(conn.report());
                self.tombstones.push_back((at, k));
            } else {
                conn.observer = Some(Box::new(Observer::new(self.cfg)));
            }
        }
    }

    /// How many connections to `server` sent their first SYN in the last
    /// [`BURST`], this one included.
    fn opening(
        syn_times: &mut HashMap<SocketAddr, std::collections::VecDeque<Duration>>,
        server: SocketAddr,
        at: Duration,
    ) -> u32 {
        let times = syn_times.entry(server).or_default();
        while times
            .front()
            .is_some_and(|&t| at.saturating_sub(t) > BURST || times.len() >= BURST_MAX)
        {
            times.pop_front();
        }
        times.push_back(at);
        u32::try_from(times.len()).unwrap_or(u32::MAX)
    }

    /// A connection reported at its completed close takes its closing
    /// entry with it, if it is among the last few: looking it up later,
    /// after the linger, would miss the cache.
    fn forget_closing(closing: &mut std::collections::VecDeque<(Duration, FlowKey)>, k: FlowKey) {
        let n = closing.len();
        if let Some(i) = closing.iter().rev().take(32).position(|&(_, c)| c == k) {
            closing.remove(n - 1 - i);
        }
    }

    /// Handles one segment of capture record `frame`, captured at `at`,
    /// appending observer events; finished connections are collected for
    /// [`drain_finished`](Self::drain_finished).
    pub fn on_segment(
        &mut self,
        seg: &Segment<'_>,
        at: Duration,
        frame: u64,
        out: &mut Vec<FollowerEvent>,
    ) {
        self.segments += 1;
        if self.segments.is_multiple_of(SWEEP_EVERY) {
            self.sweep(at);
        }
        self.report_closed(at);
        let k = key(seg.src, seg.dst);
        let Some(mut conn) = Self::lookup(
            &mut self.conns,
            &self.forgotten,
            &mut self.next_id,
            &mut self.finished,
            k,
            seg,
            at,
        ) else {
            return;
        };
        conn.last_seen = at;
        if let Some(server) = conn.identify(seg, k, &mut self.servers, self.cfg) {
            // Rare: the connection is looked up again after.
            self.learned(server, k, at);
            let Some(c) = self.conns.get_mut(&k) else {
                return;
            };
            conn = c;
        }
        let Some(ep) = conn.endpoints else { return };
        let d = usize::from(seg.src != ep.client);
        let dir = direction(d);
        if let Some(t) = conn.track.as_mut() {
            if seg.flags.syn && !seg.flags.ack && !t.syn_seen() {
                t.set_opening(Self::opening(&mut self.syn_times, ep.server, at));
            }
            t.on_segment(dir, seg, at, frame);
            if self.wire_log {
                t.log_wire(d, seg, at, frame);
            }
            if seg.truncated {
                t.snaplen = self.snaplen;
            }
        }
        if conn.observer.is_none() {
            // Not MySQL: once it closes, keep it only as a tombstone (its
            // stream number for trailing packets), forgotten like those of
            // reported connections.
            if (seg.flags.rst || seg.flags.fin) && !conn.reported {
                conn.closed_undecided(&mut self.servers);
            }
            if conn.track.is_none()
                && !conn.undecided()
                && !conn.reported
                && (seg.flags.rst || seg.flags.fin)
            {
                conn.reported = true;
                self.tombstones.push_back((at, k));
            }
            return;
        }
        let mut events = std::mem::take(&mut self.scratch);
        events.clear();
        conn.last_frame = frame;
        conn.reassemble(d, seg, at, &mut events);
        if let Some(t) = conn.track.as_mut() {
            if self.emit_events {
                for e in &events {
                    t.on_event(e, frame);
                }
            } else {
                // Nobody else wants them: the tracker keeps their strings.
                for e in events.drain(..) {
                    t.take_event(e, frame);
                }
            }
            if t.closed() && conn.closed_at.is_none() {
                conn.closed_at = Some(at);
                self.closing.push_back((at, k));
            }
        }
        if conn.closed_at.is_some() && !conn.reported && conn.close_completed() {
            // Nothing more is expected from a close both sides completed:
            // reported now, while its state is in cache, rather than after
            // the linger (a reset or a half-close still lingers for what
            // may trickle in).
            self.finished.extend(conn.report());
            Self::forget_closing(&mut self.closing, k);
            self.tombstones.push_back((at, k));
        }
        if self.emit_events {
            out.extend(events.drain(..).map(|event| FollowerEvent {
                conn: conn.id,
                endpoints: ep,
                event,
            }));
        }
        events.clear();
        self.scratch = events;
    }
}

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use super::*;

    /// Loopback connections differ only in the client's port; their hashes
    /// must still spread over the table's low bits (a missing final mix
    /// once put them all in a few buckets and tripled decoding time).
    #[test]
    fn flow_hashes_spread_over_the_low_bits() {
        let build = FlowHash::new();
        for server in ["127.0.0.1:3306", "127.0.0.1:60999", "[::1]:3306"] {
            let server: SocketAddr = server.parse().unwrap();
            let mut buckets = std::collections::HashSet::new();
            for port in 32_768..33_792u16 {
                let client = SocketAddr::new(server.ip(), port);
                buckets.insert(build.hash_one(key(client, server)) & 1023);
            }
            // 1024 random keys in 1024 buckets fill about 63% of them.
            assert!(buckets.len() > 550, "{server}: {} buckets", buckets.len());
        }
    }

    #[test]
    fn a_flow_has_one_key_whichever_way_its_packets_go() {
        let a: SocketAddr = "10.0.0.1:40000".parse().unwrap();
        let b: SocketAddr = "10.0.0.2:3306".parse().unwrap();
        assert_eq!(key(a, b), key(b, a));
        let c: SocketAddr = "10.0.0.1:40001".parse().unwrap();
        assert_ne!(key(a, b), key(c, b));
    }
}
