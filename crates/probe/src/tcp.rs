//! The probe's TCP connection, with the kernel's clock.
//!
//! A probe that timestamps packets when its task wakes up measures its own
//! scheduling: at 8 connections on 2 cores the wake-up after a packet
//! arrives is often longer than the server took to send it, and the phase
//! comes out 40% longer than a capture of the same connection says. The
//! kernel knows better, so each phase boundary is taken from it where it
//! tells:
//!
//! - a read returns the kernel's receive timestamp of the last segment it
//!   consumed (SO_TIMESTAMPING, software receive stamps, in a control
//!   message of `recvmsg`): a handshake packet is alone on the wire until
//!   the other side answers, so that is the packet that ended the phase;
//! - the connect's round trip is the kernel's own sample of the SYN (TCP_INFO
//!   read once the connect completes; it replaces the SO_ERROR call that
//!   asks the same question), used when the SYN was sent once (Karn);
//! - a send is timed on the probe's clock just before the call, which on
//!   a socket with room puts the segment on the wire before it returns.
//!
//! tokio's reactor still says when the socket is ready ([`AsyncFd`]), so the
//! connection is one more future on the same runtime; reads that drain the
//! socket clear its readiness as tokio's own `TcpStream` does, so no extra
//! call comes back empty.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hsp_core::record::TcpInfo;
use nix::errno::Errno;
use nix::sys::socket::{
    self, AddressFamily, MsgFlags, SockFlag, SockType, SockaddrStorage, sockopt,
};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::time::Instant;

/// A socket not yet connected.
#[derive(Debug)]
pub(crate) struct Socket(OwnedFd);

impl Socket {
    /// A non-blocking TCP socket of `addr`'s family that stamps what it
    /// receives.
    pub(crate) fn new(addr: SocketAddr) -> io::Result<Self> {
        let family = if addr.is_ipv4() {
            AddressFamily::Inet
        } else {
            AddressFamily::Inet6
        };
        let fd = socket::socket(
            family,
            SockType::Stream,
            SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
            None,
        )?;
        stamp_receives(&fd);
        Ok(Self(fd))
    }

    /// Binds the client end to `ip` (`--bind`).
    pub(crate) fn bind(&self, ip: IpAddr) -> io::Result<()> {
        Ok(socket::bind(
            self.0.as_raw_fd(),
            &SockaddrStorage::from(SocketAddr::new(ip, 0)),
        )?)
    }

    /// Connects to `addr`: the stream, and the SYN's round trip as the
    /// kernel measured it when it can be trusted.
    pub(crate) async fn connect(self, addr: SocketAddr) -> io::Result<(Tcp, Option<Duration>)> {
        match socket::connect(self.0.as_raw_fd(), &SockaddrStorage::from(addr)) {
            Ok(()) | Err(Errno::EINPROGRESS) => {}
            Err(e) => return Err(e.into()),
        }
        let fd = register(self.0)?;
        let rtt = loop {
            let mut guard = fd.writable().await?;
            match raw_tcp_info(fd.get_ref().as_fd()) {
                // Not yet: a wake-up for something else.
                Some(i) if i.tcpi_state == TCP_SYN_SENT => guard.clear_ready(),
                Some(i) if i.tcpi_state != TCP_CLOSE => {
                    break (i.tcpi_total_retrans == 0 && i.tcpi_rtt > 0)
                        .then(|| Duration::from_micros(u64::from(i.tcpi_rtt)));
                }
                // Closed, or no TCP_INFO: the socket's error says why.
                _ => match socket::getsockopt(fd.get_ref(), sockopt::SocketError)? {
                    0 => break None,
                    e => return Err(io::Error::from_raw_os_error(e)),
                },
            }
        };
        Ok((
            Tcp {
                fd,
                cmsg: nix::cmsg_space!(socket::Timestamps),
                rx: None,
                sent: None,
            },
            rtt,
        ))
    }
}

/// Registers `fd` with the runtime's reactor.
#[allow(
    unsafe_code,
    reason = "tokio's safe AsyncFd constructors are deprecated for types that cannot promise a stable descriptor; OwnedFd can"
)]
fn register(fd: OwnedFd) -> io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: an OwnedFd is a valid open descriptor, owned here, that
    // stays open and returns the same number from as_raw_fd until the
    // AsyncFd that takes it is dropped.
    unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE | Interest::WRITABLE) }
        .map_err(io::Error::from)
}

/// Asks for software receive timestamps; a kernel that refuses leaves the
/// probe on its own clock (the record says so).
fn stamp_receives(fd: &OwnedFd) {
    let flags = socket::TimestampingFlag::SOF_TIMESTAMPING_SOFTWARE
        | socket::TimestampingFlag::SOF_TIMESTAMPING_RX_SOFTWARE;
    let _ = socket::setsockopt(fd, sockopt::Timestamping, &flags);
}

