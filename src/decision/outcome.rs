//! What a decision answers: [`Decision`] — an [`Allow`] with the header changes for the
//! upstream, a [`Deny`] with its challenge and body, or a [`Serve`]d RFC 9728 document — and
//! the headers every front end sends with each, so no front end decides them itself.

use crate::reason::Reason;
use crate::token::verify::Observed;
use std::sync::Arc;

/// Allow, deny, or answer the request here, with everything the adapter needs to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow(Allow),
    Deny(Deny),
    /// A request the authorizer answers itself (RFC 9728 protected resource metadata):
    /// neither let through nor refused. Boxed: rare, and it would make every `Decision`
    /// (moved on every Check) larger.
    Serve(Box<Serve>),
}

/// Who the verified token speaks for (for the audit log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub provider: String,
    pub subject: Option<String>,
}

/// An allowed request and the header changes for the upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allow {
    /// The selected route's name, if it has one.
    pub route: Option<String>,
    /// `None` for anonymous access and CORS preflights.
    pub identity: Option<Identity>,
    /// Headers to set, overwriting any value the client sent.
    pub set_headers: Vec<(String, String)>,
    /// Headers to remove: `authorization` when stripped, and every configured identity
    /// header not set here (so a client can never supply one).
    pub remove_headers: Vec<String>,
    /// `dynamic_metadata` fields: `route` (when named), then `provider` and the configured
    /// claims, or `anonymous: "true"`; empty when turned off.
    pub metadata: Vec<(String, String)>,
}

/// A denial, rendered: challenge and JSON body (the status is the reason's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deny {
    pub reason: Reason,
    /// The challenge; `None` for a 5xx (the token was not judged, so nothing is asked of
    /// the client).
    pub www_authenticate: Option<String>,
    pub body: String,
    /// The provider selected by the token's `iss`, when the failure came after selection.
    pub provider: Option<String>,
    pub route: Option<String>,
    /// What the token said (`iss`, `aud`, `kid`, `alg`, `typ`), when it could be decoded.
    pub observed: Option<Arc<Observed>>,
    /// RFC 9449 §9: the nonce the client must put in its next proof (`use_dpop_nonce`).
    pub dpop_nonce: Option<String>,
    /// `dynamic_metadata` fields: `reason`; empty when turned off.
    pub metadata: Vec<(String, String)>,
}

/// A document the authorizer answers with (status 200): a `GET`/`HEAD` of a route's RFC
/// 9728 protected resource metadata URL, which needs no token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Serve {
    /// The name of the route whose `resource` it is, if it has one.
    pub route: Option<String>,
    /// The resource identifier the document names (the URL the client uses).
    pub resource: String,
    /// The JSON document.
    pub body: String,
    /// `public, max-age=…`.
    pub cache_control: String,
    /// What a front end that cannot answer with a body of its own lets through instead
    /// (HTTP mode and forward auth, where a 200 means allow): an anonymous allow, so the
    /// proxy can route the path to our HTTP listener (or an upstream) with no token.
    pub pass: Allow,
    /// `dynamic_metadata` fields: `route` when named, `served`; empty when turned off.
    pub metadata: Vec<(String, String)>,
}

impl Serve {
    /// The HTTP status the client gets.
    pub const STATUS: u16 = 200;

    /// The document's headers, the same for every front end: JSON, cacheable by anyone
    /// (it holds nothing secret), and readable by browser-based clients of any origin.
    pub fn headers(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [
            ("content-type", "application/json"),
            ("cache-control", self.cache_control.as_str()),
            ("access-control-allow-origin", "*"),
        ]
        .into_iter()
    }
}

/// The headers of every JSON answer to the client (a deny, or a front end's refusal of a
/// request it cannot read): the body is JSON, and no cache may keep it.
pub const JSON_ANSWER_HEADERS: [(&str, &str); 2] = [
    ("content-type", "application/json"),
    ("cache-control", "no-store"),
];

impl Deny {
    /// The HTTP status the client gets.
    pub fn status(&self) -> u16 {
        self.reason.http_status()
    }

    /// The answer's headers, the same for every front end: the challenge (when there is
    /// one), a DPoP nonce (when the client must use one), then [`JSON_ANSWER_HEADERS`].
    pub fn headers(&self) -> impl Iterator<Item = (&'static str, &str)> {
        let challenge = self.www_authenticate.as_deref();
        let nonce = self.dpop_nonce.as_deref();
        challenge
            .map(|c| ("www-authenticate", c))
            .into_iter()
            .chain(nonce.map(|n| ("dpop-nonce", n)))
            .chain(JSON_ANSWER_HEADERS)
    }
}
