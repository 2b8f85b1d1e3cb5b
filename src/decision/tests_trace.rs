//! Unit tests of the decision's trace: it records exactly the stages that ran, in order,
//! and tracing never changes the verdict.

use super::tests::{NOW, bearer, request, routed};
use super::*;
use crate::token::cache::TokenCache;
use crate::trace::Trace;
use serde_json::json;

fn traced(snapshot: &Snapshot, request: &Request<'_>) -> (Decision, Trace) {
    let mut trace = Trace::default();
    let decision = decide_traced(snapshot, request, NOW, None, &mut trace);
    (decision, trace)
}

#[test]
fn an_allowed_token_records_every_stage_in_order() {
    let snap = routed("");
    let auth = bearer(json!({"sub": "alice"}));
    let (decision, trace) = traced(&snap, &request("GET", "/", &auth));
    assert!(matches!(decision, Decision::Allow(_)));
    let checks: Vec<Check> = trace.steps.iter().map(|s| s.check).collect();
    let jwt_checks: Vec<Check> = Check::ALL.into_iter().filter(|c| !c.optional()).collect();
    assert_eq!(checks, jwt_checks, "every stage but the optional ones");
    assert!(trace.steps.iter().all(|s| s.failed.is_none()));
    assert_eq!(trace.route, Some(None), "the default requirement");
    assert_eq!(trace.claims.as_ref().unwrap()["sub"], "alice");
}

#[test]
fn a_failure_is_the_last_stage_recorded() {
    let snap = routed("");
    for (claims, check, reason) in [
        (json!({"iss": 123}), Check::Issuer, Reason::ClaimMalformed),
        (
            json!({"aud": "api://other"}),
            Check::Audience,
            Reason::AudienceNotAllowed,
        ),
        (json!({"exp": NOW.0 - 3600}), Check::Expiry, Reason::Expired),
    ] {
        let auth = bearer(claims);
        let (decision, trace) = traced(&snap, &request("GET", "/", &auth));
        let Decision::Deny(deny) = decision else {
            panic!("allowed")
        };
        assert_eq!(deny.reason, reason);
        let last = trace.steps.last().expect("stages");
        assert_eq!((last.check, last.failed), (check, Some(reason)));
        assert!(
            trace.steps[..trace.steps.len() - 1]
                .iter()
                .all(|s| s.failed.is_none())
        );
    }
    // No token: the decision stops at the credentials, nothing about a token is claimed.
    let (_, trace) = traced(&snap, &request("GET", "/", &[]));
    let checks: Vec<Check> = trace.steps.iter().map(|s| s.check).collect();
    assert_eq!(checks, [Check::Route, Check::Credentials]);
}

#[test]
fn tracing_and_the_cache_never_change_the_verdict() {
    let snap = routed("routes:\n  - match: { path_prefix: /a }\n    scopes: [a]\n");
    let cache = TokenCache::new(16, 1 << 20).expect("cache");
    for claims in [json!({}), json!({"scope": "a"}), json!({"aud": "x"})] {
        let auth = bearer(claims);
        for path in ["/", "/a"] {
            let req = request("GET", path, &auth);
            let plain = decide(&snap, &req, NOW);
            let (with_trace, _) = traced(&snap, &req);
            let cached = decide_cached(&snap, &req, NOW, Some(&cache));
            let cached_again = decide_cached(&snap, &req, NOW, Some(&cache));
            assert_eq!(plain, with_trace);
            assert_eq!(plain, cached);
            assert_eq!(plain, cached_again);
        }
    }
}
