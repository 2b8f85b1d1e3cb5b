//! Route selection: which requirement applies to a request. Pure.
//!
//! Order: a route named by Envoy's per-route `context_extensions` (`route: NAME`) wins;
//! otherwise the first route whose `match` fits (path, methods, host); otherwise the
//! default. Paths are matched in a canonical form: the query string is dropped and
//! percent-encoded unreserved characters are decoded (`/%61dmin` is `/admin`); a path that
//! still has dot segments, empty segments, an encoded `/` or `\`, or a backslash is refused
//! rather than guessed at, because the upstream may resolve it differently than we would.

use crate::reason::Reason;
use crate::snapshot::{PathMatch, Requirement, RouteMatch, Snapshot};

/// The route chosen for a request: its name (if any) and requirement.
#[derive(Debug, Clone, Copy)]
pub struct Selected<'s> {
    /// Index into `Snapshot::routes`; `None` for the default.
    pub index: Option<usize>,
    pub name: Option<&'s str>,
    pub requirement: &'s Requirement,
}

/// What route selection reads from a request.
#[derive(Debug, Clone, Copy, Default)]
pub struct Target<'a> {
    pub method: &'a str,
    /// `:path` as Envoy sends it (query string included).
    pub path: &'a str,
    /// `:authority`, possibly with a port.
    pub host: &'a str,
    /// `context_extensions["route"]`, if Envoy's route set one.
    pub route_name: Option<&'a str>,
}

/// Selects the requirement for `target`.
///
/// Errors: [`Reason::RouteNotConfigured`] when Envoy names a route this config lacks (a
/// deployment mismatch, failed closed); [`Reason::PathNotCanonical`] for a path that
/// cannot be matched safely.
pub fn select<'s>(snapshot: &'s Snapshot, target: &Target<'_>) -> Result<Selected<'s>, Reason> {
    let selected = |index: usize| {
        let route = &snapshot.routes[index];
        Selected {
            index: Some(index),
            name: route.name.as_deref(),
            requirement: &route.requirement,
        }
    };
    if let Some(name) = target.route_name {
        return snapshot
            .routes
            .iter()
            .position(|r| r.name.as_deref() == Some(name))
            .map(selected)
            .ok_or(Reason::RouteNotConfigured);
    }
    // Only a config that matches on requests needs the path: without such routes a path is
    // never refused.
    if snapshot.routes.iter().any(|r| r.matcher.is_some()) {
        let path = canonical_path(target.path).ok_or(Reason::PathNotCanonical)?;
        let host = strip_port(target.host);
        let found = snapshot.routes.iter().position(|r| {
            r.matcher
                .as_ref()
                .is_some_and(|m| matches(m, &path, target.method, host))
        });
        if let Some(index) = found {
            return Ok(selected(index));
        }
    }
    Ok(Selected {
        index: None,
        name: None,
        requirement: &snapshot.default_requirement,
    })
}

fn matches(m: &RouteMatch, path: &str, method: &str, host: &str) -> bool {
    path_matches(&m.path, path)
        && (m.methods.is_empty() || m.methods.iter().any(|x| x.eq_ignore_ascii_case(method)))
        && (m.hosts.is_empty() || m.hosts.iter().any(|h| host_matches(h, host)))
}

/// Whether `pattern` covers the canonical `path`.
pub fn path_matches(pattern: &PathMatch, path: &str) -> bool {
    match pattern {
        PathMatch::Any => true,
        PathMatch::Exact(exact) => path == exact,
        // Segment-aware: `/admin` covers `/admin` and `/admin/…`, not `/administrator`.
        PathMatch::Prefix(prefix) => {
            let prefix = prefix.trim_end_matches('/');
            path == prefix
                || path
                    .strip_prefix(prefix)
                    .is_some_and(|rest| rest.starts_with('/'))
                || prefix.is_empty()
        }
        PathMatch::Glob(glob) => glob_matches(glob.as_bytes(), path.as_bytes()),
    }
}

/// `*` matches within one segment (no `/`), `**` matches anything (across segments).
fn glob_matches(pattern: &[u8], text: &[u8]) -> bool {
    match pattern {
        [] => text.is_empty(),
        [b'*', b'*', rest @ ..] => (0..=text.len()).any(|i| glob_matches(rest, &text[i..])),
        [b'*', rest @ ..] => {
            let segment_end = text.iter().position(|b| *b == b'/').unwrap_or(text.len());
            (0..=segment_end).any(|i| glob_matches(rest, &text[i..]))
        }
        [p, rest @ ..] => text.first() == Some(p) && glob_matches(rest, &text[1..]),
    }
}

