//! Unit tests of RFC 9728 in the decision: which document answers which request (path
//! form, host, method, scheme), what `auto` builds, and the challenges of a route with a
//! resource (`resource_metadata`, and `scope` on its 401s).

use super::tests::{NOW, bearer, denied, snapshot};
use super::*;
use serde_json::json;

const ROUTES: &str = "challenge: { realm: api, resource_metadata: 'https://global.test/.well-known/oauth-protected-resource' }
upstream: { claim_headers: { sub: x-jwt-sub } }
routes:
  - match: { path_prefix: /mcp }
    scopes: ['files:read', 'files:write']
    resource: { id: 'https://mcp.example.com/mcp', authorization_servers: ['https://as.example'] }
  - match: { path_prefix: /auto, hosts: ['*.example.com', localhost] }
    audiences: ['https://a.example.com/auto']
    resource: { id: auto }
  - match: { path_prefix: /plain }
    scopes: [plain]
";

fn at<'a>(
    method: &'a str,
    path: &'a str,
    host: &'a str,
    scheme: Option<Scheme>,
    auth: &'a [String],
) -> Request<'a> {
    Request {
        authorization: auth.iter().map(|a| a.as_bytes()).collect(),
        method,
        path,
        host,
        scheme,
        ..Request::default()
    }
}

const HTTPS: Option<Scheme> = Some(Scheme::Https);

/// A document as the front ends' unit tests convert it: `remove_headers` in its pass.
pub(crate) fn sample_serve(remove_headers: &[&str]) -> Serve {
    Serve {
        route: None,
        resource: "https://mcp.example.com/mcp".into(),
        body: r#"{"resource":"https://mcp.example.com/mcp"}"#.into(),
        cache_control: "public, max-age=60".into(),
        pass: Allow {
            route: None,
            identity: None,
            set_headers: vec![],
            remove_headers: remove_headers.iter().map(|h| h.to_string()).collect(),
            metadata: vec![],
        },
        metadata: vec![("served".into(), "resource_metadata".into())],
    }
}

fn served(decision: Decision) -> Serve {
    match decision {
        Decision::Serve(serve) => *serve,
        other => panic!("expected a document, got {other:?}"),
    }
}

fn json(serve: &Serve) -> serde_json::Value {
    serde_json::from_str(&serve.body).unwrap()
}

#[test]
fn a_fixed_resource_is_served_at_both_forms_on_its_own_host_only() {
    let snap = snapshot(ROUTES);
    for method in ["GET", "HEAD"] {
        for path in [
            "/.well-known/oauth-protected-resource/mcp",
            "/.well-known/oauth-protected-resource/mcp?x=1",
            // The MCP clients' fallback: no resource is at the root, so the first on the host.
            "/.well-known/oauth-protected-resource",
        ] {
            let request = at(method, path, "MCP.example.com:443", None, &[]);
            let serve = served(decide(&snap, &request, NOW));
            assert_eq!(serve.resource, "https://mcp.example.com/mcp", "{path}");
            assert_eq!(
                json(&serve),
                json!({
                    "resource": "https://mcp.example.com/mcp",
                    "authorization_servers": ["https://as.example"],
                    "scopes_supported": ["files:read", "files:write"],
                    "bearer_methods_supported": ["header"],
                })
            );
            assert_eq!(
                serve.headers().collect::<Vec<_>>(),
                [
                    ("content-type", "application/json"),
                    ("cache-control", "public, max-age=3600"),
                    ("access-control-allow-origin", "*"),
                ]
            );
            // Front ends that cannot send a body let it through with no identity.
            assert_eq!(serve.pass.identity, None);
            assert_eq!(serve.pass.remove_headers, ["x-jwt-sub"]);
            assert_eq!(
                serve.metadata,
                [("served".into(), "resource_metadata".into())]
            );
        }
    }
    // Not its host or port, not its path, not a read: the usual decision (a token needed).
    for (method, path, host) in [
        (
            "GET",
            "/.well-known/oauth-protected-resource/mcp",
            "other.example.com",
        ),
        (
            "GET",
            "/.well-known/oauth-protected-resource/mcp",
            "mcp.example.com:8443",
        ),
        (
            "GET",
            "/.well-known/oauth-protected-resource/mcpx",
            "mcp.example.com",
        ),
        (
            "GET",
            "/.well-known/oauth-protected-resource/mcp/",
            "mcp.example.com",
        ),
        (
            "POST",
            "/.well-known/oauth-protected-resource/mcp",
            "mcp.example.com",
        ),
        (
            "get",
            "/.well-known/oauth-protected-resource/mcp",
            "mcp.example.com",
        ),
    ] {
        let deny = denied(decide(&snap, &at(method, path, host, HTTPS, &[]), NOW));
        assert_eq!(deny.reason, Reason::NoCredentials, "{method} {path} {host}");
    }
}

