//! kmap, kunmap and kmap_atomic on the real machine.  The high-memory
//! tests need HighMem pages: at 896 MiB and below there are none, and those
//! tests report themselves skipped (the 1, 2, 3 and 4 GiB configurations
//! run them).

use super::*;
use crate::arch::x86::irq::{IrqReturn, TIMER_IRQ, free_irq, request_irq};
use crate::mm::direct_map::page_to_pfn;
use crate::mm::gfp::GfpFlags;
use crate::mm::init::node;
use crate::mm::kmap_atomic::{km_type, kmap_atomic, kunmap_atomic, kmap_atomic_to_page};
use crate::mm::kernel_test_support::{populated, quiesced_snapshot};
use crate::mm::mmzone::ZoneType;
use crate::mm::list::PageList;
use crate::mm::page::Page;
use crate::sched::{kthread_join, kthread_run, schedule};
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};

/// Skips the calling test on a machine without high memory.
macro_rules! require_highmem {
    () => {
        if !populated(ZoneType::HighMem) {
            crate::skip!("no high memory at this size");
        }
    };
}

/// Skips the calling test on a machine without high memory or with one CPU.
macro_rules! require_highmem_and_a_second_cpu {
    () => {
        require_highmem!();
        if crate::arch::x86::smp::num_online_cpus() < 2 {
            crate::skip!("needs a second CPU (boot with -smp 2 or more)");
        }
    };
}

/// A high page (the test has checked that there is high memory: failing
/// to get one then is a failure, not a reason to skip).
fn alloc_high_page() -> &'static Page {
    let page = node().alloc_page(GfpFlags::GFP_HIGHUSER).expect("a free page");
    assert!(page.is_highmem(), "GFP_HIGHUSER takes HighMem first while HighMem has free pages");
    page
}

fn read_word(vaddr: usize, index: usize) -> u32 {
    // SAFETY: callers pass an address that maps a page they hold, and an
    // index below 1024.
    unsafe { (vaddr as *const u32).add(index).read_volatile() }
}

fn write_word(vaddr: usize, index: usize, value: u32) {
    // SAFETY: as in `read_word`.
    unsafe { (vaddr as *mut u32).add(index).write_volatile(value) }
}

/// Holds many high pages on a list threaded through their descriptors.
struct HighPages(PageList);

impl HighPages {
    fn take(count: usize) -> HighPages {
        let map = node().node_mem_map();
        let mut list = PageList::new();
        for _ in 0..count {
            list.add(page_to_pfn(alloc_high_page()), &map);
        }
        HighPages(list)
    }
    fn pages(&self) -> impl Iterator<Item = &'static Page> + '_ {
        self.0.iter(&node().node_mem_map()).map(|(pfn, _)| node().pfn_to_page(pfn).unwrap())
    }
    fn release(mut self) {
        let map = node().node_mem_map();
        while let Some(pfn) = self.0.pop_front(&map) {
            node().__free_page(node().pfn_to_page(pfn).unwrap());
        }
    }
}

/// Every slot back at 0 or 1, and exactly the count-1 slots remember a page.
fn assert_window_at_rest() {
    let stats = pkmap_stats();
    assert_eq!(stats.slots[2], 0, "no slot still in use");
    assert_eq!(stats.mapped_pages, stats.slots[1], "one recorded address per unused-but-mapped slot");
}

#[test_case]
fn kmap_of_a_low_page_is_its_direct_map_address() {
    let low = node().alloc_page(GfpFlags::GFP_KERNEL).unwrap();
    let pkmap_before = pkmap_stats();
    assert_eq!(kmap(low), crate::mm::direct_map::lowmem_page_address(low).unwrap());
    assert_eq!(pkmap_stats().slots, pkmap_before.slots, "a low page takes no pkmap slot");
    kunmap(low);
    node().__free_page(low);
}

