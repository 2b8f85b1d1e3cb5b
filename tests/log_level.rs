//! The run-time log filter (`GET`/`PUT /debug/log-level` on the debug listener) and plain
//! text logs: the real server writes its stderr to a file, which gains DEBUG lines only after
//! the PUT and never holds an ANSI escape sequence.

use crate::support::idp::Idp;
use crate::support::server::Server;
use crate::support::{AUDIENCE, ISSUER, ec_key, http, wait_for};
use serde_json::json;
use std::time::Duration;

fn debug_lines(log: &str) -> Vec<&str> {
    log.lines().filter(|l| l.contains(" DEBUG ")).collect()
}

#[test]
fn put_log_level_turns_on_debug_lines_and_text_logs_have_no_colour() {
    let idp = Idp::http(&json!({ "keys": [ec_key().public_jwk()] }));
    let config = format!(
        "providers:\n  - name: idp\n    issuer: {ISSUER}\n    audiences: [{AUDIENCE}]\n    jwks:\n      uri: {}\n      allow_insecure_http: true\n",
        idp.jwks_url()
    );
    // An empty NO_COLOR counts as unset: only "stderr is not a terminal" keeps colour off.
    let server = Server::start_with_env(&config, &[("RUST_LOG", "info"), ("NO_COLOR", "")]);
    // Ready: the startup fetch is done, and (at info) logged no DEBUG line.
    wait_for("ready", Duration::from_secs(20), || {
        let ready = http::request(server.admin, "GET", "/readyz", &[]).ok()?;
        (ready.status == 200).then_some(())
    });
    let level = |method, body: &str| {
        http::request_with_body(server.debug, method, "/debug/log-level", &[], body)
            .expect("/debug/log-level")
    };
    let before = level("GET", "");
    assert_eq!((before.status, before.body.as_str()), (200, "info\n"));
    assert_eq!(
        debug_lines(&server.log()),
        Vec::<&str>::new(),
        "{}",
        server.log()
    );

    let bad = level("PUT", "envoy_jwt_authz=loud");
    assert_eq!(bad.status, 400, "{bad:?}");
    assert!(bad.body.starts_with("invalid filter: "), "{}", bad.body);
    assert_eq!(level("PUT", "  ").status, 400);
    assert_eq!(
        level("GET", "").body,
        "info\n",
        "a refused filter changes nothing"
    );

    let set = level("PUT", "info,envoy_jwt_authz=debug\n");
    assert_eq!(set.status, 200, "{set:?}");
    let now = level("GET", "").body;
    assert_eq!(set.body, now);
    let mut directives: Vec<&str> = now.trim().split(',').collect();
    directives.sort_unstable();
    assert_eq!(directives, ["envoy_jwt_authz=debug", "info"]);

    // The first on-demand fetch since start: not rate limited, and logged at debug.
    assert_eq!(server.refresh_jwks().status, 200);
    let log = wait_for("a DEBUG line", Duration::from_secs(10), || {
        let log = server.log();
        debug_lines(&log)
            .iter()
            .any(|l| l.contains("key set fetched"))
            .then_some(log)
    });
    assert!(
        log.contains("log filter changed by PUT /debug/log-level"),
        "{log}"
    );
    assert!(
        !log.contains("\x1b["),
        "ANSI escape in a log file:\n{log:?}"
    );
}
