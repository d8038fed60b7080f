//! The connection's byte stream: plain TCP, TLS over it, or any other
//! byte stream ([`Io`]: a Unix socket, or `tokio::io::duplex` in tests,
//! where a scripted server and paused time make timeouts exact); and the
//! kernel's TCP_INFO.

use std::io;

use hsp_core::record::TcpInfo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// A byte stream the handshake can run over.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug> Io for T {}

/// Plain TCP, TLS over it after the SSLRequest, or another stream.
#[derive(Debug)]
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    Other(Box<dyn Io>),
}

impl Stream {
    pub(crate) async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Plain(s) => s.read(buf).await,
            Self::Tls(s) => s.read(buf).await,
            Self::Other(s) => s.read(buf).await,
        }
    }

    pub(crate) async fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Self::Plain(s) => s.write_all(buf).await,
            Self::Tls(s) => {
                s.write_all(buf).await?;
                s.flush().await
            }
            Self::Other(s) => {
                s.write_all(buf).await?;
                s.flush().await
            }
        }
    }

    /// The TCP socket under it, if it is one.
    pub(crate) fn tcp(&self) -> Option<&TcpStream> {
        match self {
            Self::Plain(s) => Some(s),
            Self::Tls(s) => Some(s.get_ref().0),
            Self::Other(_) => None,
        }
    }
}

/// Reads Linux TCP_INFO for `s`; `None` where the kernel refuses.
#[cfg(target_os = "linux")]
#[allow(
    unsafe_code,
    reason = "getsockopt(TCP_INFO) has no safe wrapper in a well-kept crate"
)]
pub(crate) fn tcp_info(s: &TcpStream) -> Option<TcpInfo> {
    use std::os::fd::AsRawFd;
    let fd = s.as_raw_fd();
    // SAFETY: tcp_info is plain old data, so all-zero is a valid value; the
    // kernel writes at most `len` bytes into it and sets `len` to what it
    // wrote; `fd` is a live socket borrowed from `s` for the call.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = libc::socklen_t::try_from(size_of::<libc::tcp_info>()).ok()?;
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            std::ptr::from_mut(&mut info).cast(),
            &mut len,
        )
    };
    (rc == 0).then_some(TcpInfo {
        rtt_us: info.tcpi_rtt,
        rttvar_us: info.tcpi_rttvar,
        retransmits: info.tcpi_retransmits,
        total_retrans: info.tcpi_total_retrans,
        lost: info.tcpi_lost,
        unacked: info.tcpi_unacked,
    })
}

/// TCP_INFO is Linux-only.
#[cfg(not(target_os = "linux"))]
pub(crate) fn tcp_info(_s: &TcpStream) -> Option<TcpInfo> {
    None
}
