//! Command-line types only (clap); parsing happens once in `main`. Durations are
//! [`Duration`]: the same syntax as the config file, rejected by clap (exit 2) when wrong.

use crate::config::Duration;
use clap::{Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "envoy-jwt-authz",
    version,
    about = "Envoy ext_authz server that validates JWT access tokens"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve envoy.service.auth.v3.Authorization/Check over gRPC, plus the admin endpoints.
    Serve(ServeArgs),
    /// Validate a config file and print one line per provider; exit 64 when invalid.
    CheckConfig {
        /// The YAML config file.
        file: PathBuf,
    },
    /// Sign a token with a local PKCS#8 PEM private key (demos and tests; not for production).
    MintToken(MintArgs),
    /// Print the public JWK Set for a local PKCS#8 PEM private key.
    PublicJwks(KeyArgs),
    /// Print the config file's JSON Schema (what envoy/config.schema.json holds).
    ConfigSchema,
    /// Sign a DPoP proof (RFC 9449) with a local PKCS#8 PEM private key, or print the key's
    /// thumbprint (a bound token's `cnf.jkt`) with --jkt (demos and tests).
    MintDpopProof(DpopProofArgs),
    /// Explain why a token would be allowed or denied, step by step, with a fix.
    /// Exit 0: allowed; 1: denied; 2: usage or config error.
    Explain(ExplainArgs),
}

#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    /// The YAML config file (remote key sets are fetched once).
    #[arg(long)]
    pub config: PathBuf,
    /// Request path (selects the route).
    #[arg(long, default_value = "/")]
    pub path: String,
    /// Request method.
    #[arg(long, default_value = "GET")]
    pub method: String,
    /// Extra request header `Name: value` (repeatable), e.g. `Host: api.example.com`.
    #[arg(long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// The route Envoy names through `context_extensions` (`route: NAME`).
    #[arg(long)]
    pub route: Option<String>,
    /// The client certificate of the TLS connection (a PEM file holding the leaf only), as
    /// Envoy would send it with `include_peer_certificate`: checked against a
    /// certificate-bound token (`cnf.x5t#S256`).
    #[arg(long, value_name = "PEM")]
    pub client_cert: Option<PathBuf>,
    /// JSON output for tools.
    #[arg(long)]
    pub json: bool,
    /// Also print the decoded payload (never the signature).
    #[arg(long)]
    pub show_claims: bool,
    /// Evaluate at this Unix time instead of now (to reproduce a past decision).
    #[arg(long)]
    pub now: Option<i64>,
    /// For a token the server would introspect: ask that provider's introspection endpoint
    /// (the only place the token is sent) and judge its answer.
    #[arg(long)]
    pub introspect: bool,
    /// The token (or `Bearer <token>`); read from standard input when absent or `-`.
    pub token: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The YAML config file.
    #[arg(long)]
    pub config: PathBuf,
    /// gRPC listen address (Check and grpc.health.v1).
    #[arg(long, default_value = "127.0.0.1:9191")]
    pub grpc_listen: SocketAddr,
    /// Probe and metrics HTTP listen address (/healthz, /readyz, /metrics); loopback by
    /// default. In a pod, bind it where the kubelet and Prometheus reach it.
    #[arg(long, default_value = "127.0.0.1:9192")]
    pub admin_listen: SocketAddr,
    /// Debug HTTP listen address (/status, /debug/denials, POST /jwks/refresh); keep it on
    /// loopback (reach it with `kubectl port-forward`): a non-loopback address is allowed but
    /// logged as a warning.
    #[arg(long, default_value = "127.0.0.1:9193")]
    pub debug_listen: SocketAddr,
    /// HTTP check listen address: Envoy `http_service` / Istio `envoyExtAuthzHttp` and
    /// forward auth (nginx, Traefik, Caddy). Off unless given; then at least one of
    /// --http-envoy-path-prefix and --http-forward-auth is required.
    #[arg(long)]
    pub http_listen: Option<SocketAddr>,
    /// Serve Envoy's HTTP mode under this prefix (Envoy's `path_prefix`, e.g. /authz): the
    /// original path is what follows it, method and Host are the check request's own.
    #[arg(long, requires = "http_listen", value_name = "PREFIX")]
    pub http_envoy_path_prefix: Option<String>,
    /// Envoy HTTP mode: the header naming the route (as `context_extensions["route"]` does
    /// over gRPC), e.g. x-authz-route. Only safe when Envoy removes the client's copy
    /// first and sets it per route (envoy/envoy-http.yaml).
    #[arg(long, requires = "http_listen", value_name = "NAME")]
    pub http_route_header: Option<String>,
    /// Serve forward auth at --http-forward-auth-path, trusting these headers for the
    /// original request: `nginx` (X-Original-Method, X-Original-URI, Host) or `forwarded`
    /// (X-Forwarded-Method, X-Forwarded-Uri, X-Forwarded-Host: Traefik, Caddy). The proxy
    /// must overwrite them (README: HTTP mode and forward auth).
    #[arg(long, requires = "http_listen", value_enum, value_name = "HEADERS")]
    pub http_forward_auth: Option<crate::http::Forwarded>,
    /// The path forward-auth proxies call.
    #[arg(long, default_value = crate::http::DEFAULT_FORWARD_AUTH_PATH)]
    pub http_forward_auth_path: String,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Write the bound addresses as JSON to this file (useful with port 0).
    #[arg(long)]
    pub address_file: Option<PathBuf>,
    /// How long in-flight checks may take to finish after SIGTERM, e.g. 10s.
    #[arg(long, default_value = "10s")]
    pub drain_timeout: Duration,
    /// How long the HTTP listeners (--http-listen, admin, debug) wait for a request's
    /// headers before closing the connection (slow clients hold nothing forever).
    #[arg(long, default_value = "10s")]
    pub header_read_timeout: Duration,
    /// How long the config directory must be quiet before a reload, e.g. 250ms.
    #[arg(long, default_value = "250ms")]
    pub watch_debounce: Duration,
    /// Tokio worker threads; default: the CPU limit (`available_parallelism`, which honours
    /// cgroup quotas). Match it to the container's CPU limit.
    #[arg(long)]
    pub worker_threads: Option<usize>,
    /// Verified tokens cached (0 turns the cache off).
    #[arg(long, default_value_t = crate::token::cache::DEFAULT_ENTRIES)]
    pub token_cache_entries: usize,
    /// Approximate memory bound of the token cache, in bytes.
    #[arg(long, default_value_t = crate::token::cache::DEFAULT_BYTES)]
    pub token_cache_bytes: usize,
    /// Denial audit events written per reason per second; the rest are counted in one
    /// `audit events suppressed` line per reason (0: write every event). Metrics stay exact.
    #[arg(long, default_value_t = crate::audit::DEFAULT_AUDIT_RATE_LIMIT)]
    pub audit_rate_limit: u32,
    /// How many recent denials GET /debug/denials keeps (0 turns it off).
    #[arg(long, default_value_t = envoy_jwt_authz_default_recent())]
    pub recent_denials: usize,
    /// OpenTelemetry traces (off unless an OTLP endpoint is set); boxed, as rarely used.
    #[command(flatten)]
    pub traces: Box<crate::telemetry::TraceArgs>,
}

