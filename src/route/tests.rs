//! Unit tests of canonical paths, path and host matching.

use super::*;

#[test]
fn the_query_is_dropped_and_unreserved_escapes_are_decoded() {
    assert_eq!(
        canonical_path("/api/items?limit=10&q=a%20b").as_deref(),
        Some("/api/items")
    );
    assert_eq!(canonical_path("/%61dmin").as_deref(), Some("/admin"));
    assert_eq!(canonical_path("/a%2fb"), None);
    assert_eq!(canonical_path("/a%5Cb"), None);
    assert_eq!(canonical_path("/").as_deref(), Some("/"));
    assert_eq!(canonical_path("/public/").as_deref(), Some("/public/"));
    assert_eq!(canonical_path("/caf\u{e9}").as_deref(), Some("/caf\u{e9}"));
    assert_eq!(
        canonical_path("/a?x=;").as_deref(),
        Some("/a"),
        "a query may hold ;"
    );
}

#[test]
fn dot_segments_path_parameters_and_other_ambiguities_are_refused() {
    for bad in [
        "/public/../admin",
        "/public/./x",
        "/public/%2e%2e/admin",
        "/public/%2E./admin",
        "/a//b",
        "/a\\b",
        "admin",
        "/a%zz",
        "/a%2",
        "/public/..;/admin",
        "/public/%2e%2e;/admin",
        "/public/..%3b/admin",
        "/public/..%3B/admin",
        "/admin;x",
        "/admin/delete-user;",
        "/a;jsessionid=1/b",
    ] {
        assert_eq!(canonical_path(bad), None, "{bad}");
    }
    assert_eq!(canonical_path("/a..b/c.d").as_deref(), Some("/a..b/c.d"));
}

#[test]
fn paths_longer_than_the_cap_are_refused() {
    let fits = format!("/{}", "a".repeat(MAX_MATCH_PATH - 1));
    assert!(canonical_path(&fits).is_some());
    assert_eq!(canonical_path(&format!("{fits}a")), None);
    assert!(
        canonical_path(&format!("{fits}?{}", "q".repeat(MAX_MATCH_PATH))).is_some(),
        "the query does not count"
    );
}

#[test]
fn prefixes_are_segment_aware() {
    let p = PathMatch::Prefix("/admin".into());
    assert!(path_matches(&p, "/admin", false));
    assert!(path_matches(&p, "/admin/users", false));
    assert!(!path_matches(&p, "/administrator", false));
    assert!(!path_matches(&p, "/ADMIN", false));
    assert!(path_matches(&p, "/ADMIN/x", true));
    assert!(path_matches(
        &PathMatch::Prefix("/admin/".into()),
        "/admin/x",
        false
    ));
    assert!(path_matches(
        &PathMatch::Prefix("/admin/".into()),
        "/admin",
        false
    ));
    assert!(path_matches(
        &PathMatch::Prefix("/".into()),
        "/anything",
        false
    ));
    assert!(
        !path_matches(&p, "/adm\u{e9}", true),
        "no panic at a char boundary"
    );
}

#[test]
fn exact_paths_match_with_and_without_one_trailing_slash() {
    let e = PathMatch::Exact("/admin/delete-user".into());
    assert!(path_matches(&e, "/admin/delete-user", false));
    assert!(path_matches(&e, "/admin/delete-user/", false));
    assert!(!path_matches(&e, "/admin/delete-user/x", false));
    let glob = PathMatch::Glob(Glob::new("/users/*/delete", false).unwrap());
    assert!(path_matches(&glob, "/users/1/delete/", false), "globs too");
    assert!(!path_matches(&glob, "/users/1/delete/x", false));
    assert!(!path_matches(&e, "/admin/Delete-User", false));
    assert!(path_matches(&e, "/admin/Delete-User/", true));
    let slash = PathMatch::Exact("/x/".into());
    assert!(path_matches(&slash, "/x", false));
    let root = PathMatch::Exact("/".into());
    assert!(path_matches(&root, "/", false));
    assert!(!path_matches(&root, "/a", false));
}

#[test]
fn hosts_match_case_insensitively_without_port_or_trailing_dot() {
    let host = |h: &str| normalize_host(h.as_bytes()).expect(h).to_vec();
    assert!(host_matches(
        "api.example.com",
        &host("API.example.com:8443")
    ));
    assert!(host_matches("api.example.com", &host("api.example.com.")));
    assert!(host_matches("api.example.com", &host("api.example.com:")));
    assert!(host_matches(
        "api.example.com",
        &host("api.example.com.:443")
    ));
    assert!(host_matches("*.example.com", &host("a.example.com")));
    assert!(!host_matches("*.example.com", &host("example.com")));
    assert!(!host_matches("*.example.com", &host("aexample.com")));
    assert_eq!(host("[::1]:10000"), b"[::1]");
    assert_eq!(host("localhost"), b"localhost");
    assert_eq!(host("under_score.test"), b"under_score.test");
}

#[test]
fn authorities_that_are_not_plain_hosts_are_refused() {
    // Some upstream would parse each of these as a host we never compared.
    for bad in [
        "admin.example.com:x",
        "admin.example.com:443:",
        "admin.example.com..",
        "x@admin.example.com",
        "a..b",
        ".",
        "",
        "[::1",
        "[]",
        "[::1]x",
        "[::1]:x",
        "\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}",
        "\u{e9}.example.com",
        "a b",
    ] {
        assert_eq!(normalize_host(bad.as_bytes()), None, "{bad:?}");
    }
}

#[test]
fn every_escape_but_the_structural_ones_is_decoded() {
    assert_eq!(
        canonical_path("/v1/item%3Adelete").as_deref(),
        Some("/v1/item:delete")
    );
    assert_eq!(canonical_path("/caf%C3%A9").as_deref(), Some("/caf\u{e9}"));
    assert_eq!(canonical_path("/a%20b").as_deref(), Some("/a b"));
    assert_eq!(canonical_path("/100%25").as_deref(), Some("/100%25"));
    assert_eq!(canonical_path("/a%3fb%23c").as_deref(), Some("/a%3Fb%23c"));
    assert_eq!(canonical_path("/a%00b").as_deref(), Some("/a%00b"));
    for bad in [
        "/a%+1",
        "/a%-1",
        "/caf%C3",
        "/a%FFb",
        "/public#/../admin",
        "/a%3b",
    ] {
        assert_eq!(canonical_path(bad), None, "{bad}");
    }
}
