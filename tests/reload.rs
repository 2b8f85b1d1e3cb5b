//! Hot reload through the running server and a real Envoy: every way operators change a
//! file (in place, temp + rename, a Kubernetes `..data` symlink swap, delete + recreate, a
//! JWKS file rotation, SIGHUP), invalid content keeping the last good config, and 20
//! reloads under steady load with zero failed valid requests. Waits are bounded polls on
//! the observable answer, never fixed sleeps.

use crate::support::envoy::Envoy;
use crate::support::load::Load;
use crate::support::server::Server;
use crate::support::{self, AUDIENCE, ISSUER, ec_key, ec_key_2, http, mint, wait_for};
use envoy_jwt_authz::mint::SigningKey;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);

/// A config trusting `keys` for the test issuer, keys inline.
fn config_trusting(keys: &[&SigningKey]) -> String {
    let jwks = json!({ "keys": keys.iter().map(|k| k.public_jwk()).collect::<Vec<_>>() });
    format!(
        "providers:\n  - name: idp\n    issuer: {ISSUER}\n    audiences: [{AUDIENCE}]\n    jwks:\n      inline: '{jwks}'\n"
    )
}

/// A config whose keys come from `jwks.json` beside it.
fn config_with_jwks_file() -> String {
    format!(
        "providers:\n  - name: idp\n    issuer: {ISSUER}\n    audiences: [{AUDIENCE}]\n    jwks:\n      file: jwks.json\n"
    )
}

fn jwks_of(keys: &[&SigningKey]) -> String {
    json!({ "keys": keys.iter().map(|k| k.public_jwk()).collect::<Vec<_>>() }).to_string()
}

