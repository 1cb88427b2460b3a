//! Issue 12, "No wait hangs": liveness. Deadlines fire on time, no wait
//! stalls or deadlocks the pool, nothing registered late blocks a close,
//! and neither a failure nor a thread's exit kills a worker or aborts.
//!
//! Every test runs under a watchdog (`common::within`), so a hang fails the
//! test instead of hanging CI. The tests whose failure mode is an abort run
//! their scenario in a child process (this test binary, re-run for that one
//! test with `KNOTWORK_LIVENESS_SCENARIO` set; see [`in_child_process`]), so
//! an abort fails the test instead of killing the whole binary. The timing
//! tests (L1, L2) take a lock so that they do not load the machine for each
//! other; their bounds are generous and each failure message gives the
//! measured figures.
//!
//! | # | property | tests |
//! |---|---|---|
//! | L1 | Deadlines fire on time: `cancel_after` reaches running blocking children, unstarted children never start once it passed, suspended async children are dropped, and a `timeout` in a blocking child's `block_on` elapses, all while the workers are busy | `cancel_after_reaches_running_blocking_children_on_time`, `blocking_children_not_started_by_the_deadline_never_start`, `cancel_after_drops_suspended_async_children_on_time`, `timeout_in_a_blocking_childs_block_on_elapses_on_time_while_the_workers_are_busy` |
//! | L2 | No stall while a worker idles: an async child keeps ticking when a blocking sibling is spawned from its own worker | `an_async_child_keeps_ticking_while_a_blocking_sibling_spawned_on_its_worker_runs`, `an_async_child_keeps_ticking_while_a_blocking_sibling_spawned_through_its_scope_handle_runs` |
//! | L3 | Every wait keeps the pool going (no deadlock) | `block_on_in_a_blocking_child_lets_its_async_scope_run_blocking_grandchildren_on_one_thread`, `block_on_in_a_blocking_child_lets_its_async_scope_run_exec_grandchildren_on_one_thread`, `two_outside_threads_blocking_on_async_scopes_inside_run_do_not_deadlock_two_workers`, `shutting_a_pool_down_inside_another_pools_run_inside_its_own_run_returns`, `dropping_a_pools_last_handle_inside_another_pools_run_on_its_worker_returns`, `a_one_thread_pool_waiting_in_another_pools_run_still_runs_its_own_jobs`, `a_blocking_join_of_a_sibling_suspended_lower_on_the_same_stack_completes`, `awaiting_a_sibling_suspended_lower_on_the_same_stack_completes` |
//! | L4 | `Task::cancel()` of a running blocking child cancels the scopes nested in it and wakes their suspended async grandchildren at once | `task_cancel_of_a_running_blocking_child_wakes_the_async_grandchildren_of_its_sync_scope`, `task_cancel_of_a_running_blocking_child_wakes_the_async_grandchildren_of_its_async_scope` |
//! | L5 | Nothing registered late blocks a close | `cancel_after_through_an_escaped_handle_racing_the_close_never_hangs_it`, `an_unpolled_forgotten_scope_async_future_in_an_async_child_does_not_hang_the_enclosing_scope`, `an_unpolled_forgotten_scope_async_future_in_a_blocking_child_does_not_hang_the_enclosing_scope` |
//! | L6 | Failure never kills a worker or aborts (child processes) | `a_spawned_job_whose_payload_panics_on_drop_kills_no_worker`, `a_spawned_job_whose_payload_panics_on_drop_run_inside_a_join_does_not_abort`, `a_join_half_whose_payload_panics_on_drop_does_not_abort`, `a_body_panic_wins_over_a_child_payload_that_panics_on_drop_without_abort`, `a_waker_that_panics_on_drop_left_in_a_workers_timers_does_not_fail_shutdown` |
//! | L7 | Thread exit is safe (child processes) | `a_thread_exiting_with_a_detached_local_task_inside_an_unfinished_async_scope_does_not_abort`, `a_thread_local_destructor_registered_after_first_use_may_call_knotwork_without_abort`, `a_thread_local_destructor_registered_before_first_use_may_call_knotwork_without_abort` |
//! | L8 | `Task::cancel()` on a finished task is a no-op | `cancelling_a_task_after_awaiting_it_is_a_no_op` |
mod common;

use common::{panic_text, pool, within};
use knotwork::{Pool, Scope, TaskError};

use std::cell::RefCell;
use std::future::Future;
use std::io::Read;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard, mpsc};
use std::task::{Context, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// The timing tests (L1, L2) run alone: each takes this lock for writing,
/// every other test of this file for reading, so that neither another
/// timing test nor a busy neighbour (on a 2-core CI machine, one test's
/// threads can keep an idle worker from being scheduled for tens of
/// milliseconds) skews a measurement. Taken on the test's own thread,
/// outside the watchdog, so a watchdog failure releases it.
static TIMING: RwLock<()> = RwLock::new(());

fn timing_lock() -> RwLockWriteGuard<'static, ()> {
    TIMING.write().unwrap_or_else(PoisonError::into_inner)
}

/// Taken by every test that does not measure time (see [`timing_lock`]).
fn neighbour_lock() -> RwLockReadGuard<'static, ()> {
    TIMING.read().unwrap_or_else(PoisonError::into_inner)
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// How long after `deadline` the instant `at` is, in milliseconds
/// (negative: before it).
fn late_ms(at: Instant, deadline: Instant) -> f64 {
    if at >= deadline { millis(at - deadline) } else { -millis(deadline - at) }
}

/// Collects the verdict of every case of a test, so that one failure
/// message lists all of them with their measured figures.
#[derive(Default)]
struct Report {
    lines: Vec<String>,
    failed: bool,
}

impl Report {
    fn ok(&mut self, line: String) {
        self.lines.push(format!("  ok   {line}"));
    }

    fn bad(&mut self, line: String) {
        self.failed = true;
        self.lines.push(format!("  FAIL {line}"));
    }

    fn check(&mut self, good: bool, line: String) {
        if good { self.ok(line) } else { self.bad(line) }
    }

    fn finish(self, what: &str) {
        let text = self.lines.join("\n");
        println!("{what}:\n{text}");
        assert!(!self.failed, "{what}:\n{text}");
    }
}

