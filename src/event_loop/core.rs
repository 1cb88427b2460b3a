//! The thread-owned part of a loop, and the thread-local that caches it.
//!
//! # Lifetime of a thread's loop
//!
//! ```text
//!   Empty ──first Loop::current()/block_on/spawn_local──▶ Live(core) ──thread exit──▶ Dead
//!                                                          (or a worker's explicit teardown)
//! ```
//!
//! * **Lazy, exactly one.** The slot starts `Empty`; the first call that
//!   needs a loop creates it and caches it; every later call returns the same
//!   `Rc`. A thread's slot is only ever touched by that thread, so there is no
//!   race to create two.
//! * **Torn down exactly once.** Pool workers tear their loop down explicitly
//!   before their thread returns (loom's `join` may return before thread-local
//!   destructors have run, so the pool cannot rely on them); every other
//!   thread's loop is torn down by the thread-local's destructor. Both paths
//!   first move the slot to `Dead`, so teardown runs once and no loop is ever
//!   created again on that thread (a late `Loop::current()` panics with a
//!   message instead).
//! * **Teardown** closes the remote wake queue (later wakes from other
//!   threads do nothing), drops queued entries, cancels every task still in
//!   the table — dropping each future exactly once, on this thread — drops the
//!   timers, and runs the `on_teardown` hooks.
//!
//! # Re-entrancy
//!
//! `polling` is true while this thread is inside a poll of one of the loop's
//! tasks (or of a `block_on` root future). `block_on` refuses to start then:
//! it would have to poll the loop's tasks from inside one of them.

use super::timer::Timers;
use crate::context::Detached;
use crate::context::bindings::WithBindings;
use crate::hooks::{self, LoopTrace, TaskTrace, Traced};
use crate::sync::time::Instant;
use crate::sync::{Arc, IdCounter, with_thread_parker};
use crate::task::Inbox;
use crate::task::{
    LocalTask, RunOutcome, TaskRef, allocate, allowed_here, restore_waiting_for, set_waiting_for, wake_caught,
};
use slab::Slab;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;

/// Ids for loops: unique for every loop ever created in the process.
static LOOP_IDS: IdCounter = IdCounter::new();

pub(crate) struct LoopCore {
    /// Unique for every loop ever created in this process.
    id: u64,
    /// What other threads may touch (remote wakes).
    pub(crate) inbox: Arc<Inbox>,
    /// Tasks ready to be polled, each entry owning one reference.
    ready: RefCell<VecDeque<TaskRef>>,
    /// Every live task (one reference each): what teardown cancels. The flag
    /// says whether the task holds a unit of its pool's outstanding work.
    tasks: RefCell<Slab<(TaskRef, bool)>>,
    /// On a pool worker: the pool the loop serves, in whose outstanding-work
    /// count every `spawn_local` task of this loop holds a unit until it
    /// completes, so that shutdown lets it run to its end like any other
    /// work that accepted work spawned. Such a loop is the pool's to tear
    /// down.
    owner: Option<Box<dyn LoopOwner>>,
    /// Sleeping futures' deadlines.
    pub(crate) timers: RefCell<Timers>,
    /// Inside a poll of one of this loop's tasks (see module docs).
    polling: Cell<bool>,
    /// How many polls of this loop's tasks (or `block_on` roots) are on this
    /// thread's stack. Unlike `polling`, never cleared by [`Helping`]: a
    /// teardown while it is non-zero would free a future that is running.
    running: Cell<u32>,
    /// Ready tasks held back because a wait on this thread's stack may not
    /// run them (`task::allowed_here`; one reference each, the queue
    /// entry's); queued again when that wait ends ([`Waiting`]).
    held: RefCell<Vec<TaskRef>>,
    /// Set once by teardown.
    torn_down: Cell<bool>,
    /// Run at teardown, in registration order.
    on_teardown: RefCell<Vec<Box<dyn FnOnce()>>>,
    /// The recording that saw this loop created, told of its teardown.
    trace: Option<LoopTrace>,
}

enum Slot {
    Empty,
    Live(Rc<LoopCore>),
    Dead,
}

/// The thread-local cell; its destructor is the teardown fallback.
struct ThreadLoop(RefCell<Slot>);