#[test]
fn auto_builds_the_resource_from_each_requests_scheme_and_host() {
    let snap = snapshot(ROUTES);
    let document = |host: &str, scheme: Option<Scheme>| {
        let path = "/.well-known/oauth-protected-resource/auto";
        decide(&snap, &at("GET", path, host, scheme, &[]), NOW)
    };
    for (host, scheme, resource) in [
        ("a.example.com", HTTPS, "https://a.example.com/auto"),
        ("B.Example.com:443", HTTPS, "https://b.example.com/auto"),
        (
            "b.example.com:8443",
            HTTPS,
            "https://b.example.com:8443/auto",
        ),
        (
            "localhost:8080",
            Some(Scheme::Http),
            "http://localhost:8080/auto",
        ),
    ] {
        let serve = served(document(host, scheme));
        assert_eq!(serve.resource, resource);
        assert_eq!(json(&serve)["resource"], resource);
        assert_eq!(
            json(&serve)["authorization_servers"],
            json!(["https://iss.test"]),
            "the route's providers' issuers"
        );
    }
    // No scheme, or http off loopback: refused rather than guessed (no challenge: 500).
    for scheme in [None, Some(Scheme::Http)] {
        let deny = denied(document("a.example.com", scheme));
        assert_eq!(
            (deny.reason, deny.status()),
            (Reason::ResourceUrlUnknown, 500)
        );
        assert_eq!(deny.www_authenticate, None);
    }
    // Outside the route's hosts, or a host that is not one: no document.
    for host in ["a.example.org", "a.example.com:x", "\"x\".example.com"] {
        assert!(matches!(document(host, HTTPS), Decision::Deny(_)), "{host}");
        let deny = denied(document(host, HTTPS));
        assert_ne!(deny.reason, Reason::ResourceUrlUnknown, "{host}");
    }
}

#[test]
fn an_auto_document_for_a_host_no_url_can_hold_is_a_400() {
    let snap = snapshot(
        "routes:\n  - match: { path: /mcp }\n    audiences: [x]\n    resource: { id: auto }\n",
    );
    let path = "/.well-known/oauth-protected-resource/mcp";
    for host in ["a..b", "a.test:65536", "user@a.test"] {
        let deny = denied(decide(&snap, &at("GET", path, host, HTTPS, &[]), NOW));
        assert_eq!(
            (deny.reason, deny.status()),
            (Reason::HostNotCanonical, 400),
            "{host}"
        );
    }
}

#[test]
fn a_root_resource_wins_the_bare_path_over_the_fallback() {
    let snap = snapshot(
        "routes:
  - match: { path_prefix: /mcp }
    resource: { id: 'https://a.test/mcp' }
default:
  resource: { id: 'https://a.test' }
",
    );
    let get = |path| served(decide(&snap, &at("GET", path, "a.test", None, &[]), NOW));
    assert_eq!(
        get("/.well-known/oauth-protected-resource").resource,
        "https://a.test"
    );
    assert_eq!(
        get("/.well-known/oauth-protected-resource/mcp").resource,
        "https://a.test/mcp"
    );
}

