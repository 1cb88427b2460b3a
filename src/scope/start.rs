//! The start handshake: spawn a child and wait until it says it is ready
//! ([`Scope::start`], [`Scope::start_blocking`]), while it goes on running
//! in the scope.
//!
//! # The protocol
//!
//! The child and the caller share a [`StartCell`]: one lock over a state
//! and the caller's waker.
//!
//! ```text
//!   Waiting ──started(v)──▶ Started(v) ──caller takes──▶ Taken
//!      │
//!      ├──child ends first (returns, panics, is cancelled, never starts)──▶ Ended
//!      └──caller stops waiting (its Starting dropped)──▶ Left
//! ```
//!
//! * `started(v)` stores `v` if the caller still waits, and wakes it — under
//!   cancellation too: a handshake never goes quietly undelivered while
//!   someone waits for it (the lesson of Trio #2895, where `started()` did
//!   nothing in a cancelled nursery and the caller waited forever).
//! * The child's end is signalled by a guard that its future (or closure)
//!   owns, so it fires however the child ends — also when it is dropped
//!   without ever being polled (a cancelled scope never starts it). The
//!   caller then awaits the child's [`Task`] for the reason: a panic, a
//!   cancellation, or a value returned without `started`.
//! * A caller that stops waiting cancels the child (as Trio's `start` does
//!   when its caller is cancelled), unless it had started.
//! * After `Started`, the caller drops the child's handle: the child is an
//!   ordinary child of the scope, whose failures are the scope's.
//!
//! Who waits for whom: the caller waits for the child; the child never
//! waits for the caller (`started` does not block). The blocking
//! [`Starting::wait`] drives this thread's loop and parks as a blocking
//! park (the pool brings in a spare), but never runs the child *on top of*
//! itself: a child that goes on serving after `started` would then never
//! let the caller resume. The loom models in `loom-tests/tests/start.rs`
//! check `started` racing a cancellation and a child's failure.
//!
//! Prior art: Trio's `nursery.start()` and `task_status.started()`
//! (<https://trio.readthedocs.io/en/stable/reference-core.html#trio.Nursery.start>), anyio's
//! `TaskGroup.start`.

use super::nursery::Scope;
use super::task::Task;
use crate::TaskError;
use crate::event_loop;
use crate::sync::{Arc, Mutex};
use std::fmt;
use std::future::Future;
use std::mem;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

enum State<V> {
    Waiting,
    Started(V),
    Taken,
    Ended,
    Left,
}

struct Inner<V> {
    state: State<V>,
    /// `started` has been called (a second call is a bug of the caller's).
    called: bool,
    waker: Option<Waker>,
}

/// What the child and its starter share.
struct StartCell<V> {
    inner: Mutex<Inner<V>>,
}

impl<V> StartCell<V> {
    fn new() -> Arc<Self> {
        Arc::new(StartCell { inner: Mutex::new(Inner { state: State::Waiting, called: false, waker: None }) })
    }

