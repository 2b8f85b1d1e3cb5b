//! Multi-tenant issuers (Entra ID's `https://login.microsoftonline.com/{tid}/v2.0`): an issuer
//! template with one placeholder, the tenants it admits, how an `iss` is matched against it
//! and how two templates are told apart.
//!
//! Matching is a comparison, never a pattern search: an `iss` matches when it is the
//! template's literal prefix, then a tenant, then its literal suffix — so the split is fixed
//! by the two lengths and costs one pass over `iss`. A tenant is 1 to
//! [`MAX_TENANT_CHARS`] of `A-Z a-z 0-9 - . _`, and not `.` or `..`: no `/`, so a tenant
//! can never reach into the path the template fixes, and no dot segment that a URL parser
//! would resolve away. The token's claim named by the placeholder must then repeat that
//! tenant exactly (`token::issuer`).

use crate::reason::Reason;
use crate::snapshot::{Provider, Snapshot};
use serde_json::{Map, Value};
use std::collections::{BTreeSet, VecDeque};

/// The longest tenant a template admits (an Entra tenant id has 36 characters).
pub const MAX_TENANT_CHARS: usize = 128;

/// The longest template (an issuer URL is far shorter).
pub const MAX_TEMPLATE_CHARS: usize = 256;

/// What a tenant may be made of, for messages.
pub const TENANT_CHARSET: &str = "1-128 of A-Z a-z 0-9 - . _, not . or ..";

fn is_tenant_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')
}

/// Whether `value` can stand in a template's placeholder.
pub fn is_tenant(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= MAX_TENANT_CHARS
        && value != "."
        && value != ".."
        && value.bytes().all(is_tenant_byte)
}

/// An issuer with one `{claim}` placeholder, e.g. `https://login.microsoftonline.com/{tid}/v2.0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerTemplate {
    /// As written in the config.
    pub text: String,
    prefix: String,
    suffix: String,
    /// The placeholder's name: the claim that must hold the same tenant (`tid`).
    pub claim: String,
}

impl IssuerTemplate {
    /// Parses a template: at most [`MAX_TEMPLATE_CHARS`], `http(s)://`, exactly one
    /// `{name}` (name of `A-Z a-z 0-9 _ -`), no other brace. The error says what is wrong.
    pub fn parse(text: &str) -> Result<IssuerTemplate, String> {
        // Bounds the compile-time overlap search (`common_issuer`), quadratic in length.
        if text.len() > MAX_TEMPLATE_CHARS {
            return Err(format!("is longer than {MAX_TEMPLATE_CHARS} characters"));
        }
        if !(text.starts_with("https://") || text.starts_with("http://")) {
            return Err(format!("{text:?} is not an https:// (or http://) URL"));
        }
        let (Some(open), Some(close)) = (text.find('{'), text.find('}')) else {
            return Err(format!(
                "{text:?} has no placeholder: write the tenant's place as {{tid}} (the claim that holds it)"
            ));
        };
        let claim = &text[open + 1..close.max(open + 1)];
        let rest = &text[close + 1..];
        if close < open || rest.contains(['{', '}']) {
            return Err(format!(
                "{text:?} must have exactly one {{name}} placeholder and no other brace"
            ));
        }
        if claim.is_empty()
            || !claim
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
        {
            return Err(format!(
                "{text:?}: the placeholder names the claim that holds the tenant, e.g. {{tid}} (letters, digits, _ or -)"
            ));
        }
        Ok(IssuerTemplate {
            text: text.to_owned(),
            prefix: text[..open].to_owned(),
            suffix: rest.to_owned(),
            claim: claim.to_owned(),
        })
    }

    /// The part of `iss` in the placeholder's place when `iss` starts with the prefix and
    /// ends with the suffix (leaving at least one character), tenant or not.
    pub fn placeholder_of<'i>(&self, iss: &'i str) -> Option<&'i str> {
        let end = iss.len().checked_sub(self.suffix.len())?;
        if end <= self.prefix.len()
            || !iss.starts_with(&self.prefix)
            || !iss.ends_with(&self.suffix)
        {
            return None;
        }
        // Both ends are ASCII-delimited by the matched literals, so these are char bounds.
        iss.get(self.prefix.len()..end)
    }

    /// The tenant `iss` names, when `iss` is this template with a tenant in its place.
    pub fn tenant_of<'i>(&self, iss: &'i str) -> Option<&'i str> {
        self.placeholder_of(iss).filter(|t| is_tenant(t))
    }

    /// The issuer this template gives for `tenant`.
    pub fn issuer_for(&self, tenant: &str) -> String {
        format!("{}{tenant}{}", self.prefix, self.suffix)
    }
}

