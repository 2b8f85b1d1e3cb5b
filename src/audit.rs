//! Audit events under a flood: at most `limit` denial events per reason per second are
//! written; the rest are counted, and one `audit events suppressed` line per reason says how
//! many, when that reason's second is over (at its next denial, or at the periodic
//! [`AuditLimiter::flush`]). Metrics and `/debug/denials` are not limited: they stay exact.
//!
//! Per reason, so a flood of one kind (forged tokens) never hides another (an IdP change
//! turning every token into `issuer_not_trusted`).

use crate::lock::lock;
use crate::reason::Reason;
use std::sync::Mutex;
use std::time::Instant;

/// The default of `--audit-rate-limit`: events per reason per second.
pub const DEFAULT_AUDIT_RATE_LIMIT: u32 = 100;

#[derive(Debug, Default, Clone, Copy)]
struct Slot {
    second: u64,
    written: u32,
    suppressed: u64,
}

/// Per-reason counters; `limit` 0 writes every event.
pub struct AuditLimiter {
    limit: u32,
    started: Instant,
    slots: Vec<Mutex<Slot>>,
}

/// What to do with one denial's event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// Write the event.
    pub write: bool,
    /// Events of this reason suppressed in an earlier second, to report first.
    pub suppressed: u64,
}

impl AuditLimiter {
    pub fn new(limit: u32) -> AuditLimiter {
        AuditLimiter {
            limit,
            started: Instant::now(),
            slots: (0..Reason::ALL.len()).map(|_| Mutex::default()).collect(),
        }
    }

    /// Seconds since this limiter was made (its clock).
    pub fn now(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    /// The verdict for a denial of `reason` in second `now`.
    pub fn admit(&self, reason: Reason, now: u64) -> Verdict {
        if self.limit == 0 {
            return Verdict {
                write: true,
                suppressed: 0,
            };
        }
        let Some(slot) = self.slots.get(reason as usize) else {
            return Verdict {
                write: true,
                suppressed: 0,
            };
        };
        let mut slot = lock(slot);
        let mut suppressed = 0;
        if slot.second != now {
            suppressed = std::mem::take(&mut slot.suppressed);
            slot.second = now;
            slot.written = 0;
        }
        let write = slot.written < self.limit;
        if write {
            slot.written += 1;
        } else {
            slot.suppressed += 1;
        }
        Verdict { write, suppressed }
    }

    /// Every reason whose earlier seconds suppressed events, with how many (taken: each is
    /// reported once). Called periodically, so a flood that stops is still reported.
    pub fn flush(&self, now: u64) -> Vec<(Reason, u64)> {
        Reason::ALL
            .iter()
            .zip(&self.slots)
            .filter_map(|(reason, slot)| {
                let mut slot = lock(slot);
                (slot.second != now && slot.suppressed > 0)
                    .then(|| (*reason, std::mem::take(&mut slot.suppressed)))
            })
            .collect()
    }
}

/// Writes the `audit events suppressed` line for `reason`.
pub fn report_suppressed(reason: Reason, count: u64) {
    tracing::warn!(
        target: "audit",
        reason = reason.code(),
        suppressed = count,
        "audit events suppressed (rate limit; metrics count every denial)"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_reason_writes_up_to_the_limit_per_second_and_reports_the_rest_once() {
        let limiter = AuditLimiter::new(2);
        let admit = |reason, now| limiter.admit(reason, now);
        let written = |n: u64, reason, now| (0..n).filter(|_| admit(reason, now).write).count();
        assert_eq!(written(5, Reason::SignatureInvalid, 7), 2);
        // Another reason has its own budget.
        assert_eq!(written(3, Reason::IssuerNotTrusted, 7), 2);
        // The next second: a fresh budget, and the count of the last one, once.
        assert_eq!(
            admit(Reason::SignatureInvalid, 8),
            Verdict {
                write: true,
                suppressed: 3
            }
        );
        assert_eq!(admit(Reason::SignatureInvalid, 8).suppressed, 0);
        // The periodic flush reports what no later denial did, once.
        assert_eq!(limiter.flush(9), vec![(Reason::IssuerNotTrusted, 1)]);
        assert_eq!(limiter.flush(10), vec![]);
        // Not within the reason's own second (it may still grow).
        assert_eq!(written(4, Reason::Expired, 11), 2);
        assert_eq!(limiter.flush(11), vec![]);
        assert_eq!(limiter.flush(12), vec![(Reason::Expired, 2)]);
    }

    #[test]
    fn zero_writes_everything() {
        let limiter = AuditLimiter::new(0);
        assert!((0..1000).all(|_| limiter.admit(Reason::Expired, 1).write));
        assert!(limiter.flush(2).is_empty());
    }
}
