//! See and audit the structure a program actually ran.
//!
//! [`record`] (or [`record_async`]) runs a closure and records, from every
//! thread involved, the fork/join structure it produced: scopes opened and
//! closed (with the source location of the `scope` call), children spawned,
//! started, polled, stolen and finished (with their kind, outcome and
//! worker), loops created and torn down, and the context bindings each child
//! saw. The result is a [`Trace`]: a flat list of timestamped [`Event`]s.
//!
//! A trace can be
//!
//! * **read** as an indented tree: [`Trace::tree`], or [`Trace::tree_stable`]
//!   without times, threads and ids, which is the same from run to run (for
//!   tests and docs);
//! * **opened in Perfetto** (or `chrome://tracing`): [`Trace::chrome_json`],
//!   one track per thread, scopes as enclosing slices, flow arrows from
//!   spawn to start and from finish to join;
//! * **looked at** as a self-contained SVG timeline: [`Trace::svg`], one lane
//!   per worker and one per calling thread, bars by kind and outcome, scope
//!   brackets, fork and join arrows, a legend and a time axis;
//! * **audited**: [`Trace::audit`] checks, from the record alone, that every
//!   child started after its spawn and finished before its scope closed,
//!   that every async child was polled on one loop only, that each thread had
//!   at most one loop, created before its first use and torn down once, and
//!   that every child saw exactly its parent's bindings at the spawn. A
//!   broken trace fails with a message naming the task, its scope and the
//!   rule.
//!
//! ```text
//!  record(f) ──▶ events (one lock, one clock) ──▶ Trace ─┬─ tree / tree_stable
//!                                                        ├─ chrome_json
//!                                                        ├─ svg
//!                                                        └─ audit ──▶ AuditReport
//! ```
//!
//! # Files
//!
//! * the vocabulary (ids, [`EventKind`]) is plain data defined by the hooks
//!   layer (`crate::hooks`), which also says who is recorded and what it
//!   costs when nothing records (one relaxed load on the spawn paths that
//!   have no scope to ask, none on a child's spawn); this module receives
//!   nothing else from the runtime;
//! * `recorder`: the storage, the hooks' sink while a recording runs;
//! * `recording`: [`Trace`], what a recording holds;
//! * `session`: [`record`] and [`record_async`];
//! * `model`: the trace folded into tasks and scopes, shared by the views;
//! * `tree`, `chrome`, `svg`: the three views;
//! * `audit`: the checks; `report`: the rules and the [`AuditReport`].
//!
//! # Examples
//!
//! ```
//! use knotwork::trace;
//!
//! let ((), t) = trace::record(|| {
//!     knotwork::scope(|s| {
//!         s.exec_blocking(|| ());
//!         s.exec(async {});
//!     })
//! });
//! let report = t.audit();
//! assert!(report.passed(), "{report}");
//! assert!(t.tree_stable().contains("exec_blocking"));
//! assert!(t.chrome_json().starts_with('{'));
//! assert!(t.svg().starts_with("<svg"));
//! ```
//!
//! Prior art: tokio-console (<https://github.com/tokio-rs/console>) and Perfetto
//! (<https://perfetto.dev>).

mod audit;
mod audit_context;
mod chrome;
mod model;
mod recorder;
mod recording;
mod report;
mod session;
mod svg;
mod tree;

pub use crate::hooks::{
    Bindings, BoundSlot, ChildKind, Event, EventKind, LoopNumber, Outcome, Queue, ScopeForm, ScopeId,
    SourceLoc, TaskId, ThreadInfo, ThreadIx,
};
pub use recording::Trace;

/// The old name of [`LoopNumber`], which is a loop's process-wide number,
/// not an index.
///
/// # Examples
///
/// ```
/// #[allow(deprecated)]
/// let n: knotwork::trace::LoopIx = knotwork::trace::LoopNumber(1);
/// assert_eq!(n.0, 1);
/// ```
#[deprecated(since = "0.1.0", note = "renamed to `LoopNumber`: it is a loop's number, not an index")]
pub type LoopIx = LoopNumber;
pub use report::{AuditReport, Rule, RuleResult, Violation};
pub use session::{record, record_async};