fn envoy_jwt_authz_default_recent() -> usize {
    crate::observe::DEFAULT_RECENT_DENIALS
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct KeyArgs {
    /// PKCS#8 PEM private key (`-----BEGIN PRIVATE KEY-----`).
    #[arg(long)]
    pub key: PathBuf,
    /// JWS algorithm the key signs with.
    #[arg(long, default_value = "ES256")]
    pub alg: String,
    /// Key id placed in the token header and the JWK.
    #[arg(long)]
    pub kid: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct DpopProofArgs {
    #[command(flatten)]
    pub key: KeyArgs,
    /// Print the key's RFC 7638 thumbprint instead of a proof.
    #[arg(long, conflicts_with_all = ["method", "url"])]
    pub jkt: bool,
    /// `htm`: the request's method.
    #[arg(long, default_value = "GET")]
    pub method: String,
    /// `htu`: the request's URL (query and fragment are ignored by the server).
    #[arg(long, required_unless_present = "jkt")]
    pub url: Option<String>,
    /// The access token the proof accompanies (`ath`).
    #[arg(long)]
    pub token: Option<String>,
    /// The server's nonce (`DPoP-Nonce` of a `use_dpop_nonce` answer).
    #[arg(long)]
    pub nonce: Option<String>,
    /// Seconds to add to `iat` (negative: an older proof), for tests.
    #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
    pub iat_offset: i64,
}

#[derive(Debug, clap::Args)]
pub struct MintArgs {
    #[command(flatten)]
    pub key: KeyArgs,
    /// `iss` claim.
    #[arg(long)]
    pub iss: String,
    /// `aud` claim (repeat for an array).
    #[arg(long, required = true)]
    pub aud: Vec<String>,
    /// `sub` claim.
    #[arg(long)]
    pub sub: Option<String>,
    /// `scope` claim (space-separated).
    #[arg(long)]
    pub scope: Option<String>,
    /// Lifetime from now, e.g. 1h; negative lifetimes are not possible (use --claim exp=…).
    #[arg(long, default_value = "1h")]
    pub ttl: Duration,
    /// Extra claim NAME=JSON (e.g. `tenant="acme"` or `exp=0`); overrides the defaults.
    #[arg(long = "claim", value_name = "NAME=JSON")]
    pub claims: Vec<String>,
}
