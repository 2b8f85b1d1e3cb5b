//! Diagnostics: Prometheus metrics scraped after a known mix of answers (exact values),
//! `/debug/denials` (bounded, newest first, no token material), the audit event, and the
//! split admin surface (probes and metrics on one listener, everything that discloses
//! config or reaches the IdP on the loopback debug listener, `POST /jwks/refresh` rate
//! limited).

use crate::support::envoy::Envoy;
use crate::support::idp::Idp;
use crate::support::server::Server;
use crate::support::{self, AUDIENCE, ISSUER, claims_with, ec_key, http, mint, wait_for};
use envoy_jwt_authz::algorithm::Algorithm;
use envoy_jwt_authz::mint::SigningKey;
use envoy_jwt_authz::token::verify::UnixTime;
use serde_json::{Value, json};
use std::time::Duration;

#[test]
fn metrics_count_every_decision_exactly() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("config")).unwrap();
    let config = dir.path().join("config/config.yaml");
    std::fs::write(
        &config,
        support::config_yaml(
            "routes:\n  - match: { path_prefix: /public }\n    allow_anonymous: true\n",
        ),
    )
    .unwrap();
    let server = Server::start_with(&config, dir, &[]);
    let envoy = Envoy::start(server.grpc.port(), false);
    let good = mint(&ec_key(), &support::claims());
    let now = UnixTime::now().0;
    let expired = mint(
        &ec_key(),
        &claims_with(json!({"iat": now - 7200, "exp": now - 3600})),
    );
    for _ in 0..3 {
        assert_eq!(http::get(envoy.listener, "/", Some(&good)).status, 200);
    }
    for _ in 0..2 {
        assert_eq!(http::get(envoy.listener, "/", None).status, 401);
    }
    assert_eq!(http::get(envoy.listener, "/", Some(&expired)).status, 401);
    assert_eq!(http::get(envoy.listener, "/public/x", None).status, 200);

    let scrape = http::request(server.admin, "GET", "/metrics", &[]).unwrap();
    assert_eq!(scrape.status, 200);
    assert!(
        scrape
            .header("content-type")
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = scrape.body;
    for line in [
        r#"authz_decisions_total{decision="allow",reason="ok",provider="test-idp",route=""} 3"#,
        r#"authz_decisions_total{decision="allow",reason="anonymous",provider="",route=""} 1"#,
        r#"authz_decisions_total{decision="deny",reason="no_credentials",provider="",route=""} 2"#,
        r#"authz_decisions_total{decision="deny",reason="expired",provider="test-idp",route=""} 1"#,
        "authz_check_duration_seconds_count 7",
        r#"jwks_keys{provider="test-idp"} 2"#,
        r#"config_reloads_total{result="applied"} 0"#,
        r#"build_info{version="0.1.0"} 1"#,
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in:\n{text}"
        );
    }
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("authz_decisions_total"))
            .count(),
        4,
        "{text}"
    );
}

#[test]
fn recent_denials_are_bounded_newest_first_and_hold_no_token_material() {
    let server = Server::start_with_args(&support::config_yaml(""), &["--recent-denials", "5"]);
    let envoy = Envoy::start(server.grpc.port(), false);
    let mut tokens = Vec::new();
    for i in 0..8 {
        let t = mint(
            &ec_key(),
            &claims_with(json!({"aud": format!("api://wrong-{i}"), "sub": "secret-subject"})),
        );
        assert_eq!(http::get(envoy.listener, "/", Some(&t)).status, 401);
        tokens.push(t);
    }
    let response = http::request(server.debug, "GET", "/debug/denials", &[]).unwrap();
    let body: Value = serde_json::from_str(&response.body).unwrap();
    let denials = body["denials"].as_array().unwrap();
    assert_eq!(denials.len(), 5);
    assert_eq!(denials[0]["aud"], json!(["api://wrong-7"]));
    assert_eq!(denials[4]["aud"], json!(["api://wrong-3"]));
    let first = &denials[0];
    assert_eq!(first["reason"], "audience_not_allowed");
    assert_eq!(first["status"], 401);
    assert_eq!(first["provider"], "test-idp");
    assert_eq!(first["iss"], support::ISSUER);
    assert_eq!(first["kid"], "ec-1");
    assert_eq!(first["alg"], "ES256");
    assert_eq!(first["typ"], "JWT");
    assert!(first["time"].as_i64().unwrap() > 1_700_000_000);
    assert!(!response.body.contains("secret-subject"));
    for t in &tokens {
        for part in t.split('.') {
            assert!(
                !response.body.contains(part),
                "token material in /debug/denials"
            );
        }
    }
}

