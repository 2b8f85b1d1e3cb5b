//! Step 5 of the verify path: the claims of a token whose signature verified — types of
//! `exp`/`nbf`/`iat`, required claims, the time window with the provider's skew, the
//! audience (the first present of `audience_claims` decides), `crit` and `typ` — each a
//! traced stage; and the same checks, where they apply, for an introspection answer.

use crate::reason::Reason;
use crate::snapshot::Provider;
use crate::token::verify::UnixTime;
use crate::trace::{Check, Off, Tracer, relative, stage, text};
use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// Step 5: time claims, required claims, audience, `crit`, `typ`.
pub(super) fn check(
    header: &Map<String, Value>,
    claims: &Map<String, Value>,
    provider: &Provider,
    audiences: &BTreeSet<String>,
    now: UnixTime,
    tracer: &mut dyn Tracer,
) -> Result<(), Reason> {
    let types = "exp/nbf/iat numbers, iss a string, aud a string or strings";
    check_times_and_required(claims, provider, now, types, tracer)?;
    let audience = check_audience(claims, provider, audiences);
    stage(tracer, Check::Audience, audience, || {
        describe_audience(claims, provider, audiences)
    })?;
    // No JWS extension is implemented, so every critical one is unknown (RFC 7515 §4.1.11).
    let crit = match header.get("crit") {
        None => Ok(()),
        Some(_) => Err(Reason::CritUnsupported),
    };
    stage(tracer, Check::Crit, crit, || {
        ("absent".into(), text(header.get("crit")))
    })?;
    stage(tracer, Check::Type, check_type(header, provider), || {
        let expected = provider
            .token_types
            .as_ref()
            .map_or_else(|| "absent, JWT or at+jwt".into(), |t| t.join(", "));
        (expected, text(header.get("typ")))
    })
}

/// The claims of an active RFC 7662 answer, checked as a JWT's are where they apply: the
/// time claims' types and window with the provider's skew, `required_claims`, then — each
/// only when the answer carries it, since RFC 7662 makes every member but `active`
/// optional — `iss` trusted by the provider (`token::issuer`) and the audience as for a JWT;
/// last, `token_type` must not be `refresh_token` (a refresh token is no access token).
pub(super) fn check_introspected(
    claims: &Map<String, Value>,
    provider: &Provider,
    audiences: &BTreeSet<String>,
    now: UnixTime,
    tracer: &mut dyn Tracer,
) -> Result<(), Reason> {
    let types = "exp/nbf/iat numbers, aud a string or strings";
    check_times_and_required(claims, provider, now, types, tracer)?;
    super::issuer::check_answer(provider, claims, tracer)?;
    let present = provider
        .audience_claims
        .iter()
        .any(|name| claims.get(name).is_some_and(|v| !v.is_null()));
    let audience = if present {
        check_audience(claims, provider, audiences)
    } else {
        Ok(())
    };
    stage(tracer, Check::Audience, audience, || {
        let (expected, actual) = describe_audience(claims, provider, audiences);
        (format!("absent, or {expected}"), actual)
    })?;
    let token_type = claims.get("token_type");
    let refresh = match token_type {
        None | Some(Value::Null) => false,
        Some(Value::String(t)) => t.eq_ignore_ascii_case("refresh_token"),
        Some(_) => true,
    };
    let typed = if refresh {
        Err(Reason::TokenTypeNotAllowed)
    } else {
        Ok(())
    };
    stage(tracer, Check::Type, typed, || {
        (
            "token_type absent or not refresh_token".into(),
            text(token_type),
        )
    })
}

/// The time claims' types, `required_claims`, then the time window: the part of step 5
/// that JWT claims and introspection answers share (`types` says what the types stage
/// expects).
fn check_times_and_required(
    claims: &Map<String, Value>,
    provider: &Provider,
    now: UnixTime,
    types: &str,
    tracer: &mut dyn Tracer,
) -> Result<(), Reason> {
    let times = stage(tracer, Check::ClaimTypes, TimeClaims::of(claims), || {
        (types.into(), String::new())
    })?;
    check_required(claims, provider, tracer)?;
    times.check_traced(provider, now, tracer)
}

/// Every claim in `required_claims` is present (and not `null`).
fn check_required(
    claims: &Map<String, Value>,
    provider: &Provider,
    tracer: &mut dyn Tracer,
) -> Result<(), Reason> {
    let missing: Vec<&str> = provider
        .required_claims
        .iter()
        .filter(|name| claims.get(*name).is_none_or(Value::is_null))
        .map(String::as_str)
        .collect();
    let required = if missing.is_empty() {
        Ok(())
    } else {
        Err(Reason::RequiredClaimMissing)
    };
    stage(tracer, Check::RequiredClaims, required, || {
        let actual = if missing.is_empty() {
            "all present".to_owned()
        } else {
            format!("missing: [{}]", missing.join(", "))
        };
        (
            format!("present: [{}]", provider.required_claims.join(", ")),
            actual,
        )
    })
}

