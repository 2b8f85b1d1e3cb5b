//! Fuzz target: `Authorization` header extraction on arbitrary header values.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Split the input into up to three header values on 0xff bytes.
    let values: Vec<&[u8]> = data.split(|b| *b == 0xff).take(3).collect();
    let _ = envoy_jwt_authz::token::extract::access_token(&values);
});
