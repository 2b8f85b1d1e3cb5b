//! Property tests: extraction, token parsing and config parsing never panic on arbitrary
//! input, and a valid token with any single character changed never verifies.

use crate::support::{self, ec_key, mint};
use envoy_jwt_authz::config::compile_str;
use envoy_jwt_authz::snapshot::{ProviderSet, Snapshot};
use envoy_jwt_authz::token::extract::access_token;
use envoy_jwt_authz::token::verify::{UnixTime, verify};
use proptest::prelude::*;
use std::path::Path;
use std::sync::OnceLock;

fn snapshot() -> &'static Snapshot {
    static SNAPSHOT: OnceLock<Snapshot> = OnceLock::new();
    SNAPSHOT.get_or_init(|| {
        compile_str(&support::config_yaml(""), Path::new("c.yaml")).expect("config")
    })
}

fn valid_token() -> &'static str {
    static TOKEN: OnceLock<String> = OnceLock::new();
    TOKEN.get_or_init(|| mint(&ec_key(), &support::claims()))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn extraction_never_panics(values in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..3)) {
        let refs: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
        let _ = access_token(&refs);
    }

    #[test]
    fn parsing_arbitrary_tokens_never_panics_or_verifies(token in "\\PC{0,300}", dotted in "[A-Za-z0-9_=+/-]{0,40}\\.[A-Za-z0-9_=+/-]{0,40}\\.[A-Za-z0-9_=+/-]{0,40}") {
        for t in [&token, &dotted] {
            prop_assert!(verify(t, snapshot(), &ProviderSet::Any, UnixTime::now()).is_err());
        }
    }

    #[test]
    fn config_parsing_never_panics(text in "\\PC{0,400}") {
        let _ = compile_str(&text, Path::new("fuzz.yaml"));
    }

    #[test]
    fn a_valid_token_with_one_character_changed_never_verifies(index in 0usize..10_000, replacement in prop::sample::select(b"AZaz09-_.=+/ ".to_vec())) {
        let token = valid_token();
        let index = index % token.len();
        prop_assume!(token.as_bytes()[index] != replacement);
        let mut bytes = token.as_bytes().to_vec();
        bytes[index] = replacement;
        let changed = String::from_utf8(bytes).expect("ASCII");
        prop_assert!(verify(&changed, snapshot(), &ProviderSet::Any, UnixTime::now()).is_err(), "{changed}");
    }
}

#[test]
fn the_unchanged_token_verifies() {
    // The property above would hold vacuously for a token that never verified.
    assert!(
        verify(
            valid_token(),
            snapshot(),
            &ProviderSet::Any,
            UnixTime::now()
        )
        .is_ok()
    );
}
