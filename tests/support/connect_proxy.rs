//! A real HTTP proxy on loopback, the only way to reach [`PROXIED_HOST`]: that name resolves
//! nowhere (`.test` is reserved), and this proxy maps it to 127.0.0.1. It answers `CONNECT
//! host:port` (then relays bytes both ways) and absolute-form requests
//! (`GET http://host:port/path`, forwarded in origin form), optionally requires
//! `Proxy-Authorization: Basic …` (407 otherwise), and records every request line it got.
//! std threads, one per connection, like the IdP stand-in.

use super::accept::{Acceptor, read_head};
use std::io::Write;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};

/// The IdP's name behind the proxy; the test CA's certificate for the IdP covers it.
pub const PROXIED_HOST: &str = "idp.corp.test";

#[derive(Default)]
struct State {
    /// Every request line, in order (`CONNECT idp.corp.test:1234`, `GET http://…`).
    requests: Vec<String>,
    /// How many were refused with 407.
    refused: usize,
}

pub struct ConnectProxy {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    /// Dropping it stops the proxy: connections are refused from then on.
    _acceptor: Acceptor,
}

impl ConnectProxy {
    /// A proxy that lets every request through.
    pub fn open() -> ConnectProxy {
        ConnectProxy::start(None)
    }

    /// A proxy that wants `user:password` (basic auth) on every request.
    pub fn with_basic_auth(user_password: &str) -> ConnectProxy {
        ConnectProxy::start(Some(format!("Basic {}", base64(user_password))))
    }

    fn start(required: Option<String>) -> ConnectProxy {
        let state = Arc::new(Mutex::new(State::default()));
        let acceptor = {
            let state = state.clone();
            Acceptor::start("proxy", move |stream| {
                serve(stream, required.as_deref(), &state)
            })
        };
        ConnectProxy {
            addr: acceptor.addr,
            state,
            _acceptor: acceptor,
        }
    }

    /// `http://127.0.0.1:port`, as a config or `HTTPS_PROXY` names it.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The authorities of every `CONNECT` let through or refused, in order.
    pub fn connects(&self) -> Vec<String> {
        self.requests()
            .iter()
            .filter_map(|line| line.strip_prefix("CONNECT ").map(str::to_owned))
            .collect()
    }

    /// Every request line received, in order.
    pub fn requests(&self) -> Vec<String> {
        self.state.lock().expect("proxy state").requests.clone()
    }

    /// How many requests were answered 407.
    pub fn refused(&self) -> usize {
        self.state.lock().expect("proxy state").refused
    }
}

fn serve(mut client: TcpStream, required: Option<&str>, state: &Mutex<State>) {
    let _ = client.set_read_timeout(Some(std::time::Duration::from_secs(10)));
    let Some(head) = read_head(&mut client) else {
        return;
    };
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default().to_owned();
    let mut parts = request_line.split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let authorization = lines.clone().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("proxy-authorization")
            .then(|| value.trim().to_owned())
    });
    {
        let mut s = state.lock().expect("proxy state");
        s.requests.push(
            request_line
                .rsplit_once(' ')
                .map_or("", |(l, _)| l)
                .to_owned(),
        );
        if required.is_some_and(|r| authorization.as_deref() != Some(r)) {
            s.refused += 1;
            drop(s);
            let _ = client.write_all(
                b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"corp\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
            return;
        }
    }
    if method == "CONNECT" {
        let Some(upstream) = connect_to(target) else {
            let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
            return;
        };
        let _ = client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
        relay(client, upstream);
        return;
    }
    // Absolute form: `GET http://host:port/path HTTP/1.1`, sent on in origin form without
    // the proxy's own header.
    let Some((authority, path)) = target
        .strip_prefix("http://")
        .map(|rest| rest.split_at(rest.find('/').unwrap_or(rest.len())))
    else {
        let _ = client.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        return;
    };
    let Some(mut upstream) = connect_to(authority) else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
        return;
    };
    let path = if path.is_empty() { "/" } else { path };
    let mut forwarded = format!("{method} {path} HTTP/1.1\r\n");
    for line in lines.filter(|l| !l.is_empty()) {
        if !line.to_ascii_lowercase().starts_with("proxy-") {
            forwarded.push_str(line);
            forwarded.push_str("\r\n");
        }
    }
    forwarded.push_str("\r\n");
    if upstream.write_all(forwarded.as_bytes()).is_ok() {
        relay(client, upstream);
    }
}

/// A connection to `authority` (`host:port`), with [`PROXIED_HOST`] meaning 127.0.0.1;
/// any other name is refused, so nothing here reaches beyond loopback.
fn connect_to(authority: &str) -> Option<TcpStream> {
    let (host, port) = authority.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    let ip = match host {
        PROXIED_HOST => "127.0.0.1".parse().ok()?,
        literal => literal.parse().ok()?,
    };
    TcpStream::connect(SocketAddr::new(ip, port)).ok()
}

/// Copies bytes both ways until either side closes, then closes both.
fn relay(client: TcpStream, upstream: TcpStream) {
    let (Ok(mut client_read), Ok(mut upstream_read)) = (client.try_clone(), upstream.try_clone())
    else {
        return;
    };
    let (mut client_write, mut upstream_write) = (client, upstream);
    let up = std::thread::spawn(move || {
        let _ = std::io::copy(&mut client_read, &mut upstream_write);
        let _ = upstream_write.shutdown(Shutdown::Write);
    });
    let _ = std::io::copy(&mut upstream_read, &mut client_write);
    let _ = client_write.shutdown(Shutdown::Both);
    let _ = up.join();
}

/// Standard base64 with padding (what `Basic` credentials use).
pub fn base64(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}
