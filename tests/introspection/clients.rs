//! How we reach and authenticate to an introspection endpoint — Basic, `private_key_jwt`
//! with a fresh assertion per request, through the provider's proxy — the client secret
//! never shown, and `explain --introspect`.

use super::{SECRET, active, config, start};
use crate::support::envoy::Envoy;
use crate::support::http;
use crate::support::introspection::{ClientCheck, Introspection};
use crate::support::server::Server;
use crate::support::{AUDIENCE, wait_for};
use std::time::Duration;

#[test]
fn the_client_secret_never_leaves_its_file() {
    let s = start("");
    s.corp.set("tok-a", active("alice", ""));
    assert_eq!(s.get("/", "tok-a").status, 200);
    s.corp.set_status(Some(401));
    assert_eq!(s.get("/", "tok-other").status, 503);
    let status = s.server.status().to_string();
    let checked = std::process::Command::new(crate::support::server::binary())
        .arg("check-config")
        .arg(s.server.config_path())
        .output()
        .unwrap();
    let basic = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode("api+gateway:s3cr3t%3Awith%25odd%2Bchars")
    };
    let outputs = [
        s.server.log(),
        status,
        s.metrics(),
        String::from_utf8_lossy(&checked.stdout).into_owned(),
        String::from_utf8_lossy(&checked.stderr).into_owned(),
    ];
    for (i, text) in outputs.iter().enumerate() {
        assert!(
            !text.contains("s3cr3t"),
            "output {i} shows the secret:\n{text}"
        );
        // Nor the Basic credentials as they go on the wire.
        assert!(
            !text.contains(&basic),
            "output {i} shows the Authorization value"
        );
        assert!(
            !text.contains("tok-a") && !text.contains("tok-other"),
            "output {i} shows a token"
        );
    }
    assert!(checked.status.success(), "{outputs:?}");
}

/// `explain` names the provider it would ask, sends the token only with `--introspect`,
/// and then judges the answer like the server; it never prints the token.
#[test]
fn explain_introspects_only_when_asked_to() {
    let corp = Introspection::start(ClientCheck::Basic(
        "api+gateway:s3cr3t%3Awith%25odd%2Bchars".into(),
    ));
    let partner = Introspection::start(ClientCheck::Basic("unused".into()));
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, SECRET).unwrap();
    let path = dir.path().join("c.yaml");
    std::fs::write(&path, config(&corp, &partner, &secret, "")).unwrap();
    corp.set("tok-alice", active("alice", "profile"));
    let explain = |args: &[&str]| {
        let out = std::process::Command::new(crate::support::server::binary())
            .args(["explain", "--config"])
            .arg(&path)
            .args(args)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(!text.contains("tok-") && !text.contains("s3cr3t"), "{text}");
        (out.status.code(), text)
    };
    let (code, text) = explain(&["tok-alice"]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("introspect") && text.contains("not asked"),
        "{text}"
    );
    assert!(text.contains("run explain with --introspect"), "{text}");
    assert_eq!(corp.total_calls(), 0, "nothing sent without --introspect");
    let (code, text) = explain(&["--introspect", "tok-alice"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("✓ introspect"), "{text}");
    let (code, text) = explain(&["--introspect", "--path", "/orders/1", "tok-alice"]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("DENIED 403 insufficient_scope") && text.contains("[orders.read]"),
        "{text}"
    );
    let (code, text) = explain(&["--introspect", "tok-revoked"]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("DENIED 401 token_inactive") && text.contains("active: false"),
        "{text}"
    );
    assert_eq!((corp.total_calls(), partner.total_calls()), (3, 0));
}

