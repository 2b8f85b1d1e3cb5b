//! Multi-tenant issuers (issue 17 §3) from the outside: Entra v1 and v2 template tokens
//! through a real Envoy in front of the real binary (a listed tenant 200, an unlisted one
//! and a `tid` that differs from the tenant in `iss` 401 `issuer_not_trusted`, beside a
//! literal-issuer provider that still works), `/status` and `check-config` showing the
//! templates, and `explain` naming the tenant and the rule that failed.

use crate::support::envoy::Envoy;
use crate::support::server::Server;
use crate::support::{self, AUDIENCE, ec_key, ec_key_2, http, mint};
use envoy_jwt_authz::config::compile_str;
use envoy_jwt_authz::explain::{Question, Report, explain, render_text};
use envoy_jwt_authz::token::verify::UnixTime;
use serde_json::{Value, json};
use std::path::Path;

/// Entra's own tenant, and Microsoft accounts' (both from Microsoft's docs).
const T1: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const T2: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";
/// A tenant nobody listed.
const T3: &str = "11111111-2222-3333-4444-555555555555";

fn v2(tenant: &str) -> String {
    format!("https://login.microsoftonline.com/{tenant}/v2.0")
}

fn v1(tenant: &str) -> String {
    format!("https://sts.windows.net/{tenant}/")
}

/// `support::config_yaml`'s literal `test-idp`, then `entra` with both Entra templates,
/// tenants T1 and T2, and a key set of its own (`ec_key_2`, its "common" keys).
fn config() -> String {
    let jwks = json!({ "keys": [ec_key_2().public_jwk()] });
    support::config_yaml(&format!(
        "  - name: entra
    issuer_templates:
      - https://login.microsoftonline.com/{{tid}}/v2.0
      - https://sts.windows.net/{{tid}}/
    tenants: [{T1}, {T2}]
    audiences: [{AUDIENCE}]
    jwks:
      inline: '{jwks}'
upstream:
  claim_headers: {{ sub: x-jwt-sub }}
"
    ))
}

/// Claims of an Entra token for `iss` carrying `tid` (none when `Value::Null`).
fn entra(iss: &str, tid: Value) -> Value {
    let mut claims = support::claims_with(json!({ "iss": iss, "sub": "bob" }));
    if !tid.is_null() {
        claims["tid"] = tid;
    }
    claims
}

const NOT_TRUSTED: &str = r#"Bearer error="invalid_token", error_description="issuer not trusted""#;

