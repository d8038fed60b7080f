//! Reading capture records: from a file, or live from an interface. Both
//! are a [`RecordSource`], so the analysis is one loop. libpcap opens every
//! file and reads pcapng, standard input and filtered files; classic pcap
//! files are read by [`Prefetched`] itself (see `Classic`), and live
//! capture is libpcap's.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// A capture file could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PcapError {
    /// libpcap refused to open the file.
    #[error("{path}: cannot open capture: {msg}")]
    Open {
        /// The file.
        path: PathBuf,
        /// libpcap's message.
        msg: String,
    },
    /// A record could not be read (truncated or corrupt file).
    #[error("{path}: frame {frame}: {msg}")]
    Read {
        /// The file.
        path: PathBuf,
        /// 1-based number of the record that failed.
        frame: u64,
        /// libpcap's message.
        msg: String,
    },
}

/// What a [`RecordSource`] has next.
#[derive(Debug)]
pub enum Next<'a> {
    /// A record.
    Record(Record<'a>),
    /// Nothing arrived for a while (live capture); the wall clock now,
    /// since the Unix epoch, so lingering connections can be reported.
    Idle(Duration),
    /// The file ended, or the live capture was stopped.
    End,
}

/// Where capture records come from.
pub trait RecordSource {
    /// The link-layer type (DLT).
    fn linktype(&self) -> i32;
    /// The next record, an idle tick, or the end.
    fn next(&mut self) -> Result<Next<'_>, PcapError>;
    /// Packets the kernel or the interface dropped before they reached
    /// the capture (live capture only).
    fn dropped(&mut self) -> Option<u64> {
        None
    }
    /// Whether records are watched as they come (a live capture): results
    /// are then passed on at once rather than in batches.
    fn is_live(&self) -> bool {
        false
    }
    /// What the file's header holds that the reader worked around (a
    /// snaplen of 0 or over 262144), one sentence each.
    fn notes(&self) -> Vec<String> {
        Vec::new()
    }
}

/// One capture record.
#[derive(Debug)]
pub struct Record<'a> {
    /// 1-based record number (tshark's frame.number).
    pub frame: u64,
    /// Capture timestamp since the Unix epoch.
    pub ts: Duration,
    /// Original length on the wire.
    pub orig_len: u32,
    /// Captured bytes (may be shorter: snaplen).
    pub data: &'a [u8],
}

impl<'a> Record<'a> {
    /// Record `frame` from a libpcap packet, opened with nanosecond
    /// precision (`tv_usec` then holds nanoseconds).
    // time_t and suseconds_t are not i64 on every target.
    #[allow(clippy::useless_conversion)]
    fn from_packet(frame: u64, p: &pcap::Packet<'a>) -> Self {
        Record {
            frame,
            ts: timestamp(
                i64::from(p.header.ts.tv_sec),
                i64::from(p.header.ts.tv_usec),
            ),
            orig_len: p.header.len,
            data: p.data,
        }
    }
}

/// A record's time as libpcap gives it (seconds and nanoseconds, both
/// signed), since the Unix epoch. A damaged header can hold anything:
/// times before the epoch or past `Duration`'s range are clamped rather
/// than allowed to overflow.
fn timestamp(sec: i64, nanos: i64) -> Duration {
    Duration::from_secs(sec.max(0) as u64)
        .checked_add(Duration::from_nanos(nanos.max(0) as u64))
        .unwrap_or(Duration::MAX)
}

/// An open capture file.
pub struct PcapFile {
    path: PathBuf,
    cap: pcap::Capture<pcap::Offline>,
    linktype: i32,
    frame: u64,
    /// Set when the file is a classic pcap that [`Prefetched`] reads
    /// itself (see [`Classic`]).
    classic: Option<Classic>,
    /// See [`RecordSource::notes`].
    notes: Vec<String>,
}

impl std::fmt::Debug for PcapFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcapFile")
            .field("path", &self.path)
            .field("linktype", &self.linktype)
            .finish()
    }
}

impl PcapFile {
    /// Opens a pcap or pcapng file with nanosecond timestamps; `-` reads
    /// standard input (libpcap's convention), so `tcpdump -w - | ...` works.
    pub fn open(path: &Path) -> Result<Self, PcapError> {
        let cap =
            pcap::Capture::from_file_with_precision(path, pcap::Precision::Nano).map_err(|e| {
                PcapError::Open {
                    path: path.to_path_buf(),
                    msg: e.to_string(),
                }
            })?;
        let linktype = cap.get_datalink().0;
        Ok(Self {
            path: path.to_path_buf(),
            cap,
            linktype,
            frame: 0,
            classic: Classic::detect(path, linktype),
            notes: header_notes(path),
        })
    }

