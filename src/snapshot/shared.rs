//! The one shared, hot-swappable [`Snapshot`]: read once per request without locking,
//! written by exactly two kinds of writers, each through its own method.
//!
//! - A key refresher publishes a fetched key set with [`SharedSnapshot::publish_keys`]; it
//!   lands only if the provider of that config generation still serves.
//! - The config watcher installs a recompiled config with [`SharedSnapshot::replace_config`],
//!   which carries the fetched keys of unchanged remote providers over itself: a freshly
//!   compiled snapshot has none, and a reload that forgot them would deny every token of an
//!   IdP until the next refresh.
//!
//! Both write with `rcu`, never `store`: the two writers race (a refresh can finish between
//! the watcher's load and its swap), and each must re-apply its change to whatever the
//! other just published. Nothing outside this module writes the snapshot.

use super::{KeySource, Snapshot};
use crate::jwks::KeySet;
use arc_swap::{ArcSwap, Guard};
use std::sync::Arc;

/// The shared snapshot handle; cloning it is one `Arc` increment.
#[derive(Clone)]
pub struct SharedSnapshot(Arc<ArcSwap<Snapshot>>);

impl SharedSnapshot {
    pub fn new(snapshot: Snapshot) -> SharedSnapshot {
        SharedSnapshot(Arc::new(ArcSwap::from_pointee(snapshot)))
    }

    /// Wraps a raw handle (for callers that still build one; see [`SharedSnapshot::handle`]).
    pub fn from_arc(handle: Arc<ArcSwap<Snapshot>>) -> SharedSnapshot {
        SharedSnapshot(handle)
    }

    /// The raw handle, for callers that need the `ArcSwap` itself.
    /// Readers only: writing through it would bypass the key carrying below.
    pub fn handle(&self) -> Arc<ArcSwap<Snapshot>> {
        self.0.clone()
    }

    /// The snapshot now serving, cheaply (for a short read on the current thread).
    pub fn load(&self) -> Guard<Arc<Snapshot>> {
        self.0.load()
    }

    /// The snapshot now serving, owned (to hold across an `.await` or a whole decision).
    pub fn load_full(&self) -> Arc<Snapshot> {
        self.0.load_full()
    }

    /// Stores `keys` as the key set of provider `name` if that provider, with this
    /// `fingerprint` (the config generation that fetched them), still serves; a refresher of
    /// a provider removed or changed by a reload meanwhile publishes nothing. Returns whether
    /// the key ids differ from the ones it replaced (for the log).
    pub fn publish_keys(&self, name: &str, fingerprint: &[u8; 32], keys: Arc<KeySet>) -> bool {
        let mut changed = false;
        self.0.rcu(|current| {
            let Some(index) = current
                .providers
                .iter()
                .position(|p| p.name == name && p.fingerprint == *fingerprint)
            else {
                changed = false;
                return current.clone();
            };
            changed = kids(&current.providers[index].keys) != kids(&keys);
            let mut next = Snapshot::clone(current);
            next.providers[index].keys = keys.clone();
            Arc::new(next)
        });
        changed
    }

    /// Installs a freshly compiled config, keeping the already fetched key sets of remote
    /// providers whose config did not change (same name and fingerprint).
    pub fn replace_config(&self, next: Snapshot) {
        self.0.rcu(|current| {
            let mut next = next.clone();
            carry_remote_keys(current, &mut next);
            next
        });
    }
}

impl From<Arc<ArcSwap<Snapshot>>> for SharedSnapshot {
    fn from(handle: Arc<ArcSwap<Snapshot>>) -> SharedSnapshot {
        SharedSnapshot::from_arc(handle)
    }
}

impl From<Snapshot> for SharedSnapshot {
    fn from(snapshot: Snapshot) -> SharedSnapshot {
        SharedSnapshot::new(snapshot)
    }
}

impl std::fmt::Debug for SharedSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SharedSnapshot").field(&self.load()).finish()
    }
}

fn kids(set: &KeySet) -> Vec<Option<String>> {
    set.keys()
        .iter()
        .map(|k| k.kid().map(str::to_owned))
        .collect()
}

