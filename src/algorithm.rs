//! The JWS signature algorithms this server verifies, and a small set type for allow-lists.
//!
//! `none` and the HMAC family are deliberately absent: a symmetric "key" would have to be a
//! shared secret, and a public key must never be usable as one (RFC 8725 §3.1, §3.2).

use aws_lc_rs::signature::{self, VerificationAlgorithm};

/// A supported JWS `alg` (RFC 7518 §3; RFC 8037 for `EdDSA`; RFC 9864 for `Ed25519`).
///
/// `EdDSA` and `Ed25519` verify the same signatures, but they are distinct names: RFC 9864
/// deprecates the polymorphic `EdDSA` in favour of the fully specified `Ed25519` (as the
/// npm `oidc-provider` v9 signs), and a JWK that names one must not verify the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Rs256,
    Rs384,
    Rs512,
    Ps256,
    Ps384,
    Ps512,
    Es256,
    Es384,
    Es512,
    EdDsa,
    Ed25519,
}

/// The kind of key an algorithm needs; ECDSA algorithms are bound to exactly one curve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFamily {
    Rsa,
    P256,
    P384,
    P521,
    Ed25519,
}

impl Algorithm {
    /// Every supported algorithm, in a stable order (used for defaults and listings).
    pub const ALL: [Algorithm; 11] = [
        Algorithm::Rs256,
        Algorithm::Rs384,
        Algorithm::Rs512,
        Algorithm::Ps256,
        Algorithm::Ps384,
        Algorithm::Ps512,
        Algorithm::Es256,
        Algorithm::Es384,
        Algorithm::Es512,
        Algorithm::EdDsa,
        Algorithm::Ed25519,
    ];

    /// The registered JWS name, e.g. `RS256`.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Rs256 => "RS256",
            Algorithm::Rs384 => "RS384",
            Algorithm::Rs512 => "RS512",
            Algorithm::Ps256 => "PS256",
            Algorithm::Ps384 => "PS384",
            Algorithm::Ps512 => "PS512",
            Algorithm::Es256 => "ES256",
            Algorithm::Es384 => "ES384",
            Algorithm::Es512 => "ES512",
            Algorithm::EdDsa => "EdDSA",
            Algorithm::Ed25519 => "Ed25519",
        }
    }

    /// Parses a JWS `alg` name. Names are case-sensitive (RFC 7515 §4.1.1), so `rs256` and
    /// `NONE` are not algorithms.
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The key family this algorithm verifies with.
    pub fn family(self) -> KeyFamily {
        match self {
            Algorithm::Rs256
            | Algorithm::Rs384
            | Algorithm::Rs512
            | Algorithm::Ps256
            | Algorithm::Ps384
            | Algorithm::Ps512 => KeyFamily::Rsa,
            Algorithm::Es256 => KeyFamily::P256,
            Algorithm::Es384 => KeyFamily::P384,
            Algorithm::Es512 => KeyFamily::P521,
            Algorithm::EdDsa | Algorithm::Ed25519 => KeyFamily::Ed25519,
        }
    }

    /// The aws-lc-rs verification algorithm. RSA accepts 2048..=8192-bit moduli only; PSS
    /// uses a salt as long as the hash (RFC 7518 §3.5); ECDSA takes the fixed-width R‖S form
    /// that JWS mandates (RFC 7518 §3.4), never DER.
    pub(crate) fn verification(self) -> &'static dyn VerificationAlgorithm {
        match self {
            Algorithm::Rs256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            Algorithm::Rs384 => &signature::RSA_PKCS1_2048_8192_SHA384,
            Algorithm::Rs512 => &signature::RSA_PKCS1_2048_8192_SHA512,
            Algorithm::Ps256 => &signature::RSA_PSS_2048_8192_SHA256,
            Algorithm::Ps384 => &signature::RSA_PSS_2048_8192_SHA384,
            Algorithm::Ps512 => &signature::RSA_PSS_2048_8192_SHA512,
            Algorithm::Es256 => &signature::ECDSA_P256_SHA256_FIXED,
            Algorithm::Es384 => &signature::ECDSA_P384_SHA384_FIXED,
            Algorithm::Es512 => &signature::ECDSA_P521_SHA512_FIXED,
            Algorithm::EdDsa | Algorithm::Ed25519 => &signature::ED25519,
        }
    }
}