#[test_case]
fn kmap_of_a_high_page_is_a_pkmap_address() {
    require_highmem!();
    let high = alloc_high_page();
    // A page kunmapped earlier may still sit in a count-1 slot (unmapping
    // is lazy, and that includes pages freed since); settle that first.
    flush_all_zero_pkmaps();
    assert_eq!(page_address(high), None, "a high page has no address until kmapped");
    let vaddr = kmap(high);
    assert!(is_pkmap_address(vaddr), "{vaddr:#x} in the pkmap window");
    assert_eq!(page_address(high), Some(vaddr));
    assert!(core::ptr::eq(kmap_to_page(vaddr).unwrap(), high));
    assert_eq!(pkmap_count_of(vaddr), 2);
    kunmap(high);
    node().__free_page(high);
    assert_window_at_rest();
}

#[test_case]
fn data_written_through_kmap_is_read_back_through_kmap_atomic_and_back() {
    require_highmem!();
    let page = alloc_high_page();
    let vaddr = kmap(page);
    for index in 0..1024 {
        write_word(vaddr, index, 0xc0de_0000 ^ index as u32);
    }
    kunmap(page);
    let atomic = kmap_atomic(page, km_type::KM_USER0);
    assert!(atomic >= crate::mm::layout::FIXADDR_START, "a fixmap window");
    assert!(core::ptr::eq(kmap_atomic_to_page(atomic).unwrap(), page));
    for index in 0..1024 {
        assert_eq!(read_word(atomic, index), 0xc0de_0000 ^ index as u32);
        write_word(atomic, index, 0xbeef_0000 ^ index as u32);
    }
    kunmap_atomic(atomic, km_type::KM_USER0);
    let vaddr = kmap(page);
    assert!((0..1024).all(|index| read_word(vaddr, index) == 0xbeef_0000 ^ index as u32));
    kunmap(page);
    node().__free_page(page);
}

#[test_case]
fn repeated_kmap_of_a_page_reuses_its_slot_and_unbalanced_kunmap_is_reported() {
    require_highmem!();
    let page = alloc_high_page();
    let first = kmap(page);
    let second = kmap(page);
    assert_eq!(first, second);
    assert_eq!(pkmap_count_of(first), 3);
    kunmap(page);
    kunmap(page);
    assert_eq!(pkmap_count_of(first), 1, "unused, mapped until the next flush");
    let bugs = pkmap_stats().kunmap_bugs;
    kunmap(page);
    assert_eq!(pkmap_stats().kunmap_bugs, bugs + 1, "the extra kunmap is reported");
    assert_eq!(pkmap_count_of(first), 1, "and changes nothing");
    assert!(crate::arch::x86::irqflags::irqs_enabled(), "not even the interrupt flag");
    flush_all_zero_pkmaps();
    assert_eq!(pkmap_count_of(first), 0);
    assert_eq!(page_address(page), None);
    kunmap(page);
    assert_eq!(pkmap_stats().kunmap_bugs, bugs + 2, "kunmap of a page that is not kmapped");
    assert!(crate::arch::x86::irqflags::irqs_enabled());
    node().__free_page(page);
}

/// Fills the whole window with `pages` (1024 of them) plus nothing else.
fn kmap_all(pages: &HighPages) {
    for page in pages.pages() {
        kmap(page);
    }
    let stats = pkmap_stats();
    assert_eq!(stats.slots[2], LAST_PKMAP, "1024 simultaneous mappings fill the window");
}

