//! # hsp-wire: the MySQL/MariaDB wire protocol, sans I/O
//!
//! One codec and two handshake machines shared by everything handshake-probe
//! does. Nothing here opens a socket or reads a clock: callers hand in bytes
//! and timestamps and get packets and events back, so the live probe, the
//! capture decoder, the fuzzers and the tests all drive the same code
//! (the rustls model).
//!
//! Layers, bottom up:
//! - [`reader`]: the primitive types (fixed ints, length-encoded ints and
//!   strings, NUL strings) on top of nom 8;
//! - [`frame`]: the 4-byte packet header, 16 MiB splitting, the streaming
//!   [`frame::Deframer`]; [`compress`]: zlib/zstd compressed packets;
//! - [`packets`]: every packet type, decode and encode, byte-exact;
//! - [`observer`]: the passive two-direction state machine for captures;
//!   [`client`]: the active client-side handshake for the probe;
//! - [`auth`]: the auth plugin responses as pure functions;
//! - [`codes`], [`flags`]: named error codes, commands, capability bits.
//!
//! Spec: dev.mysql.com "Client/Server Protocol" (connection phase, command
//! phase, compression) and the MariaDB KB "Clients & Connectors / Protocol".
#![warn(missing_docs)]

pub mod auth;
pub mod client;
pub mod codes;
pub mod compress;
mod error;
pub mod flags;
pub mod frame;
pub mod observer;
pub mod packets;
pub mod reader;
pub mod tls_record;

pub use error::WireError;
