//! Adversarial tokens from RFC 8725, the OWASP JWT cheat sheet and jwt_tool's attack list,
//! each asserting the exact reason — plus a canary proving that nothing a token names is
//! ever fetched.

use crate::support::envoy::Envoy;
use crate::support::idp::Idp;
use crate::support::server::Server;
use crate::support::{self, AUDIENCE, ISSUER, ec_key, http, mint, rsa_key, wait_for};
use base64::Engine;
use envoy_jwt_authz::algorithm::Algorithm;
use envoy_jwt_authz::config::compile_str;
use envoy_jwt_authz::mint::SigningKey;
use envoy_jwt_authz::reason::Reason;
use envoy_jwt_authz::snapshot::{ProviderSet, Snapshot};
use envoy_jwt_authz::token::verify::{UnixTime, verify};
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn snapshot(keys: &[&SigningKey]) -> Snapshot {
    let jwks = json!({ "keys": keys.iter().map(|k| k.public_jwk()).collect::<Vec<_>>() });
    let yaml = format!(
        "providers:\n  - name: p\n    issuer: {ISSUER}\n    audiences: [{AUDIENCE}]\n    jwks: {{ inline: '{jwks}' }}\n"
    );
    compile_str(&yaml, Path::new("c.yaml")).unwrap()
}

fn reason(snapshot: &Snapshot, token: &str) -> Reason {
    verify(token, snapshot, &ProviderSet::Any, UnixTime::now())
        .expect_err("must be refused")
        .reason
}

/// `header.payload` of a token with this header and the standard claims.
fn signing_input(header: &Value) -> String {
    format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(support::claims().to_string().as_bytes())
    )
}

#[test]
fn hmac_keyed_with_the_public_key_in_any_form_is_refused() {
    let key = rsa_key();
    let snap = snapshot(&[&key]);
    let jwk = key.public_jwk();
    let modulus = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(jwk["n"].as_str().unwrap())
        .unwrap();
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----",
        base64::engine::general_purpose::STANDARD.encode(&modulus)
    );
    let secrets: Vec<Vec<u8>> = vec![
        jwk.to_string().into_bytes(),
        modulus.clone(),
        pem.clone().into_bytes(),
        format!("{pem}\n").into_bytes(),
        jwk["n"].as_str().unwrap().as_bytes().to_vec(),
    ];
    for (alg, hmac) in [
        ("HS256", aws_lc_rs::hmac::HMAC_SHA256),
        ("HS384", aws_lc_rs::hmac::HMAC_SHA384),
        ("HS512", aws_lc_rs::hmac::HMAC_SHA512),
    ] {
        for secret in &secrets {
            let input = signing_input(&json!({"alg": alg, "kid": "rsa-1", "typ": "JWT"}));
            let tag =
                aws_lc_rs::hmac::sign(&aws_lc_rs::hmac::Key::new(hmac, secret), input.as_bytes());
            assert_eq!(
                reason(&snap, &format!("{input}.{}", b64(tag.as_ref()))),
                Reason::AlgorithmNotAllowed,
                "{alg}"
            );
        }
    }
}

#[test]
fn alg_none_in_every_spelling_is_refused_with_or_without_a_signature() {
    let snap = snapshot(&[&ec_key()]);
    for alg in ["none", "None", "NONE", "nOnE"] {
        let input = signing_input(&json!({"alg": alg, "kid": "ec-1"}));
        assert_eq!(
            reason(&snap, &format!("{input}.{}", b64(b"sig"))),
            Reason::AlgorithmNotAllowed,
            "{alg}"
        );
        assert_eq!(
            reason(&snap, &format!("{input}.")),
            Reason::MalformedToken,
            "{alg} without a signature"
        );
    }
}

/// A fresh key for `alg` trusted by a snapshot, and a token of it split into its signing
/// input and raw R‖S signature.
fn ecdsa_token(alg: Algorithm) -> (Snapshot, String, Vec<u8>) {
    let key = SigningKey::generate(alg).unwrap().with_kid("k");
    let token = mint(&key, &support::claims());
    let (input, sig) = token.rsplit_once('.').unwrap();
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(sig)
        .unwrap();
    (snapshot(&[&key]), input.to_owned(), raw)
}

