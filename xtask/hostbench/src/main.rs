//! The host half of `cargo xtask bench`: the kernel's zone allocator (the
//! very `mm` code the kernel runs, built for the host) against two peer
//! frame allocators from crates.io, on the same workloads over the same
//! number of frames, in nanoseconds per operation (median of several runs).
//!
//! * `linmem (pcp)`: `alloc_pages` / `__free_pages` with the per-CPU lists
//!   sized as the kernel sizes them (`setup_per_cpu_pageset`);
//! * `linmem (buddy)`: the same with the per-CPU lists off (the boot
//!   pageset: every page goes through the zone lock);
//! * `buddy_system_allocator`: its `FrameAllocator` (free lists in
//!   `BTreeSet`s);
//! * `bitmap-allocator`: `BitAlloc64K` (a 16-ary tree of bitmaps).
//!
//! A second table times only the synchronisation an order-0 pair of the
//! per-CPU path does, with the kernel's own primitives and nothing else:
//! the floor that any allocator locking as Linux does stands on.
//!
//! A third table does the same as the first for small objects: the kernel's slab
//! allocator (`kmalloc`/`kfree` and `kmem_cache_alloc`/`kmem_cache_free`,
//! built for the host over an arena of host memory, debug checks off in
//! this release build) against `buddy_system_allocator`'s `Heap` (a buddy
//! heap for byte ranges, the usual choice of Rust teaching kernels) and the
//! host's own `malloc`, on 64-byte objects.
//!
//! Figures only: nothing here asserts a timing.

use std::hint::black_box;
use std::time::Instant;

use bitmap_allocator::{BitAlloc, BitAlloc64K};
use buddy_system_allocator::FrameAllocator;
use kernel::mm::bootmem::free_all_bootmem;
use kernel::mm::gfp::GfpFlags;
use kernel::mm::mmzone::PgData;
use kernel::mm::page::Page;
use kernel::mm::{PAGE_SIZE, pfn_phys};

/// Frames every allocator manages: 256 MiB.
const NR_FRAMES: usize = 65536;
/// Runs per figure; the median is printed.
const RUNS: usize = 5;

/// The interface the workloads need: blocks of `2^order` frames.
trait Frames {
    fn alloc(&mut self, order: usize) -> Option<usize>;
    fn free(&mut self, frame: usize, order: usize);
}

/// The kernel's node, one Normal zone of `NR_FRAMES` frames.
struct Linmem {
    pgdat: &'static PgData,
}

impl Linmem {
    fn new(per_cpu_lists: bool) -> Linmem {
        let map: &'static [Page] = Box::leak((0..NR_FRAMES).map(|_| Page::new()).collect());
        let pgdat: &'static PgData = Box::leak(Box::new(PgData::free_area_init_node(
            map,
            [0, NR_FRAMES, NR_FRAMES],
            [(0, NR_FRAMES)].into_iter(),
        )));
        free_all_bootmem(pgdat, [(0, pfn_phys(NR_FRAMES as u64))].into_iter());
        if per_cpu_lists {
            pgdat.setup_per_cpu_pageset();
        }
        Linmem { pgdat }
    }
}

impl Frames for Linmem {
    fn alloc(&mut self, order: usize) -> Option<usize> {
        let page = self
            .pgdat
            .alloc_pages(GfpFlags::GFP_KERNEL | GfpFlags::__GFP_NOWARN, order)?;
        self.pgdat.page_to_pfn(page)
    }
    fn free(&mut self, frame: usize, order: usize) {
        self.pgdat
            .__free_pages(self.pgdat.pfn_to_page(frame).unwrap(), order);
    }
}

struct Buddy(FrameAllocator<32>);

impl Frames for Buddy {
    fn alloc(&mut self, order: usize) -> Option<usize> {
        self.0.alloc(1 << order)
    }
    fn free(&mut self, frame: usize, order: usize) {
        self.0.dealloc(frame, 1 << order);
    }
}

struct Bitmap(Box<BitAlloc64K>);

impl Frames for Bitmap {
    fn alloc(&mut self, order: usize) -> Option<usize> {
        if order == 0 {
            self.0.alloc()
        } else {
            self.0.alloc_contiguous(None, 1 << order, order)
        }
    }
    fn free(&mut self, frame: usize, order: usize) {
        if order == 0 {
            self.0.dealloc(frame);
        } else {
            self.0.dealloc_contiguous(frame, 1 << order);
        }
    }
}

/// Deterministic pseudo-random numbers (xorshift).
struct XorShift(u64);

