//! `ScopeCore`: the state one nursery scope shares with its children.
//!
//! # What it tracks
//!
//! * `pending`: a [`CountLatch`] of the body's unit plus one unit per
//!   unfinished child. The scope returns only once it is set: the **join
//!   guarantee**. A child releases its unit last, after its result is
//!   published and its future (and anything borrowed from the scope's
//!   environment) is dropped.
//! * `cancelled`: set once by [`cancel`](ScopeCore::cancel). A blocking child
//!   that has not started never starts; a running one sees
//!   `knotwork::is_cancelled()`. Cancelling also cancels every live async
//!   child (so it is dropped at its next suspension point) and every scope
//!   nested inside a child, recursively.
//! * `inner` (a lock): the live async children, the nested scopes, the
//!   first orphaned panic and the panicked children whose handles may still
//!   observe their panic, and the `cancel_after` deadlines.
//! * `deadline`: the earliest `cancel_after` deadline (nanoseconds on the
//!   scale of `sync::time::nanos`, `NO_DEADLINE` if none). The pool's
//!   deadline thread (`pool/deadline.rs`) cancels the scope when it passes,
//!   whatever the workers run; and every cancellation check reads it too,
//!   so a running blocking child sees a passed deadline at its next
//!   `is_cancelled()` and an unstarted one never starts, even before that
//!   thread is scheduled (L1 in docs/guarantees.md). The close removes the
//!   scope's deadlines from the pool (waiting out one that is firing), and
//!   a `cancel_after` after the close — through an escaped `ScopeHandle` —
//!   is refused under the same lock, so nothing registered late outlives
//!   the scope (L5).
//!
//! # Registration with the enclosing scope
//!
//! A scope opened inside a nursery child remembers that child and its scope
//! (`parent`). Cancellation reaches it in two ways:
//!
//! * **by looking up** ([`is_cancelled`](ScopeCore::is_cancelled)): a
//!   scope is cancelled if it, the child it was opened in, or any scope
//!   further out is. A blocking child checks this when it starts, so a
//!   cancellation anywhere above stops it — no registration needed;
//! * **by being told** ([`cancel`](ScopeCore::cancel)): suspended async
//!   children must be woken to be dropped, so a scope that has any
//!   registers in its parent's `nested` table, and `cancel` walks that
//!   table downwards. (A `cancel_after` deadline needs no registration: the
//!   pool's deadline thread calls `cancel` on the scope itself, and every
//!   cancellation check reads the deadline.)
//!
//! A sync scope registers lazily, on its first async child
//! ([`ensure_registered`](ScopeCore::ensure_registered), which first
//! registers the parent, and so on up): the common nested scope of blocking
//! children — a recursive fork-join — takes no lock and allocates nothing.
//! An async scope registers when it is made (it holds a unit of its parent
//! instead of a pointer to the child; see `ParentScope`). A scope that
//! registers after its parent was cancelled sees the parent's flag after
//! inserting itself, under the parent's lock, and cancels itself; one that
//! registered before is in the table `cancel` walks.
//!
//! # Lifetime
//!
//! A sync scope's core lives on the stack of `scope`; an async scope's in an
//! `Arc` shared by the `scope_async` future and its `ScopeHandle`s. Children
//! reach it through a raw pointer (their [`CompletionHook`]): it is valid
//! until their unit is released, because the owner frees the core only after
//! `pending` is set (or, for an async scope whose future is leaked, never:
//! its unit is never released).
//!
//! # Lock order
//!
//! Cancellation walks downwards (a scope's lock, then a nested scope's), and
//! nothing takes a parent's lock while holding a child's: a nested scope
//! registers and unregisters with its parent without holding its own lock.
//!
//! Prior art: Trio's cancel scopes
//! (<https://trio.readthedocs.io/en/stable/reference-core.html#cancellation-and-timeouts>): a tree
//! of scopes, cancellation flowing down.

