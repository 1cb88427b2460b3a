//! [`WithBindings`]: a future that runs inside a snapshot of the bindings.
//!
//! Prior art: `tracing`'s `Instrumented` (<https://docs.rs/tracing/latest/tracing/instrument/struct.Instrumented.html>),
//! which enters a span around every poll of the future it wraps.

use super::bindings::{Crossing, Snapshot};
use std::future::Future;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A future that runs inside a snapshot: the bindings it inherited when it was
/// made (nursery children, `spawn_local` tasks) are entered around every
/// poll — and around its drop (its cleanup, when it is cancelled or once it
/// has finished) — so it sees them on whatever thread polls or drops it,
/// however its polls interleave with other tasks'.
///
/// Written by hand rather than with `pin-project-lite`: dropping the
/// future inside the snapshot needs a `Drop` that drops the pinned field
/// first, in place, and `ManuallyDrop` does that with no `Option` to test
/// on every poll (this wraps every task: docs/performance.md).
pub(crate) struct WithBindings<F> {
    /// Structurally pinned; dropped only by our `Drop`, in place.
    fut: ManuallyDrop<F>,
    snapshot: Snapshot,
}

impl<F> WithBindings<F> {
    /// `fut`, with the bindings that work of kind `crossing` spawned here
    /// inherits (all of the current ones, less what may not cross).
    pub(crate) fn capture(fut: F, crossing: Crossing) -> Self {
        WithBindings::new(fut, Snapshot::capture_for(crossing))
    }

    /// `fut`, inside `snapshot`.
    pub(crate) fn new(fut: F, snapshot: Snapshot) -> Self {
        WithBindings { fut: ManuallyDrop::new(fut), snapshot }
    }
}

impl<F: Future> Future for WithBindings<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `fut` is structurally pinned: it is never moved out (only
        // dropped in place, by `Drop`), and `WithBindings` is `Unpin` only
        // if `F` is (`ManuallyDrop<F>: Unpin` iff `F: Unpin`, and
        // `Snapshot` is `Unpin`).
        let this = unsafe { self.get_unchecked_mut() };
        let _entered = this.snapshot.enter();
        // SAFETY: as above.
        unsafe { Pin::new_unchecked(&mut *this.fut) }.poll(cx)
    }
}

impl<F> Drop for WithBindings<F> {
    #[inline]
    fn drop(&mut self) {
        // Entered only if it is not current already (usually it is, or both
        // are empty: a read, no write).
        let _entered = (!self.snapshot.is_current()).then(|| self.snapshot.enter());
        // SAFETY: dropped once, here, in place (a pinned future may be
        // dropped where it lies); never used again.
        unsafe { ManuallyDrop::drop(&mut self.fut) };
    }
}
