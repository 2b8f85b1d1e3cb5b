//! RFC 8705 certificate-bound tokens end to end, over loopback with certificates made at
//! test time: the real binary behind a real Envoy that terminates mutual TLS
//! (`envoy/envoy-mtls.yaml`, `include_peer_certificate`), behind one that trusts a
//! TLS-terminating proxy's `x-forwarded-client-cert` (`envoy/envoy-xfcc.yaml`, the test
//! being the proxy), behind our own HTTP forward-auth listener, and `explain --client-cert`.

use crate::support::envoy::{Envoy, render};
use crate::support::http::{self, Response};
use crate::support::server::{Server, binary};
use crate::support::tls::{Identity, Pki};
use crate::support::{AUDIENCE, claims_with, ec_key, jwks, mint};
use serde_json::json;
use std::process::Command;

const REALM: &str = "orders-api";

/// Three providers sharing a key, one per `mtls_binding`, told apart by `iss`; then `extra`.
fn config(extra: &str) -> String {
    let provider = |name: &str, mode: &str| {
        format!(
            "  - name: {name}\n    issuer: https://{name}.test\n    audiences: [{AUDIENCE}]\n    jwks: {{ inline: '{}' }}\n    mtls_binding: {mode}\n",
            jwks()
        )
    };
    format!(
        "providers:\n{}{}{}challenge: {{ realm: {REALM} }}\nupstream: {{ claim_headers: {{ sub: x-jwt-sub }} }}\n{extra}",
        provider("allowed", "allowed"),
        provider("required", "required"),
        provider("off", "off"),
    )
}