#[test_case]
fn a_reused_slot_never_shows_the_old_page_through_a_stale_tlb_entry() {
    require_highmem!();
    let pages = HighPages::take(LAST_PKMAP);
    let newcomer = alloc_high_page();
    kmap_all(&pages);
    // Write through one mapping, so the TLB caches its translation, then
    // drop it: the slot goes to count 1, still mapped.
    let old = pages.pages().next().unwrap();
    let vaddr = page_address(old).unwrap();
    write_word(vaddr, 0, 0xaaaa_aaaa);
    kunmap(old);
    let flushes = pkmap_stats().flushes;
    // The only slot kmap can find is that one, after flush_all_zero_pkmaps.
    let reused = kmap(newcomer);
    assert_eq!(reused, vaddr, "the one unused slot is reused");
    assert_eq!(pkmap_stats().flushes, flushes + 1, "exactly one TLB flush on the way");
    write_word(reused, 0, 0xbbbb_bbbb);
    let check = |page: &Page, expected: u32| {
        let window = kmap_atomic(page, km_type::KM_USER1);
        assert_eq!(read_word(window, 0), expected);
        kunmap_atomic(window, km_type::KM_USER1);
    };
    check(old, 0xaaaa_aaaa);
    check(newcomer, 0xbbbb_bbbb);
    kunmap(newcomer);
    for page in pages.pages().skip(1) {
        kunmap(page);
    }
    node().__free_page(newcomer);
    pages.release();
    assert_window_at_rest();
}

static WAITER_GOT_SLOT: AtomicBool = AtomicBool::new(false);
static WAITER_PFN: AtomicUsize = AtomicUsize::new(0);

#[test_case]
fn the_1025th_kmap_sleeps_until_another_thread_kunmaps() {
    require_highmem!();
    let pages = HighPages::take(LAST_PKMAP);
    let extra = alloc_high_page();
    kmap_all(&pages);
    WAITER_GOT_SLOT.store(false, Ordering::SeqCst);
    WAITER_PFN.store(page_to_pfn(extra), Ordering::SeqCst);
    let sleeps = pkmap_stats().sleeps;
    let waiter = kthread_run(
        &|| {
            let page = node().pfn_to_page(WAITER_PFN.load(Ordering::SeqCst)).unwrap();
            let vaddr = kmap(page);
            write_word(vaddr, 7, 0x1025);
            WAITER_GOT_SLOT.store(true, Ordering::SeqCst);
            kunmap(page);
            0
        },
        "kmap-1025",
    )
    .unwrap();
    // Let the waiter run until it sleeps in kmap_high.
    while pkmap_stats().sleeps == sleeps {
        schedule();
    }
    for _ in 0..10 {
        schedule();
    }
    assert!(!WAITER_GOT_SLOT.load(Ordering::SeqCst), "no slot while all 1024 are in use");
    let first = pages.pages().next().unwrap();
    kunmap(first);
    assert_eq!(kthread_join(waiter), 0);
    assert!(WAITER_GOT_SLOT.load(Ordering::SeqCst), "the kunmap woke it and it got the slot");
    let window = kmap_atomic(extra, km_type::KM_USER0);
    assert_eq!(read_word(window, 7), 0x1025);
    kunmap_atomic(window, km_type::KM_USER0);
    for page in pages.pages().skip(1) {
        kunmap(page);
    }
    node().__free_page(extra);
    pages.release();
    assert_window_at_rest();
}

static IRQ_PAGE_PFN: AtomicUsize = AtomicUsize::new(0);
static IRQ_DONE: AtomicBool = AtomicBool::new(false);
static IRQ_SEEN_VALUE: AtomicU32 = AtomicU32::new(0);

fn kunmap_from_the_tick(_irq: u32) -> IrqReturn {
    if !IRQ_DONE.load(Ordering::SeqCst) {
        let page = node().pfn_to_page(IRQ_PAGE_PFN.load(Ordering::SeqCst)).unwrap();
        kunmap(page);
        IRQ_DONE.store(true, Ordering::SeqCst);
    }
    IrqReturn::Handled
}