use super::failures::child_failure;
use super::latch::CountLatch;
use super::policy::Hooks;
use super::tables::{Guard, Locked};
use crate::failure::ChildFailure;
use crate::hooks::{ScopeForm, ScopeTrace};
use crate::pool::registry::{Registry, RegistryLink};
use crate::sync::{Arc, AtomicBool, AtomicU64, AtomicUsize, IdCounter, LazyId, Mutex, Ordering, UnsafeCell};
use crate::task::{TaskPtr, TaskRef, current_body, waiting_for};
use std::panic::Location;
use std::ptr::NonNull;

static SCOPE_IDS: IdCounter = IdCounter::new();

pub(crate) struct ScopeCore {
    /// Process-unique id (for `Debug`), taken when first asked for: see [`id`](Self::id).
    id: LazyId,
    /// The pool children run on: borrowed by a sync scope, owned by an
    /// async one (`RegistryLink`).
    pub(crate) registry: RegistryLink,
    /// Whether the scope holds a lease (a unit of outstanding work) on the
    /// pool; a sync scope opened on one of its workers needs none.
    leased: AtomicBool,
    /// This scope's key in its parent's `nested` table, or [`UNREGISTERED`].
    nested_key: AtomicUsize,
    /// The body's unit and one unit per unfinished child.
    pub(crate) pending: CountLatch,
    /// Set once, by `cancel`.
    pub(super) cancelled: AtomicBool,
    /// The earliest `cancel_after` deadline, or [`NO_DEADLINE`] (module docs).
    pub(super) deadline: AtomicU64,
    /// What is above this scope (cancelled? a deadline?), cached with the
    /// epoch it was computed at (`cancel.rs`: `ScopeCore::above`).
    pub(super) above: AtomicU64,
    /// Opened inside a shield (`scope/shield.rs`): no cancellation from
    /// above reaches it, by lookup or by cascade. Written before the scope
    /// is visible to anyone else (published with `opened` for an async
    /// scope).
    pub(super) shielded: AtomicBool,
    /// Where this scope was opened, if inside a nursery child.
    ///
    /// Written once: for a sync scope before it is shared (`register`), for
    /// an async one when it opens (`open_async`), before `opened` is set;
    /// read only after `opened` (see [`parent`](Self::parent)).
    parent: UnsafeCell<Option<ParentScope>>,
    /// For an async scope opened in a child: a reference to that child's
    /// task, so that `parent.task` stays allocated as long as this scope.
    /// Written with `parent`, read never (it only holds the reference).
    owner: UnsafeCell<Option<TaskRef>>,
    /// Opened in no task: what the innermost wait on the opening thread
    /// waited for then (null if none): the end of its children's lineage
    /// (`task::Up::Frame`). Written and read like `parent`.
    pub(super) frame: UnsafeCell<*const ()>,
    /// Whether the scope has opened: a sync scope from the start, an async
    /// one at its first poll or first spawn (L5 in docs/guarantees.md).
    pub(super) opened: AtomicBool,
    /// Serialises the opening of an async scope (its first poll racing a
    /// spawn through a handle on another thread).
    opening: Mutex<()>,
    /// Registrations and failures; see the module docs. Taken through
    /// [`lock`](Self::lock), which keeps `tables_made` true to its word.
    inner: Mutex<Locked>,
    /// Whether the tables under `inner` were ever made: set (under the
    /// lock) by whoever makes them. A sync scope's close reads it without
    /// the lock (`finish`).
    tables_made: AtomicBool,
    /// Opened by a sync `scope` (not `scope_async`): it closes before its
    /// caller returns, and gives out no handle that outlives it.
    sync: bool,
    /// The completion policy of a `scope_with` (`None`: a plain scope,
    /// which fails fast without a call). Valid while any child can run
    /// (the policy outlives the join; `scope_with`, `scope_async_with`).
    pub(super) policy: Option<NonNull<dyn Hooks>>,
    /// How many children were spawned: the next child's index.
    pub(super) spawned: AtomicUsize,
    /// A child's failure made the policy cancel the scope: an async body is
    /// dropped at its next suspension point (F4 in docs/guarantees.md).
    pub(super) body_cancelled: AtomicBool,
    /// Set if the scope was opened inside a recording (`trace`).
    pub(crate) trace: Option<ScopeTrace>,
}

