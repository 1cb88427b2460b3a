//! The persistent binding table behind context slots, the views of it that
//! children inherit, and the thread-local that says which table is current.
//!
//! A [`Snapshot`] is an `Arc` of an immutable table indexed by slot number:
//! taking one at spawn is one reference-count increment (O(1), nothing
//! copied), and two snapshots share everything. Binding a slot builds a new
//! table — a copy of the current one with one entry replaced, so O(number of
//! slots in use) — and leaves every existing snapshot untouched: a
//! rebinding can never leak into a snapshot taken before it.
//!
//! **Inheritance.** Each entry carries its slot's [`Inheritance`] and its
//! provenance (the `bind` call, and the recorded child that made it). A
//! table that binds a slot which may not cross into some kind of child also
//! holds, built once when the table is built, the *view* that kind of
//! child inherits: the table less those entries. So a spawn still takes its
//! snapshot in O(1) — one pointer to follow, one count to add — whatever
//! the policies, and a table whose every slot is `Always` (the default) has
//! no views and is inherited as it is. Views nest without cycles: an async
//! view holds no `Never` entry, so its own async view is itself, and its
//! blocking view is the original table's (shared); a blocking view holds
//! only `Always` entries and has no views.
//!
//! The current table is a raw pointer in a thread-local, always owned by a
//! [`Entered`] guard further up this thread's stack (a `bind` call, a
//! child's poll). Guards nest strictly — each restores the pointer it found
//! — so the pointer is valid for as long as it is current, and a read
//! (`Slot::get`) is one thread-local load and an index, without atomics.
//!
//! Prior art: Python's `contextvars` (PEP 567, <https://peps.python.org/pep-0567/>), whose
//! `Context` is an immutable mapping copied in O(1); here a persistent table shared by `Arc`.

use crate::hooks::{Bindings, BoundSlot, ChildKind, Inheritance, SourceLoc, TaskId};
use std::any::Any;
use std::cell::Cell;
use std::panic::Location;
use std::ptr;
use std::sync::Arc;

/// One bound value, type-erased; the slot's `T` is recovered by downcast.
pub(crate) type Value = Arc<dyn Any + Send + Sync>;

/// Where a binding came from, and how it crosses.
#[derive(Copy, Clone)]
pub(crate) struct Origin {
    pub(crate) inheritance: Inheritance,
    pub(crate) location: &'static Location<'static>,
    /// The recorded child that bound it (only known while recording).
    pub(crate) by: Option<TaskId>,
}

/// One slot's binding.
#[derive(Clone)]
pub(crate) struct Entry {
    pub(crate) value: Value,
    pub(crate) origin: Origin,
}

/// Which kind of work a snapshot crosses into.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub(crate) enum Crossing {
    /// Async work: `exec`, `spawn_local`, `Context::wrap`.
    Async,
    /// Blocking work: `exec_blocking`, `Context::run`.
    Blocking,
}

impl Crossing {
    /// The crossing into a child of `kind`.
    pub(crate) fn of(kind: ChildKind) -> Crossing {
        if kind.is_async() { Crossing::Async } else { Crossing::Blocking }
    }

    fn keeps(self, inheritance: Inheritance) -> bool {
        match inheritance {
            Inheritance::Always => true,
            Inheritance::AsyncOnly => self == Crossing::Async,
            Inheritance::Never => false,
        }
    }
}

/// An immutable table of bindings: `values[i]` is slot `i`'s binding.
#[derive(Default)]
pub(crate) struct Table {
    values: Box<[Option<Entry>]>,
    /// What an async child inherits, if not this table (module docs).
    async_view: Option<Snapshot>,
    /// What a blocking child inherits, if not this table.
    blocking_view: Option<Snapshot>,
}

