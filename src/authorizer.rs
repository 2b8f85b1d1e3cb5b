//! The authorization core every front end calls: it owns the snapshot handle, the token
//! cache, the unknown-`kid` refetch and the record of every answer (metrics, audit log,
//! recent denials). A front end converts its wire format to a [`Request`], says how long
//! it may wait, and converts the [`Decision`] back; no rule lives in a front end.
//!
//! The decision itself stays the pure [`decide_traced`]; what this adds is the one
//! effectful rule: a token whose `kid` is unknown to a remote provider (or whose keys
//! never arrived) lets the refresher fetch once, coalesced and rate-limited, within the
//! caller's deadline, and is decided again on the new snapshot.

use crate::decision::{Decision, Memory, Request, decide_introspected};
use crate::dpop::ProofState;
use crate::introspection::Introspector;
use crate::observe::{Observer, Origin};
use crate::reason::Reason;
use crate::remote::RemoteKeys;
use crate::snapshot::SharedSnapshot;
use crate::telemetry::{CheckSpan, INTROSPECTION_SPAN, REFETCH_SPAN, Telemetry};
use crate::token::cache::TokenCache;
use crate::token::extract::access_token;
use crate::token::verify::UnixTime;
use crate::trace::Off;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a Check may wait for an unknown-`kid` refetch when the front end knows no
/// deadline (Envoy's own default ext_authz timeout is 200 ms).
pub const DEFAULT_REFETCH_WAIT: Duration = Duration::from_millis(200);

/// The refetch budget for a request whose caller gives up after `deadline` (Envoy's
/// `grpc-timeout`, or `x-envoy-expected-rq-timeout-ms` in HTTP mode): 80 % of it, leaving
/// the rest to answer in; [`DEFAULT_REFETCH_WAIT`] without one.
pub fn refetch_wait(deadline: Option<Duration>) -> Duration {
    deadline.map_or(DEFAULT_REFETCH_WAIT, |d| d.mul_f64(0.8))
}

/// The core: cheap to clone (every part is shared).
#[derive(Clone)]
pub struct Authorizer {
    snapshot: SharedSnapshot,
    remote: Option<Arc<RemoteKeys>>,
    observer: Arc<Observer>,
    cache: Option<Arc<TokenCache>>,
    /// DPoP proofs seen and the nonce key, for the process's lifetime.
    proofs: Arc<ProofState>,
    introspector: Option<Arc<Introspector>>,
    /// Traces on: a span per Check. `None` costs a Check nothing (no span, no header read).
    telemetry: Option<Arc<Telemetry>>,
}

impl Authorizer {
    /// `remote`, when given, is asked to refetch a provider's keys for an unknown `kid`;
    /// `observer` records every answer.
    pub fn new(
        snapshot: impl Into<SharedSnapshot>,
        remote: Option<Arc<RemoteKeys>>,
        observer: Arc<Observer>,
    ) -> Authorizer {
        Authorizer {
            snapshot: snapshot.into(),
            remote,
            observer,
            cache: None,
            proofs: Arc::default(),
            introspector: None,
            telemetry: None,
        }
    }

    /// Traces every Check with `telemetry` (see [`crate::telemetry`]).
    pub fn with_telemetry(mut self, telemetry: Option<Arc<Telemetry>>) -> Authorizer {
        self.telemetry = telemetry;
        self
    }

    /// Answers repeated tokens from `cache` (see [`TokenCache`]).
    pub fn with_cache(mut self, cache: Option<Arc<TokenCache>>) -> Authorizer {
        self.cache = cache;
        self
    }

    /// Asks `introspector` about tokens the decision sends to introspection (without one,
    /// they are a 503 `introspection_unavailable`).
    pub fn with_introspector(mut self, introspector: Option<Arc<Introspector>>) -> Authorizer {
        self.introspector = introspector;
        self
    }

    /// Decides `request` (waiting at most `wait` for a key refetch), records the answer
    /// with `origin`, and returns it.
    pub async fn check(
        &self,
        request: &Request<'_>,
        origin: Origin<'_>,
        wait: Duration,
    ) -> Decision {
        let started = Instant::now();
        let now = UnixTime::now();
        let span = self.telemetry.as_deref().map(|t| t.check(origin.headers));
        let decision = self
            .decide_with_waits(request, now, wait, span.as_ref())
            .await;
        if let Some(span) = span {
            span.end(&decision);
        }
        self.observer
            .record(&decision, started.elapsed(), now, origin);
        decision
    }

    /// The RFC 9728 document for a metadata request a proxy routed to us (not a check),
    /// recorded like a Check's answer; `None` when no `resource` answers it (see
    /// [`crate::decision::document`]).
    pub fn document(&self, request: &Request<'_>, origin: Origin<'_>) -> Option<Decision> {
        let started = Instant::now();
        let span = self.telemetry.as_deref().map(|t| t.check(origin.headers));
        let decision = crate::decision::document(&self.snapshot.load(), request)?;
        if let Some(span) = span {
            span.end(&decision);
        }
        self.observer
            .record(&decision, started.elapsed(), UnixTime::now(), origin);
        Some(decision)
    }

    /// The decision, and the two waits it may need: an introspection (decided again on
    /// the same snapshot with the answer) or an unknown-`kid` refetch (decided again on the
    /// new snapshot); each wait is a child of `span`, when traced.
    async fn decide_with_waits(
        &self,
        request: &Request<'_>,
        now: UnixTime,
        wait: Duration,
        span: Option<&CheckSpan<'_>>,
    ) -> Decision {
        let memory = Memory {
            tokens: self.cache.as_deref(),
            proofs: Some(&self.proofs),
        };
        // One snapshot per decision: a reload mid-request cannot mix two configs.
        let decide = || {
            let snapshot = self.snapshot.load_full();
            decide_introspected(&snapshot, request, now, memory, None, &mut Off)
        };
        let snapshot = self.snapshot.load_full();
        let decision = decide_introspected(&snapshot, request, now, memory, None, &mut Off);
        let Decision::Deny(deny) = &decision else {
            return decision;
        };
        if let (Reason::IntrospectionUnavailable, Some(name), Some(introspector)) =
            (deny.reason, &deny.provider, &self.introspector)
        {
            let provider = snapshot.providers.iter().find(|p| &p.name == name);
            let Some((provider, Ok(Some(token)))) =
                provider.map(|p| (p, access_token(&request.authorization)))
            else {
                return decision;
            };
            let child = span.map(|s| s.child(INTROSPECTION_SPAN, name));
            let answer = introspector.introspect(provider, token, wait).await;
            if let Some(child) = child {
                child.end_introspection(&answer);
            }
            return decide_introspected(&snapshot, request, now, memory, Some(&answer), &mut Off);
        }
        let Some(remote) = &self.remote else {
            return decision;
        };
        let (Reason::KeyNotFound | Reason::KeysUnavailable, Some(provider)) =
            (deny.reason, &deny.provider)
        else {
            return decision;
        };
        let child = span.map(|s| s.child(REFETCH_SPAN, provider));
        let refetched = tokio::time::timeout(wait, remote.refetch_unknown_kid(provider)).await;
        if let Some(child) = child {
            child.end(match refetched {
                Ok(true) => "changed",
                Ok(false) => "unchanged",
                Err(_) => "deadline",
            });
        }
        match refetched {
            Ok(true) => decide(),
            _ => decision,
        }
    }
}