#[test]
fn a_routes_challenges_point_at_its_own_document_and_its_401s_carry_its_scopes() {
    let snap = snapshot(ROUTES);
    let challenge = |path: &str, host: &str, scheme, auth: &[String]| {
        let deny = denied(decide(&snap, &at("GET", path, host, scheme, auth), NOW));
        (deny.status(), deny.www_authenticate.unwrap_or_default())
    };
    let mcp_doc =
        r#"resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp""#;
    assert_eq!(
        challenge("/mcp", "anything.test", None, &[]),
        (
            401,
            format!(r#"Bearer realm="api", scope="files:read files:write", {mcp_doc}"#)
        )
    );
    let invalid = bearer(json!({"aud": "api://a"}));
    assert_eq!(
        challenge("/mcp", "mcp.example.com", None, &invalid),
        (
            401,
            format!(
                r#"Bearer realm="api", error="invalid_token", error_description="audience not allowed", scope="files:read files:write", {mcp_doc}"#
            )
        ),
        "a fixed id is the route's audience"
    );
    let unscoped = bearer(json!({"aud": "https://mcp.example.com/mcp"}));
    assert_eq!(
        challenge("/mcp", "mcp.example.com", None, &unscoped),
        (
            403,
            format!(
                r#"Bearer realm="api", error="insufficient_scope", error_description="insufficient scope", scope="files:read files:write", {mcp_doc}"#
            )
        )
    );
    let two = ["Bearer a".to_owned(), "Bearer b".to_owned()];
    assert_eq!(
        challenge("/mcp", "mcp.example.com", None, &two),
        (
            400,
            format!(
                r#"Bearer realm="api", error="invalid_request", error_description="more than one authorization credential", {mcp_doc}"#
            )
        ),
        "no scope on a 400"
    );
    // auto: the document of the host the client used; none when it cannot be built.
    assert_eq!(
        challenge("/auto/x", "B.example.com:443", HTTPS, &[]).1,
        r#"Bearer realm="api", resource_metadata="https://b.example.com/.well-known/oauth-protected-resource/auto""#
    );
    assert_eq!(
        challenge("/auto/x", "b.example.com", None, &[]).1,
        r#"Bearer realm="api""#,
        "no pointer rather than the global one"
    );
    // A route without a resource keeps the global document, and gains its scopes.
    assert_eq!(
        challenge("/plain", "x.test", HTTPS, &[]).1,
        r#"Bearer realm="api", scope="plain", resource_metadata="https://global.test/.well-known/oauth-protected-resource""#
    );
    let ok =
        bearer(json!({"aud": "https://mcp.example.com/mcp", "scope": "files:read files:write"}));
    assert!(matches!(
        decide(
            &snap,
            &at("POST", "/mcp", "mcp.example.com", HTTPS, &ok),
            NOW
        ),
        Decision::Allow(_)
    ));
}

#[test]
fn explain_says_which_document_answers() {
    let snap = snapshot(ROUTES);
    let question = crate::explain::Question {
        token: "x",
        method: "GET",
        path: "/.well-known/oauth-protected-resource/auto",
        host: "a.example.com",
        headers: vec![("x-forwarded-proto".into(), "https".into())],
        ..Default::default()
    };
    let report = crate::explain::explain(&snap, &question, NOW, &[]);
    assert!(report.allowed);
    assert_eq!(report.served.as_deref(), Some("https://a.example.com/auto"));
    let text = crate::explain::render_text(&report);
    assert!(
        text.starts_with("SERVED (200) the protected resource metadata of https://a.example.com/auto: no token needed\n"),
        "{text}"
    );
    assert!(
        text.contains("✓ route        the protected resource metadata of routes[1] for https://a.example.com/auto"),
        "{text}"
    );
    let unknown = crate::explain::Question {
        headers: vec![],
        ..question
    };
    let report = crate::explain::explain(&snap, &unknown, NOW, &[]);
    assert_eq!(report.reason, Some("resource_url_unknown"));
}
