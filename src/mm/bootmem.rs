//! # Handing boot memory to the buddy allocator (`mem_init`)
//!
//! Until `mem_init`, memblock owns all memory and every page descriptor says
//! "reserved" (see `free_area_init_node`). `mem_init` ends that era: every
//! frame memblock did not keep is "freed" into the buddy allocator, which
//! from then on is the only page-frame allocator (seed 002). Two halves:
//!
//! * **High memory** (`set_highmem_pages_init`, arch code): for every free
//!   memblock range, every frame of it that lies in ZONE_HIGHMEM is released
//!   one by one through `free_highmem_page` → `__free_reserved_page` →
//!   `__free_page`, counting `totalram_pages`, `totalhigh_pages` and the
//!   zone's `managed_pages` as it goes.
//! * **Low memory** (`free_all_bootmem`, generic code): every free memblock
//!   range below `max_low_pfn` is cut into the largest aligned blocks that
//!   fit (`__free_pages_memory`) and each block is released in one go
//!   through `__free_pages_bootmem` → `__free_pages`. The count is added to
//!   `totalram_pages`.
//!
//! Releasing a block is just the buddy allocator's free path: the pages are
//! cleared of `PG_reserved`, given a single reference, and `__free_pages`
//! drops that reference and merges the block into the free lists. So after
//! `mem_init` the free lists already hold maximal blocks.
//!
//! ## `managed_pages` and the two resets
//! Both halves count `zone->managed_pages` from zero, and both start with
//! `reset_all_zones_managed_pages()`: `set_highmem_pages_init` because on
//! i386 it runs first (seed 002 points this out), and `free_all_bootmem`
//! because on architectures without high memory it is the first. Read
//! naively, the second reset would wipe the HighMem counts the first half
//! just made. Linux avoids that with a once-only flag: the reset function
//! returns at once if `reset_managed_pages_done` is already set
//! (`mm/nobootmem.c`, later `mm/memblock.c`). Slightly older 3.x kernels
//! had no flag: `free_all_bootmem` zeroed only the low-memory zones and
//! HighMem kept its first estimate, `present_pages`, which overcounts by
//! the high frames memblock kept. We keep the flag in [`PgData`], so
//! whichever half runs first zeroes the counts, exactly once, and both
//! halves then add to them: every zone's `managed_pages` is exact.
//!
//! ## Where `max_low_pfn` comes from
//! `__free_memory_core` must not release high memory (that is the other
//! half's job, page by page). Linux reads the global `max_low_pfn`; we read
//! the same number from the node, where it was given as the end of ZONE_NORMAL
//! ([`PgData::max_low_pfn`]).
//!
//! ## Linux source
//! `arch/x86/mm/init_32.c` (`mem_init`, `add_highpages_with_active_regions`),
//! `arch/x86/mm/highmem_32.c` (`set_highmem_pages_init`), `mm/nobootmem.c`
//! (`free_all_bootmem`, `free_low_memory_core_early`, `__free_memory_core`,
//! `__free_pages_memory`, `reset_all_zones_managed_pages`),
//! `mm/page_alloc.c` (`__free_pages_bootmem`, `free_highmem_page`),
//! `include/linux/mm.h` (`__free_reserved_page`).
//!
//! ## What we simplified and why
//! * The free ranges come in as an iterator of `[start, end)` physical byte
//!   ranges (`mem_init` passes memblock's free ranges, Linux's
//!   `for_each_free_mem_range`), so this file does not depend on the
//!   memblock type.
//! * Linux also frees memblock's own region arrays when they were allocated
//!   at run time (`CONFIG_ARCH_DISCARD_MEMBLOCK`); ours are static, so there
//!   is nothing to free.
//! * Each release is checked before anything is changed: a block that is not
//!   made of reserved boot pages inside one zone (for instance because the
//!   same range was passed twice) is reported and skipped, so no page is
//!   freed twice or counted twice. The functions return the pages actually
//!   released, where Linux returns the size of the range.

use core::sync::atomic::Ordering;

use super::mmzone::{PgData, ZoneType};
use super::page::Page;
use super::{MAX_ORDER, pfn_down, pfn_up};

