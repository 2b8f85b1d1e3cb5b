//! RFC 7662 token introspection: the one effectful step for opaque tokens (and a
//! `tokens: all` provider's JWTs). The decision stays pure: it says which provider would
//! be asked; [`Introspector::introspect`] asks it — answering from the cache when it can,
//! joining a request already in flight for the same token, and refusing beyond the
//! provider's `max_concurrent` — and the decision judges the [`Answer`].
//!
//! A token is only ever sent to the provider the decision named, which the route allows.
//! An endpoint's client, cache and limit live as long as the provider's config: a changed
//! provider (fingerprint) gets new ones, so no answer outlives the config that asked.

pub mod cache;
pub mod client;
mod metrics;

pub use client::Failure;
pub use metrics::Metrics;

use crate::lock::lock;
use crate::snapshot::{Endpoint as EndpointLocation, Introspection, Provider, Proxy};
use cache::{AnswerCache, Key};
use prometheus_client::metrics::counter::Counter;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, watch};

/// What the endpoint said about a token.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// `active: true`, with every member of the answer.
    Active(Arc<Map<String, Value>>),
    /// `active: false`.
    Inactive,
    /// The token was not judged.
    Unavailable(Failure),
}

/// The state of one provider's endpoint, for one config of it.
struct Endpoint {
    fingerprint: [u8; 32],
    /// This provider's cache counters, looked up once (not per Check).
    hits: Counter,
    misses: Counter,
    joins: Counter,
    settings: Arc<Introspection>,
    proxy: Proxy,
    client: Result<reqwest::Client, Failure>,
    /// The URL found by discovery, once found (a failure is not kept: the next request
    /// tries again).
    discovered: tokio::sync::OnceCell<String>,
    cache: AnswerCache,
    limit: Arc<Semaphore>,
    /// Requests in flight, by token key; each holds one permit of `limit`.
    in_flight: Mutex<HashMap<Key, watch::Receiver<Option<Arc<Answer>>>>>,
}

/// Every provider's introspection endpoint.
pub struct Introspector {
    endpoints: Mutex<HashMap<String, Arc<Endpoint>>>,
    metrics: Metrics,
}

impl Introspector {
    pub fn new(metrics: Metrics) -> Arc<Introspector> {
        Arc::new(Introspector {
            endpoints: Mutex::default(),
            metrics,
        })
    }

    fn endpoint(&self, provider: &Provider, settings: &Arc<Introspection>) -> Arc<Endpoint> {
        let mut endpoints = lock(&self.endpoints);
        if let Some(e) = endpoints.get(&provider.name)
            && e.fingerprint == provider.fingerprint
        {
            return e.clone();
        }
        let counter = |result| {
            self.metrics
                .counter(&self.metrics.cache, &provider.name, result)
        };
        let endpoint = Arc::new(Endpoint {
            fingerprint: provider.fingerprint,
            hits: counter("hit"),
            misses: counter("miss"),
            joins: counter("joined"),
            settings: settings.clone(),
            proxy: provider.proxy.clone(),
            client: client::client(settings, &provider.proxy),
            discovered: tokio::sync::OnceCell::new(),
            cache: AnswerCache::new(settings.entries),
            limit: Arc::new(Semaphore::new(settings.max_concurrent)),
            in_flight: Mutex::default(),
        });
        // Replaces the endpoint of an older config of this provider, dropping its cache.
        // (A provider removed from the config keeps its idle endpoint until its name
        // returns: a few bytes per name ever configured.)
        endpoints.insert(provider.name.clone(), endpoint.clone());
        endpoint
    }

