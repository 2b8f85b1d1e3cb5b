//! The monitoring material in `envoy/observability/` is kept honest: `promtool` checks the
//! alerting rules and runs their unit tests (and every alert must have a case where it fires
//! and one where it does not), the Kubernetes `PrometheusRule` carries exactly the same
//! groups, the Grafana dashboard queries only its templated Prometheus datasource, and (in
//! `live`) a real Prometheus scraping a real server behind a real Envoy answers every alert
//! and dashboard expression with samples.

mod live;

use crate::deploy::{repo, yaml};
use crate::support::prometheus::tool;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::process::Command;

const ALERTS: &str = "envoy/observability/alerts.yaml";
const ALERTS_TEST: &str = "envoy/observability/alerts_test.yaml";
const DASHBOARD: &str = "envoy/observability/grafana-dashboard.json";
const PROMETHEUS_RULE: &str = "envoy/kubernetes/prometheusrule.yaml";

/// Runs `promtool` with `args` (repository paths) and asserts it succeeded.
fn promtool(args: &[&str]) -> String {
    let out = Command::new(tool("promtool"))
        .args(args)
        .current_dir(repo("."))
        .output()
        .expect("run promtool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?} failed:\n{text}");
    text
}

/// Every rule of alerts.yaml.
fn rules() -> Vec<Value> {
    let groups = yaml(ALERTS)["groups"].as_array().expect("groups").clone();
    groups
        .iter()
        .flat_map(|g| g["rules"].as_array().expect("rules").clone())
        .collect()
}

