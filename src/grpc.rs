//! The `envoy.service.auth.v3.Authorization` service: a front end of the [`Authorizer`]. It
//! converts protobuf to a [`Request`], gives the core 80 % of Envoy's `grpc-timeout` to wait
//! for a key refetch, and converts the [`Decision`] back. A deny is an OK RPC carrying
//! `denied_response`; a gRPC error means only that the request could not be understood at
//! all.

use crate::authorizer::{Authorizer, refetch_wait};
use crate::decision::{
    Allow, Decision, Deny, HeaderLookup, Peer, Request, Scheme, Serve, is_cors_preflight,
};
use crate::observe::{Observer, Origin};
use crate::proto::envoy::config::core::v3::header_value_option::HeaderAppendAction;
use crate::proto::envoy::config::core::v3::{HeaderValue, HeaderValueOption};
use crate::proto::envoy::config::core::v3::{SocketAddress, address, socket_address};
use crate::proto::envoy::service::auth::v3::AttributeContext;
use crate::proto::envoy::service::auth::v3::attribute_context::{self, HttpRequest};
use crate::proto::envoy::service::auth::v3::authorization_server::Authorization;
use crate::proto::envoy::service::auth::v3::check_response::HttpResponse;
use crate::proto::envoy::service::auth::v3::{
    CheckRequest, CheckResponse, DeniedHttpResponse, MetadataStruct, MetadataValue, OkHttpResponse,
    metadata_struct, metadata_value,
};
use crate::proto::envoy::r#type::v3::HttpStatus;
use crate::proto::google::rpc;
use crate::remote::RemoteKeys;
use crate::snapshot::SharedSnapshot;
use crate::token::cache::TokenCache;
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tonic::{Response, Status};

pub mod connection;
#[doc(hidden)]
pub mod envoy_sample;

/// `google.rpc.Code` OK (denials carry their reason's code).
const OK: i32 = 0;

/// The Check service over the [`Authorizer`].
#[derive(Clone)]
pub struct AuthzService {
    authorizer: Authorizer,
}

impl AuthzService {
    /// A service over a new [`Authorizer`] (see [`Authorizer::new`]).
    pub fn new(
        snapshot: impl Into<SharedSnapshot>,
        remote: Option<Arc<RemoteKeys>>,
        observer: Arc<Observer>,
    ) -> AuthzService {
        AuthzService::over(Authorizer::new(snapshot, remote, observer))
    }

    /// The service for `authorizer`.
    pub fn over(authorizer: Authorizer) -> AuthzService {
        AuthzService { authorizer }
    }

    /// Answers repeated tokens from `cache` (see [`TokenCache`]).
    pub fn with_cache(self, cache: Option<Arc<TokenCache>>) -> AuthzService {
        AuthzService::over(self.authorizer.with_cache(cache))
    }
}

/// Envoy's `grpc-timeout` (e.g. `200m`, `1S`), if it sent one.
fn grpc_timeout(metadata: &tonic::metadata::MetadataMap) -> Option<Duration> {
    metadata
        .get("grpc-timeout")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (number, unit) = v.split_at(v.len().checked_sub(1)?);
            let n: u64 = number.parse().ok()?;
            Some(match unit {
                "H" => Duration::from_secs(n.saturating_mul(3600)),
                "M" => Duration::from_secs(n.saturating_mul(60)),
                "S" => Duration::from_secs(n),
                "m" => Duration::from_millis(n),
                "u" => Duration::from_micros(n),
                "n" => Duration::from_nanos(n),
                _ => return None,
            })
        })
}

#[tonic::async_trait]
impl Authorization for AuthzService {
    async fn check(
        &self,
        request: tonic::Request<CheckRequest>,
    ) -> Result<Response<CheckResponse>, Status> {
        let (metadata, _, check) = request.into_parts();
        let wait = refetch_wait(grpc_timeout(&metadata));
        let Some(attributes) = check.attributes.as_ref() else {
            return Err(Status::invalid_argument("CheckRequest has no attributes"));
        };
        let http = attributes
            .request
            .as_ref()
            .and_then(|r| r.http.as_ref())
            .ok_or_else(|| {
                Status::invalid_argument("CheckRequest has no attributes.request.http")
            })?;
        let request = to_request(
            http,
            &attributes.context_extensions,
            attributes.source.as_ref(),
        )?;
        let origin = Origin {
            request_id: header(http, "x-request-id")
                .and_then(|v| std::str::from_utf8(v).ok())
                .unwrap_or(""),
            client: &ClientAddress(attributes),
            headers: &TraceHeaders {
                metadata: &metadata,
                http,
            },
        };
        let decision = self.authorizer.check(&request, origin, wait).await;
        Ok(Response::new(to_response(decision)))
    }
}

