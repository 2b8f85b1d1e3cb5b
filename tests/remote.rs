//! Keys from the network, against a real HTTP(S) IdP stand-in on loopback: rotation with
//! one refetch, a flood of unknown kids, IdP down at startup, every failure keeping the
//! last good keys, discovery, a private CA, and a rotation under load through Envoy.
//! Refetches that outlive a Check and retries on stale connections are in `refetch`; keys
//! through a corporate proxy in `proxy`.
//! (Just over 400 lines: one scenario per key-fetching failure, sharing the IdP stand-in.)

mod proxy;
mod refetch;

use crate::support::envoy::Envoy;
use crate::support::idp::{Answer, Discovery, Idp};
use crate::support::load::Load;
use crate::support::server::Server;
use crate::support::{self, AUDIENCE, ISSUER, ec_key, ec_key_2, http, mint, wait_for};
use envoy_jwt_authz::algorithm::Algorithm;
use envoy_jwt_authz::mint::SigningKey;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

fn jwks_of(keys: &[&SigningKey]) -> Value {
    json!({ "keys": keys.iter().map(|k| k.public_jwk()).collect::<Vec<_>>() })
}

/// A provider `idp` whose keys come from `jwks` settings (YAML lines under `jwks:`).
fn remote_config(issuer: &str, jwks: &str) -> String {
    format!(
        "providers:\n  - name: idp\n    issuer: {issuer}\n    audiences: [{AUDIENCE}]\n    jwks:\n{jwks}"
    )
}

fn uri_config(idp: &Idp, extra: &str) -> String {
    remote_config(
        ISSUER,
        &format!(
            "      uri: {}\n      allow_insecure_http: true\n      timeout: 2s\n{extra}",
            idp.jwks_url()
        ),
    )
}

struct Running {
    server: Server,
    envoy: Envoy,
}

fn start(config: &str) -> Running {
    let server = Server::start(config);
    let envoy = Envoy::start(server.grpc.port(), false);
    Running { server, envoy }
}

impl Running {
    fn status_of(&self, token: &str) -> u16 {
        http::get(self.envoy.listener, "/", Some(token)).status
    }

    fn ready(&self) -> bool {
        http::request(self.server.admin, "GET", "/readyz", &[]).is_ok_and(|r| r.status == 200)
    }

    fn wait_ready(&self) {
        wait_for("readiness", WAIT, || self.ready().then_some(()));
    }

    /// `POST /jwks/refresh`: (status, body).
    /// `POST /jwks/refresh`, at least 2 ms after the previous one: the callers set
    /// `min_refetch_interval: 1ms`, stamped when a refresh begins, and an error answer on
    /// loopback can come back within that millisecond (CI once saw the next refresh 429).
    fn refresh(&self) -> (u16, Value) {
        std::thread::sleep(std::time::Duration::from_millis(2));
        let r = http::request(
            self.server.debug,
            "POST",
            "/jwks/refresh",
            &[("Content-Length", "0")],
        )
        .expect("refresh");
        (
            r.status,
            serde_json::from_str(&r.body).unwrap_or(Value::Null),
        )
    }

    fn jwks_status(&self) -> Value {
        self.server.status()["providers"][0]["jwks"].clone()
    }
}

fn token(key: &SigningKey) -> String {
    mint(key, &support::claims())
}

#[test]
fn a_rotated_key_is_accepted_on_its_first_check_with_one_fetch() {
    let idp = Idp::http(&jwks_of(&[&ec_key()]));
    let r = start(&uri_config(&idp, ""));
    r.wait_ready();
    assert_eq!(r.status_of(&token(&ec_key())), 200);
    assert_eq!(idp.hits("/jwks"), 1);
    // The IdP publishes a new key and starts signing with it.
    idp.set_jwks(&jwks_of(&[&ec_key(), &ec_key_2()]));
    assert_eq!(r.status_of(&token(&ec_key_2())), 200, "{}", r.server.log());
    assert_eq!(idp.hits("/jwks"), 2, "exactly one refetch");
    assert_eq!(r.status_of(&token(&ec_key_2())), 200);
    assert_eq!(idp.hits("/jwks"), 2);
    assert_eq!(r.jwks_status()["fetches"]["ok"], 2);
}

#[test]
fn a_flood_of_unknown_kids_fetches_at_most_once_per_interval() {
    let idp = Idp::http(&jwks_of(&[&ec_key()]));
    let r = start(&uri_config(&idp, "      min_refetch_interval: 1h\n"));
    r.wait_ready();
    let attacker = SigningKey::generate(Algorithm::Es256).unwrap();
    for i in 0..1000 {
        let t = mint(
            &attacker.clone().with_kid(format!("random-{i}")),
            &support::claims(),
        );
        assert_eq!(r.status_of(&t), 401);
    }
    assert!(
        idp.hits("/jwks") <= 2,
        "{} fetches for 1000 unknown kids",
        idp.hits("/jwks")
    );
    assert_eq!(r.status_of(&token(&ec_key())), 200);
}

