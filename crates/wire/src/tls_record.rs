//! TLS record headers after the SSLRequest.
//!
//! After a client's SSLRequest the MySQL bytes are encrypted, but every TLS
//! record starts with a 5-byte header in the clear (content type, version,
//! length), and a plaintext alert (before that side's ChangeCipherSpec) shows
//! its level and description. That is enough to tell who refused a TLS
//! handshake, whether it completed, and when the login went out, without a
//! key. The reader is sans-IO like the rest of this crate: bytes in, record
//! headers out, resumable at any byte boundary.

/// A TLS record's content type.
pub mod content {
    /// ChangeCipherSpec.
    pub const CHANGE_CIPHER_SPEC: u8 = 20;
    /// Alert.
    pub const ALERT: u8 = 21;
    /// Handshake.
    pub const HANDSHAKE: u8 = 22;
    /// Application data (and, in TLS 1.3, every encrypted record).
    pub const APPLICATION_DATA: u8 = 23;
}

/// One record header, and an alert's body when it was in the clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TlsRecord {
    /// Content type (see [`content`]).
    pub content_type: u8,
    /// Body length.
    pub length: u16,
    /// A two-byte alert body: (level, description). Absent for encrypted
    /// alerts (longer bodies) and other records.
    pub alert: Option<(u8, u8)>,
}

impl TlsRecord {
    /// A fatal alert (level 2) or an alert whose body is encrypted.
    pub fn is_alert(&self) -> bool {
        self.content_type == content::ALERT
    }
}

/// The name of a TLS alert description (RFC 8446, 6.2 and RFC 5246).
pub fn alert_name(description: u8) -> &'static str {
    match description {
        0 => "close_notify",
        10 => "unexpected_message",
        20 => "bad_record_mac",
        40 => "handshake_failure",
        42 => "bad_certificate",
        43 => "unsupported_certificate",
        44 => "certificate_revoked",
        45 => "certificate_expired",
        46 => "certificate_unknown",
        47 => "illegal_parameter",
        48 => "unknown_ca",
        49 => "access_denied",
        50 => "decode_error",
        51 => "decrypt_error",
        70 => "protocol_version",
        71 => "insufficient_security",
        80 => "internal_error",
        86 => "inappropriate_fallback",
        90 => "user_canceled",
        109 => "missing_extension",
        110 => "unsupported_extension",
        112 => "unrecognized_name",
        116 => "certificate_required",
        120 => "no_application_protocol",
        _ => "unknown alert",
    }
}

/// Records reported per direction: enough for the handshake and the
/// first exchange after it; later ones are not read.
pub const MAX_RECORDS: u16 = 16;
/// The largest record body TLS allows (2^14 plus expansion).
const MAX_BODY: u16 = (1 << 14) + 2048;

/// Reads record headers from one direction's bytes.
#[derive(Debug, Clone, Default)]
pub struct TlsRecordReader {
    header: [u8; 5],
    have: u8,
    /// Body bytes of the current record still to skip.
    body_left: u16,
    /// The current record is a 2-byte alert: its body, as it arrives.
    alert: Option<(TlsRecord, [u8; 2], u8)>,
    records: u16,
    /// Not TLS (a bad content type or version), or enough records read.
    stopped: bool,
}

impl TlsRecordReader {
    /// A reader that reads nothing (after a gap, the record boundaries are
    /// lost).
    pub fn stopped() -> Self {
        Self {
            stopped: true,
            ..Self::default()
        }
    }

