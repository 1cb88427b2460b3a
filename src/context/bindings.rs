//! The persistent binding table behind context slots, and the thread-local
//! that says which table is current.
//!
//! A [`Snapshot`] is an `Arc` of an immutable table indexed by slot number:
//! taking one at spawn is one reference-count increment (O(1), nothing
//! copied), and two snapshots share everything. Binding a slot builds a new
//! table — a copy of the current one with one entry replaced, so O(number of
//! slots in use) — and leaves every existing snapshot untouched: a
//! rebinding can never leak into a snapshot taken before it.
//!
//! The current table is a raw pointer in a thread-local, always owned by a
//! [`Entered`] guard further up this thread's stack (a `bind` call, a
//! child's poll). Guards nest strictly — each restores the pointer it found
//! — so the pointer is valid for as long as it is current, and a read
//! (`Slot::get`) is one thread-local load and an index, without atomics.
//!
//! Prior art: Python's `contextvars` (PEP 567, <https://peps.python.org/pep-0567/>), whose
//! `Context` is an immutable mapping copied in O(1); here a persistent table shared by `Arc`.

use crate::hooks::Bindings;
use std::any::Any;
use std::cell::Cell;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::ptr;
use std::sync::Arc;
use std::task::{Context, Poll};

/// One bound value, type-erased; the slot's `T` is recovered by downcast.
pub(crate) type Value = Arc<dyn Any + Send + Sync>;

/// An immutable table of bindings: `values[i]` is slot `i`'s binding.
#[derive(Default)]
pub(crate) struct Table {
    values: Box<[Option<Value>]>,
}

impl Table {
    /// The binding of slot `index`, if any.
    #[inline]
    pub(crate) fn get(&self, index: usize) -> Option<&Value> {
        self.values.get(index).and_then(Option::as_ref)
    }
}

/// A captured context: the table current when it was taken (or none).
#[derive(Clone, Default)]
pub(crate) struct Snapshot(Option<Arc<Table>>);

crate::sync::thread_local_key! {
    /// The current table, owned by an `Entered` guard on this thread's
    /// stack, or null (no bindings).
    static CURRENT: Cell<*const Table> = Cell::new(ptr::null());
}

impl Snapshot {
    /// The current context, in O(1).
    #[inline]
    pub(crate) fn capture() -> Snapshot {
        let current = CURRENT.with(Cell::get);
        if current.is_null() {
            return Snapshot(None);
        }
        // SAFETY: a non-null current pointer came from `Arc::as_ptr` of a
        // table that an `Entered` guard on this thread keeps alive (module
        // docs); we add the count for the `Arc` we make.
        unsafe {
            Arc::increment_strong_count(current);
            Snapshot(Some(Arc::from_raw(current)))
        }
    }

    /// This snapshot with slot `index` bound to `value`.
    pub(crate) fn with(&self, index: usize, value: Value) -> Snapshot {
        let old: &[Option<Value>] = self.0.as_ref().map_or(&[], |t| &t.values);
        let mut values: Vec<Option<Value>> = old.to_vec();
        if values.len() <= index {
            values.resize(index + 1, None);
        }
        values[index] = Some(value);
        Snapshot(Some(Arc::new(Table { values: values.into_boxed_slice() })))
    }

    /// Makes this snapshot current until the guard drops.
    #[inline]
    pub(crate) fn enter(&self) -> Entered<'_> {
        let ptr = self.0.as_ref().map_or(ptr::null(), Arc::as_ptr);
        Entered { prev: CURRENT.with(|c| c.replace(ptr)), _snapshot: self }
    }

    /// Whether this snapshot's table is the current one.
    #[inline]
    pub(crate) fn is_current(&self) -> bool {
        let ptr = self.0.as_ref().map_or(ptr::null(), Arc::as_ptr);
        ptr::eq(CURRENT.with(Cell::get), ptr)
    }

    /// Whether two snapshots are the same table (for audits and tests).
    pub(crate) fn same_as(&self, other: &Snapshot) -> bool {
        match (&self.0, &other.0) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

/// Restores the previous current table on drop; borrows the snapshot it
/// entered, which keeps that table alive meanwhile.
pub(crate) struct Entered<'a> {
    prev: *const Table,
    _snapshot: &'a Snapshot,
}

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        let _ = CURRENT.try_with(|c| c.set(self.prev));
    }
}

/// No bindings until dropped (then the previous table is current again):
/// part of [`Detached`](super::Detached).
pub(crate) struct NoBindings {
    prev: *const Table,
}

impl NoBindings {
    pub(crate) fn enter() -> Self {
        NoBindings { prev: CURRENT.try_with(|c| c.replace(ptr::null())).unwrap_or(ptr::null()) }
    }
}

impl Drop for NoBindings {
    fn drop(&mut self) {
        let _ = CURRENT.try_with(|c| c.set(self.prev));
    }
}

/// A future that runs inside a snapshot: the bindings current when it was
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
    /// `fut`, with the bindings current now.
    pub(crate) fn capture(fut: F) -> Self {
        WithBindings { fut: ManuallyDrop::new(fut), snapshot: Snapshot::capture() }
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

/// Runs `f` with the current table (null-safe).
#[inline]
pub(crate) fn with_current<R>(f: impl FnOnce(Option<&Table>) -> R) -> R {
    let current = CURRENT.with(Cell::get);
    // SAFETY: see `Snapshot::capture`: the table is kept alive by a guard
    // further up the stack for at least as long as `f` runs (a guard that
    // `f` itself enters restores this pointer before it returns).
    f(unsafe { current.as_ref() })
}

/// The current bindings, for a trace: the table's identity and its bound
/// slots. Only called while recording.
pub(crate) fn describe_current() -> Bindings {
    with_current(|table| match table {
        None => Bindings::default(),
        Some(table) => Bindings {
            table: ptr::from_ref(table) as usize as u64,
            slots: (0..table.values.len())
                .filter(|&i| table.values[i].is_some())
                .map(|i| u32::try_from(i).expect("fewer than 2^32 slots"))
                .collect(),
        },
    })
}