/// The blocks `__free_pages_memory` cuts `[start_pfn, end_pfn)` into: at each
/// step the largest order the start PFN is aligned to (`__ffs(start)`, capped
/// at `MAX_ORDER - 1`), lowered until the block fits before `end_pfn`.
///
/// PFN 0 is aligned to every order; `trailing_zeros` says so (it returns the
/// width of the word), where Linux's `__ffs(0)` is undefined and later
/// kernels special-case it.
pub fn aligned_chunks(start_pfn: usize, end_pfn: usize) -> impl Iterator<Item = (usize, usize)> {
    let mut pfn = start_pfn;
    core::iter::from_fn(move || {
        if pfn >= end_pfn {
            return None;
        }
        let mut order = (MAX_ORDER - 1).min(pfn.trailing_zeros() as usize);
        while pfn + (1 << order) > end_pfn {
            order -= 1;
        }
        let chunk = (pfn, order);
        pfn += 1 << order;
        Some(chunk)
    })
}

/// Zero `managed_pages` in every zone, the first time only (Linux
/// `reset_all_zones_managed_pages`; see the module doc for why the
/// second call must do nothing).
pub fn reset_all_zones_managed_pages(pgdat: &PgData) {
    if pgdat.reset_managed_pages_done.swap(true, Ordering::AcqRel) {
        return;
    }
    for zone in &pgdat.node_zones {
        zone.lock().managed_pages = 0;
    }
}

/// Is the order-`order` block at `page` made of boot pages that may be
/// handed to the buddy allocator? It must be a valid block of this node
/// inside one zone, and every page of it must still be reserved, not
/// free and not mapped. A failure is reported and nothing is changed.
/// Returns the block's PFN if so.
fn check_boot_block(pgdat: &PgData, page: &Page, order: usize) -> Option<usize> {
    let Some(pfn) = pgdat.page_to_pfn(page) else {
        log::error!("mem_init: {:p} is not a page descriptor of this node", page);
        return None;
    };
    if order >= MAX_ORDER
        || pfn & ((1 << order) - 1) != 0
        || !pgdat.block_inside_its_zone(page, pfn, order)
    {
        log::error!(
            "mem_init: pfn {pfn:#x} order {order} is not a block inside one zone, not freed"
        );
        return None;
    }
    let block = &pgdat.node_mem_map().pages()[pfn..][..1 << order];
    match block
        .iter()
        .find(|p| !p.is_reserved() || p.is_buddy() || p.page_mapcount() != 0)
    {
        Some(bad) => {
            pgdat.bad_page(
                bad,
                "releasing boot memory that is not reserved (freed twice?)",
            );
            None
        }
        None => Some(pfn),
    }
}

/// Release an order-`order` block of boot memory into the buddy
/// allocator (Linux `__free_pages_bootmem`). Returns the number of pages
/// released: `2^order`, or 0 if the block was refused.
///
/// Every page loses `PG_reserved` and gets count 0 (the state of a tail
/// page in the buddy allocator); the zone's `managed_pages` grows by the
/// block; the head gets one reference, which `__free_pages` then drops,
/// freeing and merging the whole block.
pub fn __free_pages_bootmem(pgdat: &PgData, page: &Page, order: usize) -> usize {
    let Some(pfn) = check_boot_block(pgdat, page, order) else {
        return 0;
    };
    let nr_pages = 1 << order;
    for p in &pgdat.node_mem_map().pages()[pfn..][..nr_pages] {
        p.clear_reserved();
        p.set_page_count(0);
    }
    pgdat.page_zone(page).lock().managed_pages += nr_pages;
    page.set_page_refcounted();
    pgdat.__free_pages(page, order);
    nr_pages
}

/// Release the frames `[start_pfn, end_pfn)` in the largest aligned
/// blocks that fit (Linux `__free_pages_memory`; the cutting rule is
/// [`aligned_chunks`]). Returns the pages released.
///
/// The range is first cut at zone boundaries, because a block must lie in
/// one zone. Linux does not need that step: its zone boundaries (16 MiB,
/// `max_low_pfn` = 896 MiB or the end of RAM) are multiples of the
/// largest block, so no aligned block can straddle one. Our zones may end
/// anywhere (small test machines), so we cut. Frames outside every zone
/// have no free list to go to; they stay reserved, with a warning.
fn __free_pages_memory(pgdat: &PgData, start_pfn: usize, end_pfn: usize) -> usize {
    let mut nr_released = 0;
    let mut nr_in_zones = 0;
    for zone in &pgdat.node_zones {
        let (zone_start_pfn, zone_end_pfn) = {
            let zone = zone.lock();
            (zone.zone_start_pfn(), zone.zone_end_pfn())
        };
        let (start, end) = (start_pfn.max(zone_start_pfn), end_pfn.min(zone_end_pfn));
        if start >= end {
            continue;
        }
        nr_in_zones += end - start;
        for (pfn, order) in aligned_chunks(start, end) {
            if let Some(page) = pgdat.pfn_to_page(pfn) {
                nr_released += __free_pages_bootmem(pgdat, page, order);
            }
        }
    }
    if nr_in_zones != end_pfn - start_pfn {
        log::warn!(
            "mem_init: free pfns {start_pfn:#x}-{end_pfn:#x} are partly outside every zone; those stay reserved"
        );
    }
    nr_released
}