    /// Moves `Waiting` to `next` and wakes the caller; other states stay.
    fn settle(&self, next: State<V>) {
        let waker = {
            let mut inner = self.inner.lock();
            if !matches!(inner.state, State::Waiting) {
                return;
            }
            inner.state = next;
            inner.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// The child's side of the handshake: call [`started`](Self::started) once
/// it is ready.
///
/// # Examples
///
/// ```
/// let port = knotwork::block_on(knotwork::scope_async(async |s| {
///     let port = s.start(async |ready| {
///         ready.started(8080); // listening now
///         // ... goes on serving, in the scope ...
///     });
///     port.await.unwrap()
/// }));
/// assert_eq!(port, 8080);
/// ```
pub struct Ready<V> {
    cell: Arc<StartCell<V>>,
}

impl<V> Ready<V> {
    /// Tells the caller of `start` that the child is ready, handing it
    /// `value`; the caller's future resolves, and this child runs on.
    ///
    /// It is delivered whenever the caller still waits — also if the scope
    /// is being cancelled meanwhile (the caller then gets the value, and the
    /// scope's cancellation goes on). If the caller has stopped waiting
    /// (its [`Starting`] was dropped, which cancels this child), `value` is
    /// dropped here.
    ///
    /// # Panics
    ///
    /// If called a second time: a child starts once.
    ///
    /// # Examples
    ///
    /// ```
    /// let v = knotwork::scope(|s| s.start_blocking(|ready| ready.started("up")).wait());
    /// assert_eq!(v.unwrap(), "up");
    /// ```
    #[track_caller]
    pub fn started(&self, value: V) {
        let waker = {
            let mut inner = self.cell.inner.lock();
            if mem::replace(&mut inner.called, true) {
                drop(inner);
                panic!(
                    "knotwork: `Ready::started` was called twice; a child started by `start` signals once"
                );
            }
            match inner.state {
                State::Waiting => {
                    inner.state = State::Started(value);
                    inner.waker.take()
                }
                // The caller left (its wait was dropped), or the child
                // already ended (this `Ready` outlived it): nobody to tell.
                _ => None,
            }
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<V> fmt::Debug for Ready<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ready").field("started", &self.cell.inner.lock().called).finish()
    }
}

/// Owned by the child's future or closure: its drop says the child ended
/// (settles `Waiting` as `Ended`; a no-op after `started`).
struct EndGuard<V>(Arc<StartCell<V>>);

impl<V> Drop for EndGuard<V> {
    fn drop(&mut self) {
        self.0.settle(State::Ended);
    }
}

/// Why a child spawned with [`Scope::start`] never called `started`.
///
/// # Examples
///
/// ```
/// let err = knotwork::scope(|s| s.start_blocking(|_ready: knotwork::Ready<u8>| 7).wait()).unwrap_err();
/// assert!(matches!(err, knotwork::StartError::Returned(7)));
/// ```
pub enum StartError<T> {
    /// It panicked or was cancelled first (see [`TaskError`]); a panic
    /// observed here is not re-raised by the scope.
    Failed(TaskError),
    /// It returned this value without calling `started`.
    Returned(T),
}

impl<T> StartError<T> {
    /// Whether the child was cancelled before it started.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = knotwork::scope(|s| {
    ///     s.cancel();
    ///     s.start_blocking(|ready| ready.started(())).wait()
    /// })
    /// .unwrap_err();
    /// assert!(err.is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        matches!(self, StartError::Failed(e) if e.is_cancelled())
    }

    /// Whether the child panicked before it started.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = knotwork::scope(|s| s.start_blocking(|_: knotwork::Ready<()>| panic!("no")).wait());
    /// assert!(err.unwrap_err().is_panic());
    /// ```
    pub fn is_panic(&self) -> bool {
        matches!(self, StartError::Failed(e) if e.is_panic())
    }
}

impl<T> fmt::Debug for StartError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Failed(e) => f.debug_tuple("Failed").field(e).finish(),
            StartError::Returned(_) => f.debug_tuple("Returned").finish_non_exhaustive(),
        }
    }
}

impl<T> fmt::Display for StartError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Failed(e) => write!(f, "the started child ended before calling `started`: {e}"),
            StartError::Returned(_) => f.write_str(
                "the started child returned without calling `Ready::started`; call it once the child is ready",
            ),
        }
    }
}

impl<T> std::error::Error for StartError<T> {}

/// The caller's side of [`Scope::start`]: `.await` it (or
/// [`wait`](Self::wait) for it) to get the value the child passes to
/// `started`. Dropping it before the child has started cancels the child.
///
/// # Examples
///
/// ```
/// knotwork::scope(|s| {
///     let starting = s.start(async |ready| ready.started(1));
///     assert_eq!(starting.wait().unwrap(), 1);
/// });
/// ```
#[must_use = "dropping a `Starting` before the child has started cancels the child"]
pub struct Starting<'scope, V, T> {
    cell: Arc<StartCell<V>>,
    task: Option<Task<'scope, T>>,
}

impl<V, T> Starting<'_, V, T> {
    /// Blocks this thread until the child has started (or ended first).
    /// The thread's loop keeps running its tasks meanwhile, and on a pool
    /// worker the pool brings in a spare thread; the child itself always
    /// runs elsewhere or beside this wait, never on top of it.
    ///
    /// # Errors
    ///
    /// [`StartError`] if the child panicked, was cancelled or returned
    /// before calling `started`.
    ///
    /// # Panics
    ///
    /// If called inside an async task (use `.await` there).
    ///
    /// # Examples
    ///
    /// ```
    /// let addr = knotwork::scope(|s| {
    ///     let server = s.start_blocking(|ready| {
    ///         ready.started("127.0.0.1:9");
    ///         // ... serve until the scope is cancelled ...
    ///         while !knotwork::is_cancelled() {
    ///             std::thread::yield_now();
    ///         }
    ///     });
    ///     let addr = server.wait().unwrap();
    ///     s.cancel(); // the server stops; the scope joins it
    ///     addr
    /// });
    /// assert_eq!(addr, "127.0.0.1:9");
    /// ```
    #[track_caller]
    pub fn wait(self) -> Result<V, StartError<T>> {
        if event_loop::try_current().is_some_and(|l| l.is_polling()) {
            panic!(
                "knotwork::Starting::wait was called inside an async task: it would block the loop \
                 polling it; use `.await` there"
            );
        }
        event_loop::block_on_serving_loop(self)
    }
}

