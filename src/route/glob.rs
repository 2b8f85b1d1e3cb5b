//! Compiled path globs: `*` matches within one segment (no `/`), `**` matches anything
//! (across segments). Matching takes time linear in the path, whatever the pattern.
//!
//! A glob is compiled once, with the config: the literal text before its first `*` and
//! after its last `*` is compared directly, and the part in between runs as a bit-parallel
//! NFA (shift-and): one bit per pattern position, one table lookup and a few word
//! operations per path byte. No backtracking, so an attacker's path cannot make a Check
//! slow (a recursive matcher took seconds for `/**/x/**/y` against a 58 KB path).

use std::fmt;

/// The most pattern characters between the first and last `*` (one NFA state each, plus
/// the accepting one, in a `u128`). Anything longer is a config error.
pub const MAX_GLOB_MIDDLE: usize = 127;

/// Why a glob did not compile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GlobError {
    /// Three or more `*` in a row: neither `*` nor `**`.
    StarRun,
    /// More than [`MAX_GLOB_MIDDLE`] characters between the first and last `*`.
    TooLong,
}

impl fmt::Display for GlobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GlobError::StarRun => f.write_str("`***` is neither `*` (one segment) nor `**` (any)"),
            GlobError::TooLong => write!(
                f,
                "at most {MAX_GLOB_MIDDLE} characters between the first and last `*`"
            ),
        }
    }
}

/// A compiled glob.
#[derive(Clone)]
pub struct Glob {
    source: String,
    case_insensitive: bool,
    /// Literal text before the first `*` and after the last one.
    prefix: Box<[u8]>,
    suffix: Box<[u8]>,
    /// `None` when the pattern has no `*` at all (then it is `prefix` exactly).
    middle: Option<Box<Nfa>>,
}

/// Shift-and automaton: bit `j` set means "the first `j` tokens of the middle matched".
#[derive(Clone)]
struct Nfa {
    /// Per byte: the positions whose token is that literal byte.
    literal: [u128; 256],
    /// Positions whose token is `**` (stay on any byte).
    any: u128,
    /// Positions whose token is `*` or `**` (stay on any byte but `/`; skip on none).
    star: u128,
    /// The accepting position.
    accept: u128,
}

