//! The HTTP front end behind real proxies, each running its committed example config:
//! Envoy in HTTP mode (`envoy/envoy-http.yaml`), nginx `auth_request`
//! (`envoy/nginx/nginx.conf`), Caddy `forward_auth` (`envoy/caddy/Caddyfile`) and Traefik
//! `ForwardAuth` (`envoy/traefik/dynamic.yaml`). Every proxy goes through the same table
//! ([`assert_table`]), and so does the gRPC front end behind `envoy/envoy.yaml`: allow,
//! 401 bare, 401 invalid_token, 400, 403 insufficient_scope, forged identity headers,
//! forged forwarded headers, and the RFC 9728 document of a `resource: auto` route. Over
//! 400 lines: the table every front end must pass stays one function.

use crate::support::envoy::Envoy;
use crate::support::proxy::{self, Proxy, render};
use crate::support::server::Server;
use crate::support::{self, AUDIENCE, claims_with, ec_key, http, impostor_key, mint, rsa_key};
use envoy_jwt_authz::token::verify::UnixTime;
use serde_json::json;
use std::net::SocketAddr;

const REALM: &str = "orders-api";

/// The e2e config: identity headers, an anonymous prefix, a scope for writes, and the
/// `admin` route Envoy's HTTP-mode example names through `x-authz-route`.
fn config() -> String {
    support::config_yaml(&format!(
        "    dpop: {{ nonce: required, algorithms: [ES256] }}\nchallenge:\n  realm: {REALM}\nupstream:\n  claim_headers: {{ sub: x-jwt-sub, scope: x-jwt-scope }}\nroutes:
  - name: admin
    scopes: [orders.admin]
  - match: {{ path_prefix: /public }}
    allow_anonymous: true
  - match: {{ path_prefix: /orders, methods: [POST] }}
    scopes: [orders.write]
  - match: {{ path_prefix: /cors }}
    cors_preflight: allow
  - match: {{ path_prefix: /mcp }}
    scopes: [orders.read]
    audiences: [{AUDIENCE}]
    resource: {{ id: auto }}
"
    ))
}

/// The server with `--http-listen` and the given `--http-*` flags.
fn server(flags: &[&str]) -> Server {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(dir.path().join("config")).expect("config dir");
    let path = dir.path().join("config/config.yaml");
    std::fs::write(&path, config()).expect("write config");
    let mut args = vec!["--http-listen", "127.0.0.1:0"];
    args.extend_from_slice(flags);
    Server::start_with(&path, dir, &args)
}

fn http_port(server: &Server) -> u16 {
    server
        .http
        .expect("the address file names the http listener")
        .port()
}

