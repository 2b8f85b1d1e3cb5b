//! Issuer templates on the verify path (issue 17 §3): Entra v1 and v2 tokens of a listed
//! tenant pass; an unlisted tenant, an `iss` with anything around the template, a tenant
//! claim that is missing, `null`, another tenant or no string does not; `tenants: any`;
//! the route's provider list; the `iss` of an introspection answer; and the trace that
//! `explain` prints. A literal-issuer provider beside them is unaffected.

use super::cache::TokenCache;
use super::tests::{AUD, ISS, NOW, claims, es256, with, without};
use super::verify::{Verified, verify, verify_traced};
use crate::config::compile_str;
use crate::reason::Reason;
use crate::snapshot::{ProviderSet, Snapshot};
use crate::trace::{Check, Trace};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;

const T1: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const T2: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

fn v2(tenant: &str) -> String {
    format!("https://login.microsoftonline.com/{tenant}/v2.0")
}

fn v1(tenant: &str) -> String {
    format!("https://sts.windows.net/{tenant}/")
}

/// `p` (literal [`ISS`]), `entra` (v2 and v1 templates, tenants [T1, T2]) and `orgs`
/// (a template with claim `org` and `tenants: any`), all trusting one key.
fn snapshot_with(entra_tenants: &str) -> Snapshot {
    let jwks = json!({ "keys": [es256().public_jwk()] });
    let yaml = format!(
        "providers:
  - name: p
    issuer: {ISS}
    audiences: [{AUD}]
    jwks: {{ inline: '{jwks}' }}
  - name: entra
    issuer_templates:
      - https://login.microsoftonline.com/{{tid}}/v2.0
      - https://sts.windows.net/{{tid}}/
    tenants: {entra_tenants}
    audiences: [{AUD}]
    jwks: {{ inline: '{jwks}' }}
  - name: orgs
    issuer_template: https://idp.test/orgs/{{org}}
    tenants: any
    audiences: [{AUD}]
    jwks: {{ inline: '{jwks}' }}
"
    );
    compile_str(&yaml, Path::new("test.yaml")).unwrap_or_else(|e| panic!("{e}\n{yaml}"))
}

fn snapshot() -> Snapshot {
    snapshot_with(&format!("[{T1}, {T2}]"))
}

/// The provider that verified `claims`, or why not.
fn judge(snap: &Snapshot, claims: Value, allowed: &ProviderSet) -> Result<String, Reason> {
    let token = es256().mint(&claims).unwrap();
    verify(&token, snap, allowed, NOW)
        .map(|v| v.provider().name.clone())
        .map_err(|r| r.reason)
}

fn entra(iss: String, tid: Value) -> Value {
    with(with(claims(), "iss", json!(iss)), "tid", tid)
}

#[test]
fn entra_v1_and_v2_tokens_of_a_listed_tenant_pass_beside_a_literal_issuer() {
    let snap = snapshot();
    for (iss, tid) in [(v2(T1), T1), (v1(T1), T1), (v2(T2), T2), (v1(T2), T2)] {
        assert_eq!(
            judge(&snap, entra(iss, json!(tid)), &ProviderSet::Any).as_deref(),
            Ok("entra")
        );
    }
    assert_eq!(
        judge(&snap, claims(), &ProviderSet::Any).as_deref(),
        Ok("p")
    );
    // The literal provider's tokens need no tenant claim; a stray one is not read.
    assert_eq!(
        judge(&snap, with(claims(), "tid", json!(T2)), &ProviderSet::Any).as_deref(),
        Ok("p")
    );
}

#[test]
fn an_unlisted_tenant_or_anything_around_the_template_is_not_trusted() {
    let snap = snapshot();
    for iss in [
        v2("00000000-0000-0000-0000-000000000000"),
        v1("00000000-0000-0000-0000-000000000000"),
        format!("{}/", v2(T1)),
        format!("x{}", v2(T1)),
        v2(&format!("{T1}/x")),
        v2(""),
        v1(&T1.to_uppercase()),
        format!("https://sts.windows.net/{T1}"),
    ] {
        let tid = iss.split('/').nth(3).unwrap_or_default().to_owned();
        assert_eq!(
            judge(&snap, entra(iss.clone(), json!(tid)), &ProviderSet::Any),
            Err(Reason::IssuerNotTrusted),
            "{iss}"
        );
    }
}

