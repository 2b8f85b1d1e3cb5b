//! From the file mirror to a [`Snapshot`]: every default, bound and cross-check lives here,
//! so a snapshot that exists is valid.

use super::error::ConfigError;
use super::file::{ConfigFile, DynamicMetadataFile, InlineJwks, ProviderFile};
use crate::algorithm::{Algorithm, AlgorithmSet};
use crate::jwks;
use crate::snapshot::{
    Challenge, JwksLocation, KeySource, Limits, MetadataConfig, Provider, RemoteSource, Snapshot,
    Upstream,
};
use crate::token::json::MAX_SUPPORTED_DEPTH;
use crate::token::verify::normalize_type;
use aws_lc_rs::digest::{Context, SHA256};
use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Metadata keys we set ourselves; no claim may take one.
pub const RESERVED_METADATA_KEYS: [&str; 4] = ["provider", "route", "reason", "anonymous"];
pub const DEFAULT_CLOCK_SKEW: Duration = Duration::from_secs(60);
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(3600);
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 32 * 1024;
pub const DEFAULT_MAX_JSON_DEPTH: usize = 64;
pub const DEFAULT_MAX_JWKS_BYTES: usize = 64 * 1024;
pub const DEFAULT_REQUIRED_CLAIMS: [&str; 1] = ["exp"];
pub const DEFAULT_AUDIENCE_CLAIMS: [&str; 1] = ["aud"];
pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(300);
pub const DEFAULT_MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(60);
pub const DEFAULT_MAX_REFRESH_INTERVAL: Duration = Duration::from_secs(24 * 3600);
pub const DEFAULT_MIN_REFETCH_INTERVAL: Duration = Duration::from_secs(30);
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(5);
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// A compiled key source.
struct CompiledKeys {
    keys: jwks::KeySet,
    source: KeySource,
    files: Vec<PathBuf>,
    /// What identifies the source for change detection (key set bytes, or the settings).
    bytes: Vec<u8>,
}

/// Reads and compiles the configuration file at `path`.
pub fn load(path: &Path) -> Result<Snapshot, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        file: path.to_owned(),
        source,
    })?;
    compile_str(&text, path)
}

/// Compiles configuration text; `path` names the file in errors and anchors relative paths.
pub fn compile_str(text: &str, path: &Path) -> Result<Snapshot, ConfigError> {
    let file: ConfigFile = serde_saphyr::from_str(text).map_err(|e| ConfigError::Syntax {
        file: path.to_owned(),
        message: e.to_string(),
    })?;
    let compiler = Compiler {
        path,
        digest: RefCell::new(Context::new(&SHA256)),
    };
    compiler.digest.borrow_mut().update(text.as_bytes());
    compiler.compile(file)
}

pub(super) struct Compiler<'a> {
    path: &'a Path,
    /// Every input read, in order: the config text, then each key set file's bytes.
    digest: RefCell<Context>,
}

fn finish(context: Context) -> [u8; 32] {
    let mut out = [0; 32];
    out.copy_from_slice(context.finish().as_ref());
    out
}