#[test]
fn psychic_der_truncated_padded_and_oversized_ecdsa_signatures_are_refused() {
    for (alg, width) in [
        (Algorithm::Es256, 32),
        (Algorithm::Es384, 48),
        (Algorithm::Es512, 66),
    ] {
        let (snap, input, raw) = ecdsa_token(alg);
        let (r, s) = raw.split_at(width);
        let der_int = |v: &[u8]| {
            let v: Vec<u8> = v.iter().skip_while(|b| **b == 0).copied().collect();
            let mut out = if v[0] & 0x80 != 0 {
                vec![0]
            } else {
                Vec::new()
            };
            out.extend(v);
            let mut encoded = vec![0x02, out.len() as u8];
            encoded.extend(out);
            encoded
        };
        let body: Vec<u8> = [der_int(r), der_int(s)].concat();
        let mut der = vec![0x30];
        if body.len() >= 0x80 {
            der.push(0x81);
        }
        der.push(body.len() as u8);
        der.extend(body);
        let mut padded = raw.clone();
        padded.push(0);
        for (name, bad) in [
            ("r = s = 0", vec![0u8; 2 * width]),
            ("DER", der),
            ("truncated", raw[..raw.len() - 1].to_vec()),
            ("padded", padded),
            ("oversized", vec![0x41; 4 * width]),
            ("empty-ish", vec![0]),
        ] {
            assert_eq!(
                reason(&snap, &format!("{input}.{}", b64(&bad))),
                Reason::SignatureInvalid,
                "{alg} {name}"
            );
        }
    }
}

/// `a - b` for big-endian unsigned integers of equal width (`a >= b`).
fn subtract(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; a.len()];
    let mut borrow = 0i16;
    for i in (0..a.len()).rev() {
        let d = i16::from(a[i]) - i16::from(b[i]) - borrow;
        borrow = i16::from(d < 0);
        out[i] = (d + 256 * borrow) as u8;
    }
    assert_eq!(borrow, 0, "a < b");
    out
}

/// ECDSA is malleable: (r, n − s) verifies wherever (r, s) does. JWS (RFC 7515/7518) does
/// not ask for low-S, and signers that do not normalise (BouncyCastle, some HSMs) produce
/// high-S half the time, so high-S is accepted: it carries exactly the claims the IdP signed,
/// and nothing here keys on the signature bytes (the token cache compares whole tokens, so
/// a high-S twin is just a miss that is verified again). Out-of-range r or s (0, ≥ n) is
/// refused.
#[test]
fn high_s_ecdsa_is_accepted_and_r_or_s_out_of_range_is_refused() {
    for (alg, order) in [
        (
            Algorithm::Es256,
            "FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551",
        ),
        (
            Algorithm::Es384,
            "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973",
        ),
        (
            Algorithm::Es512,
            "01FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFA51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47AEBB6FB71E91386409",
        ),
    ] {
        let n: Vec<u8> = (0..order.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&order[i..i + 2], 16).unwrap())
            .collect();
        let width = match alg {
            Algorithm::Es256 => 32,
            Algorithm::Es384 => 48,
            _ => 66,
        };
        assert_eq!(
            n.len(),
            width,
            "{alg}: the order has the signature's half width"
        );
        let (snap, input, raw) = ecdsa_token(alg);
        let (r, s) = raw.split_at(n.len());
        let high_s = format!("{input}.{}", b64(&[r, &subtract(&n, s)].concat()));
        assert_ne!(high_s, format!("{input}.{}", b64(&raw)));
        let verified = verify(&high_s, &snap, &ProviderSet::Any, UnixTime::now());
        assert!(verified.is_ok(), "{alg} high-S refused: {verified:?}");
        let zero = vec![0u8; n.len()];
        for (name, bad) in [
            ("s = n", [r, &n].concat()),
            ("r = n", [&n, s].concat()),
            ("s = 0", [r, &zero].concat()),
            ("r = 0", [&zero, s].concat()),
        ] {
            assert_eq!(
                reason(&snap, &format!("{input}.{}", b64(&bad))),
                Reason::SignatureInvalid,
                "{alg} {name}"
            );
        }
    }
}

#[test]
fn rsa_signature_values_0_1_n_minus_1_and_n_are_refused() {
    let key = rsa_key();
    let n = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(key.public_jwk()["n"].as_str().unwrap())
        .unwrap();
    let mut n_minus_1 = n.clone();
    *n_minus_1.last_mut().unwrap() -= 1; // n is odd
    let mut one = vec![0u8; n.len()];
    *one.last_mut().unwrap() = 1;
    for alg in [Algorithm::Rs256, Algorithm::Ps256] {
        let k = key.with_alg(alg).unwrap();
        let snap = snapshot(&[&k]);
        let token = mint(&k, &support::claims());
        let (input, _) = token.rsplit_once('.').unwrap();
        for (name, value) in [
            ("0", vec![0u8; n.len()]),
            ("1", one.clone()),
            ("n-1", n_minus_1.clone()),
            ("n", n.clone()),
        ] {
            assert_eq!(
                reason(&snap, &format!("{input}.{}", b64(&value))),
                Reason::SignatureInvalid,
                "{alg} s = {name}"
            );
        }
    }
}

