//! The hooks: how the runtime tells a recording what it runs, without
//! knowing what records it.
//!
//! Every layer that does something a trace shows — a loop created, a scope
//! opened, a child spawned, started, polled, finished — calls a function
//! here with plain data (the [`event`] vocabulary). A recording in
//! progress is a [`Sink`]: the `trace` module, the top layer, implements
//! it (storage, then the views and the audit), so the core never imports
//! the trace and the trace receives nothing but these values. This is the
//! shape of `tracing`'s split between its instrumentation macros and a
//! `Subscriber` (<https://docs.rs/tracing-core>).
//!
//! # Who is recorded
//!
//! A recording follows the *tree*, not the process. A thread-local context
//! ([`TraceCtx`]: the sink and the child being run, if any) is current on
//! the thread that called `record`, and from there it travels the way
//! context slots do:
//!
//! * a scope opened while a context is current is recorded, and remembers
//!   the context ([`ScopeTrace`]);
//! * a child of a recorded scope gets its own context (the sink and its
//!   task id) in its [`TaskTrace`], which is current around each of its
//!   polls on whatever worker runs it — so scopes, loops and local tasks it
//!   creates are recorded too, with the child as their parent;
//! * a `spawn_local` task inherits the context current at its spawn, and so
//!   does a pool job (`Pool::spawn`, `Pool::run`, the second half of
//!   `Pool::join`: [`carry`]);
//! * a pool job run while a task waits (helping) runs with no context, as it
//!   runs with no bindings: it is not part of that task.
//!
//! Unrelated work running at the same time (another test, another
//! recording) is never mixed in.
//!
//! # The cost when nothing records
//!
//! [`ACTIVE`] counts the recordings in progress. Opening a scope, spawning
//! a `spawn_local` task and submitting a pool job read it once (`Relaxed`)
//! and do nothing more when it is zero. Spawning a child reads no atomic at
//! all: it checks whether its scope has a `ScopeTrace` (a plain field).
//! Polling a child is monomorphic: a child spawned while recording is a
//! [`Traced`] future, any other child is not, so polling and dropping it
//! costs nothing extra.

mod ctx;
pub(crate) mod event;

pub use event::{
    Bindings, BoundSlot, ChildKind, Event, EventKind, Inheritance, LoopNumber, Outcome, Queue, ScopeForm,
    ScopeId, SourceLoc, TaskId, ThreadInfo, ThreadIx,
};

pub(crate) use ctx::{
    CtxGuard, LoopTrace, Probe, ScopeTrace, ShieldTrace, TaskTrace, TraceCtx, Traced, carry, current_ctx,
    current_task, loop_created, shield_began,
};

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A recording in progress, as the hooks see it: where their events go.
///
/// Implemented by the `trace` module's recorder. Every method appends under
/// the sink's own lock with a timestamp taken under it, so events are in an
/// order the program agrees with; each returns `None` once the recording
/// has ended (later events are dropped).
pub(crate) trait Sink: Send + Sync {
    /// Records `kind`, on this thread, now.
    fn record(&self, kind: EventKind);
    /// Records a scope opening ([`EventKind::ScopeOpened`]) and returns
    /// the id it allocated for the scope.
    fn scope_opened(&self, parent: Option<TaskId>, location: SourceLoc, form: ScopeForm) -> Option<ScopeId>;
    /// Records a child's spawn on this thread ([`EventKind::Spawned`]);
    /// `on_worker`: its job goes to this thread's deque (else to the
    /// injector). Returns the id it allocated for the child.
    fn child_spawned(
        &self,
        scope: ScopeId,
        kind: ChildKind,
        location: SourceLoc,
        on_worker: bool,
        bindings: Bindings,
    ) -> Option<TaskId>;
    /// Records a child's start on this thread ([`EventKind::Started`]),
    /// and a [`EventKind::Stolen`] if its job was queued elsewhere.
    fn child_started(&self, task: TaskId, on_loop: Option<LoopNumber>, bindings: Bindings);
}

/// How many recordings are in progress, process-wide.
///
/// A plain `std` atomic in both builds: it is a gate, not synchronisation.
/// A thread reaches recorded work only through a queue or a spawn that
/// happens after `record` incremented this, so it never reads a stale zero
/// where it matters; a stale non-zero only costs a thread-local read.
static ACTIVE: AtomicUsize = AtomicUsize::new(0);

/// Whether any recording is in progress (one relaxed load).
#[inline]
pub(crate) fn active() -> bool {
    // ORDERING: Relaxed: a gate only (see `ACTIVE`).
    ACTIVE.load(Ordering::Relaxed) != 0
}

/// Starts counting a recording in progress (see [`ACTIVE`]); the returned
/// guard stops counting it.
pub(crate) fn activate() -> Active {
    // ORDERING: Relaxed: a gate; see `ACTIVE`.
    ACTIVE.fetch_add(1, Ordering::Relaxed);
    Active(())
}

/// One recording counted in [`ACTIVE`].
pub(crate) struct Active(());

impl Drop for Active {
    fn drop(&mut self) {
        // ORDERING: Relaxed: a gate; see `ACTIVE`.
        ACTIVE.fetch_sub(1, Ordering::Relaxed);
    }
}

crate::sync::thread_local_key! {
    /// For a pool worker: its pool's process-wide id and its index; what a
    /// recording says the thread is ([`ThreadInfo::worker`]).
    static ROLE: Cell<Option<(u64, usize)>> = Cell::new(None);
}

/// Says (for the rest of the thread's life, or until `None`) that this
/// thread is worker `index` of pool `pool`. Set by the pool when a worker
/// registers.
pub(crate) fn set_worker_role(role: Option<(u64, usize)>) {
    let _ = ROLE.try_with(|r| r.set(role));
}

/// The role set by [`set_worker_role`], if any.
pub(crate) fn worker_role() -> Option<(u64, usize)> {
    ROLE.try_with(Cell::get).ok().flatten()
}
