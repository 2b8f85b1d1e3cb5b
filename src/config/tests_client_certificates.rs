//! Unit tests of the RFC 8705 settings: `client_certificates` (header, trusted sources) and
//! a provider's `mtls_binding`, their defaults, and the errors that name each field.

use super::tests::{error, provider};
use super::*;
use crate::snapshot::MtlsBinding;
use std::path::Path;

fn compiled(extra: &str) -> crate::snapshot::Snapshot {
    compile_str(&provider(extra), Path::new("c.yaml")).unwrap()
}

#[test]
fn mtls_binding_defaults_to_allowed_and_client_certificates_to_none() {
    let snap = compiled("");
    assert_eq!(snap.providers[0].mtls_binding, MtlsBinding::Allowed);
    assert_eq!(snap.client_certificates, None);
    for (word, mode) in [
        ("required", MtlsBinding::Required),
        ("allowed", MtlsBinding::Allowed),
        ("off", MtlsBinding::Off),
    ] {
        let snap = compiled(&format!("    mtls_binding: {word}"));
        assert_eq!(snap.providers[0].mtls_binding, mode);
    }
}

#[test]
fn client_certificates_take_a_header_and_trusted_networks() {
    let snap =
        compiled("client_certificates: { trusted_sources: [10.0.0.0/8, '::1', 'fd00::/8'] }");
    let certs = snap.client_certificates.expect("configured");
    assert_eq!(certs.header, "x-forwarded-client-cert");
    let shown: Vec<String> = certs
        .trusted_sources
        .iter()
        .map(|n| n.to_string())
        .collect();
    assert_eq!(shown, ["10.0.0.0/8", "::1/128", "fd00::/8"]);
    assert!(certs.trusts("10.9.8.7".parse().unwrap()));
    assert!(!certs.trusts("192.0.2.1".parse().unwrap()));
    let custom =
        compiled("client_certificates: { header: x-client-cert, trusted_sources: [127.0.0.1] }");
    assert_eq!(custom.client_certificates.unwrap().header, "x-client-cert");
}

#[test]
fn rfc8705_errors_name_the_field() {
    let cases = [
        (
            "    mtls_binding: on",
            "providers[0].mtls_binding: unknown variant `on`",
        ),
        (
            "client_certificates: {}",
            "client_certificates.trusted_sources: expected at least one",
        ),
        (
            "client_certificates: { trusted_sources: [] }",
            "client_certificates.trusted_sources: expected at least one",
        ),
        (
            "client_certificates: { trusted_sources: [10.0.0.0/8, 10.0.0.1/8] }",
            "client_certificates.trusted_sources[1]: \"10.0.0.1/8\" has host bits set: did you mean 10.0.0.0/8?",
        ),
        (
            "client_certificates: { trusted_sources: [proxy.internal] }",
            "client_certificates.trusted_sources[0]: expected an IP address or network",
        ),
        (
            "client_certificates: { trusted_sources: [10.0.0.0/33] }",
            "client_certificates.trusted_sources[0]: expected a prefix length 0 to 32",
        ),
        (
            "client_certificates: { trusted_sources: [0.0.0.0/0] }",
            "client_certificates.trusted_sources[0]: \"0.0.0.0/0\" trusts every address",
        ),
        (
            "client_certificates: { trusted_sources: ['::/0'] }",
            "client_certificates.trusted_sources[0]: \"::/0\" trusts every address",
        ),
        (
            "client_certificates: { header: X-Forwarded-Client-Cert, trusted_sources: [10.0.0.0/8] }",
            "client_certificates.header: expected a lowercase header name",
        ),
        (
            "client_certificates: { header: authorization, trusted_sources: [10.0.0.0/8] }",
            "client_certificates.header: expected a lowercase header name other than authorization",
        ),
        (
            "client_certificates: { trusted: [10.0.0.0/8] }",
            "client_certificates.trusted: unknown field `trusted`",
        ),
    ];
    for (yaml, expected) in cases {
        let e = error(&provider(yaml));
        assert!(e.contains(expected), "{yaml}:\n{e}");
    }
}
