//! How a value a token carried differs from what the config expects, for the debug page:
//! what kind of difference it is (a trailing slash, letter case, the URL scheme, the host,
//! …) and which characters of each string differ, so the page can mark exactly those.
//! Pure: no config, no I/O.

use std::ops::Range;

/// The kind of difference, most specific first (the order [`closest`] prefers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Same,
    TrailingSlash,
    Whitespace,
    Case,
    /// `http://` vs `https://` (or any two schemes), the rest equal.
    Scheme,
    /// Same scheme and path, another host (staging vs prod, another tenant's domain).
    Host,
    /// Same scheme and host, another path.
    Path,
    Other,
}

impl Kind {
    /// What the page says about it.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Same => "same",
            Kind::TrailingSlash => "trailing slash",
            Kind::Whitespace => "whitespace",
            Kind::Case => "letter case",
            Kind::Scheme => "scheme",
            Kind::Host => "different host",
            Kind::Path => "different path",
            Kind::Other => "different value",
        }
    }
}

/// Two strings compared: the kind, and the byte range of each that differs (between their
/// common prefix and common suffix; empty where the other has something this one lacks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub kind: Kind,
    pub expected: Range<usize>,
    pub observed: Range<usize>,
}

/// Compares what the config expects with what the token carried.
pub fn compare(expected: &str, observed: &str) -> Difference {
    let (expected_span, observed_span) = spans(expected, observed);
    Difference {
        kind: classify(expected, observed),
        expected: expected_span,
        observed: observed_span,
    }
}

/// The expected value nearest to `observed`: the most specific kind of difference, then
/// the fewest differing characters. `None` when nothing is expected.
pub fn closest<'a>(
    expected: impl IntoIterator<Item = &'a str>,
    observed: &str,
) -> Option<(&'a str, Difference)> {
    expected
        .into_iter()
        .map(|e| (e, compare(e, observed)))
        .min_by_key(|(_, d)| (d.kind, d.observed.len() + d.expected.len()))
}

fn classify(expected: &str, observed: &str) -> Kind {
    let lower = |s: &'_ str| s.chars().flat_map(char::to_lowercase).collect::<String>();
    if expected == observed {
        Kind::Same
    } else if expected.trim_end_matches('/') == observed.trim_end_matches('/') {
        Kind::TrailingSlash
    } else if expected.trim() == observed.trim() {
        Kind::Whitespace
    } else if lower(expected) == lower(observed) {
        Kind::Case
    } else {
        match (split_url(expected), split_url(observed)) {
            (Some(e), Some(o)) if e.0 != o.0 && (e.1, e.2) == (o.1, o.2) => Kind::Scheme,
            (Some(e), Some(o)) if (e.0, e.2) == (o.0, o.2) => Kind::Host,
            (Some(e), Some(o)) if (e.0, e.1) == (o.0, o.1) => Kind::Path,
            _ => Kind::Other,
        }
    }
}

/// `scheme://host/path` → (scheme, host, path); `None` for anything without `://`.
fn split_url(s: &str) -> Option<(&str, &str, &str)> {
    let (scheme, rest) = s.split_once("://")?;
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    Some((scheme, host, path))
}

/// The differing byte ranges: everything between the longest common prefix and the longest
/// common suffix that does not overlap it (both on character boundaries).
fn spans(a: &str, b: &str) -> (Range<usize>, Range<usize>) {
    let prefix: usize = a
        .chars()
        .zip(b.chars())
        .take_while(|(x, y)| x == y)
        .map(|(x, _)| x.len_utf8())
        .sum();
    let room = a.len().min(b.len()) - prefix;
    let mut suffix = 0;
    for (x, y) in a.chars().rev().zip(b.chars().rev()) {
        if x != y || suffix + x.len_utf8() > room {
            break;
        }
        suffix += x.len_utf8();
    }
    (prefix..a.len() - suffix, prefix..b.len() - suffix)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kind and the differing parts, as (expected, observed) text.
    fn diff(expected: &str, observed: &str) -> (Kind, String, String) {
        let d = compare(expected, observed);
        (
            d.kind,
            expected[d.expected].to_owned(),
            observed[d.observed].to_owned(),
        )
    }

    #[test]
    fn each_kind_marks_exactly_the_differing_characters() {
        let cases = [
            ("api://orders", "api://orders", Kind::Same, "", ""),
            (
                "api://orders",
                "api://orders/",
                Kind::TrailingSlash,
                "",
                "/",
            ),
            (
                "https://i.test/",
                "https://i.test",
                Kind::TrailingSlash,
                "/",
                "",
            ),
            ("api://orders", " api://orders", Kind::Whitespace, "", " "),
            (
                "https://issuer.test/oauth2/default",
                "https://Issuer.test/oauth2/Default",
                Kind::Case,
                "issuer.test/oauth2/d",
                "Issuer.test/oauth2/D",
            ),
            ("https://i.test/x", "http://i.test/x", Kind::Scheme, "s", ""),
            (
                "https://login.example.com/t",
                "https://login.staging.example.com/t",
                Kind::Host,
                "",
                "staging.",
            ),
            (
                "https://a.test/v2",
                "https://a.test/v1",
                Kind::Path,
                "2",
                "1",
            ),
            ("ec-1", "ec-9", Kind::Other, "1", "9"),
            ("RS256", "HS256", Kind::Other, "R", "H"),
            ("", "x", Kind::Other, "", "x"),
        ];
        for (expected, observed, kind, e, o) in cases {
            assert_eq!(
                diff(expected, observed),
                (kind, e.to_owned(), o.to_owned()),
                "{expected:?} vs {observed:?}"
            );
        }
    }

    #[test]
    fn spans_never_overlap_and_stay_on_character_boundaries() {
        // Repeated characters: the suffix must not eat into the prefix.
        assert_eq!(diff("aa", "aaa"), (Kind::Other, String::new(), "a".into()));
        assert_eq!(
            diff("//", "/"),
            (Kind::TrailingSlash, "/".into(), String::new())
        );
        // Multi-byte characters are marked whole.
        assert_eq!(diff("café", "cafè"), (Kind::Other, "é".into(), "è".into()));
        assert_eq!(diff("Ärger", "ärger"), (Kind::Case, "Ä".into(), "ä".into()));
    }

    #[test]
    fn closest_prefers_the_most_specific_kind_then_the_smallest_change() {
        let expected = ["api://payments", "api://orders", "api://order"];
        let (nearest, d) = closest(expected, "api://orders/").unwrap();
        assert_eq!((nearest, d.kind), ("api://orders", Kind::TrailingSlash));
        let (nearest, d) = closest(["ec-1", "rsa-1"], "ec-9").unwrap();
        assert_eq!((nearest, d.kind), ("ec-1", Kind::Other));
        assert!(closest([], "x").is_none());
    }
}