#[test]
fn entra_template_tokens_through_envoy_by_tenant_beside_a_literal_issuer() {
    let server = Server::start(&config());
    let envoy = Envoy::start(server.grpc.port(), false);
    let at = envoy.listener;
    let allowed = [
        ("v2, listed tenant", entra(&v2(T1), json!(T1))),
        ("v1, listed tenant", entra(&v1(T1), json!(T1))),
        ("v2, the other listed tenant", entra(&v2(T2), json!(T2))),
        ("v1, the other listed tenant", entra(&v1(T2), json!(T2))),
    ];
    for (name, claims) in allowed {
        let ok = http::get(at, "/orders", Some(&mint(&ec_key_2(), &claims)));
        assert_eq!(ok.status, 200, "{name}: {ok:?}\n{}", server.log());
        assert_eq!(ok.header("x-authz-provider"), Some("entra"), "{name}");
        assert_eq!(ok.header("x-upstream-saw-sub"), Some("bob"), "{name}");
    }
    // The literal-issuer provider beside it, with its own key.
    let ok = http::get(at, "/orders", Some(&mint(&ec_key(), &support::claims())));
    assert_eq!(ok.status, 200, "{ok:?}");
    assert_eq!(ok.header("x-authz-provider"), Some("test-idp"));
    let denied = [
        ("v2, unlisted tenant", entra(&v2(T3), json!(T3))),
        ("v1, unlisted tenant", entra(&v1(T3), json!(T3))),
        ("v2, iss T1 but tid T2", entra(&v2(T1), json!(T2))),
        ("v1, iss T2 but tid T1", entra(&v1(T2), json!(T1))),
        ("v2, no tid", entra(&v2(T1), Value::Null)),
        ("v2 plus a path", entra(&format!("{}/x", v2(T1)), json!(T1))),
    ];
    for (name, claims) in denied {
        let no = http::get(at, "/orders", Some(&mint(&ec_key_2(), &claims)));
        assert_eq!(no.status, 401, "{name}: {no:?}");
        assert_eq!(no.header("www-authenticate"), Some(NOT_TRUSTED), "{name}");
        assert_eq!(
            no.body, r#"{"error":"invalid_token","error_description":"issuer not trusted"}"#,
            "{name}"
        );
    }
    // The key is chosen within the provider `iss` selected: test-idp's key is not Entra's.
    let other_key = http::get(
        at,
        "/orders",
        Some(&mint(&ec_key(), &entra(&v2(T1), json!(T1)))),
    );
    assert_eq!(other_key.status, 401);
    assert!(
        other_key
            .header("www-authenticate")
            .unwrap_or_default()
            .contains("signing key not found"),
        "{other_key:?}"
    );
    // The denials, as the audit trail records them.
    let denials = http::request(server.debug, "GET", "/debug/denials", &[]).unwrap();
    let denials: Value = serde_json::from_str(&denials.body).unwrap();
    let iss_t3 = denials.to_string().contains(&v1(T3));
    assert!(iss_t3, "{denials}");
    // `/status` shows the templates and tenants.
    let status = server.status();
    let entra_status = &status["providers"][1];
    assert_eq!(entra_status["name"], "entra");
    assert_eq!(entra_status["issuers"], json!([]));
    assert_eq!(
        entra_status["issuer_templates"],
        json!([
            "https://login.microsoftonline.com/{tid}/v2.0",
            "https://sts.windows.net/{tid}/"
        ])
    );
    assert_eq!(entra_status["tenants"], json!([T1, T2]));
    assert!(status["providers"][0].get("tenants").is_none(), "{status}");
}

#[test]
fn check_config_prints_the_templates_and_their_tenants() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.yaml");
    std::fs::write(&path, config()).unwrap();
    let stdout = crate::cli::run_ok(&["check-config".as_ref(), path.as_os_str()]);
    let line = format!(
        "provider entra: issuers [] issuer_templates [https://login.microsoftonline.com/{{tid}}/v2.0, https://sts.windows.net/{{tid}}/] tenants [{T1}, {T2}] audiences [{AUDIENCE}] keys [ec-2(ES256)]"
    );
    assert!(stdout.contains(&line), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "provider test-idp: issuers [{}] audiences",
            support::ISSUER
        )),
        "{stdout}"
    );
}

fn report(claims: &Value) -> Report {
    report_with(&config(), claims)
}

/// `explain` of an `ec_key_2` token with `claims` against the config `yaml`.
fn report_with(yaml: &str, claims: &Value) -> Report {
    let snapshot = compile_str(yaml, Path::new("config.yaml")).unwrap();
    let token = mint(&ec_key_2(), claims);
    let question = Question {
        token: &token,
        method: "GET",
        path: "/",
        ..Question::default()
    };
    explain(&snapshot, &question, UnixTime::now(), &[])
}

