//! Unit tests of the issue-17 route fields and `scope_implies`: what compiles, and errors
//! naming the field.

use super::tests::{error, provider};
use super::*;
use std::path::Path;
use std::time::Duration;

#[test]
fn route_audiences_step_up_and_scope_implies_compile() {
    let yaml = provider(
        "scope_implies: { 'files:write': ['files:read'], admin: ['*'] }
routes:
  - match: { path_prefix: /x }
    audiences: [api://x]
    acr_values: [mfa]
    max_age: 5m
",
    );
    let snap = compile_str(&yaml, Path::new("c.yaml")).unwrap();
    let r = &snap.routes[0].requirement;
    assert_eq!(
        r.audiences.as_ref().unwrap().iter().collect::<Vec<_>>(),
        ["api://x"]
    );
    assert_eq!(r.step_up.acr_values, ["mfa"]);
    assert_eq!(r.step_up.max_age, Some(Duration::from_secs(300)));
    assert!(snap.default_requirement.step_up.is_empty());
    assert!(!snap.scope_implies.is_empty());
}

#[test]
fn bad_values_are_errors_naming_the_field() {
    let route = |line: &str| {
        provider(&format!(
            "routes:\n  - match: {{ path_prefix: /x }}\n    {line}\n"
        ))
    };
    let cases: Vec<(String, &str)> = vec![
        (
            route("audiences: []"),
            "routes[0].audiences: expected at least one non-empty audience",
        ),
        (route("audiences: ['']"), "routes[0].audiences"),
        (
            route("acr_values: []"),
            "routes[0].acr_values: expected at least one value",
        ),
        (
            route("acr_values: ['a b']"),
            "routes[0].acr_values[0]: an acr value is one non-empty word",
        ),
        (
            route("max_age: 0s"),
            "routes[0].max_age: expected whole seconds, at least 1s",
        ),
        (
            route("max_age: 1500ms"),
            "routes[0].max_age: expected whole seconds",
        ),
        (
            provider("scope_implies: { a: [b], b: [c], c: [a] }"),
            "scope_implies.a: a cycle: a -> b -> c -> a",
        ),
        (
            provider("scope_implies: { '*': [a] }"),
            "scope_implies.*: a key is one scope word (not `*`)",
        ),
        (
            provider("scope_implies: { a: [] }"),
            "scope_implies.a: expected at least one implied scope",
        ),
        (
            provider("scope_implies: { a: ['b c'] }"),
            "scope_implies.a[0]: a scope is one non-empty word",
        ),
    ];
    for (yaml, expected) in cases {
        let e = error(&yaml);
        assert!(e.contains(expected), "{expected:?} not in {e:?}");
    }
}
