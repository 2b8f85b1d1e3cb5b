//! The verified-token cache: a client reuses its access token until it expires, so the
//! parse and signature check of a token already verified can be skipped. (Over 400 lines: the
//! sharded store, its bounds and its tests belong together; the refusal cache beside it
//! is `token::negative`.)
//!
//! Safety rules: an entry is keyed by a keyed hash of the token and holds the token itself
//! (a hit compares it byte for byte, so no collision can substitute one token for another);
//! it is used only with the same config (snapshot digest), the same key set (the very
//! `Arc` that verified it) and a provider the route allows; it never outlives the token's
//! `exp`; and the time claims are checked again against `now` on every hit. Tokens without
//! `exp` are never cached. Bounded by entries and bytes; sharded so concurrent Checks
//! rarely meet on a lock.

use super::claims::check_audience;
use super::negative::NegativeCache;
use super::verify::{Accept, Rejection, TimeClaims, UnixTime, Verified, verify};
use crate::jwks::KeySet;
use crate::lock::lock;
use crate::reason::Reason;
use crate::snapshot::Snapshot;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

/// Default bounds of `--token-cache-entries` / `--token-cache-bytes`.
pub const DEFAULT_ENTRIES: usize = 4096;
pub const DEFAULT_BYTES: usize = 8 * 1024 * 1024;
const SHARDS: usize = 16;
/// How many of the token's last bytes are hashed for the key.
const HASHED_TAIL: usize = 32;
/// Bookkeeping per entry beyond the token and claims, for the byte bound.
const ENTRY_OVERHEAD: usize = 256;
/// The bad-signature cache's bound.
const MAX_REFUSED: usize = 256;

struct Entry {
    token: Box<str>,
    digest: [u8; 32],
    /// The key set that verified it: a refresh publishes a new `Arc`, which misses. Weak, so
    /// entries never keep old keys alive (and the allocation is not reused while held).
    keys: Weak<KeySet>,
    provider: usize,
    claims: Arc<Map<String, Value>>,
    alg: Option<crate::algorithm::Algorithm>,
    kid: Option<Arc<str>>,
    times: TimeClaims,
    /// Verified against a route's own audiences rather than the provider's.
    route_audiences: bool,
    cost: usize,
}

#[derive(Default)]
struct Shard {
    /// Keyed by the already keyed hash of the token: no second hashing.
    entries: HashMap<u64, Entry, BuildHasherDefault<Prehashed>>,
    bytes: usize,
}

/// A `Hasher` for keys that are already uniformly distributed `u64` hashes.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used; fold anything else in so nothing is lost.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A bounded cache of verified tokens.
pub struct TokenCache {
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
    entries_per_shard: usize,
    bytes_per_shard: usize,
    hits: AtomicU64,
    misses: AtomicU64,
    /// Recently refused bad signatures and untrusted issuers (see `token::negative`),
    /// bounded apart.
    refused: NegativeCache,
}

impl TokenCache {
    /// A cache of at most `entries` tokens and about `bytes` bytes; `None` when either is 0
    /// (caching off).
    pub fn new(entries: usize, bytes: usize) -> Option<TokenCache> {
        if entries == 0 || bytes == 0 {
            return None;
        }
        Some(TokenCache {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            hasher: RandomState::new(),
            entries_per_shard: entries.div_ceil(SHARDS),
            bytes_per_shard: bytes.div_ceil(SHARDS),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            // Replayed forgeries are few distinct tokens: a quarter as many, at most 256
            // (each entry holds its token, up to 8 KiB).
            refused: NegativeCache::new(entries.div_ceil(4).min(MAX_REFUSED)),
        })
    }

    /// Refusals answered without a signature check or a parse: (replayed bad signatures,
    /// replayed untrusted issuers).
    pub fn refused_hits(&self) -> (u64, u64) {
        self.refused.hits()
    }

