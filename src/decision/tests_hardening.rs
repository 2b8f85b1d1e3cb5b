//! Unit tests of `decide` for the hardening round: a panic fails closed, an anonymous allow
//! drops an unvalidated `Authorization`, and paths or hosts the upstream treats as equal
//! reach the same route.

use super::tests::{NOW, allowed, bearer, denied, request, routed, snapshot};
use super::*;
use serde_json::json;

#[test]
fn a_panic_inside_the_decision_is_a_500_internal_deny() {
    let snap = snapshot("");
    let deny = denied(decide(&snap, &request("PANIC", "/", &[]), NOW));
    assert_eq!(deny.reason, Reason::Internal);
    assert_eq!(deny.status(), 500);
    assert_eq!(
        deny.www_authenticate, None,
        "a 5xx asks nothing of the client"
    );
    assert_eq!(
        deny.body,
        r#"{"error":"server_error","error_description":"internal error"}"#
    );
}

#[test]
fn an_anonymous_allow_removes_an_authorization_it_did_not_validate() {
    let snap = routed(
        "routes:\n  - match: { path_prefix: /public }\n    allow_anonymous: true\n    cors_preflight: allow\n",
    );
    for scheme in ["JWT abc.def.ghi", "Bearerx abc", "Basic dTpw"] {
        let auth = [scheme.to_owned()];
        let allow = allowed(decide(&snap, &request("GET", "/public/x", &auth), NOW));
        assert_eq!(allow.identity, None, "{scheme}");
        assert_eq!(allow.remove_headers, ["x-sub", "authorization"], "{scheme}");
    }
    let allow = allowed(decide(&snap, &request("GET", "/public/x", &[]), NOW));
    assert_eq!(allow.remove_headers, ["x-sub"], "nothing to remove");
    let auth = bearer(json!({"sub": "alice"}));
    let mut preflight = request("OPTIONS", "/public/x", &auth);
    preflight.cors_preflight = true;
    let allow = allowed(decide(&snap, &preflight, NOW));
    assert_eq!(allow.identity, None);
    assert_eq!(allow.remove_headers, ["x-sub", "authorization"]);
    // A validated Bearer token on an anonymous route stays (the upstream may want it).
    let allow = allowed(decide(&snap, &request("GET", "/public/x", &auth), NOW));
    assert_eq!(allow.remove_headers, Vec::<String>::new());
}

const GUARDED: &str = "routes:
  - match: { path: /admin/delete-user }
    scopes: [admin]
  - match: { path_prefix: /admin }
    scopes: [admin]
  - match: { path_prefix: /public }
    allow_anonymous: true
  - match: { hosts: [admin2.example.com] }
    scopes: [admin]
default: { allow_anonymous: true }
";

#[test]
fn equivalent_paths_and_hosts_do_not_fall_through_to_a_weaker_route() {
    let snap = routed(GUARDED);
    let auth = bearer(json!({"scope": "read"}));
    for path in ["/admin/delete-user/", "/admin/delete-user", "/admin/x"] {
        let deny = denied(decide(&snap, &request("GET", path, &auth), NOW));
        assert_eq!(deny.reason, Reason::InsufficientScope, "{path}");
    }
    for path in [
        "/admin/delete-user;",
        "/admin;x",
        "/public/..;/admin",
        "/public/%2e%2e;/admin",
        "/public/..%3b/admin",
    ] {
        let deny = denied(decide(&snap, &request("GET", path, &[]), NOW));
        assert_eq!(deny.reason, Reason::PathNotCanonical, "{path}");
        assert_eq!(deny.status(), 400);
    }
    for host in [
        "admin2.example.com.",
        "ADMIN2.example.com:",
        "admin2.example.com.:8443",
    ] {
        let mut req = request("GET", "/x", &auth);
        req.host = host;
        let deny = denied(decide(&snap, &req, NOW));
        assert_eq!(deny.reason, Reason::InsufficientScope, "{host}");
    }
    // Case: `/ADMIN` is another path unless the route folds case.
    let allow = allowed(decide(&snap, &request("GET", "/ADMIN", &auth), NOW));
    assert!(allow.identity.is_some());
    let folded = routed(&GUARDED.replace(
        "{ path_prefix: /admin }",
        "{ path_prefix: /admin, case_insensitive: true }",
    ));
    let deny = denied(decide(&folded, &request("GET", "/ADMIN", &auth), NOW));
    assert_eq!(deny.reason, Reason::InsufficientScope);
}

#[test]
fn a_named_anonymous_route_still_refuses_non_canonical_paths() {
    let snap = routed("routes:\n  - name: public\n    allow_anonymous: true\n");
    let mut req = request("GET", "/public/../admin", &[]);
    req.route_name = Some("public");
    let deny = denied(decide(&snap, &req, NOW));
    assert_eq!(deny.reason, Reason::PathNotCanonical);
    req.path = "/public/x";
    assert!(allowed(decide(&snap, &req, NOW)).identity.is_none());
    // An anonymous default beside a protected named route: the catch-all's path too.
    let snap =
        routed("routes:\n  - name: admin\n    scopes: [a]\ndefault: { allow_anonymous: true }\n");
    let deny = denied(decide(
        &snap,
        &request("GET", "/public/..;/admin", &[]),
        NOW,
    ));
    assert_eq!(deny.reason, Reason::PathNotCanonical);
    // With only protected named routes the path is Envoy's business, as before.
    let snap = routed("routes:\n  - name: admin\n    scopes: [a]\n");
    let mut req = request("GET", "/a/../b", &[]);
    req.route_name = Some("admin");
    assert_eq!(
        denied(decide(&snap, &req, NOW)).reason,
        Reason::NoCredentials
    );
}

#[test]
fn an_over_long_path_is_refused_before_any_matching() {
    let snap = routed(GUARDED);
    let path = format!("/public/{}", "a".repeat(crate::route::MAX_MATCH_PATH));
    let deny = denied(decide(&snap, &request("GET", &path, &[]), NOW));
    assert_eq!(deny.reason, Reason::PathNotCanonical);
}
