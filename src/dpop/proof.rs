//! One DPoP proof (RFC 9449 §4.2, §4.3 checks 2-7): a compact JWS of `typ: dpop+jwt`,
//! signed with an allowed asymmetric `alg` by the public key in its own `jwk` header. This
//! is the one place a key named by a JWS is used, and only for the proof itself: it proves
//! the client holds that key; the access token's own signature is always checked with the
//! provider's keys.
//!
//! Pure and bounded: at most [`MAX_PROOF_BYTES`], strict base64url and JSON (duplicate
//! members refused), and the key goes through the same loading as a key set's keys.

use crate::algorithm::{Algorithm, AlgorithmSet};
use crate::reason::Reason;
use crate::token::json;
use crate::{b64, jwks};
use aws_lc_rs::digest::{SHA256, digest};
use serde_json::{Map, Value};

/// A proof is a few hundred bytes (an RSA-4096 key makes it ~1.5 KB); anything over this is
/// refused unread.
pub const MAX_PROOF_BYTES: usize = 8 * 1024;
/// The header nests `jwk` one level down; nothing in a proof needs more.
const MAX_DEPTH: usize = 4;
/// JWK members that only a private or symmetric key has (RFC 7518 §6.2.2, §6.3.2, §6.4).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// A proof whose signature verified with its own key, and what it claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    pub alg: Algorithm,
    /// The RFC 7638 SHA-256 thumbprint of its `jwk`, base64url: what `cnf.jkt` must equal.
    pub thumbprint: String,
    pub jti: String,
    pub htm: String,
    pub htu: String,
    /// Whole seconds (a fractional `iat` is cut down).
    pub iat: i64,
    pub ath: Option<String>,
    pub nonce: Option<String>,
}

/// Why a proof was refused, and a line saying what was wrong (for `explain`; never the
/// proof itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub reason: Reason,
    pub why: String,
}

fn malformed(why: impl Into<String>) -> Refused {
    Refused {
        reason: Reason::DpopProofMalformed,
        why: why.into(),
    }
}

/// Parses `proof` and checks its type, algorithm (one of `algorithms`), key and signature.
pub fn verify(proof: &[u8], algorithms: AlgorithmSet) -> Result<Proof, Refused> {
    if proof.len() > MAX_PROOF_BYTES {
        return Err(malformed(format!(
            "a proof of {} bytes, over {MAX_PROOF_BYTES}",
            proof.len()
        )));
    }
    let text = std::str::from_utf8(proof).map_err(|_| malformed("a proof that is not text"))?;
    let mut segments = text.split('.');
    let (Some(header), Some(payload), Some(signature), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return Err(malformed("not a compact JWS (three dot-separated parts)"));
    };
    let object = |segment: &str, what: &str| {
        b64::decode_strict(segment)
            .and_then(|bytes| json::parse_object(&bytes, MAX_DEPTH).ok())
            .ok_or_else(|| malformed(format!("its {what} is not base64url of a JSON object")))
    };
    let header = object(header, "header")?;
    let claims = object(payload, "payload")?;
    let signature =
        b64::decode_strict(signature).ok_or_else(|| malformed("its signature is not base64url"))?;
    let typ = header.get("typ").and_then(Value::as_str);
    if !typ.is_some_and(|t| t.eq_ignore_ascii_case("dpop+jwt")) {
        return Err(malformed(format!(
            "typ {}, not dpop+jwt",
            shown(header.get("typ"))
        )));
    }
    for name in ["crit", "zip", "b64"] {
        if header.contains_key(name) {
            return Err(malformed(format!("a `{name}` header parameter")));
        }
    }
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .and_then(Algorithm::from_name)
        .filter(|alg| algorithms.contains(*alg))
        .ok_or_else(|| {
            let names: Vec<&str> = algorithms.iter().map(Algorithm::name).collect();
            malformed(format!(
                "alg {}, not one of {}",
                shown(header.get("alg")),
                names.join(" ")
            ))
        })?;
    let Some(Value::Object(jwk)) = header.get("jwk") else {
        return Err(malformed("no `jwk` object in its header"));
    };
    if let Some(member) = PRIVATE_MEMBERS.iter().find(|m| jwk.contains_key(**m)) {
        return Err(malformed(format!(
            "private key material (`{member}`) in its `jwk`"
        )));
    }
    let thumbprint = thumbprint(jwk).ok_or_else(|| malformed("a `jwk` without its key members"))?;
    let key = jwks::verifier_for(&Value::Object(jwk.clone()), alg)
        .map_err(|why| malformed(format!("a `jwk` that cannot be used: {why}")))?;
    let signing_input = &text[..text.len() - signature_len(text)];
    if key
        .verify_sig(signing_input.as_bytes(), &signature)
        .is_err()
    {
        return Err(Refused {
            reason: Reason::DpopProofSignatureInvalid,
            why: "its signature does not verify with its own `jwk`".into(),
        });
    }
    claims_of(&claims, alg, thumbprint)
}

/// The length of the signature segment and its dot (the signing input is what precedes).
fn signature_len(text: &str) -> usize {
    text.rsplit('.').next().map_or(0, |s| s.len() + 1)
}

fn claims_of(
    claims: &Map<String, Value>,
    alg: Algorithm,
    thumbprint: String,
) -> Result<Proof, Refused> {
    let string = |name: &str| match claims.get(name) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        other => Err(malformed(format!(
            "claim `{name}` {}, not a non-empty string",
            shown(other)
        ))),
    };
    let optional = |name: &str| match claims.get(name) {
        None => Ok(None),
        Some(_) => string(name).map(Some),
    };
    let iat = match claims.get("iat") {
        Some(Value::Number(n)) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite())
                .map(|f| f.floor() as i64)
        }),
        _ => None,
    }
    .ok_or_else(|| {
        malformed(format!(
            "claim `iat` {}, not a number",
            shown(claims.get("iat"))
        ))
    })?;
    Ok(Proof {
        alg,
        thumbprint,
        jti: string("jti")?,
        htm: string("htm")?,
        htu: string("htu")?,
        iat,
        ath: optional("ath")?,
        nonce: optional("nonce")?,
    })
}

/// RFC 7638: SHA-256 over the key type's required members, in lexicographic order, as
/// JSON without whitespace; base64url. `None` when a required member is not a string.
pub fn thumbprint(jwk: &Map<String, Value>) -> Option<String> {
    let members: &[&str] = match jwk.get("kty")?.as_str()? {
        "EC" => &["crv", "kty", "x", "y"],
        "RSA" => &["e", "kty", "n"],
        "OKP" => &["crv", "kty", "x"],
        _ => return None,
    };
    let mut canonical = String::from("{");
    for (i, name) in members.iter().enumerate() {
        let value = jwk.get(*name)?.as_str()?;
        if i > 0 {
            canonical.push(',');
        }
        // serde_json escapes as RFC 7638 §3.3 asks (the members are base64url in practice).
        canonical.push_str(&format!("\"{name}\":{}", Value::String(value.to_owned())));
    }
    canonical.push('}');
    Some(b64::encode(digest(&SHA256, canonical.as_bytes()).as_ref()))
}

/// base64url(SHA-256(token)): a proof's `ath` for the access token it comes with.
pub fn access_token_hash(token: &str) -> String {
    b64::encode(digest(&SHA256, token.as_bytes()).as_ref())
}

/// A JSON value for a refusal line, cut short.
fn shown(value: Option<&Value>) -> String {
    let text = value.map_or_else(|| "absent".to_owned(), Value::to_string);
    if text.len() > 64 {
        format!("{}…", text.chars().take(64).collect::<String>())
    } else {
        text
    }
}
