//! # The kernel's Rust heap: `Box`, `Vec` and friends on top of the slab
//!
//! Rust's `alloc` crate asks a `#[global_allocator]` for memory by
//! `Layout` (size and alignment) and gives it back with the same layout.
//! This file decides where each request goes — the policy, in safe Rust;
//! the `GlobalAlloc` glue, which must be `unsafe`, is in
//! `arch/x86/heap.rs`:
//!
//! | request (size rounded up to the alignment) | from | Linux counterpart |
//! |---------------------------------------------|------|-------------------|
//! | up to 128 KiB, alignment up to 64 bytes      | `kmalloc` (the general caches) | `kmalloc` |
//! | up to 4 MiB, or aligned more than 64 bytes   | the buddy allocator, `2^order` pages | `__get_free_pages` (`kmalloc_large`, 2.6.23) |
//! | larger                                       | `vmalloc` | `kvmalloc` (4.12) |
//!
//! A general cache's objects are aligned to `min(size, 64)` (its slabs
//! start on the cache's alignment, objects are power-of-two sized), so a
//! request of `max(size, align)` bytes is aligned as asked whenever `align
//! <= 64`; a buddy block of `2^order` pages is aligned to its own size.
//!
//! Rust's allocator interface cannot say whether the caller may sleep, as
//! a GFP mask would: requests made with interrupts off or in an interrupt
//! use `GFP_ATOMIC`, all others `GFP_KERNEL`. `vmalloc` needs a sleeping
//! context, so a large atomic request fails. Allocating before
//! `kmem_cache_init` fails too (the `alloc` crate then panics with a
//! clear message).

use super::gfp::GfpFlags;
use super::kmalloc::{KMALLOC_MAX_SIZE, try_slab};
use super::slab::L1_CACHE_BYTES;
use super::{MAX_ORDER, PAGE_SHIFT, PAGE_SIZE};

/// Where a layout is served from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    /// `kmalloc(bytes)`.
    Kmalloc(usize),
    /// `__get_free_pages(order)`.
    Pages(usize),
    /// `vmalloc(bytes)`.
    Vmalloc(usize),
}

/// The route for `size` bytes aligned to `align` (a power of two).
fn route(size: usize, align: usize) -> Option<Route> {
    let bytes = size.max(align).max(1);
    if bytes <= KMALLOC_MAX_SIZE && align <= L1_CACHE_BYTES {
        return Some(Route::Kmalloc(bytes));
    }
    let order = bytes.div_ceil(PAGE_SIZE).next_power_of_two().trailing_zeros() as usize;
    if order < MAX_ORDER {
        Some(Route::Pages(order))
    } else if align <= PAGE_SIZE {
        Some(Route::Vmalloc(bytes))
    } else {
        None
    }
}

/// The GFP mask for a request from the current context (see the module doc).
fn heap_gfp() -> GfpFlags {
    if crate::preempt::in_interrupt() || !crate::arch::current::irqflags::irqs_enabled() {
        GfpFlags::GFP_ATOMIC
    } else {
        GfpFlags::GFP_KERNEL
    }
}

/// Memory for `size` bytes aligned to `align`, or `None`.
pub fn heap_alloc(size: usize, align: usize) -> Option<usize> {
    let slab = try_slab()?;
    let gfp = heap_gfp();
    match route(size, align)? {
        Route::Kmalloc(bytes) => slab.kmalloc(bytes, gfp),
        Route::Pages(order) => super::direct_map::__get_free_pages(gfp, order),
        Route::Vmalloc(bytes) if gfp.contains(GfpFlags::__GFP_WAIT) => super::vmalloc::vmalloc(bytes),
        Route::Vmalloc(_) => None,
    }
}

/// Give back what [`heap_alloc`] returned for the same `size` and `align`.
pub fn heap_free(addr: usize, size: usize, align: usize) {
    match route(size, align) {
        Some(Route::Kmalloc(_)) => {
            // A refused free was reported; the object stays allocated.
            let _ = try_slab().map(|slab| slab.kfree(addr));
        }
        Some(Route::Pages(order)) => super::direct_map::free_pages(addr, order),
        Some(Route::Vmalloc(_)) => super::vmalloc::vfree(addr),
        None => log::error!("heap: free of {addr:#x} with an impossible layout ({size} bytes, align {align})"),
    }
}

/// Can the block at `addr`, allocated for `old_size`, hold `new_size`
/// bytes in place? True when both sizes take the same route and fit the
/// same object (`ksize`) or block: `Vec` growth inside a general cache's
/// object costs no copy.
pub fn heap_fits_in_place(addr: usize, old_size: usize, new_size: usize, align: usize) -> bool {
    match (route(old_size, align), route(new_size, align)) {
        (Some(Route::Kmalloc(_)), Some(Route::Kmalloc(new))) => {
            try_slab().and_then(|slab| slab.ksize(addr)).is_some_and(|usable| new <= usable)
        }
        (Some(Route::Pages(old)), Some(Route::Pages(new))) => old == new,
        _ => false,
    }
}

/// Which allocator serves `size` bytes aligned to `align`: `kmalloc`,
/// `pages` or `vmalloc` (the kernel tests compare it with where a `Vec`'s
/// buffer really lives).
pub fn heap_route_name(size: usize, align: usize) -> &'static str {
    match route(size, align) {
        Some(Route::Kmalloc(_)) => "kmalloc",
        Some(Route::Pages(_)) => "pages",
        Some(Route::Vmalloc(_)) => "vmalloc",
        None => "none",
    }
}

const _: () = assert!(KMALLOC_MAX_SIZE >> PAGE_SHIFT < 1 << (MAX_ORDER - 1));
