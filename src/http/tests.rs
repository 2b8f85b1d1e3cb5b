//! Conversion tests: which convention a path selects, where each reads the original
//! request from, and what is refused (with no guess) — no server, no network.

use super::HttpOptions;
use super::request::{Convention, Forwarded, convention, document_request, to_request};
use super::response::{ERROR_BODY_HEADER, refused, served, to_response};
use crate::decision::{Allow, Decision, Scheme};
use axum::body::Body;
use axum::http::{Request, StatusCode};

fn options() -> HttpOptions {
    HttpOptions {
        envoy_path_prefix: Some("/authz".into()),
        route_header: Some("x-authz-route".into()),
        forward_auth: Some(Forwarded::Nginx),
        forward_auth_path: "/forward-auth".into(),
    }
}

fn request(target: &str, headers: &[(&str, &[u8])]) -> Request<Body> {
    let mut builder = Request::builder().uri(target).method("POST");
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Body::empty()).unwrap()
}

#[test]
fn the_path_alone_picks_the_convention() {
    let options = options();
    let pick = |target: &str| convention(&options, &request(target, &[])).map_err(|r| r.status);
    assert_eq!(pick("/authz/api?q=1"), Ok(Convention::Envoy));
    assert_eq!(pick("/authz/"), Ok(Convention::Envoy));
    assert_eq!(
        pick("/forward-auth?x=1"),
        Ok(Convention::ForwardAuth(Forwarded::Nginx))
    );
    for unserved in ["/authzx/api", "/authz", "/", "/forward-auth/x"] {
        assert_eq!(pick(unserved), Err(StatusCode::NOT_FOUND), "{unserved}");
    }
    let envoy_only = HttpOptions {
        forward_auth: None,
        ..options.clone()
    };
    assert!(convention(&envoy_only, &request("/forward-auth", &[])).is_err());
}

#[test]
fn envoy_mode_reads_the_check_request_itself_and_the_configured_route_header() {
    let options = options();
    let http = request(
        "/authz/api/items?q=1&x=%2F",
        &[
            ("host", b"app.example"),
            ("authorization", b"Bearer a"),
            ("authorization", b"Bearer b"),
            ("x-authz-route", b"admin"),
            ("x-envoy-expected-rq-timeout-ms", b"500"),
            // Not trusted in this convention.
            ("x-original-uri", b"/public"),
        ],
    );
    let parsed = to_request(&options, Convention::Envoy, &http).unwrap();
    let r = &parsed.request;
    assert_eq!(
        (r.method, r.path, r.host, r.route_name),
        ("POST", "/api/items?q=1&x=%2F", "app.example", Some("admin"))
    );
    assert_eq!(r.authorization.len(), 2, "every line counts");
    assert_eq!(parsed.wait.as_millis(), 400);
    let no_route_header = HttpOptions {
        route_header: None,
        ..options
    };
    let parsed = to_request(&no_route_header, Convention::Envoy, &http).unwrap();
    assert_eq!(parsed.request.route_name, None);
}

#[test]
fn the_tcp_peer_is_the_source_and_the_headers_are_offered_for_a_forwarded_certificate() {
    let options = options();
    let mut http = request(
        "/authz/",
        &[
            ("host", b"app.example"),
            ("x-forwarded-client-cert", b"Hash=aa"),
            ("x-forwarded-client-cert", b"Hash=bb"),
        ],
    );
    let unknown = to_request(&options, Convention::Envoy, &http).unwrap();
    assert_eq!(
        unknown.request.peer.address, None,
        "no peer known: none trusted"
    );
    // What the server loop (`http_server`) inserts for every request.
    let peer: std::net::SocketAddr = "10.1.2.3:4567".parse().unwrap();
    http.extensions_mut()
        .insert(axum::extract::ConnectInfo(peer));
    let parsed = to_request(&options, Convention::Envoy, &http).unwrap();
    let r = &parsed.request;
    assert_eq!(r.peer.address, Some(peer.ip()));
    assert_eq!(r.peer.certificate, None, "no TLS of our own");
    let headers = r.peer.headers.expect("headers");
    assert_eq!(
        headers.values("x-forwarded-client-cert"),
        [&b"Hash=aa"[..], b"Hash=bb"],
        "every line, in order"
    );
}

