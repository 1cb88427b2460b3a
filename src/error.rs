//! The error values of the runtime core.
//!
//! Each failure the caller can handle is a value with a `Display` message
//! that says what went wrong and what to do about it. Misuse that cannot be
//! reported as a value (a re-entrant `block_on`, a timer polled outside any
//! loop) panics with a message of the same kind instead.
//!
//! Prior art: `std::thread::Result` and tokio's `JoinError`
//! (<https://docs.rs/tokio/latest/tokio/task/struct.JoinError.html>): a panic or a cancellation as
//! a value, with `is_panic`/`is_cancelled`.

use std::fmt;
use std::io;

/// Why [`PoolBuilder::build`](crate::PoolBuilder::build) or
/// [`PoolBuilder::build_global`](crate::PoolBuilder::build_global) failed.
///
/// # Examples
///
/// ```
/// let err = knotwork::Pool::builder().threads(0).build().unwrap_err();
/// assert!(err.is_zero_threads());
/// assert!(err.to_string().contains("at least one thread"));
/// ```
#[derive(Debug)]
pub struct BuildError {
    kind: BuildErrorKind,
}

#[derive(Debug)]
enum BuildErrorKind {
    ZeroThreads,
    InvalidThreadName(String),
    GlobalAlreadyInitialized,
    Spawn(io::Error),
}

impl BuildError {
    pub(crate) fn zero_threads() -> Self {
        BuildError { kind: BuildErrorKind::ZeroThreads }
    }

    pub(crate) fn invalid_thread_name(name: String) -> Self {
        BuildError { kind: BuildErrorKind::InvalidThreadName(name) }
    }

    pub(crate) fn global_already_initialized() -> Self {
        BuildError { kind: BuildErrorKind::GlobalAlreadyInitialized }
    }

    pub(crate) fn spawn(err: io::Error) -> Self {
        BuildError { kind: BuildErrorKind::Spawn(err) }
    }

    /// The builder was asked for a pool of zero threads.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = knotwork::Pool::builder().threads(0).build().unwrap_err();
    /// assert!(err.is_zero_threads());
    /// assert!(!err.is_invalid_thread_name());
    /// ```
    pub fn is_zero_threads(&self) -> bool {
        matches!(self.kind, BuildErrorKind::ZeroThreads)
    }

    /// `build_global` was called after the global pool already existed
    /// (built by an earlier `build_global` or lazily by [`Pool::global`](crate::Pool::global)).
    ///
    /// # Examples
    ///
    /// ```
    /// let _ = knotwork::Pool::global(); // builds the global pool lazily
    /// let err = knotwork::Pool::builder().threads(2).build_global().unwrap_err();
    /// assert!(err.is_global_already_initialized());
    /// ```
    pub fn is_global_already_initialized(&self) -> bool {
        matches!(self.kind, BuildErrorKind::GlobalAlreadyInitialized)
    }

    /// The thread-name prefix contained a NUL byte.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = knotwork::Pool::builder().thread_name("io\0worker").build().unwrap_err();
    /// assert!(err.is_invalid_thread_name());
    /// assert!(err.to_string().contains("NUL byte"));
    /// ```
    pub fn is_invalid_thread_name(&self) -> bool {
        matches!(self.kind, BuildErrorKind::InvalidThreadName(_))
    }

    /// The operating system refused to start a worker thread; this is its error.
    ///
    /// # Examples
    ///
    /// ```
    /// // A 1 PiB stack does not fit in the address space: no thread can start.
    /// let err = knotwork::Pool::builder().threads(1).stack_size(1 << 50).build().unwrap_err();
    /// let os = err.spawn_error().expect("the OS refused the thread");
    /// assert!(os.raw_os_error().is_some());
    /// // Other build errors carry no I/O error.
    /// assert!(knotwork::Pool::builder().threads(0).build().unwrap_err().spawn_error().is_none());
    /// ```
    pub fn spawn_error(&self) -> Option<&io::Error> {
        match &self.kind {
            BuildErrorKind::Spawn(e) => Some(e),
            _ => None,
        }
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            BuildErrorKind::ZeroThreads => f.write_str(
                "a knotwork pool needs at least one thread: call .threads(n) with n >= 1, \
                 or leave it unset to use the available parallelism",
            ),
            BuildErrorKind::InvalidThreadName(name) => write!(
                f,
                "the thread-name prefix {name:?} contains a NUL byte, which thread names cannot hold"
            ),
            BuildErrorKind::GlobalAlreadyInitialized => f.write_str(
                "the global knotwork pool already exists: call build_global() once, \
                 before anything uses Pool::global() or a free function such as knotwork::scope",
            ),
            BuildErrorKind::Spawn(e) => write!(f, "could not start a knotwork worker thread: {e}"),
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            BuildErrorKind::Spawn(e) => Some(e),
            _ => None,
        }
    }
}