/// Counts drops, to show an async child's future was dropped.
struct DropFlag(Arc<AtomicUsize>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

// ---------------------------------------------------------------------------
// L1: deadlines fire on time
// ---------------------------------------------------------------------------

/// The `cancel_after` deadline the L1 tests use.
const DEADLINE: Duration = Duration::from_millis(100);
/// How late past the deadline a cancellation may be seen (the issue asks
/// for 20 ms; this is generous, for a loaded CI machine).
const SLACK: Duration = Duration::from_millis(60);
/// How long a polling blocking child waits for its cancellation.
const POLL_FOR: Duration = Duration::from_secs(3);

/// When `cancel_after` is called relative to the spawns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Arm {
    BeforeTheSpawns,
    AfterTheSpawns,
}

/// Calls `s.cancel_after(DEADLINE)` and returns the deadline (taken just
/// before the call, so it is never later than the scope's own).
fn cancel_after(s: &Scope<'_, '_>) -> Instant {
    let deadline = Instant::now() + DEADLINE;
    s.cancel_after(DEADLINE);
    deadline
}

/// A blocking child's body: polls `is_cancelled()` every 5 ms for up to
/// [`POLL_FOR`]; returns when it saw it, or `None`.
fn poll_for_cancellation() -> Option<Instant> {
    let start = Instant::now();
    loop {
        if knotwork::is_cancelled() {
            return Some(Instant::now());
        }
        if start.elapsed() >= POLL_FOR {
            return None;
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// Checks one polling child's result; returns whether it started.
fn check_poller(
    report: &mut Report,
    label: &str,
    result: Result<Option<Instant>, TaskError>,
    deadline: Instant,
) -> bool {
    match result {
        Ok(Some(at)) => {
            let late = late_ms(at, deadline);
            report.check(
                at >= deadline && at - deadline < SLACK,
                format!(
                    "{label}: saw the cancellation {late:.1} ms after the deadline (bound: 0..{SLACK:?})"
                ),
            );
            true
        }
        Ok(None) => {
            report.bad(format!("{label}: never saw the cancellation in the {POLL_FOR:?} it polled"));
            true
        }
        Err(e) if e.is_cancelled() => {
            report.ok(format!("{label}: never started (cancelled before it could)"));
            false
        }
        Err(e) => {
            report.bad(format!("{label}: failed: {e}"));
            false
        }
    }
}

#[test]
fn cancel_after_reaches_running_blocking_children_on_time() {
    let _timing = timing_lock();
    within(120, || {
        let mut report = Report::default();
        for threads in 1..=3 {
            for arm in [Arm::BeforeTheSpawns, Arm::AfterTheSpawns] {
                let pool = pool(threads);
                let (deadline, results) = pool.scope(|s| {
                    let early = (arm == Arm::BeforeTheSpawns).then(|| cancel_after(s));
                    let children =
                        [s.exec_blocking(poll_for_cancellation), s.exec_blocking(poll_for_cancellation)];
                    let deadline = early.unwrap_or_else(|| cancel_after(s));
                    (deadline, children.map(|t| t.join()))
                });
                let mut started = 0;
                for (i, result) in results.into_iter().enumerate() {
                    let label = format!("{threads} thread(s), cancel_after {arm:?}, blocking child {i}");
                    started += usize::from(check_poller(&mut report, &label, result, deadline));
                }
                let free = threads.min(2);
                if started < free {
                    report.bad(format!(
                        "{threads} thread(s), cancel_after {arm:?}: only {started} child(ren) started, with {free} worker(s) free"
                    ));
                }
                pool.shutdown().unwrap();
            }
        }
        report.finish("L1: cancel_after(100 ms) seen by two polling blocking children");
    });
}

/// Where the scope body runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    OffThePool,
    OnTheWorker,
}

#[test]
fn blocking_children_not_started_by_the_deadline_never_start() {
    const CHILDREN: usize = 10;
    const WORK: Duration = Duration::from_millis(30);
    let _timing = timing_lock();
    within(60, || {
        let mut report = Report::default();
        for place in [Place::OffThePool, Place::OnTheWorker] {
            for arm in [Arm::BeforeTheSpawns, Arm::AfterTheSpawns] {
                // One worker, ten children of 30 ms each (300 ms of work) and
                // a 100 ms deadline: the children that have not started by
                // then must never start.
                let pool = pool(1);
                let starts = Mutex::new(Vec::new());
                let body = || {
                    pool.scope(|s| {
                        let early = (arm == Arm::BeforeTheSpawns).then(|| cancel_after(s));
                        let children: Vec<_> = (0..CHILDREN)
                            .map(|_| {
                                s.exec_blocking(|| {
                                    starts.lock().unwrap().push(Instant::now());
                                    thread::sleep(WORK);
                                })
                            })
                            .collect();
                        let deadline = early.unwrap_or_else(|| cancel_after(s));
                        (deadline, children.into_iter().map(|t| t.join()).collect::<Vec<_>>())
                    })
                };
                let (deadline, results) = match place {
                    Place::OffThePool => body(),
                    Place::OnTheWorker => pool.run(body).unwrap(),
                };
                let starts = starts.into_inner().unwrap();
                let label = format!("scope {place:?}, cancel_after {arm:?}");
                let ran = results.iter().filter(|r| r.is_ok()).count();
                let cancelled =
                    results.iter().filter(|r| r.as_ref().is_err_and(TaskError::is_cancelled)).count();
                report.check(
                    ran == starts.len() && ran + cancelled == CHILDREN,
                    format!(
                        "{label}: {ran} child(ren) ran, {cancelled} were cancelled, {} started",
                        starts.len()
                    ),
                );
                let latest = starts
                    .iter()
                    .max()
                    .map_or("none".into(), |&at| format!("{:.1} ms", late_ms(at, deadline)));
                let too_late = starts.iter().filter(|&&at| at >= deadline + SLACK).count();
                report.check(
                    too_late == 0,
                    format!(
                        "{label}: {too_late} child(ren) started {SLACK:?} or more after the deadline \
                         (the latest start: {latest} after it)"
                    ),
                );
                pool.shutdown().unwrap();
            }
        }
        report.finish("L1: unstarted blocking children never start once cancel_after(100 ms) passed");
    });
}

#[test]
fn cancel_after_drops_suspended_async_children_on_time() {
    let _timing = timing_lock();
    within(120, || {
        let mut report = Report::default();
        for threads in 1..=3 {
            for arm in [Arm::BeforeTheSpawns, Arm::AfterTheSpawns] {
                let pool = pool(threads);
                let drops = Arc::new(AtomicUsize::new(0));
                let (deadline, dropped, pollers) = pool.scope(|s| {
                    let early = (arm == Arm::BeforeTheSpawns).then(|| cancel_after(s));
                    // Two blocking children keep up to two workers busy
                    // until they see the cancellation.
                    let pollers =
                        [s.exec_blocking(poll_for_cancellation), s.exec_blocking(poll_for_cancellation)];
                    let suspended = [0, 1].map(|_| {
                        let flag = DropFlag(drops.clone());
                        s.exec(async move {
                            let _flag = flag;
                            std::future::pending::<()>().await
                        })
                    });
                    let deadline = early.unwrap_or_else(|| cancel_after(s));
                    let dropped = suspended.map(|t| {
                        let result = t.join();
                        (result, Instant::now())
                    });
                    (deadline, dropped, pollers.map(|t| t.join()))
                });
                for (i, (result, at)) in dropped.into_iter().enumerate() {
                    let label = format!("{threads} thread(s), cancel_after {arm:?}, async child {i}");
                    let late = late_ms(at, deadline);
                    match result {
                        Err(e) if e.is_cancelled() => report.check(
                            at >= deadline && at - deadline < SLACK,
                            format!(
                                "{label}: dropped (join gave Err is_cancelled) {late:.1} ms after the deadline \
                                 (bound: 0..{SLACK:?})"
                            ),
                        ),
                        Err(e) => report.bad(format!("{label}: join gave {e}, not a cancellation")),
                        Ok(()) => report.bad(format!("{label}: a pending() child completed")),
                    }
                }
                report.check(
                    drops.load(Ordering::SeqCst) == 2,
                    format!("{threads} thread(s), cancel_after {arm:?}: both suspended futures were dropped"),
                );
                for (i, result) in pollers.into_iter().enumerate() {
                    let label = format!("{threads} thread(s), cancel_after {arm:?}, blocking child {i}");
                    check_poller(&mut report, &label, result, deadline);
                }
                pool.shutdown().unwrap();
            }
        }
        report.finish("L1: cancel_after(100 ms) drops suspended async children while blocking siblings run");
    });
}

#[test]
fn timeout_in_a_blocking_childs_block_on_elapses_on_time_while_the_workers_are_busy() {
    const TIMEOUT: Duration = Duration::from_millis(50);
    const BOUND: Duration = Duration::from_millis(300);
    const BUSY: Duration = Duration::from_millis(500);
    let _timing = timing_lock();
    within(60, || {
        let mut report = Report::default();
        for threads in 1..=3 {
            let pool = pool(threads);
            let (elapsed_err, waited) = pool.scope(|s| {
                s.exec_blocking(move || {
                    // More busy siblings than workers, spawned from this
                    // worker (so they sit in its deque while it waits).
                    for _ in 0..threads + 1 {
                        s.exec_blocking(|| thread::sleep(BUSY));
                    }
                    let start = Instant::now();
                    let result = knotwork::block_on(knotwork::timeout(TIMEOUT, std::future::pending::<()>()));
                    (result.is_err(), start.elapsed())
                })
                .join()
                .unwrap()
            });
            report.check(
                elapsed_err && waited >= TIMEOUT && waited < BOUND,
                format!(
                    "{threads} thread(s): timeout({TIMEOUT:?}, pending) returned {} after {:.1} ms \
                     (bound: {TIMEOUT:?}..{BOUND:?}; busy siblings take {BUSY:?} each)",
                    if elapsed_err { "Err(Elapsed)" } else { "Ok" },
                    millis(waited)
                ),
            );
            pool.shutdown().unwrap();
        }
        report.finish("L1: timeout inside a blocking child's block_on while the workers are busy");
    });
}

// ---------------------------------------------------------------------------
// L2: no stall while a worker idles
// ---------------------------------------------------------------------------

const TICK: Duration = Duration::from_millis(10);
const TICK_FOR: Duration = Duration::from_millis(550);
const BLOCK_FOR: Duration = Duration::from_millis(300);
/// The issue asks for gaps under 25 ms; this is generous, for CI.
const MAX_GAP: Duration = Duration::from_millis(60);
const REPEATS: usize = 5;

/// Ticks every [`TICK`] for [`TICK_FOR`], recording the instant of each
/// tick; after the third tick, calls `spawn` (which spawns a blocking
/// sibling from this task, on this worker).
async fn tick(spawn: impl FnOnce() + Send) -> Vec<Instant> {
    let start = Instant::now();
    let mut ticks = vec![start];
    let mut spawn = Some(spawn);
    while start.elapsed() < TICK_FOR {
        knotwork::sleep(TICK).await;
        ticks.push(Instant::now());
        if ticks.len() == 4 {
            if let Some(spawn) = spawn.take() {
                spawn();
            }
        }
    }
    ticks
}

fn max_gap(ticks: &[Instant]) -> Duration {
    ticks.windows(2).map(|w| w[1] - w[0]).max().unwrap_or_default()
}

fn check_ticks(report: &mut Report, rep: usize, ticks: &[Instant]) {
    let gap = max_gap(ticks);
    report.check(
        gap < MAX_GAP,
        format!(
            "repeat {rep}: {} ticks, the longest gap {:.1} ms (bound {MAX_GAP:?})",
            ticks.len(),
            millis(gap)
        ),
    );
}

#[test]
fn an_async_child_keeps_ticking_while_a_blocking_sibling_spawned_on_its_worker_runs() {
    let _timing = timing_lock();
    within(60, || {
        let mut report = Report::default();
        for rep in 0..REPEATS {
            // Two workers: the ticker's, and one that is idle.
            let pool = pool(2);
            let ticks = pool.scope(|s| {
                s.exec(tick(move || {
                    s.exec_blocking(|| thread::sleep(BLOCK_FOR));
                }))
                .join()
                .unwrap()
            });
            check_ticks(&mut report, rep, &ticks);
            pool.shutdown().unwrap();
        }
        report.finish(
            "L2: a 10 ms ticker on a 2-thread pool while a 300 ms blocking sibling spawned from it runs",
        );
    });
}

#[test]
fn an_async_child_keeps_ticking_while_a_blocking_sibling_spawned_through_its_scope_handle_runs() {
    let _timing = timing_lock();
    within(60, || {
        let mut report = Report::default();
        for rep in 0..REPEATS {
            let pool = pool(2);
            let ticks = knotwork::block_on(pool.scope_async(async |s| {
                let handle = s.clone();
                s.exec(tick(move || {
                    handle.exec_blocking(|| thread::sleep(BLOCK_FOR));
                }))
                .await
                .unwrap()
            }));
            check_ticks(&mut report, rep, &ticks);
            pool.shutdown().unwrap();
        }
        report.finish(
            "L2: a 10 ms ticker in an async scope while a 300 ms blocking sibling spawned from it runs",
        );
    });
}

// ---------------------------------------------------------------------------
// L3: every wait keeps the pool going
// ---------------------------------------------------------------------------

#[test]
fn block_on_in_a_blocking_child_lets_its_async_scope_run_blocking_grandchildren_on_one_thread() {
    let _neighbour = neighbour_lock();
    within(20, || {
        let pool = pool(1);
        let v = pool.scope(|s| {
            s.exec_blocking(|| {
                knotwork::block_on(
                    pool.scope_async(async |inner| inner.exec_blocking(|| 5).await.unwrap() + 1),
                )
            })
            .join()
        });
        assert_eq!(v.unwrap(), 6);
        pool.shutdown().unwrap();
    });
}

#[test]
fn block_on_in_a_blocking_child_lets_its_async_scope_run_exec_grandchildren_on_one_thread() {
    let _neighbour = neighbour_lock();
    within(20, || {
        let pool = pool(1);
        let v = pool.scope(|s| {
            s.exec_blocking(|| {
                knotwork::block_on(pool.scope_async(async |inner| {
                    let a = inner.exec(async {
                        knotwork::sleep(Duration::from_millis(5)).await;
                        5
                    });
                    let b = inner.exec(async { 1 });
                    a.await.unwrap() + b.await.unwrap()
                }))
            })
            .join()
        });
        assert_eq!(v.unwrap(), 6);
        pool.shutdown().unwrap();
    });
}

#[test]
fn two_outside_threads_blocking_on_async_scopes_inside_run_do_not_deadlock_two_workers() {
    let _neighbour = neighbour_lock();
    within(20, || {
        let pool = pool(2);
        // Both workers are inside a `block_on` (the barrier makes sure)
        // before either spawns the child its scope waits for.
        let barrier = Arc::new(Barrier::new(2));
        let callers: Vec<_> = (0..2u32)
            .map(|i| {
                let (pool, barrier) = (pool.clone(), barrier.clone());
                thread::spawn(move || {
                    pool.run(|| {
                        knotwork::block_on(async {
                            barrier.wait();
                            pool.scope_async(async move |s| s.exec_blocking(move || 10 * i).await.unwrap())
                                .await
                        })
                    })
                })
            })
            .collect();
        let results: Vec<_> = callers.into_iter().map(|t| t.join().unwrap().unwrap()).collect();
        assert_eq!(results, [0, 10]);
        pool.shutdown().unwrap();
    });
}

#[test]
fn shutting_a_pool_down_inside_another_pools_run_inside_its_own_run_returns() {
    let _neighbour = neighbour_lock();
    within(20, || {
        let a = pool(1);
        let b = pool(1);
        let returned = a.run(|| b.run(|| a.shutdown()));
        // Any value will do (an error is fine); what matters is that it returned.
        println!("L3: a.run(|| b.run(|| a.shutdown())) returned {returned:?}");
        drop(b);
    });
}

#[test]
fn dropping_a_pools_last_handle_inside_another_pools_run_on_its_worker_returns() {
    let _neighbour = neighbour_lock();
    within(20, || {
        let a = pool(1);
        let b = pool(1);
        let last = a.clone();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let (done_tx, done_rx) = mpsc::channel();
        a.spawn(move || {
            go_rx.recv().unwrap();
            // On A's worker; inside `b.run`, on B's worker, A's last handle goes.
            let returned = b.run(move || drop(last));
            done_tx.send(returned).unwrap();
        })
        .unwrap();
        drop(a); // `last` is now A's only handle
        go_tx.send(()).unwrap();
        let returned = done_rx.recv().unwrap();
        println!("L3: b.run(|| drop(A's last handle)) on A's worker returned {returned:?}");
        assert!(returned.is_ok(), "B is not shut down, so its run succeeds: {returned:?}");
    });
}

#[test]
fn a_one_thread_pool_waiting_in_another_pools_run_still_runs_its_own_jobs() {
    let _neighbour = neighbour_lock();
    within(20, || {
        let a = pool(1);
        let b = pool(1);
        let v = a.run(|| b.run(|| a.run(|| 7)));
        assert_eq!(v, Ok(Ok(Ok(7))));
        a.shutdown().unwrap();
        b.shutdown().unwrap();
    });
}

/// How child B waits for child A.
#[derive(Clone, Copy)]
enum Wait {
    Join,
    Await,
}

/// On one thread, child A waits (a sync scope whose async child sleeps
/// 50 ms) while child B, polled on the same loop meanwhile, waits for A:
/// A is suspended in its wait lower on the same stack.
fn sibling_waits_for_a_child_suspended_below(how: Wait) -> i32 {
    let pool = pool(1);
    let v = pool.scope(|s| {
        let a = s.exec(async {
            knotwork::scope(|inner| {
                inner.exec(async { knotwork::sleep(Duration::from_millis(50)).await });
            });
            1
        });
        let b = s.exec(async move {
            let result = match how {
                Wait::Join => a.join(),
                Wait::Await => a.await,
            };
            result.unwrap() + 1
        });
        b.join().unwrap()
    });
    pool.shutdown().unwrap();
    v
}

#[test]
fn a_blocking_join_of_a_sibling_suspended_lower_on_the_same_stack_completes() {
    let _neighbour = neighbour_lock();
    within(20, || assert_eq!(sibling_waits_for_a_child_suspended_below(Wait::Join), 2));
}

#[test]
fn awaiting_a_sibling_suspended_lower_on_the_same_stack_completes() {
    let _neighbour = neighbour_lock();
    within(20, || assert_eq!(sibling_waits_for_a_child_suspended_below(Wait::Await), 2));
}

// ---------------------------------------------------------------------------
// L4: Task::cancel of a running blocking child reaches its nested scopes
// ---------------------------------------------------------------------------

/// How soon "at once" must be.
const AT_ONCE: Duration = Duration::from_secs(1);

/// Runs `child` as a blocking child of a scope on two threads, waits until
/// `started` is set (by a suspended grandchild), cancels the child with
/// `Task::cancel` and checks that its join returns at once.
fn cancel_running_blocking_child(started: Arc<AtomicBool>, child: impl FnOnce() -> bool + Send) {
    let pool = pool(2);
    pool.scope(|s| {
        let t = s.exec_blocking(child);
        assert!(common::eventually(10, || started.load(Ordering::SeqCst)), "the grandchild never started");
        thread::sleep(Duration::from_millis(10)); // let the grandchild suspend
        let at = Instant::now();
        t.cancel();
        let result = t.join();
        let waited = at.elapsed();
        assert!(waited < AT_ONCE, "the cancelled child's join took {:.1} ms", millis(waited));
        assert!(matches!(result, Ok(true)), "the child ran to its end and saw its cancellation: {result:?}");
    });
    pool.shutdown().unwrap();
}

/// A grandchild that says it started and then waits forever; `flag` counts
/// its drop.
async fn suspended_grandchild(started: Arc<AtomicBool>, flag: DropFlag) {
    let _flag = flag;
    started.store(true, Ordering::SeqCst);
    std::future::pending::<()>().await
}

#[test]
fn task_cancel_of_a_running_blocking_child_wakes_the_async_grandchildren_of_its_sync_scope() {
    let _neighbour = neighbour_lock();
    within(20, || {
        let started = Arc::new(AtomicBool::new(false));
        let drops = Arc::new(AtomicUsize::new(0));
        let (st, flag) = (started.clone(), DropFlag(drops.clone()));
        cancel_running_blocking_child(started, move || {
            knotwork::scope(|inner| {
                inner.exec(suspended_grandchild(st, flag));
            });
            knotwork::is_cancelled()
        });
        assert_eq!(drops.load(Ordering::SeqCst), 1, "the suspended grandchild was dropped");
    });
}

#[test]
fn task_cancel_of_a_running_blocking_child_wakes_the_async_grandchildren_of_its_async_scope() {
    let _neighbour = neighbour_lock();
    within(20, || {
        let started = Arc::new(AtomicBool::new(false));
        let drops = Arc::new(AtomicUsize::new(0));
        let (st, flag) = (started.clone(), DropFlag(drops.clone()));
        cancel_running_blocking_child(started, move || {
            knotwork::block_on(knotwork::scope_async(async move |inner| {
                inner.exec(suspended_grandchild(st, flag));
            }));
            knotwork::is_cancelled()
        });
        assert_eq!(drops.load(Ordering::SeqCst), 1, "the suspended grandchild was dropped");
    });
}

// ---------------------------------------------------------------------------
// L5: nothing registered late blocks a close
// ---------------------------------------------------------------------------

#[test]
fn cancel_after_through_an_escaped_handle_racing_the_close_never_hangs_it() {
    let _neighbour = neighbour_lock();
    const ROUNDS: usize = 300;
    /// How long one scope's close may take before it counts as hung.
    const CLOSE_LIMIT: Duration = Duration::from_secs(20);
    within(120, || {
        let pool = pool(2);
        let (handles_tx, handles_rx) = mpsc::channel::<(knotwork::ScopeHandle, Arc<AtomicBool>)>();
        let (acks_tx, acks_rx) = mpsc::channel::<usize>();
        // A thread that calls `cancel_after` (with a deadline far away) on
        // each scope's escaped handle until that scope has closed, and once
        // more after.
        let racer = thread::spawn(move || {
            for (handle, closed) in handles_rx {
                let start = Instant::now();
                let mut calls = 0;
                while !closed.load(Ordering::SeqCst) && start.elapsed() < Duration::from_secs(2) {
                    handle.cancel_after(Duration::from_secs(3600));
                    calls += 1;
                }
                handle.cancel_after(Duration::from_secs(3600));
                acks_tx.send(calls).unwrap();
            }
        });
        // The scopes open and close on their own thread, which reports each
        // close, so that a hung one is named.
        let (closes_tx, closes_rx) = mpsc::channel::<usize>();
        let p = pool.clone();
        let closer = thread::spawn(move || {
            let mut calls = 0;
            for round in 0..ROUNDS {
                let closed = Arc::new(AtomicBool::new(false));
                let (tx, c) = (handles_tx.clone(), closed.clone());
                knotwork::block_on(p.scope_async(async move |s| {
                    tx.send((s.clone(), c)).unwrap();
                    let child = s.exec(async { knotwork::yield_now().await });
                    // Vary where the close meets the racer's calls.
                    for _ in 0..round % 4 {
                        knotwork::yield_now().await;
                    }
                    child.await.unwrap();
                }));
                closed.store(true, Ordering::SeqCst);
                calls += acks_rx.recv().unwrap();
                closes_tx.send(calls).unwrap();
            }
        });
        let mut calls = 0;
        for round in 0..ROUNDS {
            match closes_rx.recv_timeout(CLOSE_LIMIT) {
                Ok(total) => calls = total,
                Err(_) => panic!(
                    "the close of scope {round} (of {ROUNDS}) did not return within {CLOSE_LIMIT:?} \
                     while cancel_after raced it ({calls} racing calls in the rounds before)"
                ),
            }
        }
        closer.join().unwrap();
        racer.join().unwrap();
        println!("L5: {ROUNDS} scopes closed while {calls} cancel_after calls raced them");
        pool.shutdown().unwrap();
    });
}

#[test]
fn an_unpolled_forgotten_scope_async_future_in_an_async_child_does_not_hang_the_enclosing_scope() {
    let _neighbour = neighbour_lock();
    within(20, || {
        let pool = pool(2);
        let v = pool.scope(|s| {
            s.exec(async {
                let never_polled = knotwork::scope_async(async |inner| {
                    inner.exec(async {});
                });
                std::mem::forget(never_polled);
                1
            })
            .join()
        });
        assert_eq!(v.unwrap(), 1);
        // What the leak costs the pool is not this property: leak the pool
        // too rather than let its shutdown wait on the leaked future.
        std::mem::forget(pool);
    });
}

#[test]
fn an_unpolled_forgotten_scope_async_future_in_a_blocking_child_does_not_hang_the_enclosing_scope() {
    let _neighbour = neighbour_lock();
    within(20, || {
        let pool = pool(2);
        let v = pool.scope(|s| {
            s.exec_blocking(|| {
                let never_polled = knotwork::scope_async(async |inner| {
                    inner.exec_blocking(|| ());
                });
                std::mem::forget(never_polled);
                2
            })
            .join()
        });
        assert_eq!(v.unwrap(), 2);
        std::mem::forget(pool); // as above
    });
}

// ---------------------------------------------------------------------------
// Child processes (L6, L7)
// ---------------------------------------------------------------------------

/// The variable that makes this binary run one scenario in a child process.
const SCENARIO_VAR: &str = "KNOTWORK_LIVENESS_SCENARIO";
/// What a child prints once its scenario returned.
const SCENARIO_DONE: &str = "knotwork-liveness: scenario finished:";
/// Lines a child prints for the parent to echo.
const CHILD_NOTE: &str = "knotwork-liveness:";

/// Runs `scenario` in a child process: this test binary, re-run with
/// `--exact test` and [`SCENARIO_VAR`] set to `test` (which must be the
/// calling test's name). There the scenario runs under a watchdog of `secs`
/// seconds; here the test fails if the child aborts, fails, or hangs.
fn in_child_process(test: &str, secs: u64, scenario: fn()) {
    if std::env::var_os(SCENARIO_VAR).is_some_and(|v| v == test) {
        within(secs, scenario);
        println!("{SCENARIO_DONE} {test}");
        return;
    }
    if let Some(name) = thread::current().name() {
        if name != "main" {
            assert_eq!(name, test, "in_child_process needs the calling test's exact name");
        }
    }
    let test = test.to_string();
    within(secs + 40, move || run_child(&test, Duration::from_secs(secs + 20)));
}

fn read_in_background(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

fn describe(status: ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            let abort = if signal == 6 { " (SIGABRT: the process aborted)" } else { "" };
            return format!("was killed by signal {signal}{abort}");
        }
    }
    format!("exited with {status}")
}

/// The last `lines` lines of a child's output, without backtrace frames
/// (an aborting panic prints one whatever `RUST_BACKTRACE` says).
fn tail(text: &str, lines: usize) -> String {
    let frame = |l: &&str| {
        let t = l.trim_start();
        t.starts_with("at ")
            || t.starts_with("stack backtrace:")
            || t.starts_with("note: Some details are omitted")
            || t.split_once(": ").is_some_and(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    };
    let kept: Vec<&str> = text.lines().filter(|l| !frame(l)).collect();
    kept[kept.len().saturating_sub(lines)..].join("\n")
}

fn run_child(test: &str, limit: Duration) {
    let exe = std::env::current_exe().expect("the path of the test binary");
    let mut child = Command::new(exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(SCENARIO_VAR, test)
        // Panic messages and step notes, not backtraces, in the tail we show.
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("re-run the test binary");
    let stdout = read_in_background(child.stdout.take().expect("piped"));
    let stderr = read_in_background(child.stderr.take().expect("piped"));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the child") {
            break Some(status);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(10));
    };
    let stdout = stdout.join().expect("stdout reader");
    let stderr = stderr.join().expect("stderr reader");
    // (A note may follow libtest's "test name ... " on the same line.)
    for line in stdout.lines().filter_map(|l| l.find(CHILD_NOTE).map(|at| &l[at..])) {
        if !line.starts_with(SCENARIO_DONE) {
            println!("{line}");
        }
    }
    match status {
        None => panic!(
            "{test}: the child process hung (killed after {limit:?}); its stderr ends:\n{}",
            tail(&stderr, 30)
        ),
        Some(status) if !status.success() => {
            panic!("{test}: the child process {}; its stderr ends:\n{}", describe(status), tail(&stderr, 30))
        }
        Some(_) => assert!(
            stdout.contains(&format!("{SCENARIO_DONE} {test}")),
            "{test}: the child process ran no scenario (is the test name right?); its stdout:\n{}",
            tail(&stdout, 30)
        ),
    }
}

/// Notes a step of a child's scenario on stderr, so that an abort's
/// output says where it happened.
fn step(what: &str) {
    eprintln!("{CHILD_NOTE} step: {what}");
}

// ---------------------------------------------------------------------------
// L6: failure never kills a worker or aborts
// ---------------------------------------------------------------------------

/// A panic payload whose `Drop` panics. It panics unconditionally: the
/// runtime must drop the payloads it discards outside any unwind (a panic
/// during an unwind aborts whatever catches it), and the tests never drop
/// one themselves (they leak the ones they receive).
struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("PanicOnDrop: this panic payload's Drop panics");
    }
}

