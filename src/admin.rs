//! The admin HTTP servers. The probe listener (`--admin-listen`): `/healthz` (the process is
//! alive), `/readyz` (the server holds a valid configuration and is not shutting down) and
//! `/metrics`. The debug listener (`--debug-listen`, loopback by default; see [`debug`]):
//! the HTML page at `/` ([`page`]), `/status`, `/debug/denials`, `/debug/log-level` and
//! `POST /jwks/refresh`.

pub mod debug;
pub mod diff;
pub mod html;
pub mod page;

use crate::config::watch::ReloadStats;
use crate::observe::Observer;
use crate::remote::RemoteKeys;
use crate::snapshot::{SharedSnapshot, Snapshot};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
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

    /// What `/readyz` answers (and `authz_ready` reports): set (not shutting down), and every
    /// provider of `snapshot` holds keys or its `startup_grace` has passed since `started`.
    pub fn serving(&self, snapshot: &Snapshot, started: Instant) -> bool {
        let grace_over = snapshot
            .startup_grace
            .is_some_and(|g| started.elapsed() >= g);
        self.get() && (snapshot.all_keys_loaded() || grace_over)
    }
}

/// What the admin endpoints read.
#[derive(Clone)]
pub struct AdminState {
    pub ready: Readiness,
    pub snapshot: SharedSnapshot,
    pub reloads: Arc<ReloadStats>,
    pub remote: Arc<RemoteKeys>,
    pub observer: Arc<Observer>,
    /// When serving started (for `startup_grace`).
    pub started: Instant,
    /// The run-time log filter, when this process installed the subscriber.
    pub log_level: Option<crate::logging::LogLevel>,
}

impl AdminState {
    /// Ready: not shutting down, and every provider holds keys or the startup grace has
    /// expired.
    fn is_ready(&self) -> bool {
        self.ready.serving(&self.snapshot.load(), self.started)
    }
}

/// The probe listener's routes: what the kubelet and Prometheus need, and nothing that
/// discloses the config or reaches an IdP (that is [`debug::router`]).
pub fn router(state: AdminState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
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

async fn readyz(State(state): State<AdminState>) -> (StatusCode, &'static str) {
    if state.is_ready() {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}
