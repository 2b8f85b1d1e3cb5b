//! Introspection answers, cached per provider endpoint. An entry is keyed by an HMAC-SHA256
//! of the token under a key drawn at startup, so the cache never holds a token, and a
//! collision (which would hand one token another's answer) is as hard as forging the MAC.
//! Entries expire on their own clock (`max_ttl` capped by `exp`, or `negative_ttl`); the
//! decision still re-checks the time claims and the route's scopes and claims on every use,
//! so a hit can never widen what the answer allowed. Bounded by entries and bytes (oldest
//! inserted evicted first), sharded so concurrent Checks rarely share a lock. Active and
//! inactive answers are kept in separate pools of that size: a flood of made-up tokens
//! (each cached inactive) only evicts other inactive answers, never a real user's.

use super::Answer;
use crate::lock::lock;
use aws_lc_rs::hmac;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SHARDS: usize = 8;
/// Bookkeeping per entry beyond the answer's JSON, for the byte bound.
pub const ENTRY_OVERHEAD: usize = 256;
/// Bytes held per provider at most.
pub const MAX_BYTES: usize = 16 * 1024 * 1024;

/// The cache key of one token: its MAC, never the token.
pub type Key = [u8; 32];

struct Entry {
    answer: Arc<Answer>,
    expires: Instant,
    cost: usize,
    seq: u64,
}

#[derive(Default)]
struct Shard {
    entries: HashMap<Key, Entry>,
    /// Insertion order (key, seq) for eviction; stale pairs are skipped.
    order: VecDeque<(Key, u64)>,
    bytes: usize,
    seq: u64,
}

pub struct AnswerCache {
    mac: hmac::Key,
    /// `active: true` answers.
    active: Pool,
    /// Every other answer kept (`active: false`).
    inactive: Pool,
}

/// One bounded, sharded store.
struct Pool {
    shards: Box<[Mutex<Shard>]>,
    entries_per_shard: usize,
    bytes_per_shard: usize,
}

impl AnswerCache {
    /// A cache of at most `entries` active and `entries` inactive answers, each pool within
    /// [`MAX_BYTES`].
    pub fn new(entries: usize) -> AnswerCache {
        let mut secret = [0u8; 32];
        // SystemRandom only fails when the OS has no entropy source; a fixed key then
        // still keys by the full token, only without the secrecy.
        let _ = aws_lc_rs::rand::fill(&mut secret);
        AnswerCache {
            mac: hmac::Key::new(hmac::HMAC_SHA256, &secret),
            active: Pool::new(entries),
            inactive: Pool::new(entries),
        }
    }

    pub fn key(&self, token: &str) -> Key {
        let tag = hmac::sign(&self.mac, token.as_bytes());
        let mut key = [0; 32];
        key.copy_from_slice(tag.as_ref());
        key
    }

    /// The answer for `key`, unless absent or expired at `now`.
    pub fn get(&self, key: &Key, now: Instant) -> Option<Arc<Answer>> {
        self.active
            .get(key, now)
            .or_else(|| self.inactive.get(key, now))
    }

    /// Keeps `answer` (whose JSON took `size` bytes) for `ttl` from `now`, in its pool.
    pub fn insert(&self, key: Key, answer: Arc<Answer>, size: usize, ttl: Duration, now: Instant) {
        let pool = match *answer {
            Answer::Active(_) => &self.active,
            _ => &self.inactive,
        };
        pool.insert(key, answer, size, ttl, now);
    }

