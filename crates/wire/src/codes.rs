//! Named wire values: server error codes, command bytes, auth plugin names.
//!
//! Each is a newtype over the raw wire value (rustls' `enum_builder!`
//! pattern, written out by hand): any value round-trips, known values have a
//! name, unknown ones print as a number. Connection-phase errors are the ones
//! operators meet in `Aborted_connects` post-mortems, so they are all here.

use std::fmt;

/// A server error code from an ERR packet (`ER_*`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ErrorCode(pub u16);

macro_rules! named_codes {
    ($ty:ident, $raw:ty, $table:ident, $( $(#[$m:meta])* $name:ident = $val:expr ),* $(,)?) => {
        impl $ty {
            $( $(#[$m])* pub const $name: $ty = $ty($val); )*
        }
        const $table: &[($raw, &str)] = &[ $( ($val, stringify!($name)) ),* ];
    };
}

named_codes! { ErrorCode, u16, ERROR_NAMES,
    /// 1040: too many connections (max_connections)
    ER_CON_COUNT_ERROR = 1040,
    /// 1041: out of memory
    ER_OUT_OF_RESOURCES = 1041,
    /// 1042: cannot resolve the client's host name
    ER_BAD_HOST_ERROR = 1042,
    /// 1043: bad handshake
    ER_HANDSHAKE_ERROR = 1043,
    /// 1044: access denied to the database
    ER_DBACCESS_DENIED_ERROR = 1044,
    /// 1045: access denied (wrong user or password)
    ER_ACCESS_DENIED_ERROR = 1045,
    /// 1046: no database selected
    ER_NO_DB_ERROR = 1046,
    /// 1047: unknown command
    ER_UNKNOWN_COM_ERROR = 1047,
    /// 1049: unknown database
    ER_BAD_DB_ERROR = 1049,
    /// 1053: server shutdown in progress
    ER_SERVER_SHUTDOWN = 1053,
    /// 1064: SQL syntax error
    ER_PARSE_ERROR = 1064,
    /// 1077: normal shutdown
    ER_NORMAL_SHUTDOWN = 1077,
    /// 1081: cannot create IP socket
    ER_IPSOCK_ERROR = 1081,
    /// 1129: host blocked after max_connect_errors (FLUSH HOSTS)
    ER_HOST_IS_BLOCKED = 1129,
    /// 1130: host not allowed to connect
    ER_HOST_NOT_PRIVILEGED = 1130,
    /// 1146: table does not exist
    ER_NO_SUCH_TABLE = 1146,
    /// 1152: aborted connection
    ER_ABORTING_CONNECTION = 1152,
    /// 1153: packet bigger than max_allowed_packet
    ER_NET_PACKET_TOO_LARGE = 1153,
    /// 1154: read error from the connection pipe
    ER_NET_READ_ERROR_FROM_PIPE = 1154,
    /// 1155: fcntl() error
    ER_NET_FCNTL_ERROR = 1155,
    /// 1156: packets out of order
    ER_NET_PACKETS_OUT_OF_ORDER = 1156,
    /// 1157: cannot uncompress a packet
    ER_NET_UNCOMPRESS_ERROR = 1157,
    /// 1158: error reading communication packets
    ER_NET_READ_ERROR = 1158,
    /// 1159: timeout reading communication packets
    ER_NET_READ_INTERRUPTED = 1159,
    /// 1160: error writing communication packets
    ER_NET_ERROR_ON_WRITE = 1160,
    /// 1161: timeout writing communication packets
    ER_NET_WRITE_INTERRUPTED = 1161,
    /// 1162: result string longer than max_allowed_packet
    ER_TOO_LONG_STRING = 1162,
    /// 1184: aborted new connection
    ER_NEW_ABORTING_CONNECTION = 1184,
    /// 1203: user has more than max_user_connections
    ER_TOO_MANY_USER_CONNECTIONS = 1203,
    /// 1226: a user resource limit was exceeded
    ER_USER_LIMIT_REACHED = 1226,
    /// 1227: missing privilege
    ER_SPECIFIC_ACCESS_DENIED_ERROR = 1227,
    /// 1251: client does not support the authentication protocol
    ER_NOT_SUPPORTED_AUTH_MODE = 1251,
    /// 1275: server is running with --secure-auth
    ER_SERVER_IS_IN_SECURE_AUTH_MODE = 1275,
    /// 1290: server option prevents the statement
    ER_OPTION_PREVENTS_STATEMENT = 1290,
    /// 1698: access denied, no password given
    ER_ACCESS_DENIED_NO_PASSWORD_ERROR = 1698,
    /// 1820: the password must be reset first
    ER_MUST_CHANGE_PASSWORD = 1820,
    /// 1862: the password has expired
    ER_MUST_CHANGE_PASSWORD_LOGIN = 1862,
    /// 3032: server is in offline mode
    ER_SERVER_OFFLINE_MODE = 3032,
    /// 3118: account is locked
    ER_ACCOUNT_HAS_BEEN_LOCKED = 3118,
    /// 3159: connections using insecure transport are prohibited
    ER_SECURE_TRANSPORT_REQUIRED = 3159,
    /// 3955: account blocked by failed-login password lock
    ER_USER_ACCESS_DENIED_FOR_USER_ACCOUNT_BLOCKED_BY_PASSWORD_LOCK = 3955,
    /// 4031: disconnected by the server for inactivity (wait_timeout)
    ER_CLIENT_INTERACTION_TIMEOUT = 4031,
    /// 4151: account is locked (MariaDB)
    ER_ACCOUNT_LOCKED_MARIADB = 4151,
}

impl ErrorCode {
    /// The `ER_*` name, if known.
    pub fn name(self) -> Option<&'static str> {
        ERROR_NAMES
            .iter()
            .find(|(v, _)| *v == self.0)
            .map(|(_, n)| *n)
    }
}

impl fmt::Debug for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "{n}({})", self.0),
            None => write!(f, "ErrorCode({})", self.0),
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A command byte (`COM_*`), the first byte of every command-phase request.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Command(pub u8);

named_codes! { Command, u8, COMMAND_NAMES,
    /// COM_SLEEP
    COM_SLEEP = 0,
    /// COM_QUIT
    COM_QUIT = 1,
    /// COM_INIT_DB
    COM_INIT_DB = 2,
    /// COM_QUERY
    COM_QUERY = 3,
    /// COM_FIELD_LIST
    COM_FIELD_LIST = 4,
    /// COM_CREATE_DB
    COM_CREATE_DB = 5,
    /// COM_DROP_DB
    COM_DROP_DB = 6,
    /// COM_REFRESH
    COM_REFRESH = 7,
    /// COM_SHUTDOWN
    COM_SHUTDOWN = 8,
    /// COM_STATISTICS
    COM_STATISTICS = 9,
    /// COM_PROCESS_INFO
    COM_PROCESS_INFO = 10,
    /// COM_CONNECT
    COM_CONNECT = 11,
    /// COM_PROCESS_KILL
    COM_PROCESS_KILL = 12,
    /// COM_DEBUG
    COM_DEBUG = 13,
    /// COM_PING
    COM_PING = 14,
    /// COM_TIME
    COM_TIME = 15,
    /// COM_DELAYED_INSERT
    COM_DELAYED_INSERT = 16,
    /// COM_CHANGE_USER
    COM_CHANGE_USER = 17,
    /// COM_BINLOG_DUMP
    COM_BINLOG_DUMP = 18,
    /// COM_TABLE_DUMP
    COM_TABLE_DUMP = 19,
    /// COM_CONNECT_OUT
    COM_CONNECT_OUT = 20,
    /// COM_REGISTER_SLAVE
    COM_REGISTER_SLAVE = 21,
    /// COM_STMT_PREPARE
    COM_STMT_PREPARE = 22,
    /// COM_STMT_EXECUTE
    COM_STMT_EXECUTE = 23,
    /// COM_STMT_SEND_LONG_DATA
    COM_STMT_SEND_LONG_DATA = 24,
    /// COM_STMT_CLOSE
    COM_STMT_CLOSE = 25,
    /// COM_STMT_RESET
    COM_STMT_RESET = 26,
    /// COM_SET_OPTION
    COM_SET_OPTION = 27,
    /// COM_STMT_FETCH
    COM_STMT_FETCH = 28,
    /// COM_DAEMON
    COM_DAEMON = 29,
    /// COM_BINLOG_DUMP_GTID
    COM_BINLOG_DUMP_GTID = 30,
    /// COM_RESET_CONNECTION
    COM_RESET_CONNECTION = 31,
    /// COM_CLONE
    COM_CLONE = 32,
    /// COM_SUBSCRIBE_GROUP_REPLICATION_STREAM
    COM_SUBSCRIBE_GROUP_REPLICATION_STREAM = 33,
    /// COM_STMT_BULK_EXECUTE (MariaDB)
    COM_STMT_BULK_EXECUTE = 250,
}

impl Command {
    /// The `COM_*` name, if known.
    pub fn name(self) -> Option<&'static str> {
        COMMAND_NAMES
            .iter()
            .find(|(v, _)| *v == self.0)
            .map(|(_, n)| *n)
    }

    /// The words Wireshark's Info column uses after "Request ".
    pub fn wireshark_label(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "SLEEP",
            1 => "Quit",
            2 => "Use Database",
            3 => "Query",
            4 => "Show Fields",
            5 => "Create Database",
            6 => "Drop Database",
            7 => "Refresh",
            8 => "Shutdown",
            9 => "Statistics",
            10 => "Process List",
            11 => "Connect",
            12 => "Kill Server Thread",
            13 => "Dump Debuginfo",
            14 => "Ping",
            15 => "Time",
            16 => "Insert Delayed",
            17 => "Change User",
            18 => "Send Binlog",
            19 => "Send Table",
            20 => "Slave Connect",
            21 => "Register Slave",
            22 => "Prepare Statement",
            23 => "Execute Statement",
            24 => "Send BLOB",
            25 => "Close Statement",
            26 => "Reset Statement",
            27 => "Set Option",
            28 => "Fetch Data",
            29 => "Daemon",
            30 => "Binlog Dump GTID",
            31 => "Reset Connection",
            32 => "Clone",
            33 => "Subscribe Group Replication Stream",
            250 => "Execute Bulk Statement",
            _ => return None,
        })
    }
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "Command({:#04x})", self.0),
        }
    }
}

