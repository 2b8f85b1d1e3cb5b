//! Unit tests of config compilation: defaults, routes, digests and reload descriptions (the
//! errors are in `tests_errors`).

use super::*;
use crate::algorithm::AlgorithmSet;
use crate::mint::test_keys;
use crate::snapshot::ProviderSet;
use serde_json::json;
use std::path::Path;
use std::time::Duration;

pub(super) fn jwks() -> String {
    json!({"keys": [test_keys::ec(crate::algorithm::Algorithm::Es256, "k1").public_jwk()]})
        .to_string()
}

pub(super) fn provider(extra: &str) -> String {
    format!(
        "providers:\n  - name: p\n    issuer: https://i.test\n    audiences: [a]\n    jwks: {{ inline: '{}' }}\n{extra}",
        jwks()
    )
}

pub(super) fn error(yaml: &str) -> String {
    compile_str(yaml, Path::new("/etc/authz/config.yaml"))
        .expect_err("config must be rejected")
        .to_string()
}

#[test]
fn defaults_are_applied() {
    let snap = compile_str(&provider(""), Path::new("c.yaml")).unwrap();
    let p = &snap.providers[0];
    assert_eq!(p.clock_skew, Duration::from_secs(60));
    assert_eq!(p.required_claims, ["exp"]);
    assert_eq!(p.audience_claims, ["aud"]);
    assert_eq!(p.algorithms, AlgorithmSet::all());
    assert_eq!(p.token_types, None);
    assert_eq!(snap.default_requirement.providers, ProviderSet::Any);
    assert_eq!(snap.limits.max_token_bytes, 32 * 1024);
    assert_eq!(snap.limits.max_json_depth, 64);
    assert_eq!(snap.limits.max_jwks_bytes, 64 * 1024);
    assert_eq!(snap.by_issuer["https://i.test"], 0);
}

#[test]
fn inline_jwks_may_be_a_mapping_or_a_json_string() {
    let mapping = format!(
        "providers:\n  - name: p\n    issuer: https://i.test\n    audiences: [a]\n    jwks:\n      inline: {}\n",
        jwks()
    );
    assert_eq!(
        compile_str(&mapping, Path::new("c.yaml"))
            .unwrap()
            .providers[0]
            .keys
            .keys()
            .len(),
        1
    );
    assert_eq!(
        compile_str(&provider(""), Path::new("c.yaml"))
            .unwrap()
            .providers[0]
            .keys
            .keys()
            .len(),
        1
    );
}

#[test]
fn a_jwks_file_is_read_relative_to_the_config() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("keys.json"), jwks()).unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, "providers:\n  - name: p\n    issuer: https://i.test\n    audiences: [a]\n    jwks: { file: keys.json }\n").unwrap();
    assert_eq!(
        load(&config).unwrap().providers[0].keys.keys()[0].kid(),
        Some("k1")
    );
}

#[test]
fn durations_parse_with_units() {
    let parse = |text| super::Duration::parse(text).map(super::Duration::get);
    assert_eq!(parse("30s"), Some(Duration::from_secs(30)));
    assert_eq!(parse("5m"), Some(Duration::from_secs(300)));
    assert_eq!(parse("1h"), Some(Duration::from_secs(3600)));
    assert_eq!(parse("250ms"), Some(Duration::from_millis(250)));
    assert_eq!(parse("30"), None);
    assert_eq!(parse("-1s"), None);
    assert_eq!(parse("s"), None);
}

#[test]
fn the_digest_covers_the_config_text_and_jwks_files() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, "providers:\n  - name: p\n    issuer: https://i.test\n    audiences: [a]\n    jwks: { file: keys.json }\n").unwrap();
    std::fs::write(dir.path().join("keys.json"), jwks()).unwrap();
    let first = load(&config).unwrap();
    assert_eq!(
        load(&config).unwrap().digest,
        first.digest,
        "same inputs, same digest"
    );
    assert_eq!(
        first.input_files(),
        [config.as_path(), dir.path().join("keys.json").as_path()]
    );
    let two_keys = json!({"keys": [
        test_keys::ec(crate::algorithm::Algorithm::Es256, "k1").public_jwk(),
        test_keys::ed25519("k2").public_jwk(),
    ]});
    std::fs::write(dir.path().join("keys.json"), two_keys.to_string()).unwrap();
    let second = load(&config).unwrap();
    assert_ne!(second.digest, first.digest);
    assert_eq!(
        super::watch::describe_changes(&first, &second),
        ["provider p changed, keys added [k2]"]
    );
}

