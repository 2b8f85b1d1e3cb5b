//! A provider's `dpop:` block (RFC 9449): written as a mode alone (`dpop: required`) or as
//! a map (`dpop: { mode: required, nonce: required, max_age: 30s }`), compiled with its
//! defaults and bounds into [`Dpop`].

use super::compile::Compiler;
use super::duration::Duration;
use super::error::ConfigError;
use crate::algorithm::{Algorithm, AlgorithmSet};
use crate::snapshot::{
    DEFAULT_DPOP_MAX_AGE, DEFAULT_NONCE_LIFETIME, DEFAULT_REPLAY_ENTRIES, Dpop, DpopMode,
};
use serde::Deserialize;
use serde::de::{self, Deserializer, IntoDeserializer, MapAccess, Visitor};

/// Upper bounds: a proof older than 10 minutes is no proof of possession, a nonce that
/// lives a day is no nonce, and ten million `jti`s is ~400 MB.
pub const MAX_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(600);
pub const MAX_NONCE_LIFETIME: std::time::Duration = std::time::Duration::from_secs(24 * 3600);
pub const MAX_REPLAY_ENTRIES: usize = 10_000_000;

/// `dpop:` as written.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DpopFile {
    /// `required`, `allowed` (the default) or `off`.
    pub mode: Option<DpopMode>,
    /// Proof algorithms; default: the provider's `algorithms`.
    pub algorithms: Option<Vec<Algorithm>>,
    /// A proof's `iat` must be within this of now (default 60s, at most 10m).
    pub max_age: Option<Duration>,
    /// `required`: proofs must carry a current server nonce (default `off`).
    pub nonce: Option<NonceMode>,
    pub nonce_lifetime: Option<Duration>,
    pub replay_cache_entries: Option<usize>,
}

/// `dpop.nonce`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NonceMode {
    Required,
    Off,
}

/// `dpop: required` is `dpop: { mode: required }`.
#[derive(Debug)]
pub struct DpopEntry(pub DpopFile);

impl<'de> Deserialize<'de> for DpopEntry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<DpopEntry, D::Error> {
        struct Entry;
        impl<'de> Visitor<'de> for Entry {
            type Value = DpopEntry;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a mode (required, allowed or off) or a map of DPoP settings")
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<DpopEntry, E> {
                let mode = DpopMode::deserialize(value.into_deserializer())?;
                Ok(DpopEntry(DpopFile {
                    mode: Some(mode),
                    ..DpopFile::default()
                }))
            }
            /// YAML 1.1 reads an unquoted `dpop: off` as `false` when the shape is open.
            fn visit_bool<E: de::Error>(self, value: bool) -> Result<DpopEntry, E> {
                if value {
                    return Err(E::invalid_value(de::Unexpected::Bool(true), &self));
                }
                self.visit_str("off")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<DpopEntry, A::Error> {
                DpopFile::deserialize(de::value::MapAccessDeserializer::new(map)).map(DpopEntry)
            }
        }
        deserializer.deserialize_any(Entry)
    }
}

impl Compiler<'_> {
    /// The provider's DPoP settings; `algorithms` are the provider's (the proofs' default).
    pub(super) fn dpop(
        &self,
        field: &str,
        entry: Option<&DpopEntry>,
        algorithms: AlgorithmSet,
    ) -> Result<Dpop, ConfigError> {
        let Some(DpopEntry(d)) = entry else {
            return Ok(Dpop::default_for(algorithms));
        };
        let field = format!("{field}.dpop");
        let proof_algorithms = match &d.algorithms {
            None => algorithms,
            Some(names) if names.is_empty() => {
                return Err(self.invalid(
                    format!("{field}.algorithms"),
                    "expected at least one algorithm, or omit the field",
                ));
            }
            Some(names) => names.iter().copied().collect(),
        };
        let bounded = |name: &str,
                       value: Option<Duration>,
                       default: std::time::Duration,
                       max: std::time::Duration| match value {
            None => Ok(default),
            Some(v) if !v.get().is_zero() && v.get() <= max => Ok(v.get()),
            Some(v) => Err(self.invalid(
                format!("{field}.{name}"),
                format!(
                    "expected a duration above zero and at most {}s; got \"{v}\"",
                    max.as_secs()
                ),
            )),
        };
        let max_age = bounded("max_age", d.max_age, DEFAULT_DPOP_MAX_AGE, MAX_MAX_AGE)?;
        let lifetime = bounded(
            "nonce_lifetime",
            d.nonce_lifetime,
            DEFAULT_NONCE_LIFETIME,
            MAX_NONCE_LIFETIME,
        )?;
        let nonce = match d.nonce {
            Some(NonceMode::Required) => Some(lifetime),
            None | Some(NonceMode::Off) if d.nonce_lifetime.is_some() => {
                return Err(self.invalid(
                    format!("{field}.nonce_lifetime"),
                    "applies only with `nonce: required`",
                ));
            }
            None | Some(NonceMode::Off) => None,
        };
        let replay_entries = match d.replay_cache_entries {
            None => DEFAULT_REPLAY_ENTRIES,
            Some(n) if (1..=MAX_REPLAY_ENTRIES).contains(&n) => n,
            Some(n) => {
                return Err(self.invalid(
                    format!("{field}.replay_cache_entries"),
                    format!("expected 1 to {MAX_REPLAY_ENTRIES}; got {n}"),
                ));
            }
        };
        let mode = d.mode.unwrap_or(DpopMode::Allowed);
        if mode == DpopMode::Off && (d.nonce.is_some() || d.algorithms.is_some()) {
            return Err(self.invalid(
                field,
                "`mode: off` takes no other DPoP setting (nothing would use it)",
            ));
        }
        Ok(Dpop {
            mode,
            algorithms: proof_algorithms,
            max_age,
            nonce,
            replay_entries,
            advertise: mode != DpopMode::Off,
        })
    }
}
