//! F1–F7 (docs/guarantees.md): failures as values, completion policies,
//! and what a scope does with the failures nobody observed.
//!
//! What this file checks, guarantee by guarantee:
//!
//! * **F1, errors are failures.** `exec_try` / `exec_blocking_try` children
//!   fail by returning `Err`, exactly as by panicking; whoever joins (or
//!   awaits, or takes from a `TaskSet`) the `Task` gets the typed `Result`,
//!   and that failure is then observed: it is neither the scope's error nor
//!   reported anywhere else.
//! * **F2, policies.** [`FailFast`] cancels the rest at the first failure,
//!   [`Supervise`] cancels nothing, [`FirstSuccess`] cancels the rest at the
//!   first success (losers' failures are then not errors; with no success,
//!   every failure is the error); a custom [`Policy`] hears every fork
//!   before the child can complete and every completion with its outcome,
//!   and makes the scope's output. Blocking and async children, sync and
//!   async scopes, scopes nested in children.
//! * **F3, every failure collected.** `ScopeError::failures()` holds every
//!   unobserved failure sorted by spawn index, whatever order the children
//!   finished in, each with the line of its `exec…` call. A plain
//!   `scope`/`scope_async` re-raises the first child panic in spawn order
//!   with its own payload and hands the other failures to the pool's panic
//!   handler as a `ScopeError`; with only errors it panics with a
//!   `ScopeError` payload; a body panic wins and the children's failures go
//!   to the panic handler.
//! * **F4, the body is part of the nursery.** A failure that cancels the
//!   scope drops a suspended `scope_async` body (one sleeping for a minute
//!   does not hold the scope up), makes a sync body see `is_cancelled()`,
//!   and cancels the scopes opened inside that sync body (sync ones, and an
//!   async one driven by `block_on`).
//! * **F5, nothing lost on drop.** Dropping an unfinished `scope_async`
//!   future whose children failed raises them from the drop, or reports
//!   them to the panic handler when the thread is already unwinding.
//! * **F6, cleanup sees its context.** A child's spawn-time slot bindings
//!   are in place while its future is dropped (cancelled, never started, or
//!   finished), and `Slot::bind_async`'s binding while its inner future is.
//! * **F7, completion order.** A `TaskSet` gives results back in the order
//!   the children finished; `cancel_all` cancels what is left; `len`
//!   follows.
//!
//! Every test runs under the watchdog, on pools of 1, 2 or 4 threads; the
//! only time bounds are its generous ones (children that would sleep for
//! an hour, or bodies for a minute, must be cancelled long before it
//! fires). The failures these tests plant say "planted", and their panic
//! messages are kept out of the output.
mod common;

use common::{eventually, panic_text, pool, within};

use knotwork::trace::Outcome;
use knotwork::{
    ChildFailure, ChildInfo, FailFast, Failure, FirstSuccess, Policy, Pool, ScopeError, Slot, Supervise,
    TaskSet, Verdict,
};
use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier, Mutex, Once};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

/// Longer than any watchdog: a child waiting this long must be cancelled.
const AN_HOUR: Duration = Duration::from_secs(3600);
/// A body sleeping this long must be dropped, not waited for.
const A_MINUTE: Duration = Duration::from_secs(60);
/// The marker of every failure these tests plant on purpose.
const PLANTED: &str = "planted";

/// An error a try child returns on purpose.
#[derive(Debug)]
struct Planted(&'static str);

impl std::fmt::Display for Planted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{PLANTED}: {}", self.0)
    }
}

impl std::error::Error for Planted {}

/// Whether a panic payload is one of ours: a "planted" message, or a
/// `ScopeError` (raised by a plain scope) made only of planted failures.
fn is_planted(payload: &(dyn Any + Send)) -> bool {
    match payload.downcast_ref::<ScopeError>() {
        Some(err) => err.failures().iter().all(|f| f.to_string().contains(PLANTED)),
        None => panic_text(payload).starts_with(PLANTED),
    }
}

/// The planted panics are expected: keep their messages out of the test
/// output (any other panic still prints).
fn quiet_planted_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !is_planted(info.payload()) {
                default(info);
            }
        }));
    });
}

/// What a pool's panic handler received.
type Reports = Arc<Mutex<Vec<Box<dyn Any + Send>>>>;

/// A pool of `n` threads whose panic handler keeps every payload.
fn pool_with_handler(n: usize) -> (Pool, Reports) {
    let reports = Reports::default();
    let sink = reports.clone();
    let pool = Pool::builder()
        .threads(n)
        .panic_handler(move |payload| sink.lock().unwrap().push(payload))
        .build()
        .unwrap();
    (pool, reports)
}

/// The handler's payloads so far, each a `ScopeError`.
fn take_reports(reports: &Reports) -> Vec<ScopeError> {
    std::mem::take(&mut *reports.lock().unwrap())
        .into_iter()
        .map(|payload| *payload.downcast::<ScopeError>().expect("the panic handler receives a ScopeError"))
        .collect()
}

/// Spins (yielding the thread) until `flag` is set.
fn wait_for(flag: &AtomicBool) {
    while !flag.load(SeqCst) {
        std::thread::yield_now();
    }
}

/// Yields to the loop until `flag` is set.
async fn until(flag: &AtomicBool) {
    while !flag.load(SeqCst) {
        knotwork::yield_now().await;
    }
}

/// The spawn indices of `failures`.
fn indices(failures: &[ChildFailure]) -> Vec<usize> {
    failures.iter().map(ChildFailure::index).collect()
}

/// The message a failure left: the error's text, or the panic message.
fn message(failure: &ChildFailure) -> String {
    match failure.failure() {
        Failure::Error(e) => e.to_string(),
        Failure::Panic(p) => p.message().unwrap_or_default().to_string(),
    }
}

/// Checks that `failure` was spawned at `line` of this file.
fn assert_spawned_at(failure: &ChildFailure, line: u32) {
    assert_eq!(failure.location().line(), line, "{failure}");
    assert!(failure.location().file().ends_with("policies.rs"), "{failure}");
}

