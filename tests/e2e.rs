//! End-to-end: the real binary behind a real Envoy 1.40 (`envoy/envoy.yaml`, ports rewritten)
//! over loopback. Status codes, exact challenges, forged identity headers, raw-header mode,
//! and fail-closed when the authorizer is down.

use crate::support::envoy::Envoy;
use crate::support::server::{Server, binary};
use crate::support::{self, claims_with, ec_key, http, impostor_key, mint, rsa_key};
use envoy_jwt_authz::token::verify::UnixTime;
use serde_json::json;
use std::process::Command;

const REALM: &str = "orders-api";

fn config() -> String {
    support::config_yaml(&format!(
        "challenge:\n  realm: {REALM}\nupstream:\n  claim_headers: {{ sub: x-jwt-sub, scope: x-jwt-scope }}\n{ROUTES}"
    ))
}

/// `admin` is selected by envoy.yaml's `/admin` route through context_extensions.
const ROUTES: &str = "routes:
  - name: admin
    scopes: [orders.admin]
  - match: { path_prefix: /public }
    allow_anonymous: true
  - match: { path_prefix: /orders, methods: [POST] }
    scopes: [orders.write]
";

#[test]
fn envoy_allows_valid_tokens_and_denies_with_rfc6750_challenges() {
    let server = Server::start(&config());
    let envoy = Envoy::start(server.grpc.port(), false);
    let at = envoy.listener;

    for key in [rsa_key(), ec_key()] {
        let ok = http::get(at, "/orders?x=1", Some(&mint(&key, &support::claims())));
        assert_eq!(ok.status, 200, "{ok:?}\n{}", server.log());
        assert_eq!(ok.header("x-upstream-saw-sub"), Some("alice"));
        // Our dynamic metadata (a Struct declared in its wire form) as Envoy filed it.
        assert_eq!(ok.header("x-authz-provider"), Some("test-idp"));
        assert_eq!(ok.header("x-authz-sub"), Some("alice"));
    }

    let missing = http::get(at, "/orders", None);
    assert_eq!(missing.status, 401);
    assert_eq!(
        missing.header("www-authenticate"),
        Some(r#"Bearer realm="orders-api""#)
    );
    assert_eq!(missing.header("content-type"), Some("application/json"));
    assert_eq!(
        missing.body,
        r#"{"error":"unauthorized","error_description":"bearer token required"}"#
    );

    let now = UnixTime::now().0;
    let cases = [
        (
            "wrong audience",
            mint(&ec_key(), &claims_with(json!({"aud": "api://payments"}))),
            "audience not allowed",
        ),
        (
            "expired",
            mint(
                &ec_key(),
                &claims_with(json!({"iat": now - 7200, "exp": now - 3600})),
            ),
            "token expired",
        ),
        (
            "signed by another key",
            mint(&impostor_key(), &support::claims()),
            "signature invalid",
        ),
        (
            "opaque",
            "2YotnFZFEjr1zCsicMWpAA".to_owned(),
            "token is not a JWT",
        ),
    ];
    for (name, token, description) in cases {
        http::get(at, "/orders", Some(&token)).assert_invalid_token(REALM, description, name);
    }
}

#[test]
fn a_client_cannot_forge_identity_headers() {
    let server = Server::start(&config());
    let envoy = Envoy::start(server.grpc.port(), false);
    let auth = format!("Bearer {}", mint(&ec_key(), &support::claims()));
    let forged = http::request(
        envoy.listener,
        "GET",
        "/",
        &[
            ("Authorization", &auth),
            ("x-jwt-sub", "mallory"),
            ("X-Jwt-Sub", "root"),
        ],
    )
    .unwrap();
    assert_eq!(forged.status, 200);
    assert_eq!(forged.header("x-upstream-saw-sub"), Some("alice"));
    // The token has no such claim for x-jwt-scope? It has scope; use a token without it.
    let no_scope = mint(
        &ec_key(),
        &json!({"iss": support::ISSUER, "aud": support::AUDIENCE, "sub": "bob", "exp": UnixTime::now().0 + 60}),
    );
    let auth = format!("Bearer {no_scope}");
    let forged = http::request(
        envoy.listener,
        "GET",
        "/",
        &[("Authorization", &auth), ("x-jwt-scope", "admin")],
    )
    .unwrap();
    assert_eq!(forged.status, 200);
    assert_eq!(
        forged.header("x-upstream-saw-scope"),
        None,
        "a client-sent identity header must be removed: {forged:?}"
    );
}

#[test]
fn malformed_requests_get_400_in_both_header_modes() {
    let server = Server::start(&config());
    let token = mint(&ec_key(), &support::claims());
    let auth = format!("Bearer {token}");
    for raw in [false, true] {
        let envoy = Envoy::start(server.grpc.port(), raw);
        let ok = http::request(envoy.listener, "GET", "/", &[("Authorization", &auth)]).unwrap();
        assert_eq!(ok.status, 200, "raw={raw}");
        let two = http::request(
            envoy.listener,
            "GET",
            "/",
            &[("Authorization", &auth), ("Authorization", &auth)],
        )
        .unwrap();
        assert_eq!(two.status, 400, "raw={raw}");
        assert_eq!(
            two.header("www-authenticate"),
            Some(
                r#"Bearer realm="orders-api", error="invalid_request", error_description="more than one authorization credential""#
            )
        );
        let extra = http::request(
            envoy.listener,
            "GET",
            "/",
            &[("Authorization", &format!("{auth} extra"))],
        )
        .unwrap();
        assert_eq!(extra.status, 400, "raw={raw}");
        let lower = http::request(
            envoy.listener,
            "GET",
            "/",
            &[("authorization", &format!("bearer {token}"))],
        )
        .unwrap();
        assert_eq!(
            lower.status, 200,
            "raw={raw}: the scheme is case-insensitive"
        );
        let basic = http::request(
            envoy.listener,
            "GET",
            "/",
            &[("Authorization", "Basic dXNlcjpwYXNz")],
        )
        .unwrap();
        assert_eq!(
            (basic.status, basic.header("www-authenticate")),
            (401, Some(r#"Bearer realm="orders-api""#)),
            "raw={raw}"
        );
    }
}

#[test]
fn envoy_fails_closed_when_the_authorizer_is_down() {
    let mut server = Server::start(&config());
    let envoy = Envoy::start(server.grpc.port(), false);
    let token = mint(&ec_key(), &support::claims());
    assert_eq!(http::get(envoy.listener, "/", Some(&token)).status, 200);
    assert!(server.terminate().success());
    let denied = http::get(envoy.listener, "/", Some(&token));
    assert_eq!(
        denied.status, 403,
        "failure_mode_allow: false must deny: {denied:?}"
    );
}

#[test]
fn the_readme_quick_start_works_with_the_example_config() {
    let dir = tempfile::tempdir().unwrap();
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let server = Server::start_at(&repo.join("envoy/example/config.yaml"), dir);
    let envoy = Envoy::start(server.grpc.port(), false);
    // The README's token command, verbatim apart from the binary path.
    let out = Command::new(binary())
        .current_dir(repo)
        .args([
            "mint-token",
            "--key",
            "envoy/example/demo-signing-key.pem",
            "--kid",
            "demo-es256",
        ])
        .args([
            "--iss",
            "https://issuer.demo.example",
            "--aud",
            "api://demo",
            "--sub",
            "alice",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let token = String::from_utf8(out.stdout).unwrap();
    let ok = http::get(envoy.listener, "/", Some(token.trim()));
    assert_eq!(
        (ok.status, ok.header("x-upstream-saw-sub")),
        (200, Some("alice"))
    );
    let denied = http::get(envoy.listener, "/", None);
    assert_eq!(
        (denied.status, denied.header("www-authenticate")),
        (401, Some(r#"Bearer realm="demo-api""#))
    );
    let admin = http::get(envoy.listener, "/admin", Some(token.trim()));
    assert_eq!(admin.status, 403);
    assert!(
        admin
            .header("www-authenticate")
            .unwrap()
            .contains(r#"scope="demo.admin""#)
    );
    assert_eq!(http::get(envoy.listener, "/public/x", None).status, 200);
}

#[test]
fn routes_scopes_and_anonymous_paths_through_envoy() {
    let server = Server::start(&config());
    let envoy = Envoy::start(server.grpc.port(), false);
    let at = envoy.listener;
    let reader = mint(&ec_key(), &support::claims());
    let admin = mint(
        &ec_key(),
        &claims_with(json!({"scope": "orders.read orders.admin"})),
    );

    // Envoy's /admin route names our `admin` route: it needs orders.admin.
    let denied = http::get(at, "/admin/users", Some(&reader));
    assert_eq!(denied.status, 403);
    assert_eq!(
        denied.header("www-authenticate"),
        Some(
            r#"Bearer realm="orders-api", error="insufficient_scope", error_description="insufficient scope", scope="orders.admin""#
        )
    );
    assert_eq!(
        denied.body,
        r#"{"error":"insufficient_scope","error_description":"insufficient scope"}"#
    );
    assert_eq!(http::get(at, "/admin/users", Some(&admin)).status, 200);

    // A write needs orders.write.
    let auth = format!("Bearer {reader}");
    let post = http::request(
        at,
        "POST",
        "/orders",
        &[("Authorization", &auth), ("Content-Length", "0")],
    )
    .unwrap();
    assert_eq!(post.status, 403);
    assert!(
        post.header("www-authenticate")
            .unwrap()
            .contains(r#"scope="orders.write""#)
    );
    assert_eq!(http::get(at, "/orders", Some(&reader)).status, 200);

    // Anonymous: no token is fine, a bad one is not, and no identity header leaks through.
    let anonymous = http::request(at, "GET", "/public/docs", &[("x-jwt-sub", "mallory")]).unwrap();
    assert_eq!(
        (anonymous.status, anonymous.header("x-upstream-saw-sub")),
        (200, None)
    );
    assert_eq!(http::get(at, "/public/docs", Some("not-a-jwt")).status, 401);

    // /public/../admin is refused, not matched as /public.
    let sneaky = http::get(at, "/public/%2e%2e/admin", None);
    assert_eq!(sneaky.status, 400, "{sneaky:?}");

    // /healthz has ext_authz disabled in Envoy.
    assert_eq!(http::get(at, "/healthz", None).status, 200);
}
