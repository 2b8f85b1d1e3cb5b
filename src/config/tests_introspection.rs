//! Unit tests of the `introspection:` block: defaults, which combinations of issuer, keys
//! and `tokens` make sense, and errors naming the field — none of them showing a secret.

use super::tests::{error, jwks};
use super::*;
use crate::snapshot::{ClientAuth, IntrospectTokens};
use std::path::Path;
use std::time::Duration;

/// A provider `o` with these lines after `audiences` (indented under the provider).
fn with(lines: &str) -> String {
    format!("providers:\n  - name: o\n    audiences: [a]\n{lines}")
}

const ENDPOINT: &str = "    introspection:\n      endpoint: https://idp.test/introspect\n";

#[test]
fn an_introspection_only_provider_needs_no_issuer_or_keys_and_gets_the_defaults() {
    let snap = compile_str(&with(ENDPOINT), Path::new("c.yaml")).unwrap();
    let p = &snap.providers[0];
    assert!(p.issuers.is_empty() && p.keys.is_empty());
    let i = p.introspection.as_ref().unwrap();
    assert_eq!(i.endpoint.to_string(), "https://idp.test/introspect");
    assert_eq!(i.client, ClientAuth::None { client_id: None });
    assert_eq!(i.tokens, IntrospectTokens::Opaque);
    assert_eq!(i.token_type_hint.as_deref(), Some("access_token"));
    assert_eq!(
        (i.max_ttl, i.negative_ttl),
        (Duration::from_secs(60), Duration::from_secs(5))
    );
    assert_eq!((i.entries, i.max_concurrent), (10_000, 64));
    assert!(snap.all_keys_loaded(), "no key set to wait for");
}

