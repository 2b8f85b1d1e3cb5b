//! A real Prometheus (Debian's `prometheus` package, installed by `.ci/setup-observability`)
//! on a free loopback port, with its config and TSDB in a temp dir, scraping one target every
//! second and evaluating rule files every second; killed by PID on drop. Also where
//! `promtool` is.

use super::{http, wait_for};
use serde_json::Value;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// `$name_BIN` (upper case, e.g. `PROMTOOL_BIN`), else `name` on the PATH; panics with the
/// install hint when neither exists.
pub fn tool(name: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(format!("{}_BIN", name.to_uppercase())) {
        return path.into();
    }
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .ok()
        .filter(|o| o.status.success());
    match found {
        Some(out) => String::from_utf8_lossy(&out.stdout).trim().into(),
        None => panic!(
            "{name} not found: run `.ci/setup-observability` (Debian's prometheus package) or set {}_BIN",
            name.to_uppercase()
        ),
    }
}

/// A port nothing listens on right now: bound, read and closed.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local address").port()
}

/// A running Prometheus.
pub struct Prometheus {
    child: Child,
    pub addr: SocketAddr,
    /// The scrape job's name (the `job` label of every scraped series).
    pub job: &'static str,
    dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts Prometheus scraping `target`'s `/metrics` with `rule_files` loaded, and waits
    /// until it is ready.
    pub fn start(target: SocketAddr, rule_files: &[&Path]) -> Prometheus {
        let dir = tempfile::tempdir().expect("temp dir");
        let job = "envoy-jwt-authz";
        let rules: String = rule_files
            .iter()
            .map(|f| format!("  - {}\n", f.display()))
            .collect();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nrule_files:\n{rules}scrape_configs:\n  - job_name: {job}\n    static_configs:\n      - targets: ['{target}']\n"
        );
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, config).expect("write prometheus.yml");
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("log");
        let child = Command::new(tool("prometheus"))
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn prometheus");
        let mut prometheus = Prometheus {
            child,
            addr,
            job,
            dir,
        };
        wait_for("Prometheus to be ready", Duration::from_secs(60), || {
            if let Ok(Some(status)) = prometheus.child.try_wait() {
                panic!("prometheus exited early ({status}):\n{}", prometheus.log());
            }
            http::request(addr, "GET", "/-/ready", &[])
                .ok()
                .filter(|r| r.status == 200)
        });
        prometheus
    }

    /// What Prometheus logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// `GET /api/v1/<path>`: the `data` of a successful answer, or the error Prometheus gave.
    pub fn api(&self, path: &str) -> Result<Value, String> {
        let response = http::request(self.addr, "GET", &format!("/api/v1/{path}"), &[])
            .map_err(|e| e.to_string())?;
        let body: Value = serde_json::from_str(&response.body)
            .map_err(|e| format!("{}: {e}: {}", response.status, response.body))?;
        if body["status"] == "success" {
            Ok(body["data"].clone())
        } else {
            Err(format!("{}: {}", response.status, response.body))
        }
    }

    /// An instant query: the result vector (or an error, e.g. a parse error).
    pub fn query(&self, expr: &str) -> Result<Value, String> {
        let encoded: String = form_urlencoded::byte_serialize(expr.as_bytes()).collect();
        let data = self.api(&format!("query?query={encoded}"))?;
        match data["resultType"].as_str() {
            Some("vector") => Ok(data["result"].clone()),
            other => Err(format!("not a vector ({other:?}): {data}")),
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
