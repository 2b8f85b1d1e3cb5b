//! Whether traces are exported, and how: the `serve` flags over the standard `OTEL_*`
//! environment variables, resolved once at start-up into [`Settings`] (or `None`: off).
//!
//! Off unless an endpoint is named (`--otlp-endpoint`, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`
//! or `OTEL_EXPORTER_OTLP_ENDPOINT`, in that order) — never the SDK's `localhost:4317`
//! default, which would make every deployment without a collector log export errors.
//! `OTEL_SDK_DISABLED=true` turns it off whatever else is set. A flag wins over its variable;
//! an empty variable counts as unset (as the specification says); a value that cannot be
//! used is a usage error at start-up, not a silent fallback.

use clap::ValueEnum;
use opentelemetry_sdk::trace::Sampler as SdkSampler;

/// The service name when neither `--otel-service-name` nor `OTEL_SERVICE_NAME` gives one.
pub const DEFAULT_SERVICE_NAME: &str = env!("CARGO_PKG_NAME");
/// Spans waiting for export at most (`OTEL_BSP_MAX_QUEUE_SIZE`, the SDK's default too);
/// beyond it a finished span is dropped and counted.
pub const DEFAULT_MAX_QUEUE_SIZE: usize = 2048;

/// The `serve` flags for traces.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TraceArgs {
    /// OTLP/gRPC endpoint to export traces to, e.g. http://127.0.0.1:4317 (an OpenTelemetry
    /// Collector). Traces are off unless this, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or
    /// OTEL_EXPORTER_OTLP_ENDPOINT is set.
    #[arg(long, value_name = "URL")]
    pub otlp_endpoint: Option<String>,
    /// The spans' `service.name` (default: OTEL_SERVICE_NAME, else envoy-jwt-authz).
    #[arg(long, value_name = "NAME")]
    pub otel_service_name: Option<String>,
    /// Which traces to record (default: OTEL_TRACES_SAMPLER, else parentbased_always_on:
    /// whatever Envoy sampled).
    #[arg(long, value_enum, value_name = "SAMPLER")]
    pub trace_sampler: Option<SamplerKind>,
    /// The ratio of the traceidratio samplers, 0 to 1 (default: OTEL_TRACES_SAMPLER_ARG,
    /// else 1).
    #[arg(long, value_name = "RATIO")]
    pub trace_sampler_arg: Option<f64>,
    /// Put the token's `sub` on the Check span as `enduser.id` (off by default: a subject
    /// is personal data, and traces often travel further than audit logs).
    #[arg(long)]
    pub trace_sub: bool,
}

/// The samplers of `OTEL_TRACES_SAMPLER`, spelled as the specification spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SamplerKind {
    #[value(name = "always_on")]
    AlwaysOn,
    #[value(name = "always_off")]
    AlwaysOff,
    #[value(name = "traceidratio")]
    TraceIdRatio,
    #[value(name = "parentbased_always_on")]
    ParentBasedAlwaysOn,
    #[value(name = "parentbased_always_off")]
    ParentBasedAlwaysOff,
    #[value(name = "parentbased_traceidratio")]
    ParentBasedTraceIdRatio,
}

/// Traces on: everything the exporter and the spans need.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The OTLP/gRPC endpoint (`http://host:port`).
    pub endpoint: String,
    pub service_name: String,
    pub sampler: SamplerKind,
    /// For the ratio samplers: the share of traces recorded, in `0.0..=1.0`.
    pub ratio: f64,
    /// Whether the Check span carries the token's `sub`.
    pub record_subject: bool,
    /// Finished spans waiting for export at most.
    pub max_queue_size: usize,
}

impl Settings {
    /// Settings for `endpoint` with every other value at its default (benches, tests).
    pub fn new(endpoint: impl Into<String>) -> Settings {
        Settings {
            endpoint: endpoint.into(),
            service_name: DEFAULT_SERVICE_NAME.into(),
            sampler: SamplerKind::ParentBasedAlwaysOn,
            ratio: 1.0,
            record_subject: false,
            max_queue_size: DEFAULT_MAX_QUEUE_SIZE,
        }
    }

