//! Compiling a route's `resource:` (RFC 9728 protected resource metadata): the identifier
//! (a URL in the exact form clients compare, or `auto` on a route with one path), the
//! defaults taken from the route (its providers' issuers, its scopes), and the document's
//! members rendered once. Every value that can reach a challenge's quoted-string is URL
//! text this module normalised; the rest only ever goes into JSON.

use super::compile::Compiler;
use super::error::ConfigError;
use super::file::ResourceFile;
use super::scopes::is_scope_token;
use crate::decision::Scheme;
use crate::snapshot::resource::{self, Resource, ResourceId, metadata_path};
use crate::snapshot::{DpopMode, PathMatch, Provider, ProviderSet, Requirement, Route};
use serde_json::Value;
use std::time::Duration;

/// What a route's `resource:` is compiled against.
pub(super) struct RouteFacts<'a> {
    /// The route's path match; `None` for the default or a route matched by name only.
    pub path: Option<&'a PathMatch>,
    pub scopes: &'a [String],
    pub providers: &'a ProviderSet,
    pub known: &'a [Provider],
    /// Whether the route lists its own `audiences`.
    pub has_audiences: bool,
}

/// The document's members with a name of their own under `resource:` (and `resource`
/// itself): `extra` may not set them.
const MODELLED: [&str; 10] = [
    "resource",
    "dpop_signing_alg_values_supported",
    "dpop_bound_access_tokens_required",
    "authorization_servers",
    "scopes_supported",
    "bearer_methods_supported",
    "resource_name",
    "resource_documentation",
    "resource_policy_uri",
    "resource_tos_uri",
];

/// The longest `cache_max_age`: a day, so a changed document reaches clients.
const MAX_CACHE_AGE: Duration = Duration::from_secs(24 * 3600);

