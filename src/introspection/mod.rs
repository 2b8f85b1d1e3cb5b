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

impl Answer {
    /// `active`, `inactive`, or why it was not judged ([`Failure::kind`]): the `result`
    /// label of `introspection_requests` and of a Check's introspection span.
    pub fn kind(&self) -> &'static str {
        match self {
            Answer::Active(_) => "active",
            Answer::Inactive => "inactive",
            Answer::Unavailable(failure) => failure.kind(),
        }
    }
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
    client: Result<client::Client, Failure>,
    /// The URL found by discovery, once found (a failure is not kept: the next request
    /// tries again).
    discovered: tokio::sync::OnceCell<String>,
    /// When discovery last failed, and why.
    discovery_failed: Mutex<Option<(Instant, Failure)>>,
    cache: AnswerCache,
    limit: Arc<Semaphore>,
    /// Requests in flight, by token key; each holds one permit of `limit`.
    in_flight: Mutex<HashMap<Key, watch::Receiver<Option<Arc<Answer>>>>>,
}

/// Every provider's introspection endpoint.
pub struct Introspector {
    /// Per provider name, the endpoints of its current and previous config (newest last):
    /// a Check still running on the snapshot before a reload finds its own, instead of
    /// replacing the new config's (and its cache) with an old one.
    endpoints: Mutex<HashMap<String, Vec<Arc<Endpoint>>>>,
    metrics: Metrics,
}

/// How many configs of one provider keep their endpoint (current and previous).
const GENERATIONS: usize = 2;
/// After a failed discovery, how long requests fail at once instead of trying again.
const DISCOVERY_BACKOFF: Duration = Duration::from_secs(10);

impl Introspector {
    pub fn new(metrics: Metrics) -> Arc<Introspector> {
        Arc::new(Introspector {
            endpoints: Mutex::default(),
            metrics,
        })
    }

    fn endpoint(&self, provider: &Provider, settings: &Arc<Introspection>) -> Arc<Endpoint> {
        let mut endpoints = lock(&self.endpoints);
        let generations = endpoints.entry(provider.name.clone()).or_default();
        if let Some(e) = generations
            .iter()
            .find(|e| e.fingerprint == provider.fingerprint)
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
            discovery_failed: Mutex::new(None),
            cache: AnswerCache::new(settings.entries),
            limit: Arc::new(Semaphore::new(settings.max_concurrent)),
            in_flight: Mutex::default(),
        });
        // Older configs than the previous one drop their endpoint and cache. (A provider
        // removed from the config keeps its idle endpoints until its name returns.)
        generations.push(endpoint.clone());
        if generations.len() > GENERATIONS {
            generations.remove(0);
        }
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
                    let done = Done {
                        endpoint: endpoint.clone(),
                        key,
                        sender,
                        _permit: permit,
                    };
                    tokio::spawn(async move {
                        let answer = request.run(&token).await;
                        drop(token);
                        done.answer(answer);
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

/// The end of one request, however it ends: the answer (or, if the task ended without one
/// — a panic, an abort at shutdown — "not judged") goes to every Check waiting, and the
/// token leaves the in-flight map, so the next Check asks again instead of joining a
/// request that will never answer. Dropping it also frees its `max_concurrent` permit.
struct Done {
    endpoint: Arc<Endpoint>,
    key: Key,
    sender: watch::Sender<Option<Arc<Answer>>>,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl Done {
    fn answer(self, answer: Arc<Answer>) {
        let _ = self.sender.send(Some(answer));
    }
}

impl Drop for Done {
    fn drop(&mut self) {
        self.sender.send_if_modified(|slot| {
            let unanswered = slot.is_none();
            if unanswered {
                *slot = Some(Arc::new(Answer::Unavailable(Failure::Network(
                    "the introspection request ended without an answer".into(),
                ))));
            }
            unanswered
        });
        lock(&self.endpoint.in_flight).remove(&self.key);
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
            EndpointLocation::Discovery { issuer } => {
                if let Some(url) = self.discovered.get() {
                    return Ok(url);
                }
                // A failing issuer is not asked again by every miss (random tokens
                // included) for a while: the same failure is answered at once.
                if let Some((at, failure)) = &*lock(&self.discovery_failed)
                    && at.elapsed() < DISCOVERY_BACKOFF
                {
                    return Err(failure.clone());
                }
                let found = self
                    .discovered
                    .get_or_try_init(|| client::discover(&self.settings, &self.proxy, issuer))
                    .await;
                if let Err(failure) = &found {
                    *lock(&self.discovery_failed) = Some((Instant::now(), failure.clone()));
                }
                found.map(String::as_str)
            }
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
        self.metrics
            .counter(&self.metrics.requests, &self.provider, answer.kind())
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
    Duration::try_from_secs_f64((exp - now).min(max_ttl.as_secs_f64())).unwrap_or(max_ttl)
}

#[cfg(test)]
mod tests;
