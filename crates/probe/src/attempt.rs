//! One connection, timed phase by phase.
//!
//! ```text
//!  connect --> Greeting --greeting--> ClientReply --SSLRequest--> Tls --login--> Login --answer--> Auth
//!    |            |                       |  (--login-delay: the socket     |               |  rounds
//!    |            +--ERR (1040, 1129)     |   is watched, so a server       |               +--> OK / ERR
//!    v            v                       v   that gives up is seen then)   v
//!  no_server   refused              server_timeout                     reading authorization packet
//! ```
//!
//! Every read and write runs under one deadline (`--timeout`, plus the
//! deliberate `--login-delay`), so nothing hangs; a packet length over
//! [`HANDSHAKE_MAX_PACKET`] is rejected from its header, so a forged 16 MiB
//! length is neither waited for nor buffered. The phase in progress when
//! the connection ends keeps the time spent in it; [`Attempt::finish`] turns
//! all of it into [`Facts`] and a classified [`ConnectionRecord`].

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hsp_core::classify::{AppError, End, Facts, Viewpoint};
use hsp_core::evidence;
use hsp_core::phase::{Clock, Phase, PhaseClocks, PhaseTimes, micros};
use hsp_core::record::{AuthInfo, ConnectionRecord, Details, ServerError, TcpInfo, TlsInfo};
use hsp_wire::client::{
    ClientAction, ClientConfig, ClientHandshake, HandshakeError, Secret, TlsWanted,
};
use hsp_wire::frame::{Deframer, Frame, RawPacket};
use hsp_wire::packets::{Ctx, ErrPacket};
use rustls::pki_types::ServerName;
use tokio::time::{Instant, sleep_until, timeout_at};

use crate::config::{NO_SUCH_USER, ProbeConfig, SslMode};
use crate::stream::{Io, Stream};
use crate::tcp::Socket;

/// The largest packet accepted during the handshake. A greeting is under
/// 200 bytes and an RSA public key under 1 KiB; a bigger announced length
/// is a forged or foreign byte stream.
pub const HANDSHAKE_MAX_PACKET: usize = 64 * 1024;

/// What every attempt of a run shares.
#[derive(Debug)]
pub struct Shared {
    /// The run's options.
    pub cfg: ProbeConfig,
    /// rustls config (`None` with `--ssl-mode DISABLED`).
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// The name TLS verifies.
    pub server_name: ServerName<'static>,
    /// When the run began (records carry `start_us` from here).
    pub run_start: Instant,
    /// The same moment on the wall clock (records' `time` from here, so
    /// that a clock step during the run does not reorder them).
    pub run_wall: hsp_core::wall::WallTime,
    /// Keeps the kernel's receive stamping on for the whole run.
    _stamping: Option<crate::tcp::StampingOn>,
}

impl Shared {
    /// Shared state for `cfg`.
    pub fn new(cfg: ProbeConfig) -> Result<Self, crate::tls::TlsSetupError> {
        let tls = crate::tls::client_config(cfg.ssl_mode, cfg.ssl_ca.as_deref())?;
        let server_name = crate::tls::server_name(&cfg.host);
        Ok(Self {
            cfg,
            tls,
            server_name,
            run_start: Instant::now(),
            run_wall: hsp_core::wall::WallTime::now(),
            _stamping: crate::tcp::StampingOn::new(),
        })
    }

    fn client_config(&self) -> ClientConfig {
        let (user, password) = match &self.cfg.credentials {
            Some(c) => (c.user.clone(), c.password.clone()),
            // A password nobody has: the answer is ERR 1045 even where an
            // anonymous account exists.
            None => (
                NO_SUCH_USER.to_string(),
                Secret::new(format!("hsp-{:x}", rand_u64())),
            ),
        };
        let mut c = ClientConfig::new(user, password);
        c.database.clone_from(&self.cfg.database);
        c.auth_plugin.clone_from(&self.cfg.auth_plugin);
        c.get_server_public_key = self.cfg.get_server_public_key;
        c.tls = match self.cfg.ssl_mode {
            SslMode::Disabled => TlsWanted::No,
            SslMode::Preferred => TlsWanted::IfOffered,
            _ => TlsWanted::Required,
        };
        c
    }
}