    /// Keeps only the records that match the BPF `filter` (as tcpdump's
    /// expression).
    pub fn set_filter(&mut self, filter: &str) -> Result<(), PcapError> {
        // libpcap applies the filter as it reads: it reads them all.
        self.classic = None;
        self.cap.filter(filter, true).map_err(|e| PcapError::Open {
            path: self.path.clone(),
            msg: format!("--filter '{filter}': {e}"),
        })
    }

    /// Whether [`Prefetched`] reads this file's records itself (a classic
    /// pcap of a decodable link type, unfiltered) rather than through
    /// libpcap.
    pub fn read_directly(&self) -> bool {
        self.classic.is_some()
    }

    /// The link-layer type (DLT) of the file.
    pub fn linktype(&self) -> i32 {
        self.linktype
    }

    /// The next record, or `None` at the end of the file.
    pub fn next_record(&mut self) -> Result<Option<Record<'_>>, PcapError> {
        match self.cap.next_packet() {
            Ok(p) => {
                self.frame += 1;
                Ok(Some(Record::from_packet(self.frame, &p)))
            }
            Err(pcap::Error::NoMorePackets) => Ok(None),
            Err(e) => Err(PcapError::Read {
                path: self.path.clone(),
                frame: self.frame + 1,
                msg: e.to_string(),
            }),
        }
    }
}

/// A classic pcap header's snaplen that libpcap reads past: 0, or over
/// the largest record it accepts.
fn header_notes(path: &Path) -> Vec<String> {
    use std::io::Read;
    let mut h = [0u8; 24];
    let read = std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut h))
        .is_ok();
    if !read || path.as_os_str() == "-" {
        return Vec::new();
    }
    let magic = [h[0], h[1], h[2], h[3]];
    let snaplen = match (u32::from_le_bytes(magic), u32::from_be_bytes(magic)) {
        (0xa1b2_c3d4 | 0xa1b2_3c4d, _) => u32::from_le_bytes([h[16], h[17], h[18], h[19]]),
        (_, 0xa1b2_c3d4 | 0xa1b2_3c4d) => u32::from_be_bytes([h[16], h[17], h[18], h[19]]),
        _ => return Vec::new(),
    };
    if snaplen == 0 || snaplen > MAX_SNAPLEN {
        vec![format!(
            "the file header's snaplen is {snaplen}, not a valid one (1 to {MAX_SNAPLEN}): records are read up to {MAX_SNAPLEN} bytes, as libpcap does"
        )]
    } else {
        Vec::new()
    }
}

impl RecordSource for PcapFile {
    fn linktype(&self) -> i32 {
        self.linktype
    }

    fn notes(&self) -> Vec<String> {
        self.notes.clone()
    }

    fn next(&mut self) -> Result<Next<'_>, PcapError> {
        Ok(match self.next_record()? {
            Some(r) => Next::Record(r),
            None => Next::End,
        })
    }
}

