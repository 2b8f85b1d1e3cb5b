//! `Ed25519`, the fully specified name of RFC 9864, beside the polymorphic `EdDSA` of RFC
//! 8037 (issue 14 §9): a JWK pins whichever one it names, a JWK without `alg` serves both,
//! and the provider's `algorithms` allows each one on its own.

use super::tests::{ISS, NOW, claims};
use crate::config::compile_str;
use crate::mint::test_keys;
use crate::reason::Reason;
use crate::snapshot::{ProviderSet, Snapshot};
use serde_json::{Value, json};
use std::path::Path;

/// One provider trusting exactly these JWKs, plus extra provider YAML lines.
fn trusting(jwks: Vec<Value>, extra: &str) -> Snapshot {
    let jwks = json!({ "keys": jwks });
    let yaml = format!(
        "providers:\n  - name: p\n    issuer: {ISS}\n    audiences: [api://orders]\n    jwks: {{ inline: '{jwks}' }}\n{extra}"
    );
    compile_str(&yaml, Path::new("test.yaml")).unwrap_or_else(|e| panic!("{e}\n{yaml}"))
}

/// The cached Ed25519 key's JWK, with `alg` set to `alg` (or none).
fn ed_jwk(alg: Option<&str>) -> Value {
    let mut jwk = test_keys::ed25519("ed").public_jwk_without_alg();
    if let Some(alg) = alg {
        jwk["alg"] = json!(alg);
    }
    jwk
}

/// A token signed by the cached Ed25519 key whose header names `alg`.
fn ed_token(alg: &str) -> String {
    let header = json!({ "alg": alg, "kid": "ed", "typ": "JWT" });
    test_keys::ed25519("ed")
        .sign_parts(
            header.to_string().as_bytes(),
            claims().to_string().as_bytes(),
        )
        .unwrap()
}

fn judge(snapshot: &Snapshot, token: &str) -> Result<&'static str, Reason> {
    super::verify::verify(token, snapshot, &ProviderSet::Any, NOW)
        .map(|v| v.alg().map_or("", |a| a.name()))
        .map_err(|r| r.reason)
}

#[test]
fn a_jwk_without_alg_verifies_both_names_by_default() {
    // What the npm oidc-provider v9 publishes and signs: no `alg` in the JWK, `Ed25519` in
    // the token.
    let snap = trusting(vec![ed_jwk(None)], "");
    assert_eq!(judge(&snap, &ed_token("Ed25519")), Ok("Ed25519"));
    assert_eq!(judge(&snap, &ed_token("EdDSA")), Ok("EdDSA"));
    // Names are case-sensitive (RFC 7515 §4.1.1).
    assert_eq!(
        judge(&snap, &ed_token("ed25519")),
        Err(Reason::AlgorithmNotAllowed)
    );
}

#[test]
fn a_jwk_with_alg_pins_that_name_only() {
    let eddsa = trusting(vec![ed_jwk(Some("EdDSA"))], "");
    assert_eq!(judge(&eddsa, &ed_token("EdDSA")), Ok("EdDSA"));
    assert_eq!(
        judge(&eddsa, &ed_token("Ed25519")),
        Err(Reason::KeyAlgorithmMismatch)
    );
    let ed25519 = trusting(vec![ed_jwk(Some("Ed25519"))], "");
    assert_eq!(judge(&ed25519, &ed_token("Ed25519")), Ok("Ed25519"));
    assert_eq!(
        judge(&ed25519, &ed_token("EdDSA")),
        Err(Reason::KeyAlgorithmMismatch)
    );
}

#[test]
fn provider_algorithms_allow_each_name_on_its_own() {
    let only_new = trusting(vec![ed_jwk(None)], "    algorithms: [Ed25519]\n");
    assert_eq!(judge(&only_new, &ed_token("Ed25519")), Ok("Ed25519"));
    assert_eq!(
        judge(&only_new, &ed_token("EdDSA")),
        Err(Reason::AlgorithmNotAllowed)
    );
    let only_old = trusting(vec![ed_jwk(None)], "    algorithms: [EdDSA]\n");
    assert_eq!(judge(&only_old, &ed_token("EdDSA")), Ok("EdDSA"));
    assert_eq!(
        judge(&only_old, &ed_token("Ed25519")),
        Err(Reason::AlgorithmNotAllowed)
    );
}

#[test]
fn ed25519_names_an_okp_ed25519_key_only() {
    // An RSA or EC key never verifies `Ed25519`, with or without its own `alg`.
    let rsa = test_keys::rsa(crate::algorithm::Algorithm::Rs256, "ed");
    let ec = test_keys::ec(crate::algorithm::Algorithm::Es256, "ed");
    for jwk in [
        rsa.public_jwk(),
        rsa.public_jwk_without_alg(),
        ec.public_jwk(),
        ec.public_jwk_without_alg(),
    ] {
        let snap = trusting(vec![jwk.clone()], "");
        assert_eq!(
            judge(&snap, &ed_token("Ed25519")),
            Err(Reason::KeyAlgorithmMismatch),
            "{jwk}"
        );
    }
    // And a JWK that names `Ed25519` on another key type is skipped at load.
    let mut bad = ec.public_jwk();
    bad["alg"] = json!("Ed25519");
    let doc = serde_json::to_vec(&json!({ "keys": [bad] })).unwrap();
    let set = crate::jwks::parse(&doc, crate::algorithm::AlgorithmSet::all(), 1 << 20).unwrap();
    assert!(
        set.skipped()[0].why.contains("does not fit"),
        "{:?}",
        set.skipped()
    );
}
