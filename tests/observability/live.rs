//! A real Prometheus scrapes the real server's `/metrics` every second while Checks flow
//! through a real Envoy, and answers every alert and dashboard expression with samples.
//!
//! The traffic makes every alert's condition true, so its expression has samples too: a
//! provider whose IdP answered once and then hangs past the fetch timeout (fetch failing, key
//! set stale, unknown-kid Checks waiting ~0.4 s for a refetch: a slow p99), a provider
//! whose IdP never answers (not ready), a rejected config reload, and denials with several
//! reasons (a new reason, so a spike). Allowed Checks reuse a token (cache hits) and bring new
//! ones (misses).

use super::{ALERTS, expressions};
use crate::deploy::repo;
use crate::support::envoy::Envoy;
use crate::support::idp::{Answer, Idp};
use crate::support::prometheus::{Prometheus, free_port};
use crate::support::server::Server;
use crate::support::{
    self, AUDIENCE, claims, claims_with, ec_key, ec_key_2, http, impostor_key, mint, wait_for,
};
use envoy_jwt_authz::token::verify::UnixTime;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const STALE_ISSUER: &str = "https://stale.test";
const DOWN_ISSUER: &str = "https://down.test";
const WAIT: Duration = Duration::from_secs(20);
/// How long every expression has to get samples once the traffic flows.
const DEADLINE: Duration = Duration::from_secs(120);

/// The shared test config's provider, plus `stale` (from `idp`, refreshed every second,
/// refetching on demand) and `down` (from a port nothing listens on).
fn config(idp: &Idp) -> String {
    let remote = |name: &str, issuer: &str, uri: &str, extra: &str| {
        format!(
            "  - name: {name}\n    issuer: {issuer}\n    audiences: [{AUDIENCE}]\n    jwks:\n      uri: {uri}\n      allow_insecure_http: true\n      timeout: 1s\n{extra}"
        )
    };
    let every_second = "      refresh_interval: 1s\n      min_refresh_interval: 1s\n      max_refresh_interval: 1s\n      min_refetch_interval: 1ms\n";
    let closed = format!("http://127.0.0.1:{}/jwks", free_port());
    support::config_yaml(&format!(
        "{}{}",
        remote("stale", STALE_ISSUER, &idp.jwks_url(), every_second),
        remote("down", DOWN_ISSUER, &closed, "")
    ))
}

/// One round of Checks through Envoy, each with the statuses it may get.
fn round(envoy: SocketAddr, reused: &str) {
    let now = UnixTime::now().0;
    let expect = |token: Option<&str>, statuses: &[u16], what: &str| {
        let response = http::get(envoy, "/", token);
        assert!(statuses.contains(&response.status), "{what}: {response:?}");
    };
    expect(Some(reused), &[200], "a reused token");
    expect(Some(&mint(&ec_key(), &claims())), &[200], "a new token");
    for _ in 0..4 {
        expect(None, &[401], "no token");
    }
    let invalid = [
        (ec_key(), json!({"aud": "api://other"}), "another audience"),
        (
            ec_key(),
            json!({"iss": "https://evil.test"}),
            "an untrusted issuer",
        ),
        (
            ec_key(),
            json!({"iat": now - 7200, "exp": now - 3600}),
            "expired",
        ),
        (impostor_key(), json!({}), "a forged signature"),
    ];
    for (key, changes, what) in invalid {
        expect(Some(&mint(&key, &claims_with(changes))), &[401], what);
    }
    // An unknown kid of `stale`: the Check waits 0.4 s (80 % of Envoy's 0.5 s timeout) for a
    // refetch the hung IdP never answers; on a starved machine Envoy's own timeout (403) can
    // come first.
    let rotated = mint(
        &ec_key_2().with_kid("rotated"),
        &claims_with(json!({"iss": STALE_ISSUER})),
    );
    expect(
        Some(&rotated),
        &[401, 403],
        "a key the IdP no longer serves",
    );
    let never_fetched = mint(&ec_key(), &claims_with(json!({"iss": DOWN_ISSUER})));
    expect(Some(&never_fetched), &[503], "keys never fetched");
}

