//! The audit on hand-built traces: a correct one passes; each broken one
//! fails the right rule, with a message naming the task, its scope and
//! what went wrong.

use knotwork::trace::*;

const SCOPE_AT: SourceLoc = SourceLoc { file: "lesson.rs", line: 3, column: 5 };
const BLOCKING_AT: SourceLoc = SourceLoc { file: "lesson.rs", line: 4, column: 9 };
const ASYNC_AT: SourceLoc = SourceLoc { file: "lesson.rs", line: 5, column: 9 };
const L: LoopNumber = LoopNumber(9);

const BOUND_AT: SourceLoc = SourceLoc { file: "lesson.rs", line: 2, column: 5 };

fn bound() -> Bindings {
    bound_as(knotwork::Inheritance::Always, None)
}

fn bound_as(inheritance: knotwork::Inheritance, bound_by: Option<TaskId>) -> Bindings {
    Bindings { table: 0x1000, slots: vec![BoundSlot { slot: 0, inheritance, bound_at: BOUND_AT, bound_by }] }
}

/// `correct()`, with the bindings of every spawn and start of `task`
/// replaced by `b`.
fn with_bindings(task: u32, b: Bindings) -> Vec<Event> {
    let mut events = correct();
    for e in &mut events {
        match &mut e.kind {
            EventKind::Spawned { task: t, bindings, .. } | EventKind::Started { task: t, bindings, .. }
                if t.0 == task =>
            {
                *bindings = b.clone()
            }
            _ => {}
        }
    }
    events
}

/// A scope with a blocking and an async child, on a caller and one worker.
fn correct() -> Vec<Event> {
    use EventKind::*;
    let (s1, t1, t2) = (ScopeId(1), TaskId(1), TaskId(2));
    vec![
        Event::new(0, 0, ScopeOpened { scope: s1, parent: None, location: SCOPE_AT, form: ScopeForm::Sync }),
        Event::new(
            10,
            0,
            Spawned {
                task: t1,
                scope: s1,
                kind: ChildKind::ExecBlocking,
                location: BLOCKING_AT,
                queue: Queue::Injector,
                bindings: bound(),
            },
        ),
        Event::new(
            20,
            0,
            Spawned {
                task: t2,
                scope: s1,
                kind: ChildKind::Exec,
                location: ASYNC_AT,
                queue: Queue::Injector,
                bindings: bound(),
            },
        ),
        Event::new(30, 1, Started { task: t1, on_loop: None, bindings: bound() }),
        Event::new(31, 1, Stolen { task: t1, from: Queue::Injector }),
        Event::new(40, 1, Finished { task: t1, outcome: Outcome::Ok }),
        Event::new(50, 1, LoopCreated { on_loop: L, by: Some(t2) }),
        Event::new(60, 1, Started { task: t2, on_loop: Some(L), bindings: bound() }),
        Event::new(61, 1, PollBegan { task: t2, on_loop: L }),
        Event::new(70, 1, PollEnded { task: t2, ready: false }),
        Event::new(80, 1, PollBegan { task: t2, on_loop: L }),
        Event::new(90, 1, PollEnded { task: t2, ready: true }),
        Event::new(91, 1, Finished { task: t2, outcome: Outcome::Ok }),
        Event::new(100, 0, ScopeClosed { scope: s1 }),
        Event::new(110, 1, LoopTornDown { on_loop: L }),
    ]
}

fn trace(events: Vec<Event>) -> Trace {
    Trace::from_parts(vec![ThreadInfo::caller("main"), ThreadInfo::worker("w-0", 1, 0)], events)
}

/// The position of the first event matching `f`.
fn find(events: &[Event], f: impl Fn(&EventKind) -> bool) -> usize {
    events.iter().position(|e| f(&e.kind)).expect("the event is in the trace")
}

/// Asserts that `rule` is broken, first about `task` (and then scope #1,
/// both named in the message), and that the message says `says`.
fn assert_broken(events: Vec<Event>, rule: Rule, task: Option<u32>, says: &str) {
    assert_broken_in(events, rule, task, task.map(|_| 1), says);
}

