//! Opaque tokens through a real Envoy and a real RFC 7662 endpoint on loopback: allow with
//! identity headers, scope 403, inactive 401, endpoint down or failing 503, the cache (one
//! call for a reused token and for 100 concurrent Checks of a new one, re-asked after
//! `max_ttl`, dropped by a config change), and a token never sent to a provider the route
//! does not allow. How we reach and authenticate to the endpoint, and `explain`, are in
//! `clients`.

mod clients;

use crate::support::envoy::Envoy;
use crate::support::http;
use crate::support::introspection::{ClientCheck, Introspection};
use crate::support::server::Server;
use crate::support::{AUDIENCE, wait_for};
use envoy_jwt_authz::token::verify::UnixTime;
use serde_json::json;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);
pub(super) const SECRET: &str = "s3cr3t:with%odd+chars";

/// Two introspecting providers: `corp` (Basic auth, the first in config order) and
/// `partner` (client_secret_post), with routes `/partner` (only `partner`) and `/orders`
/// (scope `orders.read`); `extra` is appended to `corp`'s introspection block.
pub(super) fn config(
    corp: &Introspection,
    partner: &Introspection,
    secret: &std::path::Path,
    extra: &str,
) -> String {
    format!(
        "providers:
  - name: corp
    audiences: [{AUDIENCE}]
    introspection:
      endpoint: {corp}
      allow_insecure_http: true
      client_id: 'api gateway'
      client_secret_file: {secret}
{extra}
  - name: partner
    audiences: [{AUDIENCE}]
    introspection:
      endpoint: {partner}
      allow_insecure_http: true
      client_id: partner-gw
      client_secret_file: {secret}
      client_auth: client_secret_post
upstream: {{ claim_headers: {{ sub: x-jwt-sub }} }}
routes:
  - match: {{ path_prefix: /partner }}
    providers: [partner]
  - match: {{ path_prefix: /orders }}
    scopes: [orders.read]
",
        corp = corp.url(),
        partner = partner.url(),
        secret = secret.display(),
    )
}

pub(super) struct Setup {
    pub(super) corp: Introspection,
    partner: Introspection,
    pub(super) server: Server,
    envoy: Envoy,
    _secrets: tempfile::TempDir,
}

pub(super) fn start(extra: &str) -> Setup {
    // Basic: the id and secret form-encoded first (RFC 6749 §2.3.1).
    let corp = Introspection::start(ClientCheck::Basic(
        "api+gateway:s3cr3t%3Awith%25odd%2Bchars".into(),
    ));
    let partner = Introspection::start(ClientCheck::Post {
        id: "partner-gw".into(),
        secret: SECRET.into(),
    });
    let secrets = tempfile::tempdir().unwrap();
    let secret = secrets.path().join("secret");
    std::fs::write(&secret, format!("{SECRET}\n")).unwrap();
    let server = Server::start(&config(&corp, &partner, &secret, extra));
    let envoy = Envoy::start(server.grpc.port(), false);
    Setup {
        corp,
        partner,
        server,
        envoy,
        _secrets: secrets,
    }
}

pub(super) fn active(sub: &str, scope: &str) -> serde_json::Value {
    json!({"active": true, "sub": sub, "scope": scope, "exp": UnixTime::now().0 + 600, "aud": AUDIENCE})
}

impl Setup {
    pub(super) fn get(&self, path: &str, token: &str) -> http::Response {
        http::get(self.envoy.listener, path, Some(token))
    }

    pub(super) fn metrics(&self) -> String {
        http::request(self.server.admin, "GET", "/metrics", &[])
            .unwrap()
            .body
    }
}

