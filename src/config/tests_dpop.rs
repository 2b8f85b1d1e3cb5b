//! Unit tests of `dpop:`: both written forms, YAML's `off` read as `false`, the defaults, and
//! each bound as an error naming its field.

use super::tests::{error, provider};
use super::*;
use crate::algorithm::Algorithm;
use crate::snapshot::{DEFAULT_REPLAY_ENTRIES, DpopMode};
use std::path::Path;
use std::time::Duration;

fn dpop_of(yaml: &str) -> crate::snapshot::Dpop {
    let snapshot = compile_str(&provider(yaml), Path::new("c.yaml")).unwrap();
    snapshot.providers[0].dpop.clone()
}

#[test]
fn a_mode_alone_or_a_block_and_off_even_as_a_yaml_boolean() {
    let default = dpop_of("");
    assert_eq!(
        (default.mode, default.advertise),
        (DpopMode::Allowed, false)
    );
    assert_eq!(default.max_age, Duration::from_secs(60));
    assert_eq!(default.replay_entries, DEFAULT_REPLAY_ENTRIES);
    assert_eq!(default.nonce, None);
    assert_eq!(dpop_of("    dpop: required").mode, DpopMode::Required);
    for off in [
        "    dpop: off",
        "    dpop: 'off'",
        "    dpop: { mode: off }",
    ] {
        assert_eq!(dpop_of(off).mode, DpopMode::Off, "{off}");
    }
    let block = dpop_of(
        "    dpop: { mode: allowed, algorithms: [EdDSA], max_age: 30s, nonce: required, nonce_lifetime: 2m, replay_cache_entries: 10 }",
    );
    assert!(block.advertise);
    assert_eq!(
        block.algorithms.iter().collect::<Vec<_>>(),
        [Algorithm::EdDsa]
    );
    assert_eq!(block.max_age, Duration::from_secs(30));
    assert_eq!(block.nonce, Some(Duration::from_secs(120)));
    assert_eq!(block.replay_entries, 10);
    assert_eq!(
        dpop_of("    dpop: { nonce: required }").nonce,
        Some(Duration::from_secs(300))
    );
    // An unquoted `off` inside the block, too.
    assert_eq!(dpop_of("    dpop: { nonce: off }").nonce, None);
}

#[test]
fn each_bad_value_is_an_error_naming_its_field() {
    let cases = [
        ("    dpop: sometimes", "providers[0].dpop"),
        ("    dpop: true", "providers[0].dpop"),
        ("    dpop: { mode: maybe }", "providers[0].dpop.mode"),
        (
            "    dpop: { max_age: 0s }",
            "providers[0].dpop.max_age: expected a duration above zero and at most 600s",
        ),
        ("    dpop: { max_age: 1h }", "providers[0].dpop.max_age"),
        (
            "    dpop: { nonce_lifetime: 1m }",
            "providers[0].dpop.nonce_lifetime: applies only with `nonce: required`",
        ),
        (
            "    dpop: { nonce: required, nonce_lifetime: 2d }",
            "providers[0].dpop.nonce_lifetime",
        ),
        (
            "    dpop: { replay_cache_entries: 0 }",
            "providers[0].dpop.replay_cache_entries: expected 1 to 10000000",
        ),
        (
            "    dpop: { algorithms: [] }",
            "providers[0].dpop.algorithms: expected at least one algorithm",
        ),
        (
            "    dpop: { algorithms: [HS256] }",
            "providers[0].dpop.algorithms[0]",
        ),
        (
            "    dpop: { mode: off, nonce: required }",
            "providers[0].dpop: `mode: off` takes no other DPoP setting",
        ),
        ("    dpop: { ttl: 1m }", "ttl"),
    ];
    for (yaml, expected) in cases {
        let e = error(&provider(yaml));
        assert!(e.contains(expected), "{yaml}: {e}");
    }
}

#[test]
fn a_routes_protected_resource_metadata_says_what_its_providers_do_with_dpop() {
    let members = |dpop: &str| {
        let yaml = format!("{dpop}default: {{ resource: {{ id: 'https://api.example.com' }} }}\n");
        let snapshot = compile_str(&provider(&yaml), Path::new("c.yaml")).unwrap();
        snapshot.default_requirement.resource.unwrap().members
    };
    assert!(!members("").contains("dpop"), "silent without `dpop:`");
    assert!(
        members("    dpop: { algorithms: [ES256] }\n").ends_with(
            r#","dpop_signing_alg_values_supported":["ES256"],"dpop_bound_access_tokens_required":false"#
        ),
        "{}",
        members("    dpop: { algorithms: [ES256] }\n")
    );
    assert!(members("    dpop: { mode: required, algorithms: [ES256, EdDSA] }\n").ends_with(
        r#","dpop_signing_alg_values_supported":["ES256","EdDSA"],"dpop_bound_access_tokens_required":true"#
    ));
    let e = error(&provider(
        "default: { resource: { id: 'https://a.example/', extra: { dpop_bound_access_tokens_required: true } } }\n",
    ));
    assert!(
        e.contains("default.resource.extra.dpop_bound_access_tokens_required"),
        "{e}"
    );
}
