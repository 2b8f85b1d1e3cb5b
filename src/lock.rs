//! Mutex locking that survives a poisoned lock.
//!
//! Every mutex here guards counters, caches or bookkeeping that each write leaves whole (no
//! invariant spans two statements under the lock that a panic could split in a harmful way).
//! A panic while one was held must therefore not turn later readers blind: skipping a
//! poisoned lock would make `/status` empty, stop counting fetches, or stop the refetch
//! limiter from stamping. So the guard is taken back from the poison, and the code that
//! panicked is reported by its own panic, not by every later caller.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `mutex`, recovering the guard if a panicking holder poisoned it.
pub fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Poisons `mutex`: a thread panics while holding it.
    pub(crate) fn poison<T: Send>(mutex: &Mutex<T>) {
        std::thread::scope(|s| {
            let _ = s
                .spawn(|| {
                    let _guard = mutex.lock();
                    panic!("poisoning the lock on purpose");
                })
                .join();
        });
        assert!(mutex.is_poisoned());
    }

    #[test]
    fn a_poisoned_lock_is_recovered_with_its_value() {
        let counter = Mutex::new(41);
        poison(&counter);
        *lock(&counter) += 1;
        assert_eq!(*lock(&counter), 42);
    }
}
