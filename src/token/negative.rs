//! The bad-signature cache: a token whose signature failed is refused again without a
//! signature check for a few seconds, so replaying one forged token costs a lookup, not a
//! verify (issue #20: a flood of bad tokens).
//!
//! The same rules as the verified-token cache, because a refusal must stay exactly what a
//! full verify would answer: an entry holds the token itself (compared byte for byte), the
//! config digest and the very key set `Arc` that refused it, so any reload or key refresh —
//! a rotated key that might now verify it — misses; it lives [`NEGATIVE_TTL`]; and it is
//! used only where the route allows its provider (elsewhere the full path answers
//! `issuer_not_trusted` without a signature check anyway). Its own bound, apart from the
//! verified tokens', so a flood of distinct forged tokens cannot evict valid ones.

use super::verify::{Observed, Rejection, UnixTime};
use crate::jwks::KeySet;
use crate::lock::lock;
use crate::reason::Reason;
use crate::snapshot::{ProviderSet, Snapshot};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

/// How long a refused signature is remembered.
pub const NEGATIVE_TTL: i64 = 10;
const SHARDS: usize = 16;
/// Tokens longer than this are not remembered (each entry holds its token).
const MAX_TOKEN: usize = 8 * 1024;

struct Entry {
    token: Box<str>,
    digest: [u8; 32],
    keys: Weak<KeySet>,
    provider: usize,
    observed: Option<Box<Observed>>,
    until: i64,
}

/// Recently refused signatures, by the caller's hash of the token.
pub(super) struct NegativeCache {
    shards: Box<[Mutex<HashMap<u64, Entry>>]>,
    per_shard: usize,
    hits: AtomicU64,
}

impl NegativeCache {
    /// At most `entries` tokens (at least one per shard).
    pub(super) fn new(entries: usize) -> NegativeCache {
        NegativeCache {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            per_shard: entries.div_ceil(SHARDS).max(1),
            hits: AtomicU64::new(0),
        }
    }

    /// Refusals answered from here so far.
    pub(super) fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    fn shard(&self, hash: u64) -> &Mutex<HashMap<u64, Entry>> {
        &self.shards[(hash % SHARDS as u64) as usize]
    }

    /// The refusal of `token`, when it is remembered for this config and key set and the
    /// route (`allowed`) accepts its provider.
    pub(super) fn get<'s>(
        &self,
        hash: u64,
        token: &str,
        snapshot: &'s Snapshot,
        allowed: &ProviderSet,
        now: UnixTime,
    ) -> Option<Rejection<'s>> {
        let mut shard = lock(self.shard(hash));
        let entry = shard.get(&hash)?;
        if &*entry.token != token {
            return None;
        }
        let provider = snapshot.providers.get(entry.provider);
        let current = now.0 < entry.until
            && entry.digest == snapshot.digest
            && provider.is_some_and(|p| {
                entry
                    .keys
                    .upgrade()
                    .is_some_and(|keys| Arc::ptr_eq(&keys, &p.keys))
            });
        if !current {
            shard.remove(&hash);
            return None;
        }
        if !allowed.allows(entry.provider) {
            return None;
        }
        self.hits.fetch_add(1, Ordering::Relaxed);
        Some(Rejection {
            reason: Reason::SignatureInvalid,
            provider,
            observed: entry.observed.clone(),
        })
    }

    /// Remembers `rejection` of `token` when it is a bad signature (nothing else: other
    /// refusals are cheap, or depend on the time or the route).
    pub(super) fn remember(
        &self,
        hash: u64,
        token: &str,
        snapshot: &Snapshot,
        rejection: &Rejection<'_>,
        now: UnixTime,
    ) {
        let Some(provider) = rejection
            .provider
            .filter(|_| rejection.reason == Reason::SignatureInvalid && token.len() <= MAX_TOKEN)
        else {
            return;
        };
        let Some(index) = snapshot
            .providers
            .iter()
            .position(|p| std::ptr::eq(p, provider))
        else {
            return;
        };
        let mut shard = lock(self.shard(hash));
        if shard.len() >= self.per_shard && !shard.contains_key(&hash) {
            shard.retain(|_, e| e.until > now.0);
            if shard.len() >= self.per_shard
                && let Some(any) = shard.keys().next().copied()
            {
                shard.remove(&any);
            }
        }
        shard.insert(
            hash,
            Entry {
                token: token.into(),
                digest: snapshot.digest,
                keys: Arc::downgrade(&provider.keys),
                provider: index,
                observed: rejection.observed.clone(),
                until: now.0.saturating_add(NEGATIVE_TTL),
            },
        );
    }
}
