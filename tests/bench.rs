//! The benchmark kernel: `cargo xtask bench` boots it (never `cargo xtask
//! test`, see `xtask/src/matrix.rs`). It measures the zone allocator with the
//! time-stamp counter and prints a table, then powers off. Figures only:
//! nothing here asserts a timing. Under QEMU's TCG the TSC ticks with the
//! host's clock, so "cycles" are host time in TSC units, useful to compare
//! the rows with each other.
//!
//! 1. Order-0 alloc+free through the per-CPU lists, and through the buddy
//!    allocator alone (per-CPU lists off: high 0, batch 1), order 3 and
//!    order 9, and bursts of 1024 order-0 pages: on 2.6's lists
//!    (`high = 6 * batch`, smaller than the burst, order 0 only), on lists
//!    made as Linux 6.1 makes them (`high` from the low watermark: the
//!    burst fits; orders 0-3, so an order-3 pair is a list operation too),
//!    and through the buddy alone.
//! 2. `free_all_bootmem` and `set_highmem_pages_init`, measured by
//!    `mem_init` during this very boot, scaled to one GiB.
//! 3. High memory: `kmap`/`kunmap` of a page that keeps its slot (hit)
//!    and of pages that need a new slot each time (miss; a flush of the
//!    window every 1024), and `kmap_atomic`/`kunmap_atomic`.
//! 4. Scaling: the same order-0 alloc+free, and `kmap` against
//!    `kmap_atomic`, on 1, 2 and 4 CPUs at once (as many as are online),
//!    one thread bound to each: per-CPU lists against the buddy alone (the
//!    zone lock every time), the shared `kmap_lock` and its global flushes
//!    against the per-CPU windows. The figure is the mean cost of one
//!    operation over the threads. (`cargo xtask bench` gives QEMU one vCPU
//!    per host core: more would time-slice and the TSC would count waiting.)
//!
//! `cargo xtask bench` boots this kernel twice: rows 1-3 and 5 with one
//! vCPU, as the Linux 6.1 peer (`../shared/linux-peer/run`) measures its
//! rows — with several vCPUs QEMU emulates each locked instruction with a
//! host atomic and every row gets dearer —, and row 4 with a vCPU per host
//! core. Which rows a boot prints follows from how many CPUs are online.
//! 5. Fragmentation: a synthetic 256 MiB node (its `mem_map` is a static
//!    array here; no frame behind it is touched) goes through the same
//!    random workload with and without grouping by mobility; then every
//!    movable page is freed, as reclaim or migration could, and the largest
//!    free block and the number of free blocks of order >= 3 tell how much
//!    contiguous memory the unmovable pages left.
#![no_std]
#![no_main]

extern crate alloc;

use kernel::arch::x86::cpu::rdtsc;
use kernel::arch::x86::qemu::{QemuExitCode, exit_qemu};
use kernel::mm::MAX_ORDER;
use kernel::mm::bootmem::free_all_bootmem;
use kernel::mm::gfp::GfpFlags;
use kernel::mm::init::{bootmem_timing, node};
use kernel::mm::mmzone::{PgData, ZoneType};
use kernel::mm::page::Page;
use kernel::mm::pfn_phys;
use kernel::arch::x86::smp::{num_online_cpus, smp_processor_id};
use kernel::mm::layout::NR_CPUS;
use kernel::println;
use kernel::sched::{kthread_create_on_cpu, kthread_join, wake_up_process};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use spin::Mutex;

#[unsafe(no_mangle)]
fn kernel_init() -> ! {
    println!("=== kernel benchmark ===");
    println!("| benchmark | TSC cycles |");
    println!("|---|---|");
    // `cargo xtask bench` boots this kernel twice: with one vCPU for the
    // per-operation rows (as the Linux peer measures them) and, when the
    // host has the cores, with several for the scaling rows.
    if num_online_cpus() == 1 {
        allocation_costs();
        slab_costs();
        bootmem_costs();
        highmem_costs();
        fragmentation();
    } else {
        scaling();
    }
    println!("=== end of kernel benchmark ===");
    exit_qemu(QemuExitCode::Success)
}

