//! The compiled configuration: immutable, fully checked, shared by every request.
//!
//! Only `config::compile` builds a [`Snapshot`] from a file; nothing downstream re-checks
//! what compilation guaranteed (issuers unique across providers, keys usable, header names
//! valid, challenge values quotable).

use crate::algorithm::AlgorithmSet;
use crate::jwks::KeySet;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// A trusted token issuer and how its tokens are checked.
#[derive(Debug)]
pub struct Provider {
    /// Unique name, used in logs, metrics and `explain`.
    pub name: String,
    /// Exact `iss` values (case-sensitive, no normalisation).
    pub issuers: Vec<String>,
    /// A token's audience must contain at least one of these.
    pub audiences: BTreeSet<String>,
    /// Claims that carry the audience, checked in order (default `[aud]`).
    pub audience_claims: Vec<String>,
    /// Verification keys, each bound to its algorithms.
    pub keys: Arc<KeySet>,
    /// Algorithms accepted in a token's `alg` header.
    pub algorithms: AlgorithmSet,
    /// Tolerance applied to `exp`, `nbf` and `iat`.
    pub clock_skew: Duration,
    /// Claims that must be present (default `[exp]`).
    pub required_claims: Vec<String>,
    /// Allowed `typ` values, normalised (lowercase, no `application/`); `None` = the default
    /// set {absent, `jwt`, `at+jwt`}.
    pub token_types: Option<Vec<String>>,
    /// The resolved `jwks.file`, when keys come from a file (watched for changes).
    pub jwks_file: Option<PathBuf>,
    /// SHA-256 over this provider's config entry and key set bytes: equal fingerprints mean
    /// an unchanged provider (used to report what a reload changed).
    pub fingerprint: [u8; 32],
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

/// What a request must present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub providers: ProviderSet,
}

/// Values carried in every `WWW-Authenticate` challenge (already checked to be quotable).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Challenge {
    pub realm: Option<String>,
    /// RFC 9728 protected resource metadata URL.
    pub resource_metadata: Option<String>,
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
#[derive(Debug)]
pub struct Snapshot {
    pub providers: Vec<Provider>,
    /// `iss` → index into `providers` (issuers are unique across providers).
    pub by_issuer: HashMap<String, usize>,
    pub default_requirement: Requirement,
    pub challenge: Challenge,
    pub upstream: Upstream,
    pub limits: Limits,
    /// The config file this snapshot was compiled from.
    pub source: PathBuf,
    /// SHA-256 over every input (config text and key set files): a reload whose digest is
    /// unchanged is not a reload.
    pub digest: [u8; 32],
}

impl Snapshot {
    /// The provider trusted for `iss`, if `allowed` admits it.
    pub fn provider_for_issuer(&self, iss: &str, allowed: &ProviderSet) -> Option<&Provider> {
        let index = *self.by_issuer.get(iss)?;
        // `by_issuer` is built from `providers` by compile, so the index is in bounds.
        allowed.allows(index).then(|| &self.providers[index])
    }

    /// The files whose changes can change this snapshot: the config and every JWKS file.
    pub fn input_files(&self) -> Vec<&Path> {
        std::iter::once(self.source.as_path())
            .chain(self.providers.iter().filter_map(|p| p.jwks_file.as_deref()))
            .collect()
    }
}