/// `private_key_jwt`: each request carries a fresh assertion signed with our key (the
/// endpoint refuses a replayed `jti`, so a second call with a reused one would be a 503).
#[test]
fn private_key_jwt_authenticates_with_a_fresh_assertion_per_request() {
    use base64::Engine;
    let der = aws_lc_rs::signature::EcdsaKeyPair::generate_pkcs8(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &aws_lc_rs::rand::SystemRandom::new(),
    )
    .unwrap();
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        base64::engine::general_purpose::STANDARD.encode(der.as_ref())
    );
    let key = envoy_jwt_authz::mint::SigningKey::from_pkcs8_pem(
        &pem,
        envoy_jwt_authz::algorithm::Algorithm::Es256,
    )
    .unwrap();
    let endpoint = Introspection::start(ClientCheck::PrivateKeyJwt {
        id: "gw".into(),
        jwk: key.public_jwk(),
    });
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("key.pem"), &pem).unwrap();
    let server = Server::start(&format!(
        "providers:
  - name: corp
    audiences: [{AUDIENCE}]
    introspection:
      endpoint: {}
      allow_insecure_http: true
      client_id: gw
      private_key: {{ file: {}, alg: ES256 }}
",
        endpoint.url(),
        dir.path().join("key.pem").display()
    ));
    let envoy = Envoy::start(server.grpc.port(), false);
    endpoint.set("tok-1", active("alice", ""));
    endpoint.set("tok-2", active("bob", ""));
    for token in ["tok-1", "tok-2"] {
        let answer = http::get(envoy.listener, "/", Some(token));
        assert_eq!(answer.status, 200, "{token}: {}", server.log());
    }
    assert_eq!(endpoint.total_calls(), 2);
}

/// The provider's `proxy:` carries introspection too: the endpoint's name resolves only
/// through the proxy, which sees the POST (absolute form, for an http endpoint).
#[test]
fn introspection_goes_through_the_providers_proxy() {
    use crate::support::connect_proxy::{ConnectProxy, PROXIED_HOST};
    let endpoint = Introspection::start(ClientCheck::Post {
        id: "gw".into(),
        secret: SECRET.into(),
    });
    endpoint.set("tok-a", active("alice", ""));
    let proxy = ConnectProxy::open();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("secret"), SECRET).unwrap();
    let url = format!("http://{PROXIED_HOST}:{}/introspect", endpoint.addr.port());
    let config = |proxy_line: &str| {
        format!(
            "providers:
  - name: corp
    audiences: [{AUDIENCE}]
{proxy_line}    introspection:
      endpoint: {url}
      allow_insecure_http: true
      client_id: gw
      client_secret_file: {}
      client_auth: client_secret_post
",
            dir.path().join("secret").display()
        )
    };
    let direct = Server::start(&config(""));
    let envoy = Envoy::start(direct.grpc.port(), false);
    assert_eq!(
        http::get(envoy.listener, "/", Some("tok-a")).status,
        503,
        "unresolvable without the proxy"
    );
    let proxied = Server::start(&config(&format!("    proxy: {{ url: {} }}\n", proxy.url())));
    let envoy = Envoy::start(proxied.grpc.port(), false);
    let answer = http::get(envoy.listener, "/", Some("tok-a"));
    assert_eq!(answer.status, 200, "{}", proxied.log());
    assert_eq!(proxy.requests(), [format!("POST {url}")]);
    let status = proxied.status();
    let shown = &status["providers"][0]["introspection"];
    assert_eq!(shown["endpoint"], url.as_str(), "{status}");
    assert_eq!(shown["proxy"], proxy.url().as_str(), "{status}");
    assert_eq!(shown["proxy_source"], "config", "{status}");
    assert_eq!(endpoint.calls("tok-a"), 1);
}

/// The secret file is watched: a rotated secret reaches the endpoint without a restart
/// (the provider changes, so its client and cache are new), and neither value is logged.
#[test]
fn a_rotated_secret_file_is_picked_up_without_a_restart() {
    let corp = Introspection::start(ClientCheck::Basic("api+gateway:new-secret".into()));
    let partner = Introspection::start(ClientCheck::Basic("unused".into()));
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "old-secret").unwrap();
    let server = Server::start(&config(&corp, &partner, &secret, ""));
    let envoy = Envoy::start(server.grpc.port(), false);
    corp.set("tok-a", active("alice", ""));
    let status = || http::get(envoy.listener, "/", Some("tok-a")).status;
    assert_eq!(status(), 503, "the endpoint refuses the old secret");
    std::fs::write(&secret, "new-secret\n").unwrap();
    wait_for("the rotated secret", Duration::from_secs(20), || {
        (status() == 200).then_some(())
    });
    let log = server.log();
    assert!(
        !log.contains("new-secret") && !log.contains("old-secret"),
        "{log}"
    );
}
