//! What the clear TLS record headers after an SSLRequest say about the
//! TLS handshake: who sent an alert before it completed. The capture
//! decoder reads them (hsp-wire's `tls_record`); the probe knows its own TLS
//! errors first hand and does not need them.

use hsp_wire::tls_record::alert_name;

use crate::network::Side;

/// An alert sent before the TLS handshake completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlsAlert {
    /// Who sent it.
    pub sender: Side,
    /// Its description, when it was in the clear (TLS 1.2, or TLS 1.3
    /// before the server's flight); TLS 1.3 encrypts later alerts.
    pub description: Option<u8>,
}

impl TlsAlert {
    /// The alert's name, or that it was encrypted.
    pub fn name(&self) -> &'static str {
        self.description.map_or("an encrypted alert", alert_name)
    }

    /// The evidence sentence.
    pub fn sentence(&self) -> String {
        format!(
            "the {} rejected the TLS handshake: it sent {} before the handshake completed",
            self.sender.name(),
            match self.description {
                Some(d) => format!("the alert {}", alert_name(d)),
                None => "an encrypted alert".into(),
            }
        )
    }

    /// What the client application reported (CR_SSL_CONNECTION_ERROR).
    pub fn client_message(&self) -> String {
        match self.sender {
            Side::Client => format!("SSL connection error: {}", self.name()),
            Side::Server => format!(
                "SSL connection error: the server sent the alert {}",
                self.name()
            ),
        }
    }
}

/// The TLS handshake never completed before the connection closed.
pub fn unfinished_sentence(by: Side) -> String {
    format!(
        "the {} closed during the TLS handshake, before it completed (no application data answered the client's)",
        by.name()
    )
}
