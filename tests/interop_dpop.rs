//! DPoP (RFC 9449) interop with implementations nobody here wrote: panva's `oidc-provider`
//! (pinned, on loopback, `features.dPoP`) issues a DPoP-bound JWT access token (RFC 9068,
//! `cnf.jkt`) to a client whose key and proofs panva's `jose` makes
//! (`tests/interop/oidc-provider/dpop-client.js`); our real server, with `dpop: allowed`
//! and the provider's keys by its discovery document, judges them behind a real Envoy:
//! the token with its proof is allowed (and with a fresh proof again, the query not being
//! part of `htu`), while the proof replayed, the token downgraded to `Bearer`, the token
//! without a proof, and a proof for another URL are each refused with their own reason and
//! the challenge the client receives from Envoy.

use crate::support::envoy::Envoy;
use crate::support::http;
use crate::support::oidc_provider::{APP_ID, OidcProvider};
use crate::support::server::Server;
use crate::support::wait_for;
use base64::Engine;
use std::time::Duration;

/// The resource oidc-provider makes JWT access tokens for (`server.js`).
const RESOURCE: &str = "api://orders-dpop";

/// The `DPoP` challenge's `algs`: `dpop: allowed` accepts every asymmetric algorithm.
const ALGS: &str = r#"algs="RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512 EdDSA Ed25519""#;

/// Our config for `op`: its issuer, its keys by discovery, `dpop: allowed`, one route.
fn config(op: &OidcProvider) -> String {
    format!(
        "providers:
  - name: oidc-provider
    issuer: {issuer}
    audiences: [{RESOURCE}]
    jwks: {{ discovery: true, allow_insecure_http: true }}
    dpop: allowed
upstream: {{ claim_headers: {{ client_id: x-jwt-sub, scope: x-jwt-scope }} }}
routes:
  - match: {{ path_prefix: /orders }}
    scopes: [orders.read]
",
        issuer = op.issuer,
    )
}

/// The JSON payload of a compact JWS.
fn payload(jws: &str) -> serde_json::Value {
    let part = jws.split('.').nth(1).expect("a JWS payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON")
}

#[test]
fn oidc_provider_dpop_bound_tokens_with_jose_proofs_are_allowed_and_every_misuse_refused() {
    let op = OidcProvider::start();
    let server = Server::start(&config(&op));
    let envoy = Envoy::start(server.grpc.port(), false);
    wait_for(
        "our /readyz with oidc-provider's keys",
        Duration::from_secs(20),
        || {
            let ready = http::request(server.admin, "GET", "/readyz", &[]).ok()?;
            (ready.status == 200).then_some(())
        },
    );
    // What the client calls: Envoy's own address, as the Host it sends and the htu it proves.
    let authority = envoy.listener.to_string();
    let url = |path: &str| format!("http://{authority}{path}");
    let (orders, other) = (url("/orders/1"), url("/orders/2"));
    let grant = op.dpop_client_credentials(
        "orders.read",
        RESOURCE,
        &[("GET", &orders), ("GET", &orders), ("GET", &other)],
    );
    assert_eq!(grant.token_type, "DPoP", "{grant:?}");
    let claims = payload(&grant.access_token);
    assert_eq!(claims["cnf"]["jkt"], grant.jkt.as_str(), "{claims}");
    assert_eq!(claims["aud"], RESOURCE, "{claims}");
    let [first, second, elsewhere] = grant.proofs.as_slice() else {
        panic!("three proofs: {grant:?}")
    };
    let token = &grant.access_token;
    let logs = || format!("ours:\n{}\noidc-provider:\n{}", server.log(), op.log());
    let send = |path: &str, authorization: &str, proof: Option<&str>| {
        let mut headers = vec![
            ("Host", authority.as_str()),
            ("Authorization", authorization),
        ];
        headers.extend(proof.map(|p| ("DPoP", p)));
        http::request(envoy.listener, "GET", path, &headers).expect("HTTP request")
    };
    let dpop = format!("DPoP {token}");

    let allowed = send("/orders/1", &dpop, Some(first));
    assert_eq!(allowed.status, 200, "{allowed:?}\n{}", logs());
    assert_eq!(allowed.header("x-upstream-saw-sub"), Some(APP_ID));
    assert_eq!(allowed.header("x-upstream-saw-scope"), Some("orders.read"));
    assert_eq!(allowed.header("x-authz-provider"), Some("oidc-provider"));

    // Each refusal: its status, the challenge Envoy passed on, and our reason for it.
    let refused = |answer: http::Response, reason: &str, challenge: &str| {
        assert_eq!(answer.status, 401, "{reason}: {answer:?}\n{}", logs());
        assert_eq!(
            answer.header("www-authenticate"),
            Some(challenge),
            "{reason}: {answer:?}"
        );
        let denials = http::request(server.debug, "GET", "/debug/denials", &[]).unwrap();
        let denials: serde_json::Value = serde_json::from_str(&denials.body).unwrap();
        assert_eq!(denials["denials"][0]["reason"], reason, "{denials}");
        assert_eq!(denials["denials"][0]["provider"], "oidc-provider");
    };
    let proof_error = |description: &str| {
        format!(
            r#"Bearer scope="orders.read", DPoP error="invalid_dpop_proof", error_description="{description}", scope="orders.read", {ALGS}"#
        )
    };
    refused(
        send("/orders/1", &dpop, Some(first)),
        "dpop_proof_replayed",
        &proof_error("DPoP proof replayed"),
    );
    refused(
        send("/orders/1", &format!("Bearer {token}"), None),
        "dpop_bound_token",
        &format!(
            r#"Bearer error="invalid_token", error_description="token is bound to a DPoP key", scope="orders.read", DPoP scope="orders.read", {ALGS}"#
        ),
    );
    refused(
        send("/orders/1", &dpop, None),
        "dpop_proof_missing",
        &proof_error("DPoP proof missing"),
    );
    refused(
        send("/orders/1", &dpop, Some(elsewhere)),
        "dpop_proof_mismatch",
        &proof_error("DPoP proof does not match the request"),
    );

    // A fresh proof for the same URL is good after all that; `htu` has no query (§4.2).
    let again = send("/orders/1?page=2", &dpop, Some(second));
    assert_eq!(again.status, 200, "{again:?}\n{}", logs());
}
