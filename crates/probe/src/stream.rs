//! The connection's byte stream: plain TCP, TLS over it, or any other
//! byte stream ([`Io`]: a Unix socket, or `tokio::io::duplex` in tests,
//! where a scripted server and paused time make timeouts exact), and how
//! each of them ends a logged-in session.

use std::io;
use std::time::Duration;

use bytes::BytesMut;
use hsp_wire::codes::Command;
use hsp_wire::frame::write_packet;
use hsp_wire::packets::{CommandPacket, Ctx, Packet};

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

    /// Sends COM_QUIT and closes, the client first (see
    /// [`Tcp::send_and_close`]); a server that already left is not an
    /// error here.
    pub(crate) async fn quit(mut self, ctx: &Ctx) {
        let mut out = BytesMut::new();
        write_packet(
            &mut out,
            0,
            &Packet::Command(CommandPacket::simple(Command::COM_QUIT)).to_payload(*ctx),
        );
        match self {
            Self::Plain(tcp) => tcp.send_and_close(&out),
            Self::Tls(tls) => {
                // COM_QUIT and then close_notify, as mysql_close over TLS
                // sends them, encrypted here and sent with the FIN.
                // Everything written before was flushed, so nothing else
                // is pending.
                let (tcp, mut conn) = tls.into_inner();
                let mut last = Vec::new();
                if io::Write::write_all(&mut conn.writer(), &out).is_ok() {
                    conn.send_close_notify();
                }
                while conn.wants_write() && conn.write_tls(&mut last).is_ok() {}
                tcp.send_and_close(&last);
            }
            Self::Other(_) => {
                let _ = tokio::time::timeout(Duration::from_secs(1), self.write_all(&out)).await;
            }
        }
    }
}
