//! Configuration: the YAML mirror (`file`), its compilation into a [`Snapshot`](crate::snapshot::Snapshot)
//! (`compile`, by concern: `limits`, `providers`, `keys`, `proxy`, `routes`, `tenants`) and the errors that name
//! file and field (`error`).

mod client_certificates;
pub mod compile;
mod dpop;
mod duration;
pub mod error;
pub mod file;
mod introspection;
mod keys;
mod limits;
mod providers;
mod proxy;
mod resource;
mod routes;
pub mod schema;
mod scopes;
mod tenants;
pub mod watch;

pub use compile::{compile_str, load};
pub use duration::{Duration, DurationError};
pub use error::ConfigError;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_client_certificates;
#[cfg(test)]
mod tests_dpop;
#[cfg(test)]
mod tests_errors;
#[cfg(test)]
mod tests_introspection;
#[cfg(test)]
mod tests_metadata;
#[cfg(test)]
mod tests_resource;
#[cfg(test)]
mod tests_tenants;
