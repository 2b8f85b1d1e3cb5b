//! The Kubernetes manifests against the real schemas: both Kustomize overlays
//! (`envoy/kubernetes/overlays/*`, rendered by the real `kubectl kustomize`) and everything
//! else under `envoy/` that is a Kubernetes object. Built-in kinds are validated by
//! `kubernetes-validate --strict` (PyPI) for the oldest and newest Kubernetes it ships;
//! Istio's and Prometheus Operator's custom resources by the schemas the kubernetes-models
//! npm packages generate from their CRDs (`tests/k8s-schemas/validate.mjs`). Each checker is
//! also shown a broken manifest, so a checker that accepts anything fails the test.

use crate::deploy::{object, rendered, repo};
use crate::support::proxy::binary as tool;
use std::path::Path;
use std::process::Command;

/// The oldest and newest Kubernetes versions kubernetes-validate 1.37 carries schemas for.
const VERSIONS: [&str; 2] = ["1.25.0", "1.37.0"];

fn output(command: &mut Command) -> (bool, String) {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// kubernetes-validate on `file` at `version`; fails on a warning too (an unknown built-in
/// kind is only a warning there).
fn kubernetes_validate(file: &Path, version: &str) -> (bool, String) {
    let checker = tool(
        "KUBERNETES_VALIDATE",
        "kubernetes-validate",
        "run .ci/setup-checkers",
    );
    let (ok, text) = output(
        Command::new(checker)
            .args(["--strict", "-k", version])
            .arg(file),
    );
    let builtin_warnings = text
        .lines()
        .filter(|l| l.starts_with("WARN") && !is_custom_resource_line(l))
        .count();
    (ok && builtin_warnings == 0, text)
}

/// kubernetes-validate has no schema for custom resources: those lines are the CRD
/// checker's business.
fn is_custom_resource_line(line: &str) -> bool {
    ["istio.io/", "monitoring.coreos.com/"]
        .iter()
        .any(|g| line.contains(g))
}

fn crd_validate(files: &[&Path]) -> (bool, String) {
    let node = tool("NODE", "node", "run .ci/setup-node-interop");
    output(
        Command::new(node)
            .arg(repo("tests/k8s-schemas/validate.mjs"))
            .args(files),
    )
}

/// Writes `objects` as one multi-document YAML file in `dir`.
fn write_objects(dir: &Path, name: &str, objects: &[serde_json::Value]) -> std::path::PathBuf {
    let text: Vec<String> = objects
        .iter()
        .map(|o| serde_json::to_string(o).unwrap())
        .collect();
    let path = dir.join(name);
    std::fs::write(&path, text.join("\n---\n")).unwrap();
    path
}

#[test]
fn both_overlays_render_and_validate_against_kubernetes_and_crd_schemas() {
    let dir = tempfile::tempdir().unwrap();
    for overlay in ["envoy-sidecar", "istio-custom"] {
        let objects = rendered(overlay);
        object(&objects, "NetworkPolicy", None);
        let file = write_objects(dir.path(), &format!("{overlay}.yaml"), &objects);
        for version in VERSIONS {
            let (ok, text) = kubernetes_validate(&file, version);
            assert!(ok, "{overlay} on {version}:\n{text}");
            assert!(
                text.contains("passed for resource deployment/orders-api"),
                "{text}"
            );
        }
        let (ok, text) = crd_validate(&[&file]);
        assert!(ok, "{overlay}:\n{text}");
        if overlay == "istio-custom" {
            assert!(
                text.contains("ok ") && text.contains("AuthorizationPolicy"),
                "{text}"
            );
        }
    }
    // The mesh-level Istio config and the PrometheusRule (the alerts of
    // envoy/observability/alerts.yaml), as shipped.
    let shipped = [
        repo("envoy/istio/extension-provider.yaml"),
        repo("envoy/istio/extension-provider-http.yaml"),
        repo("envoy/kubernetes/prometheusrule.yaml"),
    ];
    let refs: Vec<&Path> = shipped.iter().map(|p| p.as_path()).collect();
    let (ok, text) = crd_validate(&refs);
    assert!(ok, "{text}");
    assert_eq!(text.matches("ok ").count(), shipped.len(), "{text}");
}

#[test]
fn the_checkers_refuse_a_broken_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let mut objects = rendered("istio-custom");
    for o in objects.iter_mut() {
        match o["kind"].as_str() {
            // An unknown field in a built-in kind, and a CUSTOM action misspelt.
            Some("Deployment") => o["spec"]["replica"] = 2.into(),
            Some("AuthorizationPolicy") => o["spec"]["action"] = "CUSTOMISE".into(),
            _ => {}
        }
    }
    let file = write_objects(dir.path(), "broken.yaml", &objects);
    let (ok, text) = kubernetes_validate(&file, VERSIONS[1]);
    assert!(!ok, "kubernetes-validate accepted `replica`:\n{text}");
    let (ok, text) = crd_validate(&[&file]);
    assert!(
        !ok && text.contains("FAIL"),
        "the CRD schema accepted CUSTOMISE:\n{text}"
    );
}