#[test]
fn hostile_kid_values_find_no_key() {
    let snap = snapshot(&[&ec_key()]);
    for kid in [
        "../../../../etc/passwd",
        "' OR '1'='1' --",
        "http://127.0.0.1:1/jwks",
        "ec-1\u{0}",
        &"k".repeat(8 * 1024),
    ] {
        let token = mint(&ec_key().clone().with_kid(kid), &support::claims());
        assert_eq!(
            reason(&snap, &token),
            Reason::KeyNotFound,
            "{}",
            &kid[..kid.len().min(30)]
        );
    }
    for kid in [
        json!(1),
        json!(null),
        json!({"kid": "ec-1"}),
        json!(["ec-1"]),
    ] {
        let key = ec_key();
        let token = key
            .sign_parts(
                json!({"alg": "ES256", "kid": kid}).to_string().as_bytes(),
                support::claims().to_string().as_bytes(),
            )
            .unwrap();
        assert_eq!(reason(&snap, &token), Reason::MalformedToken, "{kid}");
    }
}

#[test]
fn b64_outside_crit_and_zip_are_malformed_even_when_signed_by_the_trusted_key() {
    // A JWS library that honours `b64: false` (RFC 7797) verifies another signing input, one
    // that honours `zip` another payload: neither may be judged as an ordinary token.
    let snap = snapshot(&[&ec_key()]);
    for header in [
        json!({"alg": "ES256", "kid": "ec-1", "b64": false}),
        json!({"alg": "ES256", "kid": "ec-1", "b64": true}),
        json!({"alg": "ES256", "kid": "ec-1", "zip": "DEF"}),
    ] {
        let token = ec_key()
            .sign_parts(
                header.to_string().as_bytes(),
                support::claims().to_string().as_bytes(),
            )
            .unwrap();
        assert_eq!(reason(&snap, &token), Reason::MalformedToken, "{header}");
    }
}

#[test]
fn nothing_a_token_names_is_ever_fetched() {
    // A canary listener stands where the attacker's key would be served from.
    let canary = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    canary.set_nonblocking(true).unwrap();
    let url = format!("http://{}/keys", canary.local_addr().unwrap());
    // The provider's own keys are remote, so an unknown kid does trigger a (configured) fetch.
    let idp = Idp::http(&json!({"keys": [ec_key().public_jwk()]}));
    let config = format!(
        "providers:\n  - name: idp\n    issuer: {ISSUER}\n    audiences: [{AUDIENCE}]\n    jwks:\n      uri: {}\n      allow_insecure_http: true\n",
        idp.jwks_url()
    );
    let server = Server::start(&config);
    let envoy = Envoy::start(server.grpc.port(), false);
    wait_for("ready", Duration::from_secs(20), || {
        http::request(server.admin, "GET", "/readyz", &[])
            .ok()
            .filter(|r| r.status == 200)
    });
    let attacker = SigningKey::generate(Algorithm::Es256)
        .unwrap()
        .with_kid("attacker");
    for header in [
        json!({"alg": "ES256", "kid": "attacker", "jku": url}),
        json!({"alg": "ES256", "kid": "attacker", "x5u": url}),
        json!({"alg": "ES256", "kid": "attacker", "jwk": attacker.public_jwk()}),
        json!({"alg": "ES256", "kid": "attacker", "x5c": ["MIIB"], "x5u": url}),
        json!({"alg": "ES256", "jku": url}),
    ] {
        let token = attacker
            .sign_parts(
                header.to_string().as_bytes(),
                support::claims().to_string().as_bytes(),
            )
            .unwrap();
        assert_eq!(
            http::get(envoy.listener, "/", Some(&token)).status,
            401,
            "{header}"
        );
    }
    assert!(
        matches!(canary.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the canary saw a connection"
    );
}

#[test]
fn oversized_tokens_and_folded_headers_through_envoy() {
    let server = Server::start(&support::config_yaml(""));
    let envoy = Envoy::start(server.grpc.port(), false);
    // 40 KiB passes Envoy's default 60 KiB header limit and exceeds our 32 KiB token limit.
    let big = mint(
        &ec_key(),
        &support::claims_with(json!({"pad": "x".repeat(40 * 1024)})),
    );
    let response = http::get(envoy.listener, "/", Some(&big));
    assert_eq!(response.status, 401);
    assert!(
        response
            .header("www-authenticate")
            .unwrap()
            .contains("token too large")
    );
    // 64 KiB never reaches us: Envoy answers 431 itself.
    let huge = mint(
        &ec_key(),
        &support::claims_with(json!({"pad": "x".repeat(64 * 1024)})),
    );
    assert_eq!(http::get(envoy.listener, "/", Some(&huge)).status, 431);
    let token = mint(&ec_key(), &support::claims());
    let (a, b) = token.split_at(10);
    let folded = http::request(
        envoy.listener,
        "GET",
        "/",
        &[("Authorization", &format!("Bearer {a}\r\n {b}"))],
    )
    .unwrap();
    assert_eq!(
        folded.status, 400,
        "obs-fold is refused (by Envoy or by us)"
    );
}
