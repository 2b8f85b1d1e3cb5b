//! A flood of bad tokens through a real Envoy (issue #20): one forged token replayed is
//! verified once and then refused from the refusal cache, and so is one token of an issuer
//! nobody trusts (`/metrics` says so); the audit log writes at most `--audit-rate-limit`
//! events per reason per second and one `audit events suppressed` line for the rest, and the
//! metrics count every denial exactly.

use crate::support::envoy::Envoy;
use crate::support::server::{Server, metric};
use crate::support::{self, ec_key, http, impostor_key, mint};
use serde_json::{Value, json};

const FLOOD: usize = 30;
const LIMIT: usize = 3;

#[test]
fn replayed_bad_tokens_are_judged_once_and_the_audit_log_stays_bounded() {
    let limit = LIMIT.to_string();
    let mut server = Server::start_with_args(
        &support::config_yaml(""),
        &["--log-format", "json", "--audit-rate-limit", &limit],
    );
    let envoy = Envoy::start(server.grpc.port(), false);
    // The trusted kid, signed by another key: a bad signature.
    let forged = mint(&impostor_key(), &support::claims());
    // Signed by the trusted key, for an issuer no provider names.
    let foreign = support::claims_with(json!({ "iss": "https://elsewhere.example" }));
    let foreign = mint(&ec_key(), &foreign);
    for token in [&forged, &foreign] {
        for _ in 0..FLOOD {
            let denied = http::get(envoy.listener, "/", Some(token));
            assert_eq!(denied.status, 401, "{denied:?}");
        }
    }
    let metrics = server.metrics();
    for (reason, cached) in [
        ("signature_invalid", "bad_signature"),
        ("issuer_not_trusted", "untrusted_issuer"),
    ] {
        let denials = format!(r#"authz_decisions_total{{decision="deny",reason="{reason}""#);
        assert_eq!(metric(&metrics, &denials), FLOOD as u64, "{metrics}");
        let refused = format!(r#"token_cache_lookups_total{{result="{cached}"}}"#);
        assert_eq!(
            metric(&metrics, &refused),
            FLOOD as u64 - 1,
            "judged once, then refused from the cache:\n{metrics}"
        );
    }
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
    // Each reason has its own budget, and the flood may straddle a second boundary or two:
    // each second has its own budget.
    assert!(
        (2 * LIMIT..=6 * LIMIT).contains(&written),
        "{written} events\n{log}"
    );
    assert_eq!(written as u64 + suppressed, 2 * FLOOD as u64, "{log}");
}
