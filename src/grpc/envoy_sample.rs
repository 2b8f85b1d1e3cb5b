//! A CheckRequest encoded the way Envoy 1.40 encodes it, with upstream's schema
//! (`map<string, string> headers`, `string` fields, the fields we do not declare): capture
//! #1 of `../shared/perf/checkrequest-sample.txt`. For the wire-compatibility test of our
//! slimmer declarations (proto/README.md) and for the benchmarks, which must decode what
//! Envoy really sends. Not used by the server.

use prost::encoding::{self, WireType};
use std::collections::HashMap;

/// Envoy's CheckRequest for `GET /api/items?limit=10&q=a%20b` with these extra headers
/// (lowercase names; `authorization` among them, typically) beside the usual ones.
pub fn check_request(extra_headers: &[(&str, &str)]) -> Vec<u8> {
    check_request_with_tls(extra_headers, None)
}

/// [`check_request`] over a TLS connection whose client presented a certificate, with
/// `include_peer_certificate: true`: the source peer also carries `principal` (upstream's
/// field 4, not declared here) and `certificate` (field 5, the URL-encoded PEM given).
pub fn check_request_with_tls(
    extra_headers: &[(&str, &str)],
    certificate: Option<&str>,
) -> Vec<u8> {
    let mut headers: HashMap<String, String> = [
        ("accept", "*/*"),
        (":method", "GET"),
        ("user-agent", "curl/7.88.1"),
        ("x-request-id", "795d7689-bd6e-470d-a15f-72f9f5d9e1b5"),
        (":authority", "127.0.0.1:10000"),
        (":path", "/api/items?limit=10&q=a%20b"),
        ("x-mixed-case", "Value-Kept"),
        ("x-dup", "first,second"),
        (":scheme", "http"),
        ("x-forwarded-proto", "http"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    for (k, v) in extra_headers {
        headers.insert((*k).to_owned(), (*v).to_owned());
    }
    let mut http = Vec::new();
    string(1, "3735453145679887249", &mut http); // id
    string(2, "GET", &mut http); // method
    encoding::hash_map::encode(
        encoding::string::encode,
        encoding::string::encoded_len,
        encoding::string::encode,
        encoding::string::encoded_len,
        3,
        &headers,
        &mut http,
    );
    string(4, "/api/items?limit=10&q=a%20b", &mut http); // path
    string(5, "127.0.0.1:10000", &mut http); // host
    string(6, "http", &mut http); // scheme
    string(10, "HTTP/1.1", &mut http); // protocol

    let mut time = Vec::new(); // google.protobuf.Timestamp
    encoding::int64::encode(1, &1_795_000_000, &mut time);
    encoding::int32::encode(2, &826_211_000, &mut time);
    let mut request = Vec::new();
    message(1, &time, &mut request);
    message(2, &http, &mut request);

    let mut attributes = Vec::new();
    let mut source = peer(55300);
    if let Some(certificate) = certificate {
        string(4, "spiffe://client.test", &mut source); // principal
        string(5, certificate, &mut source); // certificate
    }
    message(1, &source, &mut attributes); // source
    message(2, &peer(10000), &mut attributes); // destination
    message(4, &request, &mut attributes);
    message(11, &[], &mut attributes); // metadata_context: present, empty
    message(13, &[], &mut attributes); // route_metadata_context: present, empty
    let mut check = Vec::new();
    message(1, &attributes, &mut check);
    check
}

fn peer(port: u32) -> Vec<u8> {
    let mut socket = Vec::new();
    string(2, "127.0.0.1", &mut socket);
    encoding::uint32::encode(3, &port, &mut socket);
    let mut address = Vec::new();
    message(1, &socket, &mut address);
    let mut peer = Vec::new();
    message(1, &address, &mut peer);
    peer
}

fn string(tag: u32, value: &str, out: &mut Vec<u8>) {
    encoding::string::encode(tag, &value.to_owned(), out);
}

fn message(tag: u32, body: &[u8], out: &mut Vec<u8>) {
    encoding::encode_key(tag, WireType::LengthDelimited, out);
    encoding::encode_varint(body.len() as u64, out);
    out.extend_from_slice(body);
}
