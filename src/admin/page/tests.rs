//! Unit tests of the debug page: the marked differences of each kind of denial, the nearest
//! provider of an untrusted issuer, escaping of hostile values, and the time formats.

use super::*;
use crate::config::compile_str;
use crate::mint::test_keys;
use crate::token::verify::Observed;
use std::path::Path;

fn snapshot() -> Snapshot {
    let jwks =
        |kid| serde_json::json!({"keys": [test_keys::ec(Algorithm::Es256, kid).public_jwk()]});
    let yaml = format!(
        "providers:\n  - name: okta\n    issuer: https://issuer.test/oauth2/default\n    audiences: [api://orders]\n    jwks: {{ inline: '{}' }}\n  - name: entra\n    issuer: https://login.example.com/t\n    audiences: [api://billing]\n    jwks: {{ inline: '{}' }}\n",
        jwks("ec-1"),
        jwks("ms-1"),
    );
    compile_str(&yaml, Path::new("t.yaml")).unwrap()
}

fn denial(
    reason: &'static str,
    provider: Option<&str>,
    iss: &str,
    aud: &[&str],
    kid: &str,
) -> DenialRecord {
    DenialRecord {
        time: 1_800_000_000,
        reason,
        status: 401,
        route: None,
        provider: provider.map(str::to_owned),
        observed: std::sync::Arc::new(Observed {
            iss: Some(iss.to_owned()),
            aud: aud.iter().map(|a| (*a).to_owned()).collect(),
            kid: Some(kid.to_owned()),
            alg: Some("ES256".to_owned()),
            typ: Some("JWT".to_owned()),
        }),
    }
}

fn page(denials: &[DenialRecord]) -> String {
    let snapshot = snapshot();
    render(&PageData {
        snapshot: &snapshot,
        ready: true,
        reports: &[],
        reloads: (1, 0),
        last_reload: Some(LastReload {
            at: UNIX_EPOCH + Duration::from_secs(1_800_000_000 - 90),
            result: Ok(vec!["provider okta changed".to_owned()]),
        }),
        denials,
        now: UNIX_EPOCH + Duration::from_secs(1_800_000_000),
    })
}

const ISS: &str = "https://issuer.test/oauth2/default";

#[test]
fn each_denial_marks_what_differs_from_what_its_provider_expects() {
    let html = page(&[
        denial(
            "audience_not_allowed",
            Some("okta"),
            ISS,
            &["api://orders/"],
            "ec-1",
        ),
        denial(
            "issuer_not_trusted",
            None,
            "https://Issuer.test/oauth2/default",
            &["api://orders"],
            "ec-1",
        ),
        denial(
            "key_not_found",
            Some("okta"),
            ISS,
            &["api://orders"],
            "ec-9",
        ),
        denial(
            "issuer_not_trusted",
            None,
            "https://login.staging.example.com/t",
            &["api://billing"],
            "ms-1",
        ),
    ]);
    for expected in [
        // Trailing slash: the observed slash marked, a gap where the expected lacks it.
        "<span class=\"observed\">api://orders<mark>/</mark></span><br><small>expected </small>\
         <span class=\"expected\">api://orders<mark class=\"gap\" title=\"missing here\"></mark></span>\
         <span class=\"kind\">trailing slash</span>",
        // Case: the untrusted issuer's nearest provider is okta, so its aud and kid are fine.
        "<span class=\"observed\">https://<mark>I</mark>ssuer.test/oauth2/default</span>",
        "<span class=\"kind\">letter case</span>",
        "<small>none; nearest</small> okta",
        "<small>none; nearest</small> entra",
        "<td class=\"v ok\">api://orders ✓</td><td class=\"v ok\">ec-1 ✓</td>",
        // Unknown kid.
        "<span class=\"observed\">ec-<mark>9</mark></span><br><small>expected </small>\
         <span class=\"expected\">ec-<mark>1</mark></span><span class=\"kind\">different value</span>",
        // Staging host vs the prod one.
        "https://login.<mark>staging.</mark>example.com/t",
        "<span class=\"kind\">different host</span>",
        "<td class=\"v ok\">api://billing ✓</td>",
    ] {
        assert!(html.contains(expected), "no {expected:?} in:\n{html}");
    }
    assert_eq!(html.matches("<tr class=\"denial\">").count(), 4);
}

#[test]
fn a_denial_without_token_fields_says_so_in_one_cell() {
    let mut record = denial("no_credentials", None, "", &[], "");
    record.observed = Default::default();
    let html = page(&[record]);
    assert!(
        html.contains("<td colspan=\"5\" class=\"muted\">no token fields"),
        "{html}"
    );
    assert!(!html.contains("class=\"v bad\""), "{html}");
}

#[test]
fn hostile_values_are_escaped_text() {
    let hostile = [
        "<script>alert(1)</script>",
        "\"><img src=x onerror=alert(2)>",
    ];
    let mut record = denial(
        "audience_not_allowed",
        Some("okta"),
        ISS,
        &hostile,
        "<b>k</b>",
    );
    record.route = Some("</td><script>x</script>".to_owned());
    let html = page(&[record]);
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    assert!(
        html.contains("&quot;&gt;&lt;img src=x onerror=alert(2)&gt;"),
        "{html}"
    );
    for markup in ["<script", "<img", "<b>k", "</td><script"] {
        assert!(!html.contains(markup), "{markup} unescaped in:\n{html}");
    }
}

#[test]
fn providers_and_the_last_reload_are_shown() {
    let html = page(&[]);
    for expected in [
        "<tr><td><b>okta</b></td><td class=\"v\">https://issuer.test/oauth2/default</td>\
         <td class=\"v\">api://orders</td><td class=\"v\">ec-1</td>",
        "static (inline or file)",
        "1 applied, 0 rejected since start. Last: 2027-01-15 07:58:30Z (90 s ago) \
         <span class=\"ok\">applied</span>: provider okta changed",
        "0 kept, newest first.",
    ] {
        assert!(html.contains(expected), "no {expected:?} in:\n{html}");
    }
}

#[test]
fn times_are_utc_and_ages_short() {
    assert_eq!(utc(0), "1970-01-01 00:00:00Z");
    assert_eq!(utc(1_800_000_000), "2027-01-15 08:00:00Z");
    assert_eq!(utc(951_782_400), "2000-02-29 00:00:00Z");
    assert_eq!(utc(-1), "1969-12-31 23:59:59Z");
    let ages: Vec<String> = [-5, 59, 600, 7200, 200_000].map(ago_text).into();
    assert_eq!(ages, ["0 s", "59 s", "10 min", "2 h", "2 d"]);
}
