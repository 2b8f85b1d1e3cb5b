//! Route matching that cannot be bypassed: paths and hosts the upstream treats as equal reach
//! the same route, path parameters and over-long paths are refused, a named anonymous route
//! still needs a canonical path, an unvalidated `Authorization` never passes an anonymous
//! route, and `x_jwt_sub` never reaches an upstream. Through the real binary behind a real
//! Envoy, and (for what Envoy itself refuses to forward) through the gRPC adapter.

use crate::adapter::{check, denial, envoy_headers, http_with, service};
use crate::support::envoy::{Envoy, render_bootstrap};
use crate::support::server::Server;
use crate::support::{self, claims_with, ec_key, http, mint};
use serde_json::json;

/// `admin` is what envoy.yaml's `/admin` route names through context_extensions: here it is
/// anonymous, so Envoy's own prefix match lets `/admin/../ops/delete-user` reach it.
const ROUTES: &str = "challenge: { realm: api }
routes:
  - name: admin
    allow_anonymous: true
  - match: { path: /ops/delete-user }
    scopes: [ops.delete]
  - match: { path_prefix: /ops }
    scopes: [ops.read]
  - match: { path_prefix: /ci, case_insensitive: true }
    scopes: [ci.read]
  - match: { path_prefix: /public }
    allow_anonymous: true
  - match: { hosts: [admin2.example.com] }
    scopes: [tenant.admin]
  - match: { path: /preflight }
    cors_preflight: allow
    scopes: [p.read]
  - match: { path_glob: '/**/x/**/y' }
    scopes: [glob]
  - match: { path: '/v1/item:delete' }
    scopes: [item.delete]
default: { allow_anonymous: true }
";

/// Method, path, extra headers, and what to expect.
type Row<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], Expect);

/// What a row expects: a status and, for a 403, the scope the challenge asks for.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    Allowed,
    Scope(&'static str),
    NotCanonical,
    HostNotCanonical,
}

