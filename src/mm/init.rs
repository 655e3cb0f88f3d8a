//! Boot-time memory setup: from memblock to a running buddy allocator.
//!
//! Linux spreads this over `arch/x86/kernel/setup.c` (`setup_arch`),
//! `arch/x86/mm/init_32.c` (`find_low_pfn_range`, `paging_init`,
//! `zone_sizes_init`, `mem_init`) and `init/main.c` (`mm_init`).  The order:
//!
//! 1. [`memblock_setup`]: the usable RAM of the firmware map goes into
//!    `memblock.memory` (`memblock_x86_fill`), `mem=` cuts it, and what is
//!    already in use goes into `memblock.reserved`: page 0 and the BIOS's
//!    first megabyte, the kernel image (which contains the copy of the
//!    boot information, the boot page tables and stacks).
//! 2. [`find_low_pfn_range`]: `max_pfn` (end of RAM), `max_low_pfn` (end of
//!    what the direct map can hold, at most 896 MiB) and `high_memory`.
//! 3. [`init_memory_mapping`]: the arch code builds `swapper_pg_dir` with
//!    page tables taken from memblock (`alloc_low_page`).
//! 4. [`zone_sizes_init`]: the `mem_map` array (one `struct page` per
//!    frame, itself allocated from memblock) and the three zones.
//! 5. [`mm_init`] -> [`mem_init`]: every free memblock range is handed to
//!    the buddy allocator (`set_highmem_pages_init`, `free_all_bootmem`),
//!    then the totals and the virtual memory layout are printed.
//! 6. The zone allocator's policy: the per-CPU page lists get their sizes
//!    (`setup_per_cpu_pageset`), the watermarks and reserves are computed
//!    (`init_per_zone_pages_min`), the page cache's shrinker is registered,
//!    and the state of memory is printed as `/proc/buddyinfo`,
//!    `/proc/zoneinfo`, `/proc/pagetypeinfo` and `/proc/vmstat` would show it.
//!
//! After step 5 memblock is history: the buddy allocator owns all free
//! memory; nothing allocates from memblock after this point (page tables made
//! later come from the page allocator, see `paging::set_pte_vaddr`).

use super::bootmem;
use super::layout::{self, __pa, __va, MAXMEM_PFN, PAGE_OFFSET};
use super::memblock::{BootMemoryEntry, MEMBLOCK, memblock_x86_fill};
use super::mmzone::{CONTIG_PAGE_DATA, PgData, max_zone_pfns};
use super::page_cache::PAGE_CACHE;
use super::page::Page;
use super::{PAGE_SHIFT, PAGE_SIZE, pfn_down, pfn_up};
use crate::arch::x86::boot::BOOT_MAPPED_MB;
use crate::arch::x86::setup::{E820Entry, E820Type};
use crate::arch::x86::{cpu, paging, sections};
use core::sync::atomic::{AtomicUsize, Ordering};

/// The first megabyte: page 0 (BIOS data), the EBDA, video memory, the BIOS
/// ROM.  Linux reserves parts of it; we keep all of it out of the buddy.
const BIOS_END: u64 = 0x10_0000;
/// Smallest `mem=` accepted: the image, the boot tables and a usable
/// amount of memory must fit.
const MIN_MEM_LIMIT: u64 = 8 << 20;

/// End of RAM: one past the highest usable page frame (Linux `max_pfn`).
static MAX_PFN: AtomicUsize = AtomicUsize::new(0);
/// One past the highest page frame in the direct map (Linux `max_low_pfn`).
static MAX_LOW_PFN: AtomicUsize = AtomicUsize::new(0);
/// First virtual address past the direct map (Linux `high_memory`).
static HIGH_MEMORY: AtomicUsize = AtomicUsize::new(0);

/// `max_pfn`: one past the last page frame of RAM.
pub fn max_pfn() -> usize {
    MAX_PFN.load(Ordering::Relaxed)
}

/// `max_low_pfn`: one past the last directly mapped page frame.
pub fn max_low_pfn() -> usize {
    MAX_LOW_PFN.load(Ordering::Relaxed)
}

/// `high_memory`: the first virtual address above the direct map.
pub fn high_memory() -> usize {
    HIGH_MEMORY.load(Ordering::Relaxed)
}

