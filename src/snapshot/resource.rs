//! RFC 9728 protected resource metadata of a route, compiled: the resource identifier
//! (fixed, or built from each request for `auto`), the document's other members rendered
//! once, and the rules that turn a request's scheme and `Host` into a URL.
//!
//! A URL built from a request is only ever made of a validated host (what
//! [`normalize_host`] accepts: letters, digits, `-`, `_`, dots, or an `[IPv6]` literal, and a
//! numeric port) and config text checked at compile time, so it can go into a JSON string
//! and a quoted-string of the challenge without escaping anything an attacker chose.

use crate::decision::Scheme;
use crate::route::normalize_host;
use std::borrow::Cow;
use std::time::Duration;

/// The well-known path of RFC 9728 §3: inserted between the host and the resource's path.
pub const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// A route's protected resource metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    pub id: ResourceId,
    /// The request path the document answers at, as matched (canonical, decoded):
    /// [`WELL_KNOWN`] followed by the resource's path (nothing for a root resource).
    pub metadata_path: String,
    /// The members after `resource`, as JSON text starting with a comma
    /// (`,"authorization_servers":[…],…`): rendered once, at compile time.
    pub members: String,
    /// How long clients and caches may keep the document.
    pub max_age: Duration,
}

/// Where the resource identifier comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResourceId {
    /// A configured URL, served only at its own metadata URL (its host and port).
    Fixed {
        /// As configured (already in normalised form: compile refuses any other).
        url: String,
        /// `scheme://authority` + [`WELL_KNOWN`] + the id's path.
        metadata_url: String,
        /// The id's scheme, for the default port of a request's `Host`.
        scheme: Scheme,
        /// `host[:port]` as [`authority`] renders it, compared with each request's.
        authority: String,
    },
    /// `auto`: the request's scheme and host, then this path (the route's `path` or
    /// `path_prefix` without a trailing slash; empty for the root).
    Auto { path: String },
}

impl Resource {
    /// The resource identifier for a request with `scheme` to `host`; `None` when `auto`
    /// cannot build one (see [`origin`]).
    pub fn url(&self, scheme: Option<Scheme>, host: &str) -> Option<String> {
        match &self.id {
            ResourceId::Fixed { url, .. } => Some(url.clone()),
            ResourceId::Auto { path } => Some(origin(scheme?, host)? + path),
        }
    }

    /// The URL of this resource's metadata document, as a client of `host` reaches it.
    /// (Borrowed when fixed: every denial on the route names it.)
    pub fn metadata_url(&self, scheme: Option<Scheme>, host: &str) -> Option<Cow<'_, str>> {
        match &self.id {
            ResourceId::Fixed { metadata_url, .. } => Some(Cow::Borrowed(metadata_url)),
            ResourceId::Auto { .. } => {
                Some(Cow::Owned(origin(scheme?, host)? + &self.metadata_path))
            }
        }
    }

    /// Whether a request to `host` is one this resource's document is served to: a fixed
    /// id's own host and port only; `auto` on any host (the route's `hosts` decide).
    pub fn serves_host(&self, host: &str) -> bool {
        match &self.id {
            ResourceId::Fixed {
                scheme, authority, ..
            } => self::authority(*scheme, host).as_deref() == Some(authority.as_str()),
            ResourceId::Auto { .. } => true,
        }
    }

    /// The document naming `resource` (a URL from [`Resource::url`]).
    pub fn document(&self, resource: &str) -> String {
        let resource = serde_json::Value::from(resource);
        format!("{{\"resource\":{resource}{}}}", self.members)
    }

    /// `cache-control` of the document: public (it holds nothing secret) for `max_age`.
    pub fn cache_control(&self) -> String {
        format!("public, max-age={}", self.max_age.as_secs())
    }
}

/// The metadata path of a resource whose path is `path` (RFC 9728 §3.1: the well-known
/// string goes between the host and the path; a root resource's lone `/` is dropped).
pub fn metadata_path(path: &str) -> String {
    match path {
        "" | "/" => WELL_KNOWN.to_owned(),
        path => format!("{WELL_KNOWN}{path}"),
    }
}

/// `host[:port]` as a URL carries it: the name lowercased (a trailing dot kept: it is part
/// of what the client typed), without an empty port or `scheme`'s default one. `None` when
/// `host` is not a host name or `[IPv6]` literal with a numeric port below 65536.
pub fn authority(scheme: Scheme, host: &str) -> Option<String> {
    normalize_host(host.as_bytes())?;
    // After the literal's `]`, or the name's only `:` (normalize_host refused others).
    let colon = match host.rfind(']') {
        Some(end) => host[end..].find(':').map(|i| end + i),
        None => host.find(':'),
    };
    let (name, port) = match colon {
        Some(i) => (&host[..i], &host[i + 1..]),
        None => (host, ""),
    };
    let default = match scheme {
        Scheme::Http => 80,
        Scheme::Https => 443,
    };
    let name = name.to_ascii_lowercase();
    match port {
        "" => Some(name),
        digits => match digits.parse::<u16>().ok()? {
            port if port == default => Some(name),
            port => Some(format!("{name}:{port}")),
        },
    }
}

