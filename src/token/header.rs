//! JOSE header parameters that change what a JWS means, refused as malformed before any
//! key is looked at (SPEC §3 step 2).
//!
//! This verifier reads every token as a plain compact JWS: the signature covers the
//! base64url segments as sent, and the payload is the JSON claims. A header asking for
//! anything else is a token another library would read differently — which is exactly
//! the ambiguity an attacker looks for — so it is not judged at all.

use crate::reason::Reason;
use serde_json::{Map, Value};

/// Refuses `b64` outside `crit` and any `zip`.
///
/// - `b64` (RFC 7797 §3) switches the signing input to the unencoded payload, and §6 makes
///   it meaningful only when listed in `crit`; without `crit` the header is malformed.
///   With `crit` the token is refused later as `crit_unsupported`, since no JWS extension
///   is implemented.
/// - `zip` is a JWE parameter (RFC 7516 §4.1.3) that has no meaning in a JWS, and
///   compressing before signing is advised against (RFC 8725 §3.6).
///
/// Presence is what counts, whatever the value (`null` included): these names never
/// belong in the header of a token we accept.
pub(super) fn check_parameters(header: &Map<String, Value>) -> Result<(), Reason> {
    if header.contains_key("zip") || header.contains_key("b64") && !header.contains_key("crit") {
        return Err(Reason::MalformedToken);
    }
    Ok(())
}
