//! Jobs: type-erased pointers to work, and the two ways to allocate them.
//!
//! A [`JobRef`] is two words — a data pointer and the function that runs it —
//! so queues hold no `Box<dyn FnOnce>` and the submitter chooses where the
//! job lives:
//!
//! * [`HeapJob`]: one `Box` holding the closure (fire-and-forget spawns:
//!   exactly one heap allocation per job);
//! * [`StackJob`]: on the stack of a thread that waits for it (`join`,
//!   `Pool::run`): no allocation at all. The waiter blocks on the job's
//!   latch (`latch.rs`) before the stack frame can go away.
//!
//! A job decides itself what it owes the registry's outstanding-work count:
//! `HeapJob`s and `StackJob`s were each accepted as one unit and release it
//! when they finish; a nursery child (see `scope`) runs under its scope's
//! lease and releases nothing. That is why the execute function is handed
//! the registry.
//!
//! Prior art: rayon-core's `JobRef`, `HeapJob` and `StackJob` (<https://docs.rs/rayon-core>).

use super::latch::Latch;
use super::registry::Registry;
use crate::sync::UnsafeCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr::NonNull;

/// A pointer to a job and the function that executes it, once.
pub(crate) struct JobRef {
    data: NonNull<()>,
    execute_fn: unsafe fn(NonNull<()>, &Registry),
}

// SAFETY: the constructors require the job's closure and result to be
// `Send`; the pointer itself is just moved to the thread that executes it.
unsafe impl Send for JobRef {}

impl JobRef {
    /// Pairs a pointer with the function that executes it.
    ///
    /// # Safety
    /// `execute_fn(data, registry)` must be sound to call once, on a worker of
    /// `registry`'s pool, at any time until it is called; it must not unwind.
    pub(crate) unsafe fn new(data: NonNull<()>, execute_fn: unsafe fn(NonNull<()>, &Registry)) -> JobRef {
        JobRef { data, execute_fn }
    }

    /// The address of the job's data (what identifies the job).
    pub(crate) fn addr(&self) -> *const () {
        self.data.as_ptr().cast_const()
    }

    /// Runs the job on a worker of `registry`. Jobs catch their own panics.
    ///
    /// # Safety
    /// Called at most once per job (a `JobRef` is not `Clone`, and queues
    /// hand each entry to exactly one taker), on a worker of the pool whose
    /// queue it came from.
    pub(crate) unsafe fn execute(self, registry: &Registry) {
        // SAFETY: the constructor paired `data` with its matching function
        // and guaranteed the data lives until this call.
        unsafe { (self.execute_fn)(self.data, registry) }
    }
}

/// A job that owns its closure in one heap allocation.
pub(crate) struct HeapJob;

impl HeapJob {
    /// Boxes `f` as a job.
    pub(crate) fn boxed<F: FnOnce() + Send + 'static>(f: F) -> JobRef {
        // SAFETY: `F: 'static`, so nothing it borrows can go away before it runs.
        unsafe { Self::boxed_unchecked(f) }
    }

    /// Boxes `f` as a job without requiring `'static`.
    ///
    /// # Safety
    /// Everything `f` borrows must outlive its execution; the caller proves
    /// this (for instance by waiting for the job before the borrow ends).
    pub(crate) unsafe fn boxed_unchecked<F: FnOnce() + Send>(f: F) -> JobRef {
        unsafe fn execute<F: FnOnce()>(data: NonNull<()>, registry: &Registry) {
            // SAFETY: `data` came from `Box::leak` below and is executed once.
            let f = unsafe { Box::from_raw(data.cast::<F>().as_ptr()) };
            if let Err(payload) = catch_unwind(AssertUnwindSafe(f)) {
                registry.handle_panic(payload);
            }
            // The job was accepted as one unit of outstanding work.
            registry.release();
        }
        let data = NonNull::from(Box::leak(Box::new(f))).cast::<()>();
        JobRef { data, execute_fn: execute::<F> }
    }
}

/// What a stack job carries from the thread that made it to a thread that
/// executes it through its [`JobRef`] (a thief, or a wait that took it):
/// entered around the closure there. The owner that takes its own job back
/// and runs it inline ([`StackJob::run_inline`]) drops it unused: on that
/// thread, at that point, everything it carries is current already — and
/// the closure then runs as it was written, with nothing wrapped around it
/// (`join`'s fast path, issue 18).
pub(crate) trait Carry: Send {
    /// Runs `f` inside what was carried.
    fn run<R>(self, f: impl FnOnce() -> R) -> R;
}