#[test]
fn requests_the_upstream_treats_as_equal_reach_the_same_route_through_envoy() {
    let server = Server::start(&support::config_yaml(ROUTES));
    // The upstream echoes the Authorization it received.
    let bootstrap = render_bootstrap(server.grpc.port(), false).replacen(
        "response_headers_to_add:\n",
        "response_headers_to_add:\n              - header: { key: x-upstream-saw-authorization, value: \"%REQ(authorization)%\" }\n",
        1,
    );
    let envoy = Envoy::start_bootstrap(&bootstrap);
    // A valid token without any of the routes' scopes.
    let token = format!(
        "Bearer {}",
        mint(&ec_key(), &claims_with(json!({"scope": "read"})))
    );
    let long = format!("/public/{}", "a".repeat(8 * 1024));
    let rows: &[Row] = &[
        ("GET", "/ops/delete-user", &[], Expect::Scope("ops.delete")),
        ("GET", "/ops/delete-user/", &[], Expect::Scope("ops.delete")),
        ("GET", "/ops/delete-user;", &[], Expect::NotCanonical),
        ("GET", "/ops;x", &[], Expect::NotCanonical),
        ("GET", "/ops/x", &[], Expect::Scope("ops.read")),
        // Case-sensitive by default: `/OPS` is another path (the documented trade-off)...
        ("GET", "/OPS", &[], Expect::Allowed),
        // ...unless the route folds case.
        ("GET", "/CI/x", &[], Expect::Scope("ci.read")),
        ("GET", "/public/..;/ops", &[], Expect::NotCanonical),
        ("GET", "/public/%2e%2e;/ops", &[], Expect::NotCanonical),
        ("GET", "/public/..%3b/ops", &[], Expect::NotCanonical),
        (
            "GET",
            "/admin/../ops/delete-user",
            &[],
            Expect::NotCanonical,
        ),
        ("GET", &long, &[], Expect::NotCanonical),
        (
            "GET",
            "/t",
            &[("Host", "admin2.example.com")],
            Expect::Scope("tenant.admin"),
        ),
        (
            "GET",
            "/t",
            &[("Host", "admin2.example.com.")],
            Expect::Scope("tenant.admin"),
        ),
        (
            "GET",
            "/t",
            &[("Host", "ADMIN2.example.com:")],
            Expect::Scope("tenant.admin"),
        ),
        (
            "GET",
            "/t",
            &[("Host", "admin2.example.com.:8443")],
            Expect::Scope("tenant.admin"),
        ),
        ("GET", "/a/x/b/y", &[], Expect::Scope("glob")),
        ("GET", "/a/x/b/y/", &[], Expect::Scope("glob")),
        (
            "GET",
            "/v1/item%3Adelete",
            &[],
            Expect::Scope("item.delete"),
        ),
        (
            "GET",
            "/v1/item%3adelete",
            &[],
            Expect::Scope("item.delete"),
        ),
        (
            "GET",
            "/t",
            &[("Host", "admin2.example.com:x")],
            Expect::HostNotCanonical,
        ),
        (
            "GET",
            "/t",
            &[("Host", "admin2.example.com..")],
            Expect::HostNotCanonical,
        ),
        (
            "GET",
            "/t",
            &[("Host", "x@admin2.example.com")],
            Expect::HostNotCanonical,
        ),
    ];
    for (method, path, headers, expect) in rows {
        let mut all = headers.to_vec();
        all.push(("Authorization", &token));
        let response = http::request(envoy.listener, method, path, &all).expect("request");
        let row = format!("{method} {path} {headers:?}: {response:?}");
        match expect {
            Expect::Allowed => assert_eq!(response.status, 200, "{row}"),
            Expect::Scope(scope) => {
                assert_eq!(response.status, 403, "{row}");
                let challenge = response.header("www-authenticate").unwrap_or_default();
                assert!(challenge.contains(&format!("scope=\"{scope}\"")), "{row}");
            }
            Expect::NotCanonical | Expect::HostNotCanonical => {
                assert_eq!(response.status, 400, "{row}")
            }
        }
        // The same request without a token: never let through by a weaker route.
        let bare = http::request(envoy.listener, method, path, headers).expect("request");
        let bare_row = format!("{method} {path} {headers:?} without a token: {bare:?}");
        match expect {
            Expect::Allowed => assert_eq!(bare.status, 200, "{bare_row}"),
            Expect::Scope(_) => assert_eq!(bare.status, 401, "{bare_row}"),
            Expect::NotCanonical | Expect::HostNotCanonical => {
                let what = if *expect == Expect::NotCanonical {
                    "path"
                } else {
                    "host"
                };
                assert_eq!(bare.status, 400, "{bare_row}");
                assert!(
                    bare.header("www-authenticate")
                        .unwrap_or_default()
                        .contains(&format!("request {what} not canonical")),
                    "{bare_row}"
                );
            }
        }
    }

    // CORS: an empty Origin is not a preflight.
    let preflight = |origin: &str| {
        http::request(
            envoy.listener,
            "OPTIONS",
            "/preflight",
            &[
                ("Origin", origin),
                ("Access-Control-Request-Method", "POST"),
            ],
        )
        .expect("request")
        .status
    };
    assert_eq!(preflight("https://app.example"), 200);
    assert_eq!(preflight(""), 401);

    // An anonymous route passes no Authorization it did not validate.
    for scheme in ["JWT abc.def.ghi", "Bearerx abc"] {
        let response = http::request(
            envoy.listener,
            "GET",
            "/public/x",
            &[("Authorization", scheme)],
        )
        .expect("request");
        assert_eq!(response.status, 200, "{scheme}: {response:?}");
        assert_eq!(
            response.header("x-upstream-saw-authorization"),
            None,
            "{scheme}"
        );
    }
    let valid = format!("Bearer {}", mint(&ec_key(), &support::claims()));
    let response = http::request(
        envoy.listener,
        "GET",
        "/public/x",
        &[("Authorization", &valid)],
    )
    .expect("request");
    assert_eq!(
        response.header("x-upstream-saw-authorization"),
        Some(valid.as_str()),
        "a validated token is kept"
    );
}

#[test]
fn envoy_rejects_identity_headers_spelled_with_underscores() {
    let server = Server::start(&support::config_yaml(ROUTES));
    let envoy = Envoy::start(server.grpc.port(), false);
    let token = format!("Bearer {}", mint(&ec_key(), &support::claims()));
    let forged = http::request(
        envoy.listener,
        "GET",
        "/public/x",
        &[("Authorization", &token), ("x_jwt_sub", "root")],
    )
    .expect("request");
    assert_eq!(forged.status, 400, "{forged:?}");
    let plain = http::request(
        envoy.listener,
        "GET",
        "/public/x",
        &[("Authorization", &token)],
    )
    .expect("request");
    assert_eq!(plain.status, 200, "{plain:?}");
}

#[tokio::test]
async fn hosts_envoy_would_not_forward_are_refused_without_panicking() {
    // Byte 3 is inside the second `é`: slicing the host as a str there used to panic.
    let routes = ROUTES.replace("[admin2.example.com]", "['*.example.com']");
    let svc = service(&routes);
    for host in [
        "\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}",
        "\u{e9}.example.com",
        ".",
    ] {
        let mut http = http_with(envoy_headers(&[]));
        http.host = host.to_owned().into();
        http.path = "/t".into();
        let (_, status, challenge, _) = denial(&check(&svc, http).await);
        assert_eq!(status, 400, "{host}");
        assert!(
            challenge.contains("request host not canonical"),
            "{host}: {challenge}"
        );
    }
}
