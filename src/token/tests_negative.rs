//! Unit tests of the refusal cache (issue #20): a replayed forgery is refused without a
//! signature check, and a replayed foreign token without a parse, with the same answer; a
//! key refresh (for a signature), a reload, another route or time past the TTL ends that;
//! and distinct forgeries never push verified tokens out.

use super::cache::TokenCache;
use super::negative::NEGATIVE_TTL;
use super::verify::UnixTime;
use crate::algorithm::{Algorithm, AlgorithmSet};
use crate::config::compile_str;
use crate::mint::{SigningKey, test_keys};
use crate::reason::Reason;
use crate::snapshot::{ProviderSet, Snapshot};
use serde_json::json;
use std::path::Path;
use std::sync::Arc;

const NOW: UnixTime = UnixTime(1_800_000_000);

fn trusted() -> SigningKey {
    test_keys::ec(Algorithm::Es256, "k1")
}

fn snapshot(keys: &[&SigningKey], extra: &str) -> Snapshot {
    let jwks = json!({ "keys": keys.iter().map(|k| k.public_jwk()).collect::<Vec<_>>() });
    let yaml = format!(
        "providers:\n  - name: p\n    issuer: https://i.test\n    audiences: [a]\n    jwks: {{ inline: '{jwks}' }}\n  - name: q\n    issuer: https://q.test\n    audiences: [a]\n    jwks: {{ inline: '{jwks}' }}\n{extra}"
    );
    compile_str(&yaml, Path::new("c.yaml")).unwrap()
}

/// A token for `https://i.test` with kid `k1`, signed by `key`.
fn token_by(key: &SigningKey, n: u64) -> String {
    key.clone()
        .with_kid("k1")
        .mint(&json!({"iss": "https://i.test", "aud": "a", "exp": NOW.0 + 100, "n": n}))
        .unwrap()
}

fn reason(
    cache: &TokenCache,
    token: &str,
    snap: &Snapshot,
    allowed: &ProviderSet,
    now: UnixTime,
) -> Option<Reason> {
    cache
        .verify(token, snap, allowed, now)
        .err()
        .map(|r| r.reason)
}

#[test]
fn a_replayed_forgery_is_refused_from_the_cache_with_the_same_answer() {
    let cache = TokenCache::new(100, 1 << 20).unwrap();
    let snap = snapshot(&[&trusted()], "");
    let forged = token_by(&SigningKey::generate(Algorithm::Es256).unwrap(), 1);
    let first = cache
        .verify(&forged, &snap, &ProviderSet::Any, NOW)
        .unwrap_err();
    assert_eq!(first.reason, Reason::SignatureInvalid);
    let again = cache
        .verify(&forged, &snap, &ProviderSet::Any, NOW)
        .unwrap_err();
    assert_eq!(again.reason, Reason::SignatureInvalid);
    assert_eq!(
        again.provider.map(|p| &p.name),
        first.provider.map(|p| &p.name)
    );
    assert_eq!(again.observed, first.observed);
    assert_eq!(cache.refused_hits(), (1, 0));
    assert_eq!(
        cache.counts(),
        (0, 1),
        "one verify; the replay is neither hit nor miss"
    );
    // A byte of difference is another token: verified (and refused) again.
    let mut other = forged.clone().into_bytes();
    other[5] = if other[5] == b'A' { b'B' } else { b'A' };
    let other = String::from_utf8(other).unwrap();
    assert!(cache.verify(&other, &snap, &ProviderSet::Any, NOW).is_err());
    assert_eq!(cache.refused_hits(), (1, 0));
}

#[test]
fn a_key_refresh_a_reload_another_route_or_the_ttl_ends_the_refusal() {
    let cache = TokenCache::new(100, 1 << 20).unwrap();
    let new_key = SigningKey::generate(Algorithm::Es256)
        .unwrap()
        .with_kid("k1");
    let signed_by_new = token_by(&new_key, 2);
    let before = snapshot(&[&trusted()], "");
    let any = ProviderSet::Any;
    assert_eq!(
        reason(&cache, &signed_by_new, &before, &any, NOW),
        Some(Reason::SignatureInvalid)
    );
    // The IdP rotates: the same config now holds the new key (a new key set `Arc`).
    let mut rotated = before.clone();
    rotated.providers[0].keys = Arc::new(
        crate::jwks::parse(
            json!({"keys": [new_key.public_jwk()]})
                .to_string()
                .as_bytes(),
            AlgorithmSet::all(),
            1 << 20,
        )
        .unwrap(),
    );
    assert_eq!(
        reason(&cache, &signed_by_new, &rotated, &any, NOW),
        None,
        "verified, not refused from the cache"
    );

    let forged = token_by(&SigningKey::generate(Algorithm::Es256).unwrap(), 3);
    assert!(reason(&cache, &forged, &before, &any, NOW).is_some());
    let (hits, _) = cache.refused_hits();
    // Another config (a reload) verifies again.
    let reloaded = snapshot(&[&trusted()], "challenge: { realm: x }");
    assert_eq!(
        reason(&cache, &forged, &reloaded, &any, NOW),
        Some(Reason::SignatureInvalid)
    );
    assert_eq!(cache.refused_hits().0, hits);
    // A route that trusts only `q` answers as the full path does.
    let only_q = ProviderSet::Only(vec![1]);
    assert_eq!(
        reason(&cache, &forged, &reloaded, &only_q, NOW),
        Some(Reason::IssuerNotTrusted)
    );
    assert_eq!(cache.refused_hits().0, hits);
    // Within the TTL it is answered from the cache; after it, verified again.
    let later = UnixTime(NOW.0 + NEGATIVE_TTL - 1);
    assert_eq!(
        reason(&cache, &forged, &reloaded, &any, later),
        Some(Reason::SignatureInvalid)
    );
    assert_eq!(cache.refused_hits().0, hits + 1);
    let expired = UnixTime(NOW.0 + NEGATIVE_TTL);
    assert_eq!(
        reason(&cache, &forged, &reloaded, &any, expired),
        Some(Reason::SignatureInvalid)
    );
    assert_eq!(cache.refused_hits().0, hits + 1);
}

