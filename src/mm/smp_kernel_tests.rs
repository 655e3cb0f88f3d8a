//! The zone allocator on several CPUs at once: per-CPU lists drained by
//! IPI, event counts folded at the threshold, and a stress of every CPU
//! allocating, mapping and freeing together.
//! (The pkmap and `kmap_atomic` tests across CPUs are with the other
//! high-memory tests, in `highmem/kernel_tests.rs`.) With one CPU these
//! tests report themselves skipped; the 2 GiB and 4 GiB configurations run
//! them with two and four CPUs.

use super::MAX_ORDER;
use super::gfp::GfpFlags;
use super::init::node;
use super::kernel_test_support::{Held, KswapdOff, only, quiesced_snapshot};
use super::mmzone::ZoneType;
use super::vmstat::VmEventItem;
use crate::arch::x86::apic::{CALL_FUNCTION_VECTOR, apic_irqs};
use crate::arch::x86::smp::{cpu_online, num_online_cpus, online_cpus, run_bound_on_each_cpu, smp_processor_id, wait_for_go};
use crate::mm::layout::NR_CPUS;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering::SeqCst};

macro_rules! require_two_cpus {
    () => {
        if num_online_cpus() < 2 {
            crate::skip!("needs a second CPU (boot with -smp 2 or more)");
        }
    };
}

/// Pages on CPU `cpu`'s lists, all zones together.
fn pcp_pages(cpu: usize) -> usize {
    ZoneType::ALL.iter().map(|&zone| node().zone_pcp(zone, cpu).lock().pcp.count).sum()
}

/// Every CPU frees pages onto its own lists; `drain_all_pages` empties each
/// of them — by one call-function IPI to every other CPU — and returns
/// exactly what they held.
#[test_case]
fn drain_all_pages_empties_every_cpu_s_lists_by_ipi() {
    require_two_cpus!();
    static GO: AtomicBool = AtomicBool::new(false);
    run_bound_on_each_cpu(
        &|| {
            wait_for_go(&GO);
            let mut pages = [None; 8];
            for slot in &mut pages {
                *slot = node().alloc_page(GfpFlags::GFP_KERNEL);
            }
            pages.into_iter().flatten().for_each(|page| node().__free_page(page));
            0
        },
        "fill-pcp",
        &GO,
    );
    let held: [usize; NR_CPUS] = core::array::from_fn(|cpu| if cpu_online(cpu) { pcp_pages(cpu) } else { 0 });
    for cpu in online_cpus() {
        assert!(held[cpu] > 0, "CPU{cpu} freed pages onto its own lists");
    }
    let ipis: [u64; NR_CPUS] = core::array::from_fn(|cpu| apic_irqs(CALL_FUNCTION_VECTOR, cpu));
    let drained = node().drain_all_pages();
    assert_eq!(drained, held.iter().sum::<usize>(), "every page of every CPU's lists, once");
    for cpu in online_cpus() {
        assert_eq!(pcp_pages(cpu), 0, "CPU{cpu}'s lists are empty");
        let expected = u64::from(cpu != smp_processor_id());
        assert_eq!(apic_irqs(CALL_FUNCTION_VECTOR, cpu) - ipis[cpu], expected, "CPU{cpu} drained itself on an IPI");
    }
}

static PARKED: [AtomicUsize; 3] = [const { AtomicUsize::new(0) }; 3];
/// 1: the other CPU holds its pages; 2: Normal is exhausted, free them;
/// 3: freed; 4: checked, exit.
static PHASE: AtomicU32 = AtomicU32::new(0);

fn wait_for_phase(phase: u32) {
    while PHASE.load(SeqCst) != phase {
        crate::sched::schedule();
    }
}

