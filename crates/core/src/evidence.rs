//! What the drivers saw, worded once. The classifier's own sentences are
//! in [`classify`](mod@crate::classify) and [`network`](crate::network);
//! these are the observations a driver adds beside them: the TCP
//! counters of a capture, how a capture's outcome was read, and the
//! probe's own doings. Keeping every sentence in this crate keeps the
//! probe and the decoder saying the same thing the same way.

use std::time::Duration;

use crate::record::{CaptureCut, TcpEvidence, Vantage};

impl CaptureCut {
    /// What the cut means for the record.
    pub fn sentence(&self) -> String {
        let kept = self.snaplen.map_or_else(String::new, |n| {
            format!(" (the first {n} bytes of each frame)")
        });
        format!(
            "the capture kept only the start of some frames{kept}: {} byte(s) of this connection were cut; its packets are decoded as far as their visible bytes go",
            self.bytes_cut
        )
    }
}

impl TcpEvidence {
    /// One sentence per counter that is not zero, and the vantage point.
    pub fn sentences(&self) -> Vec<String> {
        let mut ev = Vec::new();
        for (n, waited, name) in [
            (
                self.retransmits_c2s,
                self.max_unacked_c2s_us,
                "client to server",
            ),
            (
                self.retransmits_s2c,
                self.max_unacked_s2c_us,
                "server to client",
            ),
        ] {
            if n > 0 {
                ev.push(format!("{n} retransmitted segment(s) {name}"));
            }
            if waited >= 200_000 {
                ev.push(format!(
                    "{name} data waited {:.2} s for its ACK",
                    Duration::from_micros(waited).as_secs_f64()
                ));
            }
        }
        if self.spurious_retransmits > 0 {
            ev.push(crate::network::spurious_sentence(self.spurious_retransmits));
        }
        if self.syn_retransmits > 0 {
            ev.push(format!("{} SYN retransmission(s)", self.syn_retransmits));
        }
        if self.syn_ack_retransmits > 0 {
            ev.push(format!(
                "{} SYN-ACK retransmission(s): the client's SYN-ACK or its ACK was lost",
                self.syn_ack_retransmits
            ));
        }
        if self.window_full > 0 {
            ev.push(format!(
                "{} segment(s) filled the receiver's window (window full)",
                self.window_full
            ));
        }
        if self.zero_windows > 0 {
            ev.push(format!(
                "{} zero-window advertisement(s)",
                self.zero_windows
            ));
        }
        if self.capture_loss > 0 {
            ev.push(format!(
                "the capture lost bytes of this connection {} time(s) (gaps, or bytes only an ACK shows)",
                self.capture_loss
            ));
        }
        match self.vantage {
            Vantage::NearClient => {
                ev.push("captured near the client (SYN to SYN-ACK holds the round trip)".into());
            }
            Vantage::NearServer => {
                ev.push("captured near the server (SYN-ACK to ACK holds the round trip)".into());
            }
            Vantage::Unknown => {}
        }
        ev
    }
}

/// How a capture's outcome was read, when it was not plain.
pub mod capture {
    use std::time::Duration;

    /// No handshake in the capture.
    pub const STARTS_MIDSTREAM: &str = "the capture starts after this connection's handshake";
    /// No outcome in the capture.
    pub const ENDS_EARLY: &str = "the capture ends before the handshake's outcome";
    /// TCP alone saw the server answer the login.
    pub const TCP_ONLY_ANSWERED: &str = "the server answered the login; whether with an OK, an ERR or another auth round is in the bytes the capture did not keep";
    /// TLS after the SSLRequest.
    pub const ENCRYPTED: &str = "encrypted after the SSLRequest: the outcome is inferred from the TLS record headers and what followed";

    /// SYNs without an answer.
    pub fn syns_unanswered(n: u32) -> String {
        format!("{n} SYN(s) seen, none answered")
    }

    /// The server closed a session that had logged in.
    pub fn session_closed(quiet: Duration) -> String {
        format!(
            "the handshake completed; the server closed the session {:.2} s after the client's last packet",
            quiet.as_secs_f64()
        )
    }

