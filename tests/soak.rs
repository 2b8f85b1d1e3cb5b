//! The fault soak: the real binary behind a real Envoy, under a mixed stream of requests
//! (valid distinct and reused tokens from two providers, invalid tokens of many kinds,
//! bursts of unknown kids) while the JWKS server rotates keys and fails on a schedule (down,
//! 500, garbage, hanging) and the config file is replaced every few seconds, sometimes with
//! an invalid version. It asserts: no valid request denied (a token whose key was withdrawn
//! moments ago may go either way), no invalid request allowed and each denied with its exact
//! status, no 5xx, bounded JWKS fetches, RSS at the end within 10 % of RSS after warm-up (which
//! lasts until the token cache is full), no panic in the log, and a clean SIGTERM at the end.
//!
//! `SOAK_SECONDS` sets the length: 60 by default (the run in `.ci/run`); `.ci/soak [minutes]`
//! runs the long version (10 minutes by default) and prints the report.
//! (Over 400 lines: the request mix, its tally and the rules every answer must follow are
//! one experiment and read best together.)

use crate::support::envoy::Envoy;
use crate::support::idp::{Answer, Idp};
use crate::support::server::Server;
use crate::support::{AUDIENCE, ISSUER, claims_with, http, mint, rsa_key};
use base64::Engine;
use envoy_jwt_authz::algorithm::Algorithm;
use envoy_jwt_authz::mint::SigningKey;
use envoy_jwt_authz::token::verify::UnixTime;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The IdP publishes a new key every period; it signs with it from the next period on.
const ROTATE: Duration = Duration::from_secs(8);
/// The config file is replaced this often.
const CHURN: Duration = Duration::from_millis(2500);
/// In each rotation period the IdP misbehaves from 3 s to 5.5 s (after the new key set has
/// been fetched once, and long before the pre-published key is used).
const FAULT_WINDOW: (Duration, Duration) = (Duration::from_secs(3), Duration::from_millis(5500));
const FAULTS: [Answer; 4] = [
    Answer::Down,
    Answer::Status(500),
    Answer::Garbage,
    Answer::Hang,
];
/// The remote provider's refresh timing (small, so a minute sees many fetches).
const REFRESH_SECONDS: u64 = 2;
const MIN_REFETCH_SECONDS: u64 = 4;
const LOCAL_ISSUER: &str = "https://local.test";
const CLIENTS: usize = 3;
/// The server's token cache, smaller than the default so that even a slow machine fills it
/// within the warm-up: RSS after warm-up must include a full cache, or the growth measured
/// afterwards is the cache filling rather than a leak.
const CACHE_ENTRIES: u64 = 1024;

/// What a request carries, and so what its answer must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// A fresh token signed with the IdP's current key.
    Fresh,
    /// The same token again (a verified-token cache hit, unless keys or config just changed).
    Reused,
    /// A fresh token of the second provider, whose keys live in the churning config file.
    Local,
    /// Signed with a key the IdP withdrew at the last rotation: either answer is right.
    RecentlyWithdrawn,
    /// Signed with a key withdrawn at least one rotation period ago.
    LongWithdrawn,
    Expired,
    WrongAudience,
    UnknownIssuer,
    /// An untrusted key presenting the current key's kid.
    Impostor,
    AlgNone,
    /// A valid token's payload swapped for another (signature kept).
    Tampered,
    Garbage,
    NoToken,
    /// Two `Authorization` headers (Envoy joins them: a malformed request).
    TwoHeaders,
    /// A random kid (the server may fetch the key set again, rate-limited).
    UnknownKid,
}

const KINDS: [Kind; 15] = [
    Kind::Fresh,
    Kind::Reused,
    Kind::Local,
    Kind::RecentlyWithdrawn,
    Kind::LongWithdrawn,
    Kind::Expired,
    Kind::WrongAudience,
    Kind::UnknownIssuer,
    Kind::Impostor,
    Kind::AlgNone,
    Kind::Tampered,
    Kind::Garbage,
    Kind::NoToken,
    Kind::TwoHeaders,
    Kind::UnknownKid,
];

