//! Fuzz target: DPoP proof parsing and `htu` comparison on arbitrary input. The input is
//! split on the first 0xff byte: the proof before it, the `htu` to compare after it (with a
//! fixed request). A structurally valid proof reaches the signature check with its own key.
#![no_main]

use envoy_jwt_authz::algorithm::AlgorithmSet;
use envoy_jwt_authz::decision::Scheme;
use envoy_jwt_authz::dpop::{htu, proof};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (proof_bytes, rest) = match data.iter().position(|b| *b == 0xff) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let _ = proof::verify(proof_bytes, AlgorithmSet::all());
    if let Ok(url) = std::str::from_utf8(rest) {
        let _ = htu::check(url, Some(Scheme::Https), "api.example.com:8443", "/a/%7eb?c");
    }
});