#[test_case]
fn kunmap_from_an_interrupt_handler_is_reported_and_ignored() {
    require_highmem!();
    let page = alloc_high_page();
    let vaddr = kmap(page);
    IRQ_PAGE_PFN.store(page_to_pfn(page), Ordering::SeqCst);
    IRQ_DONE.store(false, Ordering::SeqCst);
    let bugs = pkmap_stats().kunmap_bugs;
    let cookie = request_irq(TIMER_IRQ, kunmap_from_the_tick, "kunmap-test").unwrap();
    while !IRQ_DONE.load(Ordering::SeqCst) {
        schedule();
    }
    free_irq(cookie);
    assert_eq!(pkmap_stats().kunmap_bugs, bugs + 1);
    assert_eq!(pkmap_count_of(vaddr), 2, "the mapping is still held");
    kunmap(page);
    node().__free_page(page);
}

fn kmap_atomic_in_the_tick(_irq: u32) -> IrqReturn {
    if !IRQ_DONE.load(Ordering::SeqCst) {
        let page = node().pfn_to_page(IRQ_PAGE_PFN.load(Ordering::SeqCst)).unwrap();
        let window = kmap_atomic(page, km_type::KM_IRQ0);
        IRQ_SEEN_VALUE.store(read_word(window, 0), Ordering::SeqCst);
        write_word(window, 1, 0x1a0);
        kunmap_atomic(window, km_type::KM_IRQ0);
        IRQ_DONE.store(true, Ordering::SeqCst);
    }
    IrqReturn::Handled
}

#[test_case]
fn kmap_atomic_in_the_timer_interrupt_uses_km_irq0_while_a_thread_holds_km_user0() {
    require_highmem!();
    let (mine, theirs) = (alloc_high_page(), alloc_high_page());
    let window = kmap(theirs);
    write_word(window, 0, 0x5eed);
    kunmap(theirs);
    IRQ_PAGE_PFN.store(page_to_pfn(theirs), Ordering::SeqCst);
    IRQ_DONE.store(false, Ordering::SeqCst);
    let cookie = request_irq(TIMER_IRQ, kmap_atomic_in_the_tick, "kmap-atomic-test").unwrap();
    let held = kmap_atomic(mine, km_type::KM_USER0);
    write_word(held, 0, 0x0123);
    // Preemption is off while the window is held; interrupts are not, so
    // the tick arrives and maps its page in KM_IRQ0.
    while !IRQ_DONE.load(Ordering::SeqCst) {
        core::hint::spin_loop();
    }
    assert_eq!(read_word(held, 0), 0x0123, "KM_USER0 still maps this thread's page");
    assert!(core::ptr::eq(kmap_atomic_to_page(held).unwrap(), mine));
    kunmap_atomic(held, km_type::KM_USER0);
    free_irq(cookie);
    assert_eq!(IRQ_SEEN_VALUE.load(Ordering::SeqCst), 0x5eed, "the handler read its page");
    let window = kmap_atomic(theirs, km_type::KM_USER0);
    assert_eq!(read_word(window, 1), 0x1a0, "the handler's write reached its page");
    kunmap_atomic(window, km_type::KM_USER0);
    node().__free_page(mine);
    node().__free_page(theirs);
}

/// Pages the stress threads map, by PFN: the filler cycles through the
/// first half, the workers pick from the second half at random.
const STRESS_POOL: usize = 4096;
static STRESS_PFNS: [AtomicUsize; STRESS_POOL] = [const { AtomicUsize::new(0) }; STRESS_POOL];
static STRESS_THREAD_ID: AtomicUsize = AtomicUsize::new(0);
static STRESS_DEADLINE: AtomicU64 = AtomicU64::new(0);
static STRESS_ERRORS: AtomicUsize = AtomicUsize::new(0);
static STRESS_MAPS: AtomicUsize = AtomicUsize::new(0);
/// One filler and three workers.
const STRESS_THREADS: usize = 4;
/// Mappings the filler holds: with the three workers' one each, demand is
/// 1025 distinct pages for 1024 slots, so somebody always waits.
const FILLER_HOLD: usize = LAST_PKMAP - 2;

fn stress_time_left() -> bool {
    crate::time::jiffies() < STRESS_DEADLINE.load(Ordering::SeqCst)
}

