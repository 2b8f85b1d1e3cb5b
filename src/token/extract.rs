//! Finding the one access token in a request's `Authorization` header(s): `Bearer` (RFC
//! 6750 §2.1) or `DPoP` (RFC 9449 §7.1, the same token68 syntax).
//!
//! Pure. The caller passes every `Authorization` value it received: one per header line
//! when Envoy sends raw headers, or Envoy's comma-joined value otherwise. Anything that is
//! not exactly `Bearer` or `DPoP` + spaces + one b64token is refused, so two parsers can
//! never disagree about which token was presented.

use crate::reason::Reason;

/// How the access token was presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthScheme {
    Bearer,
    /// With a proof of possession in the `DPoP` header.
    Dpop,
}

impl AuthScheme {
    pub fn name(self) -> &'static str {
        match self {
            AuthScheme::Bearer => "Bearer",
            AuthScheme::Dpop => "DPoP",
        }
    }
}

/// The access token and its scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Credential<'a> {
    pub scheme: AuthScheme,
    pub token: &'a str,
}

/// The access token from the request's `Authorization` values.
///
/// `Ok(None)`: no credentials at all (no header, an empty value, or another scheme such as
/// Basic). `Err`: a malformed request — two headers or comma-joined credentials
/// ([`Reason::MultipleCredentials`]), `Bearer` alone ([`Reason::EmptyBearer`]), or extra
/// words, tabs or characters outside the b64token charset
/// ([`Reason::MalformedAuthorization`]).
pub fn credential<'a>(values: &[&'a [u8]]) -> Result<Option<Credential<'a>>, Reason> {
    let value = match values {
        [] => return Ok(None),
        [one] => trim_ows(one),
        _ => return Err(Reason::MultipleCredentials),
    };
    let scheme_end = value
        .iter()
        .position(|b| *b == b' ' || *b == b'\t')
        .unwrap_or(value.len());
    let (scheme, rest) = value.split_at(scheme_end);
    let scheme = if scheme.eq_ignore_ascii_case(b"bearer") {
        Some(AuthScheme::Bearer)
    } else if scheme.eq_ignore_ascii_case(b"dpop") {
        Some(AuthScheme::Dpop)
    } else {
        None
    };
    let Some(scheme) = scheme else {
        // Envoy joins repeated headers with ",": "Basic x,Bearer y" is two credentials.
        if value
            .split(|b| *b == b',')
            .skip(1)
            .any(is_bearer_credential)
        {
            return Err(Reason::MultipleCredentials);
        }
        return Ok(None);
    };
    if rest.is_empty() {
        return Err(Reason::EmptyBearer);
    }
    if rest[0] != b' ' {
        // RFC 7235: the scheme is followed by 1*SP; a tab is not a separator here.
        return Err(Reason::MalformedAuthorization);
    }
    let token = trim_leading_spaces(rest);
    if token.is_empty() {
        return Err(Reason::EmptyBearer);
    }
    if token.contains(&b',') {
        return Err(Reason::MultipleCredentials);
    }
    if !is_b64token(token) {
        return Err(Reason::MalformedAuthorization);
    }
    // is_b64token admits ASCII only, so this cannot fail; map it to a refusal regardless.
    std::str::from_utf8(token)
        .map(|token| Some(Credential { scheme, token }))
        .map_err(|_| Reason::MalformedAuthorization)
}

/// The access token alone, whichever scheme carried it.
pub fn access_token<'a>(values: &[&'a [u8]]) -> Result<Option<&'a str>, Reason> {
    credential(values).map(|c| c.map(|c| c.token))
}

/// Whether a comma-separated part of a joined value is itself a `Bearer` or `DPoP`
/// credential.
fn is_bearer_credential(part: &[u8]) -> bool {
    let part = trim_ows(part);
    [&b"bearer"[..], b"dpop"].iter().any(|scheme| {
        part.len() >= scheme.len()
            && part[..scheme.len()].eq_ignore_ascii_case(scheme)
            && part
                .get(scheme.len())
                .is_none_or(|b| *b == b' ' || *b == b'\t')
    })
}

fn trim_ows(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

fn trim_leading_spaces(mut v: &[u8]) -> &[u8] {
    while let [b' ', rest @ ..] = v {
        v = rest;
    }
    v
}

/// RFC 6750 §2.1: `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_b64token(token: &[u8]) -> bool {
    let body_len = token.len() - token.iter().rev().take_while(|b| **b == b'=').count();
    // This runs over every token on every Check: judge 32 bytes at a time without
    // branching inside a chunk, which the compiler turns into vector compares.
    body_len > 0
        && token[..body_len]
            .chunks(32)
            .all(|chunk| chunk.iter().fold(true, |ok, b| ok & is_b64token_char(*b)))
}

/// ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/", without branches.
fn is_b64token_char(b: u8) -> bool {
    let lower = b | 0x20; // folds A-Z onto a-z (and nothing else onto it)
    (lower.wrapping_sub(b'a') < 26)
        | (b.wrapping_sub(b'0') < 10)
        | (b == b'-')
        | (b == b'.')
        | (b == b'_')
        | (b == b'~')
        | (b == b'+')
        | (b == b'/')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(v: &str) -> Result<Option<&str>, Reason> {
        access_token(&[v.as_bytes()])
    }

    #[test]
    fn every_byte_is_judged_by_the_b64token_grammar() {
        for b in 0..=255u8 {
            let allowed = b.is_ascii_alphanumeric() || b"-._~+/".contains(&b);
            assert_eq!(
                is_b64token(&[b'a', b]),
                allowed || b == b'=',
                "byte {b:#04x}"
            );
            assert_eq!(is_b64token(&[b, b'a']), allowed, "byte {b:#04x} first");
        }
        assert!(!is_b64token(b"==="), "padding alone is not a token");
    }

    #[test]
    fn a_bearer_token_is_found_with_any_scheme_case_and_surrounding_spaces() {
        assert_eq!(one("Bearer abc.def.ghi"), Ok(Some("abc.def.ghi")));
        assert_eq!(one("bearer abc"), Ok(Some("abc")));
        assert_eq!(one("BEARER   abc"), Ok(Some("abc")));
        assert_eq!(one("  Bearer abc \t"), Ok(Some("abc")));
        assert_eq!(one("Bearer a-b_c~d+e/f=="), Ok(Some("a-b_c~d+e/f==")));
    }

    #[test]
    fn no_header_empty_value_or_another_scheme_is_no_credentials() {
        assert_eq!(access_token(&[]), Ok(None));
        assert_eq!(one(""), Ok(None));
        assert_eq!(one("Basic dXNlcjpwYXNz"), Ok(None));
        assert_eq!(one("Bearerabc"), Ok(None));
        assert_eq!(one(r#"Digest username="a", realm="b""#), Ok(None));
    }

    #[test]
    fn two_headers_or_joined_credentials_are_multiple() {
        assert_eq!(
            access_token(&[b"Bearer a", b"Bearer b"]),
            Err(Reason::MultipleCredentials)
        );
        assert_eq!(
            access_token(&[b"Basic x", b"Bearer b"]),
            Err(Reason::MultipleCredentials)
        );
        assert_eq!(one("Bearer a,Bearer b"), Err(Reason::MultipleCredentials));
        assert_eq!(one("Basic x,Bearer b"), Err(Reason::MultipleCredentials));
        assert_eq!(one("Basic x, bearer b"), Err(Reason::MultipleCredentials));
        assert_eq!(one("Bearer,Bearer b"), Err(Reason::MultipleCredentials));
    }

    #[test]
    fn bearer_without_a_token_is_empty() {
        assert_eq!(one("Bearer"), Err(Reason::EmptyBearer));
        assert_eq!(one("Bearer    "), Err(Reason::EmptyBearer));
    }

    #[test]
    fn extra_words_tabs_and_bad_characters_are_malformed() {
        assert_eq!(one("Bearer a b"), Err(Reason::MalformedAuthorization));
        assert_eq!(one("Bearer\tabc"), Err(Reason::MalformedAuthorization));
        assert_eq!(one("Bearer a\tb"), Err(Reason::MalformedAuthorization));
        assert_eq!(one("Bearer a=b"), Err(Reason::MalformedAuthorization));
        assert_eq!(one("Bearer ==="), Err(Reason::MalformedAuthorization));
        assert_eq!(one("Bearer a\"b"), Err(Reason::MalformedAuthorization));
        assert_eq!(
            access_token(&[b"Bearer \xff\xfe"]),
            Err(Reason::MalformedAuthorization)
        );
        assert_eq!(one("Bearer a\r\n b"), Err(Reason::MalformedAuthorization));
    }

    #[test]
    fn a_dpop_token_is_found_with_its_scheme_and_the_same_rules() {
        fn dpop(v: &str) -> Result<Option<Credential<'_>>, Reason> {
            credential(&[v.as_bytes()])
        }
        let found = |token| {
            Ok(Some(Credential {
                scheme: AuthScheme::Dpop,
                token,
            }))
        };
        assert_eq!(dpop("DPoP abc.def.ghi"), found("abc.def.ghi"));
        assert_eq!(dpop("dpop  abc"), found("abc"));
        assert_eq!(
            dpop("Bearer abc").map(|c| c.map(|c| c.scheme)),
            Ok(Some(AuthScheme::Bearer))
        );
        assert_eq!(dpop("DPoP"), Err(Reason::EmptyBearer));
        assert_eq!(dpop("DPoP a b"), Err(Reason::MalformedAuthorization));
        assert_eq!(dpop("DPoPabc"), Ok(None));
        // Joined or repeated credentials of either scheme are two credentials.
        assert_eq!(dpop("DPoP a,Bearer b"), Err(Reason::MultipleCredentials));
        assert_eq!(dpop("Basic x, DPoP b"), Err(Reason::MultipleCredentials));
        assert_eq!(
            credential(&[b"DPoP a", b"Bearer b"]),
            Err(Reason::MultipleCredentials)
        );
    }
}