#[test]
fn opaque_tokens_are_judged_by_introspection_through_envoy() {
    let s = start("");
    s.corp.set("tok-alice", active("alice", "orders.read"));
    s.corp.set("tok-bob", active("bob", "profile"));
    s.corp.set(
        "tok-refresh",
        json!({"active": true, "exp": UnixTime::now().0 + 600, "token_type": "refresh_token"}),
    );
    let ready = http::request(s.server.admin, "GET", "/readyz", &[]).unwrap();
    assert_eq!(ready.status, 200, "no key set to wait for");
    let allowed = s.get("/orders/1", "tok-alice");
    assert_eq!(allowed.status, 200, "{}", s.server.log());
    assert_eq!(allowed.header("x-upstream-saw-sub"), Some("alice"));
    assert_eq!(
        s.corp.last_form(),
        [("token_type_hint".to_owned(), "access_token".to_owned())],
        "Basic auth: no client fields in the form"
    );
    let scope = s.get("/orders/1", "tok-bob");
    assert_eq!(scope.status, 403);
    assert!(
        scope
            .header("www-authenticate")
            .unwrap()
            .contains(r#"error="insufficient_scope""#)
    );
    let inactive = s.get("/orders/1", "tok-unknown");
    assert_eq!(inactive.status, 401);
    assert!(
        inactive
            .header("www-authenticate")
            .unwrap()
            .contains(r#"error_description="token inactive""#),
        "{inactive:?}"
    );
    assert_eq!(
        s.get("/", "tok-refresh").status,
        401,
        "a refresh token is no access token"
    );
    let text = s.metrics();
    for line in [
        r#"introspection_requests_total{provider="corp",result="active"} 3"#,
        r#"introspection_requests_total{provider="corp",result="inactive"} 1"#,
    ] {
        assert!(text.lines().any(|l| l == line), "no {line:?} in:\n{text}");
    }
    // The endpoint fails: not judged, so 503 without a challenge, and never an allow.
    s.corp.set("tok-new", active("carol", "orders.read"));
    s.corp.set_status(Some(500));
    let failed = s.get("/", "tok-new");
    assert_eq!(failed.status, 503, "{failed:?}");
    assert_eq!(failed.header("www-authenticate"), None);
    s.corp.set_status(None);
    s.corp.set_down(true);
    assert_eq!(s.get("/", "tok-new").status, 503);
    s.corp.set_down(false);
    assert_eq!(s.get("/", "tok-new").status, 200, "a failure is not cached");
}

#[test]
fn a_token_goes_only_to_a_provider_the_route_allows() {
    let s = start("");
    s.partner.set("tok-p", active("pat", ""));
    s.corp.set("tok-p", active("mallory", ""));
    let answer = s.get("/partner/x", "tok-p");
    assert_eq!(answer.status, 200, "{}", s.server.log());
    assert_eq!(answer.header("x-upstream-saw-sub"), Some("pat"));
    assert_eq!(
        s.corp.total_calls(),
        0,
        "corp, first in config order, never saw it"
    );
    assert_eq!(
        s.partner.last_form(),
        [
            ("token_type_hint".to_owned(), "access_token".to_owned()),
            ("client_id".to_owned(), "partner-gw".to_owned()),
            ("client_secret".to_owned(), SECRET.to_owned()),
        ]
    );
    // Elsewhere the first introspecting provider in config order is asked.
    assert_eq!(
        s.get("/", "tok-p").header("x-upstream-saw-sub"),
        Some("mallory")
    );
    assert_eq!((s.corp.calls("tok-p"), s.partner.calls("tok-p")), (1, 1));
}

#[test]
fn answers_are_cached_shared_and_expire() {
    let s = start("      cache: { max_ttl: 1s }\n");
    s.corp.set("tok-a", active("alice", "orders.read"));
    assert_eq!(s.get("/", "tok-a").status, 200);
    assert_eq!(s.get("/orders/1", "tok-a").status, 200);
    assert_eq!(s.corp.calls("tok-a"), 1, "the second Check is a cache hit");
    // The route's scopes are checked again on a hit (Oathkeeper issue 743).
    s.corp.set("tok-b", active("bob", "profile"));
    assert_eq!(s.get("/", "tok-b").status, 200);
    assert_eq!(s.get("/orders/1", "tok-b").status, 403);
    assert_eq!(s.corp.calls("tok-b"), 1);
    // 100 concurrent Checks of a new token, with a slow endpoint: one request.
    s.corp.set("tok-c", active("carol", ""));
    s.corp.set_delay(Duration::from_millis(200));
    let listener = s.envoy.listener;
    let checks: Vec<_> = (0..100)
        .map(|_| std::thread::spawn(move || http::get(listener, "/", Some("tok-c")).status))
        .collect();
    let statuses: Vec<u16> = checks.into_iter().map(|c| c.join().unwrap()).collect();
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(
        s.corp.calls("tok-c"),
        1,
        "one request for every concurrent Check"
    );
    s.corp.set_delay(Duration::ZERO);
    // After max_ttl the endpoint is asked again (a revocation is seen within it).
    s.corp.set("tok-a", json!({"active": false}));
    wait_for("the cached answer to expire", WAIT, || {
        (s.get("/", "tok-a").status == 401).then_some(())
    });
    assert_eq!(s.corp.calls("tok-a"), 2);
}

#[test]
fn a_config_change_drops_the_providers_cache() {
    let s = start("");
    s.corp.set("tok-a", active("alice", ""));
    assert_eq!(s.get("/", "tok-a").status, 200);
    assert_eq!(s.get("/", "tok-a").status, 200);
    assert_eq!(s.corp.calls("tok-a"), 1);
    let path = s.server.config_path();
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace(
            "client_id: 'api gateway'",
            "client_id: 'api gateway'\n      timeout: 3s",
        ),
    )
    .unwrap();
    wait_for("the reload", WAIT, || {
        (s.server.status()["config"]["reloads_applied"] == 1).then_some(())
    });
    assert_eq!(s.get("/", "tok-a").status, 200);
    assert_eq!(s.corp.calls("tok-a"), 2, "a changed provider asks again");
}

/// `tokens: all` (Okta's org authorization server): a JWT whose `iss` names the provider is
/// judged by its endpoint — no key of ours could validate it, and none is configured.
#[test]
fn a_tokens_all_providers_jwts_are_judged_by_its_endpoint() {
    use crate::support::{ec_key, ec_key_2, mint};
    let endpoint = Introspection::start(ClientCheck::Post {
        id: "gw".into(),
        secret: SECRET.into(),
    });
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("secret"), SECRET).unwrap();
    let server = Server::start(&format!(
        "providers:
  - name: org
    issuer: https://org.test
    audiences: [{AUDIENCE}]
    introspection:
      endpoint: {}
      allow_insecure_http: true
      client_id: gw
      client_secret_file: {}
      client_auth: client_secret_post
      tokens: all
upstream: {{ claim_headers: {{ sub: x-jwt-sub }} }}
",
        endpoint.url(),
        dir.path().join("secret").display()
    ));
    let envoy = Envoy::start(server.grpc.port(), false);
    let claims =
        |sub: &str| json!({"iss": "https://org.test", "sub": sub, "exp": UnixTime::now().0 + 600});
    let known = mint(&ec_key(), &claims("alice"));
    endpoint.set(&known, active("alice", ""));
    let allowed = http::get(envoy.listener, "/", Some(&known));
    assert_eq!(allowed.status, 200, "{}", server.log());
    assert_eq!(allowed.header("x-upstream-saw-sub"), Some("alice"));
    // Another key, unknown to the endpoint: its answer, not a signature, refuses it.
    let unknown = mint(&ec_key_2(), &claims("mallory"));
    let refused = http::get(envoy.listener, "/", Some(&unknown));
    assert_eq!(refused.status, 401);
    assert!(
        refused
            .header("www-authenticate")
            .unwrap()
            .contains("token inactive")
    );
    assert_eq!((endpoint.calls(&known), endpoint.calls(&unknown)), (1, 1));
}

