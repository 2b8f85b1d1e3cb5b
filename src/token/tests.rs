//! Unit tests of the verify path: one test per rule of SPEC §3 steps 2-5, each asserting the
//! exact reason, so removing a check fails a test. The helpers are shared with the smaller
//! sibling modules (`tests_*.rs`), which keep this file from growing (it is over 400 lines
//! as one table of the SPEC's rules).

use super::verify::{UnixTime, verify};
use crate::algorithm::Algorithm;
use crate::b64;
use crate::config::compile_str;
use crate::mint::{SigningKey, test_keys};
use crate::reason::Reason;
use crate::snapshot::{ProviderSet, Snapshot};
use serde_json::{Value, json};
use std::path::Path;

pub(super) const NOW: UnixTime = UnixTime(1_800_000_000);
pub(super) const ISS: &str = "https://issuer.test/oauth2/default";
pub(super) const AUD: &str = "api://orders";

/// A snapshot with one provider `p` trusting `keys`, plus extra provider YAML lines.
pub(super) fn snapshot(keys: &[&SigningKey], extra: &str) -> Snapshot {
    let jwks = json!({ "keys": keys.iter().map(|k| k.public_jwk()).collect::<Vec<_>>() });
    let yaml = format!(
        "providers:\n  - name: p\n    issuer: {ISS}\n    audiences: [{AUD}]\n    jwks: {{ inline: '{jwks}' }}\n{extra}"
    );
    compile_str(&yaml, Path::new("test.yaml")).unwrap_or_else(|e| panic!("{e}\n{yaml}"))
}

pub(super) fn claims() -> Value {
    json!({ "iss": ISS, "aud": AUD, "sub": "alice", "iat": NOW.0 - 10, "nbf": NOW.0 - 10, "exp": NOW.0 + 600 })
}

pub(super) fn es256() -> SigningKey {
    test_keys::ec(Algorithm::Es256, "k1")
}

pub(super) fn check(snapshot: &Snapshot, token: &str) -> Result<(), Reason> {
    verify(token, snapshot, &ProviderSet::Any, NOW)
        .map(|_| ())
        .map_err(|r| r.reason)
}

/// Verifies `claims` signed by the standard ES256 key against a default snapshot.
fn check_claims(claims: Value) -> Result<(), Reason> {
    let key = es256();
    check(&snapshot(&[&key], ""), &key.mint(&claims).unwrap())
}

pub(super) fn with(mut base: Value, name: &str, value: Value) -> Value {
    base[name] = value;
    base
}

pub(super) fn without(mut base: Value, name: &str) -> Value {
    base.as_object_mut().unwrap().remove(name);
    base
}

/// A token with exactly this header JSON, signed by `key`.
pub(super) fn with_header(key: &SigningKey, header: Value) -> String {
    key.sign_parts(
        header.to_string().as_bytes(),
        claims().to_string().as_bytes(),
    )
    .unwrap()
}

#[test]
fn every_supported_algorithm_verifies() {
    for alg in Algorithm::ALL {
        let key = test_keys::for_alg(alg, "k1");
        let snap = snapshot(&[&key], "");
        let token = key.mint(&claims()).unwrap();
        let verified = verify(&token, &snap, &ProviderSet::Any, NOW)
            .unwrap_or_else(|r| panic!("{alg}: {}", r.reason));
        assert_eq!(verified.alg(), Some(alg));
        assert_eq!(verified.kid(), Some("k1"));
        assert_eq!(verified.provider().name, "p");
        assert_eq!(verified.claims()["sub"], "alice");
    }
}

#[test]
fn a_token_over_the_size_limit_is_rejected_before_parsing() {
    let key = es256();
    let snap = snapshot(&[&key], "limits: { max_token_bytes: 256 }");
    let token = key
        .mint(&with(claims(), "pad", json!("x".repeat(300))))
        .unwrap();
    assert_eq!(check(&snap, &token), Err(Reason::TokenTooLarge));
}

#[test]
fn opaque_and_encrypted_tokens_are_named_as_such() {
    let snap = snapshot(&[&es256()], "");
    assert_eq!(
        check(&snap, "2YotnFZFEjr1zCsicMWpAA"),
        Err(Reason::OpaqueToken)
    );
    assert_eq!(
        check(&snap, "eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d"),
        Err(Reason::EncryptedToken)
    );
}

