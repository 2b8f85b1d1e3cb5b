//! The gRPC connection type's one job: a batch of denials leaves in a few writes, not one
//! write per denial. A real tonic server (our Check service) and an h2 client talk over an
//! in-memory pipe that counts the server's writes and, like a `TcpStream`, has vectored
//! writes.

use super::Connection;
use crate::algorithm::Algorithm;
use crate::grpc::{AuthzService, envoy_sample};
use crate::mint::SigningKey;
use crate::observe::Observer;
use crate::proto::envoy::service::auth::v3::authorization_server::AuthorizationServer;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, DuplexStream, ReadBuf};
use tonic::transport::server::Connected;

/// The server's end of the pipe: counts writes, and says it has vectored writes.
struct Counting {
    io: DuplexStream,
    writes: Arc<AtomicUsize>,
}

impl Connected for Counting {
    type ConnectInfo = ();
    fn connect_info(&self) {}
}

impl AsyncRead for Counting {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counting {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        // One write of everything, as writev would do.
        let all: Vec<u8> = bufs.iter().flat_map(|b| b.iter().copied()).collect();
        Pin::new(&mut self.io).poll_write(cx, &all)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

const CHECKS: usize = 32;

/// Sends CHECKS denied Checks at once over one HTTP/2 connection to a server whose end of
/// the pipe is `wrap`ped; returns the server's writes and the smallest answer's size.
async fn writes_for_a_batch_of_denials<W>(wrap: impl FnOnce(Counting) -> W) -> (usize, usize)
where
    W: AsyncRead + AsyncWrite + Connected + Unpin + Send + 'static,
{
    let key = SigningKey::generate(Algorithm::Es256).unwrap();
    let jwks = serde_json::json!({ "keys": [key.public_jwk()] });
    let yaml = format!(
        "providers:\n  - name: idp\n    issuer: https://idp.example\n    audiences: [api]\n    jwks: {{ inline: '{jwks}' }}\n"
    );
    let snapshot = crate::config::compile_str(&yaml, std::path::Path::new("t.yaml")).unwrap();
    let service = AuthzService::new(snapshot, None, Arc::new(Observer::new(0)));
    let (client_io, server_io) = tokio::io::duplex(1 << 20);
    let writes = Arc::new(AtomicUsize::new(0));
    let server_io = wrap(Counting {
        io: server_io,
        writes: writes.clone(),
    });
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(AuthorizationServer::new(service))
            .serve_with_incoming(tokio_stream::iter([Ok::<_, io::Error>(server_io)])),
    );

    let (client, connection) = h2::client::handshake(client_io).await.unwrap();
    tokio::spawn(connection);
    // A token that is not a JWT: a 401 with an invalid_token challenge and a JSON body.
    let message = envoy_sample::check_request(&[("authorization", "Bearer not-a-jwt")]);
    let mut framed = vec![0u8];
    framed.extend_from_slice(&u32::try_from(message.len()).unwrap().to_be_bytes());
    framed.extend_from_slice(&message);
    // Every request is queued before the connection task runs, so they leave together.
    let mut client = client.ready().await.unwrap();
    let mut answers = Vec::new();
    for _ in 0..CHECKS {
        let request = http::Request::post("http://authz/envoy.service.auth.v3.Authorization/Check")
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(())
            .unwrap();
        let (answer, mut body) = client.send_request(request, false).unwrap();
        body.send_data(framed.clone().into(), true).unwrap();
        answers.push(answer);
        client = client.ready().await.unwrap();
    }
    let before = writes.load(Ordering::Relaxed);
    let mut smallest = usize::MAX;
    for answer in answers {
        let answer = answer.await.unwrap();
        assert_eq!(answer.status(), 200);
        let mut body = answer.into_body();
        let mut size = 0;
        while let Some(chunk) = body.data().await {
            let chunk = chunk.unwrap();
            size += chunk.len();
            let _ = body.flow_control().release_capacity(chunk.len());
        }
        let trailers = body.trailers().await.unwrap().expect("grpc trailers");
        assert_eq!(trailers["grpc-status"], "0", "a denial is an OK RPC");
        smallest = smallest.min(size);
    }
    (writes.load(Ordering::Relaxed) - before, smallest)
}

#[tokio::test(flavor = "current_thread")]
async fn a_batch_of_denials_leaves_in_a_few_writes() {
    let (writes, smallest) = writes_for_a_batch_of_denials(Connection).await;
    // The case this type exists for: each answer is over h2's 256-byte limit for buffering
    // with vectored writes.
    assert!(smallest >= 256, "answers of {smallest} bytes test nothing");
    assert!(writes <= CHECKS / 4, "{writes} writes for {CHECKS} denials");
}

#[tokio::test(flavor = "current_thread")]
async fn without_it_each_denial_leaves_in_a_write_of_its_own() {
    // The same pipe handed to tonic as it is: the behaviour Connection exists to avoid, so
    // that the test above is known to measure it.
    let (writes, _) = writes_for_a_batch_of_denials(|io| io).await;
    assert!(writes >= CHECKS, "{writes} writes for {CHECKS} denials");
}
