//! The decision: a pure function of (snapshot, request, now). No I/O, no clock, no globals;
//! the gRPC adapter reads the clock once and converts to and from protobuf.

use crate::reason::Reason;
use crate::snapshot::Snapshot;
use crate::token::extract::bearer_token;
use crate::token::verify::{UnixTime, Verified, verify};
use serde_json::{Value, json};

/// The parts of an HTTP request the decision reads.
#[derive(Debug, Default, Clone)]
pub struct Request<'a> {
    /// Every `Authorization` value received, one per header line (or Envoy's joined value).
    pub authorization: Vec<&'a [u8]>,
    pub method: &'a str,
    pub path: &'a str,
    pub host: &'a str,
}

/// Allow or deny, with everything the adapter needs to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow(Allow),
    Deny(Deny),
}

/// The verified identity and the header changes for the upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allow {
    pub provider: String,
    pub issuer: String,
    pub subject: Option<String>,
    pub scopes: Vec<String>,
    /// Headers to set, overwriting any value the client sent.
    pub set_headers: Vec<(String, String)>,
    /// Headers to remove: `authorization` when stripped, and every configured identity
    /// header whose claim is absent (so a client cannot supply it).
    pub remove_headers: Vec<String>,
}

/// A denial, rendered: status, challenge and JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deny {
    pub reason: Reason,
    pub status: u16,
    /// The challenge; `None` for a 503 (the token was not judged, so nothing is asked of
    /// the client).
    pub www_authenticate: Option<String>,
    pub body: String,
    /// The provider selected by the token's `iss`, when the failure came after selection.
    pub provider: Option<String>,
}

/// Decides `request` against `snapshot` at `now`.
pub fn decide(snapshot: &Snapshot, request: &Request<'_>, now: UnixTime) -> Decision {
    let requirement = &snapshot.default_requirement;
    let token = match bearer_token(&request.authorization) {
        Ok(Some(token)) => token,
        Ok(None) => return deny(snapshot, Reason::NoCredentials, None),
        Err(reason) => return deny(snapshot, reason, None),
    };
    match verify(token, snapshot, &requirement.providers, now) {
        Ok(verified) => Decision::Allow(allow(snapshot, &verified)),
        Err(rejection) => deny(
            snapshot,
            rejection.reason,
            rejection.provider.map(|p| p.name.clone()),
        ),
    }
}

fn allow(snapshot: &Snapshot, verified: &Verified<'_>) -> Allow {
    let claims = verified.claims();
    let mut set_headers = Vec::new();
    let mut remove_headers = Vec::new();
    for mapping in &snapshot.upstream.claim_headers {
        match claims.get(&mapping.claim).and_then(header_value) {
            Some(value) => set_headers.push((mapping.header.clone(), value)),
            None => remove_headers.push(mapping.header.clone()),
        }
    }
    if snapshot.upstream.strip_authorization {
        remove_headers.push("authorization".to_owned());
    }
    Allow {
        provider: verified.provider().name.clone(),
        issuer: claims
            .get("iss")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        subject: claims.get("sub").and_then(Value::as_str).map(str::to_owned),
        scopes: scopes(claims),
        set_headers,
        remove_headers,
    }
}

/// Scopes from `scope` (space-separated; never split on commas) or `scp` (an array of
/// strings, or a space-separated string as Entra ID sends it).
pub fn scopes(claims: &serde_json::Map<String, Value>) -> Vec<String> {
    let split = |s: &str| {
        s.split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    };
    match (claims.get("scope"), claims.get("scp")) {
        (Some(Value::String(s)), _) | (None, Some(Value::String(s))) => split(s),
        (None, Some(Value::Array(items))) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// A claim as a header value: strings, numbers and booleans; nothing with control
/// characters (a header must never be split or injected into).
fn header_value(value: &Value) -> Option<String> {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return None,
    };
    let safe = !text.is_empty() && text.chars().all(|c| c == '\t' || !c.is_control());
    safe.then_some(text)
}

fn deny(snapshot: &Snapshot, reason: Reason, provider: Option<String>) -> Decision {
    let challenge = &snapshot.challenge;
    let mut params = Vec::new();
    if let Some(realm) = &challenge.realm {
        params.push(format!("realm=\"{realm}\""));
    }
    if let Some(code) = reason.error_code() {
        params.push(format!("error=\"{}\"", code.as_str()));
        params.push(format!("error_description=\"{}\"", reason.description()));
    }
    if let Some(url) = &challenge.resource_metadata {
        params.push(format!("resource_metadata=\"{url}\""));
    }
    let www_authenticate = if reason.http_status() == 503 {
        None
    } else if params.is_empty() {
        Some("Bearer".to_owned())
    } else {
        Some(format!("Bearer {}", params.join(", ")))
    };
    let error = reason.error_code().map_or("unauthorized", |c| c.as_str());
    let body = json!({ "error": error, "error_description": reason.description() }).to_string();
    Decision::Deny(Deny {
        reason,
        status: reason.http_status(),
        www_authenticate,
        body,
        provider,
    })
}

#[cfg(test)]
mod tests;
