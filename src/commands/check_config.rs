//! `check-config`: the compiled config summed up, one line per provider (issuers, tenants,
//! audiences, usable and skipped keys, clock skew, and the sender-constraint settings when
//! they are not the defaults), per route (who may call it, what the token must carry) and
//! per `scope_implies` entry, and the trusted certificate sources.

use crate::algorithm::Algorithm;
use crate::config::{self, ConfigError};
use crate::snapshot::{ResourceId, Snapshot};
use std::path::Path;

/// One line per provider: issuers (and templates with their tenants), audiences, usable keys
/// by kid/alg, skipped keys and why.
pub fn check_config(path: &Path) -> Result<String, ConfigError> {
    config::load(path).map(|snapshot| summary(path, &snapshot))
}

fn summary(path: &Path, snapshot: &Snapshot) -> String {
    let mut out = format!(
        "{}: ok, {} provider(s)\n",
        path.display(),
        snapshot.providers.len()
    );
    for p in &snapshot.providers {
        let keys: Vec<String> = p
            .keys
            .keys()
            .iter()
            .map(|k| {
                format!(
                    "{}({})",
                    k.kid().unwrap_or("no-kid"),
                    k.algorithms()
                        .map(Algorithm::name)
                        .collect::<Vec<_>>()
                        .join(",")
                )
            })
            .collect();
        let skipped: Vec<String> = p
            .keys
            .skipped()
            .iter()
            .map(|s| format!("{}: {}", s.kid.as_deref().unwrap_or("no-kid"), s.why))
            .collect();
        // Only for a provider with templates, so other lines read as they always did.
        let templates = p.tenancy.as_ref().map_or_else(String::new, |t| {
            format!(
                " issuer_templates [{}] tenants {}",
                t.texts().join(", "),
                t.tenants.describe()
            )
        });
        // Only for a provider that names `dpop:`, likewise.
        let dpop = &p.dpop;
        let dpop = if dpop.advertise {
            let algs: Vec<&str> = dpop.algorithms.iter().map(|a| a.name()).collect();
            let nonce = dpop
                .nonce
                .map_or_else(String::new, |n| format!(" nonce {}s", n.as_secs()));
            let mode = dpop.mode.name();
            format!(
                " dpop {mode} algs [{}] max_age {}s{nonce}",
                algs.join(" "),
                dpop.max_age.as_secs()
            )
        } else {
            String::new()
        };
        let mtls = match p.mtls_binding {
            crate::snapshot::MtlsBinding::Allowed => String::new(),
            other => format!(" mtls_binding {}", other.name()),
        };
        out.push_str(&format!(
            "provider {}: issuers [{}]{templates} audiences [{}] keys [{}] skipped [{}] clock_skew {}s{dpop}{mtls}\n",
            p.name,
            p.issuers.join(", "),
            p.audiences.iter().cloned().collect::<Vec<_>>().join(", "),
            keys.join(" "),
            skipped.join("; "),
            p.clock_skew.as_secs(),
        ));
    }
    let requirements = snapshot
        .routes
        .iter()
        .enumerate()
        .map(|(i, r)| {
            (
                r.name.clone().unwrap_or_else(|| format!("routes[{i}]")),
                &r.requirement,
            )
        })
        .chain(std::iter::once((
            "default".to_owned(),
            &snapshot.default_requirement,
        )));
    for (label, r) in requirements {
        out.push_str(&route_summary(snapshot, &label, r));
    }
    if let Some(certificates) = &snapshot.client_certificates {
        let sources: Vec<String> = certificates
            .trusted_sources
            .iter()
            .map(ToString::to_string)
            .collect();
        out.push_str(&format!(
            "client certificates: header {} from [{}]\n",
            certificates.header,
            sources.join(", ")
        ));
    }
    for (scope, implied) in snapshot.scope_implies.iter() {
        let implied: Vec<&str> = implied.collect();
        out.push_str(&format!("scope {scope} implies [{}]\n", implied.join(", ")));
    }
    out
}

/// One line per route: who may call it and what the token must carry.
fn route_summary(snapshot: &Snapshot, label: &str, r: &crate::snapshot::Requirement) -> String {
    let providers = match &r.providers {
        crate::snapshot::ProviderSet::Any => "any".to_owned(),
        crate::snapshot::ProviderSet::Only(list) => {
            let names: Vec<&str> = list
                .iter()
                .map(|i| snapshot.providers[*i].name.as_str())
                .collect();
            format!("[{}]", names.join(", "))
        }
    };
    let mut line = format!("route {label}: providers {providers}");
    if r.allow_anonymous {
        line.push_str(" anonymous");
    }
    if !r.scopes.is_empty() {
        line.push_str(&format!(" scopes [{}]", r.scopes.join(" ")));
    }
    if let Some(audiences) = &r.audiences {
        let list: Vec<&str> = audiences.iter().map(String::as_str).collect();
        line.push_str(&format!(" audiences [{}]", list.join(", ")));
    }
    if !r.step_up.acr_values.is_empty() {
        line.push_str(&format!(" acr_values [{}]", r.step_up.acr_values.join(" ")));
    }
    if let Some(age) = r.step_up.max_age {
        line.push_str(&format!(" max_age {}s", age.as_secs()));
    }
    match r.resource.as_ref().map(|resource| &resource.id) {
        Some(ResourceId::Fixed { url, .. }) => line.push_str(&format!(" resource {url}")),
        Some(ResourceId::Auto { path }) => {
            line.push_str(&format!(" resource auto (<scheme>://<host>{path})"));
        }
        None => {}
    }
    line + "\n"
}
