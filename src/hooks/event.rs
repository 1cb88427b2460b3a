//! The vocabulary of a trace: ids and events, as plain data.
//!
//! These are the values the runtime's hooks hand to a recording (they live
//! in the hooks layer, below everything that emits them, and the `trace`
//! module re-exports them as its public vocabulary). A trace is a flat list
//! of [`Event`]s in the order they were recorded.
//! Every event is appended under the recorder's lock with a timestamp taken
//! under that lock, so the list order agrees with the timestamps, and two
//! events ordered by the program (a child's finish before its scope's close,
//! say) appear in that order. The audit relies on exactly this: it checks
//! *positions* in the list, not clock readings.
//!
//! All fields are public so that a test (or a teacher) can build a trace by
//! hand — including a broken one — with [`Trace::from_parts`](crate::trace::Trace::from_parts).
//!
//! Prior art: the Chrome Trace Event Format
//! (<https://docs.google.com/document/d/1CvAClvFfyA5R-PhYUmn5OOQtYMH4h6I0nSsKchNAySU>), which
//! `Trace::chrome_json` writes.

use std::fmt;

/// A child of a scope, numbered from 1 within one recording in spawn order.
///
/// # Examples
///
/// ```
/// use knotwork::trace::{EventKind, TaskId};
/// let ((), trace) = knotwork::trace::record(|| {
///     knotwork::scope(|s| {
///         s.exec_blocking(|| ());
///         s.exec(async {});
///     })
/// });
/// let spawned: Vec<TaskId> = trace.events().iter().filter_map(|e| match e.kind {
///     EventKind::Spawned { task, .. } => Some(task),
///     _ => None,
/// }).collect();
/// assert_eq!(spawned, [TaskId(1), TaskId(2)]);
/// assert_eq!(TaskId(2).to_string(), "task #2");
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskId(pub u32);

/// A scope, numbered from 1 within one recording in the order they opened.
///
/// # Examples
///
/// ```
/// use knotwork::trace::{EventKind, ScopeId, TaskId};
/// let ((), trace) = knotwork::trace::record(|| {
///     knotwork::scope(|s| {
///         s.exec_blocking(|| knotwork::scope(|_| ())); // a scope nested in child #1
///     })
/// });
/// let opened: Vec<(ScopeId, Option<TaskId>)> = trace.events().iter().filter_map(|e| match e.kind {
///     EventKind::ScopeOpened { scope, parent, .. } => Some((scope, parent)),
///     _ => None,
/// }).collect();
/// assert_eq!(opened, [(ScopeId(1), None), (ScopeId(2), Some(TaskId(1)))]);
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ScopeId(pub u32);

/// A thread, numbered from 0 within one recording in order of its first
/// event; an index into [`Trace::threads`](crate::trace::Trace::threads).
///
/// # Examples
///
/// ```
/// use knotwork::trace::ThreadIx;
/// let ((), trace) = knotwork::trace::record(|| knotwork::scope(|s| { s.exec_blocking(|| ()); }));
/// // The caller opened the scope: the first thread with an event.
/// assert_eq!(trace.events()[0].thread, ThreadIx(0));
/// assert_eq!(trace.threads()[0].worker, None);
/// // Every event's thread is described.
/// assert!(trace.events().iter().all(|e| (e.thread.0 as usize) < trace.threads().len()));
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ThreadIx(pub u32);

/// A loop, by the process-unique number of its [`LoopId`](crate::LoopId)
/// (not an index: loops are numbered across the whole process).
///
/// # Examples
///
/// ```
/// use knotwork::trace::{EventKind, LoopNumber};
/// let (id, trace) = knotwork::trace::record(|| {
///     knotwork::scope(|s| s.exec(async { knotwork::Loop::current().id() }).join().unwrap())
/// });
/// let polled_on: Vec<LoopNumber> = trace.events().iter().filter_map(|e| match e.kind {
///     EventKind::PollBegan { on_loop, .. } => Some(on_loop),
///     _ => None,
/// }).collect();
/// assert_eq!(polled_on, [LoopNumber(id.as_u64())]);
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LoopNumber(pub u64);

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "task #{}", self.0)
    }
}

