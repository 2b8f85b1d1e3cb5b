//! The HTTP front end (`--http-listen`): one listener answering Envoy's `ext_authz`
//! `http_service` (and Istio's `envoyExtAuthzHttp`) and the forward-auth convention of
//! nginx `auth_request`, Traefik `ForwardAuth` and Caddy `forward_auth`. Like the gRPC
//! front end it only converts ([`request`] → [`Authorizer::check`] → [`response`]).
//!
//! Which convention is served, and which forwarded headers are believed, is configured
//! ([`HttpOptions`]), never inferred from the request: every forwarded header is
//! client-forgeable unless the proxy in front overwrites it, and only the operator knows
//! which proxy that is.

mod request;
mod response;
#[cfg(test)]
mod tests;

use crate::authorizer::Authorizer;
use crate::observe::Origin;
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::Request;
use axum::response::Response;
use std::net::SocketAddr;
use std::sync::Arc;

pub use request::{Convention, Forwarded};

/// What the HTTP listener serves, from the `--http-*` flags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpOptions {
    /// Envoy `http_service`: check requests arrive at this prefix + the original path
    /// (Envoy's `path_prefix`); `None` turns the Envoy convention off.
    pub envoy_path_prefix: Option<String>,
    /// Envoy convention only: the request header whose value names the route (what
    /// `context_extensions["route"]` is over gRPC). Envoy must set it from its route table
    /// after removing any client copy (`envoy/envoy-http.yaml`); `None`: no route names.
    pub route_header: Option<String>,
    /// Forward auth: the headers carrying the original request; `None` turns it off.
    pub forward_auth: Option<Forwarded>,
    /// The fixed path forward-auth proxies call.
    pub forward_auth_path: String,
}

/// The default forward-auth path (the one every recipe in `envoy/` calls).
pub const DEFAULT_FORWARD_AUTH_PATH: &str = "/forward-auth";

impl HttpOptions {
    /// Why these options cannot serve, if they cannot: a listener with neither convention
    /// would deny everything, which is certainly a mistake.
    pub fn problem(&self) -> Option<String> {
        if self.envoy_path_prefix.is_none() && self.forward_auth.is_none() {
            return Some(
                "--http-listen needs --http-envoy-path-prefix or --http-forward-auth (or both)"
                    .into(),
            );
        }
        if let Some(prefix) = &self.envoy_path_prefix
            && (!prefix.starts_with('/') || prefix.ends_with('/'))
        {
            return Some(format!(
                "--http-envoy-path-prefix must start with '/' and not end with one (Envoy's path_prefix); got {prefix:?}"
            ));
        }
        if let Some(name) = &self.route_header
            && axum::http::HeaderName::from_bytes(name.as_bytes())
                .map_or(true, |h| h.as_str() != name)
        {
            return Some(format!(
                "--http-route-header must be a lowercase header name; got {name:?}"
            ));
        }
        if !self.forward_auth_path.starts_with('/') {
            return Some(format!(
                "--http-forward-auth-path must start with '/'; got {:?}",
                self.forward_auth_path
            ));
        }
        None
    }
}

struct Shared {
    authorizer: Authorizer,
    options: HttpOptions,
}

/// Serves the [`router`] on `listener` until `shutdown`, then lets in-flight checks finish
/// (with the bounds of [`crate::http_server`]).
pub async fn serve(
    listener: tokio::net::TcpListener,
    authorizer: Authorizer,
    options: HttpOptions,
    header_read_timeout: std::time::Duration,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(authorizer, options);
    crate::http_server::serve(listener, app, header_read_timeout, shutdown).await
}

/// The router: every path goes to one handler, which picks the convention from the path.
pub fn router(authorizer: Authorizer, options: HttpOptions) -> Router {
    Router::new().fallback(check).with_state(Arc::new(Shared {
        authorizer,
        options,
    }))
}

async fn check(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    http: Request<Body>,
) -> Response {
    let convention = match request::convention(&shared.options, &http) {
        Ok(convention) => convention,
        Err(refusal) => {
            return document(&shared, peer, &http).unwrap_or_else(|| response::refused(refusal));
        }
    };
    let parsed = match request::to_request(&shared.options, convention, &http) {
        Ok(parsed) => parsed,
        Err(refusal) => return response::refused(refusal),
    };
    let origin = Origin {
        request_id: parsed.request_id,
        client: &peer,
        headers: http.headers(),
    };
    let decision = shared
        .authorizer
        .check(&parsed.request, origin, parsed.wait)
        .await;
    response::to_response(convention, decision)
}

/// The RFC 9728 document, when the proxy routes a metadata path to this listener: a 200
/// here would only mean "allow" inside a check, so the proxy sends the client's request
/// itself (see the README's "MCP servers"). `None`: not a metadata request we can answer.
fn document(shared: &Shared, peer: SocketAddr, http: &Request<Body>) -> Option<Response> {
    let parsed = match request::document_request(http)? {
        Ok(parsed) => parsed,
        Err(refusal) => return Some(response::refused(refusal)),
    };
    let origin = Origin {
        request_id: parsed.request_id,
        client: &peer,
        headers: http.headers(),
    };
    match shared.authorizer.document(&parsed.request, origin)? {
        crate::decision::Decision::Serve(serve) => Some(response::served(*serve)),
        // The deny of an `auto` URL that cannot be built (a 500 naming why).
        decision => Some(response::to_response(Convention::Envoy, decision)),
    }
}
