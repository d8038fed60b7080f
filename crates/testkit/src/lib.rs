//! # hsp-testkit: a private MariaDB per test binary
//!
//! Tests must talk to a real server, never a mock, and must never touch a
//! server they did not start. [`MariaDb::start`] creates a temporary datadir
//! with `mariadb-install-db`, starts `mariadbd` on 127.0.0.1 on a free port
//! with its own socket and the options a test asks for (timeouts, limits,
//! TLS with certificates generated for the test), creates the test users,
//! and stops the server (by its PID) on drop.
//!
//! If MariaDB is not installed, it panics with a message naming
//! `scripts/setup.sh`: a missing prerequisite is a failure, never a skip.
#![warn(missing_docs)]

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// User with mysql_native_password.
pub const NATIVE_USER: (&str, &str) = ("hsp_native", "native-secret");
/// User with MariaDB's ed25519 plugin: a client starting with
/// mysql_native_password gets an AuthSwitchRequest to client_ed25519.
pub const ED25519_USER: (&str, &str) = ("hsp_ed25519", "ed25519-secret");
/// User with an empty password.
pub const EMPTY_USER: &str = "hsp_empty";

/// The hosts file of a server started with `name_resolve`.
pub const PRIVATE_HOSTS: &str =
    "127.0.0.1 localhost\n127.0.0.2 hsp-client-two\n127.0.0.3 hsp-client-three\n::1 localhost\n";

/// Server options a test can set.
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    /// `connect_timeout` in seconds (MariaDB raises values under 2 to 2).
    pub connect_timeout: Option<u32>,
    /// `wait_timeout` in seconds.
    pub wait_timeout: Option<u32>,
    /// `max_connections` (MariaDB raises values under 10 to 10).
    pub max_connections: Option<u32>,
    /// `max_connect_errors`.
    pub max_connect_errors: Option<u32>,
    /// Generate certificates and enable TLS.
    pub tls: bool,
    /// Resolve client host names (default: skip-name-resolve). The server
    /// then runs in a private mount namespace (`unshare -m`) with its own
    /// /etc/hosts ([`PRIVATE_HOSTS`]) and an empty /etc/resolv.conf, so no
    /// DNS query leaves the machine. MariaDB never counts connect errors
    /// for 127.0.0.1 or under skip-name-resolve, so tests that need
    /// `max_connect_errors` connect from 127.0.0.2.
    pub name_resolve: bool,
    /// Any further `--option=value` arguments.
    pub extra: Vec<String>,
}

/// Certificates generated for a TLS-enabled server.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// CA certificate (PEM) that signed the server certificate.
    pub ca: PathBuf,
    /// Server certificate (CN and SAN 127.0.0.1 / localhost).
    pub cert: PathBuf,
    /// Server key.
    pub key: PathBuf,
}

/// A running private MariaDB server.
#[derive(Debug)]
pub struct MariaDb {
    child: Child,
    dir: tempfile::TempDir,
    /// TCP port on 127.0.0.1.
    pub port: u16,
    /// Unix socket path.
    pub socket: PathBuf,
    /// Certificates, when started with TLS.
    pub tls: Option<TlsFiles>,
    /// Whether the ed25519 plugin loaded (and [`ED25519_USER`] exists).
    pub has_ed25519: bool,
}

fn find(bin: &str) -> Option<PathBuf> {
    for dir in ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"] {
        let p = Path::new(dir).join(bin);
        if p.exists() {
            return Some(p);
        }
    }
    None
}

fn require(bin: &str) -> PathBuf {
    find(bin).unwrap_or_else(|| {
        panic!("{bin} not found: the tests need a local MariaDB installation; run scripts/setup.sh (it installs mariadb-server, mariadb-client, openssl)")
    })
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port on 127.0.0.1");
    l.local_addr().expect("local addr").port()
}

