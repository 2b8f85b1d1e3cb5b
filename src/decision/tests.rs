//! Unit tests of `decide`: every row of SPEC §4 with the exact challenge and body, and the
//! upstream headers of an allow. (One file per SPEC §4 table, so it reads in order; new
//! tests go to `tests_hardening.rs`.)

use super::*;
use crate::algorithm::Algorithm;
use crate::config::compile_str;
use crate::mint::{SigningKey, test_keys};
use serde_json::json;
use std::path::Path;

pub(super) const NOW: UnixTime = UnixTime(1_800_000_000);

pub(super) fn key() -> SigningKey {
    test_keys::ec(Algorithm::Es256, "k1")
}

pub(super) fn snapshot(extra: &str) -> Snapshot {
    let yaml = format!(
        "providers:\n  - name: okta\n    issuer: https://iss.test\n    audiences: [api://a]\n    jwks: {{ inline: '{}' }}\n{extra}",
        json!({"keys": [key().public_jwk()]})
    );
    compile_str(&yaml, Path::new("t.yaml")).unwrap()
}

pub(super) fn token(extra: serde_json::Value) -> String {
    let mut claims = json!({"iss": "https://iss.test", "aud": "api://a", "exp": NOW.0 + 60});
    for (k, v) in extra.as_object().unwrap() {
        claims[k] = v.clone();
    }
    key().mint(&claims).unwrap()
}

pub(super) fn decide_with(snapshot: &Snapshot, authorization: &[&str]) -> Decision {
    let request = Request {
        authorization: authorization.iter().map(|v| v.as_bytes()).collect(),
        ..Request::default()
    };
    decide(snapshot, &request, NOW)
}

pub(super) fn denied(decision: Decision) -> Deny {
    match decision {
        Decision::Deny(deny) => deny,
        other => panic!("expected a deny, got {other:?}"),
    }
}

pub(super) fn allowed(decision: Decision) -> Allow {
    match decision {
        Decision::Allow(allow) => allow,
        other => panic!("expected an allow, got {other:?}"),
    }
}

