//! What happened, for operators: one audit event per denial (allows at debug), Prometheus
//! metrics, and the recent denials for `/debug/denials`.
//!
//! Labels and fields come from enums and config names, plus the refused token's `iss`,
//! `aud`, `kid`, `alg` and `typ` (truncated) in the audit event and the denial list — never
//! the token, its signature or (above debug level) `sub`.

use crate::audit::{AuditLimiter, DEFAULT_AUDIT_RATE_LIMIT, report_suppressed};
use crate::decision::{Decision, Deny};
use crate::lock::lock;
use crate::token::verify::{Observed, UnixTime};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

/// How many denials `/debug/denials` keeps by default.
pub const DEFAULT_RECENT_DENIALS: usize = 100;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabels {
    decision: &'static str,
    reason: &'static str,
    provider: String,
    route: String,
}

/// One entry of `/debug/denials`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DenialRecord {
    /// Seconds since the Unix epoch.
    pub time: i64,
    pub reason: &'static str,
    pub status: u16,
    pub route: Option<String>,
    pub provider: Option<String>,
    /// What the token said, when it could be decoded.
    #[serde(flatten)]
    pub observed: Arc<Observed>,
}

/// Metrics, audit log and recent denials.
pub struct Observer {
    registry: Registry,
    decisions: Family<DecisionLabels, Counter>,
    latency: Histogram,
    recent: Mutex<VecDeque<DenialRecord>>,
    capacity: usize,
    /// Denial events per reason per second (`--audit-rate-limit`).
    audit_limit: AuditLimiter,
}

/// Who sent a request, for the audit event.
#[derive(Clone, Copy)]
pub struct Origin<'a> {
    pub request_id: &'a str,
    /// Formatted only when an audit event is written.
    pub client: &'a (dyn std::fmt::Display + Sync),
    /// Where the trace context (`traceparent`, `tracestate`) is; read only when traces are
    /// on.
    pub headers: &'a dyn crate::telemetry::Headers,
}

impl Observer {
    /// An observer keeping the last `capacity` denials.
    pub fn new(capacity: usize) -> Observer {
        let mut registry = Registry::default();
        let decisions = Family::<DecisionLabels, Counter>::default();
        registry.register(
            "authz_decisions",
            "Check decisions by decision, reason, provider and route",
            decisions.clone(),
        );
        // 50 µs to ~0.8 s.
        let latency = Histogram::new(exponential_buckets(0.000_05, 2.0, 15));
        registry.register(
            "authz_check_duration_seconds",
            "Time to answer a Check, key refetches included",
            latency.clone(),
        );
        Observer {
            registry,
            decisions,
            latency,
            recent: Mutex::new(VecDeque::with_capacity(capacity)),
            capacity,
            audit_limit: AuditLimiter::new(DEFAULT_AUDIT_RATE_LIMIT),
        }
    }

    /// At most `per_second` denial events per reason per second (0: no limit).
    pub fn with_audit_rate_limit(mut self, per_second: u32) -> Observer {
        self.audit_limit = AuditLimiter::new(per_second);
        self
    }

    /// Reports the events suppressed in seconds that are over (see [`AuditLimiter::flush`]).
    pub fn flush_audit(&self) {
        self.report(self.audit_limit.flush(self.audit_limit.now()));
    }

    /// Reports every suppressed event, the current second's too (at shutdown).
    pub fn flush_audit_all(&self) {
        self.report(self.audit_limit.flush(u64::MAX));
    }

    fn report(&self, suppressed: Vec<(crate::reason::Reason, u64)>) {
        for (reason, count) in suppressed {
            report_suppressed(reason, count);
        }
    }

    /// Adds the metrics read from the running state at each scrape (keys, fetches, reloads,
    /// build info).
    pub fn register_state(&mut self, state: StateCollector) {
        self.registry.register_collector(Box::new(state));
    }

    /// Adds the introspection families (counted by the introspector as it works).
    pub fn register_introspection(&mut self, metrics: &crate::introspection::Metrics) {
        metrics.register(&mut self.registry);
    }

