//! The views of real recordings: Chrome JSON, SVG, the tree; and what is
//! (and is not) recorded.

use crate::common::{pool, within};
use crate::{json, xml};
use knotwork::Slot;
use knotwork::trace::{self, ChildKind, EventKind, Outcome, Trace};
use std::collections::BTreeSet;
use std::time::Duration;

static REQUEST: Slot<u32> = Slot::new();

/// A recording with every feature: nested sync and async scopes, both kinds
/// of child, a panicking child and cancelled siblings, a context binding,
/// steals (children spawned on a worker), a pool made and shut down inside.
fn rich_trace() -> Trace {
    within(60, || {
        let ((), t) = trace::record(|| {
            let pool = pool(3);
            REQUEST.bind(7, || {
                pool.scope(|s| {
                    s.exec_blocking(|| {
                        knotwork::scope(|inner| {
                            for i in 0..6u64 {
                                inner.exec_blocking(move || {
                                    std::thread::sleep(Duration::from_micros(200 * i))
                                });
                            }
                            inner.exec(async { knotwork::sleep(Duration::from_millis(1)).await });
                        })
                    });
                    s.exec(async {
                        knotwork::scope_async(async |inner| {
                            assert_eq!(REQUEST.get(), Some(7));
                            inner.exec(async { knotwork::yield_now().await }).await.unwrap();
                        })
                        .await
                    });
                });
                let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    pool.scope(|s| {
                        s.exec(async { knotwork::sleep(Duration::from_secs(3600)).await });
                        s.exec_blocking(|| panic!("planted"));
                    })
                }));
                assert!(failed.is_err());
            });
            pool.shutdown().unwrap();
        });
        t
    })
}

fn spawned_tasks(t: &Trace) -> BTreeSet<u32> {
    t.events()
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::Spawned { task, .. } => Some(task.0),
            _ => None,
        })
        .collect()
}

#[test]
fn a_real_recording_passes_the_audit_and_records_what_happened() {
    let t = rich_trace();
    let report = t.audit();
    assert!(report.passed(), "{report}\n{}", t.tree());
    let tree = t.tree_stable();
    // 4 scopes: the outer one, a sync scope nested in a blocking child, an
    // async scope nested in an async child, and the failing one.
    assert!(tree.starts_with("trace: 4 scopes, 12 children\n"), "{tree}");
    assert!(tree.contains("exec_blocking at tests/trace/views.rs"), "{tree}");
    assert!(tree.contains(": ok ×6"), "six identical blocking children are counted: {tree}");
    assert!(tree.contains(": panicked"), "{tree}");
    assert!(
        tree.lines().any(|l| l.contains("── exec at tests/trace/views.rs:") && l.contains(": cancelled")),
        "the sleeping sibling is cancelled: {tree}"
    );
    assert!(tree.contains("scope async at"), "{tree}");
    // Outcomes are recorded as they happened.
    let outcomes: Vec<Outcome> = t
        .events()
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::Finished { outcome, .. } => Some(outcome),
            _ => None,
        })
        .collect();
    assert_eq!(outcomes.len(), 12);
    assert_eq!(outcomes.iter().filter(|o| **o == Outcome::Panicked).count(), 1);
    // Every child saw REQUEST bound (slot number unknown, but one slot).
    for e in t.events() {
        if let EventKind::Started { bindings, .. } = &e.kind {
            assert_eq!(bindings.slots.len(), 1, "{e:?}");
        }
    }
    // The pool was made and shut down inside: each loop it created is torn
    // down once, on its own thread.
    let created = t.events().iter().filter(|e| matches!(e.kind, EventKind::LoopCreated { .. })).count();
    let torn = t.events().iter().filter(|e| matches!(e.kind, EventKind::LoopTornDown { .. })).count();
    assert!(created >= 1);
    assert_eq!(created, torn);
    // Children spawned on a worker and run by another were stolen.
    assert!(t.events().iter().any(|e| matches!(e.kind, EventKind::Stolen { .. })) || t.threads().len() == 2);
}

