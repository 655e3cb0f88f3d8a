//! Temporary kernel mappings: `kmap_atomic` over per-CPU fixmap windows
//! (Linux 2.6 `arch/x86/mm/highmem_32.c`, `include/asm-i386/kmap_types.h`).
//!
//! `kmap` may sleep, so interrupt handlers and other atomic code cannot use
//! it.  They use a *window* instead: a fixmap slot reserved at compile time
//! for one purpose on one CPU.  Each CPU has `KM_TYPE_NR` = 13 windows, one
//! per [`km_type`]; window `type` of CPU `cpu` is fixmap slot
//! `FIX_KMAP_BEGIN + type + KM_TYPE_NR * cpu`.  Mapping a page there is one
//! PTE write plus one TLB-entry flush — nothing to search, nothing to wait
//! for — and it never blocks.
//!
//! The price: the kernel must make sure two control paths never use the
//! same window at once.  The rules that guarantee it:
//! * `kmap_atomic` raises the preempt count, so the thread cannot be
//!   preempted (or migrate to another CPU) while it holds a window, and it
//!   must not sleep until `kunmap_atomic`;
//! * each kind of context has its own windows: process context uses
//!   `KM_USER0`/`KM_USER1`, interrupt handlers `KM_IRQ0`/`KM_IRQ1`, softirqs
//!   `KM_SOFTIRQ0`/`KM_SOFTIRQ1`... so an interrupt that arrives while a
//!   thread holds `KM_USER0` maps its page elsewhere.
//!
//! With [`DEBUG_HIGHMEM`] (Linux `CONFIG_DEBUG_HIGHMEM`; on in debug builds,
//! so in every test kernel) `kmap_atomic` BUGs when the window is already
//! in use and `kunmap_atomic` BUGs when the address is not the window of the
//! given type on this CPU.  `kunmap_atomic` always clears the PTE and
//! flushes it, so a stale window never maps a page by accident.

use super::direct_map::{pfn_to_page, virt_to_page};
use super::highmem::page_address;
use super::layout::fixed_addresses::FIX_KMAP_BEGIN;
use super::layout::{FIXADDR_START, FIXADDR_TOP, KM_TYPE_NR, __fix_to_virt, __virt_to_fix};
use super::page::Page;
use super::PAGE_SHIFT;
use crate::arch::x86::paging::{Entry, PAGE_KERNEL, kmap_atomic_pte, set_kmap_atomic_pte};
use crate::arch::x86::smp::smp_processor_id;
use crate::mm::direct_map::page_to_pfn;
use crate::preempt::{preempt_disable, preempt_enable};

/// Check window use (Linux `CONFIG_DEBUG_HIGHMEM`): on in debug builds.
pub const DEBUG_HIGHMEM: bool = cfg!(debug_assertions);

/// The per-CPU windows of Linux 2.6 (`enum km_type`), each reserved for one
/// kind of user so that nested contexts never share one.
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum km_type {
    /// Bounce buffers, read side.
    KM_BOUNCE_READ,
    /// SunRPC socket data.
    KM_SKB_SUNRPC_DATA,
    /// Network data in softirq context.
    KM_SKB_DATA_SOFTIRQ,
    /// Process context, first page (copying, clearing).
    KM_USER0,
    /// Process context, second page.
    KM_USER1,
    /// Block I/O source, interrupt context.
    KM_BIO_SRC_IRQ,
    /// Block I/O destination, interrupt context.
    KM_BIO_DST_IRQ,
    /// Page tables in high memory, first.
    KM_PTE0,
    /// Page tables in high memory, second.
    KM_PTE1,
    /// Interrupt handlers, first page.
    KM_IRQ0,
    /// Interrupt handlers, second page.
    KM_IRQ1,
    /// Softirqs, first page.
    KM_SOFTIRQ0,
    /// Softirqs, second page.
    KM_SOFTIRQ1,
}

const _: () = assert!(km_type::KM_SOFTIRQ1 as usize + 1 == KM_TYPE_NR, "thirteen windows per CPU");

/// Window number of `type_` on this CPU (an index below FIX_KMAP_BEGIN's PTE).
fn window_index(type_: km_type) -> usize {
    type_ as usize + KM_TYPE_NR * smp_processor_id()
}

/// Maps `page` into this CPU's `type_` window and returns its address
/// (Linux `kmap_atomic`).  Low pages need no window: their direct-map
/// address is returned, but the preempt count is raised all the same, so
/// the caller's obligations do not depend on where the page lives.
pub fn kmap_atomic(page: &Page, type_: km_type) -> usize {
    preempt_disable();
    if !page.is_highmem() {
        return page_address(page).expect("low pages are direct-mapped");
    }
    let idx = window_index(type_);
    let vaddr = __fix_to_virt(FIX_KMAP_BEGIN + idx);
    if DEBUG_HIGHMEM && !kmap_atomic_pte(idx).is_none() {
        panic!("BUG: kmap_atomic: window {type_:?} of CPU {} is already in use", smp_processor_id());
    }
    set_kmap_atomic_pte(idx, Entry::new((page_to_pfn(page) as u64) << PAGE_SHIFT, PAGE_KERNEL));
    vaddr
}

/// Ends a `kmap_atomic` (Linux `kunmap_atomic`): clears and flushes the
/// window, then lowers the preempt count.
pub fn kunmap_atomic(vaddr: usize, type_: km_type) {
    if vaddr < FIXADDR_START {
        // A low page's direct-map address: there was no window.
        preempt_enable();
        return;
    }
    let idx = window_index(type_);
    if DEBUG_HIGHMEM && vaddr & !(super::PAGE_SIZE - 1) != __fix_to_virt(FIX_KMAP_BEGIN + idx) {
        panic!("BUG: kunmap_atomic: {vaddr:#010x} is not the {type_:?} window of CPU {}", smp_processor_id());
    }
    set_kmap_atomic_pte(idx, Entry::NONE);
    preempt_enable();
}

/// The page a `kmap_atomic` address maps (Linux `kmap_atomic_to_page`).
pub fn kmap_atomic_to_page(vaddr: usize) -> Option<&'static Page> {
    if !(FIXADDR_START..FIXADDR_TOP).contains(&vaddr) {
        return virt_to_page(vaddr);
    }
    let idx = __virt_to_fix(vaddr).checked_sub(FIX_KMAP_BEGIN)?;
    let entry = kmap_atomic_pte(idx);
    entry.is_present().then(|| pfn_to_page((entry.paddr() >> PAGE_SHIFT) as usize)).flatten()
}
