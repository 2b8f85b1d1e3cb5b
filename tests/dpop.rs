//! DPoP (RFC 9449) through the real binary behind a real Envoy: a bound token with a valid
//! proof passes once; every proof defect, a replay, and the bound token sent as Bearer are
//! refused with their own reason and a `DPoP` challenge the client receives from Envoy; a
//! required nonce travels to the client in `DPoP-Nonce` and is accepted back.

use crate::support::envoy::Envoy;
use crate::support::http::{Response, request};
use crate::support::server::Server;
use crate::support::{self, claims_with, ec_key, mint};
use envoy_jwt_authz::algorithm::Algorithm;
use envoy_jwt_authz::mint::SigningKey;
use envoy_jwt_authz::token::verify::UnixTime;
use serde_json::{Value, json};
use std::net::SocketAddr;

const HOST: &str = "api.test";

fn encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
const PATH: &str = "/orders";

/// `http://api.test/orders`: Envoy's plain listener sends `:scheme` http and our Host.
fn url(path: &str) -> String {
    format!("http://{HOST}{path}")
}

fn send(envoy: &Envoy, method: &str, path: &str, authorization: &str, proofs: &[&str]) -> Response {
    let mut headers = vec![("Host", HOST), ("Authorization", authorization)];
    headers.extend(proofs.iter().map(|p| ("DPoP", *p)));
    request(envoy.listener, method, path, &headers).expect("request through Envoy")
}

