//! DPoP (RFC 9449) interop with implementations nobody here wrote: panva's `oidc-provider`
//! (pinned, on loopback, `features.dPoP`) issues a DPoP-bound JWT access token (RFC 9068,
//! `cnf.jkt`) to a client whose key and proofs panva's `jose` makes
//! (`tests/interop/oidc-provider/dpop-client.js`); our real server, with `dpop: allowed`
//! and the provider's keys by its discovery document, judges them behind a real Envoy:
//! the token with its proof is allowed (and with a fresh proof again, the query not being
//! part of `htu`), while the proof replayed, the token downgraded to `Bearer`, the token
//! without a proof, and a proof for another URL are each refused with their own reason and
//! the challenge the client receives from Envoy. Every proof algorithm both sides share
//! (EC, Ed25519 and RSA keys, so three kinds of RFC 7638 thumbprint) is allowed. With our
//! `dpop.nonce: required`, the `DPoP-Nonce` we answer reaches the client through Envoy, and
//! jose's proof with it is allowed.

use crate::support::envoy::Envoy;
use crate::support::http;
use crate::support::oidc_provider::{APP_ID, DpopGrant, OidcProvider};
use crate::support::server::Server;
use crate::support::wait_for;
use base64::Engine;
use std::time::Duration;

/// The resource oidc-provider makes JWT access tokens for (`server.js`).
const RESOURCE: &str = "api://orders-dpop";

/// The `DPoP` challenge's `algs`: `dpop: allowed` accepts every asymmetric algorithm.
const ALGS: &str = r#"algs="RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512 EdDSA Ed25519""#;

/// Our config for `op`: its issuer, its keys by discovery, `dpop: <dpop>`, one route.
fn config(op: &OidcProvider, dpop: &str) -> String {
    format!(
        "providers:
  - name: oidc-provider
    issuer: {issuer}
    audiences: [{RESOURCE}]
    jwks: {{ discovery: true, allow_insecure_http: true }}
    dpop: {dpop}
upstream: {{ claim_headers: {{ client_id: x-jwt-sub, scope: x-jwt-scope }} }}
routes:
  - match: {{ path_prefix: /orders }}
    scopes: [orders.read]
",
        issuer = op.issuer,
    )
}

struct Setup {
    op: OidcProvider,
    server: Server,
    envoy: Envoy,
    /// Envoy's listener as the client names it: the `Host` it sends and its proofs' `htu`.
    authority: String,
}

/// oidc-provider, our server with `dpop: <dpop>` (ready, with its keys) and Envoy in front.
fn start(dpop: &str) -> Setup {
    let op = OidcProvider::start();
    let server = Server::start(&config(&op, dpop));
    let envoy = Envoy::start(server.grpc.port(), false);
    wait_for(
        "our /readyz with oidc-provider's keys",
        Duration::from_secs(20),
        || {
            let ready = http::request(server.admin, "GET", "/readyz", &[]).ok()?;
            (ready.status == 200).then_some(())
        },
    );
    let authority = envoy.listener.to_string();
    Setup {
        op,
        server,
        envoy,
        authority,
    }
}

impl Setup {
    /// `http://<Envoy's listener><path>`: what a proof for a request to `path` names.
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.authority)
    }

    /// A token bound to a new `alg` key, checked for what oidc-provider says it is, and a
    /// proof for each `GET` of `paths`.
    fn grant(&self, alg: &str, paths: &[&str]) -> DpopGrant {
        let urls: Vec<String> = paths.iter().map(|p| self.url(p)).collect();
        let requests: Vec<(&str, &str)> = urls.iter().map(|u| ("GET", u.as_str())).collect();
        let grant = self
            .op
            .dpop_client_credentials(alg, "orders.read", RESOURCE, &requests);
        assert_eq!(grant.token_type, "DPoP", "{grant:?}");
        let claims = payload(&grant.access_token);
        assert_eq!(claims["cnf"]["jkt"], grant.jkt.as_str(), "{claims}");
        assert_eq!(claims["aud"], RESOURCE, "{claims}");
        assert_eq!(payload(&grant.proofs[0])["htu"], urls[0].as_str());
        grant
    }

    /// `GET path` through Envoy with this `Authorization` and, if given, `DPoP` header.
    fn send(&self, path: &str, authorization: &str, proof: Option<&str>) -> http::Response {
        let mut headers = vec![
            ("Host", self.authority.as_str()),
            ("Authorization", authorization),
        ];
        headers.extend(proof.map(|p| ("DPoP", p)));
        http::request(self.envoy.listener, "GET", path, &headers).expect("HTTP request")
    }

    /// Everything both processes logged, for a failing assertion.
    fn logs(&self) -> String {
        format!(
            "ours:\n{}\noidc-provider:\n{}",
            self.server.log(),
            self.op.log()
        )
    }

    /// A 401 with exactly `challenge`, that our server denied for `reason`.
    fn assert_refused(&self, answer: &http::Response, reason: &str, challenge: &str) {
        assert_eq!(answer.status, 401, "{reason}: {answer:?}\n{}", self.logs());
        assert_eq!(
            answer.header("www-authenticate"),
            Some(challenge),
            "{reason}: {answer:?}"
        );
        let denials = http::request(self.server.debug, "GET", "/debug/denials", &[]).unwrap();
        let denials: serde_json::Value = serde_json::from_str(&denials.body).unwrap();
        let newest = &denials["denials"][0];
        assert_eq!(newest["reason"], reason, "{denials}");
        assert_eq!(newest["provider"], "oidc-provider", "{denials}");
    }
}

