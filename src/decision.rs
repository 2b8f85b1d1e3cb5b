//! The decision: a pure function of (snapshot, request, now). No I/O, no clock, no globals;
//! the gRPC adapter reads the clock once and converts to and from protobuf.

use crate::reason::Reason;
use crate::route::{self, Selected, Target};
use crate::snapshot::Snapshot;
use crate::token::cache::TokenCache;
use crate::token::extract::bearer_token;
use crate::token::verify::{Observed, UnixTime, Verified, verify_traced};
use crate::trace::{Check, Off, Tracer, stage, text};
use serde_json::{Map, Value, json};

/// The parts of an HTTP request the decision reads.
#[derive(Debug, Default, Clone)]
pub struct Request<'a> {
    /// Every `Authorization` value received, one per header line (or Envoy's joined value).
    pub authorization: Vec<&'a [u8]>,
    pub method: &'a str,
    /// `:path`, query string included.
    pub path: &'a str,
    /// `:authority`.
    pub host: &'a str,
    /// Envoy's per-route `context_extensions["route"]`.
    pub route_name: Option<&'a str>,
    /// Both `Origin` and `Access-Control-Request-Method` are present and not empty (see
    /// [`is_cors_preflight`], which every front end uses to fill this).
    pub cors_preflight: bool,
}

/// Whether a request's `Origin` and `Access-Control-Request-Method` make it a CORS
/// preflight (with an `OPTIONS` method, checked by the decision): both present and not
/// empty — an empty `Origin` is not a cross-origin request.
pub fn is_cors_preflight(origin: Option<&[u8]>, request_method: Option<&[u8]>) -> bool {
    origin.is_some_and(|v| !v.is_empty()) && request_method.is_some_and(|v| !v.is_empty())
}

/// Allow or deny, with everything the adapter needs to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow(Allow),
    Deny(Deny),
}

/// Who the verified token speaks for (for the audit log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub provider: String,
    pub subject: Option<String>,
}

/// An allowed request and the header changes for the upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allow {
    /// The selected route's name, if it has one.
    pub route: Option<String>,
    /// `None` for anonymous access and CORS preflights.
    pub identity: Option<Identity>,
    /// Headers to set, overwriting any value the client sent.
    pub set_headers: Vec<(String, String)>,
    /// Headers to remove: `authorization` when stripped, and every configured identity
    /// header not set here (so a client can never supply one).
    pub remove_headers: Vec<String>,
    /// `dynamic_metadata` fields: `route` (when named), then `provider` and the configured
    /// claims, or `anonymous: "true"`; empty when turned off.
    pub metadata: Vec<(String, String)>,
}

/// A denial, rendered: challenge and JSON body (the status is the reason's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deny {
    pub reason: Reason,
    /// The challenge; `None` for a 5xx (the token was not judged, so nothing is asked of
    /// the client).
    pub www_authenticate: Option<String>,
    pub body: String,
    /// The provider selected by the token's `iss`, when the failure came after selection.
    pub provider: Option<String>,
    pub route: Option<String>,
    /// What the token said (`iss`, `aud`, `kid`, `alg`, `typ`), when it could be decoded.
    pub observed: Option<Observed>,
    /// `dynamic_metadata` fields: `reason`; empty when turned off.
    pub metadata: Vec<(String, String)>,
}

impl Deny {
    /// The HTTP status the client gets.
    pub fn status(&self) -> u16 {
        self.reason.http_status()
    }
}

/// Decides `request` against `snapshot` at `now`: route, then SPEC §3 steps 1-6.
pub fn decide(snapshot: &Snapshot, request: &Request<'_>, now: UnixTime) -> Decision {
    decide_cached(snapshot, request, now, None)
}