/// A number that differs between calls and runs (std's hash keys; no
/// cryptographic use: a password nobody has, a jitter).
pub fn rand_u64() -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(0u64)
}

/// How one address's connect failed.
enum Retry {
    /// Refused or unreachable: the name's next address may answer.
    Next(io::Error),
    /// The attempt ends.
    Final(End),
}

/// One connection in progress.
#[derive(Debug)]
pub struct Attempt<'a> {
    shared: &'a Shared,
    id: u64,
    addr: SocketAddr,
    /// The name's other addresses, tried in turn when `addr` refuses.
    fallbacks: Vec<SocketAddr>,
    start: Instant,
    deadline: Instant,
    phase: Phase,
    /// When the phase in progress began: the event that ended the one
    /// before, on the clock that timed it.
    phase_start: Instant,
    phases: PhaseTimes,
    clocks: PhaseClocks,
    greeting_at: Option<Instant>,
    last_server_packet: Option<(Instant, Clock)>,
    login_sent: Option<Instant>,
    first_answer: Option<Instant>,
    answers: u32,
    stream: Option<Stream>,
    deframer: Deframer,
    hs: ClientHandshake,
    local: Option<SocketAddr>,
    write_failed: bool,
    errno: Option<i32>,
    client_error: Option<AppError>,
    server_err: Option<(ErrPacket, bool)>,
    tls_info: Option<TlsInfo>,
    tcp_info: Option<TcpInfo>,
    evidence: Vec<String>,
}

fn errno_of(e: &io::Error) -> i32 {
    e.raw_os_error().unwrap_or(match e.kind() {
        io::ErrorKind::ConnectionReset => libc::ECONNRESET,
        io::ErrorKind::BrokenPipe => libc::EPIPE,
        io::ErrorKind::TimedOut => libc::ETIMEDOUT,
        _ => 0,
    })
}

impl<'a> Attempt<'a> {
    /// A connection to `addr`; `dns` is the resolution time, if this
    /// attempt resolved the name itself.
    pub fn new(shared: &'a Shared, id: u64, addr: SocketAddr, dns: Option<Duration>) -> Self {
        let now = Instant::now();
        let mut phases = PhaseTimes::default();
        if let Some(d) = dns {
            phases.set(Phase::Dns, d);
        }
        Self {
            shared,
            id,
            addr,
            fallbacks: Vec::new(),
            start: now,
            deadline: now + shared.cfg.timeout + shared.cfg.login_delay,
            phase: Phase::TcpConnect,
            phase_start: now,
            phases,
            clocks: PhaseClocks::default(),
            greeting_at: None,
            last_server_packet: None,
            login_sent: None,
            first_answer: None,
            answers: 0,
            stream: None,
            deframer: Deframer::new(HANDSHAKE_MAX_PACKET),
            hs: ClientHandshake::new(shared.client_config()),
            local: None,
            write_failed: false,
            errno: None,
            client_error: None,
            server_err: None,
            tls_info: None,
            tcp_info: None,
            evidence: Vec::new(),
        }
    }

    /// A connection already made, over any byte stream (a Unix socket, or
    /// `tokio::io::duplex` to a scripted server in tests, with paused
    /// time): the handshake runs from the greeting on; `peer` names the
    /// server in the record. No TCP_INFO, no TLS.
    pub fn over(shared: &'a Shared, id: u64, peer: SocketAddr, io: impl Io + 'static) -> Self {
        let mut a = Self::new(shared, id, peer, None);
        a.phases.set(Phase::TcpConnect, Duration::ZERO);
        a.phase = Phase::Greeting;
        a.stream = Some(Stream::Other(Box::new(io)));
        a
    }

    /// When `addr` refuses the connection (or cannot be reached), tries
    /// `rest` in turn, as libmysqlclient does with a name's addresses
    /// (`localhost` is ::1 and 127.0.0.1); the record names the address
    /// that answered, and `tcp_connect` counts every try.
    #[must_use]
    pub fn or_else_try(mut self, rest: &[SocketAddr]) -> Self {
        self.fallbacks = rest.to_vec();
        self
    }

    /// The phase in progress ended at `at`, timed by `clock`; `next`
    /// begins there.
    fn end_phase(&mut self, at: Instant, clock: Clock, next: Phase) {
        self.phases
            .set(self.phase, at.saturating_duration_since(self.phase_start));
        self.clocks.set(self.phase, clock);
        self.phase = next;
        self.phase_start = at;
    }

