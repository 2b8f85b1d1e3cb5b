//! Key sets from JWK Set JSON (RFC 7517), parsed once into verification-ready keys. Over
//! 400 lines because every key type's parsing and its algorithm pinning are read together.
//!
//! Pure: bytes in, [`KeySet`] out. Each usable key is bound at load to the algorithms it may
//! verify: its own `alg` when the JWK names one, otherwise every allowed algorithm of its key
//! family (RSA → RS*/PS*, P-256 → ES256, P-384 → ES384, P-521 → ES512, Ed25519 → EdDSA and
//! its fully specified name Ed25519, RFC 9864). Keys
//! that cannot be used (weak RSA, unknown `kty`/`crv`, points off the curve, private
//! material, `use: enc`) are skipped with a reason instead of failing the whole set.

use crate::algorithm::{Algorithm, AlgorithmSet, KeyFamily};
use crate::b64;
use aws_lc_rs::signature::{ParsedPublicKey, RsaPublicKeyComponents};
use serde_json::{Map, Value};
use std::sync::Arc;

/// The smallest RSA modulus accepted (RFC 7518 §3.3 requires 2048 bits).
pub const MIN_RSA_BITS: usize = 2048;
/// The largest RSA modulus aws-lc-rs verifies with.
pub const MAX_RSA_BITS: usize = 8192;

/// A verification key with the algorithms it is bound to.
pub struct Key {
    /// Shared: a verified token (and its cache entry) names the key that verified it
    /// without a copy.
    kid: Option<Arc<str>>,
    verifiers: Vec<(Algorithm, ParsedPublicKey)>,
}

impl Key {
    /// The JWK `kid`, if any.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The `kid` as shared with what it verified.
    pub(crate) fn shared_kid(&self) -> Option<&Arc<str>> {
        self.kid.as_ref()
    }

    /// The algorithms this key may verify, in `Algorithm::ALL` order.
    pub fn algorithms(&self) -> impl Iterator<Item = Algorithm> + '_ {
        self.verifiers.iter().map(|(alg, _)| *alg)
    }

    /// Whether `signature` is a valid `alg` signature of `message` by this key — the check
    /// the verify path makes; false when the key is not bound to `alg`.
    pub fn verify_signature(&self, alg: Algorithm, message: &[u8], signature: &[u8]) -> bool {
        self.verifier(alg)
            .is_some_and(|key| key.verify_sig(message, signature).is_ok())
    }

    /// The parsed key for `alg`, or `None` when this key is not bound to `alg`.
    pub(crate) fn verifier(&self, alg: Algorithm) -> Option<&ParsedPublicKey> {
        self.verifiers
            .iter()
            .find(|(a, _)| *a == alg)
            .map(|(_, k)| k)
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field("algorithms", &self.algorithms().collect::<Vec<_>>())
            .finish()
    }
}

/// A JWK that was not loaded, and why (for `check-config` and warnings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedKey {
    /// Position in the `keys` array.
    pub index: usize,
    pub kid: Option<String>,
    pub why: String,
}

/// The usable keys of one JWK Set.
#[derive(Debug, Default)]
pub struct KeySet {
    keys: Vec<Key>,
    skipped: Vec<SkippedKey>,
}

impl KeySet {
    pub fn keys(&self) -> &[Key] {
        &self.keys
    }

