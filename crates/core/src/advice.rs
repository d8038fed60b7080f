//! The summary's advice: what a run's records add up to, in sentences an
//! operator acts on. The probe's and the decoder's summaries both print
//! these; the per-verdict lines are [`Verdict::advice`].

use crate::record::ConnectionRecord;
use crate::stats::Summary;
use crate::verdict::Verdict;

/// Patterns worth a sentence of their own in the summary, gathered from
/// the records as they stream by (counts and a few numbers, nothing kept).
#[derive(Debug, Default)]
pub struct Patterns {
    stalled_then_closed: Vec<f64>,
    timeouts_near_server: u64,
    timeouts: Vec<f64>,
    greeting_lost: u64,
    capture_loss: u64,
}

impl Patterns {
    /// Counts one record.
    pub fn add(&mut self, r: &ConnectionRecord) {
        let Some(tcp) = &r.tcp else { return };
        if tcp.capture_loss > 0 {
            self.capture_loss += 1;
        }
        let total = r
            .phases_us
            .get(crate::Phase::Total)
            .map_or(0.0, |d| d.as_secs_f64());
        match r.verdict {
            Verdict::NetworkStall if tcp.closed_by == Some("server") => {
                self.stalled_then_closed.push(total);
                if tcp.retransmits_s2c > 0 && r.phase == crate::Phase::ClientReply {
                    self.greeting_lost += 1;
                }
            }
            Verdict::ServerTimeout => {
                self.timeouts.push(total);
                if tcp.vantage == crate::record::Vantage::NearServer {
                    self.timeouts_near_server += 1;
                }
            }
            _ => {}
        }
    }

    /// Connections with bytes the capture missed.
    pub fn capture_loss(&self) -> u64 {
        self.capture_loss
    }

    /// A sentence per pattern seen.
    pub fn sentences(&self) -> Vec<String> {
        let median = |v: &[f64]| {
            let mut v = v.to_vec();
            v.sort_by(f64::total_cmp);
            v.get(v.len() / 2).copied().unwrap_or_default()
        };
        let mut out = Vec::new();
        if !self.stalled_then_closed.is_empty() {
            out.push(format!(
                "{} connection(s) were closed by the server (median {:.1} s into the handshake) while handshake data was being lost (retransmitted, or sent and never seen): network loss between client and server, not the server{}",
                self.stalled_then_closed.len(),
                median(&self.stalled_then_closed),
                if self.greeting_lost > 0 {
                    format!("; in {} of them the server's greeting never got through", self.greeting_lost)
                } else {
                    String::new()
                }
            ));
        }
        if !self.timeouts.is_empty() {
            out.push(format!(
                "{} connection(s) were dropped by the server at connect_timeout (median {:.1} s) because no login reached it: a late client, or loss on the way{}",
                self.timeouts.len(),
                median(&self.timeouts),
                if self.timeouts_near_server > 0 {
                    format!("; {} of them were captured near the server, which cannot see packets lost before it: capture at the client to tell", self.timeouts_near_server)
                } else {
                    String::new()
                }
            ));
        }
        if self.capture_loss > 0 {
            out.push(format!(
                "{} connection(s) have bytes the capture missed (gaps or snaplen): their packets are not decoded across the gap",
                self.capture_loss
            ));
        }
        out
    }
}

/// The summary's advice: the near-connect_timeout warning, then one line
/// per verdict seen.
pub fn summary(connect_timeout_s: f64, s: &Summary) -> Vec<String> {
    let mut out = Vec::new();
    if s.near_connect_timeout > 0 {
        out.push(format!(
            "warning: {} handshake(s) had a phase over half of connect_timeout ({:.0} s). A client a little \
             slower, or a little packet loss, and the server drops them with \"Lost connection to MySQL server \
             at 'reading authorization packet'\" (MySQL bug #28359). Find the slow phase above; raise \
             connect_timeout only once the delay is explained.",
            s.near_connect_timeout, connect_timeout_s
        ));
    }
    for v in Verdict::ALL {
        let n = s.verdicts.get(v.name()).copied().unwrap_or(0);
        if n > 0 && v != Verdict::Ok && !v.advice().is_empty() {
            out.push(format!("{}: {n} connection(s): {}", v.name(), v.advice()));
        }
    }
    out
}
