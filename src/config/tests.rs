//! Unit tests of config compilation: defaults, and errors that name the field.

use super::*;
use crate::algorithm::AlgorithmSet;
use crate::mint::test_keys;
use crate::snapshot::ProviderSet;
use serde_json::json;
use std::path::Path;
use std::time::Duration;

fn jwks() -> String {
    json!({"keys": [test_keys::ec(crate::algorithm::Algorithm::Es256, "k1").public_jwk()]})
        .to_string()
}

fn provider(extra: &str) -> String {
    format!(
        "providers:\n  - name: p\n    issuer: https://i.test\n    audiences: [a]\n    jwks: {{ inline: '{}' }}\n{extra}",
        jwks()
    )
}

fn error(yaml: &str) -> String {
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
fn unknown_fields_are_errors_naming_the_file_and_field() {
    let e = error(&provider("    audience: [b]"));
    assert!(e.starts_with("/etc/authz/config.yaml: "), "{e}");
    assert!(e.contains("audience"), "{e}");
    let e = error(&format!("{}\nchalenge: {{ realm: x }}", provider("")));
    assert!(e.contains("chalenge"), "{e}");
}

#[test]
fn yaml_syntax_errors_name_the_file() {
    let e = error("providers: [");
    assert!(e.starts_with("/etc/authz/config.yaml: "), "{e}");
}

#[test]
fn field_errors_name_the_field_path_and_the_expectation() {
    let cases: Vec<(String, &str)> = vec![
        ("providers: []".into(), "providers: at least one provider"),
        (provider("    algorithms: [HS256]"), "providers[0].algorithms[0]: \"HS256\" is not supported; HMAC"),
        (provider("    algorithms: [none]"), "providers[0].algorithms[0]: \"none\" is not supported; unsigned"),
        (provider("    clock_skew: 2 minutes"), "providers[0].clock_skew: expected a duration"),
        (provider("    clock_skew: 2h"), "providers[0].clock_skew: expected a duration such as 30s or 5m, at most 1h"),
        (provider("    token_types: []"), "providers[0].token_types"),
        (provider("    issuers: [https://j.test]"), "providers[0].issuer: expected exactly one of `issuer` or `issuers`"),
        (provider("default: { providers: [nobody] }"), "default.providers[0]: no provider is named \"nobody\""),
        (provider("default: { providers: some }"), "default.providers: expected `any`"),
        (provider("challenge: { realm: 'a\"b' }"), "challenge.realm: expected non-empty printable ASCII"),
        (provider("upstream: { claim_headers: { sub: 'x jwt' } }"), "upstream.claim_headers.sub"),
        (provider("upstream: { claim_headers: { sub: authorization } }"), "upstream.claim_headers.sub"),
        (provider("limits: { max_json_depth: 500 }"), "limits.max_json_depth: expected 2 to 127"),
        (provider("dynamic_metadata: { claims: [sub, provider] }"), "dynamic_metadata.claims[1]: \"provider\" is a key of our own"),
        (provider("dynamic_metadata: { claims: [sub, sub] }"), "dynamic_metadata.claims[1]: \"sub\" is listed twice"),
        (provider("dynamic_metadata: { claims: [''] }"), "dynamic_metadata.claims[0]: a claim name is not empty"),
        (provider("dynamic_metadata: { enabled: maybe }"), "dynamic_metadata"),
        (
            format!("{}  - name: p\n    issuer: https://other.test\n    audiences: [a]\n    jwks: {{ inline: '{}' }}\n", provider(""), jwks()),
            "providers[1].name: \"p\" is already the name of providers[0]",
        ),
        (
            format!("{}  - name: q\n    issuer: https://i.test\n    audiences: [a]\n    jwks: {{ inline: '{}' }}\n", provider(""), jwks()),
            "providers[1].issuers: issuer \"https://i.test\" is already trusted by providers[0]",
        ),
        (
            "providers:\n  - name: p\n    issuer: https://i.test\n    audiences: []\n    jwks: { file: j.json }".into(),
            "providers[0].audiences: expected at least one non-empty audience",
        ),
        (
            "providers:\n  - name: p\n    issuer: https://i.test\n    audiences: [a]\n    jwks: { file: missing.json }".into(),
            "providers[0].jwks.file: cannot read /etc/authz/missing.json",
        ),
        (
            "providers:\n  - name: p\n    issuer: https://i.test\n    audiences: [a]\n    jwks: {}".into(),
            "providers[0].jwks: expected exactly one key source",
        ),
        (
            "providers:\n  - name: p\n    issuer: https://i.test\n    audiences: [a]\n    jwks: { inline: '{\"keys\": []}' }".into(),
            "providers[0].jwks.inline: no usable key",
        ),
        (
            "providers:\n  - name: p\n    issuer: https://i.test\n    audiences: [a]\n    jwks: { inline: '{\"keys\": [{\"kty\": \"oct\", \"kid\": \"h\"}]}' }".into(),
            "providers[0].jwks.inline: no usable key; skipped keys[0] (h): unsupported kty \"oct\"",
        ),
    ];
    for (yaml, expected) in cases {
        let e = error(&yaml);
        assert!(e.contains(expected), "expected {expected:?} in {e:?}");
        assert!(e.starts_with("/etc/authz/config.yaml: "), "{e}");
    }
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
    use super::compile::parse_duration;
    assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
    assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
    assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
    assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
    assert_eq!(parse_duration("30"), None);
    assert_eq!(parse_duration("-1s"), None);
    assert_eq!(parse_duration("s"), None);
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
fn route_errors_name_the_route_and_field() {
    let cases: Vec<(&str, &str)> = vec![
        (
            "routes:\n  - match: { path_prefix: /a }\n    providers: [nobody]\n",
            "routes[0].providers[0]: no provider is named \"nobody\"",
        ),
        (
            "routes:\n  - name: x\n  - name: x\n",
            "routes[1].name: \"x\" is already the name of routes[0]",
        ),
        (
            "routes:\n  - match: { path_prefix: /a }\n  - match: { path_prefix: /a/b }\n",
            "routes[1].match: never matched: routes[0]",
        ),
        (
            "routes:\n  - match: {}\n  - match: { path: /x, methods: [GET] }\n",
            "routes[1].match: never matched: routes[0]",
        ),
        (
            "routes:\n  - match: { path_glob: '/a/**' }\n  - match: { path: /a/b }\n",
            "routes[1].match: never matched: routes[0]",
        ),
        (
            "routes:\n  - match: { path_prefix: /a, case_insensitive: true }\n  - match: { path: /A/b }\n",
            "routes[1].match: never matched: routes[0]",
        ),
        (
            "routes:\n  - match: { path_glob: '/a/***' }\n",
            "routes[0].match.path_glob: \"/a/***\": `***` is neither",
        ),
        (
            "routes:\n  - match: { path_glob: '/*aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa*' }\n",
            "routes[0].match.path_glob: \"/*aaa",
        ),
        (
            "routes:\n  - match: { path: /a;b }\n",
            "routes[0].match.path: \"/a;b\" must start with /",
        ),
        (
            "routes:\n  - match: { hosts: [admin.example.com:8443] }\n",
            "routes[0].match.hosts[0]: \"admin.example.com:8443\" is not a host name",
        ),
        (
            "routes:\n  - match: { hosts: [a.example.com, 'caf\u{e9}.example'] }\n",
            "routes[0].match.hosts[1]",
        ),
        (
            "routes:\n  - match: { hosts: ['a..b'] }\n",
            "routes[0].match.hosts[0]",
        ),
        (
            "routes:\n  - match: { hosts: ['a.*.b'] }\n",
            "routes[0].match.hosts[0]",
        ),
        ("matching: { case_sensitive: true }\n", "matching"),
        (
            "routes:\n  - scopes: [a]\n",
            "routes[0]: a route needs a `match`, a `name`",
        ),
        (
            "routes:\n  - match: { path: /a, path_prefix: /a }\n",
            "routes[0].match: expected at most one of",
        ),
        (
            "routes:\n  - match: { path_prefix: /a/../b }\n",
            "routes[0].match.path_prefix: \"/a/../b\" must start with /",
        ),
        (
            "routes:\n  - match: { path: 'a' }\n",
            "routes[0].match.path",
        ),
        (
            "routes:\n  - match: { path: /a, methods: ['GE T'] }\n",
            "routes[0].match.methods[0]",
        ),
        (
            "routes:\n  - match: { path: /a }\n    scopes: ['a b']\n",
            "routes[0].scopes[0]: a scope is one non-empty word",
        ),
        (
            "routes:\n  - match: { path: /a }\n    cors_preflight: yes\n",
            "routes[0].cors_preflight: expected `allow` or `deny`",
        ),
        (
            "routes:\n  - match: { path: /a }\n    upstream: { claim_headers: { sub: 'x y' } }\n",
            "routes[0].upstream.claim_headers.sub",
        ),
        (
            "default: { name: d }\n",
            "default: the default requirement has no `name` or `match`",
        ),
    ];
    for (routes, expected) in cases {
        let e = error(&provider(routes));
        assert!(e.contains(expected), "expected {expected:?} in {e:?}");
    }
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
    assert!(checks(
        "routes:\n  - name: public\n    allow_anonymous: true\n"
    ));
    assert!(checks(
        "routes:\n  - name: cors\n    cors_preflight: allow\n"
    ));
    assert!(checks("routes:\n  - match: { path_prefix: /a }\n"));
}
