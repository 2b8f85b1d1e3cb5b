//! Tokens: extraction from headers, strict JSON, and the verify path.

pub mod cache;
mod claims;
pub mod extract;
mod header;
mod issuer;
pub mod json;
mod negative;
pub mod verify;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_audience;
#[cfg(test)]
mod tests_ed25519;
#[cfg(test)]
mod tests_header;
#[cfg(test)]
mod tests_negative;
#[cfg(test)]
mod tests_tenants;
