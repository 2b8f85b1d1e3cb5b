//! Every HTTP listener (the check front end, probes, debug) closes a connection whose
//! request head does not arrive within `--header-read-timeout`: a slow client (one header
//! byte at a time) holds nothing forever, and the listener keeps serving others.

use crate::support::server::Server;
use crate::support::{config_yaml, http};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

#[test]
fn a_request_head_that_never_completes_is_cut_off_on_every_http_listener() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("config")).unwrap();
    let path = dir.path().join("config/config.yaml");
    std::fs::write(&path, config_yaml("")).unwrap();
    let args = [
        "--http-listen",
        "127.0.0.1:0",
        "--http-forward-auth",
        "nginx",
        "--header-read-timeout",
        "1s",
    ];
    let server = Server::start_with(&path, dir, &args);
    let listeners = [
        server.http.expect("http listener"),
        server.admin,
        server.debug,
    ];
    // All at once: a half-sent head on each, then wait for each to be closed.
    let mut slow: Vec<(TcpStream, Instant)> = listeners
        .iter()
        .map(|addr| {
            let mut stream = TcpStream::connect(addr).unwrap();
            stream
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            (stream, Instant::now())
        })
        .collect();
    for (i, (stream, started)) in slow.iter_mut().enumerate() {
        let mut rest = Vec::new();
        // Closed by the server (possibly after a 408): read_to_end returns, well before
        // our own 10 s read timeout would.
        let read = stream.read_to_end(&mut rest);
        let waited = started.elapsed();
        assert!(read.is_ok(), "listener {i}: {read:?} after {waited:?}");
        assert!(
            waited < Duration::from_secs(5),
            "listener {i}: closed after {waited:?}"
        );
        let text = String::from_utf8_lossy(&rest);
        assert!(
            rest.is_empty() || text.starts_with("HTTP/1.1 408"),
            "listener {i}: {text}"
        );
    }
    // And they still answer a client that sends its request.
    let health = http::request(server.admin, "GET", "/healthz", &[]).unwrap();
    assert_eq!(health.status, 200);
}
