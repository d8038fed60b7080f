//! The TLS handshake as its clear record headers show it (hsp-wire's
//! observer reports them as `Milestone::TlsRecord`): when the client's
//! login went out, when the server answered it, and who sent an alert
//! before it completed.
//!
//! TLS 1.2 sends its Finished messages as handshake records, so the
//! client's first application-data record is its login. TLS 1.3 encrypts
//! everything after the ServerHello as application data: the server's
//! flight comes before the client's first such record (its Finished), and
//! the login is the client's second. Either way the handshake completed
//! when the server sent application data after the login.

use hsp_wire::tls_record::{TlsRecord, content};

type At = (std::time::Duration, u64);

/// An alert: its direction, when, and its clear body (level, description).
pub(crate) type Alert = (usize, At, Option<(u8, u8)>);

/// Directions are indexed 0 = client to server, 1 = server to client.
#[derive(Debug, Clone, Default)]
pub(crate) struct TlsSeen {
    records: [u32; 2],
    client_app: u32,
    /// The server sent application data before the client's first: TLS
    /// 1.3's encrypted flight.
    encrypted_flight: bool,
    login: Option<At>,
    answer: Option<At>,
    alert: Option<Alert>,
}

impl TlsSeen {
    /// Nothing seen.
    pub(crate) const NONE: Self = Self {
        records: [0; 2],
        client_app: 0,
        encrypted_flight: false,
        login: None,
        answer: None,
        alert: None,
    };

    pub(crate) fn on_record(&mut self, d: usize, rec: &TlsRecord, here: At) {
        self.records[d] += 1;
        match (d, rec.content_type) {
            (0, content::APPLICATION_DATA) => {
                self.client_app += 1;
                let login_record = if self.encrypted_flight { 2 } else { 1 };
                if self.client_app == login_record {
                    self.login = Some(here);
                }
            }
            (1, content::APPLICATION_DATA) => {
                if self.client_app == 0 {
                    self.encrypted_flight = true;
                } else if self.login.is_some() {
                    self.answer.get_or_insert(here);
                }
            }
            (_, content::ALERT) if self.answer.is_none() && self.alert.is_none() => {
                self.alert = Some((d, here, rec.alert));
            }
            _ => {}
        }
    }

    /// Records were read in both directions.
    pub(crate) fn seen(&self) -> bool {
        self.records.iter().all(|n| *n > 0)
    }

    /// The server answered the login: the TLS handshake completed.
    pub(crate) fn complete(&self) -> bool {
        self.answer.is_some()
    }

    /// The record that carried the client's login.
    pub(crate) fn login(&self) -> Option<At> {
        self.login
    }

    /// The server's first record after the login.
    pub(crate) fn answer(&self) -> Option<At> {
        self.answer
    }

    /// The alert sent before completion: direction, when, clear body.
    pub(crate) fn alert(&self) -> Option<Alert> {
        self.alert
    }
}
