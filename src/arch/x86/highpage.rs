//! Filling a page frame with zeroes, low or high (Linux `clear_highpage`,
//! `include/linux/highmem.h`), for `__GFP_ZERO`.
//!
//! A low-memory frame has a permanent address in the direct map.  A
//! high-memory frame has none, so it is mapped for a moment into this CPU's
//! `KM_USER0` window with `kmap_atomic`, cleared, and unmapped.

use super::paging;
use crate::mm::direct_map::pfn_to_page;
use crate::mm::kmap_atomic::{km_type, kmap_atomic, kunmap_atomic};

/// Zero-fill page frame `pfn`.
pub fn clear_highpage(pfn: usize) {
    let page = pfn_to_page(pfn).expect("a frame inside mem_map");
    let vaddr = kmap_atomic(page, km_type::KM_USER0);
    // SAFETY: `vaddr` maps the frame (direct map or this CPU's KM_USER0
    // window, which kmap_atomic owns until kunmap_atomic); the allocator
    // just took the frame off the free lists for the caller.
    unsafe { paging::clear_page(vaddr) };
    kunmap_atomic(vaddr, km_type::KM_USER0);
}
