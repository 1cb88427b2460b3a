//! Unit tests of the task state machine: each transition, and each
//! invariant of `state.rs`.

use super::*;

/// No shield active (the count of a task that has none).
static NONE: AtomicU32 = AtomicU32::new(0);

fn word(state: &State) -> Snapshot {
    state.load()
}

#[test]
fn a_new_task_is_queued_with_a_handle() {
    let s = State::new(3);
    let w = word(&s);
    assert!(w.is_scheduled() && w.has_handle() && !w.is_running() && !w.is_completed());
    assert_eq!(w.refs(), 3);
}

#[test]
fn a_run_polls_then_goes_idle_or_requeues() {
    let s = State::new(2);
    assert_eq!(s.start_run(&NONE), StartRun::Poll);
    assert!(word(&s).is_running() && !word(&s).is_scheduled());
    assert_eq!(s.end_poll(&NONE), EndPoll::Idle);
    assert!(!word(&s).is_running());
    // Woken while idle: queued with a new reference.
    assert_eq!(s.wake(&NONE), Wake::Queue);
    assert_eq!(word(&s).refs(), 3);
    assert_eq!(s.start_run(&NONE), StartRun::Poll);
    // Woken while running: deferred to the runner.
    assert_eq!(s.wake(&NONE), Wake::Deferred);
    assert_eq!(word(&s).refs(), 3);
    assert_eq!(s.end_poll(&NONE), EndPoll::Requeue);
    assert!(word(&s).is_scheduled() && !word(&s).is_running());
    // Already queued: absorbed.
    assert_eq!(s.wake(&NONE), Wake::Absorbed);
}

#[test]
fn a_cancel_queues_an_idle_task_and_the_run_then_cancels() {
    let s = State::new(2);
    assert_eq!(s.start_run(&NONE), StartRun::Poll);
    assert_eq!(s.end_poll(&NONE), EndPoll::Idle);
    let c = s.cancel(true).expect("unfinished");
    assert!(c.queue && c.tell_parent);
    assert!(word(&s).is_cancelling() && word(&s).is_closed() && word(&s).is_scheduled());
    s.end_cancelling();
    assert!(!word(&s).is_cancelling());
    assert_eq!(s.start_run(&NONE), StartRun::Cancel);
    assert!(s.cancel(false).is_none(), "a second cancel does nothing");
    let done = s.complete(false);
    assert!(done.0.has_handle());
    assert!(word(&s).is_completed() && !word(&s).is_scheduled());
    assert_eq!(s.wake(&NONE), Wake::Absorbed);
    assert!(s.cancel(true).is_none());
}

#[test]
fn a_cancel_during_a_poll_is_seen_when_it_ends() {
    let s = State::new(2);
    assert_eq!(s.start_run(&NONE), StartRun::Poll);
    let c = s.cancel(false).expect("unfinished");
    assert!(!c.queue && !c.tell_parent, "a running task is not queued by its canceller");
    assert_eq!(s.end_poll(&NONE), EndPoll::Cancel);
    let _ = s.complete(false);
    assert!(word(&s).is_completed() && !word(&s).is_running());
}

#[test]
fn a_shield_defers_a_cancel_until_it_ends() {
    let (s, shields) = (State::new(2), AtomicU32::new(0));
    assert_eq!(s.start_run(&shields), StartRun::Poll);
    shields.fetch_add(2, Ordering::Relaxed); // two shields, side by side
    let _ = s.cancel(false).expect("unfinished");
    // Shielded: the poll ends normally, and the shielded work's wakes count.
    assert_eq!(s.end_poll(&shields), EndPoll::Idle);
    assert_eq!(s.wake(&shields), Wake::Queue);
    assert_eq!(s.start_run(&shields), StartRun::Poll, "a closed, shielded task is polled on");
    shields.fetch_sub(1, Ordering::Relaxed);
    assert_eq!(s.end_poll(&shields), EndPoll::Idle, "one shield is still active");
    // The last shield ends outside a poll (it had moved to another task):
    // the re-arm queues the idle task, whose run then drops it.
    shields.fetch_sub(1, Ordering::Relaxed);
    assert_eq!(s.wake(&shields), Wake::Absorbed, "a closed task's plain wakes are absorbed again");
    assert_eq!(s.rearm(), (Wake::Queue, true));
    assert_eq!(s.start_run(&shields), StartRun::Cancel);
    let _ = s.complete(false);
    assert_eq!(s.rearm(), (Wake::Absorbed, true), "nothing to re-arm once done");
}