/// Start of the vmalloc area (Linux `VMALLOC_START`, which depends on
/// `high_memory`).
#[allow(non_snake_case)]
pub fn VMALLOC_START() -> usize {
    layout::vmalloc_start(high_memory())
}

/// Step 1: fills memblock from the firmware map, applies `mem=`, reserves
/// what is in use, and prints the result (`memblock_dump_all`).
pub fn memblock_setup(e820: &[E820Entry], mem_limit: Option<u64>) {
    let mut memblock = MEMBLOCK.lock();
    let entries = e820.iter().map(|e| BootMemoryEntry { base: e.addr, size: e.size, usable: e.kind == E820Type::Ram });
    let report = memblock_x86_fill(&mut memblock, entries);
    log::debug!("memblock_x86_fill: {report:?}");

    if let Some(limit) = mem_limit {
        if limit < MIN_MEM_LIMIT {
            log::warn!("mem={}M is below the minimum of {}M, ignored", limit >> 20, MIN_MEM_LIMIT >> 20);
        } else if limit < memblock.end_of_ram() {
            let end = memblock.end_of_ram();
            log::info!("e820: remove [mem {:#010x}-{:#010x}] usable (mem={}M)", limit, end - 1, limit >> 20);
            memblock.remove(limit, end - limit).expect("removing the top of a region never needs a new slot");
        }
    }

    // Before the BIOS area is reserved: the SMP trampoline takes a page of it.
    crate::arch::x86::smpboot::reserve_trampoline_memory(&mut memblock);
    let image = sections::kernel_image();
    let reservations = [
        (0, BIOS_END, "page 0 and the BIOS area"),
        (__pa(image.start), (image.end - image.start) as u64, "kernel image, boot information copy, boot page tables and stacks"),
    ];
    for (base, size, what) in reservations {
        log::debug!("memblock_reserve: [mem {:#010x}-{:#010x}] {what}", base, base + size - 1);
        if let Err(e) = memblock.reserve(base, size) {
            panic!("cannot reserve {what}: {e}");
        }
    }
    memblock.dump();
}

/// Step 2 (Linux `find_low_pfn_range`, with `lowmem_pfn_init` /
/// `highmem_pfn_init`): where RAM ends, and how much of it the direct map
/// can hold.
pub fn find_low_pfn_range() {
    let end_of_ram = MEMBLOCK.lock().end_of_ram();
    let max_pfn = pfn_down(end_of_ram) as usize;
    let max_low_pfn = max_pfn.min(MAXMEM_PFN as usize);
    if max_pfn > max_low_pfn {
        log::info!("{}MB HIGHMEM available.", pages_to_mb(max_pfn - max_low_pfn));
    }
    log::info!("{}MB LOWMEM available.", pages_to_mb(max_low_pfn));
    MAX_PFN.store(max_pfn, Ordering::Relaxed);
    MAX_LOW_PFN.store(max_low_pfn, Ordering::Relaxed);
    HIGH_MEMORY.store(__va((max_low_pfn as u64) << PAGE_SHIFT), Ordering::Relaxed);
}

fn pages_to_mb(pages: usize) -> usize {
    pages >> (20 - PAGE_SHIFT)
}

/// Step 3: builds the kernel page tables.  Page-table pages come from
/// memblock below the 16 MiB the boot tables map (Linux `alloc_low_page`),
/// so the code can write them before the new tables are live; afterwards
/// memblock may allocate anywhere in low memory.
pub fn init_memory_mapping(nopse: bool) {
    let use_pse = cpu::cpu_has_pse() && !nopse;
    if nopse {
        log::info!("nopse: direct map with 4 KiB pages");
    }
    let boot_mapped_end = (BOOT_MAPPED_MB as u64) << 20;
    let mut memblock = MEMBLOCK.lock();
    let mut alloc_low_page = || memblock.alloc_base(PAGE_SIZE as u64, PAGE_SIZE as u64, boot_mapped_end);
    paging::paging_init(max_low_pfn() as u64, use_pse, &mut alloc_low_page);
    memblock.set_current_limit((max_low_pfn() as u64) << PAGE_SHIFT);
}