#[test]
fn wrong_segment_counts_and_empty_segments_are_malformed() {
    let snap = snapshot(&[&es256()], "");
    let token = es256().mint(&claims()).unwrap();
    let (h, rest) = token.split_once('.').unwrap();
    let (p, s) = rest.split_once('.').unwrap();
    for bad in [
        format!("{h}.{p}"),
        format!("{h}.{p}.{s}.x"),
        format!("{h}..{s}"),
        format!(".{p}.{s}"),
        format!("{h}.{p}."),
    ] {
        assert_eq!(check(&snap, &bad), Err(Reason::MalformedToken), "{bad}");
    }
}

#[test]
fn non_canonical_base64url_is_malformed() {
    let key = es256();
    let snap = snapshot(&[&key], "");
    let token = key.mint(&claims()).unwrap();
    let (h, rest) = token.split_once('.').unwrap();
    let (p, s) = rest.split_once('.').unwrap();
    // Padding, the standard alphabet, and a non-canonical final character.
    assert_eq!(
        check(&snap, &format!("{h}=.{p}.{s}")),
        Err(Reason::MalformedToken)
    );
    assert_eq!(
        check(&snap, &format!("{h}.{p}=.{s}")),
        Err(Reason::MalformedToken)
    );
    let std_alphabet = format!("{h}.{p}.{}", s.replace('-', "+").replace('_', "/") + "+");
    assert_eq!(check(&snap, &std_alphabet), Err(Reason::MalformedToken));
}

#[test]
fn header_and_payload_must_be_strict_json_objects() {
    let key = es256();
    let snap = snapshot(&[&key], "");
    let header = json!({"alg": "ES256", "kid": "k1"}).to_string();
    let cases: [(&str, String); 4] = [
        (
            "array payload",
            key.sign_parts(header.as_bytes(), b"[1]").unwrap(),
        ),
        (
            "not json",
            key.sign_parts(header.as_bytes(), b"nope").unwrap(),
        ),
        (
            "duplicate iss",
            key.sign_parts(
                header.as_bytes(),
                format!(
                    r#"{{"iss":"https://evil","iss":"{ISS}","aud":"{AUD}","exp":{}}}"#,
                    NOW.0 + 60
                )
                .as_bytes(),
            )
            .unwrap(),
        ),
        (
            "deep nesting",
            key.sign_parts(
                header.as_bytes(),
                format!(
                    r#"{{"iss":"{ISS}","x":{}1{}}}"#,
                    "[".repeat(100),
                    "]".repeat(100)
                )
                .as_bytes(),
            )
            .unwrap(),
        ),
    ];
    for (name, token) in cases {
        assert_eq!(check(&snap, &token), Err(Reason::MalformedToken), "{name}");
    }
    let dup_alg = key
        .sign_parts(
            br#"{"alg":"none","alg":"ES256","kid":"k1"}"#,
            claims().to_string().as_bytes(),
        )
        .unwrap();
    assert_eq!(check(&snap, &dup_alg), Err(Reason::MalformedToken));
}

#[test]
fn the_provider_is_selected_by_exact_issuer() {
    assert_eq!(
        check_claims(without(claims(), "iss")),
        Err(Reason::IssuerMissing)
    );
    assert_eq!(
        check_claims(with(claims(), "iss", json!(42))),
        Err(Reason::ClaimMalformed)
    );
    assert_eq!(
        check_claims(with(claims(), "iss", json!("https://other.test"))),
        Err(Reason::IssuerNotTrusted)
    );
    assert_eq!(
        check_claims(with(claims(), "iss", json!(format!("{ISS}/")))),
        Err(Reason::IssuerNotTrusted)
    );
    assert_eq!(
        check_claims(with(claims(), "iss", json!(ISS.to_uppercase()))),
        Err(Reason::IssuerNotTrusted)
    );
}

#[test]
fn an_issuer_the_requirement_does_not_allow_is_not_trusted() {
    let key = es256();
    let snap = snapshot(&[&key], "");
    let token = key.mint(&claims()).unwrap();
    assert!(verify(&token, &snap, &ProviderSet::Only(vec![0]), NOW).is_ok());
    assert_eq!(
        verify(&token, &snap, &ProviderSet::Only(vec![]), NOW)
            .unwrap_err()
            .reason,
        Reason::IssuerNotTrusted
    );
}