    /// Answers held now.
    pub fn len(&self) -> usize {
        self.active.len() + self.inactive.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Pool {
    fn new(entries: usize) -> Pool {
        Pool {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            entries_per_shard: entries.div_ceil(SHARDS).max(1),
            bytes_per_shard: MAX_BYTES / SHARDS,
        }
    }

    fn shard(&self, key: &Key) -> &Mutex<Shard> {
        &self.shards[usize::from(key[0]) % SHARDS]
    }

    fn get(&self, key: &Key, now: Instant) -> Option<Arc<Answer>> {
        let mut shard = lock(self.shard(key));
        match shard.entries.get(key) {
            Some(entry) if entry.expires > now => Some(entry.answer.clone()),
            Some(_) => {
                let gone = shard.entries.remove(key).map_or(0, |e| e.cost);
                shard.bytes -= gone;
                None
            }
            None => None,
        }
    }

    fn insert(&self, key: Key, answer: Arc<Answer>, size: usize, ttl: Duration, now: Instant) {
        let cost = size + ENTRY_OVERHEAD;
        // An expiry past what `Instant` can hold is not kept (the config bounds TTLs far
        // below that; this is belt and braces against a panic on the Check path).
        let Some(expires) = now.checked_add(ttl) else {
            return;
        };
        if ttl.is_zero() || cost > self.bytes_per_shard {
            return;
        }
        let mut shard = lock(self.shard(&key));
        let shard = &mut *shard;
        if let Some(old) = shard.entries.remove(&key) {
            shard.bytes -= old.cost;
        }
        while shard.entries.len() >= self.entries_per_shard
            || shard.bytes + cost > self.bytes_per_shard
        {
            let Some((oldest, seq)) = shard.order.pop_front() else {
                break;
            };
            if shard.entries.get(&oldest).is_some_and(|e| e.seq == seq)
                && let Some(e) = shard.entries.remove(&oldest)
            {
                shard.bytes -= e.cost;
            }
        }
        shard.seq += 1;
        let seq = shard.seq;
        shard.order.push_back((key, seq));
        shard.bytes += cost;
        shard.entries.insert(
            key,
            Entry {
                answer,
                expires,
                cost,
                seq,
            },
        );
        // Stale order pairs (replaced or expired keys) must not pile up without bound.
        if shard.order.len() > 2 * self.entries_per_shard {
            let entries = &shard.entries;
            shard
                .order
                .retain(|(k, s)| entries.get(k).is_some_and(|e| e.seq == *s));
        }
    }

    fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).entries.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_macs_that_differ_per_token_and_per_cache() {
        let (a, b) = (AnswerCache::new(10), AnswerCache::new(10));
        assert_eq!(a.key("t1"), a.key("t1"));
        assert_ne!(a.key("t1"), a.key("t2"));
        assert_ne!(a.key("t1"), b.key("t1"), "a fresh secret per cache");
    }

    #[test]
    fn inactive_answers_never_evict_active_ones() {
        let cache = AnswerCache::new(SHARDS); // one entry per shard and pool
        let now = Instant::now();
        let ttl = Duration::from_secs(60);
        let user = cache.key("real-user");
        let active = Arc::new(Answer::Active(Arc::new(serde_json::Map::new())));
        cache.insert(user, active, 100, ttl, now);
        for i in 0..1000 {
            let made_up = cache.key(&format!("made-up-{i}"));
            cache.insert(made_up, Arc::new(Answer::Inactive), 20, ttl, now);
        }
        assert!(matches!(
            cache.get(&user, now).as_deref(),
            Some(Answer::Active(_))
        ));
        assert!(cache.len() <= 2 * SHARDS, "{}", cache.len());
    }

    #[test]
    fn a_ttl_beyond_any_instant_is_not_kept_rather_than_a_panic() {
        let cache = AnswerCache::new(10);
        let key = cache.key("t");
        cache.insert(
            key,
            Arc::new(Answer::Inactive),
            1,
            Duration::MAX,
            Instant::now(),
        );
        assert!(cache.is_empty());
    }

    #[test]
    fn entries_expire_and_the_bounds_evict_the_oldest() {
        let cache = AnswerCache::new(SHARDS); // one entry per shard
        let now = Instant::now();
        let key = cache.key("t");
        cache.insert(
            key,
            Arc::new(Answer::Inactive),
            10,
            Duration::from_secs(5),
            now,
        );
        assert!(cache.get(&key, now + Duration::from_secs(4)).is_some());
        assert!(cache.get(&key, now + Duration::from_secs(5)).is_none());
        assert!(cache.is_empty(), "an expired entry is dropped when met");
        // Two keys in one shard: the second evicts the first.
        let mut same_shard = (0..).map(|i| (i, cache.key(&format!("t{i}"))));
        let (_, first) = same_shard.next().unwrap();
        let (_, second) = same_shard.find(|(_, k)| k[0] % 8 == first[0] % 8).unwrap();
        let ttl = Duration::from_secs(60);
        cache.insert(first, Arc::new(Answer::Inactive), 10, ttl, now);
        cache.insert(second, Arc::new(Answer::Inactive), 10, ttl, now);
        assert!(cache.get(&first, now).is_none());
        assert!(cache.get(&second, now).is_some());
        assert_eq!(cache.len(), 1);
        // Too large for the byte bound: not kept at all; zero TTL: not kept.
        let big = cache.key("big");
        cache.insert(big, Arc::new(Answer::Inactive), MAX_BYTES, ttl, now);
        cache.insert(
            cache.key("z"),
            Arc::new(Answer::Inactive),
            1,
            Duration::ZERO,
            now,
        );
        assert_eq!(cache.len(), 1);
    }
}