// ---------------------------------------------------------------- FailFast

#[test]
fn fail_fast_an_error_cancels_blocking_and_async_siblings() {
    quiet_planted_panics();
    within(30, || {
        let pool = pool(2);
        let spinner_started = AtomicBool::new(false);
        let spinner_saw_cancel = AtomicBool::new(false);
        let mut at = 0;
        let res = pool.scope_with(FailFast, |s| {
            let sleeper = s.exec(async { knotwork::sleep(AN_HOUR).await });
            let spinner = s.exec_blocking(|| {
                spinner_started.store(true, SeqCst);
                while !knotwork::is_cancelled() {
                    std::thread::yield_now();
                }
                spinner_saw_cancel.store(true, SeqCst);
            });
            wait_for(&spinner_started);
            assert!(!s.is_cancelled());
            at = line!() + 1;
            s.exec_blocking_try(|| Err::<(), _>(Planted("bad input")));
            assert!(sleeper.join().unwrap_err().is_cancelled());
            assert!(spinner.join().is_ok(), "a cancelled blocking child is joined, not failed");
            assert!(s.is_cancelled());
            "body"
        });
        assert!(spinner_saw_cancel.load(SeqCst));
        let err = res.unwrap_err();
        let only = err.only().expect("the cancelled siblings are not failures");
        assert_eq!(only.index(), 2);
        assert!(!only.is_panic());
        assert_spawned_at(only, at);
        let planted = only.error().unwrap().downcast_ref::<Planted>().expect("the error keeps its type");
        assert_eq!(planted.0, "bad input");
        assert!(err.to_string().contains("planted: bad input"), "{err}");
    });
}

#[test]
fn fail_fast_an_async_panic_drops_the_async_body_on_one_thread() {
    quiet_planted_panics();
    within(30, || {
        let pool = pool(1);
        let body_dropped = Arc::new(AtomicBool::new(false));
        let at = Arc::new(AtomicUsize::new(0));
        let (dropped, spawned_at) = (body_dropped.clone(), at.clone());
        let res = knotwork::block_on(pool.scope_async_with(FailFast, move |s| async move {
            let _flag = SetOnDrop(dropped);
            let ok = s.exec(async { 1 });
            assert_eq!(ok.await.unwrap(), 1);
            spawned_at.store(line!() as usize + 1, SeqCst);
            s.exec(async { panic!("planted: async child") });
            knotwork::sleep(A_MINUTE).await; // dropped here by the failure
            "never"
        }));
        assert!(body_dropped.load(SeqCst));
        let err = res.unwrap_err();
        let only = err.only().unwrap();
        assert_eq!(only.index(), 1);
        assert!(only.is_panic());
        assert!(only.error().is_none());
        assert_eq!(message(only), "planted: async child");
        assert_spawned_at(only, at.load(SeqCst) as u32);
    });
}

/// Sets its flag when dropped.
struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, SeqCst);
    }
}

// ---------------------------------------------------------------- Supervise

#[test]
fn supervise_collects_every_blocking_failure_in_spawn_order() {
    quiet_planted_panics();
    within(30, || {
        let pool = pool(4);
        let ran = AtomicUsize::new(0);
        let mut lines = Vec::new();
        let res = pool.scope_with(Supervise, |s| {
            for i in 0..8usize {
                let ran = &ran;
                lines.push(line!() + 1);
                s.exec_blocking_try(move || {
                    ran.fetch_add(1, SeqCst);
                    match i % 4 {
                        1 => Err(Planted("odd one")),
                        3 => panic!("planted: panic {i}"),
                        _ => Ok(i),
                    }
                });
            }
            // A failure cancels nothing: later children still start.
            let late = s.exec_blocking(knotwork::is_cancelled);
            assert!(!late.join().unwrap());
            "body"
        });
        assert_eq!(ran.load(SeqCst), 8, "every child ran to its end");
        let err = res.unwrap_err();
        let failures = err.failures();
        assert_eq!(indices(failures), [1, 3, 5, 7]);
        assert_eq!(
            failures.iter().map(ChildFailure::is_panic).collect::<Vec<_>>(),
            [false, true, false, true]
        );
        assert_eq!(message(&failures[1]), "planted: panic 3");
        assert_eq!(message(&failures[3]), "planted: panic 7");
        assert_eq!(failures[2].error().unwrap().to_string(), "planted: odd one");
        for f in failures {
            assert_spawned_at(f, lines[f.index()]);
        }
        assert!(err.only().is_none());
        let text = err.to_string();
        assert!(text.starts_with("4 children of the scope failed:"), "{text}");
        for needle in ["child #1", "child #3", "child #5", "child #7", "panic 3", "panic 7", "odd one"] {
            assert!(text.contains(needle), "{needle} missing from {text}");
        }
    });
}

#[test]
fn supervise_reports_async_failures_in_spawn_order_though_they_finish_in_reverse() {
    quiet_planted_panics();
    within(30, || {
        let pool = pool(1);
        const N: usize = 6;
        let done: Arc<[AtomicBool; N]> = Arc::new(std::array::from_fn(|_| AtomicBool::new(false)));
        let finish_order = Arc::new(Mutex::new(Vec::new()));
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (d, order, l) = (done.clone(), finish_order.clone(), lines.clone());
        let res = knotwork::block_on(pool.scope_async_with(Supervise, move |s| async move {
            for i in 0..N {
                let (done, order) = (d.clone(), order.clone());
                l.lock().unwrap().push(line!() + 1);
                s.exec_try(async move {
                    // Each child finishes only after the next one did.
                    if i + 1 < N {
                        until(&done[i + 1]).await;
                    }
                    order.lock().unwrap().push(i);
                    done[i].store(true, SeqCst);
                    match i % 3 {
                        0 => Err(Planted("async")),
                        1 => panic!("planted: async panic {i}"),
                        _ => Ok(i),
                    }
                });
            }
            7
        }));
        assert_eq!(*finish_order.lock().unwrap(), [5, 4, 3, 2, 1, 0]);
        let err = res.unwrap_err();
        assert_eq!(indices(err.failures()), [0, 1, 3, 4]);
        assert_eq!(
            err.failures().iter().map(ChildFailure::is_panic).collect::<Vec<_>>(),
            [false, true, false, true]
        );
        assert_eq!(message(&err.failures()[3]), "planted: async panic 4");
        let lines = lines.lock().unwrap();
        for f in err.failures() {
            assert_spawned_at(f, lines[f.index()]);
        }
    });
}

