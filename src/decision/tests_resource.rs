//! Unit tests of the resource-server rules of issue 17: audiences per route (and the
//! verified-token cache never carrying a token across them), RFC 9470 step-up, and scope
//! hierarchies.

use super::tests::{NOW, bearer, denied, request, snapshot};
use super::*;
use crate::token::cache::TokenCache;
use serde_json::json;

fn routes(yaml: &str) -> Snapshot {
    snapshot(&format!("challenge: {{ realm: api }}\n{yaml}"))
}

#[test]
fn a_routes_audiences_replace_the_providers_and_the_cache_does_not_cross_them() {
    let snap = routes(
        "routes:
  - match: { path_prefix: /a }
    audiences: [api://route-a]
  - match: { path_prefix: /b }
    audiences: [api://route-b, api://shared]
",
    );
    let cache = TokenCache::new(100, 1 << 20).unwrap();
    // One token per audience, minted once, so the second pass is served by the cache.
    let tokens: std::collections::HashMap<&str, Vec<String>> =
        ["api://route-a", "api://shared", "api://a"]
            .into_iter()
            .map(|aud| (aud, bearer(json!({"aud": aud}))))
            .collect();
    let verdict = |path: &str, aud: &str| {
        let auth = &tokens[aud];
        let uncached = decide(&snap, &request("GET", path, auth), NOW);
        let cached = decide_cached(&snap, &request("GET", path, auth), NOW, Some(&cache));
        assert_eq!(
            uncached, cached,
            "{path} {aud}: the cache changes no verdict"
        );
        match cached {
            Decision::Deny(deny) => Some(deny.reason),
            _ => None,
        }
    };
    // Each token on its own route only, whatever order the cache saw them in.
    for _ in 0..2 {
        assert_eq!(verdict("/a/1", "api://route-a"), None);
        assert_eq!(
            verdict("/b/1", "api://route-a"),
            Some(Reason::AudienceNotAllowed)
        );
        assert_eq!(
            verdict("/", "api://route-a"),
            Some(Reason::AudienceNotAllowed),
            "the provider's own"
        );
        assert_eq!(verdict("/b/1", "api://shared"), None);
        assert_eq!(
            verdict("/a/1", "api://shared"),
            Some(Reason::AudienceNotAllowed)
        );
        assert_eq!(
            verdict("/", "api://a"),
            None,
            "the provider's audience, elsewhere"
        );
        assert_eq!(verdict("/a/1", "api://a"), Some(Reason::AudienceNotAllowed));
    }
    assert!(cache.counts().0 > 0, "hits happened: {:?}", cache.counts());
}

#[test]
fn step_up_needs_the_acr_and_a_fresh_enough_auth_time() {
    let snap = routes(
        "routes:
  - match: { path_prefix: /transfer }
    acr_values: [mfa, phr]
    max_age: 300s
  - match: { path_prefix: /profile }
    max_age: 60s
",
    );
    let deny = |claims: serde_json::Value| {
        let auth = bearer(claims);
        denied(decide(&snap, &request("POST", "/transfer", &auth), NOW))
    };
    let no_acr = deny(json!({"auth_time": NOW.0}));
    assert_eq!(no_acr.reason, Reason::InsufficientAcr);
    assert_eq!(no_acr.status(), 401);
    assert_eq!(
        no_acr.www_authenticate.as_deref(),
        Some(
            r#"Bearer realm="api", error="insufficient_user_authentication", error_description="a stronger authentication is required", acr_values="mfa phr", max_age="300""#
        )
    );
    assert_eq!(
        deny(json!({"acr": "pwd", "auth_time": NOW.0})).reason,
        Reason::InsufficientAcr
    );
    assert_eq!(
        deny(json!({"acr": ["mfa"], "auth_time": NOW.0})).reason,
        Reason::InsufficientAcr
    );
    // 300 s of max_age plus the provider's 60 s of skew.
    let old = deny(json!({"acr": "mfa", "auth_time": NOW.0 - 361}));
    assert_eq!(old.reason, Reason::AuthenticationTooOld);
    assert!(
        old.body
            .contains("a more recent authentication is required"),
        "{}",
        old.body
    );
    assert_eq!(
        deny(json!({"acr": "mfa"})).reason,
        Reason::AuthenticationTooOld,
        "no auth_time"
    );
    assert_eq!(
        deny(json!({"acr": "mfa", "auth_time": "x"})).reason,
        Reason::ClaimMalformed
    );
    for fresh in [
        json!({"acr": "phr", "auth_time": NOW.0 - 360}),
        json!({"acr": "mfa", "auth_time": NOW.0}),
    ] {
        let auth = bearer(fresh.clone());
        assert!(
            matches!(
                decide(&snap, &request("POST", "/transfer", &auth), NOW),
                Decision::Allow(_)
            ),
            "{fresh}"
        );
    }
    // max_age alone: only max_age in the challenge.
    let auth = bearer(json!({"auth_time": NOW.0 - 1000}));
    let profile = denied(decide(&snap, &request("GET", "/profile", &auth), NOW));
    assert!(profile.www_authenticate.unwrap().ends_with(
        r#"error_description="a more recent authentication is required", max_age="60""#
    ));
    // Routes without step-up do not look at acr or auth_time.
    let auth = bearer(json!({}));
    assert!(matches!(
        decide(&snap, &request("GET", "/other", &auth), NOW),
        Decision::Allow(_)
    ));
}

#[test]
fn a_broader_scope_satisfies_a_narrower_one_and_the_trace_says_which() {
    let snap = routes(
        "scope_implies: { 'files:write': ['files:read'], 'files:admin': ['files:write'], admin: ['*'] }
routes:
  - match: { path_prefix: /files }
    scopes: ['files:read']
",
    );
    let verdict = |scope: &str| {
        let auth = bearer(json!({"scope": scope}));
        decide(&snap, &request("GET", "/files/1", &auth), NOW)
    };
    for ok in ["files:read", "files:write", "files:admin", "profile admin"] {
        assert!(matches!(verdict(ok), Decision::Allow(_)), "{ok}");
    }
    let no = denied(verdict("profile files:readonly"));
    assert_eq!(no.reason, Reason::InsufficientScope);
    assert!(
        no.www_authenticate
            .unwrap()
            .contains(r#"scope="files:read""#),
        "the route's scopes"
    );
    let auth = bearer(json!({"scope": "files:admin"}));
    let mut trace = crate::trace::Trace::default();
    decide_traced(
        &snap,
        &request("GET", "/files/1", &auth),
        NOW,
        None,
        &mut trace,
    );
    let step = trace
        .steps
        .iter()
        .find(|s| s.check == Check::Scopes)
        .unwrap();
    assert_eq!(step.actual, "[files:admin]; files:read via files:admin");
}