/// [`decide`], with verified tokens answered from `cache` when given (same verdicts: the
/// cache only skips work it can prove was done for this token, config and key set).
pub fn decide_cached(
    snapshot: &Snapshot,
    request: &Request<'_>,
    now: UnixTime,
    cache: Option<&TokenCache>,
) -> Decision {
    decide_traced(snapshot, request, now, cache, &mut Off)
}

/// The decision, recording every stage it runs in `tracer` (a traced decision never answers
/// from the cache: the trace shows the checks themselves).
///
/// A panic inside (a bug) is a 500 `internal` deny: failed closed, whatever Envoy's
/// `failure_mode_allow` says, and never a reset stream. The decision reads shared state
/// only through `&` (the cache's shards are mutexes, which a panic poisons safely).
pub fn decide_traced(
    snapshot: &Snapshot,
    request: &Request<'_>,
    now: UnixTime,
    cache: Option<&TokenCache>,
    tracer: &mut dyn Tracer,
) -> Decision {
    let cache = cache.filter(|_| !tracer.enabled());
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        decide_unguarded(snapshot, request, now, cache, &mut *tracer)
    }))
    .unwrap_or_else(|_| Denial::new(Reason::Internal).render(snapshot))
}

fn decide_unguarded(
    snapshot: &Snapshot,
    request: &Request<'_>,
    now: UnixTime,
    cache: Option<&TokenCache>,
    tracer: &mut dyn Tracer,
) -> Decision {
    // A stand-in for a bug, so the guard above has a test that fails without it.
    #[cfg(test)]
    if request.method == "PANIC" {
        panic!("a test asked the decision to panic");
    }
    let target = Target {
        method: request.method,
        path: request.path,
        host: request.host,
        route_name: request.route_name,
    };
    let selected = route::select(snapshot, &target);
    if let Ok(selected) = &selected {
        tracer.route(selected.index);
    }
    let selected = stage(tracer, Check::Route, selected, || {
        let actual = match &selected {
            Ok(s) => match (s.index, s.name) {
                (_, Some(name)) => format!("route {name}"),
                (Some(index), None) => format!("routes[{index}]"),
                (None, None) => "default (no route matched)".to_owned(),
            },
            Err(Reason::RouteNotConfigured) => format!(
                "context_extensions name route {:?}, which the config lacks",
                request.route_name.unwrap_or_default()
            ),
            Err(Reason::HostNotCanonical) => {
                format!("a host that is not canonical: {:?}", request.host)
            }
            Err(_) => "a path that is not canonical".to_owned(),
        };
        ("a route for the request".into(), actual)
    });
    let selected = match selected {
        Ok(selected) => selected,
        Err(reason) => return Denial::new(reason).render(snapshot),
    };
    let route = selected.name;
    let requirement = selected.requirement;
    const CREDENTIALS: &str = "Authorization: Bearer <one token>";
    if requirement.cors_preflight
        && request.cors_preflight
        && request.method.eq_ignore_ascii_case("OPTIONS")
    {
        let _ = stage(tracer, Check::Credentials, Ok(()), || {
            (CREDENTIALS.into(), "none needed: a CORS preflight".into())
        });
        return Decision::Allow(anonymous(snapshot, selected, request));
    }
    let token = bearer_token(&request.authorization);
    let anonymous_ok = requirement.allow_anonymous && matches!(token, Ok(None));
    let token = token.and_then(|t| t.ok_or(Reason::NoCredentials).map(Some));
    let token = stage(
        tracer,
        Check::Credentials,
        token.or_else(|r| if anonymous_ok { Ok(None) } else { Err(r) }),
        || {
            let actual = match token {
                Ok(Some(t)) => format!("a bearer token of {} bytes", t.len()),
                _ if anonymous_ok => "no token: anonymous access allowed".to_owned(),
                Err(Reason::NoCredentials) => "no bearer token".to_owned(),
                Err(reason) => reason.description().to_owned(),
                Ok(None) => String::new(),
            };
            (CREDENTIALS.into(), actual)
        },
    );
    let token = match token {
        Ok(Some(token)) => token,
        Ok(None) => return Decision::Allow(anonymous(snapshot, selected, request)),
        Err(reason) => return Denial::new(reason).route(route).render(snapshot),
    };
    let verified = match cache {
        Some(cache) => cache.verify(token, snapshot, &requirement.providers, now),
        None => verify_traced(token, snapshot, &requirement.providers, now, tracer),
    };
    let verified = match verified {
        Ok(verified) => verified,
        Err(rejection) => {
            return Denial::new(rejection.reason)
                .route(route)
                .provider(rejection.provider.map(|p| p.name.as_str()))
                .observed(rejection.observed.map(|o| *o))
                .render(snapshot);
        }
    };
    let provider = Some(verified.provider().name.as_str());
    let granted = scopes(verified.claims());
    let scoped = if requirement.scopes.iter().all(|s| granted.contains(s)) {
        Ok(())
    } else {
        Err(Reason::InsufficientScope)
    };
    if let Err(reason) = stage(tracer, Check::Scopes, scoped, || {
        let required = format!("[{}]", requirement.scopes.join(" "));
        (required, format!("[{}]", granted.join(" ")))
    }) {
        return Denial::new(reason)
            .route(route)
            .provider(provider)
            .scope(requirement.scopes.join(" "))
            .observed(Some(verified.observed()))
            .render(snapshot);
    }
    let claims = verified.claims();
    let matched = if requirement
        .claims
        .iter()
        .all(|(name, value)| claim_has(claims, name, value))
    {
        Ok(())
    } else {
        Err(Reason::ClaimMismatch)
    };
    if let Err(reason) = stage(tracer, Check::ClaimValues, matched, || {
        let list = |f: &dyn Fn(&str, &str) -> String| {
            let items: Vec<String> = requirement.claims.iter().map(|(k, v)| f(k, v)).collect();
            items.join(", ")
        };
        (
            list(&|k, v| format!("{k}={v}")),
            list(&|k, _| format!("{k}={}", text(claims.get(k)))),
        )
    }) {
        return Denial::new(reason)
            .route(route)
            .provider(provider)
            .observed(Some(verified.observed()))
            .render(snapshot);
    }
    Decision::Allow(allow(snapshot, selected, &verified))
}