/// kmaps pool page `index`, checks that the mapping reaches that page
/// (every page carries its own PFN in word 0), returns (pfn, address).
fn stress_kmap(index: usize) -> (usize, usize) {
    let pfn = STRESS_PFNS[index].load(Ordering::Relaxed);
    let vaddr = kmap(node().pfn_to_page(pfn).unwrap());
    if read_word(vaddr, 0) != pfn as u32 {
        STRESS_ERRORS.fetch_add(1, Ordering::Relaxed);
    }
    STRESS_MAPS.fetch_add(1, Ordering::Relaxed);
    (pfn, vaddr)
}

fn stress_kunmap((pfn, vaddr): (usize, usize)) {
    if read_word(vaddr, 0) != pfn as u32 {
        STRESS_ERRORS.fetch_add(1, Ordering::Relaxed);
    }
    kunmap(node().pfn_to_page(pfn).unwrap());
}

/// The filler keeps FILLER_HOLD distinct pages mapped, sliding through the
/// first half of the pool: kunmap the oldest, kmap the next.  Holding many
/// kmaps while asking for more is safe here only because every other
/// thread holds at most one and never waits while holding it — two
/// threads that both hoard and wait deadlock, which is why Linux code
/// kmaps one page at a time.
fn stress_filler() {
    let mut held = [(0usize, 0usize); FILLER_HOLD];
    let mut next = 0;
    while stress_time_left() {
        let slot = next % FILLER_HOLD;
        if next >= FILLER_HOLD {
            stress_kunmap(held[slot]);
        }
        held[slot] = stress_kmap(next % (STRESS_POOL / 2));
        next += 1;
    }
    for &mapping in &held[..next.min(FILLER_HOLD)] {
        stress_kunmap(mapping);
    }
}

/// A worker maps one random page of the second half at a time.
fn stress_worker(id: usize) {
    let mut rng = crate::xorshift::XorShift32(0x9e37_79b9_u32.wrapping_mul(id as u32 + 1) | 1);
    while stress_time_left() {
        let mapping = stress_kmap(STRESS_POOL / 2 + rng.below(STRESS_POOL / 2));
        stress_kunmap(mapping);
    }
}

fn stress_thread() -> i32 {
    match STRESS_THREAD_ID.fetch_add(1, Ordering::SeqCst) {
        0 => stress_filler(),
        id => stress_worker(id),
    }
    0
}

#[test_case]
fn pkmap_stress_ends_with_every_count_at_0_or_1_and_no_page_lost() {
    require_highmem!();
    let pool = HighPages::take(STRESS_POOL);
    let before = quiesced_snapshot(node());
    for (slot, page) in STRESS_PFNS.iter().zip(pool.pages()) {
        let pfn = page_to_pfn(page);
        slot.store(pfn, Ordering::SeqCst);
        let window = kmap_atomic(page, km_type::KM_USER0);
        write_word(window, 0, pfn as u32);
        kunmap_atomic(window, km_type::KM_USER0);
    }
    STRESS_THREAD_ID.store(0, Ordering::SeqCst);
    STRESS_ERRORS.store(0, Ordering::SeqCst);
    STRESS_MAPS.store(0, Ordering::SeqCst);
    let sleeps = pkmap_stats().sleeps;
    STRESS_DEADLINE.store(crate::time::jiffies() + 3 * crate::time::hz() as u64, Ordering::SeqCst);
    let threads: [_; STRESS_THREADS] = core::array::from_fn(|_| kthread_run(&stress_thread, "pkmap-stress").unwrap());
    for thread in threads {
        assert_eq!(kthread_join(thread), 0);
    }
    let stats = pkmap_stats();
    log::info!(
        "pkmap stress: {} kmaps by {STRESS_THREADS} threads in 3 s, {} sleeps for a slot, {} window flushes",
        STRESS_MAPS.load(Ordering::SeqCst),
        stats.sleeps - sleeps,
        stats.flushes
    );
    assert_eq!(STRESS_ERRORS.load(Ordering::SeqCst), 0, "every mapping reached its own page");
    assert!(STRESS_MAPS.load(Ordering::SeqCst) > LAST_PKMAP, "the window was cycled through");
    assert!(stats.sleeps > sleeps, "the threads competed for slots and slept");
    assert_window_at_rest();
    assert_eq!(quiesced_snapshot(node()), before, "no page lost or gained");
    pool.release();
}