    /// Whether it stopped reading.
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// Feeds the next bytes; `emit` gets each record as its header (or a
    /// clear alert's body) completes.
    pub fn push(&mut self, mut data: &[u8], mut emit: impl FnMut(TlsRecord)) {
        while !data.is_empty() && !self.stopped {
            if let Some((rec, mut body, got)) = self.alert.take() {
                let n = data.len().min(2 - usize::from(got));
                body[usize::from(got)..usize::from(got) + n].copy_from_slice(&data[..n]);
                data = &data[n..];
                let got = got + n as u8;
                if got == 2 {
                    self.report(
                        TlsRecord {
                            alert: Some((body[0], body[1])),
                            ..rec
                        },
                        &mut emit,
                    );
                } else {
                    self.alert = Some((rec, body, got));
                }
                continue;
            }
            if self.body_left > 0 {
                let n = data.len().min(usize::from(self.body_left));
                self.body_left -= n as u16;
                data = &data[n..];
                continue;
            }
            let n = data.len().min(5 - usize::from(self.have));
            let at = usize::from(self.have);
            self.header[at..at + n].copy_from_slice(&data[..n]);
            self.have += n as u8;
            data = &data[n..];
            if self.have < 5 {
                continue;
            }
            self.have = 0;
            let [ctype, major, _minor, hi, lo] = self.header;
            let length = u16::from_be_bytes([hi, lo]);
            if !(20..=24).contains(&ctype) || major != 3 || length > MAX_BODY {
                self.stopped = true;
                return;
            }
            let rec = TlsRecord {
                content_type: ctype,
                length,
                alert: None,
            };
            if ctype == content::ALERT && length == 2 {
                self.alert = Some((rec, [0; 2], 0));
            } else {
                self.body_left = length;
                self.report(rec, &mut emit);
            }
        }
    }

    /// The next `n` bytes exist but were not captured (a snaplen): skipped
    /// inside the current record's body. Returns false when a record
    /// header was among them: the reader then stops, as after a gap, and
    /// the caller may start a fresh one where a record surely starts. An
    /// alert whose body is cut is reported without it.
    pub fn missing(&mut self, n: usize, mut emit: impl FnMut(TlsRecord)) -> bool {
        if n == 0 || self.stopped {
            return true;
        }
        if let Some((rec, _, got)) = self.alert.take() {
            self.report(rec, &mut emit);
            if n > usize::from(2 - got) {
                self.stopped = true;
                return false;
            }
            return true;
        }
        if self.have > 0 || n > usize::from(self.body_left) {
            self.stopped = true;
            return false;
        }
        self.body_left -= n as u16;
        true
    }

    fn report(&mut self, rec: TlsRecord, emit: &mut impl FnMut(TlsRecord)) {
        emit(rec);
        self.records += 1;
        if self.records >= MAX_RECORDS {
            self.stopped = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(chunks: &[&[u8]]) -> Vec<TlsRecord> {
        let mut r = TlsRecordReader::default();
        let mut out = Vec::new();
        for c in chunks {
            r.push(c, |rec| out.push(rec));
        }
        out
    }

    #[test]
    fn headers_and_clear_alerts_are_read_across_any_cut() {
        // A ClientHello of 7 bytes, then a fatal unknown_ca alert.
        let mut bytes = vec![22, 3, 1, 0, 7];
        bytes.extend_from_slice(&[1, 0, 0, 3, 3, 3, 0]);
        bytes.extend_from_slice(&[21, 3, 3, 0, 2, 2, 48]);
        let whole = records(&[&bytes]);
        assert_eq!(
            whole,
            vec![
                TlsRecord {
                    content_type: 22,
                    length: 7,
                    alert: None
                },
                TlsRecord {
                    content_type: 21,
                    length: 2,
                    alert: Some((2, 48))
                },
            ]
        );
        for cut in 0..bytes.len() {
            let (a, b) = bytes.split_at(cut);
            assert_eq!(records(&[a, b]), whole, "cut at {cut}");
        }
        assert_eq!(alert_name(48), "unknown_ca");
    }

    #[test]
    fn bytes_that_are_not_tls_stop_the_reader() {
        let mut r = TlsRecordReader::default();
        let mut n = 0;
        r.push(b"\x05\x00\x00\x00\x01garbage", |_| n += 1);
        assert!(r.is_stopped());
        assert_eq!(n, 0);
    }

    #[test]
    fn it_stops_after_enough_records() {
        let one = [23u8, 3, 3, 0, 1, 0xaa];
        let bytes: Vec<u8> = one.iter().copied().cycle().take(6 * 40).collect();
        assert_eq!(records(&[&bytes]).len(), usize::from(MAX_RECORDS));
    }
}
