//! Criterion benchmarks of the verify path: header extraction, token parsing, signature
//! verification per algorithm with the raw aws-lc-rs primitive beside it (so the overhead of
//! our code is visible), the whole `decide` with and without the token cache (and over a
//! list of distinct tokens, as a distinct-token load sends them), and a whole
//! Check through the tonic service in-process, and the same from protobuf bytes to protobuf
//! bytes beside what the always-allow stand-in does; and the RFC 8705 binding check (a
//! certificate's thumbprint from Envoy's URL-encoded PEM or an XFCC `Hash=`, and a cached
//! decision of a certificate-bound token beside an unbound one).
//!
//! Run: `cargo bench --bench verify` (add `-- --quick` for a short run).

use arc_swap::ArcSwap;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, ParsedPublicKey, RsaKeyPair,
};
use criterion::{Criterion, criterion_group, criterion_main};
use envoy_jwt_authz::algorithm::Algorithm;
use envoy_jwt_authz::certificate::{Thumbprint, xfcc};
use envoy_jwt_authz::config::compile_str;
use envoy_jwt_authz::decision::{Peer, Request, decide, decide_cached};
use envoy_jwt_authz::grpc::{AuthzService, envoy_sample};
use envoy_jwt_authz::mint::SigningKey;
use envoy_jwt_authz::observe::Observer;
use envoy_jwt_authz::proto::envoy::service::auth::v3::authorization_server::Authorization;
use envoy_jwt_authz::proto::envoy::service::auth::v3::{CheckRequest, CheckResponse};
use envoy_jwt_authz::snapshot::{ProviderSet, Snapshot};
use envoy_jwt_authz::token::cache::TokenCache;
use envoy_jwt_authz::token::extract::access_token;
use envoy_jwt_authz::token::verify::{UnixTime, inspect, verify};
use prost::Message;
use serde_json::json;
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;

const ISS: &str = "https://issuer.example.com";

fn snapshot(keys: &[&SigningKey]) -> Snapshot {
    let jwks = json!({ "keys": keys.iter().map(|k| k.public_jwk()).collect::<Vec<_>>() });
    let yaml = format!(
        "providers:\n  - name: bench\n    issuer: {ISS}\n    audiences: [https://api.example.com/]\n    jwks: {{ inline: '{jwks}' }}\nupstream: {{ claim_headers: {{ sub: x-jwt-sub }} }}\n"
    );
    compile_str(&yaml, Path::new("bench.yaml")).expect("bench config")
}

fn token(key: &SigningKey) -> String {
    numbered_token(key, 42)
}

/// A token told apart from the others by its `sub` and `jti`, as the harness's distinct
/// list (`../shared/perf/mint_tokens.py`) tells its tokens apart.
fn numbered_token(key: &SigningKey, n: u32) -> String {
    let now = UnixTime::now().0;
    key.mint(&json!({ "iss": ISS, "aud": "https://api.example.com/", "sub": format!("user-{n}"), "scope": "read write",
                      "iat": now, "exp": now + 86_400, "jti": format!("{n:016x}") }))
        .expect("mint")
}

/// The raw aws-lc-rs verification for `alg` over a fixed message: the floor our verify
/// path adds its work to.
fn raw_primitive(alg: Algorithm) -> (ParsedPublicKey, Vec<u8>) {
    let rng = SystemRandom::new();
    let message = b"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1c2VyLTQyIn0";
    match alg {
        Algorithm::Rs256 => {
            let pair = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
            let mut sig = vec![0; pair.public_modulus_len()];
            pair.sign(&signature::RSA_PKCS1_SHA256, &rng, message, &mut sig)
                .unwrap();
            (
                ParsedPublicKey::new(
                    &signature::RSA_PKCS1_2048_8192_SHA256,
                    pair.public_key().as_ref(),
                )
                .unwrap(),
                sig,
            )
        }
        Algorithm::Es256 => {
            let pair = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
            let sig = pair.sign(&rng, message).unwrap().as_ref().to_vec();
            (
                ParsedPublicKey::new(
                    &signature::ECDSA_P256_SHA256_FIXED,
                    pair.public_key().as_ref(),
                )
                .unwrap(),
                sig,
            )
        }
        _ => {
            let pair = Ed25519KeyPair::generate().unwrap();
            let sig = pair.sign(message).as_ref().to_vec();
            (
                ParsedPublicKey::new(&signature::ED25519, pair.public_key().as_ref()).unwrap(),
                sig,
            )
        }
    }
}