// ---------------------------------------------------------------------------
// Several CPUs

/// Starts `threadfn` on a CPU other than this one; returns that CPU and the
/// thread to join.
fn start_on_another_cpu(threadfn: &'static dyn crate::sched::ThreadFn, name: &'static str) -> (usize, crate::sched::KthreadHandle) {
    let other = crate::arch::x86::smp::online_cpus().find(|&c| c != crate::arch::x86::smp::smp_processor_id()).unwrap();
    let thread = crate::sched::kthread_create_on_cpu(threadfn, other, name).expect("a thread on the other CPU");
    crate::sched::wake_up_process(thread.task());
    (other, thread)
}

static READER_VADDR: AtomicUsize = AtomicUsize::new(0);
/// 1: the reader has read through the slot once (its TLB holds it);
/// 2: the slot was recycled for another page.
static READER_STEP: AtomicU32 = AtomicU32::new(0);
static READER_SAW_AFTER: AtomicU32 = AtomicU32::new(0);

/// A thread on another CPU reads through a pkmap address; this CPU kunmaps
/// that page and, after the wrap-around flush, maps another into the same
/// slot; returns what the reader then reads there.
fn recycle_a_slot_another_cpu_reads() -> u32 {
    let pages = HighPages::take(LAST_PKMAP);
    let newcomer = alloc_high_page();
    let window = kmap_atomic(newcomer, km_type::KM_USER0);
    write_word(window, 0, 0xbbbb_bbbb);
    kunmap_atomic(window, km_type::KM_USER0);
    kmap_all(&pages);
    let old = pages.pages().next().unwrap();
    let vaddr = page_address(old).unwrap();
    write_word(vaddr, 0, 0xaaaa_aaaa);
    READER_VADDR.store(vaddr, Ordering::SeqCst);
    READER_STEP.store(0, Ordering::SeqCst);
    let (_, reader) = start_on_another_cpu(
        &|| {
            let vaddr = READER_VADDR.load(Ordering::SeqCst);
            let before = read_word(vaddr, 0);
            READER_STEP.store(1, Ordering::SeqCst);
            while READER_STEP.load(Ordering::SeqCst) != 2 {
                core::hint::spin_loop(); // interrupts on: a shootdown gets in
            }
            READER_SAW_AFTER.store(read_word(vaddr, 0), Ordering::SeqCst);
            before as i32
        },
        "pkmap-reader",
    );
    while READER_STEP.load(Ordering::SeqCst) != 1 {
        schedule();
    }
    kunmap(old);
    let reused = kmap(newcomer);
    assert_eq!(reused, vaddr, "the one unused slot is reused");
    READER_STEP.store(2, Ordering::SeqCst);
    assert_eq!(kthread_join(reader) as u32, 0xaaaa_aaaa, "the reader first saw the old page");
    crate::arch::x86::tlb::NO_REMOTE_FLUSH.store(false, Ordering::SeqCst);
    kunmap(newcomer);
    for page in pages.pages().skip(1) {
        kunmap(page);
    }
    // Leave no stale entry behind on the reader's CPU either.
    flush_all_zero_pkmaps();
    node().__free_page(newcomer);
    pages.release();
    assert_window_at_rest();
    READER_SAW_AFTER.load(Ordering::SeqCst)
}

