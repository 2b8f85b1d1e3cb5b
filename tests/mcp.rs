//! Issue 17 item 1 through a real Envoy 1.40: RFC 9728 protected resource metadata answered
//! by the Check itself (a `denied_response` with status 200, which Envoy sends to the
//! client as it is: status, headers, body), both URL forms, `resource: auto` for two hosts,
//! every 401 pointing at a document that answers, and an MCP client's whole discovery:
//! 401 → `resource_metadata` → the document → its authorization server's RFC 8414
//! metadata (a loopback IdP) → a token minted for the resource → 200.
//!
//! Envoy here sets `:scheme` to `https` (`scheme_header_transformation`), as a deployment
//! behind a TLS-terminating load balancer does; the plain bootstrap's `http` is checked
//! too: refused off loopback, served on it.

use crate::support::envoy::{Envoy, render_bootstrap};
use crate::support::http::{self, Response};
use crate::support::idp::{Discovery, Idp};
use crate::support::server::Server;
use crate::support::{ec_key, jwks, mint};
use envoy_jwt_authz::token::verify::UnixTime;
use serde_json::{Value, json};
use std::net::SocketAddr;

const MCP_HOSTS: [&str; 2] = ["mcp.example.com", "MCP.Example.NET:443"];
const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// Our server trusting the IdP (keys by its RFC 8414 metadata), an `auto` MCP endpoint for
/// two hosts and a fixed-id API, behind an Envoy that says `https`.
struct Setup {
    idp: Idp,
    server: Server,
    envoy: Envoy,
}

fn start() -> Setup {
    let idp = Idp::http(&jwks());
    idp.set_discovery(Discovery::Rfc8414, None);
    let server = Server::start(&format!(
        "providers:
  - name: as
    issuer: {issuer}
    audiences: [api://unused]
    jwks: {{ discovery: true, allow_insecure_http: true }}
challenge: {{ realm: mcp }}
routes:
  - match: {{ path_prefix: /mcp }}
    scopes: ['mcp:tools']
    audiences: [https://mcp.example.com/mcp, https://mcp.example.net/mcp]
    resource: {{ id: auto, resource_name: Demo MCP }}
  - match: {{ path_prefix: /fixed }}
    resource: {{ id: 'https://fixed.example.com/fixed', cache_max_age: 5m }}
",
        issuer = idp.base()
    ));
    let yaml = render_bootstrap(server.grpc.port(), false);
    let from = "          stat_prefix: ingress\n";
    assert_eq!(yaml.matches(from).count(), 1, "envoy/envoy.yaml changed");
    let yaml = yaml.replace(
        from,
        &format!(
            "{from}          scheme_header_transformation: {{ scheme_to_overwrite: https }}\n"
        ),
    );
    let envoy = Envoy::start_bootstrap(&yaml);
    Setup { idp, server, envoy }
}

fn send(at: SocketAddr, method: &str, path: &str, host: &str, token: Option<&str>) -> Response {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("Host", host)];
    headers.extend(auth.iter().map(|a| ("Authorization", a.as_str())));
    http::request(at, method, path, &headers).expect("HTTP request")
}

/// The JSON document of a 200 answer with the metadata headers.
fn document(answer: &Response, max_age: u32) -> Value {
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.header("content-type"), Some("application/json"));
    let cache = format!("public, max-age={max_age}");
    assert_eq!(answer.header("cache-control"), Some(cache.as_str()));
    assert_eq!(answer.header("access-control-allow-origin"), Some("*"));
    assert_eq!(answer.header("www-authenticate"), None);
    serde_json::from_str(&answer.body).expect("a JSON document")
}

/// `name="value"` of a challenge (our values never hold quotes).
fn attribute<'a>(challenge: &'a str, name: &str) -> Option<&'a str> {
    let start = challenge.find(&format!("{name}=\""))? + name.len() + 2;
    challenge[start..].split('"').next()
}

