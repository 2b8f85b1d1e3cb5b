//! The admin HTTP server: `/healthz` (the process is alive), `/readyz` (the server holds a
//! valid configuration and is not shutting down) and `/status` (JSON: reload counters, last
//! reload error, providers and their key ids — never key material).

use crate::config::watch::ReloadStats;
use crate::snapshot::Snapshot;
use arc_swap::ArcSwap;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

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
}

/// The admin routes.
pub fn router(state: AdminState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/status", get(status))
        .with_state(state)
}

async fn status(State(state): State<AdminState>) -> Json<Value> {
    let snapshot = state.snapshot.load();
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
            json!({ "name": p.name, "issuers": p.issuers, "audiences": p.audiences, "kids": kids })
        })
        .collect();
    Json(json!({
        "ready": state.ready.get(),
        "config": {
            "path": snapshot.source.display().to_string(),
            "reloads_applied": state.reloads.applied(),
            "reloads_rejected": state.reloads.rejected(),
            "last_reload_error": state.reloads.last_error(),
        },
        "providers": providers,
    }))
}

async fn readyz(State(AdminState { ready, .. }): State<AdminState>) -> (StatusCode, &'static str) {
    if ready.get() {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}
