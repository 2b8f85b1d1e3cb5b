//! Introspection metrics: requests by provider and result, their latency, and cache
//! lookups. Labels are provider names from the config and fixed result words.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProviderResult {
    pub provider: String,
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProviderLabel {
    pub provider: String,
}

/// The families, registered once.
#[derive(Clone)]
pub struct Metrics {
    /// `active`, `inactive`, or a [`super::Failure`] kind.
    pub requests: Family<ProviderResult, Counter>,
    pub latency: Family<ProviderLabel, Histogram, fn() -> Histogram>,
    /// `hit`, `miss`, or `joined` (waited for a request another Check started).
    pub cache: Family<ProviderResult, Counter>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics {
            requests: Family::default(),
            // 1 ms to ~16 s.
            latency: Family::new_with_constructor(latency_histogram),
            cache: Family::default(),
        }
    }

    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "introspection_requests",
            "RFC 7662 introspection requests per provider and result: active, inactive, or why the endpoint did not judge the token",
            self.requests.clone(),
        );
        registry.register(
            "introspection_request_duration_seconds",
            "Time for one introspection request",
            self.latency.clone(),
        );
        registry.register(
            "introspection_cache_lookups",
            "Introspection cache lookups per provider and result: hit, miss, joined",
            self.cache.clone(),
        );
    }

    /// The counter of `provider` and `result` in `family` (shared: incrementing the
    /// returned handle counts in the family).
    pub fn counter(
        &self,
        family: &Family<ProviderResult, Counter>,
        provider: &str,
        result: &'static str,
    ) -> Counter {
        family
            .get_or_create(&ProviderResult {
                provider: provider.to_owned(),
                result,
            })
            .clone()
    }
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}
