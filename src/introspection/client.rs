//! One RFC 7662 request: `POST` the token as a form to the configured endpoint with the
//! configured client authentication, read at most `max_bytes` of the answer, and turn it
//! into an [`Answer`] — or a [`Failure`] when the endpoint did not judge the token.
//!
//! Only the endpoint from the trusted config is ever called (no redirect is followed: a
//! redirected POST would carry the token somewhere the config never named).
//!
//! (Over 400 lines: about half is the unit tests of the wire format — client
//! authentication encodings, the assertion, what counts as an answer — kept beside it.)

use super::Answer;
use crate::remote::fetch::{self, error_chain, lost_before_answer};
use crate::remote::outbound::{Outbound, Route, client_builder};
use crate::snapshot::{AssertionKey, ClientAuth, Introspection, Proxy};
use crate::token::json;
use crate::token::verify::UnixTime;
use base64::Engine;
use serde_json::Value;
use std::sync::Arc;

/// JSON nesting accepted in an answer (the decision reads top-level members only).
const MAX_JSON_DEPTH: usize = 16;

/// Why the endpoint did not judge the token. [`Failure::kind`] is a bounded metric label.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    #[error("timed out")]
    Timeout,
    #[error("{0}")]
    Network(String),
    #[error("HTTP status {0}")]
    Status(u16),
    #[error("answer larger than {0} bytes")]
    TooLarge(usize),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Discovery(String),
    #[error("{0}")]
    Proxy(String),
    #[error("too many introspection requests in flight")]
    Overloaded,
    #[error("no answer within the Check's deadline")]
    Deadline,
}

impl Failure {
    pub fn kind(&self) -> &'static str {
        match self {
            Failure::Client(_) => "client",
            Failure::Timeout => "timeout",
            Failure::Network(_) => "network",
            Failure::Status(_) => "http_status",
            Failure::TooLarge(_) => "too_large",
            Failure::Invalid(_) => "invalid",
            Failure::Discovery(_) => "discovery",
            Failure::Proxy(_) => "proxy",
            Failure::Overloaded => "overloaded",
            Failure::Deadline => "deadline",
        }
    }
}

/// The HTTP client of one endpoint, and the proxy rule it follows (to name the proxy when
/// it is what failed).
pub struct Client {
    http: reqwest::Client,
    route: Route,
}

/// The client of one endpoint: the provider's proxy rule, rustls with the extra CA
/// certificates when given, its timeouts, HTTPS only unless allowed, and no redirects.
pub fn client(settings: &Introspection, proxy: &Proxy) -> Result<Client, Failure> {
    let route = Route::new(proxy).map_err(Failure::Client)?;
    let outbound = Outbound {
        route: &route,
        ca_pem: settings.ca_pem.as_deref(),
        allow_insecure_http: settings.allow_insecure_http,
        timeout: settings.timeout,
        connect_timeout: settings.connect_timeout,
    };
    let http = client_builder(&outbound)
        .map_err(Failure::Client)?
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| Failure::Client(e.to_string()))?;
    Ok(Client { http, route })
}

/// How long a `private_key_jwt` assertion is valid: one request's worth.
const ASSERTION_LIFETIME_SECS: i64 = 60;

/// The form body and `Authorization` value (if any) of a request for `token`.
pub fn request_parts(
    settings: &Introspection,
    token: &str,
) -> Result<(String, Option<String>), Failure> {
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("token", token);
    if let Some(hint) = &settings.token_type_hint {
        form.append_pair("token_type_hint", hint);
    }
    let authorization = match &settings.client {
        ClientAuth::None { client_id } => {
            if let Some(id) = client_id {
                form.append_pair("client_id", id);
            }
            None
        }
        ClientAuth::Post { client_id, secret } => {
            form.append_pair("client_id", client_id);
            form.append_pair("client_secret", secret.expose());
            None
        }
        ClientAuth::PrivateKeyJwt {
            client_id,
            key,
            audience,
        } => {
            form.append_pair("client_id", client_id);
            form.append_pair(
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            );
            form.append_pair("client_assertion", &assertion(client_id, key, audience)?);
            None
        }
        ClientAuth::Basic { client_id, secret } => {
            // RFC 6749 §2.3.1: id and secret are form-encoded before the Basic encoding,
            // so a ':' or '%' in either survives (servers decode them back).
            let encode =
                |v: &str| form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
            let pair = format!("{}:{}", encode(client_id), encode(secret.expose()));
            let b64 = base64::engine::general_purpose::STANDARD.encode(pair);
            Some(format!("Basic {b64}"))
        }
    };
    Ok((form.finish(), authorization))
}