/// Replaces `path` atomically, as editors and config tools do.
fn write_by_rename(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp~");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

struct Setup {
    server: Server,
    envoy: Envoy,
    config: PathBuf,
    _config_dir: tempfile::TempDir,
}

/// Server (watching `config.yaml` in its own directory, with this debounce) behind Envoy.
fn setup(initial: &str, extra_files: &[(&str, &str)], debounce: &str) -> Setup {
    let config_dir = tempfile::tempdir().unwrap();
    for (name, text) in extra_files {
        std::fs::write(config_dir.path().join(name), text).unwrap();
    }
    let config = config_dir.path().join("config.yaml");
    std::fs::write(&config, initial).unwrap();
    let server = Server::start_with(
        &config,
        tempfile::tempdir().unwrap(),
        &["--watch-debounce", debounce],
    );
    let envoy = Envoy::start(server.grpc.port(), false);
    Setup {
        server,
        envoy,
        config,
        _config_dir: config_dir,
    }
}

impl Setup {
    fn status_of(&self, key: &SigningKey) -> u16 {
        http::get(
            self.envoy.listener,
            "/",
            Some(&mint(key, &support::claims())),
        )
        .status
    }

    /// Polls until `key`'s token gets `status`.
    fn wait_status(&self, key: &SigningKey, status: u16) {
        wait_for(&format!("{:?} to get {status}", key.kid()), WAIT, || {
            (self.status_of(key) == status).then_some(())
        });
    }

    fn reloads(&self) -> (u64, u64) {
        let s = self.server.status();
        (
            s["config"]["reloads_applied"].as_u64().unwrap(),
            s["config"]["reloads_rejected"].as_u64().unwrap(),
        )
    }

    fn wait_reloads(&self, applied: u64, rejected: u64) {
        wait_for(
            &format!("reload counters ({applied}, {rejected})"),
            WAIT,
            || (self.reloads() == (applied, rejected)).then_some(()),
        );
    }

    /// Starts trusting key 1 only; checks the starting answers.
    fn assert_trusts_only_key_1(&self) {
        assert_eq!(self.status_of(&ec_key()), 200, "{}", self.server.log());
        assert_eq!(self.status_of(&ec_key_2()), 401);
    }

    /// After a change to trust key 2 only.
    fn wait_trusts_only_key_2(&self) {
        self.wait_status(&ec_key_2(), 200);
        assert_eq!(self.status_of(&ec_key()), 401);
    }
}

#[test]
fn a_file_written_in_place_is_reloaded() {
    let s = setup(&config_trusting(&[&ec_key()]), &[], "100ms");
    s.assert_trusts_only_key_1();
    std::fs::write(&s.config, config_trusting(&[&ec_key_2()])).unwrap();
    s.wait_trusts_only_key_2();
    assert!(
        s.server.log().contains("config reloaded"),
        "{}",
        s.server.log()
    );
}

#[test]
fn a_file_replaced_by_rename_is_reloaded() {
    let s = setup(&config_trusting(&[&ec_key()]), &[], "100ms");
    s.assert_trusts_only_key_1();
    write_by_rename(&s.config, &config_trusting(&[&ec_key_2()]));
    s.wait_trusts_only_key_2();
}

#[test]
fn a_kubernetes_configmap_symlink_swap_is_reloaded() {
    // The kubelet's layout: config.yaml -> ..data/config.yaml, ..data -> ..<timestamp>/.
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().to_owned();
    let first = dir.join("..2026_11_24_00_00_00.000000001");
    std::fs::create_dir(&first).unwrap();
    std::fs::write(first.join("config.yaml"), config_trusting(&[&ec_key()])).unwrap();
    std::os::unix::fs::symlink(first.file_name().unwrap(), dir.join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/config.yaml", dir.join("config.yaml")).unwrap();
    let server = Server::start_with(
        &dir.join("config.yaml"),
        tempfile::tempdir().unwrap(),
        &["--watch-debounce", "100ms"],
    );
    let envoy = Envoy::start(server.grpc.port(), false);
    let s = Setup {
        server,
        envoy,
        config: dir.join("config.yaml"),
        _config_dir: root,
    };
    s.assert_trusts_only_key_1();

    let second = dir.join("..2026_11_24_00_01_00.000000002");
    std::fs::create_dir(&second).unwrap();
    std::fs::write(second.join("config.yaml"), config_trusting(&[&ec_key_2()])).unwrap();
    std::os::unix::fs::symlink(second.file_name().unwrap(), dir.join("..data_tmp")).unwrap();
    std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
    std::fs::remove_dir_all(&first).unwrap();
    s.wait_trusts_only_key_2();
}

#[test]
fn a_deleted_file_keeps_the_last_good_config_until_it_is_recreated() {
    let s = setup(&config_trusting(&[&ec_key()]), &[], "100ms");
    s.assert_trusts_only_key_1();
    std::fs::remove_file(&s.config).unwrap();
    s.wait_reloads(0, 1);
    s.assert_trusts_only_key_1();
    assert!(
        s.server.status()["config"]["last_reload_error"]
            .as_str()
            .unwrap()
            .contains("cannot read")
    );
    std::fs::write(&s.config, config_trusting(&[&ec_key_2()])).unwrap();
    s.wait_trusts_only_key_2();
    assert_eq!(
        s.server.status()["config"]["last_reload_error"],
        serde_json::Value::Null
    );
}

#[test]
fn invalid_content_keeps_the_last_good_config_and_a_fix_is_picked_up() {
    let s = setup(&config_trusting(&[&ec_key()]), &[], "100ms");
    s.assert_trusts_only_key_1();
    let broken = config_trusting(&[&ec_key_2()]).replace("audiences:", "audience:");
    write_by_rename(&s.config, &broken);
    s.wait_reloads(0, 1);
    let error = s.server.status()["config"]["last_reload_error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        error.contains(&s.config.display().to_string())
            && error.contains("unknown field `audience`"),
        "{error}"
    );
    s.assert_trusts_only_key_1();
    assert_eq!(
        http::request(s.server.admin, "GET", "/readyz", &[])
            .unwrap()
            .status,
        200,
        "still ready"
    );
    assert!(s.server.log().contains("config reload rejected"));

    // A provider left with no usable key is invalid too.
    write_by_rename(&s.config, &config_trusting(&[]));
    s.wait_reloads(0, 2);
    s.assert_trusts_only_key_1();

    write_by_rename(&s.config, &config_trusting(&[&ec_key_2()]));
    s.wait_trusts_only_key_2();
    assert_eq!(s.reloads(), (1, 2));
}

#[test]
fn identical_content_is_not_a_reload() {
    let text = config_trusting(&[&ec_key()]);
    let s = setup(&text, &[], "100ms");
    s.assert_trusts_only_key_1();
    // A touch and a same-content rewrite, then a real change: exactly one reload counted.
    std::fs::File::options()
        .append(true)
        .open(&s.config)
        .unwrap()
        .set_modified(std::time::SystemTime::now())
        .unwrap();
    write_by_rename(&s.config, &text);
    write_by_rename(&s.config, &config_trusting(&[&ec_key_2()]));
    s.wait_trusts_only_key_2();
    assert_eq!(s.reloads(), (1, 0));
    assert_eq!(
        s.server.log().matches("config reloaded").count(),
        1,
        "{}",
        s.server.log()
    );
}

#[test]
fn a_rotated_jwks_file_changes_only_the_keys() {
    let s = setup(
        &config_with_jwks_file(),
        &[("jwks.json", &jwks_of(&[&ec_key()]))],
        "100ms",
    );
    let jwks = s.config.with_file_name("jwks.json");
    s.assert_trusts_only_key_1();
    // The IdP publishes the new key beside the old one, then retires the old one.
    write_by_rename(&jwks, &jwks_of(&[&ec_key(), &ec_key_2()]));
    s.wait_status(&ec_key_2(), 200);
    assert_eq!(s.status_of(&ec_key()), 200);
    write_by_rename(&jwks, &jwks_of(&[&ec_key_2()]));
    s.wait_status(&ec_key(), 401);
    assert_eq!(s.server.status()["providers"][0]["kids"], json!(["ec-2"]));
    let log = s.server.log();
    assert!(
        log.contains("provider idp changed, keys added [ec-2]"),
        "{log}"
    );
    assert!(
        log.contains("provider idp changed, keys removed [ec-1]"),
        "{log}"
    );
}

#[test]
fn sighup_reloads_at_once() {
    // With a one-hour debounce, only the signal can make the change visible in time.
    let s = setup(&config_trusting(&[&ec_key()]), &[], "1h");
    s.assert_trusts_only_key_1();
    write_by_rename(&s.config, &config_trusting(&[&ec_key_2()]));
    s.server.signal("-HUP");
    s.wait_trusts_only_key_2();
}

#[test]
fn twenty_reloads_under_load_fail_no_valid_request() {
    // Provider `steady` never changes; provider `moving` flips its audience, and every
    // other write is invalid.
    let moving = SigningKey::generate(envoy_jwt_authz::algorithm::Algorithm::Es256)
        .unwrap()
        .with_kid("mv");
    let config = |aud: &str| {
        format!(
            "{}  - name: moving\n    issuer: https://moving.test\n    audiences: [{aud}]\n    jwks:\n      inline: '{}'\n",
            config_trusting(&[&ec_key()]),
            jwks_of(&[&moving])
        )
    };
    let s = setup(&config("api://one"), &[], "100ms");
    let moving_token = mint(
        &moving,
        &json!({"iss": "https://moving.test", "aud": "api://one", "exp": support::claims()["exp"]}),
    );
    assert_eq!(
        http::get(s.envoy.listener, "/", Some(&moving_token)).status,
        200
    );

    let steady = mint(&ec_key(), &support::claims());
    let load = Load::start(s.envoy.listener, move || steady.clone());
    let mut expected = (0, 0);
    for i in 0..20 {
        if i % 2 == 1 {
            write_by_rename(&s.config, &format!("{}\nbogus: {i}\n", config("api://one")));
            expected.1 += 1;
            s.wait_reloads(expected.0, expected.1);
        } else {
            let aud = if i % 4 == 0 { "api://two" } else { "api://one" };
            write_by_rename(&s.config, &config(aud));
            expected.0 += 1;
            s.wait_reloads(expected.0, expected.1);
        }
        // The moving provider's answer follows its current audience, at once.
        let want = if (i % 4 == 0) || (i % 4 == 1) {
            401
        } else {
            200
        };
        assert_eq!(
            http::get(s.envoy.listener, "/", Some(&moving_token)).status,
            want,
            "after reload {i}"
        );
    }
    let (sent, failed) = load.finish();
    assert!(sent > 20, "the load loop ran ({sent} requests)");
    assert_eq!(
        failed, 0,
        "{failed} of {sent} valid requests failed during reloads"
    );
}