#[test]
fn an_idp_down_at_startup_means_not_ready_until_it_answers() {
    let idp = Idp::http(&jwks_of(&[&ec_key()]));
    idp.set_answer(Answer::Down);
    let r = start(&uri_config(&idp, ""));
    wait_for("a failed fetch", WAIT, || {
        (idp.hits("/jwks") >= 1).then_some(())
    });
    assert!(!r.ready());
    let denied = http::get(r.envoy.listener, "/", Some(&token(&ec_key())));
    assert_eq!(
        denied.status, 503,
        "no keys yet: the token cannot be judged"
    );
    assert_eq!(denied.header("www-authenticate"), None);
    assert_eq!(
        denied.body,
        r#"{"error":"temporarily_unavailable","error_description":"signing keys unavailable"}"#
    );
    assert!(r.jwks_status()["fetches"]["network"].as_u64().unwrap() >= 1);
    idp.set_answer(Answer::Jwks);
    r.wait_ready();
    assert_eq!(r.status_of(&token(&ec_key())), 200);
}

#[test]
fn startup_grace_makes_the_server_ready_without_keys() {
    let idp = Idp::http(&jwks_of(&[&ec_key()]));
    idp.set_answer(Answer::Down);
    let config = format!("{}startup_grace: 1s\n", uri_config(&idp, ""));
    let r = start(&config);
    r.wait_ready();
    assert_eq!(r.status_of(&token(&ec_key())), 503);
    wait_for("the grace log line", WAIT, || {
        r.server
            .log()
            .contains("startup grace expired")
            .then_some(())
    });
}

#[test]
fn every_failure_keeps_the_last_good_keys_and_recovery_is_picked_up() {
    let idp = Idp::http(&jwks_of(&[&ec_key()]));
    // Seven refreshes in a row, each more than a millisecond after the last (see `refresh`): never 429.
    let r = start(&uri_config(&idp, "      min_refetch_interval: 1ms\n"));
    r.wait_ready();
    let good = token(&ec_key());
    for (answer, kind) in [
        (Answer::Down, "network"),
        (Answer::Hang, "timeout"),
        (Answer::Status(500), "http_status"),
        (Answer::Garbage, "invalid"),
        (Answer::Huge, "too_large"),
        (Answer::EmptySet, "no_usable_key"),
    ] {
        idp.set_answer(answer.clone());
        let (status, body) = r.refresh();
        assert_eq!(status, 502, "{answer:?}: {body}");
        assert_eq!(body["idp"]["ok"], false);
        assert_eq!(
            r.status_of(&good),
            200,
            "{answer:?}: the last good keys keep validating"
        );
        assert_eq!(
            r.jwks_status()["fetches"][kind],
            1,
            "{answer:?}: {}",
            r.jwks_status()
        );
        assert!(r.ready(), "{answer:?}: still ready");
    }
    idp.set_answer(Answer::Jwks);
    idp.set_jwks(&jwks_of(&[&ec_key_2()]));
    let (status, body) = r.refresh();
    assert_eq!(
        (status, &body["idp"]),
        (200, &json!({"ok": true, "keys": 1}))
    );
    assert_eq!(r.status_of(&token(&ec_key_2())), 200);
    assert_eq!(
        r.status_of(&good),
        401,
        "the retired key is gone after a good fetch"
    );
    assert_eq!(r.jwks_status()["last_error"], Value::Null);
}

#[test]
fn the_background_refresh_follows_max_age_and_recovers_after_failures() {
    let idp = Idp::http(&jwks_of(&[&ec_key()]));
    idp.set_max_age(Some(1));
    let r = start(&uri_config(
        &idp,
        "      min_refresh_interval: 1s\n      refresh_interval: 1h\n",
    ));
    r.wait_ready();
    // max-age=1 (within the 1s minimum) beats the one-hour refresh interval.
    wait_for("a background refresh", WAIT, || {
        (idp.hits("/jwks") >= 2).then_some(())
    });
    idp.set_answer(Answer::Status(503));
    wait_for("a failed refresh", WAIT, || {
        r.jwks_status()["fetches"]["http_status"]
            .as_u64()
            .filter(|n| *n >= 1)
    });
    assert_eq!(r.status_of(&token(&ec_key())), 200);
    idp.set_jwks(&jwks_of(&[&ec_key_2()]));
    idp.set_answer(Answer::Jwks);
    wait_for("recovery with the new key", WAIT, || {
        (r.server.status()["providers"][0]["kids"] == json!(["ec-2"])).then_some(())
    });
}

