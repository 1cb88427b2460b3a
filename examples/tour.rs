//! A tour of knotwork: the five use cases of the Python original, a
//! fail-fast fan-out/fan-in and a supervised fan-out that reports every
//! failure, each recorded and audited; then the runtime
//! underneath (one loop per thread, fork/join, timers, exact shutdown). Run
//! it with
//!
//! ```text
//! cargo run --release --example tour [output-directory]
//! ```
//!
//! Each recorded step prints its fork/join tree and the audit's verdict, and
//! writes `<step>.svg` (a timeline for a browser) and `<step>.json` (for
//! <https://ui.perfetto.dev>) to the output directory (default
//! `<target dir>/knotwork-tour/`, beside the build); `tour.svg` and `tour.json` are the fan-out's.
//! The five use cases are also runnable alone: `cargo run --example
//! seed_1_async_calls_sync`, and so on.

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

use knotwork::trace::{self, Trace};
use knotwork::{Loop, Pool, block_on, sleep, spawn_local, timeout};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Cargo's target directory, wherever it is (`CARGO_TARGET_DIR`,
/// `--target-dir`, `build.target-dir` or `./target`): found from this
/// program's own path, `<target>/<profile>/{examples,deps}/<name>`, so the
/// output lands beside the build and never in the checkout when the build
/// is elsewhere.
fn target_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent()?.parent()?.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("target"))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args_os().nth(1).map_or_else(|| target_dir().join("knotwork-tour"), PathBuf::from);
    std::fs::create_dir_all(&out)?;
    println!("knotwork tour (pictures and Perfetto traces go to {})\n", out.display());
    println!("== the five use cases of the Python original, as nurseries, recorded\n");
    let seeds: [(&str, fn()); 5] = [
        ("seed-1", seed_1::run),
        ("seed-2", seed_2::run),
        ("seed-3", seed_3::run),
        ("seed-4", seed_4::run),
        ("seed-5", seed_5::run),
    ];
    let mut audits_failed = 0;
    for (name, run) in seeds {
        let ((), recorded) = trace::record(run);
        audits_failed += usize::from(!show(name, &recorded, &out, false)?);
    }

    println!("== fail fast: a fan-out/fan-in whose child fails, recorded\n");
    let ((), recorded) = trace::record(step_fail_fast);
    audits_failed += usize::from(!show("fan-out", &recorded, &out, true)?);
    std::fs::write(out.join("tour.svg"), recorded.svg())?;
    std::fs::write(out.join("tour.json"), recorded.chrome_json())?;
    println!("   the picture of this run: {}", out.join("tour.svg").display());
    println!("   open {} in https://ui.perfetto.dev\n", out.join("tour.json").display());

    println!("== supervised: a fan-out whose failures cancel nothing, every one reported\n");
    let ((), recorded) = trace::record(step_supervised);
    audits_failed += usize::from(!show("supervised", &recorded, &out, true)?);

    let pool = Pool::builder().threads(4).thread_name("tour").build()?;
    println!("== the runtime underneath\n");
    step_one_loop_per_thread(&pool)?;
    step_fork_join(&pool)?;
    step_timers();
    step_shutdown(pool)?;
    if audits_failed > 0 {
        return Err(format!("{audits_failed} recorded steps failed their audit").into());
    }
    Ok(())
}

/// Prints a recorded step's tree and verdict (in full if `full`, else its
/// first line and any violation), and writes its pictures. Returns whether
/// the audit passed.
fn show(name: &str, recorded: &Trace, out: &Path, full: bool) -> std::io::Result<bool> {
    println!("   what {name} ran:");
    for line in recorded.tree().lines() {
        println!("   {line}");
    }
    let report = recorded.audit();
    let text = report.to_string();
    let shown: Vec<&str> =
        if full || !report.passed() { text.lines().collect() } else { text.lines().take(1).collect() };
    for line in shown {
        println!("   {line}");
    }
    std::fs::write(out.join(format!("{name}.svg")), recorded.svg())?;
    std::fs::write(out.join(format!("{name}.json")), recorded.chrome_json())?;
    println!();
    Ok(report.passed())
}