impl Table {
    /// The binding of slot `index`, if any.
    #[inline]
    pub(crate) fn get(&self, index: usize) -> Option<&Value> {
        self.values.get(index).and_then(Option::as_ref).map(|e| &e.value)
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

    /// What work of kind `crossing` spawned here inherits, in O(1).
    #[inline]
    pub(crate) fn capture_for(crossing: Crossing) -> Snapshot {
        with_current(|table| match table {
            None => Snapshot(None),
            Some(t) => match (crossing, &t.async_view, &t.blocking_view) {
                (Crossing::Async, Some(view), _) | (Crossing::Blocking, _, Some(view)) => view.clone(),
                _ => Snapshot::capture(),
            },
        })
    }

    /// [`capture`](Self::capture), or `None` if nothing at all is bound
    /// here (then there is nothing to enter: work run elsewhere starts with
    /// no bindings anyway, and here none are current).
    #[inline]
    pub(crate) fn capture_if_bound() -> Option<Snapshot> {
        let current = Snapshot::capture();
        current.0.is_some().then_some(current)
    }

    /// This snapshot's view for `crossing` (itself if everything crosses).
    pub(crate) fn view(&self, crossing: Crossing) -> Snapshot {
        match (&self.0, crossing) {
            (None, _) => Snapshot(None),
            (Some(t), Crossing::Async) => t.async_view.clone().unwrap_or_else(|| self.clone()),
            (Some(t), Crossing::Blocking) => t.blocking_view.clone().unwrap_or_else(|| self.clone()),
        }
    }

    /// This snapshot with slot `index` bound to `value`.
    pub(crate) fn with(&self, index: usize, value: Value, origin: Origin) -> Snapshot {
        let old: &[Option<Entry>] = self.0.as_ref().map_or(&[], |t| &t.values);
        let mut values: Vec<Option<Entry>> = old.to_vec();
        if values.len() <= index {
            values.resize(index + 1, None);
        }
        values[index] = Some(Entry { value, origin });
        let policies = || values.iter().flatten().map(|e| e.origin.inheritance);
        let has_never = policies().any(|p| p == Inheritance::Never);
        let has_async_only = policies().any(|p| p == Inheritance::AsyncOnly);
        let blocking_view =
            (has_never || has_async_only).then(|| filtered(&values, Crossing::Blocking, None));
        let async_view = has_never.then(|| {
            // Its blocking view is ours; its async view is itself.
            filtered(&values, Crossing::Async, blocking_view.clone().filter(|_| has_async_only))
        });
        Snapshot(Some(Arc::new(Table { values: values.into_boxed_slice(), async_view, blocking_view })))
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

    /// The trace's description of this snapshot.
    pub(crate) fn describe(&self) -> Bindings {
        self.0.as_deref().map_or_else(Bindings::default, describe)
    }
}

/// The entries of `values` that cross into `crossing`, as a table whose
/// blocking view is `blocking_view` (module docs); no table if none do.
fn filtered(values: &[Option<Entry>], crossing: Crossing, blocking_view: Option<Snapshot>) -> Snapshot {
    let kept: Vec<Option<Entry>> =
        values.iter().map(|e| e.clone().filter(|e| crossing.keeps(e.origin.inheritance))).collect();
    if kept.iter().all(Option::is_none) {
        return Snapshot(None);
    }
    Snapshot(Some(Arc::new(Table { values: kept.into_boxed_slice(), async_view: None, blocking_view })))
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

/// Runs `f` with the current table (null-safe).
#[inline]
pub(crate) fn with_current<R>(f: impl FnOnce(Option<&Table>) -> R) -> R {
    let current = CURRENT.with(Cell::get);
    // SAFETY: see `Snapshot::capture`: the table is kept alive by a guard
    // further up the stack for at least as long as `f` runs (a guard that
    // `f` itself enters restores this pointer before it returns).
    f(unsafe { current.as_ref() })
}

/// A table, for a trace: its identity and its bound slots.
fn describe(table: &Table) -> Bindings {
    Bindings {
        table: ptr::from_ref(table) as usize as u64,
        slots: (0..table.values.len())
            .filter_map(|i| {
                let e = table.values[i].as_ref()?;
                Some(BoundSlot {
                    slot: u32::try_from(i).expect("fewer than 2^32 slots"),
                    inheritance: e.origin.inheritance,
                    bound_at: SourceLoc::from_std(e.origin.location),
                    bound_by: e.origin.by,
                })
            })
            .collect(),
    }
}

/// The current bindings, for a trace. Only called while recording.
pub(crate) fn describe_current() -> Bindings {
    with_current(|table| table.map_or_else(Bindings::default, describe))
}

/// The bindings a child of `kind` spawned here inherits, for a trace.
pub(crate) fn describe_inherited(kind: ChildKind) -> Bindings {
    Snapshot::capture_for(Crossing::of(kind)).describe()
}