impl fmt::Display for ScopeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "scope #{}", self.0)
    }
}

impl fmt::Display for ThreadIx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "thread {}", self.0)
    }
}

impl fmt::Display for LoopNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "loop #{}", self.0)
    }
}

/// Where in the source something was called (`scope`, `exec`, …).
///
/// # Examples
///
/// ```
/// use knotwork::trace::EventKind;
/// let (line, trace) = knotwork::trace::record(|| knotwork::scope(|_| line!()));
/// let EventKind::ScopeOpened { location, .. } = trace.events()[0].kind else { unreachable!() };
/// assert_eq!((location.file, location.line), (file!(), line));
/// assert!(location.to_string().starts_with(&format!("{}:{line}:", file!())));
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct SourceLoc {
    /// The file, as the compiler names it.
    pub file: &'static str,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
}

impl SourceLoc {
    pub(crate) fn from_std(loc: &'static std::panic::Location<'static>) -> SourceLoc {
        SourceLoc { file: loc.file(), line: loc.line(), column: loc.column() }
    }
}

impl fmt::Display for SourceLoc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// How a scope was opened.
///
/// # Examples
///
/// ```
/// use knotwork::trace::{EventKind, ScopeForm};
/// let ((), sync) = knotwork::trace::record(|| knotwork::scope(|_| ()));
/// assert!(matches!(sync.events()[0].kind, EventKind::ScopeOpened { form: ScopeForm::Sync, .. }));
/// let ((), r#async) = knotwork::block_on(knotwork::trace::record_async(|| knotwork::scope_async(async |_| ())));
/// assert!(matches!(r#async.events()[0].kind, EventKind::ScopeOpened { form: ScopeForm::Async, .. }));
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum ScopeForm {
    /// `scope` / `Pool::scope` / `Pool::try_scope`: the caller blocks.
    Sync,
    /// `scope_async` / `Pool::scope_async`: the caller awaits.
    Async,
}

/// What a child is.
///
/// # Examples
///
/// ```
/// use knotwork::trace::{ChildKind, EventKind};
/// let ((), trace) = knotwork::trace::record(|| {
///     knotwork::scope(|s| {
///         s.exec_blocking(|| ());
///         s.exec(async {});
///     })
/// });
/// let kinds: Vec<ChildKind> = trace.events().iter().filter_map(|e| match e.kind {
///     EventKind::Spawned { kind, .. } => Some(kind),
///     _ => None,
/// }).collect();
/// assert_eq!(kinds, [ChildKind::ExecBlocking, ChildKind::Exec]);
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum ChildKind {
    /// [`Scope::exec`](crate::Scope::exec): a future, polled on one worker's loop.
    Exec,
    /// [`Scope::exec_blocking`](crate::Scope::exec_blocking): a closure run on a worker.
    ExecBlocking,
}

impl ChildKind {
    /// The API name: `exec` or `exec_blocking`.
    ///
    /// # Examples
    ///
    /// ```
    /// use knotwork::trace::EventKind;
    /// let ((), trace) = knotwork::trace::record(|| knotwork::scope(|s| { s.exec_blocking(|| ()); }));
    /// let kind = trace.events().iter().find_map(|e| match e.kind {
    ///     EventKind::Spawned { kind, .. } => Some(kind),
    ///     _ => None,
    /// });
    /// assert_eq!(kind.unwrap().name(), "exec_blocking");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            ChildKind::Exec => "exec",
            ChildKind::ExecBlocking => "exec_blocking",
        }
    }

    /// Whether the child is a future polled on a loop (`exec`).
    ///
    /// # Examples
    ///
    /// ```
    /// use knotwork::trace::EventKind;
    /// let ((), trace) = knotwork::trace::record(|| {
    ///     knotwork::scope(|s| {
    ///         s.exec_blocking(|| ());
    ///         s.exec(async {});
    ///     })
    /// });
    /// let mut kinds = Vec::new(); // task #n is kinds[n - 1]
    /// for e in trace.events() {
    ///     match e.kind {
    ///         EventKind::Spawned { kind, .. } => kinds.push(kind),
    ///         // Exactly the async children start on a loop.
    ///         EventKind::Started { task, on_loop, .. } => {
    ///             assert_eq!(on_loop.is_some(), kinds[task.0 as usize - 1].is_async())
    ///         }
    ///         _ => {}
    ///     }
    /// }
    /// assert_eq!(kinds.iter().filter(|k| k.is_async()).count(), 1);
    /// ```
    pub fn is_async(self) -> bool {
        self == ChildKind::Exec
    }
}

