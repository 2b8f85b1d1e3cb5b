//! Property tests: extraction, token parsing and config parsing never panic on arbitrary
//! input, a valid token with any single character changed never verifies, and no client
//! text ahead of a proxy's XFCC element is ever read instead of it.

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

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    /// RFC 8705 behind a proxy: whatever a client puts in `x-forwarded-client-cert` ahead
    /// of the element its TLS-terminating proxy appends (open quotes, escapes, commas), the
    /// header names the proxy's certificate or is unreadable — never the client's.
    #[test]
    fn a_client_prefix_never_replaces_the_proxys_xfcc_element(
        prefix in "[A-Za-z0-9=;,\"\\\\ ]{0,48}",
        quoted in any::<bool>(),
    ) {
        use envoy_jwt_authz::certificate::xfcc::{Presented, Unread, nearest};
        let hash = "bbd8ed5052852209e87c8b99a94a90db0a38f75d01f58c06e76e12896537d12a";
        let element = if quoted {
            format!("By=spiffe://edge;Hash={hash};Subject=\"CN=a, O=b\";URI=spiffe://client")
        } else {
            format!("By=spiffe://edge;Hash={hash}")
        };
        let header = format!("{prefix},{element}");
        match nearest(&[header.as_bytes()]) {
            Ok(Presented::Hash(found)) => prop_assert_eq!(&found[..], hash.as_bytes()),
            Err(Unread::Malformed) => {}
            other => prop_assert!(false, "{header:?} read as {other:?}"),
        }
    }
}
