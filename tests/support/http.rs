//! A raw HTTP/1.1 client: one request per connection, headers sent exactly as given.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// A parsed response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// Header names lowercased, in order, repeated headers kept.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    /// The only value of `name`; panics if there are several.
    pub fn header(&self, name: &str) -> Option<&str> {
        let values: Vec<&str> = self
            .headers
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect();
        assert!(
            values.len() <= 1,
            "{name} appears {} times: {values:?}",
            values.len()
        );
        values.first().copied()
    }
}

impl Response {
    /// Asserts this is a 401 `invalid_token` answer with `description`: status, challenge
    /// (with `realm`) and JSON body; `case` names the failing case.
    pub fn assert_invalid_token(&self, realm: &str, description: &str, case: &str) {
        assert_eq!(self.status, 401, "{case}: {self:?}");
        let challenge = format!(
            r#"Bearer realm="{realm}", error="invalid_token", error_description="{description}""#
        );
        assert_eq!(
            self.header("www-authenticate"),
            Some(challenge.as_str()),
            "{case}"
        );
        assert_eq!(
            self.body,
            format!(r#"{{"error":"invalid_token","error_description":"{description}"}}"#),
            "{case}"
        );
    }
}

/// Sends `method path` with `headers` (each `(name, value)`, duplicates allowed; a `Host`
/// among them replaces the default `test.local`).
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<Response> {
    request_with_body(addr, method, path, headers, "")
}

/// [`request`] with a body (and its `Content-Length`, unless `body` is empty).
pub fn request_with_body(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    exchange(&mut stream, method, path, headers, body)
}

/// Sends one request on `stream` (plain TCP, or TLS: see `support::tls`) and reads the
/// response until the server closes the connection.
pub fn exchange(
    stream: &mut (impl Read + Write),
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<Response> {
    let mut text = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("host"))
    {
        text.push_str("Host: test.local\r\n");
    }
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() {
        text.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    text.push_str("\r\n");
    text.push_str(body);
    stream.write_all(text.as_bytes())?;
    let mut raw = Vec::new();
    match stream.read_to_end(&mut raw) {
        Ok(_) => {}
        // A TLS peer that closes without close_notify, after a whole response.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => {}
        Err(e) => return Err(e),
    }
    parse(&raw).ok_or_else(|| {
        std::io::Error::other(format!(
            "unparseable response: {:?}",
            String::from_utf8_lossy(&raw)
        ))
    })
}

/// GET with an optional bearer token.
pub fn get(addr: SocketAddr, path: &str, token: Option<&str>) -> Response {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    request(addr, "GET", path, &headers).expect("HTTP request")
}

/// POSTs `form` (`application/x-www-form-urlencoded`) to `url` (`http://host:port/path`),
/// authenticating with HTTP Basic as RFC 6749 §2.3.1 says: id and secret form-encoded first.
pub fn post_form(url: &str, basic: (&str, &str), form: &[(&str, &str)]) -> Response {
    use base64::Engine;
    let rest = url.strip_prefix("http://").expect("an http:// URL");
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let addr: SocketAddr = authority.parse().expect("host:port of an IP address");
    let encode = |v: &str| form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
    let pair = format!("{}:{}", encode(basic.0), encode(basic.1));
    let authorization = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    );
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let headers = [
        ("Host", authority),
        ("Authorization", authorization.as_str()),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ];
    request_with_body(addr, "POST", path, &headers, &body).expect("HTTP POST")
}

fn parse(raw: &[u8]) -> Option<Response> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_owned()
    };
    Some(Response {
        status,
        headers,
        body,
    })
}

/// Decodes a chunked body (Envoy's admin endpoints answer chunked).
fn dechunk(mut rest: &str) -> Option<String> {
    let mut body = String::new();
    loop {
        let (size, after) = rest.split_once("\r\n")?;
        let size = usize::from_str_radix(size.trim(), 16).ok()?;
        if size == 0 {
            return Some(body);
        }
        body.push_str(after.get(..size)?);
        rest = after.get(size + 2..)?;
    }
}
