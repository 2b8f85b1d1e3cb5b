//! Fuzz target: config compilation on arbitrary YAML text (errors are fine, panics are not).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = envoy_jwt_authz::config::compile_str(text, std::path::Path::new("fuzz.yaml"));
    }
});
