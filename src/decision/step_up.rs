//! RFC 9470 step-up: a route's `acr_values` (the token's `acr` must be one of them) and
//! `max_age` (its `auth_time` no older, with the provider's clock skew). Falling short is a
//! 401 `insufficient_user_authentication` whose challenge repeats what the route requires,
//! so the client knows what to ask the authorization server for.

use crate::reason::Reason;
use crate::snapshot::StepUp;
use crate::token::verify::{UnixTime, Verified};
use crate::trace::{Check, Tracer, relative, stage, text};
use serde_json::Value;

/// Checks `verified` against `step_up` at `now` (nothing when the route asks for nothing).
pub(super) fn check(
    verified: &Verified<'_>,
    step_up: &StepUp,
    now: UnixTime,
    tracer: &mut dyn Tracer,
) -> Result<(), Reason> {
    let claims = verified.claims();
    if !step_up.acr_values.is_empty() {
        let acr = claims.get("acr");
        let strong = acr
            .and_then(Value::as_str)
            .is_some_and(|acr| step_up.acr_values.iter().any(|v| v == acr));
        let result = if strong {
            Ok(())
        } else {
            Err(Reason::InsufficientAcr)
        };
        stage(tracer, Check::Acr, result, || {
            (
                format!("acr one of [{}]", step_up.acr_values.join(", ")),
                text(acr),
            )
        })?;
    }
    if let Some(max_age) = step_up.max_age {
        let auth_time = claims.get("auth_time");
        let skew = verified.provider().clock_skew.as_secs_f64();
        let oldest = now.0 as f64 - max_age.as_secs_f64() - skew;
        let result = match auth_time {
            Some(Value::Number(n)) if n.as_f64().is_some_and(|t| t >= oldest) => Ok(()),
            Some(Value::Number(_)) | None | Some(Value::Null) => Err(Reason::AuthenticationTooOld),
            Some(_) => Err(Reason::ClaimMalformed),
        };
        stage(tracer, Check::AuthTime, result, || {
            let when = auth_time.and_then(Value::as_f64);
            (
                format!(
                    "auth_time within max_age {}s (+{}s skew)",
                    max_age.as_secs(),
                    verified.provider().clock_skew.as_secs()
                ),
                relative(when, now.0, "authenticated", "authenticated"),
            )
        })?;
    }
    Ok(())
}

/// The challenge's RFC 9470 §3 attributes for `step_up`: `acr_values` space-separated,
/// `max_age` in seconds (the values were checked at compile time to fit a quoted-string).
pub(super) fn challenge_params(step_up: &StepUp) -> Vec<String> {
    let mut params = Vec::new();
    if !step_up.acr_values.is_empty() {
        params.push(format!("acr_values=\"{}\"", step_up.acr_values.join(" ")));
    }
    if let Some(age) = step_up.max_age {
        params.push(format!("max_age=\"{}\"", age.as_secs()));
    }
    params
}
