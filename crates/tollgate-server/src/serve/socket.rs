//! The connection's socket as hyper uses it, telling the connection's [`Conn`] what passes:
//! bytes arriving (a next request begins), writes that progress or find the send buffer full
//! (a client that stops reading), and flushes, which hyper asks for only once its own buffer
//! is empty (the response is all written).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::activity::Conn;

/// A TCP stream reporting to its connection's [`Conn`].
pub(super) struct Watched {
    tcp: TcpStream,
    conn: Arc<Conn>,
}

impl Watched {
    pub(super) fn new(tcp: TcpStream, conn: Arc<Conn>) -> Watched {
        Watched { tcp, conn }
    }

    fn wrote(&self, polled: &Poll<io::Result<usize>>) {
        match polled {
            // Zero bytes only for an empty write, or a closed socket that hyper then fails on.
            Poll::Ready(Ok(_)) => self.conn.wrote(true),
            Poll::Pending => self.conn.wrote(false),
            // The connection is failing: hyper ends it.
            Poll::Ready(Err(_)) => {}
        }
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.tcp).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.conn.read_some();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.tcp).poll_write(cx, buf);
        this.wrote(&polled);
        polled
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.tcp).poll_write_vectored(cx, bufs);
        this.wrote(&polled);
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.tcp).poll_flush(cx);
        if let Poll::Ready(Ok(())) = polled {
            this.conn.flushed();
        }
        polled
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}
