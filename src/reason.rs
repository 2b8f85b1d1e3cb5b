//! Why a request was denied: one variant per user-visible reason, and the single mapping from
//! a reason to its HTTP status, RFC 6750 error code and fixed description. Over 400 lines
//! because the three per-reason tables (status, description, hint) must stay side by side.
//!
//! Descriptions are constants chosen here, never text from the token, so they are always
//! within RFC 6750's `error_description` charset and never echo attacker input.

/// A denial reason. The snake_case [`Reason::code`] is stable: it appears in logs, metrics
/// labels and the README's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// No `Authorization` header, or a scheme other than Bearer.
    NoCredentials,
    /// Two `Authorization` headers, or two credentials joined with a comma.
    MultipleCredentials,
    /// A Bearer value with extra words, a tab, or characters outside the b64token charset.
    MalformedAuthorization,
    /// `Bearer` with no token after it.
    EmptyBearer,
    /// The path has dot or empty segments, a path parameter (`;`), an encoded slash, or is
    /// longer than 8 KiB: matching it against routes could differ from how the upstream
    /// resolves it.
    PathNotCanonical,
    /// A route matches hosts and the `:authority` is not a host name (or `[IPv6]`) with an
    /// optional numeric port: matching it could differ from how the upstream parses it.
    HostNotCanonical,
    /// The token is larger than `limits.max_token_bytes`.
    TokenTooLarge,
    /// The token has no dots: an opaque (reference) token, not a JWT.
    OpaqueToken,
    /// The token has five segments: an encrypted JWT (JWE).
    EncryptedToken,
    /// Wrong segment count, bad base64url, header/payload not a strict JSON object, or a
    /// header parameter that changes what the JWS means (`zip`, `b64` outside `crit`).
    MalformedToken,
    /// `alg` is missing, unknown, `none`, HMAC, or not in the provider's `algorithms`.
    AlgorithmNotAllowed,
    /// The payload has no string `iss`.
    IssuerMissing,
    /// `iss` matches no provider allowed here (exact, case-sensitive), or an issuer
    /// template's with a tenant not in `tenants`, or without the tenant claim (`tid`)
    /// repeating that tenant.
    IssuerNotTrusted,
    /// No `kid` in the header and the provider has more than one key.
    KidRequired,
    /// No key in the provider's key set has this `kid`.
    KeyNotFound,
    /// The key with this `kid` cannot be used with the token's `alg`.
    KeyAlgorithmMismatch,
    /// The signature does not verify.
    SignatureInvalid,
    /// `exp`, `nbf`, `iat`, `aud`, `iss` or an issuer template's tenant claim has the
    /// wrong JSON type.
    ClaimMalformed,
    /// `exp` is not after `nbf` or `iat`.
    ValidityWindowInvalid,
    /// `now` is past `exp` plus the clock skew.
    Expired,
    /// `now` is before `nbf` minus the clock skew.
    NotYetValid,
    /// `iat` is later than `now` plus the clock skew.
    IssuedInFuture,
    /// A claim listed in `required_claims` is absent.
    RequiredClaimMissing,
    /// None of the `audience_claims` is present.
    AudienceMissing,
    /// The audience holds none of the configured audiences.
    AudienceNotAllowed,
    /// The header has `crit`: no JWS extension is understood, so it must be rejected.
    CritUnsupported,
    /// `typ` is not `JWT`/`at+jwt` (or not in the provider's `token_types`).
    TokenTypeNotAllowed,
    /// RFC 8705 §3: the token is certificate-bound (`cnf.x5t#S256`) and the request came
    /// with no client certificate, or with another one.
    CertificateBindingMismatch,
    /// The provider's `mtls_binding: required`, and the token is not certificate-bound.
    CertificateBindingRequired,
    /// The provider's introspection endpoint (RFC 7662) says the token is not active:
    /// revoked, expired, or never issued by it.
    TokenInactive,
    /// The introspection endpoint could not judge the token (down, timed out, a non-200
    /// or unreadable answer, or too many introspections in flight): 503, never an allow.
    IntrospectionUnavailable,
    /// The provider's remote key set has not been fetched yet (the IdP was unreachable
    /// since startup): the token cannot be judged, so the answer is 503, not 401.
    KeysUnavailable,
    /// RFC 9470: the route requires `acr_values` and the token's `acr` is none of them.
    InsufficientAcr,
    /// RFC 9470: the route has a `max_age` and the token's `auth_time` is older (or absent).
    AuthenticationTooOld,
    /// `Authorization: DPoP` and no `DPoP` proof header.
    DpopProofMissing,
    /// Two `DPoP` headers, or a proof that is not a `dpop+jwt` JWS with an allowed `alg`
    /// and a public `jwk`, or lacks `jti`/`htm`/`htu`/`iat`.
    DpopProofMalformed,
    /// The proof's signature does not verify with the key in its own header.
    DpopProofSignatureInvalid,
    /// The proof is for another method (`htm`), URL (`htu`) or access token (`ath`).
    DpopProofMismatch,
    /// The proof's `iat` is further from now than the provider's `dpop.max_age`.
    DpopProofStale,
    /// A proof with this `jti` was accepted before (RFC 9449 §11.1).
    DpopProofReplayed,
    /// The proof was made with another key than the token's `cnf.jkt`.
    DpopKeyMismatch,
    /// The provider requires a server nonce and the proof has none, or an old one.
    DpopNonceRequired,
    /// A DPoP-bound token (`cnf.jkt`) presented as `Bearer`: a downgrade.
    DpopBoundToken,
    /// The provider's `dpop: required`, or the DPoP scheme with a token without `cnf.jkt`.
    DpopRequired,
    /// The DPoP scheme for a provider whose `dpop` is `off`.
    DpopNotAccepted,
    /// The provider's DPoP replay cache is full of live proofs: 503, never an allow.
    DpopReplayCacheFull,
    /// The token lacks a scope the route requires.
    InsufficientScope,
    /// A claim the route requires does not have the required value.
    ClaimMismatch,
    /// Envoy's `context_extensions` name a route this config does not have.
    RouteNotConfigured,
    /// An `auto` resource's metadata document was asked for, and the request's URL cannot
    /// be told: no scheme, or plain `http` to a host that is not loopback.
    ResourceUrlUnknown,
    /// A bug: the decision panicked. Failed closed with a 500, never a reset stream.
    Internal,
}

