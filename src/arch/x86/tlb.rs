//! TLB shootdown: making every CPU forget a kernel mapping that changed
//! (Linux 2.6.11 `arch/i386/kernel/smp.c`: `flush_tlb_others`,
//! `smp_invalidate_interrupt`, `flush_tlb_all`; 2.6.2x+ x86
//! `flush_tlb_kernel_range`).
//!
//! Each CPU caches translations in its own TLB, and `invlpg` or a CR3
//! reload only clears the TLB of the CPU that executes it. When the kernel
//! changes or removes a mapping another CPU may have used — a pkmap slot
//! reused for another page, a vmalloc area freed, a stack unmapped — that
//! CPU can keep reading the *old* page through its cached entry until it
//! flushes. So the CPU that changed the page table must tell the others:
//! it records what to flush, sends [`INVALIDATE_TLB_VECTOR`] to every other
//! online CPU, and spins until each has flushed and cleared its bit in the
//! flush mask. Only then may the old page be reused.
//!
//! Like [`smp_call_function`](super::smp::smp_call_function), the sender
//! waits for the others, so the same rule holds: interrupts must be on
//! (a CPU spinning with interrupts off never takes the IPI). The flush
//! functions check it and, if interrupts are off, flush locally and
//! report the misuse instead of deadlocking.
//!
//! Linux 2.6.11's `flush_tlb_kernel_range` is `flush_tlb_all` (everything,
//! everywhere, through `on_each_cpu`); 2.6.2x x86 flushes page by page up
//! to a ceiling. We do the latter, with the range carried in the request.
//! The global pages of kernel mappings do not matter here: this kernel
//! does not set CR4.PGE, so a CR3 reload drops every entry.

use super::irqflags::irqs_enabled;
use super::paging::{__flush_tlb_all, __flush_tlb_one};
use super::smp::{SmpCallError, cpu_physical_id, on_each_cpu, online_cpus, smp_processor_id};
use crate::mm::PAGE_SIZE;
use crate::preempt::{in_interrupt, preempt_disable, preempt_enable};
#[cfg(test)]
use core::sync::atomic::AtomicBool;
use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

/// Above this many pages a range flush reloads CR3 instead (Linux x86's
/// `tlb_single_page_flush_ceiling`, 33).
const FLUSH_CEILING_PAGES: usize = 33;

/// CPUs that still have to flush the current request (Linux `flush_cpumask`).
static FLUSH_CPUMASK: AtomicU32 = AtomicU32::new(0);
/// The current request's range `[FLUSH_START, FLUSH_END)` (Linux `flush_va`).
static FLUSH_START: AtomicUsize = AtomicUsize::new(0);
static FLUSH_END: AtomicUsize = AtomicUsize::new(0);
/// One request at a time (Linux `tlbstate_lock`); taken with interrupts on.
static TLBSTATE_LOCK: spin::Mutex<()> = spin::Mutex::new(());

/// Test-only switch: when set, the flush functions flush this CPU only, so
/// a test can watch another CPU read a stale mapping (the proof that the
/// shootdown test can fail).
#[cfg(test)]
pub static NO_REMOTE_FLUSH: AtomicBool = AtomicBool::new(false);

fn remote_flush_disabled() -> bool {
    #[cfg(test)]
    return NO_REMOTE_FLUSH.load(Ordering::Relaxed);
    #[cfg(not(test))]
    false
}

/// Flushes `[start, end)` from this CPU's TLB: page by page up to the
/// ceiling, else everything.
fn flush_local_range(start: usize, end: usize) {
    if end.saturating_sub(start) / PAGE_SIZE > FLUSH_CEILING_PAGES {
        __flush_tlb_all();
    } else {
        (start..end).step_by(PAGE_SIZE).for_each(__flush_tlb_one);
    }
}

/// Whether a shootdown may wait for other CPUs here; if not, says why once
/// per call site.
#[track_caller]
fn may_wait_for_other_cpus() -> bool {
    if irqs_enabled() && !in_interrupt() {
        return true;
    }
    if online_cpus().count() > 1 {
        let at = core::panic::Location::caller();
        log::warn!("WARNING: TLB shootdown with interrupts disabled at {}:{}: only this CPU flushed", at.file(), at.line());
        super::traps::dump_stack();
    }
    false
}