// ------------------------------------------------------------- FirstSuccess

#[test]
fn first_success_the_winner_cancels_the_losers_whose_late_failures_are_not_errors() {
    quiet_planted_panics();
    within(30, || {
        let pool = pool(2);
        let loser_started = AtomicBool::new(false);
        let loser_failed_late = AtomicBool::new(false);
        let res = pool.scope_with(FirstSuccess::new(), |s| {
            s.exec_blocking_try(|| Err::<&str, _>(Planted("early loser")));
            let sleeper = s.exec_try(async {
                knotwork::sleep(AN_HOUR).await;
                Ok::<_, Planted>("sleeper")
            });
            s.exec_blocking_try(|| {
                loser_started.store(true, SeqCst);
                while !knotwork::is_cancelled() {
                    std::thread::yield_now();
                }
                loser_failed_late.store(true, SeqCst);
                Err::<&str, _>(Planted("late loser"))
            });
            let winner = s.exec_blocking_try(|| {
                wait_for(&loser_started);
                Ok::<_, Planted>("winner")
            });
            let won = winner.join().unwrap().unwrap();
            assert!(sleeper.join().unwrap_err().is_cancelled());
            assert!(s.is_cancelled(), "the win cancels the scope");
            won
        });
        assert!(loser_failed_late.load(SeqCst));
        assert_eq!(res.unwrap(), "winner");
    });
}

#[test]
fn first_success_without_a_success_returns_every_failure() {
    quiet_planted_panics();
    within(30, || {
        let pool = pool(1);
        let mut lines = [0; 3];
        let res = pool.scope_with(FirstSuccess::new(), |s| {
            lines[0] = line!() + 1;
            s.exec_blocking_try(|| Err::<u8, _>(Planted("first")));
            lines[1] = line!() + 1;
            s.exec(async { panic!("planted: second") });
            lines[2] = line!() + 1;
            s.exec_try(async {
                knotwork::yield_now().await;
                Err::<u8, _>(Planted("third"))
            });
        });
        let err = res.unwrap_err();
        assert_eq!(indices(err.failures()), [0, 1, 2]);
        assert_eq!(
            err.failures().iter().map(message).collect::<Vec<_>>(),
            ["planted: first", "planted: second", "planted: third"]
        );
        for f in err.failures() {
            assert_spawned_at(f, lines[f.index()]);
        }
    });
}

#[test]
fn first_success_in_an_async_scope() {
    quiet_planted_panics();
    within(30, || {
        let pool = pool(2);
        let res = knotwork::block_on(pool.scope_async_with(FirstSuccess::new(), async |s| {
            let never = s.exec_try(async {
                std::future::pending::<()>().await;
                Ok::<_, Planted>("never")
            });
            let failing = s.exec_try(async { Err::<&str, _>(Planted("refused")) });
            let fast = s.exec_blocking_try(|| Ok::<_, Planted>("fast"));
            let won = fast.await.unwrap().unwrap();
            assert!(never.await.unwrap_err().is_cancelled());
            drop(failing); // its failure is the scope's, but the race was won
            won
        }));
        assert_eq!(res.unwrap(), "fast");
    });
}

// ----------------------------------------------------------- custom policy

/// A policy that records every fork and completion, and returns them.
#[derive(Default)]
struct Ledger {
    forked: Mutex<Vec<(usize, u32)>>,
    completed: Mutex<Vec<(usize, Outcome)>>,
    completed_unforked: AtomicBool,
}

struct LedgerReport<R> {
    body: Option<R>,
    forked: Vec<(usize, u32)>,
    completed: Vec<(usize, Outcome)>,
    completed_unforked: bool,
    failed: Vec<usize>,
}

impl Policy for Ledger {
    type Output<R> = LedgerReport<R>;

    fn on_fork(&self, child: &ChildInfo) {
        self.forked.lock().unwrap().push((child.index(), child.location().line()));
    }

    fn on_complete(&self, child: &ChildInfo, outcome: Outcome) -> Verdict {
        if !self.forked.lock().unwrap().iter().any(|&(i, _)| i == child.index()) {
            self.completed_unforked.store(true, SeqCst);
        }
        self.completed.lock().unwrap().push((child.index(), outcome));
        Verdict::Continue
    }

    fn finish<R>(self, body: Option<R>, failures: Vec<ChildFailure>) -> LedgerReport<R> {
        let mut completed = self.completed.into_inner().unwrap();
        completed.sort_by_key(|&(i, _)| i);
        LedgerReport {
            body,
            forked: self.forked.into_inner().unwrap(),
            completed,
            completed_unforked: self.completed_unforked.into_inner(),
            failed: indices(&failures),
        }
    }
}

#[test]
fn a_custom_policy_hears_every_fork_and_completion() {
    quiet_planted_panics();
    within(30, || {
        let pool = pool(2);
        let mut lines = Vec::new();
        let report = pool.scope_with(Ledger::default(), |s| {
            lines.push(line!() + 1);
            let ok = s.exec_blocking(|| 1);
            lines.push(line!() + 1);
            s.exec_blocking_try(|| Err::<(), _>(Planted("ledger")));
            lines.push(line!() + 1);
            s.exec(async { panic!("planted: ledger panic") });
            lines.push(line!() + 1);
            let ok_try = s.exec_try(async { Ok::<_, Planted>(3) });
            lines.push(line!() + 1);
            let pending = s.exec(std::future::pending::<()>());
            pending.cancel();
            assert!(pending.join().unwrap_err().is_cancelled());
            assert_eq!(ok.join().unwrap() + ok_try.join().unwrap().unwrap(), 4);
            "body"
        });
        assert_eq!(report.body, Some("body"));
        assert!(!report.completed_unforked, "every child is forked before it can complete");
        let expected: Vec<(usize, u32)> = lines.iter().copied().enumerate().collect();
        assert_eq!(report.forked, expected, "forks in spawn order, each with its line");
        assert_eq!(
            report.completed,
            [
                (0, Outcome::Ok),
                (1, Outcome::Failed),
                (2, Outcome::Panicked),
                (3, Outcome::Ok),
                (4, Outcome::Cancelled)
            ]
        );
        assert_eq!(report.failed, [1, 2]);
    });
}

