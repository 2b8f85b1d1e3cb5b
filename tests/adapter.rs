//! Adapter tier: the tonic `Authorization` service called directly with CheckRequests shaped
//! like the ones Envoy 1.40 sends (see ../shared/perf/checkrequest-sample.txt): lowercase
//! header keys with pseudo-headers, repeated headers joined with ",", or `header_map` with
//! `raw_value` bytes when `encode_raw_headers: true`.

use crate::support::{self, ec_key, mint};
use arc_swap::ArcSwap;
use envoy_jwt_authz::config::compile_str;
use envoy_jwt_authz::grpc::AuthzService;
use envoy_jwt_authz::observe::Observer;
use envoy_jwt_authz::proto::envoy::config::core::v3::header_value_option::HeaderAppendAction;
use envoy_jwt_authz::proto::envoy::config::core::v3::{HeaderMap, HeaderValue, HeaderValueOption};
use envoy_jwt_authz::proto::envoy::service::auth::v3::attribute_context::{
    HeaderEntry, HttpRequest, Request,
};
use envoy_jwt_authz::proto::envoy::service::auth::v3::authorization_server::Authorization;
use envoy_jwt_authz::proto::envoy::service::auth::v3::check_response::HttpResponse;
use envoy_jwt_authz::proto::envoy::service::auth::v3::{
    AttributeContext, CheckRequest, CheckResponse,
};
use prost::Message;
use prost_types::value::Kind;
use serde_json::json;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

pub(crate) fn service(extra: &str) -> AuthzService {
    service_of(&support::config_yaml(extra))
}

fn service_of(yaml: &str) -> AuthzService {
    let snapshot = compile_str(yaml, Path::new("config.yaml")).expect("config");
    AuthzService::new(
        Arc::new(ArcSwap::from_pointee(snapshot)),
        None,
        Arc::new(Observer::new(10)),
    )
}

