//! An HTTP check request → the core's [`Request`]. The original method, path, host and scheme come
//! from exactly the places the configured convention names; anything missing, repeated,
//! oversized or not UTF-8 is refused with a 400 (a [`Refusal`]), never guessed or replaced.

use super::HttpOptions;
use crate::authorizer::refetch_wait;
use crate::decision::{self, HeaderLookup, is_cors_preflight};
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request, StatusCode};
use std::net::SocketAddr;
use std::time::Duration;

/// Which headers carry the original request in forward-auth mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Forwarded {
    /// nginx `auth_request`: `X-Original-Method`, `X-Original-URI`, and the original host
    /// in `Host` (the recipe sets `proxy_set_header Host $host`).
    Nginx,
    /// Traefik and Caddy: `X-Forwarded-Method`, `X-Forwarded-Uri`, `X-Forwarded-Host`.
    Forwarded,
}

/// How one check request is read (and answered).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Convention {
    Envoy,
    ForwardAuth(Forwarded),
}

/// A check request we cannot read: status (400, or 404 for a path no convention serves)
/// and what to tell the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    pub description: String,
}

fn bad(description: impl Into<String>) -> Refusal {
    Refusal {
        status: StatusCode::BAD_REQUEST,
        description: description.into(),
    }
}

/// Bounds on what we read, far above anything a proxy sends and far below what hyper
/// buffers (~400 KB): a target or header larger than this is refused, not matched.
const MAX_TARGET_BYTES: usize = 8 * 1024;
const MAX_HEADERS_BYTES: usize = 64 * 1024;

/// The parts of a check request the core needs, borrowed from the HTTP request.
#[derive(Debug)]
pub struct Parsed<'a> {
    pub request: decision::Request<'a>,
    pub request_id: &'a str,
    /// How long the core may wait for a key refetch.
    pub wait: Duration,
}

/// Picks the convention from the request path alone (the operator chose the prefix and
/// the forward-auth path; headers play no part).
pub(super) fn convention(
    options: &HttpOptions,
    http: &Request<Body>,
) -> Result<Convention, Refusal> {
    let path = http.uri().path();
    if let Some(forwarded) = options.forward_auth
        && path == options.forward_auth_path
    {
        return Ok(Convention::ForwardAuth(forwarded));
    }
    if let Some(prefix) = &options.envoy_path_prefix
        && path
            .strip_prefix(prefix.as_str())
            .is_some_and(|rest| rest.starts_with('/'))
    {
        return Ok(Convention::Envoy);
    }
    Err(Refusal {
        status: StatusCode::NOT_FOUND,
        description: format!("no check convention is served at {path:?}"),
    })
}

/// Converts `http` (read as `convention`) into the core's request.
pub(super) fn to_request<'a>(
    options: &'a HttpOptions,
    convention: Convention,
    http: &'a Request<Body>,
) -> Result<Parsed<'a>, Refusal> {
    let headers = http.headers();
    let total: usize = headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len())
        .sum();
    if total > MAX_HEADERS_BYTES {
        return Err(bad(format!(
            "the request headers exceed {MAX_HEADERS_BYTES} bytes"
        )));
    }
    let (method, path, host, route_name) = match convention {
        Convention::Envoy => {
            let prefix = options.envoy_path_prefix.as_deref().unwrap_or_default();
            let target = http
                .uri()
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .strip_prefix(prefix)
                .unwrap_or("/");
            let route = match &options.route_header {
                Some(name) => optional(headers, name)?,
                None => None,
            };
            (
                http.method().as_str(),
                target,
                required(headers, "host")?,
                route,
            )
        }
        Convention::ForwardAuth(Forwarded::Nginx) => (
            required(headers, "x-original-method")?,
            required(headers, "x-original-uri")?,
            required(headers, "host")?,
            None,
        ),
        Convention::ForwardAuth(Forwarded::Forwarded) => (
            required(headers, "x-forwarded-method")?,
            required(headers, "x-forwarded-uri")?,
            required(headers, "x-forwarded-host")?,
            None,
        ),
    };
    if path.len() > MAX_TARGET_BYTES {
        return Err(bad(format!(
            "the original request target exceeds {MAX_TARGET_BYTES} bytes"
        )));
    }
    if !path.starts_with('/') {
        return Err(bad("the original request target must start with '/'"));
    }
    let request = decision::Request {
        // Every line: nginx, Traefik and Caddy forward repeated headers as separate lines,
        // and two credentials must be refused, not one of them picked.
        authorization: headers
            .get_all("authorization")
            .iter()
            .map(|v| v.as_bytes())
            .collect(),
        dpop: headers
            .get_all("dpop")
            .iter()
            .map(|v| v.as_bytes())
            .collect(),
        method,
        path,
        host,
        scheme: scheme(headers)?,
        route_name,
        cors_preflight: is_cors_preflight(
            first(headers, "origin"),
            first(headers, "access-control-request-method"),
        ),
        // No TLS of our own: a client certificate only in the configured header, believed
        // when the TCP peer (the proxy asking) is a trusted source. The server loop puts
        // the peer in the extensions (`crate::http_server`).
        peer: decision::Peer {
            certificate: None,
            address: http
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(peer)| peer.ip()),
            headers: Some(headers),
        },
    };
    Ok(Parsed {
        request,
        request_id: optional(headers, "x-request-id")
            .ok()
            .flatten()
            .unwrap_or(""),
        wait: refetch_wait(expected_timeout(headers)),
    })
}