/// Median of `runs` measurements of `body`, each divided by `ops`.
fn cycles_per_op(ops: u64, mut body: impl FnMut()) -> u64 {
    let mut samples = [0u64; 5];
    body(); // warm up (per-CPU lists filled, pageblocks stolen)
    for sample in &mut samples {
        let start = rdtsc();
        body();
        *sample = (rdtsc() - start) / ops;
    }
    samples.sort_unstable();
    samples[samples.len() / 2]
}

fn alloc_free_loop(gfp: GfpFlags, order: usize, iterations: u64) -> u64 {
    let node = node();
    cycles_per_op(iterations, || {
        for _ in 0..iterations {
            let page = node.alloc_pages(gfp, order).expect("memory is free");
            node.__free_pages(page, order);
        }
    })
}

/// kmap/kunmap with a slot hit and with misses, and kmap_atomic, on high
/// pages (skipped on a machine without high memory).
fn highmem_costs() {
    use kernel::mm::highmem::{kmap, kunmap};
    use kernel::mm::kmap_atomic::{km_type, kmap_atomic, kunmap_atomic};
    use kernel::mm::list::PageList;
    const PAGES: usize = 2048;
    let node = node();
    let map = node.node_mem_map();
    // Held on a list through their own descriptors: no big array on the
    // (16 KiB) thread stack.
    let mut held = PageList::new();
    while held.len() < PAGES {
        match node.alloc_page(GfpFlags::GFP_HIGHUSER) {
            Some(page) if page.is_highmem() => held.add(node.page_to_pfn(page).unwrap(), &map),
            Some(page) => {
                node.__free_page(page);
                break;
            }
            None => break,
        }
    }
    let page_of = |pfn: usize| node.pfn_to_page(pfn).unwrap();
    if held.len() < PAGES {
        println!("| kmap: not enough high memory on this machine | - |");
    } else {
        let first = page_of(held.front().unwrap());
        kmap(first); // keeps the slot for the "hit" row
        let hit = cycles_per_op(10_000, || {
            for _ in 0..10_000 {
                kmap(first);
                kunmap(first);
            }
        });
        kunmap(first);
        println!("| kmap+kunmap, page already has a slot | {hit} |");
        let miss = cycles_per_op(PAGES as u64, || {
            for (pfn, _) in held.iter(&map) {
                kmap(page_of(pfn));
                kunmap(page_of(pfn));
            }
        });
        println!("| kmap+kunmap, new slot each time (a window flush per 1024) | {miss} |");
        let atomic = cycles_per_op(10_000, || {
            for _ in 0..10_000 {
                let vaddr = kmap_atomic(first, km_type::KM_USER0);
                kunmap_atomic(vaddr, km_type::KM_USER0);
            }
        });
        println!("| kmap_atomic+kunmap_atomic | {atomic} |");
    }
    while let Some(pfn) = held.pop_front(&map) {
        node.__free_page(page_of(pfn));
    }
}