impl Glob {
    /// Compiles `pattern`; `case_insensitive` folds ASCII letters.
    pub fn new(pattern: &str, case_insensitive: bool) -> Result<Glob, GlobError> {
        let bytes = pattern.as_bytes();
        if pattern.contains("***") {
            return Err(GlobError::StarRun);
        }
        let fold = |b: &[u8]| -> Box<[u8]> {
            if case_insensitive {
                b.to_ascii_lowercase().into()
            } else {
                b.into()
            }
        };
        let (Some(first), Some(last)) = (
            bytes.iter().position(|b| *b == b'*'),
            bytes.iter().rposition(|b| *b == b'*'),
        ) else {
            return Ok(Glob {
                source: pattern.to_owned(),
                case_insensitive,
                prefix: fold(bytes),
                suffix: Box::new([]),
                middle: None,
            });
        };
        let middle = Nfa::new(&bytes[first..=last], case_insensitive)?;
        Ok(Glob {
            source: pattern.to_owned(),
            case_insensitive,
            prefix: fold(&bytes[..first]),
            suffix: fold(&bytes[last + 1..]),
            middle: Some(Box::new(middle)),
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the glob matches all of `path`.
    pub fn matches(&self, path: &[u8]) -> bool {
        let eq = |a: &[u8], b: &[u8]| {
            if self.case_insensitive {
                a.eq_ignore_ascii_case(b)
            } else {
                a == b
            }
        };
        let Some(nfa) = &self.middle else {
            return eq(path, &self.prefix);
        };
        let (p, s) = (self.prefix.len(), self.suffix.len());
        path.len() >= p + s
            && eq(&path[..p], &self.prefix)
            && eq(&path[path.len() - s..], &self.suffix)
            && nfa.matches(&path[p..path.len() - s])
    }
}

impl Nfa {
    /// `middle` starts and ends with `*` and holds no run of three.
    fn new(middle: &[u8], case_insensitive: bool) -> Result<Nfa, GlobError> {
        let mut nfa = Nfa {
            literal: [0; 256],
            any: 0,
            star: 0,
            accept: 0,
        };
        let mut position = 0usize;
        let mut i = 0;
        while i < middle.len() {
            if position >= MAX_GLOB_MIDDLE {
                return Err(GlobError::TooLong);
            }
            let bit = 1u128 << position;
            if middle[i] == b'*' {
                nfa.star |= bit;
                if middle.get(i + 1) == Some(&b'*') {
                    nfa.any |= bit;
                    i += 1;
                }
            } else {
                let b = middle[i];
                nfa.literal[usize::from(b)] |= bit;
                if case_insensitive && b.is_ascii_alphabetic() {
                    nfa.literal[usize::from(b.to_ascii_lowercase())] |= bit;
                    nfa.literal[usize::from(b.to_ascii_uppercase())] |= bit;
                }
            }
            position += 1;
            i += 1;
        }
        nfa.accept = 1u128 << position;
        Ok(nfa)
    }

    /// A star may match nothing: its position also enables the next. Stars are never
    /// adjacent (no `***`, and `**` is one token), so one step closes the set.
    fn close(&self, states: u128) -> u128 {
        states | ((states & self.star) << 1)
    }

    fn matches(&self, text: &[u8]) -> bool {
        let mut states = self.close(1);
        for &b in text {
            let stay = if b == b'/' { self.any } else { self.star };
            states = self.close(((states & self.literal[usize::from(b)]) << 1) | (states & stay));
            if states == 0 {
                return false;
            }
        }
        states & self.accept != 0
    }
}

impl PartialEq for Glob {
    fn eq(&self, other: &Glob) -> bool {
        self.source == other.source && self.case_insensitive == other.case_insensitive
    }
}

impl Eq for Glob {}

impl fmt::Debug for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Glob({:?}", self.source)?;
        if self.case_insensitive {
            f.write_str(", case-insensitive")?;
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The old recursive matcher (exponential, but simple): the oracle for the NFA.
    fn reference(pattern: &[u8], text: &[u8]) -> bool {
        match pattern {
            [] => text.is_empty(),
            [b'*', b'*', rest @ ..] => (0..=text.len()).any(|i| reference(rest, &text[i..])),
            [b'*', rest @ ..] => {
                let end = text.iter().position(|b| *b == b'/').unwrap_or(text.len());
                (0..=end).any(|i| reference(rest, &text[i..]))
            }
            [p, rest @ ..] => text.first() == Some(p) && reference(rest, &text[1..]),
        }
    }

    fn glob(p: &str) -> Glob {
        Glob::new(p, false).expect("compiles")
    }

    #[test]
    fn stars_match_within_or_across_segments() {
        assert!(glob("/api/*/items").matches(b"/api/v1/items"));
        assert!(!glob("/api/*/items").matches(b"/api/v1/x/items"));
        assert!(glob("/api/**/items").matches(b"/api/v1/x/items"));
        assert!(glob("/files/*.pdf").matches(b"/files/a.pdf"));
        assert!(!glob("/files/*.pdf").matches(b"/files/a/b.pdf"));
        assert!(glob("/**").matches(b"/x/y"));
        assert!(!glob("/api/*").matches(b"/api/a/b"));
        assert!(glob("/a*b*c").matches(b"/abc"));
        assert!(!glob("/a*b*c").matches(b"/ab"));
        assert!(glob("/plain").matches(b"/plain"));
        assert!(!glob("/plain").matches(b"/plain/"));
    }

    #[test]
    fn case_folding_is_opt_in_and_ascii_only() {
        let folded = Glob::new("/Admin/*/X", true).expect("compiles");
        assert!(folded.matches(b"/aDMIN/any/x"));
        assert!(!glob("/Admin/*/X").matches(b"/admin/any/x"));
        assert!(!folded.matches("/admin/a/\u{c9}".as_bytes()));
    }

    #[test]
    fn star_runs_and_huge_middles_are_refused() {
        assert_eq!(Glob::new("/a/***", false).unwrap_err(), GlobError::StarRun);
        let long = format!("/*{}*", "x".repeat(MAX_GLOB_MIDDLE));
        assert_eq!(Glob::new(&long, false).unwrap_err(), GlobError::TooLong);
        let fits = format!("/*{}*", "x".repeat(MAX_GLOB_MIDDLE - 2));
        assert!(Glob::new(&fits, false).is_ok());
    }

    #[test]
    fn many_double_stars_against_a_long_path_stay_linear() {
        // Each of these took the recursive matcher seconds to minutes.
        let path = "/x".repeat(30_000);
        assert!(!glob("/**/x/**/y").matches(path.as_bytes()));
        assert!(!glob("/**/x/**/x/**/y/**").matches(path.as_bytes()));
        assert!(glob("/**/x/**/x/**").matches(path.as_bytes()));
    }

    proptest! {
        #[test]
        fn agrees_with_the_recursive_matcher(
            pattern in "/[ab/*]{0,10}",
            text in "/[ab/]{0,14}",
        ) {
            prop_assume!(!pattern.contains("***"));
            prop_assert_eq!(
                glob(&pattern).matches(text.as_bytes()),
                reference(pattern.as_bytes(), text.as_bytes()),
                "{} against {}", pattern, text
            );
        }
    }
}
