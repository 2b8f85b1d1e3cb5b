//! Route selection: which requirement applies to a request. Pure, and linear in the
//! request's size (the path is capped at [`MAX_MATCH_PATH`] bytes, globs are compiled NFAs).
//!
//! Order: a route named by Envoy's per-route `context_extensions` (`route: NAME`) wins;
//! otherwise the first route whose `match` fits (path, methods, host); otherwise the
//! default. Paths are matched in a canonical form: the query string is dropped and
//! percent-encoded characters are decoded (`/%61dmin` is `/admin`, `/caf%C3%A9` is `/café`);
//! a path that still has dot segments, empty segments, path parameters (`;`), an encoded `/`
//! or `\`, a `#` or a backslash is refused rather than guessed at, because the upstream may resolve it
//! differently than we would (Tomcat, Jetty and Spring resolve `/public/..;/admin` to
//! `/admin`). That check runs on every request whenever the config matches paths or names
//! a route that lets requests through without a token (see [`Snapshot::checks_paths`]).
//! Hosts are compared without the port, an empty port or a trailing dot, byte by byte; when
//! a route matches hosts, an authority that is not a plain host name is refused.

mod glob;
#[doc(hidden)]
pub mod sample;

pub use glob::{Glob, GlobError, MAX_GLOB_MIDDLE};

use crate::reason::Reason;
use crate::snapshot::{PathMatch, Requirement, RouteMatch, Snapshot};

