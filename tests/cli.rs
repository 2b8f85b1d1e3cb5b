//! The real binary's commands: check-config, serve's startup failure and admin endpoints,
//! graceful shutdown, and the README quick start's token command.

use crate::support::server::{Server, binary};
use crate::support::{self, http, wait_for};
use std::process::Command;
use std::time::Duration;

fn repo(path: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

#[test]
fn check_config_summarises_each_provider() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.yaml");
    let mut jwks = support::jwks();
    jwks["keys"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"kty": "oct", "kid": "hmac"}));
    std::fs::write(&path, format!("providers:\n  - name: idp\n    issuer: https://i.test\n    audiences: [a, b]\n    jwks:\n      inline: '{jwks}'\n")).unwrap();
    let out = Command::new(binary())
        .arg("check-config")
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("provider idp: issuers [https://i.test] audiences [a, b] keys [rsa-1(RS256) ec-1(ES256)] skipped [hmac: unsupported kty \"oct\"] clock_skew 60s"), "{stdout}");
}

#[test]
fn check_config_and_serve_exit_64_naming_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, support::config_yaml("    algorithms: [HS256]\n")).unwrap();
    for args in [vec!["check-config"], vec!["serve", "--config"]] {
        let out = Command::new(binary())
            .args(&args)
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(64), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!(
                "{}: providers[0].algorithms[0]: \"HS256\" is not supported",
                path.display()
            )),
            "{stderr}"
        );
    }
}