/// Makes every other online CPU flush `[start, end)` and waits until they
/// have (Linux `flush_tlb_others`, with a range instead of one address).
fn flush_tlb_others(start: usize, end: usize) {
    preempt_disable();
    let me = smp_processor_id();
    let mask = online_cpus().filter(|&cpu| cpu != me).fold(0u32, |mask, cpu| mask | 1 << cpu);
    if mask != 0 && !remote_flush_disabled() {
        let _lock = TLBSTATE_LOCK.lock();
        FLUSH_START.store(start, Ordering::Relaxed);
        FLUSH_END.store(end, Ordering::Relaxed);
        FLUSH_CPUMASK.store(mask, Ordering::Release);
        for cpu in online_cpus().filter(|&cpu| mask & 1 << cpu != 0) {
            super::apic::send_IPI(cpu_physical_id(cpu), super::apic::INVALIDATE_TLB_VECTOR);
        }
        while FLUSH_CPUMASK.load(Ordering::Acquire) != 0 {
            core::hint::spin_loop();
        }
    }
    preempt_enable();
}

/// The target's half (Linux `smp_invalidate_interrupt`): flush what the
/// request says, then clear our bit, which releases the sender.
pub(super) fn smp_invalidate_interrupt() {
    let cpu = smp_processor_id();
    if FLUSH_CPUMASK.load(Ordering::Acquire) & (1 << cpu) == 0 {
        return; // not for us (a request already completed)
    }
    flush_local_range(FLUSH_START.load(Ordering::Relaxed), FLUSH_END.load(Ordering::Relaxed));
    FLUSH_CPUMASK.fetch_and(!(1 << cpu), Ordering::AcqRel);
}

/// Flushes the kernel range `[start, end)` on every CPU (Linux
/// `flush_tlb_kernel_range`).
#[track_caller]
pub fn flush_tlb_kernel_range(start: usize, end: usize) {
    flush_local_range(start, end);
    if may_wait_for_other_cpus() {
        flush_tlb_others(start, end);
    }
}

/// Flushes one kernel page on every CPU that may hold it. (Linux i386's
/// `flush_tlb_one` flushes only the local CPU and leaves the rest to its
/// callers; here it is the one-page case of [`flush_tlb_kernel_range`].)
#[track_caller]
pub fn flush_tlb_one(vaddr: usize) {
    let page = vaddr & !(PAGE_SIZE - 1);
    flush_tlb_kernel_range(page, page + PAGE_SIZE);
}

fn do_flush_tlb_all(_info: usize) {
    __flush_tlb_all();
}

