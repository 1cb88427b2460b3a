//! [`Trace`]: what one recording holds, the input of every view and of the
//! audit.
//!
//! Prior art: Perfetto's trace (<https://perfetto.dev>): a flat, ordered event list that every view
//! reads.

use crate::hooks::{Event, ThreadInfo, ThreadIx};

/// What [`record`](crate::trace::record) captured: every event of the scopes
/// opened inside it, their children, and the loops they created.
///
/// Render it with [`tree`](Trace::tree), [`tree_stable`](Trace::tree_stable),
/// [`chrome_json`](Trace::chrome_json) and [`svg`](Trace::svg); check it
/// with [`audit`](Trace::audit).
///
/// # Examples
///
/// ```
/// let (sum, trace) = knotwork::trace::record(|| {
///     knotwork::scope(|s| {
///         let a = s.exec_blocking(|| 1);
///         let b = s.exec(async { 2 });
///         a.join().unwrap() + b.join().unwrap()
///     })
/// });
/// assert_eq!(sum, 3);
/// assert!(trace.audit().passed());
/// assert!(trace.tree_stable().starts_with("trace: 1 scopes, 2 children"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trace {
    pub(crate) threads: Vec<ThreadInfo>,
    pub(crate) events: Vec<Event>,
}

impl Trace {
    /// A trace built by hand, for tests and teaching: `threads[i]` describes
    /// [`ThreadIx`]`(i)`; `events` are in recording order. Nothing is checked
    /// here — that is what [`audit`](Trace::audit) is for.
    ///
    /// # Examples
    ///
    /// ```
    /// use knotwork::trace::*;
    /// let loc = SourceLoc { file: "lesson.rs", line: 3, column: 5 };
    /// let broken = Trace::from_parts(
    ///     vec![ThreadInfo::caller("main")],
    ///     vec![
    ///         Event::new(0, 0, EventKind::ScopeOpened { scope: ScopeId(1), parent: None, location: loc, form: ScopeForm::Sync }),
    ///         Event::new(1, 0, EventKind::ScopeClosed { scope: ScopeId(1) }),
    ///         // A child spawned into a scope that had already closed.
    ///         Event::new(2, 0, EventKind::Spawned {
    ///             task: TaskId(1), scope: ScopeId(1), kind: ChildKind::ExecBlocking, location: loc,
    ///             queue: Queue::Injector, bindings: Bindings::default(),
    ///         }),
    ///     ],
    /// );
    /// assert!(!broken.audit().passed());
    /// ```
    pub fn from_parts(threads: Vec<ThreadInfo>, events: Vec<Event>) -> Trace {
        Trace { threads, events }
    }

    /// The events, in recording order.
    ///
    /// # Examples
    ///
    /// ```
    /// use knotwork::trace::EventKind;
    /// let ((), trace) = knotwork::trace::record(|| {
    ///     knotwork::scope(|s| {
    ///         for _ in 0..3 {
    ///             s.exec_blocking(|| ());
    ///         }
    ///     })
    /// });
    /// let spawns = trace.events().iter().filter(|e| matches!(e.kind, EventKind::Spawned { .. }));
    /// assert_eq!(spawns.count(), 3);
    /// assert!(matches!(trace.events().last().unwrap().kind, EventKind::ScopeClosed { .. }));
    /// ```
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// The threads, indexed by [`ThreadIx`].
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = knotwork::Pool::builder().threads(1).thread_name("calc").build()?;
    /// let ((), trace) = knotwork::trace::record(|| pool.scope(|s| { s.exec_blocking(|| ()); }));
    /// let names: Vec<&str> = trace.threads().iter().map(|t| t.name.as_str()).collect();
    /// assert_eq!(names.len(), 2); // the caller, then the worker that ran the child
    /// assert_eq!(names[1], "calc-0");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn threads(&self) -> &[ThreadInfo] {
        &self.threads
    }

    /// The thread `ix`, or a placeholder for an index the trace does not
    /// describe (a hand-built trace may be incomplete).
    pub(crate) fn thread_name(&self, ix: ThreadIx) -> String {
        self.threads.get(ix.0 as usize).map_or_else(|| format!("thread {}", ix.0), |t| t.name.clone())
    }
}
