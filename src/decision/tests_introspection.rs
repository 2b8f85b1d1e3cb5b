//! Unit tests of the decision's introspection side: which tokens go to which provider
//! (never one the route does not allow), and how each answer is judged — through the same
//! claim, scope and header rules as a JWT.

use super::tests::{NOW, bearer, key, snapshot};
use super::*;
use crate::introspection::Failure;
use crate::snapshot::Snapshot;
use serde_json::json;
use std::sync::Arc;

/// `okta` (JWTs, from `tests.rs`), `opaque` (introspection only, no issuer) and `org`
/// (`tokens: all` for `https://org.test`); routes: `/jwt-only` allows only `okta`,
/// `/orders` needs scope `orders.read`.
fn introspecting() -> Snapshot {
    snapshot(
        "  - name: opaque
    audiences: [api://a]
    introspection: { endpoint: 'http://127.0.0.1:1/introspect', allow_insecure_http: true }
  - name: org
    issuer: https://org.test
    audiences: [api://a]
    introspection:
      endpoint: 'http://127.0.0.1:1/org'
      allow_insecure_http: true
      tokens: all
upstream: { claim_headers: { sub: x-sub } }
routes:
  - match: { path_prefix: /jwt-only }
    providers: [okta]
  - match: { path_prefix: /orders }
    scopes: [orders.read]
",
    )
}

fn decide_for(snap: &Snapshot, path: &str, token: &str, answer: Option<&Answer>) -> Decision {
    let auth = format!("Bearer {token}");
    let request = Request {
        authorization: vec![auth.as_bytes()],
        method: "GET",
        path,
        host: "api.test",
        ..Request::default()
    };
    decide_introspected(snap, &request, NOW, Memory::default(), answer, &mut Off)
}

fn active(claims: serde_json::Value) -> Answer {
    Answer::Active(Arc::new(claims.as_object().unwrap().clone()))
}

fn reason_and_provider(decision: Decision) -> (Reason, Option<String>) {
    match decision {
        Decision::Deny(deny) => (deny.reason, deny.provider),
        other => panic!("expected a deny, got {other:?}"),
    }
}

#[test]
fn a_token_that_is_not_a_jws_names_the_first_introspecting_provider_the_route_allows() {
    let snap = introspecting();
    for token in [
        "2YotnFZFEjr1zCsicMWpAA",
        "ya29.a0AfH6SMB",
        "a.b.c",
        "a.b.c.d.e",
    ] {
        assert_eq!(
            reason_and_provider(decide_for(&snap, "/", token, None)),
            (Reason::IntrospectionUnavailable, Some("opaque".into())),
            "{token}: asked of `opaque`, the first in config order"
        );
        // A route that allows only a JWT provider never sends the token anywhere.
        assert_eq!(
            reason_and_provider(decide_for(&snap, "/jwt-only", token, None)).1,
            None,
            "{token}"
        );
    }
    let (reason, _) = reason_and_provider(decide_for(&snap, "/jwt-only", "opaque", None));
    assert_eq!(reason, Reason::OpaqueToken);
    // A damaged JWT (its signature cut) and a JWE start with a JOSE header: a JWT's
    // failure, never sent to an introspection endpoint.
    let jwt = key().mint(&json!({"iss": "https://iss.test"})).unwrap();
    let (head, _) = jwt.rsplit_once('.').unwrap();
    for token in [
        format!("{head}.A"),
        head.to_owned(),
        format!("{head}.a.b.c"),
    ] {
        let (reason, provider) = reason_and_provider(decide_for(&snap, "/", &token, None));
        assert_eq!(provider, None, "{token}: {reason:?}");
        assert!(
            matches!(reason, Reason::MalformedToken | Reason::EncryptedToken),
            "{reason:?}"
        );
    }
    // A decodable JWS with a refused header parameter is a JWT's failure, not introspected.
    let header = json!({"alg": "ES256", "kid": "k1", "zip": "DEF"}).to_string();
    let zip = key().sign_parts(header.as_bytes(), b"{}").unwrap();
    assert_eq!(
        reason_and_provider(decide_for(&snap, "/", &zip, None)),
        (Reason::MalformedToken, None)
    );
}

#[test]
fn a_tokens_all_provider_introspects_its_jwts_and_only_its_own() {
    let snap = introspecting();
    let org_jwt = key()
        .mint(&json!({"iss": "https://org.test", "exp": NOW.0 + 60}))
        .unwrap();
    assert_eq!(
        reason_and_provider(decide_for(&snap, "/", &org_jwt, None)),
        (Reason::IntrospectionUnavailable, Some("org".into()))
    );
    let allowed = decide_for(
        &snap,
        "/",
        &org_jwt,
        Some(&active(json!({"active": true, "exp": NOW.0 + 60}))),
    );
    assert!(matches!(allowed, Decision::Allow(_)), "{allowed:?}");
    // okta's JWTs are still validated locally.
    let okta = bearer(json!({"sub": "alice"}));
    let token = okta[0].strip_prefix("Bearer ").unwrap();
    assert!(matches!(
        decide_for(&snap, "/", token, None),
        Decision::Allow(_)
    ));
}

#[test]
fn each_answer_is_judged_like_a_jwts_claims() {
    let snap = introspecting();
    let exp = NOW.0 + 60;
    let allow = decide_for(
        &snap,
        "/orders/1",
        "opaque",
        Some(&active(
            json!({"active": true, "exp": exp, "sub": "alice", "scope": "orders.read"}),
        )),
    );
    let Decision::Allow(allow) = allow else {
        panic!("{allow:?}")
    };
    assert_eq!(
        allow.set_headers,
        [("x-sub".to_owned(), "alice".to_owned())]
    );
    assert_eq!(allow.identity.unwrap().provider, "opaque");
    let deny = |answer: Answer, path: &str| {
        reason_and_provider(decide_for(&snap, path, "opaque", Some(&answer))).0
    };
    let base = |extra: serde_json::Value| {
        let mut claims = json!({"active": true, "exp": exp});
        claims
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        active(claims)
    };
    assert_eq!(
        deny(base(json!({"scope": "orders.write"})), "/orders/1"),
        Reason::InsufficientScope
    );
    assert_eq!(deny(Answer::Inactive, "/"), Reason::TokenInactive);
    assert_eq!(
        deny(Answer::Unavailable(Failure::Status(500)), "/"),
        Reason::IntrospectionUnavailable
    );
    assert_eq!(
        deny(base(json!({"exp": NOW.0 - 3600})), "/"),
        Reason::Expired
    );
    assert_eq!(
        deny(base(json!({"exp": "soon"})), "/"),
        Reason::ClaimMalformed
    );
    assert_eq!(
        deny(active(json!({"active": true})), "/"),
        Reason::RequiredClaimMissing
    );
    assert_eq!(
        deny(base(json!({"aud": "api://other"})), "/"),
        Reason::AudienceNotAllowed
    );
    assert_eq!(
        deny(base(json!({"aud": ["api://a", 7]})), "/"),
        Reason::ClaimMalformed
    );
    assert_eq!(
        deny(base(json!({"token_type": "Refresh_Token"})), "/"),
        Reason::TokenTypeNotAllowed
    );
    for fine in [
        json!({"aud": ["x", "api://a"]}),
        json!({"token_type": "access_token"}),
        json!({"iss": "https://anyone"}),
    ] {
        assert!(
            matches!(
                decide_for(&snap, "/", "opaque", Some(&base(fine.clone()))),
                Decision::Allow(_)
            ),
            "{fine}"
        );
    }
    // A provider with issuers holds the answer's `iss` to them.
    let org_jwt = key()
        .mint(&json!({"iss": "https://org.test", "exp": exp}))
        .unwrap();
    let wrong_iss = base(json!({"iss": "https://evil.test"}));
    assert_eq!(
        reason_and_provider(decide_for(&snap, "/", &org_jwt, Some(&wrong_iss))).0,
        Reason::IssuerNotTrusted
    );
}

#[test]
fn the_trace_shows_the_introspection_stage_and_the_answers_claims() {
    let snap = introspecting();
    let auth = "Bearer opaque".to_owned();
    let request = Request {
        authorization: vec![auth.as_bytes()],
        method: "GET",
        path: "/",
        host: "api.test",
        ..Request::default()
    };
    let mut trace = crate::trace::Trace::default();
    let answer = active(json!({"active": true, "exp": NOW.0 + 60, "sub": "bob"}));
    let decision = decide_introspected(
        &snap,
        &request,
        NOW,
        Memory::default(),
        Some(&answer),
        &mut trace,
    );
    assert!(matches!(decision, Decision::Allow(_)));
    let format = trace
        .steps
        .iter()
        .rfind(|s| s.check == Check::Format)
        .unwrap();
    assert!(format.failed.is_none() && format.actual.contains("introspected by provider opaque"));
    let step = trace
        .steps
        .iter()
        .find(|s| s.check == Check::Introspection)
        .unwrap();
    assert_eq!((step.failed, step.actual.as_str()), (None, "active"));
    assert_eq!(trace.claims.as_ref().unwrap()["sub"], "bob");
    let mut untraced = crate::trace::Trace::default();
    let pending = decide_introspected(&snap, &request, NOW, Memory::default(), None, &mut untraced);
    assert!(matches!(pending, Decision::Deny(_)));
    let step = untraced
        .steps
        .iter()
        .find(|s| s.check == Check::Introspection)
        .unwrap();
    assert_eq!(step.actual, "not asked");
}
