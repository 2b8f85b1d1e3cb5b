//! The real `envoy-jwt-authz` binary as a child process on free loopback ports.

use super::wait_for;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

/// A running server; killed (by its PID) on drop if still running.
pub struct Server {
    child: Option<Child>,
    pub grpc: SocketAddr,
    /// Probes and `/metrics` (`--admin-listen`).
    pub admin: SocketAddr,
    /// `/status`, `/debug/*` and `POST /jwks/refresh` (`--debug-listen`).
    pub debug: SocketAddr,
    /// The HTTP check listener, when started with `--http-listen`.
    pub http: Option<SocketAddr>,
    pub dir: tempfile::TempDir,
    stderr_path: PathBuf,
}

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_envoy-jwt-authz")
}

/// Runs `check-config` on `config` (written to a temp file), asserts it succeeded, and
/// asserts each of `lines` is one whole line of what it printed.
pub fn assert_check_config_prints(config: &str, lines: &[&str]) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("c.yaml");
    std::fs::write(&path, config).expect("write config");
    let out = Command::new(binary())
        .arg("check-config")
        .arg(&path)
        .output()
        .expect("run check-config");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    for line in lines {
        assert!(
            stdout.lines().any(|l| l == *line),
            "no {line:?} in:\n{stdout}"
        );
    }
}

impl Server {
    /// Writes `config` to a temp dir and serves it on 127.0.0.1:0 (every port).
    pub fn start(config: &str) -> Server {
        Server::start_with_env(config, &[])
    }

    /// Serves the config file at `path`; `dir` holds the address file and logs.
    pub fn start_at(path: &Path, dir: tempfile::TempDir) -> Server {
        Server::start_with(path, dir, &[])
    }

    /// As `start`, with these environment variables set for the server.
    pub fn start_with_env(config: &str, env: &[(&str, &str)]) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        // The config gets a directory of its own: the server watches it, and the log and
        // address file written beside it must not look like config changes.
        std::fs::create_dir(dir.path().join("config")).expect("config dir");
        let path = dir.path().join("config/config.yaml");
        std::fs::write(&path, config).expect("write config");
        Server::spawn(&path, dir, &[], env)
    }

    /// [`Server::start`] with extra `serve` arguments.
    pub fn start_with_args(config: &str, extra: &[&str]) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(dir.path().join("config")).expect("config dir");
        let path = dir.path().join("config/config.yaml");
        std::fs::write(&path, config).expect("write config");
        Server::spawn(&path, dir, extra, &[])
    }

    /// As `start_at`, with extra `serve` arguments.
    pub fn start_with(path: &Path, dir: tempfile::TempDir, extra: &[&str]) -> Server {
        Server::spawn(path, dir, extra, &[])
    }

    fn spawn(path: &Path, dir: tempfile::TempDir, extra: &[&str], env: &[(&str, &str)]) -> Server {
        let address_file = dir.path().join("addresses.json");
        let stderr_path = dir.path().join("server.log");
        let child = Command::new(binary())
            .args(["serve", "--config"])
            .arg(path)
            .args([
                "--grpc-listen",
                "127.0.0.1:0",
                "--admin-listen",
                "127.0.0.1:0",
                "--debug-listen",
                "127.0.0.1:0",
                "--drain-timeout",
                "5s",
                "--address-file",
            ])
            .arg(&address_file)
            .args(extra)
            // The proxy variables of whoever runs the tests never reach the server: every
            // IdP here is on loopback, and a proxy test sets its own.
            .env_remove("HTTPS_PROXY")
            .env_remove("https_proxy")
            .env_remove("HTTP_PROXY")
            .env_remove("http_proxy")
            .env_remove("ALL_PROXY")
            .env_remove("all_proxy")
            .env_remove("NO_PROXY")
            .env_remove("no_proxy")
            // Nor do their trace exporter settings: a test that traces sets its own.
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr_path).expect("log file"))
            .spawn()
            .expect("spawn envoy-jwt-authz");
        let mut server = Server {
            child: Some(child),
            grpc: ([0, 0, 0, 0], 0).into(),
            admin: ([0, 0, 0, 0], 0).into(),
            debug: ([0, 0, 0, 0], 0).into(),
            http: None,
            dir,
            stderr_path,
        };
        let addresses: serde_json::Value =
            wait_for("the address file", Duration::from_secs(20), || {
                if let Some(status) = server
                    .child
                    .as_mut()
                    .and_then(|c| c.try_wait().ok().flatten())
                {
                    panic!("server exited early ({status}):\n{}", server.log());
                }
                std::fs::read_to_string(&address_file)
                    .ok()
                    .and_then(|t| serde_json::from_str(&t).ok())
            });
        server.grpc = addresses["grpc"]
            .as_str()
            .and_then(|a| a.parse().ok())
            .expect("grpc address");
        server.admin = addresses["admin"]
            .as_str()
            .and_then(|a| a.parse().ok())
            .expect("admin address");
        server.debug = addresses["debug"]
            .as_str()
            .and_then(|a| a.parse().ok())
            .expect("debug address");
        server.http = addresses["http"].as_str().and_then(|a| a.parse().ok());
        server
    }

    /// The config file written by [`Server::start`].
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("config/config.yaml")
    }

    /// What the server wrote to stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Sends `signal` (e.g. `-HUP`) to the server process.
    pub fn signal(&self, signal: &str) {
        let ok = Command::new("kill")
            .args([signal, &self.pid().to_string()])
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill {signal} failed");
    }

    /// The `/status` document, from the debug listener.
    pub fn status(&self) -> serde_json::Value {
        let response = super::http::request(self.debug, "GET", "/status", &[]).expect("/status");
        assert_eq!(response.status, 200);
        serde_json::from_str(&response.body).expect("/status JSON")
    }

    /// `POST /jwks/refresh` on the debug listener.
    pub fn refresh_jwks(&self) -> super::http::Response {
        let headers = [("Content-Length", "0")];
        super::http::request(self.debug, "POST", "/jwks/refresh", &headers).expect("refresh")
    }

    /// The Prometheus text of `/metrics`, from the admin listener.
    pub fn metrics(&self) -> String {
        super::http::request(self.admin, "GET", "/metrics", &[])
            .expect("/metrics")
            .body
    }

    /// The value of the `/metrics` line starting with `prefix` (see [`metric`]).
    pub fn metric(&self, prefix: &str) -> u64 {
        metric(&self.metrics(), prefix)
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        let ok = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill -TERM failed");
        wait_for("the server to exit", Duration::from_secs(15), || {
            child.try_wait().ok().flatten()
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The value of the metric line of `metrics` starting with `prefix` (labels included, or a
/// space after a bare name), 0 when absent.
pub fn metric(metrics: &str, prefix: &str) -> u64 {
    metrics
        .lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}
