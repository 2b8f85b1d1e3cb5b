//! From the file mirror to a [`Snapshot`]: every default, bound and cross-check lives in
//! `compile` and the modules it calls (`limits`, `providers`, `keys`, `routes`), so a
//! snapshot that exists is valid. This one holds the entry points, the whole-file checks
//! (provider names unique, no `iss` matched by two issuer rules (in `tenants`), the
//! challenge, the default requirement) and the helpers the others share.

use super::duration::Duration;
use super::error::ConfigError;
use super::file::ConfigFile;
use crate::snapshot::{Challenge, Provider, Snapshot, Upstream};
use aws_lc_rs::digest::{Context, SHA256};
use serde::Deserialize;
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

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
    // serde-saphyr reports a line and column; the tracked path adds which field it was.
    let mut track = serde_path_to_error::Track::new();
    let file = serde_saphyr::with_deserializer_from_str(text, |de| {
        ConfigFile::deserialize(serde_path_to_error::Deserializer::new(de, &mut track))
    })
    .map_err(|e| ConfigError::from_yaml(path.to_owned(), &track.path(), &e))?;
    let compiler = Compiler {
        path,
        digest: RefCell::new(Context::new(&SHA256)),
    };
    compiler.digest.borrow_mut().update(text.as_bytes());
    compiler.compile(file)
}

/// One compilation: the file (for errors and relative paths) and the digest of every input.
pub(super) struct Compiler<'a> {
    pub(super) path: &'a Path,
    /// Every input read, in order: the config text, then each key set file's bytes.
    pub(super) digest: RefCell<Context>,
}

pub(super) fn finish(context: Context) -> [u8; 32] {
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
            self.unique_issuers(&field, p, &provider, i, &providers, &mut by_issuer)?;
            providers.push(provider);
        }
        let challenge = Challenge {
            realm: self.quotable("challenge.realm", file.challenge.realm)?,
            resource_metadata: self.quotable(
                "challenge.resource_metadata",
                file.challenge.resource_metadata,
            )?,
        };
        let metadata = self.metadata(&file.dynamic_metadata)?;
        let scope_implies = self.scope_implies(file.scope_implies.as_ref())?;
        let global = self.upstream("upstream", Some(&file.upstream), &Upstream::default())?;
        let default = file.default.unwrap_or_default();
        if default.name.is_some() || default.matches.is_some() {
            return Err(self.invalid(
                "default",
                "the default requirement has no `name` or `match`",
            ));
        }
        let default_requirement =
            self.requirement("default", &default, None, &providers, &global)?;
        let routes = self.routes(&file.routes, &providers, &global, &file.matching)?;
        let documents = self.documents(&routes, &default_requirement)?;
        // Paths must be canonical once any route decides by path, or lets requests through
        // without a token (a named one Envoy chose by its own matching, or the default next
        // to protected named routes: `/public/..;/admin` falls to Envoy's catch-all).
        let token_free = |r: &crate::snapshot::Requirement| r.allow_anonymous || r.cors_preflight;
        let checks_paths = routes
            .iter()
            .any(|r| r.matcher.is_some() || token_free(&r.requirement))
            || (!routes.is_empty() && token_free(&default_requirement));
        let checks_hosts = routes
            .iter()
            .any(|r| r.matcher.as_ref().is_some_and(|m| !m.hosts.is_empty()));
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
            checks_hosts,
            default_requirement,
            documents,
            challenge,
            identity_headers,
            metadata,
            limits,
            startup_grace: file.startup_grace.map(Duration::get),
            scope_implies,
            client_certificates: self.client_certificates(file.client_certificates.as_ref())?,
            source: self.path.to_owned(),
            digest: finish(self.digest.replace(Context::new(&SHA256))),
        })
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

    /// Reads a file the config names (relative to the config's directory) into the digest,
    /// so a change to it is a change to the config.
    pub(super) fn read_input(
        &self,
        field: &str,
        file: &Path,
    ) -> Result<(PathBuf, Vec<u8>), ConfigError> {
        let path = match self.path.parent() {
            Some(dir) if file.is_relative() => dir.join(file),
            _ => file.to_owned(),
        };
        let bytes = std::fs::read(&path)
            .map_err(|e| self.invalid(field, format!("cannot read {}: {e}", path.display())))?;
        self.digest.borrow_mut().update(&bytes);
        Ok((path, bytes))
    }
}

pub(super) fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}