/// Normal is exhausted except for three pages freed on another CPU, which
/// sit on that CPU's list: an allocation here finds nothing — until
/// `drain_all_pages` has that CPU give them back; then it gets one of them.
/// (Normal, because DMA's lists hold nothing: its `batch` rounds to 0, as in
/// Linux, so every DMA free goes straight to the buddy.)
#[test_case]
fn an_allocation_succeeds_once_another_cpu_s_lists_are_drained() {
    require_two_cpus!();
    let _kswapd = KswapdOff::new();
    let other = online_cpus().find(|&cpu| cpu != smp_processor_id()).unwrap();
    PHASE.store(0, SeqCst);
    let thread = crate::sched::kthread_create_on_cpu(
        &|| {
            for slot in &PARKED {
                let page = node().__alloc_pages(GfpFlags::GFP_KERNEL, 0, &only(ZoneType::Normal)).expect("a Normal page");
                slot.store(node().page_to_pfn(page).unwrap(), SeqCst);
            }
            PHASE.store(1, SeqCst);
            wait_for_phase(2);
            for slot in &PARKED {
                node().__free_page(node().pfn_to_page(slot.load(SeqCst)).unwrap());
            }
            PHASE.store(3, SeqCst);
            wait_for_phase(4); // exiting frees the stack here: not before the checks
            0
        },
        other,
        "park-normal",
    )
    .expect("a thread on the other CPU");
    crate::sched::wake_up_process(thread.task());
    wait_for_phase(1);
    let mut held = Held::new();
    held.exhaust(ZoneType::Normal);
    PHASE.store(2, SeqCst);
    wait_for_phase(3);
    assert_eq!(node().zone_pcp(ZoneType::Normal, other).lock().pcp.count, 3, "the three pages wait on CPU{other}'s list");

    // Watermarks ignored (PF_MEMALLOC), so only where the pages are matters.
    let saved = node().memalloc_noreclaim_save();
    let zonelist = only(ZoneType::Normal);
    let flags = GfpFlags::GFP_KERNEL | GfpFlags::__GFP_NOWARN;
    assert!(node().__alloc_pages(flags, 0, &zonelist).is_none(), "nothing on this CPU's list or in the buddy");
    assert!(node().drain_all_pages() >= 3);
    for cpu in online_cpus() {
        assert_eq!(node().zone_pcp(ZoneType::Normal, cpu).lock().pcp.count, 0, "CPU{cpu}'s Normal list is empty");
    }
    let page = node().__alloc_pages(flags, 0, &zonelist).expect("a page drained from the other CPU");
    node().memalloc_noreclaim_restore(saved);
    let pfn = node().page_to_pfn(page).unwrap();
    assert!(PARKED.iter().any(|slot| slot.load(SeqCst) == pfn), "it is one of the other CPU's pages");
    PHASE.store(4, SeqCst);
    assert_eq!(crate::sched::kthread_join(thread), 0);
    node().__free_page(page);
    held.free_all();
}

/// What the stress threads did, all CPUs together.
static STRESS_PAGES: AtomicUsize = AtomicUsize::new(0);
static STRESS_KMAPS: AtomicUsize = AtomicUsize::new(0);
static STRESS_VMALLOCS: AtomicUsize = AtomicUsize::new(0);
static STRESS_ERRORS: AtomicUsize = AtomicUsize::new(0);
static STRESS_TICKS: AtomicUsize = AtomicUsize::new(0);
static STRESS_END: AtomicUsize = AtomicUsize::new(0);
static TICK_PAGE: AtomicUsize = AtomicUsize::new(0);
const TICK_PATTERN: u32 = 0x71c4_71c4;

fn word(vaddr: usize, index: usize) -> *mut u32 {
    (vaddr + index * 4) as *mut u32
}

/// Writes and reads back a pattern through a mapping of a page the caller
/// owns; counts a mismatch as an error.
fn touch(vaddr: usize, pattern: u32) {
    // SAFETY: `vaddr` maps a page the calling thread owns, for at least 16 words.
    unsafe { (0..16).for_each(|i| word(vaddr, i).write_volatile(pattern ^ i as u32)) };
    // SAFETY: as above.
    if (0..16).any(|i| unsafe { word(vaddr, i).read_volatile() } != pattern ^ i as u32) {
        STRESS_ERRORS.fetch_add(1, SeqCst);
    }
}

/// The tick's part: map the test's high page with `KM_IRQ0` and check it.
fn tick_kmap_atomic(_irq: u32) -> crate::arch::x86::irq::IrqReturn {
    use super::kmap_atomic::{km_type, kmap_atomic, kunmap_atomic};
    if let Some(page) = node().pfn_to_page(TICK_PAGE.load(SeqCst)) {
        let window = kmap_atomic(page, km_type::KM_IRQ0);
        // SAFETY: the window maps the test's page, which nobody else writes.
        if unsafe { word(window, 0).read_volatile() } != TICK_PATTERN {
            STRESS_ERRORS.fetch_add(1, SeqCst);
        }
        kunmap_atomic(window, km_type::KM_IRQ0);
        STRESS_TICKS.fetch_add(1, SeqCst);
    }
    crate::arch::x86::irq::IrqReturn::Handled
}

