//! Rendering the decision's answers: an allow's header changes and metadata (for a
//! verified token, or anonymous access and CORS preflights), and a denial's challenge,
//! JSON body and metadata.
//!
//! A denial on a selected route speaks for that route: its 401s carry the route's required
//! `scope` (MCP: the client learns what to ask for before it has a token), its
//! `insufficient_user_authentication` the step-up it needs, and `resource_metadata` names
//! the route's own RFC 9728 document (the global `challenge.resource_metadata` for routes
//! without a `resource`).

use super::claims::{claim, header_value};
use super::{Allow, Decision, Deny, Identity, Request, Scheme};
use crate::algorithm::AlgorithmSet;
use crate::reason::{ErrorCode, Reason};
use crate::route::Selected;
use crate::snapshot::{DpopMode, Requirement, Snapshot};
use crate::token::extract::AuthScheme;
use crate::token::verify::{Observed, Verified};
use serde_json::{Value, json};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

/// Anonymous access or a CORS preflight: no identity, and no identity header survives. Nor
/// does an `Authorization` header that was not validated (`JWT <token>`, `Basic …`, or a
/// preflight's): the upstream might accept a scheme we never checked.
pub(super) fn anonymous(
    snapshot: &Snapshot,
    selected: Selected<'_>,
    request: &Request<'_>,
) -> Allow {
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

pub(super) fn allow(snapshot: &Snapshot, selected: Selected<'_>, verified: &Verified<'_>) -> Allow {
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
pub(super) fn metadata(
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

/// A denial being built: the reason, and what is known about the request when it failed.
#[derive(Debug, Default)]
pub(super) struct Denial<'a> {
    reason: Option<Reason>,
    route: Option<&'a str>,
    provider: Option<&'a str>,
    /// The selected route's requirement (its scopes, step-up and resource), once known.
    requirement: Option<&'a Requirement>,
    /// What an `auto` resource's document URL is built from.
    url_scheme: Option<Scheme>,
    host: &'a str,
    observed: Option<Arc<Observed>>,
    /// How the client presented its token, once known: the challenge it gets the error in.
    scheme: Option<AuthScheme>,
    /// A fresh DPoP nonce for the `DPoP-Nonce` header (with `use_dpop_nonce`).
    nonce: Option<String>,
}

impl<'a> Denial<'a> {
    pub(super) fn new(reason: Reason) -> Denial<'a> {
        Denial {
            reason: Some(reason),
            ..Denial::default()
        }
    }
    pub(super) fn route(self, route: Option<&'a str>) -> Denial<'a> {
        Denial { route, ..self }
    }
    /// A denial on the `selected` route for `request`.
    pub(super) fn selected(self, selected: Selected<'a>, request: &Request<'a>) -> Denial<'a> {
        Denial {
            route: selected.name,
            requirement: Some(selected.requirement),
            url_scheme: request.scheme,
            host: request.host,
            ..self
        }
    }
    pub(super) fn provider(self, provider: Option<&'a str>) -> Denial<'a> {
        Denial { provider, ..self }
    }
    pub(super) fn observed(self, observed: Option<Arc<Observed>>) -> Denial<'a> {
        Denial { observed, ..self }
    }
    pub(super) fn scheme(self, scheme: AuthScheme) -> Denial<'a> {
        Denial {
            scheme: Some(scheme),
            ..self
        }
    }
    pub(super) fn nonce(self, nonce: Option<String>) -> Denial<'a> {
        Denial { nonce, ..self }
    }

    /// The answer: challenge (none for a 5xx: the token was not judged, so nothing is asked
    /// of the client), JSON body and metadata. Written into one buffer each, with nothing
    /// formatted that a table or the snapshot already holds: a flood of bad tokens is
    /// answered at the cost of a cached allow (issue #20).
    pub(super) fn render(self, snapshot: &Snapshot) -> Decision {
        let reason = self.reason.unwrap_or(Reason::Internal);
        let challenge = &snapshot.challenge;
        let mut params = Params {
            realm: challenge.realm.as_deref(),
            error: reason
                .error_code()
                .map(|code| (code.as_str(), reason.description())),
            scope: None,
            step_up: Vec::new(),
            resource_metadata: None,
        };
        if let Some(requirement) = self.requirement {
            // The scopes a 403 lacks, and (MCP) what to ask for on a 401; scope tokens were
            // checked at compile time to fit the quoted-string.
            let scoped = reason == Reason::InsufficientScope || reason.http_status() == 401;
            if scoped && !requirement.scopes.is_empty() {
                params.scope = Some(&requirement.scopes);
            }
            if reason.error_code() == Some(ErrorCode::InsufficientUserAuthentication) {
                params.step_up = super::step_up::challenge_params(&requirement.step_up);
            }
        }
        // The route's own document (none when an `auto` URL cannot be built for this
        // request: better no pointer than one to another resource's), else the global one.
        params.resource_metadata = match self.requirement.and_then(|r| r.resource.as_ref()) {
            Some(resource) => resource.metadata_url(self.url_scheme, self.host),
            None => challenge.resource_metadata.as_deref().map(Cow::Borrowed),
        };
        let www_authenticate = (reason.http_status() < 500)
            .then(|| challenges(snapshot, self.requirement, self.scheme, reason, &params));
        Decision::Deny(Deny {
            reason,
            www_authenticate,
            body: body(reason),
            provider: self.provider.map(str::to_owned),
            route: self.route.map(str::to_owned),
            observed: self.observed,
            dpop_nonce: self.nonce,
            metadata: metadata(
                snapshot,
                None,
                [("reason".to_owned(), reason.code().to_owned())],
            ),
        })
    }
}

