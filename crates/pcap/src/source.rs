//! Reading capture records from a file through libpcap.

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

/// An open capture file.
pub struct PcapFile {
    path: PathBuf,
    cap: pcap::Capture<pcap::Offline>,
    linktype: i32,
    frame: u64,
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
        })
    }

    /// Keeps only the records that match the BPF `filter` (as tcpdump's
    /// expression).
    pub fn set_filter(&mut self, filter: &str) -> Result<(), PcapError> {
        self.cap.filter(filter, true).map_err(|e| PcapError::Open {
            path: self.path.clone(),
            msg: format!("--filter '{filter}': {e}"),
        })
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
                let ts = Duration::new(p.header.ts.tv_sec as u64, p.header.ts.tv_usec as u32);
                Ok(Some(Record {
                    frame: self.frame,
                    ts,
                    orig_len: p.header.len,
                    data: p.data,
                }))
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
