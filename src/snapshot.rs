//! The compiled configuration: immutable, fully checked, shared by every request.
//!
//! Only `config::compile` builds a [`Snapshot`] from a file; nothing downstream re-checks
//! what compilation guaranteed (no `iss` matched by two issuers or issuer templates, keys
//! usable, header names valid, challenge values quotable).
//!
//! Requests read it, and the config watcher and key refreshers replace it, through one
//! [`SharedSnapshot`] (see `shared`).

use crate::algorithm::AlgorithmSet;
use crate::jwks::KeySet;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

mod client_certificates;
mod dpop;
mod introspection;
mod proxy;
pub mod resource;
pub mod scopes;
mod shared;
mod tenants;
pub use client_certificates::{ClientCertificates, MtlsBinding};
pub use dpop::{
    DEFAULT_DPOP_MAX_AGE, DEFAULT_NONCE_LIFETIME, DEFAULT_REPLAY_ENTRIES, Dpop, DpopMode,
};
pub use introspection::{
    AssertionKey, ClientAuth, Endpoint, IntrospectTokens, Introspection, Secret,
};
pub use proxy::{Credentials, Proxy, ProxyServer};
pub use resource::{Resource, ResourceId};
pub use scopes::ScopeImplications;
pub use shared::SharedSnapshot;
pub use tenants::{
    IssuerTemplate, MAX_TENANT_CHARS, NearTenant, TENANT_CHARSET, Tenancy, TenantMatch, Tenants,
    common_issuer, is_tenant,
};

/// Where a provider's keys come from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// Inline or a file: the keys are part of the compiled config.
    Static,
    /// Fetched over HTTP(S) by the background refresher and published into the snapshot.
    Remote(Arc<RemoteSource>),
}

/// Where to fetch a JWK Set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksLocation {
    Uri(String),
    /// RFC 8414 / OpenID Connect discovery from this issuer.
    Discovery {
        issuer: String,
    },
}

/// A remote key set and how to fetch it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteSource {
    pub location: JwksLocation,
    /// Refresh period when the response has no `Cache-Control: max-age`.
    pub refresh_interval: Duration,
    /// Bounds applied to `max-age`.
    pub min_refresh_interval: Duration,
    pub max_refresh_interval: Duration,
    /// At most one refetch for an unknown `kid` per this interval.
    pub min_refetch_interval: Duration,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub allow_insecure_http: bool,
    /// Extra trusted CA certificates (PEM), from `tls.ca_file`.
    pub ca_pem: Option<Vec<u8>>,
    pub max_bytes: usize,
}

/// A trusted token issuer and how its tokens are checked.
#[derive(Debug, Clone)]
pub struct Provider {
    /// Unique name, used in logs, metrics and `explain`.
    pub name: String,
    /// Exact `iss` values (case-sensitive, no normalisation); empty for a provider that
    /// only has issuer templates, or introspects opaque tokens and validates no JWT.
    pub issuers: Vec<String>,
    /// Issuer templates with a tenant placeholder (`issuer_template`) and their tenants.
    pub tenancy: Option<Tenancy>,
    /// A token's audience must contain at least one of these.
    pub audiences: BTreeSet<String>,
    /// Claims that carry the audience, checked in order (default `[aud]`).
    pub audience_claims: Vec<String>,
    /// Verification keys, each bound to its algorithms. Empty for a remote source until the
    /// first successful fetch.
    pub keys: Arc<KeySet>,
    pub key_source: KeySource,
    /// Algorithms accepted in a token's `alg` header.
    pub algorithms: AlgorithmSet,
    /// Tolerance applied to `exp`, `nbf` and `iat`.
    pub clock_skew: Duration,
    /// Claims that must be present (default `[exp]`).
    pub required_claims: Vec<String>,
    /// Allowed `typ` values, normalised (lowercase, no `application/`); `None` = the default
    /// set {absent, `jwt`, `at+jwt`}.
    pub token_types: Option<Vec<String>>,
    /// RFC 7662 introspection, when configured.
    pub introspection: Option<Arc<Introspection>>,
    /// RFC 8705: what a token's `cnf.x5t#S256` means (`mtls_binding`).
    pub mtls_binding: MtlsBinding,
    /// How its outbound requests reach the IdP (`proxy:`).
    pub proxy: Proxy,
    /// RFC 9449 DPoP: sender-constrained tokens and their proofs.
    pub dpop: Dpop,
    /// Files this provider was compiled from besides the config (`jwks.file`,
    /// `tls.ca_file`, `proxy.credentials_file`), watched for changes.
    pub files: Vec<PathBuf>,
    /// SHA-256 over this provider's config entry, key set bytes and proxy credentials: equal
    /// fingerprints mean an unchanged provider (a changed one gets a new refresher, and a
    /// reload reports it).
    pub fingerprint: [u8; 32],
}

