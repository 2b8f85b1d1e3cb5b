//! Unit tests of the adapter's conversions: Envoy's own encoding of a CheckRequest decoded
//! into our slimmer declarations, repeated keys, bad UTF-8 and the scheme.

use super::*;
use crate::proto::envoy::service::auth::v3::attribute_context::HeaderEntry;
use prost::Message;

#[test]
fn envoys_encoding_decodes_into_our_slimmer_declarations() {
    let certificate =
        crate::certificate::tests::envoy_encoded(crate::certificate::tests::CLIENT_A_PEM);
    let bytes = envoy_sample::check_request_with_tls(
        &[
            ("authorization", "Bearer abc.def.ghi"),
            ("x-forwarded-client-cert", "Hash=aa"),
        ],
        Some(&certificate),
    );
    let check = CheckRequest::decode(bytes::Bytes::from(bytes)).expect("decodes");
    let attributes = check.attributes.as_ref().expect("attributes");
    let http = attributes
        .request
        .as_ref()
        .and_then(|r| r.http.as_ref())
        .expect("http");
    let request = to_request(
        http,
        &attributes.context_extensions,
        attributes.source.as_ref(),
    )
    .expect("request");
    assert_eq!(request.authorization, vec![&b"Bearer abc.def.ghi"[..]]);
    assert_eq!(
        (request.method, request.path, request.host),
        ("GET", "/api/items?limit=10&q=a%20b", "127.0.0.1:10000")
    );
    assert_eq!(request.route_name, None);
    assert_eq!(request.scheme, Some(Scheme::Http));
    assert_eq!(
        header(http, "x-request-id"),
        Some(&b"795d7689-bd6e-470d-a15f-72f9f5d9e1b5"[..])
    );
    assert_eq!(header(http, "x-dup"), Some(&b"first,second"[..]));
    assert_eq!(header(http, "X-Dup"), None, "keys arrive lowercase");
    assert_eq!(ClientAddress(attributes).to_string(), "127.0.0.1:55300");
    // RFC 8705: the source's certificate (upstream's `string certificate = 5`) and address,
    // and the headers for a forwarded certificate.
    assert_eq!(request.peer.certificate, Some(certificate.as_bytes()));
    assert_eq!(request.peer.address, Some([127, 0, 0, 1].into()));
    let headers = request.peer.headers.expect("headers");
    assert_eq!(headers.values("x-forwarded-client-cert"), [&b"Hash=aa"[..]]);
    // Without TLS there is no certificate.
    let plain = CheckRequest::decode(&envoy_sample::check_request(&[])[..]).expect("decodes");
    let source = plain.attributes.as_ref().and_then(|a| a.source.as_ref());
    assert!(source.is_some_and(|s| s.certificate.is_empty()));
}

/// The HTTP attributes of Envoy's sample CheckRequest, decoded.
fn sample_http(extra_headers: &[(&str, &str)]) -> HttpRequest {
    let bytes = envoy_sample::check_request(extra_headers);
    let check = CheckRequest::decode(&bytes[..]).expect("decodes");
    check
        .attributes
        .and_then(|a| a.request)
        .and_then(|r| r.http)
        .expect("http")
}

#[test]
fn a_key_repeated_on_the_wire_counts_twice_and_bad_utf8_is_refused() {
    let http = sample_http(&[("authorization", "Bearer a")]);
    let none = HashMap::new();
    let mut twice = http.clone();
    twice.headers.push(HeaderEntry {
        key: "authorization".into(),
        value: "Bearer b".into(),
    });
    let request = to_request(&twice, &none, None).expect("request");
    assert_eq!(request.authorization.len(), 2);
    let mut bad = http;
    bad.path = bytes::Bytes::from_static(b"/\xff");
    let refused = to_request(&bad, &none, None).map(|_| ()).unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
}

#[test]
fn the_scheme_is_http_or_https_or_not_sent() {
    let http = sample_http(&[]);
    let none = HashMap::new();
    let with = |scheme: &'static [u8]| {
        let mut http = http.clone();
        http.scheme = bytes::Bytes::from_static(scheme);
        to_request(&http, &none, None)
            .map(|r| r.scheme)
            .map_err(|s| s.code())
    };
    assert_eq!(with(b"https"), Ok(Some(Scheme::Https)));
    assert_eq!(with(b""), Ok(None));
    assert_eq!(with(b"gopher"), Err(tonic::Code::InvalidArgument));
}

#[test]
fn a_document_is_a_denied_response_with_status_200() {
    let serve = crate::decision::tests_metadata::sample_serve(&[]);
    let response = to_response(Decision::Serve(Box::new(serve)));
    // Envoy allows on OK only; anything else sends `denied_response` to the client.
    assert_ne!(response.status.as_ref().unwrap().code, OK);
    let Some(HttpResponse::DeniedResponse(denied)) = response.http_response else {
        panic!("a denied_response");
    };
    assert_eq!(denied.status.unwrap().code, 200);
    assert_eq!(denied.body, r#"{"resource":"https://mcp.example.com/mcp"}"#);
    let headers: Vec<(String, String)> = denied
        .headers
        .iter()
        .map(|h| h.header.as_ref().unwrap())
        .map(|h| (h.key.clone(), h.value.clone()))
        .collect();
    assert_eq!(
        headers,
        [
            ("content-type".into(), "application/json".into()),
            ("cache-control".into(), "public, max-age=60".into()),
            ("access-control-allow-origin".into(), "*".into()),
        ]
    );
    assert!(response.dynamic_metadata.is_some());
}

#[test]
fn the_trace_context_comes_from_the_calls_metadata_before_the_requests_headers() {
    use crate::telemetry::Headers;
    let http = sample_http(&[
        (
            "traceparent",
            "00-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-bbbbbbbbbbbbbbbb-01",
        ),
        ("tracestate", "from=request"),
    ]);
    let mut metadata = tonic::metadata::MetadataMap::new();
    let none = TraceHeaders {
        metadata: &metadata,
        http: &http,
    };
    assert_eq!(none.get("tracestate"), Some("from=request"));
    metadata.insert(
        "traceparent",
        "00-cccccccccccccccccccccccccccccccc-dddddddddddddddd-01"
            .parse()
            .unwrap(),
    );
    let envoys = TraceHeaders {
        metadata: &metadata,
        http: &http,
    };
    assert!(envoys.get("traceparent").unwrap().contains("cccc"));
    assert_eq!(
        envoys.get("tracestate"),
        None,
        "never the request's tracestate beside Envoy's traceparent"
    );
}
