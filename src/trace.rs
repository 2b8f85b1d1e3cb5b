//! The trace of one decision: the stages the decision actually ran, in order, each with
//! what the config expected and what the request or token held. Recorded by the code that
//! runs the checks (`route`, `decision`, `token::verify`), only when asked for, so that
//! `explain` shows exactly what the server did and cannot drift from it: a stage that did
//! not run is not in the trace.
//!
//! Off (the server's hot path) costs one virtual call per stage and no allocation: every
//! description is built by a closure that only runs when tracing is on.

use crate::reason::Reason;
use serde::Serialize;
use serde_json::{Map, Value};

/// The checks, in the order the decision runs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    Route,
    Credentials,
    Format,
    /// Only for a token sent to an introspection endpoint (shown only when it ran).
    Introspection,
    Issuer,
    Algorithm,
    Key,
    Signature,
    ClaimTypes,
    RequiredClaims,
    Expiry,
    NotBefore,
    IssuedAt,
    Window,
    Audience,
    Crit,
    Type,
    /// RFC 9449 DPoP: the proof and the token's key binding (shown only when it ran).
    Dpop,
    /// RFC 8705 certificate binding, only for bound tokens (or `mtls_binding: required`;
    /// shown only when it ran).
    Certificate,
    /// RFC 9470 step-up, only on routes that ask for it (shown only when it ran).
    Acr,
    AuthTime,
    Scopes,
    ClaimValues,
}

impl Check {
    pub const ALL: [Check; 23] = [
        Check::Route,
        Check::Credentials,
        Check::Format,
        Check::Introspection,
        Check::Issuer,
        Check::Algorithm,
        Check::Key,
        Check::Signature,
        Check::ClaimTypes,
        Check::RequiredClaims,
        Check::Expiry,
        Check::NotBefore,
        Check::IssuedAt,
        Check::Window,
        Check::Audience,
        Check::Crit,
        Check::Type,
        Check::Dpop,
        Check::Certificate,
        Check::Acr,
        Check::AuthTime,
        Check::Scopes,
        Check::ClaimValues,
    ];

    /// Stages only some requests run (introspection, certificate binding, step-up):
    /// `explain` lists them only when they ran, so a plain JWT's report is not padded with
    /// them.
    pub fn optional(self) -> bool {
        matches!(
            self,
            Check::Introspection | Check::Dpop | Check::Certificate | Check::Acr | Check::AuthTime
        )
    }

    /// The short name `explain` prints.
    pub fn label(self) -> &'static str {
        match self {
            Check::Route => "route",
            Check::Credentials => "credentials",
            Check::Format => "format",
            Check::Introspection => "introspect",
            Check::Issuer => "issuer",
            Check::Algorithm => "algorithm",
            Check::Key => "key",
            Check::Signature => "signature",
            Check::ClaimTypes => "claim types",
            Check::RequiredClaims => "required",
            Check::Expiry => "exp",
            Check::NotBefore => "nbf",
            Check::IssuedAt => "iat",
            Check::Window => "window",
            Check::Audience => "audience",
            Check::Crit => "crit",
            Check::Type => "typ",
            Check::Dpop => "dpop",
            Check::Certificate => "certificate",
            Check::Acr => "acr",
            Check::AuthTime => "auth_time",
            Check::Scopes => "scopes",
            Check::ClaimValues => "claims",
        }
    }
}

/// One stage that ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub check: Check,
    /// `None`: passed.
    pub failed: Option<Reason>,
    pub expected: String,
    pub actual: String,
}

/// Where stages are recorded.
pub trait Tracer {
    /// Whether anything is recorded (descriptions are built only then).
    fn enabled(&self) -> bool;
    fn push(&mut self, step: Step);
    /// The token as decoded (header and claims), before it is judged.
    fn decoded(&mut self, header: &Map<String, Value>, claims: &Map<String, Value>);
    /// The route selected: `Some(index)` into `Snapshot::routes`, `None` for the default.
    fn route(&mut self, index: Option<usize>);
}