/// A socket that asks for receive stamps and does nothing else, held for a
/// run. The kernel turns stamping on for the whole host while any socket
/// wants it, and patching that switch costs more than a handshake (about
/// 100 µs, with the CPUs interrupted): without a holder, one probe at a
/// time would flip it on and off for every connection.
#[derive(Debug)]
pub(crate) struct StampingOn(#[allow(dead_code, reason = "held, not used")] OwnedFd);

impl StampingOn {
    /// `None` where the kernel refuses (the probe then uses its own clock).
    pub(crate) fn new() -> Option<Self> {
        let fd = socket::socket(
            AddressFamily::Inet,
            SockType::Datagram,
            SockFlag::SOCK_CLOEXEC,
            None,
        )
        .ok()?;
        stamp_receives(&fd);
        Some(Self(fd))
    }
}

const TCP_SYN_SENT: u8 = 2;
const TCP_CLOSE: u8 = 7;

/// A connected TCP stream that remembers when the data of its last read
/// arrived and when its last send was made.
#[derive(Debug)]
pub(crate) struct Tcp {
    fd: AsyncFd<OwnedFd>,
    cmsg: Vec<u8>,
    rx: Option<Instant>,
    sent: Option<Instant>,
}

impl Tcp {
    /// When the last segment consumed by the last read arrived, on the
    /// runtime's clock; `None` without a kernel stamp.
    pub(crate) fn last_arrival(&self) -> Option<Instant> {
        self.rx
    }

    /// Just before the last send call.
    pub(crate) fn last_send(&self) -> Option<Instant> {
        self.sent
    }

    /// The client's own address.
    pub(crate) fn local_addr(&self) -> Option<SocketAddr> {
        let a: SockaddrStorage = socket::getsockname(self.fd.get_ref().as_raw_fd()).ok()?;
        if let Some(v4) = a.as_sockaddr_in() {
            Some(SocketAddr::V4((*v4).into()))
        } else {
            a.as_sockaddr_in6().map(|v6| SocketAddr::V6((*v6).into()))
        }
    }

    /// TCP_NODELAY: TLS writes its flights in several small sends that
    /// Nagle would hold back behind the server's delayed ACK. A plain
    /// handshake never has a send waiting on an unacknowledged one.
    pub(crate) fn set_nodelay(&self) {
        let _ = socket::setsockopt(self.fd.get_ref(), sockopt::TcpNoDelay, &true);
    }

    /// Sends `last` (COM_QUIT) with the FIN in the same segment, so the
    /// client is the side that closes first, as libmysqlclient's
    /// `mysql_close` is, and the TIME_WAIT stays with the probe, not with
    /// the server it measures. A send and a close back to back do not
    /// promise that: the send wakes the server, which often closed before
    /// the probe's close ran (about half of the connections at c=1).
    /// MSG_MORE holds the bytes in the socket and the close sends them
    /// with the FIN. `last` is a few bytes to a socket with nothing
    /// unacknowledged, so it fits the send buffer whole; if not, the close
    /// still happens.
    ///
    /// A close with unread bytes is a reset that throws the held bytes
    /// away, so whatever came after the login's answer (nothing, from a
    /// server waiting for a command) is read first: one call that finds
    /// the socket empty.
    pub(crate) fn send_and_close(self, last: &[u8]) {
        let fd = self.fd.into_inner();
        let mut unread = [0u8; 1024];
        while matches!(
            socket::recv(fd.as_raw_fd(), &mut unread, MsgFlags::MSG_DONTWAIT),
            Ok(n) if n > 0
        ) {}
        let _ = socket::send(
            fd.as_raw_fd(),
            last,
            MsgFlags::MSG_NOSIGNAL
                | MsgFlags::MSG_DONTWAIT
                | MsgFlags::from_bits_retain(libc::MSG_MORE),
        );
        drop(fd);
    }

    /// The kernel's TCP statistics.
    pub(crate) fn tcp_info(&self) -> Option<TcpInfo> {
        raw_tcp_info(self.fd.get_ref().as_fd()).map(|i| TcpInfo {
            rtt_us: i.tcpi_rtt,
            rttvar_us: i.tcpi_rttvar,
            retransmits: i.tcpi_retransmits,
            total_retrans: i.tcpi_total_retrans,
            lost: i.tcpi_lost,
            unacked: i.tcpi_unacked,
        })
    }
}

impl AsyncRead for Tcp {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let Self { fd, cmsg, rx, .. } = self.get_mut();
        if buf.remaining() == 0 {
            // Nothing to read into: not an end of stream.
            return Poll::Ready(Ok(()));
        }
        loop {
            let mut guard = ready!(fd.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            let len = unfilled.len();
            match guard.try_io(|fd| recv_stamped(fd.get_ref().as_raw_fd(), unfilled, cmsg)) {
                Ok(Ok((n, stamp))) => {
                    // A short read drained the socket: wait for the next
                    // edge instead of asking again (tokio's TcpStream does
                    // the same; a close stays ready).
                    if n > 0 && n < len {
                        guard.clear_ready();
                    }
                    if n > 0 {
                        *rx = stamp.and_then(on_runtime_clock);
                    }
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => {}
            }
        }
    }
}

impl AsyncWrite for Tcp {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let Self { fd, sent, .. } = self.get_mut();
        loop {
            let mut guard = ready!(fd.poll_write_ready(cx))?;
            let at = Instant::now();
            match guard.try_io(|fd| {
                Ok(socket::send(
                    fd.get_ref().as_raw_fd(),
                    buf,
                    MsgFlags::MSG_NOSIGNAL,
                )?)
            }) {
                Ok(Ok(n)) => {
                    *sent = Some(at);
                    return Poll::Ready(Ok(n));
                }
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => {}
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(socket::shutdown(
            self.fd.get_ref().as_raw_fd(),
            socket::Shutdown::Write,
        )?))
    }
}

/// One `recvmsg`: the bytes read and the software receive stamp (since the
/// Unix epoch, CLOCK_REALTIME) of the last segment they came from.
fn recv_stamped(
    fd: RawFd,
    buf: &mut [u8],
    cmsg: &mut [u8],
) -> io::Result<(usize, Option<Duration>)> {
    let mut iov = [io::IoSliceMut::new(buf)];
    let msg = socket::recvmsg::<()>(fd, &mut iov, Some(cmsg), MsgFlags::empty())?;
    let stamp = msg.cmsgs().ok().and_then(|mut c| {
        c.find_map(|c| match c {
            socket::ControlMessageOwned::ScmTimestampsns(t) => {
                let secs = u64::try_from(t.system.tv_sec()).ok()?;
                let nanos = u32::try_from(t.system.tv_nsec()).ok()?;
                (secs > 0).then(|| Duration::new(secs, nanos))
            }
            _ => None,
        })
    });
    Ok((msg.bytes, stamp))
}

/// A CLOCK_REALTIME stamp on the runtime's monotonic clock, through its
/// age now: a clock step between the stamp and the read (rare, and
/// noticed as a negative or huge age) falls back to the probe's clock.
fn on_runtime_clock(stamp: Duration) -> Option<Instant> {
    let now = Instant::now();
    let wall = SystemTime::now().duration_since(UNIX_EPOCH).ok()?;
    let age = wall.checked_sub(stamp)?;
    if age > Duration::from_secs(60) {
        return None;
    }
    now.checked_sub(age)
}

/// Linux TCP_INFO for `fd`; `None` where the kernel refuses.
#[allow(
    unsafe_code,
    reason = "getsockopt(TCP_INFO) has no safe wrapper in a well-kept crate"
)]
fn raw_tcp_info(fd: BorrowedFd<'_>) -> Option<libc::tcp_info> {
    // SAFETY: tcp_info is plain old data, so all-zero is a valid value; the
    // kernel writes at most `len` bytes into it and sets `len` to what it
    // wrote; `fd` is a live socket borrowed for the call.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = libc::socklen_t::try_from(size_of::<libc::tcp_info>()).ok()?;
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            std::ptr::from_mut(&mut info).cast(),
            &mut len,
        )
    };
    (rc == 0).then_some(info)
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::time::Duration;

    use super::*;

    /// What the peer of a `send_and_close` read, and whether its
    /// connection ended in a reset; `pending` is written to the probe's
    /// side first and left unread there.
    fn peer_of_send_and_close(pending: &[u8]) -> (Vec<u8>, bool) {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (tcp, _) = rt
            .block_on(Socket::new(addr).unwrap().connect(addr))
            .unwrap();
        let (mut peer, _) = l.accept().unwrap();
        io::Write::write_all(&mut peer, pending).unwrap();
        // Loopback delivers at once; this only leaves room for a slow CPU.
        std::thread::sleep(Duration::from_millis(50));
        rt.block_on(async { tcp.send_and_close(b"bye") });
        peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut got = Vec::new();
        let mut b = [0u8; 64];
        let reset = loop {
            match peer.read(&mut b) {
                Ok(0) => break false,
                Ok(n) => got.extend_from_slice(&b[..n]),
                Err(_) => break true,
            }
        };
        (got, reset)
    }

    #[test]
    fn the_last_bytes_go_with_an_orderly_close() {
        assert_eq!(peer_of_send_and_close(b""), (b"bye".to_vec(), false));
    }

    #[test]
    fn unread_bytes_do_not_turn_the_close_into_a_reset_that_loses_them() {
        // A server that sent something after the login's answer: a close
        // over unread bytes would be a reset, and the COM_QUIT held for
        // the FIN would never leave.
        assert_eq!(
            peer_of_send_and_close(&[7, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0]),
            (b"bye".to_vec(), false)
        );
    }
}