/// An RFC 7523 §3 client assertion: issued by and about our client, for `audience`, with a
/// fresh random `jti` (servers refuse a replayed one) and a one-minute lifetime.
fn assertion(client_id: &str, key: &AssertionKey, audience: &str) -> Result<String, Failure> {
    let mut jti = [0u8; 16];
    aws_lc_rs::rand::fill(&mut jti)
        .map_err(|_| Failure::Client("no randomness for a jti".into()))?;
    let now = UnixTime::now().0;
    let claims = serde_json::json!({
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "jti": crate::b64::encode(&jti),
        "iat": now,
        "exp": now + ASSERTION_LIFETIME_SECS,
    });
    key.0
        .mint(&claims)
        .map_err(|e| Failure::Client(format!("cannot sign the client assertion: {e}")))
}

/// The `introspection_endpoint` in `issuer`'s metadata (RFC 8414, then OpenID Connect
/// discovery; the document's `issuer` must be this one), fetched through the provider's
/// proxy with the endpoint's TLS trust.
pub async fn discover(
    settings: &Introspection,
    proxy: &Proxy,
    issuer: &str,
) -> Result<String, Failure> {
    let route = Route::new(proxy).map_err(Failure::Client)?;
    let client = fetch::client_for(&Outbound {
        route: &route,
        ca_pem: settings.ca_pem.as_deref(),
        allow_insecure_http: settings.allow_insecure_http,
        timeout: settings.timeout,
        connect_timeout: settings.connect_timeout,
    })
    .map_err(|e| Failure::Client(e.to_string()))?;
    let url = fetch::discover_member(
        &client,
        settings.max_bytes,
        issuer,
        "introspection_endpoint",
    )
    .await
    .map_err(|e| Failure::Discovery(e.to_string()))?;
    match reqwest::Url::parse(&url).map(|u| u.scheme().to_owned()) {
        Ok(scheme) if scheme == "https" || (scheme == "http" && settings.allow_insecure_http) => {
            Ok(url)
        }
        _ => Err(Failure::Discovery(format!(
            "{issuer} names introspection_endpoint {url:?}, which is not an https URL"
        ))),
    }
}