/// No trace: the server's path.
pub struct Off;

impl Tracer for Off {
    fn enabled(&self) -> bool {
        false
    }
    fn push(&mut self, _: Step) {}
    fn decoded(&mut self, _: &Map<String, Value>, _: &Map<String, Value>) {}
    fn route(&mut self, _: Option<usize>) {}
}

/// A recorded trace.
#[derive(Debug, Clone, Default)]
pub struct Trace {
    pub steps: Vec<Step>,
    /// The decoded token, when decoding got that far.
    pub header: Option<Map<String, Value>>,
    pub claims: Option<Map<String, Value>>,
    /// `Some(route)` once a route was selected (`route` as in [`Tracer::route`]).
    pub route: Option<Option<usize>>,
}

impl Tracer for Trace {
    fn enabled(&self) -> bool {
        true
    }
    fn push(&mut self, step: Step) {
        self.steps.push(step);
    }
    fn decoded(&mut self, header: &Map<String, Value>, claims: &Map<String, Value>) {
        self.header = Some(header.clone());
        self.claims = Some(claims.clone());
    }
    fn route(&mut self, index: Option<usize>) {
        self.route = Some(index);
    }
}

/// Records `check` with `result` (described by `describe`: expected, actual) and passes
/// the result on, so a check reads `stage(t, Check::X, result, || ...)?`.
pub fn stage<X>(
    tracer: &mut dyn Tracer,
    check: Check,
    result: Result<X, Reason>,
    describe: impl FnOnce() -> (String, String),
) -> Result<X, Reason> {
    if tracer.enabled() {
        let (expected, actual) = describe();
        tracer.push(Step {
            check,
            failed: result.as_ref().err().copied(),
            expected,
            actual,
        });
    }
    result
}

/// A JSON value as `explain` shows it: strings quoted, `(absent)` for none.
pub fn text(value: Option<&Value>) -> String {
    match value {
        None => "(absent)".to_owned(),
        Some(Value::String(s)) => format!("{s:?}"),
        Some(v) => v.to_string(),
    }
}

/// "expires in 600s (at 1800000600)" / "expired 30s ago (at …)" / "issued now (at …)".
pub fn relative(at: Option<f64>, now: i64, future: &str, past: &str) -> String {
    let Some(at) = at else {
        return "(absent)".into();
    };
    let delta = at - now as f64;
    if delta.abs() < 0.5 {
        format!("{past} now (at {at})")
    } else if delta > 0.0 {
        format!("{future} in {}s (at {at})", delta.round())
    } else {
        format!("{past} {}s ago (at {at})", (-delta).round())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_records_nothing_and_never_describes() {
        let mut off = Off;
        let result: Result<(), Reason> = stage(&mut off, Check::Route, Ok(()), || {
            panic!("described while off")
        });
        assert!(result.is_ok());
    }

    #[test]
    fn a_trace_records_passes_and_failures_in_order() {
        let mut trace = Trace::default();
        let _ = stage(&mut trace, Check::Route, Ok(()), || {
            ("e".into(), "a".into())
        });
        let failed: Result<(), Reason> = stage(
            &mut trace,
            Check::Issuer,
            Err(Reason::IssuerMissing),
            || ("one of [x]".into(), "(absent)".into()),
        );
        assert_eq!(failed, Err(Reason::IssuerMissing));
        assert_eq!(
            trace
                .steps
                .iter()
                .map(|s| (s.check, s.failed))
                .collect::<Vec<_>>(),
            [
                (Check::Route, None),
                (Check::Issuer, Some(Reason::IssuerMissing))
            ]
        );
        assert_eq!(
            relative(Some(1600.0), 1000, "expires", "expired"),
            "expires in 600s (at 1600)"
        );
        assert_eq!(
            relative(Some(970.0), 1000, "expires", "expired"),
            "expired 30s ago (at 970)"
        );
    }
}
