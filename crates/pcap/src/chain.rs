//! Rotated captures read as one. Production captures are ring buffers
//! (`tcpdump -C 100 -W 20`, `-G 300`, `dumpcap -b filesize:...`): the files
//! of one capture follow each other in time and connections cross from one
//! into the next. Files given together are put in the order of their first
//! packets (whatever order they were named in, `cap10` before `cap2` as a
//! shell sorts them) and read as one stream by the same follower, so a
//! connection that crosses a file boundary gets one record.
//!
//! Frame numbers continue from file to file, as `mergecap` would number
//! them. Files of different link types, or with no records, are read on
//! their own. Where consecutive files overlap in time, or leave a silence
//! longer than any inside them (a file of the ring missing), a note says
//! so and where.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::source::{Next, PcapError, PcapFile, Prefetched, Record, RecordSource};

/// A file's place in a capture: its link type and first packet's time.
#[derive(Debug, Clone)]
pub struct Part {
    /// The file.
    pub path: PathBuf,
    /// Its link type.
    pub linktype: i32,
    /// Its first record's time, if it has one.
    pub first: Option<Duration>,
}

/// Groups `paths` into captures: the files in the order of their first
/// packets, consecutive files of one link type together. A file that
/// cannot be opened, or holds no record, is a capture of its own (its
/// error is reported when it is read).
pub fn plan(paths: &[PathBuf]) -> Vec<Vec<Part>> {
    let mut parts = Vec::new();
    for p in paths {
        let (linktype, first) = match PcapFile::open(p) {
            Ok(mut f) => (f.linktype(), f.next_record().ok().flatten().map(|r| r.ts)),
            Err(_) => (-1, None),
        };
        parts.push(Part {
            path: p.clone(),
            linktype,
            first,
        });
    }
    let mut out = Vec::new();
    // Files without records last, each on its own.
    parts.sort_by_key(|p| (p.first.is_none(), p.first));
    let mut group: Vec<Part> = Vec::new();
    for p in parts {
        let joins = group
            .last()
            .is_some_and(|l| l.linktype == p.linktype && l.first.is_some() && p.first.is_some());
        if !joins && !group.is_empty() {
            out.push(std::mem::take(&mut group));
        }
        group.push(p);
    }
    if !group.is_empty() {
        out.push(group);
    }
    out
}

/// The files of one capture, read in turn as one [`RecordSource`].
pub struct Chain {
    parts: std::vec::IntoIter<Part>,
    cur: Option<(PathBuf, Prefetched)>,
    filter: Option<String>,
    linktype: i32,
    /// Frames of the files before the current one.
    offset: u64,
    /// The current file's last frame number.
    frames: u64,
    /// The last record's time, and the longest silence between records.
    last: Option<Duration>,
    longest: Duration,
    /// The file just finished and its last record's time, checked against
    /// the next file's first.
    ended: Option<(PathBuf, Duration)>,
    notes: Vec<String>,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain")
            .field("linktype", &self.linktype)
            .field("offset", &self.offset)
            .finish_non_exhaustive()
    }
}

/// A time for notes: seconds since the epoch, as tshark's `-t e` shows it.
fn at(t: Duration) -> String {
    format!("{:.6}", t.as_secs_f64())
}

impl Chain {
    /// Reads `parts` (one capture from [`plan`]) in order, each file
    /// filtered by the BPF `filter` if given.
    pub fn new(parts: Vec<Part>, filter: Option<&str>) -> Self {
        let linktype = parts.first().map_or(1, |p| p.linktype);
        Self {
            parts: parts.into_iter(),
            cur: None,
            filter: filter.map(str::to_owned),
            linktype,
            offset: 0,
            frames: 0,
            last: None,
            longest: Duration::ZERO,
            ended: None,
            notes: Vec::new(),
        }
    }

    /// Opens the next file; `false` when none is left. A file that fails
    /// to open is noted and passed over.
    fn open_next(&mut self) -> bool {
        for part in self.parts.by_ref() {
            let opened = PcapFile::open(&part.path).and_then(|mut f| {
                if let Some(flt) = &self.filter {
                    f.set_filter(flt)?;
                }
                Ok(f)
            });
            match opened {
                Ok(f) => {
                    self.notes.extend(
                        f.notes()
                            .into_iter()
                            .map(|n| format!("{}: {n}", part.path.display())),
                    );
                    self.cur = Some((part.path, Prefetched::new(f)));
                    return true;
                }
                Err(e) => self.notes.push(e.to_string()),
            }
        }
        false
    }
}

/// At a file's first record: does it follow the one before (`ended`: that
/// file and its last record's time)? Overlaps and long silences are noted.
fn check_boundary(
    notes: &mut Vec<String>,
    ended: Option<(PathBuf, Duration)>,
    longest: Duration,
    path: &Path,
    first: Duration,
) {
    let Some((prev, last)) = ended else {
        return;
    };
    if first < last {
        notes.push(format!(
            "{} starts {:.3} s before {} ends (at {}, before {}): the files overlap; they are read in the order of their first packets (if they are two captures of the same traffic, taken near the client and near the server, `decode --vantage client={} --vantage server={}` merges them instead)",
            path.display(),
            (last - first).as_secs_f64(),
            prev.display(),
            at(first),
            at(last),
            prev.display(),
            path.display()
        ));
    } else if first - last > longest.max(Duration::from_secs(1)) {
        notes.push(format!(
            "{:.3} s pass between the end of {} (at {}) and the start of {}, longer than any silence inside the files before ({:.3} s): a file of the capture may be missing",
            (first - last).as_secs_f64(),
            prev.display(),
            at(last),
            path.display(),
            longest.as_secs_f64()
        ));
    }
}

impl RecordSource for Chain {
    fn linktype(&self) -> i32 {
        self.linktype
    }

    fn next(&mut self) -> Result<Next<'_>, PcapError> {
        // Find a file with a record first, then borrow it.
        loop {
            if self.cur.is_none() && !self.open_next() {
                return Ok(Next::End);
            }
            let (_, src) = self.cur.as_mut().expect("a file is open");
            match src.ready() {
                Ok(true) => break,
                Ok(false) => {}
                Err(e) => self.notes.push(format!(
                    "{e}; the records before it were read, and the next file follows"
                )),
            }
            // This file is done.
            let (path, _) = self.cur.take().expect("a file was open");
            self.offset += self.frames;
            self.frames = 0;
            if let Some(l) = self.last {
                self.ended = Some((path, l));
            }
        }
        let Self {
            cur,
            notes,
            ended,
            longest,
            last,
            frames,
            offset,
            ..
        } = self;
        let (path, src) = cur.as_mut().expect("a file is open");
        let r = src.take();
        if r.frame == 1 {
            check_boundary(notes, ended.take(), *longest, path, r.ts);
        } else if let Some(l) = *last {
            *longest = (*longest).max(r.ts.saturating_sub(l));
        }
        *last = Some(r.ts);
        *frames = r.frame;
        Ok(Next::Record(Record {
            frame: *offset + r.frame,
            ..r
        }))
    }

    fn notes(&self) -> Vec<String> {
        self.notes.clone()
    }
}
