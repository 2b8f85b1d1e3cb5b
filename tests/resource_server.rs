//! Issue 17 through a real Envoy: two routes behind one issuer each demanding its own
//! audience (and the verified-token cache not carrying a token across them), RFC 9470
//! step-up challenges, and scope hierarchies.

use crate::support::envoy::Envoy;
use crate::support::server::Server;
use crate::support::{self, claims_with, ec_key, http, mint};
use envoy_jwt_authz::token::verify::UnixTime;
use serde_json::json;

fn start(routes: &str) -> (Server, Envoy) {
    let server = Server::start(&support::config_yaml(routes));
    let envoy = Envoy::start(server.grpc.port(), false);
    (server, envoy)
}

#[test]
fn two_apis_behind_one_issuer_each_accept_only_their_own_audience() {
    let (_server, envoy) = start(
        "routes:
  - match: { path_prefix: /orders }
    audiences: [https://orders.example.com]
  - match: { path_prefix: /billing }
    audiences: [https://billing.example.com]
",
    );
    let orders = mint(
        &ec_key(),
        &claims_with(json!({"aud": "https://orders.example.com"})),
    );
    let billing = mint(
        &ec_key(),
        &claims_with(json!({"aud": "https://billing.example.com"})),
    );
    let status = |path: &str, token: &str| http::get(envoy.listener, path, Some(token)).status;
    // Twice: the second round is answered from the cache, which must not cross routes.
    for _ in 0..2 {
        assert_eq!(status("/orders/1", &orders), 200);
        assert_eq!(status("/billing/1", &billing), 200);
        let crossed = http::get(envoy.listener, "/billing/1", Some(&orders));
        assert_eq!(crossed.status, 401);
        assert!(
            crossed
                .header("www-authenticate")
                .unwrap()
                .contains("audience not allowed")
        );
        assert_eq!(status("/orders/1", &billing), 401);
        // Elsewhere the provider's own audience applies.
        assert_eq!(status("/other", &orders), 401);
        assert_eq!(status("/other", &mint(&ec_key(), &support::claims())), 200);
    }
}

#[test]
fn step_up_answers_insufficient_user_authentication_with_what_to_ask_for() {
    let (_server, envoy) = start(
        "routes:
  - match: { path_prefix: /transfer }
    acr_values: [mfa, phr]
    max_age: 300s
",
    );
    let now = UnixTime::now().0;
    let challenge = |claims: serde_json::Value| {
        let answer = http::get(
            envoy.listener,
            "/transfer",
            Some(&mint(&ec_key(), &claims_with(claims))),
        );
        (
            answer.status,
            answer
                .header("www-authenticate")
                .unwrap_or_default()
                .to_owned(),
        )
    };
    for (claims, description) in [
        (
            json!({"auth_time": now}),
            "a stronger authentication is required",
        ),
        (
            json!({"acr": "pwd", "auth_time": now}),
            "a stronger authentication is required",
        ),
        (
            json!({"acr": "mfa", "auth_time": now - 3600}),
            "a more recent authentication is required",
        ),
        (
            json!({"acr": "mfa"}),
            "a more recent authentication is required",
        ),
    ] {
        let (status, header) = challenge(claims.clone());
        assert_eq!(status, 401, "{claims}");
        assert_eq!(
            header,
            format!(
                r#"Bearer error="insufficient_user_authentication", error_description="{description}", acr_values="mfa phr", max_age="300""#
            ),
            "{claims}"
        );
    }
    assert_eq!(
        challenge(json!({"acr": "phr", "auth_time": now - 10})).0,
        200
    );
}

#[test]
fn a_broader_scope_satisfies_a_route_requiring_a_narrower_one() {
    let (_server, envoy) = start(
        "scope_implies: { 'files:write': ['files:read'], admin: ['*'] }
routes:
  - match: { path_prefix: /files }
    scopes: ['files:read']
",
    );
    let status = |scope: &str| {
        let token = mint(&ec_key(), &claims_with(json!({"scope": scope})));
        http::get(envoy.listener, "/files/1", Some(&token))
    };
    assert_eq!(status("files:write").status, 200);
    assert_eq!(status("admin").status, 200);
    let denied = status("profile");
    assert_eq!(denied.status, 403);
    assert!(
        denied
            .header("www-authenticate")
            .unwrap()
            .contains(r#"scope="files:read""#)
    );
}

#[test]
fn check_config_prints_each_routes_audiences_step_up_and_the_scope_hierarchy() {
    crate::support::server::assert_check_config_prints(
        &support::config_yaml(
            "scope_implies: { 'files:write': ['files:read'] }
routes:
  - name: transfer
    match: { path_prefix: /transfer }
    scopes: ['files:read']
    audiences: [https://bank.example.com]
    acr_values: [mfa, phr]
    max_age: 5m
",
        ),
        &[
            "route transfer: providers any scopes [files:read] audiences [https://bank.example.com] acr_values [mfa phr] max_age 300s",
            "route default: providers any",
            "scope files:write implies [files:read]",
        ],
    );
}