    pub fn skipped(&self) -> &[SkippedKey] {
        &self.skipped
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// Why a whole document could not be read as a JWK Set.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwksError {
    #[error("key set is {size} bytes, over the limit of {max}")]
    TooLarge { size: usize, max: usize },
    #[error("key set is not valid JSON: {0}")]
    NotJson(String),
    #[error("key set has no \"keys\" array")]
    NoKeysArray,
}

/// Parses a JWK Set, keeping only keys usable with `allowed` algorithms.
///
/// Fails only when the document as a whole is unusable (too large, not JSON, no `keys`
/// array); an empty or all-skipped set is returned as such for the caller to judge.
pub fn parse(bytes: &[u8], allowed: AlgorithmSet, max_bytes: usize) -> Result<KeySet, JwksError> {
    if bytes.len() > max_bytes {
        return Err(JwksError::TooLarge {
            size: bytes.len(),
            max: max_bytes,
        });
    }
    let doc: Value =
        serde_json::from_slice(bytes).map_err(|e| JwksError::NotJson(e.to_string()))?;
    let Some(entries) = doc.get("keys").and_then(Value::as_array) else {
        return Err(JwksError::NoKeysArray);
    };
    let mut set = KeySet::default();
    for (index, entry) in entries.iter().enumerate() {
        let kid = entry.get("kid").and_then(Value::as_str).map(str::to_owned);
        match parse_key(entry, allowed) {
            Ok(verifiers) => set.keys.push(Key {
                kid: kid.map(Arc::from),
                verifiers,
            }),
            Err(why) => set.skipped.push(SkippedKey { index, kid, why }),
        }
    }
    Ok(set)
}

/// "no usable key", with every skipped key and why (for errors and logs).
pub fn no_usable_key_message(set: &KeySet) -> String {
    let why: Vec<String> = set
        .skipped()
        .iter()
        .map(|s| {
            format!(
                "keys[{}] ({}): {}",
                s.index,
                s.kid.as_deref().unwrap_or("no kid"),
                s.why
            )
        })
        .collect();
    if why.is_empty() {
        "no usable key".to_owned()
    } else {
        format!("no usable key; skipped {}", why.join("; "))
    }
}

/// The verifier for `alg` of one JWK that is not from a key set (a DPoP proof's header
/// key): the same checks as a key set's key (type, curve, size, point on the curve, no
/// private material, a declared `alg` must be `alg`).
pub(crate) fn verifier_for(jwk: &Value, alg: Algorithm) -> Result<ParsedPublicKey, String> {
    let verifiers = parse_key(jwk, [alg].into_iter().collect())?;
    verifiers
        .into_iter()
        .next()
        .map(|(_, verifier)| verifier)
        .ok_or_else(|| format!("the key cannot verify {alg}"))
}

fn parse_key(
    entry: &Value,
    allowed: AlgorithmSet,
) -> Result<Vec<(Algorithm, ParsedPublicKey)>, String> {
    let jwk = entry.as_object().ok_or("entry is not a JSON object")?;
    if let Some(kid) = jwk.get("kid")
        && !kid.is_string()
    {
        return Err("kid is not a string".into());
    }
    if let Some(usage) = jwk.get("use")
        && usage.as_str() != Some("sig")
    {
        return Err(format!("use is {usage}, not \"sig\""));
    }
    if let Some(ops) = jwk.get("key_ops") {
        let verify = ops
            .as_array()
            .is_some_and(|ops| ops.iter().any(|o| o == "verify"));
        if !verify {
            return Err("key_ops does not include \"verify\"".into());
        }
    }
    if jwk.contains_key("d") || jwk.contains_key("p") || jwk.contains_key("k") {
        // A public JWKS must never carry private or symmetric key material.
        return Err("contains private or symmetric key material".into());
    }
    let kty = string_member(jwk, "kty")?;
    let family = match kty {
        "RSA" => KeyFamily::Rsa,
        "EC" => match string_member(jwk, "crv")? {
            "P-256" => KeyFamily::P256,
            "P-384" => KeyFamily::P384,
            "P-521" => KeyFamily::P521,
            other => return Err(format!("unsupported EC curve {other:?}")),
        },
        "OKP" => match string_member(jwk, "crv")? {
            "Ed25519" => KeyFamily::Ed25519,
            other => return Err(format!("unsupported OKP curve {other:?}")),
        },
        other => return Err(format!("unsupported kty {other:?}")),
    };
    let algorithms = bound_algorithms(jwk, family, allowed)?;
    algorithms
        .iter()
        .map(|alg| Ok((alg, parse_public_key(jwk, alg)?)))
        .collect()
}

/// The algorithms a JWK may verify: its declared `alg` (which must fit its key type), or
/// the whole family; intersected with what the provider allows.
fn bound_algorithms(
    jwk: &Map<String, Value>,
    family: KeyFamily,
    allowed: AlgorithmSet,
) -> Result<AlgorithmSet, String> {
    let candidates: AlgorithmSet = match jwk.get("alg") {
        None => Algorithm::ALL
            .into_iter()
            .filter(|a| a.family() == family)
            .collect(),
        Some(alg) => {
            let name = alg.as_str().ok_or("alg is not a string")?;
            let alg =
                Algorithm::from_name(name).ok_or_else(|| format!("unsupported alg {name:?}"))?;
            if alg.family() != family {
                return Err(format!("alg {alg} does not fit this key type"));
            }
            [alg].into_iter().collect()
        }
    };
    let usable: AlgorithmSet = candidates.iter().filter(|a| allowed.contains(*a)).collect();
    if usable.is_empty() {
        let names: Vec<_> = candidates.iter().map(Algorithm::name).collect();
        return Err(format!(
            "its algorithms {names:?} are not in the provider's algorithms"
        ));
    }
    Ok(usable)
}

fn parse_public_key(jwk: &Map<String, Value>, alg: Algorithm) -> Result<ParsedPublicKey, String> {
    let verification = alg.verification();
    match alg.family() {
        KeyFamily::Rsa => {
            let n = strip_leading_zeros(bytes_member(jwk, "n")?);
            let e = strip_leading_zeros(bytes_member(jwk, "e")?);
            let bits = n
                .first()
                .map_or(0, |top| n.len() * 8 - top.leading_zeros() as usize);
            if bits < MIN_RSA_BITS {
                return Err(format!(
                    "RSA key has {bits} bits, fewer than {MIN_RSA_BITS}"
                ));
            }
            if bits > MAX_RSA_BITS {
                return Err(format!("RSA key has {bits} bits, more than {MAX_RSA_BITS}"));
            }
            let params = match alg {
                Algorithm::Rs256 => &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
                Algorithm::Rs384 => &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA384,
                Algorithm::Rs512 => &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA512,
                Algorithm::Ps256 => &aws_lc_rs::signature::RSA_PSS_2048_8192_SHA256,
                Algorithm::Ps384 => &aws_lc_rs::signature::RSA_PSS_2048_8192_SHA384,
                _ => &aws_lc_rs::signature::RSA_PSS_2048_8192_SHA512,
            };
            RsaPublicKeyComponents {
                n: &n[..],
                e: &e[..],
            }
            .to_parsed_public_key(params)
            .map_err(|e| format!("invalid RSA key: {e}"))
        }
        KeyFamily::P256 | KeyFamily::P384 | KeyFamily::P521 => {
            let width = match alg.family() {
                KeyFamily::P256 => 32,
                KeyFamily::P384 => 48,
                _ => 66,
            };
            let x = bytes_member(jwk, "x")?;
            let y = bytes_member(jwk, "y")?;
            if x.len() != width || y.len() != width {
                return Err(format!("EC coordinates must be {width} bytes each"));
            }
            let mut point = Vec::with_capacity(1 + 2 * width);
            point.push(0x04);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            ParsedPublicKey::new(verification, point).map_err(|e| format!("invalid EC point: {e}"))
        }
        KeyFamily::Ed25519 => {
            let x = bytes_member(jwk, "x")?;
            if x.len() != 32 {
                return Err("Ed25519 key must be 32 bytes".into());
            }
            ParsedPublicKey::new(verification, x).map_err(|e| format!("invalid Ed25519 key: {e}"))
        }
    }
}

fn string_member<'a>(jwk: &'a Map<String, Value>, name: &str) -> Result<&'a str, String> {
    jwk.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{name} is missing or not a string"))
}

