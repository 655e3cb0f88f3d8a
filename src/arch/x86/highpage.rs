//! Filling a page frame with zeroes, low or high (Linux `clear_highpage`,
//! `include/linux/highmem.h`), for `__GFP_ZERO`.
//!
//! A low-memory frame has a permanent address in the direct map. A
//! high-memory frame has none, so it is mapped for a moment into this CPU's
//! `KM_USER0` window of the fixmap (what Linux's `kmap_atomic(page,
//! KM_USER0)` does), cleared, and unmapped, with interrupts off so nothing
//! else on this CPU can use the window meanwhile. When the high-memory issue
//! brings `kmap_atomic`, this becomes a call to it.

use super::irqflags::{local_irq_restore, local_irq_save};
use super::paging::{self, Entry, PAGE_KERNEL};
use super::smp::smp_processor_id;
use crate::mm::PAGE_SHIFT;
use crate::mm::init::max_low_pfn;
use crate::mm::layout::{__fix_to_virt, __va, KM_TYPE_NR, fixed_addresses::FIX_KMAP_BEGIN};

/// The `enum km_type` slot used (Linux 2.6's `KM_USER0`).
const KM_USER0: usize = 3;

/// Zero-fill page frame `pfn`.
pub fn clear_highpage(pfn: usize) {
    let paddr = (pfn as u64) << PAGE_SHIFT;
    if pfn < max_low_pfn() {
        // SAFETY: the frame is below max_low_pfn, so it is mapped in the
        // direct map at __va(paddr); the allocator just took it off the free
        // lists for the caller, so nobody else uses it.
        unsafe { paging::clear_page(__va(paddr)) };
        return;
    }
    let flags = local_irq_save();
    let vaddr = __fix_to_virt(FIX_KMAP_BEGIN + KM_USER0 + KM_TYPE_NR * smp_processor_id());
    assert!(
        paging::lookup_address(vaddr).is_none(),
        "clear_highpage: the KM_USER0 window of this CPU is in use"
    );
    // The fixmap's page tables were made by paging_init: nothing to allocate.
    paging::set_pte_vaddr(vaddr, Entry::new(paddr, PAGE_KERNEL), &mut || None);
    // SAFETY: `vaddr` now maps the frame (set_pte_vaddr flushed the old
    // translation); the frame is ours as above, and with interrupts off
    // nothing else on this CPU can map another frame at this window.
    unsafe { paging::clear_page(vaddr) };
    paging::set_pte_vaddr(vaddr, Entry::NONE, &mut || None);
    local_irq_restore(flags);
}