    /// Adds the span export counts of `telemetry` (`trace_spans_*`).
    pub fn register_telemetry(&mut self, telemetry: &crate::telemetry::Telemetry) {
        self.registry
            .register_collector(Box::new(telemetry.collector()));
    }

    /// Records one answered Check.
    pub fn record(
        &self,
        decision: &Decision,
        elapsed: Duration,
        now: UnixTime,
        origin: Origin<'_>,
    ) {
        self.latency.observe(elapsed.as_secs_f64());
        let labels = match decision {
            Decision::Allow(allow) => {
                let provider = allow.identity.as_ref().map(|i| i.provider.as_str());
                tracing::debug!(
                    target: "audit",
                    decision = "allow",
                    route = allow.route.as_deref().unwrap_or(""),
                    provider = provider.unwrap_or(""),
                    sub = allow.identity.as_ref().and_then(|i| i.subject.as_deref()).unwrap_or(""),
                    request_id = origin.request_id,
                    client = %origin.client,
                    "request allowed"
                );
                DecisionLabels {
                    decision: "allow",
                    reason: if provider.is_some() {
                        "ok"
                    } else {
                        "anonymous"
                    },
                    provider: provider.unwrap_or("").to_owned(),
                    route: allow.route.clone().unwrap_or_default(),
                }
            }
            // Neither allowed nor refused: a document anyone may read, counted apart so
            // that metadata fetches never look like denials (or like allowed API calls).
            Decision::Serve(serve) => {
                tracing::debug!(
                    target: "audit",
                    decision = "serve",
                    route = serve.route.as_deref().unwrap_or(""),
                    resource = serve.resource.as_str(),
                    request_id = origin.request_id,
                    client = %origin.client,
                    "protected resource metadata served"
                );
                DecisionLabels {
                    decision: "serve",
                    reason: "resource_metadata",
                    provider: String::new(),
                    route: serve.route.clone().unwrap_or_default(),
                }
            }
            Decision::Deny(deny) => {
                self.audit(deny, origin);
                self.remember(deny, now);
                DecisionLabels {
                    decision: "deny",
                    reason: deny.reason.code(),
                    provider: deny.provider.clone().unwrap_or_default(),
                    route: deny.route.clone().unwrap_or_default(),
                }
            }
        };
        self.decisions.get_or_create(&labels).inc();
    }

    fn audit(&self, deny: &Deny, origin: Origin<'_>) {
        let verdict = self.audit_limit.admit(deny.reason, self.audit_limit.now());
        if verdict.suppressed > 0 {
            report_suppressed(deny.reason, verdict.suppressed);
        }
        if !verdict.write {
            return;
        }
        let observed = deny.observed.clone().unwrap_or_default();
        tracing::info!(
            target: "audit",
            decision = "deny",
            reason = deny.reason.code(),
            status = deny.status(),
            route = deny.route.as_deref().unwrap_or(""),
            provider = deny.provider.as_deref().unwrap_or(""),
            kid = observed.kid.as_deref().unwrap_or(""),
            iss = observed.iss.as_deref().unwrap_or(""),
            request_id = origin.request_id,
            client = %origin.client,
            "request denied"
        );
    }

    fn remember(&self, deny: &Deny, now: UnixTime) {
        if self.capacity == 0 {
            return;
        }
        let record = DenialRecord {
            time: now.0,
            reason: deny.reason.code(),
            status: deny.status(),
            route: deny.route.clone(),
            provider: deny.provider.clone(),
            observed: deny.observed.clone().unwrap_or_default(),
        };
        let mut recent = lock(&self.recent);
        if recent.len() == self.capacity {
            recent.pop_back();
        }
        recent.push_front(record);
    }

    /// The recent denials, newest first.
    pub fn recent_denials(&self) -> Vec<DenialRecord> {
        lock(&self.recent).iter().cloned().collect()
    }

    /// Every metric in the Prometheus / OpenMetrics text format.
    pub fn metrics_text(&self) -> String {
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
            text.clear();
        }
        text
    }
}

mod state;
pub use state::StateCollector;
