//! What the fuzz targets share: a snapshot trusting one ES256 key generated once, with
//! extra YAML (routes) appended.

use envoy_jwt_authz::algorithm::Algorithm;
use envoy_jwt_authz::config::compile_str;
use envoy_jwt_authz::mint::SigningKey;
use envoy_jwt_authz::snapshot::Snapshot;

/// The config `providers: [p]` (issuer `https://i.test`, audience `a`) plus `extra`.
pub fn snapshot_with(extra: &str) -> Snapshot {
    let key = SigningKey::generate(Algorithm::Es256)
        .expect("key")
        .with_kid("k1");
    let jwks = serde_json::json!({ "keys": [key.public_jwk()] });
    let yaml = format!(
        "providers:\n  - name: p\n    issuer: https://i.test\n    audiences: [a]\n    jwks: {{ inline: '{jwks}' }}\n{extra}"
    );
    compile_str(&yaml, std::path::Path::new("fuzz.yaml")).expect("config")
}
