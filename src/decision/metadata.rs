//! RFC 9728 §3: the Check answers a `GET` or `HEAD` of a protected resource metadata URL
//! itself, before any route or token is looked at — the document is public, and a client
//! that has no token yet must be able to read it.
//!
//! Which document: the first requirement with a `resource` (config order) whose metadata
//! path is the request's path and that serves the request's host (a fixed id: its own host
//! and port; `auto`: any host the route's `hosts` admit). The bare
//! `/.well-known/oauth-protected-resource` is also the MCP clients' fallback for a resource
//! with a path: when no root resource claims it, the first document for the host answers.

use super::Scheme;
use super::answer::{Denial, anonymous, metadata};
use super::{Decision, Request, Serve};
use crate::reason::Reason;
use crate::route::{Selected, canonical_path, host_matches, normalize_host};
use crate::snapshot::resource::{WELL_KNOWN, authority};
use crate::snapshot::{Resource, Snapshot};
use crate::trace::{Check, Tracer, stage};

/// The document answering `request`, a 500 `resource_url_unknown` when its `auto` URL
/// cannot be built, or `None`: not a metadata request (the decision goes on as usual).
pub(super) fn answer(
    snapshot: &Snapshot,
    request: &Request<'_>,
    tracer: &mut dyn Tracer,
) -> Option<Decision> {
    // Cheap refusals first: this runs ahead of every decision.
    if snapshot.documents.is_empty()
        || !request.path.starts_with(WELL_KNOWN)
        || !matches!(request.method, "GET" | "HEAD")
    {
        return None;
    }
    let path = canonical_path(request.path)?;
    let host = normalize_host(request.host.as_bytes());
    let candidates = snapshot.documents.iter().filter_map(|at| {
        let (selected, hosts) = match *at {
            Some(index) => {
                let route = &snapshot.routes[index];
                let hosts = route.matcher.as_ref().map_or(&[][..], |m| &m.hosts[..]);
                let selected = Selected {
                    index: Some(index),
                    name: route.name.as_deref(),
                    requirement: &route.requirement,
                };
                (selected, hosts)
            }
            None => {
                let selected = Selected {
                    index: None,
                    name: None,
                    requirement: &snapshot.default_requirement,
                };
                (selected, &[][..])
            }
        };
        let resource = selected.requirement.resource.as_ref()?;
        let admitted = hosts.is_empty()
            || host.is_some_and(|h| hosts.iter().any(|pattern| host_matches(pattern, h)));
        (admitted && resource.serves_host(request.host)).then_some((selected, resource))
    });
    let exact = candidates
        .clone()
        .find(|(_, resource)| resource.metadata_path == path);
    let mut fallback = candidates.filter(|_| path == WELL_KNOWN);
    let (selected, resource) = exact.or_else(|| fallback.next())?;
    Some(serve(snapshot, request, selected, resource, tracer))
}

fn serve(
    snapshot: &Snapshot,
    request: &Request<'_>,
    selected: Selected<'_>,
    resource: &Resource,
    tracer: &mut dyn Tracer,
) -> Decision {
    tracer.route(selected.index);
    let url = resource.url(request.scheme, request.host);
    let label = match (selected.index, selected.name) {
        (_, Some(name)) => format!("route {name}"),
        (Some(index), None) => format!("routes[{index}]"),
        (None, None) => "the default".to_owned(),
    };
    // A `Host` no URL can hold is the client's mistake (400); an unknown scheme, or http
    // off loopback, the deployment's (500).
    let result = match &url {
        Some(url) => Ok(url.clone()),
        None if authority(Scheme::Https, request.host).is_none() => Err(Reason::HostNotCanonical),
        None => Err(Reason::ResourceUrlUnknown),
    };
    let result = stage(tracer, Check::Route, result, || {
        let actual = match &url {
            Some(url) => {
                format!("the protected resource metadata of {label} for {url}: no token needed")
            }
            None => format!(
                "the protected resource metadata of {label}, whose `auto` URL needs the scheme (known: {}) and a host it may name (got {:?})",
                request.scheme.map_or("none", |s| s.as_str()),
                request.host
            ),
        };
        ("a route for the request".into(), actual)
    });
    let url = match result {
        Ok(url) => url,
        Err(reason) => {
            return Denial::new(reason).route(selected.name).render(snapshot);
        }
    };
    Decision::Serve(Box::new(Serve {
        route: selected.name.map(str::to_owned),
        body: resource.document(&url),
        resource: url,
        cache_control: resource.cache_control(),
        pass: anonymous(snapshot, selected, request),
        metadata: metadata(
            snapshot,
            selected.name,
            [("served".to_owned(), "resource_metadata".to_owned())],
        ),
    }))
}