/// Names of the authentication plugins this crate can compute responses for.
pub mod plugin {
    /// SHA1-based challenge/response (MySQL 4.1 to 5.7 default).
    pub const MYSQL_NATIVE_PASSWORD: &str = "mysql_native_password";
    /// SHA256 scramble with a server-side cache (MySQL 8 default).
    pub const CACHING_SHA2_PASSWORD: &str = "caching_sha2_password";
    /// RSA or TLS protected cleartext password (MySQL 5.6+).
    pub const SHA256_PASSWORD: &str = "sha256_password";
    /// MariaDB's Ed25519 variant (SHA-512 of the whole password).
    pub const CLIENT_ED25519: &str = "client_ed25519";
    /// Cleartext password; only acceptable over TLS.
    pub const MYSQL_CLEAR_PASSWORD: &str = "mysql_clear_password";
    /// Pre-4.1 scramble; no longer computed, only recognised.
    pub const MYSQL_OLD_PASSWORD: &str = "mysql_old_password";
    /// Unix socket peer credentials (MariaDB); no client data.
    pub const UNIX_SOCKET: &str = "unix_socket";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_unknowns() {
        assert_eq!(ErrorCode(1040).name(), Some("ER_CON_COUNT_ERROR"));
        assert_eq!(format!("{:?}", ErrorCode(1129)), "ER_HOST_IS_BLOCKED(1129)");
        assert_eq!(format!("{:?}", ErrorCode(9999)), "ErrorCode(9999)");
        assert_eq!(format!("{:?}", Command(0x99)), "Command(0x99)");
        assert_eq!(Command::COM_QUERY.wireshark_label(), Some("Query"));
    }
}
