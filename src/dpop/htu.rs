//! A proof's `htu` against the request's URL (RFC 9449 §4.3 check 9): both without query
//! and fragment, parsed by the same URL parser (which lower-cases the scheme and host,
//! drops a default port and resolves dot segments), then percent-escapes normalised as
//! RFC 3986 §6.2.2 says (hex digits upper-cased, unreserved characters decoded).

use crate::decision::Scheme;
use url::Url;

/// Whether `htu` names the request `scheme://host` + `path` (its query ignored); `Err`
/// says what differed.
pub fn check(htu: &str, scheme: Option<Scheme>, host: &str, path: &str) -> Result<(), String> {
    let Some(scheme) = scheme else {
        return Err("the request's scheme is unknown (the proxy sent none)".into());
    };
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let request = Url::parse(&format!("{}://{host}{path}", scheme.as_str()))
        .map_err(|_| "the request's URL cannot be parsed".to_owned())?;
    let proof = Url::parse(htu).map_err(|_| "an htu that is not a URL".to_owned())?;
    let parts = |u: &Url| {
        (
            u.scheme().to_owned(),
            u.host_str().map(str::to_owned),
            u.port_or_known_default(),
            normalize_escapes(u.path()),
        )
    };
    if parts(&proof) == parts(&request) {
        Ok(())
    } else {
        Err(format!(
            "an htu for {}, the request is to {}",
            without_query(&proof),
            without_query(&request)
        ))
    }
}

fn without_query(url: &Url) -> String {
    let mut url = url.clone();
    url.set_query(None);
    url.set_fragment(None);
    url.to_string()
}

/// `%7e` and `%7E` and `~` are one character (RFC 3986 §6.2.2.1, §6.2.2.2).
fn normalize_escapes(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        let escape = bytes
            .get(i + 1..i + 3)
            .filter(|_| bytes[i] == b'%')
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escape {
            Some(b) if b.is_ascii_alphanumeric() || b"-._~".contains(&b) => {
                out.push(char::from(b));
                i += 3;
            }
            Some(b) => {
                out.push_str(&format!("%{b:02X}"));
                i += 3;
            }
            None => {
                // Bytes of a str at a char boundary: push the whole char.
                let c = path[i..].chars().next().unwrap_or('\u{fffd}');
                out.push(c);
                i += c.len_utf8();
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HTTPS: Option<Scheme> = Some(Scheme::Https);

    #[test]
    fn scheme_and_host_case_default_port_query_and_fragment_do_not_matter() {
        for htu in [
            "https://api.example.com/orders",
            "HTTPS://API.Example.COM/orders",
            "https://api.example.com:443/orders",
            "https://api.example.com/orders?x=1",
            "https://api.example.com/orders#frag",
            "https://api.example.com/%6Frders",
        ] {
            assert_eq!(
                check(htu, HTTPS, "api.example.com", "/orders?limit=5"),
                Ok(()),
                "{htu}"
            );
        }
        assert_eq!(
            check(
                "https://api.example.com/orders",
                HTTPS,
                "API.example.com:443",
                "/orders"
            ),
            Ok(())
        );
        assert_eq!(
            check(
                "http://localhost:8080/a%7eb",
                Some(Scheme::Http),
                "localhost:8080",
                "/a~b"
            ),
            Ok(())
        );
    }

    #[test]
    fn another_path_host_port_or_scheme_is_refused() {
        let refused = |htu: &str| check(htu, HTTPS, "api.example.com", "/orders").is_err();
        assert!(refused("https://api.example.com/orders/1"));
        assert!(refused("https://api.example.com/Orders"));
        assert!(refused("https://api.example.com/"));
        assert!(refused("https://evil.example.com/orders"));
        assert!(refused("https://api.example.com:8443/orders"));
        assert!(refused("http://api.example.com/orders"));
        assert!(refused("/orders"));
        assert!(refused("not a url"));
        assert!(
            check(
                "https://api.example.com/orders",
                None,
                "api.example.com",
                "/orders"
            )
            .is_err()
        );
    }
}
