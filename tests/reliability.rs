//! The reliability suite: large, adversarial runs of the real runtime in
//! normal builds, each under a watchdog (`common::within`), so a deadlock or
//! a lost wake-up fails the test instead of hanging CI. They check counts and
//! outcomes, never speed.
//!
//! * a million children across nested scopes, each run exactly once;
//! * panics injected at random points of bodies and children (seeded): no
//!   hang, no child outlives its scope, the original payload surfaces;
//! * shutdown while the pool is busy: accepted work runs exactly once,
//!   refused work never;
//! * nesting depth 1000 on a pool of one thread;
//! * wake storms from many threads onto one loop;
//! * 100,000 concurrent timers.

mod common;

use common::{panic_text, pool, within};
use knotwork::Pool;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// A small deterministic generator (xorshift64*), so a failing seed can be
/// replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

// ---------------------------------------------------------------------------
// A million children

/// 100 children of the top scope, each opening a scope of 100 children, each
/// opening a scope of 100 leaves: 1,000,000 leaves. Each level mixes the
/// kinds: blocking children open sync scopes, async children open async
/// scopes (`scope_async`, awaited — the way to wait inside a task). Every
/// leaf marks its own byte; each must be marked exactly once, and the
/// scopes' sums must agree.
#[test]
fn a_million_children_across_nested_scopes_each_run_exactly_once() {
    within(300, || {
        const FAN: usize = 100;
        type Hits = Arc<Vec<AtomicU8>>;
        let pool = pool(2);
        let hits: Hits = Arc::new((0..FAN * FAN * FAN).map(|_| AtomicU8::new(0)).collect());
        let h = hits.clone();
        let total = pool.scope(|s| {
            let tasks: Vec<_> = (0..FAN)
                .map(|i| {
                    let h = h.clone();
                    s.exec_blocking(move || middle(i, h))
                })
                .collect();
            tasks.into_iter().map(|t| t.join().unwrap()).sum::<usize>()
        });
        assert_eq!(total, FAN * FAN * FAN, "every leaf reported to its scope");
        let wrong: Vec<usize> = (0..hits.len()).filter(|&k| hits[k].load(Ordering::Relaxed) != 1).collect();
        assert!(
            wrong.is_empty(),
            "{} leaves did not run exactly once (first: {:?})",
            wrong.len(),
            wrong.first()
        );

        fn middle(i: usize, hits: Hits) -> usize {
            knotwork::scope(|s| {
                let tasks: Vec<_> = (0..FAN)
                    .map(|j| {
                        let base = (i * FAN + j) * FAN;
                        let hits = hits.clone();
                        if j % 2 == 0 {
                            s.exec(leaves_async(base, hits))
                        } else {
                            s.exec_blocking(move || leaves(base, &hits))
                        }
                    })
                    .collect();
                tasks.into_iter().map(|t| t.join().unwrap()).sum()
            })
        }

        fn leaves(base: usize, hits: &[AtomicU8]) -> usize {
            let count = AtomicUsize::new(0);
            knotwork::scope(|s| {
                for k in 0..FAN {
                    let (hits, count) = (hits, &count);
                    let leaf = move || mark(hits, count, base + k);
                    // Handles dropped: only the scope's join waits for them.
                    if k % 2 == 0 {
                        drop(s.exec_blocking(leaf));
                    } else {
                        drop(s.exec(async move { leaf() }));
                    }
                }
            });
            count.into_inner()
        }

        fn mark(hits: &[AtomicU8], count: &AtomicUsize, leaf: usize) {
            hits[leaf].fetch_add(1, Ordering::Relaxed);
            count.fetch_add(1, Ordering::Relaxed);
        }

        async fn leaves_async(base: usize, hits: Hits) -> usize {
            let count = Arc::new(AtomicUsize::new(0));
            let c = count.clone();
            knotwork::scope_async(async move |s| {
                for k in 0..FAN {
                    let (hits, count) = (hits.clone(), c.clone());
                    let leaf = move || mark(&hits, &count, base + k);
                    if k % 2 == 0 {
                        drop(s.exec_blocking(leaf));
                    } else {
                        drop(s.exec(async move { leaf() }));
                    }
                }
            })
            .await;
            count.load(Ordering::Relaxed)
        }
    });
}

