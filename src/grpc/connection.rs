//! The gRPC listener's connections as HTTP/2 writes to them: a TCP stream that says it has no
//! vectored writes, so that h2 copies every DATA frame under 1 KiB into its write buffer and
//! sends the answers of a batch of Checks in one write.
//!
//! Why: h2 (0.4) keeps a DATA frame of 256 bytes or more aside, unbuffered, when the
//! transport has vectored writes, and must flush before it takes the next frame; without
//! vectored writes the limit is 1 KiB. A denial (challenge, JSON body) is a message of about
//! 300 bytes (more with a `resource_metadata` URL), an allow about 100, so with a plain
//! `TcpStream` every denial left in a `writev` of its own while allows went out a dozen to a
//! write: under a flood of bad tokens, one system call per Check for us, and more reads for
//! Envoy (`benches/envoy/denials.sh`, BENCHMARKS.md L). A message of 1 KiB or more is still
//! sent uncopied, in two writes (buffer, then message) instead of one `writev`.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_stream::{Stream, StreamExt};
use tonic::transport::server::{Connected, TcpIncoming};

/// One accepted gRPC connection (see the module docs); `T` is a `TcpStream` but in tests.
#[derive(Debug)]
pub struct Connection<T = TcpStream>(pub T);

/// The listener's connections, with `TCP_NODELAY` as before.
pub fn incoming(
    listener: tokio::net::TcpListener,
) -> impl Stream<Item = io::Result<Connection>> + Send + 'static {
    TcpIncoming::from(listener)
        .with_nodelay(Some(true))
        .map(|accepted| accepted.map(Connection))
}

impl<T: Connected> Connected for Connection<T> {
    type ConnectInfo = T::ConnectInfo;

    fn connect_info(&self) -> T::ConnectInfo {
        self.0.connect_info()
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Connection<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Connection<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }

    /// The point of this type: h2 then buffers frames under 1 KiB instead of 256 bytes.
    fn is_write_vectored(&self) -> bool {
        false
    }
}

#[cfg(test)]
#[path = "connection_tests.rs"]
mod tests;