/// Panics with a [`PanicOnDrop`] payload.
fn raise_panic_on_drop() {
    std::panic::panic_any(PanicOnDrop)
}

/// Leaks a received payload if it is a [`PanicOnDrop`]; returns its text
/// otherwise.
fn leak_or_text(payload: Box<dyn std::any::Any + Send>) -> Option<String> {
    if payload.is::<PanicOnDrop>() {
        std::mem::forget(payload);
        None
    } else {
        Some(panic_text(&*payload))
    }
}

/// Shuts `pool` down, turning a panic of `shutdown` into a message (and
/// leaking the pool then, so that its drop does not panic again).
fn shutdown_cleanly(pool: Pool) -> Result<(), String> {
    match catch_unwind(AssertUnwindSafe(|| pool.shutdown())) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("shutdown returned {e:?}")),
        Err(payload) => {
            std::mem::forget(pool);
            Err(format!(
                "shutdown panicked: {}",
                leak_or_text(payload).unwrap_or_else(|| "PanicOnDrop".into())
            ))
        }
    }
}

#[test]
fn a_spawned_job_whose_payload_panics_on_drop_kills_no_worker() {
    let _neighbour = neighbour_lock();
    in_child_process("a_spawned_job_whose_payload_panics_on_drop_kills_no_worker", 20, || {
        let pool = pool(1);
        step("Pool::spawn a job panicking with PanicOnDrop");
        pool.spawn(raise_panic_on_drop).unwrap();
        step("a later job on the same (only) worker");
        let (tx, rx) = mpsc::channel();
        pool.spawn(move || tx.send(7).unwrap()).unwrap();
        let later = rx.recv_timeout(Duration::from_secs(5));
        if later != Ok(7) {
            std::mem::forget(pool);
            panic!(
                "a job spawned after the one whose payload panics on drop did not run within 5 s ({later:?})"
            );
        }
        step("Pool::run after it");
        assert_eq!(pool.run(|| 8), Ok(8));
        step("shutdown");
        shutdown_cleanly(pool).unwrap();
    });
}

