//! Criterion benchmarks of what traces cost a Check: the cache-hit Check through the tonic
//! service in-process (as `check/ES256_cache_hit` in `benches/verify.rs`), with Envoy's
//! `traceparent` in the call's metadata, and traces compiled in but off (no pipeline; the
//! header is never read), on with the `always_off` sampler (the context is parsed, no span
//! is recorded), and on with `always_on` (a span per Check, exported by the batch thread to
//! an exporter that discards it: the export is that thread's cost, not the Check's).
//!
//! The example config and its public demo key (`envoy/example/`) are the fixture.
//!
//! Run: `cargo bench --bench tracing` (add `-- --quick` for a short run).

use criterion::{Criterion, criterion_group, criterion_main};
use envoy_jwt_authz::algorithm::Algorithm;
use envoy_jwt_authz::authorizer::Authorizer;
use envoy_jwt_authz::grpc::{AuthzService, envoy_sample};
use envoy_jwt_authz::mint::SigningKey;
use envoy_jwt_authz::observe::Observer;
use envoy_jwt_authz::proto::envoy::service::auth::v3::CheckRequest;
use envoy_jwt_authz::proto::envoy::service::auth::v3::authorization_server::Authorization;
use envoy_jwt_authz::telemetry::{SamplerKind, Settings, Telemetry};
use envoy_jwt_authz::token::cache::TokenCache;
use envoy_jwt_authz::token::verify::UnixTime;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use prost::Message;
use std::path::Path;
use std::sync::Arc;

/// Drops every batch.
#[derive(Debug)]
struct Discard;

impl SpanExporter for Discard {
    async fn export(&self, _: Vec<SpanData>) -> OTelSdkResult {
        Ok(())
    }
}

fn benches(c: &mut Criterion) {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("envoy/example");
    let snapshot = envoy_jwt_authz::config::load(&example.join("config.yaml")).unwrap();
    let pem = std::fs::read_to_string(example.join("demo-signing-key.pem")).unwrap();
    let key = SigningKey::from_pkcs8_pem(&pem, Algorithm::Es256)
        .unwrap()
        .with_kid("demo-es256");
    let now = UnixTime::now().0;
    let claims = serde_json::json!({ "iss": "https://issuer.demo.example", "aud": "api://demo",
        "sub": "alice", "iat": now, "exp": now + 86_400 });
    let authorization = format!("Bearer {}", key.mint(&claims).unwrap());
    let body = envoy_sample::check_request(&[("authorization", &authorization)]);
    let check = CheckRequest::decode(&body[..]).unwrap();
    let traceparent: tonic::metadata::MetadataValue<_> =
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
            .parse()
            .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let shared = envoy_jwt_authz::snapshot::SharedSnapshot::new(snapshot);
    for (name, sampler) in [
        ("trace/off", None),
        ("trace/sampler_always_off", Some(SamplerKind::AlwaysOff)),
        ("trace/sampler_always_on", Some(SamplerKind::AlwaysOn)),
    ] {
        let telemetry = sampler.map(|sampler| {
            let settings = Settings {
                sampler,
                ..Settings::new("http://127.0.0.1:4317")
            };
            Arc::new(Telemetry::with_exporter(Discard, &settings))
        });
        let authorizer = Authorizer::new(shared.clone(), None, Arc::new(Observer::new(100)))
            .with_cache(TokenCache::new(4096, 8 << 20).map(Arc::new))
            .with_telemetry(telemetry.clone());
        let service = AuthzService::over(authorizer);
        let checked = |check: CheckRequest| {
            let mut request = tonic::Request::new(check);
            let metadata = request.metadata_mut();
            metadata.insert("traceparent", traceparent.clone());
            runtime
                .block_on(service.check(request))
                .unwrap()
                .into_inner()
        };
        let first = checked(check.clone());
        assert_eq!(first.status.map(|s| s.code), Some(0), "{name}: allowed");
        c.bench_function(name, |b| b.iter(|| checked(check.clone())));
        if let Some(telemetry) = telemetry {
            telemetry.flush();
            let (exported, queue_full, _) = telemetry.counts().get();
            eprintln!("{name}: {exported} spans exported, {queue_full} dropped (queue full)");
        }
    }
}

criterion_group!(tracing_benches, benches);
criterion_main!(tracing_benches);