#[test]
fn a_secret_file_is_read_trimmed_and_defaults_to_basic_auth() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("secret"), "hunter2\n").unwrap();
    let yaml = with(&format!(
        "{ENDPOINT}      client_id: gw\n      client_secret_file: secret\n"
    ));
    let snap = compile_str(&yaml, &dir.path().join("c.yaml")).unwrap();
    let i = snap.providers[0].introspection.as_ref().unwrap();
    assert!(matches!(&i.client, ClientAuth::Basic { client_id, secret }
        if client_id == "gw" && secret.expose() == "hunter2"));
    assert!(
        snap.providers[0].files.contains(&dir.path().join("secret")),
        "watched"
    );
    // A rotated secret is a changed provider (a new client and cache).
    let before = snap.providers[0].fingerprint;
    std::fs::write(dir.path().join("secret"), "hunter3").unwrap();
    let after = compile_str(&yaml, &dir.path().join("c.yaml")).unwrap();
    assert_ne!(after.providers[0].fingerprint, before);
    // Wrong: each error names the field, never the secret.
    let post_without_id = with(&format!(
        "{ENDPOINT}      client_secret_file: secret\n      client_auth: client_secret_post\n"
    ));
    let e = compile_str(&post_without_id, &dir.path().join("c.yaml"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("providers[0].introspection.client_id"), "{e}");
    assert!(!e.contains("hunter"), "{e}");
    std::fs::write(dir.path().join("secret"), "\n").unwrap();
    let e = compile_str(&yaml, &dir.path().join("c.yaml"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("providers[0].introspection.client_secret_file") && e.contains("empty"),
        "{e}"
    );
}

#[test]
fn combinations_that_cannot_work_are_errors_naming_the_field() {
    let keys = format!("    jwks: {{ inline: '{}' }}\n", jwks());
    let cases: Vec<(String, &str)> = vec![
        (
            with(""),
            "providers[0].issuer: expected exactly one of `issuer` or `issuers` (or neither",
        ),
        (
            with(&format!("    issuer: https://i.test\n{ENDPOINT}")),
            "providers[0].jwks: expected a key source",
        ),
        (
            with(&format!("{keys}{ENDPOINT}")),
            "providers[0].jwks: unused",
        ),
        (
            with(&format!("{ENDPOINT}      tokens: all\n")),
            "providers[0].introspection.tokens: `all` selects JWTs by `iss`",
        ),
        (
            with(&format!(
                "    issuer: https://i.test\n{keys}{ENDPOINT}      tokens: all\n"
            )),
            "providers[0].jwks: unused",
        ),
        (
            with("    introspection: { endpoint: 'http://idp.test/i' }\n"),
            "providers[0].introspection.endpoint: \"http://idp.test/i\" is plain http",
        ),
        (
            with(&format!(
                "{ENDPOINT}      client_auth: client_secret_basic\n      client_id: x\n"
            )),
            "providers[0].introspection.client_secret_file: client_secret_basic and client_secret_post need",
        ),
        (
            with(&format!(
                "{ENDPOINT}      client_secret_file: /nonexistent/secret\n"
            )),
            "providers[0].introspection.client_secret_file: cannot read /nonexistent/secret",
        ),
        (
            with(&format!("{ENDPOINT}      client_auth: private_key\n")),
            "providers[0].introspection.client_auth",
        ),
        (
            with(&format!("{ENDPOINT}      tokens: some\n")),
            "providers[0].introspection.tokens",
        ),
        (
            with(&format!("{ENDPOINT}      cache: {{ max_ttl: 0s }}\n")),
            "providers[0].introspection.cache.max_ttl: expected a positive duration",
        ),
        (
            with(&format!("{ENDPOINT}      max_concurrent: 0\n")),
            "providers[0].introspection.max_concurrent: expected 1 to 10000",
        ),
        (
            with(&format!("{ENDPOINT}      max_concurrent: 100000\n")),
            "providers[0].introspection.max_concurrent: expected 1 to 10000",
        ),
        (
            with(&format!("{ENDPOINT}      cache: {{ negative_ttl: 25h }}\n")),
            "providers[0].introspection.cache.negative_ttl: expected a positive duration such as 2s or 1m, at most 86400s",
        ),
        (
            with(&format!("{ENDPOINT}      timeout: 2m\n")),
            "providers[0].introspection.timeout: expected a positive duration such as 2s or 1m, at most 60s",
        ),
        (
            with("    introspection: { endpoint: 'https://gw:pw@idp.test/i' }\n"),
            "providers[0].introspection.endpoint: must not hold user:password",
        ),
        (
            with(&format!("{ENDPOINT}      endpoint_typo: x\n")),
            "endpoint_typo",
        ),
        (
            with("    introspection: { allow_insecure_http: true }\n"),
            "providers[0].introspection: expected exactly one of `endpoint` or `discovery: true`",
        ),
        (
            with(&format!("{ENDPOINT}      discovery: true\n")),
            "providers[0].introspection: expected exactly one of `endpoint` or `discovery: true`",
        ),
        (
            with("    introspection: { discovery: true }\n"),
            "providers[0].introspection.discovery: discovery needs exactly one issuer",
        ),
        (
            with(
                "    issuers: [https://a.test, https://b.test]\n    introspection: { discovery: true, tokens: all }\n",
            ),
            "providers[0].introspection.discovery: discovery needs exactly one issuer",
        ),
    ];
    for (yaml, expected) in cases {
        let e = error(&yaml);
        assert!(e.contains(expected), "{expected:?} not in {e:?}\n{yaml}");
    }
}

#[test]
fn private_key_jwt_reads_a_pkcs8_key_and_defaults_the_audience_to_the_endpoint() {
    use base64::Engine;
    let dir = tempfile::tempdir().unwrap();
    let der = aws_lc_rs::signature::EcdsaKeyPair::generate_pkcs8(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &aws_lc_rs::rand::SystemRandom::new(),
    )
    .unwrap();
    let pem = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
    std::fs::write(
        dir.path().join("key.pem"),
        format!("-----BEGIN PRIVATE KEY-----\n{pem}\n-----END PRIVATE KEY-----\n"),
    )
    .unwrap();
    let compile = |lines: &str| {
        compile_str(
            &with(&format!("{ENDPOINT}{lines}")),
            &dir.path().join("c.yaml"),
        )
    };
    let snap =
        compile("      client_id: gw\n      private_key: { file: key.pem, alg: ES256, kid: k }\n")
            .unwrap();
    let i = snap.providers[0].introspection.as_ref().unwrap();
    let ClientAuth::PrivateKeyJwt {
        client_id,
        key,
        audience,
    } = &i.client
    else {
        panic!("{:?}", i.client)
    };
    assert_eq!(
        (client_id.as_str(), audience.as_str()),
        ("gw", "https://idp.test/introspect")
    );
    assert_eq!(key.0.kid(), Some("k"));
    let shown = format!("{:?}", i.client);
    assert!(
        !shown.contains(&pem[..20]) && shown.contains("redacted"),
        "{shown}"
    );
    let errors = [
        (
            "      client_id: gw\n      private_key: { file: key.pem, alg: RS256 }\n",
            "providers[0].introspection.private_key.file: the key does not fit",
        ),
        (
            "      client_id: gw\n      client_auth: private_key_jwt\n",
            "providers[0].introspection.private_key: private_key_jwt needs",
        ),
        (
            "      private_key: { file: key.pem, alg: ES256 }\n",
            "providers[0].introspection.client_id",
        ),
        (
            "      client_id: gw\n      client_auth: none\n      private_key: { file: key.pem, alg: ES256 }\n",
            "providers[0].introspection.private_key: unused",
        ),
    ];
    for (lines, expected) in errors {
        let e = compile(lines).unwrap_err().to_string();
        assert!(e.contains(expected), "{expected:?} not in {e:?}");
    }
}

#[test]
fn discovery_finds_the_endpoint_in_the_issuers_metadata_and_signs_for_the_issuer() {
    let yaml =
        with("    issuer: https://idp.test\n    introspection: { discovery: true, tokens: all }\n");
    let snap = compile_str(&yaml, Path::new("c.yaml")).unwrap();
    let i = snap.providers[0].introspection.as_ref().unwrap();
    assert_eq!(
        i.endpoint,
        crate::snapshot::Endpoint::Discovery {
            issuer: "https://idp.test".into()
        }
    );
    assert_eq!(
        i.endpoint.to_string(),
        "the introspection_endpoint of https://idp.test"
    );
}

#[test]
fn a_rotated_ca_bundle_is_a_changed_provider() {
    let dir = tempfile::tempdir().unwrap();
    let pem = || {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .self_signed(&rcgen::KeyPair::generate().unwrap())
            .unwrap()
            .pem()
    };
    let yaml = with(&format!("{ENDPOINT}      tls: {{ ca_file: ca.pem }}\n"));
    let compile = || compile_str(&yaml, &dir.path().join("c.yaml")).unwrap();
    std::fs::write(dir.path().join("ca.pem"), pem()).unwrap();
    let before = compile();
    std::fs::write(dir.path().join("ca.pem"), pem()).unwrap();
    let after = compile();
    // A new fingerprint is what gives the provider a new client trusting the new CA.
    assert_ne!(
        before.providers[0].fingerprint,
        after.providers[0].fingerprint
    );
    assert!(
        after.providers[0]
            .files
            .contains(&dir.path().join("ca.pem")),
        "watched"
    );
}