/// How a child ended.
///
/// # Examples
///
/// ```
/// use knotwork::trace::{EventKind, Outcome, TaskId};
/// let (_, trace) = knotwork::trace::record(|| {
///     knotwork::scope_with(knotwork::Supervise, |s| {
///         s.exec_blocking(|| ());
///         s.exec_blocking(|| panic!("boom"));
///         s.exec_blocking_try(|| Err::<(), _>("bad"));
///         s.exec(std::future::pending::<()>()).cancel();
///     })
/// });
/// let mut ends: Vec<(TaskId, Outcome)> = trace.events().iter().filter_map(|e| match e.kind {
///     EventKind::Finished { task, outcome } => Some((task, outcome)),
///     _ => None,
/// }).collect();
/// ends.sort_by_key(|&(task, _)| task); // children finish in any order
/// let outcomes: Vec<Outcome> = ends.into_iter().map(|(_, o)| o).collect();
/// assert_eq!(outcomes, [Outcome::Ok, Outcome::Panicked, Outcome::Failed, Outcome::Cancelled]);
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// It returned a value.
    Ok,
    /// It panicked (or its drop did).
    Panicked,
    /// It returned an error (a child spawned with `exec_try` or
    /// `exec_blocking_try`).
    Failed,
    /// It was cancelled: dropped before it finished, or never started.
    Cancelled,
}

impl Outcome {
    /// `ok`, `panicked`, `failed` or `cancelled`.
    ///
    /// # Examples
    ///
    /// ```
    /// use knotwork::trace::EventKind;
    /// let ((), trace) = knotwork::trace::record(|| knotwork::scope(|s| { s.exec(async {}); }));
    /// let outcome = trace.events().iter().find_map(|e| match e.kind {
    ///     EventKind::Finished { outcome, .. } => Some(outcome),
    ///     _ => None,
    /// });
    /// assert_eq!(outcome.unwrap().name(), "ok");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Panicked => "panicked",
            Outcome::Failed => "failed",
            Outcome::Cancelled => "cancelled",
        }
    }
}

/// Where a child's job was queued when it was spawned.
///
/// # Examples
///
/// ```
/// use knotwork::trace::{EventKind, Queue};
/// let ((), trace) = knotwork::trace::record(|| {
///     knotwork::scope(|s| {
///         s.exec_blocking(|| knotwork::scope(|s| { s.exec_blocking(|| ()); }));
///     })
/// });
/// let queued: Vec<_> = trace.events().iter().filter_map(|e| match e.kind {
///     EventKind::Spawned { queue, .. } => Some((e.thread, queue)),
///     _ => None,
/// }).collect();
/// assert_eq!(queued[0].1, Queue::Injector); // spawned by the caller, outside the pool
/// let (worker, queue) = queued[1];
/// assert_eq!(queue, Queue::Deque(worker)); // spawned on a worker: its own deque
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Queue {
    /// The deque of the worker that spawned it (that thread).
    Deque(ThreadIx),
    /// The pool's injector (the spawner was not one of the pool's workers).
    Injector,
}

