//! panva's `oidc-provider` (npm, pinned in `tests/interop/oidc-provider/`) as a child
//! process on a free loopback port: its issuer and endpoints (from its own discovery
//! document), access tokens by `client_credentials`, RFC 7009 revocation, and DPoP-bound
//! tokens with their proofs made by panva's `jose` (`dpop-client.js`, RFC 9449).
//!
//! `.ci/setup-node-interop` installs it (`npm ci`); a missing install fails the test with
//! that hint, nothing is skipped. The clients are the ones `server.js` registers.

use super::{http, wait_for};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The resource server: the client we introspect as (`client_secret_basic`).
pub const GATEWAY_ID: &str = "api-gateway";
pub const GATEWAY_SECRET: &str = "gw:s3cr3t%with+odd chars";
/// The API's caller, allowed `orders.read orders.write` by `client_credentials`.
pub const APP_ID: &str = "orders-app";
const APP_SECRET: &str = "app-secret";

/// What `dpop-client.js` printed: a token from the token endpoint, asked for with a DPoP
/// proof, and one proof per request the test named, by the same key, with `ath`.
#[derive(Debug, serde::Deserialize)]
pub struct DpopGrant {
    /// `DPoP` when oidc-provider bound the token to the proof's key.
    #[serde(default)]
    pub token_type: String,
    pub access_token: String,
    /// jose's RFC 7638 thumbprint of the client's public key.
    pub jkt: String,
    /// The client's key pair (JWKs), for [`DpopGrant::proofs_with_nonce`].
    key: serde_json::Value,
    pub proofs: Vec<String>,
}

impl DpopGrant {
    /// New proofs by this grant's key for its token, with the server's DPoP `nonce`.
    pub fn proofs_with_nonce(&self, nonce: &str, requests: &[(&str, &str)]) -> Vec<String> {
        let input = serde_json::json!({
            "key": self.key,
            "access_token": self.access_token,
            "nonce": nonce,
            "requests": requests,
        });
        dpop_client(&input, "").proofs
    }
}

/// Runs `node dpop-client.js <input>` and reads its JSON line; at most 30 s. A failure
/// panics with what it said and `context`.
fn dpop_client(input: &serde_json::Value, context: &str) -> DpopGrant {
    let out = tempfile::tempdir().expect("temp dir");
    let stdout = out.path().join("stdout");
    let stderr = out.path().join("stderr");
    let child = Command::new(node())
        .arg("dpop-client.js")
        .arg(input.to_string())
        .current_dir(fixture())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout).expect("stdout file"))
        .stderr(std::fs::File::create(&stderr).expect("stderr file"))
        .spawn()
        .expect("run node dpop-client.js");
    // Ended by PID if the wait below gives up on it.
    let mut child = Ended(child);
    let status = wait_for("dpop-client.js", Duration::from_secs(30), || {
        child.0.try_wait().expect("dpop-client.js status")
    });
    let read = |path: &Path| std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        status.success(),
        "dpop-client.js: {status}\n{}\n{context}",
        read(&stderr)
    );
    serde_json::from_str(&read(&stdout)).expect("dpop-client.js's JSON line")
}

/// A running oidc-provider; killed by PID on drop.
pub struct OidcProvider {
    child: Child,
    pub issuer: String,
    pub token_endpoint: String,
    pub introspection_endpoint: String,
    pub revocation_endpoint: String,
    dir: tempfile::TempDir,
}

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/oidc-provider")
}

/// `$NODE`, else `node` on the PATH.
fn node() -> std::ffi::OsString {
    std::env::var_os("NODE").unwrap_or_else(|| "node".into())
}

