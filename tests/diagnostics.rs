//! Diagnostics: Prometheus metrics scraped after a known mix of answers (exact values),
//! `/debug/denials` (bounded, newest first, no token material), and the audit event.

use crate::support::envoy::Envoy;
use crate::support::server::Server;
use crate::support::{self, claims_with, ec_key, http, mint};
use envoy_jwt_authz::token::verify::UnixTime;
use serde_json::{Value, json};

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
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("config")).unwrap();
    let config = dir.path().join("config/config.yaml");
    std::fs::write(&config, support::config_yaml("")).unwrap();
    let server = Server::start_with(&config, dir, &["--recent-denials", "5"]);
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
    let response = http::request(server.admin, "GET", "/debug/denials", &[]).unwrap();
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