#[test]
fn a_spawned_job_whose_payload_panics_on_drop_run_inside_a_join_does_not_abort() {
    let _neighbour = neighbour_lock();
    in_child_process(
        "a_spawned_job_whose_payload_panics_on_drop_run_inside_a_join_does_not_abort",
        20,
        || {
            let pool = pool(1);
            step("a join half spawns a job panicking with PanicOnDrop; the join's wait runs it");
            let halves = pool
                .run(|| {
                    pool.join(
                        || {
                            pool.spawn(raise_panic_on_drop).unwrap();
                            1
                        },
                        || 2,
                    )
                })
                .unwrap();
            assert_eq!(halves, Ok((1, 2)));
            step("the same through the free knotwork::join on the worker");
            let halves = pool
                .run(|| {
                    knotwork::join(
                        || 3,
                        || {
                            Pool::current().unwrap().spawn(raise_panic_on_drop).unwrap();
                            thread::sleep(Duration::from_millis(5));
                            4
                        },
                    )
                })
                .unwrap();
            assert_eq!(halves, (3, 4));
            step("later work");
            assert_eq!(pool.run(|| 5), Ok(5));
            step("shutdown");
            shutdown_cleanly(pool).unwrap();
        },
    );
}

#[test]
fn a_join_half_whose_payload_panics_on_drop_does_not_abort() {
    let _neighbour = neighbour_lock();
    in_child_process("a_join_half_whose_payload_panics_on_drop_does_not_abort", 20, || {
        let pool = pool(1);
        for half in ["first", "second"] {
            step(&format!("the {half} half panics with PanicOnDrop"));
            let caught = catch_unwind(AssertUnwindSafe(|| {
                pool.join(
                    || {
                        if half == "first" {
                            raise_panic_on_drop()
                        }
                    },
                    || {
                        if half == "second" {
                            raise_panic_on_drop()
                        }
                    },
                )
            }));
            let payload = caught.expect_err("the half's panic is resumed in the caller");
            assert_eq!(leak_or_text(payload), None, "the caller gets the PanicOnDrop payload");
        }
        step("both halves panic, the second with PanicOnDrop");
        let caught =
            catch_unwind(AssertUnwindSafe(|| pool.join(|| panic!("the first half"), raise_panic_on_drop)));
        let text = leak_or_text(caught.expect_err("a panic is resumed"));
        assert!(text.as_deref().is_none_or(|t| t == "the first half"), "resumed: {text:?}");
        step("both halves panic, the first with PanicOnDrop");
        let caught =
            catch_unwind(AssertUnwindSafe(|| pool.join(raise_panic_on_drop, || panic!("the second half"))));
        let text = leak_or_text(caught.expect_err("a panic is resumed"));
        assert!(text.as_deref().is_none_or(|t| t == "the second half"), "resumed: {text:?}");
        step("later work");
        assert_eq!(pool.run(|| 5), Ok(5));
        step("shutdown");
        shutdown_cleanly(pool).unwrap();
    });
}

