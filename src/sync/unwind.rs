//! Unwind guards: what knotwork does when user code panics inside its
//! bookkeeping.
//!
//! * [`drop_contained`]: a user's value (a payload, an output, a waker) is
//!   dropped with its destructor's panic caught, never while knotwork itself
//!   unwinds;
//! * [`AbortOnUnwind`]: the few spans where an unwind would free stack
//!   memory that other threads still point to abort instead (as rayon-core's
//!   `unwind::AbortIfPanic` does, <https://docs.rs/rayon-core>). No user
//!   panic reaches such a span: every user closure and poll runs under
//!   `catch_unwind` first, so an abort here means a bug in knotwork.

/// Drops `value` (a user's: a panic payload, an output, a waker), containing
/// a panic of its `Drop`: knotwork never lets a user's destructor unwind
/// through its own bookkeeping, and never drops a user's value while it is
/// itself unwinding (a second panic there aborts the process). `what` names
/// the value in the message printed instead.
pub(crate) fn drop_contained<T>(value: T, what: &str) {
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(value))).is_err() {
        eprintln!("knotwork: dropping {what} panicked; that panic was discarded");
    }
}

/// Aborts the process if dropped during an unwind: guards the spans in which
/// unwinding would free stack memory that other threads still point to (a
/// `join`'s stack job, a scope's core).
pub(crate) struct AbortOnUnwind;

impl Drop for AbortOnUnwind {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "knotwork: unwinding out of a wait whose stack other threads still use; aborting to stay sound"
            );
            std::process::abort();
        }
    }
}