impl OidcProvider {
    /// Starts `node server.js 0` and waits for the issuer line and the discovery document.
    pub fn start() -> OidcProvider {
        let dir = fixture();
        assert!(
            dir.join("node_modules/oidc-provider/package.json").exists(),
            "oidc-provider is not installed: run `.ci/setup-node-interop` (npm ci in {})",
            dir.display()
        );
        let node = node();
        let logs = tempfile::tempdir().expect("temp dir");
        let stdout = logs.path().join("stdout.log");
        let child = Command::new(&node)
            .arg("server.js")
            .arg("0")
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).expect("stdout file"))
            .stderr(std::fs::File::create(logs.path().join("stderr.log")).expect("log"))
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run {node:?} ({e}): run `.ci/setup-node-interop` or set NODE")
            });
        // Owned by the guard from here on, so a failed wait below still ends the process.
        let mut op = OidcProvider {
            child,
            issuer: String::new(),
            token_endpoint: String::new(),
            introspection_endpoint: String::new(),
            revocation_endpoint: String::new(),
            dir: logs,
        };
        op.issuer = wait_for(
            "oidc-provider's issuer line",
            Duration::from_secs(30),
            || {
                if let Ok(Some(status)) = op.child.try_wait() {
                    panic!("oidc-provider exited early ({status}):\n{}", op.log());
                }
                // Its notices go to stdout too: the line to read is the JSON one.
                let text = std::fs::read_to_string(&stdout).ok()?;
                text.lines()
                    .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                    .find_map(|v| v["issuer"].as_str().map(str::to_owned))
            },
        );
        // It builds the endpoint URLs from the request's Host: send the issuer's.
        let host = op.issuer.trim_start_matches("http://").to_owned();
        let discovery = http::request(
            op.addr(),
            "GET",
            "/.well-known/openid-configuration",
            &[("Host", &host)],
        )
        .expect("discovery");
        assert_eq!(discovery.status, 200, "{discovery:?}");
        let doc: serde_json::Value = serde_json::from_str(&discovery.body).expect("JSON");
        assert_eq!(doc["issuer"], op.issuer.as_str());
        let endpoint = |name: &str| {
            doc[name]
                .as_str()
                .unwrap_or_else(|| panic!("no {name} in {doc}"))
                .to_owned()
        };
        op.token_endpoint = endpoint("token_endpoint");
        op.introspection_endpoint = endpoint("introspection_endpoint");
        op.revocation_endpoint = endpoint("revocation_endpoint");
        op
    }

    fn addr(&self) -> std::net::SocketAddr {
        let authority = self.issuer.strip_prefix("http://").expect("http issuer");
        authority.parse().expect("127.0.0.1:port")
    }

    /// An access token for [`APP_ID`] with `scope`, for the RFC 8707 `resource` if given.
    pub fn client_credentials(&self, scope: &str, resource: Option<&str>) -> String {
        let mut form = vec![("grant_type", "client_credentials"), ("scope", scope)];
        form.extend(resource.map(|r| ("resource", r)));
        let answer = http::post_form(&self.token_endpoint, (APP_ID, APP_SECRET), &form);
        assert_eq!(answer.status, 200, "token endpoint: {answer:?}");
        let json: serde_json::Value = serde_json::from_str(&answer.body).expect("JSON");
        assert_eq!(json["token_type"], "Bearer", "{json}");
        json["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    /// A DPoP-bound access token for [`APP_ID`] with `scope`, for `resource`, and a proof for
    /// each `(method, url)` of `requests`: `dpop-client.js` (jose) makes a key for the JWS
    /// algorithm `alg` and every proof, the token request's included.
    pub fn dpop_client_credentials(
        &self,
        alg: &str,
        scope: &str,
        resource: &str,
        requests: &[(&str, &str)],
    ) -> DpopGrant {
        let input = serde_json::json!({
            "alg": alg,
            "requests": requests,
            "token_request": {
                "endpoint": self.token_endpoint,
                "client_id": APP_ID,
                "client_secret": APP_SECRET,
                "scope": scope,
                "resource": resource,
            },
        });
        dpop_client(&input, &format!("oidc-provider:\n{}", self.log()))
    }

    /// What the introspection endpoint answers about `token` when we ask it directly.
    pub fn introspect(&self, token: &str) -> serde_json::Value {
        let form = [("token", token), ("token_type_hint", "access_token")];
        let answer = http::post_form(
            &self.introspection_endpoint,
            (GATEWAY_ID, GATEWAY_SECRET),
            &form,
        );
        assert_eq!(answer.status, 200, "introspection endpoint: {answer:?}");
        serde_json::from_str(&answer.body).expect("JSON")
    }

    /// Revokes `token` (RFC 7009) as the client it was issued to.
    pub fn revoke(&self, token: &str) {
        let form = [("token", token), ("token_type_hint", "access_token")];
        let answer = http::post_form(&self.revocation_endpoint, (APP_ID, APP_SECRET), &form);
        assert_eq!(answer.status, 200, "revocation endpoint: {answer:?}");
    }

    /// What oidc-provider wrote to stderr (and stdout) so far.
    pub fn log(&self) -> String {
        let read = |name: &str| std::fs::read_to_string(self.dir.path().join(name));
        format!(
            "{}{}",
            read("stdout.log").unwrap_or_default(),
            read("stderr.log").unwrap_or_default()
        )
    }
}

/// A child process killed on drop (a no-op once it exited and was waited for).
struct Ended(Child);

impl Drop for Ended {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
