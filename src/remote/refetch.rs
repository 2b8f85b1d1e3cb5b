//! On-demand refetches for an unknown `kid`.
//!
//! The fetch runs as a task of its own: a Check waits for it only within its own budget
//! (80 % of `grpc-timeout`), often shorter than a slow IdP takes to answer. Were the fetch
//! part of the Check, giving up would drop it mid-flight after the rate limit had already
//! been stamped, and a rotated key would wait for the periodic refresh. As a task it
//! finishes, is counted and publishes whatever the Checks that wanted it did.
//!
//! Concurrent Checks for one provider share the fetch in flight (a watch channel whose
//! receivers are the Checks still waiting), and the task itself obeys
//! `min_refetch_interval`, whose stamp `POST /jwks/refresh` spends too.

use super::{ProviderKeys, RemoteKeys};
use crate::lock::lock;
use crate::snapshot::SharedSnapshot;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// The fetch in flight for one provider: `None` until it is over, then whether keys may
/// have changed. Checks subscribe; the receiver count says whether any still waits.
pub(super) type InFlight = Arc<watch::Sender<Option<bool>>>;

/// What one on-demand refetch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Another fetch (periodic, admin or on-demand) finished while this one waited for the
    /// fetch lock: nothing to do, the caller decides again.
    AlreadyFetched,
    /// `min_refetch_interval` has not passed since the last on-demand fetch.
    RateLimited,
    /// Fetched: succeeded or not.
    Fetched { ok: bool },
}

impl Outcome {
    /// Whether the keys may have changed since the caller looked.
    fn changed(self) -> bool {
        match self {
            Outcome::AlreadyFetched => true,
            Outcome::RateLimited => false,
            Outcome::Fetched { ok } => ok,
        }
    }

    /// The `result` label of `jwks_refetch`; `None`: not counted (no request was sent).
    /// "after_deadline": every Check that waited for it had answered before it finished
    /// (its keys are published anyway).
    fn label(self, waited_for: bool) -> Option<&'static str> {
        Some(match (self, waited_for) {
            (Outcome::AlreadyFetched, _) => return None,
            (Outcome::RateLimited, _) => "rate_limited",
            (Outcome::Fetched { ok: true }, true) => "ok",
            (Outcome::Fetched { ok: false }, true) => "failed",
            (Outcome::Fetched { ok: true }, false) => "ok_after_deadline",
            (Outcome::Fetched { ok: false }, false) => "failed_after_deadline",
        })
    }
}

impl RemoteKeys {
    /// For a token whose `kid` is not in `provider`'s key set: fetch again unless a fetch
    /// is already running (then wait for it) or one was done for this reason less than
    /// `min_refetch_interval` ago. True when keys may have changed since the caller looked.
    ///
    /// Cancel-safe: dropping this future (the Check's deadline) leaves the fetch running.
    pub async fn refetch_unknown_kid(&self, provider: &str) -> bool {
        let Some(keys) = self.get(provider) else {
            return false;
        };
        let seen = keys.generation.load(Ordering::SeqCst);
        let mut done = keys.join_or_start(seen, &self.snapshot);
        match done.wait_for(Option::is_some).await {
            Ok(result) => result.unwrap_or(false),
            // The sender is gone: not while the slot holds it, so only at teardown.
            Err(_) => false,
        }
    }
}

impl ProviderKeys {
    /// Subscribes to the on-demand fetch in flight, or starts one.
    fn join_or_start(
        self: &Arc<Self>,
        seen: u64,
        snapshot: &SharedSnapshot,
    ) -> watch::Receiver<Option<bool>> {
        let mut slot = lock(&self.on_demand);
        if let Some(running) = slot.as_ref()
            && running.borrow().is_none()
        {
            return running.subscribe();
        }
        let (sender, receiver) = watch::channel(None);
        let sender = Arc::new(sender);
        *slot = Some(sender.clone());
        tokio::spawn(self.clone().on_demand(seen, snapshot.clone(), sender));
        receiver
    }

    /// The task: fetch (unless coalesced or rate-limited), tell the waiting Checks, count.
    async fn on_demand(self: Arc<Self>, seen: u64, snapshot: SharedSnapshot, done: InFlight) {
        let done = AnswerOnDrop(done);
        let done = &done.0;
        let outcome = self.fetch_on_demand(seen, &snapshot).await;
        // Checks drop their receiver when their deadline passes: none left means the
        // fetch finished too late for all of them. Counted before the answer is sent, as
        // a Check that has read it drops its receiver too.
        let waited_for = done.receiver_count() > 0;
        done.send_replace(Some(outcome.changed()));
        if !waited_for && matches!(outcome, Outcome::Fetched { .. }) {
            tracing::info!(provider = %self.name, ok = outcome.changed(), "unknown-kid refetch finished after the Check that wanted it had answered");
        }
        if let Some(label) = outcome.label(waited_for) {
            lock(&self.stats).refetched(label);
        }
    }

