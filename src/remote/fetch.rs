//! Fetching a JWK Set over HTTP(S): discovery (RFC 8414, then OpenID Connect), size caps,
//! timeouts, redirect limits, HTTPS only unless allowed, an optional private CA and the
//! provider's proxy (see `outbound`).
//!
//! Only URLs from the trusted config (or from the discovery document of a configured
//! issuer) are ever fetched; nothing a token names is.

use super::outbound::{self, Outbound, Route};
use crate::algorithm::AlgorithmSet;
use crate::jwks::{self, KeySet};
use crate::snapshot::{JwksLocation, Proxy, ProxyServer, RemoteSource};
use reqwest::header::{CACHE_CONTROL, HeaderMap};
use std::time::Duration;

/// At most this many redirects are followed (to another HTTPS URL).
pub const MAX_REDIRECTS: usize = 3;

/// A successful fetch.
#[derive(Debug)]
pub struct Fetched {
    pub keys: KeySet,
    /// `Cache-Control: max-age` of the JWKS response, if any.
    pub max_age: Option<Duration>,
    /// The JWKS URL used (after discovery).
    pub url: String,
}

/// Why a fetch failed. [`FetchError::kind`] is a bounded label for counters.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    #[error("{url}: timed out")]
    Timeout { url: String },
    #[error("{url}: {message}")]
    Network { url: String, message: String },
    #[error("{url}: HTTP status {status}")]
    Status { url: String, status: u16 },
    #[error("{url}: response larger than {max} bytes")]
    TooLarge { url: String, max: usize },
    #[error("{url}: {message}")]
    Invalid { url: String, message: String },
    #[error("{url}: {message}")]
    NoUsableKey { url: String, message: String },
    #[error("discovery for {issuer}: {message}")]
    Discovery { issuer: String, message: String },
    /// The proxy refused, was unreachable or wants other credentials (`proxy` has none).
    #[error("{url}: through proxy {proxy}: {message}")]
    Proxy {
        url: String,
        proxy: String,
        message: String,
    },
}

impl FetchError {
    pub fn kind(&self) -> &'static str {
        match self {
            FetchError::Client(_) => "client",
            FetchError::Timeout { .. } => "timeout",
            FetchError::Network { .. } => "network",
            FetchError::Status { .. } => "http_status",
            FetchError::TooLarge { .. } => "too_large",
            FetchError::Invalid { .. } => "invalid",
            FetchError::NoUsableKey { .. } => "no_usable_key",
            FetchError::Discovery { .. } => "discovery",
            FetchError::Proxy { .. } => "proxy",
        }
    }
}

/// The HTTP clients of one source: `pooled` for every request, `fresh` (no idle
/// connections kept) for the one retry after a pooled connection was lost, and the proxy
/// rule both follow (to name the proxy when it is what failed).
#[derive(Debug, Clone)]
pub struct Client {
    pooled: reqwest::Client,
    fresh: reqwest::Client,
    route: Route,
}

/// The HTTP clients for one source and its provider's `proxy`: the outbound settings
/// (`outbound::client_builder`) plus the redirect limit.
pub fn client(source: &RemoteSource, proxy: &Proxy) -> Result<Client, FetchError> {
    let route = Route::new(proxy).map_err(FetchError::Client)?;
    client_for(&Outbound {
        route: &route,
        ca_pem: source.ca_pem.as_deref(),
        allow_insecure_http: source.allow_insecure_http,
        timeout: source.timeout,
        connect_timeout: source.connect_timeout,
    })
}

/// The GET clients for these outbound settings (also what discovers an introspection
/// endpoint).
pub fn client_for(outbound: &Outbound) -> Result<Client, FetchError> {
    let build = |max_idle: usize| {
        outbound::client_builder(outbound)
            .map_err(FetchError::Client)?
            .redirect(reqwest::redirect::Policy::limited(MAX_REDIRECTS))
            .pool_max_idle_per_host(max_idle)
            .build()
            .map_err(|e| FetchError::Client(e.to_string()))
    };
    Ok(Client {
        pooled: build(usize::MAX)?,
        // With no idle connection kept, every request opens a new one.
        fresh: build(0)?,
        route: outbound.route.clone(),
    })
}

