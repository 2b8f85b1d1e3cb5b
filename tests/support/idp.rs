//! A real HTTP(S) identity-provider stand-in on loopback: serves a JWK Set at `/jwks` and
//! discovery documents (RFC 8414 / OpenID: `issuer`, `jwks_uri` and the endpoints an OAuth
//! client reads), counts requests per path, and can misbehave on demand (down, 500,
//! garbage, 10 MiB, empty key set, slow). HTTPS uses a private CA generated at test time.

use super::accept::{Acceptor, read_head};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};

/// How `/jwks` answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Jwks,
    /// Close every connection without answering (the IdP is down).
    Down,
    /// Accept, then answer nothing for 10 s (a hung IdP: the client's timeout fires).
    Hang,
    Status(u16),
    Garbage,
    /// A 10 MiB body.
    Huge,
    EmptySet,
}

/// Which discovery documents exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discovery {
    None,
    Rfc8414,
    OpenId,
}

struct State {
    jwks: String,
    answer: Answer,
    max_age: Option<u64>,
    discovery: Discovery,
    /// The `issuer` the discovery document claims; `None`: the IdP's own base URL.
    discovery_issuer: Option<String>,
    /// How long every answer waits after its request arrived (a slow IdP).
    delay: std::time::Duration,
    hits: HashMap<String, u64>,
}

pub struct Idp {
    pub addr: SocketAddr,
    /// PEM of the private CA that signed the HTTPS certificate (HTTPS only).
    pub ca_pem: Option<String>,
    state: Arc<Mutex<State>>,
    /// Last: dropping it stops the server.
    _acceptor: Acceptor,
}

impl Idp {
    /// A plain-HTTP IdP serving `jwks`.
    pub fn http(jwks: &serde_json::Value) -> Idp {
        Idp::start(jwks, None)
    }

    /// An HTTPS IdP whose certificate (for 127.0.0.1, localhost and the name only the
    /// loopback proxy resolves, `connect_proxy::PROXIED_HOST`) is signed by a fresh private CA.
    pub fn https(jwks: &serde_json::Value) -> Idp {
        let ca = super::tls::ca("envoy-jwt-authz test CA");
        let leaf_key = rcgen::KeyPair::generate().expect("leaf key");
        let leaf = rcgen::CertificateParams::new(vec![
            "127.0.0.1".to_owned(),
            "localhost".to_owned(),
            super::connect_proxy::PROXIED_HOST.to_owned(),
        ])
        .expect("leaf params")
        .signed_by(&leaf_key, &ca)
        .expect("leaf cert");
        let config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(leaf.der().to_vec())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
            )
            .expect("TLS config");
        let mut idp = Idp::start(jwks, Some(Arc::new(config)));
        idp.ca_pem = Some(ca.pem());
        idp
    }

    fn start(jwks: &serde_json::Value, tls: Option<Arc<rustls::ServerConfig>>) -> Idp {
        let state = Arc::new(Mutex::new(State {
            jwks: jwks.to_string(),
            answer: Answer::Jwks,
            max_age: None,
            discovery: Discovery::None,
            discovery_issuer: None,
            delay: std::time::Duration::ZERO,
            hits: HashMap::new(),
        }));
        let scheme = if tls.is_some() { "https" } else { "http" };
        let acceptor = {
            let state = state.clone();
            Acceptor::start("IdP", move |stream| {
                // The listener's own address: what the discovery documents name.
                let Ok(addr) = stream.local_addr() else {
                    return;
                };
                serve_connection(stream, tls.clone(), &state, &format!("{scheme}://{addr}"));
            })
        };
        Idp {
            addr: acceptor.addr,
            ca_pem: None,
            state,
            _acceptor: acceptor,
        }
    }

    /// The base URL (`http://127.0.0.1:port` or `https://…`): also the issuer for discovery.
    pub fn base(&self) -> String {
        format!(
            "{}://{}",
            if self.ca_pem.is_some() {
                "https"
            } else {
                "http"
            },
            self.addr
        )
    }

    pub fn jwks_url(&self) -> String {
        format!("{}/jwks", self.base())
    }

    /// The JWKS URL under `host` instead of 127.0.0.1 (same scheme and port).
    pub fn jwks_url_as(&self, host: &str) -> String {
        self.jwks_url().replace(&self.addr.ip().to_string(), host)
    }

    pub fn set_jwks(&self, jwks: &serde_json::Value) {
        self.with(|s| s.jwks = jwks.to_string());
    }

    pub fn set_answer(&self, answer: Answer) {
        self.with(|s| s.answer = answer);
    }

    pub fn set_max_age(&self, seconds: Option<u64>) {
        self.with(|s| s.max_age = seconds);
    }

    pub fn set_discovery(&self, discovery: Discovery, claimed_issuer: Option<&str>) {
        self.with(|s| {
            s.discovery = discovery;
            s.discovery_issuer = claimed_issuer.map(str::to_owned);
        });
    }

    /// Every later answer waits `delay` before it is written.
    pub fn set_delay(&self, delay: std::time::Duration) {
        self.with(|s| s.delay = delay);
    }

    /// How many requests reached `path`.
    pub fn hits(&self, path: &str) -> u64 {
        self.with(|s| s.hits.get(path).copied().unwrap_or(0))
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().expect("IdP state"))
    }
}