#[test]
fn both_document_forms_answer_through_envoy_with_the_url_each_host_used() {
    let s = start();
    let at = s.envoy.listener;
    for host in MCP_HOSTS {
        let resource = format!(
            "https://{}/mcp",
            host.to_ascii_lowercase().trim_end_matches(":443")
        );
        for path in [format!("{WELL_KNOWN}/mcp"), WELL_KNOWN.to_owned()] {
            let doc = document(&send(at, "GET", &path, host, None), 3600);
            assert_eq!(
                doc,
                json!({
                    "resource": resource,
                    "authorization_servers": [s.idp.base()],
                    "scopes_supported": ["mcp:tools"],
                    "bearer_methods_supported": ["header"],
                    "resource_name": "Demo MCP",
                }),
                "{host} {path}"
            );
            let head = send(at, "HEAD", &path, host, None);
            assert_eq!((head.status, head.body.as_str()), (200, ""), "{head:?}");
            assert_eq!(head.header("content-type"), Some("application/json"));
        }
    }
    // A fixed id: its own value, on its own host only.
    let fixed = send(
        at,
        "GET",
        &format!("{WELL_KNOWN}/fixed"),
        "fixed.example.com",
        None,
    );
    assert_eq!(
        document(&fixed, 300)["resource"],
        "https://fixed.example.com/fixed"
    );
    let elsewhere = send(
        at,
        "GET",
        &format!("{WELL_KNOWN}/fixed"),
        "mcp.example.com",
        None,
    );
    assert_eq!(elsewhere.status, 401, "{elsewhere:?}");
    // Anything but a read of a document is decided as usual: a token is needed.
    for (method, path) in [
        ("POST", format!("{WELL_KNOWN}/mcp")),
        ("GET", "/other".into()),
    ] {
        let answer = send(at, method, &path, "mcp.example.com", None);
        assert_eq!(answer.status, 401, "{method} {path}: {answer:?}");
        assert_eq!(
            answer.header("www-authenticate"),
            Some(r#"Bearer realm="mcp""#)
        );
    }
    // Envoy counts the 9 documents with the 3 denials (how else could a Check send a
    // body); we count them apart.
    let stats = http::request(s.envoy.admin, "GET", "/stats?filter=ext_authz", &[]).unwrap();
    let denied = "http.ingress.ext_authz.denied: 12";
    assert!(stats.body.lines().any(|l| l == denied), "{}", stats.body);
    let metrics = s.server.metrics();
    let served = r#"authz_decisions_total{decision="serve",reason="resource_metadata",provider="",route=""} 9"#;
    assert!(
        metrics.lines().any(|l| l == served),
        "no {served:?} in\n{metrics}"
    );
}

#[test]
fn every_401_points_at_a_document_that_answers() {
    let s = start();
    let at = s.envoy.listener;
    for (path, host, scope) in [
        ("/mcp", MCP_HOSTS[0], Some("mcp:tools")),
        ("/mcp/sse", MCP_HOSTS[1], Some("mcp:tools")),
        ("/fixed/x", "anywhere.example.org", None),
    ] {
        let denied = send(at, "GET", path, host, Some("not-a-jwt"));
        assert_eq!(denied.status, 401, "{denied:?}");
        let challenge = denied.header("www-authenticate").unwrap();
        assert_eq!(attribute(challenge, "scope"), scope, "{challenge}");
        let url = attribute(challenge, "resource_metadata").expect(challenge);
        let rest = url.strip_prefix("https://").expect("an https URL");
        let (authority, doc_path) = rest.split_at(rest.find('/').unwrap());
        let doc = document(&send(at, "GET", doc_path, authority, None), {
            if path.starts_with("/fixed") {
                300
            } else {
                3600
            }
        });
        // RFC 9728 §3.3: the document names the URL the client used.
        let resource = doc["resource"].as_str().unwrap();
        assert_eq!(
            url,
            resource.replacen(
                &format!("{authority}/"),
                &format!("{authority}{WELL_KNOWN}/"),
                1
            ),
            "{challenge}"
        );
    }
}

#[test]
fn an_mcp_client_discovers_the_authorization_server_and_gets_in() {
    let s = start();
    let at = s.envoy.listener;
    let host = "mcp.example.com";
    // 1. The client calls the MCP endpoint with no token.
    let first = send(at, "POST", "/mcp", host, None);
    assert_eq!(first.status, 401, "{first:?}");
    let challenge = first.header("www-authenticate").unwrap().to_owned();
    let metadata_url = attribute(&challenge, "resource_metadata").expect(&challenge);
    let scope = attribute(&challenge, "scope").expect("MCP: the 401 names the scope");
    // 2. It reads the protected resource metadata where the challenge says.
    let doc_path = metadata_url
        .strip_prefix(&format!("https://{host}"))
        .expect("the same origin");
    let doc = document(&send(at, "GET", doc_path, host, None), 3600);
    let resource = doc["resource"].as_str().unwrap();
    assert_eq!(resource, format!("https://{host}/mcp"), "the URL it used");
    // 3. The authorization server's RFC 8414 metadata (no path: the well-known at the root).
    let server = doc["authorization_servers"][0].as_str().unwrap();
    assert_eq!(server, s.idp.base());
    let metadata = http::request(
        s.idp.addr,
        "GET",
        "/.well-known/oauth-authorization-server",
        &[],
    )
    .unwrap();
    assert_eq!(metadata.status, 200);
    let metadata: Value = serde_json::from_str(&metadata.body).unwrap();
    assert_eq!(metadata["issuer"], server, "RFC 8414 §3.3");
    assert!(metadata["token_endpoint"].is_string());
    assert_eq!(
        metadata["code_challenge_methods_supported"],
        json!(["S256"])
    );
    // 4. The token it gets for the resource (RFC 8707 `resource=` → `aud`) gets it in.
    let now = UnixTime::now().0;
    let token_for = |audience: &str| {
        let claims = json!({"iss": server, "aud": audience, "sub": "agent", "scope": scope, "iat": now, "exp": now + 300});
        mint(&ec_key(), &claims)
    };
    let ok = send(at, "POST", "/mcp", host, Some(&token_for(resource)));
    assert_eq!(ok.status, 200, "{ok:?}\n{}", s.server.log());
    // A token minted for another resource is refused, and says why.
    let other = send(
        at,
        "POST",
        "/mcp",
        host,
        Some(&token_for("https://other.example.com/mcp")),
    );
    assert_eq!(other.status, 401);
    assert_eq!(
        attribute(
            other.header("www-authenticate").unwrap(),
            "error_description"
        ),
        Some("audience not allowed")
    );
}

#[test]
fn plain_http_is_refused_off_loopback_and_served_on_it() {
    let idp = Idp::http(&jwks());
    let server = Server::start(&format!(
        "providers:
  - name: as
    issuer: {}
    audiences: [api://unused]
    jwks: {{ inline: '{}' }}
routes:
  - match: {{ path: /mcp }}
    audiences: [http://localhost/mcp]
    resource: {{ id: auto }}
",
        idp.base(),
        jwks()
    ));
    let envoy = Envoy::start(server.grpc.port(), false);
    let path = format!("{WELL_KNOWN}/mcp");
    let refused = send(envoy.listener, "GET", &path, "mcp.example.com", None);
    assert_eq!(refused.status, 500, "{refused:?}");
    assert_eq!(
        refused.body,
        r#"{"error":"server_error","error_description":"resource URL unknown"}"#
    );
    let local = send(envoy.listener, "GET", &path, "localhost:8080", None);
    assert_eq!(
        document(&local, 3600)["resource"],
        "http://localhost:8080/mcp"
    );
    // The token-less 401 of an http request off loopback points nowhere rather than wrong.
    let denied = send(envoy.listener, "GET", "/mcp", "mcp.example.com", None);
    assert_eq!(denied.header("www-authenticate"), Some("Bearer"));
}

#[test]
fn check_config_prints_each_routes_resource() {
    crate::support::server::assert_check_config_prints(
        &crate::support::config_yaml(
            "routes:
  - name: mcp
    match: { path_prefix: /mcp }
    audiences: [https://mcp.example.com/mcp]
    resource: { id: auto }
default:
  resource: { id: 'https://api.example.com' }
",
        ),
        &[
            "route mcp: providers any audiences [https://mcp.example.com/mcp] resource auto (<scheme>://<host>/mcp)",
            "route default: providers any audiences [https://api.example.com] resource https://api.example.com",
        ],
    );
}

/// The README's worked example is this server's real answer: its config compiles, and the
/// decision gives exactly the 401 and the document it shows.
#[test]
fn the_readmes_mcp_example_is_what_the_server_answers() {
    use envoy_jwt_authz::decision::{Decision, Request, Scheme, decide};
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = &readme[readme.find("## MCP servers").expect("the section")..];
    let block = |fence: &str| {
        let start = section.find(fence).expect(fence) + fence.len();
        &section[start..start + section[start..].find("```").unwrap()]
    };
    let snapshot =
        envoy_jwt_authz::config::compile_str(block("```yaml\n"), std::path::Path::new("README.md"))
            .expect("the README's config compiles");
    let shown = block("```text\n");
    let challenge = shown
        .lines()
        .find_map(|l| l.strip_prefix("401  www-authenticate: "))
        .expect("the 401 line");
    let body = shown
        .lines()
        .find(|l| l.starts_with("{\"resource\""))
        .expect("the document");
    let ask = |method, path| Request {
        method,
        path,
        host: "mcp.example.com",
        scheme: Some(Scheme::Https),
        ..Request::default()
    };
    let now = UnixTime::now();
    match decide(&snapshot, &ask("POST", "/mcp"), now) {
        Decision::Deny(deny) => assert_eq!(deny.www_authenticate.as_deref(), Some(challenge)),
        other => panic!("{other:?}"),
    }
    match decide(&snapshot, &ask("GET", &format!("{WELL_KNOWN}/mcp")), now) {
        Decision::Serve(serve) => assert_eq!(serve.body, body),
        other => panic!("{other:?}"),
    }
}