#[test]
fn discovery_finds_the_jwks_via_rfc8414_or_openid_and_checks_the_issuer() {
    for discovery in [Discovery::Rfc8414, Discovery::OpenId] {
        let idp = Idp::http(&jwks_of(&[&ec_key()]));
        idp.set_discovery(discovery, None);
        let r = start(&remote_config(
            &idp.base(),
            "      discovery: true\n      allow_insecure_http: true\n",
        ));
        r.wait_ready();
        let t = mint(&ec_key(), &support::claims_with(json!({"iss": idp.base()})));
        assert_eq!(r.status_of(&t), 200, "{discovery:?}");
        assert_eq!(r.jwks_status()["url"], idp.jwks_url());
    }
    let idp = Idp::http(&jwks_of(&[&ec_key()]));
    idp.set_discovery(Discovery::OpenId, Some("https://evil.example"));
    let r = start(&remote_config(
        &idp.base(),
        "      discovery: true\n      allow_insecure_http: true\n",
    ));
    wait_for("a failed discovery", WAIT, || {
        r.jwks_status()["fetches"]["discovery"]
            .as_u64()
            .filter(|n| *n >= 1)
    });
    let error = r.jwks_status()["last_error"].as_str().unwrap().to_owned();
    assert!(
        error.contains("names issuer \"https://evil.example\""),
        "{error}"
    );
    assert!(!r.ready());
    assert_eq!(
        idp.hits("/jwks"),
        0,
        "a mismatching discovery document is never followed"
    );
}

#[test]
fn https_with_a_private_ca_needs_tls_ca_file() {
    let idp = Idp::https(&jwks_of(&[&ec_key()]));
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, idp.ca_pem.as_ref().unwrap()).unwrap();
    let trusted = start(&remote_config(
        ISSUER,
        &format!(
            "      uri: {}\n      tls: {{ ca_file: {} }}\n",
            idp.jwks_url(),
            ca.display()
        ),
    ));
    trusted.wait_ready();
    assert_eq!(trusted.status_of(&token(&ec_key())), 200);

    let untrusted = start(&remote_config(
        ISSUER,
        &format!("      uri: {}\n", idp.jwks_url()),
    ));
    wait_for("a failed TLS fetch", WAIT, || {
        untrusted.jwks_status()["fetches"]["network"]
            .as_u64()
            .filter(|n| *n >= 1)
    });
    let error = untrusted.jwks_status()["last_error"]
        .as_str()
        .unwrap()
        .to_lowercase();
    assert!(error.contains("certificate"), "{error}");
    assert!(!untrusted.ready());
}

#[test]
fn plain_http_is_refused_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.yaml");
    std::fs::write(
        &path,
        remote_config(ISSUER, "      uri: http://127.0.0.1:1/jwks\n"),
    )
    .unwrap();
    let out = std::process::Command::new(crate::support::server::binary())
        .arg("check-config")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("providers[0].jwks.uri: \"http://127.0.0.1:1/jwks\" is plain http")
    );
}

#[test]
fn a_rotation_under_load_fails_no_valid_request() {
    let idp = Idp::http(&jwks_of(&[&ec_key()]));
    let r = start(&uri_config(&idp, ""));
    r.wait_ready();
    let use_new_key = Arc::new(AtomicBool::new(false));
    let load = {
        let use_new_key = use_new_key.clone();
        let (old, new) = (token(&ec_key()), token(&ec_key_2()));
        Load::start(r.envoy.listener, move || {
            if use_new_key.load(Ordering::Relaxed) {
                new.clone()
            } else {
                old.clone()
            }
        })
    };
    wait_for("some load", WAIT, || (load.sent() > 50).then_some(()));
    // The IdP publishes the new key, then clients switch to tokens signed with it.
    idp.set_jwks(&jwks_of(&[&ec_key(), &ec_key_2()]));
    use_new_key.store(true, Ordering::Relaxed);
    let switched = load.sent();
    wait_for("load with the new key", WAIT, || {
        (load.sent() > switched + 100).then_some(())
    });
    let (sent, failed) = load.finish();
    assert_eq!(failed, 0, "{failed} of {sent} failed");
    assert_eq!(idp.hits("/jwks"), 2, "one refetch for the new kid");
}

#[test]
fn a_reload_keeps_fetched_keys_of_unchanged_providers() {
    let idp = Idp::http(&jwks_of(&[&ec_key()]));
    let config = uri_config(&idp, "");
    let r = start(&config);
    r.wait_ready();
    assert_eq!(idp.hits("/jwks"), 1);
    // A change elsewhere in the file: the provider keeps its keys, no new fetch.
    std::fs::write(
        r.server.config_path(),
        format!("{config}challenge: {{ realm: r2 }}\n"),
    )
    .unwrap();
    wait_for("the reload", WAIT, || {
        (r.server.status()["config"]["reloads_applied"] == 1).then_some(())
    });
    assert_eq!(r.status_of(&token(&ec_key())), 200);
    assert!(r.ready());
    assert_eq!(idp.hits("/jwks"), 1);
    // A change to the provider itself starts a new refresher, which fetches.
    std::fs::write(
        r.server.config_path(),
        uri_config(&idp, "      min_refetch_interval: 10s\n"),
    )
    .unwrap();
    wait_for("a fetch for the changed provider", WAIT, || {
        (idp.hits("/jwks") == 2).then_some(())
    });
    wait_for("keys again", WAIT, || {
        (r.status_of(&token(&ec_key())) == 200).then_some(())
    });
}
