//! The issuer checks, one traced stage each: which provider a token's `iss` selects (SPEC §3
//! step 3) and, when a provider's issuer template trusts that `iss`, that the token's tenant
//! claim (the template's placeholder, `tid`) repeats the tenant the `iss` names; and the same
//! rule for the `iss` of an introspection answer. The stage's description names the tenant
//! and the rule that failed: a tenant not listed, no tenant claim, or a different one.

use crate::reason::Reason;
use crate::snapshot::{NearTenant, Provider, ProviderSet, Snapshot, TENANT_CHARSET, TenantMatch};
use crate::trace::{Check, Tracer, stage, text};
use serde_json::{Map, Value};

/// The provider the token's `iss` selects among those `allowed` admits, its tenant claim
/// checked when a template selected it.
pub(super) fn select<'s>(
    snapshot: &'s Snapshot,
    claims: &Map<String, Value>,
    allowed: &ProviderSet,
    tracer: &mut dyn Tracer,
) -> Result<&'s Provider, Reason> {
    let iss = claims.get("iss");
    let owner = match iss {
        Some(Value::String(iss)) => snapshot
            .issuer_owner(iss)
            .filter(|(index, _)| allowed.allows(*index)),
        _ => None,
    };
    let selected = match (iss, owner) {
        (None, _) => Err(Reason::IssuerMissing),
        (Some(Value::String(_)), Some((index, found))) => found
            .map_or(Ok(()), |m| m.check_claim(claims))
            .map(|()| &snapshot.providers[index]),
        (Some(Value::String(_)), None) => Err(Reason::IssuerNotTrusted),
        (Some(_), _) => Err(Reason::ClaimMalformed),
    };
    stage(tracer, Check::Issuer, selected, || {
        let trusted: Vec<String> = snapshot
            .providers
            .iter()
            .enumerate()
            .filter(|(i, _)| allowed.allows(*i))
            .flat_map(|(_, p)| p.trusted_issuers())
            .collect();
        let actual = match (iss, owner) {
            (Some(Value::String(_)), Some((index, found))) => {
                let name = &snapshot.providers[index].name;
                match found {
                    Some(m) => format!("{} (provider {name}, {})", text(iss), tenant(&m, claims)),
                    None => format!("{} (provider {name})", text(iss)),
                }
            }
            (Some(Value::String(value)), None) => {
                format!("{}{}", text(iss), untrusted(snapshot, allowed, value))
            }
            (None, _) => text(iss),
            (Some(_), _) => format!("{} (not a string)", text(iss)),
        };
        (format!("one of [{}]", trusted.join(", ")), actual)
    })
}

/// An introspection answer's `iss`, when it carries one (RFC 7662 makes it optional):
/// exactly one of the provider's issuers, or trusted by one of its templates with the
/// answer's tenant claim repeating the tenant — whatever a provider that names no issuer
/// at all is sent.
pub(super) fn check_answer(
    provider: &Provider,
    claims: &Map<String, Value>,
    tracer: &mut dyn Tracer,
) -> Result<(), Reason> {
    let iss = claims.get("iss").filter(|v| !v.is_null());
    let found = match iss {
        Some(Value::String(iss)) => provider.tenancy.as_ref().and_then(|t| t.accepts(iss)),
        _ => None,
    };
    let names_none = provider.issuers.is_empty() && provider.tenancy.is_none();
    let issuer = match (iss, found) {
        (None, _) => Ok(()),
        (Some(Value::String(iss)), _) if provider.issuers.contains(iss) => Ok(()),
        (Some(Value::String(_)), Some(m)) => m.check_claim(claims),
        (Some(Value::String(_)), None) if names_none => Ok(()),
        (Some(Value::String(_)), None) => Err(Reason::IssuerNotTrusted),
        (Some(_), _) => Err(Reason::ClaimMalformed),
    };
    stage(tracer, Check::Issuer, issuer, || {
        let expected = match provider.trusted_issuers() {
            trusted if trusted.is_empty() => "any (this provider names no issuer)".to_owned(),
            trusted => format!("absent or one of [{}]", trusted.join(", ")),
        };
        let actual = match found {
            Some(m) => format!("{} ({})", text(iss), tenant(&m, claims)),
            None => text(iss),
        };
        (expected, actual)
    })
}

/// `tenant "T1", tid matches` / `tenant "T1", but tid "T2" differs` / `…, but no tid claim`.
fn tenant(m: &TenantMatch<'_, '_>, claims: &Map<String, Value>) -> String {
    let claim = &m.template.claim;
    let held = match claims.get(claim) {
        None | Some(Value::Null) => format!("but no {claim} claim"),
        Some(Value::String(value)) if value == m.tenant => format!("{claim} matches"),
        Some(held @ Value::String(_)) => format!("but {claim} {} differs", text(Some(held))),
        Some(held) => format!("but {claim} {held} is not a string"),
    };
    format!("tenant {:?}, {held}", m.tenant)
}

/// Why no template of an allowed provider trusts `iss`, when one nearly does: its tenant
/// is not listed, or the part in the placeholder's place is no tenant at all.
fn untrusted(snapshot: &Snapshot, allowed: &ProviderSet, iss: &str) -> String {
    match snapshot.near_tenant(allowed, iss) {
        Some(NearTenant::Unlisted(p, m)) => format!(
            " (tenant {:?} is not in the tenants of provider {})",
            m.tenant, p.name
        ),
        Some(NearTenant::NotATenant(template, part)) => format!(
            " ({part:?} in place of {{{}}} is not a tenant: {TENANT_CHARSET})",
            template.claim
        ),
        None => String::new(),
    }
}
