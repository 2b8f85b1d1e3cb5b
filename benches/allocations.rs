//! Heap allocations per Check, counted rather than timed: the whole Check from protobuf bytes
//! to protobuf bytes (decode, decide, encode, as tonic runs it minus HTTP/2) for a token the
//! cache holds, and for a new token each time (a cache miss, as `DISTINCT=1
//! benches/envoy/run.sh` sends), beside the decode and a bare OK alone (what every ext_authz
//! server pays, the always-allow stand-in included).
//!
//! On the shared core an allocation costs far more than in a tight loop (BENCHMARKS O), so
//! the count is worth watching beside criterion's times. `dhat` is a safe global allocator
//! that counts every block; `DHAT_FILE=path` also writes the allocation sites of the miss
//! path for dhat's viewer (`dh_view.html`).
//!
//! Run: `cargo bench --bench allocations`.

use arc_swap::ArcSwap;
use envoy_jwt_authz::algorithm::Algorithm;
use envoy_jwt_authz::config::compile_str;
use envoy_jwt_authz::grpc::{AuthzService, envoy_sample};
use envoy_jwt_authz::mint::SigningKey;
use envoy_jwt_authz::observe::Observer;
use envoy_jwt_authz::proto::envoy::service::auth::v3::authorization_server::Authorization;
use envoy_jwt_authz::proto::envoy::service::auth::v3::{CheckRequest, CheckResponse};
use envoy_jwt_authz::proto::google::rpc::Status;
use envoy_jwt_authz::token::cache::TokenCache;
use envoy_jwt_authz::token::verify::UnixTime;
use prost::Message;
use serde_json::json;
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

const ISS: &str = "https://issuer.example.com";
/// Checks per measurement; the counts are the same on every run, so a few suffice.
const ROUNDS: usize = 200;

fn main() {
    let key = SigningKey::generate(Algorithm::Es256)
        .expect("key")
        .with_kid("es");
    // The configuration of `benches/verify.rs`: one provider, one claim header, the
    // default metadata (`provider`, `sub`).
    let jwks = json!({ "keys": [key.public_jwk()] });
    let yaml = format!(
        "providers:\n  - name: bench\n    issuer: {ISS}\n    audiences: [https://api.example.com/]\n    jwks: {{ inline: '{jwks}' }}\nupstream: {{ claim_headers: {{ sub: x-jwt-sub }} }}\n"
    );
    let snapshot = compile_str(&yaml, Path::new("bench.yaml")).expect("bench config");
    let now = UnixTime::now().0;
    // What Envoy 1.40 sends, one body per token (see grpc::envoy_sample); the first
    // ROUNDS warm the cache and every lazy table up, the next ROUNDS are new tokens.
    let bodies: Vec<bytes::Bytes> = (0..2 * ROUNDS)
        .map(|n| {
            let token = key
                .mint(&json!({ "iss": ISS, "aud": "https://api.example.com/", "sub": format!("user-{n}"),
                               "scope": "read write", "iat": now, "exp": now + 86_400, "jti": format!("{n:016x}") }))
                .expect("mint");
            let authorization = format!("Bearer {token}");
            envoy_sample::check_request(&[("authorization", &authorization)]).into()
        })
        .collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let service = AuthzService::new(
        Arc::new(ArcSwap::from_pointee(snapshot)),
        None,
        Arc::new(Observer::new(100)),
    )
    .with_cache(TokenCache::new(4096, 8 << 20).map(Arc::new));
    let check = |body: &bytes::Bytes| {
        let request = CheckRequest::decode(body.clone()).expect("decode");
        let response = runtime
            .block_on(service.check(tonic::Request::new(request)))
            .expect("answer");
        response.into_inner().encode_to_vec()
    };
    let (warm, fresh) = bodies.split_at(ROUNDS);
    warm.iter().for_each(|body| drop(check(body)));

    let file = std::env::var_os("DHAT_FILE");
    let _profiler = match &file {
        Some(path) => dhat::Profiler::builder().file_name(path).build(),
        None => dhat::Profiler::builder().testing().build(),
    };
    let floor = count(|| {
        for body in warm {
            black_box(CheckRequest::decode(body.clone()).expect("decode"));
            let ok = CheckResponse {
                status: Some(Status::default()),
                ..CheckResponse::default()
            };
            black_box(ok.encode_to_vec());
        }
    });
    let hit = count(|| warm.iter().for_each(|body| drop(black_box(check(body)))));
    // Last, so that DHAT_FILE's sites are mostly the miss path's.
    let miss = count(|| fresh.iter().for_each(|body| drop(black_box(check(body)))));
    for (name, (blocks, bytes)) in [
        ("decode + bare OK (the floor)", floor),
        ("Check, cache hit", hit),
        ("Check, cache miss (new ES256 token)", miss),
    ] {
        println!("{name:<38} {blocks:6.1} allocations {bytes:8.0} bytes per Check");
    }
}

/// Allocations and bytes per Check over `ROUNDS` Checks run by `f`.
fn count(f: impl FnOnce()) -> (f64, f64) {
    let before = dhat::HeapStats::get();
    f();
    let after = dhat::HeapStats::get();
    let per = |a: u64, b: u64| (a - b) as f64 / ROUNDS as f64;
    (
        per(after.total_blocks, before.total_blocks),
        per(after.total_bytes, before.total_bytes),
    )
}