/// Flushes every CPU's whole TLB (Linux `flush_tlb_all`:
/// `on_each_cpu(do_flush_tlb_all, 0, 1)`).
#[track_caller]
pub fn flush_tlb_all() {
    if remote_flush_disabled() {
        __flush_tlb_all();
        return;
    }
    match on_each_cpu(do_flush_tlb_all, 0, true) {
        Ok(()) => {}
        Err(SmpCallError::IrqsDisabled) => __flush_tlb_all(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::x86::paging::{Entry, PAGE_KERNEL, lookup_address, set_pte_vaddr};
    use crate::arch::x86::smp::{num_online_cpus, online_cpus};
    use crate::mm::gfp::GfpFlags;
    use crate::mm::init::node;
    use crate::mm::layout::__va;
    use crate::mm::PAGE_SHIFT;
    use core::sync::atomic::AtomicU32;

    static VADDR: AtomicUsize = AtomicUsize::new(0);
    /// 1: CPU 1 has read the page once (its TLB holds the mapping);
    /// 2: CPU 0 has changed the mapping and flushed.
    static STEP: AtomicU32 = AtomicU32::new(0);
    static SEEN_AFTER: AtomicU32 = AtomicU32::new(0);

    fn read_word(vaddr: usize) -> u32 {
        // SAFETY: `vaddr` is the vmalloc page the test keeps mapped (to one
        // of its two pages) for as long as the reader runs.
        unsafe { (vaddr as *const u32).read_volatile() }
    }

    /// CPU 1 caches a kernel mapping, CPU 0 points it at another page and
    /// flushes with `flush_tlb_one`; returns what CPU 1 reads afterwards.
    fn remap_while_another_cpu_holds_the_mapping() -> (u32, u32, u32) {
        let node = node();
        let (old, new) = (0x0a0a_0a0a_u32, 0x0b0b_0b0b_u32);
        let pages = [old, new].map(|fill| {
            let page = node.alloc_page(GfpFlags::GFP_KERNEL).expect("a low page");
            let paddr = (node.page_to_pfn(page).unwrap() as u64) << PAGE_SHIFT;
            // SAFETY: a direct-mapped page just allocated for this test.
            unsafe { core::ptr::write_bytes(__va(paddr) as *mut u32, fill as u8, crate::mm::PAGE_SIZE / 4) };
            (page, paddr)
        });
        let vaddr = crate::mm::vmalloc::vmalloc(crate::mm::PAGE_SIZE).expect("one vmalloc page");
        let original = lookup_address(vaddr).expect("vmalloc mapped it").paddr;
        set_pte_vaddr(vaddr, Entry::new(pages[0].1, PAGE_KERNEL), &mut || None);
        flush_tlb_one(vaddr);
        VADDR.store(vaddr, Ordering::SeqCst);
        STEP.store(0, Ordering::SeqCst);
        let reader_cpu = online_cpus().nth(1).expect("a second CPU");
        let reader = crate::sched::kthread_create_on_cpu(
            &|| {
                let vaddr = VADDR.load(Ordering::SeqCst);
                let before = read_word(vaddr);
                STEP.store(1, Ordering::SeqCst);
                while STEP.load(Ordering::SeqCst) != 2 {
                    core::hint::spin_loop(); // interrupts on: the flush IPI gets in
                }
                SEEN_AFTER.store(read_word(vaddr), Ordering::SeqCst);
                before as i32
            },
            reader_cpu,
            "tlb-reader",
        )
        .expect("a thread on the second CPU");
        crate::sched::wake_up_process(reader.task());
        while STEP.load(Ordering::SeqCst) != 1 {
            core::hint::spin_loop();
        }
        set_pte_vaddr(vaddr, Entry::new(pages[1].1, PAGE_KERNEL), &mut || None);
        flush_tlb_one(vaddr);
        STEP.store(2, Ordering::SeqCst);
        let before = crate::sched::kthread_join(reader) as u32;
        let after = SEEN_AFTER.load(Ordering::SeqCst);
        set_pte_vaddr(vaddr, Entry::new(original & !(crate::mm::PAGE_SIZE as u64 - 1), PAGE_KERNEL), &mut || None);
        NO_REMOTE_FLUSH.store(false, Ordering::SeqCst);
        flush_tlb_one(vaddr);
        crate::mm::vmalloc::vfree(vaddr);
        pages.iter().for_each(|(page, _)| node.__free_page(page));
        (before, after, new)
    }

    /// The shootdown reaches the CPU holding the old translation: it reads
    /// the new page.
    #[test_case]
    fn after_a_tlb_shootdown_another_cpu_reads_the_new_page() {
        if num_online_cpus() < 2 {
            crate::skip!("needs a second CPU (boot with -smp 2 or more)");
        }
        let (before, after, new) = remap_while_another_cpu_holds_the_mapping();
        assert_eq!(before, 0x0a0a_0a0a, "the reader saw the first page before the change");
        assert_eq!(after, new, "the reader sees the new page after the shootdown");
    }

    /// With the remote flush switched off, the other CPU keeps reading the
    /// old page through its stale TLB entry: the proof that the test above
    /// can fail.
    #[test_case]
    fn without_the_remote_flush_another_cpu_reads_the_stale_page() {
        if num_online_cpus() < 2 {
            crate::skip!("needs a second CPU (boot with -smp 2 or more)");
        }
        NO_REMOTE_FLUSH.store(true, Ordering::SeqCst);
        let (before, after, _) = remap_while_another_cpu_holds_the_mapping();
        assert_eq!(before, 0x0a0a_0a0a);
        assert_eq!(after, 0x0a0a_0a0a, "without the IPI the reader's TLB still maps the old page");
    }
}