/// Step 4 (Linux `zone_sizes_init` -> `free_area_init_nodes`): the zone
/// boundaries are fixed by the architecture — DMA below 16 MiB, Normal up
/// to `max_low_pfn`, HighMem up to `max_pfn` — and the RAM ranges of
/// memblock tell which frames inside them exist.
pub fn zone_sizes_init() {
    let mem_map = alloc_node_mem_map(max_pfn());
    let memblock = MEMBLOCK.lock();
    let ram = memblock.memory.regions().iter().map(|r| (pfn_up(r.base) as usize, pfn_down(r.end()) as usize));
    let zone_pfns = max_zone_pfns(max_low_pfn(), max_pfn());
    CONTIG_PAGE_DATA.call_once(|| PgData::free_area_init_node(mem_map, zone_pfns, ram)).print_node_init();
}

/// Allocates and initialises `mem_map`: one [`Page`] per page frame from 0
/// to `nr_pages` (Linux `alloc_node_mem_map`, FLATMEM).  The array comes
/// from memblock in low memory, so it has a direct-map address.
fn alloc_node_mem_map(nr_pages: usize) -> &'static [Page] {
    let bytes = (nr_pages * size_of::<Page>()) as u64;
    let paddr = MEMBLOCK
        .lock()
        .alloc(bytes, PAGE_SIZE as u64)
        .unwrap_or_else(|| panic!("no low memory for mem_map ({} KiB)", bytes >> 10));
    let first = __va(paddr) as *mut Page;
    // [paddr, paddr + bytes) was just reserved in memblock for this array;
    // it lies in the direct map (memblock's limit is max_low_pfn), the base
    // is page aligned, and nothing else refers to it.
    for index in 0..nr_pages {
        // SAFETY: see above: `first.add(index)` is inside the fresh array.
        unsafe { first.add(index).write(Page::new()) };
    }
    log::info!("mem_map: {} page descriptors of {} bytes at {:#010x} ({} KiB)",
        nr_pages, size_of::<Page>(), first as usize, bytes >> 10);
    // SAFETY: all `nr_pages` elements were initialised above; the memory
    // stays reserved (never freed to the buddy) for the kernel's lifetime,
    // and `Page` is all atomics, so shared references are the right kind.
    unsafe { core::slice::from_raw_parts(first, nr_pages) }
}

/// The node descriptor once [`zone_sizes_init`] has run.
pub fn node() -> &'static PgData {
    super::mmzone::node_data().expect("zone_sizes_init() has run")
}

/// Steps 5 and 6 (Linux `mm_init` in `init/main.c`, then
/// `setup_per_cpu_pageset` and the `init_per_zone_pages_min` initcall): set
/// up the kernel's memory allocators — the page allocator (`mem_init`),
/// the slab allocator (`kmem_cache_init`, seed 002's next step), vmalloc,
/// the per-CPU page lists and the watermarks.
pub fn mm_init() {
    mem_init();
    super::kmalloc::kmem_cache_init();
    super::vmalloc::vmalloc_init();
    let node = node();
    node.setup_per_cpu_pageset();
    node.init_per_zone_pages_min();
    node.register_shrinker(&PAGE_CACHE).expect("the second shrinker always fits");
    log::info!("min_free_kbytes: {}", node.min_free_kbytes());
    node.show_buddyinfo();
    node.show_zoneinfo();
    node.show_pagetypeinfo();
    node.show_vmstat();
}

/// TSC cycles and pages of the two halves of `mem_init`, measured during
/// boot: `free_all_bootmem` (low memory, in large blocks) and
/// `set_highmem_pages_init` (high memory, page by page). Read by the
/// benchmark kernel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BootmemTiming {
    pub free_all_bootmem_cycles: u64,
    pub free_all_bootmem_pages: usize,
    pub highmem_init_cycles: u64,
    pub highmem_init_pages: usize,
}

static BOOTMEM_TIMING: spin::Once<BootmemTiming> = spin::Once::new();

/// How long `mem_init` took to hand memory to the buddy allocator.
pub fn bootmem_timing() -> Option<BootmemTiming> {
    BOOTMEM_TIMING.get().copied()
}