/// Copies already-fetched remote key sets from `current` into `next`, for providers whose
/// config did not change. A changed provider starts empty: its keys may come from another
/// IdP now, and its new refresher fetches them.
fn carry_remote_keys(current: &Snapshot, next: &mut Snapshot) {
    for p in next
        .providers
        .iter_mut()
        .filter(|p| matches!(p.key_source, KeySource::Remote(_)))
    {
        if let Some(old) = current
            .providers
            .iter()
            .find(|o| o.name == p.name && o.fingerprint == p.fingerprint)
        {
            p.keys = old.keys.clone();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algorithm::{Algorithm, AlgorithmSet};
    use crate::config::compile_str;
    use crate::mint::test_keys;
    use serde_json::json;
    use std::path::Path;

    /// Two remote providers, `a` and `b`, with `b`'s JWKS at `b_uri`, and a static one.
    fn config(b_uri: &str, realm: &str) -> Snapshot {
        let remote = |name: &str, uri: &str| {
            format!(
                "  - name: {name}\n    issuer: https://{name}.test\n    audiences: [api]\n    jwks: {{ uri: '{uri}' }}\n"
            )
        };
        let jwks = json!({"keys": [test_keys::ec(Algorithm::Es256, "static").public_jwk()]});
        let yaml = format!(
            "providers:\n{}{}  - name: s\n    issuer: https://s.test\n    audiences: [api]\n    jwks: {{ inline: '{jwks}' }}\nchallenge: {{ realm: {realm} }}\n",
            remote("a", "https://a.test/jwks"),
            remote("b", b_uri),
        );
        compile_str(&yaml, Path::new("c.yaml")).expect("config")
    }

    fn key_set(kid: &str) -> Arc<KeySet> {
        let jwks = json!({"keys": [test_keys::ec(Algorithm::Es256, kid).public_jwk()]});
        Arc::new(
            crate::jwks::parse(jwks.to_string().as_bytes(), AlgorithmSet::all(), 1 << 16).unwrap(),
        )
    }

    fn provider_kids(shared: &SharedSnapshot, name: &str) -> Vec<Option<String>> {
        let snapshot = shared.load_full();
        let p = snapshot.providers.iter().find(|p| p.name == name).unwrap();
        kids(&p.keys)
    }

    fn publish(shared: &SharedSnapshot, name: &str, kid: &str) -> bool {
        let fingerprint = shared
            .load()
            .providers
            .iter()
            .find(|p| p.name == name)
            .unwrap()
            .fingerprint;
        shared.publish_keys(name, &fingerprint, key_set(kid))
    }

    #[test]
    fn published_keys_replace_only_their_provider_and_report_a_change_of_kids() {
        let shared = SharedSnapshot::new(config("https://b.test/jwks", "r1"));
        assert!(publish(&shared, "a", "a1"));
        assert!(!publish(&shared, "a", "a1"), "same kids: no change to log");
        assert_eq!(provider_kids(&shared, "a"), [Some("a1".to_owned())]);
        assert!(provider_kids(&shared, "b").is_empty());
        assert_eq!(provider_kids(&shared, "s"), [Some("static".to_owned())]);
    }

    #[test]
    fn keys_of_a_stale_config_generation_are_not_published() {
        let shared = SharedSnapshot::new(config("https://b.test/jwks", "r1"));
        let old = shared.load().providers[1].fingerprint;
        shared.replace_config(config("https://b2.test/jwks", "r1"));
        assert!(!shared.publish_keys("b", &old, key_set("late")));
        assert!(provider_kids(&shared, "b").is_empty());
        assert!(!shared.publish_keys("gone", &old, key_set("late")));
    }

    #[test]
    fn a_reload_keeps_fetched_keys_of_unchanged_providers_and_drops_changed_ones() {
        let shared = SharedSnapshot::new(config("https://b.test/jwks", "r1"));
        publish(&shared, "a", "a1");
        publish(&shared, "b", "b1");
        let a_keys = shared.load().providers[0].keys.clone();

        // Only the challenge changed: both remote providers keep what was fetched, the very
        // same key set (the token cache keys entries by it).
        shared.replace_config(config("https://b.test/jwks", "r2"));
        assert_eq!(shared.load().challenge.realm.as_deref(), Some("r2"));
        assert!(Arc::ptr_eq(&shared.load().providers[0].keys, &a_keys));
        assert_eq!(provider_kids(&shared, "b"), [Some("b1".to_owned())]);

        // `b` now fetches from elsewhere: its old keys must not serve the new source.
        shared.replace_config(config("https://b2.test/jwks", "r2"));
        assert_eq!(provider_kids(&shared, "a"), [Some("a1".to_owned())]);
        assert!(provider_kids(&shared, "b").is_empty());
        assert_eq!(provider_kids(&shared, "s"), [Some("static".to_owned())]);
    }

    #[test]
    fn clones_and_raw_handles_share_one_snapshot() {
        let shared = SharedSnapshot::new(config("https://b.test/jwks", "r1"));
        let clone = shared.clone();
        let raw = SharedSnapshot::from(shared.handle());
        publish(&shared, "a", "a1");
        assert_eq!(provider_kids(&clone, "a"), [Some("a1".to_owned())]);
        assert_eq!(provider_kids(&raw, "a"), [Some("a1".to_owned())]);
    }
}
