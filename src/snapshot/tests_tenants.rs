//! Unit tests of issuer templates: parsing, whole-`iss` matching (no prefix, suffix or
//! pattern matching; the tenant character set), tenant lists, the tenant claim rule, and
//! the exact shape overlap that compile's ambiguity check relies on.

use super::*;
use serde_json::json;

const V2: &str = "https://login.microsoftonline.com/{tid}/v2.0";
const V1: &str = "https://sts.windows.net/{tid}/";
const T1: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

fn template(text: &str) -> IssuerTemplate {
    IssuerTemplate::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn tenancy(texts: &[&str], tenants: Tenants) -> Tenancy {
    Tenancy {
        templates: texts.iter().map(|t| template(t)).collect(),
        tenants,
    }
}

fn only(list: &[&str]) -> Tenants {
    Tenants::Only(list.iter().map(|t| (*t).to_owned()).collect())
}

#[test]
fn a_template_matches_the_whole_iss_with_a_tenant_in_its_place() {
    let v2 = template(V2);
    assert_eq!(v2.claim, "tid");
    let iss = format!("https://login.microsoftonline.com/{T1}/v2.0");
    assert_eq!(v2.tenant_of(&iss), Some(T1));
    assert_eq!(v2.issuer_for(T1), iss);
    assert_eq!(
        template(V1).tenant_of(&format!("https://sts.windows.net/{T1}/")),
        Some(T1)
    );
    // Anything before, after or instead of the literals is another issuer.
    for other in [
        format!("https://evil.test/https://login.microsoftonline.com/{T1}/v2.0"),
        format!("https://login.microsoftonline.com/{T1}/v2.0/"),
        format!("https://login.microsoftonline.com/{T1}/v2.0x"),
        format!("https://login.microsoftonline.com/{T1}/v2"),
        format!("http://login.microsoftonline.com/{T1}/v2.0"),
        format!("https://LOGIN.microsoftonline.com/{T1}/v2.0"),
        format!("https://sts.windows.net/{T1}"),
        "https://login.microsoftonline.com/v2.0".to_owned(),
    ] {
        assert_eq!(v2.tenant_of(&other), None, "{other}");
    }
}

#[test]
fn the_tenant_is_non_empty_without_slash_dot_segments_or_other_characters() {
    let v2 = template(V2);
    let with = |t: &str| format!("https://login.microsoftonline.com/{t}/v2.0");
    for bad in [
        "", "a/b", "/", "..", ".", "a b", "a%2fb", "a?b", "a#b", "a:b", "a@b", "é", "{tid}",
    ] {
        assert_eq!(v2.tenant_of(&with(bad)), None, "{bad:?}");
    }
    // The part in the placeholder's place is still shown for diagnostics.
    assert_eq!(v2.placeholder_of(&with("a/b")), Some("a/b"));
    assert_eq!(v2.placeholder_of(&with("")), None);
    for good in ["contoso.onmicrosoft.com", "a", "A-Z_0.9", "..."] {
        assert_eq!(v2.tenant_of(&with(good)), Some(good), "{good:?}");
    }
    assert!(is_tenant(&"a".repeat(MAX_TENANT_CHARS)));
    assert!(!is_tenant(&"a".repeat(MAX_TENANT_CHARS + 1)));
}

#[test]
fn templates_that_are_not_one_placeholder_in_a_url_are_refused() {
    for (text, expected) in [
        ("login.microsoftonline.com/{tid}/v2.0", "is not an https://"),
        (
            "https://login.microsoftonline.com/common/v2.0",
            "has no placeholder",
        ),
        ("https://h/{tid}/{tid}", "exactly one {name} placeholder"),
        ("https://h/{tid}}", "exactly one {name} placeholder"),
        ("https://h/}{tid}", "exactly one {name} placeholder"),
        ("https://h/{}/v2.0", "names the claim"),
        ("https://h/{t.id}/v2.0", "names the claim"),
        ("https://h/{{tid}/v2.0", "names the claim"),
    ] {
        let e = IssuerTemplate::parse(text).expect_err(text);
        assert!(e.contains(expected), "{text}: {e}");
    }
    assert_eq!(template("https://{tenant}.idp.test/").claim, "tenant");
    let long = format!("https://h/{{tid}}/{}", "a".repeat(MAX_TEMPLATE_CHARS));
    let e = IssuerTemplate::parse(&long).expect_err("too long");
    assert!(e.contains("longer than 256 characters"), "{e}");
    assert!(IssuerTemplate::parse(&long[..MAX_TEMPLATE_CHARS]).is_ok());
}

#[test]
fn a_tenant_list_admits_only_its_tenants_and_any_admits_every_tenant() {
    let listed = tenancy(&[V2, V1], only(&[T1, "t2"]));
    let v1 = format!("https://sts.windows.net/{T1}/");
    let found = listed.accepts(&v1).expect("listed");
    assert_eq!((found.template.text.as_str(), found.tenant), (V1, T1));
    assert!(
        listed
            .accepts("https://login.microsoftonline.com/t2/v2.0")
            .is_some()
    );
    assert!(
        listed
            .accepts("https://login.microsoftonline.com/t3/v2.0")
            .is_none()
    );
    // The shape alone still says which template and tenant it was.
    assert_eq!(
        listed
            .shaped("https://login.microsoftonline.com/t3/v2.0")
            .map(|m| m.tenant),
        Some("t3")
    );
    let any = tenancy(&[V2], Tenants::Any);
    assert!(
        any.accepts("https://login.microsoftonline.com/t3/v2.0")
            .is_some()
    );
    assert!(
        any.accepts("https://login.microsoftonline.com/t/3/v2.0")
            .is_none()
    );
    assert_eq!(listed.tenants.describe(), format!("[{T1}, t2]"));
    assert_eq!(Tenants::Any.describe(), "any");
}

#[test]
fn the_tenant_claim_must_be_present_a_string_and_equal() {
    let t = tenancy(&[V2], Tenants::Any);
    let iss = format!("https://login.microsoftonline.com/{T1}/v2.0");
    let found = t.accepts(&iss).unwrap();
    let claims = |tid: serde_json::Value| {
        json!({ "iss": iss, "tid": tid })
            .as_object()
            .unwrap()
            .clone()
    };
    assert_eq!(found.check_claim(&claims(json!(T1))), Ok(()));
    for (tid, reason) in [
        (json!("t2"), Reason::IssuerNotTrusted),
        (json!(T1.to_uppercase()), Reason::IssuerNotTrusted),
        (json!(null), Reason::IssuerNotTrusted),
        (json!(5), Reason::ClaimMalformed),
        (json!([T1]), Reason::ClaimMalformed),
    ] {
        assert_eq!(
            found.check_claim(&claims(tid.clone())),
            Err(reason),
            "{tid}"
        );
    }
    let absent = json!({ "iss": iss }).as_object().unwrap().clone();
    assert_eq!(found.check_claim(&absent), Err(Reason::IssuerNotTrusted));
}

#[test]
fn common_issuer_finds_exactly_the_shapes_that_overlap() {
    let overlap = |a: &str, b: &str| common_issuer(&template(a), &template(b));
    // The same shape, whatever the claim is called.
    assert_eq!(
        overlap(V2, "https://login.microsoftonline.com/{tenant}/v2.0").as_deref(),
        Some("https://login.microsoftonline.com/a/v2.0")
    );
    // One placeholder can hold what the other template writes literally.
    let found = overlap(V2, "https://login.microsoftonline.com/x{tid}/v2.0").unwrap();
    assert!(template(V2).tenant_of(&found).is_some(), "{found}");
    assert!(overlap("https://h/{a}", "https://h/{b}x").is_some());
    assert!(overlap("https://h/a{x}", "https://h/{y}b").is_some());
    // Disjoint: different hosts, or the extra part would need a `/` in a tenant.
    assert_eq!(overlap(V2, V1), None);
    assert_eq!(overlap("https://h/t/{a}", "https://h/t/{b}/v2.0"), None);
    assert_eq!(overlap("https://h/{a}/v2.0", "https://h/{b}/x/v2.0"), None);
    assert_eq!(overlap("https://h/{a}/", "https://h/{b}/v2.0"), None);
    assert_eq!(overlap("https://{a}.h.test/", "https://h.test/{b}/"), None);
}

#[test]
fn provider_selection_looks_at_literals_then_templates() {
    let yaml = format!(
        "providers:
  - name: literal
    issuer: https://login.microsoftonline.com/{T1}/v2.0
    audiences: [a]
    jwks: {{ inline: '{jwks}' }}
  - name: entra
    issuer_template: {V2}
    tenants: any
    audiences: [a]
    jwks: {{ inline: '{jwks}' }}
",
        jwks = json!({"keys": [crate::mint::test_keys::ec(crate::algorithm::Algorithm::Es256, "k1").public_jwk()]})
    );
    // Refused: the literal issuer is also the template's for T1 with `any`.
    assert!(crate::config::compile_str(&yaml, std::path::Path::new("c.yaml")).is_err());
    let yaml = yaml.replace("tenants: any", "tenants: [t2]");
    let snap = crate::config::compile_str(&yaml, std::path::Path::new("c.yaml")).unwrap();
    let owner = |iss: &str| {
        snap.issuer_owner(iss)
            .map(|(i, m)| (i, m.map(|m| m.tenant.to_owned())))
    };
    let lit = format!("https://login.microsoftonline.com/{T1}/v2.0");
    assert_eq!(owner(&lit), Some((0, None)));
    assert_eq!(
        owner("https://login.microsoftonline.com/t2/v2.0"),
        Some((1, Some("t2".to_owned())))
    );
    assert_eq!(owner("https://login.microsoftonline.com/t3/v2.0"), None);
    assert_eq!(
        snap.providers[1].trusted_issuers(),
        [format!("{V2} (tid in [t2], and the tid claim equal)")]
    );
}