/// The headers map as Envoy fills it by default.
pub(crate) fn envoy_headers(extra: &[(&str, &str)]) -> HashMap<String, String> {
    let mut headers: HashMap<String, String> = [
        (":method", "GET"),
        (":path", "/api/items?limit=10"),
        (":authority", "127.0.0.1:10000"),
        (":scheme", "http"),
        ("user-agent", "curl/8.5.0"),
        ("accept", "*/*"),
        ("x-forwarded-proto", "http"),
        ("x-request-id", "795d7689-bd6e-470d-a15f-72f9f5d9e1b5"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    for (k, v) in extra {
        headers.insert((*k).to_owned(), (*v).to_owned());
    }
    headers
}

fn check_request(http: HttpRequest) -> CheckRequest {
    CheckRequest {
        attributes: Some(AttributeContext {
            request: Some(Request { http: Some(http) }),
            ..Default::default()
        }),
    }
}

/// An HttpRequest carrying `headers` as map entries (the wire form of Envoy's map).
pub(crate) fn http_with(headers: HashMap<String, String>) -> HttpRequest {
    HttpRequest {
        method: "GET".into(),
        headers: headers
            .into_iter()
            .map(|(key, value)| HeaderEntry {
                key: key.into(),
                value: value.into(),
            })
            .collect(),
        path: "/api/items?limit=10".into(),
        host: "127.0.0.1:10000".into(),
        ..Default::default()
    }
}

/// `encode_raw_headers: true`: `headers` empty, one `header_map` entry per line.
fn raw_http(lines: &[(&str, &[u8])]) -> HttpRequest {
    let header_map = HeaderMap {
        headers: lines
            .iter()
            .map(|(k, v)| HeaderValue {
                key: (*k).to_owned(),
                value: String::new(),
                raw_value: v.to_vec().into(),
            })
            .collect(),
    };
    HttpRequest {
        header_map: Some(header_map),
        ..http_with(HashMap::new())
    }
}

pub(crate) async fn check(service: &AuthzService, http: HttpRequest) -> CheckResponse {
    service
        .check(tonic::Request::new(check_request(http)))
        .await
        .expect("a deny is never a gRPC error")
        .into_inner()
}

fn header(options: &[HeaderValueOption], name: &str) -> (String, i32) {
    let option = options
        .iter()
        .find(|o| o.header.as_ref().is_some_and(|h| h.key == name))
        .unwrap_or_else(|| panic!("no {name}"));
    (
        option.header.as_ref().unwrap().value.clone(),
        option.append_action,
    )
}

/// (grpc status code, http status, www-authenticate, body) of a deny.
pub(crate) fn denial(response: &CheckResponse) -> (i32, i32, String, String) {
    let Some(HttpResponse::DeniedResponse(denied)) = &response.http_response else {
        panic!("not denied: {response:?}")
    };
    let (challenge, action) = header(&denied.headers, "www-authenticate");
    assert_eq!(action, HeaderAppendAction::OverwriteIfExistsOrAdd as i32);
    assert_eq!(
        header(&denied.headers, "content-type").0,
        "application/json"
    );
    (
        response.status.as_ref().unwrap().code,
        denied.status.as_ref().unwrap().code,
        challenge,
        denied.body.clone(),
    )
}

#[tokio::test]
async fn a_valid_token_is_allowed_with_overwriting_identity_headers_and_metadata() {
    let svc = service(
        "upstream:\n  claim_headers: { sub: x-jwt-sub, tenant: x-tenant }\n  strip_authorization: true\ndynamic_metadata: { claims: [sub, iss, scope] }\n",
    );
    let token = mint(&ec_key(), &support::claims());
    let auth = format!("Bearer {token}");
    let response = check(
        &svc,
        http_with(envoy_headers(&[
            ("authorization", &auth),
            ("x-jwt-sub", "mallory"),
        ])),
    )
    .await;
    assert_eq!(response.status.as_ref().unwrap().code, 0);
    let Some(HttpResponse::OkResponse(ok)) = &response.http_response else {
        panic!("not allowed: {response:?}")
    };
    assert_eq!(
        header(&ok.headers, "x-jwt-sub"),
        (
            "alice".into(),
            HeaderAppendAction::OverwriteIfExistsOrAdd as i32
        )
    );
    assert_eq!(ok.headers.len(), 1);
    assert_eq!(ok.headers_to_remove, ["x-tenant", "authorization"]);
    // Our wire-form Struct must decode as the google.protobuf.Struct Envoy reads.
    let encoded = response.dynamic_metadata.as_ref().unwrap().encode_to_vec();
    let metadata = prost_types::Struct::decode(&encoded[..]).unwrap().fields;
    let text = |k: &str| match &metadata[k].kind {
        Some(Kind::StringValue(s)) => s.clone(),
        other => panic!("{k}: {other:?}"),
    };
    assert_eq!(text("provider"), "test-idp");
    assert_eq!(text("iss"), support::ISSUER);
    assert_eq!(text("sub"), "alice");
    assert_eq!(text("scope"), "orders.read");
}

#[tokio::test]
async fn with_no_header_to_change_an_allow_is_a_bare_ok_with_metadata() {
    let svc = service("");
    let auth = format!("Bearer {}", mint(&ec_key(), &support::claims()));
    let response = check(&svc, http_with(envoy_headers(&[("authorization", &auth)]))).await;
    assert_eq!(response.status.as_ref().unwrap().code, 0);
    assert_eq!(response.http_response, None);
    let encoded = response.dynamic_metadata.as_ref().unwrap().encode_to_vec();
    let metadata = prost_types::Struct::decode(&encoded[..]).unwrap().fields;
    assert_eq!(
        metadata["sub"].kind,
        Some(Kind::StringValue("alice".into()))
    );
}

/// Issue 14 §4: with the Cognito form, only the first present audience claim decides, so a
/// token for another API issued to an accepted client is refused.
#[tokio::test]
async fn a_later_audience_claim_does_not_rescue_another_apis_token() {
    let svc = service_of(&format!(
        "providers:\n  - name: cognito\n    issuer: {}\n    audiences: [api://orders, client-123]\n    audience_claims: [aud, client_id]\n    jwks:\n      inline: '{}'\n",
        support::ISSUER,
        support::jwks()
    ));
    let ask = |claims| {
        let auth = format!("Bearer {}", mint(&ec_key(), &claims));
        check(&svc, http_with(envoy_headers(&[("authorization", &auth)])))
    };
    let billing = support::claims_with(json!({"aud": "api://billing", "client_id": "client-123"}));
    let (grpc, http, challenge, _) = denial(&ask(billing).await);
    assert_eq!((grpc, http), (16, 401));
    assert!(
        challenge.ends_with(r#"error_description="audience not allowed""#),
        "{challenge}"
    );
    let cognito = support::claims_with(json!({"aud": null, "client_id": "client-123"}));
    assert_eq!(ask(cognito).await.status.unwrap().code, 0);
}

#[tokio::test]
async fn no_token_is_an_ok_rpc_carrying_a_401() {
    let svc = service("challenge: { realm: orders }\n");
    let response = check(&svc, http_with(envoy_headers(&[]))).await;
    let (grpc, http, challenge, body) = denial(&response);
    assert_eq!((grpc, http), (16, 401));
    assert_eq!(challenge, r#"Bearer realm="orders""#);
    assert_eq!(
        body,
        r#"{"error":"unauthorized","error_description":"bearer token required"}"#
    );
}

#[tokio::test]
async fn an_expired_token_is_401_invalid_token() {
    let svc = service("challenge: { realm: orders }\n");
    let now = envoy_jwt_authz::token::verify::UnixTime::now().0;
    let token = mint(
        &ec_key(),
        &support::claims_with(json!({"iat": now - 7200, "exp": now - 3600})),
    );
    let response = check(
        &svc,
        http_with(envoy_headers(&[(
            "authorization",
            &format!("Bearer {token}"),
        )])),
    )
    .await;
    let (grpc, http, challenge, _) = denial(&response);
    assert_eq!((grpc, http), (16, 401));
    assert_eq!(
        challenge,
        r#"Bearer realm="orders", error="invalid_token", error_description="token expired""#
    );
}

#[tokio::test]
async fn envoy_joined_authorization_headers_are_a_400() {
    let svc = service("");
    let token = mint(&ec_key(), &support::claims());
    let joined = format!("Bearer {token},Bearer {token}");
    let (grpc, http, challenge, body) = denial(
        &check(
            &svc,
            http_with(envoy_headers(&[("authorization", &joined)])),
        )
        .await,
    );
    assert_eq!((grpc, http), (3, 400));
    assert_eq!(
        challenge,
        r#"Bearer error="invalid_request", error_description="more than one authorization credential""#
    );
    assert_eq!(
        body,
        r#"{"error":"invalid_request","error_description":"more than one authorization credential"}"#
    );
}

#[tokio::test]
async fn raw_header_mode_is_read_from_header_map() {
    let svc = service("");
    let auth = format!("Bearer {}", mint(&ec_key(), &support::claims()));
    let one = check(
        &svc,
        raw_http(&[(":path", b"/"), ("authorization", auth.as_bytes())]),
    )
    .await;
    assert_eq!(one.status.as_ref().unwrap().code, 0, "{one:?}");
    let two = check(
        &svc,
        raw_http(&[
            ("authorization", auth.as_bytes()),
            ("authorization", auth.as_bytes()),
        ]),
    )
    .await;
    assert_eq!(denial(&two).1, 400);
    let none = check(&svc, raw_http(&[(":path", b"/")])).await;
    assert_eq!(denial(&none).1, 401);
    let binary = check(&svc, raw_http(&[("authorization", b"Bearer \xff\xfe")])).await;
    assert_eq!(denial(&binary).1, 400);
}

#[tokio::test]
async fn a_request_without_http_attributes_is_a_grpc_error() {
    let svc = service("");
    let status = svc
        .check(tonic::Request::new(CheckRequest { attributes: None }))
        .await
        .expect_err("no http");
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
}

#[tokio::test]
async fn each_denial_is_one_audit_event_without_token_material() {
    let capture = support::logs::capture();
    let svc = service("routes:\n  - name: admin\n    scopes: [x]\n");
    let bad = mint(
        &support::impostor_key(),
        &support::claims_with(json!({"sub": "secret-subject"})),
    );
    let good = mint(
        &ec_key(),
        &support::claims_with(json!({"sub": "secret-subject"})),
    );
    let http = http_with(envoy_headers(&[(
        "authorization",
        &format!("Bearer {bad}"),
    )]));
    let mut request = check_request(http);
    let attributes = request.attributes.as_mut().unwrap();
    attributes
        .context_extensions
        .insert("route".into(), "admin".into());
    attributes.source = Some(envoy_jwt_authz::proto::envoy::service::auth::v3::attribute_context::Peer {
        address: Some(envoy_jwt_authz::proto::envoy::config::core::v3::Address {
            address: Some(envoy_jwt_authz::proto::envoy::config::core::v3::address::Address::SocketAddress(
                envoy_jwt_authz::proto::envoy::config::core::v3::SocketAddress {
                    address: "10.1.2.3".into(),
                    port_specifier: Some(envoy_jwt_authz::proto::envoy::config::core::v3::socket_address::PortSpecifier::PortValue(5555)),
                },
            )),
        }),
        ..Default::default()
    });
    svc.check(tonic::Request::new(request)).await.unwrap();
    // An allow is logged at debug only: nothing at info.
    check(
        &svc,
        http_with(envoy_headers(&[(
            "authorization",
            &format!("Bearer {good}"),
        )])),
    )
    .await;

    let text = capture.text();
    let events: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let audit: Vec<&serde_json::Value> = events.iter().filter(|e| e["target"] == "audit").collect();
    assert_eq!(audit.len(), 1, "captured: {text:?}");
    let fields = &audit[0]["fields"];
    assert_eq!(fields["message"], "request denied");
    assert_eq!(fields["reason"], "signature_invalid");
    assert_eq!(fields["status"], 401);
    assert_eq!(fields["route"], "admin");
    assert_eq!(fields["provider"], "test-idp");
    assert_eq!(fields["kid"], "ec-1");
    assert_eq!(fields["request_id"], "795d7689-bd6e-470d-a15f-72f9f5d9e1b5");
    assert_eq!(fields["client"], "10.1.2.3:5555");
    assert!(
        !text.contains("secret-subject"),
        "sub is logged only at debug"
    );
    for part in bad.split('.').chain(good.split('.')) {
        assert!(!text.contains(part), "token material in the log");
    }
}
