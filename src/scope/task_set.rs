//! [`TaskSet`]: a scope's `Task`s, taken back in the order they finish.
//!
//! Each task in the set is polled with a waker of its own, which, when the
//! task completes, puts the task's key on the set's ready list and wakes
//! whoever waits on the set; taking the next finished task looks only at
//! that list, so `n` tasks cost `O(n)` in all, not `O(n²)`. The set holds
//! ordinary [`Task`] handles, so the scope still joins every child, and a
//! task left in the set when it drops is detached as any dropped `Task`
//! (its failure goes to the scope).
//!
//! Prior art: tokio's `JoinSet::join_next` (<https://docs.rs/tokio/latest/tokio/task/struct.JoinSet.html>)
//! and `futures`' `FuturesUnordered` (<https://docs.rs/futures/latest/futures/stream/struct.FuturesUnordered.html>).

use super::task::Task;
use super::wait::{block_until, thread_waker};
use crate::TaskError;
use slab::Slab;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

/// `Task`s of a scope, taken back in the order they finish (tokio's
/// `JoinSet`, inside the scope's join guarantee).
///
/// # Examples
///
/// The first of several to finish, with no external crate:
///
/// ```
/// use std::time::Duration;
/// let first = knotwork::scope(|s| {
///     let mut set = knotwork::TaskSet::new();
///     for (i, ms) in [(0, 200), (1, 1), (2, 100)] {
///         set.push(s.exec(async move {
///             knotwork::sleep(Duration::from_millis(ms)).await;
///             i
///         }));
///     }
///     let first = set.join_next().unwrap().unwrap();
///     set.cancel_all(); // the others are not needed
///     first
/// });
/// assert_eq!(first, 1);
/// ```
pub struct TaskSet<'scope, T> {
    tasks: Slab<Task<'scope, T>>,
    /// Keys of tasks not polled since they were pushed (or since their
    /// waker last fired): they must be polled to learn their state.
    unpolled: std::collections::VecDeque<usize>,
    ready: Arc<Ready>,
}

/// The keys whose tasks woke, and who waits on the set.
struct Ready {
    keys: Mutex<Vec<usize>>,
    waiter: Mutex<Option<Waker>>,
}

/// A task's own waker: puts its key on the ready list.
struct EntryWaker {
    key: usize,
    ready: Arc<Ready>,
}

impl Wake for EntryWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        lock(&self.ready.keys).push(self.key);
        let waiter = lock(&self.ready.waiter).clone();
        if let Some(waiter) = waiter {
            crate::task::wake_caught(waiter);
        }
    }
}

/// Locks a mutex of the set, whatever a panicking waker left behind.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl<T> Default for TaskSet<'_, T> {
    fn default() -> Self {
        TaskSet::new()
    }
}

impl<'scope, T> TaskSet<'scope, T> {
    /// An empty set.
    ///
    /// # Examples
    ///
    /// ```
    /// let set = knotwork::TaskSet::<()>::new();
    /// assert!(set.is_empty());
    /// ```
    pub fn new() -> Self {
        TaskSet {
            tasks: Slab::new(),
            unpolled: std::collections::VecDeque::new(),
            ready: Arc::new(Ready { keys: Mutex::new(Vec::new()), waiter: Mutex::new(None) }),
        }
    }

    /// Adds a task.
    ///
    /// # Examples
    ///
    /// ```
    /// knotwork::scope(|s| {
    ///     let mut set = knotwork::TaskSet::new();
    ///     set.push(s.exec_blocking(|| 1));
    ///     assert_eq!(set.len(), 1);
    /// });
    /// ```
    pub fn push(&mut self, task: Task<'scope, T>) {
        let key = self.tasks.insert(task);
        self.unpolled.push_back(key);
    }

    /// How many tasks the set still holds.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(knotwork::TaskSet::<u8>::new().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether the set holds no task.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(knotwork::TaskSet::<u8>::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Cancels every task still in the set (they stay in it, and finish as
    /// cancelled, unless they had finished already).
    ///
    /// # Examples
    ///
    /// ```
    /// knotwork::scope(|s| {
    ///     let mut set = knotwork::TaskSet::new();
    ///     set.push(s.exec(std::future::pending::<()>()));
    ///     set.cancel_all();
    ///     assert!(set.join_next().unwrap().unwrap_err().is_cancelled());
    /// });
    /// ```
    pub fn cancel_all(&self) {
        for (_, task) in self.tasks.iter() {
            task.cancel();
        }
    }

    /// The next task to finish, removed from the set, and its result;
    /// `None` once the set is empty. Awaits without blocking the thread.
    ///
    /// # Examples
    ///
    /// ```
    /// let sum = knotwork::block_on(knotwork::scope_async(async |s| {
    ///     let mut set = knotwork::TaskSet::new();
    ///     for i in 1..=3 {
    ///         set.push(s.exec(async move { i }));
    ///     }
    ///     let mut sum = 0;
    ///     while let Some(r) = set.next_finished().await {
    ///         sum += r.unwrap();
    ///     }
    ///     sum
    /// }));
    /// assert_eq!(sum, 6);
    /// ```
    pub fn next_finished(&mut self) -> impl Future<Output = Option<Result<T, TaskError>>> + '_ {
        std::future::poll_fn(|cx| self.poll_next(cx))
    }

    /// As [`next_finished`](Self::next_finished), blocking: on a pool worker the thread helps
    /// run the scope's work while it waits (as [`Task::join`] does).
    ///
    /// # Examples
    ///
    /// ```
    /// let order = knotwork::scope(|s| {
    ///     let mut set = knotwork::TaskSet::new();
    ///     set.push(s.exec_blocking(|| "a"));
    ///     let mut seen = Vec::new();
    ///     while let Some(r) = set.join_next() {
    ///         seen.push(r.unwrap());
    ///     }
    ///     seen
    /// });
    /// assert_eq!(order, ["a"]);
    /// ```
    pub fn join_next(&mut self) -> Option<Result<T, TaskError>> {
        let waker = thread_waker();
        let mut cx = Context::from_waker(&waker);
        loop {
            if let Poll::Ready(next) = self.poll_next(&mut cx) {
                return next;
            }
            // What this waits for: the scope of a task in the set (whose
            // subtree may run on top of this wait, as for `Task::join`).
            let target = self.tasks.iter().next().map(|(_, t)| t.scope_addr());
            let ready = self.ready.clone();
            block_until(|| !lock(&ready.keys).is_empty(), target.unwrap_or(std::ptr::null()));
        }
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T, TaskError>>> {
        if self.tasks.is_empty() {
            return Poll::Ready(None);
        }
        {
            let mut waiter = lock(&self.ready.waiter);
            if !waiter.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *waiter = Some(cx.waker().clone());
            }
        }
        let woken = std::mem::take(&mut *lock(&self.ready.keys));
        self.unpolled.extend(woken);
        while let Some(key) = self.unpolled.pop_front() {
            let Some(task) = self.tasks.get_mut(key) else { continue };
            let waker = Waker::from(Arc::new(EntryWaker { key, ready: self.ready.clone() }));
            if let Poll::Ready(result) = Pin::new(task).poll(&mut Context::from_waker(&waker)) {
                drop(self.tasks.remove(key));
                return Poll::Ready(Some(result));
            }
        }
        Poll::Pending
    }
}

impl<T> fmt::Debug for TaskSet<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskSet").field("len", &self.tasks.len()).finish()
    }
}
