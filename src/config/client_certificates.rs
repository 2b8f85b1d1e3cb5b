//! `client_certificates:` (RFC 8705 behind a TLS-terminating proxy): the file's mirror and
//! its compilation — the header name and the trusted sources, each checked at its own field.
//! (A provider's `mtls_binding` is a plain keyword, read by serde into
//! [`MtlsBinding`](crate::snapshot::MtlsBinding).)

use super::compile::{Compiler, is_header_name};
use super::error::ConfigError;
use crate::cidr::IpNetwork;
use crate::snapshot::ClientCertificates;
use serde::Deserialize;

/// The header Envoy (and most proxies that copy it) forwards client certificates in.
pub const DEFAULT_CLIENT_CERTIFICATE_HEADER: &str = "x-forwarded-client-cert";

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientCertificatesFile {
    /// XFCC format; default `x-forwarded-client-cert`.
    pub header: Option<String>,
    /// Addresses or networks of the proxies whose header is believed.
    #[serde(default)]
    pub trusted_sources: Vec<String>,
}

impl Compiler<'_> {
    pub(super) fn client_certificates(
        &self,
        file: Option<&ClientCertificatesFile>,
    ) -> Result<Option<ClientCertificates>, ConfigError> {
        let Some(file) = file else {
            return Ok(None);
        };
        let header = file
            .header
            .clone()
            .unwrap_or_else(|| DEFAULT_CLIENT_CERTIFICATE_HEADER.to_owned());
        if !is_header_name(&header) || header == "authorization" {
            return Err(self.invalid(
                "client_certificates.header",
                format!("expected a lowercase header name other than authorization, such as {DEFAULT_CLIENT_CERTIFICATE_HEADER}; got {header:?}"),
            ));
        }
        if file.trusted_sources.is_empty() {
            return Err(self.invalid(
                "client_certificates.trusted_sources",
                "expected at least one address or network (the TLS-terminating proxies): the header is believed only from these, and any client could send it",
            ));
        }
        let mut trusted_sources = Vec::with_capacity(file.trusted_sources.len());
        for (i, source) in file.trusted_sources.iter().enumerate() {
            let field = format!("client_certificates.trusted_sources[{i}]");
            let network = IpNetwork::parse(source).map_err(|e| self.invalid(&field, e))?;
            if network.is_everything() {
                return Err(self.invalid(
                    field,
                    format!("{source:?} trusts every address, so any client could forge a certificate header: list the proxies' addresses"),
                ));
            }
            trusted_sources.push(network);
        }
        Ok(Some(ClientCertificates {
            header,
            trusted_sources,
        }))
    }
}
