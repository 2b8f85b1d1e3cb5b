//! The debug page's denials table: for each recent denial, the `iss`, `aud`, `kid`, `alg`
//! and `typ` the token carried, each beside what its provider accepts — green when
//! accepted, else the nearest expected value with both strings' differing characters marked
//! and the kind of difference named ([`crate::admin::diff`]).

use super::{PageData, utc};
use crate::admin::diff::{self, Kind};
use crate::admin::html::Html;
use crate::algorithm::Algorithm;
use crate::observe::DenialRecord;
use crate::snapshot::{Provider, Snapshot};
use crate::token::verify::{Observed, type_allowed};

/// The recent denials, one row each.
pub(super) fn table(h: &mut Html, data: &PageData<'_>) {
    h.raw("<h2>Recent denials</h2><p>")
        .text(&format!("{} kept, newest first. ", data.denials.len()))
        .raw("Each value the token carried is beside what the provider expects; ")
        .raw("<mark>marked</mark> characters are where they differ.</p>")
        .raw("<table id=\"denials\"><tr><th>time</th><th>reason</th><th>route / provider</th>")
        .raw("<th>iss</th><th>aud</th><th>kid</th><th>alg</th><th>typ</th></tr>");
    for record in data.denials {
        h.raw("<tr class=\"denial\"><td>")
            .text(&utc(record.time))
            .element("</td><td><b>", record.reason, "</b><br>")
            .text(&record.status.to_string())
            .raw("</td><td>")
            .text(record.route.as_deref().unwrap_or("—"))
            .raw("<br>");
        let provider = provider_of(data.snapshot, record);
        match (&record.provider, provider) {
            (Some(name), _) => h.text(name),
            (None, Some(nearest)) => h.element("<small>none; nearest</small> ", &nearest.name, ""),
            (None, None) => h.raw("<small>none</small>"),
        };
        h.raw("</td>");
        if *record.observed == Observed::default() {
            h.raw(
                "<td colspan=\"5\" class=\"muted\">no token fields: none sent, or not a JWT</td>",
            );
        } else {
            for field in fields(data.snapshot, record, provider) {
                cell(h, &field);
            }
        }
        h.raw("</tr>");
    }
    h.raw("</table>");
}

/// One observed field and what the provider accepts for it.
struct Field<'a> {
    observed: Vec<&'a str>,
    expected: Vec<&'a str>,
    accepted: bool,
}

/// A provider's literal issuers and issuer templates.
fn issuers(p: &Provider) -> impl Iterator<Item = &str> {
    let templates = p.tenancy.iter().flat_map(|t| t.texts());
    p.issuers.iter().map(String::as_str).chain(templates)
}

/// The provider the denial names or, for an untrusted `iss`, the one whose issuer is
/// nearest (unless nothing is alike).
fn provider_of<'a>(snapshot: &'a Snapshot, record: &DenialRecord) -> Option<&'a Provider> {
    if let Some(name) = &record.provider {
        return snapshot.providers.iter().find(|p| &p.name == name);
    }
    let iss = record.observed.iss.as_deref()?;
    let all = snapshot
        .providers
        .iter()
        .flat_map(|p| issuers(p).map(move |i| (i, p)));
    let (p, kind) = all
        .map(|(i, p)| (p, diff::compare(i, iss).kind))
        .min_by_key(|(_, k)| *k)?;
    (kind < Kind::Other).then_some(p)
}

/// The five fields of a denial, against `provider`'s expectations.
fn fields<'a>(
    snapshot: &'a Snapshot,
    record: &'a DenialRecord,
    provider: Option<&'a Provider>,
) -> [Field<'a>; 5] {
    let o = &record.observed;
    let iss_expected: Vec<&str> = match provider {
        Some(p) => issuers(p).collect(),
        None => snapshot.providers.iter().flat_map(issuers).collect(),
    };
    let route = record.route.as_deref().and_then(|n| {
        snapshot
            .routes
            .iter()
            .find(|r| r.name.as_deref() == Some(n))
    });
    let audiences = route
        .and_then(|r| r.requirement.audiences.as_ref())
        .or(provider.map(|p| &p.audiences));
    let audiences: Vec<&str> = audiences
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect();
    let kids: Vec<&str> = provider.map_or_else(Vec::new, |p| {
        p.keys.keys().iter().filter_map(|k| k.kid()).collect()
    });
    let algorithms: Vec<&str> = provider.map_or_else(Vec::new, |p| {
        p.algorithms.iter().map(Algorithm::name).collect()
    });
    let types: Vec<&str> = match provider.and_then(|p| p.token_types.as_ref()) {
        Some(list) => list.iter().map(String::as_str).collect(),
        None => vec!["JWT", "at+jwt", "(absent)"],
    };
    let one = |v: &'a Option<String>| v.as_deref().into_iter().collect::<Vec<_>>();
    [
        Field {
            accepted: o
                .iss
                .as_deref()
                .is_some_and(|i| snapshot.issuer_owner(i).is_some()),
            observed: one(&o.iss),
            expected: iss_expected,
        },
        Field {
            accepted: o.aud.iter().any(|a| audiences.contains(&a.as_str())),
            observed: o.aud.iter().map(String::as_str).collect(),
            expected: audiences,
        },
        Field {
            accepted: o
                .kid
                .as_deref()
                .map_or(record.reason != "kid_required", |k| kids.contains(&k)),
            observed: one(&o.kid),
            expected: kids,
        },
        Field {
            accepted: provider.is_some_and(|p| {
                o.alg
                    .as_deref()
                    .and_then(Algorithm::from_name)
                    .is_some_and(|a| p.algorithms.contains(a))
            }),
            observed: one(&o.alg),
            expected: algorithms,
        },
        Field {
            accepted: provider.is_some_and(|p| type_allowed(p, o.typ.as_deref())),
            observed: one(&o.typ),
            expected: types,
        },
    ]
}

/// An accepted value in green; a refused one with its nearest expected value, both marked.
fn cell(h: &mut Html, field: &Field<'_>) {
    if field.accepted || field.expected.is_empty() {
        h.raw(if field.accepted {
            "<td class=\"v ok\">"
        } else {
            "<td class=\"v\">"
        });
        values(h, &field.observed);
        h.raw(if field.accepted {
            " ✓</td>"
        } else {
            "<br><small>nothing to compare with</small></td>"
        });
        return;
    }
    h.raw("<td class=\"v bad\">");
    if field.observed.is_empty() {
        h.raw("<span class=\"muted\">(absent)</span>");
    }
    for (i, observed) in field.observed.iter().enumerate() {
        if i > 0 {
            h.raw("<hr>");
        }
        if let Some((expected, d)) = diff::closest(field.expected.iter().copied(), observed) {
            h.raw("<span class=\"observed\">")
                .marked(observed, d.observed)
                .raw("</span><br><small>expected </small><span class=\"expected\">")
                .marked(expected, d.expected)
                .raw("</span>")
                .element("<span class=\"kind\">", d.kind.label(), "</span>");
        }
    }
    if field.expected.len() > 1 {
        h.raw("<br><small>one of: ")
            .text(&field.expected.join(", "))
            .raw("</small>");
    }
    h.raw("</td>");
}

fn values(h: &mut Html, observed: &[&str]) {
    match observed {
        [] => h.raw("<span class=\"muted\">(absent)</span>"),
        values => h.text(&values.join(", ")),
    };
}