impl Drop for ThreadLoop {
    fn drop(&mut self) {
        clear_fast();
        if let Slot::Live(core) = std::mem::replace(self.0.get_mut(), Slot::Dead) {
            core.teardown();
        }
    }
}

crate::sync::thread_local_key! {
    static CURRENT: ThreadLoop = ThreadLoop(RefCell::new(Slot::Empty));
}

crate::sync::thread_local_key! {
    /// A cache of `Rc::as_ptr` of the `Live` core in `CURRENT`, or null.
    ///
    /// `CURRENT` has a destructor, so every access to it checks whether the
    /// thread-local is still alive; this one holds a raw pointer (no
    /// destructor), which makes the cached lookup in [`current`] a single
    /// thread-local load. Invariant: non-null only while `CURRENT` is
    /// `Live` with exactly this core, so the pointer is always valid.
    static CURRENT_FAST: Cell<*const LoopCore> = Cell::new(std::ptr::null());
}

fn clear_fast() {
    let _ = CURRENT_FAST.try_with(|fast| fast.set(std::ptr::null()));
}

/// The pool a worker's loop serves, as the loop sees it (implemented by the
/// pool's registry; the loop layer, below the pool, knows it only as this).
pub(crate) trait LoopOwner {
    /// Counts a new local task as one unit of the pool's outstanding work,
    /// unless the pool has terminated (then the task is not counted).
    fn count_task(&self) -> bool;
    /// A counted local task completed: releases its unit.
    fn task_done(&self);
}

crate::sync::thread_local_key! {
    /// The owner a pool worker hands to the loop it will create.
    static OWNER: RefCell<Option<Box<dyn LoopOwner>>> = RefCell::new(None);
}

/// Called by a pool worker before anything creates its loop: the loop will
/// serve `owner` (its local tasks count as the pool's outstanding work, and
/// only the pool tears it down).
pub(crate) fn install_owner(owner: Box<dyn LoopOwner>) {
    OWNER.with(|o| *o.borrow_mut() = Some(owner));
}

/// Drops the owner if no loop took it. Workers call this before they exit,
/// rather than leave a pool reference to a thread-local destructor (which
/// loom's `join` does not wait for).
pub(crate) fn uninstall_owner() {
    let _ = OWNER.try_with(|o| o.borrow_mut().take());
}

/// Whether this thread's loop serves a pool (or will, once created): a pool
/// worker's loop, which only the pool tears down.
pub(crate) fn serves_a_pool() -> bool {
    OWNER.try_with(|o| o.borrow().is_some()).unwrap_or(false)
        || try_current().is_some_and(|core| core.owner.is_some())
}

const DEAD_MSG: &str = "this thread's knotwork loop has already been torn down (the thread is exiting); \
                        no new loop is created for it";

/// This thread's loop, created on first use.
///
/// # Panics
/// If the thread's loop was already torn down.
#[inline]
pub(crate) fn current() -> Rc<LoopCore> {
    let fast = CURRENT_FAST.try_with(Cell::get).unwrap_or(std::ptr::null());
    if !fast.is_null() {
        // SAFETY: by the invariant of `CURRENT_FAST`, `fast` is the pointer
        // of the `Rc` held by this thread's `Live` slot, so the allocation is
        // alive; we add a count for the `Rc` we return.
        return unsafe {
            Rc::increment_strong_count(fast);
            Rc::from_raw(fast)
        };
    }
    CURRENT.with(create)
}

#[cold]
fn create(slot: &ThreadLoop) -> Rc<LoopCore> {
    let mut slot = slot.0.borrow_mut();
    match &*slot {
        Slot::Live(core) => core.clone(),
        Slot::Dead => panic!("{DEAD_MSG}"),
        Slot::Empty => {
            let core = new_core(OWNER.with(|o| o.borrow_mut().take()));
            *slot = Slot::Live(core.clone());
            CURRENT_FAST.with(|fast| fast.set(Rc::as_ptr(&core)));
            core
        }
    }
}