#[test]
fn no_credentials_is_401_with_a_bare_challenge() {
    let deny = denied(decide_with(&snapshot("challenge: { realm: orders }"), &[]));
    assert_eq!(deny.reason, Reason::NoCredentials);
    assert_eq!(deny.status(), 401);
    assert_eq!(
        deny.www_authenticate.as_deref(),
        Some(r#"Bearer realm="orders""#)
    );
    assert_eq!(
        deny.body,
        r#"{"error":"unauthorized","error_description":"bearer token required"}"#
    );
    let deny = denied(decide_with(&snapshot(""), &["Basic dTpw"]));
    assert_eq!(deny.www_authenticate.as_deref(), Some("Bearer"));
}

#[test]
fn an_invalid_token_is_401_invalid_token_with_its_description() {
    let deny = denied(decide_with(
        &snapshot("challenge: { realm: orders }"),
        &[&format!("Bearer {}", token(json!({"aud": "api://b"})))],
    ));
    assert_eq!(deny.status(), 401);
    assert_eq!(
        deny.www_authenticate.as_deref(),
        Some(
            r#"Bearer realm="orders", error="invalid_token", error_description="audience not allowed""#
        )
    );
    assert_eq!(deny.provider.as_deref(), Some("okta"));
    assert_eq!(
        deny.body,
        r#"{"error":"invalid_token","error_description":"audience not allowed"}"#
    );
}

#[test]
fn a_malformed_request_is_400_invalid_request() {
    let snap = snapshot("");
    for (values, reason) in [
        (vec!["Bearer a", "Bearer b"], Reason::MultipleCredentials),
        (vec!["Bearer a b"], Reason::MalformedAuthorization),
        (vec!["Bearer"], Reason::EmptyBearer),
    ] {
        let deny = denied(decide_with(&snap, &values));
        assert_eq!((deny.reason, deny.status()), (reason, 400));
        assert_eq!(
            deny.www_authenticate,
            Some(format!(
                r#"Bearer error="invalid_request", error_description="{}""#,
                reason.description()
            ))
        );
        assert_eq!(deny.provider, None);
    }
}

#[test]
fn resource_metadata_is_in_every_challenge() {
    let snap = snapshot(
        "challenge: { realm: r, resource_metadata: 'https://api.test/.well-known/oauth-protected-resource' }",
    );
    for values in [vec![], vec!["Bearer"], vec!["Bearer x.y.z"]] {
        let deny = denied(decide_with(&snap, &values));
        let challenge = deny.www_authenticate.unwrap();
        assert!(challenge.starts_with(r#"Bearer realm="r""#), "{challenge}");
        assert!(challenge.ends_with(
            r#", resource_metadata="https://api.test/.well-known/oauth-protected-resource""#
        ));
    }
}

#[test]
fn an_allow_sets_claim_headers_and_removes_absent_ones() {
    let snap = snapshot(
        "upstream:\n  claim_headers: { sub: x-jwt-sub, tenant: X-Tenant, admin: x-admin, n: x-n }\n  strip_authorization: true",
    );
    let allow = allowed(decide_with(
        &snap,
        &[&format!(
            "Bearer {}",
            token(json!({"sub": "alice", "n": 5, "admin": true, "scope": "a b"}))
        )],
    ));
    assert_eq!(
        allow.identity,
        Some(Identity {
            provider: "okta".into(),
            subject: Some("alice".into()),
        })
    );
    // The default metadata: the provider and `sub`.
    assert_eq!(
        allow.metadata,
        [
            ("provider".into(), "okta".into()),
            ("sub".into(), "alice".into())
        ]
    );
    assert_eq!(
        allow.set_headers,
        [
            ("x-admin".into(), "true".into()),
            ("x-n".into(), "5".into()),
            ("x-jwt-sub".into(), "alice".into())
        ]
    );
    assert_eq!(allow.remove_headers, ["x-tenant", "authorization"]);
}

#[test]
fn a_claim_with_control_characters_never_becomes_a_header() {
    let snap = snapshot("upstream:\n  claim_headers: { sub: x-jwt-sub }");
    let allow = allowed(decide_with(
        &snap,
        &[&format!(
            "Bearer {}",
            token(json!({"sub": "a\r\nx-admin: true"}))
        )],
    ));
    assert!(allow.set_headers.is_empty());
    assert_eq!(allow.remove_headers, ["x-jwt-sub"]);
}

#[test]
fn scopes_come_from_scope_or_scp_and_are_never_split_on_commas() {
    let scopes_of = |claims: serde_json::Value| -> Vec<String> {
        let claims = claims.as_object().unwrap();
        scopes(claims).into_iter().map(str::to_owned).collect()
    };
    assert_eq!(
        scopes_of(json!({"scope": "read  write"})),
        ["read", "write"]
    );
    assert_eq!(scopes_of(json!({"scope": "read,write"})), ["read,write"]);
    assert_eq!(
        scopes_of(json!({"scp": ["read", "write"]})),
        ["read", "write"]
    );
    assert_eq!(scopes_of(json!({"scp": "read write"})), ["read", "write"]);
    assert!(scopes_of(json!({})).is_empty());
}

/// A snapshot with routes (YAML appended after the provider).
pub(super) fn routed(routes: &str) -> Snapshot {
    snapshot(&format!(
        "challenge: {{ realm: api }}\nupstream: {{ claim_headers: {{ sub: x-sub }} }}\n{routes}"
    ))
}

pub(super) fn request<'a>(method: &'a str, path: &'a str, auth: &'a [String]) -> Request<'a> {
    Request {
        authorization: auth.iter().map(|a| a.as_bytes()).collect(),
        method,
        path,
        host: "api.test:443",
        ..Request::default()
    }
}

pub(super) fn bearer(claims: serde_json::Value) -> Vec<String> {
    vec![format!("Bearer {}", token(claims))]
}

const ROUTES: &str = "routes:
  - name: admin
    scopes: [orders.admin]
  - match: { path_prefix: /public }
    allow_anonymous: true
  - match: { path_prefix: /orders, methods: [POST, DELETE] }
    scopes: [orders.write]
  - match: { path_prefix: /orders }
    scopes: [orders.read]
  - match: { path_glob: /tenants/*/reports, hosts: ['*.test'] }
    claims: { tenant: acme, 'org.id': '42' }
  - match: { path: /preflight }
    cors_preflight: allow
";

#[test]
fn the_first_matching_route_applies_and_scopes_are_all_required() {
    let snap = routed(ROUTES);
    let read = bearer(json!({"scope": "orders.read"}));
    assert!(matches!(
        decide(&snap, &request("GET", "/orders/7?x=1", &read), NOW),
        Decision::Allow(_)
    ));
    let deny = denied(decide(&snap, &request("post", "/orders", &read), NOW));
    assert_eq!(
        (deny.reason, deny.status()),
        (Reason::InsufficientScope, 403)
    );
    assert_eq!(
        deny.www_authenticate.as_deref(),
        Some(
            r#"Bearer realm="api", error="insufficient_scope", error_description="insufficient scope", scope="orders.write""#
        )
    );
    let both = bearer(json!({"scp": ["orders.read", "orders.write"]}));
    assert!(matches!(
        decide(&snap, &request("POST", "/orders", &both), NOW),
        Decision::Allow(_)
    ));
    // A comma-joined scope string is one scope, not two.
    let joined = bearer(json!({"scope": "orders.read,orders.write"}));
    assert_eq!(
        denied(decide(&snap, &request("GET", "/orders", &joined), NOW)).reason,
        Reason::InsufficientScope
    );
    // /ordersx is not under the /orders prefix: the default (any valid token) applies.
    assert!(matches!(
        decide(&snap, &request("GET", "/ordersx", &bearer(json!({}))), NOW),
        Decision::Allow(_)
    ));
}

#[test]
fn dynamic_metadata_carries_the_configured_claims_or_nothing_when_off() {
    let claims = json!({"sub": "alice", "scope": "a b", "org": {"id": 7}, "groups": ["x", "y"]});
    let auth = format!("Bearer {}", token(claims));
    let snap = snapshot("dynamic_metadata: { claims: [scope, org.id, groups, absent] }");
    assert_eq!(
        allowed(decide_with(&snap, &[&auth])).metadata,
        [
            ("provider".into(), "okta".into()),
            ("scope".into(), "a b".into()),
            ("org.id".into(), "7".into()),
            ("groups".into(), "x,y".into())
        ]
    );
    let deny = denied(decide_with(&snap, &["Bearer x"]));
    assert_eq!(deny.metadata, [("reason".into(), "opaque_token".into())]);
    let off = snapshot("dynamic_metadata: { enabled: false }");
    assert!(allowed(decide_with(&off, &[&auth])).metadata.is_empty());
    assert!(denied(decide_with(&off, &["Bearer x"])).metadata.is_empty());
}

#[test]
fn anonymous_routes_allow_no_token_but_still_refuse_a_bad_one() {
    let snap = routed(ROUTES);
    let allow = allowed(decide(&snap, &request("GET", "/public/docs", &[]), NOW));
    assert_eq!(allow.identity, None);
    assert_eq!(allow.metadata, [("anonymous".into(), "true".into())]);
    assert_eq!(allow.remove_headers, ["x-sub"]);
    let bad = vec!["Bearer not.a.jwt".to_owned()];
    assert_eq!(
        denied(decide(&snap, &request("GET", "/public/docs", &bad), NOW)).status(),
        401
    );
    let good = bearer(json!({"sub": "alice"}));
    let allow = allowed(decide(&snap, &request("GET", "/public/docs", &good), NOW));
    assert_eq!(allow.identity.unwrap().subject.as_deref(), Some("alice"));
    assert_eq!(allow.set_headers, [("x-sub".into(), "alice".into())]);
    assert_eq!(
        denied(decide(&snap, &request("GET", "/private", &[]), NOW)).reason,
        Reason::NoCredentials
    );
}

#[test]
fn dot_segments_cannot_reach_another_rule() {
    let snap = routed(ROUTES);
    for path in [
        "/public/../orders",
        "/public/%2e%2e/orders",
        "/public//x",
        "/public%2Forders",
    ] {
        let deny = denied(decide(&snap, &request("GET", path, &[]), NOW));
        assert_eq!(
            (deny.reason, deny.status()),
            (Reason::PathNotCanonical, 400),
            "{path}"
        );
    }
    // Encoded unreserved characters are decoded before matching.
    let deny = denied(decide(
        &snap,
        &request("GET", "/%6Frders", &bearer(json!({}))),
        NOW,
    ));
    assert_eq!(deny.reason, Reason::InsufficientScope);
}

#[test]
fn a_route_named_by_context_extensions_wins_over_path_matching() {
    let snap = routed(ROUTES);
    let mut req = request("GET", "/public/docs", &[]);
    req.route_name = Some("admin");
    assert_eq!(
        denied(decide(&snap, &req, NOW)).reason,
        Reason::NoCredentials
    );
    let admin = bearer(json!({"scope": "orders.admin"}));
    let mut req = request("GET", "/public/docs", &admin);
    req.route_name = Some("admin");
    assert_eq!(
        allowed(decide(&snap, &req, NOW)).route.as_deref(),
        Some("admin")
    );
    req.route_name = Some("nope");
    let deny = denied(decide(&snap, &req, NOW));
    assert_eq!(
        (deny.reason, deny.status(), deny.www_authenticate),
        (Reason::RouteNotConfigured, 500, None)
    );
}

#[test]
fn required_claim_values_match_strings_arrays_and_nested_paths() {
    let snap = routed(ROUTES);
    let at = |claims| {
        decide(
            &snap,
            &request("GET", "/tenants/acme/reports", &bearer(claims)),
            NOW,
        )
    };
    assert!(matches!(
        at(json!({"tenant": "acme", "org": {"id": 42}})),
        Decision::Allow(_)
    ));
    assert!(matches!(
        at(json!({"tenant": ["x", "acme"], "org.id": "42"})),
        Decision::Allow(_)
    ));
    let deny = denied(at(json!({"tenant": "other", "org": {"id": 42}})));
    assert_eq!((deny.reason, deny.status()), (Reason::ClaimMismatch, 403));
    assert_eq!(
        denied(at(json!({"org": {"id": 42}}))).reason,
        Reason::ClaimMismatch
    );
    // The host must match *.test.
    let mut req = request("GET", "/tenants/acme/reports", &[]);
    req.host = "other.example";
    assert_eq!(
        denied(decide(&snap, &req, NOW)).reason,
        Reason::NoCredentials
    );
}

#[test]
fn cors_preflights_pass_only_where_allowed() {
    let snap = routed(ROUTES);
    let mut req = request("OPTIONS", "/preflight", &[]);
    req.cors_preflight = true;
    assert_eq!(allowed(decide(&snap, &req, NOW)).identity, None);
    req.cors_preflight = false;
    assert_eq!(
        denied(decide(&snap, &req, NOW)).reason,
        Reason::NoCredentials
    );
    let mut req = request("OPTIONS", "/orders", &[]);
    req.cors_preflight = true;
    assert_eq!(
        denied(decide(&snap, &req, NOW)).reason,
        Reason::NoCredentials
    );
}

#[test]
fn claim_headers_join_arrays_and_follow_nested_paths_per_route() {
    let snap = snapshot(
        "upstream: { claim_headers: { sub: x-sub } }\nroutes:\n  - match: { path_prefix: /r }\n    upstream: { claim_headers: { groups: x-groups, 'org.id': x-org }, strip_authorization: true }\n",
    );
    let auth = bearer(json!({"sub": "alice", "groups": ["a", "b", 3], "org": {"id": "o1"}}));
    let allow = allowed(decide(&snap, &request("GET", "/r", &auth), NOW));
    assert_eq!(
        allow.set_headers,
        [
            ("x-groups".into(), "a,b,3".into()),
            ("x-org".into(), "o1".into())
        ]
    );
    // x-sub is configured elsewhere: removed here so no client can supply it.
    assert_eq!(allow.remove_headers, ["x-sub", "authorization"]);
    let allow = allowed(decide(&snap, &request("GET", "/other", &auth), NOW));
    assert_eq!(allow.set_headers, [("x-sub".into(), "alice".into())]);
    assert_eq!(allow.remove_headers, ["x-groups", "x-org"]);
}
