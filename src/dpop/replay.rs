//! The proof replay cache (RFC 9449 §11.1): the `jti`s of accepted proofs, per provider,
//! each kept until its proof is too old to be accepted anyway (`iat` + `max_age`).
//!
//! Bounded: at most the provider's `replay_cache_entries`, in 16 shards. When a shard is
//! full it is swept of expired entries; when it is full of live ones the new proof is
//! refused (a 503 the client may retry) rather than a live entry forgotten, which would
//! let that proof be replayed. A sweep that frees nothing is not repeated before the
//! earliest entry expires, so a full cache costs a lookup per proof, not a sweep.

use aws_lc_rs::digest::{SHA256, digest};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

const SHARDS: usize = 16;

/// Why a `jti` was not recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotRecorded {
    /// A live proof with this `jti` was accepted before.
    Replayed,
    /// The provider's cache is full of live entries.
    Full,
}

/// Every provider's seen `jti`s, by provider name (kept across reloads, so a reload
/// opens no replay window).
#[derive(Debug, Default)]
pub struct Replays {
    providers: RwLock<HashMap<String, Arc<Seen>>>,
}

impl Replays {
    /// Records `jti` for `provider` as seen until `expires` (Unix seconds), unless it was
    /// seen and is still live at `now`; `capacity` bounds the provider's entries.
    pub fn record(
        &self,
        provider: &str,
        jti: &str,
        expires: i64,
        now: i64,
        capacity: usize,
    ) -> Result<(), NotRecorded> {
        let seen = self.seen(provider);
        let hash = digest(&SHA256, jti.as_bytes());
        let mut key = [0u8; 16];
        key.copy_from_slice(&hash.as_ref()[..16]);
        let key = u128::from_le_bytes(key);
        let per_shard = capacity.div_ceil(SHARDS).max(1);
        let mut shard = seen.shards[(key % SHARDS as u128) as usize]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        shard.record(key, expires, now, per_shard)
    }

    /// How many `jti`s are held for `provider` (for tests and the status page).
    pub fn len(&self, provider: &str) -> usize {
        let providers = self
            .providers
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        providers.get(provider).map_or(0, |seen| {
            seen.shards
                .iter()
                .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).map.len())
                .sum()
        })
    }

    fn seen(&self, provider: &str) -> Arc<Seen> {
        if let Some(seen) = self
            .providers
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(provider)
        {
            return seen.clone();
        }
        let mut providers = self
            .providers
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        providers.entry(provider.to_owned()).or_default().clone()
    }
}

/// One provider's shards.
#[derive(Debug, Default)]
struct Seen {
    shards: [Mutex<Shard>; SHARDS],
}

#[derive(Debug, Default)]
struct Shard {
    /// Truncated SHA-256 of the `jti` → when its proof expires.
    map: HashMap<u128, i64>,
    /// No sweep before this time (the earliest expiry after the last sweep).
    next_sweep: i64,
}

impl Shard {
    fn record(
        &mut self,
        key: u128,
        expires: i64,
        now: i64,
        capacity: usize,
    ) -> Result<(), NotRecorded> {
        if self.map.get(&key).is_some_and(|until| *until >= now) {
            return Err(NotRecorded::Replayed);
        }
        if self.map.len() >= capacity && !self.map.contains_key(&key) {
            if now >= self.next_sweep {
                self.map.retain(|_, until| *until >= now);
                self.next_sweep = self.map.values().min().map_or(now, |earliest| earliest + 1);
            }
            if self.map.len() >= capacity {
                return Err(NotRecorded::Full);
            }
        }
        self.map.insert(key, expires);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jti_is_refused_while_live_and_accepted_again_once_expired() {
        let replays = Replays::default();
        assert_eq!(replays.record("p", "a", 100, 40, 10), Ok(()));
        assert_eq!(
            replays.record("p", "a", 100, 41, 10),
            Err(NotRecorded::Replayed)
        );
        assert_eq!(
            replays.record("p", "a", 100, 100, 10),
            Err(NotRecorded::Replayed)
        );
        // Another provider has its own jtis.
        assert_eq!(replays.record("q", "a", 100, 41, 10), Ok(()));
        // Past its expiry the proof would be refused as stale anyway.
        assert_eq!(replays.record("p", "a", 200, 101, 10), Ok(()));
    }

    #[test]
    fn a_full_cache_refuses_new_proofs_until_entries_expire_and_never_forgets_a_live_one() {
        let replays = Replays::default();
        // Capacity 16 = one entry per shard; fill every shard with a live entry.
        let mut kept = Vec::new();
        let mut i = 0;
        while kept.len() < 16 {
            let jti = format!("jti-{i}");
            if replays.record("p", &jti, 100, 0, 16).is_ok() {
                kept.push(jti);
            }
            i += 1;
        }
        assert_eq!(replays.len("p"), 16);
        assert_eq!(
            replays.record("p", "fresh", 100, 50, 16),
            Err(NotRecorded::Full)
        );
        for jti in &kept {
            assert_eq!(
                replays.record("p", jti, 100, 50, 16),
                Err(NotRecorded::Replayed)
            );
        }
        // Once they expire, the sweep makes room.
        assert_eq!(replays.record("p", "fresh", 300, 101, 16), Ok(()));
    }
}