/// Hands all free memory to the buddy allocator and reports (Linux
/// `arch/x86/mm/init_32.c:mem_init`; seed 002 walks through it).
///
/// High memory first (`set_highmem_pages_init`), then low memory
/// (`free_all_bootmem`), in that order as in Linux 3.x: see `bootmem.rs`
/// for why the order matters to the `managed_pages` counters.
pub fn mem_init() {
    let node = node();
    {
        let memblock = MEMBLOCK.lock();
        let start = cpu::rdtsc();
        bootmem::set_highmem_pages_init(node, memblock.free_mem_ranges());
        let middle = cpu::rdtsc();
        let low_pages = bootmem::free_all_bootmem(node, memblock.free_mem_ranges());
        let end = cpu::rdtsc();
        BOOTMEM_TIMING.call_once(|| BootmemTiming {
            free_all_bootmem_cycles: end - middle,
            free_all_bootmem_pages: low_pages,
            highmem_init_cycles: middle - start,
            highmem_init_pages: node.totalhigh_pages(),
        });
    }
    log::info!("{}", MemInitInfo::gather(node));
    print_virtual_layout();
    check_layout();
}

/// The numbers of the `Memory:` line, in KiB, and (its `Display`) the line
/// itself (Linux `mem_init_print_info`, seed 002).
#[doc(alias = "mem_init_print_info")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemInitInfo {
    /// Pages the buddy allocator manages (`totalram_pages`).
    pub available_kib: usize,
    /// RAM present in the zones.
    pub physpages_kib: usize,
    pub code_kib: usize,
    pub rwdata_kib: usize,
    pub rodata_kib: usize,
    pub init_kib: usize,
    pub bss_kib: usize,
    /// Present RAM the buddy does not manage: the kernel image, mem_map,
    /// page tables, the BIOS area, partial pages.
    pub reserved_kib: usize,
    /// High memory the buddy manages (`totalhigh_pages`).
    pub highmem_kib: usize,
}

impl MemInitInfo {
    /// Gathers the numbers from the node and the linker's sections.
    pub fn gather(node: &PgData) -> MemInitInfo {
        let kib = |pages: usize| pages << (PAGE_SHIFT - 10);
        let physpages = node.node_present_pages();
        let available = node.totalram_pages();
        MemInitInfo {
            available_kib: kib(available),
            physpages_kib: kib(physpages),
            code_kib: section_kib(&sections::text()),
            rwdata_kib: section_kib(&sections::rwdata()),
            rodata_kib: section_kib(&sections::rodata()),
            init_kib: section_kib(&sections::init()),
            bss_kib: section_kib(&sections::bss()),
            reserved_kib: kib(physpages - available),
            highmem_kib: kib(node.totalhigh_pages()),
        }
    }
}

impl core::fmt::Display for MemInitInfo {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "Memory: {}K/{}K available ({}K kernel code, {}K rwdata, {}K rodata, {}K init, {}K bss, {}K reserved, {}K highmem)",
            self.available_kib, self.physpages_kib, self.code_kib, self.rwdata_kib, self.rodata_kib,
            self.init_kib, self.bss_kib, self.reserved_kib, self.highmem_kib
        )
    }
}

/// Size of a virtual range in KiB.
fn section_kib(range: &core::ops::Range<usize>) -> usize {
    (range.end - range.start) >> 10
}

/// The `virtual kernel memory layout:` block of Linux's `mem_init` (also
/// the monitor's `layout`).
pub fn print_virtual_layout() {
    use layout::{FIXADDR_START, FIXADDR_TOP, LAST_PKMAP, PKMAP_BASE, VMALLOC_END};
    let lowmem = PAGE_OFFSET..high_memory();
    let (init, data, text) = (sections::init(), sections::data_after_text(), sections::text());
    log::info!("virtual kernel memory layout:");
    log::info!("    fixmap  : {:#010x} - {:#010x}   ({:4} kB)", FIXADDR_START, FIXADDR_TOP, (FIXADDR_TOP - FIXADDR_START) >> 10);
    log::info!("    pkmap   : {:#010x} - {:#010x}   ({:4} kB)", PKMAP_BASE, PKMAP_BASE + LAST_PKMAP * PAGE_SIZE, (LAST_PKMAP * PAGE_SIZE) >> 10);
    log::info!("    vmalloc : {:#010x} - {:#010x}   ({:4} MB)", VMALLOC_START(), VMALLOC_END, (VMALLOC_END - VMALLOC_START()) >> 20);
    log::info!("    lowmem  : {:#010x} - {:#010x}   ({:4} MB)", lowmem.start, lowmem.end, (lowmem.end - lowmem.start) >> 20);
    log::info!("      .init : {:#010x} - {:#010x}   ({:4} kB)", init.start, init.end, section_kib(&init));
    log::info!("      .data : {:#010x} - {:#010x}   ({:4} kB)", data.start, data.end, section_kib(&data));
    log::info!("      .text : {:#010x} - {:#010x}   ({:4} kB)", text.start, text.end, section_kib(&text));
}