#[test]
fn forward_auth_trusts_exactly_the_configured_headers() {
    let options = options();
    let both = [
        ("host", &b"app.example"[..]),
        ("x-original-uri", b"/api/items?q=1"),
        ("x-original-method", b"DELETE"),
        ("x-forwarded-uri", b"/public"),
        ("x-forwarded-method", b"GET"),
        ("x-forwarded-host", b"other.example"),
    ];
    // The check request's own query (Caddy keeps the client's) is never the target.
    let http = request("/forward-auth?/public", &both);
    let nginx = to_request(&options, Convention::ForwardAuth(Forwarded::Nginx), &http).unwrap();
    let r = &nginx.request;
    assert_eq!(
        (r.method, r.path, r.host, r.route_name),
        ("DELETE", "/api/items?q=1", "app.example", None)
    );
    let fwd = to_request(
        &options,
        Convention::ForwardAuth(Forwarded::Forwarded),
        &http,
    )
    .unwrap();
    let r = &fwd.request;
    assert_eq!(
        (r.method, r.path, r.host),
        ("GET", "/public", "other.example")
    );
}

#[test]
fn the_scheme_comes_from_x_forwarded_proto_in_every_convention() {
    let options = options();
    let conventions = [
        ("/authz/a", Convention::Envoy),
        ("/forward-auth", Convention::ForwardAuth(Forwarded::Nginx)),
        (
            "/forward-auth",
            Convention::ForwardAuth(Forwarded::Forwarded),
        ),
    ];
    for (target, convention) in conventions {
        let read = |proto: &[&[u8]]| {
            let mut headers: Vec<(&str, &[u8])> = vec![
                ("host", b"app"),
                ("x-original-method", b"GET"),
                ("x-original-uri", b"/a"),
                ("x-forwarded-method", b"GET"),
                ("x-forwarded-uri", b"/a"),
                ("x-forwarded-host", b"app"),
            ];
            headers.extend(proto.iter().map(|v| ("x-forwarded-proto", *v)));
            to_request(&options, convention, &request(target, &headers))
                .map(|parsed| parsed.request.scheme)
                .map_err(|refusal| (refusal.status, refusal.description))
        };
        assert_eq!(read(&[b"https"]), Ok(Some(Scheme::Https)), "{convention:?}");
        assert_eq!(read(&[b"HTTP"]), Ok(Some(Scheme::Http)), "{convention:?}");
        assert_eq!(read(&[]), Ok(None), "{convention:?}: not sent is unknown");
        for bad in [&[&b"ftp"[..]][..], &[b"https, http"], &[b"http", b"https"]] {
            let (status, description) = read(bad).unwrap_err();
            assert_eq!(status, StatusCode::BAD_REQUEST, "{convention:?} {bad:?}");
            assert!(description.contains("x-forwarded-proto"), "{description}");
        }
    }
}

#[test]
fn missing_repeated_oversized_or_non_utf8_input_is_refused_not_guessed() {
    let options = options();
    let nginx = Convention::ForwardAuth(Forwarded::Nginx);
    let base = [("host", &b"app"[..]), ("x-original-method", b"GET")];
    let refuse = |extra: &[(&str, &[u8])]| {
        let headers: Vec<_> = base.iter().chain(extra).copied().collect();
        let refusal = to_request(&options, nginx, &request("/forward-auth", &headers))
            .map(|_| ())
            .unwrap_err();
        assert_eq!(refusal.status, StatusCode::BAD_REQUEST);
        refusal.description
    };
    assert!(refuse(&[]).contains("x-original-uri header is missing"));
    assert!(
        refuse(&[("x-original-uri", b"/a"), ("x-original-uri", b"/b")]).contains("more than once")
    );
    assert!(refuse(&[("x-original-uri", b"/\xff")]).contains("not UTF-8"));
    assert!(refuse(&[("x-original-uri", b"api")]).contains("start with '/'"));
    let long = format!("/{}", "a".repeat(9000));
    assert!(refuse(&[("x-original-uri", long.as_bytes())]).contains("exceeds"));
    let big = "b".repeat(8000);
    let many: Vec<(String, &[u8])> = (0..10)
        .map(|i| (format!("x-pad-{i}"), big.as_bytes()))
        .collect();
    let mut headers: Vec<(&str, &[u8])> = many.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    headers.push(("x-original-uri", b"/a"));
    assert!(refuse(&headers).contains("headers exceed"));
}