fn benches(c: &mut Criterion) {
    let now = UnixTime::now();
    let es = SigningKey::generate(Algorithm::Es256)
        .unwrap()
        .with_kid("es");
    let es_token = token(&es);
    let authorization = format!("Bearer {es_token}");

    c.bench_function("extract/bearer_token", |b| {
        b.iter(|| access_token(black_box(&[authorization.as_bytes()])))
    });
    let limits = snapshot(&[&es]).limits;
    c.bench_function("parse/inspect", |b| {
        b.iter(|| inspect(black_box(&es_token), &limits))
    });

    let rsa = SigningKey::generate(Algorithm::Rs256).unwrap();
    let ed = SigningKey::generate(Algorithm::EdDsa).unwrap();
    for (alg, key) in [
        (Algorithm::Rs256, rsa.clone()),
        (Algorithm::Ps256, rsa.with_alg(Algorithm::Ps256).unwrap()),
        (
            Algorithm::Es256,
            SigningKey::generate(Algorithm::Es256).unwrap(),
        ),
        (
            Algorithm::Es384,
            SigningKey::generate(Algorithm::Es384).unwrap(),
        ),
        (
            Algorithm::Es512,
            SigningKey::generate(Algorithm::Es512).unwrap(),
        ),
        (Algorithm::EdDsa, ed.clone()),
    ] {
        let key = key.with_kid(alg.name());
        let snap = snapshot(&[&key]);
        let t = token(&key);
        c.bench_function(&format!("verify/{alg}"), |b| {
            b.iter(|| verify(black_box(&t), &snap, &ProviderSet::Any, now).is_ok())
        });
    }
    for alg in [Algorithm::Rs256, Algorithm::Es256, Algorithm::EdDsa] {
        let (key, sig) = raw_primitive(alg);
        let message = b"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1c2VyLTQyIn0";
        c.bench_function(&format!("raw_aws_lc/{alg}"), |b| {
            b.iter(|| key.verify_sig(black_box(message), black_box(&sig)).is_ok())
        });
    }

    let snap = snapshot(&[&es]);
    let request = Request {
        authorization: vec![authorization.as_bytes()],
        method: "GET",
        path: "/",
        host: "api",
        ..Request::default()
    };
    c.bench_function("decide/ES256", |b| {
        b.iter(|| decide(&snap, black_box(&request), now))
    });
    // The same work with a new token each time, as `DISTINCT=1 benches/envoy/run.sh` sends:
    // the same instructions as one token decided over and over, but that loop finds the
    // same table entries and branches each time, which a new signature does not.
    let distinct: Vec<String> = (0..4096)
        .map(|n| format!("Bearer {}", numbered_token(&es, n)))
        .collect();
    let mut next = distinct.iter().cycle();
    c.bench_function("decide/ES256_distinct", |b| {
        b.iter(|| {
            let authorization = next.next().expect("a cycle never ends");
            let request = Request {
                authorization: vec![authorization.as_bytes()],
                ..request.clone()
            };
            decide(&snap, black_box(&request), now)
        })
    });
    let cache = TokenCache::new(4096, 8 << 20).unwrap();
    c.bench_function("decide/ES256_cache_hit", |b| {
        b.iter(|| decide_cached(&snap, black_box(&request), now, Some(&cache)))
    });
    mtls(c, &snap, &es, now);

    let shared = Arc::new(ArcSwap::from_pointee(snapshot(&[&es])));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    // What Envoy 1.40 sends, encoded with upstream's schema (see grpc::envoy_sample).
    let body = bytes::Bytes::from(envoy_sample::check_request(&[(
        "authorization",
        &authorization,
    )]));
    let check = CheckRequest::decode(body.clone()).unwrap();
    for (name, cache) in [
        ("check/ES256", None),
        (
            "check/ES256_cache_hit",
            TokenCache::new(4096, 8 << 20).map(Arc::new),
        ),
    ] {
        let service =
            AuthzService::new(shared.clone(), None, Arc::new(Observer::new(100))).with_cache(cache);
        c.bench_function(name, |b| {
            b.iter(|| {
                runtime
                    .block_on(service.check(tonic::Request::new(check.clone())))
                    .is_ok()
            })
        });
    }

    // The whole Check as tonic runs it, minus HTTP/2: decode the protobuf body, answer,
    // encode. `wire/standin_floor` does what the always-allow stand-in of ../shared/perf
    // does (decode, answer a bare OK), so the difference is the cost of our code.
    c.bench_function("wire/standin_floor", |b| {
        b.iter(|| {
            let request = upstream::CheckRequest::decode(black_box(body.clone())).unwrap();
            black_box(&request);
            CheckResponse {
                status: Some(envoy_jwt_authz::proto::google::rpc::Status::default()),
                ..CheckResponse::default()
            }
            .encode_to_vec()
        })
    });
    let service = AuthzService::new(shared.clone(), None, Arc::new(Observer::new(100)))
        .with_cache(TokenCache::new(4096, 8 << 20).map(Arc::new));
    c.bench_function("wire/ES256_cache_hit", |b| {
        b.iter(|| {
            let request = CheckRequest::decode(black_box(body.clone())).unwrap();
            runtime
                .block_on(service.check(tonic::Request::new(request)))
                .unwrap()
                .into_inner()
                .encode_to_vec()
        })
    });
}

