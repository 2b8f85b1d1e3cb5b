//! What the decision reads of a request ([`Request`]), filled by every front end from its
//! own wire format, and the two facts front ends derive the same way: the [`Scheme`] and
//! whether a request is a CORS preflight.

/// The parts of an HTTP request the decision reads.
#[derive(Debug, Default, Clone)]
pub struct Request<'a> {
    /// Every `Authorization` value received, one per header line (or Envoy's joined value).
    pub authorization: Vec<&'a [u8]>,
    /// Every `DPoP` proof header value received, the same way (RFC 9449 §4.3 wants one).
    pub dpop: Vec<&'a [u8]>,
    pub method: &'a str,
    /// `:path`, query string included.
    pub path: &'a str,
    /// `:authority`.
    pub host: &'a str,
    /// The scheme the client used, when the front end was told it (`None`: not sent): what
    /// the client's URL is built from (RFC 9728 `resource`, DPoP `htu`).
    pub scheme: Option<Scheme>,
    /// Envoy's per-route `context_extensions["route"]`.
    pub route_name: Option<&'a str>,
    /// Both `Origin` and `Access-Control-Request-Method` are present and not empty (see
    /// [`is_cors_preflight`], which every front end uses to fill this).
    pub cors_preflight: bool,
}

/// A request's scheme: the two Envoy, nginx, Traefik and Caddy forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    /// `http` or `https` in any case (RFC 3986 §3.1: schemes are case-insensitive);
    /// anything else is `None`, which every front end refuses rather than guesses.
    pub fn parse(value: &[u8]) -> Option<Scheme> {
        if value.eq_ignore_ascii_case(b"https") {
            Some(Scheme::Https)
        } else if value.eq_ignore_ascii_case(b"http") {
            Some(Scheme::Http)
        } else {
            None
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// Whether a request's `Origin` and `Access-Control-Request-Method` make it a CORS
/// preflight (with an `OPTIONS` method, checked by the decision): both present and not
/// empty — an empty `Origin` is not a cross-origin request.
pub fn is_cors_preflight(origin: Option<&[u8]>, request_method: Option<&[u8]>) -> bool {
    origin.is_some_and(|v| !v.is_empty()) && request_method.is_some_and(|v| !v.is_empty())
}