/// A custom policy that cancels on any failure and returns the body's value
/// (if it was not dropped) with the failed indices.
struct StopOnFailure;

impl Policy for StopOnFailure {
    type Output<R> = (Option<R>, Vec<usize>);

    fn on_complete(&self, _: &ChildInfo, outcome: Outcome) -> Verdict {
        if matches!(outcome, Outcome::Failed | Outcome::Panicked) {
            Verdict::Cancel
        } else {
            Verdict::Continue
        }
    }

    fn finish<R>(self, body: Option<R>, failures: Vec<ChildFailure>) -> (Option<R>, Vec<usize>) {
        (body, indices(&failures))
    }
}

#[test]
fn a_custom_policy_that_cancels_drops_the_async_body_and_gets_none() {
    quiet_planted_panics();
    within(30, || {
        let pool = pool(1);
        let (body, failed) = knotwork::block_on(pool.scope_async_with(StopOnFailure, async |s| {
            let sibling = s.exec(async { knotwork::sleep(AN_HOUR).await });
            s.exec_try(async { Err::<(), _>(Planted("custom")) });
            knotwork::sleep(A_MINUTE).await;
            drop(sibling);
            "never"
        }));
        assert_eq!(body, None);
        assert_eq!(failed, [1]);
        // And on success the same policy hands over the body's value.
        let (body, failed) = pool.scope_with(StopOnFailure, |s| s.exec_blocking(|| 5).join().unwrap());
        assert_eq!((body, failed), (Some(5), vec![]));
    });
}

// ------------------------------------------------------- plain scopes (F3)

#[test]
fn a_plain_scope_raises_try_errors_as_a_scope_error_payload() {
    quiet_planted_panics();
    within(30, || {
        let pool = pool(1);
        let mut at = 0;
        let payload = catch_unwind(AssertUnwindSafe(|| {
            pool.scope(|s| {
                at = line!() + 1;
                s.exec_blocking_try(|| Err::<(), _>(Planted("disk full")));
            })
        }))
        .unwrap_err();
        let err = payload.downcast::<ScopeError>().expect("errors are raised as a ScopeError");
        let only = err.only().unwrap();
        assert_eq!(only.error().unwrap().to_string(), "planted: disk full");
        assert_spawned_at(only, at);
    });
}

#[test]
fn a_plain_scope_re_raises_the_first_panic_in_spawn_order_and_reports_the_rest() {
    quiet_planted_panics();
    within(30, || {
        let (pool, reports) = pool_with_handler(4);
        // All three run at once, so each fails whatever the others do.
        let barrier = Barrier::new(3);
        let mut lines = [0; 3];
        let payload = catch_unwind(AssertUnwindSafe(|| {
            pool.scope(|s| {
                lines[0] = line!() + 1;
                s.exec_blocking_try(|| {
                    barrier.wait();
                    Err::<(), _>(Planted("e0"))
                });
                lines[1] = line!() + 1;
                s.exec_blocking(|| {
                    barrier.wait();
                    panic!("planted: p1")
                });
                lines[2] = line!() + 1;
                s.exec_blocking(|| {
                    barrier.wait();
                    panic!("planted: p2")
                });
            })
        }))
        .unwrap_err();
        assert_eq!(panic_text(&*payload), "planted: p1", "the first panic in spawn order, its own payload");
        let reported = take_reports(&reports);
        assert_eq!(reported.len(), 1, "the other failures are reported together");
        let rest = reported[0].failures();
        assert_eq!(indices(rest), [0, 2]);
        assert_eq!(message(&rest[0]), "planted: e0");
        assert!(rest[1].is_panic());
        assert_eq!(message(&rest[1]), "planted: p2");
        for f in rest {
            assert_spawned_at(f, lines[f.index()]);
        }
    });
}

#[test]
fn a_plain_scope_async_raises_several_errors_together() {
    quiet_planted_panics();
    within(30, || {
        let (pool, reports) = pool_with_handler(4);
        let barrier = Arc::new(Barrier::new(3));
        let payload = catch_unwind(AssertUnwindSafe(|| {
            knotwork::block_on(pool.scope_async(move |s| async move {
                for name in ["a", "b", "c"] {
                    let barrier = barrier.clone();
                    s.exec_blocking_try(move || {
                        barrier.wait();
                        Err::<(), _>(Planted(name))
                    });
                }
            }))
        }))
        .unwrap_err();
        let err = payload.downcast::<ScopeError>().expect("errors only: a ScopeError payload");
        assert_eq!(indices(err.failures()), [0, 1, 2]);
        assert_eq!(
            err.failures().iter().map(message).collect::<Vec<_>>(),
            ["planted: a", "planted: b", "planted: c"]
        );
        assert!(take_reports(&reports).is_empty(), "nothing left to report");
    });
}

