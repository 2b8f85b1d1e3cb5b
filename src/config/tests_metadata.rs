//! Unit tests of `resource:` (RFC 9728 protected resource metadata): what compiles, the
//! defaults taken from the route, the audience a fixed id implies, and the errors, each
//! naming its field.

use super::tests::{error, provider};
use super::*;
use crate::snapshot::{ResourceId, Snapshot};
use std::path::Path;

fn compiled(routes: &str) -> Snapshot {
    compile_str(&provider(routes), Path::new("c.yaml")).unwrap()
}

#[test]
fn a_fixed_id_compiles_into_its_document_and_becomes_the_routes_audience() {
    let snap = compiled(
        "routes:
  - match: { path_prefix: /mcp }
    scopes: ['files:read']
    resource:
      id: https://mcp.example.com/mcp
      resource_name: Files MCP
      resource_documentation: https://docs.example.com/mcp
      extra: { mcp_flavour: [1, true], org: { id: 7 } }
",
    );
    let requirement = &snap.routes[0].requirement;
    let resource = requirement.resource.as_ref().unwrap();
    assert_eq!(
        resource.id,
        ResourceId::Fixed {
            url: "https://mcp.example.com/mcp".into(),
            metadata_url: "https://mcp.example.com/.well-known/oauth-protected-resource/mcp".into(),
            scheme: crate::decision::Scheme::Https,
            authority: "mcp.example.com".into(),
        }
    );
    assert_eq!(
        resource.metadata_path,
        "/.well-known/oauth-protected-resource/mcp"
    );
    // The issuers of the route's providers, its scopes, the one bearer method, then the
    // named members and `extra` in key order.
    assert_eq!(
        resource.document("https://mcp.example.com/mcp"),
        r#"{"resource":"https://mcp.example.com/mcp","authorization_servers":["https://i.test"],"scopes_supported":["files:read"],"bearer_methods_supported":["header"],"resource_name":"Files MCP","resource_documentation":"https://docs.example.com/mcp","mcp_flavour":[1,true],"org":{"id":7}}"#
    );
    assert_eq!(resource.cache_control(), "public, max-age=3600");
    assert_eq!(
        requirement
            .audiences
            .as_ref()
            .unwrap()
            .iter()
            .collect::<Vec<_>>(),
        ["https://mcp.example.com/mcp"],
        "RFC 8707: tokens minted for the resource"
    );
    assert_eq!(snap.documents, [Some(0)]);
}