    /// When the packet just read arrived: the kernel's stamp of the read
    /// that completed it, else now. A stamp outside the phase (a clock
    /// step) is not believed.
    fn arrival(&self) -> (Instant, Clock) {
        let now = Instant::now();
        match self.stream.as_ref().and_then(Stream::last_arrival) {
            Some(t) if t >= self.phase_start && t <= now => (t, Clock::KernelRx),
            _ => (now, Clock::Wakeup),
        }
    }

    /// Writes `b`, and says when it went: just before the send call that
    /// carried its last bytes (TLS encrypts first), else just before the
    /// write.
    async fn send(&mut self, b: &[u8]) -> Result<Instant, End> {
        let before = Instant::now();
        self.write(b).await?;
        let at = self.stream.as_ref().and_then(Stream::last_send);
        Ok(at.filter(|t| *t >= before).unwrap_or(before))
    }

    /// Runs the handshake to its end. Cancel-safe: dropping the future
    /// leaves the attempt ready for [`finish`](Self::finish) with
    /// [`End::Interrupted`].
    pub async fn drive(&mut self) -> End {
        if self.stream.is_none()
            && let Err(end) = self.connect().await
        {
            return end;
        }
        loop {
            let p = match self.read_packet().await {
                Ok(p) => p,
                Err(end) => return end,
            };
            let (at, clock) = self.arrival();
            self.last_server_packet = Some((at, clock));
            if self.phase == Phase::Greeting {
                self.phases.set(
                    Phase::Greeting,
                    at.saturating_duration_since(self.phase_start),
                );
                self.clocks.set(Phase::Greeting, clock);
                self.greeting_at = Some(at);
            } else if self.login_sent.is_some() {
                self.answers += 1;
                if self.first_answer.is_none() {
                    self.first_answer = Some(at);
                    self.end_phase(at, clock, Phase::Auth);
                }
            }
            let actions = match self.hs.on_packet(&p) {
                Ok(a) => a,
                Err(e) => return self.handshake_error(e),
            };
            if self.phase == Phase::Greeting && self.hs.greeting().is_some() {
                self.end_phase(at, clock, Phase::ClientReply);
            }
            for a in actions {
                if let Some(end) = self.act(a).await {
                    return end;
                }
            }
        }
    }

    async fn act(&mut self, a: ClientAction) -> Option<End> {
        match a {
            ClientAction::Send(bytes) => {
                if self.phase == Phase::ClientReply
                    && let Err(end) = self.login_delay().await
                {
                    return Some(end);
                }
                let at = match self.send(&bytes).await {
                    Ok(at) => at,
                    Err(end) => return Some(end),
                };
                if self.phase == Phase::ClientReply
                    && self
                        .hs
                        .negotiated()
                        .contains(hsp_wire::flags::Capabilities::SSL)
                    && self.tls_info.is_none()
                {
                    // The SSLRequest: the TLS handshake follows.
                    self.end_phase(at, Clock::Send, Phase::Tls);
                    return None;
                }
                if self.login_sent.is_none() {
                    self.login_sent = Some(at);
                    self.end_phase(at, Clock::Send, Phase::Login);
                }
                None
            }
            ClientAction::StartTls => self.start_tls().await.err(),
            ClientAction::Done(_ok) => {
                self.close_auth_phase();
                Some(End::Completed)
            }
            ClientAction::Refused { err, greeting } => {
                self.close_auth_phase();
                let code = err.code.0;
                self.server_err = Some((err, greeting));
                Some(End::ServerError {
                    code,
                    replaced_greeting: greeting,
                })
            }
        }
    }

    /// The `auth` phase exists when the server answered the login with
    /// more than its final OK/ERR (switch, more data, fast-auth byte).
    fn close_auth_phase(&mut self) {
        if let Some(first) = self.first_answer
            && let Some((last, clock)) = self.last_server_packet
            && self.answers > 1
        {
            self.phases
                .set(Phase::Auth, last.saturating_duration_since(first));
            self.clocks.set(Phase::Auth, clock);
        }
    }

