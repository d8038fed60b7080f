//! Capability and status flags.
//!
//! All flag sets are bitflags 2 types built with `from_bits_retain`, so bits
//! this crate does not know (a future MySQL, a fork) survive a decode/encode
//! round trip and show up as `UNKNOWN(0x..)` in [`flag_names`], never dropped.
//!
//! References: dev.mysql.com `group__group__cs__capabilities__flags`,
//! MariaDB KB "Connection" (extended capabilities).

use bitflags::bitflags;

bitflags! {
    /// `CLIENT_*` capability flags (the 32-bit set exchanged in the greeting
    /// and the login request).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct Capabilities: u32 {
        /// CLIENT_LONG_PASSWORD; MariaDB calls it CLIENT_MYSQL and clears it
        /// to announce its extended capabilities.
        const LONG_PASSWORD = 1;
        /// CLIENT_FOUND_ROWS
        const FOUND_ROWS = 1 << 1;
        /// CLIENT_LONG_FLAG
        const LONG_FLAG = 1 << 2;
        /// CLIENT_CONNECT_WITH_DB
        const CONNECT_WITH_DB = 1 << 3;
        /// CLIENT_NO_SCHEMA
        const NO_SCHEMA = 1 << 4;
        /// CLIENT_COMPRESS
        const COMPRESS = 1 << 5;
        /// CLIENT_ODBC
        const ODBC = 1 << 6;
        /// CLIENT_LOCAL_FILES
        const LOCAL_FILES = 1 << 7;
        /// CLIENT_IGNORE_SPACE
        const IGNORE_SPACE = 1 << 8;
        /// CLIENT_PROTOCOL_41
        const PROTOCOL_41 = 1 << 9;
        /// CLIENT_INTERACTIVE
        const INTERACTIVE = 1 << 10;
        /// CLIENT_SSL
        const SSL = 1 << 11;
        /// CLIENT_IGNORE_SIGPIPE
        const IGNORE_SIGPIPE = 1 << 12;
        /// CLIENT_TRANSACTIONS
        const TRANSACTIONS = 1 << 13;
        /// CLIENT_RESERVED
        const RESERVED = 1 << 14;
        /// CLIENT_SECURE_CONNECTION (CLIENT_RESERVED2)
        const SECURE_CONNECTION = 1 << 15;
        /// CLIENT_MULTI_STATEMENTS
        const MULTI_STATEMENTS = 1 << 16;
        /// CLIENT_MULTI_RESULTS
        const MULTI_RESULTS = 1 << 17;
        /// CLIENT_PS_MULTI_RESULTS
        const PS_MULTI_RESULTS = 1 << 18;
        /// CLIENT_PLUGIN_AUTH
        const PLUGIN_AUTH = 1 << 19;
        /// CLIENT_CONNECT_ATTRS
        const CONNECT_ATTRS = 1 << 20;
        /// CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA
        const PLUGIN_AUTH_LENENC_CLIENT_DATA = 1 << 21;
        /// CLIENT_CAN_HANDLE_EXPIRED_PASSWORDS
        const CAN_HANDLE_EXPIRED_PASSWORDS = 1 << 22;
        /// CLIENT_SESSION_TRACK
        const SESSION_TRACK = 1 << 23;
        /// CLIENT_DEPRECATE_EOF
        const DEPRECATE_EOF = 1 << 24;
        /// CLIENT_OPTIONAL_RESULTSET_METADATA
        const OPTIONAL_RESULTSET_METADATA = 1 << 25;
        /// CLIENT_ZSTD_COMPRESSION_ALGORITHM
        const ZSTD_COMPRESSION_ALGORITHM = 1 << 26;
        /// CLIENT_QUERY_ATTRIBUTES
        const QUERY_ATTRIBUTES = 1 << 27;
        /// MULTI_FACTOR_AUTHENTICATION
        const MULTI_FACTOR_AUTHENTICATION = 1 << 28;
        /// CLIENT_CAPABILITY_EXTENSION
        const CAPABILITY_EXTENSION = 1 << 29;
        /// CLIENT_SSL_VERIFY_SERVER_CERT
        const SSL_VERIFY_SERVER_CERT = 1 << 30;
        /// CLIENT_REMEMBER_OPTIONS
        const REMEMBER_OPTIONS = 1 << 31;
    }
}