#[test]
fn none_hmac_unknown_and_unlisted_algorithms_are_refused() {
    let key = es256();
    let snap = snapshot(&[&key], "    algorithms: [ES256]");
    for alg in ["none", "None", "NONE", "HS256", "HS512", "es256", "ES999"] {
        assert_eq!(
            check(&snap, &with_header(&key, json!({"alg": alg, "kid": "k1"}))),
            Err(Reason::AlgorithmNotAllowed),
            "{alg}"
        );
    }
    assert_eq!(
        check(&snap, &with_header(&key, json!({"kid": "k1"}))),
        Err(Reason::AlgorithmNotAllowed)
    );
    assert_eq!(
        check(
            &snap,
            &with_header(&key, json!({"alg": ["ES256"], "kid": "k1"}))
        ),
        Err(Reason::AlgorithmNotAllowed)
    );
    // ES384 is a real algorithm, but this provider allows ES256 only.
    let p384 = test_keys::ec(Algorithm::Es384, "k1");
    assert_eq!(
        check(&snap, &p384.mint(&claims()).unwrap()),
        Err(Reason::AlgorithmNotAllowed)
    );
}

#[test]
fn hmac_signed_with_the_public_key_is_refused() {
    // Key confusion (RFC 8725 §2.1): HS256 keyed with the server's public key.
    let key = es256();
    let snap = snapshot(&[&key], "");
    let header = b64::encode(json!({"alg": "HS256", "kid": "k1"}).to_string().as_bytes());
    let payload = b64::encode(claims().to_string().as_bytes());
    let public = key.public_jwk().to_string();
    let mac = aws_lc_rs::hmac::sign(
        &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, public.as_bytes()),
        format!("{header}.{payload}").as_bytes(),
    );
    let token = format!("{header}.{payload}.{}", b64::encode(mac.as_ref()));
    assert_eq!(check(&snap, &token), Err(Reason::AlgorithmNotAllowed));
}

#[test]
fn the_key_is_selected_by_kid_within_the_provider_only() {
    let k1 = es256();
    let k2 = test_keys::rsa(Algorithm::Rs256, "k2");
    let snap = snapshot(&[&k1, &k2], "");
    assert_eq!(check(&snap, &k1.mint(&claims()).unwrap()), Ok(()));
    assert_eq!(check(&snap, &k2.mint(&claims()).unwrap()), Ok(()));
    let unknown = test_keys::ec(Algorithm::Es256, "k9");
    assert_eq!(
        check(&snap, &unknown.mint(&claims()).unwrap()),
        Err(Reason::KeyNotFound)
    );

    // A kid that exists only under another provider is not found for this issuer.
    let other = test_keys::ed25519("other-kid");
    let yaml_extra = format!(
        "  - name: q\n    issuer: https://q.test\n    audiences: [{AUD}]\n    jwks: {{ inline: '{}' }}\n",
        json!({"keys": [other.public_jwk()]})
    );
    let snap = snapshot(&[&k1], &yaml_extra);
    assert_eq!(
        check(&snap, &other.mint(&claims()).unwrap()),
        Err(Reason::KeyNotFound)
    );
}

#[test]
fn a_missing_kid_is_accepted_only_with_exactly_one_key() {
    let k1 = es256();
    let header = json!({"alg": "ES256"});
    assert_eq!(
        check(&snapshot(&[&k1], ""), &with_header(&k1, header.clone())),
        Ok(())
    );
    let k2 = test_keys::ed25519("k2");
    assert_eq!(
        check(&snapshot(&[&k1, &k2], ""), &with_header(&k1, header)),
        Err(Reason::KidRequired)
    );
    assert_eq!(
        check(
            &snapshot(&[&k1], ""),
            &with_header(&k1, json!({"alg": "ES256", "kid": 7}))
        ),
        Err(Reason::MalformedToken)
    );
}

