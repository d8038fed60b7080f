//! # hsp-errlog: the server's own account, joined to the wire
//!
//! With `log_warnings=4` (MariaDB) or `log_error_verbosity=3` (MySQL) the
//! error log names every aborted connection by its thread id, which is the
//! connection id the server put in its greeting. This crate reads MariaDB
//! 10.x/11.x and MySQL 5.7/8.x text error logs ([`parse`]), tells the
//! server's runs apart (thread ids restart with the server) and joins each
//! line to the connection whose greeting carried its thread id, within
//! that run and the connection's time ([`ErrorLog`]). What the lines say
//! is hsp-core's (`server_log`): evidence, and a verdict where the capture
//! could not decide.
#![warn(missing_docs)]

mod join;
pub mod parse;

pub use join::{ErrorLog, LogReport};
