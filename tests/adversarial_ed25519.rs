//! Algorithm confusion around the two names of Ed25519 — the polymorphic `EdDSA` (RFC 8037)
//! and the fully specified `Ed25519` (RFC 9864): a key pinned to one name never verifies
//! the other, and no RSA or EC key is ever used for either, whatever the header says.

use crate::support::{self, AUDIENCE, ISSUER, ec_key, rsa_key};
use envoy_jwt_authz::algorithm::Algorithm;
use envoy_jwt_authz::config::compile_str;
use envoy_jwt_authz::mint::SigningKey;
use envoy_jwt_authz::reason::Reason;
use envoy_jwt_authz::snapshot::{ProviderSet, Snapshot};
use envoy_jwt_authz::token::verify::{UnixTime, verify};
use serde_json::{Value, json};
use std::path::Path;

fn trusting(jwks: &[Value]) -> Snapshot {
    let jwks = json!({ "keys": jwks });
    let yaml = format!(
        "providers:\n  - name: p\n    issuer: {ISSUER}\n    audiences: [{AUDIENCE}]\n    jwks: {{ inline: '{jwks}' }}\n"
    );
    compile_str(&yaml, Path::new("c.yaml")).unwrap()
}

/// A token by `key` whose header says `alg` and `kid`, with the standard claims.
fn token(key: &SigningKey, alg: &str, kid: &str) -> String {
    let header = json!({ "alg": alg, "kid": kid, "typ": "JWT" });
    let claims = support::claims();
    key.sign_parts(header.to_string().as_bytes(), claims.to_string().as_bytes())
        .unwrap()
}

fn outcome(snapshot: &Snapshot, token: &str) -> Result<Algorithm, Reason> {
    verify(token, snapshot, &ProviderSet::Any, UnixTime::now())
        .map_err(|r| r.reason)
        .map(|v| v.alg().expect("a verified JWT names its algorithm"))
}

#[test]
fn a_key_pinned_to_one_ed25519_name_refuses_the_other() {
    let ed = SigningKey::generate(Algorithm::EdDsa)
        .unwrap()
        .with_kid("ed");
    for (pinned, other) in [("EdDSA", "Ed25519"), ("Ed25519", "EdDSA")] {
        let mut jwk = ed.public_jwk_without_alg();
        jwk["alg"] = json!(pinned);
        let snap = trusting(&[jwk]);
        // The same private key: only the header's name differs.
        assert_eq!(
            outcome(&snap, &token(&ed, other, "ed")),
            Err(Reason::KeyAlgorithmMismatch),
            "pinned {pinned}, token {other}"
        );
        assert_eq!(
            outcome(&snap, &token(&ed, pinned, "ed")).map(Algorithm::name),
            Ok(pinned)
        );
    }
    // An impostor's Ed25519 signature under the trusted kid, with either name.
    let snap = trusting(&[ed.public_jwk_without_alg()]);
    let impostor = SigningKey::generate(Algorithm::EdDsa).unwrap();
    for alg in ["EdDSA", "Ed25519"] {
        assert_eq!(
            outcome(&snap, &token(&impostor, alg, "ed")),
            Err(Reason::SignatureInvalid),
            "{alg}"
        );
    }
}

#[test]
fn rsa_and_ec_keys_never_verify_an_ed25519_token() {
    // The attacker signs with their own Ed25519 key and names a trusted RSA or EC kid, with
    // or without an `alg` in the trusted JWK.
    let attacker = SigningKey::generate(Algorithm::EdDsa).unwrap();
    for trusted in [rsa_key(), ec_key()] {
        let kid = trusted.kid().unwrap().to_owned();
        for jwk in [trusted.public_jwk(), trusted.public_jwk_without_alg()] {
            let snap = trusting(&[jwk]);
            for alg in ["Ed25519", "EdDSA"] {
                assert_eq!(
                    outcome(&snap, &token(&attacker, alg, &kid)),
                    Err(Reason::KeyAlgorithmMismatch),
                    "{alg} against {kid}"
                );
            }
        }
    }
}
