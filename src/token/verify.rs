//! The verify path: SPEC §3 steps 2-5, linear and fail-closed, returning a [`Verified`]
//! proof that only [`verify`] can construct.
//!
//! Order: size → structure (segments, base64url, strict JSON, no `b64`/`zip`) → provider by `iss` → `alg`
//! from the provider's allow-list → key by `kid` within that provider → signature → claims
//! with the injected `now`. Nothing named by the token (`jku`, `x5u`, `jwk`, `x5c`) is ever
//! used or fetched.

use crate::algorithm::Algorithm;
use crate::b64;
use crate::jwks::KeySet;
use crate::reason::Reason;
use crate::snapshot::{Limits, Provider, ProviderSet, Snapshot};
use crate::token::{header, json};
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
    pub(super) alg: Algorithm,
    pub(super) kid: Option<String>,
}

impl<'s> Verified<'s> {
    pub fn provider(&self) -> &'s Provider {
        self.provider
    }
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }
    pub fn alg(&self) -> Algorithm {
        self.alg
    }
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The token's identifying fields, as recorded for a denial after verification (a 403).
    pub fn observed(&self) -> Observed {
        let header = Map::from_iter([
            (
                "kid".to_owned(),
                self.kid.clone().map_or(Value::Null, Value::String),
            ),
            ("alg".to_owned(), Value::String(self.alg.name().to_owned())),
        ]);
        Observed::from_parts(&header, &self.claims)
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
    /// `None` when the token could not be decoded at all (boxed: rejections are rare and
    /// the result stays small on the hot path).
    pub observed: Option<Box<Observed>>,
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

/// Verifies `token` against the providers `allowed` admits, at time `now`.
pub fn verify<'s>(
    token: &str,
    snapshot: &'s Snapshot,
    allowed: &ProviderSet,
    now: UnixTime,
) -> Result<Verified<'s>, Rejection<'s>> {
    let parts = split(token, &snapshot.limits).map_err(|reason| Rejection {
        reason,
        provider: None,
        observed: None,
    })?;
    let rejection = |reason, provider| Rejection {
        reason,
        provider,
        observed: Some(Box::new(Observed::from_parts(&parts.header, &parts.claims))),
    };
    // Still step 2, but after decoding, so the denial and `explain` can show the header.
    header::check_parameters(&parts.header).map_err(|reason| rejection(reason, None))?;
    let provider = match parts.claims.get("iss") {
        None => return Err(rejection(Reason::IssuerMissing, None)),
        Some(Value::String(iss)) => match snapshot.provider_for_issuer(iss, allowed) {
            Some(provider) => provider,
            None => return Err(rejection(Reason::IssuerNotTrusted, None)),
        },
        Some(_) => return Err(rejection(Reason::ClaimMalformed, None)),
    };
    let (alg, kid) = match verify_for(provider, &parts, now) {
        Ok(found) => found,
        Err(reason) => return Err(rejection(reason, Some(provider))),
    };
    Ok(Verified {
        provider,
        alg,
        kid,
        claims: Arc::new(parts.claims),
    })
}

/// Decodes a token's header and claims with the same strict rules as [`verify`], without
/// judging it (for `explain`).
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
    parts: &Parts<'_>,
    now: UnixTime,
) -> Result<(Algorithm, Option<String>), Reason> {
    let alg = parts
        .header
        .get("alg")
        .and_then(Value::as_str)
        .and_then(Algorithm::from_name)
        .filter(|alg| provider.algorithms.contains(*alg))
        .ok_or(Reason::AlgorithmNotAllowed)?;
    let kid = match parts.header.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.as_str()),
        Some(_) => return Err(Reason::MalformedToken),
    };
    let key = select_key(&provider.keys, kid, alg)?;
    key.verify_sig(parts.signing_input.as_bytes(), &parts.signature)
        .map_err(|_| Reason::SignatureInvalid)?;
    check_claims(&parts.header, &parts.claims, provider, now)?;
    Ok((alg, kid.map(str::to_owned)))
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

