//! The connection's byte stream: plain TCP, TLS over it, or any other
//! byte stream ([`Io`]: a Unix socket, or `tokio::io::duplex` in tests,
//! where a scripted server and paused time make timeouts exact).

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;
use tokio_rustls::client::TlsStream;

use crate::tcp::Tcp;

/// A byte stream the handshake can run over.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug> Io for T {}

/// Plain TCP, TLS over it after the SSLRequest, or another stream.
#[derive(Debug)]
pub(crate) enum Stream {
    Plain(Tcp),
    Tls(Box<TlsStream<Tcp>>),
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
            Self::Plain(s) => AsyncWriteExt::write_all(s, buf).await,
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

    /// When the data of the last read arrived, by the kernel's stamp
    /// (`None` for a stream without one).
    pub(crate) fn last_arrival(&self) -> Option<Instant> {
        self.tcp().and_then(Tcp::last_arrival)
    }

    /// Just before the last send call on the socket.
    pub(crate) fn last_send(&self) -> Option<Instant> {
        self.tcp().and_then(Tcp::last_send)
    }

    /// The TCP socket under it, if it is one.
    pub(crate) fn tcp(&self) -> Option<&Tcp> {
        match self {
            Self::Plain(s) => Some(s),
            Self::Tls(s) => Some(s.get_ref().0),
            Self::Other(_) => None,
        }
    }
}