/// A token from the provider `iss` names (`allowed`, `required`, `off`), bound to
/// `bound`'s certificate when given.
fn token(iss: &str, bound: Option<&Identity>) -> String {
    let mut claims = claims_with(json!({ "iss": format!("https://{iss}.test") }));
    if let Some(identity) = bound {
        claims["cnf"] = json!({ "x5t#S256": identity.x5t() });
    }
    mint(&ec_key(), &claims)
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// Asserts `response` is the 401 of `description`, header and body.
fn assert_refused(response: &Response, description: &str, case: &str) {
    response.assert_invalid_token(REALM, description, case);
}

/// Envoy running `envoy/envoy-mtls.yaml` with `pki`'s files, in front of `server`;
/// `require` false makes client certificates optional.
fn mtls_envoy(server: &Server, pki: &Pki, require: bool) -> (Envoy, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    pki.write_envoy_files(dir.path());
    let mut yaml = render("envoy/envoy-mtls.yaml", server.grpc.port(), 10443)
        .replace("/etc/envoy/tls/", &format!("{}/", dir.path().display()));
    if !require {
        yaml = yaml.replace(
            "require_client_certificate: true",
            "require_client_certificate: false",
        );
    }
    (Envoy::start_bootstrap(&yaml), dir)
}

#[test]
fn envoy_terminating_mutual_tls_sends_the_certificate_a_bound_token_must_match() {
    let pki = Pki::new();
    let server = Server::start(&config(""));
    let (envoy, _files) = mtls_envoy(&server, &pki, true);
    let at = envoy.listener;
    let get = |client: &Identity, token: &str| {
        pki.get(
            at,
            Some(client),
            "/orders",
            &[("Authorization", &bearer(token))],
        )
        .expect("HTTPS request")
    };

    let ok = get(&pki.a, &token("allowed", Some(&pki.a)));
    assert_eq!(ok.status, 200, "{ok:?}\n{}", server.log());
    assert_eq!(ok.header("x-upstream-saw-sub"), Some("alice"));
    let stolen = get(&pki.b, &token("allowed", Some(&pki.a)));
    assert_refused(
        &stolen,
        "certificate binding mismatch",
        "A's token with B's certificate",
    );
    // An unbound token is a plain bearer token under `allowed`, refused under `required`.
    assert_eq!(get(&pki.b, &token("allowed", None)).status, 200);
    assert_refused(
        &get(&pki.a, &token("required", None)),
        "certificate-bound token required",
        "unbound under required",
    );
    assert_eq!(get(&pki.a, &token("required", Some(&pki.a))).status, 200);
    assert_refused(
        &get(&pki.b, &token("required", Some(&pki.a))),
        "certificate binding mismatch",
        "required, B",
    );
    // `off` ignores the binding altogether.
    assert_eq!(get(&pki.b, &token("off", Some(&pki.a))).status, 200);
    // A client-sent XFCC never stands in for the connection's certificate (Envoy's default
    // SANITIZE removes it; the source is not trusted here anyway).
    let forged = format!("Hash={}", hex(&pki.a));
    let forged = pki
        .get(
            at,
            Some(&pki.b),
            "/orders",
            &[
                ("Authorization", &bearer(&token("allowed", Some(&pki.a)))),
                ("x-forwarded-client-cert", &forged),
            ],
        )
        .expect("HTTPS request");
    assert_eq!(forged.status, 401);
    // No certificate: no connection at all on this listener.
    assert!(
        pki.get(at, None, "/orders", &[]).is_err(),
        "Envoy requires a client certificate"
    );
    let metrics = server.metrics();
    assert!(
        metrics.contains(r#"reason="certificate_binding_mismatch""#),
        "{metrics}"
    );
}

#[test]
fn with_client_certificates_optional_a_bound_token_without_one_is_refused() {
    let pki = Pki::new();
    let server = Server::start(&config(""));
    let (envoy, _files) = mtls_envoy(&server, &pki, false);
    let get = |client: Option<&Identity>, token: &str| {
        pki.get(
            envoy.listener,
            client,
            "/",
            &[("Authorization", &bearer(token))],
        )
        .expect("HTTPS request")
    };
    assert_refused(
        &get(None, &token("allowed", Some(&pki.a))),
        "certificate binding mismatch",
        "no certificate",
    );
    assert_eq!(get(None, &token("allowed", None)).status, 200);
    assert_eq!(
        get(Some(&pki.a), &token("allowed", Some(&pki.a))).status,
        200
    );
}

/// Envoy running `envoy/envoy-xfcc.yaml` in front of `server`, with `change` applied.
fn xfcc_envoy(server: &Server, change: impl FnOnce(String) -> String) -> Envoy {
    let yaml = render("envoy/envoy-xfcc.yaml", server.grpc.port(), 10000);
    Envoy::start_bootstrap(&change(yaml))
}

/// The hex SHA-256 of `identity`'s DER, as Envoy writes XFCC `Hash=`.
fn hex(identity: &Identity) -> String {
    let thumbprint = envoy_jwt_authz::certificate::Thumbprint::of_der(&identity.cert_der);
    thumbprint.0.iter().map(|b| format!("{b:02x}")).collect()
}

/// Cert=, URL-encoded as Envoy encodes PEM.
fn url_encoded(identity: &Identity) -> String {
    identity
        .cert_pem
        .replace('\n', "%0A")
        .replace(' ', "%20")
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D")
}

#[test]
fn behind_a_tls_terminating_proxy_the_xfcc_header_counts_from_trusted_sources_only() {
    let pki = Pki::new();
    let trusting = Server::start(&config(
        "client_certificates: { header: x-forwarded-client-cert, trusted_sources: [127.0.0.0/8] }\n",
    ));
    let envoy = xfcc_envoy(&trusting, |y| y);
    let send = |at, token: &str, xfcc: Option<&str>| {
        let auth = bearer(token);
        let mut headers = vec![("Authorization", auth.as_str())];
        headers.extend(xfcc.map(|x| ("x-forwarded-client-cert", x)));
        http::request(at, "GET", "/orders", &headers).expect("HTTP request")
    };
    let bound_a = token("allowed", Some(&pki.a));
    let by_hash = format!(
        "By=spiffe://edge;Hash={};Subject=\"CN=client-a.test\"",
        hex(&pki.a)
    );
    let by_cert = format!("Hash={};Cert=\"{}\"", hex(&pki.a), url_encoded(&pki.a));
    let cert_only = format!("Cert=\"{}\"", url_encoded(&pki.a));
    // What a client sent, then what the proxy appended: the last element is the proxy's.
    let appended = format!("Hash={},{by_hash}", hex(&pki.b));
    for (case, xfcc) in [
        ("hash", &by_hash),
        ("hash and cert", &by_cert),
        ("cert only", &cert_only),
        ("appended", &appended),
    ] {
        let ok = send(envoy.listener, &bound_a, Some(xfcc));
        assert_eq!(ok.status, 200, "{case}: {ok:?}\n{}", trusting.log());
        assert_eq!(ok.header("x-upstream-saw-sub"), Some("alice"));
    }
    let b_last = format!("{by_hash},Hash={}", hex(&pki.b));
    assert_refused(
        &send(envoy.listener, &bound_a, Some(&b_last)),
        "certificate binding mismatch",
        "B's hash last",
    );
    assert_refused(
        &send(envoy.listener, &bound_a, None),
        "certificate binding mismatch",
        "no header",
    );
    assert_refused(
        &send(envoy.listener, &bound_a, Some("Hash=\"unterminated")),
        "certificate binding mismatch",
        "garbage",
    );

    // Envoy's FORWARD_ONLY keeps XFCC only on a mutual-TLS connection: on this plain one
    // it removes the header, so the bound token finds no certificate.
    let forward_only = xfcc_envoy(&trusting, |yaml| {
        yaml.replace(
            "forward_client_cert_details: ALWAYS_FORWARD_ONLY",
            "forward_client_cert_details: FORWARD_ONLY",
        )
    });
    assert_refused(
        &send(forward_only.listener, &bound_a, Some(&by_hash)),
        "certificate binding mismatch",
        "FORWARD_ONLY",
    );
    drop(forward_only);

    // The same header from a source that is not trusted is ignored, as if absent.
    let distrusting = Server::start(&config(
        "client_certificates: { trusted_sources: [10.0.0.0/8] }\n",
    ));
    let envoy_2 = xfcc_envoy(&distrusting, |y| y);
    assert_refused(
        &send(envoy_2.listener, &bound_a, Some(&by_hash)),
        "certificate binding mismatch",
        "untrusted source",
    );
    assert_eq!(
        send(envoy_2.listener, &token("allowed", None), Some(&by_hash)).status,
        200
    );
}

#[test]
fn http_forward_auth_believes_the_header_from_its_tcp_peer_when_trusted() {
    let pki = Pki::new();
    let forward_auth = [
        "--http-listen",
        "127.0.0.1:0",
        "--http-forward-auth",
        "forwarded",
    ];
    let start = |trusted: &str| {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(dir.path().join("config")).expect("config dir");
        let path = dir.path().join("config/config.yaml");
        std::fs::write(
            &path,
            config(&format!(
                "client_certificates: {{ trusted_sources: [{trusted}] }}\n"
            )),
        )
        .expect("write");
        Server::start_with(&path, dir, &forward_auth)
    };
    let ask = |server: &Server, token: &str, xfcc: &str| {
        let auth = bearer(token);
        let headers = [
            ("Authorization", auth.as_str()),
            ("X-Forwarded-Method", "GET"),
            ("X-Forwarded-Uri", "/orders"),
            ("X-Forwarded-Host", "api.test"),
            ("X-Forwarded-Client-Cert", xfcc),
        ];
        let at = server.http.expect("http listener");
        http::request(at, "GET", "/forward-auth", &headers).expect("HTTP request")
    };
    let bound_a = token("allowed", Some(&pki.a));
    let a_hash = format!("Hash={}", hex(&pki.a));
    let trusting = start("127.0.0.1");
    assert_eq!(
        ask(&trusting, &bound_a, &a_hash).status,
        200,
        "{}",
        trusting.log()
    );
    assert_refused(
        &ask(&trusting, &bound_a, &format!("Hash={}", hex(&pki.b))),
        "certificate binding mismatch",
        "B",
    );
    let distrusting = start("10.0.0.0/8");
    assert_refused(
        &ask(&distrusting, &bound_a, &a_hash),
        "certificate binding mismatch",
        "untrusted peer",
    );
}

#[test]
fn explain_compares_the_tokens_thumbprint_with_a_client_certificate_file() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().expect("temp dir");
    let config_path = dir.path().join("config.yaml");
    std::fs::write(&config_path, config("")).expect("write");
    let (a, b) = (dir.path().join("a.pem"), dir.path().join("b.pem"));
    std::fs::write(&a, &pki.a.cert_pem).expect("write");
    std::fs::write(&b, &pki.b.cert_pem).expect("write");
    let explain = |cert: &std::path::Path| {
        Command::new(binary())
            .args(["explain", "--config"])
            .arg(&config_path)
            .arg("--client-cert")
            .arg(cert)
            .arg(token("allowed", Some(&pki.a)))
            .output()
            .expect("run explain")
    };
    let allowed = explain(&a);
    assert!(
        allowed.status.success(),
        "{}",
        String::from_utf8_lossy(&allowed.stdout)
    );
    let denied = explain(&b);
    let text = String::from_utf8_lossy(&denied.stdout);
    assert_eq!(denied.status.code(), Some(1), "{text}");
    assert!(
        text.starts_with("DENIED 401 certificate_binding_mismatch: certificate binding mismatch"),
        "{text}"
    );
    let line = text
        .lines()
        .find(|l| l.contains("certificate") && l.contains('✗'))
        .unwrap_or_else(|| panic!("no failed certificate step in:\n{text}"));
    assert!(
        line.contains(&pki.a.x5t()) && line.contains(&pki.b.x5t()),
        "{line}"
    );
}