#[test]
fn the_probe_listener_serves_probes_and_metrics_only_and_the_debug_listener_the_rest() {
    let server = Server::start(&support::config_yaml(""));
    let on = |addr, method, path| {
        http::request(addr, method, path, &[("Content-Length", "0")])
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    };
    wait_for("ready", Duration::from_secs(10), || {
        (on(server.admin, "GET", "/readyz").status == 200).then_some(())
    });
    assert_eq!(on(server.admin, "GET", "/healthz").status, 200);
    assert_eq!(on(server.admin, "GET", "/metrics").status, 200);
    // What discloses issuers, audiences, kids and JWKS URLs, or makes us call the IdP, is
    // not on the port the kubelet and Prometheus reach.
    for (method, path) in [
        ("GET", "/status"),
        ("GET", "/debug/denials"),
        ("POST", "/jwks/refresh"),
    ] {
        let r = on(server.admin, method, path);
        assert_eq!(
            r.status, 404,
            "{method} {path} on the probe listener: {r:?}"
        );
    }
    let status = on(server.debug, "GET", "/status");
    assert_eq!(status.status, 200);
    let status: Value = serde_json::from_str(&status.body).unwrap();
    assert_eq!(status["providers"][0]["issuers"], json!([ISSUER]));
    assert_eq!(on(server.debug, "GET", "/debug/denials").status, 200);
    // No remote key sets: a refresh has nothing to fetch and succeeds.
    assert_eq!(on(server.debug, "POST", "/jwks/refresh").status, 200);
    // The probes are not duplicated on the debug listener: one place for each thing.
    assert_eq!(on(server.debug, "GET", "/readyz").status, 404);
}

#[test]
fn a_second_jwks_refresh_within_min_refetch_interval_is_429_with_retry_after() {
    let key = ec_key();
    let idp = Idp::http(&json!({ "keys": [key.public_jwk()] }));
    let config = format!(
        "providers:\n  - name: idp\n    issuer: {ISSUER}\n    audiences: [{AUDIENCE}]\n    jwks:\n      uri: {}\n      allow_insecure_http: true\n      min_refetch_interval: 1h\n",
        idp.jwks_url()
    );
    let server = Server::start(&config);
    wait_for("ready", Duration::from_secs(20), || {
        http::request(server.admin, "GET", "/readyz", &[])
            .ok()
            .filter(|r| r.status == 200)
    });
    assert_eq!(idp.hits("/jwks"), 1, "the startup fetch");
    let refresh = || {
        http::request(
            server.debug,
            "POST",
            "/jwks/refresh",
            &[("Content-Length", "0")],
        )
        .expect("refresh")
    };
    let first = refresh();
    assert_eq!(first.status, 200, "{first:?}");
    assert_eq!(
        serde_json::from_str::<Value>(&first.body).unwrap()["idp"],
        json!({"ok": true, "keys": 1})
    );
    assert_eq!(idp.hits("/jwks"), 2);

    let second = refresh();
    assert_eq!(second.status, 429, "{second:?}");
    // Seconds, rounded up: just under an hour is left.
    let retry_after: u64 = second
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!((3599..=3600).contains(&retry_after), "{retry_after}");
    let body: Value = serde_json::from_str(&second.body).unwrap();
    assert_eq!(body["retry_after_seconds"], retry_after);
    assert!(
        body["providers"]["idp"]["retry_after_seconds"].is_u64(),
        "{body}"
    );
    assert_eq!(idp.hits("/jwks"), 2, "the refused refresh fetched nothing");

    // The same budget as unknown-kid refetches: a random kid right after the refresh does
    // not reach the IdP either.
    let stranger = SigningKey::generate(Algorithm::Es256)
        .unwrap()
        .with_kid("unknown-kid");
    let envoy = Envoy::start(server.grpc.port(), false);
    let token = mint(&stranger, &support::claims());
    assert_eq!(http::get(envoy.listener, "/", Some(&token)).status, 401);
    assert_eq!(idp.hits("/jwks"), 2);
    assert_eq!(
        http::get(envoy.listener, "/", Some(&mint(&key, &support::claims()))).status,
        200
    );
}