impl Provider {
    /// The kids of its keys in key-set order, `absent` standing for a key without one.
    pub fn kids<'a>(&'a self, absent: &'a str) -> Vec<&'a str> {
        self.keys
            .keys()
            .iter()
            .map(|k| k.kid().unwrap_or(absent))
            .collect()
    }
}

/// Which providers a requirement accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderSet {
    Any,
    /// Indexes into [`Snapshot::providers`].
    Only(Vec<usize>),
}

impl ProviderSet {
    pub fn allows(&self, index: usize) -> bool {
        match self {
            ProviderSet::Any => true,
            ProviderSet::Only(list) => list.contains(&index),
        }
    }
}

/// What a request must present, and what an allowed one carries upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub providers: ProviderSet,
    /// Every one must be granted (`scope` string or `scp` array).
    pub scopes: Vec<String>,
    /// claim → required value (string equality, or membership in an array claim).
    pub claims: Vec<(String, String)>,
    /// No token → allow; a present token is still validated.
    pub allow_anonymous: bool,
    /// An `OPTIONS` with `Origin` and `Access-Control-Request-Method` is allowed without a
    /// token.
    pub cors_preflight: bool,
    /// Identity headers and `Authorization` stripping for this requirement.
    pub upstream: Upstream,
    /// Replaces the provider's audiences for this requirement.
    pub audiences: Option<BTreeSet<String>>,
    /// RFC 9470 step-up: what the token's authentication must have been.
    pub step_up: StepUp,
    /// RFC 9728 protected resource metadata: the document served for this requirement,
    /// and what its challenges' `resource_metadata` names.
    pub resource: Option<Resource>,
}

/// RFC 9470 step-up requirements of a route; empty: none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepUp {
    /// The token's `acr` must be one of these (empty: not checked).
    pub acr_values: Vec<String>,
    /// The token's `auth_time` must be at most this old (with the provider's skew).
    pub max_age: Option<Duration>,
}

impl StepUp {
    pub fn is_empty(&self) -> bool {
        self.acr_values.is_empty() && self.max_age.is_none()
    }
}

/// How a route's path is matched (against the canonical path, see `route`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathMatch {
    Any,
    Exact(String),
    /// Segment-aware prefix.
    Prefix(String),
    /// `*` within a segment, `**` across segments (compiled, linear-time).
    Glob(crate::route::Glob),
}

/// A route's match; empty `methods`/`hosts` match any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch {
    pub path: PathMatch,
    /// Uppercase method names.
    pub methods: Vec<String>,
    /// Lowercase host names without a trailing dot (the request's port, empty port and
    /// trailing dot are ignored), or `*.domain` wildcards.
    pub hosts: Vec<String>,
    /// Paths compared with ASCII case folded (for upstreams that route that way).
    pub case_insensitive: bool,
}

/// A named and/or matched requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Selectable by Envoy's `context_extensions: { route: NAME }`.
    pub name: Option<String>,
    /// `None`: selectable by name only.
    pub matcher: Option<RouteMatch>,
    pub requirement: Requirement,
}

/// Values carried in every `WWW-Authenticate` challenge (already checked to be quotable).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Challenge {
    pub realm: Option<String>,
    /// RFC 9728 protected resource metadata URL, for requirements without a `resource`
    /// of their own.
    pub resource_metadata: Option<String>,
}