#[test]
fn a_body_panic_wins_and_the_childrens_failures_go_to_the_panic_handler() {
    quiet_planted_panics();
    within(30, || {
        let (pool, reports) = pool_with_handler(2);
        // A plain scope: the child's error cancels the body, which panics.
        let payload = catch_unwind(AssertUnwindSafe(|| {
            pool.scope(|s| {
                s.exec_blocking_try(|| Err::<(), _>(Planted("child error")));
                while !s.is_cancelled() {
                    std::thread::yield_now();
                }
                panic!("planted: body");
            })
        }))
        .unwrap_err();
        assert_eq!(panic_text(&*payload), "planted: body");
        let reported = take_reports(&reports);
        assert_eq!(reported.len(), 1);
        assert_eq!(message(reported[0].only().unwrap()), "planted: child error");

        // Under a policy, sync and async, the same: the body's panic is re-raised.
        let started = AtomicBool::new(false);
        let payload = catch_unwind(AssertUnwindSafe(|| {
            pool.scope_with(Supervise, |s| {
                s.exec_blocking(|| {
                    started.store(true, SeqCst);
                    panic!("planted: supervised child")
                });
                wait_for(&started);
                panic!("planted: supervised body");
            })
        }))
        .unwrap_err();
        assert_eq!(panic_text(&*payload), "planted: supervised body");
        let reported = take_reports(&reports);
        assert_eq!(reported.len(), 1);
        assert!(reported[0].only().unwrap().is_panic());
        assert_eq!(message(reported[0].only().unwrap()), "planted: supervised child");

        let payload = catch_unwind(AssertUnwindSafe(|| {
            knotwork::block_on(pool.scope_async_with(Supervise, async |s| {
                let started = Arc::new(AtomicBool::new(false));
                let flag = started.clone();
                s.exec_blocking_try(move || {
                    flag.store(true, SeqCst);
                    Err::<(), _>(Planted("async scope child"))
                });
                until(&started).await;
                panic!("planted: async body");
            }))
        }))
        .unwrap_err();
        assert_eq!(panic_text(&*payload), "planted: async body");
        let reported = take_reports(&reports);
        assert_eq!(reported.len(), 1);
        assert_eq!(message(reported[0].only().unwrap()), "planted: async scope child");
    });
}

// ------------------------------------------------------ body cancellation (F4)

#[test]
fn a_plain_scope_async_body_asleep_is_dropped_by_a_child_panic() {
    quiet_planted_panics();
    within(30, || {
        let pool = pool(2);
        let body_dropped = Arc::new(AtomicBool::new(false));
        let dropped = body_dropped.clone();
        let payload = catch_unwind(AssertUnwindSafe(|| {
            knotwork::block_on(pool.scope_async(move |s| async move {
                let _flag = SetOnDrop(dropped);
                s.exec_blocking(|| panic!("planted: wake the body"));
                knotwork::sleep(A_MINUTE).await;
            }))
        }))
        .unwrap_err();
        assert_eq!(panic_text(&*payload), "planted: wake the body");
        assert!(body_dropped.load(SeqCst));
    });
}

#[test]
fn a_failure_cancels_a_sync_body() {
    quiet_planted_panics();
    within(30, || {
        let pool = pool(2);
        let gate = AtomicBool::new(false);
        let res = pool.scope_with(FailFast, |s| {
            s.exec_blocking_try(|| {
                wait_for(&gate);
                Err::<(), _>(Planted("cancel the body"))
            });
            assert!(!knotwork::is_cancelled(), "not before the failure");
            gate.store(true, SeqCst);
            while !knotwork::is_cancelled() {
                std::thread::yield_now();
            }
            assert!(s.is_cancelled());
            "body saw it"
        });
        assert_eq!(message(res.unwrap_err().only().unwrap()), "planted: cancel the body");

        // A plain scope's body too.
        let payload = catch_unwind(AssertUnwindSafe(|| {
            pool.scope(|s| {
                s.exec(async { panic!("planted: plain") });
                while !knotwork::is_cancelled() {
                    std::thread::yield_now();
                }
            })
        }))
        .unwrap_err();
        assert_eq!(panic_text(&*payload), "planted: plain");
        assert!(!knotwork::is_cancelled(), "outside any scope again");
    });
}

#[test]
fn a_sync_scope_opened_in_a_sync_body_is_cancelled_with_it() {
    quiet_planted_panics();
    within(30, || {
        let pool = pool(2);
        let inner_started = AtomicBool::new(false);
        let mut at = 0;
        let res = pool.scope_with(FailFast, |s| {
            at = line!() + 1;
            s.exec_blocking_try(|| {
                wait_for(&inner_started);
                Err::<(), _>(Planted("outer child"))
            });
            // On the global pool (the body runs on no worker); nested all the same.
            let inner = knotwork::scope(|inner| {
                inner
                    .exec(async {
                        inner_started.store(true, SeqCst);
                        knotwork::sleep(AN_HOUR).await;
                    })
                    .join()
            });
            assert!(inner.unwrap_err().is_cancelled(), "the inner child is cancelled with the body");
            assert!(knotwork::is_cancelled());
        });
        let err = res.unwrap_err();
        assert_spawned_at(err.only().unwrap(), at);
    });
}

#[test]
fn an_async_scope_driven_by_block_on_in_a_sync_body_is_cancelled_with_it() {
    quiet_planted_panics();
    within(30, || {
        let pool = pool(2);
        let inner_started = Arc::new(AtomicBool::new(false));
        let res = pool.scope_with(FailFast, |s| {
            s.exec_blocking_try(|| {
                wait_for(&inner_started);
                Err::<(), _>(Planted("outer child"))
            });
            let started = inner_started.clone();
            let inner = knotwork::block_on(pool.scope_async(move |h| async move {
                h.exec(async move {
                    started.store(true, SeqCst);
                    knotwork::sleep(AN_HOUR).await;
                })
                .await
            }));
            assert!(inner.unwrap_err().is_cancelled());
            "body"
        });
        assert_eq!(message(res.unwrap_err().only().unwrap()), "planted: outer child");
    });
}

// ---------------------------------------------------------------- nesting

