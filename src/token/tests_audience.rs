//! `audience_claims`: the first present claim alone decides (issue 14 §4). A later claim
//! must never rescue a token whose first present audience is another API's — with the
//! Cognito form `[aud, client_id]` that would admit a token issued to the same client for
//! a different resource server.

use super::tests::{ISS, check, claims, es256, with, without};
use crate::config::compile_str;
use crate::reason::Reason;
use crate::snapshot::Snapshot;
use serde_json::{Value, json};
use std::path::Path;

const CLIENT: &str = "client-123";

/// The README's Cognito form: `audiences: [api://orders, client-123]`,
/// `audience_claims: [aud, client_id]`.
fn cognito_snapshot() -> Snapshot {
    let jwks = json!({ "keys": [es256().public_jwk()] });
    let yaml = format!(
        "providers:\n  - name: p\n    issuer: {ISS}\n    audiences: [api://orders, {CLIENT}]\n    audience_claims: [aud, client_id]\n    jwks: {{ inline: '{jwks}' }}\n"
    );
    compile_str(&yaml, Path::new("test.yaml")).unwrap_or_else(|e| panic!("{e}\n{yaml}"))
}

fn judge(aud: Option<Value>, client_id: Option<Value>) -> Result<(), Reason> {
    let mut token = without(claims(), "aud");
    if let Some(aud) = aud {
        token = with(token, "aud", aud);
    }
    if let Some(client_id) = client_id {
        token = with(token, "client_id", client_id);
    }
    check(&cognito_snapshot(), &es256().mint(&token).unwrap())
}

#[test]
fn a_later_audience_claim_does_not_rescue_another_apis_token() {
    // The token of the issue: issued to our client, but for api://billing.
    assert_eq!(
        judge(Some(json!("api://billing")), Some(json!(CLIENT))),
        Err(Reason::AudienceNotAllowed)
    );
    // An empty `aud` array is present (and holds nothing allowed): it decides too.
    assert_eq!(
        judge(Some(json!([])), Some(json!(CLIENT))),
        Err(Reason::AudienceNotAllowed)
    );
    // Only the deciding claim is judged, so a later claim's type does not matter.
    assert_eq!(
        judge(Some(json!("api://billing")), Some(json!(7))),
        Err(Reason::AudienceNotAllowed)
    );
}

#[test]
fn an_absent_or_null_claim_passes_the_decision_to_the_next() {
    // Cognito: no `aud`, the client in `client_id`.
    assert_eq!(judge(None, Some(json!(CLIENT))), Ok(()));
    assert_eq!(judge(Some(Value::Null), Some(json!(CLIENT))), Ok(()));
    assert_eq!(
        judge(None, Some(json!("client-999"))),
        Err(Reason::AudienceNotAllowed)
    );
    assert_eq!(judge(None, Some(json!(7))), Err(Reason::ClaimMalformed));
    assert_eq!(
        judge(Some(Value::Null), Some(Value::Null)),
        Err(Reason::AudienceMissing)
    );
    // When `aud` is present and allowed, `client_id` is not consulted.
    assert_eq!(
        judge(Some(json!(["api://orders"])), Some(json!("client-999"))),
        Ok(())
    );
    assert_eq!(
        judge(Some(json!(["x", 7])), Some(json!(CLIENT))),
        Err(Reason::ClaimMalformed)
    );
}

#[test]
fn an_audience_array_is_strings_only_even_after_a_match() {
    assert_eq!(
        judge(Some(json!(["api://orders", 5])), None),
        Err(Reason::ClaimMalformed)
    );
    assert_eq!(judge(Some(json!(["x", "api://orders"])), None), Ok(()));
}
