//! A short tour of knotwork's runtime core: the work-stealing pool and the
//! per-thread loops. Run it with
//!
//! ```text
//! cargo run --release --example tour
//! ```
//!
//! Each step prints what it shows. The nursery scopes (`scope`, `exec`,
//! `exec_blocking`) will extend this tour when they land.

use knotwork::{Loop, Pool, block_on, sleep, spawn_local, timeout, yield_now};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pool = Pool::builder().threads(4).thread_name("tour").build()?;
    println!("knotwork tour — a pool of {} worker threads\n", pool.threads());

    step_offload_from_async(&pool)?;
    step_async_from_sync(&pool)?;
    step_one_loop_per_thread(&pool)?;
    step_fork_join(&pool)?;
    step_timers();
    step_shutdown(pool)?;
    Ok(())
}

/// The original's use case 1: async code calls a blocking function.
fn step_offload_from_async(pool: &Pool) -> Result<(), Box<dyn std::error::Error>> {
    println!("1. async code offloads a blocking function to the pool");
    let caller = std::thread::current().name().unwrap_or("?").to_owned();
    let (sum, worker) = block_on(async {
        sleep(Duration::from_millis(1)).await;
        pool.run(|| {
            let sum: u64 = (1..=1_000_000u64).sum();
            (sum, std::thread::current().name().unwrap_or("?").to_owned())
        })
    })?;
    println!("   caller thread {caller:?} awaited; worker {worker:?} computed sum = {sum}\n");
    Ok(())
}

/// The original's use case 5: sync code calls an async function, which runs
/// on the worker's own, lazily created loop.
fn step_async_from_sync(pool: &Pool) -> Result<(), Box<dyn std::error::Error>> {
    println!("2. sync code runs an async function on a worker's own loop");
    let (value, loop_id) = pool.run(|| {
        block_on(async {
            let a = spawn_local(async {
                sleep(Duration::from_millis(2)).await;
                20
            });
            let b = spawn_local(async {
                yield_now().await;
                22
            });
            (a.await.unwrap() + b.await.unwrap(), Loop::current().id())
        })
    })?;
    println!("   two local tasks on {loop_id} returned {value}\n");
    Ok(())
}

/// `ensure_thread_event_loop`, done right: one loop per thread, cached.
fn step_one_loop_per_thread(pool: &Pool) -> Result<(), Box<dyn std::error::Error>> {
    println!("3. every thread gets exactly one loop, created on first use and cached");
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
    println!("4. fork/join: fib(27) with Pool::join at every level, no cutoff");
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
    println!("5. timers: 10,000 concurrent 10 ms sleeps on this thread's loop, and a timeout");
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
    println!("6. shutdown is exact");
    let torn_down = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    for _ in 0..pool.threads() * 4 {
        let (torn_down, done) = (torn_down.clone(), done.clone());
        pool.spawn(move || {
            let lp = Loop::current();
            if lp.task_count() == 0 {
                // A task left on the worker's loop: dropped at teardown.
                drop(spawn_local(std::future::pending::<()>()));
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
        "   shutdown took {:.2?}: {} accepted jobs finished, {} worker loops torn down",
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
