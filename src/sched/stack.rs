//! Kernel thread stacks, with an unmapped guard page below each (Linux
//! `kernel/fork.c` `alloc_thread_stack_node` with `CONFIG_VMAP_STACK`).
//!
//! A kernel stack has a fixed size and nothing checks it: a deep recursion
//! or a big local array runs off its bottom and silently overwrites
//! whatever lies below.  Linux 2.6 on i386 took stacks straight from the
//! buddy allocator (two pages, `THREAD_SIZE`), inside the direct map, so an
//! overflow corrupted a neighbour.  Since 4.9 (`VMAP_STACK`) Linux maps
//! stacks in the vmalloc area with an unmapped page below each; we do the
//! same, in a simpler way:
//!
//! * every task slot owns a fixed virtual window of [`STACK_SLOT_SIZE`]
//!   bytes in the stack area: one guard page (never mapped), then
//!   [`THREAD_SIZE`] bytes of stack;
//! * `alloc_thread_stack` takes `THREAD_SIZE / PAGE_SIZE` pages from the
//!   page allocator and maps them into the slot's window; `free_thread_stack`
//!   unmaps them and gives them back.
//!
//! An overflow then writes to the guard page, which faults; the CPU cannot
//! push the page-fault frame onto that same stack and raises a double
//! fault, which runs on its own stack through a task gate (`gdt.rs`) and
//! reports `double fault: kernel stack overflow ... in <thread>`.
//!
//! ## Where the area is
//! The stack area is the 4 MiB just below the pkmap area, i.e. the top of
//! the vmalloc range (`VMALLOC_END` is two pages below `PKMAP_BASE`):
//! [`THREAD_STACK_AREA_START`] = `PKMAP_BASE - 4 MiB`.  One page table
//! covers it all, and [`thread_stack_init`] creates it at boot, so mapping
//! a stack never needs to allocate a page table.  A vmalloc allocator
//! (the high-memory issue) must stop below `THREAD_STACK_AREA_START`.
//!
//! `THREAD_SIZE` is 16 KiB, twice Linux's 8 KiB on i386: this kernel is
//! built with little optimisation (`opt-level = 1`) and uses `core::fmt`,
//! both of which want more stack than Linux's C.

use super::NR_TASKS;
use crate::arch::x86::paging::{Entry, PAGE_KERNEL, set_pte_vaddr};
use crate::mm::gfp::GfpFlags;
use crate::mm::init::node;
use crate::mm::layout::{PKMAP_BASE, PMD_SIZE, VMALLOC_END};
use crate::mm::mmzone::{MAX_NR_ZONES, ZoneType};
use crate::mm::page::Page;
use crate::mm::{PAGE_SHIFT, PAGE_SIZE};
use core::sync::atomic::{AtomicUsize, Ordering};

/// Bytes of stack per thread (Linux `THREAD_SIZE`).
pub const THREAD_SIZE: usize = 16 * 1024;
/// Pages per stack.
const STACK_PAGES: usize = THREAD_SIZE / PAGE_SIZE;
/// One guard page plus the stack.
pub const STACK_SLOT_SIZE: usize = PAGE_SIZE + THREAD_SIZE;
/// Start of the thread-stack area (see the module doc).
pub const THREAD_STACK_AREA_START: usize = PKMAP_BASE - PMD_SIZE;
/// End of the area actually used by the [`NR_TASKS`] slots.
pub const THREAD_STACK_AREA_END: usize = THREAD_STACK_AREA_START + NR_TASKS * STACK_SLOT_SIZE;

const _: () = assert!(THREAD_STACK_AREA_START.is_multiple_of(PMD_SIZE), "one page table covers the area");
const _: () = assert!(THREAD_STACK_AREA_END <= VMALLOC_END, "the area lies inside the vmalloc range");

/// The pages of one thread's stack and where they are mapped.
pub struct ThreadStack {
    /// Virtual address of the lowest stack byte (the guard page is below).
    bottom: usize,
    pages: [&'static Page; STACK_PAGES],
}

impl ThreadStack {
    /// One past the highest stack byte: where the stack pointer starts.
    pub fn top(&self) -> usize {
        self.bottom + THREAD_SIZE
    }

