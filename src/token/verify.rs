//! The verify path: SPEC §3 steps 2-5, linear and fail-closed, returning a [`Verified`]
//! proof that only [`verify`] can construct.
//!
//! Order: size → structure (segments, base64url, strict JSON, no `b64`/`zip`) → provider by `iss` → `alg`
//! from the provider's allow-list → key by `kid` within that provider → signature → claims
//! with the injected `now` (in `token::claims`). Nothing named by the token (`jku`, `x5u`, `jwk`, `x5c`) is ever
//! used or fetched.

use crate::algorithm::Algorithm;
use crate::b64;
use crate::jwks::KeySet;
use crate::reason::Reason;
use crate::snapshot::{IntrospectTokens, Limits, Provider, ProviderSet, Requirement, Snapshot};
use crate::token::{claims, header, issuer, json};
use std::collections::BTreeSet;

pub(super) use crate::token::claims::TimeClaims;
pub use crate::token::claims::{normalize_type, type_allowed};
use crate::trace::{Check, Off, Tracer, stage, text};
use aws_lc_rs::signature::ParsedPublicKey;
use serde_json::{Map, Value};
use std::sync::Arc;

/// Seconds since the Unix epoch, read once per request by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct UnixTime(pub i64);

impl UnixTime {
    /// The system clock now (whole seconds).
    pub fn now() -> UnixTime {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        UnixTime(i64::try_from(secs).unwrap_or(i64::MAX))
    }
}

/// A token that passed every check against `provider`. Fields are private: holding one is
/// the proof.
#[derive(Debug)]
pub struct Verified<'s> {
    pub(super) provider: &'s Provider,
    /// Shared with the token cache.
    pub(super) claims: Arc<Map<String, Value>>,
    /// `None` for an introspected token (no signature of ours was checked).
    pub(super) alg: Option<Algorithm>,
    pub(super) kid: Option<Arc<str>>,
}

impl<'s> Verified<'s> {
    pub fn provider(&self) -> &'s Provider {
        self.provider
    }
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }
    pub fn alg(&self) -> Option<Algorithm> {
        self.alg
    }

    /// The claims of an active introspection answer that passed
    /// [`claims::check_introspected`] for `provider`: the only other way to hold a proof.
    pub fn introspected(
        provider: &'s Provider,
        claims: Arc<Map<String, Value>>,
        audiences: &BTreeSet<String>,
        now: UnixTime,
        tracer: &mut dyn Tracer,
    ) -> Result<Verified<'s>, Reason> {
        claims::check_introspected(&claims, provider, audiences, now, tracer)?;
        Ok(Verified {
            provider,
            claims,
            alg: None,
            kid: None,
        })
    }
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The token's identifying fields, as recorded for a denial after verification (a 403),
    /// shared as every refusal's are.
    pub fn observed(&self) -> Arc<Observed> {
        let header = Map::from_iter([
            (
                "kid".to_owned(),
                self.kid.as_deref().map_or(Value::Null, Value::from),
            ),
            (
                "alg".to_owned(),
                self.alg
                    .map_or(Value::Null, |alg| Value::String(alg.name().to_owned())),
            ),
        ]);
        Arc::new(Observed::from_parts(&header, &self.claims))
    }
}

/// The decoded but unverified parts of a compact JWS.
struct Parts<'t> {
    signing_input: &'t str,
    header: Map<String, Value>,
    claims: Map<String, Value>,
    signature: Vec<u8>,
}

/// Why a token was refused, by which provider when one was selected by `iss`, and what the
/// token said (for the audit log and `/debug/denials`).
#[derive(Debug, Clone)]
pub struct Rejection<'s> {
    pub reason: Reason,
    pub provider: Option<&'s Provider>,
    /// `None` when the token could not be decoded at all (shared: the bad-signature cache,
    /// the denial, its audit event and `/debug/denials` all hold the same one, and the
    /// result stays small on the hot path).
    pub observed: Option<Arc<Observed>>,
}

/// The identifying fields of a refused token as received — never the token, its signature
/// or `sub`. Strings are cut to [`OBSERVED_MAX_CHARS`], the audience to
/// [`OBSERVED_MAX_AUDIENCES`] values.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Observed {
    pub iss: Option<String>,
    pub aud: Vec<String>,
    pub kid: Option<String>,
    pub alg: Option<String>,
    pub typ: Option<String>,
}

pub const OBSERVED_MAX_CHARS: usize = 128;
pub const OBSERVED_MAX_AUDIENCES: usize = 8;

