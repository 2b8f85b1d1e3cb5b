//! Unit tests of issuer templates in the config: the fields, their errors (each naming the
//! field path), and the refusal of any two issuer rules that can match the same `iss`.

use super::tests::{error, jwks};
use super::*;
use crate::snapshot::Tenants;
use std::path::Path;

const V2: &str = "https://login.microsoftonline.com/{tid}/v2.0";
const V1: &str = "https://sts.windows.net/{tid}/";

/// One provider `name` with these issuer lines (indented for a provider entry).
fn entry(name: &str, lines: &str) -> String {
    format!(
        "  - name: {name}\n{lines}    audiences: [a]\n    jwks: {{ inline: '{}' }}\n",
        jwks()
    )
}

fn providers(entries: &[String]) -> String {
    format!("providers:\n{}", entries.concat())
}

fn compiles(yaml: &str) -> crate::snapshot::Snapshot {
    compile_str(yaml, Path::new("c.yaml")).unwrap_or_else(|e| panic!("{e}\n{yaml}"))
}

#[test]
fn a_template_provider_compiles_with_its_tenants() {
    let snap = compiles(&providers(&[entry(
        "entra",
        &format!("    issuer_templates: ['{V2}', '{V1}']\n    tenants: [t1, t2, t1]\n"),
    )]));
    let p = &snap.providers[0];
    assert!(p.issuers.is_empty());
    let tenancy = p.tenancy.as_ref().expect("templates");
    assert_eq!(tenancy.texts(), [V2, V1]);
    assert_eq!(tenancy.tenants.describe(), "[t1, t2]");
    let snap = compiles(&providers(&[entry(
        "entra",
        &format!("    issuer: https://i.test\n    issuer_template: {V2}\n    tenants: any\n"),
    )]));
    assert_eq!(snap.providers[0].issuers, ["https://i.test"]);
    let tenancy = snap.providers[0].tenancy.as_ref().unwrap();
    assert_eq!(tenancy.tenants, Tenants::Any);
    // Another tenant list is another config (and another digest, so no cached token of
    // the old one is reused).
    let other = compiles(&providers(&[entry(
        "entra",
        &format!("    issuer: https://i.test\n    issuer_template: {V2}\n    tenants: [t1]\n"),
    )]));
    assert_ne!(snap.digest, other.digest);
}

#[test]
fn template_errors_name_the_field() {
    let one = |lines: &str| providers(&[entry("p", lines)]);
    let cases = [
        (
            one(&format!("    issuer_template: {V2}\n")),
            "providers[0].tenants: a template needs `tenants`",
        ),
        (
            one(&format!("    issuer_template: {V2}\n    tenants: []\n")),
            "providers[0].tenants: expected `any` or at least one tenant id",
        ),
        (
            one(&format!("    issuer_template: {V2}\n    tenants: all\n")),
            "providers[0].tenants: expected `any` or a list of tenant ids; got \"all\"",
        ),
        (
            one(&format!(
                "    issuer_template: {V2}\n    tenants: [t1, a/b]\n"
            )),
            "providers[0].tenants[1]: \"a/b\" is not a tenant id",
        ),
        (
            one(&format!("    issuer_template: {V2}\n    tenants: ['..']\n")),
            "providers[0].tenants[0]: \"..\" is not a tenant id",
        ),
        (
            one("    issuer: https://i.test\n    tenants: any\n"),
            "providers[0].tenants: applies only with `issuer_template`",
        ),
        (
            one("    issuer_template: https://h/common/v2.0\n    tenants: any\n"),
            "providers[0].issuer_template: \"https://h/common/v2.0\" has no placeholder",
        ),
        (
            one(&format!(
                "    issuer_templates: ['{V1}', 'https://h/{{a}}/{{b}}']\n    tenants: any\n"
            )),
            "providers[0].issuer_templates[1]: \"https://h/{a}/{b}\" must have exactly one {name} placeholder",
        ),
        (
            one("    issuer_templates: []\n    tenants: any\n"),
            "providers[0].issuer_templates: expected at least one template",
        ),
        (
            one(&format!(
                "    issuer_template: {V2}\n    issuer_templates: ['{V1}']\n    tenants: any\n"
            )),
            "providers[0].issuer_template: expected one of `issuer_template` or `issuer_templates`",
        ),
        (
            one("    tenants: any\n"),
            "providers[0].tenants: applies only with `issuer_template`",
        ),
    ];
    for (yaml, expected) in cases {
        let e = error(&yaml);
        assert!(e.contains(expected), "expected {expected:?} in {e:?}");
    }
}