/// Work was refused because its pool is shut down, or `shutdown` was called
/// where it would deadlock.
///
/// # Examples
///
/// ```
/// let pool = knotwork::Pool::builder().threads(1).build().unwrap();
/// pool.shutdown().unwrap();
/// let err = pool.spawn(|| ()).unwrap_err();
/// assert!(err.is_shut_down());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShutdownError {
    kind: ShutdownErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum ShutdownErrorKind {
    ShutDown,
    CalledFromWorker,
    CalledFromAwaitedWork,
}

impl ShutdownError {
    pub(crate) fn shut_down() -> Self {
        ShutdownError { kind: ShutdownErrorKind::ShutDown }
    }

    pub(crate) fn called_from_worker() -> Self {
        ShutdownError { kind: ShutdownErrorKind::CalledFromWorker }
    }

    pub(crate) fn called_from_awaited_work() -> Self {
        ShutdownError { kind: ShutdownErrorKind::CalledFromAwaitedWork }
    }

    /// The pool no longer accepts new top-level work.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = knotwork::Pool::builder().threads(1).build()?;
    /// pool.shutdown()?;
    /// let err = pool.run(|| 1).unwrap_err();
    /// assert!(err.is_shut_down());
    /// assert!(!err.is_called_from_worker());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_shut_down(&self) -> bool {
        self.kind == ShutdownErrorKind::ShutDown
    }

    /// [`Pool::shutdown`](crate::Pool::shutdown) was called on one of the
    /// pool's own worker threads, which would have to join itself — or from
    /// work that one of them waits for (a job that a worker of this pool
    /// handed to another pool with `run`, `join` or `scope`), which would
    /// wait for that worker.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = knotwork::Pool::builder().threads(1).build()?;
    /// let b = knotwork::Pool::builder().threads(1).build()?;
    /// // A's worker waits in `b.run` for the job that asks A to shut down.
    /// let err = a.run(|| b.run(|| a.shutdown()).unwrap())?.unwrap_err();
    /// assert!(err.is_called_from_worker());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_called_from_worker(&self) -> bool {
        matches!(self.kind, ShutdownErrorKind::CalledFromWorker | ShutdownErrorKind::CalledFromAwaitedWork)
    }
}

impl fmt::Display for ShutdownError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ShutdownErrorKind::ShutDown => f.write_str(
                "the knotwork pool is shut down and accepts no new top-level work; \
                 submit to another pool or build a new one",
            ),
            ShutdownErrorKind::CalledFromWorker => f.write_str(
                "Pool::shutdown was called from one of that pool's own worker threads, \
                 which would wait for itself to exit; call it from a thread outside the pool",
            ),
            ShutdownErrorKind::CalledFromAwaitedWork => f.write_str(
                "Pool::shutdown was called from work that one of that pool's own workers is waiting for \
                 (it handed the work to another pool with run, join or scope), so the pool could never \
                 drain; call it from a thread outside the pool once that work has returned",
            ),
        }
    }
}

impl std::error::Error for ShutdownError {}

/// Why a task produced no value: it panicked, or it was cancelled before
/// it finished.
///
/// Every handle that waits for one task's result gives it:
///
/// * a scope child's [`Task`](crate::Task), from [`Task::join`](crate::Task::join)
///   or `.await`, and a [`TaskSet`](crate::TaskSet) of them, from
///   [`join_next`](crate::TaskSet::join_next) or
///   [`next_finished`](crate::TaskSet::next_finished);
/// * a [`LocalTask`](crate::LocalTask) from [`spawn_local`](crate::spawn_local),
///   when awaited;
/// * the start handshake: [`StartError::Failed`](crate::StartError::Failed),
///   when a child spawned with [`Scope::start`](crate::Scope::start) or
///   [`Scope::start_blocking`](crate::Scope::start_blocking) panicked or was
///   cancelled before it called [`Ready::started`](crate::Ready::started);
/// * [`Limiter::acquire_blocking`](crate::Limiter::acquire_blocking), only as
///   a cancellation: the task waiting for a permit, or a scope it is in, was
///   cancelled (or its deadline passed).
///
/// [`is_panic`](Self::is_panic) says the task panicked (or its future's drop
/// did); [`into_panic`](Self::into_panic) and
/// [`try_into_panic`](Self::try_into_panic) give the original payload, to
/// inspect or to re-raise with `std::panic::resume_unwind`. A child's panic
/// observed through its handle this way is the caller's: the scope does not
/// re-raise it. [`is_cancelled`](Self::is_cancelled) says the task was
/// cancelled — by [`Task::cancel`](crate::Task::cancel) or
/// [`LocalTask::cancel`](crate::LocalTask::cancel), by its scope's
/// cancellation or deadline, or by its policy — before it produced a value.
/// An `Err` returned by a child spawned with
/// [`exec_try`](crate::Scope::exec_try) is not a `TaskError`: it is the
/// child's value, `Ok(Err(e))`.
///
/// Pool calls that wait for a closure ([`Pool::run`](crate::Pool::run),
/// [`Pool::join`](crate::Pool::join), [`scope`](crate::scope)) never give
/// one: a panic there is resumed in the caller, and their error, if any, is
/// a [`ShutdownError`].
///
/// # Examples
///
/// ```
/// let err = knotwork::block_on(async {
///     knotwork::spawn_local(async { panic!("boom") }).await.unwrap_err()
/// });
/// assert!(err.is_panic());
/// assert_eq!(*err.into_panic().downcast::<&str>().unwrap(), "boom");
/// ```
pub struct TaskError {
    repr: TaskErrorRepr,
}