/// `api.example.com` (case-insensitive) or `*.example.com` (any subdomain).
fn host_matches(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(suffix) => {
            host.len() > suffix.len() + 1
                && host[host.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
                && host.as_bytes()[host.len() - suffix.len() - 1] == b'.'
        }
        None => host.eq_ignore_ascii_case(pattern),
    }
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        // [v6]:port
        return host
            .split_once(']')
            .map_or(host, |(h, _)| &host[..h.len() + 1]);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

/// The path without query or fragment, with `%XX` of unreserved characters decoded; `None`
/// when it is not canonical (dot or empty segments, encoded `/` or `\`, a backslash, bad
/// escapes, or not starting with `/`).
pub fn canonical_path(raw: &str) -> Option<String> {
    let path = raw.split(['?', '#']).next().unwrap_or_default();
    if !path.starts_with('/') {
        return None;
    }
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = path.get(i + 1..i + 3)?;
                let value = u8::from_str_radix(hex, 16).ok()?;
                if value.is_ascii_alphanumeric() || matches!(value, b'-' | b'.' | b'_' | b'~') {
                    out.push(char::from(value));
                } else if matches!(value, b'/' | b'\\') {
                    return None;
                } else {
                    out.push('%');
                    out.push_str(&hex.to_ascii_uppercase());
                }
                i += 3;
            }
            b'\\' => return None,
            _ => {
                // Multi-byte UTF-8 is copied whole: advance by the char's length.
                let ch = path[i..].chars().next()?;
                out.push(ch);
                i += ch.len_utf8();
            }
        }
    }
    let segments: Vec<&str> = out[1..].split('/').collect();
    let last = segments.len() - 1;
    for (n, segment) in segments.iter().enumerate() {
        // A trailing slash (empty last segment) is fine; `//` inside is not.
        if *segment == "." || *segment == ".." || (segment.is_empty() && n != last) {
            return None;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_is_dropped_and_unreserved_escapes_are_decoded() {
        assert_eq!(
            canonical_path("/api/items?limit=10&q=a%20b").as_deref(),
            Some("/api/items")
        );
        assert_eq!(canonical_path("/%61dmin").as_deref(), Some("/admin"));
        assert_eq!(canonical_path("/a%20b").as_deref(), Some("/a%20b"));
        assert_eq!(canonical_path("/a%2fb"), None);
        assert_eq!(canonical_path("/a%5Cb"), None);
        assert_eq!(canonical_path("/").as_deref(), Some("/"));
        assert_eq!(canonical_path("/public/").as_deref(), Some("/public/"));
        assert_eq!(canonical_path("/caf\u{e9}").as_deref(), Some("/caf\u{e9}"));
    }

    #[test]
    fn dot_segments_and_other_ambiguities_are_refused() {
        for bad in [
            "/public/../admin",
            "/public/./x",
            "/public/%2e%2e/admin",
            "/public/%2E./admin",
            "/a//b",
            "/a\\b",
            "admin",
            "/a%zz",
            "/a%2",
        ] {
            assert_eq!(canonical_path(bad), None, "{bad}");
        }
        assert_eq!(canonical_path("/a..b/c.d").as_deref(), Some("/a..b/c.d"));
    }

    #[test]
    fn prefixes_are_segment_aware() {
        let p = PathMatch::Prefix("/admin".into());
        assert!(path_matches(&p, "/admin"));
        assert!(path_matches(&p, "/admin/users"));
        assert!(!path_matches(&p, "/administrator"));
        assert!(path_matches(
            &PathMatch::Prefix("/admin/".into()),
            "/admin/x"
        ));
        assert!(path_matches(&PathMatch::Prefix("/".into()), "/anything"));
    }

    #[test]
    fn globs_match_within_or_across_segments() {
        let g = |p: &str, t: &str| path_matches(&PathMatch::Glob(p.into()), t);
        assert!(g("/api/*/items", "/api/v1/items"));
        assert!(!g("/api/*/items", "/api/v1/x/items"));
        assert!(g("/api/**/items", "/api/v1/x/items"));
        assert!(g("/files/*.pdf", "/files/a.pdf"));
        assert!(!g("/files/*.pdf", "/files/a/b.pdf"));
        assert!(g("/**", "/x/y"));
        assert!(!g("/api/*", "/api/a/b"));
    }

    #[test]
    fn hosts_match_case_insensitively_without_the_port() {
        assert!(host_matches(
            "api.example.com",
            strip_port("API.example.com:8443")
        ));
        assert!(host_matches("*.example.com", "a.example.com"));
        assert!(!host_matches("*.example.com", "example.com"));
        assert!(!host_matches("*.example.com", "aexample.com"));
        assert_eq!(strip_port("[::1]:10000"), "[::1]");
        assert_eq!(strip_port("localhost"), "localhost");
    }
}