/// The wrap-around flush reaches the other CPU: after the slot is recycled
/// it reads the new page, not the old one through a stale TLB entry.
#[test_case]
fn a_recycled_pkmap_slot_is_never_read_stale_on_another_cpu() {
    require_highmem_and_a_second_cpu!();
    assert_eq!(recycle_a_slot_another_cpu_reads(), 0xbbbb_bbbb);
}

/// With the remote flush switched off the other CPU reads the old page
/// through its stale entry: the proof that the test above can fail.
#[test_case]
fn without_the_remote_flush_a_recycled_pkmap_slot_is_read_stale() {
    require_highmem_and_a_second_cpu!();
    crate::arch::x86::tlb::NO_REMOTE_FLUSH.store(true, Ordering::SeqCst);
    assert_eq!(recycle_a_slot_another_cpu_reads(), 0xaaaa_aaaa);
}

static LOOKUP_PFN: AtomicUsize = AtomicUsize::new(0);
static LOOKUP_VADDR: AtomicUsize = AtomicUsize::new(0);
static LOOKUP_STOP: AtomicBool = AtomicBool::new(false);
static LOOKUPS: AtomicU32 = AtomicU32::new(0);
static LOOKUP_MISSES: AtomicU32 = AtomicU32::new(0);

/// A thread on another CPU asks `page_address()` for a page this CPU holds
/// kmapped, again and again, while this CPU kmaps and kunmaps 2048 other
/// high pages three times round: 6144 new mappings, each published into
/// the address table by `insert_new` without the table's lock (about one
/// in 128 at the head of the held page's own chain), and six window
/// flushes. Returns how many of the other CPU's lookups did not give the
/// held page's address.
fn lookups_on_another_cpu_while_addresses_are_published() -> u32 {
    let held = alloc_high_page();
    let vaddr = kmap(held);
    let pool = HighPages::take(2 * LAST_PKMAP);
    LOOKUP_PFN.store(page_to_pfn(held), Ordering::SeqCst);
    LOOKUP_VADDR.store(vaddr, Ordering::SeqCst);
    LOOKUP_STOP.store(false, Ordering::SeqCst);
    LOOKUPS.store(0, Ordering::SeqCst);
    LOOKUP_MISSES.store(0, Ordering::SeqCst);
    let (other, reader) = start_on_another_cpu(
        &|| {
            let page = node().pfn_to_page(LOOKUP_PFN.load(Ordering::SeqCst)).unwrap();
            let expected = Some(LOOKUP_VADDR.load(Ordering::SeqCst));
            while !LOOKUP_STOP.load(Ordering::SeqCst) {
                if page_address(page) != expected {
                    LOOKUP_MISSES.fetch_add(1, Ordering::SeqCst);
                }
                LOOKUPS.fetch_add(1, Ordering::SeqCst);
            }
            0
        },
        "page-address-reader",
    );
    while LOOKUPS.load(Ordering::SeqCst) == 0 {
        schedule();
    }
    let flushes = pkmap_stats().flushes;
    for _ in 0..3 {
        for page in pool.pages() {
            kmap(page);
            kunmap(page);
        }
    }
    LOOKUP_STOP.store(true, Ordering::SeqCst);
    assert_eq!(kthread_join(reader), 0);
    PUBLISH_BEFORE_FILL.store(false, Ordering::SeqCst);
    log::info!(
        "page_address on CPU {other} during 6144 new mappings: {} lookups, {} missed the held page",
        LOOKUPS.load(Ordering::SeqCst),
        LOOKUP_MISSES.load(Ordering::SeqCst)
    );
    assert!(pkmap_stats().flushes >= flushes + 5, "the window wrapped and was flushed");
    assert!(LOOKUPS.load(Ordering::SeqCst) > 1000, "the reader kept looking meanwhile");
    assert_eq!(page_address(held), Some(vaddr));
    kunmap(held);
    node().__free_page(held);
    pool.release();
    assert_window_at_rest();
    LOOKUP_MISSES.load(Ordering::SeqCst)
}