fn assert_broken_in(events: Vec<Event>, rule: Rule, task: Option<u32>, scope: Option<u32>, says: &str) {
    let report = trace(events).audit();
    assert!(!report.passed(), "expected {rule} to fail:\n{report}");
    let broken: Vec<Rule> = report.results().iter().filter(|r| !r.held()).map(|r| r.rule).collect();
    assert!(broken.contains(&rule), "{rule} held:\n{report}");
    let v = report.rule(rule).violations.first().expect("a violation").clone();
    assert_eq!(v.task.map(|t| t.0), task, "{v}");
    if let Some(t) = task {
        assert!(v.message.contains(&format!("task #{t} (")), "names the task: {v}");
    }
    assert_eq!(v.scope.map(|s| s.0), scope, "{v}");
    if scope == Some(1) {
        assert!(v.message.contains("scope #1 (opened at lesson.rs:3:5)"), "names the scope: {v}");
    }
    assert!(v.message.contains(says), "{v}");
    let text = report.to_string();
    assert!(text.starts_with("audit: FAILED"), "{text}");
    assert!(text.contains(&format!("✗ {rule} (")), "{text}");
    assert!(text.contains(&v.message), "{text}");
}

#[test]
fn a_correct_trace_passes_every_rule() {
    let report = trace(correct()).audit();
    assert!(report.passed(), "{report}");
    assert_eq!(report.results().len(), Rule::ALL.len());
    assert!(report.notes().is_empty(), "{report}");
    assert!(report.to_string().starts_with("audit: PASSED"));
}

#[test]
fn a_child_started_before_its_spawn_breaks_spawn_before_start() {
    let mut events = correct();
    let started = events.remove(3);
    events.insert(1, started);
    assert_broken(
        events,
        Rule::SpawnBeforeStart,
        Some(1),
        "started (event 1) before it was spawned (event 2)",
    );
}

#[test]
fn a_child_finishing_after_its_scope_closed_breaks_finish_before_close() {
    let mut events = correct();
    let close = events.remove(find(&events, |k| matches!(k, EventKind::ScopeClosed { .. })));
    let finish = find(&events, |k| matches!(k, EventKind::Finished { task: TaskId(2), .. }));
    events.insert(finish, close);
    assert_broken(
        events,
        Rule::FinishBeforeClose,
        Some(2),
        "finished (event 13) after its scope closed (event 12)",
    );
}

#[test]
fn a_child_that_never_finished_breaks_finish_before_close() {
    let mut events = correct();
    events.remove(find(&events, |k| matches!(k, EventKind::Finished { task: TaskId(1), .. })));
    assert_broken(events, Rule::FinishBeforeClose, Some(1), "never finished, yet its scope closed");
}

#[test]
fn a_scope_that_never_closed_breaks_finish_before_close() {
    let mut events = correct();
    events.remove(find(&events, |k| matches!(k, EventKind::ScopeClosed { .. })));
    assert_broken_in(
        events,
        Rule::FinishBeforeClose,
        None,
        Some(1),
        "scope #1 (opened at lesson.rs:3:5) never closed",
    );
}

#[test]
fn a_child_spawned_into_a_closed_scope_breaks_finish_before_close() {
    let mut events = correct();
    let spawn = events.remove(1);
    events.insert(13, spawn);
    assert_broken(
        events,
        Rule::FinishBeforeClose,
        Some(1),
        "was spawned (event 13) while its scope was not open",
    );
}

#[test]
fn an_async_child_polled_on_two_loops_breaks_one_loop_per_child() {
    let mut events = correct();
    let second = events.iter().rposition(|e| matches!(e.kind, EventKind::PollBegan { .. })).unwrap();
    events[second].kind = EventKind::PollBegan { task: TaskId(2), on_loop: LoopNumber(10) };
    assert_broken(
        events,
        Rule::OneLoopPerChild,
        Some(2),
        "started on loop #9 but was polled on loop #10 by w-0",
    );
}

#[test]
fn a_second_loop_on_one_thread_breaks_loop_lifecycle() {
    let mut events = correct();
    events.push(Event::new(120, 1, EventKind::LoopCreated { on_loop: LoopNumber(11), by: None }));
    assert_broken(
        events,
        Rule::LoopLifecycle,
        None,
        "w-0 created loop #11 (event 15) but already had loop #9",
    );
}

#[test]
fn a_loop_torn_down_twice_breaks_loop_lifecycle() {
    let mut events = correct();
    events.push(Event::new(120, 1, EventKind::LoopTornDown { on_loop: L }));
    assert_broken(events, Rule::LoopLifecycle, None, "loop #9 was torn down twice (events 14 and 15)");
}

