//! (Just over 400 lines: one serde type per config block, kept together so the file reads
//! as the schema.)
//!
//! The YAML file as written: a plain serde mirror, strict (`deny_unknown_fields`), with no
//! defaults or cross-checks — those belong to `compile`. Values with a fixed syntax
//! (durations, keywords, algorithm names) are typed here, so a bad one fails while reading,
//! at its own field path.

use super::duration::Duration;
use crate::algorithm::Algorithm;
use schemars::JsonSchema;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::path::PathBuf;

#[derive(Debug, Deserialize, JsonSchema)]
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
    /// scope → the scopes it implies (`*`: every scope), applied to routes' `scopes`.
    pub scope_implies: Option<BTreeMap<String, Vec<String>>>,
    /// RFC 8705: client certificates forwarded by trusted TLS-terminating proxies.
    pub client_certificates: Option<super::client_certificates::ClientCertificatesFile>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderFile {
    pub name: String,
    pub issuer: Option<String>,
    pub issuers: Option<Vec<String>>,
    /// An issuer with one `{claim}` placeholder for the tenant (multi-tenant IdPs).
    pub issuer_template: Option<String>,
    pub issuer_templates: Option<Vec<String>>,
    /// The tenants the templates admit: required with a template, never defaulted.
    pub tenants: Option<TenantsFile>,
    pub audiences: Vec<String>,
    pub audience_claims: Option<Vec<String>>,
    /// Required unless the provider only introspects (no issuer, or `tokens: all`).
    pub jwks: Option<JwksFile>,
    /// RFC 7662 token introspection.
    pub introspection: Option<IntrospectionFile>,
    pub algorithms: Option<Vec<Algorithm>>,
    pub clock_skew: Option<Duration>,
    pub required_claims: Option<Vec<String>>,
    pub token_types: Option<Vec<String>>,
    /// Absent: the proxy environment variables decide.
    pub proxy: Option<ProxyFile>,
    /// RFC 9449 DPoP: a mode, or a block (see `config::dpop`).
    pub dpop: Option<super::dpop::DpopEntry>,
    /// RFC 8705 certificate-bound tokens: `required`, `allowed` (default) or `off`.
    pub mtls_binding: Option<crate::snapshot::MtlsBinding>,
}

/// Exactly one source must be given.
#[derive(Debug, Deserialize, JsonSchema)]
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

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsFile {
    /// PEM bundle of extra trusted CA certificates (a private CA).
    pub ca_file: Option<PathBuf>,
}

/// `introspection:`: where and how to ask the provider whether a token is active.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IntrospectionFile {
    pub endpoint: Option<String>,
    /// Find `introspection_endpoint` in the issuer's metadata (RFC 8414 / OpenID).
    pub discovery: Option<bool>,
    pub client_id: Option<String>,
    /// Relative paths are resolved against the config file's directory.
    pub client_secret_file: Option<PathBuf>,
    pub client_auth: Option<ClientAuthFile>,
    /// The key that signs `private_key_jwt` client assertions.
    pub private_key: Option<PrivateKeyFile>,
    pub token_type_hint: Option<String>,
    pub tokens: Option<IntrospectTokens>,
    pub cache: Option<IntrospectionCacheFile>,
    pub timeout: Option<Duration>,
    pub connect_timeout: Option<Duration>,
    pub max_concurrent: Option<usize>,
    #[serde(default)]
    pub allow_insecure_http: bool,
    pub tls: Option<TlsFile>,
}

/// How we authenticate to the introspection endpoint (RFC 7662 §2.1 requires some).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuthFile {
    ClientSecretBasic,
    ClientSecretPost,
    PrivateKeyJwt,
    None,
}

/// `private_key`: an unencrypted PKCS#8 PEM and how to sign with it (RFC 7523).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PrivateKeyFile {
    /// Relative paths are resolved against the config file's directory.
    pub file: PathBuf,
    pub alg: Algorithm,
    /// The `kid` header, when the server's copy of our JWK Set has several keys.
    pub kid: Option<String>,
    /// The assertion's `aud`; default: the introspection endpoint.
    pub audience: Option<String>,
}

/// Which of a provider's tokens are introspected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum IntrospectTokens {
    /// Tokens that are not a compact JWS.
    #[default]
    Opaque,
    /// Also the JWTs whose `iss` selects this provider, instead of local validation.
    All,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IntrospectionCacheFile {
    pub max_ttl: Option<Duration>,
    pub negative_ttl: Option<Duration>,
    pub entries: Option<usize>,
}

/// `proxy:` of a provider: `none` (always direct), or the server its requests go through.
#[derive(Debug)]
pub enum ProxyFile {
    None,
    Server(ProxyServerFile),
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProxyServerFile {
    /// `http://HOST:PORT`, without userinfo (credentials go in `credentials_file`).
    pub url: String,
    /// One line `user:password` (basic auth); relative to the config's directory.
    pub credentials_file: Option<PathBuf>,
}

/// The word is not quoted back in the error: a URL written here may carry a password.
impl<'de> Deserialize<'de> for ProxyFile {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let shape = Shape::Map("a mapping with `url` (and optionally `credentials_file`)");
        let server = keyword_or(deserializer, "none", shape, |word| {
            if word.contains("://") {
                "expected `none` or a mapping: write `proxy: { url: ... }`".to_owned()
            } else {
                "expected `none` or a mapping with `url` (and optionally `credentials_file`)"
                    .to_owned()
            }
        })?;
        Ok(server.map_or(ProxyFile::None, ProxyFile::Server))
    }
}