fn allocation_costs() {
    let node = node();
    // Which per-CPU list sizing these rows measure: 2.6's (high = 6 * batch,
    // order 0 only) unless a row says "as 6.1" (high from the low
    // watermark, orders 0-3 kept).
    let (high, batch) = {
        let pageset = node.zone_pcp(ZoneType::Normal, smp_processor_id()).lock();
        (pageset.pcp().high(), pageset.pcp().batch())
    };
    println!("| per-CPU lists of Normal: Linux 2.6 sizing, high = 6 * batch (order 0 only) | high {high}, batch {batch} |");
    let pcp = alloc_free_loop(GfpFlags::GFP_KERNEL, 0, 20_000);
    println!("| order-0 alloc+free, per-CPU lists | {pcp} |");
    node.setup_pagelist_highmark(ZoneType::Normal, 0);
    let buddy = alloc_free_loop(GfpFlags::GFP_KERNEL, 0, 20_000);
    node.setup_per_cpu_pageset();
    println!("| order-0 alloc+free, buddy only | {buddy} |");
    // 2.6's lists hold order 0 only: an order-3 pair splits and merges in
    // the buddy allocator (the label avoids "order-3 alloc+free", which the
    // peer script compares with Linux 6.1's, whose lists hold order 3).
    let order_3 = alloc_free_loop(GfpFlags::GFP_KERNEL, 3, 5_000);
    println!("| order-3 pair through the buddy allocator (2.6 lists: order 0 only) | {order_3} |");
    let order_9 = alloc_free_loop(GfpFlags::GFP_KERNEL, 9, 1_000);
    println!("| order-9 alloc+free | {order_9} |");
    let burst = |node: &PgData| {
        cycles_per_op(2 * 1024, || {
            let mut held = kernel::mm::list::PageList::new();
            let map = node.node_mem_map();
            for _ in 0..1024 {
                let page = node.alloc_page(GfpFlags::GFP_KERNEL).unwrap();
                held.add(node.page_to_pfn(page).unwrap(), &map);
            }
            while let Some(pfn) = held.pop_front(&map) {
                node.__free_page(node.pfn_to_page(pfn).unwrap());
            }
        })
    };
    // 2.6's lists are smaller than a burst: it spills and refills through
    // the zone lock (the label avoids "per-CPU lists": the peer script
    // compares the next row, measured on lists of Linux 6.1's size).
    let burst_26 = burst(node);
    println!("| order-0 burst of 1024 then free, per op, 2.6 list sizing (spills past high {high}) | {burst_26} |");
    let (high_61, batch_61) = node.zone_set_pageset_high_and_batch(ZoneType::Normal);
    println!("| per-CPU lists of Normal: as Linux 6.1, high from the low watermark, orders 0-3 | high {high_61}, batch {batch_61} |");
    let burst_pcp = burst(node);
    println!("| order-0 burst of 1024 then free, per op, per-CPU lists sized as 6.1 | {burst_pcp} |");
    let order_3_pcp = alloc_free_loop(GfpFlags::GFP_KERNEL, 3, 5_000);
    println!("| order-3 alloc+free, per-CPU lists as 6.1 (orders 0-3) | {order_3_pcp} |");
    node.setup_pagelist_highmark(ZoneType::Normal, 0);
    let burst_buddy = burst(node);
    println!("| order-0 burst of 1024 then free, per op, buddy only | {burst_buddy} |");
    node.setup_per_cpu_pageset();
}

/// The slab allocator's fast path: an object from this CPU's array and
/// back (the release build has CONFIG_DEBUG_SLAB's checks off).
#[inline(never)]
fn slab_costs() {
    use kernel::mm::kmalloc::{kfree, kmalloc, kmem_cache_alloc, kmem_cache_create, kmem_cache_free};
    use kernel::mm::slab::SlabFlags;
    let kmalloc_64 = cycles_per_op(20_000, || {
        for _ in 0..20_000 {
            let objp = kmalloc(64, GfpFlags::GFP_KERNEL).unwrap();
            kfree(core::hint::black_box(objp)).unwrap();
        }
    });
    println!("| kmalloc(64)+kfree | {kmalloc_64} |");
    let cachep = kmem_cache_create("bench-64", 64, 0, SlabFlags::SLAB_HWCACHE_ALIGN, None).unwrap();
    let cache_pair = cycles_per_op(20_000, || {
        for _ in 0..20_000 {
            let objp = kmem_cache_alloc(cachep, GfpFlags::GFP_KERNEL).unwrap();
            kmem_cache_free(cachep, core::hint::black_box(objp)).unwrap();
        }
    });
    println!("| kmem_cache_alloc+kmem_cache_free (64 bytes) | {cache_pair} |");
    // On the heap, not the stack: kernel_init's 16 KiB stack also has to
    // hold the fragmentation workload's node.
    let mut held = alloc::vec![0usize; 1024];
    let burst = cycles_per_op(2 * 1024, || {
        for slot in held.iter_mut() {
            *slot = kmalloc(64, GfpFlags::GFP_KERNEL).unwrap();
        }
        for &objp in held.iter() {
            kfree(objp).unwrap();
        }
    });
    println!("| kmalloc(64) burst of 1024 then kfree, per op | {burst} |");
    let boxed = cycles_per_op(20_000, || {
        for i in 0..20_000u64 {
            drop(core::hint::black_box(alloc::boxed::Box::new(i)));
        }
    });
    println!("| Box::new(u64)+drop (kernel heap) | {boxed} |");
}

