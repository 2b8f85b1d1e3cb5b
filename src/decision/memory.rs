//! What a decision may remember across requests: verified tokens (the [`TokenCache`]) and
//! DPoP proofs already seen with the nonce key ([`ProofState`]). Both are the authorizer's,
//! for the process's lifetime; a decision given neither is a pure function (tests, benches,
//! `explain`), and then checks each DPoP proof against a state of its own, fresh per call.

use crate::dpop::ProofState;
use crate::token::cache::TokenCache;

/// Borrowed state for one decision.
#[derive(Clone, Copy, Default)]
pub struct Memory<'a> {
    pub tokens: Option<&'a TokenCache>,
    pub proofs: Option<&'a ProofState>,
}

impl<'a> From<Option<&'a TokenCache>> for Memory<'a> {
    fn from(tokens: Option<&'a TokenCache>) -> Memory<'a> {
        Memory {
            tokens,
            proofs: None,
        }
    }
}
