//! Unknown-`kid` refetches that outlive the Check which started them (a slow IdP), and key
//! set GETs retried once on a fresh connection when a pooled one was closed as it was
//! reused — but never for timeouts or HTTP errors.

use super::{WAIT, jwks_of, start, token, uri_config};
use crate::support::envoy::{Envoy, render_bootstrap};
use crate::support::http;
use crate::support::idp::{Answer, Idp};
use crate::support::server::Server;
use crate::support::stale::{Close, StaleIdp};
use crate::support::{ISSUER, ec_key, ec_key_2, wait_for};
use serde_json::json;
use std::time::Duration;

fn metrics(admin: std::net::SocketAddr) -> String {
    http::request(admin, "GET", "/metrics", &[])
        .expect("/metrics")
        .body
}

#[test]
fn a_refetch_cut_off_by_the_checks_deadline_still_publishes_the_new_key() {
    let idp = Idp::http(&jwks_of(&[&ec_key()]));
    // No periodic refresh to fall back on, and no rate limit to hide a fetch per Check.
    // A fetch may take 10 s: the slow answer below is within it.
    let server = Server::start(&super::remote_config(
        ISSUER,
        &format!(
            "      uri: {}\n      allow_insecure_http: true\n      timeout: 10s\n      refresh_interval: 1h\n      min_refetch_interval: 1ms\n",
            idp.jwks_url()
        ),
    ));
    // Envoy's ext_authz timeout raised from 0.5 s to 2 s: a Check then waits 1.6 s and has
    // 0.4 s to answer in, enough on a loaded machine (0.1 s was not).
    let bootstrap = render_bootstrap(server.grpc.port(), false);
    assert!(bootstrap.contains("timeout: 0.5s"));
    let envoy = Envoy::start_bootstrap(&bootstrap.replace("timeout: 0.5s", "timeout: 2s"));
    let r = super::Running { server, envoy };
    r.wait_ready();
    // The IdP rotates, but now answers in 5 s: longer than any Check may wait, and long
    // enough for the three later Checks to arrive, wait and give up while it is in flight.
    idp.set_jwks(&jwks_of(&[&ec_key(), &ec_key_2()]));
    idp.set_delay(Duration::from_secs(5));
    let new = token(&ec_key_2());
    let first = std::thread::spawn({
        let (listener, new) = (r.envoy.listener, new.clone());
        move || http::get(listener, "/", Some(&new))
    });
    wait_for("the refetch to reach the IdP", WAIT, || {
        (idp.hits("/jwks") == 2).then_some(())
    });
    // Checks arriving meanwhile share the fetch in flight.
    let others: Vec<_> = (0..3)
        .map(|_| {
            let (listener, new) = (r.envoy.listener, new.clone());
            std::thread::spawn(move || http::get(listener, "/", Some(&new)))
        })
        .collect();
    for answer in std::iter::once(first).chain(others) {
        let denied = answer.join().unwrap();
        // Answered by us within the budget (a Check past Envoy's timeout would be its 403).
        assert_eq!(denied.status, 401, "{}", r.server.log());
        assert!(
            denied
                .header("www-authenticate")
                .is_some_and(|h| h.contains("signing key not found")),
            "{denied:?}"
        );
    }
    wait_for("the slow refetch to publish ec-2", WAIT, || {
        (r.server.status()["providers"][0]["kids"] == json!(["ec-1", "ec-2"])).then_some(())
    });
    idp.set_delay(Duration::ZERO);
    assert_eq!(r.status_of(&new), 200);
    assert_eq!(idp.hits("/jwks"), 2, "one refetch for all four Checks");
    let status = r.jwks_status();
    assert_eq!(status["fetches"], json!({"ok": 2}), "{status}");
    assert_eq!(
        status["refetches"],
        json!({"ok_after_deadline": 1}),
        "{status}"
    );
    let line = r#"jwks_refetch_total{provider="idp",result="ok_after_deadline"} 1"#;
    let text = metrics(r.server.admin);
    assert!(text.lines().any(|l| l == line), "no {line:?} in:\n{text}");
}

#[test]
fn a_pooled_connection_closed_as_it_is_reused_is_retried_on_a_fresh_one() {
    for close in [Close::Fin, Close::Reset] {
        let idp = StaleIdp::start(&jwks_of(&[&ec_key()]), close);
        let r = start(&super::remote_config(
            ISSUER,
            &format!(
                "      uri: {}\n      allow_insecure_http: true\n      timeout: 2s\n      refresh_interval: 1h\n",
                idp.jwks_url()
            ),
        ));
        r.wait_ready();
        assert_eq!(idp.counts(), (1, 1, 1), "{close:?}: the startup fetch");
        // The refetch for the new kid goes out on the pooled connection, which the server
        // drops unanswered; the one retry opens a new connection.
        idp.set_jwks(&jwks_of(&[&ec_key(), &ec_key_2()]));
        assert_eq!(
            r.status_of(&token(&ec_key_2())),
            200,
            "{close:?}: {}",
            r.server.log()
        );
        assert_eq!(
            idp.counts(),
            (2, 3, 2),
            "{close:?}: one retry, on a new connection"
        );
        let status = r.jwks_status();
        assert_eq!(status["fetches"], json!({"ok": 2}), "{close:?}: {status}");
        let log = r.server.log();
        assert!(
            log.contains("connection lost before an answer; retrying once on a new connection"),
            "{close:?}: {log}"
        );
    }
}

#[test]
fn only_a_connection_lost_before_any_answer_is_retried_and_only_once() {
    let idp = Idp::http(&jwks_of(&[&ec_key()]));
    // Refreshes back to back: no on-demand rate limit in the way.
    let r = start(&uri_config(
        &idp,
        "      refresh_interval: 1h\n      min_refetch_interval: 1ms\n",
    ));
    r.wait_ready();
    // (answer, GETs one refresh may send): a connection closed with no answer is retried
    // once; a timeout or an HTTP error is an answer (or may be one on its way) and is not.
    for (answer, gets) in [
        (Answer::Down, 2),
        (Answer::Status(500), 1),
        (Answer::Status(503), 1),
        (Answer::Hang, 1),
    ] {
        idp.set_answer(answer.clone());
        let before = idp.hits("/jwks");
        let (status, body) = r.refresh();
        assert_eq!(status, 502, "{answer:?}: {body}");
        assert_eq!(idp.hits("/jwks") - before, gets, "{answer:?}");
    }
    let fetches = &r.jwks_status()["fetches"];
    assert_eq!(
        (
            &fetches["network"],
            &fetches["http_status"],
            &fetches["timeout"]
        ),
        (&json!(1), &json!(2), &json!(1)),
        "each refresh is one failed fetch, retried or not: {fetches}"
    );
}