/// The `error_description` of a JSON denial.
fn description(response: &Response) -> String {
    let body: Value = serde_json::from_str(&response.body).unwrap_or(Value::Null);
    body["error_description"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

struct Client {
    key: SigningKey,
    token: String,
}

impl Client {
    fn new() -> Client {
        let key = SigningKey::generate(Algorithm::Es256).expect("client key");
        let claims = claims_with(json!({ "cnf": { "jkt": key.thumbprint() } }));
        let token = mint(&ec_key(), &claims);
        Client { key, token }
    }

    fn proof(&self, method: &str, url: &str, iat_offset: i64) -> String {
        let iat = UnixTime::now().0 + iat_offset;
        self.key
            .dpop_proof(method, url, iat, Some(&self.token), None)
            .expect("proof")
    }

    fn crafted(&self, header: Value, claims: Value) -> String {
        self.key
            .sign_parts(header.to_string().as_bytes(), claims.to_string().as_bytes())
            .expect("sign")
    }
}

#[test]
fn dpop_proofs_are_checked_through_envoy() {
    let server = Server::start(&support::config_yaml(
        "    dpop: { algorithms: [ES256, EdDSA] }\nchallenge: { realm: api }\n",
    ));
    let envoy = Envoy::start(server.grpc.port(), false);
    let client = Client::new();
    let dpop = format!("DPoP {}", client.token);
    let valid = client.proof("GET", &url(PATH), 0);
    let ok = send(&envoy, "GET", PATH, &dpop, &[&valid]);
    assert_eq!(ok.status, 200, "{}", ok.body);
    // The query is not part of htu.
    let ok = send(
        &envoy,
        "GET",
        "/orders?page=2",
        &dpop,
        &[&client.proof("GET", &url(PATH), 0)],
    );
    assert_eq!(ok.status, 200, "{}", ok.body);

    let now = UnixTime::now().0;
    let jwk = client.key.bare_public_jwk();
    let ath = envoy_jwt_authz::dpop::proof::access_token_hash(&client.token);
    let claims =
        json!({ "jti": "crafted-1", "htm": "GET", "htu": url(PATH), "iat": now, "ath": ath });
    let mut private = jwk.clone();
    private["d"] = json!("c2VjcmV0");
    let with_private = client.crafted(
        json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": private }),
        claims.clone(),
    );
    let none = format!(
        "{}.{}.",
        encode(
            json!({ "typ": "dpop+jwt", "alg": "none", "jwk": jwk })
                .to_string()
                .as_bytes()
        ),
        encode(claims.to_string().as_bytes())
    );
    let hs256 = format!(
        "{}.{}.c2ln",
        encode(
            json!({ "typ": "dpop+jwt", "alg": "HS256", "jwk": { "kty": "oct", "k": "c2VjcmV0" } })
                .to_string()
                .as_bytes()
        ),
        encode(claims.to_string().as_bytes())
    );
    let no_ath = client.crafted(
        json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": jwk }),
        json!({ "jti": "crafted-2", "htm": "GET", "htu": url(PATH), "iat": now }),
    );
    let other = Client::new();
    let other_key = other
        .key
        .dpop_proof("GET", &url(PATH), now, Some(&client.token), None)
        .unwrap();
    let rows: Vec<(&str, String, Vec<String>, &str, &str)> = vec![
        (
            "replayed",
            dpop.clone(),
            vec![valid.clone()],
            "invalid_dpop_proof",
            "DPoP proof replayed",
        ),
        (
            "no proof",
            dpop.clone(),
            vec![],
            "invalid_dpop_proof",
            "DPoP proof missing",
        ),
        (
            "two proofs",
            dpop.clone(),
            vec![
                client.proof("GET", &url(PATH), 0),
                client.proof("GET", &url(PATH), 0),
            ],
            "invalid_dpop_proof",
            "malformed DPoP proof",
        ),
        (
            "other method",
            dpop.clone(),
            vec![client.proof("POST", &url(PATH), 0)],
            "invalid_dpop_proof",
            "DPoP proof does not match the request",
        ),
        (
            "other path",
            dpop.clone(),
            vec![client.proof("GET", &url("/orders/1"), 0)],
            "invalid_dpop_proof",
            "DPoP proof does not match the request",
        ),
        (
            "other host",
            dpop.clone(),
            vec![client.proof("GET", "http://other.test/orders", 0)],
            "invalid_dpop_proof",
            "DPoP proof does not match the request",
        ),
        (
            "stale",
            dpop.clone(),
            vec![client.proof("GET", &url(PATH), -120)],
            "invalid_dpop_proof",
            "DPoP proof not fresh",
        ),
        (
            "no ath",
            dpop.clone(),
            vec![no_ath],
            "invalid_dpop_proof",
            "DPoP proof does not match the request",
        ),
        (
            "another token's ath",
            dpop.clone(),
            vec![
                client
                    .key
                    .dpop_proof("GET", &url(PATH), now, Some("other"), None)
                    .unwrap(),
            ],
            "invalid_dpop_proof",
            "DPoP proof does not match the request",
        ),
        (
            "another key",
            dpop.clone(),
            vec![other_key],
            "invalid_token",
            "invalid DPoP key binding",
        ),
        (
            "private key in jwk",
            dpop.clone(),
            vec![with_private],
            "invalid_dpop_proof",
            "malformed DPoP proof",
        ),
        (
            "alg none",
            dpop.clone(),
            vec![none],
            "invalid_dpop_proof",
            "malformed DPoP proof",
        ),
        (
            "alg HS256",
            dpop.clone(),
            vec![hs256],
            "invalid_dpop_proof",
            "malformed DPoP proof",
        ),
        (
            "bound token as Bearer",
            format!("Bearer {}", client.token),
            vec![],
            "invalid_token",
            "token is bound to a DPoP key",
        ),
    ];
    for (name, authorization, proofs, error, expected) in rows {
        let proofs: Vec<&str> = proofs.iter().map(String::as_str).collect();
        let denied = send(&envoy, "GET", PATH, &authorization, &proofs);
        assert_eq!(denied.status, 401, "{name}: {}", denied.body);
        assert_eq!(description(&denied), expected, "{name}");
        let challenge = denied.header("www-authenticate").unwrap_or_default();
        // Both schemes are offered, in one header; the error sits in the scheme's challenge.
        let error_param = format!(r#"error="{error}", error_description="{expected}""#);
        let (bearer, dpop_challenge) = challenge.split_once(", DPoP ").expect(challenge);
        assert!(
            dpop_challenge.ends_with(r#"algs="ES256 EdDSA""#),
            "{name}: {challenge}"
        );
        let used = if authorization.starts_with("DPoP") {
            dpop_challenge
        } else {
            bearer
        };
        assert!(used.contains(&error_param), "{name}: {challenge}");
        assert!(
            bearer.starts_with(r#"Bearer realm="api""#),
            "{name}: {challenge}"
        );
    }
}

#[test]
fn a_required_nonce_reaches_the_client_through_envoy_and_is_accepted_back() {
    let server = Server::start(&support::config_yaml(
        "    dpop: { mode: required, nonce: required }\n",
    ));
    let envoy = Envoy::start(server.grpc.port(), false);
    let client = Client::new();
    let dpop = format!("DPoP {}", client.token);
    let first = send(
        &envoy,
        "GET",
        PATH,
        &dpop,
        &[&client.proof("GET", &url(PATH), 0)],
    );
    assert_eq!(first.status, 401, "{}", first.body);
    assert_eq!(description(&first), "DPoP nonce required");
    let challenge = first.header("www-authenticate").unwrap_or_default();
    assert!(
        challenge.starts_with(r#"DPoP error="use_dpop_nonce""#),
        "{challenge}"
    );
    let nonce = first.header("dpop-nonce").expect("DPoP-Nonce").to_owned();
    let proof = client
        .key
        .dpop_proof(
            "GET",
            &url(PATH),
            UnixTime::now().0,
            Some(&client.token),
            Some(&nonce),
        )
        .unwrap();
    let ok = send(&envoy, "GET", PATH, &dpop, &[&proof]);
    assert_eq!(ok.status, 200, "{}", ok.body);
    // `required`: an unbound token is refused even as Bearer.
    let unbound = format!("Bearer {}", mint(&ec_key(), &support::claims()));
    let refused = send(&envoy, "GET", PATH, &unbound, &[]);
    assert_eq!(description(&refused), "DPoP-bound token required");
}

/// Through a front end at `at` whose provider has `dpop: { nonce: required }`: a proof
/// without a nonce gets one in `DPoP-Nonce` (the proxy must pass the header on), the proof
/// with it passes (the `DPoP` header reached the authorizer), its replay does not, and the
/// bound token as Bearer is refused. Part of every front end's table in `http_mode`.
pub(crate) fn assert_nonce_proof_and_replay(at: SocketAddr, name: &str, log: &dyn Fn() -> String) {
    let client = Client::new();
    let dpop = format!("DPoP {}", client.token);
    // The table's requests go to Host test.local over plain http.
    let url = "http://test.local/orders";
    let send = |authorization: &str, proofs: &[&str]| {
        let mut headers = vec![("Authorization", authorization)];
        headers.extend(proofs.iter().map(|p| ("DPoP", *p)));
        request(at, "GET", "/orders", &headers).expect("request")
    };
    let ctx = |what: &str, response: &Response| format!("{name}: {what} {response:?}\n{}", log());
    let first = send(&dpop, &[&client.proof("GET", url, 0)]);
    assert_eq!(first.status, 401, "{}", ctx("no nonce", &first));
    assert_eq!(
        description(&first),
        "DPoP nonce required",
        "{}",
        ctx("no nonce", &first)
    );
    let challenge = first.header("www-authenticate").unwrap_or_default();
    assert!(
        challenge.contains(r#"DPoP realm="orders-api", error="use_dpop_nonce""#),
        "{}",
        ctx("challenge", &first)
    );
    let nonce = first
        .header("dpop-nonce")
        .unwrap_or_else(|| panic!("{}", ctx("no DPoP-Nonce", &first)));
    let proof = client
        .key
        .dpop_proof(
            "GET",
            url,
            UnixTime::now().0,
            Some(&client.token),
            Some(nonce),
        )
        .unwrap();
    let ok = send(&dpop, &[&proof]);
    assert_eq!(ok.status, 200, "{}", ctx("with the nonce", &ok));
    let replayed = send(&dpop, &[&proof]);
    assert_eq!(
        description(&replayed),
        "DPoP proof replayed",
        "{}",
        ctx("replay", &replayed)
    );
    let bearer = send(&format!("Bearer {}", client.token), &[]);
    assert_eq!(
        description(&bearer),
        "token is bound to a DPoP key",
        "{}",
        ctx("as Bearer", &bearer)
    );
}