    /// (hits, misses) so far.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    /// Entries held now.
    pub fn len(&self) -> usize {
        self.shards.iter().map(lock).map(|s| s.entries.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Locked with [`lock`], which recovers a poisoned shard: every entry is checked
    /// again on each hit, so a panic under the lock cannot make one unsafe to use, while
    /// skipping the shard would turn its tokens into misses for the life of the process.
    fn shard(&self, hash: u64) -> &Mutex<Shard> {
        &self.shards[(hash % SHARDS as u64) as usize]
    }

    /// [`verify`], answered from the cache when the same token was verified before under the
    /// same config and keys.
    pub fn verify<'s, 'a>(
        &self,
        token: &str,
        snapshot: &'s Snapshot,
        accept: impl Into<Accept<'a>>,
        now: UnixTime,
    ) -> Result<Verified<'s>, Rejection<'s>> {
        let accept = accept.into();
        // The token's last characters (its signature's) tell verified tokens apart as well
        // as the whole token does, at a fraction of the hashing; a hit still compares every
        // byte, and only verified tokens are ever stored.
        let tail = &token.as_bytes()[token.len().saturating_sub(HASHED_TAIL)..];
        let hash = self.hasher.hash_one(tail);
        if let Some(hit) = self.lookup(hash, token, snapshot, accept, now) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return hit;
        }
        // Only a compact JWS (two dots) is ever stored: anything else (an opaque token on
        // its way to introspection) is not counted as a miss. Checked here, off the hit path.
        if token.bytes().filter(|b| *b == b'.').count() != 2 {
            return verify(token, snapshot, accept, now);
        }
        if let Some(refused) = self
            .refused
            .get(hash, token, snapshot, accept.providers, now)
        {
            return Err(refused);
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let result = verify(token, snapshot, accept, now);
        match &result {
            Ok(verified) => {
                self.insert(hash, token, snapshot, verified, accept.audiences.is_some())
            }
            Err(rejection) => {
                self.refused
                    .remember(hash, token, snapshot, accept.providers, rejection, now)
            }
        }
        result
    }

    fn lookup<'s>(
        &self,
        hash: u64,
        token: &str,
        snapshot: &'s Snapshot,
        accept: Accept<'_>,
        now: UnixTime,
    ) -> Option<Result<Verified<'s>, Rejection<'s>>> {
        let mut shard = lock(self.shard(hash));
        let entry = shard.entries.get(&hash)?;
        let provider = snapshot.providers.get(entry.provider)?;
        if &*entry.token != token {
            return None; // another token with the same hash: verify normally
        }
        let current = entry.digest == snapshot.digest
            && entry
                .keys
                .upgrade()
                .is_some_and(|keys| Arc::ptr_eq(&keys, &provider.keys))
            && entry.times.exp.is_some_and(|exp| (now.0 as f64) <= exp);
        if !current {
            let cost = entry.cost;
            shard.entries.remove(&hash);
            shard.bytes = shard.bytes.saturating_sub(cost);
            return None;
        }
        if !accept.providers.allows(entry.provider) {
            return None; // this route trusts other providers: the full path says why
        }
        // Verified against one route's audiences, a token is not thereby good for another
        // route's (or the provider's own): re-checked whenever either side had its own set.
        if (entry.route_audiences || accept.audiences.is_some())
            && check_audience(&entry.claims, provider, accept.audiences_of(provider)).is_err()
        {
            return None; // the full path says why
        }
        // Time claims are judged against `now` on every use.
        Some(match entry.times.check(provider, now) {
            Ok(()) => Ok(Verified {
                provider,
                claims: entry.claims.clone(),
                alg: entry.alg,
                kid: entry.kid.clone(),
            }),
            Err(reason) => Err(self.rejection(reason, provider, entry)),
        })
    }

    fn rejection<'s>(
        &self,
        reason: Reason,
        provider: &'s crate::snapshot::Provider,
        entry: &Entry,
    ) -> Rejection<'s> {
        let verified = Verified {
            provider,
            claims: entry.claims.clone(),
            alg: entry.alg,
            kid: entry.kid.clone(),
        };
        Rejection {
            reason,
            provider: Some(provider),
            observed: Some(verified.observed()),
        }
    }

    fn insert(
        &self,
        hash: u64,
        token: &str,
        snapshot: &Snapshot,
        verified: &Verified<'_>,
        route_audiences: bool,
    ) {
        let Ok(times) = TimeClaims::of(&verified.claims) else {
            return;
        };
        if times.exp.is_none() {
            return;
        }
        let Some(provider) = snapshot
            .providers
            .iter()
            .position(|p| std::ptr::eq(p, verified.provider))
        else {
            return;
        };
        // The payload is about three quarters of its base64url length in the token.
        let cost = token.len() * 2 + ENTRY_OVERHEAD;
        if cost > self.bytes_per_shard {
            return;
        }
        let mut shard = lock(self.shard(hash));
        if let Some(old) = shard.entries.remove(&hash) {
            shard.bytes = shard.bytes.saturating_sub(old.cost);
        }
        while !shard.entries.is_empty()
            && (shard.entries.len() >= self.entries_per_shard
                || shard.bytes + cost > self.bytes_per_shard)
        {
            // Evict an arbitrary entry: the map's order is randomised per process.
            let Some(victim) = shard.entries.keys().next().copied() else {
                break;
            };
            if let Some(old) = shard.entries.remove(&victim) {
                shard.bytes = shard.bytes.saturating_sub(old.cost);
            }
        }
        shard.bytes += cost;
        shard.entries.insert(
            hash,
            Entry {
                token: token.into(),
                digest: snapshot.digest,
                keys: Arc::downgrade(&verified.provider.keys),
                provider,
                claims: verified.claims.clone(),
                alg: verified.alg,
                kid: verified.kid.clone(),
                times,
                route_audiences,
                cost,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algorithm::Algorithm;
    use crate::config::compile_str;
    use crate::mint::test_keys;
    use crate::snapshot::ProviderSet;
    use serde_json::json;
    use std::path::Path;

    const NOW: UnixTime = UnixTime(1_800_000_000);

    fn snapshot(extra: &str) -> Snapshot {
        let jwks = json!({"keys": [test_keys::ec(Algorithm::Es256, "k1").public_jwk()]});
        let yaml = format!(
            "providers:\n  - name: p\n    issuer: https://i.test\n    audiences: [a]\n    jwks: {{ inline: '{jwks}' }}\n{extra}"
        );
        compile_str(&yaml, Path::new("c.yaml")).unwrap()
    }

    fn token(claims: Value) -> String {
        let mut base = json!({"iss": "https://i.test", "aud": "a", "exp": NOW.0 + 100});
        for (k, v) in claims.as_object().unwrap() {
            base[k] = v.clone();
        }
        test_keys::ec(Algorithm::Es256, "k1").mint(&base).unwrap()
    }

    #[test]
    fn a_repeated_token_is_a_hit_with_the_same_claims() {
        let cache = TokenCache::new(100, 1 << 20).unwrap();
        let snap = snapshot("");
        let t = token(json!({"sub": "alice"}));
        let first = cache.verify(&t, &snap, &ProviderSet::Any, NOW).unwrap();
        let second = cache.verify(&t, &snap, &ProviderSet::Any, NOW).unwrap();
        assert_eq!(cache.counts(), (1, 1));
        assert_eq!(first.claims(), second.claims());
        assert_eq!(second.kid(), Some("k1"));
        assert_eq!(
            cache
                .verify(&token(json!({"sub": "bob"})), &snap, &ProviderSet::Any, NOW)
                .unwrap()
                .claims()["sub"],
            "bob"
        );
        assert_eq!(cache.counts(), (1, 2));
        // What cannot be a JWS is judged as before but counts as neither.
        for opaque in ["2YotnFZFEjr1zCsicMWpAA", "a.b", "a.b.c.d.e"] {
            assert!(cache.verify(opaque, &snap, &ProviderSet::Any, NOW).is_err());
        }
        assert_eq!(cache.counts(), (1, 2));
    }

    #[test]
    fn time_claims_are_rechecked_and_entries_never_outlive_exp() {
        let cache = TokenCache::new(100, 1 << 20).unwrap();
        let snap = snapshot("");
        let t = token(json!({"nbf": NOW.0 - 10}));
        cache.verify(&t, &snap, &ProviderSet::Any, NOW).unwrap();
        // Before nbf (beyond the 60 s skew) on a hit: refused, as the full path would.
        assert_eq!(
            cache
                .verify(&t, &snap, &ProviderSet::Any, UnixTime(NOW.0 - 100))
                .unwrap_err()
                .reason,
            Reason::NotYetValid
        );
        // After exp the entry is dropped; within the skew the full path still accepts.
        assert!(
            cache
                .verify(&t, &snap, &ProviderSet::Any, UnixTime(NOW.0 + 130))
                .is_ok()
        );
        assert_eq!(
            cache
                .verify(&t, &snap, &ProviderSet::Any, UnixTime(NOW.0 + 200))
                .unwrap_err()
                .reason,
            Reason::Expired
        );
        assert_eq!(cache.counts(), (1, 3));
    }

    #[test]
    fn a_new_config_or_key_set_misses() {
        let cache = TokenCache::new(100, 1 << 20).unwrap();
        let t = token(json!({}));
        let snap = snapshot("");
        cache.verify(&t, &snap, &ProviderSet::Any, NOW).unwrap();
        let other_config = snapshot("challenge: { realm: x }");
        cache
            .verify(&t, &other_config, &ProviderSet::Any, NOW)
            .unwrap();
        let mut refreshed = other_config.clone();
        refreshed.providers[0].keys = Arc::new(
            crate::jwks::parse(
                json!({"keys": [test_keys::ec(Algorithm::Es256, "k1").public_jwk()]})
                    .to_string()
                    .as_bytes(),
                crate::algorithm::AlgorithmSet::all(),
                1 << 20,
            )
            .unwrap(),
        );
        cache
            .verify(&t, &refreshed, &ProviderSet::Any, NOW)
            .unwrap();
        assert_eq!(cache.counts(), (0, 3));
        cache
            .verify(&t, &refreshed, &ProviderSet::Any, NOW)
            .unwrap();
        assert_eq!(cache.counts(), (1, 3));
    }

    #[test]
    fn a_route_that_does_not_trust_the_provider_is_not_answered_from_the_cache() {
        let cache = TokenCache::new(100, 1 << 20).unwrap();
        let snap = snapshot("");
        let t = token(json!({}));
        cache.verify(&t, &snap, &ProviderSet::Any, NOW).unwrap();
        assert_eq!(
            cache
                .verify(&t, &snap, &ProviderSet::Only(vec![]), NOW)
                .unwrap_err()
                .reason,
            Reason::IssuerNotTrusted
        );
    }

    #[test]
    fn the_cache_is_bounded_and_skips_tokens_without_exp() {
        let cache = TokenCache::new(16, 1 << 20).unwrap();
        let snap = snapshot("");
        for i in 0..200 {
            cache
                .verify(&token(json!({"jti": i})), &snap, &ProviderSet::Any, NOW)
                .unwrap();
        }
        assert!(cache.len() <= 16, "{}", cache.len());
        let small = TokenCache::new(1000, 16 * 2048).unwrap();
        for i in 0..200 {
            small
                .verify(&token(json!({"jti": i})), &snap, &ProviderSet::Any, NOW)
                .unwrap();
        }
        assert!(
            small.len() <= 16 * 2048 / (2 * 300),
            "bytes bound: {}",
            small.len()
        );
        let no_exp = snapshot("    required_claims: []");
        let uncached = TokenCache::new(100, 1 << 20).unwrap();
        let mut claims = json!({"iss": "https://i.test", "aud": "a"});
        claims["sub"] = json!("x");
        let t = test_keys::ec(Algorithm::Es256, "k1").mint(&claims).unwrap();
        uncached
            .verify(&t, &no_exp, &ProviderSet::Any, NOW)
            .unwrap();
        assert!(uncached.is_empty());
        assert!(TokenCache::new(0, 1).is_none());
    }
}
