//! The `#[global_allocator]`: Rust's `GlobalAlloc` interface over the
//! kernel heap's policy in `mm/heap.rs` (slab, pages or vmalloc by size).
//! The trait is `unsafe` to implement, so it lives here under `arch`.

use core::alloc::{GlobalAlloc, Layout};

use crate::mm::heap::{heap_alloc, heap_fits_in_place, heap_free};

/// The kernel heap (zero-sized: its state is the slab allocator's).
pub struct KernelHeap;

// SAFETY: `heap_alloc` returns either `None` (null) or the address of a
// block of at least `layout.size()` bytes aligned to `layout.align()` that
// nobody else owns (a slab object, a buddy block, or a vmalloc area; see
// mm/heap.rs for why each route meets the alignment), and `heap_free`
// gives back exactly the block `heap_alloc` chose for the same layout.
unsafe impl GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        heap_alloc(layout.size(), layout.align()).map_or(core::ptr::null_mut(), |addr| addr as *mut u8)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        heap_free(ptr as usize, layout.size(), layout.align());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if heap_fits_in_place(ptr as usize, layout.size(), new_size, layout.align()) {
            return ptr;
        }
        // SAFETY: the caller guarantees `new_size` with `layout.align()` is a
        // valid layout (GlobalAlloc::realloc's contract).
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: a valid layout with a non-zero size (realloc's contract).
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both blocks are valid for the smaller of the two sizes
            // and are distinct allocations, so they do not overlap.
            unsafe { core::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size)) };
            // SAFETY: `ptr` was allocated by us with `layout`.
            unsafe { self.dealloc(ptr, layout) };
        }
        new
    }
}

#[global_allocator]
static KERNEL_HEAP: KernelHeap = KernelHeap;
