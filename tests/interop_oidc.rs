//! Interop with an authorization server nobody here wrote: panva's `oidc-provider`
//! (`tests/interop/oidc-provider/`, pinned) on loopback issues opaque access tokens by
//! `client_credentials`; the real server introspects them (RFC 7662, `client_secret_basic`
//! with a secret that needs RFC 6749 §2.3.1 encoding) behind a real Envoy: allow with the
//! client id as identity header, a missing scope 403, an audience from RFC 8707 `resource=`
//! checked, a garbage token and a revoked one (RFC 7009) 401 `token inactive`, and our own
//! wrong client secret 503 `introspection_unavailable`.

use crate::support::envoy::Envoy;
use crate::support::http;
use crate::support::oidc_provider::{APP_ID, GATEWAY_ID, GATEWAY_SECRET, OidcProvider};
use crate::support::server::Server;
use crate::support::wait_for;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

/// Our config for `op`: its issuer (keys by its discovery document, though every token here
/// is opaque), introspection as [`GATEWAY_ID`] with the secret in `secret`, a 1 s cache so
/// a revocation shows quickly, and two routes with scopes.
fn config(op: &OidcProvider, secret: &std::path::Path) -> String {
    format!(
        "providers:
  - name: oidc-provider
    issuer: {issuer}
    audiences: [api://orders]
    jwks: {{ discovery: true, allow_insecure_http: true }}
    # The endpoint is found in oidc-provider's discovery document, as a user would.
    introspection:
      discovery: true
      client_id: {GATEWAY_ID}
      client_secret_file: {secret}
      client_auth: client_secret_basic
      allow_insecure_http: true
      cache: {{ max_ttl: 1s }}
# client_credentials tokens have no `sub`: the calling client is the identity.
upstream: {{ claim_headers: {{ client_id: x-jwt-sub, scope: x-jwt-scope }} }}
routes:
  - match: {{ path_prefix: /orders/new }}
    scopes: [orders.write]
  - match: {{ path_prefix: /orders }}
    scopes: [orders.read]
",
        issuer = op.issuer,
        secret = secret.display(),
    )
}

struct Setup {
    op: OidcProvider,
    server: Server,
    envoy: Envoy,
    _secrets: tempfile::TempDir,
}

/// oidc-provider, our server introspecting with `secret`, and Envoy in front.
fn start(secret: &str) -> Setup {
    let op = OidcProvider::start();
    let secrets = tempfile::tempdir().unwrap();
    let path = secrets.path().join("secret");
    std::fs::write(&path, format!("{secret}\n")).unwrap();
    let server = Server::start(&config(&op, &path));
    let envoy = Envoy::start(server.grpc.port(), false);
    Setup {
        op,
        server,
        envoy,
        _secrets: secrets,
    }
}

impl Setup {
    fn get(&self, path: &str, token: &str) -> http::Response {
        http::get(self.envoy.listener, path, Some(token))
    }

    /// Everything both processes logged, for a failing assertion.
    fn logs(&self) -> String {
        format!(
            "ours:\n{}\noidc-provider:\n{}",
            self.server.log(),
            self.op.log()
        )
    }
}

fn challenge(answer: &http::Response) -> &str {
    answer
        .header("www-authenticate")
        .unwrap_or_else(|| panic!("no challenge: {answer:?}"))
}

#[test]
fn oidc_provider_opaque_tokens_are_allowed_scoped_and_revoked_through_envoy() {
    let s = start(GATEWAY_SECRET);
    // Its keys came by its own discovery document (no JWT is sent here, but the provider
    // is only ready with them).
    wait_for("our /readyz with oidc-provider's keys", WAIT, || {
        let ready = http::request(s.server.admin, "GET", "/readyz", &[]).ok()?;
        (ready.status == 200).then_some(())
    });
    // No `resource=`: an opaque token whose introspection has no `aud` (not checked then).
    let read = s.op.client_credentials("orders.read", None);
    assert!(!read.contains('.'), "an opaque token, not a JWT: {read}");
    let answer = s.op.introspect(&read);
    assert_eq!(answer["active"], true, "{answer}");
    assert_eq!(answer["client_id"], APP_ID, "{answer}");
    assert_eq!(answer["iss"], s.op.issuer.as_str(), "{answer}");
    assert_eq!(answer.get("aud"), None, "{answer}");

    let allowed = s.get("/orders/1", &read);
    assert_eq!(allowed.status, 200, "{allowed:?}\n{}", s.logs());
    assert_eq!(allowed.header("x-upstream-saw-sub"), Some(APP_ID));
    assert_eq!(allowed.header("x-upstream-saw-scope"), Some("orders.read"));
    assert_eq!(allowed.header("x-authz-provider"), Some("oidc-provider"));

    let scope = s.get("/orders/new", &read);
    assert_eq!(scope.status, 403, "{scope:?}");
    let text = challenge(&scope);
    assert!(
        text.contains(r#"error="insufficient_scope""#) && text.contains(r#"scope="orders.write""#),
        "{text}"
    );

    // With `resource=`, the answer's `aud` is that resource server and is checked.
    let orders =
        s.op.client_credentials("orders.read orders.write", Some("api://orders"));
    assert_eq!(s.op.introspect(&orders)["aud"], "api://orders");
    assert_eq!(s.get("/orders/new", &orders).status, 200, "{}", s.logs());
    let billing =
        s.op.client_credentials("orders.read", Some("api://billing"));
    let other = s.get("/orders/1", &billing);
    assert_eq!(other.status, 401, "{other:?}");
    assert!(
        challenge(&other).contains(r#"error_description="audience not allowed""#),
        "{other:?}"
    );

    let garbage = s.get("/orders/1", "not-a-token-oidc-provider-issued");
    assert_eq!(garbage.status, 401, "{garbage:?}");
    assert!(
        challenge(&garbage).contains(r#"error_description="token inactive""#),
        "{garbage:?}"
    );

    // Revoked at oidc-provider: inactive once our cached answer (max_ttl 1s) is gone.
    s.op.revoke(&read);
    assert_eq!(s.op.introspect(&read)["active"], false);
    let revoked = wait_for("the revocation to be seen", WAIT, || {
        let answer = s.get("/orders/1", &read);
        (answer.status != 200).then_some(answer)
    });
    assert_eq!(revoked.status, 401, "{revoked:?}");
    assert!(
        challenge(&revoked).contains(r#"error_description="token inactive""#),
        "{revoked:?}"
    );
    // The unrevoked token is still good.
    assert_eq!(s.get("/orders/1", &orders).status, 200);
}

#[test]
fn a_wrong_client_secret_is_introspection_unavailable_not_a_verdict() {
    let s = start("not-the-secret");
    let token = s.op.client_credentials("orders.read", None);
    let answer = s.get("/orders/1", &token);
    assert_eq!(answer.status, 503, "{answer:?}\n{}", s.logs());
    assert_eq!(
        answer.header("www-authenticate"),
        None,
        "not judged: no challenge"
    );
    assert!(
        answer.body.contains("token introspection unavailable"),
        "{answer:?}"
    );
    let metrics = http::request(s.server.admin, "GET", "/metrics", &[])
        .unwrap()
        .body;
    let line = r#"introspection_requests_total{provider="oidc-provider",result="http_status"} 1"#;
    assert!(
        metrics.lines().any(|l| l == line),
        "no {line:?} in:\n{metrics}"
    );
}