/// The tenants a provider's templates admit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tenants {
    /// Every tenant (`tenants: any`).
    Any,
    Only(BTreeSet<String>),
}

impl Tenants {
    pub fn allows(&self, tenant: &str) -> bool {
        match self {
            Tenants::Any => true,
            Tenants::Only(list) => list.contains(tenant),
        }
    }

    /// `any` or `[a, b]`, as `check-config`, `/status` and `explain` show it.
    pub fn describe(&self) -> String {
        match self {
            Tenants::Any => "any".to_owned(),
            Tenants::Only(list) => format!("[{}]", Vec::from_iter(list.iter().cloned()).join(", ")),
        }
    }
}

/// A provider's issuer templates and the tenants they admit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenancy {
    pub templates: Vec<IssuerTemplate>,
    pub tenants: Tenants,
}

/// An `iss` one template matched: the template and the tenant in its place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TenantMatch<'s, 'i> {
    pub template: &'s IssuerTemplate,
    pub tenant: &'i str,
}

impl Tenancy {
    /// The templates as written.
    pub fn texts(&self) -> Vec<&str> {
        self.templates.iter().map(|t| t.text.as_str()).collect()
    }

    /// The template that trusts `iss`: its shape, with an admitted tenant. At most one
    /// does (compile refuses templates that could both match).
    pub fn accepts<'s, 'i>(&'s self, iss: &'i str) -> Option<TenantMatch<'s, 'i>> {
        self.shaped(iss).filter(|m| self.tenants.allows(m.tenant))
    }

    /// The template whose shape `iss` has, whatever `tenants` says (for diagnostics).
    pub fn shaped<'s, 'i>(&'s self, iss: &'i str) -> Option<TenantMatch<'s, 'i>> {
        self.templates.iter().find_map(|template| {
            template
                .tenant_of(iss)
                .map(|tenant| TenantMatch { template, tenant })
        })
    }

    /// How `explain` shows one template: `T (tid in [a, b], and the tid claim equal)`.
    pub fn describe(&self, template: &IssuerTemplate) -> String {
        let claim = &template.claim;
        let tenants = match &self.tenants {
            Tenants::Any => format!("any {claim}"),
            list => format!("{claim} in {}", list.describe()),
        };
        format!("{} ({tenants}, and the {claim} claim equal)", template.text)
    }
}

impl TenantMatch<'_, '_> {
    /// The token's claim named by the placeholder repeats the tenant of its `iss`: present
    /// (not `null`), a string, and equal — else the token names two tenants and is refused.
    pub fn check_claim(&self, claims: &Map<String, Value>) -> Result<(), Reason> {
        match claims.get(&self.template.claim) {
            None | Some(Value::Null) => Err(Reason::IssuerNotTrusted),
            Some(Value::String(value)) if value == self.tenant => Ok(()),
            Some(Value::String(_)) => Err(Reason::IssuerNotTrusted),
            Some(_) => Err(Reason::ClaimMalformed),
        }
    }
}

impl Provider {
    /// Every issuer rule of this provider as `explain` lists it: literal issuers, then
    /// templates with their tenants.
    pub fn trusted_issuers(&self) -> Vec<String> {
        let templates = self
            .tenancy
            .iter()
            .flat_map(|t| t.templates.iter().map(|template| t.describe(template)));
        self.issuers.iter().cloned().chain(templates).collect()
    }
}

impl Snapshot {
    /// The provider that trusts `iss` — by its exact literal issuer, or by a template with
    /// an admitted tenant (then with that match, whose claim the caller must check) —
    /// whichever route asks. Compile made the rules disjoint, so the first found is the only
    /// one; literal issuers are looked up first, in one hash lookup.
    pub fn issuer_owner<'s, 'i>(
        &'s self,
        iss: &'i str,
    ) -> Option<(usize, Option<TenantMatch<'s, 'i>>)> {
        if let Some(&index) = self.by_issuer.get(iss) {
            return Some((index, None));
        }
        self.providers.iter().enumerate().find_map(|(index, p)| {
            let found = p.tenancy.as_ref()?.accepts(iss)?;
            Some((index, Some(found)))
        })
    }
}

