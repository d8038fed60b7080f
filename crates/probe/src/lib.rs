//! # hsp-probe: live handshakes, timed phase by phase
//!
//! The tokio driver of handshake-probe. It owns the sockets and the clock;
//! everything else is shared with the capture decoder: hsp-wire's
//! [`ClientHandshake`](hsp_wire::client::ClientHandshake) decides what to
//! send, hsp-core's [`classify`](fn@hsp_core::classify) decides the verdict
//! from the [`Facts`](hsp_core::Facts) this crate measures.
//!
//! - [`attempt`]: one connection: connect, greeting, TLS, login, auth
//!   rounds, each read and write under the `--timeout` deadline, the
//!   `--login-delay` knob (watching the socket while it waits, so a server
//!   that gives up is seen at the moment it does), TCP_INFO at the end.
//! - [`run`](mod@run): many connections: concurrency, a global rate, count and
//!   duration limits, Ctrl-C with a grace period; records stream out over a
//!   channel, statistics stay per worker and merge at the end.
//! - [`session`]: a logged-in connection that runs a few queries, for the
//!   server's own counters before and after a run.
//! - [`tls`]: rustls configured per `--ssl-mode`, as the mysql client reads it.
#![warn(missing_docs)]

pub mod attempt;
pub mod config;
pub mod guard;
mod open;
pub mod run;
pub mod session;
mod stream;
mod tcp;
pub mod tls;

pub use config::{Credentials, Family, ProbeConfig, SslMode};
pub use run::{RunReport, run};
pub use stream::Io;