#[test]
fn distinct_forgeries_never_evict_verified_tokens() {
    let cache = TokenCache::new(64, 1 << 20).unwrap();
    let snap = snapshot(&[&trusted()], "");
    let valid = token_by(&trusted(), 0);
    cache.verify(&valid, &snap, &ProviderSet::Any, NOW).unwrap();
    let impostor = SigningKey::generate(Algorithm::Es256).unwrap();
    for n in 1..=200 {
        let forged = token_by(&impostor, n);
        assert!(
            cache
                .verify(&forged, &snap, &ProviderSet::Any, NOW)
                .is_err()
        );
    }
    let (hits, _) = cache.counts();
    cache.verify(&valid, &snap, &ProviderSet::Any, NOW).unwrap();
    assert_eq!(
        cache.counts().0,
        hits + 1,
        "the valid token is still cached"
    );
}

#[test]
fn a_replayed_untrusted_issuer_is_refused_from_the_cache_for_the_same_route_and_config() {
    let cache = TokenCache::new(100, 1 << 20).unwrap();
    let snap = snapshot(&[&trusted()], "");
    let foreign = trusted()
        .with_kid("k1")
        .mint(&json!({"iss": "https://other.test", "aud": "a", "exp": NOW.0 + 100}))
        .unwrap();
    let any = ProviderSet::Any;
    let first = cache.verify(&foreign, &snap, &any, NOW).unwrap_err();
    assert_eq!(first.reason, Reason::IssuerNotTrusted);
    assert_eq!(cache.refused_hits(), (0, 0));
    let again = cache.verify(&foreign, &snap, &any, NOW).unwrap_err();
    assert_eq!(again.reason, Reason::IssuerNotTrusted);
    assert!(again.provider.is_none());
    assert_eq!(again.observed, first.observed);
    assert_eq!(
        again.observed.as_ref().and_then(|o| o.iss.as_deref()),
        Some("https://other.test")
    );
    assert_eq!(cache.refused_hits(), (0, 1));
    // Judged against another set of providers: judged again, not answered from here.
    let only_q = ProviderSet::Only(vec![1]);
    assert_eq!(
        reason(&cache, &foreign, &snap, &only_q, NOW),
        Some(Reason::IssuerNotTrusted)
    );
    assert_eq!(cache.refused_hits(), (0, 1));
    // A reload that trusts the issuer verifies the token.
    let jwks = json!({ "keys": [trusted().public_jwk()] });
    let trusting = snapshot(
        &[&trusted()],
        &format!(
            "  - name: other\n    issuer: https://other.test\n    audiences: [a]\n    jwks: {{ inline: '{jwks}' }}\n"
        ),
    );
    let verified = cache.verify(&foreign, &trusting, &any, NOW).unwrap();
    assert_eq!(verified.provider().name, "other");
    // Past the TTL it is parsed again.
    let expired = UnixTime(NOW.0 + NEGATIVE_TTL);
    assert_eq!(
        reason(&cache, &foreign, &snap, &any, expired),
        Some(Reason::IssuerNotTrusted)
    );
    assert_eq!(cache.refused_hits(), (0, 1));
}

#[test]
fn a_refusal_for_the_issuer_on_one_route_never_displaces_the_signatures_on_another() {
    let cache = TokenCache::new(100, 1 << 20).unwrap();
    let snap = snapshot(&[&trusted()], "");
    let forged = token_by(&SigningKey::generate(Algorithm::Es256).unwrap(), 9);
    let (any, only_q) = (ProviderSet::Any, ProviderSet::Only(vec![1]));
    for round in 1..=3 {
        assert_eq!(
            reason(&cache, &forged, &snap, &any, NOW),
            Some(Reason::SignatureInvalid)
        );
        assert_eq!(
            reason(&cache, &forged, &snap, &only_q, NOW),
            Some(Reason::IssuerNotTrusted)
        );
        assert_eq!(cache.refused_hits(), (round - 1, round - 1));
    }
    assert_eq!(
        cache.counts(),
        (0, 2),
        "one verify, one parse for its issuer"
    );
}