/// A live capture on one interface, through libpcap (immediate mode, so
/// each packet is seen when it arrives), until `stop` is set.
///
/// libpcap's read timeout does not fire on Linux while no packet arrives
/// (TPACKET_V3 retires only blocks that hold packets), so a ticker thread
/// wakes the blocked read with `pcap_breakloop` every 200 ms: each wake-up is an idle tick (connections that closed
/// during a quiet spell are still reported on time), and the one after
/// `stop` is set ends the capture.
pub struct LiveCapture {
    name: String,
    cap: pcap::Capture<pcap::Active>,
    linktype: i32,
    frame: u64,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    ticker_done: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Drop for LiveCapture {
    fn drop(&mut self) {
        self.ticker_done
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

impl std::fmt::Debug for LiveCapture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveCapture")
            .field("interface", &self.name)
            .field("linktype", &self.linktype)
            .finish()
    }
}

/// How often a live capture wakes up when nothing arrives.
const LIVE_TICK: Duration = Duration::from_millis(200);

impl LiveCapture {
    /// Opens `interface` (not promiscuous: the host's own connections are
    /// what matter) with the BPF `filter`; ends when `stop` is set.
    pub fn open(
        interface: &str,
        filter: Option<&str>,
        stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    ) -> Result<Self, PcapError> {
        let err = |msg: String| PcapError::Open {
            path: PathBuf::from(interface),
            msg,
        };
        let mut cap = pcap::Capture::from_device(interface)
            .and_then(|c| {
                c.promisc(false)
                    .snaplen(65_535)
                    .immediate_mode(true)
                    .timeout(LIVE_TICK.as_millis() as i32)
                    .buffer_size(16 << 20)
                    .precision(pcap::Precision::Nano)
                    .open()
            })
            .map_err(|e| {
                err(format!(
                    "cannot capture: {e} (capturing needs root or CAP_NET_RAW)"
                ))
            })?;
        if let Some(f) = filter {
            cap.filter(f, true)
                .map_err(|e| err(format!("--filter '{f}': {e}")))?;
        }
        let linktype = cap.get_datalink().0;
        let wake = cap.breakloop_handle();
        let ticker_done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let gone = ticker_done.clone();
        std::thread::Builder::new()
            .name("capture-ticker".into())
            .spawn(move || {
                while !gone.load(std::sync::atomic::Ordering::Relaxed) {
                    std::thread::sleep(LIVE_TICK);
                    wake.breakloop();
                }
            })
            .map_err(|e| err(format!("cannot start the capture ticker: {e}")))?;
        Ok(Self {
            name: interface.to_owned(),
            cap,
            linktype,
            frame: 0,
            stop,
            ticker_done,
        })
    }
}

impl RecordSource for LiveCapture {
    fn linktype(&self) -> i32 {
        self.linktype
    }

    fn next(&mut self) -> Result<Next<'_>, PcapError> {
        if self.stop.load(std::sync::atomic::Ordering::Relaxed) {
            return Ok(Next::End);
        }
        match self.cap.next_packet() {
            Ok(p) => {
                self.frame += 1;
                Ok(Next::Record(Record::from_packet(self.frame, &p)))
            }
            // The ticker's pcap_breakloop (NoMorePackets) or libpcap's own
            // timeout: an idle tick, or the end once `stop` is set.
            Err(pcap::Error::TimeoutExpired | pcap::Error::NoMorePackets) => {
                if self.stop.load(std::sync::atomic::Ordering::Relaxed) {
                    return Ok(Next::End);
                }
                Ok(Next::Idle(
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap_or_default(),
                ))
            }
            Err(e) => Err(PcapError::Read {
                path: PathBuf::from(&self.name),
                frame: self.frame + 1,
                msg: e.to_string(),
            }),
        }
    }

    fn is_live(&self) -> bool {
        true
    }

    fn dropped(&mut self) -> Option<u64> {
        self.cap
            .stats()
            .ok()
            .map(|s| u64::from(s.dropped) + u64::from(s.if_dropped))
    }
}

/// Bytes of record data per prefetched batch.
const BATCH_BYTES: usize = 512 * 1024;

/// A batch of records read ahead: their bytes back to back, and where each
/// one sits.
#[derive(Default)]
struct Batch {
    data: Vec<u8>,
    records: Vec<(u64, Duration, u32, usize, usize)>,
    /// Set on the last batch: the file ended, or how it failed.
    end: Option<Result<(), PcapError>>,
}

/// A capture file read ahead by a second thread, so that reading overlaps
/// the analysis: classic pcap files straight into the batches (see
/// `Classic`), anything else through libpcap. Batch buffers go back and
/// forth, so nothing is allocated per record and no memory is freed by the
/// other thread.
pub struct Prefetched {
    linktype: i32,
    notes: Vec<String>,
    rx: std::sync::mpsc::Receiver<Batch>,
    back: std::sync::mpsc::SyncSender<Batch>,
    cur: Batch,
    next: usize,
}

impl std::fmt::Debug for Prefetched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prefetched")
            .field("linktype", &self.linktype)
            .finish()
    }
}

