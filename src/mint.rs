//! Signing tokens with a local private key: the `mint-token` demo command, the tests, and
//! the `private_key_jwt` client assertions of introspection requests.
//!
//! Not used on the verify path. It lets a new user get a valid token for the example config
//! without an identity provider, and lets the test suite mint every algorithm.

use crate::algorithm::{Algorithm, KeyFamily};
use crate::b64;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use serde_json::{Value, json};
use std::sync::Arc;

/// Why a signing key could not be made or used.
#[derive(Debug, thiserror::Error)]
pub enum MintError {
    #[error("not a PEM \"PRIVATE KEY\" (PKCS#8) document")]
    NotPem,
    #[error("the key does not fit algorithm {0}: {1}")]
    KeyRejected(Algorithm, String),
    #[error("signing failed")]
    SigningFailed,
}

enum Pair {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// A private key bound to one algorithm and an optional `kid`.
#[derive(Clone)]
pub struct SigningKey {
    alg: Algorithm,
    kid: Option<String>,
    pair: Arc<Pair>,
}

impl SigningKey {
    /// A fresh random key for `alg` (RSA keys are 2048 bits).
    pub fn generate(alg: Algorithm) -> Result<SigningKey, MintError> {
        let rejected =
            |e: aws_lc_rs::error::Unspecified| MintError::KeyRejected(alg, e.to_string());
        let pair = match alg.family() {
            KeyFamily::Rsa => Pair::Rsa(RsaKeyPair::generate(KeySize::Rsa2048).map_err(rejected)?),
            KeyFamily::Ed25519 => Pair::Ed(Ed25519KeyPair::generate().map_err(rejected)?),
            _ => Pair::Ec(EcdsaKeyPair::generate(ec_signing(alg)).map_err(rejected)?),
        };
        Ok(SigningKey {
            alg,
            kid: None,
            pair: Arc::new(pair),
        })
    }

    /// Reads an unencrypted PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), as written by
    /// `openssl genpkey`.
    pub fn from_pkcs8_pem(pem: &str, alg: Algorithm) -> Result<SigningKey, MintError> {
        let body: String = pem
            .lines()
            .map(str::trim)
            .skip_while(|l| *l != "-----BEGIN PRIVATE KEY-----")
            .skip(1)
            .take_while(|l| *l != "-----END PRIVATE KEY-----")
            .collect();
        use base64::Engine;
        let der = base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|_| MintError::NotPem)?;
        if der.is_empty() {
            return Err(MintError::NotPem);
        }
        let rejected =
            |e: aws_lc_rs::error::KeyRejected| MintError::KeyRejected(alg, e.to_string());
        let pair = match alg.family() {
            KeyFamily::Rsa => Pair::Rsa(RsaKeyPair::from_pkcs8(&der).map_err(rejected)?),
            KeyFamily::Ed25519 => {
                Pair::Ed(Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der).map_err(rejected)?)
            }
            _ => Pair::Ec(EcdsaKeyPair::from_pkcs8(ec_signing(alg), &der).map_err(rejected)?),
        };
        Ok(SigningKey {
            alg,
            kid: None,
            pair: Arc::new(pair),
        })
    }

    /// The same key with this `kid`.
    pub fn with_kid(mut self, kid: impl Into<String>) -> SigningKey {
        self.kid = Some(kid.into());
        self
    }

    /// The same key used with another algorithm of its key family (`RS*` ↔ `PS*`,
    /// `EdDSA` ↔ `Ed25519`); `None` when `alg` needs another kind of key.
    pub fn with_alg(&self, alg: Algorithm) -> Option<SigningKey> {
        (self.alg.family() == alg.family()).then(|| SigningKey {
            alg,
            ..self.clone()
        })
    }

    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The public JWK with `kid`, `alg` and `use: sig`.
    pub fn public_jwk(&self) -> Value {
        let mut jwk = self.public_jwk_without_alg();
        jwk["alg"] = json!(self.alg.name());
        jwk
    }

    /// The public JWK without `alg` (as many IdPs publish), with `kid` and `use: sig`.
    pub fn public_jwk_without_alg(&self) -> Value {
        let mut jwk = match &*self.pair {
            Pair::Rsa(pair) => {
                let public = pair.public_key();
                json!({
                    "kty": "RSA",
                    "n": b64::encode(public.modulus().big_endian_without_leading_zero()),
                    "e": b64::encode(public.exponent().big_endian_without_leading_zero()),
                })
            }
            Pair::Ec(pair) => {
                // Uncompressed SEC1 point: 0x04 ‖ x ‖ y, each coordinate full width.
                let point = pair.public_key().as_ref();
                let width = (point.len() - 1) / 2;
                let crv = match self.alg.family() {
                    KeyFamily::P256 => "P-256",
                    KeyFamily::P384 => "P-384",
                    _ => "P-521",
                };
                json!({
                    "kty": "EC",
                    "crv": crv,
                    "x": b64::encode(&point[1..1 + width]),
                    "y": b64::encode(&point[1 + width..]),
                })
            }
            Pair::Ed(pair) => json!({
                "kty": "OKP",
                "crv": "Ed25519",
                "x": b64::encode(pair.public_key().as_ref()),
            }),
        };
        jwk["use"] = json!("sig");
        if let Some(kid) = &self.kid {
            jwk["kid"] = json!(kid);
        }
        jwk
    }

    /// The raw JWS signature of `input` (fixed-width R‖S for ECDSA).
    pub fn signature(&self, input: &[u8]) -> Result<Vec<u8>, MintError> {
        let rng = SystemRandom::new();
        match &*self.pair {
            Pair::Rsa(pair) => {
                let encoding: &'static dyn signature::RsaEncoding = match self.alg {
                    Algorithm::Rs256 => &signature::RSA_PKCS1_SHA256,
                    Algorithm::Rs384 => &signature::RSA_PKCS1_SHA384,
                    Algorithm::Rs512 => &signature::RSA_PKCS1_SHA512,
                    Algorithm::Ps256 => &signature::RSA_PSS_SHA256,
                    Algorithm::Ps384 => &signature::RSA_PSS_SHA384,
                    _ => &signature::RSA_PSS_SHA512,
                };
                let mut sig = vec![0; pair.public_modulus_len()];
                pair.sign(encoding, &rng, input, &mut sig)
                    .map_err(|_| MintError::SigningFailed)?;
                Ok(sig)
            }
            Pair::Ec(pair) => Ok(pair
                .sign(&rng, input)
                .map_err(|_| MintError::SigningFailed)?
                .as_ref()
                .to_vec()),
            Pair::Ed(pair) => Ok(pair.sign(input).as_ref().to_vec()),
        }
    }

    /// A compact JWS over exactly these header and payload bytes (for crafted tokens).
    pub fn sign_parts(&self, header: &[u8], payload: &[u8]) -> Result<String, MintError> {
        let input = format!("{}.{}", b64::encode(header), b64::encode(payload));
        let sig = self.signature(input.as_bytes())?;
        Ok(format!("{input}.{}", b64::encode(&sig)))
    }

    /// The public JWK with the key type's members only (what a DPoP proof's header holds).
    pub fn bare_public_jwk(&self) -> Value {
        let mut jwk = self.public_jwk_without_alg();
        if let Some(members) = jwk.as_object_mut() {
            members.remove("use");
            members.remove("kid");
        }
        jwk
    }

    /// The RFC 7638 SHA-256 thumbprint of the public key: a DPoP-bound token's `cnf.jkt`.
    pub fn thumbprint(&self) -> String {
        match self.bare_public_jwk() {
            Value::Object(jwk) => crate::dpop::proof::thumbprint(&jwk).unwrap_or_default(),
            _ => String::new(),
        }
    }

    /// A DPoP proof (RFC 9449 §4.2) of `method` and `url` made at `iat`, with a random
    /// `jti`, `ath` for `access_token` and `nonce` when given.
    pub fn dpop_proof(
        &self,
        method: &str,
        url: &str,
        iat: i64,
        access_token: Option<&str>,
        nonce: Option<&str>,
    ) -> Result<String, MintError> {
        let mut jti = [0u8; 16];
        SystemRandom::new()
            .fill(&mut jti)
            .map_err(|_| MintError::SigningFailed)?;
        let header =
            json!({ "typ": "dpop+jwt", "alg": self.alg.name(), "jwk": self.bare_public_jwk() });
        let mut claims = json!({ "jti": b64::encode(&jti), "htm": method, "htu": url, "iat": iat });
        if let Some(token) = access_token {
            claims["ath"] = json!(crate::dpop::proof::access_token_hash(token));
        }
        if let Some(nonce) = nonce {
            claims["nonce"] = json!(nonce);
        }
        self.sign_parts(header.to_string().as_bytes(), claims.to_string().as_bytes())
    }

    /// A token with the header `{"alg", "typ": "JWT", "kid"}` and these claims.
    pub fn mint(&self, claims: &Value) -> Result<String, MintError> {
        let mut header = json!({ "alg": self.alg.name(), "typ": "JWT" });
        if let Some(kid) = &self.kid {
            header["kid"] = json!(kid);
        }
        self.sign_parts(header.to_string().as_bytes(), claims.to_string().as_bytes())
    }
}