/// One CPU's share of the stress until `STRESS_END` (in jiffies): random
/// orders and GFP classes, held up to 24 blocks at a time and freed in
/// random order, high pages written through `kmap`, an occasional vmalloc
/// area written end to end and freed.
fn stress_one_cpu() -> i32 {
    use crate::xorshift::XorShift64;
    const GFP: [GfpFlags; 4] = [GfpFlags::GFP_KERNEL, GfpFlags::GFP_HIGHUSER, GfpFlags::GFP_DMA, GfpFlags::GFP_ATOMIC];
    let cpu = smp_processor_id();
    let mut random = XorShift64(0x9e37_79b9_7f4a_7c15 ^ (cpu as u64 + 1) * 0x1234_5678_9abc);
    let mut blocks: [Option<(&'static super::page::Page, usize)>; 24] = [None; 24];
    let end = STRESS_END.load(SeqCst) as u64;
    while crate::time::jiffies() < end {
        let slot = random.below(blocks.len());
        match blocks[slot].take() {
            Some((page, order)) => node().__free_pages(page, order),
            None => {
                let order = random.below(5).min(MAX_ORDER - 1);
                let gfp = GFP[random.below(GFP.len())] | GfpFlags::__GFP_NOWARN;
                if let Some(page) = node().alloc_pages(gfp, order) {
                    STRESS_PAGES.fetch_add(1 << order, SeqCst);
                    let vaddr = crate::mm::highmem::kmap(page);
                    touch(vaddr, (cpu as u32) << 28 | slot as u32);
                    crate::mm::highmem::kunmap(page);
                    if page.is_highmem() {
                        STRESS_KMAPS.fetch_add(1, SeqCst);
                    }
                    blocks[slot] = Some((page, order));
                }
            }
        }
        if random.below(64) == 0 {
            let pages = 1 + random.below(8);
            if let Some(area) = crate::mm::vmalloc::vmalloc(pages * crate::mm::PAGE_SIZE) {
                (0..pages).for_each(|p| touch(area + p * crate::mm::PAGE_SIZE, (cpu as u32) << 24 | p as u32));
                crate::mm::vmalloc::vfree(area);
                STRESS_VMALLOCS.fetch_add(1, SeqCst);
            }
        }
    }
    blocks.into_iter().flatten().for_each(|(page, order)| node().__free_pages(page, order));
    0
}

/// Every CPU hammers the allocator, `kmap` and vmalloc at once for two
/// seconds while the tick uses `kmap_atomic`: afterwards every page is
/// back (the drained buddyinfo and free counts equal the starting ones
/// exactly), no pkmap slot is still in use, nothing read back differed, and
/// the vmstat counters agree: as many pages freed as allocated, at least
/// as many allocated as the threads counted.
#[test_case]
fn every_cpu_at_once_allocates_maps_and_frees_and_every_page_comes_back() {
    require_two_cpus!();
    static GO: AtomicBool = AtomicBool::new(false);
    let _kswapd = KswapdOff::new();
    // The vmalloc area's first page table exists before the snapshot.
    crate::mm::vmalloc::vfree(crate::mm::vmalloc::vmalloc(crate::mm::PAGE_SIZE).expect("a vmalloc page"));
    let tick_page = node().alloc_page(GfpFlags::GFP_HIGHUSER).expect("a page for the tick");
    let vaddr = crate::mm::highmem::kmap(tick_page);
    // SAFETY: the test owns the page and has just mapped it.
    unsafe { word(vaddr, 0).write_volatile(TICK_PATTERN) };
    crate::mm::highmem::kunmap(tick_page);
    for counter in [&STRESS_PAGES, &STRESS_KMAPS, &STRESS_VMALLOCS, &STRESS_ERRORS, &STRESS_TICKS] {
        counter.store(0, SeqCst);
    }
    let before = quiesced_snapshot(node());
    let (allocs, frees) = (node().global_vm_event(VmEventItem::PgAlloc), node().global_vm_event(VmEventItem::PgFree));
    TICK_PAGE.store(node().page_to_pfn(tick_page).unwrap(), SeqCst);
    let hook = crate::arch::x86::irq::request_irq(crate::arch::x86::irq::TIMER_IRQ, tick_kmap_atomic, "stress").unwrap();
    STRESS_END.store((crate::time::jiffies() + crate::time::msecs_to_jiffies(2000)) as usize, SeqCst);
    run_bound_on_each_cpu(&stress_one_cpu, "mm-stress", &GO);
    crate::arch::x86::irq::free_irq(hook);
    TICK_PAGE.store(0, SeqCst);
    let after = quiesced_snapshot(node());
    let (allocated, freed) = (
        node().global_vm_event(VmEventItem::PgAlloc) - allocs,
        node().global_vm_event(VmEventItem::PgFree) - frees,
    );
    let counted = STRESS_PAGES.load(SeqCst);
    log::info!(
        "SMP stress on {} CPUs: {counted} pages in blocks, {} kmaps of high pages, {} vmalloc areas, {} kmap_atomics in the tick; vmstat {allocated} allocated, {freed} freed",
        num_online_cpus(), STRESS_KMAPS.load(SeqCst), STRESS_VMALLOCS.load(SeqCst), STRESS_TICKS.load(SeqCst)
    );
    assert_eq!(STRESS_ERRORS.load(SeqCst), 0, "a page read back differently from what was written");
    assert_eq!(after, before, "every page came back: buddyinfo and free counts as at the start");
    assert_eq!(crate::mm::highmem::pkmap_stats().slots[2], 0, "every pkmap count is 0 or 1");
    assert_eq!(allocated, freed, "vmstat: as many pages freed as allocated");
    assert!(allocated >= counted && counted > 0, "vmstat counted at least the {counted} pages the threads took");
    assert!(STRESS_TICKS.load(SeqCst) > 0, "the tick mapped its page");
    node().__free_page(tick_page);
}

/// Every CPU frees 500 pages onto its lists at once: each keeps at most
/// `stat_threshold` counts of its own (2.6.18's formula, computed here
/// from the zone size and the CPUs online), the zone's shared total took
/// the rest in folds, `refresh_cpu_vm_stats` folds the residues, and the
/// exact total never changes by folding. (Also with one CPU.)
#[test_case]
fn vm_event_counts_are_folded_into_the_zone_at_the_threshold() {
    static GO: AtomicBool = AtomicBool::new(false);
    const PAGES: usize = 500;
    let pgdat = node();
    let present = pgdat.zone(ZoneType::Normal).lock().present_pages();
    let threshold = super::vmstat::calculate_threshold(present, num_online_cpus());
    let folded_before = pgdat.zone_vm_stat_folded(ZoneType::Normal, VmEventItem::PgFree);
    run_bound_on_each_cpu(
        &|| {
            wait_for_go(&GO);
            for _ in 0..PAGES {
                let page = node().__alloc_pages(GfpFlags::GFP_KERNEL, 0, &only(ZoneType::Normal)).expect("a page");
                node().__free_page(page);
            }
            0
        },
        "vmstat-fold",
        &GO,
    );
    for cpu in online_cpus() {
        let residue = pgdat.cpu_vm_stat_diff(ZoneType::Normal, cpu, VmEventItem::PgFree);
        assert!(residue <= threshold, "CPU{cpu} holds {residue} counts, threshold {threshold}");
    }
    let folded = pgdat.zone_vm_stat_folded(ZoneType::Normal, VmEventItem::PgFree) - folded_before;
    let cpus = num_online_cpus();
    assert!(folded >= cpus * (PAGES - threshold), "{folded} folded of at least {} counted", cpus * PAGES);
    let exact = pgdat.zone_vm_events(ZoneType::Normal).get(VmEventItem::PgFree);
    for cpu in online_cpus() {
        pgdat.refresh_cpu_vm_stats(cpu);
        assert_eq!(pgdat.cpu_vm_stat_diff(ZoneType::Normal, cpu, VmEventItem::PgFree), 0);
    }
    assert!(pgdat.zone_vm_events(ZoneType::Normal).get(VmEventItem::PgFree) >= exact, "folding loses nothing");
}
