//! The refusal cache: a token whose signature failed, or whose issuer no provider the route
//! accepts trusts, is refused again for a few seconds without decoding it, so replaying one
//! forged or foreign token costs a lookup, not a verify or a JSON parse (issue #20: a flood
//! of bad tokens).
//!
//! The same rules as the verified-token cache, because a refusal must stay exactly what a
//! full verify would answer: an entry holds the token itself (compared byte for byte) and
//! the config digest, so any reload misses; a bad signature also the very key set `Arc`
//! that refused it, so a key refresh — a rotated key that might now verify it — misses, and
//! is used only where the route allows its provider (elsewhere the full path answers
//! `issuer_not_trusted` without a signature check anyway); an untrusted issuer the very set
//! of providers it was judged against (which provider trusts an `iss` is the config's and
//! the route's, never the keys'). Nothing that depends on the time is kept, and an entry
//! lives [`NEGATIVE_TTL`]. Its own bound, apart from the verified tokens', so a flood of
//! distinct bad tokens cannot evict valid ones.

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
    judged: Judged,
    observed: Option<Arc<Observed>>,
    until: i64,
}

/// What a remembered refusal was judged against, besides the token and the config.
enum Judged {
    /// `signature_invalid`: this provider's key set.
    Signature { provider: usize, keys: Weak<KeySet> },
    /// `issuer_not_trusted`: no provider of this set trusts the issuer.
    Issuer(ProviderSet),
}

/// Recently refused tokens, by the caller's hash of the token.
pub(super) struct NegativeCache {
    shards: Box<[Mutex<HashMap<u64, Entry>>]>,
    per_shard: usize,
    /// Refusals answered from here: bad signatures, untrusted issuers.
    hits: [AtomicU64; 2],
}

impl NegativeCache {
    /// At most `entries` tokens (at least one per shard).
    pub(super) fn new(entries: usize) -> NegativeCache {
        NegativeCache {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            per_shard: entries.div_ceil(SHARDS).max(1),
            hits: Default::default(),
        }
    }

    /// Refusals answered from here so far: (bad signatures, untrusted issuers).
    pub(super) fn hits(&self) -> (u64, u64) {
        let [signature, issuer] = &self.hits;
        (
            signature.load(Ordering::Relaxed),
            issuer.load(Ordering::Relaxed),
        )
    }

    fn shard(&self, hash: u64) -> &Mutex<HashMap<u64, Entry>> {
        &self.shards[(hash % SHARDS as u64) as usize]
    }

    /// The refusal of `token`, when it is remembered for this config (and key set) and the
    /// route (`allowed`) is one it holds for.
    pub(super) fn get<'s>(
        &self,
        hash: u64,
        token: &str,
        snapshot: &'s Snapshot,
        allowed: &ProviderSet,
        now: UnixTime,
    ) -> Option<Rejection<'s>> {
        [false, true]
            .into_iter()
            .find_map(|issuer| self.get_kind(key(hash, issuer), token, snapshot, allowed, now))
    }

    fn get_kind<'s>(
        &self,
        key: u64,
        token: &str,
        snapshot: &'s Snapshot,
        allowed: &ProviderSet,
        now: UnixTime,
    ) -> Option<Rejection<'s>> {
        let mut shard = lock(self.shard(key));
        let entry = shard.get(&key)?;
        if &*entry.token != token {
            return None;
        }
        let current = now.0 < entry.until
            && entry.digest == snapshot.digest
            && match &entry.judged {
                Judged::Signature { provider, keys } => {
                    snapshot.providers.get(*provider).is_some_and(|p| {
                        keys.upgrade()
                            .is_some_and(|keys| Arc::ptr_eq(&keys, &p.keys))
                    })
                }
                Judged::Issuer(_) => true,
            };
        if !current {
            shard.remove(&key);
            return None;
        }
        let (reason, provider) = match &entry.judged {
            Judged::Signature { provider, .. } if allowed.allows(*provider) => {
                (Reason::SignatureInvalid, snapshot.providers.get(*provider))
            }
            Judged::Issuer(set) if set == allowed => (Reason::IssuerNotTrusted, None),
            _ => return None, // judged for another route: the full path says why
        };
        let counter = usize::from(reason == Reason::IssuerNotTrusted);
        self.hits[counter].fetch_add(1, Ordering::Relaxed);
        Some(Rejection {
            reason,
            provider,
            observed: entry.observed.clone(),
        })
    }

    /// Remembers `rejection` of `token` (judged against `allowed`) when it is a bad
    /// signature or an untrusted issuer (nothing else: other refusals are cheap, or depend
    /// on the time).
    pub(super) fn remember(
        &self,
        hash: u64,
        token: &str,
        snapshot: &Snapshot,
        allowed: &ProviderSet,
        rejection: &Rejection<'_>,
        now: UnixTime,
    ) {
        if token.len() > MAX_TOKEN {
            return;
        }
        let judged = match (rejection.reason, rejection.provider) {
            (Reason::SignatureInvalid, Some(provider)) => {
                let Some(index) = snapshot
                    .providers
                    .iter()
                    .position(|p| std::ptr::eq(p, provider))
                else {
                    return;
                };
                Judged::Signature {
                    provider: index,
                    keys: Arc::downgrade(&provider.keys),
                }
            }
            (Reason::IssuerNotTrusted, _) => Judged::Issuer(allowed.clone()),
            _ => return,
        };
        let hash = key(hash, matches!(judged, Judged::Issuer(_)));
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
                judged,
                observed: rejection.observed.clone(),
                until: now.0.saturating_add(NEGATIVE_TTL),
            },
        );
    }
}

/// Where a token's refusal of each kind is kept: apart, so that one token refused for its
/// signature on one route and for its issuer on another never displaces the costly one. (A
/// token alternating between routes of different provider sets re-parses for its issuer:
/// a parse, never a signature check.)
fn key(hash: u64, issuer: bool) -> u64 {
    if issuer {
        hash ^ 0x9e37_79b9_7f4a_7c15
    } else {
        hash
    }
}
