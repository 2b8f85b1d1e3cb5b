//! How a provider's requests leave the process: [`client_builder`] is the one place a
//! `reqwest::ClientBuilder` gets its proxy, trusted CAs, HTTPS-only rule and timeouts (the
//! JWKS and discovery client uses it; an introspection client should too), and [`Route`] is
//! the one rule for which proxy, if any, a URL goes through — used by those requests, by
//! the errors that name the proxy, and by `/status`.
//!
//! The choice: the provider's `proxy:` server, else direct for `proxy: none`, else the
//! environment ([`EnvProxies`]). reqwest's own lookup is switched off (`no_proxy()`): with
//! `default-features = false` reqwest 0.13 still reads `HTTP(S)_PROXY`, `ALL_PROXY` and
//! `NO_PROXY` by itself for every client (its `system-proxy` feature only adds the macOS
//! and Windows settings), and a second, unseen decision would let `/status` and errors name
//! a proxy other than the one used, or none.

use super::env_proxy::EnvProxies;
use crate::snapshot::{JwksLocation, Proxy, ProxyServer, RemoteSource};
use reqwest::Url;
use std::sync::Arc;
use std::time::Duration;

/// Everything about how one provider's requests reach the network.
pub struct Outbound<'a> {
    pub route: &'a Route,
    /// Extra trusted CA certificates (PEM bundle), beside the system roots.
    pub ca_pem: Option<&'a [u8]>,
    pub allow_insecure_http: bool,
    /// The whole request.
    pub timeout: Duration,
    pub connect_timeout: Duration,
}

/// A provider's proxy rule, resolved (the environment read).
#[derive(Debug, Clone)]
pub enum Route {
    Direct,
    Always(ProxyServer),
    Env(Arc<EnvProxies>),
}

impl Route {
    /// The rule for `proxy`; an unusable proxy environment variable is an error for the
    /// providers that rely on it (those without a `proxy:`).
    pub fn new(proxy: &Proxy) -> Result<Route, String> {
        Ok(match proxy {
            Proxy::Direct => Route::Direct,
            Proxy::Server(server) => Route::Always(server.clone()),
            Proxy::Env => Route::Env(EnvProxies::process()?),
        })
    }

    /// The proxy a request to `url` goes through, if any.
    pub fn server_for(&self, url: &Url) -> Option<&ProxyServer> {
        match self {
            Route::Direct => None,
            Route::Always(server) => Some(server),
            Route::Env(env) => env.server_for(url),
        }
    }

    /// [`Route::server_for`] of a URL in text (none for text that is not a URL).
    pub fn server_for_str(&self, url: &str) -> Option<&ProxyServer> {
        Url::parse(url).ok().and_then(|url| self.server_for(&url))
    }

    /// The proxy to blame when a request to `url` failed with `e` (whose error chain reads
    /// `chain`), and what to report. It is the proxy's failure when no connection to the
    /// IdP was made: for an http target the only connection is the proxy's, so every
    /// connect error is; for https only a failed `CONNECT` tunnel is, not the TLS handshake
    /// with the IdP inside it. hyper-util keeps its tunnel error type private, so that is
    /// recognised by its text (`tunnel error: …`); the tests through a real proxy fail if
    /// it changes.
    pub fn blame_error(
        &self,
        url: &str,
        e: &reqwest::Error,
        chain: &str,
    ) -> Option<(&ProxyServer, String)> {
        let proxy = self.server_for_str(url)?;
        let failed = e.is_connect() && (url.starts_with("http:") || chain.contains("tunnel error"));
        failed.then(|| (proxy, with_hint(chain.to_owned())))
    }

    /// The proxy that answered a request to `url` with a 407 itself (an http target's
    /// request goes to the proxy, which answers it when the credentials are wrong).
    pub fn blame_status(
        &self,
        url: &str,
        status: reqwest::StatusCode,
    ) -> Option<(&ProxyServer, String)> {
        let proxy = self.server_for_str(url)?;
        (status == reqwest::StatusCode::PROXY_AUTHENTICATION_REQUIRED).then(|| {
            (
                proxy,
                with_hint(format!("HTTP status 407: {PROXY_AUTH_REQUIRED}")),
            )
        })
    }

    fn servers(&self) -> Vec<&ProxyServer> {
        let mut servers: Vec<&ProxyServer> = match self {
            Route::Direct => Vec::new(),
            Route::Always(server) => vec![server],
            Route::Env(env) => env.servers().collect(),
        };
        servers.dedup();
        servers
    }
}

/// How hyper-util words a `CONNECT` answered 407.
const PROXY_AUTH_REQUIRED: &str = "proxy authorization required";

/// A 407's message, with what to check.
fn with_hint(message: String) -> String {
    if message.ends_with(PROXY_AUTH_REQUIRED) {
        format!(
            "{message} (check the provider's proxy.credentials_file, or the user:password of the proxy variable)"
        )
    } else {
        message
    }
}

/// A client builder for one provider's requests: its proxy rule (and nothing else), the
/// system roots plus `ca_pem`, HTTPS only unless `allow_insecure_http`, the timeouts and our
/// user agent. Redirects and pooling are the caller's: they depend on what it sends.
pub fn client_builder(outbound: &Outbound) -> Result<reqwest::ClientBuilder, String> {
    let mut builder = reqwest::Client::builder()
        .no_proxy()
        .connect_timeout(outbound.connect_timeout)
        .timeout(outbound.timeout)
        .https_only(!outbound.allow_insecure_http)
        .user_agent(concat!("envoy-jwt-authz/", env!("CARGO_PKG_VERSION")));
    // One reqwest proxy per server, each taking exactly the URLs `Route` sends to it, so
    // the credentials of one are never offered to another. They go in as basic auth, never
    // into a URL: the url crate leaves a `%` in userinfo as it is, and hyper-util decodes it.
    for server in outbound.route.servers() {
        let (route, this) = (outbound.route.clone(), server.clone());
        let mut proxy = reqwest::Proxy::custom(move |url| {
            (route.server_for(url) == Some(&this)).then(|| this.url.clone())
        });
        if let Some(c) = &server.credentials {
            proxy = proxy.basic_auth(&c.user, &c.password);
        }
        builder = builder.proxy(proxy);
    }
    if let Some(pem) = outbound.ca_pem {
        let certs = reqwest::Certificate::from_pem_bundle(pem).map_err(|e| e.to_string())?;
        builder = builder.tls_certs_merge(certs);
    }
    Ok(builder)
}

/// What `/status` says of a remote provider's proxy: the one its first request (the JWKS
/// URL, or the issuer for discovery) goes through — a URL without credentials, or `None`
/// for direct — and what chose it: `config` (`proxy:` names a server), `none`
/// (`proxy: none`) or `env` (the environment, when its variables are usable).
pub fn describe(proxy: &Proxy, source: &RemoteSource) -> (Option<String>, &'static str) {
    let url = match &source.location {
        JwksLocation::Uri(url) => url,
        JwksLocation::Discovery { issuer } => issuer,
    };
    describe_url(proxy, url)
}

/// [`describe`] for a request to `url` (an introspection endpoint, or the issuer whose
/// metadata names it).
pub fn describe_url(proxy: &Proxy, url: &str) -> (Option<String>, &'static str) {
    let chosen_by = match proxy {
        Proxy::Server(_) => "config",
        Proxy::Direct => "none",
        Proxy::Env => "env",
    };
    let server = Route::new(proxy)
        .ok()
        .and_then(|route| route.server_for_str(url).map(|s| s.url.clone()));
    (server, chosen_by)
}