fn bytes_member(jwk: &Map<String, Value>, name: &str) -> Result<Vec<u8>, String> {
    b64::decode_jwk_member(string_member(jwk, name)?)
        .ok_or_else(|| format!("{name} is not base64url"))
}

fn strip_leading_zeros(mut bytes: Vec<u8>) -> Vec<u8> {
    let zeros = bytes.iter().take_while(|b| **b == 0).count();
    bytes.drain(..zeros);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mint::test_keys;
    use serde_json::json;

    fn set_of(keys: Vec<Value>) -> KeySet {
        let doc = serde_json::to_vec(&json!({ "keys": keys })).unwrap();
        parse(&doc, AlgorithmSet::all(), 1 << 20).unwrap()
    }

    #[test]
    fn every_supported_key_type_loads_bound_to_its_family() {
        let set = set_of(vec![
            test_keys::rsa(Algorithm::Rs256, "r").public_jwk_without_alg(),
            test_keys::ec(Algorithm::Es256, "p256").public_jwk_without_alg(),
            test_keys::ec(Algorithm::Es384, "p384").public_jwk_without_alg(),
            test_keys::ec(Algorithm::Es512, "p521").public_jwk_without_alg(),
            test_keys::ed25519("ed").public_jwk_without_alg(),
        ]);
        assert!(set.skipped().is_empty(), "{:?}", set.skipped());
        let algs: Vec<Vec<Algorithm>> = set
            .keys()
            .iter()
            .map(|k| k.algorithms().collect())
            .collect();
        use Algorithm::*;
        assert_eq!(
            algs,
            vec![
                vec![Rs256, Rs384, Rs512, Ps256, Ps384, Ps512],
                vec![Es256],
                vec![Es384],
                vec![Es512],
                vec![EdDsa, Ed25519]
            ]
        );
    }

    #[test]
    fn a_declared_alg_binds_the_key_to_that_alg_only() {
        let set = set_of(vec![test_keys::rsa(Algorithm::Ps384, "r").public_jwk()]);
        assert_eq!(
            set.keys()[0].algorithms().collect::<Vec<_>>(),
            [Algorithm::Ps384]
        );
        // Either name of Ed25519 pins the key to that name alone.
        for alg in [Algorithm::EdDsa, Algorithm::Ed25519] {
            let key = test_keys::ed25519("ed").with_alg(alg).unwrap();
            let set = set_of(vec![key.public_jwk()]);
            assert_eq!(set.keys()[0].algorithms().collect::<Vec<_>>(), [alg]);
        }
    }

    #[test]
    fn provider_algorithms_narrow_the_binding_and_skip_keys_left_with_none() {
        let doc = serde_json::to_vec(&json!({ "keys": [
            test_keys::rsa(Algorithm::Rs256, "r").public_jwk_without_alg(),
            test_keys::ec(Algorithm::Es256, "e").public_jwk_without_alg(),
        ]}))
        .unwrap();
        let set = parse(&doc, [Algorithm::Rs256].into_iter().collect(), 1 << 20).unwrap();
        assert_eq!(set.keys().len(), 1);
        assert_eq!(
            set.keys()[0].algorithms().collect::<Vec<_>>(),
            [Algorithm::Rs256]
        );
        assert_eq!(set.skipped()[0].kid.as_deref(), Some("e"));
    }

    fn skip_reason(jwk: Value) -> String {
        let set = set_of(vec![jwk]);
        assert!(set.keys().is_empty());
        set.skipped()[0].why.clone()
    }

    #[test]
    fn weak_rsa_keys_are_skipped() {
        let mut jwk = test_keys::rsa(Algorithm::Rs256, "r").public_jwk();
        // Keep the top 1024 bits of the modulus: a 1024-bit key.
        let n = b64::decode_jwk_member(jwk["n"].as_str().unwrap()).unwrap();
        jwk["n"] = Value::String(b64::encode(&n[..128]));
        assert!(skip_reason(jwk).contains("1024 bits"));
    }

    #[test]
    fn points_off_the_curve_are_skipped() {
        let mut jwk = test_keys::ec(Algorithm::Es256, "e").public_jwk();
        let mut y = b64::decode_jwk_member(jwk["y"].as_str().unwrap()).unwrap();
        y[31] ^= 1;
        jwk["y"] = Value::String(b64::encode(&y));
        assert!(skip_reason(jwk).contains("invalid EC point"));
    }

    #[test]
    fn unknown_types_mismatched_algs_and_private_material_are_skipped() {
        assert!(skip_reason(json!({"kty": "oct", "k": "AAAA"})).contains("private or symmetric"));
        assert!(skip_reason(json!({"kty": "oct"})).contains("unsupported kty"));
        assert!(
            skip_reason(json!({"kty": "EC", "crv": "secp256k1", "x": "", "y": ""}))
                .contains("unsupported EC curve")
        );
        assert!(
            skip_reason(json!({"kty": "OKP", "crv": "X25519", "x": ""}))
                .contains("unsupported OKP curve")
        );
        let mut jwk = test_keys::ec(Algorithm::Es256, "e").public_jwk();
        jwk["alg"] = json!("ES384");
        assert!(skip_reason(jwk).contains("does not fit"));
        let mut jwk = test_keys::ec(Algorithm::Es256, "e").public_jwk();
        jwk["alg"] = json!("HS256");
        assert!(skip_reason(jwk).contains("unsupported alg"));
        let mut jwk = test_keys::ec(Algorithm::Es256, "e").public_jwk();
        jwk["use"] = json!("enc");
        assert!(skip_reason(jwk).contains("use is"));
        let mut jwk = test_keys::ec(Algorithm::Es256, "e").public_jwk();
        jwk["d"] = json!("AAAA");
        assert!(skip_reason(jwk).contains("private"));
    }

    #[test]
    fn whole_document_errors_are_reported() {
        assert_eq!(
            parse(b"{}", AlgorithmSet::all(), 100).unwrap_err(),
            JwksError::NoKeysArray
        );
        assert!(matches!(
            parse(b"nope", AlgorithmSet::all(), 100),
            Err(JwksError::NotJson(_))
        ));
        assert_eq!(
            parse(&[b' '; 101], AlgorithmSet::all(), 100).unwrap_err(),
            JwksError::TooLarge {
                size: 101,
                max: 100
            }
        );
    }
}
