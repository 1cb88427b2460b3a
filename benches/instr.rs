//! Single-threaded hot paths, one at a time, for counting instructions with
//! callgrind (`bash benches/callgrind.sh`, which runs this binary twice per
//! path with two sizes and prints the difference per operation: start-up
//! and warm-up cancel out, and the count repeats exactly between runs).
//!
//! ```text
//! instr <path> <n>      # paths: local-spawn, slot-get, loop-current,
//!                       #        scope-fork, pool-join, free-join,
//!                       #        exec-blocking, exec; peers for scale:
//!                       #        rayon-join, rayon-scope
//! ```
//!
//! Each path is warmed up once (loops created, queues grown) before the
//! measured `n` operations; for the fork paths `n` is fib's argument.

use knotwork::{Loop, Pool, Slot, block_on, spawn_local};
use std::hint::black_box;

static SLOT: Slot<u64> = Slot::new();

fn scope_fib(n: u64) -> u64 {
    if n < 2 {
        return n;
    }
    knotwork::scope(|s| {
        let a = s.exec_blocking(|| scope_fib(n - 1));
        let b = scope_fib(n - 2);
        a.join().unwrap() + b
    })
}

fn join_fib(pool: &Pool, n: u64) -> u64 {
    if n < 2 {
        return n;
    }
    let (a, b) = pool.join(|| join_fib(pool, n - 1), || join_fib(pool, n - 2)).unwrap();
    a + b
}

fn free_join_fib(n: u64) -> u64 {
    if n < 2 {
        return n;
    }
    let (a, b) = knotwork::join(|| free_join_fib(n - 1), || free_join_fib(n - 2));
    a + b
}

fn rayon_join_fib(n: u64) -> u64 {
    if n < 2 {
        return n;
    }
    let (a, b) = rayon::join(|| rayon_join_fib(n - 1), || rayon_join_fib(n - 2));
    a + b
}

fn rayon_scope_fib(n: u64) -> u64 {
    if n < 2 {
        return n;
    }
    let mut a = 0;
    let b = rayon::scope(|s| {
        s.spawn(|_| a = rayon_scope_fib(n - 1));
        rayon_scope_fib(n - 2)
    });
    a + b
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `cargo test --all-targets` runs this binary with no arguments.
    let (Some(path), Some(n)) = (args.get(1), args.get(2).and_then(|n| n.parse::<u64>().ok())) else {
        println!("usage: instr <path> <n>; see benches/callgrind.sh");
        return;
    };
    let pool = Pool::builder().threads(1).build().unwrap();
    match path.as_str() {
        "local-spawn" => block_on(async {
            for i in 0..n + 100 {
                black_box(spawn_local(async move { i }).await.unwrap());
            }
        }),
        "slot-get" => SLOT.bind(7, || {
            let mut acc = 0;
            for _ in 0..n {
                acc += black_box(&SLOT).get().unwrap();
            }
            black_box(acc);
        }),
        "loop-current" => {
            let mut acc = 0;
            for _ in 0..n + 1 {
                acc += black_box(Loop::current()).id().as_u64();
            }
            black_box(acc);
        }
        "scope-fork" => {
            black_box(pool.run(|| scope_fib(10)).unwrap());
            black_box(pool.run(|| scope_fib(n)).unwrap());
        }
        "pool-join" => {
            black_box(pool.run(|| join_fib(&pool, 10)).unwrap());
            black_box(pool.run(|| join_fib(&pool, n)).unwrap());
        }
        "free-join" => {
            black_box(pool.run(|| free_join_fib(10)).unwrap());
            black_box(pool.run(|| free_join_fib(n)).unwrap());
        }
        "rayon-join" | "rayon-scope" => {
            let ry = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
            let fib = if path == "rayon-join" { rayon_join_fib } else { rayon_scope_fib };
            black_box(ry.install(|| fib(10)));
            black_box(ry.install(|| fib(n)));
        }
        "exec-blocking" | "exec" => {
            let storm = |k: u64| {
                pool.run(|| {
                    knotwork::scope(|s| {
                        for i in 0..k {
                            if path == "exec" {
                                s.exec(async move { black_box(i) });
                            } else {
                                s.exec_blocking(move || black_box(i));
                            }
                        }
                    })
                })
                .unwrap()
            };
            storm(1000);
            storm(n);
        }
        other => panic!("unknown path {other:?}; see the list in benches/instr.rs"),
    }
}
