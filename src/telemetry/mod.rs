//! OpenTelemetry traces of Checks, joined to the proxy's trace (issue #19).
//!
//! One span per Check, `authz.check` (kind server), whose parent is the W3C trace context
//! (`traceparent`, `tracestate`) the request carries — over gRPC, Envoy's ext_authz client
//! span, injected into the call's metadata — so it sits under Envoy's own spans. Children:
//! `authz.jwks_refetch` while a Check waits for an unknown-`kid` refetch, and
//! `authz.introspection` while it waits for an introspection answer.
//!
//! What a span carries is fixed here and nowhere else: the decision, reason code, provider,
//! route, `kid` (of a refused token, when it could be decoded), HTTP status, and the
//! token's `sub` only with `--trace-sub`. Never the token, a proof, a claim value besides
//! those, or a header.
//!
//! Off unless configured ([`Settings::resolve`]); the [`Authorizer`](crate::authorizer)
//! then holds no [`Telemetry`] and a Check creates no span and reads no header. On, export
//! never blocks a Check (see [`export`]).

mod export;
mod settings;
#[cfg(test)]
mod tests;

pub use export::Counts;
pub use settings::{
    DEFAULT_MAX_QUEUE_SIZE, DEFAULT_SERVICE_NAME, SamplerKind, Settings, TraceArgs,
};

use crate::decision::Decision;
use crate::introspection::Answer;
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{Span as _, SpanKind, Status, TraceContextExt, Tracer as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider, SpanExporter};
use std::sync::Arc;
use std::time::Duration;

/// The span of a Check.
pub const CHECK_SPAN: &str = "authz.check";
/// A Check waiting for an unknown-`kid` key refetch.
pub const REFETCH_SPAN: &str = "authz.jwks_refetch";
/// A Check waiting for an introspection answer.
pub const INTROSPECTION_SPAN: &str = "authz.introspection";

/// How long shutdown waits for the last spans to leave.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// A request's headers, as far as the trace context goes. Front ends implement it over
/// what they already hold; it is asked only when traces are on.
pub trait Headers: Sync {
    /// The value of the header `name` (lowercase), if present and text.
    fn get(&self, name: &str) -> Option<&str>;
}

/// No headers (a request without any, or a caller that has none to give).
pub struct NoHeaders;

impl Headers for NoHeaders {
    fn get(&self, _: &str) -> Option<&str> {
        None
    }
}

impl Headers for axum::http::HeaderMap {
    fn get(&self, name: &str) -> Option<&str> {
        axum::http::HeaderMap::get(self, name).and_then(|v| v.to_str().ok())
    }
}

/// The propagator's view of [`Headers`].
struct Carrier<'a>(&'a dyn Headers);

impl Extractor for Carrier<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key)
    }

    fn keys(&self) -> Vec<&str> {
        ["traceparent", "tracestate"]
            .into_iter()
            .filter(|k| self.0.get(k).is_some())
            .collect()
    }
}

/// Traces on: the tracer, its provider (the export pipeline) and the counts of what it
/// exported and dropped.
pub struct Telemetry {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
    counts: Arc<Counts>,
    record_subject: bool,
}

impl Telemetry {
    /// Exports over OTLP/gRPC as `settings` say. Call it within the tokio runtime (the
    /// exporter's connection runs on it); it connects lazily, so a collector that is not up
    /// yet is no error.
    pub fn start(settings: &Settings) -> Result<Telemetry, String> {
        Ok(Telemetry::with_exporter(export::otlp(settings)?, settings))
    }

    /// Exports to `exporter` instead (tests, benches), through the same bounded queue.
    pub fn with_exporter<E: SpanExporter + 'static>(exporter: E, settings: &Settings) -> Telemetry {
        let (provider, tracer, counts) = export::provider(exporter, settings);
        Telemetry {
            provider,
            tracer,
            counts,
            record_subject: settings.record_subject,
        }
    }

    /// Starts the span of a Check under the trace context in `headers` (a new trace
    /// without one, or with one that does not parse).
    pub fn check(&self, headers: &dyn Headers) -> CheckSpan<'_> {
        let parent = TraceContextPropagator::new().extract(&Carrier(headers));
        let span = self
            .tracer
            .span_builder(CHECK_SPAN)
            .with_kind(SpanKind::Server)
            .start_with_context(&self.tracer, &parent);
        CheckSpan {
            cx: parent.with_span(span),
            telemetry: self,
        }
    }

    /// What was exported and dropped so far.
    pub fn counts(&self) -> &Counts {
        &self.counts
    }

    /// The `/metrics` collector of [`Telemetry::counts`].
    pub fn collector(&self) -> impl prometheus_client::collector::Collector + use<> {
        export::CountsCollector(self.counts.clone())
    }

    /// Exports what is still queued and stops the pipeline. Blocks (up to 5 s): call it
    /// from a blocking task, never on a runtime thread the exporter needs.
    pub fn shutdown(&self) {
        if let Err(error) = self.provider.shutdown_with_timeout(SHUTDOWN_TIMEOUT) {
            tracing::warn!(%error, "trace export did not shut down cleanly");
        }
    }

    /// Sends every finished span to the exporter now, and waits for it (tests, benches).
    pub fn flush(&self) {
        let _ = self.provider.force_flush();
    }
}

