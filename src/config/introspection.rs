//! Compiling a provider's `introspection:` block: the endpoint URL (HTTPS unless allowed),
//! client authentication with its secret or private key file, which tokens go to it, and the cache and
//! traffic bounds. The secret is read now, watched like a key file, and never echoed in an
//! error.

use super::compile::Compiler;
use super::error::ConfigError;
use super::file::{ClientAuthFile, IntrospectionFile};
use crate::config;
use crate::mint::SigningKey;
use crate::snapshot::{AssertionKey, ClientAuth, Endpoint, Introspection, Secret};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub const DEFAULT_MAX_TTL: Duration = Duration::from_secs(60);
pub const DEFAULT_NEGATIVE_TTL: Duration = Duration::from_secs(5);
pub const DEFAULT_ENTRIES: usize = 10_000;
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
pub const DEFAULT_MAX_CONCURRENT: usize = 64;
/// Upper bounds: far above any sensible value, far below an overflow.
pub const MAX_TTL: Duration = Duration::from_secs(24 * 3600);
pub const MAX_TIMEOUT: Duration = Duration::from_secs(60);
pub const MAX_ENTRIES: usize = 10_000_000;
pub const MAX_CONCURRENT: usize = 10_000;
/// An introspection answer is a small JSON object; anything larger is refused unread.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// A compiled `introspection:` and the files it read (the secret, the CA bundle).
pub(super) struct CompiledIntrospection {
    pub(super) settings: Introspection,
    pub(super) files: Vec<PathBuf>,
}

