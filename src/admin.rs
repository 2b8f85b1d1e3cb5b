//! The admin HTTP server: `/healthz` (the process is alive), `/readyz` (the server holds a
//! valid configuration and is not shutting down) and `/status` (JSON: reload counters, last
//! reload error, providers and their key ids — never key material).

use crate::config::watch::ReloadStats;
use crate::observe::Observer;
use crate::remote::RemoteKeys;
use crate::snapshot::Snapshot;
use arc_swap::ArcSwap;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// Readiness shared with the rest of the process.
#[derive(Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::SeqCst);
    }
    pub fn get(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// What the admin endpoints read.
#[derive(Clone)]
pub struct AdminState {
    pub ready: Readiness,
    pub snapshot: Arc<ArcSwap<Snapshot>>,
    pub reloads: Arc<ReloadStats>,
    pub remote: Arc<RemoteKeys>,
    pub observer: Arc<Observer>,
    /// When serving started (for `startup_grace`).
    pub started: Instant,
}

impl AdminState {
    /// Ready: not shutting down, and every provider holds keys or the startup grace has
    /// expired.
    fn is_ready(&self) -> bool {
        let snapshot = self.snapshot.load();
        let grace_over = snapshot
            .startup_grace
            .is_some_and(|g| self.started.elapsed() >= g);
        self.ready.get() && (snapshot.all_keys_loaded() || grace_over)
    }
}

/// The admin routes.
pub fn router(state: AdminState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/status", get(status))
        .route("/jwks/refresh", post(refresh))
        .route("/metrics", get(metrics))
        .route("/debug/denials", get(denials))
        .with_state(state)
}

/// `POST /jwks/refresh`: refetch every remote key set now; 200 when all succeeded, 502
/// otherwise (the last good keys keep serving either way).
async fn refresh(State(state): State<AdminState>) -> (StatusCode, Json<Value>) {
    let results = state.remote.refresh_all().await;
    let all_ok = results.iter().all(|(_, r)| r.is_ok());
    let body: serde_json::Map<String, Value> = results
        .into_iter()
        .map(|(name, result)| {
            let value = match result {
                Ok(keys) => json!({ "ok": true, "keys": keys }),
                Err(error) => json!({ "ok": false, "error": error }),
            };
            (name, value)
        })
        .collect();
    let status = if all_ok {
        StatusCode::OK
    } else {
        StatusCode::BAD_GATEWAY
    };
    (status, Json(Value::Object(body)))
}

/// Prometheus text format (OpenMetrics content type, which Prometheus negotiates).
async fn metrics(
    State(state): State<AdminState>,
) -> ([(axum::http::header::HeaderName, &'static str); 1], String) {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.observer.metrics_text(),
    )
}

/// The recent denials, newest first.
async fn denials(State(state): State<AdminState>) -> Json<Value> {
    Json(json!({ "denials": state.observer.recent_denials() }))
}

async fn status(State(state): State<AdminState>) -> Json<Value> {
    let snapshot = state.snapshot.load();
    let mut remote: std::collections::BTreeMap<String, Value> = state
        .remote
        .reports()
        .into_iter()
        .map(|r| (r.provider.clone(), r.to_json()))
        .collect();
    let providers: Vec<Value> = snapshot
        .providers
        .iter()
        .map(|p| {
            let kids: Vec<&str> = p
                .keys
                .keys()
                .iter()
                .map(|k| k.kid().unwrap_or(""))
                .collect();
            let mut entry = json!({ "name": p.name, "issuers": p.issuers, "audiences": p.audiences, "kids": kids });
            if let Some(jwks) = remote.remove(&p.name) {
                entry["jwks"] = jwks;
            }
            entry
        })
        .collect();
    Json(json!({
        "ready": state.is_ready(),
        "config": {
            "path": snapshot.source.display().to_string(),
            "reloads_applied": state.reloads.applied(),
            "reloads_rejected": state.reloads.rejected(),
            "last_reload_error": state.reloads.last_error(),
        },
        "providers": providers,
    }))
}

async fn readyz(State(state): State<AdminState>) -> (StatusCode, &'static str) {
    if state.is_ready() {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}
