//! Keys through a corporate proxy: the loopback proxy (`support::connect_proxy`) is the only
//! way to reach the IdP's name. A provider's `proxy:`, `HTTPS_PROXY` / `HTTP_PROXY` in the
//! server's environment, `NO_PROXY` and `proxy: none` going direct (where the name does not
//! resolve), basic auth from a credentials file, proxy failures that keep the last good
//! keys, and the proxy password in no log line, `/status` or `/metrics`.

use super::{Running, WAIT, jwks_of, remote_config, token};
use crate::support::connect_proxy::{ConnectProxy, PROXIED_HOST, base64};
use crate::support::envoy::Envoy;
use crate::support::idp::Idp;
use crate::support::server::Server;
use crate::support::{ISSUER, ec_key, http, wait_for};
use serde_json::Value;
use std::path::Path;

/// An HTTPS IdP and a directory holding its CA (`ca.pem`), for credentials files too.
fn https_idp() -> (Idp, tempfile::TempDir) {
    let idp = Idp::https(&jwks_of(&[&ec_key()]));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), idp.ca_pem.as_ref().unwrap()).unwrap();
    (idp, dir)
}

/// A provider fetching `https://idp.corp.test:PORT/jwks` (trusting the CA in `dir`), with
/// `provider` lines (e.g. its `proxy:`) after its `jwks`.
fn proxied(idp: &Idp, dir: &Path, provider: &str) -> String {
    let jwks = format!(
        "      uri: {}\n      tls: {{ ca_file: {} }}\n      timeout: 2s\n",
        idp.jwks_url_as(PROXIED_HOST),
        dir.join("ca.pem").display()
    );
    format!("{}{provider}", remote_config(ISSUER, &jwks))
}

fn proxy_line(proxy: &ConnectProxy, credentials: Option<&Path>) -> String {
    match credentials {
        None => format!("    proxy: {{ url: '{}' }}\n", proxy.url()),
        Some(file) => format!(
            "    proxy: {{ url: '{}', credentials_file: {} }}\n",
            proxy.url(),
            file.display()
        ),
    }
}

/// What the proxy sees of a fetch of `idp`'s keys through it.
fn authority(idp: &Idp) -> String {
    format!("{PROXIED_HOST}:{}", idp.addr.port())
}

fn start_env(config: &str, env: &[(&str, &str)]) -> Running {
    let server = Server::start_with_env(config, env);
    let envoy = Envoy::start(server.grpc.port(), false);
    Running { server, envoy }
}

fn ready(server: &Server) -> bool {
    http::request(server.admin, "GET", "/readyz", &[]).is_ok_and(|r| r.status == 200)
}

/// `/status` of the one provider.
fn provider_status(server: &Server) -> Value {
    server.status()["providers"][0].clone()
}

/// Waits for a failed fetch of `kind`; its error.
fn failure(server: &Server, kind: &str) -> String {
    wait_for(&format!("a `{kind}` fetch failure"), WAIT, || {
        let jwks = &provider_status(server)["jwks"];
        (jwks["fetches"][kind].as_u64() >= Some(1)).then(|| jwks["last_error"].to_string())
    })
}

/// `(proxy, proxy_source)` of the one provider in `/status`.
fn named_proxy(server: &Server) -> (Value, Value) {
    let p = provider_status(server);
    (p["proxy"].clone(), p["proxy_source"].clone())
}

