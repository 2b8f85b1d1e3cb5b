//! Envoy's `x-forwarded-client-cert` (XFCC) header: what the proxy nearest to us says about
//! the client certificate.
//!
//! The value is a comma-separated list of elements, one per proxy that added one, each
//! appended at the end; an element is `;`-separated `key=value` pairs (keys
//! case-insensitive: `By`, `Hash`, `Cert`, `Chain`, `Subject`, `URI`, `DNS`); a value
//! holding `,` `;` or `=` is double-quoted, with `\"` for a quote inside. The **last**
//! element is the one the nearest proxy added — the TLS-terminating proxy we trust — so it
//! is the one read; earlier elements were added (or forged) further away.
//!
//! The whole header is parsed, not searched: one forward pass, no backtracking, at most
//! [`MAX_HEADER_BYTES`]. Anything malformed anywhere (an unterminated quote, a pair without
//! `=`, text after a closing quote, a `Hash` or `Cert` twice in one element) makes the
//! header unreadable, and an unreadable header is no certificate: a client that got its
//! own text in ahead of the proxy's element cannot shift the parse so that the proxy's
//! element is read as something else.

use std::borrow::Cow;

/// The most header bytes read (Envoy's default request header limit is 60 KiB).
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// The certificate the nearest proxy's element names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presented<'a> {
    /// `Hash=`: hex SHA-256 of the DER (Envoy always sends it with a certificate). Preferred
    /// when both are present: it needs no PEM decode.
    Hash(Cow<'a, [u8]>),
    /// `Cert=`: the URL-encoded PEM of the leaf.
    Cert(Cow<'a, [u8]>),
}

/// Why a header names no certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unread {
    /// The last element has neither `Hash` nor `Cert`.
    NoCertificate,
    /// Not XFCC (or over [`MAX_HEADER_BYTES`]).
    Malformed,
}

/// The certificate named by the last element of `values` — the header's lines in order,
/// read as one comma-separated list (Envoy joins repeated lines with `,`).
pub fn nearest<'a>(values: &[&'a [u8]]) -> Result<Presented<'a>, Unread> {
    if values.iter().map(|v| v.len()).sum::<usize>() > MAX_HEADER_BYTES {
        return Err(Unread::Malformed);
    }
    let mut last = Element::default();
    for value in values {
        let mut parser = Parser { rest: value };
        loop {
            last = parser.element()?;
            parser.skip_whitespace();
            match parser.rest.split_first() {
                None => break,
                Some((b',', rest)) => parser.rest = rest,
                Some(_) => return Err(Unread::Malformed),
            }
        }
    }
    match (last.hash, last.cert) {
        (Some(hash), _) => Ok(Presented::Hash(hash)),
        (None, Some(cert)) => Ok(Presented::Cert(cert)),
        (None, None) => Err(Unread::NoCertificate),
    }
}

/// The two members of an element that name the certificate.
#[derive(Default)]
struct Element<'a> {
    hash: Option<Cow<'a, [u8]>>,
    cert: Option<Cow<'a, [u8]>>,
}

struct Parser<'a> {
    rest: &'a [u8],
}

impl<'a> Parser<'a> {
    fn skip_whitespace(&mut self) {
        let start = self
            .rest
            .iter()
            .take_while(|b| matches!(b, b' ' | b'\t'))
            .count();
        self.rest = &self.rest[start..];
    }

    /// `pair *( ";" pair )`, with optional whitespace before it (list syntax, RFC 9110 §5.6.1).
    fn element(&mut self) -> Result<Element<'a>, Unread> {
        self.skip_whitespace();
        let mut element = Element::default();
        loop {
            let (key, value) = self.pair()?;
            let slot = if key.eq_ignore_ascii_case(b"hash") {
                Some(&mut element.hash)
            } else if key.eq_ignore_ascii_case(b"cert") {
                Some(&mut element.cert)
            } else {
                None
            };
            if let Some(slot) = slot {
                // Two `Hash`es (or `Cert`s) in one element: which one would the proxy mean?
                if slot.replace(value).is_some() {
                    return Err(Unread::Malformed);
                }
            }
            match self.rest.split_first() {
                Some((b';', rest)) => self.rest = rest,
                _ => return Ok(element),
            }
        }
    }

    /// `key "=" value`: a key of letters, digits, `-` and `_`; a value quoted or not.
    fn pair(&mut self) -> Result<(&'a [u8], Cow<'a, [u8]>), Unread> {
        let key_len = self
            .rest
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
            .count();
        let (key, rest) = self.rest.split_at(key_len);
        let Some((b'=', rest)) = rest.split_first() else {
            return Err(Unread::Malformed);
        };
        if key.is_empty() {
            return Err(Unread::Malformed);
        }
        self.rest = rest;
        let value = match self.rest.split_first() {
            Some((b'"', rest)) => {
                self.rest = rest;
                self.quoted()?
            }
            _ => Cow::Borrowed(self.unquoted()?),
        };
        Ok((key, value))
    }

    /// Up to the next `;` or `,` (or whitespace before a `,`): visible ASCII but `"`.
    fn unquoted(&mut self) -> Result<&'a [u8], Unread> {
        let len = self
            .rest
            .iter()
            .take_while(|b| !matches!(b, b';' | b',' | b' ' | b'\t'))
            .count();
        let (value, rest) = self.rest.split_at(len);
        if value.iter().any(|b| !b.is_ascii_graphic() || *b == b'"') {
            return Err(Unread::Malformed);
        }
        self.rest = rest;
        Ok(value)
    }

    /// After the opening quote: up to the closing one, `\x` standing for `x`. The closing
    /// quote must end the pair (`;`, `,`, whitespace or the end follows).
    fn quoted(&mut self) -> Result<Cow<'a, [u8]>, Unread> {
        let mut owned: Option<Vec<u8>> = None;
        let mut i = 0;
        let bytes = self.rest;
        loop {
            match bytes.get(i) {
                None => return Err(Unread::Malformed),
                Some(b'"') => break,
                Some(b'\\') => {
                    let Some(&escaped) = bytes.get(i + 1) else {
                        return Err(Unread::Malformed);
                    };
                    owned
                        .get_or_insert_with(|| bytes[..i].to_vec())
                        .push(escaped);
                    i += 2;
                }
                Some(&b) if b < 0x20 || b == 0x7f => return Err(Unread::Malformed),
                Some(&b) => {
                    if let Some(owned) = &mut owned {
                        owned.push(b);
                    }
                    i += 1;
                }
            }
        }
        self.rest = &bytes[i + 1..];
        if !matches!(self.rest.first(), None | Some(b';' | b',' | b' ' | b'\t')) {
            return Err(Unread::Malformed);
        }
        Ok(owned.map_or(Cow::Borrowed(&bytes[..i]), Cow::Owned))
    }
}