impl Compiler<'_> {
    /// The requirements with a `resource`, in config order (see `Snapshot::documents`).
    /// Two fixed ids with one metadata URL must carry one document: the first would
    /// always be served, and the second route's clients would read the first's.
    pub(super) fn documents(
        &self,
        routes: &[Route],
        default: &Requirement,
    ) -> Result<Vec<Option<usize>>, ConfigError> {
        let label = |at: Option<usize>| at.map_or("default".to_owned(), |i| format!("routes[{i}]"));
        let all = routes
            .iter()
            .enumerate()
            .map(|(i, r)| (Some(i), &r.requirement));
        let mut found: Vec<(Option<usize>, &Resource)> = Vec::new();
        for (at, requirement) in all.chain(std::iter::once((None, default))) {
            let Some(resource) = &requirement.resource else {
                continue;
            };
            let same_url = |other: &Resource| match (&other.id, &resource.id) {
                (
                    ResourceId::Fixed {
                        metadata_url: a, ..
                    },
                    ResourceId::Fixed {
                        metadata_url: b, ..
                    },
                ) => a == b,
                _ => false,
            };
            let differs = |other: &Resource| {
                (&other.members, other.max_age) != (&resource.members, resource.max_age)
            };
            if let Some((other, _)) = found.iter().find(|(_, r)| same_url(r) && differs(r)) {
                return Err(self.invalid(
                    format!("{}.resource", label(at)),
                    format!("the same document URL as {}.resource with other members: one URL serves one document (make them equal, e.g. with a YAML anchor)", label(*other)),
                ));
            }
            found.push((at, resource));
        }
        Ok(found.into_iter().map(|(at, _)| at).collect())
    }

    pub(super) fn resource(
        &self,
        field: &str,
        file: &ResourceFile,
        route: &RouteFacts<'_>,
    ) -> Result<Resource, ConfigError> {
        let id_field = format!("{field}.id");
        let (id, path) = if file.id == "auto" {
            self.auto_id(&id_field, route)?
        } else {
            self.fixed_id(&id_field, &file.id)?
        };
        let metadata_path = match crate::route::canonical_path(&metadata_path(&path)) {
            Some(canonical) => canonical,
            None => {
                return Err(self.invalid(
                    id_field,
                    "the resource's path must be canonical (no `;`, dot segments, `//` or encoded `/`): the document is served at it",
                ));
            }
        };
        let mut members = String::new();
        let mut member = |name: &str, value: Value| {
            members.push_str(&format!(",{}:{value}", Value::from(name)));
        };
        member(
            "authorization_servers",
            self.authorization_servers(field, file, route)?.into(),
        );
        let scopes = match &file.scopes_supported {
            Some(list) => self.scope_list(&format!("{field}.scopes_supported"), list)?,
            None => route.scopes.to_vec(),
        };
        if !scopes.is_empty() {
            member("scopes_supported", scopes.into());
        }
        let methods = file.bearer_methods_supported.as_deref().unwrap_or_default();
        if methods.is_empty() && file.bearer_methods_supported.is_some()
            || methods.iter().any(|m| m != "header")
        {
            return Err(self.invalid(
                format!("{field}.bearer_methods_supported"),
                "expected [header]: this server reads the token from the Authorization header only (RFC 6750 §2.1)",
            ));
        }
        member("bearer_methods_supported", vec!["header"].into());
        // RFC 9728 §2: what the route's providers say about DPoP, when one names `dpop:`.
        let accepted: Vec<&Provider> = (route.known.iter().enumerate())
            .filter(|(i, _)| route.providers.allows(*i))
            .map(|(_, p)| p)
            .collect();
        if accepted.iter().any(|p| p.dpop.advertise) {
            let mut algs = crate::algorithm::AlgorithmSet::default();
            for p in accepted.iter().filter(|p| p.dpop.mode != DpopMode::Off) {
                p.dpop.algorithms.iter().for_each(|a| algs.insert(a));
            }
            let names: Vec<&str> = algs.iter().map(|a| a.name()).collect();
            member("dpop_signing_alg_values_supported", names.into());
            let required = accepted.iter().all(|p| p.dpop.mode == DpopMode::Required);
            member("dpop_bound_access_tokens_required", required.into());
        }
        if let Some(name) = &file.resource_name {
            if name.trim().is_empty() {
                return Err(self.invalid(format!("{field}.resource_name"), "expected a name"));
            }
            member("resource_name", name.as_str().into());
        }
        for (name, value) in [
            ("resource_documentation", &file.resource_documentation),
            ("resource_policy_uri", &file.resource_policy_uri),
            ("resource_tos_uri", &file.resource_tos_uri),
        ] {
            if let Some(url) = value {
                self.web_url(&format!("{field}.{name}"), url)?;
                member(name, url.as_str().into());
            }
        }
        for (name, value) in file.extra.iter().flatten() {
            if name.is_empty() || MODELLED.contains(&name.as_str()) {
                return Err(self.invalid(
                    format!("{field}.extra.{name}"),
                    "a member of `resource:` itself (or empty): set it there, not in `extra`",
                ));
            }
            member(name, value.clone());
        }
        let max_age = file
            .cache_max_age
            .map_or(Duration::from_secs(3600), |d| d.get());
        if max_age > MAX_CACHE_AGE || max_age.subsec_nanos() != 0 {
            return Err(self.invalid(
                format!("{field}.cache_max_age"),
                "expected whole seconds, at most 24h",
            ));
        }
        Ok(Resource {
            id,
            metadata_path,
            members,
            max_age,
        })
    }

    /// `auto`: the route's own path, on whatever host a request names. Its audience cannot
    /// come from the request: the client chooses `Host`, so a token minted for any other
    /// resource (another MCP server behind the same authorization server) would pass.
    fn auto_id(
        &self,
        field: &str,
        route: &RouteFacts<'_>,
    ) -> Result<(ResourceId, String), ConfigError> {
        if !route.has_audiences {
            return Err(self.invalid(
                field,
                "`auto` builds the resource URL from each request's Host, which the client chooses, so it cannot be the audience tokens must carry: list the route's `audiences` (the resource URLs its tokens are minted for), or give a fixed id",
            ));
        }
        let pattern = match route.path {
            Some(PathMatch::Exact(p) | PathMatch::Prefix(p)) => p,
            _ => {
                return Err(self.invalid(
                    field,
                    "`auto` needs a route whose `match` has `path` or `path_prefix`: the resource URL ends with that path (a glob, no path or the default names no single URL); give a fixed id instead",
                ));
            }
        };
        let url_safe = |b: u8| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,=:@/%".contains(&b);
        if !pattern.bytes().all(url_safe) {
            return Err(self.invalid(
                field,
                format!("`auto` uses the route's path {pattern:?} as the URL's path, and it has characters a URL path must escape: give a fixed id with the path percent-encoded"),
            ));
        }
        let path = pattern.trim_end_matches('/').to_owned();
        Ok((ResourceId::Auto { path: path.clone() }, path))
    }

    /// A fixed id: an `https` URL (`http` on loopback), written exactly as a URL parser
    /// prints it, so the document's `resource` is byte for byte what clients compare.
    fn fixed_id(&self, field: &str, text: &str) -> Result<(ResourceId, String), ConfigError> {
        let (url, scheme) = self.server_url(field, text)?;
        let normal = url.as_str();
        // A root resource may be written without its `/` (MCP prefers that form).
        let written_as_parsed =
            text == normal || (url.path() == "/" && normal.strip_suffix('/') == Some(text));
        if !written_as_parsed {
            return Err(self.invalid(
                field,
                format!("write it as {normal:?}: the document's `resource` must be exactly the URL clients use (lowercase host, no default port, the path percent-encoded)"),
            ));
        }
        let host = url.host_str().unwrap_or_default();
        let authority = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        let path = match url.path() {
            "/" if text != normal => String::new(),
            path => path.to_owned(),
        };
        let origin = format!("{}://{authority}", scheme.as_str());
        let id = ResourceId::Fixed {
            url: text.to_owned(),
            metadata_url: format!("{origin}{}", metadata_path(&path)),
            scheme,
            authority,
        };
        Ok((id, path))
    }

    /// An identifier URL (a resource or an authorization server): `https`, or `http` for
    /// a loopback host; no user, query or fragment.
    fn server_url(&self, field: &str, text: &str) -> Result<(reqwest::Url, Scheme), ConfigError> {
        let url = reqwest::Url::parse(text)
            .map_err(|e| self.invalid(field, format!("{text:?} is not a URL: {e}")))?;
        let scheme = match url.scheme() {
            "https" => Scheme::Https,
            "http" if resource::is_loopback(url.host_str().unwrap_or_default()) => Scheme::Http,
            _ => {
                return Err(self.invalid(
                    field,
                    format!("{text:?}: expected an https URL (RFC 9728 §1.2, RFC 8414 §2); http only for localhost or a loopback address"),
                ));
            }
        };
        if !url.username().is_empty()
            || url.password().is_some()
            || url.query().is_some()
            || url.fragment().is_some()
        {
            return Err(self.invalid(
                field,
                format!("{text:?}: no user, query or fragment in an identifier URL"),
            ));
        }
        Ok((url, scheme))
    }

    /// Where clients get tokens: as configured, or the issuers the route's providers trust.
    fn authorization_servers(
        &self,
        field: &str,
        file: &ResourceFile,
        route: &RouteFacts<'_>,
    ) -> Result<Vec<String>, ConfigError> {
        let field = format!("{field}.authorization_servers");
        let Some(list) = &file.authorization_servers else {
            let mut issuers: Vec<String> = Vec::new();
            for (i, provider) in route.known.iter().enumerate() {
                for issuer in provider
                    .issuers
                    .iter()
                    .filter(|_| route.providers.allows(i))
                {
                    if !issuers.contains(issuer) {
                        issuers.push(issuer.clone());
                    }
                }
            }
            if issuers.is_empty() {
                return Err(self.invalid(
                    field,
                    "the route's providers name no issuer: list the authorization servers",
                ));
            }
            return Ok(issuers);
        };
        if list.is_empty() {
            return Err(self.invalid(
                field,
                "expected at least one (the MCP authorization spec requires one), or omit it: the providers' issuers",
            ));
        }
        for (j, server) in list.iter().enumerate() {
            self.server_url(&format!("{field}[{j}]"), server)?;
        }
        Ok(list.clone())
    }

    fn scope_list(&self, field: &str, list: &[String]) -> Result<Vec<String>, ConfigError> {
        if list.is_empty() {
            return Err(self.invalid(
                field,
                "expected at least one scope, or omit it: the route's scopes",
            ));
        }
        for (j, scope) in list.iter().enumerate() {
            if !is_scope_token(scope) {
                return Err(self.invalid(
                    format!("{field}[{j}]"),
                    "a scope is one non-empty word (no spaces, quotes or backslashes)",
                ));
            }
        }
        Ok(list.to_vec())
    }

    /// A page for people (documentation, policy, terms): an absolute http(s) URL.
    fn web_url(&self, field: &str, text: &str) -> Result<(), ConfigError> {
        match reqwest::Url::parse(text) {
            Ok(url) if matches!(url.scheme(), "https" | "http") => Ok(()),
            _ => Err(self.invalid(field, format!("{text:?} is not an http(s) URL"))),
        }
    }
}
