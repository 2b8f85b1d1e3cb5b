//! The decision's side of introspection, still pure: which provider a refused token goes
//! to instead, and the judgement of the [`Answer`] the authorizer brought back (none yet:
//! a 503 naming the provider, which the authorizer reads as "ask it").

use crate::introspection::Answer;
use crate::reason::Reason;
use crate::snapshot::{Provider, ProviderSet, Snapshot};
use crate::token::verify::{Rejection, UnixTime, Verified};
use crate::trace::{Check, Tracer, stage};
use std::collections::BTreeSet;

/// The provider to introspect a token `verify` refused, and whether it is opaque:
/// - a token that is not a compact JWS (nothing could be decoded; not merely too large)
///   goes to the first provider in config order that the route allows and that has an
///   introspection endpoint — unless it starts with a JOSE header (a damaged JWT or a
///   JWE): that is a JWT's failure, and sending it to a third party's endpoint would only
///   leak it;
/// - a JWT whose `iss` selected a `tokens: all` provider (verify's
///   `IntrospectionUnavailable` with that provider) goes to that provider.
///
/// Never a provider the route does not allow: sending a token elsewhere would leak it.
pub(super) fn introspector_for<'s>(
    token: &str,
    rejection: &Rejection<'s>,
    snapshot: &'s Snapshot,
    allowed: &ProviderSet,
) -> Option<(&'s Provider, bool)> {
    match (rejection.reason, rejection.provider, &rejection.observed) {
        (Reason::IntrospectionUnavailable, Some(provider), _) => Some((provider, false)),
        (Reason::TokenTooLarge, _, _) => None,
        (_, None, None) if starts_with_jose_header(token) => None,
        (_, None, None) => snapshot
            .providers
            .iter()
            .enumerate()
            .find(|(i, p)| allowed.allows(*i) && p.introspection.is_some())
            .map(|(_, p)| (p, true)),
        _ => None,
    }
}

/// Whether the token's first dot-separated part decodes as a JSON object naming an `alg`:
/// a JOSE header (RFC 7515 §4, RFC 7516 §4), so the token is a JWT or JWE, however damaged
/// the rest. Only asked of tokens that already failed to decode, so its cost is off the
/// hot path; bounded by the token size limit verify checked first.
fn starts_with_jose_header(token: &str) -> bool {
    let first = token.split('.').next().unwrap_or("");
    crate::b64::decode_strict(first)
        .and_then(|bytes| crate::token::json::parse_object(&bytes, 4).ok())
        .is_some_and(|header| header.get("alg").is_some_and(serde_json::Value::is_string))
}

/// Judges `answer` (`None`: not asked yet) from `provider` for a token: active answers
/// go through the same claim checks a JWT's claims do.
pub(super) fn judge<'s>(
    provider: &'s Provider,
    audiences: &BTreeSet<String>,
    opaque: bool,
    answer: Option<&Answer>,
    now: UnixTime,
    tracer: &mut dyn Tracer,
) -> Result<Verified<'s>, Reason> {
    if opaque {
        // Overrides the format stage verify failed: for this route, not being a JWS is
        // what sends a token to introspection.
        let _ = stage(tracer, Check::Format, Ok(()), || {
            (
                "a JWS, or an opaque token to introspect".into(),
                format!("not a JWS: introspected by provider {}", provider.name),
            )
        });
    }
    let endpoint = provider
        .introspection
        .as_ref()
        .map_or_else(String::new, |i| i.endpoint.to_string());
    let claims = match answer {
        Some(Answer::Active(claims)) => Ok(claims.clone()),
        Some(Answer::Inactive) => Err(Reason::TokenInactive),
        Some(Answer::Unavailable(_)) | None => Err(Reason::IntrospectionUnavailable),
    };
    let claims = stage(tracer, Check::Introspection, claims, || {
        let actual = match answer {
            Some(Answer::Active(_)) => "active".to_owned(),
            Some(Answer::Inactive) => "active: false".to_owned(),
            Some(Answer::Unavailable(failure)) => format!("no answer: {failure}"),
            None => "not asked".to_owned(),
        };
        (format!("active: true from {endpoint}"), actual)
    })?;
    if tracer.enabled() {
        tracer.decoded(&serde_json::Map::new(), &claims);
    }
    Verified::introspected(provider, claims, audiences, now, tracer)
}