/// `insert_new` publishes a new page address without the table's lock:
/// filled in first, then made the chain's head with a release store. A
/// lookup on another CPU at any moment finds every held page's address.
#[test_case]
fn page_address_on_another_cpu_always_finds_a_held_page_while_others_are_mapped() {
    require_highmem_and_a_second_cpu!();
    assert_eq!(lookups_on_another_cpu_while_addresses_are_published(), 0);
}

/// With the head published before the entry is filled in, lookups on the
/// other CPU walk into the half-made entry and miss the held page: the
/// proof that the test above can fail.
#[test_case]
fn publishing_before_filling_in_makes_lookups_on_another_cpu_miss() {
    require_highmem_and_a_second_cpu!();
    PUBLISH_BEFORE_FILL.store(true, Ordering::SeqCst);
    assert!(lookups_on_another_cpu_while_addresses_are_published() > 0);
}

static KM_PAGES: [AtomicUsize; crate::mm::layout::NR_CPUS] = [const { AtomicUsize::new(0) }; crate::mm::layout::NR_CPUS];
static KM_WINDOWS: [AtomicUsize; crate::mm::layout::NR_CPUS] = [const { AtomicUsize::new(0) }; crate::mm::layout::NR_CPUS];
static KM_MISMATCHES: AtomicU32 = AtomicU32::new(0);
static KM_GO: AtomicBool = AtomicBool::new(false);

/// Every CPU maps its own high page at `KM_USER0` at the same time, 2,000
/// times, writing and reading back a pattern of its own: nobody ever reads
/// another CPU's page, and each CPU's window is its own fixmap slot
/// (`FIX_KMAP_BEGIN + KM_USER0 + KM_TYPE_NR * cpu`).
#[test_case]
fn km_user0_on_every_cpu_at_once_maps_each_cpu_s_own_page() {
    require_highmem!();
    use crate::mm::layout::{KM_TYPE_NR, NR_CPUS, __fix_to_virt, fixed_addresses::FIX_KMAP_BEGIN};
    let online = crate::arch::x86::smp::num_online_cpus();
    let pages: [&'static Page; NR_CPUS] = core::array::from_fn(|_| alloc_high_page());
    for (cpu, page) in pages.iter().enumerate() {
        KM_PAGES[cpu].store(page_to_pfn(page), Ordering::SeqCst);
        KM_WINDOWS[cpu].store(0, Ordering::SeqCst);
    }
    KM_MISMATCHES.store(0, Ordering::SeqCst);
    crate::arch::x86::smp::run_bound_on_each_cpu(
        &|| {
            crate::arch::x86::smp::wait_for_go(&KM_GO);
            let cpu = crate::arch::x86::smp::smp_processor_id();
            let page = node().pfn_to_page(KM_PAGES[cpu].load(Ordering::SeqCst)).unwrap();
            for round in 0..2000u32 {
                let window = kmap_atomic(page, km_type::KM_USER0);
                KM_WINDOWS[cpu].store(window, Ordering::SeqCst);
                let pattern = (cpu as u32) << 24 | round;
                for index in 0..64 {
                    write_word(window, index, pattern ^ index as u32);
                }
                for index in 0..64 {
                    if read_word(window, index) != pattern ^ index as u32 {
                        KM_MISMATCHES.fetch_add(1, Ordering::SeqCst);
                    }
                }
                kunmap_atomic(window, km_type::KM_USER0);
            }
            0
        },
        "km-user0",
        &KM_GO,
    );
    assert_eq!(KM_MISMATCHES.load(Ordering::SeqCst), 0, "a CPU read another CPU's page");
    for cpu in 0..online {
        let expected = __fix_to_virt(FIX_KMAP_BEGIN + km_type::KM_USER0 as usize + KM_TYPE_NR * cpu);
        assert_eq!(KM_WINDOWS[cpu].load(Ordering::SeqCst), expected, "CPU{cpu}'s own window");
    }
    pages.iter().for_each(|page| node().__free_page(page));
}