impl Prefetched {
    /// Starts reading `file` ahead on its own thread. The thread ends at
    /// the end of the file or when this is dropped.
    pub fn new(mut file: PcapFile) -> Self {
        let linktype = file.linktype();
        let notes = std::mem::take(&mut file.notes);
        let (tx, rx) = std::sync::mpsc::sync_channel::<Batch>(2);
        let (back, spare) = std::sync::mpsc::sync_channel::<Batch>(4);
        if let Some(classic) = file.classic {
            let path = file.path.clone();
            drop(file);
            std::thread::spawn(move || classic.read(&path, &tx, &spare));
            return Self {
                linktype,
                notes,
                rx,
                back,
                cur: Batch::default(),
                next: 0,
            };
        }
        std::thread::spawn(move || {
            loop {
                let mut b = spare.try_recv().unwrap_or_default();
                b.data.clear();
                b.records.clear();
                while b.data.len() < BATCH_BYTES && b.end.is_none() {
                    match file.next_record() {
                        Ok(Some(r)) => {
                            let at = b.data.len();
                            b.data.extend_from_slice(r.data);
                            b.records
                                .push((r.frame, r.ts, r.orig_len, at, r.data.len()));
                        }
                        Ok(None) => b.end = Some(Ok(())),
                        Err(e) => b.end = Some(Err(e)),
                    }
                }
                let last = b.end.is_some();
                if tx.send(b).is_err() || last {
                    return;
                }
            }
        });
        Self {
            linktype,
            notes,
            rx,
            back,
            cur: Batch::default(),
            next: 0,
        }
    }
}

impl Prefetched {
    /// Whether a record is ready for [`take`](Self::take) (waiting for the
    /// reader if need be); `false` at the end of the file.
    pub(crate) fn ready(&mut self) -> Result<bool, PcapError> {
        while self.next == self.cur.records.len() {
            if let Some(end) = self.cur.end.take() {
                end?;
                return Ok(false);
            }
            let Ok(b) = self.rx.recv() else {
                return Ok(false);
            };
            let done = std::mem::replace(&mut self.cur, b);
            let _ = self.back.try_send(done);
            self.next = 0;
        }
        Ok(true)
    }

    /// The record [`ready`](Self::ready) said is there.
    pub(crate) fn take(&mut self) -> Record<'_> {
        let (frame, ts, orig_len, at, len) = self.cur.records[self.next];
        self.next += 1;
        Record {
            frame,
            ts,
            orig_len,
            data: &self.cur.data[at..at + len],
        }
    }
}

impl RecordSource for Prefetched {
    fn linktype(&self) -> i32 {
        self.linktype
    }

    fn notes(&self) -> Vec<String> {
        self.notes.clone()
    }

    fn next(&mut self) -> Result<Next<'_>, PcapError> {
        Ok(if self.ready()? {
            Next::Record(self.take())
        } else {
            Next::End
        })
    }
}

/// The largest record libpcap accepts for the link types read here
/// (`max_snaplen_for_dlt`).
const MAX_SNAPLEN: u32 = 262_144;
/// Bytes of a classic pcap record header.
const RECORD_HEADER: usize = 16;

/// A classic pcap file (not pcapng) of a link type this crate decodes,
/// version 2.4, from a path: [`Prefetched`] then reads its records itself,
/// straight into its batches, instead of through libpcap's two `fread`s
/// and a copy per record (two thirds of a core on a capture of short
/// connections, more than the whole analysis could spare). libpcap still
/// opens the file first, so every header error is libpcap's; the records
/// follow libpcap's rules (`sf-pcap.c`): records longer than the file's
/// snaplen are cut to it, longer than 262144 bytes are an error, a partial
/// record at the end is an error. A test reads every capture of both
/// corpora, damaged copies and byte-swapped, nanosecond and short-snaplen
/// variants both ways and compares every record.
#[derive(Debug, Clone, Copy)]
struct Classic {
    big_endian: bool,
    nanos: bool,
    snapshot: u32,
}

impl Classic {
    fn detect(path: &Path, linktype: i32) -> Option<Self> {
        use std::io::Read;
        if path.as_os_str() == "-" || !crate::link::decodable(linktype) {
            return None;
        }
        let mut f = std::fs::File::open(path).ok()?;
        if !f.metadata().ok()?.is_file() {
            return None;
        }
        let mut h = [0u8; 24];
        f.read_exact(&mut h).ok()?;
        let magic = [h[0], h[1], h[2], h[3]];
        let (big_endian, nanos) = match (u32::from_le_bytes(magic), u32::from_be_bytes(magic)) {
            (0xa1b2_c3d4, _) => (false, false),
            (0xa1b2_3c4d, _) => (false, true),
            (_, 0xa1b2_c3d4) => (true, false),
            (_, 0xa1b2_3c4d) => (true, true),
            _ => return None,
        };
        let c = Self {
            big_endian,
            nanos,
            snapshot: 0,
        };
        // Versions before 2.4 may have caplen and len swapped: libpcap's.
        if (c.u16(&h[4..6]), c.u16(&h[6..8])) != (2, 4) {
            return None;
        }
        let snaplen = c.u32(&h[16..20]);
        Some(Self {
            snapshot: if snaplen == 0 || snaplen > MAX_SNAPLEN {
                MAX_SNAPLEN
            } else {
                snaplen
            },
            ..c
        })
    }

