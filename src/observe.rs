//! What happened, for operators: one audit event per denial (allows at debug), Prometheus
//! metrics, and the recent denials for `/debug/denials`.
//!
//! Labels and fields come from enums and config names, plus the refused token's `iss`,
//! `aud`, `kid`, `alg` and `typ` (truncated) in the audit event and the denial list — never
//! the token, its signature or (above debug level) `sub`.

use crate::admin::Readiness;
use crate::config::watch::ReloadStats;
use crate::decision::{Decision, Deny};
use crate::lock::lock;
use crate::remote::{FetchReport, RemoteKeys};
use crate::snapshot::{KeySource, SharedSnapshot};
use crate::token::cache::TokenCache;
use crate::token::verify::{Observed, UnixTime};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
    pub observed: Observed,
}

/// Metrics, audit log and recent denials.
pub struct Observer {
    registry: Registry,
    decisions: Family<DecisionLabels, Counter>,
    latency: Histogram,
    recent: Mutex<VecDeque<DenialRecord>>,
    capacity: usize,
}

/// Who sent a request, for the audit event.
#[derive(Clone, Copy)]
pub struct Origin<'a> {
    pub request_id: &'a str,
    /// Formatted only when an audit event is written.
    pub client: &'a (dyn std::fmt::Display + Sync),
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

/// Metrics read from the running state at each scrape.
pub struct StateCollector {
    pub snapshot: SharedSnapshot,
    pub remote: Arc<RemoteKeys>,
    pub reloads: Arc<ReloadStats>,
    pub cache: Option<Arc<TokenCache>>,
    /// What `/readyz` reads, for `authz_ready`.
    pub ready: Readiness,
    /// When serving started (for `startup_grace`).
    pub started: Instant,
}

impl std::fmt::Debug for StateCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StateCollector")
    }
}

impl Collector for StateCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let snapshot = self.snapshot.load();
        let gauge = ConstGauge::new(0i64);
        let mut keys = encoder.encode_descriptor(
            "jwks_keys",
            "Usable keys held per provider",
            None,
            gauge.metric_type(),
        )?;
        for p in &snapshot.providers {
            let count = i64::try_from(p.keys.keys().len()).unwrap_or(i64::MAX);
            ConstGauge::new(count).encode(keys.encode_family(&[("provider", p.name.as_str())])?)?;
        }
        let reports = self.remote.reports();
        let counter = ConstCounter::new(0u64);
        encode_by_result(
            &mut encoder,
            "jwks_fetch",
            "Key set fetches per provider and result",
            &reports,
            |r| &r.fetches,
        )?;
        encode_by_result(
            &mut encoder,
            "jwks_refetch",
            "Unknown-kid refetches per provider and result: ok, failed, ok_after_deadline and \
             failed_after_deadline (finished after every Check waiting for it had answered; \
             published anyway), rate_limited",
            &reports,
            |r| &r.refetches,
        )?;
        let mut age = encoder.encode_descriptor(
            "jwks_age_seconds",
            "Seconds since the last successful fetch",
            None,
            gauge.metric_type(),
        )?;
        for report in &reports {
            if let Some(seconds) = report.age {
                ConstGauge::new(seconds.as_secs_f64())
                    .encode(age.encode_family(&[("provider", report.provider.as_str())])?)?;
            }
        }
        let mut failing = encoder.encode_descriptor(
            "jwks_last_fetch_failed",
            "1 while the latest fetch of a provider's key set failed (the last good keys keep \
             serving), 0 once one succeeds",
            None,
            gauge.metric_type(),
        )?;
        for report in &reports {
            ConstGauge::new(i64::from(report.last_error.is_some()))
                .encode(failing.encode_family(&[("provider", report.provider.as_str())])?)?;
        }
        let mut stale = encoder.encode_descriptor(
            "jwks_stale_after_seconds",
            "Key set age beyond which a refresh is overdue while the IdP answers: the longer of \
             refresh_interval and max_refresh_interval",
            None,
            gauge.metric_type(),
        )?;
        for p in &snapshot.providers {
            if let KeySource::Remote(source) = &p.key_source {
                let seconds = source.refresh_interval.max(source.max_refresh_interval);
                ConstGauge::new(seconds.as_secs_f64())
                    .encode(stale.encode_family(&[("provider", p.name.as_str())])?)?;
            }
        }
        let mut reloads = encoder.encode_descriptor(
            "config_reloads",
            "Config reload attempts by result",
            None,
            counter.metric_type(),
        )?;
        ConstCounter::new(self.reloads.applied())
            .encode(reloads.encode_family(&[("result", "applied")])?)?;
        ConstCounter::new(self.reloads.rejected())
            .encode(reloads.encode_family(&[("result", "rejected")])?)?;
        let last_reload = encoder.encode_descriptor(
            "config_last_reload_successful",
            "0 while the latest config reload attempt was rejected (the last good config keeps \
             serving), 1 otherwise",
            None,
            gauge.metric_type(),
        )?;
        ConstGauge::new(i64::from(self.reloads.last_error().is_none())).encode(last_reload)?;
        let ready = encoder.encode_descriptor(
            "authz_ready",
            "1 when /readyz answers 200 (a valid config whose providers all hold keys, or \
             startup_grace passed; not shutting down), 0 otherwise",
            None,
            gauge.metric_type(),
        )?;
        ConstGauge::new(i64::from(self.ready.serving(&snapshot, self.started))).encode(ready)?;
        if let Some(cache) = &self.cache {
            let (hits, misses) = cache.counts();
            let mut lookups = encoder.encode_descriptor(
                "token_cache_lookups",
                "Verified-token cache lookups by result",
                None,
                counter.metric_type(),
            )?;
            ConstCounter::new(hits).encode(lookups.encode_family(&[("result", "hit")])?)?;
            ConstCounter::new(misses).encode(lookups.encode_family(&[("result", "miss")])?)?;
            let entries = i64::try_from(cache.len()).unwrap_or(i64::MAX);
            let held = encoder.encode_descriptor(
                "token_cache_entries",
                "Verified tokens cached",
                None,
                gauge.metric_type(),
            )?;
            ConstGauge::new(entries).encode(held)?;
        }
        let mut build = encoder.encode_descriptor(
            "build_info",
            "Build information",
            None,
            gauge.metric_type(),
        )?;
        ConstGauge::new(1i64)
            .encode(build.encode_family(&[("version", env!("CARGO_PKG_VERSION"))])?)?;
        Ok(())
    }
}

/// One counter family per provider and result, from a count map of each fetch report.
fn encode_by_result(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    reports: &[FetchReport],
    counts: impl Fn(&FetchReport) -> &BTreeMap<&'static str, u64>,
) -> Result<(), std::fmt::Error> {
    let counter = ConstCounter::new(0u64);
    let mut family = encoder.encode_descriptor(name, help, None, counter.metric_type())?;
    for report in reports {
        for (result, count) in counts(report) {
            ConstCounter::new(*count).encode(
                family
                    .encode_family(&[("provider", report.provider.as_str()), ("result", result)])?,
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