// ---------------------------------------------------------------------------
// Panic injection

/// The payload of an injected panic: the node that panicked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Planted(usize);

/// Where in a node's life its panic (if any) is injected.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Point {
    None,
    BeforeScope,
    InBodyBeforeSpawning,
    BetweenSpawns,
    AfterSpawning,
    AfterScope,
}

/// A randomly shaped tree of scopes: each node runs as a child of its
/// parent's scope (blocking or async), opens a scope for its own children,
/// and may panic at one point.
struct Node {
    id: usize,
    point: Point,
    async_kind: bool,
    /// Join this child's handle (and re-raise its panic), or drop it and let
    /// the scope observe the outcome.
    joined: bool,
    children: Vec<Node>,
}

fn build(rng: &mut Rng, next_id: &mut usize, depth: u32, injected: &mut Vec<usize>) -> Node {
    let id = *next_id;
    *next_id += 1;
    // One node in ~12 panics, at a random point.
    let point = if rng.below(12) == 0 {
        injected.push(id);
        match rng.below(5) {
            0 => Point::BeforeScope,
            1 => Point::InBodyBeforeSpawning,
            2 => Point::BetweenSpawns,
            3 => Point::AfterSpawning,
            _ => Point::AfterScope,
        }
    } else {
        Point::None
    };
    let fan = if depth == 0 { 0 } else { rng.below(4) };
    let children = (0..fan).map(|_| build(rng, next_id, depth - 1, injected)).collect();
    Node { id, point, async_kind: rng.below(2) == 0, joined: rng.below(2) == 0, children }
}

/// What the run observed.
#[derive(Default)]
struct Record {
    /// Children started and not yet ended (must be 0 whenever a scope is done).
    live: AtomicUsize,
    /// Injected panics that were actually raised (a node cancelled before it
    /// started never reaches its point).
    raised: Mutex<Vec<usize>>,
    /// Scopes that returned (or unwound) while one of their children was live.
    outlived: Mutex<Vec<usize>>,
    /// Nodes that ran to their end.
    completed: AtomicUsize,
}

/// The injected panics are expected by the thousand: keep their messages
/// out of the test output (any other panic still prints).
fn quiet_planted_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !info.payload().is::<Planted>() {
                default(info);
            }
        }));
    });
}

fn maybe_panic(node: &Node, at: Point, rec: &Record) {
    if node.point == at {
        rec.raised.lock().unwrap().push(node.id);
        resume_unwind(Box::new(Planted(node.id)));
    }
}

/// Runs `node` on this thread (it is already a child, or the root); returns
/// how many nodes of its subtree it saw finish through joined handles.
fn run_node(node: &Node, rec: &Record) -> usize {
    maybe_panic(node, Point::BeforeScope, rec);
    // Live children of *this* scope, to check its join.
    let mine = AtomicUsize::new(0);
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        knotwork::scope(|s| {
            maybe_panic(node, Point::InBodyBeforeSpawning, rec);
            let mut joins = Vec::new();
            for (k, child) in node.children.iter().enumerate() {
                if k > 0 {
                    maybe_panic(node, Point::BetweenSpawns, rec);
                }
                let mine = &mine;
                let body = move || {
                    rec.live.fetch_add(1, Ordering::SeqCst);
                    mine.fetch_add(1, Ordering::SeqCst);
                    let _live = Decrement(&rec.live);
                    let _mine = Decrement(mine);
                    run_node(child, rec)
                };
                let task =
                    if child.async_kind { s.exec(async move { body() }) } else { s.exec_blocking(body) };
                if child.joined {
                    joins.push(task);
                }
            }
            maybe_panic(node, Point::AfterSpawning, rec);
            let mut done = 1;
            for task in joins {
                match task.join() {
                    Ok(n) => done += n,
                    // A sibling's panic cancelled this one: nothing to add.
                    Err(e) if e.is_cancelled() => {}
                    Err(e) => resume_unwind(e.into_panic()),
                }
            }
            done
        })
    }));
    if mine.load(Ordering::SeqCst) != 0 {
        rec.outlived.lock().unwrap().push(node.id);
    }
    let done = outcome.unwrap_or_else(|payload| resume_unwind(payload));
    maybe_panic(node, Point::AfterScope, rec);
    rec.completed.fetch_add(1, Ordering::SeqCst);
    done
}

