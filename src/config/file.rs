//! The YAML file as written: a plain serde mirror, strict (`deny_unknown_fields`), with no
//! defaults or cross-checks — those belong to `compile`. Values with a fixed syntax
//! (durations, keywords, algorithm names) are typed here, so a bad one fails while reading,
//! at its own field path.

use super::duration::Duration;
use crate::algorithm::Algorithm;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub providers: Vec<ProviderFile>,
    /// First match wins; no match → `default`.
    #[serde(default)]
    pub routes: Vec<RouteFile>,
    /// The requirement for requests no route matches (no `name` or `match` here).
    #[serde(default)]
    pub default: Option<RouteFile>,
    #[serde(default)]
    pub challenge: ChallengeFile,
    #[serde(default)]
    pub upstream: UpstreamFile,
    #[serde(default)]
    pub limits: LimitsFile,
    #[serde(default)]
    pub dynamic_metadata: DynamicMetadataFile,
    #[serde(default)]
    pub matching: MatchingFile,
    /// How long `/readyz` may wait for remote key sets before reporting ready anyway.
    pub startup_grace: Option<Duration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderFile {
    pub name: String,
    pub issuer: Option<String>,
    pub issuers: Option<Vec<String>>,
    pub audiences: Vec<String>,
    pub audience_claims: Option<Vec<String>>,
    pub jwks: JwksFile,
    pub algorithms: Option<Vec<Algorithm>>,
    pub clock_skew: Option<Duration>,
    pub required_claims: Option<Vec<String>>,
    pub token_types: Option<Vec<String>>,
    /// Absent: the proxy environment variables decide.
    pub proxy: Option<ProxyFile>,
}

/// Exactly one source must be given.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwksFile {
    /// Relative paths are resolved against the config file's directory.
    pub file: Option<PathBuf>,
    pub inline: Option<InlineJwks>,
    pub uri: Option<String>,
    pub discovery: Option<bool>,
    /// Remote sources only: refresh timing, HTTP limits and TLS.
    pub refresh_interval: Option<Duration>,
    pub min_refresh_interval: Option<Duration>,
    pub max_refresh_interval: Option<Duration>,
    pub min_refetch_interval: Option<Duration>,
    pub timeout: Option<Duration>,
    pub connect_timeout: Option<Duration>,
    #[serde(default)]
    pub allow_insecure_http: bool,
    pub tls: Option<TlsFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFile {
    /// PEM bundle of extra trusted CA certificates (a private CA).
    pub ca_file: Option<PathBuf>,
}

/// `proxy:` of a provider: `none` (always direct), or the server its requests go through.
#[derive(Debug)]
pub enum ProxyFile {
    None,
    Server(ProxyServerFile),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyServerFile {
    /// `http://HOST:PORT`, without userinfo (credentials go in `credentials_file`).
    pub url: String,
    /// One line `user:password` (basic auth); relative to the config's directory.
    pub credentials_file: Option<PathBuf>,
}

/// By hand, like [`ProvidersFile`], so a wrong word is named and a mapping keeps its field
/// paths (`providers[0].proxy.url`).
impl<'de> Deserialize<'de> for ProxyFile {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ProxyVisitor;
        impl<'de> Visitor<'de> for ProxyVisitor {
            type Value = ProxyFile;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("`none` or a mapping with `url` (and optionally `credentials_file`)")
            }
            fn visit_str<E: de::Error>(self, word: &str) -> Result<ProxyFile, E> {
                // The word is not quoted back: a URL written here may carry a password.
                match word {
                    "none" => Ok(ProxyFile::None),
                    _ if word.contains("://") => Err(E::custom(
                        "expected `none` or a mapping: write `proxy: { url: ... }`",
                    )),
                    _ => Err(E::custom(
                        "expected `none` or a mapping with `url` (and optionally `credentials_file`)",
                    )),
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ProxyFile, A::Error> {
                ProxyServerFile::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(ProxyFile::Server)
            }
        }
        deserializer.deserialize_any(ProxyVisitor)
    }
}

/// `inline:` takes either a YAML/JSON mapping or a string holding JSON.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum InlineJwks {
    Text(String),
    Document(serde_json::Value),
}

/// A route (or, without `name` and `match`, the default requirement).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteFile {
    pub name: Option<String>,
    #[serde(rename = "match")]
    pub matches: Option<MatchFile>,
    pub providers: Option<ProvidersFile>,
    pub scopes: Option<Vec<String>>,
    /// claim → required value.
    pub claims: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub allow_anonymous: bool,
    #[serde(default)]
    pub cors_preflight: CorsPreflight,
    /// Overrides the top-level `upstream` for this route, field by field.
    pub upstream: Option<UpstreamFile>,
}

/// Exactly one of `path`, `path_prefix`, `path_glob` (or none: any path).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchFile {
    pub path: Option<String>,
    pub path_prefix: Option<String>,
    pub path_glob: Option<String>,
    pub methods: Option<Vec<String>>,
    pub hosts: Option<Vec<String>>,
    /// Overrides the top-level `matching.case_insensitive` for this route.
    pub case_insensitive: Option<bool>,
}

/// `any`, or a list of provider names.
#[derive(Debug)]
pub enum ProvidersFile {
    Any,
    List(Vec<String>),
}

/// By hand rather than `untagged`, whose error ("did not match any variant") names neither
/// the keyword nor the list.
impl<'de> Deserialize<'de> for ProvidersFile {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ProvidersVisitor;
        impl<'de> Visitor<'de> for ProvidersVisitor {
            type Value = ProvidersFile;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("`any` or a list of provider names")
            }
            fn visit_str<E: de::Error>(self, word: &str) -> Result<ProvidersFile, E> {
                match word {
                    "any" => Ok(ProvidersFile::Any),
                    _ => Err(E::custom(format!(
                        "expected `any` or a list of provider names; got {word:?}"
                    ))),
                }
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<ProvidersFile, A::Error> {
                Vec::deserialize(de::value::SeqAccessDeserializer::new(seq))
                    .map(ProvidersFile::List)
            }
        }
        deserializer.deserialize_any(ProvidersVisitor)
    }
}

/// `cors_preflight`: whether a CORS preflight (`OPTIONS` with `Origin` and
/// `Access-Control-Request-Method`) passes without a token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CorsPreflight {
    Allow,
    #[default]
    Deny,
}

/// By hand for the message: the derived one says "unknown variant".
impl<'de> Deserialize<'de> for CorsPreflight {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match String::deserialize(deserializer)?.as_str() {
            "allow" => Ok(CorsPreflight::Allow),
            "deny" => Ok(CorsPreflight::Deny),
            other => Err(de::Error::custom(format!(
                "expected `allow` or `deny`; got {other:?}"
            ))),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChallengeFile {
    pub realm: Option<String>,
    pub resource_metadata: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamFile {
    /// claim name (or nested `a.b` path) → header name.
    pub claim_headers: Option<BTreeMap<String, String>>,
    pub strip_authorization: Option<bool>,
}

/// What `CheckResponse.dynamic_metadata` carries.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DynamicMetadataFile {
    pub enabled: Option<bool>,
    /// Claims (or nested `a.b` paths) copied on allow.
    pub claims: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsFile {
    pub max_token_bytes: Option<usize>,
    pub max_json_depth: Option<usize>,
    pub max_jwks_bytes: Option<usize>,
}

/// `matching`: how every route's `match` compares paths unless the route says otherwise.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchingFile {
    #[serde(default)]
    pub case_insensitive: bool,
}