fn issuer_line(report: &Report) -> String {
    let text = render_text(report);
    text.lines()
        .find(|l| l.split_whitespace().nth(1) == Some("issuer"))
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn explain_names_the_tenant_and_the_rule_that_failed() {
    let allowed = report(&entra(&v2(T1), json!(T1)));
    assert!(allowed.allowed, "{}", render_text(&allowed));
    assert!(
        issuer_line(&allowed).contains(&format!("(provider entra, tenant {T1:?}, tid matches)")),
        "{}",
        render_text(&allowed)
    );

    let unlisted = report(&entra(&v2(T3), json!(T3)));
    assert_eq!(unlisted.reason, Some("issuer_not_trusted"));
    assert!(
        issuer_line(&unlisted).contains(&format!(
            "✗ issuer       {:?} (tenant {T3:?} is not in the tenants of provider entra)",
            v2(T3)
        )),
        "{}",
        render_text(&unlisted)
    );
    assert_eq!(
        unlisted.hint.as_deref(),
        Some(format!("tenant {T3:?} is not among the tenants [{T1}, {T2}] of provider entra: add it to `tenants` if that organisation's tokens are to be trusted").as_str())
    );

    let mismatch = report(&entra(&v1(T1), json!(T2)));
    assert_eq!(mismatch.reason, Some("issuer_not_trusted"));
    assert!(
        issuer_line(&mismatch).contains(&format!(
            "(provider entra, tenant {T1:?}, but tid {T2:?} differs)"
        )),
        "{}",
        render_text(&mismatch)
    );
    let hint = mismatch.hint.unwrap();
    assert!(
        hint.starts_with(&format!(
            "tid {T2:?} differs from the tenant {T1:?} that iss names"
        )),
        "{hint}"
    );

    let missing = report(&entra(&v2(T1), Value::Null));
    assert!(
        issuer_line(&missing).contains("but no tid claim)"),
        "{}",
        render_text(&missing)
    );
    let hint = missing.hint.unwrap();
    assert!(hint.starts_with(&format!("the token has no tid claim to confirm the tenant {T1:?} its iss names (template https://login.microsoftonline.com/{{tid}}/v2.0 of provider entra)")), "{hint}");

    let malformed = report(&entra(&v2(T1), json!(1)));
    assert_eq!(malformed.reason, Some("claim_malformed"));
    assert!(
        malformed
            .hint
            .unwrap()
            .starts_with("tid is 1, not a string")
    );

    // A malformed claim other than the tenant's gets the generic hint, not a tenant one.
    let bad_exp = report(&support::claims_with(
        json!({"iss": v2(T1), "tid": T1, "exp": "soon"}),
    ));
    assert_eq!(bad_exp.reason, Some("claim_malformed"));
    assert!(
        bad_exp
            .hint
            .unwrap()
            .starts_with("`exp`/`nbf`/`iat` must be numbers")
    );

    let not_a_tenant = report(&entra(&v2("a/b"), json!("a/b")));
    let hint = not_a_tenant.hint.unwrap();
    assert!(hint.contains("has the shape of template https://login.microsoftonline.com/{tid}/v2.0 but \"a/b\" in place of {tid} is no tenant"), "{hint}");
}

/// Copying Entra's metadata (`{tenantid}`) into the template names a claim tokens lack.
#[test]
fn explain_points_a_tenantid_placeholder_at_the_tid_claim() {
    let yaml = config().replace("{tid}/v2.0", "{tenantid}/v2.0");
    let report = report_with(&yaml, &entra(&v2(T1), json!(T1)));
    let hint = report.hint.unwrap();
    assert!(hint.contains("the token has no tenantid claim"), "{hint}");
    assert!(hint.ends_with("; Entra's tenant claim is tid (its metadata writes {tenantid}): write {tid} in the template"), "{hint}");
}

/// The README's Entra example is a valid config, with the templates and tenants it shows.
#[test]
fn the_readme_entra_example_compiles() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let section = &readme[readme
        .find("### Multi-tenant issuers")
        .expect("the section")..];
    let start = section.find("```yaml\n").expect("a yaml block") + "```yaml\n".len();
    let yaml = &section[start..start + section[start..].find("```").unwrap()];
    let snapshot =
        compile_str(yaml, Path::new("config.yaml")).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    let tenancy = snapshot.providers[0].tenancy.as_ref().expect("templates");
    assert_eq!(
        tenancy.texts(),
        [
            "https://login.microsoftonline.com/{tid}/v2.0",
            "https://sts.windows.net/{tid}/"
        ]
    );
    assert!(tenancy.tenants.allows(T1));
}
