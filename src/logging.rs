//! Logging: events to stderr as text or JSON, filtered by `RUST_LOG` (default `info`)
//! through a reload layer, so `PUT /debug/log-level` can change the filter of a running
//! server ([`LogLevel`]). Text is coloured only when stderr is a terminal and `NO_COLOR` is
//! unset or empty (<https://no-color.org>): a log file or pipe gets no escape sequences.

use crate::cli::LogFormat;
use std::ffi::OsStr;
use std::io::IsTerminal;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry, fmt, reload};

/// The filter when `RUST_LOG` is unset or invalid.
pub const DEFAULT_FILTER: &str = "info";

/// The running filter, readable and replaceable (what the debug listener's
/// `/debug/log-level` uses).
#[derive(Clone, Debug)]
pub struct LogLevel(reload::Handle<EnvFilter, Registry>);

/// Why a new filter was not applied.
#[derive(Debug, thiserror::Error)]
pub enum LogLevelError {
    #[error("empty filter (say e.g. `info` or `info,envoy_jwt_authz=debug`)")]
    Empty,
    #[error("invalid filter: {0}")]
    Parse(#[from] tracing_subscriber::filter::ParseError),
    #[error("cannot replace the filter: {0}")]
    Reload(#[from] reload::Error),
}

impl LogLevel {
    /// The filter in `RUST_LOG` syntax.
    pub fn current(&self) -> String {
        // Fails only once the subscriber is gone (process exit).
        self.0.with_current(ToString::to_string).unwrap_or_default()
    }

    /// Replaces the filter with `directives` (`RUST_LOG` syntax), all or nothing; returns
    /// the new filter.
    pub fn set(&self, directives: &str) -> Result<String, LogLevelError> {
        let directives = directives.trim();
        if directives.is_empty() {
            return Err(LogLevelError::Empty);
        }
        let filter = EnvFilter::try_new(directives)?;
        self.0.reload(filter)?;
        Ok(self.current())
    }
}

/// Installs the global subscriber (once per process) and returns its filter handle.
pub fn init(format: LogFormat) -> LogLevel {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let (filter, handle) = reload::Layer::new(filter);
    let ansi = colour(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    );
    let output = fmt::layer().with_writer(std::io::stderr).with_ansi(ansi);
    let output = match format {
        LogFormat::Text => output.boxed(),
        LogFormat::Json => output.json().boxed(),
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(output)
        .init();
    LogLevel(handle)
}

/// Colour only for a terminal, and never when `NO_COLOR` is set to anything but empty.
pub fn colour(stderr_is_terminal: bool, no_color: Option<&OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(OsStr::is_empty)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        let set = Some(OsStr::new("1"));
        assert!(colour(true, None));
        assert!(
            colour(true, Some(OsStr::new(""))),
            "NO_COLOR= (empty) does not count"
        );
        assert!(!colour(true, set));
        assert!(
            !colour(false, None),
            "a file or pipe gets no escape sequences"
        );
        assert!(!colour(false, set));
    }

    #[test]
    fn a_filter_is_replaced_whole_or_not_at_all() {
        let (layer, handle) = reload::Layer::<EnvFilter, Registry>::new(EnvFilter::new("info"));
        let level = LogLevel(handle);
        // The handle needs its layer alive.
        let _subscriber = tracing_subscriber::registry().with(layer);
        assert_eq!(level.current(), "info");
        assert_eq!(
            level.set(" warn,envoy_jwt_authz=debug\n").unwrap(),
            "envoy_jwt_authz=debug,warn"
        );
        assert!(matches!(level.set(""), Err(LogLevelError::Empty)));
        let bad = level.set("envoy_jwt_authz=loud").unwrap_err();
        assert!(matches!(bad, LogLevelError::Parse(_)), "{bad}");
        assert_eq!(level.current(), "envoy_jwt_authz=debug,warn");
    }
}
