//! Unit tests of the RFC 8705 check: every `mtls_binding` mode × bound/unbound token ×
//! certificate A / B / none, where the certificate comes from (the connection, or the
//! header from a trusted source only), malformed `cnf`, introspected answers, the token
//! cache, and what `explain` is told. (Just over 400 lines, as rustfmt lays out the
//! tables: one file holds every rule of the one check.)

use super::tests::{NOW, bearer, denied, snapshot};
use super::*;
use crate::certificate::Thumbprint;
use crate::certificate::tests::{CLIENT_A_PEM, CLIENT_A_X5T, envoy_encoded};
use crate::snapshot::Snapshot;
use crate::trace::Trace;
use serde_json::{Value, json};
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

/// A second client certificate (rcgen, made per test run) and its thumbprint.
fn client_b() -> &'static (String, String) {
    static B: OnceLock<(String, String)> = OnceLock::new();
    B.get_or_init(|| {
        let made = rcgen::generate_simple_self_signed(vec!["client-b.test".into()]).unwrap();
        let x5t = Thumbprint::of_der(made.cert.der()).to_base64url();
        (made.cert.pem(), x5t)
    })
}

fn with_binding(mode: &str) -> Snapshot {
    snapshot(&format!(
        "    mtls_binding: {mode}\nchallenge: {{ realm: api }}\nclient_certificates: {{ trusted_sources: [10.0.0.0/8] }}\n"
    ))
}