/// The child (and its scope) in which a nested scope was opened.
///
/// A sync nested scope is one call inside the child's run, so the child and
/// its scope outlive it: no unit is held. An async nested scope's future may
/// be moved out of that child and outlive it, so it holds one `pending` unit
/// of the parent scope instead (`holds_unit`), which keeps that scope (and so
/// this pointer) alive until the nested scope closes, and a reference to the
/// child's task (`ScopeCore::owner`), which keeps `task` allocated.
#[derive(Copy, Clone)]
pub(crate) struct ParentScope {
    pub(super) scope: NonNull<ScopeCore>,
    pub(super) task: Option<TaskPtr>,
    holds_unit: bool,
}

/// `nested_key` of a scope not in its parent's table.
const UNREGISTERED: usize = usize::MAX;

/// `deadline` of a scope without one.
pub(super) const NO_DEADLINE: u64 = u64::MAX;

// SAFETY: the raw pointers in `ScopeCore` (the parent, nested scopes) point
// to other `ScopeCore`s that are valid while registered (module docs) and
// are only used through their own thread-safe methods; a borrowed registry
// (`RegistryLink`) is a `&Arc<Registry>` that outlives the core, and
// `Arc<Registry>` is `Send + Sync`; everything else is
// atomics, a mutex and `Send + Sync` types. Sharing `&ScopeCore` across the
// pool's threads is the whole point.
unsafe impl Send for ScopeCore {}
// SAFETY: as above.
unsafe impl Sync for ScopeCore {}

impl ScopeCore {
    /// Whether this is a sync scope (`scope`, not `scope_async`).
    #[inline]
    pub(super) fn is_sync(&self) -> bool {
        self.sync
    }