    /// Lowest usable address.
    pub fn bottom(&self) -> usize {
        self.bottom
    }
}

/// Guard page of slot `slot`.
fn guard_page(slot: usize) -> usize {
    THREAD_STACK_AREA_START + slot * STACK_SLOT_SIZE
}

/// Whether `vaddr` lies in one of the guard pages: an access there is a
/// stack overflow.
pub fn is_guard_page(vaddr: usize) -> bool {
    (THREAD_STACK_AREA_START..THREAD_STACK_AREA_END).contains(&vaddr)
        && (vaddr - THREAD_STACK_AREA_START) % STACK_SLOT_SIZE < PAGE_SIZE
}

/// Pages this module holds, per zone: the stacks of living threads and
/// the area's page table.  The boot-accounting test needs it — these are
/// the only pages the boot itself allocates after `mem_init`.
static PAGES_HELD: [AtomicUsize; MAX_NR_ZONES] = [const { AtomicUsize::new(0) }; MAX_NR_ZONES];

/// Pages of zone `zone` held for thread stacks and their page table.
pub fn nr_stack_pages(zone: ZoneType) -> usize {
    PAGES_HELD[zone as usize].load(Ordering::Relaxed)
}

fn account(page: &Page, taken: bool) {
    let held = &PAGES_HELD[page.page_zonenum() as usize];
    if taken {
        held.fetch_add(1, Ordering::Relaxed);
    } else {
        held.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A low-memory page for a page table (`set_pte_vaddr`'s allocator).
fn alloc_page_table() -> Option<u64> {
    let node = node();
    let page = node.alloc_page(GfpFlags::GFP_KERNEL)?;
    account(page, true);
    Some((node.page_to_pfn(page)? as u64) << PAGE_SHIFT)
}

/// Creates the page table of the stack area (called by `sched_init`), so
/// that mapping and unmapping stacks later never allocates.
pub fn thread_stack_init() {
    set_pte_vaddr(guard_page(0), Entry::NONE, &mut alloc_page_table);
}

/// Allocates and maps the stack of task slot `slot` (Linux
/// `alloc_thread_stack_node`).  `None`, with nothing kept, if the page
/// allocator runs out.
pub(super) fn alloc_thread_stack(slot: usize) -> Option<ThreadStack> {
    let node = node();
    let mut pages: [Option<&'static Page>; STACK_PAGES] = [None; STACK_PAGES];
    for index in 0..STACK_PAGES {
        match node.alloc_page(GfpFlags::GFP_KERNEL) {
            Some(page) => pages[index] = Some(page),
            None => {
                pages.iter().flatten().for_each(|page| node.__free_page(page));
                return None;
            }
        }
    }
    let pages = pages.map(|page| page.expect("all allocated above"));
    pages.iter().for_each(|page| account(page, true));
    let bottom = guard_page(slot) + PAGE_SIZE;
    for (index, page) in pages.iter().enumerate() {
        let paddr = (node.page_to_pfn(page).expect("a page of this node") as u64) << PAGE_SHIFT;
        set_pte_vaddr(bottom + index * PAGE_SIZE, Entry::new(paddr, PAGE_KERNEL), &mut alloc_page_table);
    }
    // The slot's previous stack was unmapped by the CPU its thread died on
    // (`free_thread_stack` runs in `finish_task_switch`, interrupts off, so
    // it cannot send IPIs); other CPUs that touched it — the one that built
    // its first frame, say — may still cache the old translations. Drop
    // them everywhere before the new thread can run anywhere.
    crate::arch::x86::tlb::flush_tlb_kernel_range(bottom, bottom + THREAD_SIZE);
    Some(ThreadStack { bottom, pages })
}

/// Unmaps a stack and frees its pages (Linux `free_thread_stack`).  The
/// thread must never run on it again.
pub(super) fn free_thread_stack(stack: ThreadStack) {
    let node = node();
    for (index, page) in stack.pages.iter().enumerate() {
        set_pte_vaddr(stack.bottom + index * PAGE_SIZE, Entry::NONE, &mut alloc_page_table);
        account(page, false);
        node.__free_page(page);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::x86::paging::lookup_address;

    #[test_case]
    fn a_stack_is_mapped_above_an_unmapped_guard_page_and_freed_whole() {
        let slot = NR_TASKS - 1;
        let free_before = super::super::nr_free_pages();
        let stack = alloc_thread_stack(slot).expect("memory for a stack");
        assert_eq!(stack.bottom(), guard_page(slot) + PAGE_SIZE);
        assert!(lookup_address(guard_page(slot)).is_none(), "the guard page is unmapped");
        assert!(is_guard_page(guard_page(slot)) && is_guard_page(stack.bottom() - 1));
        assert!(!is_guard_page(stack.bottom()) && !is_guard_page(stack.top() - 1));
        for vaddr in (stack.bottom()..stack.top()).step_by(PAGE_SIZE) {
            assert!(lookup_address(vaddr).is_some(), "{vaddr:#x} is mapped");
        }
        // The memory is usable: write the whole stack.
        // SAFETY: [bottom, top) was just mapped for this test and nothing else uses it.
        unsafe { core::ptr::write_bytes(stack.bottom() as *mut u8, 0x5a, THREAD_SIZE) };
        let top = stack.top();
        assert_eq!(super::super::nr_free_pages(), free_before - STACK_PAGES);
        free_thread_stack(stack);
        assert!(lookup_address(top - PAGE_SIZE).is_none(), "unmapped again");
        assert_eq!(super::super::nr_free_pages(), free_before);
    }
}