/// Release the whole pages of the free byte range `[start, end)` that lie
/// below `max_low_pfn` (Linux `__free_memory_core`): partial pages at the
/// ends stay reserved (`PFN_UP` / `PFN_DOWN`), and high memory is left to
/// [`set_highmem_pages_init`]. Returns the pages released.
fn __free_memory_core(pgdat: &PgData, start: u64, end: u64) -> usize {
    let start_pfn = pfn_up(start);
    let end_pfn = pfn_down(end).min(pgdat.max_low_pfn() as u64);
    if start_pfn >= end_pfn {
        return 0;
    }
    // Both are now below max_low_pfn, which is a usize.
    __free_pages_memory(pgdat, start_pfn as usize, end_pfn as usize)
}

/// Release every free range's low memory (Linux
/// `free_low_memory_core_early`). Returns the pages released.
fn free_low_memory_core_early(
    pgdat: &PgData,
    free_ranges: impl Iterator<Item = (u64, u64)>,
) -> usize {
    free_ranges
        .map(|(start, end)| __free_memory_core(pgdat, start, end))
        .sum()
}

/// Put all free low memory onto the buddy free lists (Linux
/// `free_all_bootmem`): reset the managed counts (a no-op if
/// `set_highmem_pages_init` already did), release the ranges, and add the
/// pages released to `totalram_pages`. Returns the pages released.
///
/// `free_ranges` are memblock's free ranges in bytes
/// (`memblock.free_mem_ranges()`).
pub fn free_all_bootmem(pgdat: &PgData, free_ranges: impl Iterator<Item = (u64, u64)>) -> usize {
    reset_all_zones_managed_pages(pgdat);
    let nr_pages = free_low_memory_core_early(pgdat, free_ranges);
    pgdat.totalram_pages.fetch_add(nr_pages, Ordering::Relaxed);
    nr_pages
}

/// Release the free high memory (Linux `set_highmem_pages_init`, called
/// by `mem_init` *before* `free_all_bootmem`): reset the managed counts,
/// then, for the HighMem zone, release every free frame of it.
///
/// `free_ranges` are memblock's free ranges in bytes, as for
/// [`free_all_bootmem`].
pub fn set_highmem_pages_init(pgdat: &PgData, free_ranges: impl Iterator<Item = (u64, u64)>) {
    reset_all_zones_managed_pages(pgdat);
    let (zone_start_pfn, zone_end_pfn) = {
        let zone = pgdat.zone(ZoneType::HighMem).lock();
        (zone.zone_start_pfn(), zone.zone_end_pfn())
    };
    log::info!("Initializing HighMem for node 0 ({zone_start_pfn:08x}:{zone_end_pfn:08x})");
    add_highpages_with_active_regions(pgdat, zone_start_pfn, zone_end_pfn, free_ranges);
}

/// Release, page by page, the frames of the free byte ranges that fall
/// inside `[start_pfn, end_pfn)` (Linux
/// `add_highpages_with_active_regions`): each range is clamped to the
/// zone, and every frame with a descriptor goes to
/// [`free_highmem_page`].
fn add_highpages_with_active_regions(
    pgdat: &PgData,
    start_pfn: usize,
    end_pfn: usize,
    free_ranges: impl Iterator<Item = (u64, u64)>,
) {
    let clamp = |pfn: u64| pfn.clamp(start_pfn as u64, end_pfn as u64) as usize;
    for (start, end) in free_ranges {
        for pfn in clamp(pfn_up(start))..clamp(pfn_down(end)) {
            if let Some(page) = pgdat.pfn_to_page(pfn) {
                free_highmem_page(pgdat, page);
            }
        }
    }
}