#[test]
fn nested_scopes_keep_their_own_failures_and_indices() {
    quiet_planted_panics();
    within(30, || {
        let pool = pool(4);
        let inner_line = Arc::new(AtomicUsize::new(0));
        let mut outer_lines = [0; 4];
        let res = pool.scope_with(Supervise, |s| {
            outer_lines[0] = line!() + 1;
            s.exec_blocking(|| 0);
            outer_lines[1] = line!() + 1;
            s.exec_blocking_try(|| {
                // On this worker's pool, under its own policy.
                knotwork::scope_with(FailFast, |inner| {
                    inner.exec(async { knotwork::sleep(AN_HOUR).await });
                    inner_line.store(line!() as usize + 1, SeqCst);
                    inner.exec_blocking_try(|| Err::<(), _>(Planted("inner")));
                })
            });
            outer_lines[2] = line!() + 1;
            s.exec(async {
                knotwork::scope(|inner| {
                    inner.exec_blocking(|| panic!("planted: deep"));
                });
            });
            outer_lines[3] = line!() + 1;
            s.exec_try(async {
                knotwork::scope_async_with(Supervise, async |inner| {
                    inner.exec_try(async { Err::<(), _>(Planted("inner async")) });
                    inner.exec_try(async { Err::<(), _>(Planted("inner async 2")) });
                })
                .await
            });
        });
        let err = res.unwrap_err();
        let failures = err.failures();
        assert_eq!(indices(failures), [1, 2, 3]);
        for f in failures {
            assert_spawned_at(f, outer_lines[f.index()]);
        }
        // 1: the inner scope's ScopeError, returned as the child's error.
        let inner = failures[0].error().unwrap().downcast_ref::<ScopeError>().expect("a nested ScopeError");
        let inner_only = inner.only().expect("the inner sleeper was cancelled, not failed");
        assert_eq!(inner_only.index(), 1, "indices are per scope");
        assert_spawned_at(inner_only, inner_line.load(SeqCst) as u32);
        assert_eq!(message(inner_only), "planted: inner");
        // 2: the inner plain scope re-raised its child's panic in the outer child.
        assert!(failures[1].is_panic());
        assert_eq!(message(&failures[1]), "planted: deep");
        // 3: an async scope nested in an async child, every failure kept.
        let inner = failures[2].error().unwrap().downcast_ref::<ScopeError>().unwrap();
        assert_eq!(
            inner.failures().iter().map(message).collect::<Vec<_>>(),
            ["planted: inner async", "planted: inner async 2"]
        );
    });
}

// ------------------------------------------------------------- observation

#[test]
fn a_failure_observed_through_its_task_is_not_reported_again() {
    quiet_planted_panics();
    within(30, || {
        let (pool, reports) = pool_with_handler(2);
        // The typed Result goes to the joiner; the policy still cancels.
        let res = pool.scope_with(FailFast, |s| {
            let t = s.exec_blocking_try(|| "x".parse::<u8>());
            let typed: Result<u8, std::num::ParseIntError> = t.join().unwrap();
            assert!(typed.is_err());
            // The policy hears of the completion just after the result is
            // published, so the cancellation may trail the join a little.
            assert!(eventually(20, || s.is_cancelled()), "an observed failure still cancels under FailFast");
            "body"
        });
        assert_eq!(res.unwrap(), "body");

        // Under Supervise, only the failure nobody joined is the scope's.
        let mut at = 0;
        let res = pool.scope_with(Supervise, |s| {
            let joined = s.exec_blocking_try(|| Err::<(), _>(Planted("joined")));
            let panicked = s.exec(async { panic!("planted: joined panic") });
            at = line!() + 1;
            let dropped = s.exec_try(async { Err::<(), _>(Planted("dropped")) });
            drop(dropped);
            assert_eq!(joined.join().unwrap().unwrap_err().to_string(), "planted: joined");
            assert_eq!(panic_text(&*panicked.join().unwrap_err().into_panic()), "planted: joined panic");
        });
        let err = res.unwrap_err();
        assert_eq!(err.only().unwrap().index(), 2);
        assert_spawned_at(err.only().unwrap(), at);

        // A plain scope does not raise what its body joined.
        let v = pool.scope(|s| s.exec_try(async { Err::<u8, _>(Planted("seen")) }).join().unwrap());
        assert_eq!(v.unwrap_err().0, "seen");

        // An async body woken by the failure is polled once more, observes
        // it by awaiting, and so returns its value.
        let res = knotwork::block_on(pool.scope_async_with(FailFast, async |s| {
            let r = s.exec_try(async { Err::<u8, _>(Planted("awaited")) }).await;
            r.unwrap().unwrap_err().0
        }));
        assert_eq!(res.unwrap(), "awaited");

        // Taken back through a TaskSet: observed too.
        let res = pool.scope_with(Supervise, |s| {
            let mut set = TaskSet::new();
            set.push(s.exec_blocking_try(|| Err::<(), _>(Planted("from the set"))));
            set.join_next().unwrap().unwrap().unwrap_err().0
        });
        assert_eq!(res.unwrap(), "from the set");

        assert!(take_reports(&reports).is_empty(), "nothing reached the panic handler");
    });
}

// ------------------------------------------------------- dropped futures (F5)

#[test]
fn dropping_an_unfinished_scope_async_raises_its_childrens_failures() {
    quiet_planted_panics();
    within(30, || {
        let (pool, reports) = pool_with_handler(2);
        let started = Arc::new(AtomicBool::new(false));
        let flag = started.clone();
        let mut fut = Box::pin(pool.scope_async(move |s| async move {
            s.exec_blocking_try(move || {
                flag.store(true, SeqCst);
                // Fails only once the drop has cancelled it.
                while !knotwork::is_cancelled() {
                    std::thread::yield_now();
                }
                Err::<(), _>(Planted("after the drop"))
            });
            std::future::pending::<()>().await;
        }));
        assert!(knotwork::block_on(futures_lite::future::poll_once(fut.as_mut())).is_none());
        wait_for(&started);
        let payload = catch_unwind(AssertUnwindSafe(move || drop(fut))).unwrap_err();
        let err = payload.downcast::<ScopeError>().expect("raised from the drop as a ScopeError");
        assert_eq!(message(err.only().unwrap()), "planted: after the drop");
        assert!(take_reports(&reports).is_empty());
    });
}