fn ec_signing(alg: Algorithm) -> &'static signature::EcdsaSigningAlgorithm {
    match alg.family() {
        KeyFamily::P256 => &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        KeyFamily::P384 => &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
        _ => &signature::ECDSA_P521_SHA512_FIXED_SIGNING,
    }
}

/// Keys generated once per test process (RSA generation is slow), for unit tests.
#[cfg(test)]
pub(crate) mod test_keys {
    use super::*;
    use std::sync::OnceLock;

    fn cached(slot: &'static OnceLock<SigningKey>, alg: Algorithm) -> SigningKey {
        slot.get_or_init(|| SigningKey::generate(alg).expect("key generation"))
            .clone()
    }

    pub fn rsa(alg: Algorithm, kid: &str) -> SigningKey {
        static KEY: OnceLock<SigningKey> = OnceLock::new();
        cached(&KEY, Algorithm::Rs256)
            .with_alg(alg)
            .expect("RSA alg")
            .with_kid(kid)
    }

    pub fn ec(alg: Algorithm, kid: &str) -> SigningKey {
        static P256: OnceLock<SigningKey> = OnceLock::new();
        static P384: OnceLock<SigningKey> = OnceLock::new();
        static P521: OnceLock<SigningKey> = OnceLock::new();
        let slot = match alg {
            Algorithm::Es256 => &P256,
            Algorithm::Es384 => &P384,
            _ => &P521,
        };
        cached(slot, alg).with_kid(kid)
    }

    pub fn ed25519(kid: &str) -> SigningKey {
        static KEY: OnceLock<SigningKey> = OnceLock::new();
        cached(&KEY, Algorithm::EdDsa).with_kid(kid)
    }

    /// The cached key for any algorithm.
    pub fn for_alg(alg: Algorithm, kid: &str) -> SigningKey {
        match alg.family() {
            KeyFamily::Rsa => rsa(alg, kid),
            KeyFamily::Ed25519 => ed25519(kid).with_alg(alg).expect("Ed25519 alg"),
            _ => ec(alg, kid),
        }
    }
}
