//! Remote key sets: one background refresh task per provider whose keys come from a `uri`
//! or discovery, publishing into the same [`SharedSnapshot`] as the config (one load per
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
//!
//! Layout: [`fetch`] gets one key set through the client [`outbound`] configures (its proxy
//! rule; `env_proxy` reads the environment's); [`supervisor`] keeps one refresh task per
//! remote provider in step with the config; [`refetch`] is the on-demand fetch and the `min_refetch_interval` budget it shares
//! with `POST /jwks/refresh`; [`stats`] counts fetches for `/status` and `/metrics`; this
//! file holds the shared state and the one fetch-and-publish step all of them run.

pub mod env_proxy;
pub mod fetch;
pub mod outbound;
mod refetch;
mod stats;
mod supervisor;

pub use stats::FetchReport;
pub use supervisor::{INITIAL_BACKOFF, backoff, next_refresh};

use crate::algorithm::AlgorithmSet;
use crate::lock::lock;
use crate::snapshot::{RemoteSource, SharedSnapshot};
use fetch::FetchError;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

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
    stats: Mutex<stats::FetchStats>,
    task: Mutex<Option<JoinHandle<()>>>,
}

/// All remote refreshers, kept in step with the snapshot's providers.
pub struct RemoteKeys {
    snapshot: SharedSnapshot,
    providers: Mutex<HashMap<String, Arc<ProviderKeys>>>,
}

impl RemoteKeys {
    pub fn new(snapshot: SharedSnapshot) -> Arc<RemoteKeys> {
        Arc::new(RemoteKeys {
            snapshot,
            providers: Mutex::default(),
        })
    }

    fn get(&self, name: &str) -> Option<Arc<ProviderKeys>> {
        lock(&self.providers).get(name).cloned()
    }

    /// Fetches every remote key set (and discovery document) now, regardless of rate
    /// limits; failures keep the last good keys. Returns each provider's result.
    pub async fn refresh_all(&self) -> Vec<(String, Result<usize, String>)> {
        let all: Vec<Arc<ProviderKeys>> = lock(&self.providers).values().cloned().collect();
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
}

impl ProviderKeys {
    /// Fetch now, publish on success, count either way. The caller holds `fetch_lock`.
    async fn fetch_locked(
        &self,
        snapshot: &SharedSnapshot,
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
                let changed =
                    snapshot.publish_keys(&self.name, &self.fingerprint, Arc::new(fetched.keys));
                if changed {
                    tracing::info!(provider = %self.name, url = %fetched.url, ?kids, "key set updated");
                }
                lock(&self.stats).fetched(count, fetched.url);
                Ok(fetched.max_age)
            }
            Err(error) => {
                tracing::warn!(provider = %self.name, error = %error, "key set fetch failed; keeping the last good keys");
                lock(&self.stats).failed(&error);
                Err(error)
            }
        };
        self.generation.fetch_add(1, Ordering::SeqCst);
        outcome
    }
}