impl XorShift {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// A workload: runs on a fresh allocator, returns the number of operations
/// (allocations plus frees) it did.
type Workload = fn(&mut dyn Frames) -> usize;

/// One page allocated and freed at once, over and over.
fn pairs(frames: &mut dyn Frames) -> usize {
    for _ in 0..200_000 {
        let frame = frames.alloc(0).unwrap();
        frames.free(black_box(frame), 0);
    }
    400_000
}

/// 1024 pages allocated, then freed in reverse order, over and over.
fn bursts(frames: &mut dyn Frames) -> usize {
    let mut held = Vec::with_capacity(1024);
    for _ in 0..200 {
        held.extend((0..1024).map(|_| frames.alloc(0).unwrap()));
        while let Some(frame) = held.pop() {
            frames.free(frame, 0);
        }
    }
    200 * 2048
}

/// Orders 0 to 3 allocated and freed at random, memory kept half full.
fn churn(frames: &mut dyn Frames) -> usize {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut held: Vec<(usize, usize)> = Vec::new();
    let mut used = 0;
    let mut ops = 0;
    for _ in 0..300_000 {
        if used < NR_FRAMES / 2 || held.is_empty() {
            let order = rng.below(4).min(rng.below(4));
            if let Some(frame) = frames.alloc(order) {
                held.push((frame, order));
                used += 1 << order;
            }
        } else {
            let (frame, order) = held.swap_remove(rng.below(held.len()));
            frames.free(frame, order);
            used -= 1 << order;
        }
        ops += 1;
    }
    ops
}

/// Median nanoseconds per operation of `workload` on fresh allocators.
fn measure(make: &dyn Fn() -> Box<dyn Frames>, workload: Workload) -> f64 {
    let mut figures: Vec<f64> = (0..RUNS)
        .map(|_| {
            let mut frames = make();
            let start = Instant::now();
            let ops = workload(frames.as_mut());
            start.elapsed().as_nanos() as f64 / ops as f64
        })
        .collect();
    figures.sort_by(f64::total_cmp);
    figures[RUNS / 2]
}

/// The interface the object workloads need: 64-byte objects.
trait Objects {
    fn alloc(&mut self) -> usize;
    fn free(&mut self, objp: usize);
}

/// The kernel's slab allocator over a host arena of `NR_FRAMES` frames.
fn host_slab() -> &'static kernel::mm::slab::SlabAllocator {
    use core::sync::atomic::AtomicUsize;
    use kernel::mm::slab::{BOOT_AREA_WORDS, SlabAllocator, SlabMemory};
    let linmem = Linmem::new(true);
    let boot: &'static [AtomicUsize] = Box::leak((0..BOOT_AREA_WORDS).map(|_| AtomicUsize::new(0)).collect());
    let mem = SlabMemory::host_arena(linmem.pgdat, NR_FRAMES, boot);
    let slab: &'static SlabAllocator =
        Box::leak(Box::new(SlabAllocator::new(mem, boot.as_ptr() as usize, linmem.pgdat.totalram_pages())));
    slab.kmem_cache_init(Box::leak(Box::new(kernel::mm::slab_cpucache::SlabShrinker::new())));
    slab
}