#[test]
fn discovery_is_refused_beside_a_template() {
    let jwks = format!(
        "providers:\n  - name: p\n    issuer_template: {V2}\n    tenants: any\n    audiences: [a]\n    jwks: {{ discovery: true }}\n"
    );
    let e = error(&jwks);
    assert!(
        e.contains(
            "providers[0].jwks.discovery: a provider with an issuer template has no single issuer"
        ),
        "{e}"
    );
    // Also with a literal issuer beside it: the keys would serve the template too.
    let e = error(&jwks.replace("    tenants", "    issuer: https://i.test\n    tenants"));
    assert!(e.contains("providers[0].jwks.discovery"), "{e}");
    let introspection = format!(
        "providers:\n  - name: p\n    issuer_template: {V2}\n    tenants: any\n    audiences: [a]\n    introspection: {{ discovery: true, client_id: c, client_auth: none, tokens: all }}\n"
    );
    let e = error(&introspection);
    assert!(e.contains("providers[0].introspection.discovery"), "{e}");
    // Without discovery, `tokens: all` selects JWTs by the template.
    let by_endpoint =
        introspection.replace("discovery: true", "endpoint: https://idp.test/introspect");
    assert!(compiles(&by_endpoint).providers[0].tenancy.is_some());
}

#[test]
fn a_template_that_can_match_a_literal_issuer_is_refused_in_either_order() {
    let literal = |name: &str, t: &str| {
        entry(
            name,
            &format!("    issuer: https://login.microsoftonline.com/{t}/v2.0\n"),
        )
    };
    let template = |name: &str, tenants: &str| {
        entry(
            name,
            &format!("    issuer_template: {V2}\n    tenants: {tenants}\n"),
        )
    };
    let e = error(&providers(&[literal("a", "t1"), template("b", "any")]));
    assert!(e.contains("providers[1].issuer_template: \"https://login.microsoftonline.com/{tid}/v2.0\" can match \"https://login.microsoftonline.com/t1/v2.0\" (tenant \"t1\"), as can the issuer of providers[0]"), "{e}");
    let e = error(&providers(&[template("b", "[t0, t1]"), literal("a", "t1")]));
    assert!(e.contains("providers[1].issuer: issuer \"https://login.microsoftonline.com/t1/v2.0\" is also matched by providers[0]'s template"), "{e}");
    // A tenant the template does not list is no overlap: a single-tenant app of t1 beside
    // a multi-tenant one for the others.
    compiles(&providers(&[literal("a", "t1"), template("b", "[t2, t3]")]));
    compiles(&providers(&[template("b", "[t2, t3]"), literal("a", "t1")]));
    // One provider's own literal issuer and template overlap too: which rule applies (is
    // the tenant claim checked?) must not depend on lookup order.
    let own = providers(&[entry(
        "p",
        &format!(
            "    issuers: [https://i.test, https://login.microsoftonline.com/t1/v2.0]\n    issuer_template: {V2}\n    tenants: any\n"
        ),
    )]);
    let e = error(&own);
    assert!(e.contains("providers[0].issuers[1]: issuer \"https://login.microsoftonline.com/t1/v2.0\" is also matched by providers[0]'s template"), "{e}");
}

#[test]
fn two_templates_that_can_match_one_iss_are_refused() {
    let template = |name: &str, text: &str, tenants: &str| {
        entry(
            name,
            &format!("    issuer_template: '{text}'\n    tenants: {tenants}\n"),
        )
    };
    let e = error(&providers(&[
        template("a", V2, "any"),
        template(
            "b",
            "https://login.microsoftonline.com/{tenant}/v2.0",
            "any",
        ),
    ]));
    assert!(e.contains("providers[1].issuer_template: \"https://login.microsoftonline.com/{tenant}/v2.0\" can match \"https://login.microsoftonline.com/a/v2.0\""), "{e}");
    assert!(
        e.contains(&format!("as can the template {V2:?} of providers[0]")),
        "{e}"
    );
    // Shapes nested in each other overlap too.
    let e = error(&providers(&[
        template("a", V2, "any"),
        template("b", "https://login.microsoftonline.com/x{tid}/v2.0", "any"),
    ]));
    assert!(e.contains("providers[1].issuer_template"), "{e}");
    // A listed side is judged by its tenants: one shared tenant is an overlap...
    let e = error(&providers(&[
        template("a", V2, "[t1, t2]"),
        template("b", V2, "[t2, t3]"),
    ]));
    assert!(
        e.contains("can match \"https://login.microsoftonline.com/t2/v2.0\" (tenant \"t2\")"),
        "{e}"
    );
    let e = error(&providers(&[
        template("a", V2, "any"),
        template("b", V2, "[t3]"),
    ]));
    assert!(e.contains("providers[1].issuer_template"), "{e}");
    // ...disjoint lists are not, nor are shapes that differ by a path segment or host.
    compiles(&providers(&[
        template("a", V2, "[t1, t2]"),
        template("b", V2, "[t3]"),
    ]));
    compiles(&providers(&[
        template("a", V2, "any"),
        template("b", V1, "any"),
    ]));
    compiles(&providers(&[
        template("a", "https://h/t/{tid}", "any"),
        template("b", "https://h/t/{tid}/v2.0", "any"),
    ]));
    // Within one provider as well.
    let e = error(&providers(&[entry(
        "p",
        &format!("    issuer_templates: ['{V2}', '{V1}', '{V2}']\n    tenants: any\n"),
    )]));
    assert!(e.contains("providers[0].issuer_templates[2]"), "{e}");
    assert!(
        e.contains(&format!("as can the template {V2:?} of providers[0]")),
        "{e}"
    );
}