/// The run-time half of mem_init's boundary checks (the constant half are
/// compile-time assertions in `layout.rs`).
fn check_layout() {
    assert!(VMALLOC_START() < layout::VMALLOC_END, "vmalloc area is empty");
    assert!(VMALLOC_START() - high_memory() >= layout::VMALLOC_OFFSET, "no VMALLOC_OFFSET gap after the direct map");
    assert!(high_memory() <= PAGE_OFFSET + layout::MAXMEM, "direct map larger than MAXMEM");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::x86::paging::{direct_map_uses_pse, lookup_address};
    use crate::arch::x86::setup::boot_data;
    use crate::mm::direct_map::page_to_pfn;
    use crate::mm::highmem::page_address;
    use crate::mm::gfp::GfpFlags;
    use crate::mm::mmzone::{MAX_DMA_PFN, ZoneType};
    use crate::mm::memblock::MAX_PHYS_ADDR;

    /// RAM page frames as the firmware map describes them, computed here
    /// independently of memblock: usable entries, whole pages, below 4 GiB
    /// and below `mem=`.
    fn firmware_ram_pfns() -> impl Iterator<Item = (usize, usize)> {
        let limit = boot_data().params.mem.filter(|&m| m >= MIN_MEM_LIMIT).unwrap_or(MAX_PHYS_ADDR).min(MAX_PHYS_ADDR);
        boot_data().e820().iter().filter(|e| e.kind == E820Type::Ram).filter_map(move |e| {
            let start = pfn_up(e.addr) as usize;
            let end = pfn_down((e.addr + e.size).min(limit)) as usize;
            (start < end).then_some((start, end))
        })
    }

    /// Number of RAM frames of the firmware map in [start, end).
    fn ram_pages_in(start: usize, end: usize) -> usize {
        firmware_ram_pfns().map(|(s, e)| e.min(end).saturating_sub(s.max(start))).sum()
    }

    #[test_case]
    fn pfn_limits_follow_the_memory_map() {
        let expected_max_pfn = firmware_ram_pfns().map(|(_, end)| end).max().unwrap();
        assert_eq!(max_pfn(), expected_max_pfn);
        assert!(max_pfn() <= 1 << 20, "RAM above 4 GiB must be ignored without PAE");
        assert_eq!(max_low_pfn(), expected_max_pfn.min(MAXMEM_PFN as usize));
        assert_eq!(high_memory(), PAGE_OFFSET + (max_low_pfn() << PAGE_SHIFT));
        if let Some(mem) = boot_data().params.mem {
            assert!(max_pfn() <= pfn_down(mem) as usize, "mem={mem:#x} caps RAM");
        }
    }

    #[test_case]
    fn zones_match_the_memory_map() {
        let node = node();
        let max_low = max_low_pfn();
        let expected = [
            (ZoneType::Dma, 0, MAX_DMA_PFN.min(max_pfn())),
            (ZoneType::Normal, MAX_DMA_PFN.min(max_low), max_low),
            (ZoneType::HighMem, max_low, max_pfn()),
        ];
        for (zone_type, start, end) in expected {
            let zone = node.zone(zone_type).lock();
            assert_eq!(zone.spanned_pages(), end - start, "{} spanned", zone.name());
            if end > start {
                assert_eq!(zone.zone_start_pfn(), start, "{} start", zone.name());
            }
            assert_eq!(zone.present_pages(), ram_pages_in(start, end), "{} present", zone.name());
        }
        let highmem = node.zone(ZoneType::HighMem).lock();
        if max_pfn() > MAXMEM_PFN as usize {
            assert_eq!(node.zone(ZoneType::Normal).lock().zone_end_pfn(), 896 << (20 - PAGE_SHIFT));
            assert!(highmem.present_pages() > 0);
        } else {
            assert_eq!(highmem.spanned_pages(), 0, "no HighMem at 896 MiB and below");
        }
    }

    #[test_case]
    fn accounting_is_exact() {
        let node = node();
        // Free pages waiting on per-CPU lists go back to the buddy first.
        node.drain_all_pages();
        let memblock = MEMBLOCK.lock();
        let mut managed_total = 0;
        for zone_type in ZoneType::ALL {
            let zone = node.zone(zone_type).lock();
            let (start, end) = (zone.zone_start_pfn(), zone.zone_end_pfn());
            let reserved_ram = firmware_ram_pfns()
                .flat_map(|(s, e)| s.max(start)..e.min(end))
                .filter(|&pfn| node.pfn_to_page(pfn).unwrap().is_reserved())
                .count();
            // After mem_init the boot allocates only the stacks of its kernel
            // threads and their page table (sched/stack.rs counts them); an
            // earlier test's vmalloc may have left the area a page table.
            let stacks = crate::sched::stack::nr_stack_pages(zone_type) + crate::mm::vmalloc::nr_page_table_pages(zone_type);
            // And the slab allocator's pages: counted here from mem_map's
            // PG_slab bits, independently of the slab's own nr_slab.
            let slab_pages = (start..end).filter(|&pfn| node.pfn_to_page(pfn).is_some_and(|p| p.is_slab())).count();
            assert_eq!(zone.free_pages() + stacks + slab_pages + reserved_ram, zone.present_pages(), "{}: free + stacks + slab + reserved = present", zone.name());
            assert_eq!(zone.managed_pages(), zone.free_pages() + stacks + slab_pages, "{}: nothing else allocated between tests", zone.name());
            assert_eq!(zone.nr_bad_pages(), 0);
            zone.check_free_lists().unwrap_or_else(|e| panic!("{e}"));
            managed_total += zone.managed_pages();
        }
        // Every page memblock had free went to the buddy: whole pages of each
        // free range (partial pages at the edges stay out, as in Linux).
        let all_slab_pages = (0..max_pfn()).filter(|&pfn| node.pfn_to_page(pfn).is_some_and(|p| p.is_slab())).count();
        assert_eq!(all_slab_pages, crate::mm::kmalloc::slab().nr_slab_pages(), "nr_slab counts exactly the PG_slab pages");
        let free_range_pages: usize = memblock
            .free_mem_ranges()
            .map(|(start, end)| (pfn_down(end) as usize).min(max_pfn()).saturating_sub(pfn_up(start) as usize))
            .sum();
        assert_eq!(managed_total, free_range_pages);
        assert_eq!(node.totalram_pages(), managed_total);
        assert_eq!(node.totalhigh_pages(), node.zone(ZoneType::HighMem).lock().managed_pages());
    }

    /// Ranges of physical memory, merged where they touch or overlap: a
    /// small fixed array (there is no heap, and a thread stack is 16 KiB);
    /// merging after every addition keeps it short.
    struct RangeSet {
        ranges: [(u64, u64); 32],
        len: usize,
    }

    impl RangeSet {
        fn new() -> Self {
            Self { ranges: [(0, 0); 32], len: 0 }
        }
        fn add(&mut self, start: u64, end: u64) {
            assert!(self.len < self.ranges.len(), "more separate ranges than the test expects");
            self.ranges[self.len] = (start, end);
            self.len += 1;
            self.ranges[..self.len].sort_unstable();
            let mut merged = 0;
            for index in 1..self.len {
                let (start, end) = self.ranges[index];
                if start <= self.ranges[merged].1 {
                    self.ranges[merged].1 = self.ranges[merged].1.max(end);
                } else {
                    merged += 1;
                    self.ranges[merged] = (start, end);
                }
            }
            self.len = merged + 1;
        }
        fn as_slice(&self) -> &[(u64, u64)] {
            &self.ranges[..self.len]
        }
    }

    /// What memblock holds reserved at the end of the boot, listed from
    /// other sources: the first megabyte (page 0, the BIOS data, the EBDA
    /// and the ROMs: a literal 1 MiB), the kernel image from the linker
    /// symbols `_text` .. `_end`, every page table the direct map, the pkmap
    /// window and the fixmap use (found by walking `swapper_pg_dir`), and
    /// `mem_map` (where the node's descriptor array lies, and how long it
    /// is). Nothing more and nothing less.
    #[test_case]
    fn memblock_reserves_exactly_the_bios_megabyte_the_image_the_page_tables_and_mem_map() {
        let mut expected = RangeSet::new();
        expected.add(0, 0x10_0000);
        let image = sections::kernel_image();
        expected.add(__pa(image.start), __pa(image.end));
        let boot_pdes = (PAGE_OFFSET..high_memory())
            .step_by(layout::PMD_SIZE)
            .chain([layout::PKMAP_BASE, layout::FIXADDR_START]);
        let mut page_tables = 0;
        for vaddr in boot_pdes {
            let pde = paging::kernel_pde(vaddr);
            if pde.is_present() && !pde.is_large() {
                expected.add(pde.paddr(), pde.paddr() + PAGE_SIZE as u64);
                page_tables += 1;
            }
        }
        assert!(page_tables >= 2, "at least the pkmap and fixmap page tables");
        let mem_map = node().node_mem_map().pages();
        let mem_map_start = __pa(mem_map.as_ptr() as usize);
        expected.add(mem_map_start, mem_map_start + core::mem::size_of_val(mem_map) as u64);

        let memblock = MEMBLOCK.lock();
        let mut reserved = RangeSet::new();
        for region in memblock.reserved.regions() {
            reserved.add(region.base, region.end());
        }
        assert_eq!(reserved.as_slice(), expected.as_slice(), "memblock.reserved against the independent list");
    }

    #[test_case]
    fn memory_line_agrees_with_the_zones() {
        let node = node();
        let info = MemInitInfo::gather(node);
        let present: usize = ZoneType::ALL.iter().map(|&z| node.zone(z).lock().present_pages()).sum();
        let managed: usize = ZoneType::ALL.iter().map(|&z| node.zone(z).lock().managed_pages()).sum();
        assert_eq!(info.physpages_kib, present * 4);
        assert_eq!(info.available_kib, managed * 4);
        assert_eq!(info.reserved_kib, (present - managed) * 4);
        assert_eq!(info.highmem_kib, node.zone(ZoneType::HighMem).lock().managed_pages() * 4);
        assert_eq!(info.code_kib, (sections::text().end - sections::text().start) >> 10);
        assert!(info.code_kib > 0 && info.bss_kib > 0);
    }

    #[test_case]
    fn direct_map_translates_every_sampled_frame() {
        let max_low = max_low_pfn();
        let full_4m_chunks_end = max_low & !1023;
        let expect_pse = crate::arch::x86::cpu::cpu_has_pse() && !boot_data().params.nopse;
        assert_eq!(direct_map_uses_pse(), expect_pse);
        let samples = [0, 1, 255, 256, 1023, 1024, 4095, 4096, full_4m_chunks_end.saturating_sub(1), max_low - 1]
            .into_iter()
            .chain((0..64).map(|i| i * max_low / 64));
        for pfn in samples {
            let paddr = (pfn as u64) << PAGE_SHIFT;
            let translation = lookup_address(__va(paddr) + 0x123)
                .unwrap_or_else(|| panic!("direct-map address of pfn {pfn:#x} is not mapped"));
            assert_eq!(translation.paddr, paddr + 0x123, "pfn {pfn:#x}");
            assert_eq!(translation.large, expect_pse && pfn < full_4m_chunks_end, "page size for pfn {pfn:#x}");
        }
        assert_eq!(lookup_address(high_memory()), None, "nothing mapped right after the direct map");
        assert_eq!(lookup_address(0x0010_0000), None, "no identity mapping");
    }

    #[test_case]
    fn writes_through_the_direct_map_reach_the_frame() {
        let node = node();
        let page = node.alloc_page(GfpFlags::GFP_KERNEL).expect("a free low page");
        let vaddr = page_address(page).expect("low pages have an address");
        let pfn = page_to_pfn(page);
        assert_eq!(lookup_address(vaddr).map(|t| t.paddr), Some((pfn as u64) << PAGE_SHIFT));
        let words = vaddr as *mut u32;
        for index in 0..1024 {
            // SAFETY: the page was allocated above and is mapped at `vaddr`.
            unsafe { words.add(index).write_volatile(pfn as u32 ^ index as u32) };
        }
        for index in 0..1024 {
            // SAFETY: as above.
            assert_eq!(unsafe { words.add(index).read_volatile() }, pfn as u32 ^ index as u32);
        }
        node.__free_page(page);
    }
}
