//! Fetch counters of each remote provider and their reports for `/status` and `/metrics`.

use super::fetch::FetchError;
use super::{ProviderKeys, RemoteKeys};
use crate::lock::lock;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

/// Fetch counters of one provider.
#[derive(Debug, Default, Clone)]
pub(super) struct FetchStats {
    ok: u64,
    failed: BTreeMap<&'static str, u64>,
    /// Unknown-`kid` refetches by outcome (see `refetch`).
    refetches: BTreeMap<&'static str, u64>,
    last_error: Option<String>,
    last_success: Option<SystemTime>,
    url: Option<String>,
    keys: usize,
}

impl FetchStats {
    /// A fetch of `keys` usable keys from `url` succeeded.
    pub(super) fn fetched(&mut self, keys: usize, url: String) {
        self.ok += 1;
        self.keys = keys;
        self.last_success = Some(SystemTime::now());
        self.last_error = None;
        self.url = Some(url);
    }

    /// A fetch failed; the last good keys (and their count) stay.
    pub(super) fn failed(&mut self, error: &FetchError) {
        *self.failed.entry(error.kind()).or_default() += 1;
        self.last_error = Some(error.to_string());
    }

    /// An unknown-`kid` refetch ended with this `result` label.
    pub(super) fn refetched(&mut self, label: &'static str) {
        *self.refetches.entry(label).or_default() += 1;
    }
}

impl ProviderKeys {
    /// Usable keys of the last successful fetch.
    pub(super) fn key_count(&self) -> usize {
        lock(&self.stats).keys
    }

    fn report(&self) -> FetchReport {
        let stats = lock(&self.stats).clone();
        let mut fetches = stats.failed;
        fetches.insert("ok", stats.ok);
        FetchReport {
            provider: self.name.clone(),
            url: stats.url,
            fetches,
            refetches: stats.refetches,
            keys: stats.keys,
            age: stats.last_success.and_then(|t| t.elapsed().ok()),
            last_error: stats.last_error,
        }
    }
}

impl RemoteKeys {
    /// Per-provider fetch counters, sorted by provider (for `/status` and `/metrics`).
    pub fn reports(&self) -> Vec<FetchReport> {
        let mut reports: Vec<FetchReport> =
            lock(&self.providers).values().map(|p| p.report()).collect();
        reports.sort_by(|a, b| a.provider.cmp(&b.provider));
        reports
    }
}

/// The fetch history of one remote provider.
#[derive(Debug, Clone)]
pub struct FetchReport {
    pub provider: String,
    /// The JWKS URL of the last successful fetch.
    pub url: Option<String>,
    /// Fetch attempts by result: `ok` and each `FetchError::kind`.
    pub fetches: BTreeMap<&'static str, u64>,
    /// Unknown-`kid` refetches by outcome: `ok`, `failed` (a Check still waited),
    /// `ok_after_deadline`, `failed_after_deadline` (every Check had answered),
    /// `rate_limited` (none sent: `min_refetch_interval`).
    pub refetches: BTreeMap<&'static str, u64>,
    pub keys: usize,
    /// Time since the last successful fetch.
    pub age: Option<Duration>,
    pub last_error: Option<String>,
}

impl FetchReport {
    pub fn to_json(&self) -> Value {
        json!({ "url": self.url, "fetches": self.fetches, "refetches": self.refetches, "keys": self.keys,
                "key_set_age_seconds": self.age.map(|a| a.as_secs()), "last_error": self.last_error })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock::tests::poison;

    #[test]
    fn a_poisoned_stats_lock_still_counts_and_reports() {
        let remote = crate::remote::supervisor::tests::two_providers();
        let a = remote.get("a").unwrap();
        poison(&a.stats);
        poison(&remote.providers);
        lock(&a.stats).fetched(3, "https://a.test/jwks".to_owned());
        lock(&a.stats).refetched("ok");
        let reports = remote.reports();
        let names: Vec<&str> = reports.iter().map(|r| r.provider.as_str()).collect();
        assert_eq!(names, ["a", "b"], "/status must not go empty");
        assert_eq!((reports[0].fetches["ok"], reports[0].keys), (1, 3));
        assert_eq!(reports[0].refetches["ok"], 1);
        assert_eq!(a.key_count(), 3);
    }
}