struct Kmalloc(&'static kernel::mm::slab::SlabAllocator);

impl Objects for Kmalloc {
    fn alloc(&mut self) -> usize {
        self.0.kmalloc(64, GfpFlags::GFP_KERNEL).expect("arena memory")
    }
    fn free(&mut self, objp: usize) {
        self.0.kfree(objp).expect("a kmalloc object");
    }
}

struct KmemCache(&'static kernel::mm::slab::SlabAllocator, &'static kernel::mm::slab::KmemCache);

impl Objects for KmemCache {
    fn alloc(&mut self) -> usize {
        self.0.kmem_cache_alloc(self.1, GfpFlags::GFP_KERNEL).expect("arena memory")
    }
    fn free(&mut self, objp: usize) {
        self.0.kmem_cache_free(self.1, objp).expect("an object of the cache");
    }
}

/// `buddy_system_allocator::Heap` over the same amount of memory.
struct BuddyHeap(buddy_system_allocator::Heap<32>);

const OBJECT: std::alloc::Layout = match std::alloc::Layout::from_size_align(64, 8) {
    Ok(layout) => layout,
    Err(_) => panic!("a valid layout"),
};

impl Objects for BuddyHeap {
    fn alloc(&mut self) -> usize {
        self.0.alloc(OBJECT).expect("heap memory").as_ptr() as usize
    }
    fn free(&mut self, objp: usize) {
        let ptr = std::ptr::NonNull::new(objp as *mut u8).expect("non-null");
        // SAFETY: objp came from this heap's alloc with OBJECT.
        unsafe { self.0.dealloc(ptr, OBJECT) };
    }
}

/// The host's `malloc` (Rust's `System` allocator).
struct System;

impl Objects for System {
    fn alloc(&mut self) -> usize {
        // SAFETY: OBJECT has a non-zero size.
        unsafe { std::alloc::GlobalAlloc::alloc(&std::alloc::System, OBJECT) as usize }
    }
    fn free(&mut self, objp: usize) {
        // SAFETY: objp came from System.alloc with OBJECT.
        unsafe { std::alloc::GlobalAlloc::dealloc(&std::alloc::System, objp as *mut u8, OBJECT) }
    }
}

type ObjectWorkload = fn(&mut dyn Objects) -> usize;

fn object_pairs(objects: &mut dyn Objects) -> usize {
    for _ in 0..200_000 {
        let objp = objects.alloc();
        objects.free(black_box(objp));
    }
    400_000
}

fn object_bursts(objects: &mut dyn Objects) -> usize {
    let mut held = vec![0usize; 1024];
    for _ in 0..100 {
        for slot in held.iter_mut() {
            *slot = objects.alloc();
        }
        for &objp in held.iter().rev() {
            objects.free(objp);
        }
    }
    100 * 2048
}

fn measure_objects(make: &dyn Fn() -> Box<dyn Objects>, workload: ObjectWorkload) -> f64 {
    let mut figures: Vec<f64> = (0..RUNS)
        .map(|_| {
            let mut objects = make();
            let start = Instant::now();
            let ops = workload(objects.as_mut());
            start.elapsed().as_nanos() as f64 / ops as f64
        })
        .collect();
    figures.sort_by(f64::total_cmp);
    figures[RUNS / 2]
}

/// Pairs each synchronisation row times.
const SYNC_PAIRS: usize = 2_000_000;

/// The locking of one order-0 pair of the per-CPU path, alone: what it
/// would cost if everything else the allocator does were free. Each row
/// runs the kernel's own primitives on one page descriptor and one
/// pageset-sized lock:
///
/// * ours (and Linux 5.19 onwards, whose `pcp->lock` is the same lock):
///   the pageset lock taken with interrupts off on the allocation, the
///   reference count set, the atomic drop of `put_page_testzero` on the
///   free, and the pageset lock again: three locked instructions;
/// * Linux 2.6: the pageset is touched only by its own CPU, so interrupts
///   off is all the allocation and the free need; only the reference drop
///   is a locked instruction.
///
/// (On the host "interrupts off" is a per-thread flag, cheaper than the
/// kernel's `pushf; cli`.) Whatever the first table's `linmem (pcp)` row
/// costs above the first of these rows is the allocator's own work.
fn synchronisation_table(bitmap_pair: f64) {
    use kernel::arch::current::irqflags::{local_irq_restore, local_irq_save};
    use kernel::mm::layout::NR_CPUS;
    use kernel::percpu::PerCpu;
    use kernel::spinlock::SpinLockIrq;

    let pageset = PerCpu::new([const { SpinLockIrq::new(0usize) }; NR_CPUS]);
    let page = Page::new();
    let with_pageset_lock = || {
        *pageset.lock_this_cpu() += 1;
        page.set_page_refcounted();
        assert!(page.put_page_testzero());
        *pageset.lock_this_cpu() -= 1;
    };
    let with_interrupts_off = || {
        let flags = local_irq_save();
        black_box(&page);
        local_irq_restore(flags);
        page.set_page_refcounted();
        assert!(page.put_page_testzero());
        let flags = local_irq_save();
        black_box(&page);
        local_irq_restore(flags);
    };
    let rows: [(&str, &dyn Fn()); 2] = [
        ("pageset lock both ways + atomic put (ours, Linux 5.19+)", &with_pageset_lock),
        ("interrupts off only + atomic put (Linux 2.6)", &with_interrupts_off),
    ];
    println!();
    println!("host benchmark: the synchronisation of an order-0 pair alone, ns per operation (median of {RUNS} runs)");
    let width = rows.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
    print_table(
        "what the pair does",
        width,
        &["ns"],
        rows.iter().map(|&(name, pair)| {
            let mut figures: Vec<f64> = (0..RUNS)
                .map(|_| {
                    let start = Instant::now();
                    for _ in 0..SYNC_PAIRS {
                        pair();
                    }
                    start.elapsed().as_nanos() as f64 / (2 * SYNC_PAIRS) as f64
                })
                .collect();
            figures.sort_by(f64::total_cmp);
            (name, vec![figures[RUNS / 2]])
        }),
    );
    println!("(bitmap-allocator's order-0 pair above: {bitmap_pair:.1} ns per operation, with no synchronisation at all)");
}

fn object_table() {
    let allocators: [(&str, Box<dyn Fn() -> Box<dyn Objects>>); 4] = [
        ("linmem kmalloc(64)", Box::new(|| Box::new(Kmalloc(host_slab())))),
        (
            "linmem kmem_cache",
            Box::new(|| {
                let slab = host_slab();
                let cachep = slab
                    .kmem_cache_create("bench-64", 64, 0, kernel::mm::slab::SlabFlags::SLAB_HWCACHE_ALIGN, None)
                    .expect("a new cache");
                Box::new(KmemCache(slab, cachep))
            }),
        ),
        (
            "buddy_system_allocator",
            Box::new(|| {
                let arena: &'static mut [u8] = Box::leak(vec![0u8; NR_FRAMES * PAGE_SIZE].into_boxed_slice());
                let mut heap = buddy_system_allocator::Heap::<32>::empty();
                // SAFETY: the arena is leaked, so it stays valid and is used
                // by nothing but this heap.
                unsafe { heap.init(arena.as_mut_ptr() as usize, arena.len()) };
                Box::new(BuddyHeap(heap))
            }),
        ),
        ("host malloc", Box::new(|| Box::new(System))),
    ];
    let workloads: [(&str, ObjectWorkload); 2] =
        [("64-byte alloc+free pairs", object_pairs), ("64-byte bursts of 1024", object_bursts)];
    println!();
    println!("host benchmark: ns per object operation (median of {RUNS} runs)");
    let names: Vec<&str> = allocators.iter().map(|(name, _)| *name).collect();
    print_table("workload", 26, &names, workloads.iter().map(|&(workload_name, workload)| {
        (workload_name, allocators.iter().map(|(_, make)| measure_objects(make.as_ref(), workload)).collect())
    }));
}

/// A Markdown table: a first column `label` wide enough for `width`
/// characters, a column per allocator, a row per workload, each row printed
/// as soon as it is measured.
fn print_table<'a>(label: &str, width: usize, allocators: &[&str], rows: impl Iterator<Item = (&'a str, Vec<f64>)>) {
    print!("| {label:<width$} |");
    for name in allocators {
        print!(" {name:>22} |");
    }
    println!();
    print!("|{}|", "-".repeat(width + 2));
    for _ in allocators {
        print!("{}|", "-".repeat(24));
    }
    println!();
    for (row_name, figures) in rows {
        print!("| {row_name:<width$} |");
        for figure in figures {
            print!(" {figure:>22.1} |");
        }
        println!();
    }
}

