//! `envoy/config.schema.json` against the real `check-jsonschema` (PyPI, installed by
//! `.ci/setup-checkers`): every config we ship or document validates (the example, the
//! ConfigMap's, the README's reference block), and each of a set of wrong configs is refused
//! by the schema *and* by `check-config`, so an editor flags what the server would refuse.
//! (That the schema is exactly what the code generates is a unit test in `config::schema`.)

use crate::deploy::{repo, yaml};
use crate::support::proxy::binary as tool;
use crate::support::server::binary;
use std::path::Path;
use std::process::Command;

fn check_jsonschema(file: &Path) -> (bool, String) {
    let checker = tool(
        "CHECK_JSONSCHEMA",
        "check-jsonschema",
        "run .ci/setup-checkers",
    );
    let out = Command::new(checker)
        .arg("--schemafile")
        .arg(repo("envoy/config.schema.json"))
        .arg(file)
        .output()
        .expect("run check-jsonschema");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

fn check_config(file: &Path) -> bool {
    Command::new(binary())
        .arg("check-config")
        .arg(file)
        .output()
        .expect("run check-config")
        .status
        .success()
}

/// The README's configuration reference: the yaml block that starts with `providers:`.
fn readme_reference() -> String {
    let readme = std::fs::read_to_string(repo("README.md")).unwrap();
    let start = readme
        .find("```yaml\nproviders:")
        .expect("the reference block")
        + "```yaml\n".len();
    let end = start + readme[start..].find("```").unwrap();
    readme[start..end].to_owned()
}

#[test]
fn every_shipped_and_documented_config_validates() {
    let dir = tempfile::tempdir().unwrap();
    let configmap = dir.path().join("configmap-config.yaml");
    let text = yaml("envoy/kubernetes/base/configmap.yaml")["data"]["config.yaml"]
        .as_str()
        .unwrap()
        .to_owned();
    std::fs::write(&configmap, text).unwrap();
    let reference = dir.path().join("readme-reference.yaml");
    std::fs::write(&reference, readme_reference()).unwrap();
    for file in [repo("envoy/example/config.yaml"), configmap, reference] {
        let (ok, out) = check_jsonschema(&file);
        assert!(ok, "{}: {out}", file.display());
    }
    let example = std::fs::read_to_string(repo("envoy/example/config.yaml")).unwrap();
    assert!(
        example.starts_with("# yaml-language-server: $schema=../config.schema.json\n"),
        "editors find the schema from the example's first line"
    );
}

#[test]
fn wrong_configs_are_refused_by_the_schema_and_by_the_server() {
    let provider = "providers:\n  - name: p\n    issuer: https://i.test\n    audiences: [a]\n    jwks: { file: jwks.json }\n";
    let wrong = [
        ("unknown field", format!("{provider}    audience: [b]\n")),
        (
            "unknown top-level field",
            format!("{provider}chalenge: {{ realm: x }}\n"),
        ),
        (
            "bad duration",
            format!("{provider}    clock_skew: 2 minutes\n"),
        ),
        (
            "bad algorithm",
            format!("{provider}    algorithms: [HS256]\n"),
        ),
        (
            "providers keyword",
            format!("{provider}default: {{ providers: some }}\n"),
        ),
        ("proxy keyword", format!("{provider}    proxy: direct\n")),
        ("dpop keyword", format!("{provider}    dpop: sometimes\n")),
        ("dpop field", format!("{provider}    dpop: {{ ttl: 1m }}\n")),
        (
            "cors keyword",
            format!("{provider}routes:\n  - cors_preflight: maybe\n"),
        ),
        (
            "match field",
            format!("{provider}routes:\n  - match: {{ prefix: /a }}\n"),
        ),
        ("no providers", "routes: []\n".to_owned()),
    ];
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        repo("envoy/example/jwks.json"),
        dir.path().join("jwks.json"),
    )
    .unwrap();
    let good = dir.path().join("good.yaml");
    std::fs::write(&good, provider).unwrap();
    assert!(
        check_jsonschema(&good).0 && check_config(&good),
        "the base config is valid"
    );
    for (name, text) in wrong {
        let file = dir.path().join("wrong.yaml");
        std::fs::write(&file, &text).unwrap();
        let (ok, out) = check_jsonschema(&file);
        assert!(!ok, "{name}: the schema accepted\n{text}\n{out}");
        assert!(
            !check_config(&file),
            "{name}: check-config accepted\n{text}"
        );
    }
}