/// Request headers for [`HeaderLookup`].
struct Headers(Vec<(&'static str, String)>);

impl HeaderLookup for Headers {
    fn values(&self, name: &str) -> Vec<&[u8]> {
        self.0
            .iter()
            .filter(|(k, _)| *k == name)
            .map(|(_, v)| v.as_bytes())
            .collect()
    }
}

/// `GET /` carrying `auth`, from `peer`.
fn request<'a>(auth: &'a [String], peer: Peer<'a>) -> Request<'a> {
    Request {
        authorization: auth.iter().map(|a| a.as_bytes()).collect(),
        method: "GET",
        path: "/",
        host: "api.test",
        peer,
        ..Request::default()
    }
}

/// A peer with `certificate` on Envoy's TLS connection and no address.
fn on_connection(certificate: Option<&str>) -> Peer<'_> {
    Peer {
        certificate: certificate.map(str::as_bytes),
        ..Peer::default()
    }
}

/// Decides a token with `claims` arriving from `source` with `certificate` on the
/// connection and `headers`, at `snap`.
fn decide_from(
    snap: &Snapshot,
    claims: Value,
    source: &str,
    certificate: Option<&str>,
    headers: &Headers,
) -> Decision {
    let auth = bearer(claims);
    let peer = Peer {
        certificate: certificate.map(str::as_bytes),
        address: Some(source.parse::<IpAddr>().unwrap()),
        headers: Some(headers),
    };
    decide(snap, &request(&auth, peer), NOW)
}

fn bound_to(x5t: &str) -> Value {
    json!({"cnf": {"x5t#S256": x5t}})
}

/// The reason of a deny, `None` for an allow.
fn outcome(decision: Decision) -> Option<Reason> {
    match decision {
        Decision::Allow(_) => None,
        Decision::Deny(deny) => Some(deny.reason),
        other => panic!("{other:?}"),
    }
}

#[test]
fn every_mode_against_bound_and_unbound_tokens_with_each_certificate() {
    use Reason::{CertificateBindingMismatch as Mismatch, CertificateBindingRequired as Required};
    let a = envoy_encoded(CLIENT_A_PEM);
    let b = client_b().0.clone();
    let none = Headers(vec![]);
    // (mode, token bound to A?, certificate on the connection, expected)
    let table: [(&str, bool, Option<&str>, Option<Reason>); 18] = [
        ("allowed", true, Some(&a), None),
        ("allowed", true, Some(&b), Some(Mismatch)),
        ("allowed", true, None, Some(Mismatch)),
        ("allowed", false, Some(&a), None),
        ("allowed", false, Some(&b), None),
        ("allowed", false, None, None),
        ("required", true, Some(&a), None),
        ("required", true, Some(&b), Some(Mismatch)),
        ("required", true, None, Some(Mismatch)),
        ("required", false, Some(&a), Some(Required)),
        ("required", false, Some(&b), Some(Required)),
        ("required", false, None, Some(Required)),
        ("off", true, Some(&a), None),
        ("off", true, Some(&b), None),
        ("off", true, None, None),
        ("off", false, Some(&a), None),
        ("off", false, Some(&b), None),
        ("off", false, None, None),
    ];
    for (mode, bound, certificate, expected) in table {
        let snap = with_binding(mode);
        let claims = if bound {
            bound_to(CLIENT_A_X5T)
        } else {
            json!({})
        };
        let got = outcome(decide_from(&snap, claims, "192.0.2.1", certificate, &none));
        assert_eq!(
            got,
            expected,
            "{mode}, bound {bound}, certificate {:?}",
            certificate.map(|c| &c[..30])
        );
    }
    // `allowed` is the default.
    let default = snapshot("");
    assert_eq!(
        outcome(decide_from(
            &default,
            bound_to(CLIENT_A_X5T),
            "192.0.2.1",
            Some(&b),
            &none
        )),
        Some(Mismatch)
    );
}

#[test]
fn a_binding_failure_is_a_401_invalid_token_naming_no_certificate() {
    let snap = with_binding("allowed");
    let deny = denied(decide_from(
        &snap,
        bound_to(CLIENT_A_X5T),
        "192.0.2.1",
        None,
        &Headers(vec![]),
    ));
    assert_eq!(deny.status(), 401);
    assert_eq!(
        deny.www_authenticate.as_deref(),
        Some(
            r#"Bearer realm="api", error="invalid_token", error_description="certificate binding mismatch""#
        )
    );
    assert_eq!(
        deny.body,
        r#"{"error":"invalid_token","error_description":"certificate binding mismatch"}"#
    );
    assert_eq!(deny.provider.as_deref(), Some("okta"));
    let required = denied(decide_from(
        &with_binding("required"),
        json!({}),
        "192.0.2.1",
        None,
        &Headers(vec![]),
    ));
    assert_eq!(
        required.www_authenticate.as_deref(),
        Some(
            r#"Bearer realm="api", error="invalid_token", error_description="certificate-bound token required""#
        )
    );
}

#[test]
fn a_cnf_that_is_no_object_or_an_x5t_that_is_no_string_is_malformed_unless_both_bindings_are_off() {
    let a = envoy_encoded(CLIENT_A_PEM);
    let none = Headers(vec![]);
    for cnf in [
        json!("x"),
        json!(null),
        json!([CLIENT_A_X5T]),
        json!({"x5t#S256": 7}),
        json!({"x5t#S256": null}),
    ] {
        let claims = json!({"cnf": cnf});
        assert_eq!(
            outcome(decide_from(
                &with_binding("allowed"),
                claims.clone(),
                "192.0.2.1",
                Some(&a),
                &none
            )),
            Some(Reason::ClaimMalformed),
            "{cnf}"
        );
        assert_eq!(
            outcome(decide_from(
                // DPoP reads `cnf` too: only with both off is a malformed one ignored.
                &with_binding("off\n    dpop: off"),
                claims,
                "192.0.2.1",
                Some(&a),
                &none
            )),
            None
        );
    }
    // A `cnf` for another confirmation method (DPoP's `jkt`) is not a certificate binding
    // (with DPoP off, so that the Bearer token is judged here; DPoP would refuse it).
    let dpop = json!({"cnf": {"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}});
    assert_eq!(
        outcome(decide_from(
            &with_binding("allowed\n    dpop: off"),
            dpop.clone(),
            "192.0.2.1",
            None,
            &none
        )),
        None
    );
    assert_eq!(
        outcome(decide_from(
            &with_binding("required\n    dpop: off"),
            dpop,
            "192.0.2.1",
            None,
            &none
        )),
        Some(Reason::CertificateBindingRequired)
    );
}

#[test]
fn the_header_is_believed_from_trusted_sources_only_and_then_instead_of_the_connection() {
    let snap = with_binding("allowed");
    let (b_pem, b_x5t) = client_b();
    let a_hash = "bbd8ed5052852209e87c8b99a94a90db0a38f75d01f58c06e76e12896537d12a";
    let xfcc = |value: String| Headers(vec![("x-forwarded-client-cert", value)]);
    let by_hash = xfcc(format!(
        "By=spiffe://edge;Hash={a_hash};Subject=\"CN=client-a.test\""
    ));
    let by_cert = xfcc(format!("Cert=\"{}\"", envoy_encoded(CLIENT_A_PEM)));
    let forged_then_real = xfcc(format!("Hash={};URI=x,Hash={a_hash}", "00".repeat(32)));
    let bound_a = || bound_to(CLIENT_A_X5T);
    for (name, headers) in [
        ("hash", &by_hash),
        ("cert", &by_cert),
        ("last element", &forged_then_real),
    ] {
        assert_eq!(
            outcome(decide_from(&snap, bound_a(), "10.1.2.3", None, headers)),
            None,
            "{name}"
        );
        // From a source not in trusted_sources the header is ignored: no certificate.
        assert_eq!(
            outcome(decide_from(&snap, bound_a(), "192.0.2.1", None, headers)),
            Some(Reason::CertificateBindingMismatch),
            "{name} from an untrusted source"
        );
    }
    // Untrusted: the connection's certificate counts, the header does not.
    assert_eq!(
        outcome(decide_from(
            &snap,
            bound_to(b_x5t),
            "192.0.2.1",
            Some(b_pem),
            &by_hash
        )),
        None
    );
    // Trusted: the connection is the proxy's, so only the header counts.
    assert_eq!(
        outcome(decide_from(
            &snap,
            bound_to(b_x5t),
            "10.1.2.3",
            Some(b_pem),
            &by_hash
        )),
        Some(Reason::CertificateBindingMismatch)
    );
    assert_eq!(
        outcome(decide_from(
            &snap,
            bound_a(),
            "10.1.2.3",
            Some(&envoy_encoded(CLIENT_A_PEM)),
            &Headers(vec![])
        )),
        Some(Reason::CertificateBindingMismatch),
        "a trusted source that sends no header"
    );
    for garbage in [
        "Hash=zz",
        "Hash=\"unterminated",
        "Cert=notpem",
        "By=spiffe://edge",
    ] {
        assert_eq!(
            outcome(decide_from(
                &snap,
                bound_a(),
                "10.1.2.3",
                None,
                &xfcc(garbage.into())
            )),
            Some(Reason::CertificateBindingMismatch),
            "{garbage}"
        );
    }
    // Without `client_certificates` no source is trusted.
    let unconfigured = snapshot("");
    assert_eq!(
        outcome(decide_from(
            &unconfigured,
            bound_a(),
            "10.1.2.3",
            None,
            &by_hash
        )),
        Some(Reason::CertificateBindingMismatch)
    );
}

#[test]
fn introspected_answers_carrying_cnf_are_held_to_the_same_binding() {
    let snap = snapshot(
        "  - name: opaque\n    audiences: [api://a]\n    introspection: { endpoint: 'http://127.0.0.1:1/i', allow_insecure_http: true }\n",
    );
    let active = |claims: Value| {
        crate::introspection::Answer::Active(Arc::new(claims.as_object().unwrap().clone()))
    };
    let judge = |answer: &crate::introspection::Answer, certificate: Option<&str>| {
        let auth = ["Bearer 2YotnFZFEjr1zCsicMWpAA".to_owned()];
        outcome(decide_introspected(
            &snap,
            &request(&auth, on_connection(certificate)),
            NOW,
            // No cache (spelt so it also reads as the merged DPoP branch's `Memory`).
            Default::default(),
            Some(answer),
            &mut Off,
        ))
    };
    let bound =
        active(json!({"active": true, "exp": NOW.0 + 60, "cnf": {"x5t#S256": CLIENT_A_X5T}}));
    assert_eq!(judge(&bound, Some(CLIENT_A_PEM)), None);
    assert_eq!(
        judge(&bound, Some(&client_b().0)),
        Some(Reason::CertificateBindingMismatch)
    );
    assert_eq!(
        judge(&bound, None),
        Some(Reason::CertificateBindingMismatch)
    );
}

#[test]
fn a_cached_token_is_still_checked_against_each_requests_certificate() {
    let snap = with_binding("allowed");
    let cache = crate::token::cache::TokenCache::new(16, 1 << 20).unwrap();
    let auth = bearer(bound_to(CLIENT_A_X5T));
    let with_cert = |certificate: &str| {
        let request = request(&auth, on_connection(Some(certificate)));
        outcome(decide_cached(&snap, &request, NOW, Some(&cache)))
    };
    assert_eq!(with_cert(CLIENT_A_PEM), None);
    assert_eq!(with_cert(CLIENT_A_PEM), None, "now from the cache");
    assert_eq!(
        with_cert(&client_b().0),
        Some(Reason::CertificateBindingMismatch)
    );
}

#[test]
fn explain_sees_the_expected_and_presented_thumbprints_only_when_the_check_ran() {
    let snap = with_binding("allowed");
    let (b_pem, b_x5t) = client_b();
    let trace_of = |claims: Value, certificate: Option<&str>| {
        let auth = bearer(claims);
        let mut trace = Trace::default();
        let request = request(&auth, on_connection(certificate));
        decide_traced(&snap, &request, NOW, None, &mut trace);
        trace
            .steps
            .into_iter()
            .find(|s| s.check == crate::trace::Check::Certificate)
    };
    let step = trace_of(bound_to(CLIENT_A_X5T), Some(b_pem)).expect("the check ran");
    assert_eq!(step.failed, Some(Reason::CertificateBindingMismatch));
    assert_eq!(
        step.expected,
        format!("a client certificate with x5t#S256 {CLIENT_A_X5T:?} (the token's cnf)")
    );
    assert_eq!(
        step.actual,
        format!("x5t#S256 {b_x5t:?} (the TLS connection Envoy terminated)")
    );
    let none = trace_of(bound_to(CLIENT_A_X5T), None).expect("the check ran");
    assert!(
        none.actual.starts_with("no client certificate"),
        "{}",
        none.actual
    );
    assert!(
        trace_of(json!({}), Some(b_pem)).is_none(),
        "an unbound token is not checked"
    );
}