/// Release one high-memory boot frame and count it (Linux
/// `free_highmem_page`): `totalram_pages`, `totalhigh_pages` and the
/// zone's `managed_pages` each grow by one. A frame that is not in
/// ZONE_HIGHMEM is refused: counting it in `totalhigh_pages` would be
/// wrong.
pub fn free_highmem_page(pgdat: &PgData, page: &Page) {
    if !page.is_highmem() {
        log::error!("free_highmem_page: page is not in ZONE_HIGHMEM, not freed");
        return;
    }
    if __free_reserved_page(pgdat, page) {
        pgdat.totalram_pages.fetch_add(1, Ordering::Relaxed);
        pgdat.page_zone(page).lock().managed_pages += 1;
        pgdat.totalhigh_pages.fetch_add(1, Ordering::Relaxed);
    }
}

/// Hand one reserved frame to the buddy allocator (Linux
/// `__free_reserved_page`): clear `PG_reserved`, give it one reference,
/// and free it with `__free_page`. Returns whether the frame was released;
/// a frame that is not a reserved boot page inside a zone is reported and
/// left alone.
pub fn __free_reserved_page(pgdat: &PgData, page: &Page) -> bool {
    if check_boot_block(pgdat, page, 0).is_none() {
        return false;
    }
    page.clear_reserved();
    page.init_page_count();
    pgdat.__free_page(page);
    true
}

#[cfg(all(test, not(target_os = "none")))]
mod tests {
    use super::super::mmzone::MAX_NR_ZONES;
    use super::super::mmzone::test_support::node;
    use super::super::{PAGE_SIZE, pfn_phys};
    use super::*;

    const PAGE: u64 = PAGE_SIZE as u64;

    fn bytes(start_pfn: u64, end_pfn: u64) -> (u64, u64) {
        (pfn_phys(start_pfn), pfn_phys(end_pfn))
    }

    /// A 2048-page synthetic machine: DMA [0,256), Normal [256,1024),
    /// HighMem [1024,2048). RAM from PFN 1 with a hole at [0x9f,0x100);
    /// memblock kept PFN 2 (say, a trampoline) and [256,384) (the kernel).
    fn machine() -> (PgData, Vec<(u64, u64)>) {
        let memory = [(1, 0x9f), (0x100, 2048)];
        let pgdat = node(2048, [256, 1024, 2048], &memory);
        let free = vec![bytes(1, 2), bytes(3, 0x9f), bytes(384, 2048)];
        (pgdat, free)
    }

    fn mem_init(pgdat: &PgData, free: &[(u64, u64)]) -> usize {
        set_highmem_pages_init(pgdat, free.iter().copied());
        free_all_bootmem(pgdat, free.iter().copied())
    }

    fn zone_numbers(pgdat: &PgData, zone: ZoneType) -> (usize, usize, [usize; MAX_ORDER]) {
        let zone = pgdat.zone(zone).lock();
        zone.check_free_lists().unwrap();
        (zone.managed_pages(), zone.free_pages(), zone.buddyinfo())
    }

    #[test]
    fn chunks_follow_the_ffs_rule() {
        let chunks: Vec<_> = aligned_chunks(3, 37).collect();
        assert_eq!(chunks, [(3, 0), (4, 2), (8, 3), (16, 4), (32, 2), (36, 0)]);
        // Alignment caps at MAX_ORDER - 1, including PFN 0.
        let chunks: Vec<_> = aligned_chunks(0, 4096).collect();
        assert_eq!(chunks, [(0, 10), (1024, 10), (2048, 10), (3072, 10)]);
        assert_eq!(aligned_chunks(5, 5).count(), 0);
        for (pfn, order) in aligned_chunks(12345, 98765) {
            assert_eq!(pfn % (1 << order), 0);
        }
        assert_eq!(
            aligned_chunks(12345, 98765)
                .map(|(_, order)| 1 << order)
                .sum::<usize>(),
            98765 - 12345
        );
    }

