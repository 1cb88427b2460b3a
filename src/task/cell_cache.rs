//! Task cells without a trip to the allocator: a small per-thread cache of
//! freed cells, by size class.
//!
//! # Why
//!
//! Every task — a nursery child, a `spawn_local` task — is one heap
//! allocation (`raw.rs`). In a recursive fork-join the cells come and go in
//! stack order on one thread: the child of the innermost scope is freed
//! just before the next fork allocates one of the same type. The general
//! allocator does that in about 140 instructions (glibc's `malloc` and
//! `free`, with their checks); a free list of the thread's own freed cells
//! does it in a handful (docs/performance.md, issue 18).
//!
//! # How
//!
//! * **Size classes.** A cell of `size` bytes with an alignment of at most
//!   `ALIGN` belongs to class m = ⌈(size + 8) / 16⌉ (m = 1 .. `CLASSES`),
//!   and is *always* allocated with the class's layout, 16·m − 8 bytes,
//!   whether it comes from the cache or from the allocator; so a cached
//!   block can serve any cell of its class, and one that leaves the cache
//!   goes back to the allocator with the layout it was allocated with.
//!   The class size is the largest request that glibc's `malloc` serves
//!   with the same chunk as the cell's own size (a chunk is the request
//!   plus an 8-byte header, rounded up to 16): rounding up further (the
//!   first version used 64-byte classes) moved a 120-byte blocking child's
//!   chunk from 128 to 144 bytes, out of glibc's lock-free fast bins, and
//!   made the million-child storm on two threads 2× slower (the frees on
//!   the thief contended for the arena lock with the spawner's mallocs;
//!   docs/performance.md). Bigger or more aligned cells bypass the cache.
//! * **Per thread, bounded.** Each thread keeps, per class, a singly linked
//!   list of at most `DEPTH` free blocks, threaded through their first
//!   word. A cell freed on a thread goes to *that* thread's list (a cell
//!   made on one worker and freed on another feeds the other), or to the
//!   allocator when the list is full; the thread's lists go back to the
//!   allocator when it exits (the thread-local's destructor). A thread
//!   keeps at most `CLASSES * DEPTH` blocks (64 KiB), whatever it runs.
//! * **After the thread-local is gone** (a cell freed from another
//!   thread-local's destructor, late in the thread's exit) the block goes
//!   straight to the allocator.
//! * Only the owning thread touches its lists (a `thread_local`, no
//!   atomics): nothing here is shared. Under `--cfg loom` the cache is
//!   off (every cell is a plain allocation), so the models see the same
//!   memory traffic as before and loom's thread-locals stay out of it.
//!
//! Prior art: Go's runtime keeps dead goroutine descriptors on a per-P free
//! list (`gFree`) for the next `go` statement; mimalloc's per-thread free
//! lists by size class (<https://github.com/microsoft/mimalloc>).

use std::alloc::Layout;
use std::ptr::NonNull;

/// The size step of the classes, in bytes (glibc's chunk granularity).
const STEP: usize = 16;
/// How many classes: cells up to `STEP * CLASSES - 8` bytes are cached.
const CLASSES: usize = 32;
/// The most blocks a thread keeps per class.
#[cfg(not(loom))]
const DEPTH: usize = 8;
/// The largest alignment a cached cell may need (every class's layout has it).
const ALIGN: usize = 16;

/// The class of a cell of `layout` (1-based), if it is cached.
#[inline]
const fn class_of(layout: Layout) -> Option<usize> {
    let m = (layout.size() + 8).div_ceil(STEP);
    // `m - 1 < CLASSES` (wrapping): 1 ..= CLASSES.
    if layout.align() <= ALIGN && m.wrapping_sub(1) < CLASSES { Some(m) } else { None }
}

/// The layout every block of class `m` is allocated with: the largest
/// request glibc serves with the chunk of the class's cells (module docs).
#[inline]
const fn class_layout(m: usize) -> Layout {
    // SAFETY: 16·m − 8 is non-zero and far below `isize::MAX` for m ≥ 1;
    // 16 is a power of two (a size need not be a multiple of the alignment).
    unsafe { Layout::from_size_align_unchecked(m * STEP - 8, ALIGN) }
}

/// Allocates room for a cell of `layout` (which [`release`] must be given
/// back, with the same layout). Aborts on allocation failure, as `Box` does.
#[inline]
pub(super) fn acquire(layout: Layout) -> NonNull<u8> {
    debug_assert!(layout.size() > 0, "a task cell is never zero-sized");
    let (k, block_layout) = match class_of(layout) {
        Some(k) => (k, class_layout(k)),
        None => (0, layout),
    };
    if k != 0 {
        if let Some(block) = imp::pop(k) {
            return block;
        }
    }
    allocate(block_layout)
}

/// The allocator's side of [`acquire`].
#[inline(never)]
fn allocate(layout: Layout) -> NonNull<u8> {
    // SAFETY: the layout has a non-zero size (a cell has a header).
    let ptr = unsafe { std::alloc::alloc(layout) };
    NonNull::new(ptr).unwrap_or_else(|| std::alloc::handle_alloc_error(layout))
}

/// Gives back the room of a cell of `layout`, already dropped in place.
///
/// # Safety
/// `ptr` came from [`acquire`] with this `layout`, and nothing uses it any
/// more.
#[inline]
pub(super) unsafe fn release(ptr: NonNull<u8>, layout: Layout) {
    match class_of(layout) {
        Some(k) => {
            // SAFETY: forwarded; a block of class `k` has the class layout.
            if let Err(ptr) = unsafe { imp::push(k, ptr) } {
                // SAFETY: allocated with the class layout (`acquire`).
                unsafe { std::alloc::dealloc(ptr.as_ptr(), class_layout(k)) };
            }
        }
        // SAFETY: allocated with `layout` itself (`acquire`).
        None => unsafe { std::alloc::dealloc(ptr.as_ptr(), layout) },
    }
}