/// Whether an instant-query result holds a sample with a number (not NaN).
fn has_number(result: &Value) -> bool {
    result.as_array().into_iter().flatten().any(|sample| {
        sample["value"][1]
            .as_str()
            .and_then(|v| v.parse::<f64>().ok())
            .is_some_and(|v| !v.is_nan())
    })
}

#[test]
fn every_alert_and_dashboard_expression_answers_from_a_real_prometheus_over_real_traffic() {
    let started = Instant::now();
    let idp = Idp::http(&json!({ "keys": [ec_key_2().public_jwk()] }));
    let server = Server::start(&config(&idp));
    let envoy = Envoy::start(server.grpc.port(), false);
    let prometheus = Prometheus::start(server.admin, &[&repo(ALERTS)]);
    wait_for("the stale provider's first fetch", WAIT, || {
        server
            .metrics()
            .contains("jwks_age_seconds{provider=\"stale\"}")
            .then_some(())
    });
    // From now on the IdP holds every request past the 1 s fetch timeout.
    idp.set_delay(Duration::from_secs(2));
    idp.set_answer(Answer::Down);
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = {
        let (stop, listener) = (stop.clone(), envoy.listener);
        let reused = mint(&ec_key(), &claims());
        std::thread::spawn(move || {
            let mut rounds = 0u32;
            while !stop.load(Ordering::Relaxed) {
                round(listener, &reused);
                rounds += 1;
            }
            rounds
        })
    };
    // A half-written config: rejected, the last good one keeps serving.
    std::fs::write(server.config_path(), "providers: [").expect("write config");

    let mut pending = expressions();
    let total = pending.len();
    let mut empty: BTreeMap<String, String> = BTreeMap::new();
    let deadline = Instant::now() + DEADLINE;
    while !pending.is_empty() {
        assert!(
            !traffic.is_finished(),
            "the traffic stopped: {:?}",
            traffic.join()
        );
        pending.retain(|(what, expr)| match prometheus.query(expr) {
            Err(error) => panic!("{what}: `{expr}` failed: {error}"),
            Ok(result) if has_number(&result) => false,
            Ok(result) => {
                empty.insert(what.clone(), format!("`{expr}` gave {result}"));
                true
            }
        });
        if pending.is_empty() {
            break;
        }
        let missing: Vec<&String> = pending.iter().map(|(what, _)| what).collect();
        assert!(
            Instant::now() < deadline,
            "no samples after {DEADLINE:?} for {missing:?}:\n{empty:#?}\nserver log:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // Prometheus itself evaluates the rule file: no errors, and every alert at least pending.
    wait_for("every alert to be pending or firing", WAIT, || {
        let groups = prometheus.api("rules").expect("rules")["groups"].clone();
        let rules: Vec<Value> = groups
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
            .collect();
        for rule in &rules {
            assert_ne!(rule["health"], "err", "{rule}");
        }
        let done = |r: &Value| r["health"] == "ok" && r["state"] != "inactive";
        (rules.len() >= 6 && rules.iter().all(done)).then_some(())
    });
    // The denials Prometheus saw are the ones sent.
    let reasons: BTreeSet<String> = prometheus
        .query(r#"sum by (reason) (authz_decisions_total{decision="deny"})"#)
        .expect("reasons")
        .as_array()
        .expect("vector")
        .iter()
        .map(|s| s["metric"]["reason"].as_str().unwrap_or("").to_owned())
        .collect();
    for reason in [
        "no_credentials",
        "audience_not_allowed",
        "issuer_not_trusted",
        "expired",
        "signature_invalid",
        "key_not_found",
        "keys_unavailable",
    ] {
        assert!(reasons.contains(reason), "{reason} not in {reasons:?}");
    }
    stop.store(true, Ordering::Relaxed);
    let rounds = traffic.join().expect("traffic");
    eprintln!(
        "{total} expressions answered after {rounds} rounds of Checks, {:?} in all",
        started.elapsed()
    );
}