/// How an allowed provider's template nearly trusts an `iss` that nothing trusts.
#[derive(Debug, Clone, Copy)]
pub enum NearTenant<'s, 'i> {
    /// The shape fits, but the tenant is not in `tenants`.
    Unlisted(&'s Provider, TenantMatch<'s, 'i>),
    /// Prefix and suffix fit, but the part between is no tenant (a `/`, empty, …).
    NotATenant(&'s IssuerTemplate, &'i str),
}

impl Snapshot {
    /// For diagnostics: the first template of a provider `allowed` admits that nearly trusts
    /// `iss` (see [`NearTenant`]).
    pub fn near_tenant<'s, 'i>(
        &'s self,
        allowed: &crate::snapshot::ProviderSet,
        iss: &'i str,
    ) -> Option<NearTenant<'s, 'i>> {
        let templated = self
            .providers
            .iter()
            .enumerate()
            .filter(|(i, _)| allowed.allows(*i))
            .filter_map(|(_, p)| Some((p, p.tenancy.as_ref()?)));
        for (p, tenancy) in templated {
            if let Some(m) = tenancy.shaped(iss) {
                return Some(NearTenant::Unlisted(p, m));
            }
            if let Some((t, part)) = tenancy
                .templates
                .iter()
                .find_map(|t| Some((t, t.placeholder_of(iss)?)))
            {
                return Some(NearTenant::NotATenant(t, part));
            }
        }
        None
    }
}

/// A shortest issuer that both templates' shapes admit (their tenant lists aside), if any.
///
/// Each shape is a small automaton — prefix characters, then one or more tenant
/// characters, then suffix characters — and this searches their product breadth first, so
/// the answer is exact for the tenant character set and never a guess from prefixes. Only
/// the length cap and the `.`/`..` rule are left out, which can only report an overlap
/// that no real tenant reaches (a refused config, never an ambiguous one).
pub fn common_issuer(a: &IssuerTemplate, b: &IssuerTemplate) -> Option<String> {
    let (a, b) = (Shape::of(a), Shape::of(b));
    let width = b.states();
    // For each product state reached: the state it was reached from and the byte read.
    let mut from: Vec<Option<(usize, u8)>> = vec![None; a.states() * width];
    let mut queue = VecDeque::from([0]);
    from[0] = Some((0, 0));
    let (mut next_a, mut next_b) = (Vec::new(), Vec::new());
    // Letters first, so the example shown in an error reads like a tenant.
    let bytes = (b'a'..=b'z').chain((0..=255).filter(|b: &u8| !b.is_ascii_lowercase()));
    let bytes: Vec<u8> = bytes.collect();
    while let Some(state) = queue.pop_front() {
        let (sa, sb) = (state / width, state % width);
        if a.accepting(sa) && b.accepting(sb) {
            let mut text = Vec::new();
            let mut at = state;
            while at != 0 {
                let (prev, byte) = from[at].unwrap_or((0, 0));
                text.push(byte);
                at = prev;
            }
            text.reverse();
            return Some(String::from_utf8_lossy(&text).into_owned());
        }
        for &byte in &bytes {
            a.next(sa, byte, &mut next_a);
            b.next(sb, byte, &mut next_b);
            for &na in &next_a {
                for &nb in &next_b {
                    let to = na * width + nb;
                    if from[to].is_none() {
                        from[to] = Some((state, byte));
                        queue.push_back(to);
                    }
                }
            }
        }
    }
    None
}

/// A template's shape as an automaton. States: `0..=p` (prefix characters read; at `p` a
/// tenant character is due), `p + 1` (one or more tenant characters read), and `p + 1 + j`
/// (then `j` suffix characters read); accepting once the whole suffix is read.
struct Shape<'t> {
    prefix: &'t [u8],
    suffix: &'t [u8],
}

impl<'t> Shape<'t> {
    fn of(template: &'t IssuerTemplate) -> Shape<'t> {
        Shape {
            prefix: template.prefix.as_bytes(),
            suffix: template.suffix.as_bytes(),
        }
    }

    fn states(&self) -> usize {
        self.prefix.len() + self.suffix.len() + 2
    }

    fn hole(&self) -> usize {
        self.prefix.len() + 1
    }

    fn accepting(&self, state: usize) -> bool {
        state == self.hole() + self.suffix.len()
    }

    /// The states reached from `state` on `byte`, into `out` (cleared first).
    fn next(&self, state: usize, byte: u8, out: &mut Vec<usize>) {
        out.clear();
        let (p, hole) = (self.prefix.len(), self.hole());
        if state < p {
            if self.prefix[state] == byte {
                out.push(state + 1);
            }
            return;
        }
        if (state == p || state == hole) && is_tenant_byte(byte) {
            out.push(hole);
        }
        let read = state.wrapping_sub(hole);
        if state >= hole && self.suffix.get(read) == Some(&byte) {
            out.push(state + 1);
        }
    }
}

#[cfg(test)]
#[path = "tests_tenants.rs"]
mod tests;