/// Anonymous access or a CORS preflight: no identity, and no identity header survives. Nor
/// does an `Authorization` header that was not validated (`JWT <token>`, `Basic …`, or a
/// preflight's): the upstream might accept a scheme we never checked.
fn anonymous(snapshot: &Snapshot, selected: Selected<'_>, request: &Request<'_>) -> Allow {
    let mut remove_headers = snapshot.identity_headers.clone();
    if selected.requirement.upstream.strip_authorization || !request.authorization.is_empty() {
        remove_headers.push("authorization".to_owned());
    }
    let metadata = metadata(
        snapshot,
        selected.name,
        [("anonymous".to_owned(), "true".to_owned())],
    );
    Allow {
        route: selected.name.map(str::to_owned),
        identity: None,
        set_headers: Vec::new(),
        remove_headers,
        metadata,
    }
}

fn allow(snapshot: &Snapshot, selected: Selected<'_>, verified: &Verified<'_>) -> Allow {
    let claims = verified.claims();
    let upstream = &selected.requirement.upstream;
    let set_headers: Vec<(String, String)> = upstream
        .claim_headers
        .iter()
        .filter_map(|m| {
            claim(claims, &m.claim)
                .and_then(header_value)
                .map(|v| (m.header.clone(), v))
        })
        .collect();
    let mut remove_headers: Vec<String> = snapshot
        .identity_headers
        .iter()
        .filter(|h| !set_headers.iter().any(|(set, _)| set == *h))
        .cloned()
        .collect();
    if upstream.strip_authorization {
        remove_headers.push("authorization".to_owned());
    }
    let provider = &verified.provider().name;
    let claim_fields = snapshot.metadata.claims.iter().filter_map(|name| {
        let value = claim(claims, name).and_then(header_value)?;
        Some((name.clone(), value))
    });
    let provider_field = ("provider".to_owned(), provider.clone());
    let metadata = metadata(
        snapshot,
        selected.name,
        std::iter::once(provider_field).chain(claim_fields),
    );
    Allow {
        route: selected.name.map(str::to_owned),
        identity: Some(Identity {
            provider: provider.clone(),
            subject: claims.get("sub").and_then(Value::as_str).map(str::to_owned),
        }),
        set_headers,
        remove_headers,
        metadata,
    }
}