impl<V, T> Future for Starting<'_, V, T> {
    type Output = Result<V, StartError<T>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        {
            let mut inner = self.cell.inner.lock();
            match mem::replace(&mut inner.state, State::Taken) {
                State::Started(v) => {
                    drop(inner);
                    // An ordinary child from now on; its handle goes.
                    self.task = None;
                    return Poll::Ready(Ok(v));
                }
                State::Waiting => {
                    inner.state = State::Waiting;
                    if !inner.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                        inner.waker = Some(cx.waker().clone());
                    }
                    return Poll::Pending;
                }
                State::Ended => inner.state = State::Ended,
                State::Taken | State::Left => panic!("a `Starting` polled after it returned"),
            }
        }
        // Ended before `started`: the child's result says why.
        let task = self.task.as_mut().expect("the handle is kept until the child's end is known");
        match Pin::new(task).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(result) => {
                self.cell.inner.lock().state = State::Taken;
                self.task = None;
                Poll::Ready(Err(match result {
                    Ok(value) => StartError::Returned(value),
                    Err(e) => StartError::Failed(e),
                }))
            }
        }
    }
}

impl<V, T> Drop for Starting<'_, V, T> {
    fn drop(&mut self) {
        let Some(task) = self.task.take() else { return };
        let waiting = {
            let mut inner = self.cell.inner.lock();
            match inner.state {
                State::Waiting => {
                    inner.state = State::Left;
                    inner.waker = None;
                    true
                }
                _ => false,
            }
        };
        if waiting {
            // Nobody will hear that it started: it is cancelled, as under
            // Trio when `start`'s caller is cancelled.
            task.cancel();
        }
        // A child that started (and was not taken) or ended keeps its
        // failures for the scope, as any child whose handle is dropped.
    }
}

impl<V, T> fmt::Debug for Starting<'_, V, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.cell.inner.lock().state {
            State::Waiting => "waiting",
            State::Started(_) => "started",
            State::Taken => "taken",
            State::Ended => "ended",
            State::Left => "left",
        };
        f.debug_struct("Starting").field("state", &state).finish_non_exhaustive()
    }
}

impl<'scope> Scope<'scope, '_> {
    /// Spawns `f(ready)` as an async child and returns a future that
    /// resolves with the value the child passes to [`Ready::started`],
    /// while the child goes on running in the scope (Trio's
    /// `nursery.start`). [`Starting::wait`] is the blocking form.
    ///
    /// If the child ends before `started` — it panics, is cancelled (the
    /// scope's cancellation, before or after it began) or returns — the
    /// future resolves with that as a [`StartError`]. Dropping the future
    /// before `started` cancels the child.
    ///
    /// # Examples
    ///
    /// ```
    /// let got = knotwork::block_on(knotwork::scope_async(async |s| {
    ///     let (tx, rx) = async_channel::bounded(1);
    ///     let ready_at = s.start(async move |ready| {
    ///         ready.started("listening");
    ///         tx.send(42).await.unwrap(); // runs on, in the scope
    ///     });
    ///     let status = ready_at.await.unwrap();
    ///     (status, rx.recv().await.unwrap())
    /// }));
    /// assert_eq!(got, ("listening", 42));
    /// ```
    #[track_caller]
    pub fn start<V, F, Fut>(&self, f: F) -> Starting<'scope, V, Fut::Output>
    where
        V: Send + 'scope,
        F: FnOnce(Ready<V>) -> Fut,
        Fut: Future + Send + 'scope,
        Fut::Output: Send + 'scope,
    {
        let cell = StartCell::new();
        let guard = EndGuard(cell.clone());
        let fut = f(Ready { cell: cell.clone() });
        let task = self.exec(async move {
            let _guard = guard;
            fut.await
        });
        Starting { cell, task: Some(task) }
    }

    /// Like [`start`](Self::start), with a blocking child: `f(ready)` runs
    /// on a pool worker and calls `ready.started(value)` when it is ready.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// let warmed = AtomicBool::new(false);
    /// knotwork::scope(|s| {
    ///     let cache = s.start_blocking(|ready| {
    ///         warmed.store(true, Ordering::SeqCst);
    ///         ready.started(128);
    ///     });
    ///     assert_eq!(cache.wait().unwrap(), 128);
    ///     assert!(warmed.load(Ordering::SeqCst)); // what came before `started` is visible
    /// });
    /// ```
    #[track_caller]
    pub fn start_blocking<V, F, T>(&self, f: F) -> Starting<'scope, V, T>
    where
        V: Send + 'scope,
        F: FnOnce(Ready<V>) -> T + Send + 'scope,
        T: Send + 'scope,
    {
        let cell = StartCell::new();
        let guard = EndGuard(cell.clone());
        let ready = Ready { cell: cell.clone() };
        let task = self.exec_blocking(move || {
            let _guard = guard;
            f(ready)
        });
        Starting { cell, task: Some(task) }
    }
}