/// Every occurrence of the header `name` (lowercase): the joined value from `headers`, and
/// one value per line from `header_map` (sent instead with `encode_raw_headers: true`).
fn header_values<'a>(http: &'a HttpRequest, name: &str) -> impl Iterator<Item = &'a [u8]> {
    let joined = http
        .headers
        .iter()
        .filter(move |h| h.key == name.as_bytes())
        .map(|h| &h.value[..]);
    let raw = http
        .header_map
        .iter()
        .flat_map(|map| map.headers.iter())
        .filter(move |h| h.key.eq_ignore_ascii_case(name))
        .map(|h| {
            if h.raw_value.is_empty() {
                h.value.as_bytes()
            } else {
                &h.raw_value[..]
            }
        });
    joined.chain(raw)
}

/// For the configured client certificate header (RFC 8705), looked up only when needed.
impl HeaderLookup for HttpRequest {
    fn values(&self, name: &str) -> Vec<&[u8]> {
        header_values(self, name).collect()
    }
}

/// The socket address of a peer (Envoy's `source` / `destination`), if it has one.
fn socket_of(peer: Option<&attribute_context::Peer>) -> Option<&SocketAddress> {
    peer.and_then(|p| p.address.as_ref())
        .and_then(|a| match &a.address {
            Some(address::Address::SocketAddress(socket)) => Some(socket),
            _ => None,
        })
}

/// `address:port` of the downstream client as Envoy saw it, formatted only when an audit
/// event is actually written.
struct ClientAddress<'a>(&'a AttributeContext);

impl std::fmt::Display for ClientAddress<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Some(socket) = socket_of(self.0.source.as_ref()) else {
            return Ok(());
        };
        f.write_str(&String::from_utf8_lossy(&socket.address))?;
        match socket.port_specifier {
            Some(socket_address::PortSpecifier::PortValue(port)) => write!(f, ":{port}"),
            _ => Ok(()),
        }
    }
}

/// The first value of `name`, without collecting the rest (a lookup on every Check).
fn header<'a>(http: &'a HttpRequest, name: &str) -> Option<&'a [u8]> {
    header_values(http, name).next()
}

/// Where a Check's trace context is, looked at only when traces are on: the call's own
/// metadata, where Envoy's ext_authz client span injects it (our span's true parent); else
/// the original request's headers (a context the client or an earlier proxy sent).
/// `traceparent` and `tracestate` are taken from the same place.
struct TraceHeaders<'a> {
    metadata: &'a tonic::metadata::MetadataMap,
    http: &'a HttpRequest,
}

impl crate::telemetry::Headers for TraceHeaders<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        if self.metadata.contains_key("traceparent") {
            return self.metadata.get(name).and_then(|v| v.to_str().ok());
        }
        header(self.http, name).and_then(|v| std::str::from_utf8(v).ok())
    }
}

fn to_request<'a>(
    http: &'a HttpRequest,
    context_extensions: &'a HashMap<String, String>,
    source: Option<&'a attribute_context::Peer>,
) -> Result<Request<'a>, Status> {
    // Strings upstream, bytes here (see proto/README.md): Envoy only sends valid HTTP, so
    // anything else is a request we cannot understand.
    let text = |field: &'a [u8], name: &str| {
        std::str::from_utf8(field).map_err(|_| {
            Status::invalid_argument(format!("attributes.request.http.{name} is not UTF-8"))
        })
    };
    Ok(Request {
        authorization: header_values(http, "authorization").collect(),
        dpop: header_values(http, "dpop").collect(),
        method: text(&http.method, "method")?,
        path: text(&http.path, "path")?,
        host: text(&http.host, "host")?,
        // `:scheme` as Envoy's connection manager set it (from TLS or a trusted
        // x-forwarded-proto); empty when an older Envoy or a test sends none.
        scheme: match &http.scheme[..] {
            b"" => None,
            value => Some(Scheme::parse(value).ok_or_else(|| {
                Status::invalid_argument("attributes.request.http.scheme is neither http nor https")
            })?),
        },
        route_name: context_extensions.get("route").map(String::as_str),
        cors_preflight: is_cors_preflight(
            header(http, "origin"),
            header(http, "access-control-request-method"),
        ),
        peer: Peer {
            certificate: source.map(|p| &p.certificate[..]).filter(|c| !c.is_empty()),
            // An address that is not an IP (a pipe, a zone-scoped IPv6) is no source to trust.
            address: socket_of(source)
                .and_then(|s| std::str::from_utf8(&s.address).ok())
                .and_then(|a| a.parse().ok()),
            headers: Some(http),
        },
    })
}