/// A fan-out/fan-in with a deliberately failing child, on a pool of its own
/// (made and shut down inside the recording, so its loops' creation and
/// teardown are in the picture). Each of 8 "downloads" is an async child;
/// each finished download is handed to a blocking "parse" child; the fan-in
/// sums the parsed sizes. Download 5 fails: its panic cancels the scope, the
/// slow siblings are dropped at their `.await`, the running parse children
/// see `is_cancelled()` and stop early, and the scope joins them all before
/// it re-raises the payload.
fn step_fail_fast() {
    let pool = Pool::builder().threads(4).thread_name("fan").build().expect("a pool of four threads");
    println!("   fan out 8 downloads on {} workers; each spawns a parse; download 5 fails", pool.threads());
    let parsed = AtomicUsize::new(0);
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
    // A download's value is its parse's handle (itself awaitable, on purpose).
    #[allow(clippy::async_yields_async)]
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        pool.scope(|s| {
            let parsed = &parsed;
            let downloads: Vec<_> = (0..8u64)
                .map(|i| {
                    s.exec(async move {
                        sleep(Duration::from_millis(if i == 5 { 4 } else { 1 + i })).await;
                        if i == 5 {
                            panic!("download {i} failed: connection reset");
                        }
                        let body = vec![0u8; 1000 * (i as usize + 1)];
                        // A child spawns a sibling: the parse, a blocking
                        // child of the same scope, queued on this worker's
                        // deque for an idle worker to steal.
                        s.exec_blocking(move || {
                            // A running blocking child cannot be stopped from
                            // outside: it checks for cancellation as it goes.
                            for _ in 0..6 {
                                if knotwork::is_cancelled() {
                                    return 0;
                                }
                                std::thread::sleep(Duration::from_millis(1));
                            }
                            parsed.fetch_add(1, Ordering::SeqCst);
                            body.len()
                        })
                    })
                })
                .collect();
            // Fan in: each download hands over its parse; sum what parsed.
            // A download's panic is re-raised here, with its payload; the
            // scope still joins every other child before it lets it go.
            let mut total = 0;
            for download in downloads {
                match download.join() {
                    Ok(parse) => total += parse.join().unwrap_or(0),
                    Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                    Err(_cancelled) => {}
                }
            }
            total
        })
    }));
    let took = start.elapsed();
    std::panic::set_hook(default_hook);
    let payload = outcome
        .err()
        .map(|p| p.downcast_ref::<String>().cloned().unwrap_or_else(|| "<non-string payload>".to_owned()));
    pool.shutdown().expect("shut down from outside the pool");
    println!(
        "   the scope re-raised {:?} after {took:.2?}; {} parses completed, the slow downloads were \
         cancelled at their .await, and everything was joined first",
        payload.unwrap_or_default(),
        parsed.load(Ordering::SeqCst),
    );
}

/// A supervised fan-out (Kotlin's `supervisorScope`, tokio's `JoinSet`):
/// 8 requests as try children, three of which return `Err`. Nothing is
/// cancelled — every request runs to its end — and the scope returns every
/// failure, in spawn order, with the line that spawned it.
fn step_supervised() {
    let pool = Pool::builder().threads(4).thread_name("sup").build().expect("a pool of four threads");
    println!("   8 requests on {} workers under Supervise; requests 1, 4 and 6 fail", pool.threads());
    let served = AtomicUsize::new(0);
    let result = pool.scope_with(knotwork::Supervise, |s| {
        let served = &served;
        for i in 0..8u64 {
            s.exec_try(async move {
                sleep(Duration::from_millis(1 + i % 3)).await;
                if matches!(i, 1 | 4 | 6) {
                    return Err(format!("request {i}: upstream returned 503"));
                }
                served.fetch_add(1, Ordering::SeqCst);
                Ok(i)
            });
        }
    });
    pool.shutdown().expect("shut down from outside the pool");
    let err = result.expect_err("three requests fail");
    println!(
        "   {} requests served; the scope returned {} failures:",
        served.load(Ordering::SeqCst),
        err.failures().len()
    );
    for failure in err.failures() {
        println!(
            "     #{} (spawned at line {}): {}",
            failure.index(),
            failure.location().line(),
            failure.failure()
        );
    }
}

/// `ensure_thread_event_loop`, done right: one loop per thread, cached.
fn step_one_loop_per_thread(pool: &Pool) -> Result<(), Box<dyn std::error::Error>> {
    println!("1. every thread gets exactly one loop, created on first use and cached");
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
    println!("2. fork/join: fib(27) with Pool::join at every level, no cutoff");
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
    println!("3. timers: 10,000 concurrent 10 ms sleeps on this thread's loop, and a timeout");
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
    println!("4. shutdown is exact");
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
