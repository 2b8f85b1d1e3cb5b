//! DPoP (RFC 9449) at the resource server: a token bound to a key (`cnf.jkt`) is accepted
//! only with `Authorization: DPoP` and a proof of possession of that key, fresh, for this
//! request, and not seen before; a bound token sent as `Bearer` is refused (downgrade).
//!
//! [`check`] runs in the decision after the access token itself was verified (from the
//! cache or not: the proof differs on every request, so it is always checked), with the
//! provider's [`Dpop`] settings. The state it needs across requests, the replay cache and
//! the nonce key, is a [`ProofState`] the authorizer owns for the process's lifetime.

pub mod htu;
pub mod nonce;
pub mod proof;
pub mod replay;

use crate::decision::{Request, confirmation};
use crate::reason::Reason;
use crate::snapshot::{Dpop, DpopMode, Provider};
use crate::token::extract::{AuthScheme, Credential};
use crate::token::verify::UnixTime;
use crate::trace::{Check, Tracer, stage};
use nonce::NonceKey;
use replay::{NotRecorded, Replays};
use serde_json::{Map, Value};
use std::sync::OnceLock;

/// What DPoP remembers between requests: seen proof `jti`s and the nonce key. Free to make
/// (nothing is allocated, no random bytes drawn) until a proof needs it: a decision without
/// the server's state makes one per call.
#[derive(Debug, Default)]
pub struct ProofState {
    pub replays: Replays,
    nonces: OnceLock<NonceKey>,
}

impl ProofState {
    /// The nonce key, drawn on first use.
    pub fn nonces(&self) -> &NonceKey {
        self.nonces.get_or_init(NonceKey::default)
    }
}

/// A refusal, with the nonce to send (`DPoP-Nonce`) when the client must use a new one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub reason: Reason,
    pub nonce: Option<String>,
}

impl From<Reason> for Refusal {
    fn from(reason: Reason) -> Refusal {
        Refusal {
            reason,
            nonce: None,
        }
    }
}

/// The sender constraint of a token `provider` verified, presented as `credential` on
/// `request`: nothing to check for an unbound Bearer token where DPoP is not required;
/// otherwise the binding and, for the `DPoP` scheme, the proof (recorded as seen once it
/// passed every other check).
pub fn check(
    provider: &Provider,
    claims: &Map<String, Value>,
    credential: Credential<'_>,
    request: &Request<'_>,
    state: &ProofState,
    now: UnixTime,
    tracer: &mut dyn Tracer,
) -> Result<(), Refusal> {
    let dpop = &provider.dpop;
    if dpop.mode == DpopMode::Off {
        return match credential.scheme {
            AuthScheme::Bearer => Ok(()),
            AuthScheme::Dpop => Err(traced(tracer, Reason::DpopNotAccepted.into(), || {
                (
                    "Bearer (this provider's `dpop` is off)".into(),
                    "the DPoP scheme".into(),
                )
            })),
        };
    }
    let jkt = confirmation(claims, "jkt").map_err(|reason| {
        traced(tracer, reason.into(), || {
            (
                "cnf an object, cnf.jkt a string".into(),
                "another type".into(),
            )
        })
    })?;
    match (credential.scheme, jkt) {
        (AuthScheme::Bearer, None) if dpop.mode == DpopMode::Allowed => Ok(()),
        (AuthScheme::Bearer, Some(_)) => Err(traced(tracer, Reason::DpopBoundToken.into(), || {
            (
                "the DPoP scheme with a proof (the token has cnf.jkt)".into(),
                "the Bearer scheme".into(),
            )
        })),
        (_, None) => Err(traced(tracer, Reason::DpopRequired.into(), || {
            (
                "a DPoP-bound token (cnf.jkt)".into(),
                format!("{} with a token without cnf.jkt", credential.scheme.name()),
            )
        })),
        (AuthScheme::Dpop, Some(jkt)) => {
            let result = proven(
                dpop,
                &provider.name,
                jkt,
                credential.token,
                request,
                state,
                now,
            );
            match result {
                Ok(()) => {
                    let _ = stage(tracer, Check::Dpop, Ok(()), || {
                        (expected(request, jkt), "a valid proof".into())
                    });
                    Ok(())
                }
                Err((refusal, why)) => {
                    Err(traced(tracer, refusal, || (expected(request, jkt), why)))
                }
            }
        }
    }
}