/// Decrements a live count when a child ends, however it ends.
struct Decrement<'a>(&'a AtomicUsize);

impl Drop for Decrement<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn count(node: &Node) -> usize {
    1 + node.children.iter().map(count).sum::<usize>()
}

/// 300 random trees (depth up to 4, fan-out up to 3, about one node in 12
/// panicking at a random point), on pools of 1, 2 and 3 threads. For each:
/// the run ends (watchdog), no scope finished while one of its children
/// was live, nothing is live at the end, and the outcome is exact — a tree
/// without panics completes every node; otherwise the root unwinds with the
/// `Planted` payload of a node that really panicked, and when only one did,
/// with exactly that one.
#[test]
fn injected_panics_never_hang_never_lose_a_join_and_surface_the_original_payload() {
    within(240, || {
        quiet_planted_panics();
        let pools: Vec<Pool> = (1..=3).map(pool).collect();
        for seed in 1..=300u64 {
            let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
            let (mut next_id, mut injected) = (0, Vec::new());
            let tree = build(&mut rng, &mut next_id, 4, &mut injected);
            let rec = Record::default();
            let pool = &pools[seed as usize % pools.len()];
            let result = catch_unwind(AssertUnwindSafe(|| pool.run(|| run_node(&tree, &rec)).unwrap()));
            let ctx = format!("seed {seed}: {} nodes, injected {injected:?}", count(&tree));
            assert_eq!(rec.live.load(Ordering::SeqCst), 0, "{ctx}: a child outlived the run");
            assert!(
                rec.outlived.lock().unwrap().is_empty(),
                "{ctx}: scopes {:?} finished early",
                rec.outlived
            );
            let raised = rec.raised.lock().unwrap().clone();
            match result {
                Ok(_) => {
                    assert!(raised.is_empty(), "{ctx}: panics {raised:?} were raised but the run returned");
                    if injected.is_empty() {
                        let completed = rec.completed.load(Ordering::SeqCst);
                        assert_eq!(completed, count(&tree), "{ctx}: every node runs when nothing panics");
                    }
                }
                Err(payload) => {
                    let Some(&Planted(id)) = payload.downcast_ref::<Planted>() else {
                        panic!("{ctx}: the payload was replaced: {:?}", panic_text(&*payload));
                    };
                    assert!(raised.contains(&id), "{ctx}: node {id} never panicked (raised {raised:?})");
                    if raised.len() == 1 {
                        assert_eq!(raised, [id], "{ctx}");
                    }
                }
            }
        }
    });
}

// ---------------------------------------------------------------------------
// Shutdown while busy

