//! Locking the sandbox's shared state. A handler that panicked (a bug, never a request) must not
//! leave every later request failing on a poisoned mutex: the data is recovered and used as is.
//! A module of its own so that the API trait and the shared state both use it without importing
//! each other.

use std::sync::{Mutex, MutexGuard};

/// Locks a mutex, recovering the data if a previous holder panicked.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