#[test]
fn completion_and_the_awaiter_race_in_one_order() {
    // Awaiter first: completion sees AWAITER.
    let s = State::new(2);
    assert_eq!(s.start_run(&NONE), StartRun::Poll);
    assert!(!s.set_awaiter().is_completed());
    assert!(s.complete(false).0.has_awaiter());
    // Completion first: the awaiter sees COMPLETED.
    let s = State::new(2);
    assert_eq!(s.start_run(&NONE), StartRun::Poll);
    assert!(!s.complete(false).0.has_awaiter());
    assert!(s.set_awaiter().is_completed());
}

#[test]
fn a_panicked_result_is_taken_once() {
    let s = State::new(2);
    assert_eq!(s.start_run(&NONE), StartRun::Poll);
    let _ = s.complete(true);
    assert!(word(&s).is_failed());
    assert!(s.take(), "the first claim wins");
    assert!(!s.take(), "the second loses");
}

#[test]
fn the_handle_and_the_completion_see_each_other_once() {
    let s = State::new(2);
    assert!(s.drop_handle().has_handle());
    assert_eq!(s.start_run(&NONE), StartRun::Poll);
    assert!(!s.complete(false).0.has_handle(), "completion sees the handle gone");
    let s = State::new(2);
    assert_eq!(s.start_run(&NONE), StartRun::Poll);
    let _ = s.complete(false);
    assert!(s.drop_handle().is_completed(), "the handle sees the completion");
}

#[test]
fn close_in_place_says_whether_the_task_was_unfinished() {
    let s = State::new(2);
    assert!(s.close_in_place());
    let _ = s.complete(false);
    assert!(!s.close_in_place());
}

#[test]
fn references_count_down_to_the_last() {
    let s = State::new(2);
    s.ref_inc();
    assert!(!s.ref_dec());
    assert!(!s.ref_dec());
    assert!(s.drop_handle().has_handle());
    assert!(s.ref_dec(), "the last reference");
}

#[test]
fn every_broken_invariant_is_named() {
    let cases = [
        (COMPLETED | SCHEDULED | REFERENCE, "COMPLETED ⇒ ¬SCHEDULED ∧ ¬RUNNING"),
        (COMPLETED | RUNNING | REFERENCE, "COMPLETED ⇒ ¬SCHEDULED ∧ ¬RUNNING"),
        (FAILED | REFERENCE, "FAILED ⇒ COMPLETED"),
        (COMPLETED | TAKEN, "TAKEN ⇒ COMPLETED ∧ FAILED"),
        (CANCELLING | REFERENCE, "CANCELLING ⇒ CLOSED"),
        (SCHEDULED, "SCHEDULED ∨ RUNNING ∨ HANDLE ⇒ count ≥ 1"),
        (HANDLE, "SCHEDULED ∨ RUNNING ∨ HANDLE ⇒ count ≥ 1"),
    ];
    for (bits, rule) in cases {
        assert_eq!(Snapshot(bits).broken(), Some(rule), "{:?}", Snapshot(bits));
    }
    assert_eq!(Snapshot(COMPLETED | FAILED | TAKEN | CLOSED | AWAITER).broken(), None);
}

#[test]
#[should_panic(expected = "a run needs an unfinished task")]
fn a_run_of_a_completed_task_is_a_bug() {
    let s = State::new(2);
    assert_eq!(s.start_run(&NONE), StartRun::Poll);
    let _ = s.complete(false);
    let _ = s.start_run(&NONE);
}

#[test]
fn the_last_handle_drops_claim_and_reference_in_one_step_and_no_other_does() {
    let s = State::new(2);
    assert_eq!(s.start_run(&NONE), StartRun::Poll);
    let _ = s.complete(false);
    // The runner still holds its reference: not the last one, nothing changes.
    assert!(s.drop_last_handle().is_none());
    assert!(word(&s).has_handle() && word(&s).refs() == 2);
    assert!(!s.ref_dec());
    // Now the handle's is the last: both go, and the snapshot says completed.
    let prev = s.drop_last_handle().expect("the last reference");
    assert!(prev.is_completed() && prev.has_handle() && prev.refs() == 1);
    assert!(!word(&s).has_handle() && word(&s).refs() == 0);
}
