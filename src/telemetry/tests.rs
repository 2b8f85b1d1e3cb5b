//! Unit tests of the trace settings, the Check span (parent, attributes, what it never
//! carries), the bounded export queue, and that a Check with traces off reads no header.

use super::*;
use crate::algorithm::Algorithm;
use crate::authorizer::Authorizer;
use crate::decision::Request;
use crate::mint::SigningKey;
use crate::observe::{Observer, Origin};
use crate::token::verify::UnixTime;
use opentelemetry::trace::{SpanId, TraceId};
use opentelemetry_sdk::trace::SpanData;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

const ISS: &str = "https://issuer.example.com";
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID: &str = "00f067aa0ba902b7";

fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
    move |name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    }
}

#[test]
fn traces_are_off_without_an_endpoint_and_with_the_sdk_disabled() {
    let args = TraceArgs::default();
    let traced = [
        ("OTEL_SERVICE_NAME", "x"),
        ("OTEL_TRACES_SAMPLER", "always_on"),
    ];
    assert_eq!(Settings::resolve(&args, env(&traced)), Ok(None));
    let empty = [("OTEL_EXPORTER_OTLP_ENDPOINT", " ")];
    assert_eq!(Settings::resolve(&args, env(&empty)), Ok(None));
    let disabled = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317"),
        ("OTEL_SDK_DISABLED", "TRUE"),
    ];
    assert_eq!(Settings::resolve(&args, env(&disabled)), Ok(None));
}

#[test]
fn flags_win_over_variables_and_the_traces_endpoint_over_the_generic_one() {
    let vars = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://generic:4317"),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:4317"),
        ("OTEL_SERVICE_NAME", "from-env"),
        ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
        ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "100"),
    ];
    let from_env = Settings::resolve(&TraceArgs::default(), env(&vars))
        .unwrap()
        .unwrap();
    assert_eq!(from_env.endpoint, "http://traces:4317");
    assert_eq!(from_env.service_name, "from-env");
    assert_eq!(from_env.sampler, SamplerKind::ParentBasedTraceIdRatio);
    assert_eq!((from_env.ratio, from_env.max_queue_size), (0.25, 100));
    assert!(!from_env.record_subject, "sub is off unless asked for");
    let args = TraceArgs {
        otlp_endpoint: Some("http://flag:4317".into()),
        otel_service_name: Some("from-flag".into()),
        trace_sampler: Some(SamplerKind::AlwaysOff),
        trace_sampler_arg: Some(0.5),
        trace_sub: true,
    };
    let from_flags = Settings::resolve(&args, env(&vars)).unwrap().unwrap();
    assert_eq!(from_flags.endpoint, "http://flag:4317");
    assert_eq!(from_flags.service_name, "from-flag");
    assert_eq!(from_flags.sampler, SamplerKind::AlwaysOff);
    assert_eq!(from_flags.ratio, 0.5);
    assert!(from_flags.record_subject);
    let defaults = Settings::resolve(&args_for("http://c:4317"), env(&[]))
        .unwrap()
        .unwrap();
    assert_eq!(defaults, Settings::new("http://c:4317"));
}

fn args_for(endpoint: &str) -> TraceArgs {
    TraceArgs {
        otlp_endpoint: Some(endpoint.into()),
        ..TraceArgs::default()
    }
}

#[test]
fn unusable_values_are_refused_by_name_not_replaced() {
    let ok = args_for("http://c:4317");
    for (vars, named) in [
        (
            vec![("OTEL_TRACES_SAMPLER", "jaeger_remote")],
            "OTEL_TRACES_SAMPLER",
        ),
        (
            vec![("OTEL_TRACES_SAMPLER_ARG", "1.5")],
            "OTEL_TRACES_SAMPLER_ARG",
        ),
        (
            vec![("OTEL_TRACES_SAMPLER_ARG", "half")],
            "OTEL_TRACES_SAMPLER_ARG",
        ),
        (
            vec![("OTEL_BSP_MAX_QUEUE_SIZE", "0")],
            "OTEL_BSP_MAX_QUEUE_SIZE",
        ),
    ] {
        let refused = Settings::resolve(&ok, env(&vars)).unwrap_err();
        assert!(refused.starts_with(named), "{refused}");
    }
    for endpoint in ["https://c:4317", "c:4317", "http://", "http:///x"] {
        let refused = Settings::resolve(&args_for(endpoint), env(&[])).unwrap_err();
        assert!(refused.starts_with("--otlp-endpoint"), "{refused}");
    }
    let vars = [("OTEL_EXPORTER_OTLP_ENDPOINT", "https://c")];
    let refused = Settings::resolve(&TraceArgs::default(), env(&vars)).unwrap_err();
    assert!(refused.contains("https is not supported"), "{refused}");
}

/// Every span exported, for the test to read.
#[derive(Debug, Clone, Default)]
struct Collect(Arc<Mutex<Vec<SpanData>>>);