/// How a context slot's binding crosses into the work forked under it
/// (see [`Slot::with_inheritance`](crate::Slot::with_inheritance)).
///
/// # Examples
///
/// ```
/// use knotwork::{Inheritance, Slot};
/// static HINT: Slot<u32> = Slot::with_inheritance(Inheritance::AsyncOnly);
/// let seen = HINT.bind(1, || {
///     knotwork::scope(|s| {
///         let a = s.exec(async { HINT.get() });
///         let b = s.exec_blocking(|| HINT.get());
///         (a.join().unwrap(), b.join().unwrap())
///     })
/// });
/// assert_eq!(seen, (Some(1), None));
/// assert_eq!(Inheritance::default(), Inheritance::Always);
/// ```
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum Inheritance {
    /// Every child inherits it: `exec`, `exec_blocking`, `spawn_local`,
    /// and a [`Context`](crate::Context)'s `run` and `wrap` (the default,
    /// like Python's contextvars and Java's `ScopedValue`).
    #[default]
    Always,
    /// Only async work inherits it: `exec` children, `spawn_local` tasks
    /// and [`Context::wrap`](crate::Context::wrap); never `exec_blocking`
    /// children or [`Context::run`](crate::Context::run).
    AsyncOnly,
    /// Nothing inherits it: it is seen only by the code that bound it (a
    /// task-local, such as a live transaction's callback queue).
    Never,
}

impl Inheritance {
    /// Whether a binding with this policy crosses into a child of `kind`.
    ///
    /// # Examples
    ///
    /// ```
    /// use knotwork::Inheritance;
    /// use knotwork::trace::ChildKind;
    /// assert!(Inheritance::AsyncOnly.crosses_into(ChildKind::Exec));
    /// assert!(!Inheritance::AsyncOnly.crosses_into(ChildKind::ExecBlocking));
    /// assert!(!Inheritance::Never.crosses_into(ChildKind::Exec));
    /// ```
    pub fn crosses_into(self, kind: ChildKind) -> bool {
        match self {
            Inheritance::Always => true,
            Inheritance::AsyncOnly => kind.is_async(),
            Inheritance::Never => false,
        }
    }

    /// `always`, `async-only` or `never`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(knotwork::Inheritance::Never.name(), "never");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Inheritance::Always => "always",
            Inheritance::AsyncOnly => "async-only",
            Inheritance::Never => "never",
        }
    }
}

/// One bound slot in a [`Bindings`]: which slot, its policy, and its
/// provenance — the `bind` that gave it its value.
///
/// # Examples
///
/// ```
/// use knotwork::trace::EventKind;
/// static USER: knotwork::Slot<&'static str> = knotwork::Slot::new();
/// let ((), trace) = knotwork::trace::record(|| {
///     USER.bind("ada", || knotwork::scope(|s| { s.exec_blocking(|| ()); }))
/// });
/// let bindings = trace.events().iter().find_map(|e| match &e.kind {
///     EventKind::Spawned { bindings, .. } => Some(bindings),
///     _ => None,
/// });
/// let bound = &bindings.unwrap().slots[0];
/// assert_eq!(bound.inheritance, knotwork::Inheritance::Always);
/// assert_eq!(bound.bound_at.file, file!());
/// assert_eq!(bound.bound_by, None); // bound by the caller of `record`, in no child
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct BoundSlot {
    /// The slot's number (process-wide, in order of first use).
    pub slot: u32,
    /// How the slot crosses into children.
    pub inheritance: Inheritance,
    /// The `bind` / `bind_async` call that made this binding.
    pub bound_at: SourceLoc,
    /// The recorded child that made it, if it was made inside one (`None`:
    /// outside every recorded child, such as the caller of `record`).
    pub bound_by: Option<TaskId>,
}

/// The context-slot bindings current at some point: which binding table
/// (by identity) and which slots it binds, each with its provenance.
///
/// Two equal `Bindings` name the same table, so they bind the same values:
/// tables are immutable and a rebinding makes a new one.
///
/// # Examples
///
/// ```
/// use knotwork::trace::{Bindings, BoundSlot, SourceLoc, TaskId};
/// use knotwork::Inheritance;
/// let at = SourceLoc { file: "src/main.rs", line: 3, column: 5 };
/// let b = Bindings {
///     table: 0x10,
///     slots: vec![BoundSlot { slot: 0, inheritance: Inheritance::Always, bound_at: at, bound_by: Some(TaskId(2)) }],
/// };
/// assert_eq!(b.to_string(), "{slot 0 (bound at src/main.rs:3:5 by task #2)} (table 0x10)");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Bindings {
    /// The table's identity; 0 when nothing is bound.
    pub table: u64,
    /// The bound slots, by slot number, ascending.
    pub slots: Vec<BoundSlot>,
}

