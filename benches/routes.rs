//! Route matching cost: the worst glob we accept against a 60 KiB path (the matcher alone,
//! since `select` refuses paths over 8 KiB first), beside `select` with a plain prefix route
//! and with that glob at the 8 KiB cap. Linear time is the point: the old recursive matcher
//! took seconds on the same input.

use criterion::{Criterion, criterion_group, criterion_main};
use envoy_jwt_authz::config::compile_str;
use envoy_jwt_authz::route::{self, Glob, MAX_GLOB_MIDDLE, MAX_MATCH_PATH, Target};
use std::hint::black_box;
use std::path::Path;

/// `/**/x/**/x/…/**/z/**/y`: as many `**` as fit in the NFA. Against `/x/x/…/x/y` the
/// literal prefix and suffix match, every state stays live to the end, and the `z` that
/// would accept never comes.
fn worst_glob() -> String {
    let mut middle = String::from("**");
    // `**` is one NFA position, `/x/**` four; `/z/**` closes the middle.
    while 1 + 4 * (middle.len() / 5 + 1) + 4 <= MAX_GLOB_MIDDLE {
        middle.push_str("/x/**");
    }
    format!("/{middle}/z/**/y")
}

fn config(routes: &str) -> envoy_jwt_authz::snapshot::Snapshot {
    let jwks = concat!(env!("CARGO_MANIFEST_DIR"), "/envoy/example/jwks.json");
    let yaml = format!(
        "providers:\n  - name: p\n    issuer: https://i.test\n    audiences: [a]\n    jwks: {{ file: {jwks} }}\nroutes:\n{routes}"
    );
    compile_str(&yaml, Path::new("bench.yaml")).expect("config")
}

fn benches(c: &mut Criterion) {
    let pattern = worst_glob();
    let glob = Glob::new(&pattern, false).expect("the worst glob compiles");
    let long = format!("{}/y", "/x".repeat(30 * 1024));
    assert!(!glob.matches(long.as_bytes()));
    c.bench_function("route/glob_worst_60KiB", |b| {
        b.iter(|| glob.matches(black_box(long.as_bytes())))
    });

    let target = |path: &'static str| Target {
        method: "GET",
        path,
        host: "api.example.com",
        route_name: None,
    };
    let prefix = config("  - match: { path_prefix: /api/orders }\n    scopes: [a]\n");
    let typical = target("/api/orders/12345/items?limit=10");
    assert!(route::select(&prefix, &typical).unwrap().index.is_some());
    c.bench_function("route/select_prefix_typical", |b| {
        b.iter(|| route::select(&prefix, black_box(&typical)).map(|s| s.index))
    });

    let globbed = config(&format!(
        "  - match: {{ path_glob: '{pattern}' }}\n    scopes: [a]\n"
    ));
    let capped: &'static str =
        Box::leak(format!("{}/y", "/x".repeat(MAX_MATCH_PATH / 2 - 1)).into_boxed_str());
    let at_cap = target(capped);
    assert!(route::select(&globbed, &at_cap).unwrap().index.is_none());
    c.bench_function("route/select_glob_worst_8KiB", |b| {
        b.iter(|| route::select(&globbed, black_box(&at_cap)).map(|s| s.index))
    });

    let refused = target(Box::leak(long.clone().into_boxed_str()));
    assert!(route::select(&globbed, &refused).is_err());
    c.bench_function("route/select_60KiB_refused", |b| {
        b.iter(|| route::select(&globbed, black_box(&refused)).map(|s| s.index))
    });
}

criterion_group!(route_benches, benches);
criterion_main!(route_benches);