/// Four threads flood a two-thread pool with jobs (each spawning a child)
/// and scopes (each with children) while the main thread shuts it down.
/// Every accepted job and child ran exactly once before `shutdown`
/// returned; every refused one never ran; every thread saw refusals from
/// some point on.
#[test]
fn shutdown_while_busy_runs_accepted_work_exactly_once() {
    within(120, || {
        const PER_THREAD: usize = 20_000;
        let pool = pool(2);
        // One byte per possible unit of work: jobs, their children, scope children.
        let runs: Arc<Vec<AtomicU8>> = Arc::new((0..4 * PER_THREAD * 3).map(|_| AtomicU8::new(0)).collect());
        let accepted: Arc<Vec<AtomicBool>> =
            Arc::new((0..runs.len()).map(|_| AtomicBool::new(false)).collect());
        let submitters: Vec<_> = (0..4)
            .map(|t| {
                let (pool, runs, accepted) = (pool.clone(), runs.clone(), accepted.clone());
                std::thread::spawn(move || {
                    let mut refused = 0;
                    for i in 0..PER_THREAD {
                        let base = (t * PER_THREAD + i) * 3;
                        if i % 2 == 0 {
                            let (p, r, a) = (pool.clone(), runs.clone(), accepted.clone());
                            let submitted = pool.spawn(move || {
                                r[base].fetch_add(1, Ordering::SeqCst);
                                // Work spawned by accepted work is accepted while draining.
                                a[base + 1].store(true, Ordering::SeqCst);
                                let r2 = r.clone();
                                p.spawn(move || {
                                    r2[base + 1].fetch_add(1, Ordering::SeqCst);
                                })
                                .expect("children of accepted work are accepted");
                            });
                            match submitted {
                                Ok(()) => accepted[base].store(true, Ordering::SeqCst),
                                Err(e) => {
                                    assert!(e.is_shut_down());
                                    refused += 1;
                                }
                            }
                        } else {
                            let opened = pool.try_scope(|s| {
                                s.exec_blocking(|| runs[base].fetch_add(1, Ordering::SeqCst));
                                s.exec(async { runs[base + 2].fetch_add(1, Ordering::SeqCst) });
                            });
                            match opened {
                                Ok(()) => {
                                    // The scope returned: both children ran.
                                    assert_eq!(runs[base].load(Ordering::SeqCst), 1);
                                    assert_eq!(runs[base + 2].load(Ordering::SeqCst), 1);
                                    accepted[base].store(true, Ordering::SeqCst);
                                    accepted[base + 2].store(true, Ordering::SeqCst);
                                }
                                Err(e) => {
                                    assert!(e.is_shut_down());
                                    refused += 1;
                                }
                            }
                        }
                    }
                    refused
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(20));
        pool.shutdown().unwrap();
        // Taken right as shutdown returns: accepted work must all have run.
        let snapshot: Vec<u8> = runs.iter().map(|r| r.load(Ordering::SeqCst)).collect();
        let refused: usize = submitters.into_iter().map(|h| h.join().unwrap()).sum();
        let mut accepted_count = 0;
        for (k, ran) in snapshot.iter().enumerate() {
            if accepted[k].load(Ordering::SeqCst) {
                accepted_count += 1;
                assert_eq!(*ran, 1, "accepted unit {k} ran {ran} times by the time shutdown returned");
            }
        }
        for (k, r) in runs.iter().enumerate() {
            if !accepted[k].load(Ordering::SeqCst) {
                assert_eq!(r.load(Ordering::SeqCst), 0, "refused unit {k} ran");
            }
        }
        assert!(refused > 0, "shutdown came after all the work: the test raced nothing");
        assert!(accepted_count > 0, "shutdown came before any work: the test raced nothing");
    });
}

// ---------------------------------------------------------------------------
// Deep nesting on one thread

/// A pool of one thread, scopes nested 1000 deep — blocking children, async
/// children, and the two alternating — with neither a deadlock (each level's
/// join runs the next level inline on the only worker) nor a stack overflow
/// on the default worker stack.
#[test]
fn nesting_depth_1000_on_a_pool_of_one_thread() {
    fn nest(depth: usize, kind: u8) -> usize {
        if depth == 0 {
            return 0;
        }
        let asynchronous = kind == 1 || (kind == 2 && depth % 2 == 0);
        knotwork::scope(|s| {
            let t: knotwork::Task<'_, usize> = if asynchronous {
                s.exec(async move { nest(depth - 1, kind) })
            } else {
                s.exec_blocking(move || nest(depth - 1, kind))
            };
            t.join().unwrap() + 1
        })
    }
    within(120, || {
        let pool = pool(1);
        for kind in 0..3 {
            assert_eq!(pool.run(move || nest(1000, kind)).unwrap(), 1000, "kind {kind}");
        }
    });
}

// ---------------------------------------------------------------------------
// Wake storms

/// A future that finishes once its counter reaches `target`, re-registering
/// its waker on every poll.
struct Counted {
    state: Arc<Slot>,
    target: usize,
}

#[derive(Default)]
struct Slot {
    count: AtomicUsize,
    waker: Mutex<Option<Waker>>,
    polls: AtomicUsize,
}

impl Future for Counted {
    type Output = usize;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
        self.state.polls.fetch_add(1, Ordering::Relaxed);
        *self.state.waker.lock().unwrap() = Some(cx.waker().clone());
        // Checked after registering, so a bump after this read also wakes us.
        if self.state.count.load(Ordering::SeqCst) >= self.target {
            Poll::Ready(self.state.polls.load(Ordering::Relaxed))
        } else {
            Poll::Pending
        }
    }
}

/// 64 tasks on the test thread's loop; 8 threads bump random tasks'
/// counters and wake them, 200,000 wakes in all (with `wake_by_ref` and
/// with `wake` of clones). Every task finishes (a lost wake-up is a hang),
/// and coalescing keeps polls at most one per wake plus one.
#[test]
fn wake_storms_from_many_threads_lose_no_wake_up() {
    within(120, || {
        const TASKS: usize = 64;
        const THREADS: usize = 8;
        const WAKES: usize = 25_000;
        let slots: Arc<Vec<Arc<Slot>>> = Arc::new((0..TASKS).map(|_| Arc::default()).collect());
        // Each task's target: how many bumps it will receive in all.
        let mut targets = vec![0usize; TASKS];
        let plans: Vec<Vec<usize>> = (0..THREADS)
            .map(|t| {
                let mut rng = Rng(t as u64 * 7919 + 1);
                (0..WAKES)
                    .map(|_| {
                        let i = rng.below(TASKS as u64) as usize;
                        targets[i] += 1;
                        i
                    })
                    .collect()
            })
            .collect();
        let handles: Vec<_> = targets
            .iter()
            .enumerate()
            .map(|(i, &target)| knotwork::spawn_local(Counted { state: slots[i].clone(), target }))
            .collect();
        // Poll every task once, so each has a waker out before the storm.
        knotwork::block_on(knotwork::yield_now());
        assert!(slots.iter().all(|s| s.waker.lock().unwrap().is_some()));
        let wakers: Vec<_> = plans
            .into_iter()
            .map(|plan| {
                let slots = slots.clone();
                std::thread::spawn(move || {
                    for (n, i) in plan.into_iter().enumerate() {
                        slots[i].count.fetch_add(1, Ordering::SeqCst);
                        let waker = slots[i].waker.lock().unwrap().clone();
                        match waker {
                            Some(w) if n % 2 == 0 => w.wake_by_ref(),
                            Some(w) => w.wake(),
                            None => {} // not polled yet: its first poll sees the count
                        }
                    }
                })
            })
            .collect();
        let polls: Vec<usize> = knotwork::block_on(async {
            let mut polls = Vec::new();
            for h in handles {
                polls.push(h.await.expect("a storm task finished"));
            }
            polls
        });
        for w in wakers {
            w.join().unwrap();
        }
        for (i, p) in polls.iter().enumerate() {
            assert!(*p <= targets[i] + 1, "task {i}: {p} polls for {} wakes", targets[i]);
        }
        assert_eq!(knotwork::Loop::current().task_count(), 0);
    });
}

// ---------------------------------------------------------------------------
// Timers

/// 100,000 concurrent sleeps of 1–50 ms on one loop: every one completes,
/// none before its deadline, and the timer table is empty afterwards.
#[test]
fn a_hundred_thousand_concurrent_timers() {
    within(120, || {
        const N: usize = 100_000;
        let early = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(AtomicUsize::new(0));
        let mut rng = Rng(42);
        let handles: Vec<_> = (0..N)
            .map(|_| {
                let ms = 1 + rng.below(50);
                let (early, done) = (early.clone(), done.clone());
                knotwork::spawn_local(async move {
                    let start = Instant::now();
                    knotwork::sleep(Duration::from_millis(ms)).await;
                    if start.elapsed() < Duration::from_millis(ms) {
                        early.fetch_add(1, Ordering::Relaxed);
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                })
            })
            .collect();
        knotwork::block_on(async {
            for h in handles {
                h.await.expect("a timer task finished");
            }
        });
        assert_eq!(done.load(Ordering::Relaxed), N);
        assert_eq!(early.load(Ordering::Relaxed), 0, "a sleep woke before its deadline");
        assert_eq!(knotwork::Loop::current().timer_count(), 0);
    });
}