/// What the scaling threads run, and what they measured.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Workload {
    AllocFree,
    Kmap,
    KmapAtomic,
}
static WORKLOAD: Mutex<Workload> = Mutex::new(Workload::AllocFree);
static GO: AtomicBool = AtomicBool::new(false);
static CYCLES: [AtomicU64; NR_CPUS] = [const { AtomicU64::new(0) }; NR_CPUS];
/// Per CPU, the first of its [`KMAP_PAGES`] high pages (consecutive PFNs are
/// not needed: the thread walks a list).
static KMAP_LISTS: Mutex<[kernel::mm::list::PageList; NR_CPUS]> = Mutex::new([const { kernel::mm::list::PageList::new() }; NR_CPUS]);
const SCALING_OPS: u64 = 20_000;
const KMAP_PAGES: usize = 256;

/// One scaling thread: wait for the others, then time `SCALING_OPS`
/// operations of the workload on this CPU.
fn scaling_thread() -> i32 {
    use kernel::mm::highmem::{kmap, kunmap};
    use kernel::mm::kmap_atomic::{km_type, kmap_atomic, kunmap_atomic};
    let node = node();
    let cpu = smp_processor_id();
    let workload = *WORKLOAD.lock();
    let pages: [usize; KMAP_PAGES] = {
        let lists = KMAP_LISTS.lock();
        let mut pfns = [0; KMAP_PAGES];
        for (slot, (pfn, _)) in pfns.iter_mut().zip(lists[cpu].iter(&node.node_mem_map())) {
            *slot = pfn;
        }
        pfns
    };
    while !GO.load(Ordering::SeqCst) {
        core::hint::spin_loop();
    }
    let start = rdtsc();
    for op in 0..SCALING_OPS as usize {
        match workload {
            Workload::AllocFree => {
                let page = node.alloc_page(GfpFlags::GFP_KERNEL).expect("memory is free");
                node.__free_page(page);
            }
            Workload::Kmap => {
                let page = node.pfn_to_page(pages[op % KMAP_PAGES]).unwrap();
                kmap(page);
                kunmap(page);
            }
            Workload::KmapAtomic => {
                let page = node.pfn_to_page(pages[op % KMAP_PAGES]).unwrap();
                let vaddr = kmap_atomic(page, km_type::KM_USER0);
                kunmap_atomic(vaddr, km_type::KM_USER0);
            }
        }
    }
    CYCLES[cpu].store((rdtsc() - start) / SCALING_OPS, Ordering::SeqCst);
    0
}

/// Median over three runs of the mean per-operation cost of `cpus`
/// threads, one on each of CPUs 0..cpus, running `workload` together.
fn at_once(workload: Workload, cpus: usize) -> u64 {
    let mut runs = [0u64; 3];
    for run in &mut runs {
        *WORKLOAD.lock() = workload;
        GO.store(false, Ordering::SeqCst);
        let mut handles = [const { None }; NR_CPUS];
        for (cpu, handle) in handles.iter_mut().enumerate().take(cpus) {
            let thread = kthread_create_on_cpu(&scaling_thread, cpu, "scaling").expect("a thread per CPU");
            wake_up_process(thread.task());
            *handle = Some(thread);
        }
        GO.store(true, Ordering::SeqCst);
        handles.into_iter().flatten().for_each(|thread| {
            kthread_join(thread);
        });
        *run = (0..cpus).map(|cpu| CYCLES[cpu].load(Ordering::SeqCst)).sum::<u64>() / cpus as u64;
    }
    runs.sort_unstable();
    runs[1]
}