#[cfg(not(loom))]
mod imp {
    use super::{CLASSES, DEPTH, class_layout};
    use std::cell::Cell;
    use std::ptr::{self, NonNull};

    /// One thread's free lists (module docs).
    struct Lists {
        /// Per class (index k - 1): the newest free block, or null.
        head: [Cell<*mut u8>; CLASSES],
        /// Per class: how many blocks the list holds.
        len: [Cell<u8>; CLASSES],
    }

    impl Drop for Lists {
        fn drop(&mut self) {
            for k in 1..=CLASSES {
                let mut block = self.head[k - 1].replace(ptr::null_mut());
                while !block.is_null() {
                    // SAFETY: a free block of this list: its first word is
                    // the next one (written by `push`), and it was
                    // allocated with the class layout.
                    unsafe {
                        let next = block.cast::<*mut u8>().read();
                        std::alloc::dealloc(block, class_layout(k));
                        block = next;
                    }
                }
            }
        }
    }

    std::thread_local! {
        static LISTS: Lists = const {
            Lists {
                head: [const { Cell::new(ptr::null_mut()) }; CLASSES],
                len: [const { Cell::new(0) }; CLASSES],
            }
        };
    }

    /// A free block of class `k`, if this thread has one.
    #[inline]
    pub(super) fn pop(k: usize) -> Option<NonNull<u8>> {
        LISTS
            .try_with(|lists| {
                let block = NonNull::new(lists.head[k - 1].get())?;
                // SAFETY: a free block of this list: its first word is the
                // next one (written by `push`); blocks are at least 8 bytes.
                let next = unsafe { block.as_ptr().cast::<*mut u8>().read() };
                lists.head[k - 1].set(next);
                lists.len[k - 1].set(lists.len[k - 1].get() - 1);
                Some(block)
            })
            .ok()
            .flatten()
    }

    /// Keeps a free block of class `k` on this thread's list; hands it back
    /// when the list is full or the thread-local is gone.
    ///
    /// # Safety
    /// `block` was allocated with class `k`'s layout and nothing uses it.
    #[inline]
    pub(super) unsafe fn push(k: usize, block: NonNull<u8>) -> Result<(), NonNull<u8>> {
        LISTS
            .try_with(|lists| {
                let len = lists.len[k - 1].get();
                if usize::from(len) == DEPTH {
                    return Err(block);
                }
                // SAFETY: the block is ours (the caller's contract), at
                // least 8 bytes and 16-aligned: room for the link.
                unsafe { block.as_ptr().cast::<*mut u8>().write(lists.head[k - 1].get()) };
                lists.head[k - 1].set(block.as_ptr());
                lists.len[k - 1].set(len + 1);
                Ok(())
            })
            .unwrap_or(Err(block))
    }
}

/// Under loom the cache is off: every cell is a plain allocation.
#[cfg(loom)]
mod imp {
    use std::ptr::NonNull;

    #[inline]
    pub(super) fn pop(_k: usize) -> Option<NonNull<u8>> {
        None
    }

    /// # Safety
    /// None needed: the block is handed straight back.
    #[inline]
    pub(super) unsafe fn push(_k: usize, block: NonNull<u8>) -> Result<(), NonNull<u8>> {
        Err(block)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_keep_the_cells_own_malloc_chunk_and_bound_alignment() {
        // A chunk is the request plus 8 bytes, rounded up to 16.
        let chunk = |size: usize| (size + 8).div_ceil(16) * 16;
        for size in 1..=504 {
            let layout = Layout::from_size_align(size, 8).unwrap();
            let m = class_of(layout).expect("cached");
            assert!(class_layout(m).size() >= size, "room for the cell");
            assert_eq!(chunk(class_layout(m).size()), chunk(size), "same chunk for size {size}");
        }
        assert_eq!(class_of(Layout::from_size_align(505, 8).unwrap()), None);
        assert_eq!(class_of(Layout::from_size_align(64, 32).unwrap()), None);
    }

    #[test]
    #[cfg(not(loom))]
    fn a_freed_block_is_reused_last_in_first_out_and_the_list_is_bounded() {
        let layout = Layout::from_size_align(100, 8).unwrap();
        let a = acquire(layout);
        let b = acquire(layout);
        // SAFETY: from `acquire` with this layout, unused.
        unsafe { release(a, layout) };
        // SAFETY: as above.
        unsafe { release(b, layout) };
        let (b2, a2) = (acquire(layout), acquire(layout));
        assert_eq!((b2, a2), (b, a));
        // SAFETY: as above.
        unsafe { release(a2, layout) };
        // SAFETY: as above.
        unsafe { release(b2, layout) };
        // Fill one class beyond its depth: the surplus goes to the allocator.
        let blocks: Vec<_> = (0..DEPTH + 4).map(|_| acquire(layout)).collect();
        for &block in &blocks {
            // SAFETY: as above.
            unsafe { release(block, layout) };
        }
        let again: Vec<_> = (0..DEPTH).map(|_| acquire(layout)).collect();
        for block in &again {
            assert!(blocks.contains(block), "a cached block comes back");
        }
        for block in again {
            // SAFETY: as above.
            unsafe { release(block, layout) };
        }
    }
}
