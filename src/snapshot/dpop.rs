//! A provider's compiled DPoP settings (RFC 9449, resource-server side): whether DPoP is
//! required, allowed or off, which proof algorithms are accepted, how old a proof may be,
//! whether a server nonce is required, and how many proof `jti`s the replay cache holds.

use crate::algorithm::AlgorithmSet;
use std::time::Duration;

/// How a provider treats DPoP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DpopMode {
    /// Every token must be DPoP-bound (`cnf.jkt`) and presented with `Authorization: DPoP`
    /// and a valid proof.
    Required,
    /// Bound tokens need their proof; unbound Bearer tokens still work (the default).
    Allowed,
    /// DPoP is not accepted, and `cnf.jkt` is ignored (the only way to ignore it).
    Off,
}

/// A provider's DPoP settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dpop {
    pub mode: DpopMode,
    /// Algorithms accepted in a proof's `alg` (default: the provider's `algorithms`).
    pub algorithms: AlgorithmSet,
    /// A proof's `iat` must be within this of now, either way (default 60 s).
    pub max_age: Duration,
    /// `Some(lifetime)`: every proof must carry a current server nonce (RFC 9449 §8).
    pub nonce: Option<Duration>,
    /// At most this many proof `jti`s are remembered for this provider; when it is full of
    /// live entries, new proofs are refused (503) rather than a live one forgotten.
    pub replay_entries: usize,
    /// The provider's config names `dpop:`: its routes' challenges advertise the `DPoP`
    /// scheme (a provider on the default is silent about it, and Bearer-only challenges
    /// stay as they were).
    pub advertise: bool,
}

impl DpopMode {
    /// The word the config writes.
    pub fn name(self) -> &'static str {
        match self {
            DpopMode::Required => "required",
            DpopMode::Allowed => "allowed",
            DpopMode::Off => "off",
        }
    }
}

impl Dpop {
    /// DPoP with the default settings for a provider allowing `algorithms`.
    pub fn default_for(algorithms: AlgorithmSet) -> Dpop {
        Dpop {
            mode: DpopMode::Allowed,
            algorithms,
            max_age: DEFAULT_DPOP_MAX_AGE,
            nonce: None,
            replay_entries: DEFAULT_REPLAY_ENTRIES,
            advertise: false,
        }
    }
}

pub const DEFAULT_DPOP_MAX_AGE: Duration = Duration::from_secs(60);
pub const DEFAULT_NONCE_LIFETIME: Duration = Duration::from_secs(300);
pub const DEFAULT_REPLAY_ENTRIES: usize = 1_000_000;
