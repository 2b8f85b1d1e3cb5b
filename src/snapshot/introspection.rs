//! A provider's compiled `introspection:` settings (RFC 7662): the endpoint, how we
//! authenticate to it, which tokens go to it, and the bounds of its cache and traffic.
//! The client secret is held in a [`Secret`], whose `Debug` never shows it.

pub use crate::config::file::IntrospectTokens;
use crate::mint::SigningKey;
use std::sync::Arc;
use std::time::Duration;

/// How to introspect one provider's tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Introspection {
    pub endpoint: Endpoint,
    pub client: ClientAuth,
    /// Sent as `token_type_hint` (RFC 7662 §2.1); `None`: not sent.
    pub token_type_hint: Option<String>,
    pub tokens: IntrospectTokens,
    /// An active answer is reused for at most this long (and never past its `exp`).
    pub max_ttl: Duration,
    /// An inactive answer is reused for this long.
    pub negative_ttl: Duration,
    /// Cached answers at most (the byte bound follows from `max_bytes`).
    pub entries: usize,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Introspection requests in flight at most; beyond it a Check gets a 503.
    pub max_concurrent: usize,
    pub allow_insecure_http: bool,
    /// Extra trusted CA certificates (PEM), from `tls.ca_file`.
    pub ca_pem: Option<Vec<u8>>,
    /// The largest response body read.
    pub max_bytes: usize,
}

/// Where the endpoint is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Url(String),
    /// The `introspection_endpoint` of this issuer's metadata, found at the first use.
    Discovery {
        issuer: String,
    },
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Url(url) => f.write_str(url),
            Endpoint::Discovery { issuer } => {
                write!(f, "the introspection_endpoint of {issuer}")
            }
        }
    }
}

/// Client authentication at the endpoint (RFC 7662 §2.1, RFC 6749 §2.3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientAuth {
    /// A public endpoint; `client_id` is sent as a form field when configured.
    None { client_id: Option<String> },
    /// `Authorization: Basic` of the form-encoded id and secret.
    Basic { client_id: String, secret: Secret },
    /// `client_id` and `client_secret` as form fields.
    Post { client_id: String, secret: Secret },
    /// A fresh JWT signed with our key for each request (RFC 7523 §2.2).
    PrivateKeyJwt {
        client_id: String,
        key: AssertionKey,
        /// The assertion's `aud`.
        audience: String,
    },
}

/// The private key of `private_key_jwt`: used to sign, never shown (its `Debug` names
/// only the algorithm and `kid`); equal when the public keys are.
#[derive(Clone)]
pub struct AssertionKey(pub Arc<SigningKey>);

impl std::fmt::Debug for AssertionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "AssertionKey({} {:?}, redacted)",
            self.0.alg(),
            self.0.kid()
        )
    }
}

impl PartialEq for AssertionKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.public_jwk() == other.0.public_jwk()
    }
}

impl Eq for AssertionKey {}

/// A secret read from a file: compared and sent, never shown.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(redacted)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_shows_in_debug_output() {
        let auth = ClientAuth::Basic {
            client_id: "api".into(),
            secret: Secret::new("s3cr3t-value".into()),
        };
        let shown = format!("{auth:?} {auth:#?}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("redacted"));
    }
}