/// A loop for `block_on` on a thread whose own loop is already gone (the
/// thread is exiting: `block_on` called from a thread-local destructor).
/// It is nobody's cached loop: `block_on` tears it down before returning,
/// and code inside that asks for the thread's loop (`sleep`, `spawn_local`)
/// gets the clear "torn down" panic. `None` if the thread's loop is fine.
pub(crate) fn exit_loop() -> Option<Rc<LoopCore>> {
    if !CURRENT_FAST.try_with(Cell::get).unwrap_or(std::ptr::null()).is_null() {
        return None;
    }
    let usable = CURRENT.try_with(|slot| !matches!(&*slot.0.borrow(), Slot::Dead)).unwrap_or(false);
    if usable { None } else { Some(new_core(None)) }
}

fn new_core(owner: Option<Box<dyn LoopOwner>>) -> Rc<LoopCore> {
    {
        {
            let unparker = with_thread_parker(|p| p.unparker());
            let id = LOOP_IDS.next();
            Rc::new(LoopCore {
                id,
                inbox: Arc::new(Inbox::new(unparker, schedule_local)),
                ready: RefCell::new(VecDeque::new()),
                tasks: RefCell::new(Slab::new()),
                owner,
                timers: RefCell::new(Timers::default()),
                polling: Cell::new(false),
                running: Cell::new(0),
                held: RefCell::new(Vec::new()),
                torn_down: Cell::new(false),
                on_teardown: RefCell::new(Vec::new()),
                trace: hooks::loop_created(id),
            })
        }
    }
}

/// How many live tasks this thread's loop has (0 if it has none): a
/// cheap look, through the pointer cache.
pub(crate) fn live_task_count() -> usize {
    let fast = CURRENT_FAST.try_with(Cell::get).unwrap_or(std::ptr::null());
    if fast.is_null() {
        return 0;
    }
    // SAFETY: by the invariant of `CURRENT_FAST`, this thread's live loop.
    unsafe { &*fast }.tasks.try_borrow().map_or(0, |t| t.len())
}

/// This thread's loop if it exists; never creates one.
pub(crate) fn try_current() -> Option<Rc<LoopCore>> {
    CURRENT
        .try_with(|slot| match &*slot.0.try_borrow().ok()? {
            Slot::Live(core) => Some(core.clone()),
            _ => None,
        })
        .ok()
        .flatten()
}

/// Whether a task of this thread's loop (or a `block_on` root) is being
/// polled somewhere up the stack: tearing the loop down now would drop a
/// future in the middle of its own poll.
pub(crate) fn is_running_a_task() -> bool {
    try_current().is_some_and(|core| core.running.get() > 0)
}

/// Tears down this thread's loop now, if it has one, and marks the thread
/// as having no loop for the rest of its life. Used by pool workers (after
/// their last job, so nothing of the loop is running).
pub(crate) fn teardown_current() -> bool {
    clear_fast();
    let slot = CURRENT.try_with(|slot| std::mem::replace(&mut *slot.0.borrow_mut(), Slot::Dead));
    match slot {
        Ok(Slot::Live(core)) => {
            core.teardown();
            true
        }
        _ => false,
    }
}

/// The local fast path of a wake: if `inbox` is this thread's loop, queue
/// the task directly and return `None`; otherwise hand the task back.
pub(crate) fn schedule_local(inbox: &Inbox, task: TaskRef) -> Option<TaskRef> {
    let mut task = Some(task);
    let _ = CURRENT.try_with(|slot| {
        if let Ok(slot) = slot.0.try_borrow() {
            if let Slot::Live(core) = &*slot {
                if std::ptr::eq(Arc::as_ptr(&core.inbox), inbox) {
                    if let Ok(mut ready) = core.ready.try_borrow_mut() {
                        ready.push_back(task.take().expect("taken once"));
                    }
                }
            }
        }
    });
    task
}

/// Restores `polling` when a poll ends, even by unwinding.
pub(crate) struct PollGuard<'a> {
    core: &'a LoopCore,
    prev: bool,
}

impl<'a> PollGuard<'a> {
    pub(crate) fn enter(core: &'a LoopCore) -> Self {
        core.running.set(core.running.get() + 1);
        PollGuard { core, prev: core.polling.replace(true) }
    }
}

impl Drop for PollGuard<'_> {
    fn drop(&mut self) {
        self.core.polling.set(self.prev);
        self.core.running.set(self.core.running.get() - 1);
    }
}

