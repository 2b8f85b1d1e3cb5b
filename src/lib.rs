//! envoy-jwt-authz: an Envoy external-authorization (ext_authz v3 gRPC) server that validates
//! JWT access tokens from external issuers and answers with RFC 6750 challenges.
//!
//! Module map (data flows top to bottom):
//! - [`config`]: YAML file → [`snapshot::Snapshot`] (strict, every default and check).
//! - [`jwks`]: JWK Set JSON → verification keys bound to algorithms.
//! - [`token`]: `Authorization` header → one bearer token → [`token::verify::Verified`].
//! - [`decision`]: `decide(snapshot, request, now)`, pure.
//! - [`reason`]: every denial reason and its HTTP status / RFC 6750 mapping.
//! - [`grpc`]: the tonic adapter; [`http`]: the HTTP check / forward-auth adapter; [`admin`]: `/healthz`, `/readyz`; [`app`]: wiring.
//! - [`cli`], [`commands`]: the command line; [`logging`]: the subscriber and its run-time filter; [`mint`]: demo/test token signing.
//! - [`telemetry`]: OpenTelemetry spans of Checks (off unless an OTLP endpoint is set).

pub mod admin;
pub mod algorithm;
pub mod app;
pub mod audit;
pub mod authorizer;
mod b64;
pub mod certificate;
pub mod cidr;
pub mod cli;
pub mod commands;
pub mod config;
pub mod decision;
pub mod dpop;
pub mod explain;
pub mod grpc;
pub mod http;
pub mod http_server;
pub mod introspection;
pub mod jwks;
mod lock;
pub mod logging;
pub mod mint;
pub mod observe;
pub mod reason;
pub mod remote;
pub mod route;
pub mod snapshot;
pub mod telemetry;
pub mod token;
pub mod trace;

/// Code generated from `proto/` by `build.rs`.
#[allow(clippy::all, missing_docs)]
pub mod proto {
    pub mod envoy {
        pub mod service {
            pub mod auth {
                pub mod v3 {
                    tonic::include_proto!("envoy.service.auth.v3");
                }
            }
        }
        pub mod config {
            pub mod core {
                pub mod v3 {
                    tonic::include_proto!("envoy.config.core.v3");
                }
            }
        }
        pub mod r#type {
            pub mod v3 {
                tonic::include_proto!("envoy.r#type.v3");
            }
        }
    }
    pub mod google {
        pub mod rpc {
            tonic::include_proto!("google.rpc");
        }
    }
}
