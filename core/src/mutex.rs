//! Mutexes of plain data.

/// Locks a mutex, going on after a panic elsewhere poisoned it: every mutex here guards plain
/// maps whose every state is consistent, so a poisoned one is still safe to use.
pub fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