fn run(cmd: &mut Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Generates a CA and a server certificate for 127.0.0.1 and localhost in `dir`.
pub fn make_certs(dir: &Path) -> TlsFiles {
    let openssl = require("openssl");
    let p = |n: &str| dir.join(n);
    run(
        Command::new(&openssl)
            .args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=hsp-test-ca",
            ])
            .arg("-keyout")
            .arg(p("ca-key.pem"))
            .arg("-out")
            .arg(p("ca.pem")),
        "openssl CA",
    );
    run(
        Command::new(&openssl)
            .args([
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=127.0.0.1",
            ])
            .arg("-keyout")
            .arg(p("server-key.pem"))
            .arg("-out")
            .arg(p("server.csr")),
        "openssl server CSR",
    );
    std::fs::write(p("san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        .expect("write san.ext");
    run(
        Command::new(&openssl)
            .args(["x509", "-req", "-days", "2", "-CAcreateserial"])
            .arg("-in")
            .arg(p("server.csr"))
            .arg("-CA")
            .arg(p("ca.pem"))
            .arg("-CAkey")
            .arg(p("ca-key.pem"))
            .arg("-extfile")
            .arg(p("san.ext"))
            .arg("-out")
            .arg(p("server.pem")),
        "openssl sign",
    );
    TlsFiles {
        ca: p("ca.pem"),
        cert: p("server.pem"),
        key: p("server-key.pem"),
    }
}

impl MariaDb {
    /// Starts a server with default options.
    pub fn start_default() -> Self {
        Self::start(&ServerOptions::default())
    }

    /// Starts a server with `opts`; panics (naming scripts/setup.sh when
    /// MariaDB is missing) if it cannot.
    pub fn start(opts: &ServerOptions) -> Self {
        let mariadbd = require("mariadbd");
        let install = require("mariadb-install-db");
        require("mariadb");
        let dir = tempfile::Builder::new()
            .prefix("hsp-mariadb-")
            .tempdir()
            .expect("create a temporary directory");
        let data = dir.path().join("data");
        // A private tmpdir: mariadbd names its temporary tables after its
        // PID, and bootstraps running side by side in one /tmp have been
        // seen to delete each other's (CI: "Error on delete of
        // '/tmp/#sql-temptable-...'", then install-db fails).
        let tmp = dir.path().join("tmp");
        std::fs::create_dir(&tmp).expect("create the server's tmpdir");
        let mut cmd = Command::new(&install);
        cmd.env("TMPDIR", &tmp)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .args([
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                "--user=root",
            ]);
        run(&mut cmd, "mariadb-install-db");

        let tls = opts.tls.then(|| make_certs(dir.path()));
        let port = free_port();
        let socket = dir.path().join("mysqld.sock");
        let mut args: Vec<String> = vec![
            "--no-defaults".into(),
            format!("--datadir={}", data.display()),
            format!("--socket={}", socket.display()),
            format!("--tmpdir={}", tmp.display()),
            format!("--port={port}"),
            "--bind-address=127.0.0.1".into(),
            "--user=root".into(),
            format!("--pid-file={}", dir.path().join("mysqld.pid").display()),
            format!("--log-error={}", dir.path().join("error.log").display()),
            "--plugin-load-add=auth_ed25519".into(),
            "--innodb-buffer-pool-size=16M".into(),
            "--skip-log-bin".into(),
        ];
        if !opts.name_resolve {
            args.push("--skip-name-resolve".into());
        }
        let opt = |name: &str, v: Option<u32>| v.map(|v| format!("--{name}={v}"));
        args.extend(opt("connect-timeout", opts.connect_timeout));
        args.extend(opt("wait-timeout", opts.wait_timeout));
        args.extend(opt("max-connections", opts.max_connections));
        args.extend(opt("max-connect-errors", opts.max_connect_errors));
        if let Some(t) = &tls {
            args.push(format!("--ssl-ca={}", t.ca.display()));
            args.push(format!("--ssl-cert={}", t.cert.display()));
            args.push(format!("--ssl-key={}", t.key.display()));
        }
        args.extend(opts.extra.iter().cloned());
        let mut command = if opts.name_resolve {
            let hosts = dir.path().join("hosts");
            let resolv = dir.path().join("resolv.conf");
            std::fs::write(&hosts, PRIVATE_HOSTS).expect("write the private hosts file");
            std::fs::write(&resolv, "").expect("write the empty resolv.conf");
            let unshare = require("unshare");
            let mut c = Command::new(unshare);
            c.args(["-m", "sh", "-c"]).arg(format!(
                "mount --bind '{}' /etc/hosts && mount --bind '{}' /etc/resolv.conf && exec \"$0\" \"$@\"",
                hosts.display(),
                resolv.display()
            ));
            c.arg(&mariadbd);
            c
        } else {
            Command::new(&mariadbd)
        };
        let child = command
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn mariadbd");
        // Tests often keep the server in a `static`, which Rust never drops:
        // a watchdog stops this mariadbd (by PID, only if it is still the
        // process serving our datadir) once the test process has exited.
        let watchdog = format!(
            "while kill -0 {me} 2>/dev/null; do sleep 0.5; done; \
             if grep -qF '{data}' /proc/{pid}/cmdline 2>/dev/null; then kill -TERM {pid}; sleep 10; kill -KILL {pid} 2>/dev/null; fi; \
             rm -rf '{dir}'",
            me = std::process::id(),
            pid = child.id(),
            data = data.display(),
            dir = dir.path().display(),
        );
        #[allow(
            clippy::zombie_processes,
            reason = "the watchdog must outlive this process; init reaps it"
        )]
        let _watchdog = Command::new("sh")
            .args(["-c", &watchdog])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the watchdog");
        let mut db = Self {
            child,
            dir,
            port,
            socket,
            tls,
            has_ed25519: false,
        };
        db.wait_ready();
        db.create_users();
        db
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().expect("poll mariadbd") {
                panic!(
                    "mariadbd exited early ({status}); its log:\n{}",
                    self.error_log()
                );
            }
            if let Ok(mut s) = TcpStream::connect_timeout(&self.addr(), Duration::from_millis(200))
            {
                // A greeting (or ERR) means the server accepts connections.
                s.set_read_timeout(Some(Duration::from_secs(2))).ok();
                let mut b = [0u8; 4];
                if s.read_exact(&mut b).is_ok() && self.socket.exists() {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "mariadbd did not start within 60 s; its log:\n{}",
                self.error_log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn create_users(&mut self) {
        let (nu, np) = NATIVE_USER;
        self.sql(&format!(
            "CREATE USER '{nu}'@'%' IDENTIFIED VIA mysql_native_password USING PASSWORD('{np}'); GRANT ALL ON *.* TO '{nu}'@'%';\
             CREATE USER '{EMPTY_USER}'@'%'; CREATE DATABASE hsp_test;"
        ));
        let (eu, ep) = ED25519_USER;
        let plugin = self.sql("SELECT COUNT(*) FROM information_schema.PLUGINS WHERE PLUGIN_NAME='ed25519' AND PLUGIN_STATUS='ACTIVE'");
        if plugin.trim() == "1" {
            self.sql(&format!("CREATE USER '{eu}'@'%' IDENTIFIED VIA ed25519 USING PASSWORD('{ep}'); GRANT ALL ON *.* TO '{eu}'@'%';"));
            self.has_ed25519 = true;
        }
    }

    /// 127.0.0.1:port.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The server's PID (for SIGSTOP/SIGKILL in fault tests).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The temporary directory holding datadir, socket and logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server's error log so far.
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }

    /// Runs SQL as root over the Unix socket with the `mariadb` client;
    /// returns its tab-separated output without column names.
    pub fn sql(&self, sql: &str) -> String {
        let out = Command::new(require("mariadb"))
            .arg("--no-defaults")
            .arg(format!("--socket={}", self.socket.display()))
            .args(["-uroot", "--batch", "--skip-column-names", "-e", sql])
            .output()
            .expect("run the mariadb client");
        assert!(
            out.status.success(),
            "SQL failed: {sql}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Sends `signal` (e.g. "STOP", "CONT", "KILL") to this server's PID.
    pub fn signal(&self, signal: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -{signal} {} failed", self.child.id());
    }

    /// `SHOW GLOBAL STATUS LIKE 'name'` as a number.
    pub fn status(&self, name: &str) -> u64 {
        let out = self.sql(&format!("SHOW GLOBAL STATUS LIKE '{name}'"));
        out.split_whitespace()
            .nth(1)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("status {name}: {out}"))
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        // Ask politely (SIGTERM to our own child's PID), then insist.
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("kill").args(["-CONT", &pid]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
