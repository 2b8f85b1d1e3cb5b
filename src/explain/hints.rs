//! `explain`'s hints: a one-line fix for a denial, specific where the decoded token shows
//! the cause (a trailing slash or letter case in `iss`/`aud`, a tenant an issuer template
//! does not list or a tenant claim that differs, an ID token, an org-level authorization
//! server, clock skew, a rotated key, comma-joined scopes), else the reason's own hint from
//! `Reason::hint`.

use super::Facts;
use crate::decision::scopes;
use crate::reason::Reason;
use crate::snapshot::{NearTenant, TENANT_CHARSET};
use crate::trace::text;
use serde_json::Value;

impl Facts<'_> {
    /// A one-line fix for `reason`, specific where the token shows the cause.
    pub(super) fn hint(&self, reason: Reason) -> String {
        let specific = match reason {
            Reason::IssuerNotTrusted => self.issuer_hint(),
            // A template's tenant claim that is no string; other claims get the generic hint.
            Reason::ClaimMalformed => self.owner_hint(),
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
                    text(self.header("kid")),
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
                format!("the key only verifies [{}], the token says {}", algs.join(", "), text(self.header("alg")))
            }),
            Reason::InsufficientScope => self.scope_hint(),
            Reason::OpaqueToken => Some(
                "an opaque (reference) token, and no provider this route allows has `introspection:`: give one an introspection endpoint, or ask the IdP for a JWT access token for this API (Auth0: pass `audience`; Okta: use a custom authorization server; a client that left out the RFC 8707 `resource=` parameter gets an opaque token from servers such as oidc-provider)".into(),
            ),
            Reason::IntrospectionUnavailable => self.introspection.and_then(|(expected, actual)| {
                let endpoint = expected.strip_prefix("active: true from ")?;
                Some(if actual == "not asked" {
                    format!("the server would ask {endpoint} about this token; run explain with --introspect to ask it (the token goes to that endpoint only)")
                } else {
                    format!("{endpoint} did not judge the token ({actual}): check the endpoint, its TLS trust and the client credentials (a 401 means they are wrong)")
                })
            }),
            Reason::EncryptedToken => Some("an encrypted token (JWE): turn token encryption off for this API at the IdP".into()),
            _ => None,
        };
        specific.unwrap_or_else(|| reason.hint().to_owned())
    }

    fn issuer_hint(&self) -> Option<String> {
        let iss = self.claim("iss")?.as_str()?;
        if let Some(hint) = self.owner_hint().or_else(|| self.tenant_hint(iss)) {
            return Some(hint);
        }
        let trusted = self.trusted_issuers();
        for t in &trusted {
            if let Some(why) = near_miss(iss, t) {
                return Some(format!(
                    "the issuer {iss:?} differs from the configured {t:?} only by {why}"
                ));
            }
        }
        let all: Vec<String> = self
            .snapshot
            .providers
            .iter()
            .enumerate()
            .filter(|(i, _)| self.allowed_providers.allows(*i))
            .flat_map(|(_, p)| p.trusted_issuers())
            .collect();
        Some(format!(
            "{iss:?} is not a configured issuer; trusted: [{}]",
            all.join(", ")
        ))
    }

    /// When `iss` has an owner: the route does not accept it, or the owner's template
    /// trusts `iss` but the token's tenant claim does not repeat the tenant.
    fn owner_hint(&self) -> Option<String> {
        let iss = self.claim("iss")?.as_str()?;
        let (index, found) = self.snapshot.issuer_owner(iss)?;
        let p = &self.snapshot.providers[index];
        if !self.allowed_providers.allows(index) {
            return Some(format!(
                "{iss:?} belongs to provider {}, which this route does not accept",
                p.name
            ));
        }
        let m = found?;
        let (claim, tenant) = (&m.template.claim, m.tenant);
        Some(match self.claim(claim) {
            None | Some(Value::Null) => {
                let entra = match claim.as_str() {
                    "tenantid" => {
                        "; Entra's tenant claim is tid (its metadata writes {tenantid}): write {tid} in the template"
                    }
                    "tid" => {
                        " (Entra documents tid as sent to apps that request the profile scope)"
                    }
                    _ => "",
                };
                format!(
                    "the token has no {claim} claim to confirm the tenant {tenant:?} its iss names (template {} of provider {}){entra}",
                    m.template.text, p.name
                )
            }
            // The tenant claim holds: the malformed claim is another one.
            Some(Value::String(held)) if held == tenant => return None,
            Some(Value::String(held)) => format!(
                "{claim} {held:?} differs from the tenant {tenant:?} that iss names: a token naming two tenants is trusted by neither; the IdP never issues one, so check how it was made"
            ),
            Some(held) => format!(
                "{claim} is {held}, not a string: the tenant claim must be the tenant id {tenant:?} that iss names"
            ),
        })
    }

    /// No owner, but an allowed provider's template nearly trusts `iss`: an unlisted
    /// tenant, or something that is no tenant in the placeholder's place.
    fn tenant_hint(&self, iss: &str) -> Option<String> {
        Some(
            match self.snapshot.near_tenant(self.allowed_providers, iss)? {
                NearTenant::Unlisted(p, m) => format!(
                    "tenant {:?} is not among the tenants {} of provider {}: add it to `tenants` if that organisation's tokens are to be trusted",
                    m.tenant,
                    p.tenancy
                        .as_ref()
                        .map_or_else(String::new, |t| t.tenants.describe()),
                    p.name
                ),
                NearTenant::NotATenant(t, part) => format!(
                    "{iss:?} has the shape of template {} but {part:?} in place of {{{}}} is no tenant ({TENANT_CHARSET})",
                    t.text, t.claim
                ),
            },
        )
    }

    fn audience_hint(&self) -> Option<String> {
        let p = self.provider?;
        // The claim that decided: the first present of `audience_claims`, as the server reads it.
        let deciding = p
            .audience_claims
            .iter()
            .find_map(|name| self.claim(name).filter(|v| !v.is_null()));
        let auds: Vec<&str> = match deciding {
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
        let claims = self.claims?;
        let granted = scopes(claims);
        let missing: Vec<&str> = self
            .required_scopes
            .iter()
            .filter(|s| !granted.contains(&s.as_str()))
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
                text(claims.get("scope").or(claims.get("scp")))
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