#[test]
fn only_the_proxy_reaches_the_idp_and_a_provider_proxy_takes_the_fetch_there() {
    let (idp, dir) = https_idp();
    let proxy = ConnectProxy::open();
    let r = start_env(&proxied(&idp, dir.path(), ""), &[]);
    let error = failure(&r.server, "network");
    assert!(error.contains(PROXIED_HOST), "{error}");
    assert!(!r.ready(), "the name does not resolve without the proxy");
    assert_eq!(r.status_of(&token(&ec_key())), 503);
    assert_eq!(named_proxy(&r.server), (Value::Null, "env".into()));
    // The provider gains a proxy: a new refresher for the changed provider, through it.
    let config = proxied(&idp, dir.path(), &proxy_line(&proxy, None));
    std::fs::write(r.server.config_path(), &config).unwrap();
    r.wait_ready();
    assert_eq!(r.status_of(&token(&ec_key())), 200);
    assert_eq!(proxy.connects(), [authority(&idp)], "one CONNECT, by name");
    assert_eq!(
        named_proxy(&r.server),
        (proxy.url().into(), "config".into())
    );
    assert_eq!(r.jwks_status()["url"], idp.jwks_url_as(PROXIED_HOST));

    // The proxy goes away: a fetch failure of its own kind, naming it; the keys stay.
    let proxy_url = proxy.url();
    drop(proxy);
    let (status, body) = r.refresh();
    assert_eq!(status, 502, "{body}");
    let error = body["idp"]["error"].as_str().unwrap();
    assert!(
        error.contains(&format!("through proxy {proxy_url}: ")),
        "{error}"
    );
    assert_eq!(
        r.jwks_status()["fetches"]["proxy"],
        1,
        "{}",
        r.jwks_status()
    );
    let metrics = http::request(r.server.admin, "GET", "/metrics", &[])
        .unwrap()
        .body;
    let line = r#"jwks_fetch_total{provider="idp",result="proxy"} 1"#;
    assert!(metrics.contains(line), "{metrics}");
    assert_eq!(r.status_of(&token(&ec_key())), 200, "the last good keys");
    assert!(r.ready());
}

#[test]
fn a_tls_failure_with_the_idp_inside_the_tunnel_is_not_the_proxys() {
    let (idp, dir) = https_idp();
    let proxy = ConnectProxy::open();
    let ca_line = format!(
        "      tls: {{ ca_file: {} }}\n",
        dir.path().join("ca.pem").display()
    );
    let untrusting = proxied(&idp, dir.path(), &proxy_line(&proxy, None)).replace(&ca_line, "");
    let server = Server::start(&untrusting);
    let error = failure(&server, "network").to_lowercase();
    assert!(error.contains("certificate"), "{error}");
    assert_eq!(proxy.connects(), [authority(&idp)], "the tunnel was made");
}

#[test]
fn https_proxy_in_the_environment_is_used_unless_no_proxy_or_proxy_none_says_otherwise() {
    let (idp, dir) = https_idp();
    let config = proxied(&idp, dir.path(), "");
    for var in ["HTTPS_PROXY", "https_proxy"] {
        let proxy = ConnectProxy::open();
        let r = start_env(&config, &[(var, &proxy.url())]);
        r.wait_ready();
        assert_eq!(r.status_of(&token(&ec_key())), 200, "{var}");
        assert_eq!(proxy.connects(), [authority(&idp)], "{var}");
        assert_eq!(named_proxy(&r.server), (proxy.url().into(), "env".into()));
    }
    let proxy = ConnectProxy::open();
    let bypassed = Server::start_with_env(
        &config,
        &[
            ("HTTPS_PROXY", &proxy.url()),
            ("NO_PROXY", "localhost, .corp.test"),
        ],
    );
    failure(&bypassed, "network");
    assert!(
        !ready(&bypassed),
        "NO_PROXY sends it direct, where the name does not resolve"
    );
    assert_eq!(named_proxy(&bypassed), (Value::Null, "env".into()));
    let direct = Server::start_with_env(
        &proxied(&idp, dir.path(), "    proxy: none\n"),
        &[("HTTPS_PROXY", &proxy.url())],
    );
    failure(&direct, "network");
    assert!(!ready(&direct), "`proxy: none` beats the environment");
    assert_eq!(named_proxy(&direct), (Value::Null, "none".into()));
    assert_eq!(proxy.requests(), Vec::<String>::new());
}

const CREDENTIALS: &str = "corp-svc:Pr0xy-s3cret%41";
const PASSWORD: &str = "Pr0xy-s3cret";