/// A made-up token is asked once, then its `active: false` is answered from the cache;
/// beyond `max_concurrent` requests in flight a new token is a 503 (`overloaded`), while
/// a token already cached still gets its answer.
#[test]
fn made_up_tokens_cost_one_request_each_and_at_most_max_concurrent_in_flight() {
    let s = start("      max_concurrent: 1\n");
    s.corp.set("tok-known", active("alice", ""));
    assert_eq!(s.get("/", "tok-known").status, 200);
    assert_eq!(s.get("/", "tok-made-up").status, 401);
    assert_eq!(s.get("/", "tok-made-up").status, 401);
    assert_eq!(
        s.corp.calls("tok-made-up"),
        1,
        "the inactive answer is cached"
    );
    // One slow request holds the only slot for 1.5 s (its own Check gives up after 0.4 s,
    // a 503, but the request runs on and keeps the slot).
    s.corp.set_delay(Duration::from_millis(1500));
    let listener = s.envoy.listener;
    let slow = std::thread::spawn(move || http::get(listener, "/", Some("tok-slow")).status);
    wait_for("the slow request to reach the endpoint", WAIT, || {
        (s.corp.calls("tok-slow") == 1).then_some(())
    });
    let overloaded = s.get("/", "tok-another");
    assert_eq!(overloaded.status, 503, "{overloaded:?}");
    assert_eq!(s.corp.calls("tok-another"), 0, "not sent");
    assert_eq!(
        s.get("/", "tok-known").status,
        200,
        "a cached answer is still served"
    );
    assert_ne!(
        slow.join().unwrap(),
        200,
        "its Check gave up waiting: never an allow"
    );
    let line = r#"introspection_requests_total{provider="corp",result="overloaded"} 1"#;
    let text = s.metrics();
    assert!(text.lines().any(|l| l == line), "no {line:?} in:\n{text}");
}
