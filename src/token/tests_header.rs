//! JOSE header parameters that would change what the signature covers or how the payload
//! is read (issue 14 §8): `b64` outside `crit` (RFC 7797 §6) and `zip` (a JWE parameter,
//! RFC 7516 §4.1.3; RFC 8725 §3.6) are malformed, refused before any key is looked at.

use super::tests::{check, claims, es256, snapshot, with, with_header};
use crate::algorithm::Algorithm;
use crate::mint::SigningKey;
use crate::reason::Reason;
use serde_json::json;

#[test]
fn b64_without_crit_is_malformed_whatever_its_value() {
    let key = es256();
    let snap = snapshot(&[&key], "");
    for b64 in [json!(false), json!(true), json!(null), json!("false")] {
        let header = json!({"alg": "ES256", "kid": "k1", "b64": b64});
        assert_eq!(
            check(&snap, &with_header(&key, header)),
            Err(Reason::MalformedToken),
            "b64: {b64}"
        );
    }
}

#[test]
fn zip_in_a_jws_is_malformed_whatever_its_value() {
    let key = es256();
    let snap = snapshot(&[&key], "");
    for zip in [json!("DEF"), json!("none"), json!(null), json!("")] {
        let header = json!({"alg": "ES256", "kid": "k1", "zip": zip});
        assert_eq!(
            check(&snap, &with_header(&key, header)),
            Err(Reason::MalformedToken),
            "zip: {zip}"
        );
    }
}

#[test]
fn these_parameters_are_refused_before_the_issuer_and_the_signature() {
    // A structural refusal (SPEC §3 step 2): it does not depend on who signed the token or
    // whether its issuer is trusted.
    let key = es256();
    let snap = snapshot(&[&key], "");
    let stranger = SigningKey::generate(Algorithm::Es256)
        .unwrap()
        .with_kid("k1");
    let untrusted = with(claims(), "iss", json!("https://elsewhere.test"));
    for extra in [("b64", json!(false)), ("zip", json!("DEF"))] {
        let mut header = json!({"alg": "ES256", "kid": "k1"});
        header[extra.0] = extra.1;
        let forged = stranger
            .sign_parts(
                header.to_string().as_bytes(),
                claims().to_string().as_bytes(),
            )
            .unwrap();
        assert_eq!(
            check(&snap, &forged),
            Err(Reason::MalformedToken),
            "{header}"
        );
        let foreign = key
            .sign_parts(
                header.to_string().as_bytes(),
                untrusted.to_string().as_bytes(),
            )
            .unwrap();
        assert_eq!(
            check(&snap, &foreign),
            Err(Reason::MalformedToken),
            "{header}"
        );
    }
}

#[test]
fn b64_listed_in_crit_is_still_refused_as_an_unsupported_extension() {
    // RFC 7797 §6 makes `b64` meaningful only inside `crit`; we implement no extension.
    let key = es256();
    let snap = snapshot(&[&key], "");
    let header = json!({"alg": "ES256", "kid": "k1", "crit": ["b64"], "b64": false});
    assert_eq!(
        check(&snap, &with_header(&key, header)),
        Err(Reason::CritUnsupported)
    );
}