/// No `needle` in what the server logged, `/status` or `/metrics` — the password, nor
/// the `Basic` credentials it travels in.
fn assert_never_shown(server: &Server) {
    let status = http::request(server.debug, "GET", "/status", &[])
        .unwrap()
        .body;
    let metrics = http::request(server.admin, "GET", "/metrics", &[])
        .unwrap()
        .body;
    for (name, text) in [
        ("log", server.log()),
        ("/status", status),
        ("/metrics", metrics),
    ] {
        for needle in [PASSWORD, &base64(CREDENTIALS), "wrong-pw"] {
            assert!(!text.contains(needle), "{name} shows {needle:?}:\n{text}");
        }
    }
}

#[test]
fn a_proxy_wanting_basic_auth_gets_it_from_the_credentials_file_and_the_password_shows_nowhere() {
    let (idp, dir) = https_idp();
    let proxy = ConnectProxy::with_basic_auth(CREDENTIALS);
    let anonymous = Server::start(&proxied(&idp, dir.path(), &proxy_line(&proxy, None)));
    let error = failure(&anonymous, "proxy");
    assert!(
        error.contains(&format!("through proxy {}: ", proxy.url()))
            && error.contains("proxy authorization required (check"),
        "{error}"
    );
    assert!(!ready(&anonymous));

    let credentials = dir.path().join("proxy-credentials");
    std::fs::write(&credentials, "corp-svc:wrong-pw\n").unwrap();
    // Debug logging too: nothing reqwest or hyper log may carry the credentials.
    let r = start_env(
        &proxied(&idp, dir.path(), &proxy_line(&proxy, Some(&credentials))),
        &[("RUST_LOG", "debug")],
    );
    let error = failure(&r.server, "proxy");
    assert!(error.contains("proxy authorization required"), "{error}");
    assert!(!r.ready());
    // The file is watched: the right password gives the provider a new client.
    std::fs::write(&credentials, format!("{CREDENTIALS}\n")).unwrap();
    r.wait_ready();
    assert_eq!(r.status_of(&token(&ec_key())), 200);
    assert_eq!(proxy.connects().last(), Some(&authority(&idp)));
    assert_never_shown(&anonymous);
    assert_never_shown(&r.server);

    // The same credentials in the variable's URL (`%` escaped): used, never shown.
    let proxy_url = format!("http://corp-svc:Pr0xy-s3cret%2541@{}", proxy.addr);
    let from_env = start_env(
        &proxied(&idp, dir.path(), ""),
        &[("HTTPS_PROXY", &proxy_url), ("RUST_LOG", "debug")],
    );
    from_env.wait_ready();
    assert_eq!(from_env.status_of(&token(&ec_key())), 200);
    assert_eq!(
        named_proxy(&from_env.server),
        (proxy.url().into(), "env".into())
    );
    assert_never_shown(&from_env.server);
}

#[test]
fn a_plain_http_idp_is_fetched_through_the_proxy_in_absolute_form() {
    let idp = Idp::http(&jwks_of(&[&ec_key()]));
    let config = remote_config(
        ISSUER,
        &format!(
            "      uri: {}\n      allow_insecure_http: true\n      timeout: 2s\n",
            idp.jwks_url_as(PROXIED_HOST)
        ),
    );
    let proxy = ConnectProxy::open();
    let r = start_env(&config, &[("http_proxy", &proxy.url())]);
    r.wait_ready();
    assert_eq!(r.status_of(&token(&ec_key())), 200);
    assert_eq!(
        proxy.requests(),
        [format!("GET {}", idp.jwks_url_as(PROXIED_HOST))]
    );
    // A 407 to a plain request is the proxy's answer, not the IdP's status.
    let guarded = ConnectProxy::with_basic_auth(CREDENTIALS);
    let refused = Server::start_with_env(&config, &[("HTTP_PROXY", &guarded.url())]);
    let error = failure(&refused, "proxy");
    assert!(
        error.contains("HTTP status 407: proxy authorization required"),
        "{error}"
    );
    assert_eq!(
        provider_status(&refused)["jwks"]["fetches"]["http_status"],
        Value::Null
    );
}
