//! Compiling one provider: its name, issuers, audiences, algorithms, clock skew, required
//! claims and token types (its key source is `keys`, its outbound proxy `proxy`, its issuer
//! templates `tenants`).

use super::compile::{Compiler, finish};
use super::error::ConfigError;
use super::file::ProviderFile;
use crate::algorithm::AlgorithmSet;
use crate::snapshot::{ClientAuth, IntrospectTokens, KeySource, Limits, Provider};
use crate::token::verify::normalize_type;
use aws_lc_rs::digest::{Context, SHA256};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

pub const DEFAULT_CLOCK_SKEW: Duration = Duration::from_secs(60);
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(3600);
pub const DEFAULT_REQUIRED_CLAIMS: [&str; 1] = ["exp"];
pub const DEFAULT_AUDIENCE_CLAIMS: [&str; 1] = ["aud"];

impl Compiler<'_> {
    pub(super) fn provider(
        &self,
        field: &str,
        p: &ProviderFile,
        limits: &Limits,
    ) -> Result<Provider, ConfigError> {
        if p.name.is_empty()
            || !p
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            return Err(self.invalid(
                format!("{field}.name"),
                "expected a non-empty name of letters, digits, '-', '_' or '.'",
            ));
        }
        let tenancy = self.tenancy(field, p)?;
        let issuers = match (&p.issuer, &p.issuers) {
            (Some(one), None) => vec![one.clone()],
            // Opaque tokens name no issuer: a provider that only introspects needs none.
            (None, None) if p.introspection.is_some() || tenancy.is_some() => Vec::new(),
            (None, Some(many)) if !many.is_empty() => many.clone(),
            (None, Some(_)) => {
                return Err(
                    self.invalid(format!("{field}.issuers"), "expected at least one issuer")
                );
            }
            _ => {
                return Err(self.invalid(
                    format!("{field}.issuer"),
                    "expected exactly one of `issuer` or `issuers` (or neither, for a provider with `issuer_template` or `introspection:` only)",
                ));
            }
        };
        if issuers.iter().any(String::is_empty) {
            return Err(self.invalid(format!("{field}.issuers"), "an issuer must not be empty"));
        }
        if p.audiences.is_empty() || p.audiences.iter().any(String::is_empty) {
            return Err(self.invalid(
                format!("{field}.audiences"),
                "expected at least one non-empty audience",
            ));
        }
        let audience_claims = non_empty_list(p.audience_claims.as_ref(), &DEFAULT_AUDIENCE_CLAIMS)
            .ok_or_else(|| {
                self.invalid(
                    format!("{field}.audience_claims"),
                    "expected at least one claim name",
                )
            })?;
        let algorithms = match &p.algorithms {
            None => AlgorithmSet::all(),
            Some(names) if names.is_empty() => {
                return Err(self.invalid(
                    format!("{field}.algorithms"),
                    "expected at least one algorithm",
                ));
            }
            Some(names) => names.iter().copied().collect(),
        };
        let clock_skew = match p.clock_skew {
            None => DEFAULT_CLOCK_SKEW,
            Some(skew) if skew.get() <= MAX_CLOCK_SKEW => skew.get(),
            Some(skew) => {
                return Err(self.invalid(
                    format!("{field}.clock_skew"),
                    format!("expected a duration such as 30s or 5m, at most 1h; got \"{skew}\""),
                ));
            }
        };
        let dpop = self.dpop(field, p.dpop.as_ref(), algorithms)?;
        let required_claims = p
            .required_claims
            .clone()
            .unwrap_or_else(|| DEFAULT_REQUIRED_CLAIMS.map(String::from).to_vec());
        let token_types = match &p.token_types {
            None => None,
            Some(list) if list.is_empty() => {
                return Err(self.invalid(
                    format!("{field}.token_types"),
                    "expected at least one type, or omit the field",
                ));
            }
            Some(list) => Some(list.iter().map(|t| normalize_type(t)).collect()),
        };
        let introspection = match &p.introspection {
            None => None,
            Some(i) => Some(self.introspection(field, i, &issuers)?),
        };
        let introspects_jwts = introspection
            .as_ref()
            .is_some_and(|i| i.settings.tokens == IntrospectTokens::All);
        // A provider with neither literal issuers nor templates validates no JWT.
        let no_issuer = issuers.is_empty() && tenancy.is_none();
        match (&p.jwks, no_issuer, introspects_jwts) {
            (None, false, false) => {
                return Err(self.invalid(
                    format!("{field}.jwks"),
                    "expected a key source (or `introspection.tokens: all`, which validates no JWT locally)",
                ));
            }
            (_, true, true) => {
                return Err(self.invalid(
                    format!("{field}.introspection.tokens"),
                    "`all` selects JWTs by `iss`: it needs an `issuer` (or `issuer_template`)",
                ));
            }
            (Some(_), true, _) | (Some(_), _, true) => {
                return Err(self.invalid(
                    format!("{field}.jwks"),
                    "unused: this provider validates no JWT locally (no issuer, or `introspection.tokens: all`)",
                ));
            }
            _ => {}
        }
        let compiled = self.keys(field, p, &issuers, algorithms, limits)?;
        if p.proxy.is_some()
            && matches!(compiled.source, KeySource::Static)
            && introspection.is_none()
        {
            return Err(self.invalid(
                format!("{field}.proxy"),
                "applies only to providers that call their IdP (`jwks.uri`, `jwks.discovery` or `introspection`)",
            ));
        }
        let proxy = self.proxy(field, p.proxy.as_ref())?;
        let mut fingerprint = Context::new(&SHA256);
        fingerprint.update(format!("{p:?}").as_bytes());
        fingerprint.update(&compiled.bytes);
        let mut files = compiled.files;
        if let Some(i) = &introspection {
            // Every compiled setting (the CA bundle included: a rotated CA must reach the
            // client), and the secret's bytes, which `Debug` redacts, so a rotated secret
            // is a changed provider too (a new introspection client and cache). Only this
            // hash ever leaves the files.
            fingerprint.update(format!("{:?}", i.settings).as_bytes());
            match &i.settings.client {
                ClientAuth::Basic { secret, .. } | ClientAuth::Post { secret, .. } => {
                    fingerprint.update(secret.expose().as_bytes());
                }
                ClientAuth::PrivateKeyJwt { key, .. } => {
                    fingerprint.update(key.0.public_jwk().to_string().as_bytes());
                }
                ClientAuth::None { .. } => {}
            }
            files.extend(i.files.iter().cloned());
        }
        super::proxy::fingerprint(&proxy.proxy, &mut fingerprint);
        files.extend(proxy.file);
        Ok(Provider {
            name: p.name.clone(),
            issuers,
            tenancy,
            audiences: p.audiences.iter().cloned().collect::<BTreeSet<_>>(),
            audience_claims,
            keys: Arc::new(compiled.keys),
            key_source: compiled.source,
            algorithms,
            clock_skew,
            required_claims,
            token_types,
            introspection: introspection.map(|i| Arc::new(i.settings)),
            mtls_binding: p.mtls_binding.unwrap_or_default(),
            proxy: proxy.proxy,
            dpop,
            files,
            fingerprint: finish(fingerprint),
        })
    }
}

fn non_empty_list(list: Option<&Vec<String>>, default: &[&str]) -> Option<Vec<String>> {
    match list {
        None => Some(default.iter().map(|s| (*s).to_owned()).collect()),
        Some(list) if list.is_empty() || list.iter().any(String::is_empty) => None,
        Some(list) => Some(list.clone()),
    }
}
