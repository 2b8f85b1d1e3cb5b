//! Property tests of route selection over arbitrary requests: every matcher kind (exact,
//! prefix, case-folded, globs, hosts, methods, a named anonymous route) runs on arbitrary
//! paths, hosts and methods without panicking, and requests that are equal for the upstream
//! (with a query added, or a trailing dot on the host) select the same route.

use crate::support;
use envoy_jwt_authz::config::compile_str;
use envoy_jwt_authz::reason::Reason;
use envoy_jwt_authz::route::sample::EVERY_MATCHER;
use envoy_jwt_authz::route::{self, Target};
use envoy_jwt_authz::snapshot::Snapshot;
use proptest::prelude::*;
use std::path::Path;
use std::sync::OnceLock;

fn snapshot() -> &'static Snapshot {
    static SNAPSHOT: OnceLock<Snapshot> = OnceLock::new();
    SNAPSHOT.get_or_init(|| {
        compile_str(&support::config_yaml(EVERY_MATCHER), Path::new("c.yaml")).expect("config")
    })
}

fn select(
    method: &str,
    path: &str,
    host: &str,
    route_name: Option<&str>,
) -> Result<Option<usize>, Reason> {
    let target = Target {
        method,
        path,
        host,
        route_name,
    };
    route::select(snapshot(), &target).map(|s| s.index)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn any_request_selects_without_panicking(
        method in "\\PC{0,8}",
        path in "\\PC{0,80}",
        host in "\\PC{0,40}",
        named in any::<bool>(),
    ) {
        let _ = select(&method, &path, &host, named.then_some("named"));
    }

    #[test]
    fn equal_requests_select_the_same_route(
        method in "(GET|POST|get|DELETE)",
        path in "/[a-zA-Z/.;%0-9_*~-]{0,40}",
        host in "[a-zA-Z.0-9-]{0,20}(\\.example\\.com|exact\\.test)?",
    ) {
        let plain = select(&method, &path, &host, None);
        prop_assert_eq!(&plain, &select(&method, &format!("{path}?q=1;x"), &host, None), "query");
        if !host.ends_with('.') {
            let dotted = format!("{host}.");
            prop_assert_eq!(&plain, &select(&method, &path, &dotted, None), "trailing dot");
            prop_assert_eq!(&plain, &select(&method, &path, &format!("{host}:8443"), None), "port");
            prop_assert_eq!(&plain, &select(&method, &path, &format!("{host}:"), None), "empty port");
        }
    }
}

#[test]
fn the_properties_see_every_kind_of_answer() {
    // Neither property is vacuous: the inputs reach routes, the default and refusals.
    assert_eq!(select("GET", "/exact/one/", "h", None), Ok(Some(1)));
    assert_eq!(select("GET", "/CI/x", "h", None), Ok(Some(3)));
    assert_eq!(select("GET", "/g/1/x/2/3/yaz", "h", None), Ok(Some(4)));
    assert_eq!(select("GET", "/q/A/r/B/s", "h", None), Ok(Some(5)));
    assert_eq!(select("GET", "/q", "a.example.com.", None), Ok(Some(6)));
    assert_eq!(select("GET", "/q", "h", None), Ok(None));
    assert_eq!(
        select("GET", "/a;b", "h", Some("named")),
        Err(Reason::PathNotCanonical)
    );
    assert_eq!(select("GET", "/ok", "h", Some("named")), Ok(Some(0)));
}
