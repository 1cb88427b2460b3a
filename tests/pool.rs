//! The work-stealing pool: building, running jobs, join, run, panics.
mod common;

use common::{panic_text, within};
use knotwork::Pool;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

#[test]
fn zero_threads_is_an_error_value() {
    let err = Pool::builder().threads(0).build().unwrap_err();
    assert!(err.is_zero_threads());
    assert!(err.to_string().contains("at least one thread"), "{err}");
}

#[test]
fn nul_in_thread_name_is_an_error_value() {
    let err = Pool::builder().threads(1).thread_name("bad\0name").build().unwrap_err();
    assert!(err.is_invalid_thread_name(), "{err}");
}

#[test]
fn threads_are_named_and_counted() {
    within(20, || {
        let pool = Pool::builder().threads(3).thread_name("named").build().unwrap();
        assert_eq!(pool.threads(), 3);
        let name = pool.run(|| std::thread::current().name().map(str::to_owned)).unwrap();
        let name = name.expect("workers are named");
        assert!(name.starts_with("named-"), "{name}");
        pool.shutdown().unwrap();
    });
}

#[test]
fn stack_size_is_applied() {
    within(20, || {
        // 64 MiB of stack lets a worker recurse far deeper than the default 2 MiB.
        let pool = Pool::builder().threads(1).stack_size(64 << 20).build().unwrap();
        fn deep(n: u64) -> u64 {
            let pad = [n; 64]; // 512 bytes per frame
            if n == 0 { 0 } else { std::hint::black_box(pad)[0] + deep(n - 1) - n + 1 }
        }
        assert_eq!(pool.run(|| deep(40_000)).unwrap(), 40_000);
    });
}

#[test]
fn many_jobs_each_run_exactly_once() {
    within(60, || {
        const N: usize = 100_000;
        let pool = Pool::builder().threads(4).build().unwrap();
        let runs: Arc<Vec<AtomicU8>> = Arc::new((0..N).map(|_| AtomicU8::new(0)).collect());
        for i in 0..N {
            let runs = runs.clone();
            pool.spawn(move || {
                runs[i].fetch_add(1, Ordering::Relaxed);
            })
            .unwrap();
        }
        pool.shutdown().unwrap();
        let bad: Vec<usize> = (0..N).filter(|&i| runs[i].load(Ordering::Relaxed) != 1).collect();
        assert!(
            bad.is_empty(),
            "{} jobs did not run exactly once, e.g. {:?}",
            bad.len(),
            &bad[..bad.len().min(5)]
        );
    });
}

#[test]
fn jobs_spawned_from_workers_each_run_exactly_once() {
    within(60, || {
        // A tree of spawns: every job below depth 12 spawns two children
        // from its worker (local deque, stolen by the others).
        let pool = Pool::builder().threads(4).build().unwrap();
        let count = Arc::new(AtomicUsize::new(0));
        fn node(pool: Pool, depth: u32, count: Arc<AtomicUsize>) {
            count.fetch_add(1, Ordering::Relaxed);
            if depth < 12 {
                for _ in 0..2 {
                    let (p, c) = (pool.clone(), count.clone());
                    pool.spawn(move || node(p, depth + 1, c)).unwrap();
                }
            }
        }
        let (p, c) = (pool.clone(), count.clone());
        pool.spawn(move || node(p, 0, c)).unwrap();
        pool.shutdown().unwrap();
        assert_eq!(count.load(Ordering::Relaxed), (1 << 13) - 1);
    });
}

#[test]
fn run_borrows_and_returns() {
    within(20, || {
        let pool = Pool::builder().threads(2).build().unwrap();
        let data: Vec<u64> = (1..=1000).collect();
        let sum = pool.run(|| data.iter().sum::<u64>()).unwrap();
        assert_eq!(sum, 500_500);
        assert!(Pool::current().is_none());
        assert!(pool.run(|| Pool::current().is_some()).unwrap());
    });
}

#[test]
fn run_resumes_the_panic_with_its_payload() {
    within(20, || {
        let pool = Pool::builder().threads(2).build().unwrap();
        let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pool.run(|| -> () { panic!("payload-42") }).unwrap();
        }))
        .unwrap_err();
        assert_eq!(panic_text(&*err), "payload-42");
        // The worker survived.
        assert_eq!(pool.run(|| 1).unwrap(), 1);
    });
}

#[test]
fn join_computes_fib_on_one_and_many_threads() {
    fn fib(pool: &Pool, n: u64) -> u64 {
        if n < 2 {
            return n;
        }
        let (a, b) = pool.join(|| fib(pool, n - 1), || fib(pool, n - 2)).unwrap();
        a + b
    }
    within(60, || {
        for threads in [1, 2, 4] {
            let pool = Pool::builder().threads(threads).build().unwrap();
            assert_eq!(fib(&pool, 22), 17_711, "threads = {threads}");
            pool.shutdown().unwrap();
        }
    });
}

#[test]
fn join_nests_deeply_on_one_thread_without_deadlock() {
    within(60, || {
        let pool = Pool::builder().threads(1).stack_size(64 << 20).build().unwrap();
        fn chain(pool: &Pool, depth: u32) -> u32 {
            if depth == 0 {
                return 0;
            }
            let (a, b) = pool.join(|| chain(pool, depth - 1), || 1).unwrap();
            a + b
        }
        assert_eq!(pool.run(|| chain(&pool, 1000)).unwrap(), 1000);
    });
}

#[test]
fn join_waits_for_both_halves_before_resuming_a_panic() {
    within(20, || {
        let pool = Pool::builder().threads(2).build().unwrap();
        let b_done = Arc::new(AtomicUsize::new(0));
        let seen = b_done.clone();
        let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pool.join(
                || panic!("left"),
                move || {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    seen.fetch_add(1, Ordering::SeqCst);
                },
            )
            .unwrap();
        }))
        .unwrap_err();
        assert_eq!(panic_text(&*err), "left");
        assert_eq!(b_done.load(Ordering::SeqCst), 1, "the other half finished before the panic surfaced");
    });
}

#[test]
fn panicking_spawned_job_goes_to_the_handler_and_the_worker_survives() {
    within(20, || {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = seen.clone();
        let pool = Pool::builder()
            .threads(1)
            .panic_handler(move |p| sink.lock().unwrap().push(panic_text(&*p)))
            .build()
            .unwrap();
        pool.spawn(|| panic!("first")).unwrap();
        pool.spawn(|| panic!("second")).unwrap();
        assert_eq!(pool.run(|| 5).unwrap(), 5);
        pool.shutdown().unwrap();
        assert_eq!(*seen.lock().unwrap(), vec!["first".to_string(), "second".to_string()]);
    });
}

#[test]
fn pool_is_a_cheap_send_sync_clone() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<Pool>();
    within(20, || {
        let pool = Pool::builder().threads(1).build().unwrap();
        let clone = pool.clone();
        let from_thread = std::thread::spawn(move || clone.run(|| 3).unwrap()).join().unwrap();
        assert_eq!(from_thread, 3);
        assert!(format!("{pool:?}").contains("threads: 1"));
    });
}

#[test]
fn free_join_uses_the_current_pool() {
    within(20, || {
        let pool = Pool::builder().threads(2).thread_name("mine").build().unwrap();
        let names = pool
            .run(|| {
                knotwork::join(
                    || std::thread::current().name().unwrap().to_owned(),
                    || std::thread::current().name().unwrap().to_owned(),
                )
            })
            .unwrap();
        assert!(names.0.starts_with("mine-") && names.1.starts_with("mine-"), "{names:?}");
    });
}