impl fmt::Display for Bindings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.slots.is_empty() {
            return f.write_str("{}");
        }
        f.write_str("{")?;
        for (i, s) in self.slots.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "slot {}", s.slot)?;
            if s.inheritance != Inheritance::Always {
                write!(f, " [{}]", s.inheritance.name())?;
            }
            write!(f, " (bound at {}", s.bound_at)?;
            match s.bound_by {
                Some(t) => write!(f, " by {t})")?,
                None => f.write_str(")")?,
            }
        }
        write!(f, "}} (table {:#x})", self.table)
    }
}

/// What happened.
///
/// # Examples
///
/// ```
/// use knotwork::trace::{EventKind, Outcome};
/// let ((), trace) = knotwork::trace::record(|| knotwork::scope(|s| { s.exec_blocking(|| ()); }));
/// let kinds: Vec<&EventKind> = trace.events().iter().map(|e| &e.kind).collect();
/// assert!(matches!(kinds[0], EventKind::ScopeOpened { .. }));
/// assert!(matches!(kinds[1], EventKind::Spawned { .. }));
/// assert!(kinds.iter().any(|k| matches!(k, EventKind::Finished { outcome: Outcome::Ok, .. })));
/// assert!(matches!(kinds.last().unwrap(), EventKind::ScopeClosed { .. }));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// A scope opened on this event's thread.
    ScopeOpened {
        /// The scope.
        scope: ScopeId,
        /// The child in which it was opened; `None` at the top of the recording.
        parent: Option<TaskId>,
        /// The `scope` / `scope_async` call.
        location: SourceLoc,
        /// Sync or async.
        form: ScopeForm,
    },
    /// Every child of the scope had finished,
    /// and the scope closed. Nothing of the scope runs after this.
    ScopeClosed {
        /// The scope.
        scope: ScopeId,
    },
    /// A child was spawned on this event's thread.
    Spawned {
        /// The child.
        task: TaskId,
        /// Its scope.
        scope: ScopeId,
        /// `exec` or `exec_blocking`.
        kind: ChildKind,
        /// The `exec` / `exec_blocking` call.
        location: SourceLoc,
        /// Where its job was queued.
        queue: Queue,
        /// The spawner's bindings at the spawn: what the child must see.
        bindings: Bindings,
    },
    /// A child's first poll began on this event's thread.
    Started {
        /// The child.
        task: TaskId,
        /// The worker's loop, for an async child (which is pinned to it).
        on_loop: Option<LoopNumber>,
        /// The bindings the child saw when it started.
        bindings: Bindings,
    },
    /// A child's job was taken by another thread than the one whose queue it
    /// was pushed to (derived at the start: the only way a job moves).
    Stolen {
        /// The child.
        task: TaskId,
        /// The queue it came from.
        from: Queue,
    },
    /// A poll of an async child began (on the loop of this event's thread).
    PollBegan {
        /// The child.
        task: TaskId,
        /// The loop polling it.
        on_loop: LoopNumber,
    },
    /// That poll returned (`ready`: the child's future completed).
    PollEnded {
        /// The child.
        task: TaskId,
        /// Whether the future returned `Ready`.
        ready: bool,
    },
    /// A child finished. Its scope's join may complete from now on.
    Finished {
        /// The child.
        task: TaskId,
        /// How.
        outcome: Outcome,
    },
    /// This event's thread created its loop.
    LoopCreated {
        /// The loop.
        on_loop: LoopNumber,
        /// The child whose code (or whose start) needed it, if any.
        by: Option<TaskId>,
    },
    /// This event's thread tore its loop down.
    LoopTornDown {
        /// The loop.
        on_loop: LoopNumber,
    },
    /// A shield ([`shield`](crate::shield)) began its first poll (or call)
    /// on this event's thread: cancellation of the code inside waits.
    ShieldBegan {
        /// The child it runs in; `None` outside every recorded child.
        task: Option<TaskId>,
        /// The `shield` / `shield_for` / `shield_blocking` call.
        location: SourceLoc,
    },
    /// That shield ended.
    ShieldEnded {
        /// The child it ran in.
        task: Option<TaskId>,
        /// A cancellation arrived while it ran: it takes effect now.
        deferred: bool,
        /// Its deadline passed first: the shielded work was abandoned.
        deadline_passed: bool,
    },
}