/// Asks the endpoint at `url` about `token`; the answer and the size of its JSON.
pub async fn introspect(
    client: &Client,
    settings: &Introspection,
    url: &str,
    token: &str,
) -> Result<(Answer, usize), Failure> {
    let (body, authorization) = request_parts(settings, token)?;
    let authorization = match authorization.map(reqwest::header::HeaderValue::try_from) {
        None => None,
        Some(Ok(mut value)) => {
            // Kept out of HTTP/2 header compression tables and debug output.
            value.set_sensitive(true);
            Some(value)
        }
        Some(Err(_)) => return Err(Failure::Client("unusable client credentials".into())),
    };
    let send = || {
        let mut request = client
            .http
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(body.clone());
        if let Some(value) = &authorization {
            request = request.header("authorization", value);
        }
        request.send()
    };
    let network = |e: reqwest::Error| {
        let chain = error_chain(&e);
        if e.is_timeout() {
            Failure::Timeout
        } else if let Some((proxy, message)) = client.route.blame_error(url, &e, &chain) {
            Failure::Proxy(format!("through proxy {}: {message}", proxy.url))
        } else {
            Failure::Network(chain)
        }
    };
    // Introspection only reads, so a request lost with a pooled connection closed under
    // it (before any answer) is safe to send once more.
    let mut response = match send().await {
        Err(e) if lost_before_answer(&e) => send().await.map_err(network)?,
        result => result.map_err(network)?,
    };
    if let Some((proxy, message)) = client.route.blame_status(url, response.status()) {
        return Err(Failure::Proxy(format!(
            "through proxy {}: {message}",
            proxy.url
        )));
    }
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let max = settings.max_bytes;
    if response
        .content_length()
        .is_some_and(|len| len > max as u64)
    {
        return Err(Failure::TooLarge(max));
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(network)? {
        if bytes.len() + chunk.len() > max {
            return Err(Failure::TooLarge(max));
        }
        bytes.extend_from_slice(&chunk);
    }
    parse(status, &content_type, &bytes).map(|answer| (answer, bytes.len()))
}

/// RFC 7662 §2.2: a `200` JSON object whose `active` is a boolean. Anything else did not
/// judge the token (an error status is often 401 for our own credentials).
pub fn parse(status: u16, content_type: &str, body: &[u8]) -> Result<Answer, Failure> {
    if status != 200 {
        return Err(Failure::Status(status));
    }
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if media == "application/token-introspection+jwt" {
        return Err(Failure::Invalid(
            "a JWT introspection answer (RFC 9701), which is not supported: ask for JSON".into(),
        ));
    }
    if media != "application/json" {
        return Err(Failure::Invalid(format!(
            "content-type {media:?}, not application/json"
        )));
    }
    let claims = json::parse_object(body, MAX_JSON_DEPTH)
        .map_err(|e| Failure::Invalid(format!("not a strict JSON object: {e}")))?;
    match claims.get("active") {
        Some(Value::Bool(true)) => Ok(Answer::Active(Arc::new(claims))),
        Some(Value::Bool(false)) => Ok(Answer::Inactive),
        _ => Err(Failure::Invalid("`active` is not a boolean".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{IntrospectTokens, Secret};
    use std::time::Duration;

    fn settings(client: ClientAuth) -> Introspection {
        Introspection {
            endpoint: crate::snapshot::Endpoint::Url("https://idp.test/introspect".into()),
            client,
            token_type_hint: Some("access_token".into()),
            tokens: IntrospectTokens::Opaque,
            max_ttl: Duration::from_secs(60),
            negative_ttl: Duration::from_secs(5),
            entries: 10,
            timeout: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(1),
            max_concurrent: 4,
            allow_insecure_http: false,
            ca_pem: None,
            max_bytes: 1024,
        }
    }

    #[test]
    fn client_secret_basic_form_encodes_before_base64() {
        let (form, auth) = request_parts(
            &settings(ClientAuth::Basic {
                client_id: "my client".into(),
                secret: Secret::new("p:a%ss".into()),
            }),
            "tok/en+1",
        )
        .unwrap();
        assert_eq!(form, "token=tok%2Fen%2B1&token_type_hint=access_token");
        let b64 = auth.unwrap().strip_prefix("Basic ").unwrap().to_owned();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        assert_eq!(String::from_utf8(decoded).unwrap(), "my+client:p%3Aa%25ss");
    }

    #[test]
    fn client_secret_post_and_none_put_the_client_in_the_form() {
        let post = ClientAuth::Post {
            client_id: "api".into(),
            secret: Secret::new("s".into()),
        };
        let (form, auth) = request_parts(&settings(post), "t").unwrap();
        assert_eq!(
            (form.as_str(), auth),
            (
                "token=t&token_type_hint=access_token&client_id=api&client_secret=s",
                None
            )
        );
        let mut none = settings(ClientAuth::None { client_id: None });
        none.token_type_hint = None;
        assert_eq!(request_parts(&none, "t"), Ok(("token=t".into(), None)));
    }

    #[test]
    fn private_key_jwt_sends_a_fresh_signed_assertion_about_our_client() {
        use crate::mint::test_keys;
        let key = test_keys::ec(crate::algorithm::Algorithm::Es256, "gw-1");
        let auth = ClientAuth::PrivateKeyJwt {
            client_id: "gw".into(),
            key: AssertionKey(Arc::new(key.clone())),
            audience: "https://idp.test".into(),
        };
        let assertion_of = |form: &str| {
            form_urlencoded::parse(form.as_bytes())
                .find(|(k, _)| k == "client_assertion")
                .map(|(_, v)| v.into_owned())
                .unwrap()
        };
        let (first, authorization) = request_parts(&settings(auth.clone()), "t").unwrap();
        assert_eq!(authorization, None);
        assert!(first.contains(
            "client_id=gw&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"
        ));
        let (second, _) = request_parts(&settings(auth), "t").unwrap();
        // Verified with our own verifier, trusting only the client's public key.
        let yaml = format!(
            "providers:\n  - name: c\n    issuer: gw\n    audiences: [https://idp.test]\n    jwks: {{ inline: '{}' }}\n    required_claims: [exp, jti]\n",
            serde_json::json!({"keys": [key.public_jwk()]})
        );
        let snap = crate::config::compile_str(&yaml, std::path::Path::new("c.yaml")).unwrap();
        let mut jtis = Vec::new();
        for form in [first, second] {
            let jwt = assertion_of(&form);
            let verified = crate::token::verify::verify(
                &jwt,
                &snap,
                &crate::snapshot::ProviderSet::Any,
                UnixTime::now(),
            )
            .expect("a valid assertion");
            assert_eq!(verified.claims()["sub"], "gw");
            assert_eq!(verified.kid(), Some("gw-1"));
            jtis.push(verified.claims()["jti"].clone());
        }
        assert_ne!(jtis[0], jtis[1], "a fresh jti each time");
    }

    #[test]
    fn only_a_200_json_object_with_a_boolean_active_is_an_answer() {
        let json = "application/json; charset=utf-8";
        assert!(matches!(
            parse(200, json, br#"{"active":true,"scope":"a"}"#),
            Ok(Answer::Active(c)) if c["scope"] == "a"
        ));
        assert_eq!(
            parse(200, json, br#"{"active":false}"#),
            Ok(Answer::Inactive)
        );
        assert_eq!(parse(401, json, b"{}"), Err(Failure::Status(401)));
        for bad in [
            &br#"{"active":"true"}"#[..],
            b"{}",
            b"[]",
            br#"{"active":true,"active":false}"#,
        ] {
            assert!(
                matches!(parse(200, json, bad), Err(Failure::Invalid(_))),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(matches!(
            parse(200, "text/html", br#"{"active":true}"#),
            Err(Failure::Invalid(m)) if m.contains("text/html")
        ));
        assert!(matches!(
            parse(200, "application/token-introspection+jwt", b"x.y.z"),
            Err(Failure::Invalid(m)) if m.contains("RFC 9701")
        ));
    }
}