impl LoopCore {
    #[inline]
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// Inside a poll of one of this loop's tasks or of a `block_on` root.
    pub(crate) fn is_polling(&self) -> bool {
        self.polling.get()
    }

    pub(crate) fn is_torn_down(&self) -> bool {
        self.torn_down.get()
    }

    pub(crate) fn task_count(&self) -> usize {
        self.tasks.borrow().len()
    }

    /// Spawns a task onto this loop (called on the loop's thread). Like a
    /// nursery child, it keeps the context-slot bindings current at the
    /// spawn for all its polls, however they interleave.
    pub(crate) fn spawn_local<F: Future + 'static>(&self, fut: F) -> LocalTask<F::Output> {
        // SAFETY: the task goes into this loop's table and ready queue (or is
        // cancelled right here), so it is polled and dropped only on this
        // thread; `F: 'static` borrows nothing. Inside a recording it
        // carries the recording's context (`trace::recorder`).
        let new = unsafe {
            match TaskTrace::inherit() {
                None => allocate(WithBindings::capture(fut), self.inbox.clone()),
                Some(trace) => allocate(WithBindings::capture(Traced::new(fut, trace)), self.inbox.clone()),
            }
        };
        if self.torn_down.get() {
            // A future dropped during teardown spawned this: it never runs.
            drop(new.queued);
            // SAFETY: this thread owns the loop; the task was never queued.
            unsafe { new.table.cancel_in_place() };
            return LocalTask::new(new.handle);
        }
        let counted = self.owner.as_ref().is_some_and(|o| o.count_task());
        let mut tasks = self.tasks.borrow_mut();
        let entry = tasks.vacant_entry();
        new.table.set_key(entry.key());
        entry.insert((new.table, counted));
        drop(tasks);
        self.ready.borrow_mut().push_back(new.queued);
        LocalTask::new(new.handle)
    }

    /// Takes in a nursery child that a pool job just bound to this loop:
    /// the task joins the table and is queued to run. `queued` is the
    /// reference its job held (the task is `SCHEDULED`).
    pub(crate) fn adopt(&self, queued: TaskRef) {
        if self.torn_down.get() {
            // Unreachable while the scope's lease keeps the pool's workers
            // (and so their loops) alive; cancel rather than lose the child.
            // SAFETY: this thread is the task's runner and it is not running.
            unsafe { queued.cancel_in_place() };
            return;
        }
        let table = queued.clone();
        let mut tasks = self.tasks.borrow_mut();
        let entry = tasks.vacant_entry();
        table.set_key(entry.key());
        // Not counted: a nursery child runs under its scope's lease.
        entry.insert((table, false));
        drop(tasks);
        self.ready.borrow_mut().push_back(queued);
    }

    /// Fires due timers and polls up to `budget` ready tasks. Returns whether
    /// anything happened.
    pub(crate) fn tick(&self, budget: usize) -> bool {
        let fired = self.fire_timers(Instant::now());
        self.inbox.drain_remote(&mut *self.ready.borrow_mut());
        let mut ran = 0;
        while ran < budget {
            let Some(task) = self.ready.borrow_mut().pop_front() else {
                break;
            };
            // SAFETY: a queued task of this loop is alive, and not completed
            // unless teardown completed it (then it is no one's to hold).
            if !task.is_completed() && !unsafe { allowed_here(task.as_task_ptr()) } {
                self.held.borrow_mut().push(task);
                continue;
            }
            ran += 1;
            let key = task.key();
            let guard = PollGuard::enter(self);
            // SAFETY: this is the loop's thread, and the reference came from
            // its ready queue.
            let outcome = unsafe { task.run() };
            drop(guard);
            if let RunOutcome::Completed = outcome {
                let removed = self.tasks.borrow_mut().try_remove(key);
                if let Some((task, counted)) = removed {
                    drop(task);
                    self.release_unit(counted);
                }
            }
        }
        fired || ran > 0
    }

    fn fire_timers(&self, now: Instant) -> bool {
        let mut fired = false;
        loop {
            // Pop one at a time so no borrow is held while waking.
            let waker = self.timers.borrow_mut().pop_due(now);
            match waker {
                Some(waker) => {
                    fired = true;
                    wake_caught(waker);
                }
                None => return fired,
            }
        }
    }

    /// Whether polling could make progress right now.
    pub(crate) fn has_ready(&self) -> bool {
        !self.ready.borrow().is_empty() || self.inbox.has_remote()
    }

    /// The earliest timer deadline, for parking.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.timers.borrow_mut().next_deadline()
    }

    pub(crate) fn on_teardown(&self, hook: Box<dyn FnOnce()>) {
        if self.torn_down.get() {
            run_hook(hook);
        } else {
            self.on_teardown.borrow_mut().push(hook);
        }
    }

    fn release_unit(&self, counted: bool) {
        if counted {
            if let Some(owner) = &self.owner {
                owner.task_done();
            }
        }
    }

    /// Tears the loop down (see the module docs). Idempotent.
    pub(crate) fn teardown(&self) {
        if self.torn_down.replace(true) {
            return;
        }
        drop(self.inbox.close());
        drop(std::mem::take(&mut *self.held.borrow_mut()));
        loop {
            let ready = std::mem::take(&mut *self.ready.borrow_mut());
            let tasks = std::mem::take(&mut *self.tasks.borrow_mut());
            if ready.is_empty() && tasks.is_empty() {
                break;
            }
            drop(ready);
            for (_, (task, counted)) in tasks {
                // SAFETY: this is the loop's thread and no task is running
                // (teardown never happens inside a poll: the slot is already
                // `Dead` or being destroyed, so no driver is on the stack).
                unsafe { task.cancel_in_place() };
                self.release_unit(counted);
            }
        }
        // Taken out first: a waker's `Drop` may touch this loop's timers.
        let mut timers = std::mem::take(&mut *self.timers.borrow_mut());
        timers.clear();
        let hooks = std::mem::take(&mut *self.on_teardown.borrow_mut());
        for hook in hooks {
            run_hook(hook);
        }
        if let Some(trace) = &self.trace {
            trace.torn_down();
        }
    }
}

