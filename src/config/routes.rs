//! Compiling routes and requirements: providers by name, scopes, claim values, anonymous
//! and CORS preflight access, identity headers, and the checks that catch mistakes early
//! (unknown providers, duplicate names, routes shadowed by an earlier broader one).

use super::compile::{Compiler, is_header_name};
use super::error::ConfigError;
use super::file::{CorsPreflight, MatchFile, MatchingFile, ProvidersFile, RouteFile, UpstreamFile};
use super::resource::RouteFacts;
use super::scopes::is_scope_token;
use crate::route::{Glob, normalize_host, path_matches};
use crate::snapshot::{
    ClaimHeader, PathMatch, Provider, ProviderSet, Requirement, Resource, ResourceId, Route,
    RouteMatch, StepUp, Upstream,
};

impl Compiler<'_> {
    /// The top-level `upstream` (with `inherit` empty) or a route's override of it.
    pub(super) fn upstream(
        &self,
        field: &str,
        file: Option<&UpstreamFile>,
        inherit: &Upstream,
    ) -> Result<Upstream, ConfigError> {
        let Some(file) = file else {
            return Ok(inherit.clone());
        };
        let claim_headers = match &file.claim_headers {
            None => inherit.claim_headers.clone(),
            Some(map) => map
                .iter()
                .map(|(claim, header)| {
                    let header = header.to_ascii_lowercase();
                    if claim.is_empty() || !is_header_name(&header) || header == "authorization" || header == "host" {
                        return Err(self.invalid(
                            format!("{field}.claim_headers.{claim}"),
                            format!("{header:?} is not a usable header name (letters, digits and -; not authorization or host)"),
                        ));
                    }
                    Ok(ClaimHeader { claim: claim.clone(), header })
                })
                .collect::<Result<_, _>>()?,
        };
        Ok(Upstream {
            claim_headers,
            strip_authorization: file
                .strip_authorization
                .unwrap_or(inherit.strip_authorization),
        })
    }

    pub(super) fn requirement(
        &self,
        field: &str,
        r: &RouteFile,
        path: Option<&PathMatch>,
        known: &[Provider],
        global: &Upstream,
    ) -> Result<Requirement, ConfigError> {
        let providers = match &r.providers {
            None => ProviderSet::Any,
            Some(ProvidersFile::Any) => ProviderSet::Any,
            Some(ProvidersFile::List(names)) if names.is_empty() => {
                return Err(self.invalid(
                    format!("{field}.providers"),
                    "expected at least one provider name",
                ));
            }
            Some(ProvidersFile::List(names)) => ProviderSet::Only(
                names
                    .iter()
                    .enumerate()
                    .map(|(j, name)| {
                        known.iter().position(|p| &p.name == name).ok_or_else(|| {
                            self.invalid(
                                format!("{field}.providers[{j}]"),
                                format!("no provider is named {name:?}"),
                            )
                        })
                    })
                    .collect::<Result<_, _>>()?,
            ),
        };
        let scopes = r.scopes.clone().unwrap_or_default();
        for (j, scope) in scopes.iter().enumerate() {
            if !is_scope_token(scope) {
                return Err(self.invalid(
                    format!("{field}.scopes[{j}]"),
                    "a scope is one non-empty word (no spaces, quotes or backslashes)",
                ));
            }
        }
        let audiences = match &r.audiences {
            None => None,
            Some(list) if list.is_empty() || list.iter().any(String::is_empty) => {
                return Err(self.invalid(
                    format!("{field}.audiences"),
                    "expected at least one non-empty audience (or omit it: the providers' own)",
                ));
            }
            Some(list) => Some(list.iter().cloned().collect()),
        };
        let acr_values = r.acr_values.clone().unwrap_or_default();
        for (j, acr) in acr_values.iter().enumerate() {
            // They are sent back space-separated in the challenge's quoted `acr_values`.
            if !is_scope_token(acr) {
                return Err(self.invalid(
                    format!("{field}.acr_values[{j}]"),
                    "an acr value is one non-empty word (no spaces, quotes or backslashes)",
                ));
            }
        }
        if r.acr_values.as_ref().is_some_and(Vec::is_empty) {
            return Err(self.invalid(
                format!("{field}.acr_values"),
                "expected at least one value, or omit it",
            ));
        }
        let max_age = match r.max_age {
            Some(age) if age.get().as_secs() == 0 || age.get().subsec_nanos() != 0 => {
                return Err(self.invalid(
                    format!("{field}.max_age"),
                    format!("expected whole seconds, at least 1s (the challenge sends seconds); got \"{age}\""),
                ));
            }
            other => other.map(|d| d.get()),
        };
        let claims: Vec<(String, String)> =
            r.claims.clone().unwrap_or_default().into_iter().collect();
        let facts = RouteFacts {
            path,
            scopes: &scopes,
            providers: &providers,
            known,
            has_audiences: audiences.is_some(),
        };
        let resource = r
            .resource
            .as_ref()
            .map(|file| self.resource(&format!("{field}.resource"), file, &facts))
            .transpose()?;
        // RFC 8707: a route with a fixed resource id takes tokens minted for it, unless it
        // lists its own audiences (`auto` must: see `auto_id`).
        let audiences = match &resource {
            Some(Resource {
                id: ResourceId::Fixed { url, .. },
                ..
            }) if audiences.is_none() => Some(std::iter::once(url.clone()).collect()),
            _ => audiences,
        };
        Ok(Requirement {
            providers,
            scopes,
            claims,
            allow_anonymous: r.allow_anonymous,
            cors_preflight: r.cors_preflight == CorsPreflight::Allow,
            upstream: self.upstream(&format!("{field}.upstream"), r.upstream.as_ref(), global)?,
            audiences,
            step_up: StepUp {
                acr_values,
                max_age,
            },
            resource,
        })
    }

    pub(super) fn routes(
        &self,
        files: &[RouteFile],
        known: &[Provider],
        global: &Upstream,
        matching: &MatchingFile,
    ) -> Result<Vec<Route>, ConfigError> {
        let mut routes: Vec<Route> = Vec::with_capacity(files.len());
        for (i, file) in files.iter().enumerate() {
            let field = format!("routes[{i}]");
            if let Some(name) = &file.name {
                if name.is_empty() {
                    return Err(
                        self.invalid(format!("{field}.name"), "a route name must not be empty")
                    );
                }
                if let Some(other) = routes.iter().position(|r| r.name.as_deref() == Some(name)) {
                    return Err(self.invalid(
                        format!("{field}.name"),
                        format!("{name:?} is already the name of routes[{other}]"),
                    ));
                }
            }
            let matcher = file
                .matches
                .as_ref()
                .map(|m| self.route_match(&field, m, matching))
                .transpose()?;
            if matcher.is_none() && file.name.is_none() {
                return Err(self.invalid(
                    &field,
                    "a route needs a `match`, a `name` (for context_extensions), or both",
                ));
            }
            let path = matcher.as_ref().map(|m| &m.path);
            let requirement = self.requirement(&field, file, path, known, global)?;
            let route = Route {
                name: file.name.clone(),
                matcher,
                requirement,
            };
            if let Some(m) = &route.matcher
                && let Some(earlier) = routes
                    .iter()
                    .position(|r| r.matcher.as_ref().is_some_and(|e| covers(e, m)))
            {
                let message = format!(
                    "never matched: routes[{earlier}] matches every request this route would"
                );
                match &route.name {
                    None => return Err(self.invalid(format!("{field}.match"), message)),
                    Some(name) => {
                        tracing::warn!(route = %name, "{field}.match: {message}; reachable only by name through context_extensions")
                    }
                }
            }
            routes.push(route);
        }
        Ok(routes)
    }

    fn route_match(
        &self,
        field: &str,
        m: &MatchFile,
        matching: &MatchingFile,
    ) -> Result<RouteMatch, ConfigError> {
        let field = format!("{field}.match");
        let case_insensitive = m.case_insensitive.unwrap_or(matching.case_insensitive);
        let path = match (&m.path, &m.path_prefix, &m.path_glob) {
            (None, None, None) => PathMatch::Any,
            (Some(p), None, None) => PathMatch::Exact(self.pattern(&format!("{field}.path"), p)?),
            (None, Some(p), None) => {
                PathMatch::Prefix(self.pattern(&format!("{field}.path_prefix"), p)?)
            }
            (None, None, Some(p)) => {
                let glob_field = format!("{field}.path_glob");
                let p = self.pattern(&glob_field, p)?;
                PathMatch::Glob(
                    Glob::new(&p, case_insensitive)
                        .map_err(|e| self.invalid(glob_field, format!("{p:?}: {e}")))?,
                )
            }
            _ => {
                return Err(self.invalid(
                    &field,
                    "expected at most one of `path`, `path_prefix`, `path_glob`",
                ));
            }
        };
        let methods = m.methods.clone().unwrap_or_default();
        for (j, method) in methods.iter().enumerate() {
            if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic()) {
                return Err(self.invalid(
                    format!("{field}.methods[{j}]"),
                    format!("{method:?} is not an HTTP method"),
                ));
            }
        }
        let hosts = m
            .hosts
            .iter()
            .flatten()
            .enumerate()
            .map(|(j, host)| {
                host_pattern(host)
                    .ok_or_else(|| self.invalid(format!("{field}.hosts[{j}]"), format!("{host:?} is not a host name or `*.domain` (no port: the request's port is ignored; letters, digits, `-`, `_` and dots, or an [IPv6] literal)")))
            })
            .collect::<Result<_, _>>()?;
        Ok(RouteMatch {
            path,
            methods: methods.iter().map(|m| m.to_ascii_uppercase()).collect(),
            hosts,
            case_insensitive,
        })
    }

    /// A path pattern must itself be canonical (what requests are compared in).
    fn pattern(&self, field: &str, pattern: &str) -> Result<String, ConfigError> {
        let probe = pattern.replace('*', "x");
        match crate::route::canonical_path(&probe) {
            Some(canonical) if canonical == probe && !pattern.contains('?') => Ok(pattern.to_owned()),
            _ => Err(self.invalid(field, format!("{pattern:?} must start with / and have no query, dot segments, `//` or escaped unreserved characters"))),
        }
    }
}