impl Observed {
    fn from_parts(header: &Map<String, Value>, claims: &Map<String, Value>) -> Observed {
        let text = |v: Option<&Value>| {
            v.and_then(Value::as_str)
                .map(|s| s.chars().take(OBSERVED_MAX_CHARS).collect::<String>())
        };
        let aud = match claims.get("aud") {
            Some(Value::Array(items)) => items
                .iter()
                .take(OBSERVED_MAX_AUDIENCES)
                .filter_map(|v| text(Some(v)))
                .collect(),
            other => text(other).into_iter().collect(),
        };
        Observed {
            iss: text(claims.get("iss")),
            aud,
            kid: text(header.get("kid")),
            alg: text(header.get("alg")),
            typ: text(header.get("typ")),
        }
    }
}

/// What a route accepts: which providers, and which audiences instead of the selected
/// provider's own (`None`: the provider's). A bare [`ProviderSet`] is one with no
/// audiences of its own.
#[derive(Debug, Clone, Copy)]
pub struct Accept<'a> {
    pub providers: &'a ProviderSet,
    pub audiences: Option<&'a BTreeSet<String>>,
}

impl<'a> From<&'a ProviderSet> for Accept<'a> {
    fn from(providers: &'a ProviderSet) -> Accept<'a> {
        Accept {
            providers,
            audiences: None,
        }
    }
}

impl<'a> From<&'a Requirement> for Accept<'a> {
    fn from(requirement: &'a Requirement) -> Accept<'a> {
        Accept {
            providers: &requirement.providers,
            audiences: requirement.audiences.as_ref(),
        }
    }
}