    /// Takes the scope's lock.
    #[inline]
    pub(super) fn lock(&self) -> Guard<'_> {
        Guard::new(self.inner.lock(), &self.tables_made)
    }

    /// The scope's process-unique id (for `Debug`): taken from the
    /// process-wide counter on first use, so that opening a scope touches
    /// no shared counter.
    pub(crate) fn id(&self) -> u64 {
        self.id.get(&SCOPE_IDS)
    }

    /// A new scope on `registry`'s pool, nested in the current child, if any.
    /// The caller must call [`register`](Self::register) once the core is
    /// at its final address.
    /// `leased`: the caller took a lease on the pool for the scope, which
    /// it returns when it closes.
    #[inline(always)]
    pub(crate) fn new(
        registry: RegistryLink,
        leased: bool,
        location: &'static Location<'static>,
        form: ScopeForm,
        policy: Option<NonNull<dyn Hooks>>,
    ) -> ScopeCore {
        ScopeCore {
            policy,
            spawned: AtomicUsize::new(0),
            body_cancelled: AtomicBool::new(false),
            trace: ScopeTrace::open(location, form),
            id: LazyId::new(),
            registry,
            leased: AtomicBool::new(leased),
            nested_key: AtomicUsize::new(UNREGISTERED),
            pending: CountLatch::new(),
            cancelled: AtomicBool::new(false),
            deadline: AtomicU64::new(NO_DEADLINE),
            above: AtomicU64::new(super::cancel::ABOVE_UNKNOWN),
            shielded: AtomicBool::new(false),
            parent: UnsafeCell::new(None),
            frame: UnsafeCell::new(std::ptr::null()),
            owner: UnsafeCell::new(None),
            opened: AtomicBool::new(form != ScopeForm::Async),
            opening: Mutex::new(()),
            inner: Mutex::new(Locked::default()),
            tables_made: AtomicBool::new(false),
            sync: form != ScopeForm::Async,
        }
    }

    /// Links the scope to the child this thread is running and its scope, if
    /// any, inheriting its cancellation; it registers in that scope's table
    /// only when it needs to (see "Registration" in the module docs). For a
    /// sync scope (see `ParentScope`).
    ///
    /// # Safety
    /// `self` stays at this address until [`unregister`](Self::unregister),
    /// which happens before the current task's run returns.
    pub(crate) unsafe fn register(&mut self) {
        let shielded = opened_across_a_shield();
        // ORDERING: Relaxed: nobody else can see this scope yet.
        self.shielded.store(shielded, Ordering::Relaxed);
        let Some((parent, task)) = current_parent() else {
            let frame = waiting_for();
            // SAFETY: `&mut self`: nobody else can see this scope yet.
            self.frame.with_mut(|f| unsafe { *f = frame });
            return;
        };
        let link = Some(ParentScope { scope: parent, task, holds_unit: false });
        // SAFETY: `&mut self`: nobody else can see this scope yet.
        self.parent.with_mut(|p| unsafe { *p = link });
        // SAFETY: the running child's scope outlives the child.
        if !shielded && unsafe { parent.as_ref() }.cancelled.load(Ordering::Acquire) {
            // ORDERING: Relaxed: nobody else can see this scope yet.
            self.cancelled.store(true, Ordering::Relaxed);
        }
    }

    /// Puts this scope in its parent's `nested` table (and the parent in
    /// its own parent's, and so on up) if it is not there yet, so that a
    /// cancellation from above reaches its async children.
    fn ensure_registered(&self) {
        let Some(p) = self.parent() else { return };
        // ORDERING: Acquire pairs with the Release store below (a fast path;
        // the decision is re-made under the parent's lock).
        if self.nested_key.load(Ordering::Acquire) != UNREGISTERED {
            return;
        }
        // SAFETY: the parent outlives us (see `ParentScope`).
        let parent = unsafe { p.scope.as_ref() };
        parent.ensure_registered();
        {
            let mut inner = parent.lock();
            // ORDERING: Relaxed: under the lock every store below is made.
            if self.nested_key.load(Ordering::Relaxed) != UNREGISTERED {
                return;
            }
            let key = inner.tables().nested.insert(NonNull::from(self));
            // ORDERING: Release for the fast path above.
            self.nested_key.store(key, Ordering::Release);
        }
        // A `cancel` of the parent (or a `Task::cancel` of the child we were
        // opened in) that walked the table before our insert set its flag
        // before taking the lock we took after it: we see it.
        if self.is_cancelled() {
            self.cancel();
        }
    }

    /// The parent link that cancellation follows: [`parent`](Self::parent),
    /// unless the scope was opened inside a shield.
    #[inline]
    pub(super) fn cancel_parent(&self) -> Option<ParentScope> {
        // ORDERING: Relaxed: written before the scope was visible, or
        // published with `opened`, which `parent` reads with Acquire first.
        self.parent().filter(|_| !self.shielded.load(Ordering::Relaxed))
    }

    /// Whether a cancellation from above may cascade into this scope.
    #[inline]
    pub(super) fn is_shielded(&self) -> bool {
        // ORDERING: as in `cancel_parent`.
        self.shielded.load(Ordering::Relaxed)
    }

    /// Where this scope was opened, if in a nursery child (`None` too for
    /// an async scope that has not opened yet).
    #[inline]
    pub(super) fn parent(&self) -> Option<ParentScope> {
        // ORDERING: Acquire pairs with the Release store in `open_async`,
        // so the link written before it is visible.
        if !self.opened.load(Ordering::Acquire) {
            return None;
        }
        // SAFETY: written once, before `opened` was set (field docs).
        self.parent.with(|p| unsafe { *p })
    }

    /// A new async scope on `registry`'s pool; it opens later, at its first
    /// poll or first spawn ([`open_async`](Self::open_async)), so that a
    /// `scope_async` future that is never polled holds nothing (L5).
    pub(crate) fn new_async(
        registry: Arc<Registry>,
        location: &'static Location<'static>,
        policy: Option<NonNull<dyn Hooks>>,
    ) -> ScopeCore {
        ScopeCore::new(RegistryLink::Owned(registry), false, location, ScopeForm::Async, policy)
    }

    /// Marks an async scope that never opened as opened, with no lease and
    /// no parent: its future is being dropped unpolled.
    pub(crate) fn seal_unopened(&self) {
        let _opening = self.opening.lock();
        // ORDERING: Release, as in `open_async` (nothing was written).
        self.opened.store(true, Ordering::Release);
    }

    /// Opens an async scope, once: takes its lease on the pool and, if this
    /// thread is running a nursery child, registers with that child's scope,
    /// holding one of its `pending` units (see `ParentScope`). The scope is
    /// at its final address (in its `Arc`).
    ///
    /// # Panics
    /// If the pool is shut down (it accepts no new scope), with the same
    /// message `scope_async` gives.
    pub(crate) fn open_async(&self) {
        // ORDERING: Acquire: see `parent`.
        if self.opened.load(Ordering::Acquire) {
            return;
        }
        let _opening = self.opening.lock();
        // ORDERING: Relaxed: under the lock every store below is made.
        if self.opened.load(Ordering::Relaxed) {
            return;
        }
        // An async scope always takes a lease: its future may be moved off
        // the worker that made it and outlive the work running there.
        if super::run::acquire_lease(&self.registry, false).is_err() {
            // Raised inside a poll (the executor's line, not the user's):
            // the message says which poll.
            panic!(
                "{} (a scope_async future made before the shutdown was first polled after it)",
                super::run::SHUT_DOWN_MSG
            );
        }
        // ORDERING: Relaxed: read by the owner's close, after the children.
        self.leased.store(true, Ordering::Relaxed);
        let shielded = opened_across_a_shield();
        // ORDERING: Relaxed: published by `opened` below.
        self.shielded.store(shielded, Ordering::Relaxed);
        let Some((parent, task)) = current_parent() else {
            let frame = waiting_for();
            // SAFETY: not opened yet, and we hold `opening` (see below).
            self.frame.with_mut(|f| unsafe { *f = frame });
            // ORDERING: Release publishes `frame` to `opened_in`'s Acquire.
            self.opened.store(true, Ordering::Release);
            return;
        };
        {
            // SAFETY: the running child's scope outlives the child.
            let parent_ref = unsafe { parent.as_ref() };
            // The running child holds a unit of its scope, so this succeeds.
            if parent_ref.pending.try_increment() {
                parent_ref.ensure_registered();
                let mut inner = parent_ref.lock();
                let key = inner.tables().nested.insert(NonNull::from(self));
                // ORDERING: Relaxed: published by `opened` below.
                self.nested_key.store(key, Ordering::Relaxed);
                let link = Some(ParentScope { scope: parent, task, holds_unit: true });
                // SAFETY: not opened yet, and we hold `opening`: no reader
                // (they read only after `opened`) and no other writer.
                self.parent.with_mut(|p| unsafe { *p = link });
                // SAFETY: as above; the task runs on this thread, so it is alive.
                self.owner.with_mut(|o| unsafe { *o = task.map(|t| t.to_ref()) });
                // SAFETY: the task is running on this thread, so it is alive.
                if !shielded && (parent_ref.is_cancelled() || task.is_some_and(|t| unsafe { t.is_closed() }))
                {
                    // ORDERING: Release, like `cancel`'s store.
                    self.cancelled.store(true, Ordering::Release);
                }
            }
        }
        // ORDERING: Release publishes the link to `parent`'s Acquire.
        self.opened.store(true, Ordering::Release);
    }

    /// Undoes the registration: leaves the parent's table and, for an
    /// async scope, gives back the parent's unit (the last access to it).
    pub(crate) fn unregister(&self) {
        if let Some(p) = self.parent() {
            // SAFETY: the parent outlives us (see `ParentScope`).
            let parent = unsafe { p.scope.as_ref() };
            // ORDERING: Acquire: a registration made by a child is ordered
            // before this by the child's `pending` release; one made by
            // this thread needs nothing.
            let key = self.nested_key.load(Ordering::Acquire);
            if key != UNREGISTERED {
                let mut parent_lock = parent.lock();
                let tables =
                    parent_lock.tables_mut_if_any().expect("a registered scope's parent has its tables");
                tables.nested.remove(key);
            }
            if p.holds_unit {
                // SAFETY: the unit taken in `open_async`; nothing of the
                // parent is touched after it.
                unsafe { CountLatch::decrement(&raw const parent.pending) };
            }
        }
    }

    /// Registers a new async child (its reference goes into the table).
    /// Returns the key; cancels it at once if the scope already is.
    pub(crate) fn register_task(&self, task: TaskRef) -> usize {
        self.ensure_registered();
        let mut inner = self.lock();
        // Under the lock: `cancel` sets the flag before taking it, so either
        // it sees this task or we see the flag.
        if self.cancelled.load(Ordering::Acquire) {
            task.cancel_by_parent();
        }
        inner.tables().tasks.insert(task)
    }

    /// The scope body and every child are done: remove the `cancel_after`
    /// deadlines from the pool (waiting out one that is firing). Returns
    /// every failure nobody observed, in spawn order.
    fn finish(&self) -> Vec<ChildFailure> {
        // A sync scope whose tables were never made closes without the
        // lock: every child is done (so nobody makes them now), and no
        // `cancel_after` can come after the close — a sync scope gives out
        // no handle that outlives it, so there is nothing to refuse.
        // ORDERING: Relaxed: see `Guard::make_tables`.
        if self.sync && !self.tables_made.load(Ordering::Relaxed) {
            return Vec::new();
        }
        let (deadlines, unobserved, mut failures) = {
            let mut locked = self.lock();
            locked.close();
            let Some(inner) = locked.tables_mut_if_any() else {
                // The common close: no table was ever made.
                return Vec::new();
            };
            if inner.deadlines.is_empty() && inner.unobserved.is_empty() && inner.failures.is_empty() {
                // Nothing registered, nothing failed.
                inner.body_waker = None;
                return Vec::new();
            }
            inner.body_waker = None;
            (
                std::mem::take(&mut inner.deadlines),
                std::mem::take(&mut inner.unobserved),
                std::mem::take(&mut inner.failures),
            )
        };
        for key in deadlines {
            self.registry.cancel_deadline(key);
        }
        for task in unobserved {
            if let Some(failure) = task.claim_failure() {
                failures.push(child_failure(&task, failure));
            }
        }
        if failures.len() > 1 {
            failures.sort_by_key(ChildFailure::index);
        }
        failures
    }

    /// The last steps of closing, once `pending` is set (every child done):
    /// remove the `cancel_after` deadlines from the pool, leave the enclosing
    /// scope, return the lease on the pool. Returns every failure nobody
    /// observed, in spawn order. The owner calls it once.
    pub(crate) fn close_after_children(&self) -> Vec<ChildFailure> {
        let failures = self.finish();
        if let Some(trace) = &self.trace {
            trace.closed();
        }
        self.unregister();
        // ORDERING: Relaxed: set by this scope's own opening, earlier.
        if self.leased.load(Ordering::Relaxed) {
            self.registry.release();
        }
        failures
    }
}

/// What a scope opened on this thread now is nested in: the scope whose
/// body this thread runs (innermost, with no task), or the nursery child it
/// runs and that child's scope.
fn current_parent() -> Option<(NonNull<ScopeCore>, Option<TaskPtr>)> {
    if let Some(body) = current_body() {
        return Some((body.cast::<ScopeCore>(), None));
    }
    let task = TaskPtr::current()?;
    // SAFETY: the task is running on this thread, so it is alive.
    let data = unsafe { task.parent_data() }?;
    Some((data.cast::<ScopeCore>(), Some(task)))
}

/// Whether a scope opening here crosses a shield's boundary: inside a
/// shield of the running task, with no scope body entered since the shield
/// began (`task::shield_boundary`).
fn opened_across_a_shield() -> bool {
    crate::task::shield_boundary().is_some_and(|body| std::ptr::eq(body, crate::task::body_here()))
}