fn to_response(decision: Decision) -> CheckResponse {
    match decision {
        Decision::Allow(allow) => allowed(allow),
        Decision::Deny(deny) => denied(deny),
        Decision::Serve(serve) => served(*serve),
    }
}

fn allowed(allow: Allow) -> CheckResponse {
    CheckResponse {
        status: Some(rpc::Status {
            code: OK,
            ..Default::default()
        }),
        // Nothing to change upstream: a bare OK, which Envoy reads as allow without
        // walking an empty header mutation.
        http_response: (!allow.set_headers.is_empty() || !allow.remove_headers.is_empty()).then(
            || {
                HttpResponse::OkResponse(OkHttpResponse {
                    headers: allow
                        .set_headers
                        .into_iter()
                        .map(|(k, v)| overwrite(k, v))
                        .collect(),
                    headers_to_remove: allow.remove_headers,
                    ..Default::default()
                })
            },
        ),
        dynamic_metadata: to_struct(allow.metadata),
    }
}

fn denied(mut deny: Deny) -> CheckResponse {
    // Out first: the headers borrow the rest.
    let (body, metadata) = (
        std::mem::take(&mut deny.body),
        std::mem::take(&mut deny.metadata),
    );
    let status = deny.status();
    let headers = deny.headers().collect();
    let reply = LocalReply {
        code: deny.reason.grpc_code(),
        message: deny.reason.code(),
        status,
        headers,
    };
    reply.into_response(body, metadata)
}

/// A document answered here: what Envoy reads as a deny (any non-OK status) is the only
/// way a Check can give the client a body, and Envoy sends `denied_response` as it is,
/// status 200 included (checked against Envoy 1.40 in `tests/mcp.rs`).
fn served(mut serve: Serve) -> CheckResponse {
    let (body, metadata) = (
        std::mem::take(&mut serve.body),
        std::mem::take(&mut serve.metadata),
    );
    let reply = LocalReply {
        code: PERMISSION_DENIED,
        message: "resource_metadata",
        status: Serve::STATUS,
        headers: serve.headers().collect(),
    };
    reply.into_response(body, metadata)
}

/// `google.rpc.Code` PERMISSION_DENIED: Envoy only asks that it is not OK.
const PERMISSION_DENIED: i32 = 7;

/// An answer Envoy sends to the client instead of forwarding the request.
struct LocalReply<'a> {
    code: i32,
    message: &'static str,
    status: u16,
    headers: Vec<(&'static str, &'a str)>,
}

impl LocalReply<'_> {
    fn into_response(self, body: String, metadata: Vec<(String, String)>) -> CheckResponse {
        CheckResponse {
            status: Some(rpc::Status {
                code: self.code,
                message: self.message.to_owned(),
                ..Default::default()
            }),
            http_response: Some(HttpResponse::DeniedResponse(DeniedHttpResponse {
                status: Some(HttpStatus {
                    code: i32::from(self.status),
                }),
                headers: self
                    .headers
                    .into_iter()
                    .map(|(name, value)| overwrite(name.to_owned(), value.to_owned()))
                    .collect(),
                body,
            })),
            dynamic_metadata: to_struct(metadata),
        }
    }
}

/// A header set with `OVERWRITE_IF_EXISTS_OR_ADD`: Envoy's default (append) would let a
/// client-sent value survive beside ours.
fn overwrite(key: String, value: String) -> HeaderValueOption {
    HeaderValueOption {
        header: Some(HeaderValue {
            key,
            value,
            raw_value: Bytes::new(),
        }),
        append: None,
        append_action: HeaderAppendAction::OverwriteIfExistsOrAdd as i32,
        keep_empty_value: false,
    }
}

/// The metadata fields as a Struct; none when there are none (Envoy then does nothing).
fn to_struct(fields: Vec<(String, String)>) -> Option<MetadataStruct> {
    (!fields.is_empty()).then(|| MetadataStruct {
        fields: fields
            .into_iter()
            .map(|(key, value)| metadata_struct::Field {
                key: key.into_bytes(),
                value: Some(MetadataValue {
                    kind: Some(metadata_value::Kind::StringValue(value.into_bytes())),
                }),
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests;
