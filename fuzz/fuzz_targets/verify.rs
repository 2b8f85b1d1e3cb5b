//! Fuzz target: the whole verify path on arbitrary tokens against a fixed config whose key
//! is generated once; nothing may panic and nothing may verify.
#![no_main]

use envoy_jwt_authz::snapshot::{ProviderSet, Snapshot};
use envoy_jwt_authz::token::verify::{UnixTime, verify};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

#[path = "common.rs"]
mod common;

fn snapshot() -> &'static Snapshot {
    static SNAPSHOT: OnceLock<Snapshot> = OnceLock::new();
    SNAPSHOT.get_or_init(|| common::snapshot_with(""))
}

fuzz_target!(|data: &[u8]| {
    if let Ok(token) = std::str::from_utf8(data) {
        assert!(
            verify(
                token,
                snapshot(),
                &ProviderSet::Any,
                UnixTime(1_800_000_000)
            )
            .is_err(),
            "a fuzzed token verified"
        );
    }
});