#[test]
fn a_jwk_with_alg_is_used_only_with_that_alg() {
    // The JWK says RS256; a PS256 token signed by the same private key must not verify.
    let rs = test_keys::rsa(Algorithm::Rs256, "r");
    let snap = snapshot(&[&rs], "");
    let ps = rs.with_alg(Algorithm::Ps256).unwrap();
    assert_eq!(
        check(&snap, &ps.mint(&claims()).unwrap()),
        Err(Reason::KeyAlgorithmMismatch)
    );
    // An EC kid claimed with an RSA algorithm.
    let ec = es256();
    let snap = snapshot(&[&ec], "");
    let token = test_keys::rsa(Algorithm::Rs256, "k1")
        .mint(&claims())
        .unwrap();
    assert_eq!(check(&snap, &token), Err(Reason::KeyAlgorithmMismatch));
}

#[test]
fn embedded_keys_in_the_header_are_never_used() {
    // The attacker signs with their own key and embeds it as jwk / points jku at it.
    let real = es256();
    let attacker = SigningKey::generate(Algorithm::Es256)
        .unwrap()
        .with_kid("k1");
    let snap = snapshot(&[&real], "");
    let header = json!({"alg": "ES256", "kid": "k1", "jwk": attacker.public_jwk(), "jku": "http://127.0.0.1:1/jwks", "x5u": "http://127.0.0.1:1/x"});
    assert_eq!(
        check(&snap, &with_header(&attacker, header)),
        Err(Reason::SignatureInvalid)
    );
}

#[test]
fn a_bad_signature_is_refused() {
    let key = es256();
    let snap = snapshot(&[&key], "");
    let token = key.mint(&claims()).unwrap();
    let (input, sig) = token.rsplit_once('.').unwrap();
    let mut raw = b64::decode_strict(sig).unwrap();
    raw[5] ^= 0x01;
    assert_eq!(
        check(&snap, &format!("{input}.{}", b64::encode(&raw))),
        Err(Reason::SignatureInvalid)
    );
    // Psychic signature (CVE-2022-21449): r = s = 0.
    assert_eq!(
        check(&snap, &format!("{input}.{}", b64::encode(&[0u8; 64]))),
        Err(Reason::SignatureInvalid)
    );
    // The same claims signed by another key with the same kid.
    let other = SigningKey::generate(Algorithm::Es256)
        .unwrap()
        .with_kid("k1");
    assert_eq!(
        check(&snap, &other.mint(&claims()).unwrap()),
        Err(Reason::SignatureInvalid)
    );
    // A changed payload under the original signature.
    let other_payload = b64::encode(
        with(claims(), "sub", json!("mallory"))
            .to_string()
            .as_bytes(),
    );
    let (header, _) = input.split_once('.').unwrap();
    assert_eq!(
        check(&snap, &format!("{header}.{other_payload}.{sig}")),
        Err(Reason::SignatureInvalid)
    );
}

#[test]
fn the_signature_is_checked_before_the_claims() {
    let key = es256();
    let snap = snapshot(&[&key], "");
    let expired = key
        .mint(&with(claims(), "exp", json!(NOW.0 - 3600)))
        .unwrap();
    let (input, _) = expired.rsplit_once('.').unwrap();
    let forged = format!("{input}.{}", b64::encode(&[1u8; 64]));
    assert_eq!(check(&snap, &forged), Err(Reason::SignatureInvalid));
    assert_eq!(check(&snap, &expired), Err(Reason::Expired));
}

#[test]
fn exp_is_required_and_must_be_a_number() {
    assert_eq!(
        check_claims(without(claims(), "exp")),
        Err(Reason::RequiredClaimMissing)
    );
    assert_eq!(
        check_claims(with(claims(), "exp", Value::Null)),
        Err(Reason::RequiredClaimMissing)
    );
    for bad in [json!("1900000000"), json!(true), json!([1])] {
        assert_eq!(
            check_claims(with(claims(), "exp", bad.clone())),
            Err(Reason::ClaimMalformed),
            "{bad}"
        );
    }
    for bad in [json!("0"), json!(false)] {
        assert_eq!(
            check_claims(with(claims(), "nbf", bad.clone())),
            Err(Reason::ClaimMalformed),
            "nbf {bad}"
        );
        assert_eq!(
            check_claims(with(claims(), "iat", bad.clone())),
            Err(Reason::ClaimMalformed),
            "iat {bad}"
        );
    }
}

