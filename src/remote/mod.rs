//! Remote key sets: one background refresh task per provider whose keys come from a `uri`
//! or discovery, publishing into the same `ArcSwap<Snapshot>` as the config (one load per
//! Check).
//!
//! - The last good key set is kept on any failure; an empty or unusable answer never
//!   replaces it, and nothing is ever invented.
//! - Refresh every `refresh_interval`, or `Cache-Control: max-age` within
//!   `[min_refresh_interval, max_refresh_interval]`; after a failure, exponential backoff
//!   with jitter.
//! - An unknown `kid` triggers at most one fetch in flight per provider (concurrent Checks
//!   wait for it) and at most one per `min_refetch_interval`, so random kids cannot make us
//!   hammer the IdP; the fetch outlives a Check that stops waiting (see [`refetch`]).

pub mod fetch;
mod refetch;

use crate::algorithm::AlgorithmSet;
use crate::jwks::KeySet;
use crate::snapshot::{KeySource, RemoteSource, Snapshot};
use arc_swap::ArcSwap;
use fetch::FetchError;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio::task::JoinHandle;

/// The first retry after a failed fetch waits about this long, doubling up to the refresh
/// interval.
pub const INITIAL_BACKOFF: Duration = Duration::from_secs(1);

/// Fetch counters of one provider (exposed by `/status`).
#[derive(Debug, Default, Clone)]
struct FetchStats {
    ok: u64,
    failed: BTreeMap<&'static str, u64>,
    /// Unknown-`kid` refetches by outcome (see `refetch`).
    refetches: BTreeMap<&'static str, u64>,
    last_error: Option<String>,
    last_success: Option<SystemTime>,
    url: Option<String>,
    keys: usize,
}

/// The refresher of one remote provider (one config generation of it).
pub struct ProviderKeys {
    name: String,
    fingerprint: [u8; 32],
    source: Arc<RemoteSource>,
    algorithms: AlgorithmSet,
    client: Result<fetch::Client, String>,
    /// Held for the whole of a fetch: a second caller waits, then sees the new generation.
    fetch_lock: tokio::sync::Mutex<()>,
    /// Completed fetch attempts (successful or not).
    generation: AtomicU64,
    /// When the last on-demand (unknown `kid`) fetch started.
    last_on_demand: Mutex<Option<Instant>>,
    /// The unknown-`kid` fetch in flight (or the last one, finished).
    on_demand: Mutex<Option<refetch::InFlight>>,
    stats: Mutex<FetchStats>,
    task: Mutex<Option<JoinHandle<()>>>,
}

/// All remote refreshers, kept in step with the snapshot's providers.
pub struct RemoteKeys {
    snapshot: Arc<ArcSwap<Snapshot>>,
    providers: Mutex<HashMap<String, Arc<ProviderKeys>>>,
}

impl RemoteKeys {
    pub fn new(snapshot: Arc<ArcSwap<Snapshot>>) -> Arc<RemoteKeys> {
        Arc::new(RemoteKeys {
            snapshot,
            providers: Mutex::default(),
        })
    }

    /// Starts refreshers for new or changed remote providers and stops those of removed or
    /// changed ones. Call inside the tokio runtime, after startup and after every applied
    /// reload.
    pub fn sync(self: &Arc<Self>) {
        let snapshot = self.snapshot.load_full();
        let Ok(mut providers) = self.providers.lock() else {
            return;
        };
        let mut wanted = HashMap::new();
        for p in &snapshot.providers {
            let KeySource::Remote(source) = &p.key_source else {
                continue;
            };
            let keeper = match providers.remove(&p.name) {
                Some(existing) if existing.fingerprint == p.fingerprint => existing,
                previous => {
                    if let Some(previous) = previous {
                        previous.stop();
                    }
                    let keys = Arc::new(ProviderKeys {
                        name: p.name.clone(),
                        fingerprint: p.fingerprint,
                        source: source.clone(),
                        algorithms: p.algorithms,
                        client: fetch::client(source).map_err(|e| e.to_string()),
                        fetch_lock: tokio::sync::Mutex::new(()),
                        generation: AtomicU64::new(0),
                        last_on_demand: Mutex::new(None),
                        on_demand: Mutex::new(None),
                        stats: Mutex::default(),
                        task: Mutex::new(None),
                    });
                    let task = tokio::spawn(keys.clone().refresh_loop(self.snapshot.clone()));
                    if let Ok(mut slot) = keys.task.lock() {
                        *slot = Some(task);
                    }
                    keys
                }
            };
            wanted.insert(p.name.clone(), keeper);
        }
        for (_, gone) in providers.drain() {
            gone.stop();
        }
        *providers = wanted;
    }

