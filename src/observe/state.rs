//! The metrics read from the running state at each scrape rather than counted as Checks
//! happen: key sets (age, kids, fetches, staleness), reloads, readiness, the token caches
//! and build info.

use crate::admin::Readiness;
use crate::config::watch::ReloadStats;
use crate::remote::{FetchReport, RemoteKeys};
use crate::snapshot::{KeySource, SharedSnapshot};
use crate::token::cache::TokenCache;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

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
            // A replayed bad signature or untrusted issuer refused from the cache, without a
            // signature check or a parse.
            let (signatures, issuers) = cache.refused_hits();
            ConstCounter::new(signatures)
                .encode(lookups.encode_family(&[("result", "bad_signature")])?)?;
            ConstCounter::new(issuers)
                .encode(lookups.encode_family(&[("result", "untrusted_issuer")])?)?;
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
#[path = "tests.rs"]
mod tests;
