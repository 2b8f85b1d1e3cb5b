//! base64url decoding: strict for tokens, tolerant of padding for trusted JWKS documents.

use base64::Engine;
use base64::alphabet::URL_SAFE;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// RFC 7515 §2 base64url: no padding, no `+`/`/`, canonical trailing bits.
const STRICT: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(false),
);

/// Some IdPs pad JWK members; the key set is trusted input, so padding is tolerated there
/// (and only there) rather than causing an outage.
const PADDING_TOLERANT: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(false),
);

/// Decodes token segments; `None` on any deviation from the canonical form.
pub fn decode_strict(input: &str) -> Option<Vec<u8>> {
    STRICT.decode(input).ok()
}

/// Decodes JWK members, accepting optional `=` padding.
pub fn decode_jwk_member(input: &str) -> Option<Vec<u8>> {
    PADDING_TOLERANT.decode(input).ok()
}

/// Encodes without padding, as JWS and JWK require.
pub fn encode(bytes: &[u8]) -> String {
    STRICT.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_rejects_padding_std_alphabet_and_noncanonical_bits() {
        assert_eq!(decode_strict("YWI").as_deref(), Some(&b"ab"[..]));
        assert_eq!(decode_strict("YWI="), None);
        assert_eq!(decode_strict("+/8"), None);
        // "YWJ" decodes to "ab" with non-zero trailing bits.
        assert_eq!(decode_strict("YWJ"), None);
        assert_eq!(decode_strict("Y"), None);
    }

    #[test]
    fn jwk_members_may_be_padded() {
        assert_eq!(decode_jwk_member("AQAB").as_deref(), Some(&[1u8, 0, 1][..]));
        assert_eq!(decode_jwk_member("YWI=").as_deref(), Some(&b"ab"[..]));
        assert_eq!(decode_jwk_member("YWJ"), None);
    }
}