/// The scaling rows (see the module doc).
fn scaling() {
    let node = node();
    let online = num_online_cpus();
    let counts = [1, 2, 4].into_iter().filter(move |&n| n <= online);
    for n in counts.clone() {
        let cycles = at_once(Workload::AllocFree, n);
        println!("| scaling: order-0 alloc+free, per-CPU lists, {n} CPU(s) at once, per op | {cycles} |");
    }
    node.setup_pagelist_highmark(ZoneType::Normal, 0);
    for n in counts.clone() {
        let cycles = at_once(Workload::AllocFree, n);
        println!("| scaling: order-0 alloc+free, buddy only, {n} CPU(s) at once, per op | {cycles} |");
    }
    node.setup_per_cpu_pageset();
    // Each CPU cycles through its own high pages: with kmap 4 x 256 pages
    // take every slot of the window in turn, so it wraps and flushes.
    let map = node.node_mem_map();
    let mut enough = true;
    {
        let mut lists = KMAP_LISTS.lock();
        for list in lists.iter_mut().take(online) {
            while enough && list.len() < KMAP_PAGES {
                match node.alloc_page(GfpFlags::GFP_HIGHUSER) {
                    Some(page) if page.is_highmem() => list.add(node.page_to_pfn(page).unwrap(), &map),
                    Some(page) => {
                        node.__free_page(page);
                        enough = false;
                    }
                    None => enough = false,
                }
            }
        }
    }
    if enough {
        for (label, workload) in [("kmap+kunmap (kmap_lock, global flushes)", Workload::Kmap), ("kmap_atomic+kunmap_atomic (per-CPU windows)", Workload::KmapAtomic)] {
            for n in counts.clone() {
                let cycles = at_once(workload, n);
                println!("| scaling: {label}, {n} CPU(s) at once, per op | {cycles} |");
            }
        }
    } else {
        println!("| scaling: kmap rows: not enough high memory on this machine | - |");
    }
    for list in KMAP_LISTS.lock().iter_mut() {
        while let Some(pfn) = list.pop_front(&map) {
            node.__free_page(node.pfn_to_page(pfn).unwrap());
        }
    }
}

fn bootmem_costs() {
    const GIB_PAGES: u64 = 1 << 18;
    let timing = bootmem_timing().expect("mem_init ran");
    let per_gib = |cycles: u64, pages: usize| cycles * GIB_PAGES / (pages as u64).max(1);
    println!(
        "| free_all_bootmem, per GiB ({} pages measured) | {} |",
        timing.free_all_bootmem_pages,
        per_gib(
            timing.free_all_bootmem_cycles,
            timing.free_all_bootmem_pages
        )
    );
    if timing.highmem_init_pages > 0 {
        println!(
            "| set_highmem_pages_init (page by page), per GiB ({} pages measured) | {} |",
            timing.highmem_init_pages,
            per_gib(timing.highmem_init_cycles, timing.highmem_init_pages)
        );
    }
}

/// Pages of the synthetic node of the fragmentation workload: 256 MiB.
const FRAG_PAGES: usize = 65536;
/// Its `mem_map`: descriptors only, in the kernel's .bss.
static FRAG_MEM_MAP: [Page; FRAG_PAGES] = [const { Page::new() }; FRAG_PAGES];
/// The synthetic node of the fragmentation workload, rebuilt for each run.
static FRAG_PGDAT: Mutex<Option<PgData>> = Mutex::new(None);

