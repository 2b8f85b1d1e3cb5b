//! Reading claims for route requirements and identity headers: by name or nested path,
//! required values, scopes, and claims as header values.

use crate::reason::Reason;
use serde_json::{Map, Value};

/// The token's confirmation of `method` (RFC 7800 `cnf`: `jkt` for DPoP, `x5t#S256` for
/// mutual TLS): `None` when it has none (no `cnf`, or a `cnf` for another method); a `cnf`
/// that is no object, or a member that is no string, is malformed.
pub fn confirmation<'c>(
    claims: &'c Map<String, Value>,
    method: &str,
) -> Result<Option<&'c str>, Reason> {
    match claims.get("cnf") {
        None => Ok(None),
        Some(Value::Object(cnf)) => match cnf.get(method) {
            None => Ok(None),
            Some(Value::String(value)) => Ok(Some(value)),
            Some(_) => Err(Reason::ClaimMalformed),
        },
        Some(_) => Err(Reason::ClaimMalformed),
    }
}

/// A claim by name, or else by a nested `a.b` path (a literal name wins, so namespaced
/// claims such as `https://example.com/roles` work).
pub fn claim<'c>(claims: &'c Map<String, Value>, name: &str) -> Option<&'c Value> {
    if let Some(value) = claims.get(name) {
        return Some(value);
    }
    let mut parts = name.split('.');
    let mut value = claims.get(parts.next()?)?;
    for part in parts {
        value = value.as_object()?.get(part)?;
    }
    Some(value)
}

/// Whether the claim equals `required` (strings; numbers and booleans by their JSON text)
/// or is an array containing it.
pub(super) fn claim_has(claims: &Map<String, Value>, name: &str, required: &str) -> bool {
    let scalar_is = |v: &Value| match v {
        Value::String(s) => s == required,
        Value::Number(_) | Value::Bool(_) => {
            serde_json::from_str::<Value>(required).is_ok_and(|r| r == *v)
        }
        _ => false,
    };
    match claim(claims, name) {
        Some(Value::Array(items)) => items.iter().any(scalar_is),
        Some(value) => scalar_is(value),
        None => false,
    }
}

/// Scopes from `scope` (space-separated; never split on commas) or `scp` (an array of
/// strings, or a space-separated string as Entra ID sends it).
pub fn scopes(claims: &Map<String, Value>) -> Vec<&str> {
    match (claims.get("scope"), claims.get("scp")) {
        (Some(Value::String(s)), _) | (None, Some(Value::String(s))) => {
            s.split(' ').filter(|s| !s.is_empty()).collect()
        }
        (None, Some(Value::Array(items))) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// A claim as a header value: strings, numbers and booleans, and arrays of those joined
/// with `,`; nothing with control characters (a header must never be split or injected
/// into), nothing empty.
pub(super) fn header_value(value: &Value) -> Option<String> {
    let scalar = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    let text = match value {
        Value::Array(items) => items
            .iter()
            .map(scalar)
            .collect::<Option<Vec<_>>>()?
            .join(","),
        other => scalar(other)?,
    };
    let safe = !text.is_empty() && text.chars().all(|c| c == '\t' || !c.is_control());
    safe.then_some(text)
}