impl SpanExporter for Collect {
    async fn export(&self, batch: Vec<SpanData>) -> opentelemetry_sdk::error::OTelSdkResult {
        self.0.lock().unwrap().extend(batch);
        Ok(())
    }
}

/// Headers from a table, counting every lookup.
#[derive(Default)]
struct Table {
    values: HashMap<&'static str, String>,
    lookups: AtomicUsize,
}

impl Headers for Table {
    fn get(&self, name: &str) -> Option<&str> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        self.values.get(name).map(String::as_str)
    }
}

fn traceparent() -> Table {
    Table {
        values: HashMap::from([
            ("traceparent", format!("00-{TRACE_ID}-{PARENT_ID}-01")),
            ("tracestate", "envoy=1".into()),
        ]),
        ..Table::default()
    }
}

/// A snapshot trusting one ES256 key (`kid: k1`) for [`ISS`], and a token it signed.
fn snapshot_and_token() -> (crate::snapshot::Snapshot, String) {
    let key = SigningKey::generate(Algorithm::Es256)
        .unwrap()
        .with_kid("k1");
    let jwks = json!({ "keys": [key.public_jwk()] });
    let yaml = format!(
        "providers:\n  - name: idp\n    issuer: {ISS}\n    audiences: [api]\n    jwks: {{ inline: '{jwks}' }}\n"
    );
    let snapshot = crate::config::compile_str(&yaml, std::path::Path::new("t.yaml")).unwrap();
    let now = UnixTime::now().0;
    let token = key
        .mint(&json!({ "iss": ISS, "aud": "api", "sub": "alice", "iat": now, "exp": now + 60 }))
        .unwrap();
    (snapshot, token)
}

fn request(authorization: &str) -> Request<'_> {
    Request {
        authorization: vec![authorization.as_bytes()],
        method: "GET",
        path: "/",
        host: "api",
        ..Request::default()
    }
}

struct Fixture {
    authorizer: Authorizer,
    token: String,
    spans: Collect,
    telemetry: Option<Arc<Telemetry>>,
}

/// An authorizer trusting one ES256 key (`kid: k1`) for [`ISS`], traced as `settings` say
/// (`None`: traces off).
fn fixture(settings: Option<Settings>) -> Fixture {
    let (snapshot, token) = snapshot_and_token();
    let spans = Collect::default();
    let telemetry = settings.map(|s| Arc::new(Telemetry::with_exporter(spans.clone(), &s)));
    let authorizer = Authorizer::new(snapshot, None, Arc::new(Observer::new(0)))
        .with_telemetry(telemetry.clone());
    Fixture {
        authorizer,
        token,
        spans,
        telemetry,
    }
}

impl Fixture {
    /// Checks `authorization` with `headers`, and returns every span exported since.
    fn check(&self, authorization: &str, headers: &dyn Headers) -> Vec<SpanData> {
        let request = request(authorization);
        let origin = Origin {
            request_id: "r",
            client: &"127.0.0.1:1",
            headers,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(
            self.authorizer
                .check(&request, origin, Duration::from_secs(1)),
        );
        if let Some(telemetry) = &self.telemetry {
            telemetry.flush();
        }
        std::mem::take(&mut *self.spans.0.lock().unwrap())
    }
}

fn attribute(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.to_string())
}

#[test]
fn a_denied_check_is_one_span_under_the_callers_context_naming_the_reason() {
    let f = fixture(Some(Settings::new("http://unused:4317")));
    // One signature character changed (not the last, whose spare bits must stay zero).
    let mut forged = format!("Bearer {}", f.token).into_bytes();
    let at = forged.len() - 10;
    forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    let spans = f.check(&forged, &traceparent());
    let [span] = &spans[..] else {
        panic!("one span: {spans:?}")
    };
    assert_eq!(span.name, CHECK_SPAN);
    assert_eq!(span.span_kind, SpanKind::Server);
    assert_eq!(
        span.span_context.trace_id(),
        TraceId::from_hex(TRACE_ID).unwrap()
    );
    assert_eq!(span.parent_span_id, SpanId::from_hex(PARENT_ID).unwrap());
    assert!(span.parent_span_is_remote);
    assert_eq!(span.span_context.trace_state().get("envoy"), Some("1"));
    let attr = |key| attribute(span, key);
    assert_eq!(attr("authz.decision").as_deref(), Some("deny"));
    assert_eq!(attr("authz.reason").as_deref(), Some("signature_invalid"));
    assert_eq!(attr("authz.provider").as_deref(), Some("idp"));
    assert_eq!(attr("authz.kid").as_deref(), Some("k1"));
    assert_eq!(attr("http.response.status_code").as_deref(), Some("401"));
    assert_eq!(span.status, Status::Unset, "a refusal is not an error");
    for kv in &span.attributes {
        let value = kv.value.to_string();
        assert!(!f.token.contains(&value) || value.len() < 8, "{kv:?}");
        assert_ne!(value, "alice");
    }
}