fn main() {
    let allocators: [(&str, Box<dyn Fn() -> Box<dyn Frames>>); 4] = [
        ("linmem (pcp)", Box::new(|| Box::new(Linmem::new(true)))),
        ("linmem (buddy)", Box::new(|| Box::new(Linmem::new(false)))),
        (
            "buddy_system_allocator",
            Box::new(|| {
                let mut buddy = FrameAllocator::<32>::new();
                buddy.add_frame(0, NR_FRAMES);
                Box::new(Buddy(buddy))
            }),
        ),
        (
            "bitmap-allocator",
            Box::new(|| {
                let mut bitmap = Box::new(BitAlloc64K::DEFAULT);
                bitmap.insert(0..NR_FRAMES);
                Box::new(Bitmap(bitmap))
            }),
        ),
    ];
    let workloads: [(&str, Workload); 3] = [
        ("order-0 alloc+free pairs", pairs),
        ("order-0 bursts of 1024", bursts),
        ("random churn, orders 0-3", churn),
    ];
    println!(
        "host benchmark: ns per operation (median of {RUNS} runs), {NR_FRAMES} frames of {PAGE_SIZE} bytes"
    );
    let names: Vec<&str> = allocators.iter().map(|(name, _)| *name).collect();
    let bitmap = names.iter().position(|&name| name == "bitmap-allocator").expect("a bitmap column");
    let mut bitmap_pair = f64::NAN;
    print_table("workload", 26, &names, workloads.iter().enumerate().map(|(row, &(workload_name, workload))| {
        let figures: Vec<f64> = allocators.iter().map(|(_, make)| measure(make.as_ref(), workload)).collect();
        if row == 0 {
            bitmap_pair = figures[bitmap];
        }
        (workload_name, figures)
    }));
    synchronisation_table(bitmap_pair);
    object_table();
}
