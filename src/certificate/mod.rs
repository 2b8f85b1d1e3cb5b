//! RFC 8705 §3.1 certificate thumbprints — base64url(SHA-256(DER of the client's leaf
//! certificate)), what a token's `cnf.x5t#S256` names — from the forms a front end receives
//! a certificate in: URL-encoded PEM (Envoy's `attributes.source.certificate`, an XFCC
//! `Cert=`; plain PEM reads the same) or the hex SHA-256 of an XFCC `Hash=` (see [`xfcc`]).
//!
//! Every input here is attacker-reachable (a header a proxy forwarded, a certificate a client
//! chose), so each function is one linear pass over at most [`MAX_CERTIFICATE_BYTES`], and
//! anything malformed is `None` — "no certificate", which fails a bound token closed — never
//! a panic or an error quoting the input. Nothing is validated beyond the encodings: the
//! certificate was verified by whoever terminated TLS; here only its bytes are hashed.

pub mod xfcc;

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// The most bytes of encoded certificate read (URL-encoded PEM is about 1.3× the DER, and
/// client certificates are rarely over 4 KiB): a longer input is no certificate.
pub const MAX_CERTIFICATE_BYTES: usize = 64 * 1024;

const BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";
const END: &[u8] = b"-----END CERTIFICATE-----";

/// The SHA-256 of a certificate's DER encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thumbprint(pub [u8; 32]);

impl Thumbprint {
    /// The thumbprint of a DER-encoded certificate.
    pub fn of_der(der: &[u8]) -> Thumbprint {
        let mut out = [0; 32];
        // A SHA-256 digest is 32 bytes: the lengths match, so this cannot panic.
        out.copy_from_slice(digest(&SHA256, der).as_ref());
        Thumbprint(out)
    }

    /// The thumbprint of the one `CERTIFICATE` block in `pem`, URL-encoded (as Envoy sends
    /// it: `%0A`, `%2B`, `%2F`, `%3D`, …) or not; `None` unless the input is exactly one such
    /// block (surrounding whitespace aside) whose base64 decodes to one DER SEQUENCE.
    pub fn of_pem(pem: &[u8]) -> Option<Thumbprint> {
        if pem.len() > MAX_CERTIFICATE_BYTES {
            return None;
        }
        let mut text = percent_decode(pem)?;
        let trimmed = text.trim_ascii();
        let body = trimmed.strip_prefix(BEGIN)?.strip_suffix(END)?;
        // The body's place in `text`, so it is cut out in place rather than copied.
        let start = body.as_ptr() as usize - text.as_ptr() as usize;
        let end = start + body.len();
        text.truncate(end);
        text.drain(..start);
        // A second block, or anything but base64 and line breaks, fails the decode below.
        text.retain(|b| !b.is_ascii_whitespace());
        let der = STANDARD.decode(&text).ok()?;
        is_one_der_sequence(&der).then(|| Thumbprint::of_der(&der))
    }

    /// The thumbprint written as 64 hex digits (XFCC `Hash=`; either case).
    pub fn from_hex(hex: &[u8]) -> Option<Thumbprint> {
        if hex.len() != 64 {
            return None;
        }
        let mut out = [0; 32];
        for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
            *byte = hex_digit(pair[0])? << 4 | hex_digit(pair[1])?;
        }
        Some(Thumbprint(out))
    }

    /// base64url without padding: the form of `cnf.x5t#S256` (RFC 8705 §3.1).
    pub fn to_base64url(&self) -> String {
        crate::b64::encode(&self.0)
    }

    /// Whether a token's `cnf.x5t#S256` names this thumbprint: exactly its base64url form
    /// (padding or the standard alphabet would be another string, and RFC 7515 allows
    /// neither). Not constant-time: both sides are public.
    pub fn matches(&self, x5t_s256: &str) -> bool {
        self.to_base64url() == x5t_s256
    }
}

/// `%XX` escapes decoded (either case); any other `%` is malformed. `+` stays `+`: the
/// value is not form data, and base64 uses it.
fn percent_decode(input: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len());
    let mut rest = input;
    while let Some((&byte, tail)) = rest.split_first() {
        if byte == b'%' {
            let [high, low, tail @ ..] = tail else {
                return None;
            };
            out.push(hex_digit(*high)? << 4 | hex_digit(*low)?);
            rest = tail;
        } else {
            out.push(byte);
            rest = tail;
        }
    }
    Some(out)
}

fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Whether `der` is one DER SEQUENCE (tag 0x30, a definite length in the shortest form)
/// spanning all of it, as an X.509 certificate is: so a truncated or padded block is no
/// certificate rather than a thumbprint of something else.
fn is_one_der_sequence(der: &[u8]) -> bool {
    let [0x30, first, rest @ ..] = der else {
        return false;
    };
    let (length, content) = match *first {
        short @ 0..=0x7f => (usize::from(short), rest),
        0x81..=0x84 => {
            let count = usize::from(first & 0x7f);
            if rest.len() < count || rest[0] == 0 {
                return false;
            }
            let (bytes, content) = rest.split_at(count);
            let length = bytes.iter().fold(0usize, |n, b| n << 8 | usize::from(*b));
            // The long form only for lengths that need it (DER's shortest encoding).
            if length < 0x80 {
                return false;
            }
            (length, content)
        }
        _ => return false,
    };
    content.len() == length
}

#[cfg(test)]
pub(crate) mod tests;