impl<'a> Accept<'a> {
    /// The audiences a token of `provider` must name here.
    pub fn audiences_of(&self, provider: &'a Provider) -> &'a BTreeSet<String> {
        self.audiences.unwrap_or(&provider.audiences)
    }
}

/// Verifies `token` against what `accept` admits, at time `now`.
pub fn verify<'s, 'a>(
    token: &str,
    snapshot: &'s Snapshot,
    accept: impl Into<Accept<'a>>,
    now: UnixTime,
) -> Result<Verified<'s>, Rejection<'s>> {
    verify_traced(token, snapshot, accept, now, &mut Off)
}

/// [`verify`], recording each stage it runs in `tracer`.
pub fn verify_traced<'s, 'a>(
    token: &str,
    snapshot: &'s Snapshot,
    accept: impl Into<Accept<'a>>,
    now: UnixTime,
    tracer: &mut dyn Tracer,
) -> Result<Verified<'s>, Rejection<'s>> {
    let accept = accept.into();
    let allowed = accept.providers;
    const FORMAT: &str = "JWS: three base64url parts of JSON";
    let parts = match split(token, &snapshot.limits) {
        Ok(parts) => parts,
        Err(reason) => {
            let _ = stage::<()>(tracer, Check::Format, Err(reason), || {
                let count = token.split('.').count();
                (FORMAT.into(), format!("{count} dot-separated part(s)"))
            });
            return Err(Rejection {
                reason,
                provider: None,
                observed: None,
            });
        }
    };
    let rejection = |reason, provider| Rejection {
        reason,
        provider,
        observed: Some(Arc::new(Observed::from_parts(&parts.header, &parts.claims))),
    };
    if tracer.enabled() {
        tracer.decoded(&parts.header, &parts.claims);
    }
    // Still step 2, but after decoding, so the denial and `explain` can show the header.
    let parameters = header::check_parameters(&parts.header);
    stage(tracer, Check::Format, parameters, || {
        (
            FORMAT.into(),
            format!("header {}", Value::Object(parts.header.clone())),
        )
    })
    .map_err(|reason| rejection(reason, None))?;
    // The provider by `iss` (a template's tenant claim included), in `token::issuer`.
    let provider = issuer::select(snapshot, &parts.claims, allowed, tracer)
        .map_err(|reason| rejection(reason, None))?;
    if provider
        .introspection
        .as_ref()
        .is_some_and(|i| i.tokens == IntrospectTokens::All)
    {
        // Not ours to validate: the decision asks the provider's introspection endpoint.
        return Err(rejection(Reason::IntrospectionUnavailable, Some(provider)));
    }
    let audiences = accept.audiences.unwrap_or(&provider.audiences);
    let (alg, kid) = match verify_for(provider, audiences, &parts, now, tracer) {
        Ok(found) => found,
        Err(reason) => return Err(rejection(reason, Some(provider))),
    };
    Ok(Verified {
        provider,
        alg: Some(alg),
        kid,
        claims: Arc::new(parts.claims),
    })
}

/// Decodes a token's header and claims with the same strict rules as [`verify`], without
/// judging it (what `benches/verify.rs` measures as the parse cost; `explain` reads the
/// decoded token from the decision's trace instead).
pub fn inspect(token: &str, limits: &Limits) -> Result<Decoded, Reason> {
    split(token, limits).map(|parts| Decoded {
        header: parts.header,
        claims: parts.claims,
    })
}

/// A token's decoded header and claims (not verified).
#[derive(Debug, Clone)]
pub struct Decoded {
    pub header: Map<String, Value>,
    pub claims: Map<String, Value>,
}

/// Steps 3 (algorithm, key) to 5 for the provider selected by `iss`; returns the
/// algorithm and `kid` used.
fn verify_for(
    provider: &Provider,
    audiences: &BTreeSet<String>,
    parts: &Parts<'_>,
    now: UnixTime,
    tracer: &mut dyn Tracer,
) -> Result<(Algorithm, Option<Arc<str>>), Reason> {
    let header = &parts.header;
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .and_then(Algorithm::from_name)
        .filter(|alg| provider.algorithms.contains(*alg))
        .ok_or(Reason::AlgorithmNotAllowed);
    let alg = stage(tracer, Check::Algorithm, alg, || {
        let names: Vec<&str> = provider.algorithms.iter().map(|a| a.name()).collect();
        (names.join(", "), text(header.get("alg")))
    })?;
    let kid = match header.get("kid") {
        None => Ok(None),
        Some(Value::String(kid)) => Ok(Some(kid.as_str())),
        Some(_) => Err(Reason::MalformedToken),
    };
    let key = kid.and_then(|kid| select_key(&provider.keys, kid, alg));
    let (kid, key) = stage(tracer, Check::Key, key, || {
        let kids: Vec<&str> = provider
            .keys
            .keys()
            .iter()
            .map(|k| k.kid().unwrap_or("(no kid)"))
            .collect();
        (
            format!("a kid in [{}]", kids.join(", ")),
            text(header.get("kid")),
        )
    })?;
    let signature = key
        .verify_sig(parts.signing_input.as_bytes(), &parts.signature)
        .map_err(|_| Reason::SignatureInvalid);
    stage(tracer, Check::Signature, signature, || {
        ("valid with that key".into(), String::new())
    })?;
    claims::check(header, &parts.claims, provider, audiences, now, tracer)?;
    Ok((alg, kid.cloned()))
}

/// Step 2: bound the size, then split into exactly three non-empty, strictly encoded
/// segments whose header and payload are strict JSON objects.
fn split<'t>(token: &'t str, limits: &Limits) -> Result<Parts<'t>, Reason> {
    if token.len() > limits.max_token_bytes {
        return Err(Reason::TokenTooLarge);
    }
    match token.bytes().filter(|b| *b == b'.').count() {
        0 => return Err(Reason::OpaqueToken),
        4 => return Err(Reason::EncryptedToken),
        2 => {}
        _ => return Err(Reason::MalformedToken),
    }
    let mut segments = token.split('.');
    let (Some(header), Some(payload), Some(signature)) =
        (segments.next(), segments.next(), segments.next())
    else {
        return Err(Reason::MalformedToken);
    };
    if header.is_empty() || payload.is_empty() || signature.is_empty() {
        return Err(Reason::MalformedToken);
    }
    let object = |segment: &str| {
        let bytes = b64::decode_strict(segment).ok_or(Reason::MalformedToken)?;
        json::parse_object(&bytes, limits.max_json_depth).map_err(|_| Reason::MalformedToken)
    };
    Ok(Parts {
        signing_input: &token[..header.len() + 1 + payload.len()],
        header: object(header)?,
        claims: object(payload)?,
        signature: b64::decode_strict(signature).ok_or(Reason::MalformedToken)?,
    })
}

/// Step 3: the key by `kid` within this provider's set, bound to `alg`, with the key's own
/// shared `kid` when the token named one. Without a `kid` only a provider with exactly one
/// key can say which key was meant.
fn select_key<'k>(
    keys: &'k KeySet,
    kid: Option<&str>,
    alg: Algorithm,
) -> Result<(Option<&'k Arc<str>>, &'k ParsedPublicKey), Reason> {
    if keys.is_empty() {
        // Only a remote key set that was never fetched can be empty.
        return Err(Reason::KeysUnavailable);
    }
    let Some(kid) = kid else {
        return match keys.keys() {
            [only] => only
                .verifier(alg)
                .map(|key| (None, key))
                .ok_or(Reason::KeyAlgorithmMismatch),
            _ => Err(Reason::KidRequired),
        };
    };
    let mut candidates = keys
        .keys()
        .iter()
        .filter(|k| k.kid() == Some(kid))
        .peekable();
    if candidates.peek().is_none() {
        return Err(Reason::KeyNotFound);
    }
    candidates
        .find_map(|k| k.verifier(alg).map(|key| (k.shared_kid(), key)))
        .ok_or(Reason::KeyAlgorithmMismatch)
}
