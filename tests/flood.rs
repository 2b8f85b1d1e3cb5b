//! A flood of bad tokens through a real Envoy (issue #20): one forged token replayed is
//! verified once and then refused from the bad-signature cache (`/metrics` says so), the
//! audit log writes at most `--audit-rate-limit` events per reason per second and one
//! `audit events suppressed` line for the rest, and the metrics count every denial exactly.

use crate::support::envoy::Envoy;
use crate::support::server::Server;
use crate::support::{self, http, impostor_key, mint};
use serde_json::Value;

const FLOOD: usize = 30;
const LIMIT: usize = 3;

/// The value of the metric line starting with `prefix` (labels included), 0 when absent.
fn metric(metrics: &str, prefix: &str) -> u64 {
    metrics
        .lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

#[test]
fn a_replayed_forgery_costs_one_verify_and_a_bounded_audit_log() {
    let limit = LIMIT.to_string();
    let mut server = Server::start_with_args(
        &support::config_yaml(""),
        &["--log-format", "json", "--audit-rate-limit", &limit],
    );
    let envoy = Envoy::start(server.grpc.port(), false);
    // The trusted kid, signed by another key: a bad signature.
    let forged = mint(&impostor_key(), &support::claims());
    for _ in 0..FLOOD {
        let denied = http::get(envoy.listener, "/", Some(&forged));
        assert_eq!(denied.status, 401, "{denied:?}");
    }
    let metrics = server.metrics();
    assert_eq!(
        metric(
            &metrics,
            r#"authz_decisions_total{decision="deny",reason="signature_invalid""#
        ),
        FLOOD as u64,
        "{metrics}"
    );
    assert_eq!(
        metric(
            &metrics,
            r#"token_cache_lookups_total{result="bad_signature"}"#
        ),
        FLOOD as u64 - 1,
        "verified once, then refused from the cache:\n{metrics}"
    );
    // SIGTERM reports what the limit held back, the current second's too.
    assert!(server.terminate().success());
    let log = server.log();
    let events: Vec<Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let field = |e: &Value, name: &str| e["fields"][name].clone();
    let written = events
        .iter()
        .filter(|e| field(e, "message") == "request denied")
        .count();
    let suppressed: u64 = events
        .iter()
        .filter(|e| {
            field(e, "message")
                .as_str()
                .is_some_and(|m| m.starts_with("audit events suppressed"))
        })
        .map(|e| field(e, "suppressed").as_u64().unwrap_or(0))
        .sum();
    // The flood may straddle a second boundary or two: each second has its own budget.
    assert!(
        (LIMIT..=3 * LIMIT).contains(&written),
        "{written} events\n{log}"
    );
    assert_eq!(written as u64 + suppressed, FLOOD as u64, "{log}");
}
