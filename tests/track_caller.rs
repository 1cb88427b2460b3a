//! Misuse panics name the user's line, not knotwork's sources.
//!
//! Every public entry that can panic on misuse is `#[track_caller]`, and
//! the panic is raised in its own body (not in a closure or a helper, which
//! would report knotwork's file). This test provokes each misuse, records
//! where the panic hook says the panic happened, and checks that it is this
//! file. A timer polled outside any knotwork loop panics inside the poll,
//! which is the executor's call, not the user's: its message names the line
//! that made the timer instead.

mod common;

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::pin;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// (file, line, message) of every panic since the last `take`.
static PANICS: Mutex<Vec<(String, u32, String)>> = Mutex::new(Vec::new());

fn install_hook() {
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let (file, line) = info.location().map_or((String::new(), 0), |l| (l.file().to_owned(), l.line()));
        PANICS.lock().unwrap().push((file, line, msg));
    }));
}

/// Runs `misuse`, which must panic with a message containing `says`, and
/// returns where that panic was raised.
fn provoke(name: &str, says: &str, misuse: impl FnOnce()) -> (String, u32, String) {
    PANICS.lock().unwrap().clear();
    let outcome = catch_unwind(AssertUnwindSafe(misuse));
    assert!(outcome.is_err(), "{name}: did not panic");
    let panics = PANICS.lock().unwrap().clone();
    panics
        .into_iter()
        .find(|(_, _, msg)| msg.contains(says))
        .unwrap_or_else(|| panic!("{name}: no panic said {says:?}"))
}

fn here(file: &str) -> bool {
    file.ends_with("tests/track_caller.rs")
}

#[test]
fn misuse_panics_point_at_the_callers_line() {
    install_hook();
    let pool = common::pool(2);
    let dead = common::pool(1);
    dead.shutdown().unwrap();
    type Case<'a> = (&'a str, &'a str, Box<dyn FnOnce() + 'a>);
    let cases: Vec<Case<'_>> = vec![
        (
            "block_on inside block_on",
            "block_on was called from inside a task",
            Box::new(|| knotwork::block_on(async { knotwork::block_on(async {}) })),
        ),
        (
            "Loop::current after teardown",
            "already been torn down",
            Box::new(|| {
                std::thread::spawn(|| {
                    knotwork::Loop::teardown_current();
                    let _ = knotwork::Loop::current();
                })
                .join()
                .map_err(std::panic::resume_unwind)
                .unwrap();
            }),
        ),
        (
            "spawn_local after teardown",
            "already been torn down",
            Box::new(|| {
                std::thread::spawn(|| {
                    knotwork::Loop::current();
                    knotwork::Loop::teardown_current();
                    drop(knotwork::spawn_local(async {}));
                })
                .join()
                .map_err(std::panic::resume_unwind)
                .unwrap();
            }),
        ),
        (
            "Loop::teardown_current on a worker",
            "pool worker",
            Box::new(|| {
                pool.run(|| knotwork::Loop::teardown_current()).unwrap();
            }),
        ),
        (
            "Loop::teardown_current inside a task",
            "from inside a task",
            Box::new(|| {
                knotwork::block_on(async { knotwork::Loop::teardown_current() });
            }),
        ),
        (
            "interval of zero",
            "period must be longer than zero",
            Box::new(|| drop(knotwork::interval(Duration::ZERO))),
        ),
        ("Limiter::new(0)", "Limiter", Box::new(|| drop(knotwork::Limiter::new(0)))),
        (
            "Ready::started twice",
            "called twice",
            Box::new(|| {
                knotwork::scope(|s| {
                    let _ = s
                        .start_blocking(|ready| {
                            ready.started(1);
                            ready.started(2);
                        })
                        .wait();
                });
            }),
        ),
        (
            "Starting::wait inside an async task",
            "Starting::wait was called inside an async task",
            Box::new(|| {
                pool.scope(|s| {
                    s.exec(async {
                        knotwork::scope(|inner| {
                            let _ = inner.start_blocking(|ready| ready.started(())).wait();
                        })
                    })
                    .join()
                    .map_err(|e| std::panic::resume_unwind(e.into_panic()))
                    .unwrap();
                });
            }),
        ),
        (
            "Limiter::acquire_blocking inside an async task",
            "acquire_blocking was called inside an async task",
            Box::new(|| {
                let limit = knotwork::Limiter::new(1);
                let _held = limit.try_acquire().unwrap();
                pool.scope(|s| {
                    s.exec(async {
                        let _ = limit.acquire_blocking();
                    })
                    .join()
                    .map_err(|e| std::panic::resume_unwind(e.into_panic()))
                    .unwrap();
                });
            }),
        ),
        ("Pool::scope on a shut-down pool", "shut down", Box::new(|| dead.scope(|_| ()))),
        (
            "Pool::scope_with on a shut-down pool",
            "shut down",
            Box::new(|| drop(dead.scope_with(knotwork::FailFast, |_| ()))),
        ),
        (
            "Pool::scope_async on a shut-down pool",
            "shut down",
            Box::new(|| drop(dead.scope_async(async |_| ()))),
        ),
        (
            "TaskError::into_panic of a cancelled task",
            "into_panic was called on a cancelled task",
            Box::new(|| {
                let err = knotwork::scope(|s| {
                    let t = s.exec(std::future::pending::<()>());
                    t.cancel();
                    t.join().unwrap_err()
                });
                drop(err.into_panic());
            }),
        ),
    ];
    let mut wrong = Vec::new();
    for (name, says, misuse) in cases {
        let (file, line, _) = provoke(name, says, misuse);
        if !here(&file) {
            wrong.push(format!("{name}: reported at {file}:{line}"));
        }
    }
    // A timer polled by another executor: the message names where it was made.
    let (_, _, msg) = provoke("a sleep polled outside a loop", "outside a knotwork loop", || {
        let mut nap = pin!(knotwork::sleep(Duration::from_secs(1)));
        let _ = nap.as_mut().poll(&mut Context::from_waker(Waker::noop())) == Poll::Ready(());
    });
    if !msg.contains("tests/track_caller.rs") {
        wrong.push(format!("a sleep polled outside a loop: the message does not name its maker: {msg}"));
    }
    // A scope_async made before a shutdown and first polled after it: the
    // panic is in the poll (the executor's line); its message says why.
    let doomed = common::pool(1);
    let fut = doomed.scope_async(async |_| ());
    doomed.shutdown().unwrap();
    let (_, _, msg) = provoke("a scope_async polled after its pool shut down", "shut down", || {
        knotwork::block_on(fut);
    });
    if !msg.contains("first polled after") {
        wrong.push(format!("a scope_async polled after its pool shut down: {msg}"));
    }
    let _ = std::panic::take_hook();
    assert!(wrong.is_empty(), "misuse panics that point into knotwork:\n  {}", wrong.join("\n  "));
}