    /// A record from TCP alone (no MySQL bytes captured): what was taken
    /// for which packet, with what each size suggests, never as decoded
    /// content.
    pub fn tcp_only(
        greeting: Option<u32>,
        client: Option<u32>,
        answer: Option<u32>,
        ssl: bool,
    ) -> String {
        let mut s = String::from(
            "TCP only: the capture kept none of this connection's MySQL bytes; the handshake is timed from its data segments",
        );
        if let Some(g) = greeting {
            s.push_str(&format!(
                "; the server's first data ({g} bytes) is taken as the greeting"
            ));
            if g < 60 {
                s.push_str(" (an ERR's size rather than a greeting's)");
            }
        }
        if let Some(c) = client {
            let what = if ssl {
                "the SSLRequest (its exact size)"
            } else {
                "the login"
            };
            s.push_str(&format!(", the client's next ({c} bytes) as {what}"));
        }
        if let Some(a) = answer {
            s.push_str(&format!(", the server's next ({a} bytes) as its answer"));
            s.push_str(if a <= 16 {
                " (an OK's size)"
            } else {
                " (larger than an OK: an ERR, an auth switch or more auth data)"
            });
        }
        s.push_str("; only verdicts TCP decides are given, else incomplete");
        s
    }

    /// A login after the server's reset (the bug #28359 signature).
    pub fn login_after_reset(after: Duration, frame: u64) -> String {
        format!(
            "the client's login arrived {:.2} s after the connection was reset (frame {frame})",
            after.as_secs_f64()
        )
    }
}

/// What the probe did or saw on its own socket.
pub mod probe {
    use std::fmt::Display;
    use std::time::Duration;

    /// The server reset as the connect completed.
    pub const RESET_AT_CONNECT: &str = "the server reset the connection as it was established";

    /// An address of the server's name refused or was unreachable, and
    /// the next was tried (as libmysqlclient does).
    pub fn address_failed(addr: impl Display, e: impl Display, next: impl Display) -> String {
        format!("{addr}: {e}; tried {next}, the name's next address")
    }

    /// `--bind` failed.
    pub fn cannot_bind(ip: impl Display, e: impl Display) -> String {
        format!("cannot bind to {ip}: {e}")
    }

    /// The connect failed for another reason.
    pub fn connect_failed(e: impl Display) -> String {
        format!("connect: {e}")
    }

    /// The TLS layer failed after the handshake started.
    pub fn tls_failed(e: impl Display) -> String {
        format!("TLS: {e}")
    }

    /// The server aborted the TLS handshake.
    pub fn server_tls_alert(alert: impl std::fmt::Debug) -> String {
        format!("the server aborted the TLS handshake with alert {alert:?}")
    }

    /// The probe refused the server's TLS under its ssl-mode.
    pub fn client_refused_tls(mode: impl std::fmt::Debug, reason: impl Display) -> String {
        format!("TLS handshake refused by the client under --ssl-mode {mode:?}: {reason}")
    }

    /// The client's handshake machine gave up.
    pub fn client_gave_up(e: impl Display) -> String {
        format!("client: {e}")
    }

    /// A packet over the handshake limit.
    pub fn oversized(len: usize, limit: usize) -> String {
        format!("the server announced a {len}-byte packet; the handshake limit is {limit} bytes")
    }

    /// What had arrived of a packet when the read ended.
    pub fn partial(have: usize, announced: Option<usize>, what: &str) -> String {
        let of = announced
            .map(|l| format!(" of a {}-byte packet", l + 4))
            .unwrap_or_default();
        format!("{have} byte(s){of} had arrived before {what}")
    }

    /// Bytes from the server during `--login-delay`.
    pub fn unsolicited(n: usize) -> String {
        format!("the server sent {n} byte(s) while the client's login was due")
    }

    /// `--login-delay`.
    pub fn login_held_back(delay: Duration) -> String {
        format!(
            "the login was held back {:.2} s on purpose (--login-delay)",
            delay.as_secs_f64()
        )
    }
}
