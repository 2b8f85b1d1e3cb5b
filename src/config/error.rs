//! Configuration errors: each names the file, the field path and what was expected.

use std::path::PathBuf;

/// Why a configuration file could not become a snapshot. Tests match on the variant and
/// `field`; the text is for people.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    /// Not YAML, or not a mapping at the top: there is no field to name, only the line and
    /// column (with the offending text quoted).
    #[error("{file}: {message}")]
    Syntax { file: PathBuf, message: String },
    /// A field is wrong: its path (`providers[0].jwks.refresh_interval`) and what was
    /// expected. Raised while reading the YAML (a wrong type, an unknown field, a bad
    /// duration or keyword: the message ends with the line and column) or while compiling
    /// (a bound, a cross-check).
    #[error("{file}: {field}: {message}")]
    Invalid {
        file: PathBuf,
        field: String,
        message: String,
    },
}

impl ConfigError {
    /// The field path an [`Invalid`](ConfigError::Invalid) error names.
    pub fn field(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { field, .. } => Some(field),
            _ => None,
        }
    }

    /// A deserialization error at `path` (as `serde_path_to_error` tracked it). At the top
    /// (`.`) it keeps serde-saphyr's rendering with the quoted snippet; inside a field, the
    /// path says where and the message keeps only the line and column.
    pub(super) fn from_yaml(
        file: PathBuf,
        path: &serde_path_to_error::Path,
        error: &serde_saphyr::Error,
    ) -> ConfigError {
        if path.iter().next().is_none() {
            return ConfigError::Syntax {
                file,
                message: error.to_string(),
            };
        }
        ConfigError::Invalid {
            file,
            field: path.to_string(),
            message: error.without_snippet().to_string(),
        }
    }
}
