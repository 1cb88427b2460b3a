//! The thread-owned part of a loop: its task table, ready queue, timers
//! and teardown ([`LoopCore`]). Which loop a thread has, and how it is
//! cached, is `thread_slot.rs`; the waits that constrain what a tick may
//! run are `waiting.rs`.
//!
//! # Teardown
//!
//! Teardown closes the remote wake queue (later wakes from other threads do
//! nothing), drops queued entries, cancels every task still in the table —
//! dropping each future exactly once, on this thread — drops the timers,
//! and runs the `on_teardown` hooks. It runs once ([`LoopCore::teardown`]
//! is idempotent), and never inside a poll of one of the loop's tasks
//! (`running` says whether one is on the stack).
//!
//! # Re-entrancy
//!
//! `polling` is true while this thread is inside a poll of one of the loop's
//! tasks (or of a `block_on` root future). `block_on` refuses to start then:
//! it would have to poll the loop's tasks from inside one of them.
//!
//! Prior art: tokio's `LocalSet` (<https://docs.rs/tokio/latest/tokio/task/struct.LocalSet.html>)
//! and async-executor's `LocalExecutor` (<https://docs.rs/async-executor>): one thread's run queue
//! of `!Send` tasks.

use super::thread_slot::schedule_local;
use super::timer::Timers;
use crate::context::bindings::Crossing;
use crate::context::with_bindings::WithBindings;
use crate::hooks::{self, LoopTrace, TaskTrace, Traced};
use crate::sync::time::Instant;
use crate::sync::{Arc, IdCounter, StatCounter, with_thread_parker};
use crate::task::{AfterRun, Inbox, LocalTask, TaskRef, allocate, allowed_here, wake_caught};
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
    pub(super) ready: RefCell<VecDeque<TaskRef>>,
    /// Every live task (one reference each): what teardown cancels. The flag
    /// says whether the task holds a unit of its pool's outstanding work.
    tasks: RefCell<Slab<(TaskRef, bool)>>,
    /// On a pool worker: the pool the loop serves, in whose outstanding-work
    /// count every `spawn_local` task of this loop holds a unit until it
    /// completes, so that shutdown lets it run to its end like any other
    /// work that accepted work spawned. Such a loop is the pool's to tear
    /// down.
    pub(super) owner: Option<Box<dyn LoopOwner>>,
    /// The owner's poll counter (`LoopOwner::poll_counter`).
    polls: Option<Arc<StatCounter>>,
    /// Sleeping futures' deadlines.
    pub(crate) timers: RefCell<Timers>,
    /// Inside a poll of one of this loop's tasks (see module docs).
    pub(super) polling: Cell<bool>,
    /// How many polls of this loop's tasks (or `block_on` roots) are on this
    /// thread's stack. Unlike `polling`, never cleared by [`Helping`]: a
    /// teardown while it is non-zero would free a future that is running.
    pub(super) running: Cell<u32>,
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

/// The pool a worker's loop serves, as the loop sees it (implemented by the
/// pool's registry; the loop layer, below the pool, knows it only as this).
pub(crate) trait LoopOwner {
    /// Counts a new local task as one unit of the pool's outstanding work,
    /// unless the pool has terminated (then the task is not counted).
    fn count_task(&self) -> bool;
    /// A counted local task completed: releases its unit.
    fn task_done(&self);
    /// The counter the loop bumps before each task poll (the pool's
    /// metrics), if any. Asked once, when the loop is created.
    fn poll_counter(&self) -> Option<Arc<StatCounter>>;
}

pub(super) fn new_core(owner: Option<Box<dyn LoopOwner>>) -> Rc<LoopCore> {
    {
        {
            let unparker = with_thread_parker(|p| p.unparker());
            let id = LOOP_IDS.next();
            Rc::new(LoopCore {
                id,
                inbox: Arc::new(Inbox::new(unparker, schedule_local)),
                ready: RefCell::new(VecDeque::new()),
                tasks: RefCell::new(Slab::new()),
                polls: owner.as_ref().and_then(|o| o.poll_counter()),
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

    /// How many live tasks the loop has, or 0 if the table is being
    /// changed up the stack (a cheap look that never panics).
    pub(super) fn live_tasks(&self) -> usize {
        self.tasks.try_borrow().map_or(0, |t| t.len())
    }

    /// Queues again the tasks a wait held back ([`Waiting`](super::Waiting)
    /// ended): the next tick decides again (a wait further down the stack
    /// may still hold some of them back).
    pub(super) fn requeue_held(&self) {
        if self.held.borrow().is_empty() {
            return;
        }
        let held = std::mem::take(&mut *self.held.borrow_mut());
        self.ready.borrow_mut().extend(held);
    }

    /// Spawns a task onto this loop (called on the loop's thread). Like a
    /// nursery child, it keeps the context-slot bindings current at the
    /// spawn for all its polls, however they interleave.
    pub(crate) fn spawn_local<F: Future + 'static>(&self, fut: F) -> LocalTask<F::Output> {
        // SAFETY: the task goes into this loop's table and ready queue (or is
        // cancelled right here), so it is polled and dropped only on this
        // thread; `F: 'static` borrows nothing. Inside a recording it
        // carries the recording's context (`crate::hooks`).
        let new = unsafe {
            match TaskTrace::inherit() {
                None => allocate(WithBindings::capture(fut, Crossing::Async), self.inbox.clone()),
                Some(trace) => allocate(
                    WithBindings::capture(Traced::new(fut, trace, |_| false), Crossing::Async),
                    self.inbox.clone(),
                ),
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
            // A queued task is never completed (completion clears
            // `SCHEDULED`, and teardown drops the queues); `allowed_here`
            // needs an unfinished task, so that is checked anyway.
            // SAFETY: a queued task of this loop is alive (its queue entry
            // holds a reference) and, as just checked, unfinished.
            if !task.is_completed() && !unsafe { allowed_here(task.as_task_ptr()) } {
                self.held.borrow_mut().push(task);
                continue;
            }
            ran += 1;
            // Counted before the poll: whoever the poll's end releases
            // then reads a count that includes it.
            if let Some(polls) = &self.polls {
                polls.bump();
            }
            let key = task.key();
            let guard = PollGuard::enter(self);
            // SAFETY: this is the loop's thread, and the reference came from
            // its ready queue.
            let outcome = unsafe { task.run() };
            drop(guard);
            if let AfterRun::Completed = outcome {
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

fn run_hook(hook: Box<dyn FnOnce()>) {
    if catch_unwind(AssertUnwindSafe(hook)).is_err() {
        eprintln!("knotwork: a Loop::on_teardown hook panicked; the panic was discarded");
    }
}
