//! Server-provided DPoP nonces (RFC 9449 §8-9), stateless: a nonce is an HMAC-SHA256, under
//! a key drawn at startup, of the provider's name and the current time bucket
//! (`now / nonce_lifetime`). A nonce is accepted in its own bucket and the next, so it
//! lives between one and two lifetimes; a restart rotates the key, and every outstanding
//! nonce is answered with a new one (`use_dpop_nonce`), which clients handle by retrying.
//! Replicas do not share the key: with several, each asks for its own nonce (see README).

use crate::b64;
use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::hmac;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};

/// The key nonces are made with (never logged, never sent).
pub struct NonceKey(hmac::Key);

impl std::fmt::Debug for NonceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NonceKey(redacted)")
    }
}

impl Default for NonceKey {
    /// A fresh random key. If the system's random source fails, the key is all zeros
    /// mixed with the time: nonces then only lose unpredictability, which a nonce (a
    /// freshness signal, not a secret) survives.
    fn default() -> NonceKey {
        let mut bytes = [0u8; 32];
        if SystemRandom::new().fill(&mut bytes).is_err() {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            bytes[..16].copy_from_slice(&now.to_le_bytes());
        }
        NonceKey(hmac::Key::new(hmac::HMAC_SHA256, &bytes))
    }
}

impl NonceKey {
    /// The nonce for `provider` at `now` (Unix seconds) with buckets of `lifetime` seconds.
    pub fn current(&self, provider: &str, now: i64, lifetime: u64) -> String {
        self.for_bucket(provider, bucket(now, lifetime))
    }

    /// Whether `nonce` is the current or the previous bucket's nonce for `provider`.
    pub fn accepts(&self, provider: &str, nonce: &str, now: i64, lifetime: u64) -> bool {
        let bucket = bucket(now, lifetime);
        [bucket, bucket - 1].into_iter().any(|b| {
            verify_slices_are_equal(self.for_bucket(provider, b).as_bytes(), nonce.as_bytes())
                .is_ok()
        })
    }

    fn for_bucket(&self, provider: &str, bucket: i64) -> String {
        let mut context = hmac::Context::with_key(&self.0);
        context.update(provider.as_bytes());
        context.update(&[0]);
        context.update(&bucket.to_be_bytes());
        // 18 bytes: 24 characters, plenty against guessing within a bucket.
        b64::encode(&context.sign().as_ref()[..18])
    }
}

fn bucket(now: i64, lifetime: u64) -> i64 {
    now.div_euclid(i64::try_from(lifetime.max(1)).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_lives_for_its_bucket_and_the_next_for_its_provider_and_key_only() {
        let key = NonceKey::default();
        let nonce = key.current("p", 1_000, 300); // bucket 3: [900, 1200)
        assert!(key.accepts("p", &nonce, 900, 300));
        assert!(key.accepts("p", &nonce, 1_499, 300));
        assert!(!key.accepts("p", &nonce, 1_500, 300), "two buckets later");
        assert!(!key.accepts("p", &nonce, 899, 300), "before it was made");
        assert!(!key.accepts("q", &nonce, 1_000, 300), "another provider");
        assert!(
            !NonceKey::default().accepts("p", &nonce, 1_000, 300),
            "another key (a restart)"
        );
        assert!(!key.accepts("p", "", 1_000, 300));
        assert_eq!(nonce.len(), 24);
    }
}
