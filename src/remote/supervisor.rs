//! The background refresh tasks: one per remote provider of the serving config, started,
//! kept or stopped by [`RemoteKeys::sync`] after startup and every applied reload, each
//! fetching on its schedule (`max-age` within bounds, or backoff with jitter after a
//! failure).

use super::{ProviderKeys, RemoteKeys, fetch};
use crate::lock::lock;
use crate::snapshot::{KeySource, Provider, RemoteSource, SharedSnapshot};
use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The first retry after a failed fetch waits about this long, doubling up to the refresh
/// interval.
pub const INITIAL_BACKOFF: Duration = Duration::from_secs(1);

impl RemoteKeys {
    /// Starts refreshers for new or changed remote providers and stops those of removed or
    /// changed ones. Call inside the tokio runtime, after startup and after every applied
    /// reload.
    pub fn sync(self: &Arc<Self>) {
        let snapshot = self.snapshot.load_full();
        let mut providers = lock(&self.providers);
        let mut wanted = HashMap::new();
        for p in &snapshot.providers {
            let KeySource::Remote(source) = &p.key_source else {
                continue;
            };
            let keeper = match providers.remove(&p.name) {
                // Same config generation: its task, keys and counters carry on.
                Some(existing) if existing.fingerprint == p.fingerprint => existing,
                previous => {
                    if let Some(previous) = previous {
                        previous.stop();
                    }
                    let keys = Arc::new(ProviderKeys::new(p, source));
                    let task = tokio::spawn(keys.clone().refresh_loop(self.snapshot.clone()));
                    *lock(&keys.task) = Some(task);
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
}

impl ProviderKeys {
    /// A refresher for `provider` (this config generation of it), not yet running.
    pub(super) fn new(provider: &Provider, source: &Arc<RemoteSource>) -> ProviderKeys {
        ProviderKeys {
            name: provider.name.clone(),
            fingerprint: provider.fingerprint,
            source: source.clone(),
            algorithms: provider.algorithms,
            client: fetch::client(source, &provider.proxy).map_err(|e| e.to_string()),
            fetch_lock: tokio::sync::Mutex::new(()),
            generation: AtomicU64::new(0),
            last_on_demand: Mutex::new(None),
            on_demand: Mutex::new(None),
            stats: Mutex::default(),
            task: Mutex::new(None),
        }
    }

    fn stop(&self) {
        if let Some(task) = lock(&self.task).take() {
            task.abort();
        }
    }

    /// Fetch, then sleep until the next refresh (or the next retry after a failure).
    async fn refresh_loop(self: Arc<Self>, snapshot: SharedSnapshot) {
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
impl RemoteKeys {
    /// Refreshers for the remote providers of `snapshot` that never run (no runtime).
    pub(super) fn idle(snapshot: SharedSnapshot) -> Arc<RemoteKeys> {
        let remote = RemoteKeys::new(snapshot.clone());
        for p in &snapshot.load().providers {
            if let KeySource::Remote(source) = &p.key_source {
                let keys = Arc::new(ProviderKeys::new(p, source));
                lock(&remote.providers).insert(p.name.clone(), keys);
            }
        }
        remote
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::snapshot::JwksLocation;

    /// Idle refreshers for remote providers `a` and `b`.
    pub(in crate::remote) fn two_providers() -> Arc<RemoteKeys> {
        let provider = |name: &str| {
            format!(
                "  - name: {name}\n    issuer: https://{name}.test\n    audiences: [api]\n    jwks: {{ uri: 'https://{name}.test/jwks', min_refetch_interval: 1h }}\n"
            )
        };
        let yaml = format!("providers:\n{}{}", provider("a"), provider("b"));
        let snapshot = crate::config::compile_str(&yaml, std::path::Path::new("c.yaml")).unwrap();
        RemoteKeys::idle(SharedSnapshot::new(snapshot))
    }

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
