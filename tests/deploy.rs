//! The deployment material under `envoy/` is kept honest: every Envoy bootstrap passes
//! `envoy --mode validate`, the raw-headers variant differs from `envoy.yaml` only where it
//! should, the ConfigMap's config passes `check-config`, the Deployment's arguments parse with
//! the real command line and its probes and Prometheus scrape hit real endpoints on the probe
//! listener, the debug listener stays on loopback (documented with `kubectl port-forward`),
//! and the Istio resources name the Deployment's port.

use crate::support::envoy::envoy_binary;
use crate::support::server::{Server, binary};
use crate::support::{http, wait_for};
use clap::Parser;
use envoy_jwt_authz::cli::{Cli, Command};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub(crate) fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

pub(crate) fn yaml(path: &str) -> Value {
    let text = std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `kubectl kustomize envoy/kubernetes/overlays/<overlay>`: the objects a user applies.
pub(crate) fn rendered(overlay: &str) -> Vec<Value> {
    let kubectl = crate::support::proxy::binary("KUBECTL", "kubectl", "run .ci/setup-checkers");
    let out = std::process::Command::new(kubectl)
        .arg("kustomize")
        .arg(repo(&format!("envoy/kubernetes/overlays/{overlay}")))
        .output()
        .expect("run kubectl kustomize");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{overlay}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_saphyr::from_multiple(&text).unwrap_or_else(|e| panic!("{overlay}: {e}"))
}

/// The one object of `kind` (named `name`, when given) among `objects`.
pub(crate) fn object<'a>(objects: &'a [Value], kind: &str, name: Option<&str>) -> &'a Value {
    let mut found = objects
        .iter()
        .filter(|o| o["kind"] == kind && name.is_none_or(|n| o["metadata"]["name"] == n));
    let one = found.next().unwrap_or_else(|| panic!("no {kind} {name:?}"));
    assert!(found.next().is_none(), "several {kind} {name:?}");
    one
}

/// The ConfigMap of the envoy-sidecar overlay holding the file `name`, and the file.
fn configmap_with(name: &str) -> (String, String) {
    let objects = rendered("envoy-sidecar");
    let map = objects
        .iter()
        .find(|o| o["kind"] == "ConfigMap" && o["data"][name].is_string())
        .unwrap_or_else(|| panic!("no ConfigMap holds {name}"));
    let text = map["data"][name].as_str().unwrap().to_owned();
    (map["metadata"]["name"].as_str().unwrap().to_owned(), text)
}

fn configmap_file(name: &str) -> String {
    configmap_with(name).1
}

fn container<'a>(deployment: &'a Value, name: &str) -> &'a Value {
    deployment["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap()
}