#[test]
fn exp_is_checked_with_the_clock_skew() {
    // Default skew is 60 s: now > exp + 60 is expired.
    assert_eq!(
        check_claims(with(claims(), "exp", json!(NOW.0 - 61))),
        Err(Reason::Expired)
    );
    let old = with(
        with(claims(), "iat", json!(NOW.0 - 100)),
        "nbf",
        json!(NOW.0 - 100),
    );
    assert_eq!(check_claims(with(old, "exp", json!(NOW.0 - 59))), Ok(()));
    assert_eq!(
        check_claims(with(claims(), "exp", json!(NOW.0 as f64 - 60.5))),
        Err(Reason::Expired)
    );
    assert_eq!(
        check_claims(with(claims(), "exp", json!(NOW.0 as f64 + 0.5))),
        Ok(())
    );
}

#[test]
fn nbf_and_iat_are_checked_with_the_clock_skew() {
    let fresh = without(without(claims(), "iat"), "nbf");
    assert_eq!(
        check_claims(with(fresh.clone(), "nbf", json!(NOW.0 + 61))),
        Err(Reason::NotYetValid)
    );
    assert_eq!(
        check_claims(with(fresh.clone(), "nbf", json!(NOW.0 + 59))),
        Ok(())
    );
    assert_eq!(
        check_claims(with(fresh.clone(), "iat", json!(NOW.0 + 61))),
        Err(Reason::IssuedInFuture)
    );
    assert_eq!(check_claims(with(fresh, "iat", json!(NOW.0 + 59))), Ok(()));
}

#[test]
fn a_configured_skew_replaces_the_default() {
    let key = es256();
    let snap = snapshot(&[&key], "    clock_skew: 0s");
    assert_eq!(
        check(
            &snap,
            &key.mint(&with(claims(), "exp", json!(NOW.0 - 1))).unwrap()
        ),
        Err(Reason::Expired)
    );
    assert_eq!(
        check(
            &snap,
            &key.mint(&with(claims(), "exp", json!(NOW.0))).unwrap()
        ),
        Ok(())
    );
}

#[test]
fn extreme_time_values_never_wrap() {
    let fresh = without(without(claims(), "iat"), "nbf");
    assert_eq!(
        check_claims(with(fresh.clone(), "exp", json!(i64::MAX))),
        Ok(())
    );
    assert_eq!(
        check_claims(with(fresh.clone(), "exp", json!(u64::MAX))),
        Ok(())
    );
    assert_eq!(
        check_claims(with(fresh.clone(), "exp", json!(1e300))),
        Ok(())
    );
    assert_eq!(
        check_claims(with(fresh.clone(), "exp", json!(i64::MIN))),
        Err(Reason::Expired)
    );
    assert_eq!(
        check_claims(with(fresh.clone(), "nbf", json!(i64::MIN))),
        Ok(())
    );
    assert_eq!(
        check_claims(with(fresh.clone(), "nbf", json!(i64::MAX))),
        Err(Reason::NotYetValid)
    );
    assert_eq!(check_claims(with(fresh, "iat", json!(-1e300))), Ok(()));
}

#[test]
fn a_window_where_exp_is_not_after_nbf_or_iat_is_invalid() {
    let fresh = without(without(claims(), "iat"), "nbf");
    let both =
        |name: &str, t: i64, exp: i64| with(with(fresh.clone(), name, json!(t)), "exp", json!(exp));
    assert_eq!(
        check_claims(both("nbf", NOW.0 + 30, NOW.0 + 30)),
        Err(Reason::ValidityWindowInvalid)
    );
    assert_eq!(
        check_claims(both("iat", NOW.0 + 30, NOW.0 + 20)),
        Err(Reason::ValidityWindowInvalid)
    );
    assert_eq!(check_claims(both("iat", NOW.0 + 30, NOW.0 + 31)), Ok(()));
}

