//! Criterion benchmarks of DPoP (RFC 9449): one ES256 proof's verification alone, and the
//! whole decision for a DPoP-bound token beside the same token as Bearer, with and without
//! the token cache — so the cost a proof adds to a Check reads off one run.
//!
//! Run: `cargo bench --bench dpop` (add `-- --quick` for a short run).

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use envoy_jwt_authz::algorithm::{Algorithm, AlgorithmSet};
use envoy_jwt_authz::config::compile_str;
use envoy_jwt_authz::decision::{Decision, Memory, Request, Scheme, decide_introspected};
use envoy_jwt_authz::dpop::{ProofState, proof};
use envoy_jwt_authz::mint::SigningKey;
use envoy_jwt_authz::token::cache::TokenCache;
use envoy_jwt_authz::token::verify::UnixTime;
use envoy_jwt_authz::trace::Off;
use serde_json::json;
use std::hint::black_box;
use std::path::Path;

const ISS: &str = "https://issuer.example.com";
const URL: &str = "https://api.example.com/orders";

fn bench(c: &mut Criterion) {
    let idp = SigningKey::generate(Algorithm::Es256)
        .unwrap()
        .with_kid("k1");
    let client = SigningKey::generate(Algorithm::Es256).unwrap();
    let jwks = json!({ "keys": [idp.public_jwk()] });
    // A replay cache far larger than the iterations, so every proof is recorded.
    let yaml = format!(
        "providers:\n  - name: bench\n    issuer: {ISS}\n    audiences: [api]\n    jwks: {{ inline: '{jwks}' }}\n    dpop: {{ replay_cache_entries: 10000000 }}\n"
    );
    let snapshot = compile_str(&yaml, Path::new("bench.yaml")).unwrap();
    let now = UnixTime::now();
    let token = idp
        .mint(&json!({ "iss": ISS, "aud": "api", "sub": "user-42", "iat": now.0, "exp": now.0 + 86_400,
                       "cnf": { "jkt": client.thumbprint() } }))
        .unwrap();
    let fresh_proof = || {
        client
            .dpop_proof("GET", URL, now.0, Some(&token), None)
            .unwrap()
    };

    let one = fresh_proof();
    c.bench_function("dpop/proof_verify_ES256", |b| {
        b.iter(|| proof::verify(black_box(one.as_bytes()), AlgorithmSet::all()).is_ok())
    });

    let bearer = format!("Bearer {}", idp.mint(&json!({ "iss": ISS, "aud": "api", "sub": "user-42", "iat": now.0, "exp": now.0 + 86_400 })).unwrap());
    let dpop = format!("DPoP {token}");
    let request = |authorization: &'static str| Request {
        authorization: vec![authorization.as_bytes()],
        method: "GET",
        path: "/orders",
        host: "api.example.com",
        scheme: Some(Scheme::Https),
        ..Request::default()
    };
    let bearer: &'static str = Box::leak(bearer.into_boxed_str());
    let dpop: &'static str = Box::leak(dpop.into_boxed_str());
    for cached in [false, true] {
        let cache = TokenCache::new(4096, 8 << 20).unwrap();
        let state = ProofState::default();
        let memory = Memory {
            tokens: cached.then_some(&cache),
            proofs: Some(&state),
        };
        let suffix = if cached { "_cache_hit" } else { "" };
        c.bench_function(&format!("dpop/decide_bearer{suffix}"), |b| {
            let request = request(bearer);
            b.iter(|| {
                decide_introspected(&snapshot, black_box(&request), now, memory, None, &mut Off)
            })
        });
        c.bench_function(&format!("dpop/decide_dpop{suffix}"), |b| {
            b.iter_batched(
                fresh_proof,
                |proof| {
                    let request = Request {
                        dpop: vec![proof.as_bytes()],
                        ..request(dpop)
                    };
                    let decision =
                        decide_introspected(&snapshot, &request, now, memory, None, &mut Off);
                    assert!(matches!(decision, Decision::Allow(_)));
                },
                BatchSize::SmallInput,
            )
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
