//! The export pipeline: finished spans go to the SDK's batch processor (a bounded queue
//! drained by a thread of its own, so a Check never waits for the collector) and from it to
//! the OTLP/gRPC exporter, over the same tonic as our server.
//!
//! Dropped spans are counted here: the SDK counts its own queue-full drops only in one log
//! line at shutdown (or as an OpenTelemetry metric behind an experimental feature we do not
//! use). So [`Bounded`] keeps the count of spans handed to the batch processor and not yet
//! to the exporter — never less than the processor's queue holds — and drops (counting) a
//! span that would exceed the queue's size; the processor's own queue therefore never
//! overflows, and every span is either exported, counted as dropped, or still queued.

use opentelemetry::InstrumentationScope;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, SdkTracer, SdkTracerProvider, Span, SpanData,
    SpanExporter, SpanProcessor,
};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use super::Settings;

/// What became of the spans this process finished.
#[derive(Debug, Default)]
pub struct Counts {
    /// Handed to the batch processor and not yet to the exporter.
    queued: AtomicUsize,
    max_queued: usize,
    exported: AtomicU64,
    queue_full: AtomicU64,
    export_failed: AtomicU64,
}

impl Counts {
    /// (exported, dropped because the queue was full, dropped because the export failed).
    pub fn get(&self) -> (u64, u64, u64) {
        (
            self.exported.load(Ordering::Relaxed),
            self.queue_full.load(Ordering::Relaxed),
            self.export_failed.load(Ordering::Relaxed),
        )
    }
}

/// A tracer provider exporting to `exporter` through the bounded batch queue, sampling as
/// `settings` say; and the counts of what it exported and dropped.
pub(super) fn provider<E: SpanExporter + 'static>(
    exporter: E,
    settings: &Settings,
) -> (SdkTracerProvider, SdkTracer, Arc<Counts>) {
    let counts = Arc::new(Counts {
        max_queued: settings.max_queue_size,
        ..Counts::default()
    });
    let batch = BatchSpanProcessor::builder(Counted {
        inner: exporter,
        counts: counts.clone(),
    })
    .with_batch_config(
        // The other OTEL_BSP_* variables (delay, batch size) are the SDK's to read.
        BatchConfigBuilder::default()
            .with_max_queue_size(settings.max_queue_size)
            .build(),
    )
    .build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(Bounded {
            inner: batch,
            counts: counts.clone(),
        })
        .with_sampler(settings.sampler())
        // The default detectors read OTEL_RESOURCE_ATTRIBUTES; the name is ours.
        .with_resource(
            Resource::builder()
                .with_service_name(settings.service_name.clone())
                .build(),
        )
        .build();
    let tracer = provider.tracer_with_scope(
        InstrumentationScope::builder(env!("CARGO_PKG_NAME"))
            .with_version(env!("CARGO_PKG_VERSION"))
            .build(),
    );
    (provider, tracer, counts)
}

/// The OTLP/gRPC exporter for `settings.endpoint` (the other `OTEL_EXPORTER_OTLP_*`
/// variables — headers, timeout, compression — are the exporter's to read). Must be called
/// within the tokio runtime, whose tasks carry its connection.
pub(super) fn otlp(settings: &Settings) -> Result<opentelemetry_otlp::SpanExporter, String> {
    use opentelemetry_otlp::WithExportConfig;
    opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(settings.endpoint.clone())
        .build()
        .map_err(|e| {
            format!(
                "cannot build the OTLP exporter for {}: {e}",
                settings.endpoint
            )
        })
}

/// The batch processor behind a bound of its own queue's size (see the module doc).
#[derive(Debug)]
struct Bounded {
    inner: BatchSpanProcessor,
    counts: Arc<Counts>,
}

impl SpanProcessor for Bounded {
    fn on_start(&self, span: &mut Span, cx: &opentelemetry::Context) {
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, span: SpanData) {
        let counts = &self.counts;
        if counts.queued.fetch_add(1, Ordering::AcqRel) >= counts.max_queued {
            counts.queued.fetch_sub(1, Ordering::AcqRel);
            counts.queue_full.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.inner.on_end(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// The exporter, counting each batch as it leaves the queue and as it ends.
#[derive(Debug)]
struct Counted<E> {
    inner: E,
    counts: Arc<Counts>,
}

impl<E: SpanExporter> SpanExporter for Counted<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let spans = batch.len();
        self.counts.queued.fetch_sub(spans, Ordering::AcqRel);
        let result = self.inner.export(batch).await;
        let counter = match result {
            Ok(()) => &self.counts.exported,
            Err(_) => &self.counts.export_failed,
        };
        counter.fetch_add(u64::try_from(spans).unwrap_or(u64::MAX), Ordering::Relaxed);
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// `/metrics`: `trace_spans_exported` and `trace_spans_dropped{reason}`.
#[derive(Debug)]
pub(super) struct CountsCollector(pub(super) Arc<Counts>);

impl Collector for CountsCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let (exported, queue_full, export_failed) = self.0.get();
        let kind = ConstCounter::new(0u64).metric_type();
        ConstCounter::new(exported).encode(encoder.encode_descriptor(
            "trace_spans_exported",
            "Spans the OTLP collector accepted",
            None,
            kind,
        )?)?;
        let mut dropped = encoder.encode_descriptor(
            "trace_spans_dropped",
            "Spans not exported: queue_full (the export queue was full, the collector too \
             slow or away), export_failed (the collector refused or could not be reached)",
            None,
            kind,
        )?;
        ConstCounter::new(queue_full)
            .encode(dropped.encode_family(&[("reason", "queue_full")])?)?;
        ConstCounter::new(export_failed)
            .encode(dropped.encode_family(&[("reason", "export_failed")])?)?;
        Ok(())
    }
}