/// `inline:` takes either a YAML/JSON mapping or a string holding JSON.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum InlineJwks {
    Text(String),
    Document(serde_json::Value),
}

/// A route (or, without `name` and `match`, the default requirement).
#[derive(Debug, Default, Deserialize, JsonSchema)]
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
    /// Replaces the provider's `audiences` for this route.
    pub audiences: Option<Vec<String>>,
    /// Step-up (RFC 9470): the token's `acr` must be one of these.
    pub acr_values: Option<Vec<String>>,
    /// Step-up (RFC 9470): the token's `auth_time` must be at most this old.
    pub max_age: Option<Duration>,
    /// RFC 9728 protected resource metadata, served for this route.
    pub resource: Option<ResourceFile>,
}

/// `resource:` of a route: the RFC 9728 document's members. Strict like every mapping here;
/// members this server does not model go under `extra`, so a misspelt name still fails.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResourceFile {
    /// The resource identifier (an `https` URL), or `auto`: built from each request.
    pub id: String,
    /// Default: the issuers of the providers the route accepts.
    pub authorization_servers: Option<Vec<String>>,
    /// Default: the route's `scopes`, when it has any.
    pub scopes_supported: Option<Vec<String>>,
    /// Default and only value: `[header]`.
    pub bearer_methods_supported: Option<Vec<String>>,
    pub resource_name: Option<String>,
    pub resource_documentation: Option<String>,
    pub resource_policy_uri: Option<String>,
    pub resource_tos_uri: Option<String>,
    /// `cache-control: public, max-age=…` of the document (default 1h).
    pub cache_max_age: Option<Duration>,
    /// Further members, copied into the document as given.
    pub extra: Option<BTreeMap<String, serde_json::Value>>,
}

/// Exactly one of `path`, `path_prefix`, `path_glob` (or none: any path).
#[derive(Debug, Default, Deserialize, JsonSchema)]
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

impl<'de> Deserialize<'de> for ProvidersFile {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let list = keyword_or(
            deserializer,
            "any",
            Shape::Seq("a list of provider names"),
            |word| format!("expected `any` or a list of provider names; got {word:?}"),
        )?;
        Ok(list.map_or(ProvidersFile::Any, ProvidersFile::List))
    }
}

/// `tenants`: `any`, or a list of tenant ids.
#[derive(Debug)]
pub enum TenantsFile {
    Any,
    List(Vec<String>),
}

impl<'de> Deserialize<'de> for TenantsFile {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let shape = Shape::Seq("a list of tenant ids");
        let wrong = |word: &str| format!("expected `any` or a list of tenant ids; got {word:?}");
        let list = keyword_or(deserializer, "any", shape, wrong)?;
        Ok(list.map_or(TenantsFile::Any, TenantsFile::List))
    }
}

/// The shape a [`keyword_or`] field takes when it is not the keyword, and its name in errors.
#[derive(Clone, Copy)]
enum Shape {
    Seq(&'static str),
    Map(&'static str),
}

/// A field that is one keyword (`None`) or a `T` of `shape` (`Some`): read by hand rather
/// than `untagged`, whose error ("did not match any variant") names neither, and so that a
/// mapping keeps its field paths (`providers[0].proxy.url`). Another word is refused with
/// `wrong(word)`.
fn keyword_or<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
    keyword: &'static str,
    shape: Shape,
    wrong: fn(&str) -> String,
) -> Result<Option<T>, D::Error> {
    struct KeywordOr<T>(&'static str, Shape, fn(&str) -> String, PhantomData<T>);
    impl<'de, T: Deserialize<'de>> Visitor<'de> for KeywordOr<T> {
        type Value = Option<T>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            let (Shape::Seq(other) | Shape::Map(other)) = self.1;
            write!(f, "`{}` or {other}", self.0)
        }
        fn visit_str<E: de::Error>(self, word: &str) -> Result<Option<T>, E> {
            if word == self.0 {
                Ok(None)
            } else {
                Err(E::custom((self.2)(word)))
            }
        }
        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Option<T>, A::Error> {
            if !matches!(self.1, Shape::Seq(_)) {
                return Err(de::Error::invalid_type(de::Unexpected::Seq, &self));
            }
            T::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(Some)
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Option<T>, A::Error> {
            if !matches!(self.1, Shape::Map(_)) {
                return Err(de::Error::invalid_type(de::Unexpected::Map, &self));
            }
            T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Some)
        }
    }
    deserializer.deserialize_any(KeywordOr(keyword, shape, wrong, PhantomData))
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

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChallengeFile {
    pub realm: Option<String>,
    pub resource_metadata: Option<String>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpstreamFile {
    /// claim name (or nested `a.b` path) → header name.
    pub claim_headers: Option<BTreeMap<String, String>>,
    pub strip_authorization: Option<bool>,
}

/// What `CheckResponse.dynamic_metadata` carries.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DynamicMetadataFile {
    pub enabled: Option<bool>,
    /// Claims (or nested `a.b` paths) copied on allow.
    pub claims: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitsFile {
    pub max_token_bytes: Option<usize>,
    pub max_json_depth: Option<usize>,
    pub max_jwks_bytes: Option<usize>,
}

/// `matching`: how every route's `match` compares paths unless the route says otherwise.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MatchingFile {
    #[serde(default)]
    pub case_insensitive: bool,
}