/// The JSON payload of a compact JWS.
fn payload(jws: &str) -> serde_json::Value {
    let part = jws.split('.').nth(1).expect("a JWS payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON")
}

/// The `DPoP` challenge of a proof refusal (`description`), after the `Bearer` one.
fn proof_error(description: &str) -> String {
    format!(
        r#"Bearer scope="orders.read", DPoP error="invalid_dpop_proof", error_description="{description}", scope="orders.read", {ALGS}"#
    )
}

#[test]
fn oidc_provider_dpop_bound_tokens_with_jose_proofs_are_allowed_and_every_misuse_refused() {
    let s = start("allowed");
    let grant = s.grant("ES256", &["/orders/1", "/orders/1", "/orders/2"]);
    let [first, second, elsewhere] = grant.proofs.as_slice() else {
        panic!("three proofs: {grant:?}")
    };
    let token = &grant.access_token;
    let dpop = format!("DPoP {token}");

    let allowed = s.send("/orders/1", &dpop, Some(first));
    assert_eq!(allowed.status, 200, "{allowed:?}\n{}", s.logs());
    assert_eq!(allowed.header("x-upstream-saw-sub"), Some(APP_ID));
    assert_eq!(allowed.header("x-upstream-saw-scope"), Some("orders.read"));
    assert_eq!(allowed.header("x-authz-provider"), Some("oidc-provider"));

    s.assert_refused(
        &s.send("/orders/1", &dpop, Some(first)),
        "dpop_proof_replayed",
        &proof_error("DPoP proof replayed"),
    );
    s.assert_refused(
        &s.send("/orders/1", &format!("Bearer {token}"), None),
        "dpop_bound_token",
        &format!(
            r#"Bearer error="invalid_token", error_description="token is bound to a DPoP key", scope="orders.read", DPoP scope="orders.read", {ALGS}"#
        ),
    );
    s.assert_refused(
        &s.send("/orders/1", &dpop, None),
        "dpop_proof_missing",
        &proof_error("DPoP proof missing"),
    );
    s.assert_refused(
        &s.send("/orders/1", &dpop, Some(elsewhere)),
        "dpop_proof_mismatch",
        &proof_error("DPoP proof does not match the request"),
    );

    // A fresh proof for the same URL is good after all that; `htu` has no query (§4.2).
    let again = s.send("/orders/1?page=2", &dpop, Some(second));
    assert_eq!(again.status, 200, "{again:?}\n{}", s.logs());
}

#[test]
fn every_proof_algorithm_oidc_provider_and_jose_share_is_allowed() {
    let s = start("allowed");
    // server.js's `enabledJWA.dPoPSigningAlgValues`; jose's EdDSA key is an Ed25519 one.
    for alg in ["ES256", "ES384", "EdDSA", "PS256", "RS256"] {
        let grant = s.grant(alg, &["/orders/1"]);
        let dpop = format!("DPoP {}", grant.access_token);
        let answer = s.send("/orders/1", &dpop, Some(&grant.proofs[0]));
        assert_eq!(answer.status, 200, "{alg}: {answer:?}\n{}", s.logs());
    }
}

#[test]
fn our_dpop_nonce_reaches_the_client_through_envoy_and_its_proof_with_it_is_allowed() {
    let s = start("{ mode: allowed, nonce: required }");
    let grant = s.grant("ES256", &["/orders/1"]);
    let dpop = format!("DPoP {}", grant.access_token);
    let asked = s.send("/orders/1", &dpop, Some(&grant.proofs[0]));
    s.assert_refused(
        &asked,
        "dpop_nonce_required",
        &format!(
            r#"Bearer scope="orders.read", DPoP error="use_dpop_nonce", error_description="DPoP nonce required", scope="orders.read", {ALGS}"#
        ),
    );
    let nonce = asked
        .header("dpop-nonce")
        .unwrap_or_else(|| panic!("no DPoP-Nonce: {asked:?}"));
    let orders = s.url("/orders/1");
    let proofs = grant.proofs_with_nonce(nonce, &[("GET", &orders)]);
    assert_eq!(payload(&proofs[0])["nonce"], nonce);
    let allowed = s.send("/orders/1", &dpop, Some(&proofs[0]));
    assert_eq!(allowed.status, 200, "{allowed:?}\n{}", s.logs());
}