/// A fresh synthetic node over [`FRAG_MEM_MAP`] (out of line: its
/// temporaries go when it returns).
#[inline(never)]
fn new_frag_node() -> PgData {
    PgData::free_area_init_node(&FRAG_MEM_MAP, [0, FRAG_PAGES, FRAG_PAGES], [(0, FRAG_PAGES)].into_iter())
}

/// The blocks the workload holds: (pfn, order, movable).
static HELD: Mutex<[(u32, u8, bool); FRAG_PAGES]> = Mutex::new([(0, 0, false); FRAG_PAGES]);

use kernel::xorshift::XorShift32 as XorShift;

/// The workload on a fresh synthetic node; returns the largest free order,
/// the number of free blocks of order >= 3 and of whole free pageblocks
/// (order 10) once the movable pages are gone.
fn fragment(mobility_disabled: bool) -> (usize, usize, usize) {
    // The node lives in a static, not in this frame: kernel_init's 16 KiB
    // stack must also hold free_area_init_node's temporaries.
    let mut slot = FRAG_PGDAT.lock();
    *slot = Some(new_frag_node());
    let pgdat = slot.as_ref().expect("just built");
    free_all_bootmem(&pgdat, [(0, pfn_phys(FRAG_PAGES as u64))].into_iter());
    pgdat.set_page_group_by_mobility_disabled(mobility_disabled);
    let mut held = HELD.lock();
    let mut nr_held = 0;
    let mut used = 0;
    let mut rng = XorShift(0x2545_f491);
    // Keep memory about 75 % full while blocks come and go, as user pages
    // (movable) and kernel data (unmovable, one allocation in eight, order
    // 0 or 1) would.
    for _ in 0..200_000 {
        if used < FRAG_PAGES * 3 / 4 || nr_held == 0 {
            let movable = rng.below(8) != 0;
            let (gfp, order) = if movable {
                (GfpFlags::GFP_KERNEL | GfpFlags::__GFP_MOVABLE, 0)
            } else {
                (GfpFlags::GFP_KERNEL, rng.below(2))
            };
            if let Some(page) = pgdat.alloc_pages(
                gfp | GfpFlags::__GFP_NOWARN | GfpFlags::__GFP_NORETRY,
                order,
            ) {
                held[nr_held] = (
                    pgdat.page_to_pfn(page).unwrap() as u32,
                    order as u8,
                    movable,
                );
                nr_held += 1;
                used += 1 << order;
            }
        } else {
            let index = rng.below(nr_held);
            let (pfn, order, _) = held[index];
            held[index] = held[nr_held - 1];
            nr_held -= 1;
            pgdat.__free_pages(pgdat.pfn_to_page(pfn as usize).unwrap(), order as usize);
            used -= 1 << order;
        }
    }
    // Reclaim every movable page.
    for &(pfn, order, movable) in &held[..nr_held] {
        if movable {
            pgdat.__free_pages(pgdat.pfn_to_page(pfn as usize).unwrap(), order as usize);
        }
    }
    pgdat.drain_all_pages();
    let info = pgdat.zone(ZoneType::Normal).lock().buddyinfo();
    // Put everything back, so that FRAG_MEM_MAP can be reused.
    for &(pfn, order, movable) in &held[..nr_held] {
        if !movable {
            pgdat.__free_pages(pgdat.pfn_to_page(pfn as usize).unwrap(), order as usize);
        }
    }
    let largest = (0..MAX_ORDER)
        .rev()
        .find(|&order| info[order] > 0)
        .unwrap_or(0);
    (largest, info[3..].iter().sum(), info[MAX_ORDER - 1])
}

fn fragmentation() {
    for (label, disabled) in [("with migratetypes", false), ("without migratetypes", true)] {
        let (largest, big_blocks, pageblocks) = fragment(disabled);
        println!(
            "| fragmentation {label}: largest free order after freeing movable pages | {largest} |"
        );
        println!("| fragmentation {label}: free blocks of order >= 3 | {big_blocks} |");
        println!(
            "| fragmentation {label}: free whole pageblocks (order 10, of 64) | {pageblocks} |"
        );
    }
}