    #[test]
    fn blocks_released_by_free_pages_memory_stay_as_cut_when_they_cannot_merge() {
        let pgdat = node(64, [64, 64, 64], &[(0, 64)]);
        reset_all_zones_managed_pages(&pgdat);
        assert_eq!(__free_pages_memory(&pgdat, 3, 37), 34);
        // 3 (o0), 4-7 (o2), 8-15 (o3), 16-31 (o4), 32-35 (o2), 36 (o0): no
        // block's buddy is free, so nothing merges.
        assert_eq!(
            zone_numbers(&pgdat, ZoneType::Dma),
            (34, 34, [2, 0, 2, 1, 1, 0, 0, 0, 0, 0, 0])
        );
    }

    #[test]
    fn mem_init_fills_every_zone_with_exact_counts() {
        let (pgdat, free) = machine();
        let low = mem_init(&pgdat, &free);
        // DMA: PFNs 1 and 3..0x9f; Normal: 384..1024; HighMem: 1024..2048.
        assert_eq!(low, 1 + (0x9f - 3) + 640);
        let dma = zone_numbers(&pgdat, ZoneType::Dma);
        assert_eq!((dma.0, dma.1), (1 + 0x9c, 1 + 0x9c));
        // 384..1024 = an order-7 block at 384 and an order-9 block at 512.
        assert_eq!(
            zone_numbers(&pgdat, ZoneType::Normal),
            (640, 640, [0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0])
        );
        // High memory was freed page by page and merged into one 4 MiB block.
        assert_eq!(
            zone_numbers(&pgdat, ZoneType::HighMem),
            (1024, 1024, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])
        );
        assert_eq!(pgdat.totalram_pages(), low + 1024);
        assert_eq!(pgdat.totalhigh_pages(), 1024);
    }

    #[test]
    fn free_plus_reserved_equals_present_in_every_zone() {
        let (pgdat, free) = machine();
        mem_init(&pgdat, &free);
        let memory = |pfn: usize| (1..0x9f).contains(&pfn) || (0x100..2048).contains(&pfn);
        for zone_type in ZoneType::ALL {
            let zone = pgdat.zone(zone_type).lock();
            let reserved_ram = (zone.zone_start_pfn()..zone.zone_end_pfn())
                .filter(|&pfn| memory(pfn) && pgdat.pfn_to_page(pfn).unwrap().is_reserved())
                .count();
            assert_eq!(zone.free_pages(), zone.managed_pages());
            assert_eq!(
                zone.free_pages() + reserved_ram,
                zone.present_pages(),
                "zone {}",
                zone.name()
            );
        }
        // The reserved pages are exactly the kept ones, plus the holes.
        assert!(pgdat.pfn_to_page(2).unwrap().is_reserved());
        assert!(pgdat.pfn_to_page(0x9f).unwrap().is_reserved());
        assert!(pgdat.pfn_to_page(300).unwrap().is_reserved());
        assert!(!pgdat.pfn_to_page(384).unwrap().is_reserved());
    }

    #[test]
    fn second_reset_keeps_the_highmem_counts() {
        let (pgdat, free) = machine();
        set_highmem_pages_init(&pgdat, free.iter().copied());
        assert_eq!(zone_numbers(&pgdat, ZoneType::HighMem).0, 1024);
        // Low zones were reset to 0 by the first reset.
        assert_eq!(zone_numbers(&pgdat, ZoneType::Normal).0, 0);
        free_all_bootmem(&pgdat, free.iter().copied());
        assert_eq!(zone_numbers(&pgdat, ZoneType::HighMem).0, 1024);
        assert_eq!(zone_numbers(&pgdat, ZoneType::Normal).0, 640);
    }

    #[test]
    fn free_all_bootmem_alone_resets_the_initial_estimate() {
        let (pgdat, free) = machine();
        // free_area_init_node's estimate: managed = present.
        assert_eq!(zone_numbers(&pgdat, ZoneType::Normal).0, 768);
        let low = free_all_bootmem(&pgdat, free.iter().copied());
        assert_eq!(zone_numbers(&pgdat, ZoneType::Normal).0, 640);
        // High memory is not touched by the low-memory half.
        assert_eq!(
            zone_numbers(&pgdat, ZoneType::HighMem),
            (0, 0, [0; MAX_ORDER])
        );
        assert_eq!(pgdat.totalram_pages(), low);
    }

    #[test]
    fn partial_pages_at_range_ends_stay_reserved() {
        let pgdat = node(64, [64, 64, 64], &[(0, 64)]);
        // [4 KiB + 1, 12 KiB - 1) holds no whole page: PFN_UP gives 2,
        // PFN_DOWN gives 2.
        assert_eq!(
            free_all_bootmem(&pgdat, [(PAGE + 1, 3 * PAGE - 1)].into_iter()),
            0
        );
        // [4 KiB + 1, 16 KiB): PFNs 2 and 3.
        assert_eq!(
            free_all_bootmem(&pgdat, [(PAGE + 1, 4 * PAGE)].into_iter()),
            2
        );
        assert!(pgdat.pfn_to_page(1).unwrap().is_reserved());
        assert!(!pgdat.pfn_to_page(2).unwrap().is_reserved());
    }

    #[test]
    fn a_range_passed_twice_is_released_once() {
        let (pgdat, free) = machine();
        let low = mem_init(&pgdat, &free);
        let reports = pgdat.nr_bad_page_reports();
        let before = ZoneType::ALL.map(|zone| zone_numbers(&pgdat, zone));
        // Again: every block is refused and reported, nothing is counted.
        assert_eq!(mem_init(&pgdat, &free), 0);
        assert!(pgdat.nr_bad_page_reports() > reports);
        assert_eq!(ZoneType::ALL.map(|zone| zone_numbers(&pgdat, zone)), before);
        assert_eq!(pgdat.totalram_pages(), low + 1024);
        assert_eq!(pgdat.totalhigh_pages(), 1024);
    }

    #[test]
    fn low_free_ranges_do_not_leak_into_high_memory() {
        let (pgdat, _) = machine();
        // One range across the Normal/HighMem boundary.
        let low = free_all_bootmem(&pgdat, [bytes(900, 1100)].into_iter());
        assert_eq!(low, 1024 - 900);
        assert!(pgdat.pfn_to_page(1024).unwrap().is_reserved());
        set_highmem_pages_init(&pgdat, [bytes(900, 1100)].into_iter());
        assert_eq!(pgdat.totalhigh_pages(), 1100 - 1024);
        assert_eq!(pgdat.totalram_pages(), 1100 - 900);
    }

    #[test]
    fn free_highmem_page_refuses_low_pages_and_non_reserved_pages() {
        let (pgdat, _) = machine();
        let low_page = pgdat.pfn_to_page(500).unwrap();
        free_highmem_page(&pgdat, low_page);
        assert!(low_page.is_reserved());
        let high_page = pgdat.pfn_to_page(1500).unwrap();
        free_highmem_page(&pgdat, high_page);
        free_highmem_page(&pgdat, high_page);
        assert_eq!(pgdat.totalhigh_pages(), 1);
        assert_eq!(zone_numbers(&pgdat, ZoneType::HighMem).1, 1);
    }

    #[test]
    fn pages_outside_every_zone_are_never_released() {
        let (pgdat, _) = machine();
        // PFN 0 has a descriptor but RAM starts at PFN 1, so it is in no zone.
        assert!(!__free_reserved_page(&pgdat, pgdat.pfn_to_page(0).unwrap()));
        assert!(pgdat.pfn_to_page(0).unwrap().is_reserved());
        assert_eq!(
            __free_pages_bootmem(&pgdat, pgdat.pfn_to_page(0).unwrap(), 1),
            0
        );
        let zone_sizes: [usize; MAX_NR_ZONES] =
            ZoneType::ALL.map(|zone| zone_numbers(&pgdat, zone).1);
        assert_eq!(zone_sizes, [0; MAX_NR_ZONES]);
    }

    #[test]
    fn a_boot_block_crossing_a_zone_boundary_is_refused() {
        // DMA [0,64), Normal [64,256): [0,128) is aligned but spans both.
        let pgdat = node(256, [64, 256, 256], &[(0, 256)]);
        let first = pgdat.pfn_to_page(0).unwrap();
        assert_eq!(__free_pages_bootmem(&pgdat, first, 7), 0);
        assert!(first.is_reserved() && pgdat.pfn_to_page(100).unwrap().is_reserved());
        // The same range given as a free range is cut at the boundary.
        assert_eq!(free_all_bootmem(&pgdat, [bytes(0, 128)].into_iter()), 128);
        assert_eq!(
            zone_numbers(&pgdat, ZoneType::Dma).2,
            [0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]
        );
        assert_eq!(
            zone_numbers(&pgdat, ZoneType::Normal).2,
            [0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]
        );
    }
}