    async fn connect(&mut self) -> Result<(), End> {
        if let Some(path) = self.shared.cfg.socket.clone() {
            return self.connect_unix(&path).await;
        }
        let mut first = true;
        loop {
            match self.connect_one(std::mem::take(&mut first)).await {
                Err(Retry::Next(e)) if !self.fallbacks.is_empty() => {
                    let next = self.fallbacks.remove(0);
                    self.evidence
                        .push(evidence::probe::address_failed(self.addr, &e, next));
                    self.addr = next;
                }
                Err(Retry::Next(e)) => {
                    return Err(if e.kind() == io::ErrorKind::ConnectionRefused {
                        End::ConnectRefused
                    } else {
                        self.evidence.push(evidence::probe::connect_failed(&e));
                        End::ConnectFailed {
                            errno: errno_of(&e),
                        }
                    });
                }
                Err(Retry::Final(end)) => return Err(end),
                Ok(()) => return Ok(()),
            }
        }
    }

    /// `-S`: the server's Unix socket. `tcp_connect` is the socket's
    /// connect; no network lies in between.
    async fn connect_unix(&mut self, path: &std::path::Path) -> Result<(), End> {
        self.start_clock();
        match timeout_at(self.deadline, tokio::net::UnixStream::connect(path)).await {
            Err(_) => Err(End::ConnectTimedOut),
            Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionRefused => Err(End::ConnectRefused),
            Ok(Err(e)) => {
                self.evidence.push(evidence::probe::connect_failed(&e));
                Err(End::ConnectFailed {
                    errno: errno_of(&e),
                })
            }
            Ok(Ok(s)) => {
                self.end_phase(Instant::now(), Clock::Wakeup, Phase::Greeting);
                self.stream = Some(Stream::Other(Box::new(s)));
                Ok(())
            }
        }
    }

    /// The first connect call starts the clock, as the SYN does on the
    /// wire (making the socket is the probe's own time).
    fn start_clock(&mut self) {
        self.start = Instant::now();
        self.phase_start = self.start;
    }

