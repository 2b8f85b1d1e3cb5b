//! Criterion benchmarks of denials under a flood (issue #20 part 2), in process: the whole
//! decision with the token cache for (a) one bad-signature token replayed (answered by the
//! bad-signature cache), (b) distinct bad-signature tokens (a full verify each), (c) an
//! unknown issuer, (d) no token — beside a cached allow and a distinct valid token, so the
//! ratios the issue targets read off one run.
//!
//! Run: `cargo bench --bench flood` (add `-- --quick` for a short run).

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use envoy_jwt_authz::algorithm::Algorithm;
use envoy_jwt_authz::config::compile_str;
use envoy_jwt_authz::decision::{Decision, Request, decide_cached};
use envoy_jwt_authz::mint::SigningKey;
use envoy_jwt_authz::token::cache::TokenCache;
use envoy_jwt_authz::token::verify::UnixTime;
use serde_json::json;
use std::hint::black_box;
use std::path::Path;

const ISS: &str = "https://issuer.example.com";

fn bench(c: &mut Criterion) {
    let idp = SigningKey::generate(Algorithm::Es256)
        .unwrap()
        .with_kid("k1");
    let impostor = SigningKey::generate(Algorithm::Es256)
        .unwrap()
        .with_kid("k1");
    let jwks = json!({ "keys": [idp.public_jwk()] });
    let yaml = format!(
        "providers:\n  - name: bench\n    issuer: {ISS}\n    audiences: [api]\n    jwks: {{ inline: '{jwks}' }}\n"
    );
    let snapshot = compile_str(&yaml, Path::new("bench.yaml")).unwrap();
    let now = UnixTime::now();
    let mut n = 0u64;
    let mut mint = |key: &SigningKey, iss: &str| {
        n += 1;
        let claims =
            json!({ "iss": iss, "aud": "api", "sub": "u", "exp": now.0 + 86_400, "jti": n });
        format!("Bearer {}", key.mint(&claims).unwrap())
    };
    let valid = mint(&idp, ISS);
    let forged = mint(&impostor, ISS);
    let unknown = mint(&idp, "https://other.example.com");
    let cache = TokenCache::new(4096, 8 << 20).unwrap();
    let decide = |authorization: &str| {
        let request = Request {
            authorization: if authorization.is_empty() {
                vec![]
            } else {
                vec![authorization.as_bytes()]
            },
            method: "GET",
            path: "/",
            host: "api",
            ..Request::default()
        };
        decide_cached(&snapshot, black_box(&request), now, Some(&cache))
    };
    assert!(matches!(decide(&valid), Decision::Allow(_)));
    for (name, authorization) in [
        ("flood/allow_cached", valid.as_str()),
        ("flood/a_bad_signature_replayed", forged.as_str()),
        ("flood/c_unknown_issuer", unknown.as_str()),
        ("flood/d_no_token", ""),
    ] {
        c.bench_function(name, |b| b.iter(|| decide(authorization)));
    }
    let distinct = |key: &SigningKey, name: &str, c: &mut Criterion| {
        let key = key.clone();
        let mut m = 0u64;
        c.bench_function(name, move |b| {
            b.iter_batched(
                || {
                    m += 1;
                    let claims = json!({ "iss": ISS, "aud": "api", "exp": now.0 + 86_400, "jti": format!("d{m}") });
                    format!("Bearer {}", key.mint(&claims).unwrap())
                },
                |authorization| decide(&authorization),
                BatchSize::SmallInput,
            )
        });
    };
    distinct(&idp, "flood/valid_distinct", c);
    distinct(&impostor, "flood/b_bad_signature_distinct", c);
}

criterion_group!(benches, bench);
criterion_main!(benches);