/// The RFC 6750 §3.1 error code carried in the challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidToken,
    InsufficientScope,
    /// RFC 9470 §3: the authentication behind the token is too weak or too old (a 401).
    InsufficientUserAuthentication,
    /// RFC 9449 §7.1: the DPoP proof is missing or invalid (a 401).
    InvalidDpopProof,
    /// RFC 9449 §9: the proof must carry the nonce in the answer's `DPoP-Nonce` (a 401).
    UseDpopNonce,
    /// Not RFC 6750: the OAuth `temporarily_unavailable` code, for a 503.
    TemporarilyUnavailable,
    /// Not RFC 6750: the OAuth `server_error` code, for a 500 (a deployment mistake).
    ServerError,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::InsufficientScope => "insufficient_scope",
            ErrorCode::InsufficientUserAuthentication => "insufficient_user_authentication",
            ErrorCode::InvalidDpopProof => "invalid_dpop_proof",
            ErrorCode::UseDpopNonce => "use_dpop_nonce",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
            ErrorCode::ServerError => "server_error",
        }
    }
}

impl Reason {
    /// Every reason, for tables and exhaustive tests.
    pub const ALL: [Reason; 51] = [
        Reason::NoCredentials,
        Reason::MultipleCredentials,
        Reason::MalformedAuthorization,
        Reason::EmptyBearer,
        Reason::PathNotCanonical,
        Reason::HostNotCanonical,
        Reason::TokenTooLarge,
        Reason::OpaqueToken,
        Reason::EncryptedToken,
        Reason::MalformedToken,
        Reason::AlgorithmNotAllowed,
        Reason::IssuerMissing,
        Reason::IssuerNotTrusted,
        Reason::KidRequired,
        Reason::KeyNotFound,
        Reason::KeyAlgorithmMismatch,
        Reason::SignatureInvalid,
        Reason::ClaimMalformed,
        Reason::ValidityWindowInvalid,
        Reason::Expired,
        Reason::NotYetValid,
        Reason::IssuedInFuture,
        Reason::RequiredClaimMissing,
        Reason::AudienceMissing,
        Reason::AudienceNotAllowed,
        Reason::CritUnsupported,
        Reason::TokenTypeNotAllowed,
        Reason::CertificateBindingMismatch,
        Reason::CertificateBindingRequired,
        Reason::TokenInactive,
        Reason::KeysUnavailable,
        Reason::IntrospectionUnavailable,
        Reason::InsufficientAcr,
        Reason::AuthenticationTooOld,
        Reason::DpopProofMissing,
        Reason::DpopProofMalformed,
        Reason::DpopProofSignatureInvalid,
        Reason::DpopProofMismatch,
        Reason::DpopProofStale,
        Reason::DpopProofReplayed,
        Reason::DpopKeyMismatch,
        Reason::DpopNonceRequired,
        Reason::DpopBoundToken,
        Reason::DpopRequired,
        Reason::DpopNotAccepted,
        Reason::DpopReplayCacheFull,
        Reason::InsufficientScope,
        Reason::ClaimMismatch,
        Reason::RouteNotConfigured,
        Reason::ResourceUrlUnknown,
        Reason::Internal,
    ];