impl Kind {
    /// The status this kind must get; `None`: 200 or 401 are both right.
    fn expected(self) -> Option<u16> {
        match self {
            Kind::Fresh | Kind::Reused | Kind::Local => Some(200),
            Kind::RecentlyWithdrawn => None,
            Kind::TwoHeaders => Some(400),
            _ => Some(401),
        }
    }

    /// How many of each 100 requests are of this kind (valid ones dominate, as in life).
    fn weight(self) -> u64 {
        match self {
            Kind::Fresh => 30,
            Kind::Reused => 20,
            Kind::Local => 10,
            _ => 40 / 12,
        }
    }
}

/// The IdP's keys: `ring[i]` is the key of rotation `i`; the JWK Set at rotation `c` holds
/// `ring[c-1..=c+1]` (previous, current, next: published a period before its first use).
struct Keys {
    ring: Vec<SigningKey>,
    current: usize,
    /// A token of the current key, sent again and again.
    reused: String,
}

impl Keys {
    fn new() -> Keys {
        let ring = vec![rotation_key(0), rotation_key(1)];
        let reused = mint(&ring[0], &remote_claims(json!({})));
        Keys {
            ring,
            current: 0,
            reused,
        }
    }

    fn rotate(&mut self) {
        self.current += 1;
        self.ring.push(rotation_key(self.current + 1));
        self.reused = mint(&self.ring[self.current], &remote_claims(json!({})));
    }

    fn published(&self) -> Value {
        let from = self.current.saturating_sub(1);
        json!({ "keys": self.ring[from..=self.current + 1].iter().map(|k| k.public_jwk()).collect::<Vec<_>>() })
    }

    /// The key withdrawn `ago` rotations ago (1: at the last rotation).
    fn withdrawn(&self, ago: usize) -> Option<SigningKey> {
        self.current
            .checked_sub(ago + 1)
            .map(|i| self.ring[i].clone())
    }
}

fn rotation_key(index: usize) -> SigningKey {
    SigningKey::generate(Algorithm::Es256)
        .expect("EC key")
        .with_kid(format!("rotation-{index}"))
}

/// Valid claims for the remote provider with a unique `jti`, plus `changes`.
fn remote_claims(changes: Value) -> Value {
    let mut random = [0u8; 12];
    aws_lc_rs::rand::fill(&mut random).expect("random");
    let mut claims = claims_with(changes);
    claims["jti"] = json!(b64(&random));
    claims
}

