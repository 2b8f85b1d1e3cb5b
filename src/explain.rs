//! `explain`: why a token would be allowed or denied, step by step, with expected vs actual
//! and a one-line fix.
//!
//! A front end of the decision: it runs the server's own [`decide_traced`] and prints the
//! trace that decision recorded — the stages that ran, passed or failed, with what they
//! saw; stages that did not run are shown as not reached. There is no second validator and
//! no second copy of the order, so the report cannot claim a check that never happened.
//! Hints then look at the decoded token the trace carries for the usual causes (a trailing
//! slash, an ID token, an org-level authorization server, clock skew, a rotated key,
//! comma-joined scopes); the generic hint of each reason lives in `Reason::hint`.

use crate::decision::{Decision, Request, decide_introspected, decide_traced, is_cors_preflight};
use crate::introspection::Answer;
use crate::reason::Reason;
use crate::remote::FetchReport;
use crate::snapshot::{Provider, ProviderSet, Snapshot};
use crate::token::verify::UnixTime;
use crate::trace::{Off, Trace};
use serde::Serialize;
use serde_json::{Map, Value, json};

pub use crate::trace::Check;

mod hints;

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    pub check: Check,
    /// `pass`, `fail` or `skip` (not reached).
    pub result: &'static str,
    pub expected: String,
    pub actual: String,
}

/// The whole explanation.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub allowed: bool,
    pub status: u16,
    pub reason: Option<&'static str>,
    pub description: Option<&'static str>,
    pub steps: Vec<Step>,
    /// A one-line fix for a denial.
    pub hint: Option<String>,
    /// The resource whose RFC 9728 document the request would get (no token judged).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub served: Option<String>,
    /// The decoded payload, only when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claims: Option<Map<String, Value>>,
}

/// What `explain` is asked about.
#[derive(Debug, Clone, Default)]
pub struct Question<'a> {
    pub token: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    pub host: &'a str,
    /// Extra request headers (name lowercase), e.g. `origin`.
    pub headers: Vec<(String, String)>,
    /// `context_extensions["route"]`, as Envoy would send it.
    pub route_name: Option<&'a str>,
    pub show_claims: bool,
    /// What the introspection endpoint said about the token, when `explain --introspect`
    /// asked it (see [`introspector`]).
    pub introspected: Option<&'a Answer>,
    /// The client certificate (PEM) of the connection, as Envoy would send it with
    /// `include_peer_certificate` (RFC 8705 certificate-bound tokens).
    pub client_certificate: Option<&'a [u8]>,
}

impl Question<'_> {
    /// `DPoP <token>` when a `DPoP` proof header is given (`--dpop`), else `Bearer <token>`.
    fn authorization(&self) -> String {
        let dpop = self.headers.iter().any(|(name, _)| name == "dpop");
        let scheme = if dpop { "DPoP" } else { "Bearer" };
        format!("{scheme} {}", self.token)
    }
}

/// The provider whose introspection endpoint the server would ask about this token, if it
/// would ask one: the decision's own choice, so `--introspect` sends the token nowhere
/// else.
pub fn introspector<'s>(
    snapshot: &'s Snapshot,
    question: &Question<'_>,
    now: UnixTime,
) -> Option<&'s Provider> {
    let authorization = question.authorization();
    let request = request(question, &authorization);
    match decide_traced(snapshot, &request, now, None, &mut Off) {
        Decision::Deny(deny) if deny.reason == Reason::IntrospectionUnavailable => {
            let name = deny.provider?;
            snapshot.providers.iter().find(|p| p.name == name)
        }
        _ => None,
    }
}

/// The request `question` describes, carrying `authorization`.
fn request<'q>(question: &'q Question<'_>, authorization: &'q str) -> Request<'q> {
    let header = |name: &str| {
        question
            .headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_bytes())
    };
    Request {
        authorization: vec![authorization.as_bytes()],
        dpop: header("dpop").into_iter().collect(),
        method: question.method,
        path: question.path,
        host: question.host,
        // As in HTTP mode: `--header 'X-Forwarded-Proto: https'` (an `auto` resource's URL).
        scheme: header("x-forwarded-proto").and_then(crate::decision::Scheme::parse),
        route_name: question.route_name,
        cors_preflight: is_cors_preflight(
            header("origin"),
            header("access-control-request-method"),
        ),
        peer: crate::decision::Peer {
            certificate: question.client_certificate,
            ..Default::default()
        },
    }
}

