//! The config file's JSON Schema (draft-07, which every editor's YAML support reads),
//! generated from the serde types in `file` so it cannot drift from what the server
//! accepts: `envoy/config.schema.json` is this output, and a test keeps them equal.
//!
//! Most types derive it; this module writes the schema of the values read by hand: a
//! duration, an algorithm name, and the fields that are one keyword or a list/mapping
//! (`providers: any`, `proxy: none`, `tenants: any`, `dpop: required`). The schema checks
//! shape and spelling; bounds and cross-checks (issuer uniqueness, durations' limits) stay
//! with `check-config`.

use super::dpop::DpopEntry;
use super::duration::Duration;
use super::file::{ConfigFile, CorsPreflight, ProvidersFile, ProxyFile, TenantsFile};
use crate::algorithm::Algorithm;
use schemars::{JsonSchema, Schema, SchemaGenerator, generate::SchemaSettings, json_schema};
use std::borrow::Cow;

/// The schema, pretty-printed with a trailing newline (the shipped file's exact bytes).
pub fn config_schema() -> String {
    let mut schema = SchemaSettings::draft07()
        .into_generator()
        .into_root_schema_for::<ConfigFile>();
    schema.insert("title".into(), "envoy-jwt-authz config".into());
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

/// A schema for a type that is written as a keyword or another schema.
fn keyword_or(keyword: &str, other: Schema, description: &str) -> Schema {
    json_schema!({
        "description": description,
        "oneOf": [ { "const": keyword }, other ]
    })
}

macro_rules! named {
    ($name:literal) => {
        fn schema_name() -> Cow<'static, str> {
            Cow::Borrowed($name)
        }
    };
}

impl JsonSchema for Duration {
    named!("Duration");
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "A whole number and one unit: 250ms, 30s, 5m, 1h.",
            "pattern": "^\\s*[0-9]+(ms|s|m|h)\\s*$"
        })
    }
}

impl JsonSchema for Algorithm {
    named!("Algorithm");
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let names: Vec<&str> = Algorithm::ALL.iter().map(|a| a.name()).collect();
        json_schema!({
            "description": "A JWS algorithm (none and HMAC are never accepted).",
            "enum": names
        })
    }
}

impl JsonSchema for ProvidersFile {
    named!("Providers");
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let list = json_schema!({ "type": "array", "items": { "type": "string" } });
        keyword_or("any", list, "`any`, or a list of provider names.")
    }
}

impl JsonSchema for TenantsFile {
    named!("Tenants");
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let list = json_schema!({ "type": "array", "items": { "type": "string" } });
        keyword_or("any", list, "`any`, or a list of tenant ids.")
    }
}

impl JsonSchema for ProxyFile {
    named!("Proxy");
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let server = generator.subschema_for::<super::file::ProxyServerFile>();
        keyword_or(
            "none",
            server,
            "`none` (always direct), or the proxy to use.",
        )
    }
}

impl JsonSchema for CorsPreflight {
    named!("CorsPreflight");
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "enum": ["allow", "deny"] })
    }
}

impl JsonSchema for DpopEntry {
    named!("DpopEntry");
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let mode = generator.subschema_for::<DpopModeSchema>();
        let block = generator.subschema_for::<super::dpop::DpopFile>();
        json_schema!({
            "description": "RFC 9449 DPoP: a mode alone, or the settings.",
            "oneOf": [ mode, block ]
        })
    }
}

/// `dpop:` written as a mode alone (YAML 1.1 reads an unquoted `off` there as `false`,
/// which means `off` too).
pub struct DpopModeSchema;

impl JsonSchema for DpopModeSchema {
    named!("DpopMode");
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "enum": ["required", "allowed", "off", false] })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_schema_is_what_the_code_generates() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("envoy/config.schema.json");
        let shipped = std::fs::read_to_string(&path).unwrap_or_default();
        // To update: cargo run -q -- config-schema > envoy/config.schema.json
        assert!(
            shipped == config_schema(),
            "envoy/config.schema.json is stale: run `cargo run -q -- config-schema > envoy/config.schema.json`"
        );
    }
}
