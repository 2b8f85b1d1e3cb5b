//! The integration test binary: adapter tests (the tonic service called directly), command
//! line tests (the real binary), and end-to-end tests (the real binary behind a real Envoy).

mod support;

mod adapter;
mod adversarial;
mod adversarial_ed25519;
mod cli;
mod config_schema;
mod debug_page;
mod deploy;
mod deploy_http;
mod deploy_k8s;
mod diagnostics;
mod dpop;
mod dpop_commands;
mod e2e;
mod explain;
mod flood;
mod http_mode;
mod interop_dpop;
mod interop_oidc;
mod introspection;
mod log_level;
mod mcp;
mod mtls;
mod observability;
mod properties;
mod reload;
mod remote;
mod resource_server;
mod route_properties;
mod routes;
mod slow_clients;
mod soak;
mod tenants;
mod tracing;
mod wycheproof;