/// The dashboard's panels, those inside (collapsed) rows included.
fn panels(dashboard: &Value) -> Vec<Value> {
    fn walk(list: &Value, out: &mut Vec<Value>) {
        for panel in list.as_array().into_iter().flatten() {
            walk(&panel["panels"], out);
            out.push(panel.clone());
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

fn dashboard() -> Value {
    let text = std::fs::read_to_string(repo(DASHBOARD)).expect(DASHBOARD);
    serde_json::from_str(&text).expect("dashboard JSON")
}

/// `expr` as Prometheus would get it from Grafana over the test's traffic: every interval
/// variable 30s (the traffic covers it), every template variable `.*` (All).
fn substituted(expr: &str, variables: &[String]) -> String {
    let mut expr = expr.to_owned();
    for interval in ["__rate_interval", "__interval", "__range"] {
        expr = expr
            .replace(&format!("${{{interval}}}"), "30s")
            .replace(&format!("${interval}"), "30s");
    }
    for name in variables {
        expr = expr
            .replace(&format!("${{{name}}}"), ".*")
            .replace(&format!("${name}"), ".*");
    }
    assert!(!expr.contains('$'), "an unknown variable in {expr}");
    expr
}

/// Every PromQL expression of the alerts and the dashboard, substituted, with where it is
/// from. A `label_values(selector, label)` variable query contributes its selector.
pub(crate) fn expressions() -> Vec<(String, String)> {
    let mut all: Vec<(String, String)> = rules()
        .iter()
        .map(|r| {
            let name = r["alert"].as_str().or(r["record"].as_str()).expect("name");
            (
                format!("rule {name}"),
                r["expr"].as_str().expect("expr").to_owned(),
            )
        })
        .collect();
    let dashboard = dashboard();
    let templating = dashboard["templating"]["list"]
        .as_array()
        .expect("templating");
    let variables: Vec<String> = templating
        .iter()
        .map(|v| v["name"].as_str().expect("name").to_owned())
        .collect();
    for panel in panels(&dashboard) {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let title = panel["title"].as_str().unwrap_or("");
            let expr = target["expr"].as_str().expect("expr");
            all.push((format!("panel {title:?}"), substituted(expr, &variables)));
        }
    }
    for variable in templating.iter().filter(|v| v["type"] == "query") {
        let query = variable["query"].as_str().expect("variable query");
        let inner = query
            .strip_prefix("label_values(")
            .and_then(|q| q.rsplit_once(','))
            .map(|(selector, _)| selector)
            .expect("label_values(selector, label)");
        let name = variable["name"].as_str().expect("name");
        all.push((format!("variable {name}"), substituted(inner, &variables)));
    }
    all
}

#[test]
fn alerts_pass_promtool_check_rules() {
    let out = promtool(&["check", "rules", ALERTS]);
    assert!(out.contains("SUCCESS"), "{out}");
}

#[test]
fn alerts_pass_their_promtool_unit_tests() {
    let out = promtool(&["test", "rules", ALERTS_TEST]);
    assert!(out.contains("SUCCESS"), "{out}");
}

#[test]
fn every_alert_has_a_case_that_fires_and_one_that_does_not() {
    let names: BTreeSet<String> = rules()
        .iter()
        .filter_map(|r| r["alert"].as_str().map(str::to_owned))
        .collect();
    assert!(names.len() >= 6, "{names:?}");
    let tests = yaml(ALERTS_TEST);
    assert_eq!(tests["rule_files"], json!(["alerts.yaml"]));
    let cases: Vec<Value> = tests["tests"]
        .as_array()
        .expect("tests")
        .iter()
        .flat_map(|t| t["alert_rule_test"].as_array().cloned().unwrap_or_default())
        .collect();
    for case in &cases {
        let name = case["alertname"].as_str().expect("alertname");
        assert!(
            names.contains(name),
            "{ALERTS_TEST} tests {name}, which is no alert"
        );
    }
    for name in &names {
        let of_it: Vec<&Value> = cases.iter().filter(|c| c["alertname"] == **name).collect();
        let fires = |c: &&&Value| c["exp_alerts"].as_array().is_some_and(|a| !a.is_empty());
        assert!(
            of_it.iter().any(|c| fires(&c)),
            "{ALERTS_TEST}: no case where {name} fires"
        );
        assert!(
            of_it.iter().any(|c| !fires(&c)),
            "{ALERTS_TEST}: no case where {name} stays quiet"
        );
    }
}

#[test]
fn the_prometheus_rule_carries_exactly_the_alerts_groups() {
    let rule = yaml(PROMETHEUS_RULE);
    assert_eq!(rule["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(rule["kind"], "PrometheusRule");
    assert!(rule["metadata"]["name"].is_string());
    assert_eq!(
        rule["spec"]["groups"],
        yaml(ALERTS)["groups"],
        "{PROMETHEUS_RULE} and {ALERTS} differ"
    );
}

#[test]
fn the_dashboard_queries_its_templated_prometheus_datasource() {
    let dashboard = dashboard();
    let datasource = json!({"type": "prometheus", "uid": "${datasource}"});
    let variables = dashboard["templating"]["list"]
        .as_array()
        .expect("templating");
    let variable = variables
        .iter()
        .find(|v| v["name"] == "datasource")
        .expect("a datasource variable");
    assert_eq!(
        (&variable["type"], &variable["query"]),
        (&json!("datasource"), &json!("prometheus"))
    );
    for v in variables.iter().filter(|v| v["type"] == "query") {
        assert_eq!(v["datasource"], datasource, "variable {}", v["name"]);
    }
    let mut text = String::new();
    let mut ids = BTreeSet::new();
    for panel in panels(&dashboard) {
        let title = panel["title"].as_str().expect("title");
        assert!(
            ids.insert(panel["id"].as_u64().expect("id")),
            "duplicate id: {title}"
        );
        if panel["type"] == "row" {
            continue;
        }
        assert_eq!(panel["datasource"], datasource, "panel {title:?}");
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "panel {title:?} has no query");
        for target in targets {
            assert_eq!(target["datasource"], datasource, "panel {title:?}");
            text.push_str(target["expr"].as_str().expect("expr"));
        }
    }
    // What the dashboard is for: decisions, latency, the token cache, keys, fetches, reloads.
    for metric in [
        "authz_decisions_total",
        "authz_check_duration_seconds_bucket",
        "token_cache_lookups_total",
        "jwks_age_seconds",
        "jwks_stale_after_seconds",
        "jwks_fetch_total",
        "jwks_refetch_total",
        "config_reloads_total",
        "authz_ready",
    ] {
        assert!(text.contains(metric), "no panel shows {metric}");
    }
}