bitflags! {
    /// MariaDB's extended capabilities, carried in the last four "reserved"
    /// bytes of the greeting and login request when CLIENT_LONG_PASSWORD
    /// (CLIENT_MYSQL) is clear.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct MariaDbCapabilities: u32 {
        /// MARIADB_CLIENT_PROGRESS
        const PROGRESS = 1;
        /// MARIADB_CLIENT_COM_MULTI
        const COM_MULTI = 1 << 1;
        /// MARIADB_CLIENT_STMT_BULK_OPERATIONS
        const STMT_BULK_OPERATIONS = 1 << 2;
        /// MARIADB_CLIENT_EXTENDED_METADATA
        const EXTENDED_METADATA = 1 << 3;
        /// MARIADB_CLIENT_CACHE_METADATA
        const CACHE_METADATA = 1 << 4;
        /// MARIADB_CLIENT_BULK_UNIT_RESULTS
        const BULK_UNIT_RESULTS = 1 << 5;
    }
}

bitflags! {
    /// `SERVER_STATUS_*` flags of the greeting, OK and EOF packets.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct StatusFlags: u16 {
        /// SERVER_STATUS_IN_TRANS
        const IN_TRANS = 1;
        /// SERVER_STATUS_AUTOCOMMIT
        const AUTOCOMMIT = 1 << 1;
        /// SERVER_MORE_RESULTS_EXISTS
        const MORE_RESULTS_EXISTS = 1 << 3;
        /// SERVER_QUERY_NO_GOOD_INDEX_USED
        const NO_GOOD_INDEX_USED = 1 << 4;
        /// SERVER_QUERY_NO_INDEX_USED
        const NO_INDEX_USED = 1 << 5;
        /// SERVER_STATUS_CURSOR_EXISTS
        const CURSOR_EXISTS = 1 << 6;
        /// SERVER_STATUS_LAST_ROW_SENT
        const LAST_ROW_SENT = 1 << 7;
        /// SERVER_STATUS_DB_DROPPED
        const DB_DROPPED = 1 << 8;
        /// SERVER_STATUS_NO_BACKSLASH_ESCAPES
        const NO_BACKSLASH_ESCAPES = 1 << 9;
        /// SERVER_STATUS_METADATA_CHANGED
        const METADATA_CHANGED = 1 << 10;
        /// SERVER_QUERY_WAS_SLOW
        const QUERY_WAS_SLOW = 1 << 11;
        /// SERVER_PS_OUT_PARAMS
        const PS_OUT_PARAMS = 1 << 12;
        /// SERVER_STATUS_IN_TRANS_READONLY
        const IN_TRANS_READONLY = 1 << 13;
        /// SERVER_SESSION_STATE_CHANGED
        const SESSION_STATE_CHANGED = 1 << 14;
    }
}

/// Names of the set bits of any bitflags value, unknown bits last as
/// `UNKNOWN(0x...)`.
pub fn flag_names<F: bitflags::Flags>(f: &F) -> Vec<String>
where
    F::Bits: std::fmt::LowerHex + PartialEq + Default,
{
    let mut names: Vec<String> = f.iter_names().map(|(n, _)| n.to_string()).collect();
    let unknown = f.bits() & !F::all().bits();
    if unknown != F::Bits::default() {
        names.push(format!("UNKNOWN({unknown:#x})"));
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_bits_are_kept_and_named() {
        let s = StatusFlags::from_bits_retain(0x8002);
        assert_eq!(s.bits(), 0x8002);
        assert_eq!(flag_names(&s), vec!["AUTOCOMMIT", "UNKNOWN(0x8000)"]);
        let m = MariaDbCapabilities::from_bits_retain(0x1_0001);
        assert_eq!(flag_names(&m), vec!["PROGRESS", "UNKNOWN(0x10000)"]);
    }

    #[test]
    fn mysql8_capabilities_have_names() {
        let c = Capabilities::QUERY_ATTRIBUTES
            | Capabilities::ZSTD_COMPRESSION_ALGORITHM
            | Capabilities::MULTI_FACTOR_AUTHENTICATION
            | Capabilities::CAPABILITY_EXTENSION
            | Capabilities::SSL_VERIFY_SERVER_CERT;
        assert_eq!(flag_names(&c).len(), 5);
        assert_eq!(c.bits(), 0x7c00_0000);
    }
}