/// Discovers (if configured) and fetches the key set, keeping keys usable with `algorithms`.
/// An empty usable set is an error: the caller keeps its last good keys.
pub async fn fetch_keys(
    client: &Client,
    source: &RemoteSource,
    algorithms: AlgorithmSet,
) -> Result<Fetched, FetchError> {
    let url = match &source.location {
        JwksLocation::Uri(url) => url.clone(),
        JwksLocation::Discovery { issuer } => discover(client, source, issuer).await?,
    };
    let (body, headers) = get_capped(client, &url, source.max_bytes).await?;
    let keys =
        jwks::parse(&body, algorithms, source.max_bytes).map_err(|e| FetchError::Invalid {
            url: url.clone(),
            message: e.to_string(),
        })?;
    for skipped in keys.skipped() {
        tracing::warn!(url = %url, index = skipped.index, kid = ?skipped.kid, why = %skipped.why, "JWK skipped");
    }
    if keys.is_empty() {
        return Err(FetchError::NoUsableKey {
            message: jwks::no_usable_key_message(&keys),
            url,
        });
    }
    Ok(Fetched {
        keys,
        max_age: max_age(&headers),
        url,
    })
}

/// The metadata URLs tried, in order: RFC 8414 (appended, as Okta and most IdPs serve it,
/// then inserted after the host as the RFC writes it for issuers with a path), then OpenID
/// Connect discovery.
pub fn discovery_urls(issuer: &str) -> Vec<String> {
    let base = issuer.trim_end_matches('/');
    let mut urls = vec![format!("{base}/.well-known/oauth-authorization-server")];
    if let Ok(url) = reqwest::Url::parse(issuer) {
        let path = url.path().trim_end_matches('/');
        if !path.is_empty() {
            let mut inserted = url.clone();
            inserted.set_path(&format!("/.well-known/oauth-authorization-server{path}"));
            urls.push(inserted.to_string());
        }
    }
    urls.push(format!("{base}/.well-known/openid-configuration"));
    urls
}

/// The `jwks_uri` of the issuer's metadata (see [`discover_member`]).
async fn discover(
    client: &Client,
    source: &RemoteSource,
    issuer: &str,
) -> Result<String, FetchError> {
    discover_member(client, source.max_bytes, issuer, "jwks_uri").await
}

/// `member` (a URL: `jwks_uri`, `introspection_endpoint`) of the first metadata document
/// found; its `issuer` must equal the configured issuer exactly (RFC 8414 §3.3, OpenID
/// Connect Discovery §4.3).
pub async fn discover_member(
    client: &Client,
    max_bytes: usize,
    issuer: &str,
    member: &str,
) -> Result<String, FetchError> {
    let mut tried = Vec::new();
    for url in discovery_urls(issuer) {
        let body = match get_capped(client, &url, max_bytes).await {
            Ok((body, _)) => body,
            Err(FetchError::Status { status: 404, .. }) => {
                tried.push(format!("{url}: 404"));
                continue;
            }
            Err(e) => return Err(e),
        };
        let doc: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| FetchError::Discovery {
                issuer: issuer.to_owned(),
                message: format!("{url}: not JSON: {e}"),
            })?;
        let found = doc
            .get("issuer")
            .and_then(|v| v.as_str())
            .unwrap_or_default();
        if found != issuer {
            return Err(FetchError::Discovery {
                issuer: issuer.to_owned(),
                message: format!("{url} names issuer {found:?}, not the configured {issuer:?}"),
            });
        }
        return doc
            .get(member)
            .and_then(|v| v.as_str())
            .map(str::to_owned)
            .ok_or_else(|| FetchError::Discovery {
                issuer: issuer.to_owned(),
                message: format!("{url} has no {member}"),
            });
    }
    Err(FetchError::Discovery {
        issuer: issuer.to_owned(),
        message: format!("no metadata document ({})", tried.join(", ")),
    })
}