    /// The flags over the environment (`env` looks a variable up: `std::env::var`, or a
    /// table in tests). `Ok(None)`: traces are off. `Err`: a value we cannot use, named.
    pub fn resolve(
        args: &TraceArgs,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Settings>, String> {
        let env = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        if env("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
            return Ok(None);
        }
        let endpoint = args
            .otlp_endpoint
            .clone()
            .map(|e| ("--otlp-endpoint", e))
            .or_else(|| {
                let name = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
                env(name).map(|e| (name, e))
            })
            .or_else(|| {
                let name = "OTEL_EXPORTER_OTLP_ENDPOINT";
                env(name).map(|e| (name, e))
            });
        let Some((source, endpoint)) = endpoint else {
            return Ok(None);
        };
        let endpoint = checked_endpoint(source, endpoint)?;
        let sampler = match (args.trace_sampler, env("OTEL_TRACES_SAMPLER")) {
            (Some(kind), _) => kind,
            (None, Some(name)) => SamplerKind::from_str(name.trim(), true)
                .map_err(|_| format!("OTEL_TRACES_SAMPLER: unknown sampler {name:?}"))?,
            (None, None) => SamplerKind::ParentBasedAlwaysOn,
        };
        let ratio = match (args.trace_sampler_arg, env("OTEL_TRACES_SAMPLER_ARG")) {
            (Some(ratio), _) => checked_ratio("--trace-sampler-arg", ratio)?,
            (None, Some(text)) => {
                let ratio = text.trim().parse().map_err(|_| {
                    format!("OTEL_TRACES_SAMPLER_ARG: {text:?} is not a number from 0 to 1")
                })?;
                checked_ratio("OTEL_TRACES_SAMPLER_ARG", ratio)?
            }
            (None, None) => 1.0,
        };
        let max_queue_size = match env("OTEL_BSP_MAX_QUEUE_SIZE") {
            None => DEFAULT_MAX_QUEUE_SIZE,
            Some(text) => text.trim().parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                format!("OTEL_BSP_MAX_QUEUE_SIZE: {text:?} is not a positive number")
            })?,
        };
        Ok(Some(Settings {
            endpoint,
            service_name: args
                .otel_service_name
                .clone()
                .or_else(|| env("OTEL_SERVICE_NAME"))
                .unwrap_or_else(|| DEFAULT_SERVICE_NAME.into()),
            sampler,
            ratio,
            record_subject: args.trace_sub,
            max_queue_size,
        }))
    }

    /// The SDK's sampler for these settings.
    pub(super) fn sampler(&self) -> SdkSampler {
        let ratio = SdkSampler::TraceIdRatioBased(self.ratio);
        let parent_based = |root| SdkSampler::ParentBased(Box::new(root));
        match self.sampler {
            SamplerKind::AlwaysOn => SdkSampler::AlwaysOn,
            SamplerKind::AlwaysOff => SdkSampler::AlwaysOff,
            SamplerKind::TraceIdRatio => ratio,
            SamplerKind::ParentBasedAlwaysOn => parent_based(SdkSampler::AlwaysOn),
            SamplerKind::ParentBasedAlwaysOff => parent_based(SdkSampler::AlwaysOff),
            SamplerKind::ParentBasedTraceIdRatio => parent_based(ratio),
        }
    }
}

/// An `http://` URL with a host: the exporter speaks plaintext gRPC only (no TLS stack is
/// built in; run the collector beside the server, as a sidecar or node agent).
fn checked_endpoint(source: &str, endpoint: String) -> Result<String, String> {
    let endpoint = endpoint.trim().to_owned();
    let host = endpoint.strip_prefix("http://").unwrap_or_default();
    if endpoint.starts_with("https://") {
        return Err(format!(
            "{source}: {endpoint:?}: https is not supported (no TLS in the OTLP exporter); \
             export to a local collector over http://"
        ));
    }
    if host.is_empty() || host.starts_with('/') {
        return Err(format!(
            "{source}: {endpoint:?} is not an http://host:port URL"
        ));
    }
    Ok(endpoint)
}

fn checked_ratio(source: &str, ratio: f64) -> Result<f64, String> {
    if (0.0..=1.0).contains(&ratio) {
        Ok(ratio)
    } else {
        Err(format!("{source}: {ratio} is not a ratio from 0 to 1"))
    }
}
