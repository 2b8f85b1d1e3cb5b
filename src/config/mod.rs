//! Configuration: the YAML mirror (`file`), its compilation into a [`Snapshot`](crate::snapshot::Snapshot)
//! (`compile`) and the errors that name file and field (`error`).

pub mod compile;
pub mod error;
pub mod file;
mod routes;
pub mod watch;

pub use compile::{compile_str, load};
pub use error::ConfigError;

#[cfg(test)]
mod tests;