#[test]
fn a_body_panic_wins_over_a_child_payload_that_panics_on_drop_without_abort() {
    let _neighbour = neighbour_lock();
    in_child_process("a_body_panic_wins_over_a_child_payload_that_panics_on_drop_without_abort", 20, || {
        let pool = pool(2);
        step("sync scope: a blocking child panics with PanicOnDrop, then the body panics");
        let caught = catch_unwind(AssertUnwindSafe(|| {
            pool.scope(|s| {
                let t = s.exec_blocking(raise_panic_on_drop);
                while !t.is_finished() {
                    thread::yield_now();
                }
                drop(t); // not during the unwind below: the scope owns the payload now
                panic!("the body");
            })
        }));
        assert_eq!(leak_or_text(caught.unwrap_err()).as_deref(), Some("the body"));
        step("sync scope: an async child panics with PanicOnDrop, then the body panics");
        let caught = catch_unwind(AssertUnwindSafe(|| {
            pool.scope(|s| {
                let t = s.exec(async { raise_panic_on_drop() });
                while !t.is_finished() {
                    thread::yield_now();
                }
                drop(t);
                panic!("the body");
            })
        }));
        assert_eq!(leak_or_text(caught.unwrap_err()).as_deref(), Some("the body"));
        step("async scope: a blocking child panics with PanicOnDrop, then the body panics");
        let caught = catch_unwind(AssertUnwindSafe(|| {
            knotwork::block_on(pool.scope_async(async |s| {
                let t = s.exec_blocking(raise_panic_on_drop);
                while !t.is_finished() {
                    knotwork::yield_now().await;
                }
                drop(t);
                panic!("the body");
            }))
        }));
        assert_eq!(leak_or_text(caught.unwrap_err()).as_deref(), Some("the body"));
        step("the pool still works");
        assert_eq!(pool.scope(|s| s.exec(async { 1 }).join().unwrap()), 1);
        step("shutdown");
        shutdown_cleanly(pool).unwrap();
    });
}

