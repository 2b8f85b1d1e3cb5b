//! The debug listener (loopback by default): the HTML page at `/` (see [`super::page`]),
//! `/status`, `/debug/denials`, `/debug/log-level` and `POST /jwks/refresh`. They are kept
//! off the probe port because the page, `/status` and the denials disclose issuers,
//! audiences, kids, JWKS URLs and fetch errors, a refresh makes us call every IdP, and a
//! `debug` filter floods the logs: anyone who can reach them learns the config, spends our
//! IdP rate limit or fills the disk.

use super::AdminState;
use super::page;
use crate::config::watch::LastReload;
use crate::remote::outbound;
use crate::snapshot::{Endpoint, KeySource, Tenants};
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use std::time::{Duration, UNIX_EPOCH};

/// The debug routes.
pub fn router(state: AdminState) -> Router {
    Router::new()
        .route("/", get(page::page))
        .route("/status", get(status))
        .route("/debug/log-level", get(log_level).put(set_log_level))
        .route("/jwks/refresh", post(refresh))
        .route("/debug/denials", get(denials))
        .with_state(state)
}

/// Whole seconds for `Retry-After`, rounded up (RFC 9110 §10.2.3 takes an integer; rounding
/// down would send the client back a moment too early, into another 429).
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

/// `POST /jwks/refresh`: refetch every remote key set now; 200 when all succeeded, 502
/// otherwise (the last good keys keep serving either way). It spends the same
/// `min_refetch_interval` budget as unknown-kid refetches, all providers or none: when one
/// must wait, nothing is fetched and the answer is 429 with the longest wait, after which
/// every provider may fetch again.
async fn refresh(State(state): State<AdminState>) -> Response {
    if let Err(waits) = state.remote.claim_refresh_all() {
        let longest = waits.iter().map(|(_, w)| *w).max().unwrap_or_default();
        let seconds = retry_after_secs(longest);
        let providers: serde_json::Map<String, Value> = waits
            .into_iter()
            .map(|(name, wait)| {
                let entry = json!({ "retry_after_seconds": retry_after_secs(wait) });
                (name, entry)
            })
            .collect();
        tracing::info!(
            retry_after = seconds,
            "POST /jwks/refresh refused: min_refetch_interval not over"
        );
        let body = json!({
            "error": "rate_limited: a provider's min_refetch_interval has not passed since its last on-demand fetch",
            "retry_after_seconds": seconds,
            "providers": providers,
        });
        let mut response = (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        return response;
    }
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
    (status, Json(Value::Object(body))).into_response()
}

/// `GET /debug/log-level`: the running filter in `RUST_LOG` syntax.
async fn log_level(State(state): State<AdminState>) -> (StatusCode, String) {
    match &state.log_level {
        Some(level) => (StatusCode::OK, format!("{}\n", level.current())),
        None => (StatusCode::NOT_FOUND, NO_LOG_LEVEL.to_owned()),
    }
}

const NO_LOG_LEVEL: &str = "this process did not install the log subscriber\n";

/// `PUT /debug/log-level` with a `RUST_LOG` filter as the body: 200 with the new filter, or
/// 400 with the parse error (the old filter stays).
async fn set_log_level(State(state): State<AdminState>, body: String) -> (StatusCode, String) {
    let Some(level) = &state.log_level else {
        return (StatusCode::NOT_FOUND, NO_LOG_LEVEL.to_owned());
    };
    let before = level.current();
    match level.set(&body) {
        Ok(now) => {
            tracing::info!(from = %before, to = %now, "log filter changed by PUT /debug/log-level");
            (StatusCode::OK, format!("{now}\n"))
        }
        Err(e) => (StatusCode::BAD_REQUEST, format!("{e}\n")),
    }
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
            let kids = p.kids("");
            let mut entry = json!({ "name": p.name, "issuers": p.issuers, "audiences": p.audiences, "kids": kids });
            if let Some(t) = &p.tenancy {
                let tenants = match &t.tenants {
                    Tenants::Any => json!("any"),
                    Tenants::Only(list) => json!(list),
                };
                entry["issuer_templates"] = json!(t.texts());
                entry["tenants"] = tenants;
            }
            if let Some(jwks) = remote.remove(&p.name) {
                entry["jwks"] = jwks;
            }
            if let KeySource::Remote(source) = &p.key_source {
                let (proxy, chosen_by) = outbound::describe(&p.proxy, source);
                entry["proxy"] = json!(proxy);
                entry["proxy_source"] = json!(chosen_by);
            }
            if let Some(i) = &p.introspection {
                // The URL asked (or the issuer whose metadata names it), no credentials.
                let url = match &i.endpoint {
                    Endpoint::Url(url) => url,
                    Endpoint::Discovery { issuer } => issuer,
                };
                let (proxy, chosen_by) = outbound::describe_url(&p.proxy, url);
                entry["introspection"] = json!({
                    "endpoint": i.endpoint.to_string(),
                    "tokens": format!("{:?}", i.tokens).to_ascii_lowercase(),
                    "proxy": proxy,
                    "proxy_source": chosen_by,
                });
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
            "last_reload": state.reloads.last().map(last_reload),
        },
        "providers": providers,
    }))
}

/// The last applied or rejected reload: Unix time, result, and what changed or why not.
fn last_reload(last: LastReload) -> Value {
    let time = last
        .at
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    match last.result {
        Ok(changes) => json!({ "time": time, "result": "applied", "changes": changes }),
        Err(error) => json!({ "time": time, "result": "rejected", "error": error }),
    }
}

#[cfg(test)]
mod tests {
    use super::retry_after_secs;
    use std::time::Duration;

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(Duration::from_nanos(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(999)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_secs(Duration::from_millis(2001)), 3);
        assert_eq!(retry_after_secs(Duration::from_secs(3600)), 3600);
    }
}