#[test]
fn explicit_members_and_audiences_win_and_auto_takes_the_routes_path() {
    let snap = compiled(
        "routes:
  - match: { path: /v1/mcp/ }
    audiences: [https://a.example/v1/mcp, https://b.example/v1/mcp]
    resource:
      id: auto
      authorization_servers: ['https://as.example/tenant', 'http://127.0.0.1:8080']
      scopes_supported: [mcp]
      bearer_methods_supported: [header]
      cache_max_age: 5m
default:
  resource: { id: 'https://api.example.com' }
",
    );
    let auto = &snap.routes[0].requirement;
    let resource = auto.resource.as_ref().unwrap();
    assert_eq!(
        resource.id,
        ResourceId::Auto {
            path: "/v1/mcp".into()
        }
    );
    assert_eq!(auto.audiences.as_ref().unwrap().len(), 2);
    assert_eq!(
        resource.document("x"),
        r#"{"resource":"x","authorization_servers":["https://as.example/tenant","http://127.0.0.1:8080"],"scopes_supported":["mcp"],"bearer_methods_supported":["header"]}"#
    );
    assert_eq!(resource.cache_control(), "public, max-age=300");
    // A root id without its slash (MCP's preferred form) is served at the bare path.
    let root = snap.default_requirement.resource.as_ref().unwrap();
    assert_eq!(root.metadata_path, "/.well-known/oauth-protected-resource");
    assert_eq!(
        root.metadata_url(None, ""),
        Some("https://api.example.com/.well-known/oauth-protected-resource".into())
    );
    assert_eq!(snap.documents, [Some(0), None]);
}

#[test]
fn resource_errors_name_the_field() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "routes:\n  - match: { path_prefix: /mcp }\n    resource: { id: auto }\n",
            "routes[0].resource.id",
            "cannot be the audience",
        ),
        (
            "routes:\n  - match: { path_glob: '/t/*/mcp' }\n    audiences: [x]\n    resource: { id: auto }\n",
            "routes[0].resource.id",
            "`path` or `path_prefix`",
        ),
        (
            "routes:\n  - name: mcp\n    audiences: [x]\n    resource: { id: auto }\n",
            "routes[0].resource.id",
            "`path` or `path_prefix`",
        ),
        (
            "default: { audiences: [x], resource: { id: auto } }\n",
            "default.resource.id",
            "`path` or `path_prefix`",
        ),
        (
            "routes:\n  - match: { path_prefix: '/caf\u{e9}' }\n    audiences: [x]\n    resource: { id: auto }\n",
            "routes[0].resource.id",
            "percent-encoded",
        ),
        (
            "default: { resource: { id: 'http://mcp.example.com/mcp' } }\n",
            "default.resource.id",
            "expected an https URL",
        ),
        (
            "default: { resource: { id: 'https://MCP.example.com:443/mcp' } }\n",
            "default.resource.id",
            r#"write it as "https://mcp.example.com/mcp""#,
        ),
        (
            "default: { resource: { id: 'https://mcp.example.com/a b' } }\n",
            "default.resource.id",
            r#"write it as "https://mcp.example.com/a%20b""#,
        ),
        (
            "default: { resource: { id: 'https://mcp.example.com/mcp?x=1' } }\n",
            "default.resource.id",
            "no user, query or fragment",
        ),
        (
            "default: { resource: { id: 'https://mcp.example.com/a;b' } }\n",
            "default.resource.id",
            "must be canonical",
        ),
        (
            "default: { resource: { id: mcp } }\n",
            "default.resource.id",
            "is not a URL",
        ),
        (
            "default: { resource: { id: 'https://a.example/', authorization_servers: [] } }\n",
            "default.resource.authorization_servers",
            "at least one",
        ),
        (
            "default: { resource: { id: 'https://a.example/', authorization_servers: ['http://as.example'] } }\n",
            "default.resource.authorization_servers[0]",
            "expected an https URL",
        ),
        (
            "default: { resource: { id: 'https://a.example/', scopes_supported: ['a b'] } }\n",
            "default.resource.scopes_supported[0]",
            "one non-empty word",
        ),
        (
            "default: { resource: { id: 'https://a.example/', scopes_supported: [] } }\n",
            "default.resource.scopes_supported",
            "at least one scope",
        ),
        (
            "default: { resource: { id: 'https://a.example/', bearer_methods_supported: [header, query] } }\n",
            "default.resource.bearer_methods_supported",
            "expected [header]",
        ),
        (
            "default: { resource: { id: 'https://a.example/', resource_documentation: 'docs' } }\n",
            "default.resource.resource_documentation",
            "not an http(s) URL",
        ),
        (
            "default: { resource: { id: 'https://a.example/', extra: { scopes_supported: [x] } } }\n",
            "default.resource.extra.scopes_supported",
            "set it there",
        ),
        (
            "default: { resource: { id: 'https://a.example/', cache_max_age: 2d } }\n",
            "default.resource.cache_max_age",
            "",
        ),
        (
            "default: { resource: { id: 'https://a.example/', cache_max_age: 25h } }\n",
            "default.resource.cache_max_age",
            "at most 24h",
        ),
        (
            // A typo outside `extra` is still an unknown field.
            "default: { resource: { id: 'https://a.example/', scope_supported: [x] } }\n",
            "default.resource",
            "scope_supported",
        ),
        (
            "routes:\n  - match: { path: /a }\n    resource: { id: 'https://a.example/mcp' }\n  - match: { path: /b }\n    resource: { id: 'https://a.example/mcp', cache_max_age: 1m }\n",
            "routes[1].resource",
            "the same document URL as routes[0].resource",
        ),
    ];
    for (routes, field, message) in cases {
        let text = error(&provider(routes));
        assert!(
            text.contains(&format!("{field}: ")) || text.contains(&format!("{field}.")),
            "{routes}: expected field {field}, got {text}"
        );
        assert!(
            text.contains(message),
            "{routes}: expected {message:?} in {text}"
        );
    }
}

#[test]
fn two_routes_may_share_one_document() {
    let snap = compiled(
        "routes:
  - match: { path: /mcp, methods: [POST] }
    scopes: [mcp]
    resource: &mcp { id: 'https://a.example/mcp', scopes_supported: [mcp] }
  - match: { path: /mcp }
    resource: *mcp
",
    );
    assert_eq!(snap.documents, [Some(0), Some(1)]);
}
