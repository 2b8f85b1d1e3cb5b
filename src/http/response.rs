//! The core's [`Decision`] → the HTTP answer each convention expects.
//!
//! Allow is exactly `200` (Envoy treats any other 2xx as a deny) with the identity headers;
//! in the Envoy convention it also names, in `x-envoy-auth-headers-to-remove`, the headers
//! Envoy must delete upstream (the gRPC `headers_to_remove`): HTTP mode never removes a
//! client-sent header by itself. A deny is our status, `WWW-Authenticate` and JSON body;
//! for nginx, which never shows the subrequest's body, the body is repeated in
//! `x-authz-error-body` for the recipe's `error_page` to send.

use super::request::{Convention, Forwarded, Refusal};
use crate::decision::{Allow, Decision, Deny, JSON_ANSWER_HEADERS, Serve};
use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;

/// Envoy `http_service` removes these request headers before the upstream on a 200.
const HEADERS_TO_REMOVE: &str = "x-envoy-auth-headers-to-remove";
/// The JSON body of a deny, for the nginx recipe.
pub const ERROR_BODY_HEADER: &str = "x-authz-error-body";

pub fn to_response(convention: Convention, decision: Decision) -> Response {
    match decision {
        Decision::Allow(allow) => allowed(convention, allow),
        Decision::Deny(deny) => denied(convention, deny),
        // A 200 here means allow, so no check answer can carry the document: let the
        // request through with no identity, for the proxy to route the metadata path to
        // our listener, which serves it ([`served`]).
        Decision::Serve(serve) => allowed(convention, serve.pass),
    }
}

fn allowed(convention: Convention, allow: Allow) -> Response {
    let mut response = Response::new(Body::empty());
    let headers = response.headers_mut();
    for (name, value) in allow.set_headers {
        // Names and values were checked when the config compiled and the claims were
        // verified; one that still is not a valid header is dropped, not sent half-made
        // (and its absence is safe: removed below or by the proxy's config).
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            headers.insert(name, value);
        }
    }
    if convention == Convention::Envoy
        && !allow.remove_headers.is_empty()
        && let Ok(value) = HeaderValue::try_from(allow.remove_headers.join(", "))
    {
        headers.insert(HEADERS_TO_REMOVE, value);
    }
    response
}

fn denied(convention: Convention, mut deny: Deny) -> Response {
    let status = StatusCode::from_u16(deny.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = std::mem::take(&mut deny.body);
    json_answer(convention, status, deny.headers(), body)
}

/// The document itself, for a metadata request the proxy routed to our listener.
pub fn served(serve: Serve) -> Response {
    let mut response = Response::new(Body::from(serve.body.clone()));
    let headers = response.headers_mut();
    for (name, value) in serve.headers() {
        if let Ok(value) = HeaderValue::try_from(value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
    response
}

/// A request we could not read: 400 (or 404) with the same JSON shape as a deny.
pub fn refused(refusal: Refusal) -> Response {
    let body = serde_json::json!({
        "error": if refusal.status == StatusCode::BAD_REQUEST { "invalid_request" } else { "not_found" },
        "error_description": refusal.description,
    })
    .to_string();
    // A refusal names no convention we trust for the nginx header, but nginx shows nothing
    // else: send it (it carries only our own text).
    json_answer(
        Convention::ForwardAuth(Forwarded::Nginx),
        refusal.status,
        JSON_ANSWER_HEADERS,
        body,
    )
}

/// `body` with `headers` (each as given, or dropped if it is not a valid header value:
/// all are our own text), and for nginx the body repeated in [`ERROR_BODY_HEADER`].
fn json_answer<'a>(
    convention: Convention,
    status: StatusCode,
    headers: impl IntoIterator<Item = (&'static str, &'a str)>,
    body: String,
) -> Response {
    let echoed = (convention == Convention::ForwardAuth(Forwarded::Nginx))
        .then(|| HeaderValue::try_from(body.as_str()).ok())
        .flatten();
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let map = response.headers_mut();
    for (name, value) in headers {
        if let Ok(value) = HeaderValue::try_from(value) {
            map.insert(HeaderName::from_static(name), value);
        }
    }
    if let Some(echoed) = echoed {
        map.insert(ERROR_BODY_HEADER, echoed);
    }
    response
}