    async fn fetch_on_demand(&self, seen: u64, snapshot: &SharedSnapshot) -> Outcome {
        let _guard = self.fetch_lock.lock().await;
        if self.generation.load(Ordering::SeqCst) != seen {
            return Outcome::AlreadyFetched;
        }
        {
            let mut last = lock(&self.last_on_demand);
            if budget_wait(*last, self.source.min_refetch_interval).is_some() {
                return Outcome::RateLimited;
            }
            // Stamped before the fetch: this task runs it to the end, so the stamp always
            // stands for a real attempt.
            *last = Some(Instant::now());
        }
        tracing::info!(provider = %self.name, "unknown kid: fetching the key set again");
        let ok = self.fetch_locked(snapshot).await.is_ok();
        Outcome::Fetched { ok }
    }
}

/// How long until the on-demand budget allows a fetch again, after the last one at `last`
/// (`None`: now). One rule for unknown-kid refetches and `POST /jwks/refresh`.
fn budget_wait(last: Option<Instant>, interval: Duration) -> Option<Duration> {
    last.and_then(|t| interval.checked_sub(t.elapsed()))
        .filter(|wait| !wait.is_zero())
}

/// Answers "no change" if the task ends without answering (a panic, or an abort at
/// shutdown): the slot must never keep a fetch that will not finish, or every later Check
/// for the provider would join it and no refetch would ever run again.
struct AnswerOnDrop(InFlight);

impl Drop for AnswerOnDrop {
    fn drop(&mut self) {
        self.0.send_if_modified(|answer| {
            let unanswered = answer.is_none();
            if unanswered {
                *answer = Some(false);
            }
            unanswered
        });
    }
}

impl RemoteKeys {
    /// For `POST /jwks/refresh`: spends the on-demand budget of every remote provider at once,
    /// the same `min_refetch_interval` stamp as unknown-kid refetches (so operators and
    /// random kids together cannot fetch more often than that). Either every provider may
    /// fetch now and all are stamped, or none is stamped and those that must wait are
    /// returned with how long. All or none: a partial refresh would leave the providers
    /// out of step, and a client retrying after the wait could be refused forever.
    pub fn claim_refresh_all(&self) -> Result<(), Vec<(String, Duration)>> {
        let providers = lock(&self.providers);
        // Every stamp is held until the decision (no other path holds two of these locks,
        // nor the map lock under one), so two concurrent refreshes cannot both pass.
        let mut stamps = Vec::new();
        let mut waits = Vec::new();
        for keys in providers.values() {
            let last = lock(&keys.last_on_demand);
            if let Some(wait) = budget_wait(*last, keys.source.min_refetch_interval) {
                waits.push((keys.name.clone(), wait));
            }
            stamps.push(last);
        }
        if !waits.is_empty() {
            waits.sort();
            return Err(waits);
        }
        let now = Instant::now();
        for mut last in stamps {
            *last = Some(now);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock::tests::poison;

    #[test]
    fn a_poisoned_lock_does_not_lift_the_refresh_budget() {
        let remote = crate::remote::supervisor::tests::two_providers();
        poison(&remote.providers);
        poison(&remote.get("a").unwrap().last_on_demand);
        assert_eq!(remote.claim_refresh_all(), Ok(()));
        let waits = remote.claim_refresh_all().expect_err("both stamped");
        let names: Vec<&str> = waits.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
    }

    #[test]
    fn outcomes_are_labelled_by_whether_a_check_still_waited() {
        let ok = Outcome::Fetched { ok: true };
        let failed = Outcome::Fetched { ok: false };
        assert_eq!(ok.label(true), Some("ok"));
        assert_eq!(failed.label(true), Some("failed"));
        assert_eq!(ok.label(false), Some("ok_after_deadline"));
        assert_eq!(failed.label(false), Some("failed_after_deadline"));
        assert_eq!(Outcome::RateLimited.label(true), Some("rate_limited"));
        assert_eq!(Outcome::AlreadyFetched.label(false), None);
        assert!(Outcome::AlreadyFetched.changed() && ok.changed());
        assert!(!Outcome::RateLimited.changed() && !failed.changed());
    }

    #[test]
    fn a_task_ending_unanswered_still_answers_no_change() {
        let (sender, receiver) = watch::channel(None);
        drop(AnswerOnDrop(Arc::new(sender)));
        assert_eq!(*receiver.borrow(), Some(false));
        let (sender, receiver) = watch::channel(Some(true));
        drop(AnswerOnDrop(Arc::new(sender)));
        assert_eq!(*receiver.borrow(), Some(true), "an answer given stays");
    }
}
