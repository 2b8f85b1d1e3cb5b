//! `explain`: why a token would be allowed or denied, step by step, with expected vs actual
//! and a one-line fix.
//!
//! The verdict comes from the server's own [`decide`] — there is no second validator here.
//! The report then lays the decoded token and the config side by side in the order the
//! checks run: steps before the failing one passed, the failing one is marked, later ones
//! were not reached. Hints look for the usual causes (a trailing slash, an ID token, an
//! org-level authorization server, clock skew, a rotated key, comma-joined scopes).

use crate::decision::{Decision, Request, decide, scopes};
use crate::reason::Reason;
use crate::remote::FetchReport;
use crate::route::{self, Target};
use crate::snapshot::{Provider, ProviderSet, Snapshot};
use crate::token::verify::{Decoded, UnixTime, inspect};
use serde::Serialize;
use serde_json::{Map, Value, json};

/// The checks, in the order the server runs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    Route,
    Credentials,
    Format,
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
    Scopes,
    ClaimValues,
}

impl Check {
    const ALL: [Check; 18] = [
        Check::Route,
        Check::Credentials,
        Check::Format,
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
        Check::Scopes,
        Check::ClaimValues,
    ];

    fn label(self) -> &'static str {
        match self {
            Check::Route => "route",
            Check::Credentials => "credentials",
            Check::Format => "format",
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
            Check::Scopes => "scopes",
            Check::ClaimValues => "claims",
        }
    }

    /// The check that produces `reason`.
    fn of(reason: Reason) -> Check {
        match reason {
            // A panic could be anywhere; nothing after the route is claimed as passed.
            Reason::RouteNotConfigured | Reason::PathNotCanonical | Reason::Internal => {
                Check::Route
            }
            Reason::NoCredentials
            | Reason::MultipleCredentials
            | Reason::MalformedAuthorization
            | Reason::EmptyBearer => Check::Credentials,
            Reason::TokenTooLarge
            | Reason::OpaqueToken
            | Reason::EncryptedToken
            | Reason::MalformedToken => Check::Format,
            Reason::IssuerMissing | Reason::IssuerNotTrusted => Check::Issuer,
            Reason::AlgorithmNotAllowed => Check::Algorithm,
            Reason::KidRequired
            | Reason::KeyNotFound
            | Reason::KeyAlgorithmMismatch
            | Reason::KeysUnavailable => Check::Key,
            Reason::SignatureInvalid => Check::Signature,
            Reason::ClaimMalformed => Check::ClaimTypes,
            Reason::RequiredClaimMissing => Check::RequiredClaims,
            Reason::Expired => Check::Expiry,
            Reason::NotYetValid => Check::NotBefore,
            Reason::IssuedInFuture => Check::IssuedAt,
            Reason::ValidityWindowInvalid => Check::Window,
            Reason::AudienceMissing | Reason::AudienceNotAllowed => Check::Audience,
            Reason::CritUnsupported => Check::Crit,
            Reason::TokenTypeNotAllowed => Check::Type,
            Reason::InsufficientScope => Check::Scopes,
            Reason::ClaimMismatch => Check::ClaimValues,
        }
    }
}

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
}

/// Explains `question` against `snapshot` at `now`; `fetches` describes remote key sets.
pub fn explain(
    snapshot: &Snapshot,
    question: &Question<'_>,
    now: UnixTime,
    fetches: &[FetchReport],
) -> Report {
    let authorization = format!("Bearer {}", question.token);
    let has = |name: &str| {
        question
            .headers
            .iter()
            .any(|(k, v)| k == name && !v.is_empty())
    };
    let request = Request {
        authorization: vec![authorization.as_bytes()],
        method: question.method,
        path: question.path,
        host: question.host,
        route_name: question.route_name,
        cors_preflight: has("origin") && has("access-control-request-method"),
    };
    let decision = decide(snapshot, &request, now);
    let decoded = inspect(question.token, &snapshot.limits).ok();
    let facts = Facts::gather(snapshot, question, decoded.as_ref(), now, fetches);
    let (allowed, status, reason) = match &decision {
        Decision::Allow(_) => (true, 200, None),
        Decision::Deny(deny) => (false, deny.status, Some(deny.reason)),
    };
    let failing = reason.map(Check::of);
    let steps = Check::ALL
        .iter()
        .map(|check| {
            let (expected, actual) = facts.describe(*check);
            let result = match failing {
                Some(f) if *check == f => "fail",
                Some(f) if *check > f => "skip",
                _ => "pass",
            };
            Step {
                check: *check,
                result,
                expected,
                actual,
            }
        })
        .collect();
    Report {
        allowed,
        status,
        reason: reason.map(Reason::code),
        description: reason.map(Reason::description),
        steps,
        hint: reason.map(|r| facts.hint(r)),
        claims: if question.show_claims {
            decoded.map(|d| d.claims)
        } else {
            None
        },
    }
}

