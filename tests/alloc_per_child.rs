//! Cost model: a nursery child costs one heap allocation (the task cell that
//! is at once the pool job, the loop task and the result). Counted with a
//! global allocator; its own test binary, so nothing else allocates.
mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator, only counting calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const N: usize = 20_000;

/// Allocations per child for one scope of `N` children made by `spawn`,
/// after a warm-up scope (loops created, queues and tables grown).
fn per_child(pool: &knotwork::Pool, spawn: impl Fn(&knotwork::Scope<'_, '_>)) -> f64 {
    pool.scope(|s| (0..N).for_each(|_| spawn(s)));
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    pool.scope(|s| (0..N).for_each(|_| spawn(s)));
    (ALLOCATIONS.load(Ordering::SeqCst) - before) as f64 / N as f64
}

#[test]
fn each_child_costs_at_most_one_allocation() {
    common::within(60, || {
        let pool = knotwork::Pool::builder().threads(2).build().unwrap();
        let blocking = per_child(&pool, |s| drop(s.exec_blocking(|| std::hint::black_box(1))));
        let asynchronous = per_child(&pool, |s| drop(s.exec(async { std::hint::black_box(1) })));
        // One allocation each, plus amortised growth of queues and slabs.
        assert!(blocking <= 1.05, "exec_blocking: {blocking:.3} allocations per child");
        assert!(asynchronous <= 1.05, "exec: {asynchronous:.3} allocations per child");
        println!("allocations per child: exec_blocking {blocking:.3}, exec {asynchronous:.3}");
    });
}