#[test]
fn reload_changes_name_added_removed_and_changed_providers() {
    let a = compile_str(&provider(""), Path::new("c.yaml")).unwrap();
    let renamed = compile_str(
        &provider("").replace("name: p", "name: q"),
        Path::new("c.yaml"),
    )
    .unwrap();
    assert_eq!(
        super::watch::describe_changes(&a, &renamed),
        ["provider q added", "provider p removed"]
    );
    let realm = compile_str(
        &format!("{}challenge: {{ realm: r }}\n", provider("")),
        Path::new("c.yaml"),
    )
    .unwrap();
    assert_eq!(
        super::watch::describe_changes(&a, &realm),
        ["routes, challenge, upstream or limits changed"]
    );
    let skew = compile_str(&provider("    clock_skew: 5s"), Path::new("c.yaml")).unwrap();
    assert_eq!(
        super::watch::describe_changes(&a, &skew),
        ["provider p changed"]
    );
}

#[test]
fn routes_compile_with_their_requirements() {
    let snap = compile_str(
        &provider(
            "upstream: { claim_headers: { sub: x-sub } }\nroutes:\n  - name: admin\n    match: { path_prefix: /admin, methods: [post] }\n    providers: [p]\n    scopes: [a.admin]\n    claims: { tenant: acme }\n  - match: { path_prefix: /admin }\n    upstream: { claim_headers: { email: x-email } }\n  - name: late\n    match: { path: /admin/x }\ndefault: { allow_anonymous: true, cors_preflight: allow }\n",
        ),
        Path::new("c.yaml"),
    )
    .unwrap();
    let admin = &snap.routes[0];
    assert_eq!(admin.name.as_deref(), Some("admin"));
    let m = admin.matcher.as_ref().unwrap();
    assert_eq!(
        (m.methods.as_slice(), m.path.clone()),
        (
            &["POST".to_owned()][..],
            crate::snapshot::PathMatch::Prefix("/admin".into())
        )
    );
    assert_eq!(admin.requirement.providers, ProviderSet::Only(vec![0]));
    assert_eq!(admin.requirement.scopes, ["a.admin"]);
    assert_eq!(
        admin.requirement.claims,
        [("tenant".to_owned(), "acme".to_owned())]
    );
    assert_eq!(
        admin.requirement.upstream.claim_headers[0].header, "x-sub",
        "inherited from the top level"
    );
    assert_eq!(
        snap.routes[1].requirement.upstream.claim_headers[0].header,
        "x-email"
    );
    // A shadowed route with a name stays (reachable by context_extensions).
    assert_eq!(snap.routes[2].name.as_deref(), Some("late"));
    assert!(snap.default_requirement.allow_anonymous && snap.default_requirement.cors_preflight);
    assert_eq!(snap.identity_headers, ["x-email", "x-sub"]);
}

#[test]
fn host_patterns_are_normalised_and_case_folding_inherits() {
    let snap = compile_str(
        &provider(
            "matching: { case_insensitive: true }\nroutes:\n  - match: { path_prefix: /a, hosts: [API.Example.COM., '*.b.test', '[::1]'] }\n  - match: { path_prefix: /c, case_insensitive: false }\n",
        ),
        Path::new("c.yaml"),
    )
    .unwrap();
    let first = snap.routes[0].matcher.as_ref().unwrap();
    assert_eq!(first.hosts, ["api.example.com", "*.b.test", "[::1]"]);
    assert!(first.case_insensitive);
    assert!(!snap.routes[1].matcher.as_ref().unwrap().case_insensitive);
    assert!(snap.checks_paths);
}

#[test]
fn paths_are_checked_when_routes_match_or_named_routes_need_no_token() {
    let checks = |routes: &str| {
        compile_str(&provider(routes), Path::new("c.yaml"))
            .unwrap()
            .checks_paths
    };
    assert!(!checks(""));
    assert!(!checks("routes:\n  - name: admin\n    scopes: [a]\n"));
    // An anonymous default beside protected named routes: Envoy's catch-all sends
    // `/public/..;/admin` there with no route name.
    assert!(checks(
        "routes:\n  - name: admin\n    scopes: [a]\ndefault: { allow_anonymous: true }\n"
    ));
    assert!(
        !checks("default: { allow_anonymous: true }\n"),
        "no route to reach"
    );
    assert!(checks(
        "routes:\n  - name: public\n    allow_anonymous: true\n"
    ));
    assert!(checks(
        "routes:\n  - name: cors\n    cors_preflight: allow\n"
    ));
    assert!(checks("routes:\n  - match: { path_prefix: /a }\n"));
}