#[test]
fn the_example_config_is_valid() {
    let out = Command::new(binary())
        .arg("check-config")
        .arg(repo("envoy/example/config.yaml"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn the_example_jwks_is_the_public_half_of_the_demo_key() {
    let out = Command::new(binary())
        .args([
            "public-jwks",
            "--alg",
            "ES256",
            "--kid",
            "demo-es256",
            "--key",
        ])
        .arg(repo("envoy/example/demo-signing-key.pem"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let derived: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let committed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo("envoy/example/jwks.json")).unwrap())
            .unwrap();
    assert_eq!(derived, committed);
}

/// Runs the binary with `args`, asserting success; its standard output.
pub(crate) fn run_ok(args: &[&std::ffi::OsStr]) -> String {
    let out = Command::new(binary()).args(args).output().unwrap();
    assert!(out.status.success(), "{args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// Issue 14 §9: what the npm `oidc-provider` v9 does — a JWK without `alg`, tokens with the
/// fully specified `alg: Ed25519` (RFC 9864) — through every command that names algorithms.
#[test]
fn ed25519_is_an_algorithm_name_of_its_own_in_every_command() {
    use base64::Engine;
    let dir = tempfile::tempdir().unwrap();
    // PKCS#8, as `openssl genpkey -algorithm ed25519` writes it.
    let der =
        aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8(&aws_lc_rs::rand::SystemRandom::new())
            .unwrap();
    let key = dir.path().join("ed.pem");
    let pem = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
    std::fs::write(
        &key,
        format!("-----BEGIN PRIVATE KEY-----\n{pem}\n-----END PRIVATE KEY-----\n"),
    )
    .unwrap();
    let key_args = ["--alg", "Ed25519", "--kid", "ed", "--key"].map(std::ffi::OsStr::new);
    let public = run_ok(
        &[
            &[std::ffi::OsStr::new("public-jwks")][..],
            &key_args,
            &[key.as_os_str()],
        ]
        .concat(),
    );
    let mut jwks: serde_json::Value = serde_json::from_str(&public).unwrap();
    assert_eq!(jwks["keys"][0]["alg"], "Ed25519", "{jwks}");
    assert_eq!(jwks["keys"][0]["kty"], "OKP", "{jwks}");
    jwks["keys"][0].as_object_mut().unwrap().remove("alg");
    let config = dir.path().join("c.yaml");
    std::fs::write(&config, format!("providers:\n  - name: node\n    issuer: {}\n    audiences: [{}]\n    jwks:\n      inline: '{jwks}'\n", support::ISSUER, support::AUDIENCE)).unwrap();
    let summary = run_ok(&["check-config".as_ref(), config.as_os_str()]);
    assert!(summary.contains("keys [ed(EdDSA,Ed25519)]"), "{summary}");
    let token = run_ok(
        &[
            &["mint-token".as_ref()][..],
            &key_args,
            &[key.as_os_str()],
            &["--iss", support::ISSUER, "--aud", support::AUDIENCE].map(std::ffi::OsStr::new),
        ]
        .concat(),
    );
    let header = token.trim().split('.').next().unwrap();
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .unwrap();
    assert!(
        String::from_utf8(header)
            .unwrap()
            .contains(r#""alg":"Ed25519""#)
    );
    let report = run_ok(&[
        "explain".as_ref(),
        "--config".as_ref(),
        config.as_os_str(),
        token.trim().as_ref(),
    ]);
    assert!(report.contains(r#"algorithm    "Ed25519""#), "{report}");
}

#[test]
fn health_and_readiness_answer_and_sigterm_exits_zero() {
    let mut server = Server::start(&support::config_yaml(""));
    assert_eq!(
        http::request(server.admin, "GET", "/healthz", &[])
            .unwrap()
            .status,
        200
    );
    let ready = wait_for("ready", Duration::from_secs(10), || {
        http::request(server.admin, "GET", "/readyz", &[])
            .ok()
            .filter(|r| r.status == 200)
    });
    assert_eq!(ready.body, "ready\n");
    let status = server.terminate();
    assert!(status.success(), "exit status {status}");
}

#[tokio::test]
async fn the_grpc_health_service_reports_serving() {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    let server = tokio::task::spawn_blocking(|| Server::start(&support::config_yaml("")))
        .await
        .unwrap();
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", server.grpc))
        .unwrap()
        .connect()
        .await
        .expect("connect");
    let mut client = HealthClient::new(channel);
    for service in ["", "envoy.service.auth.v3.Authorization"] {
        let response = client
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .expect("health check");
        assert_eq!(
            response.into_inner().status,
            ServingStatus::Serving as i32,
            "{service:?}"
        );
    }
    let unknown = client
        .check(HealthCheckRequest {
            service: "nope".into(),
        })
        .await;
    assert_eq!(
        unknown.expect_err("unknown service").code(),
        tonic::Code::NotFound
    );
}

#[test]
fn the_readme_documents_every_reason_code_with_its_status() {
    use envoy_jwt_authz::reason::Reason;
    let readme = std::fs::read_to_string(repo("README.md")).unwrap();
    for reason in Reason::ALL {
        let row = format!(
            "| `{}` | {} | {} | {} | {} |",
            reason.code(),
            reason.http_status(),
            reason.error_code().map_or("–", |c| c.as_str()),
            reason.description(),
            reason.hint()
        );
        assert!(
            readme.contains(&row),
            "README lacks the row starting {row:?}"
        );
    }
}

/// Also runs the one-worker (current-thread) runtime that sidecars use.
#[test]
fn json_logs_are_one_json_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, support::config_yaml("")).unwrap();
    let mut server = Server::start_with(
        &config,
        tempfile::tempdir().unwrap(),
        &["--log-format", "json", "--worker-threads", "1"],
    );
    let envoy = crate::support::envoy::Envoy::start(server.grpc.port(), false);
    let token = crate::support::mint(&crate::support::ec_key(), &support::claims());
    assert_eq!(http::get(envoy.listener, "/", Some(&token)).status, 200);
    assert_eq!(http::get(envoy.listener, "/", None).status, 401);
    assert!(server.terminate().success());
    let log = server.log();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(
        lines.iter().any(|l| l["fields"]["message"] == "serving"),
        "{log}"
    );
    assert!(
        lines.iter().any(|l| l["fields"]["message"] == "stopped"),
        "{log}"
    );
    let denial = lines
        .iter()
        .find(|l| l["target"] == "audit")
        .expect("an audit event");
    assert_eq!(denial["fields"]["reason"], "no_credentials");
}
