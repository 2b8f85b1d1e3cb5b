//! Unit tests of the state gauges the alerts read: `authz_ready`,
//! `config_last_reload_successful`, `jwks_last_fetch_failed` and `jwks_stale_after_seconds`.

use super::*;
use crate::config::watch::{Outcome, Reloader};
use crate::mint::test_keys;
use crate::observe::Observer;
use std::path::Path;
use std::time::Duration;

/// A config whose one provider holds an inline key, plus `extra` providers.
fn config(extra: &str) -> String {
    let jwks = serde_json::json!({"keys": [test_keys::ec(crate::algorithm::Algorithm::Es256, "k1").public_jwk()]});
    format!(
        "providers:\n  - name: local\n    issuer: https://local.test\n    audiences: [a]\n    jwks: {{ inline: '{jwks}' }}\n{extra}"
    )
}

/// A remote provider `name` fetching from `url`.
fn remote(name: &str, url: &str, intervals: &str) -> String {
    format!(
        "  - name: {name}\n    issuer: https://{name}.test\n    audiences: [a]\n    jwks: {{ uri: '{url}', allow_insecure_http: true, timeout: 1s, {intervals} }}\n"
    )
}

/// An observer over `snapshot` with `reloads`, and the readiness it reports.
fn observer(
    snapshot: &SharedSnapshot,
    remote: Arc<RemoteKeys>,
    reloads: Arc<ReloadStats>,
) -> (Observer, Readiness) {
    let ready = Readiness::default();
    let mut observer = Observer::new(0);
    observer.register_state(StateCollector {
        snapshot: snapshot.clone(),
        remote,
        reloads,
        cache: None,
        ready: ready.clone(),
        started: Instant::now(),
    });
    (observer, ready)
}

/// The values of the samples named exactly `series` (name and labels as exposed), `-`
/// for one that is absent.
fn samples<const N: usize>(text: &str, series: [&str; N]) -> [String; N] {
    series.map(|name| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ').map(str::to_owned))
            .unwrap_or_else(|| "-".to_owned())
    })
}

const READY: &str = "authz_ready";
const RELOADED: &str = "config_last_reload_successful";

#[test]
fn ready_follows_readiness_and_reload_success_follows_the_latest_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, config("")).unwrap();
    let snapshot = SharedSnapshot::new(crate::config::load(&path).unwrap());
    let reloader = Reloader::new(path.clone(), snapshot.clone(), None);
    let remote = RemoteKeys::new(snapshot.clone());
    let (observer, ready) = observer(&snapshot, remote, reloader.stats());
    let text = observer.metrics_text();
    assert!(text.contains("# TYPE authz_ready gauge"), "{text}");
    assert!(text.contains("# TYPE config_last_reload_successful gauge"));
    assert_eq!(samples(&text, [READY, RELOADED]), ["0", "1"], "not set yet");
    ready.set(true);
    assert_eq!(samples(&observer.metrics_text(), [READY]), ["1"]);

    std::fs::write(&path, "providers: [").unwrap();
    assert!(matches!(reloader.reload(), Outcome::Rejected(_)));
    let rejected = "config_reloads_total{result=\"rejected\"}";
    let text = observer.metrics_text();
    // The last good config keeps serving: still ready.
    assert_eq!(samples(&text, [RELOADED, rejected, READY]), ["0", "1", "1"]);
    // Back to the serving content: nothing to apply, and no longer a failed reload.
    std::fs::write(&path, config("")).unwrap();
    assert!(matches!(reloader.reload(), Outcome::Unchanged));
    assert_eq!(samples(&observer.metrics_text(), [RELOADED]), ["1"]);
    ready.set(false);
    assert_eq!(
        samples(&observer.metrics_text(), [READY]),
        ["0"],
        "shutting down"
    );
}

#[tokio::test]
async fn a_failing_remote_provider_is_flagged_not_ready_and_has_its_staleness_bound() {
    // A loopback port nothing listens on: every fetch is refused at once.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let url = format!("http://{closed}/jwks");
    let yaml = config(&format!(
        "{}{}",
        remote(
            "hourly",
            &url,
            "refresh_interval: 5m, max_refresh_interval: 1h"
        ),
        remote(
            "slow",
            &url,
            "refresh_interval: 2h, max_refresh_interval: 1h"
        )
    ));
    let snapshot =
        SharedSnapshot::new(crate::config::compile_str(&yaml, Path::new("c.yaml")).unwrap());
    let remote = RemoteKeys::new(snapshot.clone());
    let (observer, ready) = observer(&snapshot, remote.clone(), Arc::default());
    ready.set(true);
    let stale = |p: &str| format!("jwks_stale_after_seconds{{provider=\"{p}\"}}");
    let failed = |p: &str| format!("jwks_last_fetch_failed{{provider=\"{p}\"}}");
    let text = observer.metrics_text();
    // A static key set is never stale; no remote keys yet, so not ready.
    let (hourly, slow, local) = (stale("hourly"), stale("slow"), stale("local"));
    let bounds = [hourly.as_str(), slow.as_str(), local.as_str(), READY];
    assert_eq!(samples(&text, bounds), ["3600.0", "7200.0", "-", "0"]);

    remote.sync();
    let deadline = Instant::now() + Duration::from_secs(10);
    let failing = [failed("hourly"), failed("slow")];
    let text = loop {
        let text = observer.metrics_text();
        if samples(&text, failing.each_ref().map(String::as_str)) == ["1", "1"] {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "no failed fetch reported:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        text.contains("# TYPE jwks_last_fetch_failed gauge"),
        "{text}"
    );
    assert_eq!(samples(&text, [READY]), ["0"]);
    assert!(
        !text.contains("jwks_age_seconds{"),
        "never fetched, so no age:\n{text}"
    );
}