/// GET `url`, refusing non-2xx answers and bodies over `max` bytes (checked before and
/// while reading, so a huge body is never buffered).
///
/// A connection lost before any answer arrived is retried once, on a new connection: a
/// server may close an idle keep-alive connection just as we reuse it (Node's closes at
/// 6 s while advertising 5 s), and a GET is idempotent (RFC 9112 §9.3.1). hyper-util only
/// retries when the request was not yet written; this covers the request written into a
/// connection the server was closing. Timeouts and HTTP errors are answers (or may be on
/// their way) and are never retried, nor is anything once response bytes have been read.
async fn get_capped(
    client: &Client,
    url: &str,
    max: usize,
) -> Result<(Vec<u8>, HeaderMap), FetchError> {
    // A failure of the proxy this request goes through is named as the proxy's.
    let proxy_error = |(proxy, message): (&ProxyServer, String)| FetchError::Proxy {
        url: url.to_owned(),
        proxy: proxy.url.clone(),
        message,
    };
    let network = |e: reqwest::Error| {
        let message = error_chain(&e);
        if e.is_timeout() {
            FetchError::Timeout {
                url: url.to_owned(),
            }
        } else if let Some(blame) = client.route.blame_error(url, &e, &message) {
            proxy_error(blame)
        } else {
            FetchError::Network {
                url: url.to_owned(),
                message,
            }
        }
    };
    let get =
        |client: &reqwest::Client| client.get(url).header("accept", "application/json").send();
    let mut response = match get(&client.pooled).await {
        Err(e) if lost_before_answer(&e) => {
            tracing::info!(url, error = %error_chain(&e), "connection lost before an answer; retrying once on a new connection");
            get(&client.fresh).await.map_err(network)?
        }
        result => result.map_err(network)?,
    };
    let status = response.status();
    if let Some(blame) = client.route.blame_status(url, status) {
        return Err(proxy_error(blame));
    }
    if !status.is_success() {
        return Err(FetchError::Status {
            url: url.to_owned(),
            status: status.as_u16(),
        });
    }
    if response
        .content_length()
        .is_some_and(|len| len > max as u64)
    {
        return Err(FetchError::TooLarge {
            url: url.to_owned(),
            max,
        });
    }
    let headers = response.headers().clone();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(network)? {
        if body.len() + chunk.len() > max {
            return Err(FetchError::TooLarge {
                url: url.to_owned(),
                max,
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, headers))
}

/// Whether `e` says the connection closed or was reset before any answer arrived, as
/// opposed to a timeout, a failed connect (no connection was reused: nothing to gain from
/// another), TLS, redirect or HTTP-level errors.
pub(crate) fn lost_before_answer(e: &reqwest::Error) -> bool {
    if e.is_timeout() || e.is_connect() || !e.is_request() {
        return false;
    }
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        if let Some(hyper) = cause.downcast_ref::<hyper::Error>() {
            // "connection closed before message completed", or closed before the request
            // could be written.
            if hyper.is_incomplete_message() || hyper.is_canceled() {
                return true;
            }
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::BrokenPipe
            )
        {
            return true;
        }
        source = cause.source();
    }
    false
}

/// `max-age` from `Cache-Control`, ignoring `no-cache`/`no-store` directives (the refresh
/// interval bounds apply anyway).
pub fn max_age(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(CACHE_CONTROL)?.to_str().ok()?;
    value
        .split(',')
        .filter_map(|d| d.trim().strip_prefix("max-age="))
        .find_map(|n| n.trim_matches('"').parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// The error and its sources, e.g. "error sending request: … certificate …", so TLS
/// failures say why.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_tries_rfc8414_then_openid() {
        assert_eq!(
            discovery_urls("https://idp.test"),
            [
                "https://idp.test/.well-known/oauth-authorization-server",
                "https://idp.test/.well-known/openid-configuration"
            ]
        );
        assert_eq!(
            discovery_urls("https://idp.test/oauth2/default"),
            [
                "https://idp.test/oauth2/default/.well-known/oauth-authorization-server",
                "https://idp.test/.well-known/oauth-authorization-server/oauth2/default",
                "https://idp.test/oauth2/default/.well-known/openid-configuration",
            ]
        );
        assert_eq!(
            discovery_urls("https://tenant.auth0.test/")[1],
            "https://tenant.auth0.test/.well-known/openid-configuration"
        );
    }

    #[test]
    fn max_age_is_read_from_cache_control() {
        let mut headers = HeaderMap::new();
        assert_eq!(max_age(&headers), None);
        headers.insert(
            CACHE_CONTROL,
            "public, max-age=3600, must-revalidate".parse().unwrap(),
        );
        assert_eq!(max_age(&headers), Some(Duration::from_secs(3600)));
        headers.insert(CACHE_CONTROL, "no-store".parse().unwrap());
        assert_eq!(max_age(&headers), None);
    }
}
