//! [`Duration`]: the one way a human duration (`30s`, `5m`, `1h`, `250ms`) is written, in the
//! YAML file (its `Deserialize`) and on the command line (its `FromStr`, which clap uses as
//! the `value_parser`). A whole number and one unit, nothing else: no fractions, no signs, no
//! spaces inside, so a value reads the same to every tool and person. Bounds (non-zero, at
//! most 1h) belong to the field and are checked where it is compiled.

use serde::Deserialize;
use std::fmt;
use std::str::FromStr;

/// A duration as written in the config file or on the command line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(std::time::Duration);

impl Duration {
    /// The standard-library value, for timers and comparisons.
    pub const fn get(self) -> std::time::Duration {
        self.0
    }

    /// `30s`, `5m`, `1h`, `250ms`, `0s`: a whole number and one unit (surrounding
    /// whitespace ignored); `None` for anything else or an overflow.
    pub fn parse(text: &str) -> Option<Duration> {
        let text = text.trim();
        let digits = text.bytes().take_while(u8::is_ascii_digit).count();
        let (number, unit) = text.split_at(digits);
        let n: u64 = number.parse().ok()?;
        let inner = match unit {
            "ms" => std::time::Duration::from_millis(n),
            "s" => std::time::Duration::from_secs(n),
            "m" => std::time::Duration::from_secs(n.checked_mul(60)?),
            "h" => std::time::Duration::from_secs(n.checked_mul(3600)?),
            _ => return None,
        };
        Some(Duration(inner))
    }
}

impl From<Duration> for std::time::Duration {
    fn from(d: Duration) -> std::time::Duration {
        d.0
    }
}

/// In the largest unit that divides it exactly, so it reads back as written (`5m`, not
/// `300s`) and always parses again.
impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only whole milliseconds can be parsed, so milliseconds are exact.
        let ms = self.0.as_millis();
        let (n, unit) = [(3_600_000, "h"), (60_000, "m"), (1000, "s")]
            .into_iter()
            .find(|(per, _)| ms.is_multiple_of(*per))
            .map_or((ms, "ms"), |(per, unit)| (ms / per, unit));
        let unit = if n == 0 { "s" } else { unit };
        write!(f, "{n}{unit}")
    }
}

/// What was written instead of a duration; the message says what is expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected a duration such as 30s, 5m, 1h or 250ms; got {0:?}")]
pub struct DurationError(pub String);

impl FromStr for Duration {
    type Err = DurationError;

    fn from_str(text: &str) -> Result<Duration, DurationError> {
        Duration::parse(text).ok_or_else(|| DurationError(text.to_owned()))
    }
}

/// A string, parsed at once: a bad value fails the deserialization at its own field, so the
/// error names the field path (see `compile_str`).
impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_reads_back_as_the_same_duration() {
        for (text, shown) in [
            ("0ms", "0s"),
            ("250ms", "250ms"),
            ("1500ms", "1500ms"),
            ("2000ms", "2s"),
            ("90s", "90s"),
            ("120s", "2m"),
            ("60m", "1h"),
            ("25h", "25h"),
        ] {
            let d = Duration::parse(text).unwrap();
            assert_eq!(d.to_string(), shown);
            assert_eq!(Duration::parse(shown), Some(d));
        }
    }

    #[test]
    fn overflow_and_other_units_are_rejected_with_the_text() {
        assert_eq!(Duration::parse("99999999999999999999s"), None);
        assert_eq!(Duration::parse(&format!("{}h", u64::MAX)), None);
        assert_eq!(Duration::parse("1d"), None);
        assert_eq!(Duration::parse("1.5s"), None);
        assert_eq!(
            "1 s".parse::<Duration>().unwrap_err().to_string(),
            "expected a duration such as 30s, 5m, 1h or 250ms; got \"1 s\""
        );
    }
}