/// What `CheckResponse.dynamic_metadata` carries (Envoy files it under
/// `envoy.filters.http.ext_authz` for later filters and access logs). Each field costs Envoy
/// about 0.4 µs per request, and any metadata about 0.8 µs more (BENCHMARKS.md), so the
/// default is small.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataConfig {
    pub enabled: bool,
    /// Claims copied on allow, beside `provider` (and `route` when named).
    pub claims: Vec<String>,
}

impl Default for MetadataConfig {
    fn default() -> MetadataConfig {
        MetadataConfig {
            enabled: true,
            claims: vec!["sub".to_owned()],
        }
    }
}

/// A claim copied into a request header for the upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimHeader {
    pub claim: String,
    /// Lowercase header name.
    pub header: String,
}

/// What an allowed request carries to the upstream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Upstream {
    pub claim_headers: Vec<ClaimHeader>,
    pub strip_authorization: bool,
}

/// Input size limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_token_bytes: usize,
    pub max_json_depth: usize,
    pub max_jwks_bytes: usize,
}

/// One complete, valid configuration.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub providers: Vec<Provider>,
    /// Literal `iss` → index into `providers` (unique across providers; templates live in
    /// each provider's `tenancy`, see [`Snapshot::issuer_owner`]).
    pub by_issuer: HashMap<String, usize>,
    /// First match wins.
    pub routes: Vec<Route>,
    /// Whether every request's path must be canonical: some route matches paths, or a
    /// named route lets requests through without a token (Envoy picked it by its own path
    /// matching, and the upstream must not resolve `/public/../admin` behind it).
    pub checks_paths: bool,
    /// Whether some route matches hosts: then a `:authority` that is not a plain host name
    /// (or `[v6]`) with an optional numeric port is refused rather than left to miss.
    pub checks_hosts: bool,
    pub default_requirement: Requirement,
    /// The requirements with a `resource`, in config order (the first whose document
    /// fits a request serves it): `Some(index)` into `routes`, `None` for the default.
    pub documents: Vec<Option<usize>>,
    pub challenge: Challenge,
    /// Every identity header name configured anywhere: all are removed from a request
    /// before the ones for its route are set, so a client can never supply one.
    pub identity_headers: Vec<String>,
    pub metadata: MetadataConfig,
    pub limits: Limits,
    /// How long readiness waits for remote key sets; `None`: until they arrive.
    pub startup_grace: Option<Duration>,
    /// `scope_implies`: the scopes each scope grants beyond itself.
    pub scope_implies: ScopeImplications,
    /// RFC 8705: the header trusted proxies forward client certificates in, if any.
    pub client_certificates: Option<ClientCertificates>,
    /// The config file this snapshot was compiled from.
    pub source: PathBuf,
    /// SHA-256 over every input (config text and key set files): a reload whose digest is
    /// unchanged is not a reload.
    pub digest: [u8; 32],
}

impl Snapshot {
    /// The provider trusted for `iss`, if `allowed` admits it. For an `iss` trusted through
    /// an issuer template, the token's tenant claim is still to be checked (see
    /// [`Snapshot::issuer_owner`]).
    pub fn provider_for_issuer(&self, iss: &str, allowed: &ProviderSet) -> Option<&Provider> {
        let (index, _) = self.issuer_owner(iss)?;
        // Indexes come from `providers` (built together by compile): in bounds.
        allowed.allows(index).then(|| &self.providers[index])
    }

    /// Whether every provider holds a usable key set (remote ones fetched at least once).
    pub fn all_keys_loaded(&self) -> bool {
        // A static set is never empty, except for a provider that validates no JWT
        // locally (it only introspects): it has no keys to wait for.
        self.providers
            .iter()
            .all(|p| !matches!(p.key_source, KeySource::Remote(_)) || !p.keys.is_empty())
    }

    /// The files whose changes can change this snapshot: the config and every JWKS file.
    pub fn input_files(&self) -> Vec<&Path> {
        std::iter::once(self.source.as_path())
            .chain(
                self.providers
                    .iter()
                    .flat_map(|p| p.files.iter().map(PathBuf::as_path)),
            )
            .collect()
    }
}
