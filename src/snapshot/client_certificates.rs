//! RFC 8705 §3 in the snapshot: where a request's client certificate may come from besides
//! Envoy's own TLS connection ([`ClientCertificates`]: a header, believed only from trusted
//! proxies), and how a provider treats certificate-bound tokens ([`MtlsBinding`]).

use crate::cidr::IpNetwork;
use serde::Deserialize;
use std::net::IpAddr;

/// `client_certificates:` — TLS ends before Envoy, and the proxy that terminated it
/// forwards the client certificate in `header` (XFCC format).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertificates {
    /// Lowercase header name (default `x-forwarded-client-cert`).
    pub header: String,
    /// The header is read only from a request whose source is in one of these (never
    /// empty, never a /0); from anyone else it is ignored, as if absent.
    pub trusted_sources: Vec<IpNetwork>,
}

impl ClientCertificates {
    /// Whether a request from `source` speaks for its client through the header.
    pub fn trusts(&self, source: IpAddr) -> bool {
        self.trusted_sources.iter().any(|n| n.contains(source))
    }
}

/// A provider's `mtls_binding`: what a token's `cnf.x5t#S256` means here.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MtlsBinding {
    /// Every token must be certificate-bound, and match.
    Required,
    /// A bound token must match its certificate; an unbound one is a plain bearer token.
    #[default]
    Allowed,
    /// `cnf.x5t#S256` is ignored: the only way to accept a bound token without its
    /// certificate.
    Off,
}

impl MtlsBinding {
    /// The word the config writes.
    pub fn name(self) -> &'static str {
        match self {
            MtlsBinding::Required => "required",
            MtlsBinding::Allowed => "allowed",
            MtlsBinding::Off => "off",
        }
    }
}