impl Compiler<'_> {
    pub(super) fn introspection(
        &self,
        field: &str,
        i: &IntrospectionFile,
        issuers: &[String],
    ) -> Result<CompiledIntrospection, ConfigError> {
        let field = format!("{field}.introspection");
        let endpoint = match (&i.endpoint, i.discovery.unwrap_or(false), issuers) {
            (Some(url), false, _) => {
                let name = format!("{field}.endpoint");
                let url = self.url(&name, url, i.allow_insecure_http)?;
                // It is logged and shown by `explain`: credentials belong in the secret file.
                let userinfo = reqwest::Url::parse(&url)
                    .is_ok_and(|u| !u.username().is_empty() || u.password().is_some());
                if userinfo {
                    return Err(self.invalid(
                        name,
                        "must not hold user:password (use client_id and client_secret_file)",
                    ));
                }
                Endpoint::Url(url)
            }
            (None, true, issuers) => Endpoint::Discovery {
                issuer: self.discovery_issuer(&field, issuers, i.allow_insecure_http)?,
            },
            _ => {
                return Err(self.invalid(
                    field,
                    "expected exactly one of `endpoint` or `discovery: true`",
                ));
            }
        };
        // RFC 7523 §3: the assertion's audience identifies the authorization server —
        // the endpoint we post to, or (discovered) the issuer.
        let audience = match &endpoint {
            Endpoint::Url(url) => url,
            Endpoint::Discovery { issuer } => issuer,
        };
        let mut files = Vec::new();
        let client = self.client_auth(&field, i, audience, &mut files)?;
        // Bounded above too: a cache entry's expiry and the semaphore must be computable
        // on the Check path without overflowing.
        let positive =
            |name: &str, value: Option<config::Duration>, default: Duration, max: Duration| {
                match value {
                None => Ok(default),
                Some(d) if !d.get().is_zero() && d.get() <= max => Ok(d.get()),
                Some(d) => Err(self.invalid(
                    format!("{field}.{name}"),
                    format!(
                        "expected a positive duration such as 2s or 1m, at most {}s; got \"{d}\"",
                        max.as_secs()
                    ),
                )),
            }
            };
        let count = |name: &str, value: Option<usize>, default: usize, max: usize| match value {
            None => Ok(default),
            Some(n) if (1..=max).contains(&n) => Ok(n),
            Some(_) => Err(self.invalid(format!("{field}.{name}"), format!("expected 1 to {max}"))),
        };
        let cache = i.cache.as_ref();
        let ca_pem = match i.tls.as_ref().and_then(|t| t.ca_file.as_ref()) {
            None => None,
            Some(ca) => {
                let (path, pem) = self.ca_bundle(&format!("{field}.tls.ca_file"), ca)?;
                files.push(path);
                Some(pem)
            }
        };
        let hint = match &i.token_type_hint {
            Some(hint) if hint.is_empty() => None,
            Some(hint) => Some(hint.clone()),
            None => Some("access_token".to_owned()),
        };
        let settings = Introspection {
            endpoint,
            client,
            token_type_hint: hint,
            tokens: i.tokens.unwrap_or_default(),
            max_ttl: positive(
                "cache.max_ttl",
                cache.and_then(|c| c.max_ttl),
                DEFAULT_MAX_TTL,
                MAX_TTL,
            )?,
            negative_ttl: positive(
                "cache.negative_ttl",
                cache.and_then(|c| c.negative_ttl),
                DEFAULT_NEGATIVE_TTL,
                MAX_TTL,
            )?,
            entries: count(
                "cache.entries",
                cache.and_then(|c| c.entries),
                DEFAULT_ENTRIES,
                MAX_ENTRIES,
            )?,
            timeout: positive("timeout", i.timeout, DEFAULT_TIMEOUT, MAX_TIMEOUT)?,
            connect_timeout: positive(
                "connect_timeout",
                i.connect_timeout,
                DEFAULT_CONNECT_TIMEOUT,
                MAX_TIMEOUT,
            )?,
            max_concurrent: count(
                "max_concurrent",
                i.max_concurrent,
                DEFAULT_MAX_CONCURRENT,
                MAX_CONCURRENT,
            )?,
            allow_insecure_http: i.allow_insecure_http,
            ca_pem,
            max_bytes: MAX_RESPONSE_BYTES,
        };
        Ok(CompiledIntrospection { settings, files })
    }

    /// How we authenticate to the endpoint; the secret or key file read goes to `files`.
    fn client_auth(
        &self,
        field: &str,
        i: &IntrospectionFile,
        audience: &str,
        files: &mut Vec<PathBuf>,
    ) -> Result<ClientAuth, ConfigError> {
        let secret = match &i.client_secret_file {
            None => None,
            Some(path) => {
                let name = format!("{field}.client_secret_file");
                let (path, bytes) = self.read_input(&name, path)?;
                // A trailing newline is the editor's, not the secret's.
                let text = String::from_utf8(bytes)
                    .map_err(|_| self.invalid(&name, "the secret file is not UTF-8"))?;
                let secret = text.trim_end_matches(['\r', '\n']).to_owned();
                if secret.is_empty() {
                    return Err(self.invalid(&name, format!("{} is empty", path.display())));
                }
                files.push(path);
                Some(Secret::new(secret))
            }
        };
        let mode = i.client_auth.unwrap_or(match (&secret, &i.private_key) {
            (Some(_), _) => ClientAuthFile::ClientSecretBasic,
            (None, Some(_)) => ClientAuthFile::PrivateKeyJwt,
            (None, None) => ClientAuthFile::None,
        });
        let client_id = i.client_id.clone().filter(|id| !id.is_empty());
        let unused = |what: &str, name: &str| {
            Err(self.invalid(
                format!("{field}.{name}"),
                format!("unused with client_auth: {what}"),
            ))
        };
        if mode != ClientAuthFile::PrivateKeyJwt && i.private_key.is_some() {
            return unused("other than private_key_jwt", "private_key");
        }
        match (mode, client_id, secret) {
            (ClientAuthFile::None, client_id, None) => Ok(ClientAuth::None { client_id }),
            (ClientAuthFile::None, _, Some(_)) => unused("none", "client_secret_file"),
            (ClientAuthFile::PrivateKeyJwt, _, Some(_)) => {
                unused("private_key_jwt", "client_secret_file")
            }
            (ClientAuthFile::PrivateKeyJwt, Some(client_id), None) => {
                let Some(key) = &i.private_key else {
                    return Err(self.invalid(
                        format!("{field}.private_key"),
                        "private_key_jwt needs a private_key: { file, alg }",
                    ));
                };
                let name = format!("{field}.private_key.file");
                let (path, pem) = self.read_input(&name, &key.file)?;
                let pem = String::from_utf8(pem)
                    .map_err(|_| self.invalid(&name, "the key file is not UTF-8 PEM"))?;
                let signing = SigningKey::from_pkcs8_pem(&pem, key.alg)
                    .map_err(|e| self.invalid(&name, e.to_string()))?;
                let signing = match &key.kid {
                    Some(kid) => signing.with_kid(kid.clone()),
                    None => signing,
                };
                files.push(path);
                Ok(ClientAuth::PrivateKeyJwt {
                    client_id,
                    key: AssertionKey(Arc::new(signing)),
                    audience: key.audience.clone().unwrap_or_else(|| audience.to_owned()),
                })
            }
            (ClientAuthFile::ClientSecretBasic, Some(client_id), Some(secret)) => {
                Ok(ClientAuth::Basic { client_id, secret })
            }
            (ClientAuthFile::ClientSecretPost, Some(client_id), Some(secret)) => {
                Ok(ClientAuth::Post { client_id, secret })
            }
            (_, None, _) => Err(self.invalid(
                format!("{field}.client_id"),
                "client_secret_basic, client_secret_post and private_key_jwt need a client_id",
            )),
            (_, Some(_), None) => Err(self.invalid(
                format!("{field}.client_secret_file"),
                "client_secret_basic and client_secret_post need a client_secret_file",
            )),
        }
    }
}