enum TaskErrorRepr {
    Cancelled,
    Panicked(Box<dyn std::any::Any + Send + 'static>),
}

impl TaskError {
    pub(crate) fn cancelled() -> Self {
        TaskError { repr: TaskErrorRepr::Cancelled }
    }

    pub(crate) fn panicked(payload: Box<dyn std::any::Any + Send + 'static>) -> Self {
        TaskError { repr: TaskErrorRepr::Panicked(payload) }
    }

    /// The task panicked; [`into_panic`](Self::into_panic) gives the payload.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = knotwork::scope(|s| s.exec_blocking(|| panic!("boom")).join().unwrap_err());
    /// assert!(err.is_panic());
    /// assert!(!err.is_cancelled());
    /// assert_eq!(err.to_string(), "the task panicked: boom");
    /// ```
    pub fn is_panic(&self) -> bool {
        matches!(self.repr, TaskErrorRepr::Panicked(_))
    }

    /// The task was cancelled before it finished.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = knotwork::scope(|s| {
    ///     let t = s.exec(std::future::pending::<()>());
    ///     s.cancel(); // cancels every child of the scope
    ///     t.join().unwrap_err()
    /// });
    /// assert!(err.is_cancelled());
    /// assert!(!err.is_panic());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        matches!(self.repr, TaskErrorRepr::Cancelled)
    }

    /// The original panic payload, for `std::panic::resume_unwind`.
    ///
    /// # Panics
    ///
    /// If the task was cancelled rather than panicked; check
    /// [`is_panic`](Self::is_panic) or use [`try_into_panic`](Self::try_into_panic).
    ///
    /// # Examples
    ///
    /// ```
    /// let err = knotwork::scope(|s| s.exec(async { std::panic::panic_any(42_u32) }).join().unwrap_err());
    /// let payload = err.into_panic();
    /// assert_eq!(payload.downcast_ref::<u32>(), Some(&42));
    /// ```
    #[track_caller]
    pub fn into_panic(self) -> Box<dyn std::any::Any + Send + 'static> {
        match self.try_into_panic() {
            Ok(payload) => payload,
            Err(_) => panic!(
                "TaskError::into_panic was called on a cancelled task, which has no panic payload; \
                 check is_panic() first, or use try_into_panic()"
            ),
        }
    }

    /// The panic payload, or the error back if the task was cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = knotwork::scope(|s| {
    ///     let t = s.exec(std::future::pending::<()>());
    ///     t.cancel();
    ///     t.join().unwrap_err()
    /// });
    /// let err = err.try_into_panic().unwrap_err(); // no payload: the error comes back
    /// assert!(err.is_cancelled());
    /// ```
    pub fn try_into_panic(self) -> Result<Box<dyn std::any::Any + Send + 'static>, TaskError> {
        match self.repr {
            TaskErrorRepr::Panicked(p) => Ok(p),
            TaskErrorRepr::Cancelled => Err(self),
        }
    }
}

/// The panic message, when the payload is a string.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> Option<&str> {
    payload.downcast_ref::<&str>().copied().or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}

impl fmt::Debug for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            TaskErrorRepr::Cancelled => f.write_str("TaskError::Cancelled"),
            TaskErrorRepr::Panicked(p) => f
                .debug_tuple("TaskError::Panicked")
                .field(&panic_message(&**p).unwrap_or("<non-string payload>"))
                .finish(),
        }
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            TaskErrorRepr::Cancelled => f.write_str("the task was cancelled before it finished"),
            TaskErrorRepr::Panicked(p) => match panic_message(&**p) {
                Some(msg) => write!(f, "the task panicked: {msg}"),
                None => f.write_str("the task panicked with a non-string payload"),
            },
        }
    }
}

impl std::error::Error for TaskError {}