/// A host pattern as matched: lowercase, one trailing dot dropped; `None` when it has a
/// port or a character no host name holds (it could never match).
fn host_pattern(pattern: &str) -> Option<String> {
    let lower = pattern.to_ascii_lowercase();
    let name = lower.strip_suffix('.').unwrap_or(&lower);
    let host = name.strip_prefix("*.").unwrap_or(name);
    // The same rule as a request's host: what `normalize_host` keeps must be all of it (no
    // port, no second trailing dot), and a wildcard only stands before a name.
    let valid = normalize_host(host.as_bytes()) == Some(host.as_bytes())
        && !(host.len() < name.len() && host.starts_with('['));
    valid.then(|| name.to_owned())
}

/// Whether `earlier` matches every request `later` would (so `later` is never reached by
/// path). Conservative: `false` when unsure (e.g. two different globs).
fn covers(earlier: &RouteMatch, later: &RouteMatch) -> bool {
    let subset = |a: &[String], b: &[String]| {
        a.is_empty()
            || (!b.is_empty()
                && b.iter()
                    .all(|x| a.iter().any(|y| y.eq_ignore_ascii_case(x))))
    };
    let fold = earlier.case_insensitive;
    // A case-sensitive route never covers a case-insensitive one (it misses `/ADMIN`).
    let path = (fold || !later.case_insensitive)
        && match (&earlier.path, &later.path) {
            (PathMatch::Any, _) => true,
            (_, PathMatch::Any) => false,
            // `later` matches `l` with and without a trailing slash: both must be covered.
            (e, PathMatch::Exact(l)) => {
                let other = match l.strip_suffix('/') {
                    Some(stripped) if !stripped.is_empty() => stripped.to_owned(),
                    Some(_) => l.clone(),
                    None => format!("{l}/"),
                };
                path_matches(e, l, fold) && path_matches(e, &other, fold)
            }
            (PathMatch::Prefix(e), PathMatch::Prefix(l)) => {
                path_matches(&PathMatch::Prefix(e.clone()), l.trim_end_matches('/'), fold)
            }
            (PathMatch::Glob(e), PathMatch::Glob(l)) => e == l,
            _ => false,
        };
    path && subset(&earlier.methods, &later.methods) && subset(&earlier.hosts, &later.hosts)
}
