//! Unit tests of `decide`: every row of SPEC §4 with the exact challenge and body, and the
//! upstream headers of an allow.

use super::*;
use crate::algorithm::Algorithm;
use crate::config::compile_str;
use crate::mint::{SigningKey, test_keys};
use serde_json::json;
use std::path::Path;

const NOW: UnixTime = UnixTime(1_800_000_000);

fn key() -> SigningKey {
    test_keys::ec(Algorithm::Es256, "k1")
}

fn snapshot(extra: &str) -> Snapshot {
    let yaml = format!(
        "providers:\n  - name: okta\n    issuer: https://iss.test\n    audiences: [api://a]\n    jwks: {{ inline: '{}' }}\n{extra}",
        json!({"keys": [key().public_jwk()]})
    );
    compile_str(&yaml, Path::new("t.yaml")).unwrap()
}

fn token(extra: serde_json::Value) -> String {
    let mut claims = json!({"iss": "https://iss.test", "aud": "api://a", "exp": NOW.0 + 60});
    for (k, v) in extra.as_object().unwrap() {
        claims[k] = v.clone();
    }
    key().mint(&claims).unwrap()
}

fn decide_with(snapshot: &Snapshot, authorization: &[&str]) -> Decision {
    let request = Request {
        authorization: authorization.iter().map(|v| v.as_bytes()).collect(),
        ..Request::default()
    };
    decide(snapshot, &request, NOW)
}

fn denied(decision: Decision) -> Deny {
    match decision {
        Decision::Deny(deny) => deny,
        Decision::Allow(allow) => panic!("expected a deny, got {allow:?}"),
    }
}

fn allowed(decision: Decision) -> Allow {
    match decision {
        Decision::Allow(allow) => allow,
        Decision::Deny(deny) => panic!("expected an allow, got {deny:?}"),
    }
}

#[test]
fn no_credentials_is_401_with_a_bare_challenge() {
    let deny = denied(decide_with(&snapshot("challenge: { realm: orders }"), &[]));
    assert_eq!(deny.reason, Reason::NoCredentials);
    assert_eq!(deny.status, 401);
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
    assert_eq!(deny.status, 401);
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
        assert_eq!((deny.reason, deny.status), (reason, 400));
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
    assert_eq!(allow.provider, "okta");
    assert_eq!(allow.issuer, "https://iss.test");
    assert_eq!(allow.subject.as_deref(), Some("alice"));
    assert_eq!(allow.scopes, ["a", "b"]);
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
    let scopes_of = |claims: serde_json::Value| scopes(claims.as_object().unwrap());
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