/// One recorded event.
///
/// # Examples
///
/// ```
/// let ((), trace) = knotwork::trace::record(|| knotwork::scope(|s| { s.exec(async {}); }));
/// // Recording order agrees with the timestamps.
/// assert!(trace.events().windows(2).all(|w| w[0].at_ns <= w[1].at_ns));
/// // The caller opened the scope; the child ran on a worker.
/// let first = &trace.events()[0];
/// assert!(trace.threads()[first.thread.0 as usize].worker.is_none());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// Nanoseconds since the recording started.
    pub at_ns: u64,
    /// The thread it happened on.
    pub thread: ThreadIx,
    /// What happened.
    pub kind: EventKind,
}

impl Event {
    /// An event at `at_ns` on `thread` (for traces built by hand).
    ///
    /// # Examples
    ///
    /// ```
    /// use knotwork::trace::{Event, EventKind, ScopeId, ThreadIx};
    /// let e = Event::new(5, 1, EventKind::ScopeClosed { scope: ScopeId(1) });
    /// assert_eq!((e.at_ns, e.thread), (5, ThreadIx(1)));
    /// assert_eq!(e.kind, EventKind::ScopeClosed { scope: ScopeId(1) });
    /// ```
    pub fn new(at_ns: u64, thread: u32, kind: EventKind) -> Event {
        Event { at_ns, thread: ThreadIx(thread), kind }
    }
}

/// A thread that took part in a recording.
///
/// # Examples
///
/// ```
/// let pool = knotwork::Pool::builder().threads(1).thread_name("render").build()?;
/// let ((), trace) = knotwork::trace::record(|| pool.scope(|s| { s.exec_blocking(|| ()); }));
/// let worker = trace.threads().iter().find(|t| t.worker.is_some()).unwrap();
/// assert_eq!(worker.name, "render-0");
/// assert_eq!(worker.worker, Some((1, 0))); // the recording's pool #1, worker 0
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThreadInfo {
    /// Its name, or `thread <n>` if it has none.
    pub name: String,
    /// For a pool worker: the pool (numbered from 1 within the recording)
    /// and the worker's index in it.
    pub worker: Option<(u32, usize)>,
}

impl ThreadInfo {
    /// A thread that is not a pool worker (the caller of `record`, say).
    ///
    /// # Examples
    ///
    /// ```
    /// use knotwork::trace::ThreadInfo;
    /// let ((), trace) = knotwork::trace::record(|| knotwork::scope(|s| { s.exec_blocking(|| ()); }));
    /// let caller = &trace.threads()[0]; // the thread that called `record`
    /// assert_eq!(*caller, ThreadInfo::caller(&caller.name));
    /// assert_eq!(ThreadInfo::caller("main").worker, None);
    /// ```
    pub fn caller(name: &str) -> ThreadInfo {
        ThreadInfo { name: name.to_owned(), worker: None }
    }

    /// Worker `index` of pool `pool`.
    ///
    /// # Examples
    ///
    /// ```
    /// use knotwork::trace::ThreadInfo;
    /// let pool = knotwork::Pool::builder().threads(1).thread_name("io").build()?;
    /// let ((), trace) = knotwork::trace::record(|| pool.scope(|s| { s.exec_blocking(|| ()); }));
    /// assert!(trace.threads().contains(&ThreadInfo::worker("io-0", 1, 0)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn worker(name: &str, pool: u32, index: usize) -> ThreadInfo {
        ThreadInfo { name: name.to_owned(), worker: Some((pool, index)) }
    }
}