/// Step 3: the key by `kid` within this provider's set, bound to `alg`. Without a `kid`
/// only a provider with exactly one key can say which key was meant.
fn select_key<'k>(
    keys: &'k KeySet,
    kid: Option<&str>,
    alg: Algorithm,
) -> Result<&'k ParsedPublicKey, Reason> {
    if keys.is_empty() {
        // Only a remote key set that was never fetched can be empty.
        return Err(Reason::KeysUnavailable);
    }
    let Some(kid) = kid else {
        return match keys.keys() {
            [only] => only.verifier(alg).ok_or(Reason::KeyAlgorithmMismatch),
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
        .find_map(|k| k.verifier(alg))
        .ok_or(Reason::KeyAlgorithmMismatch)
}

/// Step 5: time claims, required claims, audience, `crit`, `typ`.
fn check_claims(
    header: &Map<String, Value>,
    claims: &Map<String, Value>,
    provider: &Provider,
    now: UnixTime,
) -> Result<(), Reason> {
    let times = TimeClaims::of(claims)?;
    for name in &provider.required_claims {
        if claims.get(name).is_none_or(Value::is_null) {
            return Err(Reason::RequiredClaimMissing);
        }
    }
    times.check(provider, now)?;
    check_audience(claims, provider)?;
    if header.contains_key("crit") {
        // No JWS extension is implemented, so every critical one is unknown (RFC 7515 §4.1.11).
        return Err(Reason::CritUnsupported);
    }
    check_type(header, provider)
}

/// `exp`, `nbf` and `iat` as numbers (the only claims re-checked on a token cache hit).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct TimeClaims {
    pub exp: Option<f64>,
    pub nbf: Option<f64>,
    pub iat: Option<f64>,
}

impl TimeClaims {
    pub(super) fn of(claims: &Map<String, Value>) -> Result<TimeClaims, Reason> {
        Ok(TimeClaims {
            exp: time_claim(claims, "exp")?,
            nbf: time_claim(claims, "nbf")?,
            iat: time_claim(claims, "iat")?,
        })
    }

    /// Expiry, not-before, issued-at (with the provider's skew) and the window.
    pub(super) fn check(&self, provider: &Provider, now: UnixTime) -> Result<(), Reason> {
        let TimeClaims { exp, nbf, iat } = *self;
        // f64 comparisons: JSON times may be fractional, and adding the skew to `exp` near
        // i64::MAX (or subtracting it from `nbf` near i64::MIN) cannot wrap.
        let now = now.0 as f64;
        let skew = provider.clock_skew.as_secs_f64();
        if exp.is_some_and(|exp| now > exp + skew) {
            return Err(Reason::Expired);
        }
        if nbf.is_some_and(|nbf| now < nbf - skew) {
            return Err(Reason::NotYetValid);
        }
        if iat.is_some_and(|iat| iat > now + skew) {
            return Err(Reason::IssuedInFuture);
        }
        if let Some(exp) = exp
            && (nbf.is_some_and(|nbf| exp <= nbf) || iat.is_some_and(|iat| exp <= iat))
        {
            return Err(Reason::ValidityWindowInvalid);
        }
        Ok(())
    }
}

/// A NumericDate (RFC 7519 §2): a JSON number, possibly fractional. Absent or `null` is
/// `None`; any other type is malformed.
fn time_claim(claims: &Map<String, Value>, name: &str) -> Result<Option<f64>, Reason> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_f64().map(Some).ok_or(Reason::ClaimMalformed),
        Some(_) => Err(Reason::ClaimMalformed),
    }
}

/// The audience: the first present of `audience_claims` (absent or `null` is not present)
/// alone decides; it is a string or an array of strings, compared exactly against the
/// configured set. Later claims are never consulted once one is present: with
/// `[aud, client_id]`, a token for another API (`aud`) issued to an accepted client
/// (`client_id`) must not pass.
fn check_audience(claims: &Map<String, Value>, provider: &Provider) -> Result<(), Reason> {
    let Some(deciding) = provider
        .audience_claims
        .iter()
        .find_map(|name| claims.get(name).filter(|v| !v.is_null()))
    else {
        return Err(Reason::AudienceMissing);
    };
    match deciding {
        Value::String(aud) if provider.audiences.contains(aud) => return Ok(()),
        Value::String(_) => {}
        Value::Array(items) => {
            for item in items {
                let aud = item.as_str().ok_or(Reason::ClaimMalformed)?;
                if provider.audiences.contains(aud) {
                    return Ok(());
                }
            }
        }
        _ => return Err(Reason::ClaimMalformed),
    }
    Err(Reason::AudienceNotAllowed)
}

/// `typ` (RFC 7515 §4.1.9, compared case-insensitively, `application/` optional).
fn check_type(header: &Map<String, Value>, provider: &Provider) -> Result<(), Reason> {
    let typ = match header.get("typ") {
        None => None,
        Some(Value::String(typ)) => Some(normalize_type(typ)),
        Some(_) => return Err(Reason::TokenTypeNotAllowed),
    };
    let allowed = match (&provider.token_types, typ.as_deref()) {
        (None, None) => true,
        (None, Some(typ)) => typ == "jwt" || typ == "at+jwt",
        (Some(list), Some(typ)) => list.iter().any(|t| t == typ),
        (Some(_), None) => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(Reason::TokenTypeNotAllowed)
    }
}

/// Lowercase, without a leading `application/` (RFC 7515 §4.1.9).
pub fn normalize_type(typ: &str) -> String {
    let lower = typ.to_ascii_lowercase();
    match lower.strip_prefix("application/") {
        Some(rest) => rest.to_owned(),
        None => lower,
    }
}