#[test]
fn the_tenant_claim_must_repeat_the_tenant_of_iss() {
    let snap = snapshot();
    for (tid, reason) in [
        (json!(T2), Reason::IssuerNotTrusted),
        (json!(null), Reason::IssuerNotTrusted),
        (json!(""), Reason::IssuerNotTrusted),
        (json!(7), Reason::ClaimMalformed),
        (json!([T1]), Reason::ClaimMalformed),
    ] {
        assert_eq!(
            judge(&snap, entra(v2(T1), tid.clone()), &ProviderSet::Any),
            Err(reason),
            "{tid}"
        );
        assert_eq!(
            judge(&snap, entra(v1(T1), tid.clone()), &ProviderSet::Any),
            Err(reason),
            "{tid}"
        );
    }
    let missing = without(entra(v2(T1), json!(T1)), "tid");
    assert_eq!(
        judge(&snap, missing, &ProviderSet::Any),
        Err(Reason::IssuerNotTrusted)
    );
    // The claim is the placeholder's: `org` for `orgs`, and `tid` means nothing there.
    let org = with(
        with(claims(), "iss", json!("https://idp.test/orgs/acme")),
        "org",
        json!("acme"),
    );
    assert_eq!(
        judge(&snap, org.clone(), &ProviderSet::Any).as_deref(),
        Ok("orgs")
    );
    let tid_only = with(without(org, "org"), "tid", json!("acme"));
    assert_eq!(
        judge(&snap, tid_only, &ProviderSet::Any),
        Err(Reason::IssuerNotTrusted)
    );
}

#[test]
fn tenants_any_trusts_every_tenant_of_the_template_shape() {
    let snap = snapshot_with("any");
    let t3 = "11111111-2222-3333-4444-555555555555";
    assert_eq!(
        judge(&snap, entra(v2(t3), json!(t3)), &ProviderSet::Any).as_deref(),
        Ok("entra")
    );
    assert_eq!(
        judge(&snap, entra(v2("a/b"), json!("a/b")), &ProviderSet::Any),
        Err(Reason::IssuerNotTrusted)
    );
    assert_eq!(
        judge(&snap, entra(v2(".."), json!("..")), &ProviderSet::Any),
        Err(Reason::IssuerNotTrusted)
    );
    assert_eq!(
        judge(&snap, entra(v2(t3), json!(T1)), &ProviderSet::Any),
        Err(Reason::IssuerNotTrusted)
    );
}

#[test]
fn a_route_that_does_not_accept_the_template_provider_refuses_its_tokens() {
    let snap = snapshot();
    let only_p = ProviderSet::Only(vec![0]);
    assert_eq!(
        judge(&snap, entra(v2(T1), json!(T1)), &only_p),
        Err(Reason::IssuerNotTrusted)
    );
    assert_eq!(judge(&snap, claims(), &only_p).as_deref(), Ok("p"));
    let only_entra = ProviderSet::Only(vec![1]);
    assert_eq!(
        judge(&snap, entra(v2(T1), json!(T1)), &only_entra).as_deref(),
        Ok("entra")
    );
}