/// Expected and actual of the audience stage: the deciding claim (the first present of
/// `audience_claims`) is the one shown.
fn describe_audience(
    claims: &Map<String, Value>,
    provider: &Provider,
    audiences: &BTreeSet<String>,
) -> (String, String) {
    let configured: Vec<&str> = audiences.iter().map(String::as_str).collect();
    let deciding = provider
        .audience_claims
        .iter()
        .find(|name| claims.get(*name).is_some_and(|v| !v.is_null()));
    match deciding {
        Some(name) => (
            format!("one of [{}] in {name}", configured.join(", ")),
            text(claims.get(name)),
        ),
        None => (
            format!(
                "one of [{}] in {}",
                configured.join(", "),
                provider.audience_claims.join("/")
            ),
            text(None),
        ),
    }
}

/// `exp`, `nbf` and `iat` as numbers (the only claims re-checked on a token cache hit).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct TimeClaims {
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
        self.check_traced(provider, now, &mut Off)
    }

    fn check_traced(
        &self,
        provider: &Provider,
        now: UnixTime,
        tracer: &mut dyn Tracer,
    ) -> Result<(), Reason> {
        let TimeClaims { exp, nbf, iat } = *self;
        // f64 comparisons: JSON times may be fractional, and adding the skew to `exp` near
        // i64::MAX (or subtracting it from `nbf` near i64::MIN) cannot wrap.
        let seconds = now.0;
        let now = seconds as f64;
        let skew = provider.clock_skew.as_secs_f64();
        let secs = provider.clock_skew.as_secs();
        let fail = |failed: bool, reason| if failed { Err(reason) } else { Ok(()) };
        let expired = fail(exp.is_some_and(|exp| now > exp + skew), Reason::Expired);
        stage(tracer, Check::Expiry, expired, || {
            let actual = relative(exp, seconds, "expires", "expired");
            (format!("now <= exp + {secs}s skew"), actual)
        })?;
        let early = fail(nbf.is_some_and(|nbf| now < nbf - skew), Reason::NotYetValid);
        stage(tracer, Check::NotBefore, early, || {
            let actual = relative(nbf, seconds, "starts", "started");
            (format!("now >= nbf - {secs}s skew"), actual)
        })?;
        let future = fail(
            iat.is_some_and(|iat| iat > now + skew),
            Reason::IssuedInFuture,
        );
        stage(tracer, Check::IssuedAt, future, || {
            let actual = relative(iat, seconds, "issued", "issued");
            (format!("iat <= now + {secs}s skew"), actual)
        })?;
        let inverted = exp.is_some_and(|exp| {
            nbf.is_some_and(|nbf| exp <= nbf) || iat.is_some_and(|iat| exp <= iat)
        });
        stage(
            tracer,
            Check::Window,
            fail(inverted, Reason::ValidityWindowInvalid),
            || ("exp after nbf and iat".into(), String::new()),
        )
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
pub(super) fn check_audience(
    claims: &Map<String, Value>,
    provider: &Provider,
    audiences: &BTreeSet<String>,
) -> Result<(), Reason> {
    let Some(deciding) = provider
        .audience_claims
        .iter()
        .find_map(|name| claims.get(name).filter(|v| !v.is_null()))
    else {
        return Err(Reason::AudienceMissing);
    };
    match deciding {
        Value::String(aud) if audiences.contains(aud) => return Ok(()),
        Value::String(_) => {}
        Value::Array(items) => {
            // Every element must be a string (RFC 7519 §4.1.3), also after a match:
            // `["api://orders", 5]` is malformed, not allowed.
            let mut allowed = false;
            for item in items {
                let aud = item.as_str().ok_or(Reason::ClaimMalformed)?;
                allowed |= audiences.contains(aud);
            }
            if allowed {
                return Ok(());
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
        Some(Value::String(typ)) => Some(typ.as_str()),
        Some(_) => return Err(Reason::TokenTypeNotAllowed),
    };
    if type_allowed(provider, typ) {
        Ok(())
    } else {
        Err(Reason::TokenTypeNotAllowed)
    }
}

/// Whether the provider accepts this `typ` header value (`None`: absent); also what the
/// debug page shows. Compared in place rather than through [`normalize_type`]: no allocation
/// per token.
pub fn type_allowed(provider: &Provider, typ: Option<&str>) -> bool {
    let typ = typ.map(without_media_prefix);
    match (&provider.token_types, typ) {
        (None, None) => true,
        (None, Some(typ)) => typ.eq_ignore_ascii_case("jwt") || typ.eq_ignore_ascii_case("at+jwt"),
        // The configured list is normalized already.
        (Some(list), Some(typ)) => list.iter().any(|t| t.eq_ignore_ascii_case(typ)),
        (Some(_), None) => false,
    }
}

/// `typ` without a leading `application/` in any case.
fn without_media_prefix(typ: &str) -> &str {
    const PREFIX: &str = "application/";
    match typ.get(..PREFIX.len()) {
        Some(head) if head.eq_ignore_ascii_case(PREFIX) => &typ[PREFIX.len()..],
        _ => typ,
    }
}

/// Lowercase, without a leading `application/` (RFC 7515 §4.1.9).
pub fn normalize_type(typ: &str) -> String {
    without_media_prefix(typ).to_ascii_lowercase()
}