/// A waker whose `Drop` panics (its `wake` does nothing).
struct WakerDropBomb;

impl Wake for WakerDropBomb {
    fn wake(self: Arc<Self>) {}
}

impl Drop for WakerDropBomb {
    fn drop(&mut self) {
        panic!("WakerDropBomb: this Waker's Drop panics");
    }
}

#[test]
fn a_waker_that_panics_on_drop_left_in_a_workers_timers_does_not_fail_shutdown() {
    let _neighbour = neighbour_lock();
    in_child_process(
        "a_waker_that_panics_on_drop_left_in_a_workers_timers_does_not_fail_shutdown",
        20,
        || {
            let pool = pool(1);
            step("an exec child leaves a timer holding a WakerDropBomb in its worker's loop");
            pool.scope(|s| {
                s.exec(async {
                    let mut sleep = knotwork::sleep(Duration::from_secs(3600));
                    let waker = Waker::from(Arc::new(WakerDropBomb));
                    assert!(Pin::new(&mut sleep).poll(&mut Context::from_waker(&waker)).is_pending());
                    // The timer keeps its clone of the waker: the last reference.
                    std::mem::forget(sleep);
                    drop(waker);
                });
            });
            step("the worker's loop keeps running timers");
            let v = pool.scope(|s| {
                s.exec(async {
                    knotwork::sleep(Duration::from_millis(5)).await;
                    1
                })
                .join()
            });
            assert_eq!(v.unwrap(), 1);
            step("shutdown (tears the worker's loop down, with that timer)");
            shutdown_cleanly(pool).unwrap();
        },
    );
}