    /// One connect to `self.addr`; the `first` of the name's addresses
    /// starts the clock.
    async fn connect_one(&mut self, first: bool) -> Result<(), Retry> {
        let fail = |e: io::Error| {
            Retry::Final(End::ConnectFailed {
                errno: errno_of(&e),
            })
        };
        // A socket of the other family: an address this host cannot use
        // (no IPv6 stack) moves on to the next.
        let sock = Socket::new(self.addr).map_err(Retry::Next)?;
        if let Some(ip) = self.shared.cfg.bind {
            sock.bind(ip).map_err(|e| {
                self.evidence.push(evidence::probe::cannot_bind(ip, &e));
                fail(e)
            })?;
        }
        if first {
            self.start_clock();
        }
        let called = Instant::now();
        match timeout_at(self.deadline, sock.connect(self.addr)).await {
            Err(_) => Err(Retry::Final(End::ConnectTimedOut)),
            Ok(Err(e))
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionRefused
                        | io::ErrorKind::NetworkUnreachable
                        | io::ErrorKind::HostUnreachable
                        | io::ErrorKind::AddrNotAvailable
                ) =>
            {
                Err(Retry::Next(e))
            }
            Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionReset => {
                // The server accepted, then reset before the connect was
                // seen complete: a reset in the greeting, not a missing server.
                self.end_phase(Instant::now(), Clock::Wakeup, Phase::Greeting);
                self.evidence.push(evidence::probe::RESET_AT_CONNECT.into());
                self.errno = Some(errno_of(&e));
                Err(Retry::Final(End::ServerClosed { reset: true }))
            }
            Ok(Err(e)) => {
                self.evidence.push(evidence::probe::connect_failed(&e));
                Err(fail(e))
            }
            Ok(Ok((tcp, rtt))) => {
                self.local = tcp.local_addr();
                // The SYN left during the call; the kernel timed its round
                // trip (earlier tries of the name's other addresses count).
                let (at, clock) = match rtt {
                    Some(rtt) => (called + rtt, Clock::KernelRtt),
                    None => (Instant::now(), Clock::Wakeup),
                };
                self.end_phase(at, clock, Phase::Greeting);
                self.stream = Some(Stream::Plain(tcp));
                Ok(())
            }
        }
    }

    fn io_end(&mut self, e: &io::Error, write: bool) -> End {
        self.write_failed = write;
        if let Some(inner) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
            self.evidence.push(evidence::probe::tls_failed(inner));
            self.client_error = Some(AppError::ssl(inner));
            return End::Malformed;
        }
        self.errno = Some(errno_of(e));
        let reset = !matches!(e.kind(), io::ErrorKind::UnexpectedEof);
        End::ServerClosed { reset }
    }

    async fn read_packet(&mut self) -> Result<RawPacket, End> {
        let mut buf = [0u8; 4096];
        loop {
            match self.deframer.next_frame() {
                Some(Frame::Packet(p)) => return Ok(p),
                Some(Frame::Oversized { len, .. }) => {
                    self.evidence
                        .push(evidence::probe::oversized(len, HANDSHAKE_MAX_PACKET));
                    return Err(End::Malformed);
                }
                // Only a capture's snaplen cuts packets; a socket never does.
                Some(Frame::Cut { .. }) => return Err(End::Malformed),
                None => {}
            }
            if let Some(len) = self.deframer.announced_len()
                && len > HANDSHAKE_MAX_PACKET
            {
                self.evidence
                    .push(evidence::probe::oversized(len, HANDSHAKE_MAX_PACKET));
                return Err(End::Malformed);
            }
            let stream = self.stream.as_mut().expect("connected before reading");
            let n = match timeout_at(self.deadline, stream.read(&mut buf)).await {
                Err(_) => {
                    self.partial_evidence("the time limit");
                    return Err(End::TimedOut);
                }
                Ok(Ok(0)) => {
                    self.errno = Some(0);
                    self.partial_evidence("the close");
                    return Err(End::ServerClosed { reset: false });
                }
                Ok(Ok(n)) => n,
                Ok(Err(e)) => {
                    self.partial_evidence("the reset");
                    return Err(self.io_end(&e, false));
                }
            };
            self.deframer.push(&buf[..n]);
        }
    }

    fn partial_evidence(&mut self, what: &str) {
        // The deframer has consumed the header of a packet it is joining.
        let header = if self.deframer.at_boundary() { 0 } else { 4 };
        let have = self.deframer.buffered() + header;
        if have > 0 {
            self.evidence.push(evidence::probe::partial(
                have,
                self.deframer.announced_len(),
                what,
            ));
        }
    }

    async fn write(&mut self, b: &[u8]) -> Result<(), End> {
        let stream = self.stream.as_mut().expect("connected before writing");
        match timeout_at(self.deadline, stream.write_all(b)).await {
            Err(_) => Err(End::TimedOut),
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(self.io_end(&e, true)),
        }
    }

    /// `--login-delay`: wait before answering the greeting, watching the
    /// socket so that a server which gives up is seen when it does.
    async fn login_delay(&mut self) -> Result<(), End> {
        let delay = self.shared.cfg.login_delay;
        if delay.is_zero() {
            return Ok(());
        }
        let until = Instant::now() + delay;
        let mut buf = [0u8; 1024];
        loop {
            let stream = self.stream.as_mut().expect("connected");
            tokio::select! {
                () = sleep_until(until) => return Ok(()),
                r = stream.read(&mut buf) => match r {
                    Ok(0) => {
                        self.errno = Some(0);
                        return Err(End::ServerClosed { reset: false });
                    }
                    Ok(n) => {
                        self.evidence.push(evidence::probe::unsolicited(n));
                        self.deframer.push(&buf[..n]);
                    }
                    Err(e) => return Err(self.io_end(&e, false)),
                },
            }
        }
    }

    /// The TLS handshake; the `tls` phase began with the SSLRequest and
    /// ends when the login leaves, encrypted, as a capture sees it.
    async fn start_tls(&mut self) -> Result<(), End> {
        let Some(cfg) = self.shared.tls.clone() else {
            return Err(End::ClientClosed { reset: false });
        };
        let Some(Stream::Plain(tcp)) = self.stream.take() else {
            return Err(End::Malformed);
        };
        tcp.set_nodelay();
        let connector = tokio_rustls::TlsConnector::from(cfg);
        let tls = match timeout_at(
            self.deadline,
            connector.connect(self.shared.server_name.clone(), tcp),
        )
        .await
        {
            Err(_) => return Err(End::TimedOut),
            Ok(Err(e)) => return Err(self.tls_error(&e)),
            Ok(Ok(t)) => t,
        };
        let conn = tls.get_ref().1;
        self.tls_info = Some(TlsInfo {
            version: conn
                .protocol_version()
                .map(|v| format!("{v:?}"))
                .unwrap_or_default(),
            cipher: conn
                .negotiated_cipher_suite()
                .map(|c| format!("{:?}", c.suite()))
                .unwrap_or_default(),
        });
        self.stream = Some(Stream::Tls(Box::new(tls)));
        let actions = match self.hs.tls_established() {
            Ok(a) => a,
            Err(e) => return Err(self.handshake_error(e)),
        };
        for a in actions {
            if let ClientAction::Send(b) = a {
                let at = self.send(&b).await?;
                self.login_sent = Some(at);
                self.end_phase(at, Clock::Send, Phase::Login);
            }
        }
        Ok(())
    }

    fn tls_error(&mut self, e: &io::Error) -> End {
        let rustls_err = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>());
        match rustls_err {
            Some(rustls::Error::AlertReceived(alert)) => {
                self.evidence.push(evidence::probe::server_tls_alert(alert));
                self.client_error = Some(AppError::ssl(format!("received alert {alert:?}")));
                End::ServerClosed { reset: false }
            }
            Some(r) => {
                self.evidence.push(evidence::probe::client_refused_tls(
                    self.shared.cfg.ssl_mode,
                    r,
                ));
                self.client_error = Some(AppError::ssl(r));
                End::ClientClosed { reset: false }
            }
            None => self.io_end(e, false),
        }
    }

    fn handshake_error(&mut self, e: HandshakeError) -> End {
        self.evidence.push(evidence::probe::client_gave_up(&e));
        let error = match &e {
            HandshakeError::ProtocolVersion(v) => AppError::protocol_mismatch(v),
            HandshakeError::TlsNotOffered => AppError::tls_not_offered(),
            HandshakeError::UnsupportedPlugin(p) => AppError::plugin_cannot_load(p),
            HandshakeError::PluginError { plugin, reason } => {
                AppError::plugin_error(plugin, reason)
            }
            // Malformed or unexpected packets.
            _ => AppError::malformed(),
        };
        debug_assert_eq!(error.code, e.client_error_code());
        self.client_error = Some(error);
        match e {
            HandshakeError::Malformed(_)
            | HandshakeError::Unexpected(_)
            | HandshakeError::ProtocolVersion(_) => End::Malformed,
            _ => End::ClientClosed { reset: false },
        }
    }

    /// Ends the attempt: TCP_INFO, COM_QUIT after a login (so the server
    /// counts no aborted client), classification. The COM_QUIT goes before
    /// the record is built, as soon after the server's OK as a client that
    /// does nothing else would send it: the server's thread is not left
    /// waiting for it.
    pub async fn finish(mut self, end: End) -> ConnectionRecord {
        let ctx = self.ctx();
        let now = self.settle(end);
        if let Some(s) = self.logged_in(end) {
            s.quit(&ctx).await;
        }
        self.record(end, now)
    }

    /// Like [`finish`](Self::finish), but hands back the logged-in stream
    /// instead of quitting.
    pub(crate) fn finish_keep(&mut self, end: End) -> (ConnectionRecord, Option<Stream>) {
        let now = self.settle(end);
        let stream = self.logged_in(end);
        (self.record(end, now), stream)
    }

    /// The stream of a completed login, taken out of the attempt.
    fn logged_in(&mut self, end: End) -> Option<Stream> {
        if end == End::Completed {
            self.stream.take()
        } else {
            None
        }
    }

    /// Closes the phase in progress and the total, and reads TCP_INFO
    /// while the socket is open; returns when the attempt ended.
    fn settle(&mut self, end: End) -> Instant {
        let now = Instant::now();
        let answered = matches!(end, End::Completed | End::ServerError { .. });
        if !answered && self.phases.get(self.phase).is_none() {
            self.phases
                .set(self.phase, now.saturating_duration_since(self.phase_start));
            self.clocks.set(self.phase, Clock::Wakeup);
        }
        if answered {
            // Completed handshakes are decided by the login's answer.
            if self.phase == Phase::Auth && self.phases.get(Phase::Auth).is_none() {
                self.phase = Phase::Login;
            }
        }
        // An answered handshake ends with the server's last packet.
        let (end_at, end_clock) = match self.last_server_packet {
            Some(last) if answered => last,
            _ => (now, Clock::Wakeup),
        };
        self.phases
            .set(Phase::Total, end_at.saturating_duration_since(self.start));
        self.clocks.set(Phase::Total, end_clock);
        self.tcp_info = self
            .stream
            .as_ref()
            .and_then(Stream::tcp)
            .and_then(crate::tcp::Tcp::tcp_info);
        now
    }

    /// Classifies what [`settle`](Self::settle) closed into the record.
    fn record(&mut self, end: End, now: Instant) -> ConnectionRecord {
        let server = match &self.shared.cfg.socket {
            Some(_) => self.shared.cfg.target(),
            None => self.addr.to_string(),
        };
        let mut facts = Facts::new(end, self.phase, server);
        facts.phases = self.phases;
        facts.server_wait = match end {
            End::ServerClosed { .. } => self.last_server_packet.map(|(t, _)| now - t),
            _ => None,
        };
        facts.write_failed = self.write_failed;
        facts.retransmits = self.tcp_info.map_or(0, |t| t.total_retrans);
        facts.loopback = self.addr.ip().is_loopback() || self.shared.cfg.socket.is_some();
        // The client's kernel retransmitted its own segments (the SYN, the
        // login): their first copies were not acknowledged within one RTO.
        // TCP_INFO cannot tell a spurious copy apart, nor see the server's.
        facts.resent = (facts.retransmits > 0).then_some(hsp_core::network::Resent {
            packet: hsp_core::network::HandshakePacket::ClientSegments,
            delay: None,
            copies: facts.retransmits,
            first_lost: false,
        });
        facts.errno = self.errno;
        facts.client_error = self.client_error.clone();
        facts.server_message = self.server_err.as_ref().map(|(e, _)| e.message_lossy());
        facts.viewpoint = Viewpoint::ClientSocket;
        facts.in_flight = u32::try_from(self.shared.cfg.concurrency).unwrap_or(u32::MAX);
        let mut evidence = Vec::new();
        if self.shared.cfg.login_delay > Duration::ZERO && self.greeting_at.is_some() {
            evidence.push(evidence::probe::login_held_back(
                self.shared.cfg.login_delay,
            ));
        }
        evidence.append(&mut self.evidence);
        let greeting = self.hs.greeting();
        let r = ConnectionRecord::classified(
            self.id,
            micros(self.start - self.shared.run_start),
            &facts,
            &self.shared.cfg.params,
            Details {
                time: Some(hsp_core::wall::WallTime(
                    self.shared.run_wall.0 + (self.start - self.shared.run_start),
                )),
                client: self.local.map(|a| a.to_string()),
                server_version: greeting
                    .map(|g| String::from_utf8_lossy(&g.server_version).into_owned()),
                connection_id: greeting.map(|g| g.connection_id),
                error: self.server_err.as_ref().map(|(e, greeting)| ServerError {
                    code: e.code.0,
                    name: e.code.name(),
                    sql_state: e
                        .sql_state
                        .map(|s| String::from_utf8_lossy(&s).into_owned()),
                    message: e.message_lossy(),
                    replaced_greeting: *greeting,
                }),
                auth: self.login_sent.is_some().then(|| AuthInfo {
                    plugin: self.hs.plugin().to_string(),
                    rounds: self.hs.auth_rounds(),
                }),
                tls: self.tls_info.clone(),
                tcp_info: self.tcp_info,
                clocks: self.clocks,
                evidence,
                ..Details::default()
            },
        );
        tracing::debug!(
            id = r.id,
            verdict = r.verdict.name(),
            outcome = r.outcome,
            phase = r.phase.name(),
            total_us = r.phases_us.get(Phase::Total).map(micros),
            "connection ended"
        );
        r
    }

    /// Negotiated capabilities (for a session that runs queries).
    pub(crate) fn ctx(&self) -> Ctx {
        Ctx {
            caps: self.hs.negotiated(),
        }
    }

    pub(crate) fn take_deframer(&mut self) -> Deframer {
        std::mem::replace(&mut self.deframer, Deframer::new(HANDSHAKE_MAX_PACKET))
    }
}