    fn u16(&self, b: &[u8]) -> u16 {
        let b = [b[0], b[1]];
        if self.big_endian {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        }
    }

    fn u32(&self, b: &[u8]) -> u32 {
        let b = [b[0], b[1], b[2], b[3]];
        if self.big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    }

    /// Reads the records of `path` into batches for `tx` until the end,
    /// an error (sent as the last batch's end) or the receiver's drop.
    fn read(
        self,
        path: &Path,
        tx: &std::sync::mpsc::SyncSender<Batch>,
        spare: &std::sync::mpsc::Receiver<Batch>,
    ) {
        use std::io::{Read, Seek, SeekFrom};
        let fail = |frame: u64, msg: String| PcapError::Read {
            path: path.to_path_buf(),
            frame,
            msg,
        };
        let mut file = match std::fs::File::open(path).and_then(|mut f| {
            f.seek(SeekFrom::Start(24))?;
            Ok(f)
        }) {
            Ok(f) => f,
            Err(e) => {
                let end = Some(Err(fail(1, format!("cannot reopen: {e}"))));
                let _ = tx.send(Batch {
                    end,
                    ..Batch::default()
                });
                return;
            }
        };
        let mut frame = 0u64;
        // File offset of the batch's first byte, for error messages.
        let mut offset = 24u64;
        // The start of a record the last batch ended inside.
        let mut carry = Vec::new();
        loop {
            let mut b = spare.try_recv().unwrap_or_default();
            b.data.clear();
            b.records.clear();
            b.data.extend_from_slice(&carry);
            let want = (BATCH_BYTES + 2 * RECORD_HEADER).saturating_sub(b.data.len());
            let eof = match (&mut file).take(want as u64).read_to_end(&mut b.data) {
                Ok(n) => n < want,
                Err(e) => {
                    b.end = Some(Err(fail(
                        frame + 1,
                        format!("error reading dump file: {e}"),
                    )));
                    true
                }
            };
            let mut pos = 0;
            while b.end.is_none() && b.data.len() - pos >= RECORD_HEADER {
                let h = &b.data[pos..pos + RECORD_HEADER];
                let (sec, frac) = (self.u32(&h[0..4]) as i32, self.u32(&h[4..8]) as i32);
                let (caplen, orig_len) = (self.u32(&h[8..12]), self.u32(&h[12..16]));
                if caplen > MAX_SNAPLEN {
                    b.end = Some(Err(fail(
                        frame + 1,
                        format!(
                            "invalid packet capture length {caplen}, bigger than snaplen of {} (record at byte offset {})",
                            self.snapshot,
                            offset + pos as u64
                        ),
                    )));
                    break;
                }
                let end = pos + RECORD_HEADER + caplen as usize;
                if end > b.data.len() {
                    break;
                }
                frame += 1;
                let nanos = if self.nanos {
                    i64::from(frac)
                } else {
                    i64::from(frac) * 1000
                };
                b.records.push((
                    frame,
                    timestamp(i64::from(sec), nanos),
                    orig_len,
                    pos + RECORD_HEADER,
                    caplen.min(self.snapshot) as usize,
                ));
                pos = end;
            }
            carry.clear();
            carry.extend_from_slice(&b.data[pos..]);
            if eof && b.end.is_none() {
                b.end = Some(if carry.is_empty() {
                    Ok(())
                } else {
                    Err(fail(
                        frame + 1,
                        truncated(&carry, offset + pos as u64, &self),
                    ))
                });
            }
            offset += pos as u64;
            b.data.truncate(pos);
            let last = b.end.is_some();
            if tx.send(b).is_err() || last {
                return;
            }
        }
    }
}

/// libpcap's message for a partial record at the end of a file, and where
/// that record starts.
fn truncated(rest: &[u8], at: u64, c: &Classic) -> String {
    if rest.len() < RECORD_HEADER {
        format!(
            "truncated dump file; tried to read {RECORD_HEADER} header bytes, only got {} (record at byte offset {at})",
            rest.len()
        )
    } else {
        let caplen = c.u32(&rest[8..12]);
        format!(
            "truncated dump file; tried to read {caplen} captured bytes, only got {} (record at byte offset {at})",
            rest.len() - RECORD_HEADER
        )
    }
}