/// The span of one Check, in the context its children start under. Ended by
/// [`CheckSpan::end`]; dropped unended (a Check its caller gave up on), it ends bare.
pub struct CheckSpan<'a> {
    cx: Context,
    telemetry: &'a Telemetry,
}

impl CheckSpan<'_> {
    /// Starts a child span `name` for `provider` (see [`REFETCH_SPAN`],
    /// [`INTROSPECTION_SPAN`]).
    pub fn child(&self, name: &'static str, provider: &str) -> ChildSpan {
        let tracer = &self.telemetry.tracer;
        let span = tracer
            .span_builder(name)
            .with_kind(SpanKind::Internal)
            .with_attributes([KeyValue::new("authz.provider", provider.to_owned())])
            .start_with_context(tracer, &self.cx);
        ChildSpan(span)
    }

    /// Ends the span with what `decision` says.
    pub fn end(self, decision: &Decision) {
        let span = self.cx.span();
        if !span.is_recording() {
            return span.end();
        }
        span.set_attributes(attributes(decision, self.telemetry.record_subject));
        if let Decision::Deny(deny) = decision
            && deny.status() >= 500
        {
            // The token was not judged (keys or introspection unavailable): an error of
            // ours. A refusal (4xx) is the service working, not failing.
            span.set_status(Status::error(deny.reason.code()));
        }
        span.end();
    }
}

/// A child span of a Check (`authz.jwks_refetch`, `authz.introspection`).
pub struct ChildSpan(opentelemetry_sdk::trace::Span);

impl ChildSpan {
    /// Ends it with its `authz.result`.
    pub fn end(mut self, result: &'static str) {
        self.0.set_attribute(KeyValue::new("authz.result", result));
        self.0.end();
    }

    /// Ends an `authz.introspection` span with what the endpoint answered.
    pub fn end_introspection(self, answer: &Answer) {
        self.end(answer.kind());
    }
}

/// The attributes of a Check's span: bounded values (enums and config names), plus the
/// refused token's `kid` and, when configured, the `sub` of an allowed one.
fn attributes(decision: &Decision, record_subject: bool) -> Vec<KeyValue> {
    let mut attributes = Vec::with_capacity(7);
    let mut optional = |key: &'static str, value: Option<&str>| {
        if let Some(value) = value {
            attributes.push(KeyValue::new(key, value.to_owned()));
        }
    };
    let (kind, reason, status) = match decision {
        Decision::Allow(allow) => {
            let identity = allow.identity.as_ref();
            optional("authz.provider", identity.map(|i| i.provider.as_str()));
            optional("authz.route", allow.route.as_deref());
            if record_subject {
                optional("enduser.id", identity.and_then(|i| i.subject.as_deref()));
            }
            let reason = if identity.is_some() {
                "ok"
            } else {
                "anonymous"
            };
            ("allow", reason, 200)
        }
        Decision::Deny(deny) => {
            optional("authz.provider", deny.provider.as_deref());
            optional("authz.route", deny.route.as_deref());
            optional(
                "authz.kid",
                deny.observed.as_ref().and_then(|o| o.kid.as_deref()),
            );
            ("deny", deny.reason.code(), deny.status())
        }
        Decision::Serve(serve) => {
            optional("authz.route", serve.route.as_deref());
            ("serve", "resource_metadata", crate::decision::Serve::STATUS)
        }
    };
    attributes.extend([
        KeyValue::new("authz.decision", kind),
        KeyValue::new("authz.reason", reason),
        KeyValue::new("http.response.status_code", i64::from(status)),
    ]);
    attributes
}

/// The pipeline for `settings` when traces are on (logged, its counts registered with
/// `observer`), `None` when off.
pub fn start(
    settings: Option<&Settings>,
    observer: &mut crate::observe::Observer,
) -> Result<Option<Arc<Telemetry>>, String> {
    let Some(settings) = settings else {
        return Ok(None);
    };
    let telemetry = Telemetry::start(settings)?;
    observer.register_telemetry(&telemetry);
    tracing::info!(
        endpoint = %settings.endpoint,
        service_name = %settings.service_name,
        sampler = ?settings.sampler,
        ratio = settings.ratio,
        "exporting traces over OTLP/gRPC"
    );
    Ok(Some(Arc::new(telemetry)))
}

/// At the end of `serve`: the last spans out, on a blocking thread (the exporter needs the
/// runtime's threads meanwhile).
pub async fn stop(telemetry: Option<Arc<Telemetry>>) {
    if let Some(telemetry) = telemetry {
        let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
    }
}