#[test]
fn dropping_it_while_unwinding_reports_them_to_the_panic_handler() {
    quiet_planted_panics();
    within(30, || {
        let (pool, reports) = pool_with_handler(2);
        let started = Arc::new(AtomicBool::new(false));
        let flag = started.clone();
        let mut fut = Box::pin(pool.scope_async(move |s| async move {
            s.exec_blocking(move || {
                flag.store(true, SeqCst);
                while !knotwork::is_cancelled() {
                    std::thread::yield_now();
                }
                panic!("planted: child, lost to no one");
            });
            std::future::pending::<()>().await;
        }));
        assert!(knotwork::block_on(futures_lite::future::poll_once(fut.as_mut())).is_none());
        wait_for(&started);
        let payload = catch_unwind(AssertUnwindSafe(move || {
            let _fut = fut;
            panic!("planted: unwinding");
        }))
        .unwrap_err();
        assert_eq!(panic_text(&*payload), "planted: unwinding");
        let reported = take_reports(&reports);
        assert_eq!(reported.len(), 1);
        let only = reported[0].only().unwrap();
        assert!(only.is_panic());
        assert_eq!(message(only), "planted: child, lost to no one");
    });
}

// ---------------------------------------------------- bindings in cleanup

static REQUEST: Slot<u32> = Slot::new();

/// Records `REQUEST` as its drop sees it.
struct ReadsOnDrop(Arc<Mutex<Vec<Option<u32>>>>);

impl Drop for ReadsOnDrop {
    fn drop(&mut self) {
        self.0.lock().unwrap().push(REQUEST.get());
    }
}

/// A future that holds `guard` until the future itself is dropped (after
/// it finished, when polled to its end).
struct HoldsUntilDropped<F> {
    fut: Pin<Box<F>>,
    _guard: ReadsOnDrop,
}

impl<F: Future> Future for HoldsUntilDropped<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.fut.as_mut().poll(cx)
    }
}

#[test]
fn a_cancelled_childs_cleanup_sees_its_spawn_time_bindings() {
    within(30, || {
        let pool = pool(2);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let started = AtomicBool::new(false);
        REQUEST.bind(7, || {
            pool.scope(|s| {
                let guard = ReadsOnDrop(seen.clone());
                let t = s.exec(async {
                    let _guard = guard;
                    started.store(true, SeqCst);
                    knotwork::sleep(AN_HOUR).await;
                });
                wait_for(&started);
                // Cancelled under another binding: the child keeps its own.
                REQUEST.bind(8, || t.cancel());
                assert!(t.join().unwrap_err().is_cancelled());
            })
        });
        assert_eq!(*seen.lock().unwrap(), [Some(7)]);

        // A blocking child cancelled before it started: its closure is
        // dropped unrun, inside its bindings too.
        let seen = Arc::new(Mutex::new(Vec::new()));
        let one = knotwork::Pool::builder().threads(1).build().unwrap();
        let gate = AtomicBool::new(false);
        let res = REQUEST.bind(9, || {
            one.scope_with(FailFast, |s| {
                s.exec_blocking(|| wait_for(&gate));
                let guard = ReadsOnDrop(seen.clone());
                let never = s.exec_blocking(move || drop(guard));
                s.cancel();
                gate.store(true, SeqCst);
                assert!(never.join().unwrap_err().is_cancelled());
            })
        });
        assert!(res.is_ok(), "a cancellation is no failure");
        assert_eq!(*seen.lock().unwrap(), [Some(9)]);
    });
}

#[test]
fn a_finished_childs_future_is_dropped_inside_its_bindings() {
    within(30, || {
        let pool = pool(1);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let v = REQUEST.bind(11, || {
            pool.scope(|s| {
                let fut = HoldsUntilDropped {
                    fut: Box::pin(async { REQUEST.get() }),
                    _guard: ReadsOnDrop(seen.clone()),
                };
                s.exec(fut).join().unwrap()
            })
        });
        assert_eq!(v, Some(11), "the poll saw the binding");
        assert_eq!(*seen.lock().unwrap(), [Some(11)], "and so did the drop after it finished");
    });
}

#[test]
fn bind_async_drops_its_inner_future_inside_its_binding() {
    within(30, || {
        let pool = pool(1);
        let seen = Arc::new(Mutex::new(Vec::new()));
        // Cancelled while suspended, in a child spawned under another binding.
        let started = AtomicBool::new(false);
        REQUEST.bind(1, || {
            pool.scope(|s| {
                let guard = ReadsOnDrop(seen.clone());
                let t = s.exec(REQUEST.bind_async(2, async {
                    let _guard = guard;
                    started.store(true, SeqCst);
                    std::future::pending::<()>().await;
                }));
                wait_for(&started);
                t.cancel();
                assert!(t.join().unwrap_err().is_cancelled());
            })
        });
        assert_eq!(std::mem::take(&mut *seen.lock().unwrap()), [Some(2)]);

        // Dropped without ever being polled, where nothing is bound.
        let guard = ReadsOnDrop(seen.clone());
        drop(REQUEST.bind_async(3, async move { drop(guard) }));
        assert_eq!(std::mem::take(&mut *seen.lock().unwrap()), [Some(3)]);

        // Dropped after it finished (by block_on, where nothing is bound).
        let held =
            HoldsUntilDropped { fut: Box::pin(async { REQUEST.get() }), _guard: ReadsOnDrop(seen.clone()) };
        assert_eq!(knotwork::block_on(REQUEST.bind_async(4, held)), Some(4));
        assert_eq!(std::mem::take(&mut *seen.lock().unwrap()), [Some(4)]);
        assert_eq!(REQUEST.get(), None);
    });
}

// ---------------------------------------------------------------- TaskSet

/// Counts its wakes.
#[derive(Default)]
struct CountWakes(AtomicUsize);

