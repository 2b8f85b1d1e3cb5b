//! The decision: a pure function of (snapshot, request, now). No I/O, no clock, no globals;
//! the gRPC adapter reads the clock once and converts to and from protobuf.
//!
//! `decide_unguarded` runs every stage in order, so it reads against SPEC §3; the stages'
//! own rules live in the submodules, the answers' types in `outcome`.

use crate::dpop::ProofState;
use crate::introspection::Answer;
use crate::reason::Reason;
use crate::route::{self, Target};
use crate::snapshot::Snapshot;
use crate::token::cache::TokenCache;
use crate::token::extract::credential;
use crate::token::verify::{Accept, Rejection, UnixTime, verify_traced};
use crate::trace::{Check, Off, Tracer, stage, text};

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
    decide_introspected(snapshot, request, now, cache.into(), None, tracer)
}

/// [`decide_cached`] with everything the server remembers (`memory`: the token cache and
/// the DPoP proofs seen), judging the token by `introspected` — what the introspection
/// endpoint of the provider this decision names said about the request's token — when the
/// token goes to introspection. Without it, such a token is a 503
/// `introspection_unavailable` naming the provider: the authorizer's cue to ask it.
pub fn decide_introspected(
    snapshot: &Snapshot,
    request: &Request<'_>,
    now: UnixTime,
    memory: Memory<'_>,
    introspected: Option<&Answer>,
    tracer: &mut dyn Tracer,
) -> Decision {
    let cache = memory.tokens.filter(|_| !tracer.enabled());
    let fresh;
    let proofs = match memory.proofs {
        Some(proofs) => proofs,
        None => {
            fresh = ProofState::default();
            &fresh
        }
    };
    let inputs = Inputs {
        snapshot,
        request,
        now,
        cache,
        proofs,
        introspected,
    };
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        decide_unguarded(inputs, &mut *tracer)
    }))
    .unwrap_or_else(|_| Denial::new(Reason::Internal).render(snapshot))
}

/// The RFC 9728 document answering `request`, without deciding anything else: for a
/// metadata request a proxy routed to one of our listeners rather than asking a Check
/// (`None`: no `resource` answers it; a deny: an `auto` URL that cannot be built).
pub fn document(snapshot: &Snapshot, request: &Request<'_>) -> Option<Decision> {
    metadata::answer(snapshot, request, &mut Off)
}

/// What one decision reads, passed whole into the guarded part.
struct Inputs<'a, 'r> {
    snapshot: &'a Snapshot,
    request: &'a Request<'r>,
    now: UnixTime,
    cache: Option<&'a TokenCache>,
    proofs: &'a ProofState,
    introspected: Option<&'a Answer>,
}

