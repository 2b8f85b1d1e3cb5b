//! A provider's key source: a static JWK Set (`file` or `inline`, parsed now) or a remote
//! one (`uri` or `discovery`, fetched later by `remote`) with its refresh timing, HTTP limits
//! and TLS trust.

use super::compile::Compiler;
use super::error::ConfigError;
use super::file::{InlineJwks, JwksFile, ProviderFile};
use crate::algorithm::AlgorithmSet;
use crate::config;
use crate::jwks;
use crate::snapshot::{JwksLocation, KeySource, Limits, RemoteSource};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(300);
pub const DEFAULT_MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(60);
pub const DEFAULT_MAX_REFRESH_INTERVAL: Duration = Duration::from_secs(24 * 3600);
pub const DEFAULT_MIN_REFETCH_INTERVAL: Duration = Duration::from_secs(30);
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(5);
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// A compiled key source.
pub(super) struct CompiledKeys {
    pub(super) keys: jwks::KeySet,
    pub(super) source: KeySource,
    pub(super) files: Vec<PathBuf>,
    /// What identifies the source for change detection (key set bytes, or the settings).
    pub(super) bytes: Vec<u8>,
}

impl Compiler<'_> {
    /// The provider's key source: a static key set (parsed now) or a remote one (empty
    /// until fetched), the extra files read, and the bytes that fingerprint it.
    pub(super) fn keys(
        &self,
        field: &str,
        p: &ProviderFile,
        issuers: &[String],
        algorithms: AlgorithmSet,
        limits: &Limits,
    ) -> Result<CompiledKeys, ConfigError> {
        let field = format!("{field}.jwks");
        let Some(j) = &p.jwks else {
            // A provider that only introspects (checked by the caller): no key to trust.
            return Ok(CompiledKeys {
                keys: jwks::KeySet::default(),
                source: KeySource::Static,
                files: Vec::new(),
                bytes: Vec::new(),
            });
        };
        let location = match (&j.file, &j.inline, &j.uri, j.discovery.unwrap_or(false)) {
            (Some(_), None, None, false) | (None, Some(_), None, false) => {
                return self.static_keys(&field, p, j, algorithms, limits);
            }
            (None, None, Some(uri), false) => {
                JwksLocation::Uri(self.url(&format!("{field}.uri"), uri, j.allow_insecure_http)?)
            }
            (None, None, None, true) => JwksLocation::Discovery {
                issuer: self.discovery_issuer(&field, issuers, j.allow_insecure_http)?,
            },
            _ => {
                return Err(self.invalid(
                    field,
                    "expected exactly one key source: `file`, `inline`, `uri` or `discovery: true`",
                ));
            }
        };
        let duration = |name: &str,
                        value: Option<config::Duration>,
                        default: Duration|
         -> Result<Duration, ConfigError> {
            match value {
                None => Ok(default),
                Some(d) if !d.get().is_zero() => Ok(d.get()),
                Some(d) => Err(self.invalid(
                    format!("{field}.{name}"),
                    format!("expected a positive duration such as 30s or 5m; got \"{d}\""),
                )),
            }
        };
        let mut files = Vec::new();
        let ca_pem = match j.tls.as_ref().and_then(|t| t.ca_file.as_ref()) {
            None => None,
            Some(ca) => {
                let (path, pem) = self.ca_bundle(&format!("{field}.tls.ca_file"), ca)?;
                files.push(path);
                Some(pem)
            }
        };
        let source = RemoteSource {
            location,
            refresh_interval: duration(
                "refresh_interval",
                j.refresh_interval,
                DEFAULT_REFRESH_INTERVAL,
            )?,
            min_refresh_interval: duration(
                "min_refresh_interval",
                j.min_refresh_interval,
                DEFAULT_MIN_REFRESH_INTERVAL,
            )?,
            max_refresh_interval: duration(
                "max_refresh_interval",
                j.max_refresh_interval,
                DEFAULT_MAX_REFRESH_INTERVAL,
            )?,
            min_refetch_interval: duration(
                "min_refetch_interval",
                j.min_refetch_interval,
                DEFAULT_MIN_REFETCH_INTERVAL,
            )?,
            timeout: duration("timeout", j.timeout, DEFAULT_FETCH_TIMEOUT)?,
            connect_timeout: duration(
                "connect_timeout",
                j.connect_timeout,
                DEFAULT_CONNECT_TIMEOUT,
            )?,
            allow_insecure_http: j.allow_insecure_http,
            ca_pem,
            max_bytes: limits.max_jwks_bytes,
        };
        if source.min_refresh_interval > source.max_refresh_interval {
            return Err(self.invalid(
                format!("{field}.min_refresh_interval"),
                "must not exceed max_refresh_interval",
            ));
        }
        let bytes = format!("{source:?}").into_bytes();
        Ok(CompiledKeys {
            keys: jwks::KeySet::default(),
            source: KeySource::Remote(Arc::new(source)),
            files,
            bytes,
        })
    }

    fn static_keys(
        &self,
        field: &str,
        p: &ProviderFile,
        j: &JwksFile,
        algorithms: AlgorithmSet,
        limits: &Limits,
    ) -> Result<CompiledKeys, ConfigError> {
        let remote_only = [
            ("refresh_interval", j.refresh_interval.is_some()),
            ("min_refresh_interval", j.min_refresh_interval.is_some()),
            ("max_refresh_interval", j.max_refresh_interval.is_some()),
            ("min_refetch_interval", j.min_refetch_interval.is_some()),
            ("timeout", j.timeout.is_some()),
            ("connect_timeout", j.connect_timeout.is_some()),
            ("allow_insecure_http", j.allow_insecure_http),
            ("tls", j.tls.is_some()),
        ];
        if let Some((name, _)) = remote_only.iter().find(|(_, set)| *set) {
            return Err(self.invalid(
                format!("{field}.{name}"),
                "applies only to `uri` or `discovery` key sources",
            ));
        }
        let (source, file, bytes) = match (&j.file, &j.inline) {
            (Some(file), _) => {
                let source = format!("{field}.file");
                let (path, bytes) = self.read_input(&source, file)?;
                (source, Some(path), bytes)
            }
            (None, Some(InlineJwks::Text(text))) => {
                (format!("{field}.inline"), None, text.clone().into_bytes())
            }
            (None, Some(InlineJwks::Document(doc))) => (
                format!("{field}.inline"),
                None,
                doc.to_string().into_bytes(),
            ),
            (None, None) => return Err(self.invalid(field, "expected exactly one key source")),
        };
        let set = jwks::parse(&bytes, algorithms, limits.max_jwks_bytes)
            .map_err(|e| self.invalid(&source, e.to_string()))?;
        for skipped in set.skipped() {
            tracing::warn!(provider = %p.name, index = skipped.index, kid = ?skipped.kid, why = %skipped.why, "JWK skipped");
        }
        if set.is_empty() {
            return Err(self.invalid(source, jwks::no_usable_key_message(&set)));
        }
        Ok(CompiledKeys {
            keys: set,
            source: KeySource::Static,
            files: file.into_iter().collect(),
            bytes,
        })
    }

    /// A PEM bundle of extra trusted CA certificates, read and checked to hold at least one.
    pub(super) fn ca_bundle(
        &self,
        field: &str,
        file: &std::path::Path,
    ) -> Result<(PathBuf, Vec<u8>), ConfigError> {
        let (path, pem) = self.read_input(field, file)?;
        if reqwest::Certificate::from_pem_bundle(&pem).map_or(true, |certs| certs.is_empty()) {
            return Err(self.invalid(
                field,
                format!("{} holds no PEM certificate", path.display()),
            ));
        }
        Ok((path, pem))
    }

    /// The issuer whose metadata `{field}.discovery` reads: the only one, fetchable.
    pub(super) fn discovery_issuer(
        &self,
        field: &str,
        issuers: &[String],
        allow_http: bool,
    ) -> Result<String, ConfigError> {
        let field = format!("{field}.discovery");
        match issuers {
            [issuer] => self.url(&field, issuer, allow_http),
            _ => Err(self.invalid(field, "discovery needs exactly one issuer")),
        }
    }

    /// A URL for fetching: absolute, `https` (or `http` with `allow_insecure_http`).
    pub(super) fn url(
        &self,
        field: &str,
        text: &str,
        allow_http: bool,
    ) -> Result<String, ConfigError> {
        let url = reqwest::Url::parse(text)
            .map_err(|e| self.invalid(field, format!("{text:?} is not a URL: {e}")))?;
        match url.scheme() {
            "https" => Ok(text.to_owned()),
            "http" if allow_http => Ok(text.to_owned()),
            "http" => Err(self.invalid(field, format!("{text:?} is plain http; use https, or set allow_insecure_http: true (tests on loopback only)"))),
            other => Err(self.invalid(field, format!("{text:?}: scheme {other:?} is not https"))),
        }
    }
}
