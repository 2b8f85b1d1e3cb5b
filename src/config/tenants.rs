//! Compiling a provider's issuer templates (`issuer_template` / `issuer_templates` with
//! `tenants`), and the whole-file rule that keeps provider selection unambiguous: no `iss`
//! can be matched by two issuer rules — two literal issuers, a literal issuer and a
//! template, or two templates — whichever providers they belong to.
//!
//! What "can be matched" means: a literal issuer is one `iss`; a template with a tenant list
//! is the issuers it gives for those tenants (checked one by one); a template with
//! `tenants: any` is every `iss` of its shape. Two `any` templates are compared by their
//! shapes exactly (`snapshot::common_issuer`), not by a guess from their prefixes.

use super::compile::Compiler;
use super::error::ConfigError;
use super::file::{ProviderFile, TenantsFile};
use crate::snapshot::{IssuerTemplate, Provider, TENANT_CHARSET, Tenancy, Tenants, common_issuer};
use crate::snapshot::{TenantMatch, is_tenant};
use std::collections::HashMap;

impl Compiler<'_> {
    /// The provider's templates and tenants, or `None` when it has no template.
    pub(super) fn tenancy(
        &self,
        field: &str,
        p: &ProviderFile,
    ) -> Result<Option<Tenancy>, ConfigError> {
        let written: Vec<(String, &String)> = match (&p.issuer_template, &p.issuer_templates) {
            (None, None) => {
                return match p.tenants {
                    None => Ok(None),
                    Some(_) => Err(self.invalid(
                        format!("{field}.tenants"),
                        "applies only with `issuer_template` (or `issuer_templates`)",
                    )),
                };
            }
            (Some(one), None) => vec![(format!("{field}.issuer_template"), one)],
            (None, Some(many)) if !many.is_empty() => many
                .iter()
                .enumerate()
                .map(|(k, t)| (format!("{field}.issuer_templates[{k}]"), t))
                .collect(),
            (None, Some(_)) => {
                return Err(self.invalid(
                    format!("{field}.issuer_templates"),
                    "expected at least one template",
                ));
            }
            (Some(_), Some(_)) => {
                return Err(self.invalid(
                    format!("{field}.issuer_template"),
                    "expected one of `issuer_template` or `issuer_templates`, not both",
                ));
            }
        };
        let mut templates = Vec::with_capacity(written.len());
        for (at, text) in written {
            templates.push(IssuerTemplate::parse(text).map_err(|e| self.invalid(at, e))?);
        }
        let tenants = match &p.tenants {
            None => {
                return Err(self.invalid(
                    format!("{field}.tenants"),
                    "a template needs `tenants`: the tenant ids to trust, or `any`",
                ));
            }
            Some(TenantsFile::Any) => Tenants::Any,
            Some(TenantsFile::List(list)) if list.is_empty() => {
                return Err(self.invalid(
                    format!("{field}.tenants"),
                    "expected `any` or at least one tenant id",
                ));
            }
            Some(TenantsFile::List(list)) => {
                if let Some(k) = list.iter().position(|t| !is_tenant(t)) {
                    return Err(self.invalid(
                        format!("{field}.tenants[{k}]"),
                        format!("{:?} is not a tenant id ({TENANT_CHARSET})", list[k]),
                    ));
                }
                Tenants::Only(list.iter().cloned().collect())
            }
        };
        // The metadata of a multi-tenant IdP names a template too (Entra's /common:
        // `https://login.microsoftonline.com/{tenantid}/v2.0`), which the exact issuer check
        // of discovery cannot hold to; its key set URL is fixed, so it is written instead.
        let discovery = [
            ("jwks", p.jwks.as_ref().and_then(|j| j.discovery)),
            (
                "introspection",
                p.introspection.as_ref().and_then(|i| i.discovery),
            ),
        ];
        if let Some((block, _)) = discovery.iter().find(|(_, on)| *on == Some(true)) {
            return Err(self.invalid(
                format!("{field}.{block}.discovery"),
                "a provider with an issuer template has no single issuer whose metadata to check: write the URL (Entra: jwks.uri https://login.microsoftonline.com/common/discovery/v2.0/keys)",
            ));
        }
        Ok(Some(Tenancy { templates, tenants }))
    }

    /// Records `provider`'s literal issuers in `by_issuer` after checking that none of its
    /// issuer rules can match an `iss` that an earlier rule (of an earlier provider, or of
    /// its own) matches. The error names the later rule's field.
    pub(super) fn unique_issuers(
        &self,
        field: &str,
        p: &ProviderFile,
        provider: &Provider,
        index: usize,
        earlier: &[Provider],
        by_issuer: &mut HashMap<String, usize>,
    ) -> Result<(), ConfigError> {
        for (k, iss) in provider.issuers.iter().enumerate() {
            if let Some(other) = by_issuer.insert(iss.clone(), index) {
                return Err(self.invalid(format!("{field}.issuers"), format!("issuer {iss:?} is already trusted by providers[{other}]; each issuer belongs to one provider")));
            }
            let at = match p.issuer {
                Some(_) => format!("{field}.issuer"),
                None => format!("{field}.issuers[{k}]"),
            };
            // Its own templates too: the tenant claim rule must not depend on which applies.
            let owners = earlier.iter().enumerate().chain([(index, provider)]);
            for (j, other) in owners {
                if let Some(m) = other.tenancy.as_ref().and_then(|t| t.accepts(iss)) {
                    return Err(self.invalid(
                        at,
                        format!(
                            "issuer {iss:?} is also matched by providers[{j}]'s template {:?} (tenant {:?}); each issuer belongs to one rule",
                            m.template.text, m.tenant
                        ),
                    ));
                }
            }
        }
        let Some(tenancy) = &provider.tenancy else {
            return Ok(());
        };
        for (k, template) in tenancy.templates.iter().enumerate() {
            let at = match p.issuer_template {
                Some(_) => format!("{field}.issuer_template"),
                None => format!("{field}.issuer_templates[{k}]"),
            };
            let mine = Tenancy {
                templates: vec![template.clone()],
                tenants: tenancy.tenants.clone(),
            };
            let literals = earlier
                .iter()
                .enumerate()
                .chain([(index, provider)])
                .flat_map(|(j, o)| o.issuers.iter().map(move |iss| (j, iss)));
            for (j, iss) in literals {
                if let Some(m) = mine.accepts(iss) {
                    return Err(self.conflict(
                        at,
                        template,
                        iss,
                        m,
                        &format!("issuer of providers[{j}]"),
                    ));
                }
            }
            // Earlier templates: other providers', then this one's before `k`.
            let templates = earlier
                .iter()
                .enumerate()
                .filter_map(|(j, o)| Some((j, o.tenancy.as_ref()?)))
                .flat_map(|(j, t)| t.templates.iter().map(move |x| (j, t, x)))
                .chain(tenancy.templates[..k].iter().map(|x| (index, tenancy, x)));
            for (j, theirs, other) in templates {
                if let Some(iss) = overlap(&mine, template, theirs, other) {
                    let m = TenantMatch {
                        template,
                        tenant: template.tenant_of(&iss).unwrap_or_default(),
                    };
                    let whose = format!("template {:?} of providers[{j}]", other.text);
                    return Err(self.conflict(at, template, &iss, m, &whose));
                }
            }
        }
        Ok(())
    }

    fn conflict(
        &self,
        at: String,
        template: &IssuerTemplate,
        iss: &str,
        m: TenantMatch<'_, '_>,
        whose: &str,
    ) -> ConfigError {
        self.invalid(
            at,
            format!(
                "{:?} can match {iss:?} (tenant {:?}), as can the {whose}; each issuer belongs to one rule (remove the tenant from one, or make the templates differ)",
                template.text, m.tenant
            ),
        )
    }
}

/// An `iss` that both `a` (of `ours`) and `b` (of `theirs`) would trust, if any.
fn overlap(
    ours: &Tenancy,
    a: &IssuerTemplate,
    theirs: &Tenancy,
    b: &IssuerTemplate,
) -> Option<String> {
    let them = Tenancy {
        templates: vec![b.clone()],
        tenants: theirs.tenants.clone(),
    };
    let expand = |tenants: &Tenants, t: &IssuerTemplate, other: &Tenancy| match tenants {
        Tenants::Only(list) => Some(
            list.iter()
                .map(|tenant| t.issuer_for(tenant))
                .find(|iss| other.accepts(iss).is_some()),
        ),
        Tenants::Any => None,
    };
    // A listed side is a finite set of issuers: each is asked of the other side.
    if let Some(found) = expand(&ours.tenants, a, &them) {
        return found;
    }
    if let Some(found) = expand(&theirs.tenants, b, ours) {
        return found;
    }
    common_issuer(a, b)
}
