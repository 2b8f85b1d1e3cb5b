//! Configuration: the YAML mirror (`file`), its compilation into a [`Snapshot`](crate::snapshot::Snapshot)
//! (`compile`, by concern: `limits`, `providers`, `keys`, `routes`) and the errors that name
//! file and field (`error`).

pub mod compile;
pub mod error;
pub mod file;
mod keys;
mod limits;
mod providers;
mod routes;
pub mod watch;

pub use compile::{compile_str, load};
pub use error::ConfigError;

#[cfg(test)]
mod tests;