// ---------------------------------------------------------------------------
// L7: thread exit is safe
// ---------------------------------------------------------------------------

#[test]
fn a_thread_exiting_with_a_detached_local_task_inside_an_unfinished_async_scope_does_not_abort() {
    let _neighbour = neighbour_lock();
    in_child_process(
        "a_thread_exiting_with_a_detached_local_task_inside_an_unfinished_async_scope_does_not_abort",
        20,
        || {
            let pool = pool(2);
            let opened = Arc::new(AtomicBool::new(false));
            let (p, o) = (pool.clone(), opened.clone());
            step("a plain thread exits while its loop holds a detached task inside an open scope_async");
            thread::spawn(move || {
                let task = knotwork::spawn_local(async move {
                    p.scope_async(async move |s| {
                        s.exec(std::future::pending::<()>());
                        s.exec_blocking(|| thread::sleep(Duration::from_millis(200)));
                        o.store(true, Ordering::SeqCst);
                        std::future::pending::<()>().await
                    })
                    .await
                });
                drop(task); // detached: it runs on, on this thread's loop
                knotwork::block_on(knotwork::sleep(Duration::from_millis(20)));
                // The thread returns here; its loop (with the task) is torn down at exit.
            })
            .join()
            .expect("the thread exits normally");
            assert!(opened.load(Ordering::SeqCst), "the task had opened its scope");
            step("shutdown");
            shutdown_cleanly(pool).unwrap();
        },
    );
}