/// `scheme://authority` for a request, or `None`: no scheme known, a host that is not one
/// ([`authority`]), or plain `http` to a host that is not loopback. RFC 9728 §1.2 makes a
/// resource identifier an `https` URL; `http` is left for `localhost` and loopback
/// addresses (development), because elsewhere it means TLS ended before the proxy without
/// telling it, and a document naming `http://` would then be refused by every client that
/// used `https://` — better not built than wrong.
pub fn origin(scheme: Scheme, host: &str) -> Option<String> {
    let authority = authority(scheme, host)?;
    if scheme == Scheme::Http && !is_loopback(&authority) {
        return None;
    }
    Some(format!("{}://{authority}", scheme.as_str()))
}

/// `localhost` (and names under it, RFC 6761), `127.0.0.0/8` and `[::1]`, with any port.
pub fn is_loopback(authority: &str) -> bool {
    let name = match authority.strip_prefix('[') {
        Some(_) => authority.split(']').next().map(|n| &n[1..]).unwrap_or(""),
        None => authority.split(':').next().unwrap_or(""),
    };
    let name = name.strip_suffix('.').unwrap_or(name);
    name.eq_ignore_ascii_case("localhost")
        || name.to_ascii_lowercase().ends_with(".localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_requests_authority_is_lowercase_without_its_default_port() {
        let https = |host| authority(Scheme::Https, host);
        assert_eq!(https("MCP.Example.com").as_deref(), Some("mcp.example.com"));
        assert_eq!(
            https("mcp.example.com:443").as_deref(),
            Some("mcp.example.com")
        );
        assert_eq!(
            https("mcp.example.com:").as_deref(),
            Some("mcp.example.com")
        );
        assert_eq!(
            https("mcp.example.com:8443").as_deref(),
            Some("mcp.example.com:8443")
        );
        assert_eq!(
            authority(Scheme::Http, "mcp.example.com:443").as_deref(),
            Some("mcp.example.com:443"),
            "443 is only https's default"
        );
        assert_eq!(
            https("mcp.example.com.").as_deref(),
            Some("mcp.example.com."),
            "what the client typed"
        );
        assert_eq!(https("[::1]:443").as_deref(), Some("[::1]"));
        assert_eq!(https("[::1]:8443").as_deref(), Some("[::1]:8443"));
        assert_eq!(https("host:0443").as_deref(), Some("host"));
        for bad in [
            "",
            "a..b",
            "host:x",
            "host:65536",
            "user@host",
            "ex\"ample.com",
            "exa mple.com",
            "[::1",
            "caf\u{e9}.example",
        ] {
            assert_eq!(https(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn an_origin_needs_https_except_on_loopback() {
        assert_eq!(
            origin(Scheme::Https, "mcp.example.com").as_deref(),
            Some("https://mcp.example.com")
        );
        assert_eq!(origin(Scheme::Http, "mcp.example.com"), None);
        for loopback in [
            "localhost:8080",
            "LOCALHOST",
            "a.localhost",
            "127.0.0.1:9",
            "[::1]:80",
        ] {
            assert!(origin(Scheme::Http, loopback).is_some(), "{loopback}");
        }
        assert_eq!(
            origin(Scheme::Http, "127.0.0.1:80").as_deref(),
            Some("http://127.0.0.1")
        );
        assert_eq!(origin(Scheme::Http, "localhost.example.com"), None);
        assert_eq!(origin(Scheme::Http, "128.0.0.1"), None);
    }

    #[test]
    fn the_metadata_path_drops_a_root_resources_slash() {
        assert_eq!(metadata_path(""), WELL_KNOWN);
        assert_eq!(metadata_path("/"), WELL_KNOWN);
        assert_eq!(
            metadata_path("/mcp"),
            "/.well-known/oauth-protected-resource/mcp"
        );
        assert_eq!(
            metadata_path("/a/b/"),
            "/.well-known/oauth-protected-resource/a/b/"
        );
    }

    #[test]
    fn an_auto_resource_is_built_from_the_request_and_a_fixed_one_is_not() {
        let auto = Resource {
            id: ResourceId::Auto {
                path: "/mcp".into(),
            },
            metadata_path: metadata_path("/mcp"),
            members: r#","bearer_methods_supported":["header"]"#.into(),
            max_age: Duration::from_secs(60),
        };
        let https = Some(Scheme::Https);
        assert_eq!(
            auto.url(https, "A.example:443").as_deref(),
            Some("https://a.example/mcp")
        );
        assert_eq!(
            auto.metadata_url(https, "b.example:8443").as_deref(),
            Some("https://b.example:8443/.well-known/oauth-protected-resource/mcp")
        );
        assert_eq!(auto.url(None, "a.example"), None, "no scheme: no URL");
        assert_eq!(auto.url(Some(Scheme::Http), "a.example"), None);
        assert_eq!(
            auto.document("https://a.example/mcp"),
            r#"{"resource":"https://a.example/mcp","bearer_methods_supported":["header"]}"#
        );
        assert_eq!(auto.cache_control(), "public, max-age=60");
        let fixed = Resource {
            id: ResourceId::Fixed {
                url: "https://mcp.example.com/mcp".into(),
                metadata_url: "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
                    .into(),
                scheme: Scheme::Https,
                authority: "mcp.example.com".into(),
            },
            ..auto
        };
        assert_eq!(
            fixed.url(None, "other.example").as_deref(),
            Some("https://mcp.example.com/mcp")
        );
        assert!(fixed.serves_host("MCP.example.com:443"));
        assert!(!fixed.serves_host("mcp.example.com:8443"));
        assert!(!fixed.serves_host("other.example"));
    }
}
