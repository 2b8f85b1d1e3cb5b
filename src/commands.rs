//! The non-serving commands: `check-config`, `explain`, `mint-token`, `public-jwks`. Each returns its
//! output as text so tests can call it without a process.

use crate::algorithm::Algorithm;
use crate::cli::{ExplainArgs, KeyArgs, MintArgs};
use crate::config::{self, ConfigError};
use crate::explain;
use crate::mint::SigningKey;
use crate::remote::{FetchReport, RemoteKeys};
use crate::snapshot::KeySource;
use crate::snapshot::Snapshot;
use crate::token::verify::UnixTime;
use arc_swap::ArcSwap;
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;

/// One line per provider: issuers, audiences, usable keys by kid/alg, skipped keys and why.
pub fn check_config(path: &Path) -> Result<String, ConfigError> {
    config::load(path).map(|snapshot| summary(path, &snapshot))
}

fn summary(path: &Path, snapshot: &Snapshot) -> String {
    let mut out = format!(
        "{}: ok, {} provider(s)\n",
        path.display(),
        snapshot.providers.len()
    );
    for p in &snapshot.providers {
        let keys: Vec<String> = p
            .keys
            .keys()
            .iter()
            .map(|k| {
                format!(
                    "{}({})",
                    k.kid().unwrap_or("no-kid"),
                    k.algorithms()
                        .map(Algorithm::name)
                        .collect::<Vec<_>>()
                        .join(",")
                )
            })
            .collect();
        let skipped: Vec<String> = p
            .keys
            .skipped()
            .iter()
            .map(|s| format!("{}: {}", s.kid.as_deref().unwrap_or("no-kid"), s.why))
            .collect();
        out.push_str(&format!(
            "provider {}: issuers [{}] audiences [{}] keys [{}] skipped [{}] clock_skew {}s\n",
            p.name,
            p.issuers.join(", "),
            p.audiences.iter().cloned().collect::<Vec<_>>().join(", "),
            keys.join(" "),
            skipped.join("; "),
            p.clock_skew.as_secs(),
        ));
    }
    out
}

/// Why a demo command failed.
#[derive(Debug, thiserror::Error)]
pub enum DevError {
    #[error("unsupported --alg {0:?}")]
    Algorithm(String),
    #[error("cannot read {0}: {1}")]
    Read(String, std::io::Error),
    #[error(transparent)]
    Key(#[from] crate::mint::MintError),
    #[error("--claim {0:?}: expected NAME=JSON")]
    Claim(String),
}

fn signing_key(args: &KeyArgs) -> Result<SigningKey, DevError> {
    let alg =
        Algorithm::from_name(&args.alg).ok_or_else(|| DevError::Algorithm(args.alg.clone()))?;
    let pem = std::fs::read_to_string(&args.key)
        .map_err(|e| DevError::Read(args.key.display().to_string(), e))?;
    let key = SigningKey::from_pkcs8_pem(&pem, alg)?;
    Ok(match &args.kid {
        Some(kid) => key.with_kid(kid),
        None => key,
    })
}

/// The public JWK Set for the key, pretty-printed.
pub fn public_jwks(args: &KeyArgs) -> Result<String, DevError> {
    let key = signing_key(args)?;
    Ok(serde_json::to_string_pretty(&json!({ "keys": [key.public_jwk()] })).unwrap_or_default())
}

/// A signed token for the given claims, valid from `now` for `--ttl`.
pub fn mint_token(args: &MintArgs, now: UnixTime) -> Result<String, DevError> {
    let key = signing_key(&args.key)?;
    let aud = match args.aud.as_slice() {
        [one] => json!(one),
        many => json!(many),
    };
    let ttl = i64::try_from(args.ttl.get().as_secs()).unwrap_or(i64::MAX);
    let mut claims = json!({ "iss": args.iss, "aud": aud, "iat": now.0, "nbf": now.0, "exp": now.0.saturating_add(ttl) });
    if let Some(sub) = &args.sub {
        claims["sub"] = json!(sub);
    }
    if let Some(scope) = &args.scope {
        claims["scope"] = json!(scope);
    }
    for extra in &args.claims {
        let (name, value) = extra
            .split_once('=')
            .ok_or_else(|| DevError::Claim(extra.clone()))?;
        let value: Value =
            serde_json::from_str(value).map_err(|_| DevError::Claim(extra.clone()))?;
        claims[name] = value;
    }
    Ok(key.mint(&claims)?)
}

/// Why `explain` could not run.
#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("--header {0:?}: expected `Name: value`")]
    Header(String),
    #[error("cannot read the token from standard input: {0}")]
    Stdin(std::io::Error),
    #[error("no token given")]
    NoToken,
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

/// Runs `explain`: the rendered report and whether the token would be allowed.
pub fn explain(args: &ExplainArgs, now: UnixTime) -> Result<(String, bool), ExplainError> {
    let raw = match args.token.as_deref() {
        Some(token) if token != "-" => token.to_owned(),
        _ => {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
                .map_err(ExplainError::Stdin)?;
            text
        }
    };
    let trimmed = raw.trim();
    let token = match trimmed.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        _ => trimmed,
    };
    if token.is_empty() {
        return Err(ExplainError::NoToken);
    }
    let mut headers = Vec::new();
    for header in &args.headers {
        let (name, value) = header
            .split_once(':')
            .ok_or_else(|| ExplainError::Header(header.clone()))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let host = headers
        .iter()
        .find(|(k, _)| k == "host")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let (snapshot, fetches) = snapshot_with_keys(&args.config)?;
    let question = explain::Question {
        token,
        method: &args.method,
        path: &args.path,
        host: &host,
        headers,
        route_name: args.route.as_deref(),
        show_claims: args.show_claims,
    };
    let report = explain::explain(
        &snapshot,
        &question,
        args.now.map_or(now, UnixTime),
        &fetches,
    );
    let text = if args.json {
        explain::render_json(&report)
    } else {
        explain::render_text(&report)
    };
    Ok((text, report.allowed))
}

/// The compiled config, with remote key sets fetched once (so `explain` judges with the
/// keys the server would have).
fn snapshot_with_keys(path: &Path) -> Result<(Arc<Snapshot>, Vec<FetchReport>), ExplainError> {
    let snapshot = config::load(path)?;
    if !snapshot
        .providers
        .iter()
        .any(|p| matches!(p.key_source, KeySource::Remote(_)))
    {
        return Ok((Arc::new(snapshot), Vec::new()));
    }
    let shared = Arc::new(ArcSwap::from_pointee(snapshot));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(ExplainError::Runtime)?;
    let fetches = runtime.block_on(async {
        let remote = RemoteKeys::new(shared.clone());
        remote.sync();
        remote.refresh_all().await;
        remote.reports()
    });
    Ok((shared.load_full(), fetches))
}