    fn get(&self, name: &str) -> Option<Arc<ProviderKeys>> {
        self.providers.lock().ok()?.get(name).cloned()
    }

    /// Fetches every remote key set (and discovery document) now, regardless of rate
    /// limits; failures keep the last good keys. Returns each provider's result.
    pub async fn refresh_all(&self) -> Vec<(String, Result<usize, String>)> {
        let all: Vec<Arc<ProviderKeys>> = match self.providers.lock() {
            Ok(map) => map.values().cloned().collect(),
            Err(_) => Vec::new(),
        };
        let mut results = Vec::new();
        for keys in all {
            let _guard = keys.fetch_lock.lock().await;
            let result = keys
                .fetch_locked(&self.snapshot)
                .await
                .map(|_| keys.key_count())
                .map_err(|e| e.to_string());
            results.push((keys.name.clone(), result));
        }
        results.sort_by(|a, b| a.0.cmp(&b.0));
        results
    }

    /// Per-provider fetch counters, sorted by provider (for `/status` and `/metrics`).
    pub fn reports(&self) -> Vec<FetchReport> {
        let Ok(providers) = self.providers.lock() else {
            return Vec::new();
        };
        let mut reports: Vec<FetchReport> = providers
            .values()
            .filter_map(|p| {
                let stats = p.stats.lock().ok()?.clone();
                let mut fetches = stats.failed.clone();
                fetches.insert("ok", stats.ok);
                Some(FetchReport {
                    provider: p.name.clone(),
                    url: stats.url,
                    fetches,
                    refetches: stats.refetches,
                    keys: stats.keys,
                    age: stats.last_success.and_then(|t| t.elapsed().ok()),
                    last_error: stats.last_error,
                })
            })
            .collect();
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

impl ProviderKeys {
    fn stop(&self) {
        if let Ok(mut task) = self.task.lock()
            && let Some(task) = task.take()
        {
            task.abort();
        }
    }

    fn key_count(&self) -> usize {
        self.stats.lock().map(|s| s.keys).unwrap_or(0)
    }

    /// Fetch now and publish on success. The caller holds `fetch_lock`.
    async fn fetch_locked(
        &self,
        snapshot: &ArcSwap<Snapshot>,
    ) -> Result<Option<Duration>, FetchError> {
        let result = match &self.client {
            Ok(client) => fetch::fetch_keys(client, &self.source, self.algorithms).await,
            Err(e) => Err(FetchError::Client(e.clone())),
        };
        let outcome = match result {
            Ok(fetched) => {
                let count = fetched.keys.keys().len();
                let kids: Vec<String> = fetched
                    .keys
                    .keys()
                    .iter()
                    .map(|k| k.kid().unwrap_or("(no kid)").to_owned())
                    .collect();
                tracing::debug!(provider = %self.name, url = %fetched.url, ?kids, "key set fetched");
                let changed = publish(
                    snapshot,
                    &self.name,
                    &self.fingerprint,
                    Arc::new(fetched.keys),
                );
                if changed {
                    tracing::info!(provider = %self.name, url = %fetched.url, ?kids, "key set updated");
                }
                if let Ok(mut stats) = self.stats.lock() {
                    stats.ok += 1;
                    stats.keys = count;
                    stats.last_success = Some(SystemTime::now());
                    stats.last_error = None;
                    stats.url = Some(fetched.url);
                }
                Ok(fetched.max_age)
            }
            Err(error) => {
                tracing::warn!(provider = %self.name, error = %error, "key set fetch failed; keeping the last good keys");
                if let Ok(mut stats) = self.stats.lock() {
                    *stats.failed.entry(error.kind()).or_default() += 1;
                    stats.last_error = Some(error.to_string());
                }
                Err(error)
            }
        };
        self.generation.fetch_add(1, Ordering::SeqCst);
        outcome
    }

    /// Fetch, then sleep until the next refresh (or the next retry after a failure).
    async fn refresh_loop(self: Arc<Self>, snapshot: Arc<ArcSwap<Snapshot>>) {
        let mut failures: u32 = 0;
        loop {
            let result = {
                let _guard = self.fetch_lock.lock().await;
                self.fetch_locked(&snapshot).await
            };
            let delay = match result {
                Ok(max_age) => {
                    failures = 0;
                    next_refresh(&self.source, max_age)
                }
                Err(_) => {
                    failures = failures.saturating_add(1);
                    backoff(failures, self.source.refresh_interval)
                }
            };
            tokio::time::sleep(delay).await;
        }
    }
}

/// Stores `keys` as `name`'s key set if that provider (same config generation) still
/// exists; returns whether the published key set differs in key ids from the previous one.
fn publish(
    snapshot: &ArcSwap<Snapshot>,
    name: &str,
    fingerprint: &[u8; 32],
    keys: Arc<KeySet>,
) -> bool {
    let mut changed = false;
    snapshot.rcu(|current| {
        match current
            .providers
            .iter()
            .position(|p| p.name == name && p.fingerprint == *fingerprint)
        {
            Some(index) => {
                let kids = |set: &KeySet| {
                    set.keys()
                        .iter()
                        .map(|k| k.kid().map(str::to_owned))
                        .collect::<Vec<_>>()
                };
                changed = kids(&current.providers[index].keys) != kids(&keys);
                let mut next = Snapshot::clone(current);
                next.providers[index].keys = keys.clone();
                Arc::new(next)
            }
            None => {
                changed = false;
                current.clone()
            }
        }
    });
    changed
}

/// Copies already-fetched remote key sets from `current` into a freshly compiled `next`,
/// for providers whose config did not change (a reload must not drop fetched keys).
pub fn carry_remote_keys(current: &Snapshot, next: &mut Snapshot) {
    for p in next
        .providers
        .iter_mut()
        .filter(|p| matches!(p.key_source, KeySource::Remote(_)))
    {
        if let Some(old) = current
            .providers
            .iter()
            .find(|o| o.name == p.name && o.fingerprint == p.fingerprint)
        {
            p.keys = old.keys.clone();
        }
    }
}

/// The next refresh: `max-age` within the configured bounds, else `refresh_interval`.
pub fn next_refresh(source: &RemoteSource, max_age: Option<Duration>) -> Duration {
    match max_age {
        Some(age) => age.clamp(source.min_refresh_interval, source.max_refresh_interval),
        None => source.refresh_interval,
    }
}

/// `INITIAL_BACKOFF · 2^(failures−1)`, capped at `cap`, times a random factor in [0.5, 1).
pub fn backoff(failures: u32, cap: Duration) -> Duration {
    let exponential = INITIAL_BACKOFF.saturating_mul(1u32 << failures.saturating_sub(1).min(20));
    let mut random = [0u8; 2];
    let _ = aws_lc_rs::rand::fill(&mut random);
    let jitter = 0.5 + f64::from(u16::from_le_bytes(random)) / f64::from(u16::MAX) / 2.0;
    exponential.min(cap).mul_f64(jitter.min(1.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::JwksLocation;

    fn source() -> RemoteSource {
        RemoteSource {
            location: JwksLocation::Uri("https://idp.test/jwks".into()),
            refresh_interval: Duration::from_secs(300),
            min_refresh_interval: Duration::from_secs(60),
            max_refresh_interval: Duration::from_secs(3600),
            min_refetch_interval: Duration::from_secs(30),
            timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(2),
            allow_insecure_http: false,
            ca_pem: None,
            max_bytes: 65536,
        }
    }

    #[test]
    fn max_age_is_honoured_within_bounds() {
        let s = source();
        assert_eq!(next_refresh(&s, None), Duration::from_secs(300));
        assert_eq!(
            next_refresh(&s, Some(Duration::from_secs(600))),
            Duration::from_secs(600)
        );
        assert_eq!(
            next_refresh(&s, Some(Duration::from_secs(1))),
            Duration::from_secs(60)
        );
        assert_eq!(
            next_refresh(&s, Some(Duration::from_secs(86400 * 7))),
            Duration::from_secs(3600)
        );
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        let cap = Duration::from_secs(300);
        for failures in 1..=12u32 {
            let full = INITIAL_BACKOFF.saturating_mul(1 << (failures - 1)).min(cap);
            let d = backoff(failures, cap);
            assert!(
                d >= full / 2 && d <= full,
                "{failures}: {d:?} not within [{:?}, {full:?}]",
                full / 2
            );
        }
        assert!(backoff(u32::MAX, cap) <= cap);
    }
}
