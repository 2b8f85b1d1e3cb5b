//! Limits and dynamic metadata: the size and depth bounds every token and key set is held
//! to, and the claims copied into `CheckResponse.dynamic_metadata` (never one of our own keys).

use super::compile::Compiler;
use super::error::ConfigError;
use super::file::{ConfigFile, DynamicMetadataFile};
use crate::snapshot::{Limits, MetadataConfig};
use crate::token::json::MAX_SUPPORTED_DEPTH;

/// Metadata keys we set ourselves; no claim may take one.
pub const RESERVED_METADATA_KEYS: [&str; 4] = ["provider", "route", "reason", "anonymous"];
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 32 * 1024;
pub const DEFAULT_MAX_JSON_DEPTH: usize = 64;
pub const DEFAULT_MAX_JWKS_BYTES: usize = 64 * 1024;

impl Compiler<'_> {
    pub(super) fn metadata(
        &self,
        file: &DynamicMetadataFile,
    ) -> Result<MetadataConfig, ConfigError> {
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

    pub(super) fn limits(&self, file: &ConfigFile) -> Result<Limits, ConfigError> {
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
}