#[test]
fn the_subject_is_on_an_allowed_span_only_when_configured() {
    for record_subject in [false, true] {
        let f = fixture(Some(Settings {
            record_subject,
            ..Settings::new("http://unused:4317")
        }));
        let spans = f.check(&format!("Bearer {}", f.token), &NoHeaders);
        let [span] = &spans[..] else {
            panic!("one span: {spans:?}")
        };
        assert_eq!(attribute(span, "authz.decision").as_deref(), Some("allow"));
        assert_eq!(attribute(span, "authz.reason").as_deref(), Some("ok"));
        assert_eq!(span.parent_span_id, SpanId::INVALID, "a trace of its own");
        let sub = attribute(span, "enduser.id");
        assert_eq!(sub.as_deref(), record_subject.then_some("alice"));
    }
}

#[test]
fn with_traces_off_a_check_reads_no_header_and_exports_nothing() {
    let f = fixture(None);
    let headers = traceparent();
    assert!(f.check("Bearer nope", &headers).is_empty());
    assert_eq!(headers.lookups.load(Ordering::SeqCst), 0);
    // The same Check traced does read them (so the count above means something).
    let on = fixture(Some(Settings::new("http://unused:4317")));
    assert_eq!(on.check("Bearer nope", &headers).len(), 1);
    assert!(headers.lookups.load(Ordering::SeqCst) > 0);
}

#[test]
fn a_sampler_that_records_nothing_exports_nothing() {
    let f = fixture(Some(Settings {
        sampler: SamplerKind::ParentBasedAlwaysOff,
        ..Settings::new("http://unused:4317")
    }));
    assert!(f.check("Bearer nope", &NoHeaders).is_empty());
    let unsampled = Table {
        values: HashMap::from([("traceparent", format!("00-{TRACE_ID}-{PARENT_ID}-00"))]),
        ..Table::default()
    };
    let always = fixture(Some(Settings::new("http://unused:4317")));
    assert!(
        always.check("Bearer nope", &unsampled).is_empty(),
        "parent-based: Envoy's choice not to sample stands"
    );
}

/// An exporter that says when an export starts and returns only when let go.
#[derive(Debug)]
struct Gate {
    started: Mutex<std::sync::mpsc::Sender<()>>,
    release: Mutex<std::sync::mpsc::Receiver<()>>,
}

impl SpanExporter for Gate {
    async fn export(&self, _: Vec<SpanData>) -> opentelemetry_sdk::error::OTelSdkResult {
        let _ = self.started.lock().unwrap().send(());
        let _ = self.release.lock().unwrap().recv();
        Ok(())
    }
}

#[test]
fn a_span_beyond_the_queue_is_dropped_and_counted_while_the_collector_is_slow() {
    let (started, export_started) = std::sync::mpsc::channel();
    let (let_go, release) = std::sync::mpsc::channel();
    let gate = Gate {
        started: Mutex::new(started),
        release: Mutex::new(release),
    };
    let settings = Settings {
        max_queue_size: 1,
        ..Settings::new("http://unused:4317")
    };
    let telemetry = Telemetry::with_exporter(gate, &settings);
    let (snapshot, _) = snapshot_and_token();
    let decision = crate::decision::decide(&snapshot, &request(""), UnixTime::now());
    telemetry.check(&NoHeaders).end(&decision);
    export_started.recv().unwrap();
    // The first span is with the exporter; one more fits the queue, the third does not.
    telemetry.check(&NoHeaders).end(&decision);
    telemetry.check(&NoHeaders).end(&decision);
    assert_eq!(telemetry.counts().get(), (0, 1, 0));
    let_go.send(()).unwrap();
    let_go.send(()).unwrap();
    telemetry.flush();
    assert_eq!(telemetry.counts().get(), (2, 1, 0));
    let text = {
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register_collector(Box::new(telemetry.collector()));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        text
    };
    assert!(text.contains("trace_spans_exported_total 2"), "{text}");
    assert!(
        text.contains(r#"trace_spans_dropped_total{reason="queue_full"} 1"#),
        "{text}"
    );
}

#[test]
fn http_mode_takes_the_context_from_the_check_requests_headers() {
    let f = fixture(Some(Settings::new("http://unused:4317")));
    let mut headers = axum::http::HeaderMap::new();
    let traceparent = format!("00-{TRACE_ID}-{PARENT_ID}-01");
    headers.insert("traceparent", traceparent.parse().unwrap());
    let spans = f.check("Bearer nope", &headers);
    let [span] = &spans[..] else {
        panic!("one span: {spans:?}")
    };
    assert_eq!(span.parent_span_id, SpanId::from_hex(PARENT_ID).unwrap());
}