/// `dynamic_metadata` fields: `route` when named, then `fields`; nothing when turned off
/// (`fields` is lazy, so no claim is formatted then).
fn metadata(
    snapshot: &Snapshot,
    route: Option<&str>,
    fields: impl IntoIterator<Item = (String, String)>,
) -> Vec<(String, String)> {
    if !snapshot.metadata.enabled {
        return Vec::new();
    }
    let route = route.map(|r| ("route".to_owned(), r.to_owned()));
    route.into_iter().chain(fields).collect()
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
fn claim_has(claims: &Map<String, Value>, name: &str, required: &str) -> bool {
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
pub fn scopes(claims: &Map<String, Value>) -> Vec<String> {
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

/// A claim as a header value: strings, numbers and booleans, and arrays of those joined
/// with `,`; nothing with control characters (a header must never be split or injected
/// into), nothing empty.
fn header_value(value: &Value) -> Option<String> {
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

/// A denial being built: the reason, and what is known about the request when it failed.
#[derive(Debug, Default)]
struct Denial<'a> {
    reason: Option<Reason>,
    route: Option<&'a str>,
    provider: Option<&'a str>,
    /// The required scope list of an `insufficient_scope` answer.
    scope: Option<String>,
    observed: Option<Observed>,
}

impl<'a> Denial<'a> {
    fn new(reason: Reason) -> Denial<'a> {
        Denial {
            reason: Some(reason),
            ..Denial::default()
        }
    }
    fn route(self, route: Option<&'a str>) -> Denial<'a> {
        Denial { route, ..self }
    }
    fn provider(self, provider: Option<&'a str>) -> Denial<'a> {
        Denial { provider, ..self }
    }
    fn scope(self, scope: String) -> Denial<'a> {
        Denial {
            scope: Some(scope),
            ..self
        }
    }
    fn observed(self, observed: Option<Observed>) -> Denial<'a> {
        Denial { observed, ..self }
    }

    /// The answer: challenge (none for a 5xx: the token was not judged, so nothing is asked
    /// of the client), JSON body and metadata.
    fn render(self, snapshot: &Snapshot) -> Decision {
        let reason = self.reason.unwrap_or(Reason::Internal);
        let challenge = &snapshot.challenge;
        let mut params = Vec::new();
        if let Some(realm) = &challenge.realm {
            params.push(format!("realm=\"{realm}\""));
        }
        if let Some(code) = reason.error_code() {
            params.push(format!("error=\"{}\"", code.as_str()));
            params.push(format!("error_description=\"{}\"", reason.description()));
        }
        if let Some(scope) = &self.scope {
            // Scope tokens were checked at compile time to fit the quoted-string.
            params.push(format!("scope=\"{scope}\""));
        }
        if let Some(url) = &challenge.resource_metadata {
            params.push(format!("resource_metadata=\"{url}\""));
        }
        let www_authenticate = if reason.http_status() >= 500 {
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
            www_authenticate,
            body,
            provider: self.provider.map(str::to_owned),
            route: self.route.map(str::to_owned),
            observed: self.observed,
            metadata: metadata(
                snapshot,
                None,
                [("reason".to_owned(), reason.code().to_owned())],
            ),
        })
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_hardening;