#[test]
fn the_chrome_json_parses_and_has_a_slice_for_every_task() {
    let t = rich_trace();
    let doc = json::parse(&t.chrome_json()).expect("valid JSON");
    let events = doc.get("traceEvents").and_then(|e| e.as_array()).expect("a traceEvents array");
    let mut sliced = BTreeSet::new();
    let mut scopes = BTreeSet::new();
    let mut flows = 0;
    let mut named_tracks = BTreeSet::new();
    for e in events {
        let ph = e.get("ph").and_then(|p| p.as_str()).expect("every event has a phase");
        let tid = e.get("tid").and_then(|t| t.as_f64()).expect("every event has a tid");
        match ph {
            "X" => {
                assert!(
                    e.get("ts").and_then(|v| v.as_f64()).is_some()
                        && e.get("dur").and_then(|v| v.as_f64()).is_some()
                );
                let args = e.get("args").expect("slices have args");
                if let Some(task) = args.get("task") {
                    sliced.insert(task.as_f64().unwrap() as u32);
                    assert!(args.get("outcome").and_then(|o| o.as_str()).is_some());
                } else {
                    scopes.insert(args.get("scope").and_then(|s| s.as_f64()).unwrap() as u32);
                }
            }
            "s" | "f" => flows += 1,
            "M" => {
                if e.get("name").and_then(|n| n.as_str()) == Some("thread_name") {
                    named_tracks.insert(tid as u32);
                }
            }
            "i" => {}
            other => panic!("unexpected phase {other}"),
        }
    }
    assert_eq!(sliced, spawned_tasks(&t), "one slice (or more) per task");
    assert_eq!(scopes.len(), 4, "one slice per scope");
    assert!(flows >= 2 * 2 * sliced.len() - 2, "fork and join arrows, each a start and an end: {flows}");
    assert_eq!(named_tracks.len(), t.threads().len(), "one named track per thread");
}

#[test]
fn the_svg_is_well_formed_with_a_lane_per_worker() {
    let t = rich_trace();
    let svg = t.svg();
    let elements = xml::check(&svg).unwrap_or_else(|e| panic!("not well-formed XML: {e}"));
    assert_eq!(elements[0].name, "svg");
    assert_eq!(elements[0].attr("xmlns"), Some("http://www.w3.org/2000/svg"));
    let lanes: Vec<_> =
        elements.iter().filter(|e| e.name == "g" && e.attr("class") == Some("lane")).collect();
    assert_eq!(lanes.len(), t.threads().len(), "one lane per thread");
    let worker_lanes: BTreeSet<u32> = lanes
        .iter()
        .filter(|l| l.attr("data-worker") == Some("true"))
        .map(|l| l.attr("data-thread").unwrap().parse().unwrap())
        .collect();
    let workers: BTreeSet<u32> =
        t.threads().iter().enumerate().filter(|(_, th)| th.worker.is_some()).map(|(i, _)| i as u32).collect();
    assert!(!workers.is_empty());
    assert_eq!(worker_lanes, workers, "a lane for every worker");
    // Every task is drawn, and the picture has its legend and axis.
    let drawn: BTreeSet<u32> = elements
        .iter()
        .filter(|e| e.attr("class") == Some("task"))
        .map(|e| e.attr("data-task").unwrap().parse().unwrap())
        .collect();
    assert_eq!(drawn, spawned_tasks(&t));
    assert!(elements.iter().any(|e| e.attr("class") == Some("axis")));
    assert!(elements.iter().filter(|e| e.attr("class") == Some("fork")).count() >= drawn.len());
    assert!(svg.contains("panicked") && svg.contains("cancelled") && svg.contains("exec_blocking"));
}

#[test]
fn only_the_recorded_tree_is_recorded() {
    within(30, || {
        let pool = pool(2);
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        // Unrelated scopes on the same pool, from another thread, meanwhile.
        let noise = {
            let (pool, stop) = (pool.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut n = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) || n == 0 {
                    pool.scope(|s| {
                        s.exec_blocking(|| ());
                        s.exec(async {});
                    });
                    n += 1;
                }
            })
        };
        let ((), t) = trace::record(|| {
            pool.scope(|s| {
                for _ in 0..20 {
                    s.exec_blocking(|| std::thread::sleep(Duration::from_micros(100)));
                }
            })
        });
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        noise.join().unwrap();
        assert_eq!(t.tree_stable().lines().next(), Some("trace: 1 scopes, 20 children"), "{}", t.tree());
        assert!(t.audit().passed());
        // And nothing is recorded outside `record`.
        let ((), empty) = trace::record(|| ());
        assert!(empty.events().is_empty());
    })
}

#[test]
fn the_async_form_records_a_scope_opened_when_called() {
    within(30, || {
        let (v, t) = knotwork::block_on(trace::record_async(|| {
            knotwork::scope_async(async |s| {
                let a = s.exec(async { 1 });
                let b = s.exec_blocking(|| 2);
                a.await.unwrap() + b.await.unwrap()
            })
        }));
        assert_eq!(v, 3);
        let kinds: Vec<ChildKind> = t
            .events()
            .iter()
            .filter_map(|e| match e.kind {
                EventKind::Spawned { kind, .. } => Some(kind),
                _ => None,
            })
            .collect();
        assert_eq!(kinds, [ChildKind::Exec, ChildKind::ExecBlocking]);
        assert!(t.audit().passed(), "{}", t.audit());
    })
}

#[test]
fn a_panic_in_the_recorded_closure_propagates_and_recording_goes_on() {
    within(30, || {
        let r = std::panic::catch_unwind(|| trace::record(|| knotwork::scope(|_| panic!("planted"))));
        assert!(r.is_err());
        let ((), t) = trace::record(|| knotwork::scope(|s| drop(s.exec_blocking(|| ()))));
        assert_eq!(spawned_tasks(&t).len(), 1);
    })
}
