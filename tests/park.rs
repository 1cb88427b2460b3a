//! Cost model: a worker that waits — in `Pool::join` for a stolen half, in
//! `Task::join` for a stolen child, at a scope's close — spins only a
//! bounded budget, then parks. Measured as the waiting thread's own CPU
//! time (`/proc/thread-self/schedstat`, in nanoseconds) over a wait of
//! 300 ms: spinning through it would burn about 300 ms of CPU; the
//! budget (`SPIN_ROUNDS` backoff rounds) is a few microseconds, and this
//! allows 15 ms (5%) for the scheduler's noise on a loaded machine.
#![cfg(target_os = "linux")]
mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_millis(300);
const CPU_ALLOWED_NS: u64 = 15_000_000;

/// On-CPU nanoseconds of the calling thread.
fn thread_cpu_ns() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap();
    stat.split_whitespace().next().unwrap().parse().unwrap()
}

/// What the waiting thread measured: its CPU time and the wall time of
/// the wait.
struct Waited {
    cpu_ns: u64,
    wall: Duration,
}

impl Waited {
    fn check(self, what: &str) {
        // The wait really lasted (the other half was stolen and slept).
        assert!(
            self.wall >= WAIT / 2,
            "{what}: the wait took only {:?}; the test did not set it up",
            self.wall
        );
        assert!(
            self.cpu_ns < CPU_ALLOWED_NS,
            "{what}: the waiting worker used {} µs of CPU in a {:?} wait (it spins instead of parking)",
            self.cpu_ns / 1000,
            self.wall
        );
    }
}

/// Spins (yielding) until `flag` is set: the other half has been stolen.
fn until(flag: &AtomicBool) {
    while !flag.load(Ordering::Acquire) {
        std::thread::yield_now();
    }
}

#[test]
fn a_worker_waiting_in_pool_join_parks() {
    common::within(30, || {
        let pool = knotwork::Pool::builder().threads(2).build().unwrap();
        let stolen = AtomicBool::new(false);
        let waited = pool
            .run(|| {
                let mut start = None;
                pool.join(
                    || {
                        // `b` is now running on the other worker: what follows is the wait.
                        until(&stolen);
                        start = Some((thread_cpu_ns(), Instant::now()));
                    },
                    || {
                        stolen.store(true, Ordering::Release);
                        std::thread::sleep(WAIT);
                    },
                )
                .unwrap();
                let (cpu, wall) = start.unwrap();
                Waited { cpu_ns: thread_cpu_ns() - cpu, wall: wall.elapsed() }
            })
            .unwrap();
        waited.check("Pool::join");
        pool.shutdown().unwrap();
    });
}

#[test]
fn a_worker_waiting_in_task_join_and_at_scope_close_parks() {
    common::within(30, || {
        let pool = knotwork::Pool::builder().threads(2).build().unwrap();
        for at_close in [false, true] {
            let stolen = AtomicBool::new(false);
            let waited = pool
                .run(|| {
                    let mut start = None;
                    knotwork::scope(|s| {
                        let child = s.exec_blocking(|| {
                            stolen.store(true, Ordering::Release);
                            std::thread::sleep(WAIT);
                        });
                        until(&stolen);
                        start = Some((thread_cpu_ns(), Instant::now()));
                        if !at_close {
                            child.join().unwrap();
                        }
                    });
                    let (cpu, wall) = start.unwrap();
                    Waited { cpu_ns: thread_cpu_ns() - cpu, wall: wall.elapsed() }
                })
                .unwrap();
            waited.check(if at_close { "scope close" } else { "Task::join" });
        }
        pool.shutdown().unwrap();
    });
}
