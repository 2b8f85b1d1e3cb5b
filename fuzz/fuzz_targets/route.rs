//! Fuzz target: `route::select` on arbitrary method, path, host and route name (split on
//! 0xff) against a config with every kind of matcher; nothing may panic, and a query or a
//! host's trailing dot, empty port or port never changes the route chosen.
#![no_main]

use envoy_jwt_authz::route::sample::EVERY_MATCHER;
use envoy_jwt_authz::route::{self, Target};
use envoy_jwt_authz::snapshot::Snapshot;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

#[path = "common.rs"]
mod common;

fn snapshot() -> &'static Snapshot {
    static SNAPSHOT: OnceLock<Snapshot> = OnceLock::new();
    SNAPSHOT.get_or_init(|| common::snapshot_with(EVERY_MATCHER))
}

fn select(
    method: &str,
    path: &str,
    host: &str,
    route_name: Option<&str>,
) -> Result<Option<usize>, envoy_jwt_authz::reason::Reason> {
    route::select(
        snapshot(),
        &Target {
            method,
            path,
            host,
            route_name,
        },
    )
    .map(|s| s.index)
}

fuzz_target!(|data: &[u8]| {
    let mut parts = data.split(|b| *b == 0xff).map(std::str::from_utf8);
    let (Some(Ok(method)), Some(Ok(path)), Some(Ok(host))) =
        (parts.next(), parts.next(), parts.next())
    else {
        return;
    };
    let route_name = match parts.next() {
        Some(Ok(name)) => Some(name),
        _ => None,
    };
    let chosen = select(method, path, host, route_name);
    assert_eq!(
        chosen,
        select(method, &format!("{path}?q"), host, route_name),
        "a query changed the route"
    );
    // Hosts with a port or an [IPv6] literal already have their own suffix rules.
    if !host.ends_with('.') && !host.contains(':') && !host.starts_with('[') {
        for variant in [
            format!("{host}."),
            format!("{host}:"),
            format!("{host}:443"),
        ] {
            assert_eq!(
                chosen,
                select(method, path, &variant, route_name),
                "{variant:?}"
            );
        }
    }
});