#[test]
fn the_issuer_stage_names_the_tenant_and_the_rule_that_failed() {
    let snap = snapshot();
    let issuer_step = |claims: Value| {
        let token = es256().mint(&claims).unwrap();
        let mut trace = Trace::default();
        let _ = verify_traced(&token, &snap, &ProviderSet::Any, NOW, &mut trace);
        let step = trace
            .steps
            .into_iter()
            .find(|s| s.check == Check::Issuer)
            .expect("issuer stage");
        (step.failed, step.actual, step.expected)
    };
    let (failed, actual, expected) = issuer_step(entra(v2(T1), json!(T1)));
    assert_eq!(failed, None);
    assert_eq!(
        actual,
        format!("{:?} (provider entra, tenant {T1:?}, tid matches)", v2(T1))
    );
    assert!(expected.contains(&format!("https://login.microsoftonline.com/{{tid}}/v2.0 (tid in [{T1}, {T2}], and the tid claim equal)")), "{expected}");
    assert!(expected.contains(ISS), "{expected}");
    let (_, actual, _) = issuer_step(entra(v2(T1), json!(T2)));
    assert!(
        actual.ends_with(&format!(
            "(provider entra, tenant {T1:?}, but tid {T2:?} differs)"
        )),
        "{actual}"
    );
    let (_, actual, _) = issuer_step(without(entra(v2(T1), json!(T1)), "tid"));
    assert!(
        actual.ends_with(&format!(
            "(provider entra, tenant {T1:?}, but no tid claim)"
        )),
        "{actual}"
    );
    let (failed, actual, _) = issuer_step(entra(v2(T1), json!(7)));
    assert_eq!(failed, Some(Reason::ClaimMalformed));
    assert!(actual.ends_with("but tid 7 is not a string)"), "{actual}");
    let (_, actual, _) = issuer_step(entra(v1("t9"), json!("t9")));
    assert!(
        actual.ends_with("(tenant \"t9\" is not in the tenants of provider entra)"),
        "{actual}"
    );
    let (_, actual, _) = issuer_step(entra(v2("a/b"), json!("a/b")));
    assert!(
        actual.ends_with(
            "(\"a/b\" in place of {tid} is not a tenant: 1-128 of A-Z a-z 0-9 - . _, not . or ..)"
        ),
        "{actual}"
    );
}

/// An introspection answer's `iss` is held to the same rule (the `tokens: all` path asks
/// the provider the JWT's `iss` selected; an opaque token's provider is the route's).
#[test]
fn an_introspection_answers_iss_follows_the_template_and_its_tenant_claim() {
    let snap = snapshot();
    let entra = &snap.providers[1];
    let answer = |claims: Value| {
        let claims = Arc::new(claims.as_object().unwrap().clone());
        Verified::introspected(entra, claims, &entra.audiences, NOW, &mut crate::trace::Off)
            .map(|_| ())
    };
    let base = json!({"active": true, "aud": AUD, "exp": NOW.0 + 60});
    let with_iss =
        |iss: String, tid: Value| with(with(base.clone(), "iss", json!(iss)), "tid", tid);
    assert_eq!(answer(with_iss(v1(T2), json!(T2))), Ok(()));
    assert_eq!(
        answer(base.clone()),
        Ok(()),
        "no iss: nothing to hold it to"
    );
    assert_eq!(
        answer(with_iss(v1(T2), json!(T1))),
        Err(Reason::IssuerNotTrusted)
    );
    assert_eq!(
        answer(without(with_iss(v1(T2), json!(T2)), "tid")),
        Err(Reason::IssuerNotTrusted)
    );
    assert_eq!(
        answer(with_iss(v1("t9"), json!("t9"))),
        Err(Reason::IssuerNotTrusted)
    );
    assert_eq!(
        answer(with_iss(v1(T2), json!(2))),
        Err(Reason::ClaimMalformed)
    );
    assert_eq!(
        answer(with(base, "iss", json!(ISS))),
        Err(Reason::IssuerNotTrusted),
        "another provider's issuer"
    );
}

/// The verified-token cache keys by token and provider index, and is bound to the
/// snapshot's digest: a tenant taken off the list is refused on the next use.
#[test]
fn a_cached_template_token_is_refused_once_its_tenant_is_removed() {
    let cache = TokenCache::new(16, 1 << 20).unwrap();
    let token = es256().mint(&entra(v2(T2), json!(T2))).unwrap();
    let before = snapshot();
    for _ in 0..2 {
        let verified = cache.verify(&token, &before, &ProviderSet::Any, NOW);
        assert_eq!(
            verified
                .map(|v| v.provider().name.clone())
                .as_deref()
                .map_err(|r| r.reason),
            Ok("entra")
        );
    }
    assert_eq!(cache.counts(), (1, 1));
    let after = snapshot_with(&format!("[{T1}]"));
    let refused = cache
        .verify(&token, &after, &ProviderSet::Any, NOW)
        .map(|_| ());
    assert_eq!(refused.map_err(|r| r.reason), Err(Reason::IssuerNotTrusted));
}
