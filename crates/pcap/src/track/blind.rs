//! Connections whose MySQL bytes the capture did not keep at all (a
//! snaplen below the end of the TCP header: `tcpdump -s 54`). On a port
//! known to carry MySQL, TCP alone still times the handshake: the
//! server's first data is the greeting (or an ERR in its place), the
//! client's next data the login (or the SSLRequest, whose 36 bytes are
//! its own), the server's next data its answer. The record says that its
//! evidence is TCP's alone, and the classifier keeps only the verdicts TCP
//! decides.

use hsp_core::evidence::capture;

use super::{At, Track};

/// An SSLRequest on the wire: a 4-byte header and 32 bytes of flags.
const SSL_REQUEST_LEN: u32 = 36;

/// The sizes of the data TCP alone took for handshake packets.
#[derive(Debug, Default, Clone)]
pub(crate) struct Blind {
    greeting: Option<u32>,
    client: Option<u32>,
    answer: Option<u32>,
    /// The sequence number after the answer's last byte.
    answer_end: Option<u32>,
}

impl Track {
    /// New data of direction `d` that the capture cut entirely: while
    /// nothing of the connection was decoded, the handshake's packets are
    /// taken from the turns of the data.
    pub(super) fn blind_data(&mut self, d: usize, here: At, len: u32, end: u32) {
        if self.mysql {
            return;
        }
        let blind = self.blind.get_or_insert_with(Box::default);
        match d {
            1 if self.greeting.is_none() && self.first_client.is_none() => {
                self.greeting = Some(here);
                blind.greeting = Some(len);
            }
            0 if self.greeting.is_some() && self.first_client.is_none() => {
                self.first_client = Some(here);
                blind.client = Some(len);
                if len == SSL_REQUEST_LEN {
                    self.ssl = true;
                    self.tls = Some(here);
                } else {
                    self.login = Some(here);
                }
            }
            1 if self.login.is_some() && self.first_answer.is_none() => {
                blind.answer = Some(len);
                blind.answer_end = Some(end);
                self.answer(here);
            }
            _ => {}
        }
    }

    /// TCP alone took the server's answer: whether it was an OK, an ERR or
    /// another auth round is in the bytes the capture did not keep, and
    /// what follows is not the handshake's to judge.
    pub(super) fn blind_answered(&self) -> bool {
        self.blind.is_some() && !self.mysql && self.first_answer.is_some()
    }

    /// The server's answer as TCP alone took it: when, and the sequence
    /// number after it.
    pub(super) fn blind_answer(&self) -> Option<(&At, u32)> {
        let b = self.blind.as_deref().filter(|_| !self.mysql)?;
        Some((self.first_answer.as_ref()?, b.answer_end?))
    }

    /// Whether the record rests on TCP alone.
    pub(super) fn tcp_only(&self) -> bool {
        self.blind.is_some() && !self.mysql
    }

    /// The evidence sentence for a TCP-only record.
    pub(super) fn blind_sentence(&self) -> Option<String> {
        let b = self.blind.as_deref().filter(|_| self.tcp_only())?;
        Some(capture::tcp_only(b.greeting, b.client, b.answer, self.ssl))
    }
}
