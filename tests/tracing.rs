//! OpenTelemetry traces end to end: a real Envoy 1.40 with its OpenTelemetry tracer and the
//! real binary both export to one OTLP receiver (`support::otlp`); the Check's span must
//! join Envoy's trace under Envoy's own spans, naming the deny reason and never the token.
//! With traces off, the server exports nothing while Envoy's spans still arrive.

use crate::support::envoy::{Envoy, render_bootstrap};
use crate::support::otlp::{Received, Receiver};
use crate::support::server::Server;
use crate::support::{self, claims_with, ec_key, http, mint, wait_for};
use envoy_jwt_authz::token::verify::UnixTime;
use serde_json::json;
use std::collections::HashMap;
use std::time::Duration;

/// The HCM's tracing block, as the README's "Traces (OpenTelemetry)" shows it.
const HCM_TRACING: &str = "tracing:
  random_sampling: { value: 100 }
  provider:
    name: envoy.tracers.opentelemetry
    typed_config:
      \"@type\": type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig
      grpc_service:
        envoy_grpc: { cluster_name: otel_collector }
        timeout: 1s
      service_name: envoy
";

const WAIT: Duration = Duration::from_secs(30);

/// `envoy/envoy.yaml` with the tracing block on its connection manager, a cluster for the
/// receiver, and a runtime that sends each span at once (Envoy batches 5, or 5 s).
fn traced_bootstrap(authz_port: u16, receiver: &Receiver) -> String {
    let yaml = render_bootstrap(authz_port, false);
    let anchor = "          stat_prefix: ingress\n";
    assert_eq!(yaml.matches(anchor).count(), 1);
    let tracing: String = HCM_TRACING
        .lines()
        .map(|line| format!("          {line}\n"))
        .collect();
    let cluster = format!(
        "  - name: otel_collector
    type: STATIC
    connect_timeout: 1s
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        \"@type\": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: {{ http2_protocol_options: {{}} }}
    load_assignment:
      cluster_name: otel_collector
      endpoints: [{{ lb_endpoints: [{{ endpoint: {{ address: {{ socket_address: {{ address: 127.0.0.1, port_value: {} }}}}}}}}]}}]
",
        receiver.addr.port()
    );
    let runtime = "layered_runtime:
  layers:
  - name: flush_each_span
    static_layer:
      tracing.opentelemetry.min_flush_spans: 1
      tracing.opentelemetry.flush_interval_ms: 100
";
    assert!(yaml.ends_with('\n'));
    format!(
        "{runtime}{}{cluster}",
        yaml.replace(anchor, &format!("{anchor}{tracing}"))
    )
}

fn expired_token() -> String {
    let now = UnixTime::now().0;
    mint(
        &ec_key(),
        &claims_with(json!({"iat": now - 7200, "exp": now - 3600})),
    )
}

/// The spans of `trace_id`, once Envoy's ingress span (the root) has arrived.
fn envoy_trace(receiver: &Receiver, trace_id: &[u8]) -> Option<Vec<Received>> {
    let spans: Vec<Received> = receiver
        .spans()
        .into_iter()
        .filter(|r| r.span.trace_id == trace_id)
        .collect();
    spans
        .iter()
        .any(|r| r.service == "envoy" && r.span.parent_span_id.is_empty())
        .then_some(spans)
}

#[test]
fn the_check_span_joins_envoys_trace_under_envoys_spans_with_the_deny_reason() {
    let receiver = Receiver::start();
    let endpoint = receiver.endpoint();
    let server = Server::start_with_env(
        &support::config_yaml(""),
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_BSP_SCHEDULE_DELAY", "50"),
        ],
    );
    let envoy = Envoy::start_bootstrap(&traced_bootstrap(server.grpc.port(), &receiver));
    let token = expired_token();
    let denied = http::get(envoy.listener, "/orders", Some(&token));
    assert_eq!(denied.status, 401, "{denied:?}\n{}", server.log());

    let ours = wait_for("our authz.check span", WAIT, || {
        receiver
            .spans()
            .into_iter()
            .find(|r| r.service == "envoy-jwt-authz" && r.span.name == "authz.check")
    });
    let trace = wait_for("Envoy's spans of the same trace", WAIT, || {
        envoy_trace(&receiver, &ours.span.trace_id)
    });
    // Up from our span, through spans exported by anyone, to one Envoy exported.
    let by_id: HashMap<&[u8], &Received> = trace.iter().map(|r| (&r.span.span_id[..], r)).collect();
    let mut parent = by_id.get(&ours.span.parent_span_id[..]).copied();
    let mut chain = Vec::new();
    while let Some(span) = parent {
        chain.push(format!("{}:{}", span.service, span.span.name));
        if span.service == "envoy" {
            break;
        }
        parent = by_id.get(&span.span.parent_span_id[..]).copied();
    }
    assert!(
        parent.is_some_and(|p| p.service == "envoy"),
        "no Envoy span above ours (chain {chain:?}) in {trace:#?}"
    );
    assert_eq!(ours.attribute("authz.decision").as_deref(), Some("deny"));
    assert_eq!(ours.attribute("authz.reason").as_deref(), Some("expired"));
    assert_eq!(
        ours.attribute("authz.provider").as_deref(),
        Some("test-idp")
    );
    assert_eq!(ours.attribute("authz.kid").as_deref(), Some("ec-1"));
    assert_eq!(
        ours.attribute("http.response.status_code").as_deref(),
        Some("401")
    );
    let signature = token.rsplit('.').next().unwrap_or_default();
    for kv in &ours.span.attributes {
        let text = format!("{kv:?}");
        assert!(
            !text.contains(signature) && !text.contains("alice"),
            "{text}"
        );
    }
    wait_for("trace_spans_exported in /metrics", WAIT, || {
        server
            .metrics()
            .lines()
            .any(|l| l.starts_with("trace_spans_exported_total ") && !l.ends_with(" 0"))
            .then_some(())
    });
}

#[test]
fn with_traces_off_the_server_exports_nothing_while_envoy_still_does() {
    let receiver = Receiver::start();
    let server = Server::start(&support::config_yaml(""));
    let envoy = Envoy::start_bootstrap(&traced_bootstrap(server.grpc.port(), &receiver));
    let denied = http::get(envoy.listener, "/orders", Some(&expired_token()));
    assert_eq!(denied.status, 401, "{denied:?}");
    let root = wait_for("Envoy's ingress span", WAIT, || {
        receiver
            .spans()
            .into_iter()
            .find(|r| r.service == "envoy" && r.span.parent_span_id.is_empty())
    });
    // Off, the server builds no pipeline at all (the unit tests show no header is even
    // read): the receiver that has Envoy's spans of the Check has none of ours.
    let spans = envoy_trace(&receiver, &root.span.trace_id).unwrap_or_default();
    assert!(
        receiver.spans().iter().all(|r| r.service == "envoy"),
        "{spans:#?}"
    );
    assert!(
        !server.metrics().contains("trace_spans"),
        "no trace metrics when off"
    );
    assert!(!server.log().contains("exporting traces"));
}

#[test]
fn the_readme_shows_the_envoy_tracing_block_the_test_runs() {
    let readme = include_str!("../README.md");
    for line in HCM_TRACING.lines() {
        assert!(
            readme.lines().any(|l| l.trim_end().ends_with(line)),
            "README.md lacks {line:?}"
        );
    }
}
