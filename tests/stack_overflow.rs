//! A kernel stack overflow must be *reported*: the double-fault task gate
//! gives the handler a stack of its own, where an ordinary interrupt gate
//! would triple-fault the CPU (a silent reset).
//!
//! The test maps a small stack in the vmalloc area with an unmapped guard
//! page below it, switches to it and recurses until ESP walks into the
//! guard page.
#![no_std]
#![no_main]
#![feature(custom_test_frameworks)]
#![test_runner(kernel::testing::test_runner)]
#![reexport_test_harness_main = "test_main"]

use kernel::arch::x86::cpu::call_on_stack;
use kernel::arch::x86::paging::{Entry, PAGE_KERNEL, set_pte_vaddr};
use kernel::mm::gfp::GfpFlags;
use kernel::mm::init::{VMALLOC_START, node};
use kernel::mm::{PAGE_SHIFT, PAGE_SIZE};
use kernel::should_panic_test;

kernel::test_kernel_init!();

/// Pages of the test stack, above one unmapped guard page.
const STACK_PAGES: usize = 4;

/// Physical address of a fresh low-memory page.
fn alloc_low_page() -> Option<u64> {
    let node = node();
    let page = node.alloc_page(GfpFlags::GFP_KERNEL)?;
    Some((node.page_to_pfn(page)? as u64) << PAGE_SHIFT)
}

/// Maps the stack and returns its top.  The guard page at VMALLOC_START
/// stays unmapped.
fn map_guarded_stack() -> usize {
    let guard = VMALLOC_START();
    for index in 1..=STACK_PAGES {
        let frame = alloc_low_page().expect("memory for the test stack");
        set_pte_vaddr(guard + index * PAGE_SIZE, Entry::new(frame, PAGE_KERNEL), &mut alloc_low_page);
    }
    guard + (STACK_PAGES + 1) * PAGE_SIZE
}

#[allow(unconditional_recursion)]
fn recurse(depth: u32) -> u32 {
    let frame = core::hint::black_box([depth; 32]);
    recurse(depth + 1).wrapping_add(frame[depth as usize % 32])
}

extern "C" fn overflow() -> ! {
    recurse(0);
    unreachable!("the recursion only ends in the guard page")
}

should_panic_test!(kernel_stack_overflow_reaches_the_double_fault_task, "double fault: kernel stack overflow", || {
    let top = map_guarded_stack();
    // SAFETY: [top - STACK_PAGES pages, top) was just mapped, writable and
    // used by nothing else; `overflow` never returns.
    unsafe { call_on_stack(top, overflow) }
});