/// The JSON body of a denial for `reason`: `{"error": …, "error_description": …}`, made
/// once per reason of `Reason::ALL` (both are constants) and copied.
fn body(reason: Reason) -> String {
    static BODIES: LazyLock<HashMap<Reason, String>> =
        LazyLock::new(|| Reason::ALL.iter().map(|r| (*r, render_body(*r))).collect());
    BODIES
        .get(&reason)
        .cloned()
        .unwrap_or_else(|| render_body(reason))
}

fn render_body(reason: Reason) -> String {
    let error = reason.error_code().map_or("unauthorized", |c| c.as_str());
    json!({ "error": error, "error_description": reason.description() }).to_string()
}

/// A challenge's parameters, in the order they are written: realm, the error, then the
/// rest.
struct Params<'p> {
    realm: Option<&'p str>,
    /// `error` and `error_description`, in the challenge of the scheme the error is about.
    error: Option<(&'static str, &'static str)>,
    scope: Option<&'p [String]>,
    /// The step-up parameters (`acr_values`, `max_age`), already written (rare).
    step_up: Vec<String>,
    resource_metadata: Option<Cow<'p, str>>,
}

/// Writes one challenge's `name="value"` parameters, comma-separated after the scheme.
struct Challenge<'o> {
    out: &'o mut String,
    empty: bool,
}

impl Challenge<'_> {
    fn start<'o>(out: &'o mut String, scheme: &str) -> Challenge<'o> {
        if !out.is_empty() {
            out.push_str(", ");
        }
        out.push_str(scheme);
        Challenge { out, empty: true }
    }
    fn separator(&mut self) {
        self.out.push_str(if self.empty { " " } else { ", " });
        self.empty = false;
    }
    /// `name="v1 v2 …"`: the values space-separated, as `scope` and `algs` are.
    fn param<'v>(&mut self, name: &str, values: impl IntoIterator<Item = &'v str>) {
        self.separator();
        self.out.push_str(name);
        self.out.push_str("=\"");
        for (i, value) in values.into_iter().enumerate() {
            if i > 0 {
                self.out.push(' ');
            }
            self.out.push_str(value);
        }
        self.out.push('"');
    }
    fn written(&mut self, param: &str) {
        self.separator();
        self.out.push_str(param);
    }
    fn params(&mut self, params: &Params<'_>, with_error: bool) {
        if let Some(realm) = params.realm {
            self.param("realm", [realm]);
        }
        if let Some((code, description)) = params.error.filter(|_| with_error) {
            self.param("error", [code]);
            self.param("error_description", [description]);
        }
        if let Some(scope) = params.scope {
            self.param("scope", scope.iter().map(String::as_str));
        }
        params.step_up.iter().for_each(|p| self.written(p));
        if let Some(url) = &params.resource_metadata {
            self.param("resource_metadata", [url.as_ref()]);
        }
    }
}

/// The `WWW-Authenticate` value: a `Bearer` challenge unless every provider the route
/// accepts requires DPoP, and a `DPoP` one (RFC 9449 §7.1, with the proof algorithms in
/// `algs`) when a provider there configures `dpop:`, the client used DPoP, or the denial is
/// about DPoP. Both share `params`; the error goes in the challenge of the scheme the
/// client used (a DPoP error always in the DPoP one). Two challenges are one header value,
/// comma-separated (RFC 9110 §11.6.1), which every front end passes on as it is.
fn challenges(
    snapshot: &Snapshot,
    requirement: Option<&Requirement>,
    used: Option<AuthScheme>,
    reason: Reason,
    params: &Params<'_>,
) -> String {
    let mut algs = AlgorithmSet::default();
    let (mut advertised, mut bearer) = (false, false);
    let accepted = snapshot
        .providers
        .iter()
        .enumerate()
        .filter(|(i, _)| requirement.is_none_or(|r| r.providers.allows(*i)));
    for (_, provider) in accepted {
        let dpop = &provider.dpop;
        if dpop.mode != DpopMode::Off {
            dpop.algorithms.iter().for_each(|a| algs.insert(a));
            advertised |= dpop.advertise;
        }
        bearer |= dpop.mode != DpopMode::Required;
    }
    let proof_error = matches!(
        reason.error_code(),
        Some(ErrorCode::InvalidDpopProof | ErrorCode::UseDpopNonce)
    );
    let dpop_error = proof_error || reason.code().starts_with("dpop_");
    let with_dpop =
        !algs.is_empty() && (advertised || used == Some(AuthScheme::Dpop) || dpop_error);
    let bearer = bearer || !with_dpop;
    let error_in_dpop = with_dpop && (used == Some(AuthScheme::Dpop) || proof_error || !bearer);
    let mut out = String::with_capacity(160);
    if bearer {
        Challenge::start(&mut out, "Bearer").params(params, !error_in_dpop);
    }
    if with_dpop {
        let mut dpop = Challenge::start(&mut out, "DPoP");
        dpop.params(params, error_in_dpop);
        dpop.param("algs", algs.iter().map(|a| a.name()));
    }
    out
}