fn expected(request: &Request<'_>, jkt: &str) -> String {
    format!(
        "one fresh proof for {} {}, by the key cnf.jkt {jkt:?}",
        request.method,
        request.path.split('?').next().unwrap_or_default()
    )
}

fn traced(
    tracer: &mut dyn Tracer,
    refusal: Refusal,
    describe: impl FnOnce() -> (String, String),
) -> Refusal {
    let _ = stage::<()>(tracer, Check::Dpop, Err(refusal.reason), describe);
    refusal
}

/// RFC 9449 §4.3 for one request: exactly one proof, valid, for this method and URL,
/// fresh, for this token, with a current nonce when one is required, by the bound key,
/// and never seen before.
fn proven(
    dpop: &Dpop,
    provider: &str,
    jkt: &str,
    token: &str,
    request: &Request<'_>,
    state: &ProofState,
    now: UnixTime,
) -> Result<(), (Refusal, String)> {
    let refuse = |reason: Reason, why: String| Err((reason.into(), why));
    let value = match request.dpop.as_slice() {
        [] => return refuse(Reason::DpopProofMissing, "no DPoP header".into()),
        [one] if !one.contains(&b',') => one,
        _ => {
            // Envoy joins repeated headers with ",", which no proof contains.
            return refuse(
                Reason::DpopProofMalformed,
                "more than one DPoP header".into(),
            );
        }
    };
    let proof = proof::verify(value, dpop.algorithms).map_err(|r| (r.reason.into(), r.why))?;
    if proof.htm != request.method {
        return refuse(
            Reason::DpopProofMismatch,
            format!("a proof for method {:?}", proof.htm),
        );
    }
    htu::check(&proof.htu, request.scheme, request.host, request.path)
        .or_else(|why| refuse(Reason::DpopProofMismatch, why))?;
    let max_age = i64::try_from(dpop.max_age.as_secs()).unwrap_or(i64::MAX);
    if now.0.abs_diff(proof.iat) > max_age.unsigned_abs() {
        return refuse(
            Reason::DpopProofStale,
            format!(
                "a proof made {}s from now, beyond ±{max_age}s",
                proof.iat.saturating_sub(now.0)
            ),
        );
    }
    if proof.ath.as_deref() != Some(proof::access_token_hash(token).as_str()) {
        let why = match proof.ath {
            None => "a proof without ath".to_owned(),
            Some(_) => "a proof whose ath is another token's hash".to_owned(),
        };
        return refuse(Reason::DpopProofMismatch, why);
    }
    if let Some(lifetime) = dpop.nonce {
        let lifetime = lifetime.as_secs();
        let current = proof
            .nonce
            .as_deref()
            .is_some_and(|n| state.nonces().accepts(provider, n, now.0, lifetime));
        if !current {
            let why = match proof.nonce {
                None => "a proof without the server's nonce",
                Some(_) => "a proof with a nonce that is not current",
            };
            let refusal = Refusal {
                reason: Reason::DpopNonceRequired,
                nonce: Some(state.nonces().current(provider, now.0, lifetime)),
            };
            return Err((refusal, why.to_owned()));
        }
    }
    if proof.thumbprint != jkt {
        return refuse(
            Reason::DpopKeyMismatch,
            format!("a proof by the key {:?}", proof.thumbprint),
        );
    }
    let expires = proof.iat.saturating_add(max_age);
    match state
        .replays
        .record(provider, &proof.jti, expires, now.0, dpop.replay_entries)
    {
        Ok(()) => Ok(()),
        Err(NotRecorded::Replayed) => refuse(
            Reason::DpopProofReplayed,
            "a proof whose jti was seen before".into(),
        ),
        Err(NotRecorded::Full) => refuse(
            Reason::DpopReplayCacheFull,
            format!(
                "the replay cache full ({} live proofs)",
                dpop.replay_entries
            ),
        ),
    }
}
