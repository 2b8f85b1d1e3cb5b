//! Criterion benchmarks of opaque tokens: a Check answered from the introspection cache
//! beside a Check answered from the verified-JWT cache (same route, same authorizer), and
//! the in-process cost of an introspection miss without the network (decide, build the
//! request, parse the answer, cache it, decide again).
//!
//! Run: `cargo bench --bench introspection`.

use criterion::{Criterion, criterion_group, criterion_main};
use envoy_jwt_authz::authorizer::Authorizer;
use envoy_jwt_authz::config::compile_str;
use envoy_jwt_authz::decision::{Decision, Request, decide_introspected};
use envoy_jwt_authz::introspection::cache::AnswerCache;
use envoy_jwt_authz::introspection::{Introspector, Metrics, client};
use envoy_jwt_authz::mint::SigningKey;
use envoy_jwt_authz::observe::{Observer, Origin};
use envoy_jwt_authz::token::cache::TokenCache;
use envoy_jwt_authz::token::verify::UnixTime;
use envoy_jwt_authz::trace::Off;
use serde_json::json;
use std::hint::black_box;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const ISS: &str = "https://issuer.example.com";

/// A keep-alive HTTP/1.1 endpoint on loopback answering every POST with `answer`.
fn endpoint(answer: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/introspect", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let answer = answer.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut stream = stream;
                loop {
                    let mut length = 0;
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; length];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    let _ = write!(
                        stream,
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{answer}",
                        answer.len()
                    );
                }
            });
        }
    });
    url
}

/// `GET /api/items` (the scoped route) carrying `authorization`.
fn api_request(authorization: &str) -> Request<'_> {
    Request {
        authorization: vec![authorization.as_bytes()],
        method: "GET",
        path: "/api/items",
        host: "api",
        ..Request::default()
    }
}

fn bench(c: &mut Criterion) {
    let now = UnixTime::now().0;
    let claims = json!({"active": true, "iss": ISS, "aud": "https://api.example.com/", "sub": "user-42",
                        "scope": "read write", "iat": now, "exp": now + 86_400});
    let url = endpoint(claims.to_string());
    let key = SigningKey::generate(envoy_jwt_authz::algorithm::Algorithm::Es256)
        .unwrap()
        .with_kid("k1");
    let jwks = json!({ "keys": [key.public_jwk()] });
    let yaml = format!(
        "providers:
  - name: jwt
    issuer: {ISS}
    audiences: [https://api.example.com/]
    jwks: {{ inline: '{jwks}' }}
  - name: opaque
    audiences: [https://api.example.com/]
    introspection: {{ endpoint: '{url}', allow_insecure_http: true, cache: {{ max_ttl: 1h }} }}
upstream: {{ claim_headers: {{ sub: x-jwt-sub }} }}
routes:
  - match: {{ path_prefix: /api }}
    scopes: [read]
"
    );
    let snapshot = compile_str(&yaml, Path::new("bench.yaml")).unwrap();
    let jwt = key
        .mint(&json!({"iss": ISS, "aud": "https://api.example.com/", "sub": "user-42", "scope": "read write",
                       "iat": now, "exp": now + 86_400}))
        .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let authorizer = Authorizer::new(snapshot.clone(), None, Arc::new(Observer::new(100)))
        .with_cache(TokenCache::new(4096, 8 << 20).map(Arc::new))
        .with_introspector(Some(Introspector::new(Metrics::new())));
    let client = "127.0.0.1:5000";
    let origin = Origin {
        request_id: "r",
        client: &client,
        headers: &envoy_jwt_authz::telemetry::NoHeaders,
    };
    for (name, token) in [
        ("check/jwt_cache_hit", jwt.as_str()),
        ("check/opaque_cache_hit", "2YotnFZFEjr1zCsicMWpAA"),
    ] {
        let authorization = format!("Bearer {token}");
        let request = api_request(&authorization);
        let wait = Duration::from_secs(2);
        // The first Check fills the caches (for the opaque token: one real request).
        let first = runtime.block_on(authorizer.check(&request, origin, wait));
        assert!(matches!(first, Decision::Allow(_)), "{name}: {first:?}");
        c.bench_function(name, |b| {
            b.iter(|| runtime.block_on(authorizer.check(black_box(&request), origin, wait)))
        });
    }

    // A miss without the network: what we add to the endpoint's round trip.
    let authorization = "Bearer 2YotnFZFEjr1zCsicMWpAA".to_owned();
    let request = api_request(&authorization);
    let provider = &snapshot.providers[1];
    let settings = provider.introspection.as_ref().unwrap();
    let body = claims.to_string().into_bytes();
    let cache = AnswerCache::new(10_000);
    let at = UnixTime(now);
    c.bench_function("introspection/miss_in_process", |b| {
        b.iter(|| {
            let pending = decide_introspected(
                &snapshot,
                black_box(&request),
                at,
                Default::default(),
                None,
                &mut Off,
            );
            let (form, _) = client::request_parts(settings, "2YotnFZFEjr1zCsicMWpAA").unwrap();
            let answer =
                Arc::new(client::parse(200, "application/json", black_box(&body)).unwrap());
            let key = cache.key("2YotnFZFEjr1zCsicMWpAA");
            cache.insert(
                key,
                answer.clone(),
                body.len(),
                Duration::from_secs(60),
                Instant::now(),
            );
            let decision = decide_introspected(
                &snapshot,
                &request,
                at,
                Default::default(),
                Some(&answer),
                &mut Off,
            );
            (pending, form, decision)
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