/// Everything the report shows, gathered once.
struct Facts<'a> {
    snapshot: &'a Snapshot,
    route: String,
    allowed_providers: ProviderSet,
    required_scopes: Vec<String>,
    required_claims: Vec<(String, String)>,
    token_len: usize,
    token_parts: usize,
    decoded: Option<&'a Decoded>,
    provider: Option<&'a Provider>,
    now: UnixTime,
    fetches: &'a [FetchReport],
}

impl<'a> Facts<'a> {
    fn gather(
        snapshot: &'a Snapshot,
        q: &Question<'_>,
        decoded: Option<&'a Decoded>,
        now: UnixTime,
        fetches: &'a [FetchReport],
    ) -> Facts<'a> {
        let target = Target {
            method: q.method,
            path: q.path,
            host: q.host,
            route_name: q.route_name,
        };
        let selected = route::select(snapshot, &target).ok();
        let requirement = selected.map_or(&snapshot.default_requirement, |s| s.requirement);
        let provider = decoded
            .and_then(|d| d.claims.get("iss"))
            .and_then(Value::as_str)
            .and_then(|iss| snapshot.provider_for_issuer(iss, &ProviderSet::Any));
        Facts {
            snapshot,
            route: match selected {
                Some(s) => match (s.index, s.name) {
                    (_, Some(name)) => format!("route {name}"),
                    (Some(index), None) => format!("routes[{index}]"),
                    (None, None) => "default (no route matched)".to_owned(),
                },
                None => "none".to_owned(),
            },
            allowed_providers: requirement.providers.clone(),
            required_scopes: requirement.scopes.clone(),
            required_claims: requirement.claims.clone(),
            token_len: q.token.len(),
            token_parts: q.token.split('.').count(),
            decoded,
            provider,
            now,
            fetches,
        }
    }

    fn claim(&self, name: &str) -> Option<&'a Value> {
        self.decoded?.claims.get(name)
    }

    fn header(&self, name: &str) -> Option<&'a Value> {
        self.decoded?.header.get(name)
    }

    fn text(value: Option<&Value>) -> String {
        match value {
            None => "(absent)".to_owned(),
            Some(Value::String(s)) => format!("{s:?}"),
            Some(v) => v.to_string(),
        }
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
        let kids: Vec<&str> = p
            .keys
            .keys()
            .iter()
            .map(|k| k.kid().unwrap_or("(no kid)"))
            .collect();
        format!("[{}]", kids.join(", "))
    }

    fn describe(&self, check: Check) -> (String, String) {
        let p = self.provider;
        let skew = p.map_or(0, |p| p.clock_skew.as_secs());
        let time = |name: &str| self.claim(name).and_then(Value::as_f64);
        match check {
            Check::Route => ("a route for the request".into(), self.route.clone()),
            Check::Credentials => (
                "Authorization: Bearer <one token>".into(),
                format!("a bearer token of {} bytes", self.token_len),
            ),
            Check::Format => (
                "JWS: three base64url parts of JSON".into(),
                match self.decoded {
                    Some(d) => format!("header {}", Value::Object(d.header.clone())),
                    None => format!("{} dot-separated part(s)", self.token_parts),
                },
            ),
            Check::Issuer => (
                format!("one of [{}]", self.trusted_issuers().join(", ")),
                match p {
                    Some(p) => format!("{} (provider {})", Self::text(self.claim("iss")), p.name),
                    None => Self::text(self.claim("iss")),
                },
            ),
            Check::Algorithm => (
                p.map_or_else(String::new, |p| {
                    p.algorithms
                        .iter()
                        .map(|a| a.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                }),
                Self::text(self.header("alg")),
            ),
            Check::Key => (
                p.map_or_else(String::new, |p| format!("a kid in {}", self.kids(p))),
                Self::text(self.header("kid")),
            ),
            Check::Signature => ("valid with that key".into(), String::new()),
            Check::ClaimTypes => (
                "exp/nbf/iat numbers, iss a string, aud a string or strings".into(),
                String::new(),
            ),
            Check::RequiredClaims => (
                p.map_or_else(String::new, |p| {
                    format!("present: [{}]", p.required_claims.join(", "))
                }),
                match (p, self.decoded) {
                    (Some(p), Some(_)) => {
                        let missing: Vec<&str> = p
                            .required_claims
                            .iter()
                            .filter(|c| self.claim(c).is_none_or(Value::is_null))
                            .map(String::as_str)
                            .collect();
                        if missing.is_empty() {
                            "all present".into()
                        } else {
                            format!("missing: [{}]", missing.join(", "))
                        }
                    }
                    _ => String::new(),
                },
            ),
            Check::Expiry => (
                format!("now <= exp + {skew}s skew"),
                self.relative(time("exp"), "expires", "expired"),
            ),
            Check::NotBefore => (
                format!("now >= nbf - {skew}s skew"),
                self.relative(time("nbf"), "starts", "started"),
            ),
            Check::IssuedAt => (
                format!("iat <= now + {skew}s skew"),
                self.relative(time("iat"), "issued", "issued"),
            ),
            Check::Window => ("exp after nbf and iat".into(), String::new()),
            Check::Audience => (
                p.map_or_else(String::new, |p| {
                    format!(
                        "one of [{}] in {}",
                        p.audiences.iter().cloned().collect::<Vec<_>>().join(", "),
                        p.audience_claims.join("/")
                    )
                }),
                Self::text(self.claim("aud")),
            ),
            Check::Crit => ("absent".into(), Self::text(self.header("crit"))),
            Check::Type => (
                p.and_then(|p| p.token_types.as_ref())
                    .map_or_else(|| "absent, JWT or at+jwt".into(), |t| t.join(", ")),
                Self::text(self.header("typ")),
            ),
            Check::Scopes => (
                format!("[{}]", self.required_scopes.join(" ")),
                self.decoded.map_or_else(String::new, |d| {
                    format!("[{}]", scopes(&d.claims).join(" "))
                }),
            ),
            Check::ClaimValues => (
                self.required_claims
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                self.required_claims
                    .iter()
                    .map(|(k, _)| format!("{k}={}", Self::text(self.claim(k))))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
        }
    }

    /// "expires in 600s (at 1800000600)" / "expired 30s ago (at …)" / "issued now (at …)".
    fn relative(&self, at: Option<f64>, future: &str, past: &str) -> String {
        let Some(at) = at else {
            return "(absent)".into();
        };
        let delta = at - self.now.0 as f64;
        if delta.abs() < 0.5 {
            format!("{past} now (at {at})")
        } else if delta > 0.0 {
            format!("{future} in {}s (at {at})", delta.round())
        } else {
            format!("{past} {}s ago (at {at})", (-delta).round())
        }
    }

    /// A one-line fix for `reason`, specific where the token shows the cause.
    fn hint(&self, reason: Reason) -> String {
        let specific = match reason {
            Reason::IssuerNotTrusted => self.issuer_hint(),
            Reason::AudienceNotAllowed | Reason::AudienceMissing => self.audience_hint(),
            Reason::Expired | Reason::NotYetValid | Reason::IssuedInFuture => self.time_hint(reason),
            Reason::KeyNotFound => self.provider.map(|p| {
                let fetched = self
                    .fetches
                    .iter()
                    .find(|f| f.provider == p.name)
                    .and_then(|f| f.age)
                    .map_or_else(String::new, |age| format!("; the key set was fetched {}s ago", age.as_secs()));
                format!(
                    "kid {} is not among {} of provider {}{fetched}: the IdP rotated keys (POST /jwks/refresh, or update the JWKS), or the token comes from another tenant or environment",
                    Self::text(self.header("kid")),
                    self.kids(p),
                    p.name
                )
            }),
            Reason::KeyAlgorithmMismatch => self.provider.map(|p| {
                let kid = self.header("kid").and_then(Value::as_str);
                let algs: Vec<&str> = p
                    .keys
                    .keys()
                    .iter()
                    .filter(|k| kid.is_none() || k.kid() == kid)
                    .flat_map(|k| k.algorithms().map(|a| a.name()))
                    .collect();
                format!("the key only verifies [{}], the token says {}", algs.join(", "), Self::text(self.header("alg")))
            }),
            Reason::InsufficientScope => self.scope_hint(),
            Reason::OpaqueToken => Some(
                "an opaque (reference) token: ask the IdP for a JWT access token for this API (Auth0: pass `audience`; Okta: use a custom authorization server), or introspect it".into(),
            ),
            Reason::EncryptedToken => Some("an encrypted token (JWE): turn token encryption off for this API at the IdP".into()),
            _ => None,
        };
        specific.unwrap_or_else(|| reason.hint().to_owned())
    }

    fn issuer_hint(&self) -> Option<String> {
        let iss = self.claim("iss")?.as_str()?;
        if let Some((i, p)) = self
            .snapshot
            .providers
            .iter()
            .enumerate()
            .find(|(_, p)| p.issuers.iter().any(|x| x == iss))
            && !self.allowed_providers.allows(i)
        {
            return Some(format!(
                "{iss:?} belongs to provider {}, which this route does not accept",
                p.name
            ));
        }
        let trusted = self.trusted_issuers();
        for t in &trusted {
            if let Some(why) = near_miss(iss, t) {
                return Some(format!(
                    "the issuer {iss:?} differs from the configured {t:?} only by {why}"
                ));
            }
        }
        Some(format!(
            "{iss:?} is not a configured issuer; trusted: [{}]",
            trusted.join(", ")
        ))
    }

    fn audience_hint(&self) -> Option<String> {
        let p = self.provider?;
        let auds: Vec<&str> = match self.claim("aud") {
            Some(Value::String(a)) => vec![a.as_str()],
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let iss = self
            .claim("iss")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if self.claim("nonce").is_some() || self.claim("at_hash").is_some() {
            return Some(format!(
                "this looks like an ID token (it has nonce/at_hash; aud {:?} is a client id): send the access token, not the ID token",
                auds.join(" ")
            ));
        }
        if let Some(origin) = origin_of(iss)
            && auds.iter().any(|a| a.trim_end_matches('/') == origin)
        {
            return Some(
                    "aud is the issuer's own origin: a token from an org-level authorization server (e.g. Okta's org AS), meant for the IdP itself; use a custom authorization server for your API, or introspection".into(),
                );
        }
        for a in &auds {
            for configured in &p.audiences {
                if let Some(why) = near_miss(a, configured) {
                    return Some(format!(
                        "the audience {a:?} differs from the configured {configured:?} only by {why}"
                    ));
                }
            }
        }
        if auds.is_empty() {
            if self.claim("client_id").is_some()
                && !p.audience_claims.iter().any(|c| c == "client_id")
            {
                return Some("no aud, but a client_id (Amazon Cognito access tokens): add client_id to audience_claims".into());
            }
            return Some(format!(
                "the token has none of [{}]",
                p.audience_claims.join(", ")
            ));
        }
        Some(format!(
            "aud [{}] holds none of the configured [{}]: a token for another API or environment?",
            auds.join(", "),
            p.audiences.iter().cloned().collect::<Vec<_>>().join(", ")
        ))
    }

    fn time_hint(&self, reason: Reason) -> Option<String> {
        let p = self.provider?;
        let skew = p.clock_skew.as_secs_f64();
        let now = self.now.0 as f64;
        let (name, off) = match reason {
            Reason::Expired => ("exp", now - self.claim("exp")?.as_f64()?),
            Reason::NotYetValid => ("nbf", self.claim("nbf")?.as_f64()? - now),
            _ => ("iat", self.claim("iat")?.as_f64()? - now),
        };
        let verb = if reason == Reason::Expired {
            "expired"
        } else {
            "is in the future by"
        };
        Some(format!(
            "{name} {verb} {}s, beyond the {}s clock skew of provider {}{}",
            off.round(),
            skew,
            p.name,
            if off - skew < 300.0 {
                ": a small difference is clock drift; check NTP on the issuer and this host, or raise clock_skew"
            } else {
                ""
            }
        ))
    }

    fn scope_hint(&self) -> Option<String> {
        let claims = &self.decoded?.claims;
        let granted = scopes(claims);
        let missing: Vec<&str> = self
            .required_scopes
            .iter()
            .filter(|s| !granted.contains(s))
            .map(String::as_str)
            .collect();
        let comma_split: Vec<String> = granted
            .iter()
            .flat_map(|s| s.split(','))
            .map(|s| s.trim().to_owned())
            .collect();
        if missing.iter().all(|m| comma_split.iter().any(|s| s == m)) {
            return Some(format!(
                "the scopes are comma-joined ({}): scopes are space-separated, so this is one scope; fix the scope claim at the IdP",
                Self::text(claims.get("scope").or(claims.get("scp")))
            ));
        }
        Some(format!(
            "missing scope(s) [{}]: request them from the IdP (granted: [{}])",
            missing.join(" "),
            granted.join(" ")
        ))
    }
}

/// Why two identifiers differ only cosmetically, if they do.
fn near_miss(actual: &str, expected: &str) -> Option<&'static str> {
    if actual == expected {
        return None;
    }
    if actual.trim_end_matches('/') == expected.trim_end_matches('/') {
        return Some("a trailing slash");
    }
    if actual.eq_ignore_ascii_case(expected) {
        return Some("letter case");
    }
    let strip = |s: &str| {
        s.split_once("://").map_or(s.to_owned(), |(_, rest)| {
            rest.trim_end_matches('/').to_ascii_lowercase()
        })
    };
    if strip(actual) == strip(expected) {
        return Some("the scheme (http/https/api)");
    }
    None
}

/// `https://host[:port]` of a URL.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split('/').next()?;
    Some(format!("{scheme}://{host}"))
}

/// The report as text: a verdict line, one line per check, and the fix.
pub fn render_text(report: &Report) -> String {
    let mut out = match report.reason {
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