/// RFC 8705: the thumbprint of a client certificate as Envoy sends it (URL-encoded PEM)
/// and as an XFCC `Hash=` carries it, and the whole cached decision of a token bound to it.
fn mtls(c: &mut Criterion, snap: &Snapshot, key: &SigningKey, now: UnixTime) {
    let mut params = rcgen::CertificateParams::new(vec![
        "client.example.com".to_owned(),
        "spiffe://example.com/ns/orders/sa/client".to_owned(),
    ])
    .unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "orders client");
    let made = params
        .self_signed(&rcgen::KeyPair::generate().unwrap())
        .unwrap();
    let encoded = made
        .pem()
        .replace('\n', "%0A")
        .replace(' ', "%20")
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D");
    let thumbprint = Thumbprint::of_der(made.der());
    let hex: String = thumbprint.0.iter().map(|b| format!("{b:02x}")).collect();
    let header = format!(
        "By=spiffe://example.com/ns/edge/sa/gateway;Hash={hex};Subject=\"CN=orders client\";URI=spiffe://example.com/ns/orders/sa/client"
    );
    c.bench_function(
        &format!("mtls/thumbprint_of_pem_{}B_der", made.der().len()),
        |b| b.iter(|| Thumbprint::of_pem(black_box(encoded.as_bytes()))),
    );
    c.bench_function("mtls/thumbprint_of_xfcc_hash", |b| {
        b.iter(|| match xfcc::nearest(&[black_box(header.as_bytes())]) {
            Ok(xfcc::Presented::Hash(hex)) => Thumbprint::from_hex(&hex),
            _ => None,
        })
    });
    let now_s = now.0;
    let bound = key
        .mint(&json!({ "iss": ISS, "aud": "https://api.example.com/", "sub": "user-42", "scope": "read write",
                       "iat": now_s, "exp": now_s + 86_400, "cnf": { "x5t#S256": thumbprint.to_base64url() } }))
        .unwrap();
    let authorization = format!("Bearer {bound}");
    let request = Request {
        authorization: vec![authorization.as_bytes()],
        method: "GET",
        path: "/",
        host: "api",
        peer: Peer {
            certificate: Some(encoded.as_bytes()),
            ..Peer::default()
        },
        ..Request::default()
    };
    let cache = TokenCache::new(4096, 8 << 20).unwrap();
    assert!(matches!(
        decide_cached(snap, &request, now, Some(&cache)),
        envoy_jwt_authz::decision::Decision::Allow(_)
    ));
    c.bench_function("decide/ES256_cache_hit_certificate_bound", |b| {
        b.iter(|| decide_cached(snap, black_box(&request), now, Some(&cache)))
    });
}

/// Upstream's request schema (strings, maps, every field Envoy sets), as the stand-in's
/// `envoy-types` declares it: what `wire/standin_floor` decodes with.
mod upstream {
    use std::collections::HashMap;

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct CheckRequest {
        #[prost(message, optional, tag = "1")]
        pub attributes: Option<AttributeContext>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct AttributeContext {
        #[prost(message, optional, tag = "1")]
        pub source: Option<Peer>,
        #[prost(message, optional, tag = "2")]
        pub destination: Option<Peer>,
        #[prost(message, optional, tag = "4")]
        pub request: Option<Request>,
        #[prost(map = "string, string", tag = "10")]
        pub context_extensions: HashMap<String, String>,
        #[prost(message, optional, tag = "11")]
        pub metadata_context: Option<Metadata>,
        #[prost(message, optional, tag = "13")]
        pub route_metadata_context: Option<Metadata>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Peer {
        #[prost(message, optional, tag = "1")]
        pub address: Option<Address>,
        #[prost(string, tag = "2")]
        pub service: String,
        #[prost(map = "string, string", tag = "3")]
        pub labels: HashMap<String, String>,
        #[prost(string, tag = "4")]
        pub principal: String,
        #[prost(string, tag = "5")]
        pub certificate: String,
    }

    /// Upstream's `oneof address`, of which Envoy sets `socket_address`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Address {
        #[prost(message, optional, tag = "1")]
        pub socket_address: Option<SocketAddress>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct SocketAddress {
        #[prost(string, tag = "2")]
        pub address: String,
        #[prost(uint32, tag = "3")]
        pub port_value: u32,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Request {
        #[prost(message, optional, tag = "1")]
        pub time: Option<prost_types::Timestamp>,
        #[prost(message, optional, tag = "2")]
        pub http: Option<HttpRequest>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct HttpRequest {
        #[prost(string, tag = "1")]
        pub id: String,
        #[prost(string, tag = "2")]
        pub method: String,
        #[prost(map = "string, string", tag = "3")]
        pub headers: HashMap<String, String>,
        #[prost(string, tag = "4")]
        pub path: String,
        #[prost(string, tag = "5")]
        pub host: String,
        #[prost(string, tag = "6")]
        pub scheme: String,
        #[prost(string, tag = "7")]
        pub query: String,
        #[prost(string, tag = "8")]
        pub fragment: String,
        #[prost(int64, tag = "9")]
        pub size: i64,
        #[prost(string, tag = "10")]
        pub protocol: String,
        #[prost(string, tag = "11")]
        pub body: String,
        #[prost(bytes = "vec", tag = "12")]
        pub raw_body: Vec<u8>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Metadata {
        #[prost(map = "string, message", tag = "1")]
        pub filter_metadata: HashMap<String, prost_types::Struct>,
    }
}

criterion_group!(verify_benches, benches);
criterion_main!(verify_benches);
