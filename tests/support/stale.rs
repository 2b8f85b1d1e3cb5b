//! A loopback JWKS server with a keep-alive race made deterministic: the first request on
//! each connection is answered with keep-alive, and when the next request arrives on that
//! connection it is closed without an answer — what a client sees when a server (Node's,
//! closing at 6 s while advertising 5 s) drops an idle connection just as it is reused.

use super::accept::{Acceptor, read_head};
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};

/// How a reused connection is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Close {
    /// Read the request, then close (FIN): "connection closed before message completed".
    Fin,
    /// Close with the request unread, so the kernel answers with a reset (RST).
    Reset,
}

#[derive(Default)]
struct Counts {
    jwks: String,
    connections: u64,
    requests: u64,
    answered: u64,
}

pub struct StaleIdp {
    pub addr: SocketAddr,
    counts: Arc<Mutex<Counts>>,
    /// Dropping it stops the server.
    _acceptor: Acceptor,
}

impl StaleIdp {
    pub fn start(jwks: &serde_json::Value, close: Close) -> StaleIdp {
        let counts = Arc::new(Mutex::new(Counts {
            jwks: jwks.to_string(),
            ..Counts::default()
        }));
        let acceptor = {
            let counts = counts.clone();
            Acceptor::start("stale IdP", move |stream| {
                counts.lock().expect("counts").connections += 1;
                serve(stream, close, &counts);
            })
        };
        StaleIdp {
            addr: acceptor.addr,
            counts,
            _acceptor: acceptor,
        }
    }

    pub fn jwks_url(&self) -> String {
        format!("http://{}/jwks", self.addr)
    }

    pub fn set_jwks(&self, jwks: &serde_json::Value) {
        self.counts.lock().expect("counts").jwks = jwks.to_string();
    }

    /// (connections accepted, requests seen, requests answered).
    pub fn counts(&self) -> (u64, u64, u64) {
        let c = self.counts.lock().expect("counts");
        (c.connections, c.requests, c.answered)
    }
}

fn serve(mut stream: TcpStream, close: Close, counts: &Mutex<Counts>) {
    let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(10)));
    if read_head(&mut stream).is_none() {
        return;
    }
    let jwks = {
        let mut c = counts.lock().expect("counts");
        c.requests += 1;
        c.answered += 1;
        c.jwks.clone()
    };
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n{jwks}",
        jwks.len()
    );
    if stream.write_all(response.as_bytes()).is_err() {
        return;
    }
    // The next request on this connection is never answered.
    let arrived = match close {
        Close::Fin => read_head(&mut stream).is_some(),
        // Waits for the request without consuming it: closing a socket with unread data
        // makes the kernel send a reset.
        Close::Reset => stream.peek(&mut [0u8; 1]).is_ok_and(|n| n > 0),
    };
    if arrived {
        counts.lock().expect("counts").requests += 1;
    }
}
