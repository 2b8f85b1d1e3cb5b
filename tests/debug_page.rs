//! The debug page (`GET /` on the debug listener) in a real headless Chromium: the real
//! server behind a real Envoy is sent a mix of bad tokens (a trailing slash in `aud`, an
//! `iss` in the wrong case, an unknown `kid`, a staging issuer, hostile `aud` values), a
//! config reload is rejected and a key fetch fails; the rendered DOM must show the
//! providers, each denial with its difference marked, and the hostile values as inert text.
//! A screenshot is left at `target/debug-page.png` for humans.

use crate::support::envoy::Envoy;
use crate::support::idp::{Answer, Idp};
use crate::support::server::Server;
use crate::support::{self, AUDIENCE, ISSUER, claims_with, ec_key, ec_key_2, http, mint, wait_for};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const REMOTE_ISSUER: &str = "https://login.example.com/tenant";
const SCRIPT_AUD: &str = "<script>alert(1)</script>";
const IMG_AUD: &str = "\"><img src=x onerror=alert(2)>";

/// Debian's Chromium (`.ci/setup-chromium`), or `$CHROMIUM_BIN`.
fn chromium() -> PathBuf {
    let path =
        std::env::var_os("CHROMIUM_BIN").map_or_else(|| "/usr/bin/chromium".into(), PathBuf::from);
    assert!(
        path.exists(),
        "{} not found: run .ci/setup-chromium (or set CHROMIUM_BIN)",
        path.display()
    );
    path
}

/// Runs headless Chromium with `args` on `url` and returns its stdout, within a deadline.
fn run_chromium(args: &[&str], url: &str) -> String {
    let profile = tempfile::tempdir().expect("profile dir");
    let stdout_path = profile.path().join("stdout");
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
        ])
        .args([
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!(
            "--user-data-dir={}",
            profile.path().join("profile").display()
        ))
        .args(args)
        .arg(url)
        .stdout(std::fs::File::create(&stdout_path).expect("stdout file"))
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn chromium");
    let status = wait_for("chromium to exit", Duration::from_secs(90), || {
        child.try_wait().ok().flatten()
    });
    assert!(status.success(), "chromium {args:?}: {status}");
    std::fs::read_to_string(&stdout_path).expect("chromium output")
}

#[test]
fn the_debug_page_shows_what_tokens_carried_beside_what_is_expected() {
    let idp = Idp::http(&json!({ "keys": [ec_key_2().public_jwk()] }));
    let config = support::config_yaml(&format!(
        "  - name: remote-idp\n    issuer: {REMOTE_ISSUER}\n    audiences: [api://billing]\n    jwks:\n      uri: {}\n      allow_insecure_http: true\n",
        idp.jwks_url()
    ));
    let server = Server::start(&config);
    wait_for("ready", Duration::from_secs(20), || {
        let ready = http::request(server.admin, "GET", "/readyz", &[]).ok()?;
        (ready.status == 200).then_some(())
    });
    let envoy = Envoy::start(server.grpc.port(), false);
    let deny = |key: &envoy_jwt_authz::mint::SigningKey, changes| {
        let response = http::get(envoy.listener, "/", Some(&mint(key, &claims_with(changes))));
        assert_eq!(response.status, 401, "{response:?}");
    };
    deny(&ec_key(), json!({ "aud": format!("{AUDIENCE}/") }));
    deny(
        &ec_key(),
        json!({ "iss": ISSUER.replace("issuer", "Issuer") }),
    );
    deny(&ec_key().with_kid("ec-9"), json!({}));
    deny(
        &ec_key_2(),
        json!({ "iss": REMOTE_ISSUER.replace("login.", "login.staging."), "aud": "api://billing" }),
    );
    deny(&ec_key(), json!({ "aud": [SCRIPT_AUD, IMG_AUD] }));
    // The IdP fails the next fetch, and a broken config is refused.
    idp.set_answer(Answer::Status(503));
    assert_eq!(server.refresh_jwks().status, 502);
    std::fs::write(server.config_path(), "providers: [").expect("break the config");
    wait_for("the rejected reload", Duration::from_secs(20), || {
        (server.status()["config"]["reloads_rejected"] == 1).then_some(())
    });

    let raw = http::request(server.debug, "GET", "/", &[]).expect("GET /");
    assert_eq!(raw.status, 200);
    assert_eq!(raw.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(raw.header("cache-control"), Some("no-store"));
    let csp = raw.header("content-security-policy").expect("CSP");
    assert!(
        csp.starts_with("default-src 'none'; style-src 'unsafe-inline'"),
        "{csp}"
    );

    let url = format!("http://{}/", server.debug);
    let dom = run_chromium(&["--dump-dom"], &url);
    for expected in [
        // Providers, their keys and the failed fetch.
        "<b>test-idp</b>",
        "<b>remote-idp</b>",
        ISSUER,
        REMOTE_ISSUER,
        "rsa-1<br>ec-1",
        "failed: <code>",
        // The rejected reload and why.
        "<span class=\"bad\">rejected</span>, the last good config keeps serving",
        // A trailing slash in aud.
        "<span class=\"observed\">api://orders<mark>/</mark></span>",
        "<span class=\"kind\">trailing slash</span>",
        // The issuer's case.
        "<span class=\"observed\">https://<mark>I</mark>ssuer.test/oauth2/default</span>",
        "<span class=\"kind\">letter case</span>",
        "<small>none; nearest</small> test-idp",
        // The unknown kid, beside the nearest known one.
        "<span class=\"observed\">ec-<mark>9</mark></span>",
        // The staging host.
        "https://login.<mark>staging.</mark>example.com/tenant",
        "<span class=\"kind\">different host</span>",
        // The hostile values as text (a serialiser escapes <, > and & in text).
        "&lt;script&gt;alert(1)&lt;/script&gt;",
        "\"&gt;&lt;img src=x onerror=alert(2)&gt;",
    ] {
        assert!(dom.contains(expected), "no {expected:?} in the DOM:\n{dom}");
    }
    assert_eq!(dom.matches("<tr class=\"denial\">").count(), 5, "{dom}");
    // No element came from a value: the page itself has neither.
    for element in ["<script", "<img"] {
        assert!(!dom.contains(element), "{element} in the DOM:\n{dom}");
    }

    let png = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target dir")
        .join("debug-page.png");
    let _ = std::fs::remove_file(&png);
    run_chromium(
        &[
            &format!("--screenshot={}", png.display()),
            "--window-size=1400,1000",
        ],
        &url,
    );
    let size = std::fs::metadata(&png).map(|m| m.len()).unwrap_or(0);
    assert!(
        size > 10_000,
        "no screenshot at {} ({size} bytes)",
        png.display()
    );
}