#[test]
fn answers_follow_each_convention() {
    let allow = Allow {
        route: None,
        identity: None,
        set_headers: vec![("x-jwt-sub".into(), "alice".into())],
        remove_headers: vec!["x-jwt-scope".into(), "authorization".into()],
        metadata: vec![],
    };
    let envoy = to_response(Convention::Envoy, Decision::Allow(allow.clone()));
    assert_eq!(
        envoy.status(),
        StatusCode::OK,
        "Envoy allows on exactly 200"
    );
    assert_eq!(envoy.headers()["x-jwt-sub"], "alice");
    assert_eq!(
        envoy.headers()["x-envoy-auth-headers-to-remove"],
        "x-jwt-scope, authorization"
    );
    let nginx = to_response(
        Convention::ForwardAuth(Forwarded::Nginx),
        Decision::Allow(allow),
    );
    assert!(
        !nginx
            .headers()
            .contains_key("x-envoy-auth-headers-to-remove")
    );
    let refusal = refused(super::request::Refusal {
        status: StatusCode::BAD_REQUEST,
        description: "the x \"y\" header".into(),
    });
    assert_eq!(refusal.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        refusal.headers()[ERROR_BODY_HEADER],
        r#"{"error":"invalid_request","error_description":"the x \"y\" header"}"#
    );
}

#[test]
fn options_without_a_convention_or_with_a_bad_prefix_are_refused() {
    let none = HttpOptions {
        forward_auth_path: "/forward-auth".into(),
        ..HttpOptions::default()
    };
    assert!(none.problem().is_some());
    assert_eq!(options().problem(), None);
    for prefix in ["authz", "/authz/"] {
        let bad = HttpOptions {
            envoy_path_prefix: Some(prefix.into()),
            ..options()
        };
        assert!(bad.problem().is_some(), "{prefix}");
    }
    let upper = HttpOptions {
        route_header: Some("X-Authz-Route".into()),
        ..options()
    };
    assert!(upper.problem().is_some());
}

#[test]
fn a_document_is_let_through_by_a_check_and_served_by_the_listener_itself() {
    let serve = crate::decision::tests_metadata::sample_serve(&["x-jwt-sub"]);
    // Inside a check a 200 is an allow: the anonymous one, never the document.
    let check = to_response(Convention::Envoy, Decision::Serve(Box::new(serve.clone())));
    assert_eq!(check.status(), StatusCode::OK);
    assert_eq!(
        check.headers()["x-envoy-auth-headers-to-remove"],
        "x-jwt-sub"
    );
    assert!(!check.headers().contains_key("content-type"));
    let document = served(serve);
    assert_eq!(document.status(), StatusCode::OK);
    assert_eq!(document.headers()["content-type"], "application/json");
    assert_eq!(document.headers()["cache-control"], "public, max-age=60");
    assert_eq!(document.headers()["access-control-allow-origin"], "*");
    // What the listener reads of a metadata request routed to it: the client's own.
    let get = |method: &str, target: &str, headers: &[(&str, &[u8])]| {
        let mut http = request(target, headers);
        *http.method_mut() = method.parse().unwrap();
        document_request(&http).map(|parsed| {
            parsed
                .map(|p| {
                    (
                        p.request.method.to_owned(),
                        p.request.host.to_owned(),
                        p.request.scheme,
                    )
                })
                .map_err(|refusal| refusal.status)
        })
    };
    let path = "/.well-known/oauth-protected-resource/mcp";
    let headers: &[(&str, &[u8])] = &[
        ("host", b"mcp.example.com"),
        ("x-forwarded-proto", b"https"),
    ];
    assert_eq!(
        get("HEAD", path, headers),
        Some(Ok((
            "HEAD".into(),
            "mcp.example.com".into(),
            Some(Scheme::Https)
        )))
    );
    assert_eq!(get("POST", path, headers), None, "only reads");
    assert_eq!(
        get("GET", "/mcp", headers),
        None,
        "only the well-known path"
    );
    assert_eq!(
        get("GET", path, &[]),
        Some(Err(StatusCode::BAD_REQUEST)),
        "no Host"
    );
    let bad_proto: &[(&str, &[u8])] = &[("host", b"a.test"), ("x-forwarded-proto", b"ftp")];
    assert_eq!(
        get("GET", path, bad_proto),
        Some(Err(StatusCode::BAD_REQUEST))
    );
}
