//! The tables a scope keeps under its lock — its live async children, the
//! scopes nested in its children, its `cancel_after` deadlines, the
//! failures nobody can observe any more, a `scope_async` body's waker —
//! and the guard through which every access goes.
//!
//! The tables are made on first use (`Guard::tables`): the common scope, a
//! recursive fork-join of blocking children, never needs one, so opening
//! and closing it neither fills nor drops seven empty collections, and a
//! sync scope whose tables were never made closes without its lock
//! (`ScopeCore::finish`, which reads `tables_made`; issue 18,
//! docs/performance.md). Whoever makes them sets `tables_made` under the
//! lock, which is why the lock is reached only through [`Guard`].

use super::core::ScopeCore;
use crate::failure::ChildFailure;
use crate::pool::deadline::DeadlineKey;
use crate::sync::{AtomicBool, MutexGuard, Ordering};
use crate::task::TaskRef;
use slab::Slab;
use std::ptr::NonNull;
use std::task::Waker;

/// What the scope's lock guards: whether it closed, and the tables, made
/// on first use. The common scope — blocking children only, nothing
/// failed, no deadline, no nested registration — never makes them, so
/// opening and closing it neither fills nor drops seven empty collections,
/// and a sync one closes without taking the lock (docs/performance.md).
#[derive(Default)]
pub(super) struct Locked {
    /// Set by the close: no deadline is registered any more.
    closed: bool,
    tables: Option<Box<Inner>>,
}

/// The scope's lock, held ([`ScopeCore::lock`]).
pub(super) struct Guard<'a> {
    locked: MutexGuard<'a, Locked>,
    made: &'a AtomicBool,
}

impl<'a> Guard<'a> {
    /// The guard of `locked`, whose maker of tables sets `made`.
    #[inline]
    pub(super) fn new(locked: MutexGuard<'a, Locked>, made: &'a AtomicBool) -> Self {
        Guard { locked, made }
    }

    /// Marks the scope closed: no deadline is registered from now on.
    #[inline]
    pub(super) fn close(&mut self) {
        self.locked.closed = true;
    }

    /// Whether the scope has closed (no deadline may be registered).
    #[inline]
    pub(super) fn is_closed(&self) -> bool {
        self.locked.closed
    }

    /// The tables, made now if they were not yet.
    #[inline]
    pub(super) fn tables(&mut self) -> &mut Inner {
        if self.locked.tables.is_none() {
            self.make_tables();
        }
        self.locked.tables.as_deref_mut().expect("made just above")
    }

    #[cold]
    fn make_tables(&mut self) {
        self.locked.tables = Some(Box::default());
        // ORDERING: Relaxed: read by the owner's close, which is ordered
        // after this store by `pending`: every maker is the owner's own
        // thread, a child (its unit's release comes after), a scope nested
        // in the body (closed, through its own latch, before the body
        // returns) or an async scope nested in it (which holds a unit until
        // it closes).
        self.made.store(true, Ordering::Relaxed);
    }

    /// The tables, if they were ever made.
    #[inline]
    pub(super) fn tables_if_any(&self) -> Option<&Inner> {
        self.locked.tables.as_deref()
    }

    /// The tables, if they were ever made, to change.
    #[inline]
    pub(super) fn tables_mut_if_any(&mut self) -> Option<&mut Inner> {
        self.locked.tables.as_deref_mut()
    }
}

/// The scope's tables (`Locked`).
#[derive(Default)]
pub(super) struct Inner {
    /// Live async children (one task reference each): what `cancel` cancels.
    pub(super) tasks: Slab<TaskRef>,
    /// Scopes opened inside this scope's children, still open.
    pub(super) nested: Slab<NonNull<ScopeCore>>,
    /// The `cancel_after` deadlines registered with the pool.
    pub(super) deadlines: Vec<DeadlineKey>,
    /// Failures nobody can observe any more (their handle was gone).
    pub(super) failures: Vec<ChildFailure>,
    /// Failed children whose handle was alive when they finished.
    pub(super) unobserved: Vec<TaskRef>,
    /// The waker of the task polling a `scope_async` body, woken when the
    /// body must be dropped (`body_cancelled`).
    pub(super) body_waker: Option<Waker>,
}
