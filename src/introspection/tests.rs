//! Unit tests of the introspector: answer lifetimes, the endpoint kept per config
//! generation (a Check on the previous snapshot does not drop the new one's cache), and a
//! request that ends without an answer releasing its token. The endpoint is a real socket
//! on loopback.

use super::*;
use serde_json::json;

#[test]
fn an_active_answer_lives_at_most_max_ttl_and_never_past_exp() {
    let max = Duration::from_secs(60);
    let claims = |v: Value| v.as_object().unwrap().clone();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert_eq!(active_ttl(&claims(json!({})), max), max);
    assert_eq!(active_ttl(&claims(json!({"exp": now + 3600})), max), max);
    let soon = active_ttl(&claims(json!({"exp": now + 10})), max);
    assert!(
        soon <= Duration::from_secs(10) && soon > Duration::from_secs(8),
        "{soon:?}"
    );
    assert_eq!(
        active_ttl(&claims(json!({"exp": now - 1})), max),
        Duration::ZERO
    );
}

/// A loopback endpoint answering `body` to every POST (one per connection); counts them.
fn endpoint(body: &'static str) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/introspect", listener.local_addr().unwrap());
    let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let (mut line, mut length) = (String::new(), 0);
            while reader.read_line(&mut line).unwrap_or(0) > 2 {
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                line.clear();
            }
            let _ = reader.read_exact(&mut vec![0; length]);
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut stream = stream;
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, count)
}

fn provider(url: &str, extra: &str) -> Provider {
    let yaml = format!(
        "providers:\n  - name: o\n    audiences: [a]\n    required_claims: []\n    introspection:\n      endpoint: '{url}'\n      allow_insecure_http: true\n{extra}"
    );
    crate::config::compile_str(&yaml, std::path::Path::new("c.yaml"))
        .unwrap()
        .providers[0]
        .clone()
}

#[tokio::test]
async fn a_check_on_the_previous_config_does_not_drop_the_new_configs_cache() {
    let (url, count) = endpoint(r#"{"active":true}"#);
    let old = provider(&url, "      timeout: 2s\n");
    let new = provider(&url, "      timeout: 3s\n");
    assert_ne!(old.fingerprint, new.fingerprint);
    let introspector = Introspector::new(Metrics::new());
    let wait = Duration::from_secs(5);
    introspector.introspect(&new, "tok", wait).await;
    introspector.introspect(&old, "other", wait).await; // a Check still on the old snapshot
    introspector.introspect(&new, "tok", wait).await;
    let calls = count.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(calls, 2, "tok was answered from the new config's cache");
}

#[tokio::test]
async fn a_request_that_ends_without_an_answer_releases_its_token() {
    let (url, _) = endpoint(r#"{"active":true}"#);
    let p = provider(&url, "");
    let introspector = Introspector::new(Metrics::new());
    let endpoint = introspector.endpoint(&p, p.introspection.as_ref().unwrap());
    let key = endpoint.cache.key("tok");
    let (sender, mut receiver) = watch::channel(None);
    lock(&endpoint.in_flight).insert(key, receiver.clone());
    let permit = endpoint.limit.clone().try_acquire_owned().unwrap();
    let available = endpoint.limit.available_permits();
    drop(Done {
        endpoint: endpoint.clone(),
        key,
        sender,
        _permit: permit,
    });
    let answer = receiver.wait_for(Option::is_some).await.unwrap().clone();
    assert!(
        matches!(answer.as_deref(), Some(Answer::Unavailable(_))),
        "{answer:?}"
    );
    assert!(
        lock(&endpoint.in_flight).is_empty(),
        "the next Check asks again"
    );
    assert_eq!(endpoint.limit.available_permits(), available + 1);
}
