//! A tour of knotwork: the five use cases of the Python original, a
//! fail-fast fan-out/fan-in, then the runtime underneath (one loop per
//! thread, fork/join, timers, exact shutdown). Run it with
//!
//! ```text
//! cargo run --release --example tour
//! ```
//!
//! Each step prints what it shows. The five use cases are also runnable
//! alone: `cargo run --example seed_1_async_calls_sync`, and so on.

#[allow(dead_code)]
#[path = "seed_1_async_calls_sync.rs"]
mod seed_1;
#[allow(dead_code)]
#[path = "seed_2_sync_calls_sync_that_runs_async.rs"]
mod seed_2;
#[allow(dead_code)]
#[path = "seed_3_async_calls_sync_that_runs_async.rs"]
mod seed_3;
#[allow(dead_code)]
#[path = "seed_4_async_runs_async_elsewhere.rs"]
mod seed_4;
#[allow(dead_code)]
#[path = "seed_5_sync_calls_async.rs"]
mod seed_5;

use knotwork::{Loop, Pool, block_on, sleep, spawn_local, timeout};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("knotwork tour\n\n== the five use cases of the Python original, as nurseries\n");
    seed_1::run();
    seed_2::run();
    seed_3::run();
    seed_4::run();
    seed_5::run();

    let pool = Pool::builder().threads(4).thread_name("tour").build()?;
    println!("== fail fast: a fan-out whose child fails, on a pool of {} threads\n", pool.threads());
    step_fail_fast(&pool);

    println!("== the runtime underneath\n");
    step_one_loop_per_thread(&pool)?;
    step_fork_join(&pool)?;
    step_timers();
    step_shutdown(pool)?;
    Ok(())
}

/// A fan-out/fan-in with a deliberately failing child: its panic cancels
/// the siblings, the scope joins them all, then re-raises the payload.
fn step_fail_fast(pool: &Pool) {
    println!("1. fan out 8 downloads; download 5 fails");
    let finished = AtomicUsize::new(0);
    // A one-line report instead of the default hook's message and backtrace.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|info| {
        let thread = std::thread::current().name().unwrap_or("?").to_owned();
        let payload = info.payload();
        let msg =
            payload.downcast_ref::<String>().map(String::as_str).or(payload.downcast_ref::<&str>().copied());
        println!("   (a child panicked on {thread:?}: {})", msg.unwrap_or("?"));
    }));
    let start = Instant::now();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        pool.scope(|s| {
            for i in 0..8u64 {
                let finished = &finished;
                s.exec(async move {
                    if i == 5 {
                        sleep(Duration::from_millis(5)).await;
                        panic!("download {i} failed: connection reset");
                    }
                    sleep(Duration::from_millis(200 + 10 * i)).await;
                    finished.fetch_add(1, Ordering::SeqCst);
                });
            }
        })
    }));
    let took = start.elapsed();
    std::panic::set_hook(default_hook);
    let payload = outcome
        .err()
        .map(|p| p.downcast_ref::<String>().cloned().unwrap_or_else(|| "<non-string payload>".to_owned()));
    println!(
        "   the scope re-raised {:?} after {took:.2?}: {} of 7 slow siblings finished, the rest were \
         cancelled at their .await and joined first\n",
        payload.unwrap_or_default(),
        finished.load(Ordering::SeqCst),
    );
}

