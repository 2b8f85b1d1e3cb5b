//! Unit tests of config errors: each names the file, the field path and what was expected,
//! whether serde caught it while reading the YAML or `compile` while checking it.

use super::tests::{error, jwks, provider};
use super::*;
use std::path::Path;

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
        (
            "routes:\n  - match: { hosts: ['*.[::1]'] }\n",
            "routes[0].match.hosts[0]",
        ),
        (
            "routes:\n  - match: { hosts: ['[::1]:443'] }\n",
            "routes[0].match.hosts[0]",
        ),
        (
            "routes:\n  - match: { hosts: ['a.test..'] }\n",
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

/// The typed error, for tests that match on the variant and field.
fn rejected(yaml: &str) -> ConfigError {
    compile_str(yaml, Path::new("/etc/authz/config.yaml")).expect_err("config must be rejected")
}

fn remote(jwks_extra: &str) -> String {
    format!(
        "providers:\n  - name: p\n    issuer: https://i.test\n    audiences: [a]\n    jwks: {{ uri: 'https://i.test/jwks', {jwks_extra} }}\n"
    )
}

#[test]
fn a_bad_duration_fails_at_its_field_with_the_path_line_and_text() {
    let cases = [
        (
            remote("refresh_interval: 5x"),
            "providers[0].jwks.refresh_interval",
            "\"5x\"",
        ),
        (
            remote("timeout: '30'"),
            "providers[0].jwks.timeout",
            "\"30\"",
        ),
        (
            provider("    clock_skew: 1.5s"),
            "providers[0].clock_skew",
            "\"1.5s\"",
        ),
        (provider("startup_grace: 1d"), "startup_grace", "\"1d\""),
    ];
    for (yaml, path, text) in cases {
        let e = rejected(&yaml);
        assert_eq!(e.field(), Some(path), "{e}");
        let shown = e.to_string();
        assert!(
            shown.contains(&format!(
                "{path}: expected a duration such as 30s, 5m, 1h or 250ms; got {text} at line "
            )),
            "{shown}"
        );
    }
}

#[test]
fn a_duration_out_of_its_field_bounds_is_named_by_compile() {
    let e = rejected(&remote("min_refetch_interval: 0ms"));
    assert!(
        matches!(&e, ConfigError::Invalid { field, message, .. }
            if field == "providers[0].jwks.min_refetch_interval" && message.contains("positive")),
        "{e}"
    );
    let e = rejected(&remote(
        "min_refresh_interval: 2h, max_refresh_interval: 1h",
    ));
    assert_eq!(e.field(), Some("providers[0].jwks.min_refresh_interval"));
    let e = rejected(&provider("    clock_skew: 61m"));
    assert_eq!(e.field(), Some("providers[0].clock_skew"), "{e}");
}

#[test]
fn serde_errors_name_the_field_path_too() {
    let cases = [
        (provider("    audience: [b]"), "providers[0].audience"),
        (
            provider("dynamic_metadata: { enabled: maybe }"),
            "dynamic_metadata.enabled",
        ),
        (
            provider("limits: { max_token_bytes: -1 }"),
            "limits.max_token_bytes",
        ),
        (
            provider("routes:\n  - match: { path: /a, methods: GET }\n"),
            "routes[0].match.methods",
        ),
    ];
    for (yaml, path) in cases {
        let e = rejected(&yaml);
        assert_eq!(e.field(), Some(path), "{e}");
        assert!(e.to_string().contains(" at line "), "{e}");
    }
}

#[test]
fn errors_outside_any_field_are_syntax_or_read_errors() {
    assert!(matches!(rejected("{}"), ConfigError::Syntax { .. }));
    assert!(matches!(rejected("- a\n- b\n"), ConfigError::Syntax { .. }));
    let missing = load(Path::new("/nonexistent/config.yaml")).expect_err("no such file");
    assert!(matches!(missing, ConfigError::Read { .. }), "{missing}");
    assert_eq!(missing.field(), None);
}

#[test]
fn keywords_fail_at_their_field_naming_the_allowed_values() {
    let cases = [
        (
            provider("routes:\n  - name: r\n    cors_preflight: 'no'\n"),
            "routes[0].cors_preflight",
            "expected `allow` or `deny`; got \"no\"",
        ),
        (
            provider("default: { providers: 3 }\n"),
            "default.providers",
            "expected `any` or a list of provider names",
        ),
        (
            provider("    algorithms: [ES256, RS1]"),
            "providers[0].algorithms[1]",
            "\"RS1\" is not supported; expected one of RS256",
        ),
    ];
    for (yaml, path, expected) in cases {
        let e = rejected(&yaml);
        assert_eq!(e.field(), Some(path), "{e}");
        assert!(e.to_string().contains(expected), "{e}");
    }
}