fn serve_connection(
    stream: TcpStream,
    tls: Option<Arc<rustls::ServerConfig>>,
    state: &Mutex<State>,
    base: &str,
) {
    let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(10)));
    match tls {
        Some(config) => {
            let Ok(conn) = rustls::ServerConnection::new(config) else {
                return;
            };
            serve(&mut rustls::StreamOwned::new(conn, stream), state, base);
        }
        None => serve(&mut { stream }, state, base),
    }
}

fn serve(stream: &mut (impl Read + Write), state: &Mutex<State>, base: &str) {
    let Some(head) = read_head(stream) else {
        return;
    };
    let path = head.split(' ').nth(1).unwrap_or("").to_owned();
    let (answer, jwks, max_age, discovery, issuer, delay) = {
        let mut s = state.lock().expect("IdP state");
        *s.hits.entry(path.clone()).or_default() += 1;
        (
            s.answer.clone(),
            s.jwks.clone(),
            s.max_age,
            s.discovery,
            s.discovery_issuer.clone(),
            s.delay,
        )
    };
    std::thread::sleep(delay);
    match answer {
        Answer::Down => return, // drop the connection unanswered
        Answer::Hang => {
            std::thread::sleep(std::time::Duration::from_secs(10));
            return;
        }
        _ => {}
    }
    // What an OAuth client (an MCP client, say) reads besides the keys: where to send the
    // user and get tokens, and that PKCE with S256 is supported (nothing answers there).
    let discovery_doc = |issuer: Option<String>| {
        serde_json::json!({
            "issuer": issuer.unwrap_or_else(|| base.to_owned()),
            "jwks_uri": format!("{base}/jwks"),
            "authorization_endpoint": format!("{base}/authorize"),
            "token_endpoint": format!("{base}/token"),
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
        })
        .to_string()
    };
    let (status, body) = match (path.as_str(), &answer) {
        ("/.well-known/oauth-authorization-server", _) if discovery == Discovery::Rfc8414 => {
            (200, discovery_doc(issuer))
        }
        ("/.well-known/openid-configuration", _) if discovery == Discovery::OpenId => {
            (200, discovery_doc(issuer))
        }
        ("/jwks", Answer::Jwks) => (200, jwks),
        ("/jwks", Answer::Status(code)) => (*code, "{}".to_owned()),
        ("/jwks", Answer::Garbage) => (200, "<html>maintenance</html>".to_owned()),
        ("/jwks", Answer::Huge) => (
            200,
            format!(
                "{{\"keys\": [], \"pad\": \"{}\"}}",
                "x".repeat(10 * 1024 * 1024)
            ),
        ),
        ("/jwks", Answer::EmptySet) => (200, "{\"keys\": []}".to_owned()),
        _ => (404, "{}".to_owned()),
    };
    let cache = max_age
        .map(|s| format!("Cache-Control: public, max-age={s}\r\n"))
        .unwrap_or_default();
    let response = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{cache}Connection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes());
    let _ = stream.write_all(body.as_bytes());
    let _ = stream.flush();
}