/// As a config file names it (`algorithms: [ES256]`): an unknown name fails at its field
/// with why (HMAC and `none` are never accepted) and what is supported.
impl<'de> serde::Deserialize<'de> for Algorithm {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Algorithm::from_name(&name).ok_or_else(|| serde::de::Error::custom(unsupported(&name)))
    }
}

fn unsupported(name: &str) -> String {
    let supported: Vec<_> = Algorithm::ALL.iter().map(|a| a.name()).collect();
    let why = if name.eq_ignore_ascii_case("none") {
        "unsigned tokens are never accepted; "
    } else if name.to_ascii_uppercase().starts_with("HS") {
        "HMAC needs a shared secret and is never accepted; "
    } else {
        ""
    };
    format!(
        "{name:?} is not supported; {why}expected one of {}",
        supported.join(", ")
    )
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of algorithms (an allow-list), cheap to copy and test.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AlgorithmSet(u16);

impl AlgorithmSet {
    /// Every supported algorithm.
    pub fn all() -> AlgorithmSet {
        Algorithm::ALL.into_iter().collect()
    }

    pub fn contains(self, alg: Algorithm) -> bool {
        self.0 & Self::bit(alg) != 0
    }

    pub fn insert(&mut self, alg: Algorithm) {
        self.0 |= Self::bit(alg);
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The members, in `Algorithm::ALL` order.
    pub fn iter(self) -> impl Iterator<Item = Algorithm> {
        Algorithm::ALL
            .into_iter()
            .filter(move |a| self.contains(*a))
    }

    fn bit(alg: Algorithm) -> u16 {
        1 << (alg as u16)
    }
}

impl FromIterator<Algorithm> for AlgorithmSet {
    fn from_iter<I: IntoIterator<Item = Algorithm>>(iter: I) -> Self {
        let mut set = AlgorithmSet::default();
        for alg in iter {
            set.insert(alg);
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_case_sensitive() {
        for alg in Algorithm::ALL {
            assert_eq!(Algorithm::from_name(alg.name()), Some(alg));
        }
        assert_eq!(Algorithm::from_name("rs256"), None);
        assert_eq!(Algorithm::from_name("none"), None);
        assert_eq!(Algorithm::from_name("HS256"), None);
    }

    #[test]
    fn set_holds_exactly_what_was_inserted() {
        let set: AlgorithmSet = [Algorithm::Es256, Algorithm::EdDsa].into_iter().collect();
        assert!(set.contains(Algorithm::Es256));
        assert!(!set.contains(Algorithm::Rs256));
        assert_eq!(
            set.iter().collect::<Vec<_>>(),
            [Algorithm::Es256, Algorithm::EdDsa]
        );
        assert_eq!(AlgorithmSet::all().iter().count(), 11);
    }

    #[test]
    fn both_names_of_ed25519_are_distinct_algorithms_in_the_default_set() {
        let (old, new) = (Algorithm::EdDsa, Algorithm::Ed25519);
        assert_eq!(Algorithm::from_name("EdDSA"), Some(old));
        assert_eq!(Algorithm::from_name("Ed25519"), Some(new));
        assert_eq!(Algorithm::from_name("ED25519"), None);
        assert_ne!(old, new);
        assert_eq!(
            (old.family(), new.family()),
            (KeyFamily::Ed25519, KeyFamily::Ed25519)
        );
        // The default `algorithms` is every supported one: a provider that accepts the
        // deprecated name accepts its replacement too.
        assert!(AlgorithmSet::all().contains(old) && AlgorithmSet::all().contains(new));
        let only_new: AlgorithmSet = [new].into_iter().collect();
        assert!(!only_new.contains(old));
    }
}
