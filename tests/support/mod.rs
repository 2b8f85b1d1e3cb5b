//! Shared test support: keys and tokens, the real server process, a real Envoy, and a raw
//! HTTP/1.1 client (so tests can send exactly the headers they mean, duplicates included).

#![allow(dead_code)]

pub mod accept;
pub mod connect_proxy;
pub mod envoy;
pub mod http;
pub mod idp;
pub mod introspection;
pub mod load;
pub mod logs;
pub mod oidc_provider;
pub mod otlp;
pub mod prometheus;
pub mod proxy;
pub mod server;
pub mod stale;
pub mod tls;

use envoy_jwt_authz::algorithm::Algorithm;
use envoy_jwt_authz::mint::SigningKey;
use envoy_jwt_authz::token::verify::UnixTime;
use serde_json::{Value, json};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub const ISSUER: &str = "https://issuer.test/oauth2/default";
pub const AUDIENCE: &str = "api://orders";

/// The trusted RSA key (generated once per test process; RSA generation is slow).
pub fn rsa_key() -> SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| SigningKey::generate(Algorithm::Rs256).expect("RSA key"))
        .clone()
        .with_kid("rsa-1")
}

/// The trusted EC P-256 key.
pub fn ec_key() -> SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| SigningKey::generate(Algorithm::Es256).expect("EC key"))
        .clone()
        .with_kid("ec-1")
}

/// A second EC key, trusted only where a test says so (rotation, reload).
pub fn ec_key_2() -> SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| SigningKey::generate(Algorithm::Es256).expect("EC key"))
        .clone()
        .with_kid("ec-2")
}

/// A key nobody trusts, presenting the trusted EC key's kid.
pub fn impostor_key() -> SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| SigningKey::generate(Algorithm::Es256).expect("EC key"))
        .clone()
        .with_kid("ec-1")
}

/// The JWK Set of the trusted keys.
pub fn jwks() -> Value {
    json!({ "keys": [rsa_key().public_jwk(), ec_key().public_jwk()] })
}

/// A config trusting [`jwks`] for [`ISSUER`] / [`AUDIENCE`], plus extra YAML.
pub fn config_yaml(extra: &str) -> String {
    format!(
        "providers:\n  - name: test-idp\n    issuer: {ISSUER}\n    audiences: [{AUDIENCE}]\n    jwks:\n      inline: '{}'\n{extra}",
        jwks()
    )
}

/// Valid claims for now, with `sub: alice`.
pub fn claims() -> Value {
    let now = UnixTime::now().0;
    json!({ "iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "scope": "orders.read", "iat": now, "exp": now + 600 })
}

/// `claims()` with some members replaced.
pub fn claims_with(changes: Value) -> Value {
    let mut claims = claims();
    for (k, v) in changes.as_object().expect("object") {
        claims[k] = v.clone();
    }
    claims
}

pub fn mint(key: &SigningKey, claims: &Value) -> String {
    key.mint(claims).expect("mint")
}

/// Polls `probe` until it returns `Some`, or panics after `timeout` naming `what`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