#[test]
fn the_audience_must_contain_a_configured_value_exactly() {
    assert_eq!(
        check_claims(with(claims(), "aud", json!(["other", AUD]))),
        Ok(())
    );
    assert_eq!(
        check_claims(with(claims(), "aud", json!(format!("{AUD}/")))),
        Err(Reason::AudienceNotAllowed)
    );
    assert_eq!(
        check_claims(with(claims(), "aud", json!("API://ORDERS"))),
        Err(Reason::AudienceNotAllowed)
    );
    assert_eq!(
        check_claims(with(claims(), "aud", json!([]))),
        Err(Reason::AudienceNotAllowed)
    );
    assert_eq!(
        check_claims(without(claims(), "aud")),
        Err(Reason::AudienceMissing)
    );
    assert_eq!(
        check_claims(with(claims(), "aud", json!(7))),
        Err(Reason::ClaimMalformed)
    );
    assert_eq!(
        check_claims(with(claims(), "aud", json!([7]))),
        Err(Reason::ClaimMalformed)
    );
}

#[test]
fn audience_claims_can_name_another_claim() {
    // Amazon Cognito access tokens carry client_id and no aud.
    let key = es256();
    let snap = snapshot(&[&key], "    audience_claims: [aud, client_id]");
    let cognito = with(without(claims(), "aud"), "client_id", json!(AUD));
    assert_eq!(check(&snap, &key.mint(&cognito).unwrap()), Ok(()));
    assert_eq!(
        check(&snapshot(&[&key], ""), &key.mint(&cognito).unwrap()),
        Err(Reason::AudienceMissing)
    );
}

#[test]
fn required_claims_are_enforced() {
    let key = es256();
    let snap = snapshot(&[&key], "    required_claims: [exp, sub]");
    assert_eq!(
        check(&snap, &key.mint(&without(claims(), "sub")).unwrap()),
        Err(Reason::RequiredClaimMissing)
    );
    assert_eq!(check(&snap, &key.mint(&claims()).unwrap()), Ok(()));
}

#[test]
fn crit_is_always_rejected() {
    let key = es256();
    let snap = snapshot(&[&key], "");
    assert_eq!(
        check(
            &snap,
            &with_header(
                &key,
                json!({"alg": "ES256", "kid": "k1", "crit": ["exp"], "exp": 1})
            )
        ),
        Err(Reason::CritUnsupported)
    );
    assert_eq!(
        check(
            &snap,
            &with_header(
                &key,
                json!({"alg": "ES256", "kid": "k1", "crit": ["b64"], "b64": false})
            )
        ),
        Err(Reason::CritUnsupported)
    );
}

#[test]
fn typ_defaults_to_jwt_or_at_jwt() {
    let key = es256();
    let snap = snapshot(&[&key], "");
    for ok in [
        "JWT",
        "jwt",
        "at+jwt",
        "application/at+jwt",
        "AT+JWT",
        "Application/JWT",
    ] {
        assert_eq!(
            check(
                &snap,
                &with_header(&key, json!({"alg": "ES256", "kid": "k1", "typ": ok}))
            ),
            Ok(()),
            "{ok}"
        );
    }
    for bad in [
        json!("id+jwt"),
        json!("JOSE+JSON"),
        json!("dpop+jwt"),
        json!("application/"),
        json!("xapplication/jwt"),
        // Byte 12 falls inside `é`: no prefix there, and no panic.
        json!("applicationé/jwt"),
        json!(1),
    ] {
        assert_eq!(
            check(
                &snap,
                &with_header(&key, json!({"alg": "ES256", "kid": "k1", "typ": bad}))
            ),
            Err(Reason::TokenTypeNotAllowed),
            "{bad}"
        );
    }
}

#[test]
fn token_types_narrow_typ_and_make_it_required() {
    let key = es256();
    let snap = snapshot(&[&key], "    token_types: [application/at+jwt]");
    assert_eq!(
        check(
            &snap,
            &with_header(&key, json!({"alg": "ES256", "kid": "k1", "typ": "at+jwt"}))
        ),
        Ok(())
    );
    assert_eq!(
        check(
            &snap,
            &with_header(
                &key,
                json!({"alg": "ES256", "kid": "k1", "typ": "APPLICATION/At+JWT"})
            )
        ),
        Ok(())
    );
    assert_eq!(
        check(
            &snap,
            &with_header(&key, json!({"alg": "ES256", "kid": "k1", "typ": "JWT"}))
        ),
        Err(Reason::TokenTypeNotAllowed)
    );
    assert_eq!(
        check(
            &snap,
            &with_header(&key, json!({"alg": "ES256", "kid": "k1"}))
        ),
        Err(Reason::TokenTypeNotAllowed)
    );
}