/// The config: the remote provider (byte-identical in every version, so its fetched keys
/// carry over), the local provider with keys inline, and what `version` varies.
fn config(jwks_url: &str, version: usize) -> (String, bool) {
    let local_jwks = json!({ "keys": [rsa_key().public_jwk()] });
    let remote = format!(
        "providers:\n  - name: idp\n    issuer: {ISSUER}\n    audiences: [{AUDIENCE}]\n    jwks:\n      uri: {jwks_url}\n      allow_insecure_http: true\n      timeout: 1s\n      refresh_interval: {REFRESH_SECONDS}s\n      min_refetch_interval: {MIN_REFETCH_SECONDS}s\n"
    );
    let local = |extra: &str, jwks: &str| {
        format!(
            "  - name: local\n    issuer: {LOCAL_ISSUER}\n    audiences: [{AUDIENCE}]\n    jwks:\n      inline: '{jwks}'\n{extra}"
        )
    };
    let decoy = format!(
        "  - name: decoy\n    issuer: https://decoy.test\n    audiences: [api://decoy]\n    jwks:\n      inline: '{local_jwks}'\n"
    );
    let jwks = local_jwks.to_string();
    match version % 8 {
        0 => (remote + &local("", &jwks), true),
        1 => (remote + &local("", &jwks) + &decoy, true),
        2 => (
            remote
                + &local("    clock_skew: 30s\n", &jwks)
                + "routes:\n  - match: { path_prefix: /decoy }\n    scopes: [decoy.read]\n",
            true,
        ),
        3 => (remote + &local("    audience: typo\n", &jwks), false),
        4 => (remote + &local("    clock_skew: 45s\n", &jwks), true),
        5 => ("providers: [\n".to_owned() + &remote, false),
        6 => (remote + &local("", &jwks) + &decoy, true),
        _ => (remote + &local("", r#"{"keys": []}"#), false),
    }
}

/// Writes the config as tools do: mostly temp + rename, sometimes in place.
fn write_config(path: &Path, text: &str, in_place: bool) {
    if in_place {
        std::fs::write(path, text).expect("write config");
    } else {
        let tmp = path.with_extension("tmp~");
        std::fs::write(&tmp, text).expect("write config");
        std::fs::rename(&tmp, path).expect("rename config");
    }
}

/// What the clients saw.
#[derive(Default)]
struct Tally {
    /// (kind, status) → count.
    answers: BTreeMap<(Kind, u16), u64>,
    /// "status error_description" → count, for denials.
    denials: BTreeMap<String, u64>,
    /// Answers that broke a rule, with what was sent (first few only).
    wrong: Vec<String>,
    wrong_count: u64,
}

impl Tally {
    fn record(&mut self, kind: Kind, response: &http::Response, elapsed: Duration) {
        *self.answers.entry((kind, response.status)).or_default() += 1;
        if response.status != 200 {
            let description = serde_json::from_str::<Value>(&response.body)
                .ok()
                .and_then(|b| b["error_description"].as_str().map(str::to_owned))
                .unwrap_or_else(|| "(no description)".to_owned());
            *self
                .denials
                .entry(format!("{} {description}", response.status))
                .or_default() += 1;
        }
        let right = match kind.expected() {
            Some(status) => response.status == status,
            None => matches!(response.status, 200 | 401),
        };
        if !right {
            self.wrong_count += 1;
            if self.wrong.len() < 20 {
                self.wrong.push(format!(
                    "{kind:?} at {elapsed:.1?}: {} {}",
                    response.status, response.body
                ));
            }
        }
    }

    fn merge(&mut self, other: Tally) {
        for (k, v) in other.answers {
            *self.answers.entry(k).or_default() += v;
        }
        for (k, v) in other.denials {
            *self.denials.entry(k).or_default() += v;
        }
        self.wrong.extend(other.wrong);
        self.wrong_count += other.wrong_count;
    }

    fn count(&self, filter: impl Fn(Kind, u16) -> bool) -> u64 {
        self.answers
            .iter()
            .filter(|((k, s), _)| filter(*k, *s))
            .map(|(_, n)| n)
            .sum()
    }
}

/// One client: picks a kind at random, sends it, records the answer.
fn client(envoy: SocketAddr, keys: &Mutex<Keys>, stop: &AtomicBool, started: Instant) -> Tally {
    let mut tally = Tally::default();
    let untrusted = SigningKey::generate(Algorithm::Es256).expect("EC key");
    let total: u64 = KINDS.iter().map(|k| k.weight()).sum();
    while !stop.load(Ordering::Relaxed) {
        let mut pick = random_u64() % total;
        let kind = *KINDS
            .iter()
            .find(|k| {
                let hit = pick < k.weight();
                pick = pick.saturating_sub(k.weight());
                hit
            })
            .expect("a kind");
        let (current, reused, recent, long) = {
            let keys = keys.lock().expect("keys");
            (
                keys.ring[keys.current].clone(),
                keys.reused.clone(),
                keys.withdrawn(1),
                keys.withdrawn(2),
            )
        };
        let token = match kind {
            Kind::Fresh => Some(mint(&current, &remote_claims(json!({})))),
            Kind::Reused => Some(reused),
            Kind::Local => Some(mint(
                &rsa_key(),
                &remote_claims(json!({ "iss": LOCAL_ISSUER })),
            )),
            Kind::RecentlyWithdrawn => recent.map(|k| mint(&k, &remote_claims(json!({})))),
            Kind::LongWithdrawn => long.map(|k| mint(&k, &remote_claims(json!({})))),
            Kind::Expired => {
                let now = UnixTime::now().0;
                let claims = remote_claims(json!({ "iat": now - 4000, "exp": now - 3600 }));
                Some(mint(&current, &claims))
            }
            Kind::WrongAudience => Some(mint(
                &current,
                &remote_claims(json!({ "aud": "api://other" })),
            )),
            Kind::UnknownIssuer => Some(mint(
                &current,
                &remote_claims(json!({ "iss": "https://evil.test" })),
            )),
            Kind::Impostor => {
                let kid = current.kid().expect("kid").to_owned();
                Some(mint(
                    &untrusted.clone().with_kid(kid),
                    &remote_claims(json!({})),
                ))
            }
            Kind::AlgNone => {
                let header = b64(br#"{"alg":"none","typ":"JWT"}"#);
                let payload = b64(remote_claims(json!({})).to_string().as_bytes());
                Some(format!("{header}.{payload}."))
            }
            Kind::Tampered => {
                let valid = mint(&current, &remote_claims(json!({})));
                let forged = b64(remote_claims(json!({ "sub": "mallory" }))
                    .to_string()
                    .as_bytes());
                let parts: Vec<&str> = valid.split('.').collect();
                Some(format!("{}.{forged}.{}", parts[0], parts[2]))
            }
            Kind::Garbage => Some("not-a-token".to_owned()),
            Kind::NoToken | Kind::TwoHeaders => None,
            Kind::UnknownKid => Some(String::new()), // a burst, below
        };
        let send = |token: Option<&str>| {
            let auth = token.map(|t| format!("Bearer {t}"));
            let mut headers: Vec<(&str, &str)> =
                auth.iter().map(|a| ("Authorization", a.as_str())).collect();
            if kind == Kind::TwoHeaders {
                headers = vec![
                    ("Authorization", "Bearer a.b.c"),
                    ("Authorization", "Bearer d.e.f"),
                ];
            }
            http::request(envoy, "GET", "/", &headers).expect("request through Envoy")
        };
        match (kind, token) {
            (Kind::UnknownKid, _) => {
                for _ in 0..10 {
                    let key = untrusted
                        .clone()
                        .with_kid(format!("unknown-{}", random_u64()));
                    let response = send(Some(&mint(&key, &remote_claims(json!({})))));
                    tally.record(kind, &response, started.elapsed());
                }
            }
            (Kind::RecentlyWithdrawn | Kind::LongWithdrawn, None) => {} // too early
            (_, token) => {
                let response = send(token.as_deref());
                tally.record(kind, &response, started.elapsed());
            }
        }
    }
    tally
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    aws_lc_rs::rand::fill(&mut bytes).expect("random");
    u64::from_le_bytes(bytes)
}

/// Resident set size of `pid` in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

#[test]
fn fault_soak_through_envoy() {
    let seconds: u64 = std::env::var("SOAK_SECONDS")
        .ok()
        .map(|s| s.parse().expect("SOAK_SECONDS is a number of seconds"))
        .unwrap_or(60);
    let duration = Duration::from_secs(seconds);
    let warm_up = (duration / 5).max(Duration::from_secs(10));

    let keys = Arc::new(Mutex::new(Keys::new()));
    let idp = Idp::http(&keys.lock().expect("keys").published());
    let (initial, _) = config(&idp.jwks_url(), 0);
    let cache_entries = CACHE_ENTRIES.to_string();
    let mut server = Server::start_with_args(&initial, &["--token-cache-entries", &cache_entries]);
    let config_path = server.config_path();
    let envoy = Envoy::start(server.grpc.port(), false);
    crate::support::wait_for("readiness", Duration::from_secs(20), || {
        http::request(server.admin, "GET", "/readyz", &[])
            .ok()
            .filter(|r| r.status == 200)
    });

    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (keys, stop, listener) = (keys.clone(), stop.clone(), envoy.listener);
            std::thread::spawn(move || client(listener, &keys, &stop, started))
        })
        .collect();

    let (mut rotations, mut writes, mut invalid_writes, mut faults) = (0usize, 0usize, 0, 0);
    let mut faulting = false;
    let mut warm_rss = None;
    let mut warm_at = Duration::ZERO;
    let mut period_start = started;
    let mut next_churn = started + CHURN;
    while started.elapsed() < duration {
        let now = Instant::now();
        if now - period_start >= ROTATE {
            rotations += 1;
            period_start = now;
            let mut keys = keys.lock().expect("keys");
            keys.rotate();
            idp.set_jwks(&keys.published());
        }
        let offset = now - period_start;
        let in_window = offset >= FAULT_WINDOW.0 && offset < FAULT_WINDOW.1;
        if in_window != faulting {
            faulting = in_window;
            faults += usize::from(in_window);
            idp.set_answer(if in_window {
                FAULTS[rotations % FAULTS.len()].clone()
            } else {
                Answer::Jwks
            });
        }
        if now >= next_churn {
            writes += 1;
            let (text, valid) = config(&idp.jwks_url(), writes);
            invalid_writes += usize::from(!valid);
            write_config(&config_path, &text, writes % 3 == 0);
            next_churn = now + CHURN;
        }
        // Warm-up ends once its time has passed and the token cache is full (a slow or
        // loaded machine takes longer to fill it); past half the run the sample is taken
        // anyway, and a cache still filling then shows as growth.
        if warm_rss.is_none()
            && started.elapsed() >= warm_up
            && (server.metric("token_cache_entries ") >= CACHE_ENTRIES
                || started.elapsed() >= duration / 2)
        {
            warm_rss = Some(rss_kib(server.pid()));
            warm_at = started.elapsed();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Relaxed);
    let mut tally = Tally::default();
    for client in clients {
        tally.merge(client.join().expect("client thread"));
    }
    idp.set_answer(Answer::Jwks);
    let end_rss = rss_kib(server.pid());
    let warm_rss = warm_rss.expect("warm-up RSS");
    let fetches = idp.hits("/jwks");
    let status = server.status();
    let log = server.log();
    let exit = server.terminate();

    let total = tally.count(|_, _| true);
    let valid_denied = tally.count(|k, s| k.expected() == Some(200) && s != 200);
    let invalid_allowed = tally.count(|k, s| k.expected().is_some_and(|e| e != 200) && s == 200);
    let server_errors = tally.count(|_, s| s >= 500);
    // Background refreshes: one per interval, or about one per second while failing
    // (backoff starts near 1 s); on-demand refetches: one per min_refetch_interval.
    let fetch_bound = seconds + seconds / MIN_REFETCH_SECONDS + 5;
    let report = json!({
        "seconds": seconds,
        "requests": total,
        "allowed": tally.count(|_, s| s == 200),
        "by_kind_and_status": tally.answers.iter().map(|((k, s), n)| format!("{k:?} {s}: {n}")).collect::<Vec<_>>(),
        "denied_by_reason": tally.denials,
        "rotations": rotations,
        "jwks_server_faults": faults,
        "config_writes": writes,
        "invalid_config_writes": invalid_writes,
        "reloads": status["config"],
        "jwks_fetches": fetches,
        "jwks_fetch_bound": fetch_bound,
        "jwks_fetch_results": status["providers"][0]["jwks"]["fetches"],
        "rss_kib_after_warm_up": warm_rss,
        "warm_up_ended_at_seconds": warm_at.as_secs_f64(),
        "rss_kib_at_end": end_rss,
    });
    println!(
        "fault soak report:\n{}",
        serde_json::to_string_pretty(&report).expect("report")
    );

    assert!(
        tally.wrong.is_empty(),
        "{} answers broke a rule (valid denied {valid_denied}, invalid allowed \
         {invalid_allowed}, 5xx {server_errors}); first ones:\n{}\n{report:#}",
        tally.wrong_count,
        tally.wrong.join("\n")
    );
    for kind in KINDS {
        assert!(
            tally.count(|k, _| k == kind) > 0,
            "no {kind:?} request was sent: {report:#}"
        );
    }
    assert!(
        fetches <= fetch_bound,
        "{fetches} JWKS fetches (bound {fetch_bound}): {report:#}"
    );
    assert!(
        status["config"]["reloads_applied"].as_u64() >= Some(3)
            && status["config"]["reloads_rejected"].as_u64() >= Some(1),
        "the config churn did not reach the server: {report:#}"
    );
    assert!(
        end_rss * 10 <= warm_rss * 11,
        "RSS grew from {warm_rss} KiB after warm-up to {end_rss} KiB: {report:#}"
    );
    assert!(!log.contains("panicked"), "a panic in the log:\n{log}");
    assert!(exit.success(), "SIGTERM ended the server with {exit}");
}