fn decide_unguarded(inputs: Inputs<'_, '_>, tracer: &mut dyn Tracer) -> Decision {
    let Inputs {
        snapshot,
        request,
        now,
        cache,
        proofs,
        introspected,
    } = inputs;
    // A stand-in for a bug, so the guard above has a test that fails without it.
    #[cfg(test)]
    if request.method == "PANIC" {
        panic!("a test asked the decision to panic");
    }
    if let Some(answer) = metadata::answer(snapshot, request, tracer) {
        return answer;
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
    let requirement = selected.requirement;
    // Every denial from here on is the route's: its challenge names the route's scopes and
    // metadata document.
    let refuse = |reason| Denial::new(reason).selected(selected, request);
    const CREDENTIALS: &str = "Authorization: Bearer (or DPoP) <one token>";
    if requirement.cors_preflight
        && request.cors_preflight
        && request.method.eq_ignore_ascii_case("OPTIONS")
    {
        let _ = stage(tracer, Check::Credentials, Ok(()), || {
            (CREDENTIALS.into(), "none needed: a CORS preflight".into())
        });
        return Decision::Allow(anonymous(snapshot, selected, request));
    }
    let presented = credential(&request.authorization);
    let anonymous_ok = requirement.allow_anonymous && matches!(presented, Ok(None));
    let presented = presented.and_then(|t| t.ok_or(Reason::NoCredentials).map(Some));
    let presented = stage(
        tracer,
        Check::Credentials,
        presented.or_else(|r| if anonymous_ok { Ok(None) } else { Err(r) }),
        || {
            let actual = match presented {
                Ok(Some(c)) => format!("a {} token of {} bytes", c.scheme.name(), c.token.len()),
                _ if anonymous_ok => "no token: anonymous access allowed".to_owned(),
                Err(Reason::NoCredentials) => "no bearer token".to_owned(),
                Err(reason) => reason.description().to_owned(),
                Ok(None) => String::new(),
            };
            (CREDENTIALS.into(), actual)
        },
    );
    let presented = match presented {
        Ok(Some(presented)) => presented,
        Ok(None) => return Decision::Allow(anonymous(snapshot, selected, request)),
        Err(reason) => return refuse(reason).render(snapshot),
    };
    let token = presented.token;
    // From here on a denial's challenge answers in the scheme the client used.
    let refuse = |reason| refuse(reason).scheme(presented.scheme);
    let accept = Accept::from(requirement);
    let verified = match cache {
        Some(cache) => cache.verify(token, snapshot, accept, now),
        None => verify_traced(token, snapshot, accept, now, tracer),
    };
    let verified = verified.or_else(|rejection| {
        match introspector_for(token, &rejection, snapshot, &requirement.providers) {
            Some((provider, opaque)) => {
                let audiences = accept.audiences_of(provider);
                judge(provider, audiences, opaque, introspected, now, tracer).map_err(|reason| {
                    Rejection {
                        reason,
                        provider: Some(provider),
                        observed: rejection.observed,
                    }
                })
            }
            None => Err(rejection),
        }
    });
    let verified = match verified {
        Ok(verified) => verified,
        Err(rejection) => {
            return refuse(rejection.reason)
                .provider(rejection.provider.map(|p| p.name.as_str()))
                .observed(rejection.observed)
                .render(snapshot);
        }
    };
    let provider = Some(verified.provider().name.as_str());
    let bound = crate::dpop::check(
        verified.provider(),
        verified.claims(),
        presented,
        request,
        proofs,
        now,
        tracer,
    );
    if let Err(refusal) = bound {
        return refuse(refusal.reason)
            .provider(provider)
            .observed(Some(verified.observed()))
            .nonce(refusal.nonce)
            .render(snapshot);
    }
    if let Err(reason) = mtls::check(snapshot, request, &verified, tracer) {
        return refuse(reason)
            .provider(provider)
            .observed(Some(verified.observed()))
            .render(snapshot);
    }
    if let Err(reason) = step_up::check(&verified, &requirement.step_up, now, tracer) {
        return refuse(reason)
            .provider(provider)
            .observed(Some(verified.observed()))
            .render(snapshot);
    }
    let granted = scopes(verified.claims());
    let implies = &snapshot.scope_implies;
    let scoped = if requirement
        .scopes
        .iter()
        .all(|s| implies.granted_by(&granted, s).is_some())
    {
        Ok(())
    } else {
        Err(Reason::InsufficientScope)
    };
    if let Err(reason) = stage(tracer, Check::Scopes, scoped, || {
        let required = format!("[{}]", requirement.scopes.join(" "));
        // Which held scope satisfied each requirement, when it was not the scope itself.
        let via: Vec<String> = requirement
            .scopes
            .iter()
            .filter_map(|s| match implies.granted_by(&granted, s) {
                Some(g) if g != s => Some(format!("{s} via {g}")),
                _ => None,
            })
            .collect();
        let held = format!("[{}]", granted.join(" "));
        let actual = match via.as_slice() {
            [] => held,
            via => format!("{held}; {}", via.join(", ")),
        };
        (required, actual)
    }) {
        return refuse(reason)
            .provider(provider)
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
        return refuse(reason)
            .provider(provider)
            .observed(Some(verified.observed()))
            .render(snapshot);
    }
    Decision::Allow(allow(snapshot, selected, &verified))
}

mod answer;
mod claims;
mod introspected;
mod memory;
mod metadata;
mod mtls;
mod outcome;
mod request;
mod step_up;

pub use memory::Memory;
pub use outcome::{Allow, Decision, Deny, Identity, JSON_ANSWER_HEADERS, Serve};
pub use request::{HeaderLookup, Peer, Request, Scheme, is_cors_preflight};

use answer::{Denial, allow, anonymous};
use claims::claim_has;
pub use claims::{claim, confirmation, scopes};
use introspected::{introspector_for, judge};

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_dpop;
#[cfg(test)]
mod tests_hardening;
#[cfg(test)]
mod tests_introspection;
#[cfg(test)]
pub(crate) mod tests_metadata;
#[cfg(test)]
mod tests_mtls;
#[cfg(test)]
mod tests_resource;
#[cfg(test)]
mod tests_trace;
