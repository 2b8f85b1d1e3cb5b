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
    observed: Option<Observed>,
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
    pub(super) fn observed(self, observed: Option<Observed>) -> Denial<'a> {
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
    /// of the client), JSON body and metadata.
    pub(super) fn render(self, snapshot: &Snapshot) -> Decision {
        let reason = self.reason.unwrap_or(Reason::Internal);
        let challenge = &snapshot.challenge;
        // realm, then the error, then the rest (`params`), in every challenge.
        let realm = challenge
            .realm
            .as_ref()
            .map(|realm| format!("realm=\"{realm}\""));
        let mut params = Vec::new();
        let error: Vec<String> = reason.error_code().map_or_else(Vec::new, |code| {
            vec![
                format!("error=\"{}\"", code.as_str()),
                format!("error_description=\"{}\"", reason.description()),
            ]
        });
        if let Some(requirement) = self.requirement {
            // The scopes a 403 lacks, and (MCP) what to ask for on a 401; scope tokens were
            // checked at compile time to fit the quoted-string.
            let scoped = reason == Reason::InsufficientScope || reason.http_status() == 401;
            if scoped && !requirement.scopes.is_empty() {
                params.push(format!("scope=\"{}\"", requirement.scopes.join(" ")));
            }
            if reason.error_code() == Some(ErrorCode::InsufficientUserAuthentication) {
                params.extend(super::step_up::challenge_params(&requirement.step_up));
            }
        }
        // The route's own document (none when an `auto` URL cannot be built for this
        // request: better no pointer than one to another resource's), else the global one.
        let resource_metadata = match self.requirement.and_then(|r| r.resource.as_ref()) {
            Some(resource) => resource.metadata_url(self.url_scheme, self.host),
            None => challenge.resource_metadata.clone(),
        };
        if let Some(url) = resource_metadata {
            params.push(format!("resource_metadata=\"{url}\""));
        }
        let www_authenticate = (reason.http_status() < 500).then(|| {
            challenges(
                snapshot,
                self.requirement,
                self.scheme,
                reason,
                Params {
                    realm,
                    error,
                    rest: params,
                },
            )
        });
        let error = reason.error_code().map_or("unauthorized", |c| c.as_str());
        let body = json!({ "error": error, "error_description": reason.description() }).to_string();
        Decision::Deny(Deny {
            reason,
            www_authenticate,
            body,
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

/// The `WWW-Authenticate` value: a `Bearer` challenge unless every provider the route
/// accepts requires DPoP, and a `DPoP` one (RFC 9449 §7.1, with the proof algorithms in
/// `algs`) when a provider there configures `dpop:`, the client used DPoP, or the denial is
/// about DPoP. Both share `params`; the error goes in the challenge of the scheme the
/// client used (a DPoP error always in the DPoP one). Two challenges are one header value,
/// comma-separated (RFC 9110 §11.6.1), which every front end passes on as it is.
/// A challenge's parameters, in the order they are written.
struct Params {
    realm: Option<String>,
    /// `error` and `error_description`, in the challenge of the scheme the error is about.
    error: Vec<String>,
    rest: Vec<String>,
}

fn challenges(
    snapshot: &Snapshot,
    requirement: Option<&Requirement>,
    used: Option<AuthScheme>,
    reason: Reason,
    params: Params,
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
    let Params { realm, error, rest } = params;
    let challenge = |scheme: &str, error: &[String], extra: Option<String>| {
        let all: Vec<&str> = realm
            .iter()
            .chain(error)
            .chain(&rest)
            .map(String::as_str)
            .chain(extra.as_deref())
            .collect();
        if all.is_empty() {
            scheme.to_owned()
        } else {
            format!("{scheme} {}", all.join(", "))
        }
    };
    let mut out = Vec::new();
    if bearer {
        let error: &[String] = if error_in_dpop { &[] } else { &error };
        out.push(challenge("Bearer", error, None));
    }
    if with_dpop {
        let names: Vec<&str> = algs.iter().map(|a| a.name()).collect();
        let error: &[String] = if error_in_dpop { &error } else { &[] };
        out.push(challenge(
            "DPoP",
            error,
            Some(format!("algs=\"{}\"", names.join(" "))),
        ));
    }
    out.join(", ")
}