/// `ensure_thread_event_loop`, done right: one loop per thread, cached.
fn step_one_loop_per_thread(pool: &Pool) -> Result<(), Box<dyn std::error::Error>> {
    println!("2. every thread gets exactly one loop, created on first use and cached");
    // One job per worker: each waits at the barrier, so no worker can take two.
    let barrier = Arc::new(std::sync::Barrier::new(pool.threads()));
    let per_thread = Arc::new(Mutex::new(BTreeSet::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    for _ in 0..pool.threads() {
        let (barrier, per_thread, tx) = (barrier.clone(), per_thread.clone(), tx.clone());
        pool.spawn(move || {
            let id = Loop::current().id();
            assert_eq!(id, Loop::current().id(), "cached");
            barrier.wait();
            let name = std::thread::current().name().unwrap_or("?").to_owned();
            per_thread.lock().unwrap().insert((name, id));
            tx.send(()).unwrap();
        })?;
    }
    for _ in 0..pool.threads() {
        rx.recv()?;
    }
    for (thread, id) in per_thread.lock().unwrap().iter() {
        println!("   {thread:<8} -> {id}");
    }
    let main_loop = Loop::current().id();
    println!("   main     -> {main_loop} (a thread outside the pool gets one too)");
    let start = Instant::now();
    let mut acc = 0u64;
    const N: u32 = 10_000_000;
    for _ in 0..N {
        acc = acc.wrapping_add(std::hint::black_box(Loop::current()).id().as_u64());
    }
    std::hint::black_box(acc);
    println!(
        "   cached Loop::current(): {:.2} ns per call\n",
        start.elapsed().as_nanos() as f64 / f64::from(N)
    );
    Ok(())
}

/// Fork/join on the work-stealing pool, helping while waiting.
fn step_fork_join(pool: &Pool) -> Result<(), Box<dyn std::error::Error>> {
    println!("3. fork/join: fib(27) with Pool::join at every level, no cutoff");
    fn fib(pool: &Pool, n: u64) -> u64 {
        if n < 2 {
            return n;
        }
        let (a, b) = pool.join(|| fib(pool, n - 1), || fib(pool, n - 2)).unwrap();
        a + b
    }
    let start = Instant::now();
    let v = pool.run(|| fib(pool, 27))?;
    let forks = 317_810.0; // fib(27+1) - 1 joins
    let took = start.elapsed();
    println!(
        "   fib(27) = {v} in {took:.2?} ({:.1} ns per join on {} threads)\n",
        took.as_nanos() as f64 / forks,
        pool.threads()
    );
    Ok(())
}

/// Timers on one loop.
fn step_timers() {
    println!("4. timers: 10,000 concurrent 10 ms sleeps on this thread's loop, and a timeout");
    let start = Instant::now();
    let woke = block_on(async {
        let woke = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..10_000)
            .map(|_| {
                let woke = woke.clone();
                spawn_local(async move {
                    sleep(Duration::from_millis(10)).await;
                    woke.fetch_add(1, Ordering::Relaxed);
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        woke.load(Ordering::Relaxed)
    });
    println!("   {woke} sleepers woke; all done after {:.2?}", start.elapsed());
    let r = block_on(timeout(Duration::from_millis(5), std::future::pending::<()>()));
    println!("   timeout(5 ms, pending) -> {:?}\n", r.map_err(|e| e.to_string()));
}

/// Exact shutdown: accepted work finishes, loops torn down, threads joined.
fn step_shutdown(pool: Pool) -> Result<(), Box<dyn std::error::Error>> {
    println!("5. shutdown is exact");
    let torn_down = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    for _ in 0..pool.threads() * 4 {
        let (torn_down, done) = (torn_down.clone(), done.clone());
        pool.spawn(move || {
            let lp = Loop::current();
            if lp.task_count() == 0 {
                // A task the job leaves on the worker's loop: work that
                // accepted work spawned, so shutdown lets it finish too.
                drop(spawn_local(async { sleep(Duration::from_millis(20)).await }));
                lp.on_teardown(move || {
                    torn_down.fetch_add(1, Ordering::SeqCst);
                });
            }
            std::thread::sleep(Duration::from_millis(5));
            done.fetch_add(1, Ordering::SeqCst);
        })?;
    }
    let start = Instant::now();
    pool.shutdown()?;
    println!(
        "   shutdown took {:.2?}: {} accepted jobs and the tasks they left finished, {} worker loops torn down",
        start.elapsed(),
        done.load(Ordering::SeqCst),
        torn_down.load(Ordering::SeqCst)
    );
    match pool.spawn(|| ()) {
        Err(e) => println!("   a new job is refused: {e}"),
        Ok(()) => unreachable!("a shut-down pool accepted work"),
    }
    Ok(())
}