/// A `GET`/`HEAD` under the RFC 9728 well-known path that a proxy routed to this listener
/// as to an upstream (no convention's prefix): the client's own request, read with the
/// same care (`Host`, and the scheme from `X-Forwarded-Proto`). `None`: not one.
pub(super) fn document_request(http: &Request<Body>) -> Option<Result<Parsed<'_>, Refusal>> {
    let method = http.method().as_str();
    let path = http.uri().path_and_query().map_or("/", |p| p.as_str());
    if !matches!(method, "GET" | "HEAD") || !path.starts_with(crate::snapshot::resource::WELL_KNOWN)
    {
        return None;
    }
    let headers = http.headers();
    let parsed = required(headers, "host").and_then(|host| {
        Ok(Parsed {
            request: decision::Request {
                method,
                path,
                host,
                scheme: scheme(headers)?,
                ..decision::Request::default()
            },
            request_id: optional(headers, "x-request-id")
                .ok()
                .flatten()
                .unwrap_or(""),
            wait: Duration::ZERO,
        })
    });
    Some(parsed)
}

/// The original scheme, from `X-Forwarded-Proto` in every convention: Envoy's connection
/// manager sets it from the downstream connection (trusting a client's value only with
/// `xff_num_trusted_hops`), and the forward-auth recipes overwrite it. Missing: unknown;
/// anything but one `http` or `https`: refused.
fn scheme(headers: &HeaderMap) -> Result<Option<decision::Scheme>, Refusal> {
    optional(headers, "x-forwarded-proto")?
        .map(|value| {
            decision::Scheme::parse(value.as_bytes())
                .ok_or_else(|| bad("the x-forwarded-proto header must be http or https"))
        })
        .transpose()
}

/// For the configured client certificate header (RFC 8705), looked up only when needed.
impl HeaderLookup for HeaderMap {
    fn values(&self, name: &str) -> Vec<&[u8]> {
        self.get_all(name).iter().map(|v| v.as_bytes()).collect()
    }
}

fn first<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a [u8]> {
    headers.get(name).map(|v| v.as_bytes())
}

/// The single UTF-8 value of `name`, if present; two values are ambiguous (which one would
/// the proxy's upstream see?) and refused.
fn optional<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, Refusal> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(bad(format!("the {name} header appears more than once")));
    }
    std::str::from_utf8(value.as_bytes())
        .map(Some)
        .map_err(|_| bad(format!("the {name} header is not UTF-8")))
}

/// As [`optional`], and missing is refused: the proxy is configured to send it.
fn required<'a>(headers: &'a HeaderMap, name: &str) -> Result<&'a str, Refusal> {
    optional(headers, name)?.ok_or_else(|| {
        bad(format!(
            "the {name} header is missing (the proxy must set it; see the README's HTTP mode section)"
        ))
    })
}

/// Envoy's `x-envoy-expected-rq-timeout-ms`, if sent (forward-auth proxies send none).
fn expected_timeout(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get("x-envoy-expected-rq-timeout-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .map(Duration::from_millis)
}