/// Longest path (before the query) that is matched; longer ones are `path_not_canonical`.
pub const MAX_MATCH_PATH: usize = 8 * 1024;

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
    // Without path-matching or token-free named routes a path is never refused.
    let path = if snapshot.checks_paths {
        Some(canonical_path(target.path).ok_or(Reason::PathNotCanonical)?)
    } else {
        None
    };
    if let Some(name) = target.route_name {
        return snapshot
            .routes
            .iter()
            .position(|r| r.name.as_deref() == Some(name))
            .map(selected)
            .ok_or(Reason::RouteNotConfigured);
    }
    let host = normalize_host(target.host.as_bytes());
    if snapshot.checks_hosts && host.is_none() {
        return Err(Reason::HostNotCanonical);
    }
    if let Some(path) = path {
        let host = host.unwrap_or_default();
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

fn matches(m: &RouteMatch, path: &str, method: &str, host: &[u8]) -> bool {
    path_matches(&m.path, path, m.case_insensitive)
        && (m.methods.is_empty() || m.methods.iter().any(|x| x.eq_ignore_ascii_case(method)))
        && (m.hosts.is_empty() || m.hosts.iter().any(|h| host_matches(h, host)))
}

/// Whether `pattern` covers the canonical `path` (ASCII case folded when
/// `case_insensitive`; a glob carries its own folding).
pub fn path_matches(pattern: &PathMatch, path: &str, case_insensitive: bool) -> bool {
    let eq = |a: &[u8], b: &[u8]| {
        if case_insensitive {
            a.eq_ignore_ascii_case(b)
        } else {
            a == b
        }
    };
    let path = path.as_bytes();
    match pattern {
        PathMatch::Any => true,
        // With or without one trailing slash: most frameworks route both alike.
        PathMatch::Exact(exact) => eq(
            without_trailing_slash(path),
            without_trailing_slash(exact.as_bytes()),
        ),
        // Segment-aware: `/admin` covers `/admin` and `/admin/…`, not `/administrator`.
        PathMatch::Prefix(prefix) => {
            let prefix = without_trailing_slash(prefix.as_bytes());
            prefix == b"/"
                || (path.len() >= prefix.len()
                    && eq(&path[..prefix.len()], prefix)
                    && matches!(path.get(prefix.len()), None | Some(b'/')))
        }
        // Like `Exact`: with or without one trailing slash.
        PathMatch::Glob(glob) => glob.matches(path) || glob.matches(without_trailing_slash(path)),
    }
}

fn without_trailing_slash(path: &[u8]) -> &[u8] {
    match path {
        [rest @ .., b'/'] if !rest.is_empty() => rest,
        _ => path,
    }
}

/// `api.example.com` (case-insensitive) or `*.example.com` (any subdomain); the pattern is
/// lowercase (compile made it so) and the host is compared byte by byte, so a non-ASCII
/// host is simply not equal.
pub(crate) fn host_matches(pattern: &str, host: &[u8]) -> bool {
    match pattern.strip_prefix("*.") {
        Some(suffix) => {
            let suffix = suffix.as_bytes();
            host.len() > suffix.len() + 1
                && host[host.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
                && host[host.len() - suffix.len() - 1] == b'.'
        }
        None => host.eq_ignore_ascii_case(pattern.as_bytes()),
    }
}

/// The host as matched: without its port (an empty port too, RFC 9110 §4.2.3) and one
/// trailing dot (`api.example.com.` is the same name); `None` when what is left is not a
/// host name (dot-separated labels of letters, digits, `-` and `_`) or an `[IPv6]` literal,
/// or the port is not digits — `admin.example.com:x`, `a..b`, `x@admin.example.com` and
/// non-ASCII names would be parsed by some upstream as a host we never compared.
pub fn normalize_host(host: &[u8]) -> Option<&[u8]> {
    let (name, port) = if host.first() == Some(&b'[') {
        let end = host.iter().position(|b| *b == b']')?;
        let inner = &host[1..end];
        let literal = !inner.is_empty()
            && inner
                .iter()
                .all(|b| b.is_ascii_hexdigit() || matches!(b, b':' | b'.'));
        if !literal {
            return None;
        }
        (&host[..=end], &host[end + 1..])
    } else {
        match host.iter().position(|b| *b == b':') {
            Some(colon) => (&host[..colon], &host[colon..]),
            None => (host, &host[host.len()..]),
        }
    };
    let port_ok = match port {
        [] => true,
        [b':', digits @ ..] => digits.iter().all(u8::is_ascii_digit),
        _ => false,
    };
    if !port_ok {
        return None;
    }
    if name.first() == Some(&b'[') {
        return Some(name);
    }
    let name = match name {
        [rest @ .., b'.'] => rest,
        _ => name,
    };
    let label_ok = |label: &[u8]| {
        !label.is_empty()
            && label
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
    };
    name.split(|b| *b == b'.').all(label_ok).then_some(name)
}

/// The path without its query, with every `%XX` decoded except those that would change
/// its structure (`%2F`, `%5C`, `%3B` refuse the path; `%25`, `%3F`, `%23` and controls stay
/// encoded, in upper case): an upstream decodes `/v1/item%3Adelete` to `/v1/item:delete`
/// before routing, so we must compare that. `None` when it is not canonical: dot or empty
/// segments, a path parameter (`;`), an encoded `/` or `\`, a backslash, a `#`, a bad
/// escape, bytes that do not decode to UTF-8, more than [`MAX_MATCH_PATH`] bytes, or not
/// starting with `/`.
pub fn canonical_path(raw: &str) -> Option<String> {
    // Look for the query only within the cap: a longer path is refused either way, so an
    // attacker's 60 KB path costs a scan of 8 KiB.
    let window = &raw.as_bytes()[..raw.len().min(MAX_MATCH_PATH + 1)];
    let end = window.iter().position(|b| *b == b'?').unwrap_or(raw.len());
    if end > MAX_MATCH_PATH || !raw.starts_with('/') {
        return None;
    }
    let bytes = &raw.as_bytes()[..end];
    let mut out = Vec::with_capacity(bytes.len());
    // Copied in runs between escapes.
    let mut run = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                out.extend_from_slice(&bytes[run..i]);
                let hex = bytes.get(i + 1..i + 3)?;
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return None;
                }
                let value = (hex_value(hex[0]) << 4) | hex_value(hex[1]);
                match value {
                    b'/' | b'\\' | b';' => return None,
                    b'%' | b'?' | b'#' | 0..=0x1f | 0x7f => {
                        out.push(b'%');
                        out.extend_from_slice(&hex.to_ascii_uppercase());
                    }
                    _ => out.push(value),
                }
                i += 3;
                run = i;
            }
            b'\\' | b';' | b'#' => return None,
            _ => i += 1,
        }
    }
    out.extend_from_slice(&bytes[run..]);
    // Segment by segment (one pass over the bytes, no iterator per segment): a trailing
    // slash (empty last segment) is fine; `//`, `.` and `..` are not.
    let rest = &out[1..];
    let mut segment_start = 0;
    for (i, b) in rest.iter().enumerate() {
        if *b == b'/' {
            if matches!(&rest[segment_start..i], b"" | b"." | b"..") {
                return None;
            }
            segment_start = i + 1;
        }
    }
    if matches!(&rest[segment_start..], b"." | b"..") {
        return None;
    }
    String::from_utf8(out).ok()
}

fn hex_value(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        _ => digit - b'A' + 10,
    }
}

#[cfg(test)]
mod tests;