/// What each knotwork call made from a thread-local destructor did.
static DESTRUCTOR_OUTCOMES: Mutex<Vec<(String, Result<String, String>)>> = Mutex::new(Vec::new());

/// Held in a user's thread-local; its destructor calls knotwork, catching
/// (and recording) any panic: a panic may not leave a thread-local
/// destructor.
struct CallsKnotworkOnDrop(Pool);

impl Drop for CallsKnotworkOnDrop {
    fn drop(&mut self) {
        fn record(what: &str, outcome: std::thread::Result<String>) {
            let outcome = outcome.map_err(|payload| panic_text(&*payload));
            println!("{CHILD_NOTE} in a thread-local destructor, {what}: {outcome:?}");
            DESTRUCTOR_OUTCOMES
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push((what.to_string(), outcome));
        }
        /// Work that takes a moment, so that the caller really has to wait.
        fn moment<T>(value: T) -> T {
            thread::sleep(Duration::from_millis(20));
            value
        }
        let pool = &self.0;
        let run = || pool.run(|| moment(1));
        let scope = || pool.scope(|s| s.exec_blocking(|| moment(2)).join());
        record("Pool::run", catch_unwind(AssertUnwindSafe(|| format!("{:?}", run()))));
        record("Pool::scope", catch_unwind(AssertUnwindSafe(|| format!("{:?}", scope()))));
        record(
            "block_on",
            catch_unwind(AssertUnwindSafe(|| format!("{:?}", knotwork::block_on(async { 3 })))),
        );
    }
}

thread_local! {
    static CALLS_KNOTWORK_ON_DROP: RefCell<Option<CallsKnotworkOnDrop>> = const { RefCell::new(None) };
}

/// Uses knotwork on this thread: its loop, its parker and its waits.
fn use_knotwork(pool: &Pool) {
    knotwork::block_on(knotwork::sleep(Duration::from_millis(1)));
    assert_eq!(pool.run(|| 1), Ok(1));
    assert_eq!(pool.scope(|s| s.exec_blocking(|| 2).join().unwrap()), 2);
    assert_eq!(knotwork::block_on(pool.scope_async(async |s| s.exec(async { 3 }).await.unwrap())), 3);
}

/// A thread that used knotwork exits, running a user's thread-local
/// destructor that calls knotwork; the destructor registered before or after
/// the thread's first use of knotwork (so it runs after or before
/// knotwork's own thread-locals are destroyed).
fn thread_local_destructor_calls_knotwork(register_first: bool) {
    let pool = pool(2);
    DESTRUCTOR_OUTCOMES.lock().unwrap().clear();
    let p = pool.clone();
    step("a thread exits; a thread-local destructor calls Pool::run, Pool::scope and block_on");
    thread::spawn(move || {
        let guard = CallsKnotworkOnDrop(p.clone());
        if register_first {
            CALLS_KNOTWORK_ON_DROP.with(|g| *g.borrow_mut() = Some(guard));
            use_knotwork(&p);
        } else {
            use_knotwork(&p);
            CALLS_KNOTWORK_ON_DROP.with(|g| *g.borrow_mut() = Some(guard));
        }
    })
    .join()
    .expect("the thread exits normally");
    let outcomes = std::mem::take(&mut *DESTRUCTOR_OUTCOMES.lock().unwrap());
    assert_eq!(outcomes.len(), 3, "the destructor made every call: {outcomes:?}");
    for (what, outcome) in &outcomes {
        if let Err(message) = outcome {
            assert!(!message.is_empty(), "{what} panicked, but with no message");
        }
    }
    step("shutdown");
    shutdown_cleanly(pool).unwrap();
}

#[test]
fn a_thread_local_destructor_registered_after_first_use_may_call_knotwork_without_abort() {
    let _neighbour = neighbour_lock();
    in_child_process(
        "a_thread_local_destructor_registered_after_first_use_may_call_knotwork_without_abort",
        20,
        || thread_local_destructor_calls_knotwork(false),
    );
}

#[test]
fn a_thread_local_destructor_registered_before_first_use_may_call_knotwork_without_abort() {
    let _neighbour = neighbour_lock();
    in_child_process(
        "a_thread_local_destructor_registered_before_first_use_may_call_knotwork_without_abort",
        20,
        || thread_local_destructor_calls_knotwork(true),
    );
}

// ---------------------------------------------------------------------------
// L8: Task::cancel on a finished task is a no-op
// ---------------------------------------------------------------------------

#[test]
fn cancelling_a_task_after_awaiting_it_is_a_no_op() {
    let _neighbour = neighbour_lock();
    within(20, || {
        let pool = pool(2);
        let v = knotwork::block_on(pool.scope_async(async |s| {
            let mut a = s.exec(async { 7 });
            let v = (&mut a).await.unwrap();
            a.cancel();
            assert!(a.is_finished());
            let mut b = s.exec_blocking(|| 8);
            let w = (&mut b).await.unwrap();
            b.cancel();
            assert!(b.is_finished());
            v + w
        }));
        assert_eq!(v, 15);
        // A sync scope's body awaiting a child through `block_on`.
        let v = pool.scope(|s| {
            let mut t = s.exec(async { 1 });
            let v = knotwork::block_on(&mut t).unwrap();
            t.cancel();
            v
        });
        assert_eq!(v, 1);
        pool.shutdown().unwrap();
    });
}
