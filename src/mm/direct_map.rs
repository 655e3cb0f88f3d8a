//! Low memory's permanent addresses: page descriptors <-> kernel virtual
//! addresses.
//!
//! Every page frame below `max_low_pfn` is mapped at `PAGE_OFFSET + its
//! physical address` for the whole life of the kernel (the direct map
//! `paging_init` built), so converting between a `struct page`, its PFN,
//! its physical and its virtual address is arithmetic.  That is what makes
//! `__get_free_pages` possible: it returns an address the caller can use at
//! once.  High-memory frames have no such address; `lowmem_page_address`
//! answers `None` for them, and `highmem::page_address` finds the address
//! `kmap` gave them, if any.
//!
//! Linux: `include/linux/mm.h` (`page_address`, `lowmem_page_address`),
//! `arch/x86/include/asm/page.h` (`virt_to_page`, `__pa`, `__va`),
//! `mm/page_alloc.c` (`__get_free_pages`, `get_zeroed_page`, `free_pages`).

use super::gfp::GfpFlags;
use super::init::{high_memory, node};
use super::layout::{__pa, __va, PAGE_OFFSET};
use super::page::Page;
use super::{PAGE_SHIFT, PAGE_SIZE};

/// Page frame number of a page descriptor (Linux `page_to_pfn`).
pub fn page_to_pfn(page: &Page) -> usize {
    node().page_to_pfn(page).expect("a descriptor inside mem_map")
}

/// Descriptor of page frame `pfn` (Linux `pfn_to_page`); `None` past the map.
pub fn pfn_to_page(pfn: usize) -> Option<&'static Page> {
    node().pfn_to_page(pfn)
}

/// The direct-map address of a low-memory page (Linux
/// `lowmem_page_address`); `None` for a high-memory page, whose address (if
/// it is kmapped) `highmem::page_address` knows.
pub fn lowmem_page_address(page: &Page) -> Option<usize> {
    if page.is_highmem() {
        return None;
    }
    Some(__va((page_to_pfn(page) as u64) << PAGE_SHIFT))
}

/// Descriptor of the page containing direct-map address `vaddr` (Linux
/// `virt_to_page`); `None` outside the direct map.
pub fn virt_to_page(vaddr: usize) -> Option<&'static Page> {
    if !(PAGE_OFFSET..high_memory()).contains(&vaddr) {
        return None;
    }
    pfn_to_page((__pa(vaddr) >> PAGE_SHIFT) as usize)
}

/// Allocates `2^order` low-memory pages and returns their virtual address
/// (Linux `__get_free_pages`).  A high-memory block would have no address
/// to return, so `__GFP_HIGHMEM` is refused.
pub fn __get_free_pages(gfp_mask: GfpFlags, order: usize) -> Option<usize> {
    if gfp_mask.contains(GfpFlags::__GFP_HIGHMEM) {
        log::warn!("__get_free_pages: __GFP_HIGHMEM cannot be given a kernel address, refused");
        return None;
    }
    node().alloc_pages(gfp_mask, order).and_then(lowmem_page_address)
}

/// One zero-filled low-memory page (Linux `get_zeroed_page`).
pub fn get_zeroed_page(gfp_mask: GfpFlags) -> Option<usize> {
    let vaddr = __get_free_pages(gfp_mask, 0)?;
    // SAFETY: the page was just allocated for us and is direct-mapped.
    unsafe { crate::arch::x86::paging::clear_page(vaddr) };
    Some(vaddr)
}

/// Frees `2^order` pages by their direct-map address (Linux `free_pages`).
/// An address outside the direct map or not page-aligned is reported and
/// ignored.
pub fn free_pages(vaddr: usize, order: usize) {
    match virt_to_page(vaddr) {
        Some(page) if vaddr % PAGE_SIZE == 0 => node().__free_pages(page, order),
        _ => log::error!("free_pages: {vaddr:#010x} is not a page-aligned direct-map address, ignored"),
    }
}