/// Explains `question` against `snapshot` at `now`; `fetches` describes remote key sets.
pub fn explain(
    snapshot: &Snapshot,
    question: &Question<'_>,
    now: UnixTime,
    fetches: &[FetchReport],
) -> Report {
    let authorization = question.authorization();
    let request = request(question, &authorization);
    let mut trace = Trace::default();
    let decision = decide_introspected(
        snapshot,
        &request,
        now,
        Default::default(),
        question.introspected,
        &mut trace,
    );
    let (allowed, status, reason) = match &decision {
        Decision::Allow(_) => (true, 200, None),
        Decision::Deny(deny) => (false, deny.status(), Some(deny.reason)),
        // No token is judged: the route step says which document answers.
        Decision::Serve(_) => (true, crate::decision::Serve::STATUS, None),
    };
    let steps = Check::ALL
        .iter()
        .filter(|check| !check.optional() || trace.steps.iter().any(|s| s.check == **check))
        .map(
            |check| match trace.steps.iter().rfind(|s| s.check == *check) {
                Some(step) => Step {
                    check: *check,
                    result: if step.failed.is_some() {
                        "fail"
                    } else {
                        "pass"
                    },
                    expected: step.expected.clone(),
                    actual: step.actual.clone(),
                },
                None => Step {
                    check: *check,
                    result: "skip",
                    expected: String::new(),
                    actual: String::new(),
                },
            },
        )
        .collect();
    let facts = Facts::of(snapshot, &trace, now, fetches);
    Report {
        allowed,
        status,
        reason: reason.map(Reason::code),
        description: reason.map(Reason::description),
        steps,
        hint: reason.map(|r| facts.hint(r)),
        served: match decision {
            Decision::Serve(serve) => Some(serve.resource),
            _ => None,
        },
        claims: if question.show_claims {
            trace.claims.clone()
        } else {
            None
        },
    }
}

/// What the hints read: the trace's decoded token and selected route, and the config.
struct Facts<'a> {
    snapshot: &'a Snapshot,
    allowed_providers: &'a ProviderSet,
    required_scopes: &'a [String],
    header: Option<&'a Map<String, Value>>,
    claims: Option<&'a Map<String, Value>>,
    provider: Option<&'a Provider>,
    now: UnixTime,
    fetches: &'a [FetchReport],
    /// The introspection stage's (expected, actual), when it ran.
    introspection: Option<(&'a str, &'a str)>,
}

impl<'a> Facts<'a> {
    fn of(
        snapshot: &'a Snapshot,
        trace: &'a Trace,
        now: UnixTime,
        fetches: &'a [FetchReport],
    ) -> Facts<'a> {
        let requirement = match trace.route {
            Some(Some(index)) => &snapshot.routes[index].requirement,
            _ => &snapshot.default_requirement,
        };
        let provider = trace
            .claims
            .as_ref()
            .and_then(|c| c.get("iss"))
            .and_then(Value::as_str)
            .and_then(|iss| snapshot.provider_for_issuer(iss, &ProviderSet::Any));
        Facts {
            snapshot,
            allowed_providers: &requirement.providers,
            required_scopes: &requirement.scopes,
            header: trace.header.as_ref(),
            claims: trace.claims.as_ref(),
            provider,
            now,
            fetches,
            introspection: trace
                .steps
                .iter()
                .rfind(|s| s.check == Check::Introspection)
                .map(|s| (s.expected.as_str(), s.actual.as_str())),
        }
    }

    fn claim(&self, name: &str) -> Option<&'a Value> {
        self.claims?.get(name)
    }

    fn header(&self, name: &str) -> Option<&'a Value> {
        self.header?.get(name)
    }

    fn trusted_issuers(&self) -> Vec<&'a str> {
        self.snapshot
            .providers
            .iter()
            .enumerate()
            .filter(|(i, _)| self.allowed_providers.allows(*i))
            .flat_map(|(_, p)| p.issuers.iter().map(String::as_str))
            .collect()
    }

    fn kids(&self, p: &Provider) -> String {
        format!("[{}]", p.kids("(no kid)").join(", "))
    }
}

/// The report as text: a verdict line, one line per check, and the fix.
pub fn render_text(report: &Report) -> String {
    let mut out = match report.reason {
        None if report.served.is_some() => format!(
            "SERVED ({}) the protected resource metadata of {}: no token needed\n",
            report.status,
            report.served.as_deref().unwrap_or_default()
        ),
        None => format!("ALLOWED ({})\n", report.status),
        Some(code) => format!(
            "DENIED {} {code}: {}\n",
            report.status,
            report.description.unwrap_or_default()
        ),
    };
    for step in &report.steps {
        let mark = match step.result {
            "pass" => "✓",
            "fail" => "✗",
            _ => "·",
        };
        let detail = match step.result {
            "skip" => "not reached".to_owned(),
            _ if step.actual.is_empty() => format!("expected {}", step.expected),
            _ => format!("{} (expected {})", step.actual, step.expected),
        };
        out.push_str(&format!("  {mark} {:<12} {detail}\n", step.check.label()));
    }
    if let Some(hint) = &report.hint {
        out.push_str(&format!("fix: {hint}\n"));
    }
    if let Some(claims) = &report.claims {
        out.push_str(&format!(
            "claims: {}\n",
            serde_json::to_string_pretty(&Value::Object(claims.clone())).unwrap_or_default()
        ));
    }
    out
}

/// The report as JSON for tools.
pub fn render_json(report: &Report) -> String {
    serde_json::to_string_pretty(report)
        .unwrap_or_else(|_| json!({"error": "unserialisable report"}).to_string())
}
