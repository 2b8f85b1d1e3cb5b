//! RFC 8705 §3: a certificate-bound token (`cnf.x5t#S256`) is accepted only with the
//! client certificate it was bound to. Runs right after the token is verified (a JWT or an
//! introspection answer, which carries `cnf` too), before the route's checks.
//!
//! Where the certificate comes from, per request:
//! - the request's source is one of `client_certificates.trusted_sources`: the configured
//!   header (XFCC), its last element — the nearest proxy's. That proxy terminated TLS, so
//!   a certificate of the connection itself would be the proxy's own;
//! - anyone else: the certificate of the TLS connection Envoy terminated
//!   (`include_peer_certificate`). A header from an untrusted source is ignored as if
//!   absent: never believed, never an error that tells the sender what would be.
//!
//! Cost: nothing for a provider with `mtls_binding: off` or an unbound token but two map
//! lookups. A bound token costs an XFCC `Hash=` hex decode, or a PEM decode (percent
//! escapes, base64) and one SHA-256 over the DER — about a microsecond for a 1 KB
//! certificate (BENCHMARKS.md, `mtls/*`); the certificate is never parsed as X.509.

use super::Request;
use crate::certificate::Thumbprint;
use crate::certificate::xfcc::{self, Presented, Unread};
use crate::reason::Reason;
use crate::snapshot::{MtlsBinding, Snapshot};
use crate::token::verify::Verified;
use crate::trace::{Check, Tracer, stage, text};

/// Checks `verified`'s certificate binding against the client certificate `request` came
/// with (nothing for an unbound token unless its provider requires binding).
pub(super) fn check(
    snapshot: &Snapshot,
    request: &Request<'_>,
    verified: &Verified<'_>,
    tracer: &mut dyn Tracer,
) -> Result<(), Reason> {
    let mode = verified.provider().mtls_binding;
    if mode == MtlsBinding::Off {
        return Ok(());
    }
    let cnf = verified.claims().get("cnf");
    let bound = match super::claims::confirmation(verified.claims(), "x5t#S256") {
        Ok(bound) => bound,
        Err(reason) => {
            return stage(tracer, Check::Certificate, Err(reason), || {
                (
                    "cnf an object whose x5t#S256 is a string".into(),
                    format!("cnf {}", text(cnf)),
                )
            });
        }
    };
    let Some(expected) = bound else {
        if mode == MtlsBinding::Required {
            return stage(
                tracer,
                Check::Certificate,
                Err(Reason::CertificateBindingRequired),
                || {
                    (
                        "a certificate-bound token (cnf.x5t#S256): the provider's mtls_binding is required".into(),
                        "no cnf.x5t#S256".into(),
                    )
                },
            );
        }
        return Ok(());
    };
    let found = presented(snapshot, request);
    let result = match &found {
        Found::Certificate(thumbprint, _) if thumbprint.matches(expected) => Ok(()),
        _ => Err(Reason::CertificateBindingMismatch),
    };
    stage(tracer, Check::Certificate, result, || {
        (
            format!("a client certificate with x5t#S256 {expected:?} (the token's cnf)"),
            found.describe(),
        )
    })
}

/// Where a certificate came from, for `explain`.
enum From<'a> {
    /// Envoy's own TLS connection.
    Connection,
    /// The header, sent by a trusted source.
    Header(&'a str, std::net::IpAddr),
}

/// The client certificate a request came with, or why there is none.
enum Found<'a> {
    Certificate(Thumbprint, From<'a>),
    /// Something was sent, but it is not one certificate (or one hash).
    Unreadable(From<'a>),
    /// The connection had none (and no trusted source sent the header).
    NoConnectionCertificate,
    /// A trusted source sent no usable header element.
    NoHeader(&'a str, std::net::IpAddr),
}

fn presented<'a>(snapshot: &'a Snapshot, request: &Request<'_>) -> Found<'a> {
    let peer = &request.peer;
    if let (Some(config), Some(source)) = (&snapshot.client_certificates, peer.address)
        && config.trusts(source)
    {
        let header = config.header.as_str();
        let values = peer.headers.map(|h| h.values(header)).unwrap_or_default();
        let from = || From::Header(header, source);
        return match xfcc::nearest(&values) {
            Ok(Presented::Hash(hex)) => Thumbprint::from_hex(&hex)
                .map_or(Found::Unreadable(from()), |t| Found::Certificate(t, from())),
            Ok(Presented::Cert(pem)) => Thumbprint::of_pem(&pem)
                .map_or(Found::Unreadable(from()), |t| Found::Certificate(t, from())),
            Err(Unread::Malformed) => Found::Unreadable(from()),
            Err(Unread::NoCertificate) => Found::NoHeader(header, source),
        };
    }
    match peer.certificate.filter(|c| !c.is_empty()) {
        Some(pem) => Thumbprint::of_pem(pem).map_or(Found::Unreadable(From::Connection), |t| {
            Found::Certificate(t, From::Connection)
        }),
        None => Found::NoConnectionCertificate,
    }
}

impl Found<'_> {
    fn describe(&self) -> String {
        let from = |from: &From| match from {
            From::Connection => "the TLS connection Envoy terminated".to_owned(),
            From::Header(header, source) => format!("{header} from trusted {source}"),
        };
        match self {
            Found::Certificate(thumbprint, source) => format!(
                "x5t#S256 {:?} ({})",
                thumbprint.to_base64url(),
                from(source)
            ),
            Found::Unreadable(source) => format!(
                "a client certificate that is not one PEM certificate (or hash) ({})",
                from(source)
            ),
            Found::NoConnectionCertificate => {
                "no client certificate: the TLS connection Envoy terminated had none (or Envoy does not send it: include_peer_certificate), and no trusted source sent client_certificates.header".into()
            }
            Found::NoHeader(header, source) => {
                format!("no client certificate: {source} is a trusted source, and its {header} names none")
            }
        }
    }
}