impl Compiler<'_> {
    pub(super) fn invalid(
        &self,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> ConfigError {
        ConfigError::Invalid {
            file: self.path.to_owned(),
            field: field.into(),
            message: message.into(),
        }
    }

    fn compile(&self, file: ConfigFile) -> Result<Snapshot, ConfigError> {
        let limits = self.limits(&file)?;
        if file.providers.is_empty() {
            return Err(self.invalid("providers", "at least one provider is required"));
        }
        let mut providers = Vec::with_capacity(file.providers.len());
        let mut by_issuer = HashMap::new();
        for (i, p) in file.providers.iter().enumerate() {
            let field = format!("providers[{i}]");
            let provider = self.provider(&field, p, &limits)?;
            if let Some(other) = providers
                .iter()
                .position(|o: &Provider| o.name == provider.name)
            {
                return Err(self.invalid(
                    format!("{field}.name"),
                    format!(
                        "{:?} is already the name of providers[{other}]",
                        provider.name
                    ),
                ));
            }
            for iss in &provider.issuers {
                if let Some(other) = by_issuer.insert(iss.clone(), i) {
                    return Err(self.invalid(format!("{field}.issuers"), format!("issuer {iss:?} is already trusted by providers[{other}]; each issuer belongs to one provider")));
                }
            }
            providers.push(provider);
        }
        let challenge = Challenge {
            realm: self.quotable("challenge.realm", file.challenge.realm)?,
            resource_metadata: self.quotable(
                "challenge.resource_metadata",
                file.challenge.resource_metadata,
            )?,
        };
        let startup_grace = match &file.startup_grace {
            None => None,
            Some(text) => Some(parse_duration(text).ok_or_else(|| {
                self.invalid(
                    "startup_grace",
                    format!("expected a duration such as 30s; got {text:?}"),
                )
            })?),
        };
        let metadata = self.metadata(&file.dynamic_metadata)?;
        let global = self.upstream("upstream", Some(&file.upstream), &Upstream::default())?;
        let default = file.default.unwrap_or_default();
        if default.name.is_some() || default.matches.is_some() {
            return Err(self.invalid(
                "default",
                "the default requirement has no `name` or `match`",
            ));
        }
        let default_requirement = self.requirement("default", &default, &providers, &global)?;
        let routes = self.routes(&file.routes, &providers, &global, &file.matching)?;
        let checks_paths = routes.iter().any(|r| {
            r.matcher.is_some() || (r.requirement.allow_anonymous || r.requirement.cors_preflight)
        });
        let mut identity_headers: Vec<String> = std::iter::once(&default_requirement)
            .chain(routes.iter().map(|r| &r.requirement))
            .flat_map(|r| r.upstream.claim_headers.iter().map(|c| c.header.clone()))
            .collect();
        identity_headers.sort();
        identity_headers.dedup();
        Ok(Snapshot {
            providers,
            by_issuer,
            routes,
            checks_paths,
            default_requirement,
            challenge,
            identity_headers,
            metadata,
            limits,
            startup_grace,
            source: self.path.to_owned(),
            digest: finish(self.digest.replace(Context::new(&SHA256))),
        })
    }

    fn metadata(&self, file: &DynamicMetadataFile) -> Result<MetadataConfig, ConfigError> {
        let default = MetadataConfig::default();
        let claims = file.claims.clone().unwrap_or(default.claims);
        for (i, claim) in claims.iter().enumerate() {
            let field = format!("dynamic_metadata.claims[{i}]");
            if claim.is_empty() {
                return Err(self.invalid(field, "a claim name is not empty"));
            }
            if RESERVED_METADATA_KEYS.contains(&claim.as_str()) {
                return Err(self.invalid(
                    field,
                    format!("{claim:?} is a key of our own ({RESERVED_METADATA_KEYS:?})"),
                ));
            }
            if claims[..i].contains(claim) {
                return Err(self.invalid(field, format!("{claim:?} is listed twice")));
            }
        }
        Ok(MetadataConfig {
            enabled: file.enabled.unwrap_or(default.enabled),
            claims,
        })
    }

    fn limits(&self, file: &ConfigFile) -> Result<Limits, ConfigError> {
        let l = &file.limits;
        let limits = Limits {
            max_token_bytes: l.max_token_bytes.unwrap_or(DEFAULT_MAX_TOKEN_BYTES),
            max_json_depth: l.max_json_depth.unwrap_or(DEFAULT_MAX_JSON_DEPTH),
            max_jwks_bytes: l.max_jwks_bytes.unwrap_or(DEFAULT_MAX_JWKS_BYTES),
        };
        if !(256..=1024 * 1024).contains(&limits.max_token_bytes) {
            return Err(self.invalid("limits.max_token_bytes", "expected 256 to 1048576"));
        }
        if !(2..=MAX_SUPPORTED_DEPTH).contains(&limits.max_json_depth) {
            return Err(self.invalid(
                "limits.max_json_depth",
                format!("expected 2 to {MAX_SUPPORTED_DEPTH}"),
            ));
        }
        if !(1024..=16 * 1024 * 1024).contains(&limits.max_jwks_bytes) {
            return Err(self.invalid("limits.max_jwks_bytes", "expected 1024 to 16777216"));
        }
        Ok(limits)
    }

    fn provider(
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
        let issuers = match (&p.issuer, &p.issuers) {
            (Some(one), None) => vec![one.clone()],
            (None, Some(many)) if !many.is_empty() => many.clone(),
            (None, Some(_)) => {
                return Err(
                    self.invalid(format!("{field}.issuers"), "expected at least one issuer")
                );
            }
            _ => {
                return Err(self.invalid(
                    format!("{field}.issuer"),
                    "expected exactly one of `issuer` or `issuers`",
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
            Some(names) => names
                .iter()
                .enumerate()
                .map(|(j, name)| {
                    Algorithm::from_name(name).ok_or_else(|| {
                        self.invalid(
                            format!("{field}.algorithms[{j}]"),
                            unsupported_algorithm(name),
                        )
                    })
                })
                .collect::<Result<_, _>>()?,
        };
        let clock_skew = match &p.clock_skew {
            None => DEFAULT_CLOCK_SKEW,
            Some(text) => parse_duration(text)
                .filter(|d| *d <= MAX_CLOCK_SKEW)
                .ok_or_else(|| {
                    self.invalid(
                        format!("{field}.clock_skew"),
                        format!("expected a duration such as 30s or 5m, at most 1h; got {text:?}"),
                    )
                })?,
        };
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
        let compiled = self.keys(field, p, &issuers, algorithms, limits)?;
        let mut fingerprint = Context::new(&SHA256);
        fingerprint.update(format!("{p:?}").as_bytes());
        fingerprint.update(&compiled.bytes);
        Ok(Provider {
            name: p.name.clone(),
            issuers,
            audiences: p.audiences.iter().cloned().collect::<BTreeSet<_>>(),
            audience_claims,
            keys: Arc::new(compiled.keys),
            key_source: compiled.source,
            algorithms,
            clock_skew,
            required_claims,
            token_types,
            files: compiled.files,
            fingerprint: finish(fingerprint),
        })
    }

    /// The provider's key source: a static key set (parsed now) or a remote one (empty
    /// until fetched), the extra files read, and the bytes that fingerprint it.
    fn keys(
        &self,
        field: &str,
        p: &ProviderFile,
        issuers: &[String],
        algorithms: AlgorithmSet,
        limits: &Limits,
    ) -> Result<CompiledKeys, ConfigError> {
        let field = format!("{field}.jwks");
        let j = &p.jwks;
        let location = match (&j.file, &j.inline, &j.uri, j.discovery.unwrap_or(false)) {
            (Some(_), None, None, false) | (None, Some(_), None, false) => {
                return self.static_keys(&field, p, algorithms, limits);
            }
            (None, None, Some(uri), false) => {
                JwksLocation::Uri(self.url(&format!("{field}.uri"), uri, j.allow_insecure_http)?)
            }
            (None, None, None, true) => match issuers {
                [issuer] => {
                    self.url(&format!("{field}.discovery"), issuer, j.allow_insecure_http)?;
                    JwksLocation::Discovery {
                        issuer: issuer.clone(),
                    }
                }
                _ => {
                    return Err(self.invalid(
                        format!("{field}.discovery"),
                        "discovery needs exactly one issuer",
                    ));
                }
            },
            _ => {
                return Err(self.invalid(
                    field,
                    "expected exactly one key source: `file`, `inline`, `uri` or `discovery: true`",
                ));
            }
        };
        let duration = |name: &str,
                        value: &Option<String>,
                        default: Duration|
         -> Result<Duration, ConfigError> {
            match value {
                None => Ok(default),
                Some(text) => parse_duration(text)
                    .filter(|d| !d.is_zero())
                    .ok_or_else(|| {
                        self.invalid(
                            format!("{field}.{name}"),
                            format!("expected a positive duration such as 30s or 5m; got {text:?}"),
                        )
                    }),
            }
        };
        let mut files = Vec::new();
        let ca_pem = match j.tls.as_ref().and_then(|t| t.ca_file.as_ref()) {
            None => None,
            Some(ca) => {
                let path = self.resolve(ca);
                let pem = std::fs::read(&path).map_err(|e| {
                    self.invalid(
                        format!("{field}.tls.ca_file"),
                        format!("cannot read {}: {e}", path.display()),
                    )
                })?;
                if reqwest::Certificate::from_pem_bundle(&pem)
                    .map_or(true, |certs| certs.is_empty())
                {
                    return Err(self.invalid(
                        format!("{field}.tls.ca_file"),
                        format!("{} holds no PEM certificate", path.display()),
                    ));
                }
                self.digest.borrow_mut().update(&pem);
                files.push(path);
                Some(pem)
            }
        };
        let source = RemoteSource {
            location,
            refresh_interval: duration(
                "refresh_interval",
                &j.refresh_interval,
                DEFAULT_REFRESH_INTERVAL,
            )?,
            min_refresh_interval: duration(
                "min_refresh_interval",
                &j.min_refresh_interval,
                DEFAULT_MIN_REFRESH_INTERVAL,
            )?,
            max_refresh_interval: duration(
                "max_refresh_interval",
                &j.max_refresh_interval,
                DEFAULT_MAX_REFRESH_INTERVAL,
            )?,
            min_refetch_interval: duration(
                "min_refetch_interval",
                &j.min_refetch_interval,
                DEFAULT_MIN_REFETCH_INTERVAL,
            )?,
            timeout: duration("timeout", &j.timeout, DEFAULT_FETCH_TIMEOUT)?,
            connect_timeout: duration(
                "connect_timeout",
                &j.connect_timeout,
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
        algorithms: AlgorithmSet,
        limits: &Limits,
    ) -> Result<CompiledKeys, ConfigError> {
        let j = &p.jwks;
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
                let path = self.resolve(file);
                let bytes = std::fs::read(&path).map_err(|e| {
                    self.invalid(
                        format!("{field}.file"),
                        format!("cannot read {}: {e}", path.display()),
                    )
                })?;
                self.digest.borrow_mut().update(&bytes);
                (format!("{field}.file"), Some(path), bytes)
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

    /// A URL for fetching: absolute, `https` (or `http` with `allow_insecure_http`).
    fn url(&self, field: &str, text: &str, allow_http: bool) -> Result<String, ConfigError> {
        let url = reqwest::Url::parse(text)
            .map_err(|e| self.invalid(field, format!("{text:?} is not a URL: {e}")))?;
        match url.scheme() {
            "https" => Ok(text.to_owned()),
            "http" if allow_http => Ok(text.to_owned()),
            "http" => Err(self.invalid(field, format!("{text:?} is plain http; use https, or set allow_insecure_http: true (tests on loopback only)"))),
            other => Err(self.invalid(field, format!("{text:?}: scheme {other:?} is not https"))),
        }
    }

    /// A value placed inside a quoted-string of the challenge: printable ASCII without `"`
    /// or `\`, so the header can never be broken or injected into.
    fn quotable(&self, field: &str, value: Option<String>) -> Result<Option<String>, ConfigError> {
        match value {
            Some(v)
                if v.is_empty()
                    || !v
                        .bytes()
                        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\') =>
            {
                Err(self.invalid(
                    field,
                    "expected non-empty printable ASCII without '\"' or '\\'",
                ))
            }
            other => Ok(other),
        }
    }

    fn resolve(&self, file: &Path) -> PathBuf {
        match self.path.parent() {
            Some(dir) if file.is_relative() => dir.join(file),
            _ => file.to_owned(),
        }
    }
}

fn non_empty_list(list: Option<&Vec<String>>, default: &[&str]) -> Option<Vec<String>> {
    match list {
        None => Some(default.iter().map(|s| (*s).to_owned()).collect()),
        Some(list) if list.is_empty() || list.iter().any(String::is_empty) => None,
        Some(list) => Some(list.clone()),
    }
}

fn unsupported_algorithm(name: &str) -> String {
    let supported: Vec<_> = Algorithm::ALL.iter().map(|a| a.name()).collect();
    let why = if name.eq_ignore_ascii_case("none") {
        "unsigned tokens are never accepted; "
    } else if name.to_ascii_uppercase().starts_with("HS") {
        "HMAC needs a shared secret and is never accepted; "
    } else {
        ""
    };
    format!(
        "{name:?} is not supported; {why}expected one of {}",
        supported.join(", ")
    )
}

pub(super) fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// `30s`, `5m`, `1h`, `250ms`, `0s`: a whole number and one unit.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = text.split_at(digits);
    let n: u64 = number.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" => n.checked_mul(60).map(Duration::from_secs),
        "h" => n.checked_mul(3600).map(Duration::from_secs),
        _ => None,
    }
}