fn container_port(container: &Value, name: &str) -> u64 {
    container["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap()["containerPort"]
        .as_u64()
        .unwrap()
}

pub(crate) fn validate_envoy(path: &Path) {
    let out = std::process::Command::new(envoy_binary())
        .args(["--mode", "validate", "-c"])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_envoy_bootstrap_validates() {
    validate_envoy(&repo("envoy/envoy.yaml"));
    validate_envoy(&repo("envoy/envoy-raw-headers.yaml"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("envoy.yaml");
    std::fs::write(&path, configmap_file("envoy.yaml")).unwrap();
    validate_envoy(&path);
}

#[test]
fn the_raw_headers_variant_differs_only_in_encode_raw_headers() {
    let code = |path: &str| -> Vec<String> {
        std::fs::read_to_string(repo(path))
            .unwrap()
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .map(str::to_owned)
            .collect()
    };
    let (plain, raw) = (
        code("envoy/envoy.yaml"),
        code("envoy/envoy-raw-headers.yaml"),
    );
    assert_eq!(plain.len(), raw.len());
    let differing: Vec<(&String, &String)> =
        plain.iter().zip(&raw).filter(|(a, b)| a != b).collect();
    assert_eq!(differing.len(), 1, "{differing:?}");
    assert_eq!(differing[0].0.trim(), "encode_raw_headers: false");
    assert_eq!(differing[0].1.trim(), "encode_raw_headers: true");
}

#[test]
fn the_configmap_config_passes_check_config() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, configmap_file("config.yaml")).unwrap();
    let out = std::process::Command::new(binary())
        .arg("check-config")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_deployment_agrees_with_the_server_flags_and_endpoints() {
    let objects = rendered("envoy-sidecar");
    let deployment = object(&objects, "Deployment", None);
    let authz = container(deployment, "envoy-jwt-authz");
    let args: Vec<String> = authz["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();
    let cli =
        Cli::try_parse_from(std::iter::once("envoy-jwt-authz".to_owned()).chain(args.clone()))
            .unwrap_or_else(|e| panic!("{e}"));
    let Command::Serve(serve) = cli.command else {
        panic!("the container must run `serve`")
    };

    // The config file is a key of the ConfigMap mounted as a directory (no subPath).
    let mounts = authz["volumeMounts"].as_array().unwrap();
    let mount = mounts
        .iter()
        .find(|m| serve.config.starts_with(m["mountPath"].as_str().unwrap()))
        .expect("config under a mount");
    assert!(
        mount.get("subPath").is_none(),
        "subPath mounts never see ConfigMap updates"
    );
    let volume = deployment["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == mount["name"])
        .unwrap();
    let file = serve.config.file_name().unwrap().to_str().unwrap();
    assert_eq!(volume["configMap"]["name"], configmap_with(file).0);

    // Ports: gRPC on loopback at the named port, admin where the probes look.
    assert_eq!(
        serve.grpc_listen.port() as u64,
        container_port(authz, "grpc")
    );
    assert!(serve.grpc_listen.ip().is_loopback());
    assert_eq!(
        serve.admin_listen.port() as u64,
        container_port(authz, "admin")
    );
    assert_eq!(authz["livenessProbe"]["httpGet"]["port"], "admin");
    assert_eq!(authz["readinessProbe"]["httpGet"]["port"], "admin");

    // Prometheus scrapes the probe port (annotations are strings).
    let annotations = &deployment["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(annotations["prometheus.io/scrape"], "true");
    assert_eq!(
        annotations["prometheus.io/port"],
        serve.admin_listen.port().to_string()
    );
    let scrape_path = annotations["prometheus.io/path"].as_str().unwrap();

    // The debug listener (/status, /debug/*, POST /jwks/refresh) is loopback-only, so it is
    // no container port (nothing reaches it on the pod IP), and the manifest says how to
    // reach it: `kubectl port-forward` dials localhost inside the pod's network namespace.
    assert!(
        serve.debug_listen.ip().is_loopback(),
        "{}",
        serve.debug_listen
    );
    assert_ne!(serve.debug_listen.port(), serve.admin_listen.port());
    let declared: Vec<u64> = authz["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["containerPort"].as_u64().unwrap())
        .collect();
    assert!(!declared.contains(&u64::from(serve.debug_listen.port())));
    let text = std::fs::read_to_string(repo("envoy/kubernetes/base/deployment.yaml")).unwrap();
    let forward = format!(
        "kubectl port-forward deployment/{} {}",
        deployment["metadata"]["name"].as_str().unwrap(),
        serve.debug_listen.port()
    );
    assert!(text.contains(&forward), "no `{forward}` in deployment.yaml");

    // The Service exposes Envoy only: neither admin port is reachable through it.
    for port in object(&objects, "Service", None)["spec"]["ports"]
        .as_array()
        .unwrap()
    {
        assert_eq!(port["targetPort"], "http", "{port:?}");
    }

    // Envoy's bootstrap sends Check to that port.
    assert!(configmap_file("envoy.yaml").contains(&format!(
        "socket_address: {{ address: 127.0.0.1, port_value: {} }}",
        serve.grpc_listen.port()
    )));

    // Worker threads match the CPU limit; the grace period covers the drain.
    assert_eq!(serve.worker_threads, Some(1));
    assert_eq!(authz["resources"]["limits"]["cpu"], "1");
    let drain = serve.drain_timeout.get();
    let grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        .as_u64()
        .unwrap();
    assert!(
        grace > drain.as_secs() + 5,
        "grace {grace}s must exceed the drain {drain:?} plus Envoy's preStop"
    );

    // Non-root, read-only root filesystem.
    assert_eq!(
        deployment["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"],
        true
    );
    for name in ["envoy-jwt-authz", "envoy"] {
        assert_eq!(
            container(deployment, name)["securityContext"]["readOnlyRootFilesystem"],
            true,
            "{name}"
        );
    }

    // The probe and scrape paths are real endpoints of the real server's probe listener;
    // /status is not there but on the debug listener.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("config")).unwrap();
    let config = dir.path().join("config/config.yaml");
    std::fs::write(&config, crate::support::config_yaml("")).unwrap();
    let server = Server::start_with(&config, dir, &[]);
    let probes = ["livenessProbe", "readinessProbe"]
        .map(|probe| authz[probe]["httpGet"]["path"].as_str().unwrap());
    for path in probes.into_iter().chain([scrape_path]) {
        wait_for(path, Duration::from_secs(10), || {
            http::request(server.admin, "GET", path, &[])
                .ok()
                .filter(|r| r.status == 200)
        });
    }
    let status = |addr| http::request(addr, "GET", "/status", &[]).unwrap().status;
    assert_eq!(status(server.admin), 404);
    assert_eq!(status(server.debug), 200);
}

#[test]
fn the_istio_resources_name_the_deployment_port_and_service() {
    let objects = rendered("istio-custom");
    let deployment = object(&objects, "Deployment", None);
    assert!(
        deployment["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["name"] != "envoy"),
        "Istio's sidecar takes Envoy's place"
    );
    let grpc_port = container_port(container(deployment, "envoy-jwt-authz"), "grpc");
    let provider =
        &yaml("envoy/istio/extension-provider.yaml")["spec"]["meshConfig"]["extensionProviders"][0];
    let grpc = &provider["envoyExtAuthzGrpc"];
    assert_eq!(grpc["port"].as_u64(), Some(grpc_port));
    assert_eq!(grpc["failOpen"], false);
    let entry = object(&objects, "ServiceEntry", None);
    assert_eq!(entry["spec"]["hosts"][0], grpc["service"]);
    assert_eq!(
        entry["spec"]["ports"][0]["number"].as_u64(),
        Some(grpc_port)
    );
    assert_eq!(entry["spec"]["endpoints"][0]["address"], "127.0.0.1");
    let policy = object(&objects, "AuthorizationPolicy", None);
    assert_eq!(policy["spec"]["action"], "CUSTOM");
    assert_eq!(policy["spec"]["provider"]["name"], provider["name"]);
    assert_eq!(
        policy["spec"]["selector"]["matchLabels"]["app"],
        deployment["spec"]["template"]["metadata"]["labels"]["app"]
    );
}
