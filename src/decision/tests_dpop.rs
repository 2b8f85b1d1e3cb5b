//! Unit tests of DPoP in the decision (RFC 9449 §4.3, §7): every proof check, the
//! downgrade of a bound token to Bearer, the modes, nonces, replay (also on a token cache
//! hit), and the challenges. (Over 400 lines: the table of every proof defect is one test
//! and reads best whole.)

use super::tests::{NOW, denied, snapshot, token};
use super::*;
use crate::algorithm::Algorithm;
use crate::mint::SigningKey;
use serde_json::json;

const URL: &str = "https://api.test/orders";

fn client_key() -> SigningKey {
    SigningKey::generate(Algorithm::Es256).unwrap()
}

/// A token bound to `key` (`cnf.jkt`).
fn bound_token(key: &SigningKey) -> String {
    token(json!({ "cnf": { "jkt": key.thumbprint() } }))
}

fn proof(key: &SigningKey, method: &str, url: &str, iat: i64, token: Option<&str>) -> String {
    key.dpop_proof(method, url, iat, token, None).unwrap()
}

/// `GET https://api.test/orders?page=2` with these `Authorization` and `DPoP` values.
fn request<'a>(authorization: &'a str, dpop: &[&'a str]) -> Request<'a> {
    Request {
        authorization: vec![authorization.as_bytes()],
        dpop: dpop.iter().map(|v| v.as_bytes()).collect(),
        method: "GET",
        path: "/orders?page=2",
        host: "api.test",
        scheme: Some(Scheme::Https),
        ..Request::default()
    }
}

fn decide_in(snap: &Snapshot, state: &ProofState, request: &Request<'_>) -> Decision {
    let memory = Memory {
        tokens: None,
        proofs: Some(state),
    };
    decide_introspected(snap, request, NOW, memory, None, &mut Off)
}

fn reason(decision: Decision) -> Option<Reason> {
    match decision {
        Decision::Deny(deny) => Some(deny.reason),
        _ => None,
    }
}

#[test]
fn a_bound_token_with_a_valid_proof_is_allowed_once_and_its_replay_refused() {
    let snap = snapshot("");
    let state = ProofState::default();
    let key = client_key();
    let token = bound_token(&key);
    let auth = format!("DPoP {token}");
    let proof = proof(&key, "GET", URL, NOW.0, Some(&token));
    assert_eq!(
        reason(decide_in(&snap, &state, &request(&auth, &[&proof]))),
        None
    );
    assert_eq!(
        reason(decide_in(&snap, &state, &request(&auth, &[&proof]))),
        Some(Reason::DpopProofReplayed)
    );
    // A new proof for the same token is fine.
    let again = super::tests_dpop::proof(&key, "GET", URL, NOW.0, Some(&token));
    assert_eq!(
        reason(decide_in(&snap, &state, &request(&auth, &[&again]))),
        None
    );
}

#[test]
fn every_proof_check_refuses_with_its_own_reason() {
    let snap = snapshot("");
    let state = ProofState::default();
    let key = client_key();
    let token = bound_token(&key);
    let auth = format!("DPoP {token}");
    let t = Some(token.as_str());
    let good = |url: &str| proof(&key, "GET", url, NOW.0, t);
    let mut header = json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": key.bare_public_jwk() });
    let claims = json!({ "jti": "j1", "htm": "GET", "htu": URL, "iat": NOW.0, "ath": crate::dpop::proof::access_token_hash(&token) });
    let crafted = |header: &serde_json::Value, claims: &serde_json::Value| {
        key.sign_parts(header.to_string().as_bytes(), claims.to_string().as_bytes())
            .unwrap()
    };
    let mut private = key.bare_public_jwk();
    private["d"] = json!("AAAA");
    let with_private = crafted(
        &json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": private }),
        &claims,
    );
    // A member only an RSA private key has: refused by the proof check itself (key loading
    // alone would not look for it on an EC key).
    let mut odd = key.bare_public_jwk();
    odd["qi"] = json!("AAAA");
    let with_qi = crafted(
        &json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": odd }),
        &claims,
    );
    header["typ"] = json!("JWT");
    let wrong_typ = crafted(&header, &claims);
    let unsigned = format!(
        "{}.{}.",
        crate::b64::encode(
            json!({ "typ": "dpop+jwt", "alg": "none", "jwk": key.bare_public_jwk() })
                .to_string()
                .as_bytes()
        ),
        crate::b64::encode(claims.to_string().as_bytes())
    );
    let hs256 = format!(
        "{}.{}.c2ln",
        crate::b64::encode(
            json!({ "typ": "dpop+jwt", "alg": "HS256", "jwk": { "kty": "oct", "k": "c2VjcmV0" } })
                .to_string()
                .as_bytes()
        ),
        crate::b64::encode(claims.to_string().as_bytes())
    );
    let valid = good(URL);
    let mut flipped = valid.clone().into_bytes();
    let last = flipped.len() - 2;
    flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();
    let other_key = client_key();
    let cases: Vec<(&str, Vec<String>, Reason)> = vec![
        ("no proof", vec![], Reason::DpopProofMissing),
        (
            "two proofs",
            vec![good(URL), good(URL)],
            Reason::DpopProofMalformed,
        ),
        (
            "two proofs joined",
            vec![format!("{},{}", good(URL), good(URL))],
            Reason::DpopProofMalformed,
        ),
        ("not a JWS", vec!["abc".into()], Reason::DpopProofMalformed),
        ("typ JWT", vec![wrong_typ], Reason::DpopProofMalformed),
        (
            "private key in jwk",
            vec![with_private],
            Reason::DpopProofMalformed,
        ),
        ("qi in jwk", vec![with_qi], Reason::DpopProofMalformed),
        ("alg none", vec![unsigned], Reason::DpopProofMalformed),
        ("alg HS256", vec![hs256], Reason::DpopProofMalformed),
        (
            "bad signature",
            vec![flipped],
            Reason::DpopProofSignatureInvalid,
        ),
        (
            "other method",
            vec![proof(&key, "POST", URL, NOW.0, t)],
            Reason::DpopProofMismatch,
        ),
        (
            "other path",
            vec![good("https://api.test/orders/1")],
            Reason::DpopProofMismatch,
        ),
        (
            "other host",
            vec![good("https://evil.test/orders")],
            Reason::DpopProofMismatch,
        ),
        (
            "http",
            vec![good("http://api.test/orders")],
            Reason::DpopProofMismatch,
        ),
        (
            "stale",
            vec![proof(&key, "GET", URL, NOW.0 - 61, t)],
            Reason::DpopProofStale,
        ),
        (
            "from the future",
            vec![proof(&key, "GET", URL, NOW.0 + 61, t)],
            Reason::DpopProofStale,
        ),
        (
            "no ath",
            vec![proof(&key, "GET", URL, NOW.0, None)],
            Reason::DpopProofMismatch,
        ),
        (
            "another token's ath",
            vec![proof(&key, "GET", URL, NOW.0, Some("other"))],
            Reason::DpopProofMismatch,
        ),
        (
            "another key",
            vec![proof(&other_key, "GET", URL, NOW.0, t)],
            Reason::DpopKeyMismatch,
        ),
    ];
    for (name, proofs, expected) in cases {
        let values: Vec<&str> = proofs.iter().map(String::as_str).collect();
        let deny = denied(decide_in(&snap, &state, &request(&auth, &values)));
        assert_eq!(deny.reason, expected, "{name}");
        assert_eq!(deny.status(), 401, "{name}");
    }
    // The query is not part of htu, nor are the host's case and the default port.
    for url in [
        "https://api.test/orders?page=9",
        "https://API.test:443/orders",
    ] {
        assert_eq!(
            reason(decide_in(&snap, &state, &request(&auth, &[&good(url)]))),
            None,
            "{url}"
        );
    }
    // Within max_age either way is fresh.
    for iat in [NOW.0 - 60, NOW.0 + 60] {
        let fresh = proof(&key, "GET", URL, iat, t);
        assert_eq!(
            reason(decide_in(&snap, &state, &request(&auth, &[&fresh]))),
            None,
            "{iat}"
        );
    }
}

#[test]
fn modes_decide_what_bearer_and_dpop_may_carry() {
    let key = client_key();
    let bound = bound_token(&key);
    let unbound = token(json!({}));
    let state = ProofState::default();
    let cases = [
        (
            "",
            format!("Bearer {bound}"),
            false,
            Some(Reason::DpopBoundToken),
        ),
        ("", format!("Bearer {unbound}"), false, None),
        (
            "",
            format!("DPoP {unbound}"),
            true,
            Some(Reason::DpopRequired),
        ),
        (
            "    dpop: required\n",
            format!("Bearer {unbound}"),
            false,
            Some(Reason::DpopRequired),
        ),
        (
            "    dpop: required\n",
            format!("Bearer {bound}"),
            false,
            Some(Reason::DpopBoundToken),
        ),
        ("    dpop: required\n", format!("DPoP {bound}"), true, None),
        ("    dpop: off\n", format!("Bearer {bound}"), false, None),
        (
            "    dpop: off\n",
            format!("DPoP {bound}"),
            true,
            Some(Reason::DpopNotAccepted),
        ),
    ];
    for (config, auth, with_proof, expected) in cases {
        let snap = snapshot(config);
        let token = auth.split_once(' ').unwrap().1;
        let proof = proof(&key, "GET", URL, NOW.0, Some(token));
        let proofs: &[&str] = if with_proof { &[&proof] } else { &[] };
        assert_eq!(
            reason(decide_in(&snap, &state, &request(&auth, proofs))),
            expected,
            "{config:?} {}",
            &auth[..5]
        );
    }
    let snap = snapshot("");
    let malformed = token(json!({ "cnf": "jkt" }));
    let auth = format!("Bearer {malformed}");
    assert_eq!(
        reason(decide_in(&snap, &state, &request(&auth, &[]))),
        Some(Reason::ClaimMalformed)
    );
}

#[test]
fn a_required_nonce_is_asked_for_and_then_accepted() {
    let snap = snapshot("    dpop: { mode: allowed, nonce: required }\n");
    let state = ProofState::default();
    let key = client_key();
    let token = bound_token(&key);
    let auth = format!("DPoP {token}");
    let first = proof(&key, "GET", URL, NOW.0, Some(&token));
    let deny = denied(decide_in(&snap, &state, &request(&auth, &[&first])));
    assert_eq!(deny.reason, Reason::DpopNonceRequired);
    assert_eq!(deny.status(), 401);
    let nonce = deny.dpop_nonce.clone().expect("a DPoP-Nonce");
    assert!(deny.headers().any(|h| h == ("dpop-nonce", nonce.as_str())));
    assert!(
        deny.www_authenticate
            .as_deref()
            .unwrap()
            .contains(r#"DPoP error="use_dpop_nonce""#)
    );
    let wrong = key
        .dpop_proof("GET", URL, NOW.0, Some(&token), Some("not-it"))
        .unwrap();
    assert_eq!(
        reason(decide_in(&snap, &state, &request(&auth, &[&wrong]))),
        Some(Reason::DpopNonceRequired)
    );
    let with_nonce = key
        .dpop_proof("GET", URL, NOW.0, Some(&token), Some(&nonce))
        .unwrap();
    assert_eq!(
        reason(decide_in(&snap, &state, &request(&auth, &[&with_nonce]))),
        None
    );
}

#[test]
fn challenges_name_dpop_where_it_is_configured_used_or_required() {
    let key = client_key();
    let bound = bound_token(&key);
    // The default: silent about DPoP for a Bearer failure.
    let deny = denied(decide_in(
        &snapshot(""),
        &ProofState::default(),
        &request("Bearer x.y.z", &[]),
    ));
    assert_eq!(
        deny.www_authenticate.as_deref(),
        Some(r#"Bearer error="invalid_token", error_description="malformed token""#)
    );
    // Configured: both challenges, the error in the one the client used.
    let snap = snapshot("    dpop: allowed\n");
    let deny = denied(decide_in(
        &snap,
        &ProofState::default(),
        &request("Bearer x.y.z", &[]),
    ));
    assert_eq!(
        deny.www_authenticate.as_deref(),
        Some(
            r#"Bearer error="invalid_token", error_description="malformed token", DPoP algs="RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512 EdDSA Ed25519""#
        )
    );
    let auth = format!("DPoP {bound}");
    let deny = denied(decide_in(
        &snapshot("    dpop: { algorithms: [ES256] }\n"),
        &ProofState::default(),
        &request(&auth, &[]),
    ));
    assert_eq!(
        deny.www_authenticate.as_deref(),
        Some(
            r#"Bearer, DPoP error="invalid_dpop_proof", error_description="DPoP proof missing", algs="ES256""#
        )
    );
    // Required everywhere: the DPoP challenge alone, with the error.
    let deny = denied(decide_in(
        &snapshot("    dpop: { mode: required, algorithms: [ES256] }\n"),
        &ProofState::default(),
        &request(&format!("Bearer {bound}"), &[]),
    ));
    assert_eq!(
        deny.www_authenticate.as_deref(),
        Some(
            r#"DPoP error="invalid_token", error_description="token is bound to a DPoP key", algs="ES256""#
        )
    );
}

#[test]
fn the_proof_is_checked_on_every_request_when_the_token_comes_from_the_cache() {
    let snap = snapshot("");
    let state = ProofState::default();
    let cache = TokenCache::new(16, 1 << 20).unwrap();
    let memory = Memory {
        tokens: Some(&cache),
        proofs: Some(&state),
    };
    let key = client_key();
    let token = bound_token(&key);
    let auth = format!("DPoP {token}");
    let decide = |proof: &str| {
        reason(decide_introspected(
            &snap,
            &request(&auth, &[proof]),
            NOW,
            memory,
            None,
            &mut Off,
        ))
    };
    let first = proof(&key, "GET", URL, NOW.0, Some(&token));
    assert_eq!(decide(&first), None);
    let second = proof(&key, "GET", URL, NOW.0, Some(&token));
    assert_eq!(decide(&second), None);
    assert_eq!(cache.counts().0, 1, "the second decision was a cache hit");
    assert_eq!(decide(&second), Some(Reason::DpopProofReplayed));
    assert_eq!(
        decide(&proof(&client_key(), "GET", URL, NOW.0, Some(&token))),
        Some(Reason::DpopKeyMismatch)
    );
    assert_eq!(decide("x"), Some(Reason::DpopProofMalformed));
}

#[test]
fn an_introspected_token_bound_by_its_answer_needs_its_proof_too() {
    use crate::introspection::Answer;
    let snap = snapshot(
        "  - name: opaque
    audiences: [api://a]
    introspection: { endpoint: 'http://127.0.0.1:1/introspect', allow_insecure_http: true }
",
    );
    let key = client_key();
    let answer = Answer::Active(std::sync::Arc::new(
        json!({ "active": true, "aud": "api://a", "exp": NOW.0 + 60, "cnf": { "jkt": key.thumbprint() } })
            .as_object()
            .unwrap()
            .clone(),
    ));
    let token = "2YotnFZFEjr1zCsicMWpAA";
    let state = ProofState::default();
    let judge = |authorization: &str, proofs: &[&str]| {
        let memory = Memory {
            tokens: None,
            proofs: Some(&state),
        };
        let request = request(authorization, proofs);
        reason(decide_introspected(
            &snap,
            &request,
            NOW,
            memory,
            Some(&answer),
            &mut Off,
        ))
    };
    let proof = proof(&key, "GET", URL, NOW.0, Some(token));
    assert_eq!(judge(&format!("DPoP {token}"), &[&proof]), None);
    assert_eq!(
        judge(&format!("Bearer {token}"), &[]),
        Some(Reason::DpopBoundToken)
    );
    assert_eq!(
        judge(&format!("DPoP {token}"), &[]),
        Some(Reason::DpopProofMissing)
    );
}