/// The provider configures `dpop:`, so every challenge offers DPoP too (RFC 9449 §7.1),
/// in the same header: what each proxy must pass on whole.
fn challenge(error: &str, description: &str) -> String {
    format!(r#"Bearer realm="{REALM}", error="{error}", error_description="{description}", {DPOP}"#)
}

const DPOP: &str = r#"DPoP realm="orders-api", algs="ES256""#;

fn body(error: &str, description: &str) -> String {
    format!(r#"{{"error":"{error}","error_description":"{description}"}}"#)
}

/// The shared table. `name` labels failures; `log` is consulted only on failure.
fn assert_table(at: SocketAddr, name: &str, log: &dyn Fn() -> String) {
    let ctx = |what: &str| format!("{name}: {what}\n{}", log());
    let get = |path: &str, headers: &[(&str, &str)]| {
        http::request(at, "GET", path, headers).expect("HTTP request")
    };

    // Allow: 200 with the identity headers, whatever key signed.
    for key in [rsa_key(), ec_key()] {
        let ok = http::get(at, "/orders?x=1", Some(&mint(&key, &support::claims())));
        assert_eq!(ok.status, 200, "{}", ctx(&format!("allow {ok:?}")));
        assert_eq!(ok.header("x-upstream-saw-sub"), Some("alice"), "{name}");
        assert_eq!(
            ok.header("x-upstream-saw-scope"),
            Some("orders.read"),
            "{name}"
        );
    }

    // 401 without a token: the bare challenge (RFC 6750 §3.1) and the JSON body.
    let missing = http::get(at, "/orders", None);
    assert_eq!(missing.status, 401, "{}", ctx(&format!("{missing:?}")));
    assert_eq!(
        missing.header("www-authenticate"),
        Some(format!(r#"Bearer realm="orders-api", {DPOP}"#).as_str()),
        "{name}"
    );
    assert_eq!(
        missing.header("content-type"),
        Some("application/json"),
        "{name}"
    );
    assert_eq!(
        missing.body,
        body("unauthorized", "bearer token required"),
        "{name}"
    );

    // 401 invalid_token, with the description in challenge and body.
    let now = UnixTime::now().0;
    let invalid = [
        (
            mint(&ec_key(), &claims_with(json!({"aud": "api://payments"}))),
            "audience not allowed",
        ),
        (
            mint(
                &ec_key(),
                &claims_with(json!({"iat": now - 7200, "exp": now - 3600})),
            ),
            "token expired",
        ),
        (
            mint(&impostor_key(), &support::claims()),
            "signature invalid",
        ),
        ("2YotnFZFEjr1zCsicMWpAA".to_owned(), "token is not a JWT"),
    ];
    for (token, description) in invalid {
        let denied = http::get(at, "/orders", Some(&token));
        assert_eq!(denied.status, 401, "{}", ctx(description));
        let expected = challenge("invalid_token", description);
        assert_eq!(
            denied.header("www-authenticate"),
            Some(expected.as_str()),
            "{name}"
        );
        assert_eq!(denied.body, body("invalid_token", description), "{name}");
    }

    // 400: a malformed credential, with our challenge and body; two credentials (separate
    // lines, or Envoy's comma-joined value) are a 400 too — nginx refuses a repeated
    // Authorization line itself, before asking us, so only the status is common.
    let auth = format!("Bearer {}", mint(&ec_key(), &support::claims()));
    let extra = get("/orders", &[("Authorization", &format!("{auth} extra"))]);
    assert_eq!(extra.status, 400, "{}", ctx(&format!("{extra:?}")));
    let expected = challenge("invalid_request", "malformed authorization header");
    assert_eq!(
        extra.header("www-authenticate"),
        Some(expected.as_str()),
        "{name}: {extra:?}"
    );
    assert_eq!(
        extra.body,
        body("invalid_request", "malformed authorization header"),
        "{name}"
    );
    let two = get(
        "/orders",
        &[("Authorization", &auth), ("Authorization", &auth)],
    );
    assert_eq!(two.status, 400, "{}", ctx(&format!("{two:?}")));
    // /public/%2e%2e/orders is never the anonymous /public: we refuse it (400), or the
    // proxy normalised it to /orders for both us and the app (Traefik), which needs a token.
    let sneaky = http::get(at, "/public/%2e%2e/orders", None);
    assert!(
        [400, 401].contains(&sneaky.status),
        "{}",
        ctx(&format!("{sneaky:?}"))
    );

    // 403 insufficient_scope: a write needs orders.write (and the method is the client's,
    // not the subrequest's GET).
    let reader = mint(&ec_key(), &support::claims());
    let auth = format!("Bearer {reader}");
    let headers = [("Authorization", auth.as_str()), ("Content-Length", "0")];
    let post = http::request(at, "POST", "/orders", &headers).expect("POST");
    assert_eq!(post.status, 403, "{}", ctx(&format!("{post:?}")));
    let scope = format!(
        r#"Bearer realm="{REALM}", error="insufficient_scope", error_description="insufficient scope", scope="orders.write", DPoP realm="{REALM}", scope="orders.write", algs="ES256""#
    );
    assert_eq!(
        post.header("www-authenticate"),
        Some(scope.as_str()),
        "{name}"
    );
    assert_eq!(
        post.body,
        body("insufficient_scope", "insufficient scope"),
        "{name}"
    );

    // Identity headers: overwritten when we set them, gone when we do not.
    let forged = get(
        "/orders",
        &[
            ("Authorization", &auth),
            ("x-jwt-sub", "mallory"),
            ("X-Jwt-Sub", "root"),
        ],
    );
    assert_eq!(
        (forged.status, forged.header("x-upstream-saw-sub")),
        (200, Some("alice")),
        "{}",
        ctx("forged x-jwt-sub")
    );
    let no_scope = mint(
        &ec_key(),
        &json!({"iss": support::ISSUER, "aud": support::AUDIENCE, "sub": "bob", "exp": now + 60}),
    );
    let auth = format!("Bearer {no_scope}");
    let forged = get(
        "/orders",
        &[("Authorization", &auth), ("x-jwt-scope", "orders.admin")],
    );
    assert_eq!(
        (forged.status, forged.header("x-upstream-saw-scope")),
        (200, None),
        "{}",
        ctx("a forged x-jwt-scope must be removed")
    );
    let anonymous = get("/public/docs", &[("x-jwt-sub", "mallory")]);
    assert_eq!(
        (anonymous.status, anonymous.header("x-upstream-saw-sub")),
        (200, None),
        "{}",
        ctx("anonymous route")
    );
    assert_eq!(
        http::get(at, "/public/docs", Some("not-a-jwt")).status,
        401,
        "{name}"
    );

    // Forged forwarded headers of both conventions cannot select the anonymous route.
    let forwarded = get(
        "/orders",
        &[
            ("X-Forwarded-Uri", "/public/docs"),
            ("X-Original-URI", "/public/docs"),
            ("x-original-uri", "/public/x"),
            ("X-Forwarded-Method", "OPTIONS"),
            ("X-Original-Method", "OPTIONS"),
            ("X-Forwarded-Host", "evil.example"),
        ],
    );
    assert_eq!(
        forwarded.status,
        401,
        "{}",
        ctx(&format!("forged forwarded headers {forwarded:?}"))
    );

    // A CORS preflight passes without a token where the route allows it (the proxy must
    // pass Origin and Access-Control-Request-Method); without them it is just an OPTIONS.
    let preflight = [
        ("Origin", "https://app.example"),
        ("Access-Control-Request-Method", "POST"),
    ];
    let options = http::request(at, "OPTIONS", "/cors/items", &preflight).expect("OPTIONS");
    assert_eq!(
        options.status,
        200,
        "{}",
        ctx(&format!("preflight {options:?}"))
    );
    let bare = http::request(at, "OPTIONS", "/cors/items", &[]).expect("OPTIONS");
    assert_eq!(bare.status, 401, "{}", ctx(&format!("{bare:?}")));

    // RFC 9728: the `auto` route's metadata document needs no token (the gRPC Check answers
    // it; in HTTP mode the proxy routes the path to our listener), and the route's 401
    // points at it, port included. Plain http is only trusted on loopback: `localhost`.
    let host = format!("localhost:{}", at.port());
    let document = get(
        "/.well-known/oauth-protected-resource/mcp",
        &[("Host", &host)],
    );
    assert_eq!(document.status, 200, "{}", ctx(&format!("{document:?}")));
    assert_eq!(
        document.header("content-type"),
        Some("application/json"),
        "{name}"
    );
    let json: serde_json::Value = serde_json::from_str(&document.body).expect(name);
    assert_eq!(json["resource"], format!("http://{host}/mcp"), "{name}");
    let denied = get("/mcp", &[("Host", &host)]);
    let expected = format!(
        r#"Bearer realm="{REALM}", scope="orders.read", resource_metadata="http://{host}/.well-known/oauth-protected-resource/mcp", DPoP realm="{REALM}", scope="orders.read", resource_metadata="http://{host}/.well-known/oauth-protected-resource/mcp", algs="ES256""#
    );
    assert_eq!(
        (denied.status, denied.header("www-authenticate")),
        (401, Some(expected.as_str())),
        "{}",
        ctx(&format!("{denied:?}"))
    );

    crate::dpop::assert_nonce_proof_and_replay(at, name, log);

    // The proxy's own unauthenticated health check.
    assert_eq!(http::get(at, "/healthz", None).status, 200, "{name}");
}

/// The gRPC front end behind `envoy/envoy.yaml` answers the same table: the HTTP front
/// ends are held to exactly what gRPC already does.
#[test]
fn envoy_grpc_mode_passes_the_same_table() {
    let server = server(&["--http-envoy-path-prefix", "/authz"]);
    let envoy = Envoy::start(server.grpc.port(), false);
    assert_table(envoy.listener, "envoy-grpc", &|| server.log());
}

#[test]
fn envoy_http_mode_passes_the_table() {
    let mut server = server(&[
        "--http-envoy-path-prefix",
        "/authz",
        "--http-route-header",
        "x-authz-route",
    ]);
    let yaml = render(
        "envoy/envoy-http.yaml",
        &[
            ("port_value: 9901", "port_value: 0".into()),
            ("port_value: 10000", "port_value: 0".into()),
            (
                "port_value: 9194",
                format!("port_value: {}", http_port(&server)),
            ),
        ],
    );
    let envoy = Envoy::start_bootstrap(&yaml);
    assert_table(envoy.listener, "envoy-http", &|| server.log());

    // Envoy's route table names `admin` (x-authz-route); a client-sent one is removed first.
    let reader = mint(&ec_key(), &support::claims());
    let admin = http::get(envoy.listener, "/admin/users", Some(&reader));
    assert_eq!(admin.status, 403, "{admin:?}");
    assert!(
        admin
            .header("www-authenticate")
            .unwrap()
            .contains(r#"scope="orders.admin""#)
    );
    let auth = format!("Bearer {reader}");
    let headers = [("Authorization", auth.as_str()), ("x-authz-route", "admin")];
    let named = http::request(envoy.listener, "GET", "/orders", &headers).unwrap();
    assert_eq!(named.status, 200, "a client cannot name a route: {named:?}");

    // SIGTERM drains the HTTP listener too (Envoy holds keep-alive connections to it).
    let started = std::time::Instant::now();
    assert!(server.terminate().success(), "{}", server.log());
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

/// The server trusting `forwarded`, `start` running a proxy in front of it, the table.
fn forward_auth_table(forwarded: &str, name: &str, start: fn(u16) -> Proxy) {
    let server = server(&["--http-forward-auth", forwarded]);
    let proxy = start(http_port(&server));
    assert_table(proxy.listener, name, &|| {
        format!("{}\n{}", server.log(), proxy.log())
    });
}

#[test]
fn nginx_auth_request_passes_the_table() {
    forward_auth_table("nginx", "nginx", proxy::nginx);
}

#[test]
fn caddy_forward_auth_passes_the_table() {
    forward_auth_table("forwarded", "caddy", proxy::caddy);
}

#[test]
fn traefik_forward_auth_passes_the_table() {
    forward_auth_table("forwarded", "traefik", proxy::traefik);
}

#[test]
fn an_http_listener_without_a_convention_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.yaml");
    std::fs::write(&file, config()).unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(crate::support::server::binary())
            .args(["serve", "--config"])
            .arg(&file)
            .args([
                "--grpc-listen",
                "127.0.0.1:0",
                "--admin-listen",
                "127.0.0.1:0",
            ])
            .args(["--debug-listen", "127.0.0.1:0"])
            .args(args)
            .output()
            .unwrap()
    };
    let none = run(&["--http-listen", "127.0.0.1:0"]);
    assert_eq!(none.status.code(), Some(2), "{none:?}");
    assert!(String::from_utf8_lossy(&none.stderr).contains("--http-forward-auth"));
    let orphan = run(&["--http-forward-auth", "nginx"]);
    assert_eq!(
        orphan.status.code(),
        Some(2),
        "a mode needs --http-listen: {orphan:?}"
    );
}
