//! `Task`: the handle of one nursery child.
//!
//! Prior art: `std::thread::ScopedJoinHandle`
//! (<https://doc.rust-lang.org/std/thread/struct.ScopedJoinHandle.html>) and tokio's `JoinHandle`
//! (<https://docs.rs/tokio/latest/tokio/task/struct.JoinHandle.html>).

use super::wait::{block_until, thread_waker};
use crate::TaskError;
use crate::event_loop::Waiting;
use crate::pool::worker::WorkerThread;
use crate::task::{TaskRef, is_waiting, poll_handle};
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// `'scope` bounds the handle's life; `T` is the output type.
type Marker<'scope, T> = PhantomData<(&'scope (), fn() -> T)>;

/// The handle of a child spawned with [`Scope::exec`](crate::Scope::exec)
/// or [`Scope::exec_blocking`](crate::Scope::exec_blocking).
///
/// [`join`](Self::join) blocks for the result; `.await` waits without
/// blocking the thread. Either gives `Err(TaskError)` if the child panicked
/// ([`TaskError::is_panic`]) or was cancelled ([`TaskError::is_cancelled`]).
///
/// **Dropping a `Task` is allowed and does not cancel the child** (so, like
/// `std::thread::Scope::spawn`'s handle, it is not `#[must_use]`): its scope
/// still joins it before returning, and discards its result. If a dropped
/// child panicked, the scope re-raises that panic (nobody else observed it).
/// To stop a child, call [`cancel`](Self::cancel).
///
/// # Examples
///
/// ```
/// let (a, b) = knotwork::scope(|s| {
///     let a = s.exec_blocking(|| 20 + 1);
///     let b = s.exec(async { 2 * 21 });
///     (a.join().unwrap(), b.join().unwrap())
/// });
/// assert_eq!((a, b), (21, 42));
/// ```
///
/// # Checked by the compiler
///
/// A `Task` cannot outlive its scope (`'scope`): it is joined there.
///
/// ```compile_fail
/// let mut escaped = None;
/// knotwork::scope(|s| escaped = Some(s.exec_blocking(|| 1))); // error: escapes the closure
/// ```
pub struct Task<'scope, T> {
    raw: Option<TaskRef>,
    _marker: Marker<'scope, T>,
}

impl<'scope, T> Task<'scope, T> {
    pub(crate) fn new(raw: TaskRef) -> Self {
        Task { raw: Some(raw), _marker: PhantomData }
    }

    /// Waits for the child and returns its result.
    ///
    /// On a pool worker the thread helps run other work (and its loop's
    /// other tasks) while it waits, so nested scopes cannot deadlock, even
    /// on a pool of one thread. Called from inside an async task, it blocks
    /// that worker's loop until the child is done; prefer `.await` there.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = knotwork::scope(|s| s.exec_blocking(|| panic!("boom")).join().unwrap_err());
    /// assert!(err.is_panic()); // observed here, so the scope does not re-raise it
    /// ```
    pub fn join(mut self) -> Result<T, TaskError> {
        let raw = self.raw.take().expect("a Task is joined once");
        // What this waits for, for `task::allowed_here`: the child's scope,
        // whose subtree (the child and its siblings, with their
        // descendants) may run on top of this wait. None of them waits for
        // a frame beneath it: they are the scope's children, and whatever
        // waits below is the scope's body or a task the scope is nested in.
        // (A narrower target, the child alone, would hand every sibling on
        // to another thread while a scope body joins its children in turn.)
        let target = raw.parent().map_or(raw.addr(), |p| p.data.as_ptr().cast_const());
        // The child itself may run when its job is taken back below.
        // (Without a wait beneath, everything may run anyway, and the wait
        // below sets its own target.)
        let _waiting = is_waiting().then(|| Waiting::enter(Some(target)));
        // The child's job is often the newest on this worker's deque (it was
        // just spawned here and nobody stole it): run it now, and the poll
        // below finds it complete, with no waker made and no wake-up.
        if !raw.is_completed() {
            let addr = raw.addr();
            // SAFETY: `current_ptr` is this thread's live worker.
            WorkerThread::current_ptr().map(|w| unsafe { w.as_ref() }.run_if_newest(addr));
        }
        if raw.is_completed() {
            let mut cx = Context::from_waker(Waker::noop());
            // SAFETY: the handle's reference; `T` is the child's output type.
            if let Poll::Ready(result) = unsafe { raw.poll_output::<T>(&mut cx) } {
                raw.release_completed_handle();
                return result;
            }
        }
        let waker = thread_waker();
        let mut cx = Context::from_waker(&waker);
        let result = loop {
            // SAFETY: the handle's reference; `T` is the child's output type.
            if let Poll::Ready(result) = unsafe { raw.poll_output::<T>(&mut cx) } {
                break result;
            }
            // Our waker is registered as the awaiter: completion unparks us.
            block_until(|| raw.is_completed(), target);
        };
        raw.release_completed_handle();
        result
    }

    /// Requests the child's cancellation. An async child is dropped at its
    /// next suspension point; a blocking child that has not started never
    /// starts; a running blocking child sees [`is_cancelled`](crate::is_cancelled)
    /// and runs on. The result is then `Err` with `is_cancelled()` (unless
    /// the child had already finished, or a running blocking child
    /// finishes anyway).
    ///
    /// # Examples
    ///
    /// ```
    /// let err = knotwork::scope(|s| {
    ///     let t = s.exec(std::future::pending::<()>());
    ///     t.cancel();
    ///     t.join().unwrap_err()
    /// });
    /// assert!(err.is_cancelled());
    /// ```
    pub fn cancel(&self) {
        // After `(&mut task).await` returned, the child is finished: nothing
        // to cancel (L8).
        if let Some(raw) = &self.raw {
            raw.cancel();
        }
    }

    /// The child's scope (what a wait for it waits for: see `join`).
    pub(super) fn scope_addr(&self) -> *const () {
        let raw = self.raw.as_ref().expect("a Task in use has its reference");
        raw.parent().map_or(raw.addr(), |p| p.data.as_ptr().cast_const())
    }

    /// Whether the child has finished (with a value, a panic or a cancellation).
    ///
    /// # Examples
    ///
    /// ```
    /// knotwork::scope(|s| {
    ///     let waiting = s.exec(std::future::pending::<()>());
    ///     let quick = s.exec_blocking(|| 6 * 7);
    ///     while !quick.is_finished() {
    ///         std::thread::yield_now(); // other work could go here
    ///     }
    ///     assert!(!waiting.is_finished());
    ///     waiting.cancel();
    ///     assert_eq!(quick.join().unwrap(), 42); // at once: it is finished
    /// });
    /// ```
    pub fn is_finished(&self) -> bool {
        self.raw.as_ref().is_none_or(TaskRef::is_completed)
    }
}

impl<T> Future for Task<'_, T> {
    type Output = Result<T, TaskError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: the handle's reference; `T` is the child's output type.
        unsafe { poll_handle::<T>(&mut self.raw, cx) }
    }
}

impl<T> Drop for Task<'_, T> {
    fn drop(&mut self) {
        if let Some(raw) = self.raw.take() {
            raw.drop_handle();
        }
    }
}

impl<T> fmt::Debug for Task<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task").field("finished", &self.is_finished()).finish()
    }
}