    /// What `provider`'s endpoint says about `token`, waiting at most `wait` for a request
    /// (which, once sent, finishes and fills the cache even if this Check stops waiting).
    pub async fn introspect(
        &self,
        provider: &Provider,
        token: &str,
        wait: Duration,
    ) -> Arc<Answer> {
        let Some(settings) = &provider.introspection else {
            return Arc::new(Answer::Unavailable(Failure::Client(
                "the provider has no introspection endpoint".into(),
            )));
        };
        let endpoint = self.endpoint(provider, settings);
        let key = endpoint.cache.key(token);
        let name = provider.name.as_str();
        if let Some(hit) = endpoint.cache.get(&key, Instant::now()) {
            endpoint.hits.inc();
            return hit;
        }
        let mut receiver = {
            let mut in_flight = lock(&endpoint.in_flight);
            match in_flight.get(&key) {
                Some(receiver) => {
                    endpoint.joins.inc();
                    receiver.clone()
                }
                None => {
                    endpoint.misses.inc();
                    let Ok(permit) = endpoint.limit.clone().try_acquire_owned() else {
                        self.metrics
                            .counter(&self.metrics.requests, name, "overloaded")
                            .inc();
                        return Arc::new(Answer::Unavailable(Failure::Overloaded));
                    };
                    let (sender, receiver) = watch::channel(None);
                    in_flight.insert(key, receiver.clone());
                    let request = Request {
                        endpoint: endpoint.clone(),
                        metrics: self.metrics.clone(),
                        provider: provider.name.clone(),
                        key,
                    };
                    let token = token.to_owned();
                    tokio::spawn(async move {
                        let answer = request.run(&token).await;
                        drop(token);
                        let _ = sender.send(Some(answer));
                        lock(&request.endpoint.in_flight).remove(&request.key);
                        drop(permit);
                    });
                    receiver
                }
            }
        };
        let answered = tokio::time::timeout(wait, receiver.wait_for(Option::is_some)).await;
        match answered {
            Ok(Ok(answer)) => answer.clone().unwrap_or_else(deadline),
            // The task ended without answering (a panic): not judged.
            Ok(Err(_)) => Arc::new(Answer::Unavailable(Failure::Network(
                "the introspection task ended without an answer".into(),
            ))),
            Err(_) => deadline(),
        }
    }
}

fn deadline() -> Arc<Answer> {
    Arc::new(Answer::Unavailable(Failure::Deadline))
}

impl Endpoint {
    /// Where to post: the configured URL, or the one discovery finds.
    async fn url(&self) -> Result<&str, Failure> {
        match &self.settings.endpoint {
            EndpointLocation::Url(url) => Ok(url),
            EndpointLocation::Discovery { issuer } => self
                .discovered
                .get_or_try_init(|| client::discover(&self.settings, &self.proxy, issuer))
                .await
                .map(String::as_str),
        }
    }
}

/// One request, run on its own task.
struct Request {
    endpoint: Arc<Endpoint>,
    metrics: Metrics,
    provider: String,
    key: Key,
}

impl Request {
    async fn run(&self, token: &str) -> Arc<Answer> {
        let settings = &self.endpoint.settings;
        let started = Instant::now();
        let result = match &self.endpoint.client {
            Ok(client) => match self.endpoint.url().await {
                Ok(url) => client::introspect(client, settings, url, token).await,
                Err(failure) => Err(failure),
            },
            Err(failure) => Err(failure.clone()),
        };
        self.metrics
            .latency
            .get_or_create(&metrics::ProviderLabel {
                provider: self.provider.clone(),
            })
            .observe(started.elapsed().as_secs_f64());
        let (answer, size, ttl) = match result {
            Ok((Answer::Active(claims), size)) => {
                let ttl = active_ttl(&claims, settings.max_ttl);
                (Answer::Active(claims), size, ttl)
            }
            Ok((answer, size)) => (answer, size, settings.negative_ttl),
            Err(failure) => {
                tracing::warn!(provider = %self.provider, endpoint = %settings.endpoint, kind = failure.kind(), error = %failure, "introspection failed");
                (Answer::Unavailable(failure), 0, Duration::ZERO)
            }
        };
        let result = match &answer {
            Answer::Active(_) => "active",
            Answer::Inactive => "inactive",
            Answer::Unavailable(failure) => failure.kind(),
        };
        self.metrics
            .counter(&self.metrics.requests, &self.provider, result)
            .inc();
        let answer = Arc::new(answer);
        // A failure is never cached: the next Check asks again.
        self.endpoint
            .cache
            .insert(self.key, answer.clone(), size, ttl, Instant::now());
        answer
    }
}

/// How long an active answer may be reused: `max_ttl`, and never past its `exp`.
fn active_ttl(claims: &Map<String, Value>, max_ttl: Duration) -> Duration {
    let Some(exp) = claims.get("exp").and_then(Value::as_f64) else {
        return max_ttl;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    if exp <= now {
        return Duration::ZERO;
    }
    Duration::from_secs_f64((exp - now).min(max_ttl.as_secs_f64()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_active_answer_lives_at_most_max_ttl_and_never_past_exp() {
        let max = Duration::from_secs(60);
        let claims = |v: Value| v.as_object().unwrap().clone();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        assert_eq!(active_ttl(&claims(json!({})), max), max);
        assert_eq!(active_ttl(&claims(json!({"exp": now + 3600})), max), max);
        let soon = active_ttl(&claims(json!({"exp": now + 10})), max);
        assert!(
            soon <= Duration::from_secs(10) && soon > Duration::from_secs(8),
            "{soon:?}"
        );
        assert_eq!(
            active_ttl(&claims(json!({"exp": now - 1})), max),
            Duration::ZERO
        );
    }
}
