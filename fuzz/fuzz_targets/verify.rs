//! Fuzz target: the whole verify path on arbitrary tokens against a fixed config whose key
//! is generated once; nothing may panic and nothing may verify.
#![no_main]

use envoy_jwt_authz::algorithm::Algorithm;
use envoy_jwt_authz::config::compile_str;
use envoy_jwt_authz::mint::SigningKey;
use envoy_jwt_authz::snapshot::{ProviderSet, Snapshot};
use envoy_jwt_authz::token::verify::{UnixTime, verify};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn snapshot() -> &'static Snapshot {
    static SNAPSHOT: OnceLock<Snapshot> = OnceLock::new();
    SNAPSHOT.get_or_init(|| {
        let key = SigningKey::generate(Algorithm::Es256).expect("key").with_kid("k1");
        let jwks = serde_json::json!({ "keys": [key.public_jwk()] });
        let yaml = format!("providers:\n  - name: p\n    issuer: https://i.test\n    audiences: [a]\n    jwks: {{ inline: '{jwks}' }}\n");
        compile_str(&yaml, std::path::Path::new("fuzz.yaml")).expect("config")
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(token) = std::str::from_utf8(data) {
        assert!(verify(token, snapshot(), &ProviderSet::Any, UnixTime(1_800_000_000)).is_err(), "a fuzzed token verified");
    }
});