#[test]
fn a_loop_used_before_it_was_created_breaks_loop_lifecycle() {
    let mut events = correct();
    let created = events.remove(find(&events, |k| matches!(k, EventKind::LoopCreated { .. })));
    let closed = find(&events, |k| matches!(k, EventKind::ScopeClosed { .. }));
    events.insert(closed, created);
    assert_broken(events, Rule::LoopLifecycle, Some(2), "used loop #9 (event 6) before it was created");
}

#[test]
fn a_loop_used_after_its_teardown_breaks_loop_lifecycle() {
    let mut events = correct();
    let torn = events.pop().unwrap();
    let started = find(&events, |k| matches!(k, EventKind::Started { task: TaskId(2), .. }));
    events.insert(started, torn);
    assert_broken(
        events,
        Rule::LoopLifecycle,
        Some(2),
        "used loop #9 (event 8) after it was torn down (event 7)",
    );
}

#[test]
fn a_loop_used_from_another_thread_breaks_loop_lifecycle() {
    let mut events = correct();
    let poll = find(&events, |k| matches!(k, EventKind::PollBegan { .. }));
    events[poll].thread = ThreadIx(0);
    let report = trace(events.clone()).audit();
    // Both rules see it: the child moved, and the loop was used off its thread.
    assert!(!report.rule(Rule::OneLoopPerChild).held(), "{report}");
    assert_broken(events, Rule::LoopLifecycle, Some(2), "used loop #9 of w-0 from main (event 8)");
}

#[test]
fn a_child_with_other_bindings_breaks_context_inherited() {
    let mut events = correct();
    let started = find(&events, |k| matches!(k, EventKind::Started { task: TaskId(1), .. }));
    events[started].kind =
        EventKind::Started { task: TaskId(1), on_loop: None, bindings: Bindings::default() };
    assert_broken(
        events,
        Rule::ContextInherited,
        Some(1),
        "started with bindings {}, but its parent had {slot 0 (bound at lesson.rs:2:5)} (table 0x1000)",
    );
}

#[test]
fn a_local_binding_in_a_child_breaks_context_policy() {
    // Task 2 is the async child: a `Slot::local` binding may not reach it.
    let events = with_bindings(2, bound_as(knotwork::Inheritance::Never, None));
    assert_broken(
        events,
        Rule::ContextPolicy,
        Some(2),
        "was spawned with slot 0 (bound at lesson.rs:2:5), whose inheritance `never` forbids crossing into an `exec` child",
    );
}

#[test]
fn an_async_only_binding_in_a_blocking_child_breaks_context_policy() {
    let events = with_bindings(1, bound_as(knotwork::Inheritance::AsyncOnly, None));
    let report = trace(events.clone()).audit();
    // Both the spawn and the start carry it: two violations, one rule.
    assert_eq!(report.rule(Rule::ContextPolicy).violations.len(), 2, "{report}");
    assert_broken(
        events,
        Rule::ContextPolicy,
        Some(1),
        "`async-only` forbids crossing into an `exec_blocking` child",
    );
    // The same binding in the async child is allowed.
    let fine = with_bindings(2, bound_as(knotwork::Inheritance::AsyncOnly, None));
    assert!(trace(fine).audit().passed());
}

#[test]
fn a_binding_made_by_a_sibling_breaks_context_policy() {
    // Task 2 claims a binding made by task 1, its sibling: not its lineage.
    let events = with_bindings(2, bound_as(knotwork::Inheritance::Always, Some(TaskId(1))));
    assert_broken(
        events,
        Rule::ContextPolicy,
        Some(2),
        "bound by task #1 at lesson.rs:2:5, which is not a child it is nested in",
    );
}

#[test]
fn an_event_naming_an_unknown_task_breaks_well_formed() {
    let mut events = correct();
    events.push(Event::new(120, 1, EventKind::Finished { task: TaskId(7), outcome: Outcome::Ok }));
    assert_broken_in(events, Rule::WellFormed, Some(7), None, "event 15 names task #7 (never spawned)");
}

#[test]
fn a_task_spawned_twice_breaks_well_formed() {
    let mut events = correct();
    let again = events[1].clone();
    events.insert(2, again);
    assert_broken(events, Rule::WellFormed, Some(1), "has a second Spawned event (2, first at 1)");
}