impl Wake for CountWakes {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

#[test]
fn a_task_set_gives_results_in_completion_order() {
    within(30, || {
        let pool = pool(1);
        let gates: [AtomicBool; 4] = std::array::from_fn(|_| AtomicBool::new(false));
        let order = pool.scope(|s| {
            let mut set = TaskSet::new();
            for (i, gate) in gates.iter().enumerate() {
                set.push(s.exec(async move {
                    until(gate).await;
                    i
                }));
            }
            assert_eq!(set.len(), 4);
            // Look once, so that the set is told of each completion...
            let wakes = Arc::new(CountWakes::default());
            let waker = Waker::from(wakes.clone());
            {
                let next = pin!(set.next_finished());
                assert!(next.poll(&mut Context::from_waker(&waker)).is_pending());
            }
            // ...then let them finish one by one, in an order of our own,
            // each completion seen before the next child may finish.
            for (n, i) in [2, 0, 3, 1].into_iter().enumerate() {
                gates[i].store(true, SeqCst);
                assert!(eventually(20, || wakes.0.load(SeqCst) > n), "completion {n} was not signalled");
            }
            let mut order = Vec::new();
            while let Some(r) = set.join_next() {
                order.push(r.unwrap());
                assert_eq!(set.len(), 4 - order.len());
            }
            order
        });
        assert_eq!(order, [2, 0, 3, 1]);
    });
}

#[test]
fn a_task_set_follows_completions_as_they_come_in_an_async_scope() {
    within(30, || {
        let pool = pool(2);
        let order = knotwork::block_on(pool.scope_async(async |s| {
            let gates: Arc<[AtomicBool; 3]> = Arc::new(std::array::from_fn(|_| AtomicBool::new(false)));
            let mut set = TaskSet::new();
            for i in 0..3 {
                let gates = gates.clone();
                set.push(s.exec(async move {
                    until(&gates[i]).await;
                    i
                }));
            }
            let mut order = Vec::new();
            for i in [1, 2, 0] {
                gates[i].store(true, SeqCst);
                order.push(set.next_finished().await.unwrap().unwrap());
            }
            assert!(set.next_finished().await.is_none());
            order
        }));
        assert_eq!(order, [1, 2, 0]);
    });
}

#[test]
fn a_task_sets_cancel_all_cancels_what_is_left() {
    within(30, || {
        let pool = pool(1);
        let dropped = AtomicUsize::new(0);
        let (first, rest) = pool.scope(|s| {
            let mut set = TaskSet::new();
            for _ in 0..3 {
                let dropped = &dropped;
                set.push(s.exec(async move {
                    let _count = CountOnDrop(dropped);
                    knotwork::sleep(AN_HOUR).await;
                    0
                }));
            }
            set.push(s.exec_blocking(|| 42));
            let first = set.join_next().unwrap().unwrap();
            assert_eq!(set.len(), 3);
            set.cancel_all();
            let mut rest = Vec::new();
            while let Some(r) = set.join_next() {
                rest.push(r.unwrap_err().is_cancelled());
            }
            assert!(set.is_empty());
            assert!(set.join_next().is_none());
            (first, rest)
        });
        assert_eq!(first, 42);
        assert_eq!(rest, [true, true, true]);
        assert_eq!(dropped.load(SeqCst), 3);
    });
}

/// Counts drops.
struct CountOnDrop<'a>(&'a AtomicUsize);

impl Drop for CountOnDrop<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// A policy that panics fails the scope instead of hanging it: the panic is
/// kept as a failure of the child it was deciding on (F2).
#[test]
fn a_panicking_policy_fails_the_scope_and_never_hangs_it() {
    struct Boom;
    impl Policy for Boom {
        type Output<R> = Vec<ChildFailure>;
        fn on_complete(&self, _: &ChildInfo, _: Outcome) -> Verdict {
            panic!("planted policy panic")
        }
        fn finish<R>(self, _: Option<R>, failures: Vec<ChildFailure>) -> Vec<ChildFailure> {
            failures
        }
    }
    within(30, || {
        let pool = Pool::builder().threads(2).build().unwrap();
        let failures = pool.scope_with(Boom, |s| {
            s.exec_blocking(|| 1);
        });
        assert_eq!(failures.len(), 1);
        assert!(failures[0].is_panic());
        pool.shutdown().unwrap();
    });
}

/// A panic in `on_fork` comes out of the spawn, and the scope still closes.
#[test]
fn a_panic_in_on_fork_comes_out_of_the_spawn() {
    struct ForkBoom;
    impl Policy for ForkBoom {
        type Output<R> = ();
        fn on_fork(&self, _: &ChildInfo) {
            panic!("planted fork panic")
        }
        fn on_complete(&self, _: &ChildInfo, _: Outcome) -> Verdict {
            Verdict::Continue
        }
        fn finish<R>(self, _: Option<R>, _: Vec<ChildFailure>) {}
    }
    within(30, || {
        let pool = Pool::builder().threads(1).build().unwrap();
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pool.scope_with(ForkBoom, |s| {
                s.exec_blocking(|| 1);
            })
        }));
        assert!(caught.is_err(), "the spawn's panic reaches the caller");
        pool.shutdown().unwrap();
    });
}

/// Under `FirstSuccess`, a panic is still a failure (a bug, not a lost
/// race), even after the win (F2).
#[test]
fn first_success_keeps_a_panic_even_after_the_win() {
    quiet_planted_panics();
    within(30, || {
        let pool = Pool::builder().threads(2).build().unwrap();
        let res = pool.scope_with(knotwork::FirstSuccess::new(), |s| {
            s.exec_blocking_try(|| -> Result<u8, &'static str> { panic!("planted real bug") });
            std::thread::sleep(std::time::Duration::from_millis(20));
            s.exec_blocking_try(|| Ok::<u8, &'static str>(1));
        });
        let err = res.expect_err("the panic is a failure, win or not");
        assert!(err.failures().iter().all(|f| f.is_panic()));
        assert_eq!(err.failures().len(), 1);
        pool.shutdown().unwrap();
    });
}

/// A `scope_async` body that takes its failing child's error from its `Task`
/// handles it: it is not dropped, and the scope returns its value (F4).
#[test]
fn an_async_body_that_observed_the_failure_runs_on() {
    within(30, || {
        let pool = Pool::builder().threads(2).build().unwrap();
        let v = knotwork::block_on(pool.scope_async(async |s| {
            let err = s.exec_try(async { Err::<(), _>("planted, observed") }).await.unwrap().unwrap_err();
            knotwork::sleep(std::time::Duration::from_millis(5)).await;
            err
        }));
        assert_eq!(v, "planted, observed");
        pool.shutdown().unwrap();
    });
}
