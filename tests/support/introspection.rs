//! A real RFC 7662 introspection endpoint on loopback: `POST /introspect` with a form body,
//! checking client authentication (Basic, or `client_id`/`client_secret` in the form), and
//! answering from a table of known tokens (`active: false` for any other). It counts calls
//! per token and can be slowed down or taken down. Plain HTTP, one request per connection.

use super::accept::Acceptor;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the endpoint authenticates us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientCheck {
    /// `Authorization: Basic` of exactly this value (already form-encoded id:secret).
    Basic(String),
    /// `client_id` and `client_secret` form fields.
    Post { id: String, secret: String },
    /// An RFC 7523 assertion from `id`, signed by the key of this public JWK, for this
    /// endpoint's URL, with a `jti` never seen before.
    PrivateKeyJwt { id: String, jwk: serde_json::Value },
}

#[derive(Default)]
struct State {
    /// token → the JSON answer for it.
    tokens: HashMap<String, serde_json::Value>,
    calls: HashMap<String, u64>,
    /// Every assertion `jti` accepted (a replay is refused).
    jtis: std::collections::HashSet<String>,
    /// Form fields of the last request, token removed.
    last_form: Vec<(String, String)>,
    delay: Duration,
    down: bool,
    status: Option<u16>,
}

pub struct Introspection {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    /// Dropping it stops the endpoint.
    _acceptor: Acceptor,
}

impl Introspection {
    pub fn start(client: ClientCheck) -> Introspection {
        let state = Arc::new(Mutex::new(State::default()));
        let acceptor = {
            let state = state.clone();
            Acceptor::start("introspection", move |stream| {
                serve(stream, &state, &client)
            })
        };
        Introspection {
            addr: acceptor.addr,
            state,
            _acceptor: acceptor,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/introspect", self.addr)
    }

    /// `token` answers `answer` (which should carry `active`).
    pub fn set(&self, token: &str, answer: serde_json::Value) {
        self.with(|s| s.tokens.insert(token.to_owned(), answer));
    }

    pub fn calls(&self, token: &str) -> u64 {
        self.with(|s| s.calls.get(token).copied().unwrap_or(0))
    }

    pub fn total_calls(&self) -> u64 {
        self.with(|s| s.calls.values().sum())
    }

    pub fn last_form(&self) -> Vec<(String, String)> {
        self.with(|s| s.last_form.clone())
    }

    pub fn set_delay(&self, delay: Duration) {
        self.with(|s| s.delay = delay);
    }

    /// Close every connection unanswered.
    pub fn set_down(&self, down: bool) {
        self.with(|s| s.down = down);
    }

    /// Answer every request with this status (and `{}`) instead.
    pub fn set_status(&self, status: Option<u16>) {
        self.with(|s| s.status = status);
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }
}

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The `jti` of a valid assertion from `id` for `audience` signed by `jwk`'s key, checked
/// with the server's own verifier (a provider trusting only that key).
fn assertion_jti(jwt: &str, id: &str, jwk: &serde_json::Value, audience: &str) -> Option<String> {
    let yaml = format!(
        "providers:\n  - name: client\n    issuer: {id}\n    audiences: [{audience}]\n    jwks: {{ inline: '{}' }}\n    required_claims: [exp, iat, jti, sub]\n",
        serde_json::json!({"keys": [jwk]})
    );
    let snapshot =
        envoy_jwt_authz::config::compile_str(&yaml, std::path::Path::new("c.yaml")).ok()?;
    let verified = envoy_jwt_authz::token::verify::verify(
        jwt,
        &snapshot,
        &envoy_jwt_authz::snapshot::ProviderSet::Any,
        envoy_jwt_authz::token::verify::UnixTime::now(),
    )
    .ok()?;
    (verified.claims()["sub"] == id)
        .then(|| verified.claims()["jti"].as_str().map(str::to_owned))?
}

fn serve(stream: TcpStream, state: &Mutex<State>, client: &ClientCheck) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut headers = HashMap::new();
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some((k, v)) = line.trim_end().split_once(':') {
            headers.insert(k.to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    let length: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length.min(1 << 20)];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let form: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let token = field("token").unwrap_or_default();
    let (delay, down, status) = {
        let mut s = state.lock().unwrap();
        *s.calls.entry(token.clone()).or_default() += 1;
        s.last_form = form.iter().filter(|(k, _)| k != "token").cloned().collect();
        (s.delay, s.down, s.status)
    };
    std::thread::sleep(delay);
    if down {
        return;
    }
    let authenticated = match client {
        ClientCheck::Basic(expected) => {
            use base64::Engine;
            let encoded = base64::engine::general_purpose::STANDARD.encode(expected);
            headers.get("authorization") == Some(&format!("Basic {encoded}"))
        }
        ClientCheck::Post { id, secret } => {
            field("client_id").as_ref() == Some(id)
                && field("client_secret").as_ref() == Some(secret)
        }
        ClientCheck::PrivateKeyJwt { id, jwk } => {
            let addr = stream.local_addr().unwrap();
            let jti = field("client_assertion")
                .filter(|_| field("client_assertion_type").as_deref() == Some(JWT_BEARER))
                .and_then(|jwt| assertion_jti(&jwt, id, jwk, &format!("http://{addr}/introspect")));
            jti.is_some_and(|jti| state.lock().unwrap().jtis.insert(jti))
        }
    };
    let (code, answer) = match status {
        Some(code) => (code, "{}".to_owned()),
        None if !authenticated => (401, r#"{"error":"invalid_client"}"#.to_owned()),
        None => {
            let s = state.lock().unwrap();
            let answer = s
                .tokens
                .get(&token)
                .cloned()
                .unwrap_or_else(|| serde_json::json!({"active": false}));
            (200, answer.to_string())
        }
    };
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
        answer.len()
    );
    let _ = stream.flush();
}