/// A wait on this thread's stack: while it lives, only the subtree of what
/// it waits for runs on this thread (`task::allowed_here`); tasks of this
/// thread's loop held back meanwhile are queued again when it ends.
pub(crate) struct Waiting {
    prev: *const (),
}

impl Waiting {
    /// Enters a wait for `target` (a task's or a scope's address); `None`
    /// inherits the wait beneath, if any.
    pub(crate) fn enter(target: Option<*const ()>) -> Waiting {
        Waiting { prev: set_waiting_for(target) }
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        restore_waiting_for(self.prev);
        let fast = CURRENT_FAST.try_with(Cell::get).unwrap_or(std::ptr::null());
        if fast.is_null() {
            return;
        }
        // SAFETY: by the invariant of `CURRENT_FAST`, this thread's live
        // loop; only borrowed for the two queue moves below.
        let core = unsafe { &*fast };
        if core.held.borrow().is_empty() {
            return;
        }
        let held = std::mem::take(&mut *core.held.borrow_mut());
        // Back in the queue: the next tick decides again (a wait further
        // down the stack may still hold some of them back).
        core.ready.borrow_mut().extend(held);
    }
}

fn run_hook(hook: Box<dyn FnOnce()>) {
    if catch_unwind(AssertUnwindSafe(hook)).is_err() {
        eprintln!("knotwork: a Loop::on_teardown hook panicked; the panic was discarded");
    }
}

/// A pool job runs on this thread while a task waits further up the stack
/// (the worker helps): until dropped, the job runs outside that task — its
/// identity, bindings and trace context are cleared ([`Detached`]) — and
/// this loop's `polling` flag is cleared, so the job may `block_on`
/// (driving the loop, which never re-polls the waiting task: a `RUNNING`
/// task is in no queue). Both are restored on drop.
pub(crate) struct Helping {
    core: Option<(Rc<LoopCore>, bool)>,
    _detached: Detached,
}

impl Helping {
    pub(crate) fn enter() -> Self {
        Helping {
            core: try_current().map(|core| {
                let prev = core.polling.replace(false);
                (core, prev)
            }),
            _detached: Detached::enter(),
        }
    }
}

impl Drop for Helping {
    fn drop(&mut self) {
        if let Some((core, prev)) = &self.core {
            core.polling.set(*prev);
        }
    }
}