impl Carry for () {
    #[inline]
    fn run<R>(self, f: impl FnOnce() -> R) -> R {
        f()
    }
}

/// A job that lives on the stack of the thread that waits for it.
pub(crate) struct StackJob<F, R, C = ()> {
    func: UnsafeCell<Option<(F, C)>>,
    result: UnsafeCell<Option<std::thread::Result<R>>>,
    pub(crate) latch: Latch,
}

impl<F: FnOnce() -> R + Send, R: Send> StackJob<F, R> {
    pub(crate) fn new(f: F, latch: Latch) -> Self {
        StackJob::carrying(f, (), latch)
    }
}

impl<F: FnOnce() -> R + Send, R: Send, C: Carry> StackJob<F, R, C> {
    /// A job whose closure runs inside `carried` when executed through its
    /// `JobRef` (see [`Carry`]).
    #[inline]
    pub(crate) fn carrying(f: F, carried: C, latch: Latch) -> Self {
        StackJob { func: UnsafeCell::new(Some((f, carried))), result: UnsafeCell::new(None), latch }
    }

    /// A reference to this job for a queue; the job was accepted as one
    /// unit of outstanding work and releases it when it finishes.
    ///
    /// # Safety
    /// The job must stay where it is until its latch is set (the owner waits
    /// for `latch.probe()` before moving or dropping it), and the `JobRef` is
    /// executed at most once.
    pub(crate) unsafe fn as_job_ref(&self) -> JobRef {
        JobRef { data: NonNull::from(self).cast(), execute_fn: Self::execute::<true> }
    }

    /// As [`as_job_ref`](Self::as_job_ref), for a job that holds no unit of
    /// its own: its owner runs on a worker, inside accepted work, and waits
    /// for it (`join`), so the owner's unit covers it.
    ///
    /// # Safety
    /// As for `as_job_ref`.
    pub(crate) unsafe fn as_uncounted_job_ref(&self) -> JobRef {
        JobRef { data: NonNull::from(self).cast(), execute_fn: Self::execute::<false> }
    }

    unsafe fn execute<const COUNTED: bool>(data: NonNull<()>, registry: &Registry) {
        let this = data.cast::<StackJob<F, R, C>>().as_ptr().cast_const();
        // SAFETY: the owner keeps the job live until the latch is set,
        // and before that only this (single) execution touches `func`
        // and `result`.
        let (func, carried) =
            unsafe { (*this).func.with_mut(|f| (*f).take()) }.expect("a stack job ran twice");
        let result = catch_unwind(AssertUnwindSafe(|| carried.run(func)));
        // SAFETY: as above; the owner reads `result` only after `probe`.
        unsafe { (*this).result.with_mut(|r| *r = Some(result)) };
        // SAFETY: live until the latch is set; `set` touches nothing after.
        unsafe { Latch::set(&raw const (*this).latch, registry) };
        if COUNTED {
            // The job was accepted as one unit; `registry` is not on the
            // waiter's stack, so it is still alive.
            registry.release();
        }
    }

    /// Whether `job` is a reference to this job.
    pub(crate) fn is(&self, job: &JobRef) -> bool {
        std::ptr::eq(job.addr(), (self as *const Self).cast())
    }

    /// Runs the job on this thread, instead of through a `JobRef`: for the
    /// owner that took its own job back from its deque before anyone else
    /// did (that reference is consumed and never executed). What the job
    /// carries is dropped unused ([`Carry`]).
    #[inline]
    pub(crate) fn run_inline(self) -> std::thread::Result<R> {
        let taken = self.func.with_mut(|f| {
            // SAFETY: nobody else holds a reference to the job any more.
            unsafe { (*f).take() }
        });
        let (func, carried) = taken.expect("a stack job ran twice");
        drop(carried);
        catch_unwind(AssertUnwindSafe(func))
    }

    /// The result, once the latch is set.
    ///
    /// # Panics
    /// If called before the latch is set (a bug in the caller).
    pub(crate) fn into_result(self) -> std::thread::Result<R> {
        assert!(self.latch.probe(), "StackJob result read before its latch was set");
        // SAFETY: the latch is set, so the executor is done with the cell,
        // and its write happens-before (Release/Acquire on the latch).
        self.result.with_mut(|r| unsafe { (*r).take() }).expect("a set latch always has a result")
    }
}
