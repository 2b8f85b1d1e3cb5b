//! The DPoP commands: `mint-dpop-proof` (a key's thumbprint and proofs) with `mint-token`
//! and `explain --header 'DPoP: …'`, and what `check-config` says of sender constraints.

use crate::support;
use envoy_jwt_authz::algorithm::Algorithm;
use envoy_jwt_authz::mint::SigningKey;

/// `mint-dpop-proof` and `explain --header 'DPoP: …'` with the example config and demo key:
/// the thumbprint binds a token `mint-token` signs, the proof passes `explain`'s `dpop`
/// stage, and a proof for another URL fails it with the reason and what differed.
#[test]
fn the_commands_mint_a_bound_token_and_a_proof_that_explain_accepts() {
    use crate::support::server::binary;
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let key = repo.join("envoy/example/demo-signing-key.pem");
    let key = key.to_str().unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(binary())
            .args(args)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        (
            out.status.code(),
            text + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (code, jkt) = run(&["mint-dpop-proof", "--key", key, "--jkt"]);
    assert_eq!(code, Some(0), "{jkt}");
    let expected =
        SigningKey::from_pkcs8_pem(&std::fs::read_to_string(key).unwrap(), Algorithm::Es256)
            .unwrap()
            .thumbprint();
    assert_eq!(jkt, expected);
    let cnf = format!(r#"cnf={{"jkt":"{jkt}"}}"#);
    let (code, token) = run(&[
        "mint-token",
        "--key",
        key,
        "--kid",
        "demo-es256",
        "--iss",
        "https://issuer.demo.example",
        "--aud",
        "api://demo",
        "--scope",
        "orders.read",
        "--claim",
        &cnf,
    ]);
    assert_eq!(code, Some(0), "{token}");
    let explain = |url: &str| {
        let (code, proof) = run(&[
            "mint-dpop-proof",
            "--key",
            key,
            "--url",
            url,
            "--token",
            &token,
        ]);
        assert_eq!(code, Some(0), "{proof}");
        let dpop = format!("DPoP: {proof}");
        let config = repo.join("envoy/example/config.yaml");
        run(&[
            "explain",
            "--config",
            config.to_str().unwrap(),
            "--path",
            "/orders/7?x=1",
            "--header",
            "Host: api.demo.example",
            "--header",
            "X-Forwarded-Proto: https",
            "--header",
            &dpop,
            &token,
        ])
    };
    let (code, report) = explain("https://api.demo.example/orders/7");
    assert_eq!(code, Some(0), "{report}");
    assert!(report.contains("✓ dpop"), "{report}");
    let (code, report) = explain("https://api.demo.example/orders/8");
    assert_eq!(code, Some(1), "{report}");
    assert!(
        report.starts_with("DENIED 401 dpop_proof_mismatch"),
        "{report}"
    );
    assert!(
        report.contains("an htu for https://api.demo.example/orders/8, the request is to https://api.demo.example/orders/7"),
        "{report}"
    );
}

#[test]
fn check_config_names_a_providers_sender_constraints_and_the_trusted_certificate_sources() {
    let config = support::config_yaml(
        "    dpop: { mode: required, algorithms: [ES256], nonce: required }\n    mtls_binding: required\nclient_certificates: { trusted_sources: [10.0.0.0/8, 192.0.2.7] }\n",
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.yaml");
    std::fs::write(&path, &config).unwrap();
    let out = std::process::Command::new(crate::support::server::binary())
        .arg("check-config")
        .arg(&path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("provider test-idp:"))
        .unwrap();
    assert!(
        line.ends_with(" dpop required algs [ES256] max_age 60s nonce 300s mtls_binding required"),
        "{line}"
    );
    assert!(
        stdout.lines().any(|l| l
            == "client certificates: header x-forwarded-client-cert from [10.0.0.0/8, 192.0.2.7/32]"),
        "{stdout}"
    );
}