    /// Stable snake_case code for logs, metrics and docs.
    pub fn code(self) -> &'static str {
        self.row().0
    }

    /// The HTTP status Envoy returns to the client.
    pub fn http_status(self) -> u16 {
        match self.error_code() {
            None
            | Some(ErrorCode::InvalidToken)
            | Some(ErrorCode::InsufficientUserAuthentication)
            | Some(ErrorCode::InvalidDpopProof)
            | Some(ErrorCode::UseDpopNonce) => 401,
            Some(ErrorCode::InvalidRequest) => 400,
            Some(ErrorCode::InsufficientScope) => 403,
            Some(ErrorCode::TemporarilyUnavailable) => 503,
            Some(ErrorCode::ServerError) => 500,
        }
    }

    /// The `google.rpc.Code` of a gRPC ext_authz answer carrying this denial (Envoy reads
    /// the HTTP status from `denied_response`; the code is what its logs and stats show).
    pub fn grpc_code(self) -> i32 {
        match self.error_code() {
            None
            | Some(ErrorCode::InvalidToken)
            | Some(ErrorCode::InsufficientUserAuthentication)
            | Some(ErrorCode::InvalidDpopProof)
            | Some(ErrorCode::UseDpopNonce) => 16, // UNAUTHENTICATED
            Some(ErrorCode::InvalidRequest) => 3, // INVALID_ARGUMENT
            Some(ErrorCode::InsufficientScope) => 7, // PERMISSION_DENIED
            Some(ErrorCode::TemporarilyUnavailable) => 14, // UNAVAILABLE
            Some(ErrorCode::ServerError) => 13,   // INTERNAL
        }
    }

    /// The RFC 6750 error code; `None` when the request carried no credentials at all
    /// (RFC 6750 §3.1: then the challenge SHOULD NOT carry an error code).
    pub fn error_code(self) -> Option<ErrorCode> {
        match self {
            Reason::NoCredentials => None,
            Reason::MultipleCredentials
            | Reason::MalformedAuthorization
            | Reason::EmptyBearer
            | Reason::PathNotCanonical
            | Reason::HostNotCanonical => Some(ErrorCode::InvalidRequest),
            Reason::InsufficientScope | Reason::ClaimMismatch => Some(ErrorCode::InsufficientScope),
            Reason::InsufficientAcr | Reason::AuthenticationTooOld => {
                Some(ErrorCode::InsufficientUserAuthentication)
            }
            Reason::RouteNotConfigured | Reason::ResourceUrlUnknown | Reason::Internal => {
                Some(ErrorCode::ServerError)
            }
            Reason::KeysUnavailable
            | Reason::IntrospectionUnavailable
            | Reason::DpopReplayCacheFull => Some(ErrorCode::TemporarilyUnavailable),
            Reason::DpopProofMissing
            | Reason::DpopProofMalformed
            | Reason::DpopProofSignatureInvalid
            | Reason::DpopProofMismatch
            | Reason::DpopProofStale
            | Reason::DpopProofReplayed => Some(ErrorCode::InvalidDpopProof),
            Reason::DpopNonceRequired => Some(ErrorCode::UseDpopNonce),
            _ => Some(ErrorCode::InvalidToken),
        }
    }

    /// What to check: the troubleshooting hint shown by `explain` and in the README's
    /// reason table (a test keeps the README in step with this).
    pub fn hint(self) -> &'static str {
        match self {
            Reason::NoCredentials => {
                r#"Send `Authorization: Bearer <token>`; other schemes (Basic) count as none."#
            }
            Reason::MultipleCredentials => {
                r#"Two `Authorization` headers, or a comma-joined value: send exactly one."#
            }
            Reason::MalformedAuthorization => {
                r#"`Bearer`, spaces, then one token of `A-Z a-z 0-9 - . _ ~ + /` (and trailing `=`); no extra words, tabs or quotes."#
            }
            Reason::EmptyBearer => {
                r#"The client sent `Bearer` with nothing after it: its token variable is empty."#
            }
            Reason::PathNotCanonical => {
                r#"The path has `.`/`..` or empty segments, a `;` path parameter, an encoded slash, a `#`, an escape that is not UTF-8, or is over 8 KiB; enable Envoy's `normalize_path` and `merge_slashes`."#
            }
            Reason::HostNotCanonical => {
                r#"The `Host`/`:authority` is not a host name with an optional numeric port (`a..b`, `host:x`, `user@host`, non-ASCII): fix the client, or normalise it in the proxy."#
            }
            Reason::TokenTooLarge => {
                r#"Token over `limits.max_token_bytes`; raise it if your IdP puts many groups in tokens."#
            }
            Reason::OpaqueToken => {
                r#"A reference token (no dots) and no provider this route allows introspects: e.g. Okta's org authorization server, Auth0 without an `audience`, or a client that left out the RFC 8707 `resource=` parameter and got an opaque token where it expected a JWT for this API. Request a JWT for your API, or give a provider an `introspection:` endpoint."#
            }
            Reason::EncryptedToken => {
                r#"A JWE (five parts): turn token encryption off for this API at the IdP."#
            }
            Reason::MalformedToken => {
                r#"Not three base64url parts of JSON objects: truncated or padded copy-paste, duplicate JSON members, a non-string `kid`, or a header with `zip` (a JWE parameter) or `b64` outside `crit` (RFC 7797)."#
            }
            Reason::AlgorithmNotAllowed => {
                r#"`alg` is `none`, HMAC, unknown, or not in the provider's `algorithms`."#
            }
            Reason::IssuerMissing => {
                r#"The token has no `iss`; it is not an access token from an OAuth server."#
            }
            Reason::IssuerNotTrusted => {
                r#"`iss` must equal a configured issuer exactly: check the trailing slash (Auth0 and Entra v1 have one, Okta and Entra v2 do not), `http` vs `https`, case, and the tenant/realm; through an `issuer_template`, the tenant must be in `tenants` and the tenant claim (`tid`) must equal it."#
            }
            Reason::KidRequired => {
                r#"No `kid` and the provider has several keys: the issuer must send `kid`."#
            }
            Reason::KeyNotFound => {
                r#"The `kid` is not in this provider's key set: keys rotated (update the JWKS), or the token is from another tenant/environment."#
            }
            Reason::KeyAlgorithmMismatch => {
                r#"The JWK with this `kid` declares another `alg`, or is of another key type."#
            }
            Reason::SignatureInvalid => {
                r#"Wrong key for this `kid` (a stale JWKS after rotation, or a staging token against production keys), or a modified token."#
            }
            Reason::ClaimMalformed => {
                r#"`exp`/`nbf`/`iat` must be numbers, `iss` a string, the audience a string or array of strings."#
            }
            Reason::ValidityWindowInvalid => {
                r#"`exp` is not after `nbf` or `iat`: the issuer's token lifetime is zero or negative."#
            }
            Reason::Expired => {
                r#"Get a new token; if tokens expire early, the client's or server's clock is off (see `clock_skew`)."#
            }
            Reason::NotYetValid => {
                r#"`nbf` is in the future beyond `clock_skew`: clock drift between issuer and this host."#
            }
            Reason::IssuedInFuture => r#"`iat` is in the future beyond `clock_skew`: clock drift."#,
            Reason::RequiredClaimMissing => {
                r#"A claim in `required_claims` (default `exp`) is absent."#
            }
            Reason::AudienceMissing => {
                r#"None of `audience_claims` is present (Cognito: add `client_id` to `audience_claims`)."#
            }
            Reason::AudienceNotAllowed => {
                r#"`aud` must contain a configured audience exactly. Common causes: an ID token sent instead of an access token (`aud` is the client id), a staging audience, a trailing slash."#
            }
            Reason::CritUnsupported => r#"The header has `crit`; no JWS extension is supported."#,
            Reason::TokenTypeNotAllowed => {
                r#"`typ` is not `JWT`/`at+jwt` (or not in `token_types`): e.g. a DPoP proof or an ID token with a specific `typ`."#
            }
            Reason::CertificateBindingMismatch => {
                r#"The token is bound to a client certificate (`cnf.x5t#S256`, RFC 8705) and the request came without it: the client must call over mutual TLS with the certificate it got the token with. Check that Envoy asks for client certificates (`require_client_certificate`) and sends them (`include_peer_certificate: true`), or, behind a TLS-terminating proxy, that the proxy sets `x-forwarded-client-cert` and is in `client_certificates.trusted_sources` (`explain --client-cert` compares the thumbprints)."#
            }
            Reason::CertificateBindingRequired => {
                r#"The provider has `mtls_binding: required` and the token has no `cnf.x5t#S256`: the client must get its token over mutual TLS from an authorization server that binds tokens to certificates (RFC 8705)."#
            }
            Reason::InsufficientAcr => {
                r#"The route needs a stronger sign-in (`acr_values`, sent back in the challenge): the client must re-authenticate asking the IdP for one of them (`acr_values=` in the authorization request, RFC 9470 §4)."#
            }
            Reason::AuthenticationTooOld => {
                r#"The sign-in behind the token (`auth_time`) is older than the route's `max_age`, or the token has no `auth_time`: the client must re-authenticate with `max_age=` (RFC 9470 §4); ask the IdP to include `auth_time`."#
            }
            Reason::DpopProofMissing => {
                r#"`Authorization: DPoP <token>` needs a `DPoP: <proof>` header: the client (or a proxy in between) dropped it."#
            }
            Reason::DpopProofMalformed => {
                r#"The `DPoP` header must be one JWS with `typ: dpop+jwt`, an `alg` in the provider's `dpop.algorithms`, a public `jwk` (no `d`), and claims `jti`, `htm`, `htu`, `iat`; not two headers. `explain --header 'DPoP: <proof>'` says which part."#
            }
            Reason::DpopProofSignatureInvalid => {
                r#"The proof's signature does not verify with the `jwk` in its own header: the client signed with another key than it published, or the proof was altered."#
            }
            Reason::DpopProofMismatch => {
                r#"The proof is for another request: `htm` must be the method, `htu` the URL without query (scheme and host as the client used them: behind a TLS-terminating proxy Envoy must know the scheme is `https`), `ath` the SHA-256 of this access token."#
            }
            Reason::DpopProofStale => {
                r#"The proof's `iat` is further from now than `dpop.max_age` (default 60s): clients must make a new proof per request; check the client's clock."#
            }
            Reason::DpopProofReplayed => {
                r#"A proof is single-use: this `jti` was accepted before. The client must make a new proof for every request (a retry too)."#
            }
            Reason::DpopKeyMismatch => {
                r#"The proof was signed by another key than the one the token is bound to (`cnf.jkt`): the client lost or rotated its DPoP key; it needs a new token."#
            }
            Reason::DpopNonceRequired => {
                r#"The provider's `dpop.nonce: required`: retry with the nonce in the answer's `DPoP-Nonce` header in the proof's `nonce` claim (DPoP clients do this themselves)."#
            }
            Reason::DpopBoundToken => {
                r#"The token is bound to a DPoP key (`cnf.jkt`) and was sent as `Bearer`: send `Authorization: DPoP <token>` with a `DPoP` proof."#
            }
            Reason::DpopRequired => {
                r#"The provider has `dpop: required` (or the DPoP scheme came with a token that has no `cnf.jkt`): ask the IdP for a DPoP-bound token (send a `DPoP` proof to its token endpoint)."#
            }
            Reason::DpopNotAccepted => {
                r#"The token's provider has `dpop: off`: send the token as `Bearer`, or set `dpop: allowed`."#
            }
            Reason::DpopReplayCacheFull => {
                r#"The provider's DPoP replay cache (`dpop.replay_cache_entries`) is full of live proofs: raise it or lower `dpop.max_age`. No `WWW-Authenticate` is sent."#
            }
            Reason::InsufficientScope => {
                r#"The token lacks a scope the route requires (listed in the challenge's `scope`): request it from the IdP. Scopes are space-separated; `"a,b"` is one scope."#
            }
            Reason::ClaimMismatch => {
                r#"A claim the route requires (`claims:`) is absent or has another value."#
            }
            Reason::RouteNotConfigured => {
                r#"Envoy's `context_extensions` name a route this config lacks: deploy the matching config. No `WWW-Authenticate`."#
            }
            Reason::ResourceUrlUnknown => {
                r#"A client asked for the metadata document of a `resource: { id: auto }` route, and the URL it used cannot be told: the proxy sent no scheme, or plain `http` for a host that is not loopback (TLS ended before Envoy without it knowing). Make Envoy set `:scheme` (`scheme_header_transformation`, or `xff_num_trusted_hops` to trust the load balancer's `x-forwarded-proto`), send `X-Forwarded-Proto` in HTTP mode, or give the route a fixed `id`."#
            }
            Reason::Internal => {
                r#"A bug in envoy-jwt-authz (the check panicked; the log has the backtrace): the request was denied, not allowed. Please report it."#
            }
            Reason::TokenInactive => {
                r#"The introspection endpoint answered `active: false`: the token was revoked, has expired, or is not one this endpoint issued (another tenant or environment)."#
            }
            Reason::IntrospectionUnavailable => {
                r#"The introspection endpoint did not judge the token (down, timed out, a non-200 such as 401 for wrong client credentials, not JSON, or `introspection.max_concurrent` reached): see `introspection_requests_total` and the log. No `WWW-Authenticate` is sent."#
            }
            Reason::KeysUnavailable => {
                r#"The provider's key set was never fetched (IdP unreachable since startup, wrong `uri`, discovery failing, private CA missing): see `last_error` in `/status`. No `WWW-Authenticate` is sent."#
            }
        }
    }

    /// The fixed, short `error_description`.
    pub fn description(self) -> &'static str {
        self.row().1
    }

    fn row(self) -> (&'static str, &'static str) {
        match self {
            Reason::NoCredentials => ("no_credentials", "bearer token required"),
            Reason::MultipleCredentials => (
                "multiple_credentials",
                "more than one authorization credential",
            ),
            Reason::MalformedAuthorization => {
                ("malformed_authorization", "malformed authorization header")
            }
            Reason::EmptyBearer => ("empty_bearer", "bearer token is empty"),
            Reason::TokenTooLarge => ("token_too_large", "token too large"),
            Reason::OpaqueToken => ("opaque_token", "token is not a JWT"),
            Reason::EncryptedToken => ("encrypted_token", "encrypted tokens are not accepted"),
            Reason::MalformedToken => ("malformed_token", "malformed token"),
            Reason::AlgorithmNotAllowed => ("algorithm_not_allowed", "algorithm not allowed"),
            Reason::IssuerMissing => ("issuer_missing", "token has no issuer"),
            Reason::IssuerNotTrusted => ("issuer_not_trusted", "issuer not trusted"),
            Reason::KidRequired => ("kid_required", "token has no key id"),
            Reason::KeyNotFound => ("key_not_found", "signing key not found"),
            Reason::KeyAlgorithmMismatch => {
                ("key_algorithm_mismatch", "algorithm does not match key")
            }
            Reason::SignatureInvalid => ("signature_invalid", "signature invalid"),
            Reason::ClaimMalformed => ("claim_malformed", "claim has an invalid type"),
            Reason::ValidityWindowInvalid => {
                ("validity_window_invalid", "token validity window invalid")
            }
            Reason::Expired => ("expired", "token expired"),
            Reason::NotYetValid => ("not_yet_valid", "token not yet valid"),
            Reason::IssuedInFuture => ("issued_in_future", "token issued in the future"),
            Reason::RequiredClaimMissing => ("required_claim_missing", "required claim missing"),
            Reason::AudienceMissing => ("audience_missing", "token has no audience"),
            Reason::AudienceNotAllowed => ("audience_not_allowed", "audience not allowed"),
            Reason::CritUnsupported => ("crit_unsupported", "critical header not supported"),
            Reason::TokenTypeNotAllowed => ("token_type_not_allowed", "token type not allowed"),
            Reason::CertificateBindingMismatch => (
                "certificate_binding_mismatch",
                "certificate binding mismatch",
            ),
            Reason::CertificateBindingRequired => (
                "certificate_binding_required",
                "certificate-bound token required",
            ),
            Reason::KeysUnavailable => ("keys_unavailable", "signing keys unavailable"),
            Reason::TokenInactive => ("token_inactive", "token inactive"),
            Reason::IntrospectionUnavailable => (
                "introspection_unavailable",
                "token introspection unavailable",
            ),
            Reason::PathNotCanonical => ("path_not_canonical", "request path not canonical"),
            Reason::HostNotCanonical => ("host_not_canonical", "request host not canonical"),
            Reason::InsufficientAcr => {
                ("insufficient_acr", "a stronger authentication is required")
            }
            Reason::AuthenticationTooOld => (
                "authentication_too_old",
                "a more recent authentication is required",
            ),
            Reason::DpopProofMissing => ("dpop_proof_missing", "DPoP proof missing"),
            Reason::DpopProofMalformed => ("dpop_proof_malformed", "malformed DPoP proof"),
            Reason::DpopProofSignatureInvalid => (
                "dpop_proof_signature_invalid",
                "DPoP proof signature invalid",
            ),
            Reason::DpopProofMismatch => (
                "dpop_proof_mismatch",
                "DPoP proof does not match the request",
            ),
            Reason::DpopProofStale => ("dpop_proof_stale", "DPoP proof not fresh"),
            Reason::DpopProofReplayed => ("dpop_proof_replayed", "DPoP proof replayed"),
            Reason::DpopKeyMismatch => ("dpop_key_mismatch", "invalid DPoP key binding"),
            Reason::DpopNonceRequired => ("dpop_nonce_required", "DPoP nonce required"),
            Reason::DpopBoundToken => ("dpop_bound_token", "token is bound to a DPoP key"),
            Reason::DpopRequired => ("dpop_required", "DPoP-bound token required"),
            Reason::DpopNotAccepted => ("dpop_not_accepted", "DPoP not accepted"),
            Reason::DpopReplayCacheFull => {
                ("dpop_replay_cache_full", "DPoP replay check unavailable")
            }
            Reason::InsufficientScope => ("insufficient_scope", "insufficient scope"),
            Reason::ClaimMismatch => ("claim_mismatch", "required claim value missing"),
            Reason::RouteNotConfigured => {
                ("route_not_configured", "authorization route not configured")
            }
            Reason::ResourceUrlUnknown => ("resource_url_unknown", "resource URL unknown"),
            Reason::Internal => ("internal", "internal error"),
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_and_snake_case() {
        let codes: HashSet<_> = Reason::ALL.iter().map(|r| r.code()).collect();
        assert_eq!(codes.len(), Reason::ALL.len());
        for code in codes {
            assert!(
                code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{code}"
            );
        }
    }

    #[test]
    fn descriptions_stay_within_the_rfc6750_charset() {
        // error-description = *( %x20-21 / %x23-5B / %x5D-7E )
        for reason in Reason::ALL {
            let d = reason.description();
            assert!(!d.is_empty());
            assert!(
                d.bytes()
                    .all(|b| (0x20..=0x7e).contains(&b) && b != b'"' && b != b'\\')
            );
        }
    }

    #[test]
    fn statuses_follow_rfc6750() {
        assert_eq!(Reason::NoCredentials.http_status(), 401);
        assert_eq!(Reason::NoCredentials.error_code(), None);
        for r in [
            Reason::MultipleCredentials,
            Reason::MalformedAuthorization,
            Reason::EmptyBearer,
        ] {
            assert_eq!(r.http_status(), 400);
            assert_eq!(r.error_code(), Some(ErrorCode::InvalidRequest));
        }
        assert_eq!(Reason::AudienceNotAllowed.http_status(), 401);
        // A 500 is INTERNAL, not UNAUTHENTICATED; each status has its own code.
        assert_eq!(Reason::Internal.grpc_code(), 13);
        assert_eq!(Reason::RouteNotConfigured.grpc_code(), 13);
        assert_eq!(Reason::KeysUnavailable.grpc_code(), 14);
        assert_eq!(Reason::InsufficientScope.grpc_code(), 7);
        assert_eq!(Reason::PathNotCanonical.grpc_code(), 3);
        assert_eq!(Reason::NoCredentials.grpc_code(), 16);
        assert_eq!(
            Reason::AudienceNotAllowed.error_code(),
            Some(ErrorCode::InvalidToken)
        );
        // RFC 8705 §3: a binding failure is a 401 invalid_token.
        for r in [
            Reason::CertificateBindingMismatch,
            Reason::CertificateBindingRequired,
        ] {
            assert_eq!(
                (r.http_status(), r.error_code()),
                (401, Some(ErrorCode::InvalidToken))
            );
        }
    }
}
