//! # Migrate types: grouping free pages by mobility
//!
//! A buddy allocator fragments: after a while every 4 MiB stretch of a zone
//! holds a few pages that will never be freed (page tables, kernel data), and
//! no large block can be formed any more even though half the memory is
//! free. Since 2.6.24 Linux fights this by *grouping pages by mobility*:
//!
//! * each allocation says what kind of page it wants through its GFP flags
//!   ([`allocflags_to_migratetype`]): **unmovable** (kernel data: stays
//!   where it is until freed), **reclaimable** (caches the kernel can drop
//!   under pressure) or **movable** (user pages, page cache: could be
//!   migrated or simply dropped and re-read);
//! * memory is cut into *pageblocks* of `2^pageblock_order` pages (here
//!   [`PAGEBLOCK_ORDER`] = `MAX_ORDER - 1`: one largest buddy block, 4 MiB),
//!   and every pageblock carries a type ([`get_pageblock_migratetype`]);
//! * every `free_area[order]` has one free list per type, and a free block
//!   goes onto the list of its pageblock's type;
//! * an allocation is served from its own type's lists
//!   ([`Zone::__rmqueue_smallest`]). Only when they are empty does it *fall
//!   back* to another type ([`Zone::__rmqueue_fallback`], order of preference
//!   in [`FALLBACKS`]), and then it takes the **largest** block available:
//!   if it has to pollute a foreign pageblock it may as well take a lot of
//!   it, and when it takes at least half of a pageblock it claims the whole
//!   pageblock ([`Zone::move_freepages_block`] moves the other free pages
//!   of the pageblock to its own lists, and the pageblock changes type).
//!   Unmovable allocations thus end up concentrated in few pageblocks, and
//!   the rest of memory stays free or movable, which is what large
//!   allocations, memory compaction and hot-remove need.
//! * `MIGRATE_RESERVE`: a few pageblocks per zone, as many as the zone's
//!   `pages_min` needs, are set apart ([`Zone::setup_zone_migrate_reserve`])
//!   and only used when every other list is empty, so that high-order atomic
//!   allocations have a last chance.
//!
//! ## Where it sits in boot
//! `free_area_init_node` marks every pageblock movable (Linux
//! `memmap_init_zone`), so `mem_init` frees all memory onto the movable
//! lists; the first unmovable allocations steal whole pageblocks from them.
//! `init_per_zone_pages_min` (`watermark.rs`) then sets up the reserve.
//!
//! ## Linux source
//! `include/linux/mmzone.h` (`MIGRATE_*`, `free_area.free_list[]`),
//! `include/linux/pageblock-flags.h`, `include/linux/gfp.h`
//! (`allocflags_to_migratetype`), `mm/page_alloc.c` (`fallbacks[][]`,
//! `__rmqueue_smallest`, `__rmqueue_fallback`, `move_freepages`,
//! `move_freepages_block`, `set_pageblock_migratetype`,
//! `setup_zone_migrate_reserve`), as of 2.6.24–2.6.32.
//!
//! ## What we simplified and why
//! * No `MIGRATE_ISOLATE` (memory hot-remove) and no `ZONE_MOVABLE`: four
//!   types fit in two bits per pageblock.
//! * No separate pageblock bitmap: there is no heap to size one at boot, so
//!   a pageblock's type lives in two spare bits of its first page
//!   descriptor (`page.rs`). It can be read without the zone lock, which the
//!   per-CPU free path needs.
//! * [`Zone::move_freepages_block`] clips the pageblock at *both* ends of the
//!   zone. Linux clips the start and refuses (moves nothing) when the
//!   pageblock runs past the zone's end; our test machines have zones
//!   smaller than a pageblock, where that rule would switch grouping off.
//! * `page_group_by_mobility_disabled` (small machines, and the benchmark's
//!   "without migratetypes" run) makes every request unmovable, as in 2.6.24.

use super::MAX_ORDER;
use super::gfp::GfpFlags;
use super::mmzone::Zone;
use super::page::MemMap;
use super::page_alloc::rmv_page_order;
use super::vmstat::VmEventItem;

/// The mobility of a page (Linux `MIGRATE_*`). The value indexes
/// `free_area[order].free_list[]` and the per-CPU lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MigrateType {
    /// Kernel data that stays where it is until it is freed.
    Unmovable = 0,
    /// Caches the kernel can drop under memory pressure (e.g. slab caches
    /// with a shrinker).
    Reclaimable = 1,
    /// Pages whose contents could be moved elsewhere or dropped and read
    /// again: user memory, page cache.
    Movable = 2,
    /// The emergency reserve: used only when every other list is empty.
    Reserve = 3,
}

/// Linux's name for [`MigrateType::Unmovable`].
pub const MIGRATE_UNMOVABLE: MigrateType = MigrateType::Unmovable;
/// Linux's name for [`MigrateType::Reclaimable`].
pub const MIGRATE_RECLAIMABLE: MigrateType = MigrateType::Reclaimable;
/// Linux's name for [`MigrateType::Movable`].
pub const MIGRATE_MOVABLE: MigrateType = MigrateType::Movable;
/// Linux's name for [`MigrateType::Reserve`].
pub const MIGRATE_RESERVE: MigrateType = MigrateType::Reserve;
/// Number of migrate types (Linux `MIGRATE_TYPES`).
pub const MIGRATE_TYPES: usize = 4;
/// The types that have a per-CPU list (Linux `MIGRATE_PCPTYPES`): the
/// reserve has none, its pages are kept on the movable list.
pub const MIGRATE_PCPTYPES: usize = 3;

impl MigrateType {
    /// Every type, in index order.
    pub const ALL: [MigrateType; MIGRATE_TYPES] = [
        MigrateType::Unmovable,
        MigrateType::Reclaimable,
        MigrateType::Movable,
        MigrateType::Reserve,
    ];

    /// The type with index `index` (only the low two bits are looked at).
    pub const fn from_index(index: usize) -> MigrateType {
        match index % MIGRATE_TYPES {
            0 => MigrateType::Unmovable,
            1 => MigrateType::Reclaimable,
            2 => MigrateType::Movable,
            _ => MigrateType::Reserve,
        }
    }

    /// The name `/proc/pagetypeinfo` prints (Linux `migratetype_names[]`).
    #[doc(alias = "migratetype_names")]
    pub const fn name(self) -> &'static str {
        match self {
            MigrateType::Unmovable => "Unmovable",
            MigrateType::Reclaimable => "Reclaimable",
            MigrateType::Movable => "Movable",
            MigrateType::Reserve => "Reserve",
        }
    }
}

/// log2 of the pages in a pageblock (Linux `pageblock_order`): the largest
/// buddy block, as Linux uses without huge pages.
#[doc(alias = "pageblock_order")]
pub const PAGEBLOCK_ORDER: usize = MAX_ORDER - 1;
/// Pages in a pageblock (Linux `pageblock_nr_pages`): 1024, i.e. 4 MiB.
#[doc(alias = "pageblock_nr_pages")]
pub const PAGEBLOCK_NR_PAGES: usize = 1 << PAGEBLOCK_ORDER;

/// The migrate type a request with `gfp_mask` is served from (Linux
/// `allocflags_to_migratetype`): `__GFP_MOVABLE` gives movable,
/// `__GFP_RECLAIMABLE` reclaimable, neither unmovable. With grouping
/// disabled every request is unmovable.
///
/// Setting both bits is a caller bug (Linux warns and computes the reserve
/// by accident); we warn and treat the request as movable.
pub fn allocflags_to_migratetype(gfp_mask: GfpFlags, mobility_disabled: bool) -> MigrateType {
    if mobility_disabled {
        return MigrateType::Unmovable;
    }
    // Linux's arithmetic: the movable bit gives 2, the reclaimable bit 1,
    // which are those types' numbers; no branch on the common path.
    let movable = gfp_mask.contains(GfpFlags::__GFP_MOVABLE) as usize;
    let reclaimable = gfp_mask.contains(GfpFlags::__GFP_RECLAIMABLE) as usize;
    match (movable << 1) | reclaimable {
        3 => {
            log::warn!(
                "allocflags_to_migratetype: mode {:#x} is both movable and reclaimable; treated as movable",
                gfp_mask.bits()
            );
            MigrateType::Movable
        }
        index => MigrateType::from_index(index),
    }
}

/// Which lists a request falls back to when its own type's lists are empty,
/// in order of preference (Linux `fallbacks[][]`). Unmovable and
/// reclaimable prefer each other (both are kernel memory), movable prefers
/// reclaimable (which at least can be dropped). The reserve comes last and is
/// only used by [`Zone::__rmqueue`](super::mmzone::Zone) after the fallback
/// failed; its own row is never read.
#[doc(alias = "fallbacks")]
pub const FALLBACKS: [[MigrateType; MIGRATE_TYPES - 1]; MIGRATE_TYPES] = [
    [MIGRATE_RECLAIMABLE, MIGRATE_MOVABLE, MIGRATE_RESERVE],
    [MIGRATE_UNMOVABLE, MIGRATE_MOVABLE, MIGRATE_RESERVE],
    [MIGRATE_RECLAIMABLE, MIGRATE_UNMOVABLE, MIGRATE_RESERVE],
    [MIGRATE_RESERVE, MIGRATE_RESERVE, MIGRATE_RESERVE],
];

/// First PFN of the pageblock containing `pfn`.
pub const fn pageblock_start_pfn(pfn: usize) -> usize {
    pfn & !(PAGEBLOCK_NR_PAGES - 1)
}

/// The type of the pageblock containing `pfn` (Linux
/// `get_pageblock_migratetype`), read from the pageblock's first descriptor
/// in the node's map (which starts at PFN 0, so that descriptor exists
/// whenever `pfn`'s does). No lock is needed: the free path reads it
/// without the zone lock, as Linux reads its bitmap. A pageblock that
/// straddles a zone boundary (only on our odd-sized test machines) has one
/// type for both zones, as with Linux's SPARSEMEM.
pub fn get_pageblock_migratetype(node_map: &MemMap<'_>, pfn: usize) -> MigrateType {
    node_map
        .pfn_to_page(pageblock_start_pfn(pfn))
        .map_or(MIGRATE_UNMOVABLE, |page| page.pageblock_migratetype_bits())
}

/// Set the type of every pageblock of `node_map` (what Linux's
/// `memmap_init_zone` does, pageblock by pageblock, at boot).
pub fn init_pageblock_migratetypes(node_map: &MemMap<'_>, migratetype: MigrateType) {
    for pfn in (node_map.start_pfn()..node_map.end_pfn()).step_by(PAGEBLOCK_NR_PAGES) {
        if let Some(page) = node_map.pfn_to_page(pageblock_start_pfn(pfn)) {
            page.set_pageblock_migratetype_bits(migratetype);
        }
    }
}

impl Zone {
    /// The type of the pageblock containing `pfn` (Linux
    /// `get_pageblock_migratetype`).
    pub fn get_pageblock_migratetype(&self, pfn: usize) -> MigrateType {
        get_pageblock_migratetype(&MemMap::new(0, self.node_mem_map), pfn)
    }

    /// Change the type of the pageblock containing `pfn` (Linux
    /// `set_pageblock_migratetype`); the zone lock is held. Free pages
    /// already on the lists stay where they are;
    /// [`Zone::move_freepages_block`] moves them.
    pub(super) fn set_pageblock_migratetype(&mut self, pfn: usize, migratetype: MigrateType) {
        if let Some(page) = self.node_mem_map.get(pageblock_start_pfn(pfn)) {
            page.set_pageblock_migratetype_bits(migratetype);
        }
    }

    /// The first PFN of the zone in each pageblock the zone overlaps
    /// (the zone's start for a pageblock that begins before it). Nothing
    /// for an empty zone.
    fn pageblock_first_pfns(&self) -> impl Iterator<Item = usize> + use<> {
        let (start, end) = (self.zone_start_pfn, self.zone_end_pfn());
        (pageblock_start_pfn(start)..end)
            .step_by(PAGEBLOCK_NR_PAGES)
            .map(move |block| block.max(start))
            .filter(move |&pfn| pfn < end)
    }

    /// Number of the zone's pageblocks of each type (the last table of
    /// `/proc/pagetypeinfo`, Linux `pagetypeinfo_showblockcount`).
    pub fn pageblock_counts(&self) -> [usize; MIGRATE_TYPES] {
        let mut counts = [0; MIGRATE_TYPES];
        for pfn in self.pageblock_first_pfns() {
            counts[self.get_pageblock_migratetype(pfn) as usize] += 1;
        }
        counts
    }

    /// Move every free block whose head lies in `[start_pfn, end_pfn)` to the
    /// `migratetype` lists of its order; returns the number of pages moved
    /// (Linux `move_freepages`). Walks the PFNs: a page that does not head a
    /// free block is stepped over one by one, a free block in one step.
    /// A block cannot run past `end_pfn` when the range is a pageblock,
    /// because no block is bigger than a pageblock and all are aligned.
    pub(super) fn move_freepages(
        &mut self,
        start_pfn: usize,
        end_pfn: usize,
        migratetype: MigrateType,
    ) -> usize {
        let map = self.mem_map();
        let mut pfn = start_pfn;
        let mut pages_moved = 0;
        while pfn < end_pfn {
            let page = self.zone_page(pfn);
            if !page.is_buddy() {
                pfn += 1;
                continue;
            }
            let order = page.page_order();
            let lists = &mut self.free_area[order].free_list;
            lists[page.get_freepage_migratetype() as usize].del(pfn, &map);
            lists[migratetype as usize].add(pfn, &map);
            page.set_freepage_migratetype(migratetype);
            pfn += 1 << order;
            pages_moved += 1 << order;
        }
        pages_moved
    }

    /// Move the free pages of the pageblock containing `pfn`, clipped to the
    /// zone, to the `migratetype` lists (Linux `move_freepages_block`).
    /// Returns the pages moved.
    pub(super) fn move_freepages_block(&mut self, pfn: usize, migratetype: MigrateType) -> usize {
        let block_start = pageblock_start_pfn(pfn);
        let start_pfn = block_start.max(self.zone_start_pfn);
        let end_pfn = (block_start + PAGEBLOCK_NR_PAGES).min(self.zone_end_pfn());
        self.move_freepages(start_pfn, end_pfn, migratetype)
    }

    /// Take a block of `order` from the `migratetype` lists only, splitting
    /// the smallest sufficient block (Linux `__rmqueue_smallest`: the plain
    /// buddy algorithm of `__rmqueue`, one type at a time). The halves split
    /// off go back on the same type's lists.
    pub(super) fn __rmqueue_smallest(
        &mut self,
        order: usize,
        migratetype: MigrateType,
    ) -> Option<usize> {
        let map = self.mem_map();
        for current_order in order..MAX_ORDER {
            let area = &mut self.free_area[current_order];
            let Some(pfn) = area.free_list[migratetype as usize].pop_front(&map) else {
                continue;
            };
            area.nr_free -= 1;
            rmv_page_order(self.zone_page(pfn));
            self.free_pages -= 1 << order;
            self.expand(pfn, order, current_order, migratetype);
            return Some(pfn);
        }
        None
    }

    /// Serve a `start_type` request of `order` from another type's lists
    /// (Linux `__rmqueue_fallback`, 2.6.24), when its own lists are empty.
    ///
    /// The search runs from the *largest* order down: polluting a foreign
    /// pageblock with one unmovable page is as bad as taking it all, so take
    /// big. Within an order the types are tried in [`FALLBACKS`] order, the
    /// reserve excluded. On the first block found:
    /// 1. If it is big (at least half a pageblock's order) or the request is
    ///    reclaimable (reclaimable caches grow fast, so they grab eagerly),
    ///    the *whole pageblock's* free pages move to `start_type`'s lists,
    ///    and if that was at least half the pageblock, the pageblock itself
    ///    changes type ("steal"). The block is now on `start_type`'s list.
    /// 2. The block leaves its list; if it is a whole pageblock it is ours
    ///    whatever step 1 said, so the pageblock takes our type.
    /// 3. `expand` splits it down to `order`; the halves go to the list the
    ///    block was on (ours if step 1 moved it, the donor's otherwise).
    ///
    /// Counted: `extfrag_fallback` for every fallback, `pageblock_steal` for
    /// every pageblock that changed type.
    pub(super) fn __rmqueue_fallback(
        &mut self,
        order: usize,
        start_type: MigrateType,
    ) -> Option<usize> {
        let map = self.mem_map();
        for current_order in (order..MAX_ORDER).rev() {
            for &donor in FALLBACKS[start_type as usize]
                .iter()
                .filter(|&&t| t != MIGRATE_RESERVE)
            {
                let Some(pfn) = self.free_area[current_order].free_list[donor as usize].front()
                else {
                    continue;
                };
                let mut list_type = donor;
                if current_order >= PAGEBLOCK_ORDER / 2 || start_type == MIGRATE_RECLAIMABLE {
                    let pages = self.move_freepages_block(pfn, start_type);
                    if pages >= PAGEBLOCK_NR_PAGES / 2 {
                        self.set_pageblock_migratetype(pfn, start_type);
                        self.vm_events.add(VmEventItem::PageblockSteal, 1);
                    }
                    list_type = start_type;
                }
                let area = &mut self.free_area[current_order];
                area.free_list[list_type as usize].del(pfn, &map);
                area.nr_free -= 1;
                rmv_page_order(self.zone_page(pfn));
                self.free_pages -= 1 << order;
                if current_order == PAGEBLOCK_ORDER
                    && self.get_pageblock_migratetype(pfn) != start_type
                {
                    self.set_pageblock_migratetype(pfn, start_type);
                    self.vm_events.add(VmEventItem::PageblockSteal, 1);
                }
                self.expand(pfn, order, current_order, list_type);
                self.vm_events.add(VmEventItem::ExtfragFallback, 1);
                return Some(pfn);
            }
        }
        None
    }

    /// Set apart as many movable pageblocks as `pages_min` needs as
    /// `MIGRATE_RESERVE`, from the start of the zone, and give any surplus
    /// reserve pageblock back to movable (Linux `setup_zone_migrate_reserve`,
    /// in its idempotent 2.6.28 form: run again after `min_free_kbytes`
    /// changes, it keeps the blocks it already chose). A pageblock whose
    /// first page is reserved is skipped: boot memory is never freed, so the
    /// block could not serve as a reserve.
    pub(super) fn setup_zone_migrate_reserve(&mut self) {
        let mut reserve = self.pages_min.div_ceil(PAGEBLOCK_NR_PAGES);
        for pfn in self.pageblock_first_pfns() {
            if self.zone_page(pfn).is_reserved() {
                continue;
            }
            match self.get_pageblock_migratetype(pfn) {
                MIGRATE_RESERVE if reserve > 0 => reserve -= 1,
                MIGRATE_MOVABLE if reserve > 0 => {
                    self.set_pageblock_migratetype(pfn, MIGRATE_RESERVE);
                    self.move_freepages_block(pfn, MIGRATE_RESERVE);
                    reserve -= 1;
                }
                MIGRATE_RESERVE => {
                    self.set_pageblock_migratetype(pfn, MIGRATE_MOVABLE);
                    self.move_freepages_block(pfn, MIGRATE_MOVABLE);
                }
                _ => {}
            }
        }
    }
}

#[cfg(all(test, not(target_os = "none")))]
mod tests {
    use super::super::bootmem::free_all_bootmem;
    use super::super::mmzone::test_support::node;
    use super::super::mmzone::{PgData, ZoneType};
    use super::super::pfn_phys;
    use super::*;

    /// One Normal-only zone of 8 pageblocks, all free, grouping on.
    fn eight_pageblocks() -> PgData {
        let nr_pages = 8 * PAGEBLOCK_NR_PAGES;
        let pgdat = node(nr_pages, [0, nr_pages, nr_pages], &[(0, nr_pages)]);
        free_all_bootmem(&pgdat, [(0, pfn_phys(nr_pages as u64))].into_iter());
        assert!(!pgdat.page_group_by_mobility_disabled());
        pgdat
    }

    fn free_of_type(pgdat: &PgData, migratetype: MigrateType) -> usize {
        let zone = pgdat.zone(ZoneType::Normal).lock();
        (0..MAX_ORDER)
            .map(|order| zone.free_area(order).nr_free_of_type(migratetype) << order)
            .sum()
    }

    fn blocks(pgdat: &PgData) -> [usize; MIGRATE_TYPES] {
        pgdat.zone(ZoneType::Normal).lock().pageblock_counts()
    }

    #[test]
    fn allocflags_pick_the_migratetype() {
        assert_eq!(
            allocflags_to_migratetype(GfpFlags::GFP_KERNEL, false),
            MIGRATE_UNMOVABLE
        );
        assert_eq!(
            allocflags_to_migratetype(GfpFlags::GFP_TEMPORARY, false),
            MIGRATE_RECLAIMABLE
        );
        assert_eq!(
            allocflags_to_migratetype(GfpFlags::GFP_HIGHUSER_MOVABLE, false),
            MIGRATE_MOVABLE
        );
        assert_eq!(
            allocflags_to_migratetype(GfpFlags::GFP_HIGHUSER_MOVABLE, true),
            MIGRATE_UNMOVABLE
        );
        let both = GfpFlags::__GFP_MOVABLE | GfpFlags::__GFP_RECLAIMABLE;
        assert_eq!(allocflags_to_migratetype(both, false), MIGRATE_MOVABLE);
    }

    #[test]
    fn a_fallback_takes_the_largest_block_and_steals_its_pageblock() {
        let pgdat = eight_pageblocks();
        assert_eq!(blocks(&pgdat), [0, 0, 8, 0]);
        // An unmovable page: the unmovable lists are empty, so the fallback
        // takes a whole movable pageblock (the largest block there is), the
        // pageblock becomes unmovable, and the rest of it stays on the
        // unmovable lists for the next requests.
        let page = pgdat.alloc_pages(GfpFlags::GFP_KERNEL, 0).unwrap();
        let pfn = pgdat.page_to_pfn(page).unwrap();
        assert_eq!(blocks(&pgdat), [1, 0, 7, 0]);
        assert_eq!(
            pgdat
                .zone(ZoneType::Normal)
                .lock()
                .get_pageblock_migratetype(pfn),
            MIGRATE_UNMOVABLE
        );
        assert_eq!(
            free_of_type(&pgdat, MIGRATE_UNMOVABLE),
            PAGEBLOCK_NR_PAGES - 1
        );
        let events = pgdat.zone_vm_events(ZoneType::Normal);
        assert_eq!(
            (
                events.get(VmEventItem::ExtfragFallback),
                events.get(VmEventItem::PageblockSteal)
            ),
            (1, 1)
        );
        // The next unmovable pages come from that pageblock: no new fallback.
        let second = pgdat.alloc_pages(GfpFlags::GFP_KERNEL, 3).unwrap();
        assert_eq!(
            pageblock_start_pfn(pgdat.page_to_pfn(second).unwrap()),
            pageblock_start_pfn(pfn)
        );
        assert_eq!(
            pgdat
                .zone_vm_events(ZoneType::Normal)
                .get(VmEventItem::ExtfragFallback),
            1
        );
        // A movable request never touches the unmovable pageblock.
        let movable = pgdat
            .alloc_pages(GfpFlags::GFP_KERNEL | GfpFlags::__GFP_MOVABLE, 0)
            .unwrap();
        assert_ne!(
            pageblock_start_pfn(pgdat.page_to_pfn(movable).unwrap()),
            pageblock_start_pfn(pfn)
        );
        for (page, order) in [(page, 0), (second, 3), (movable, 0)] {
            pgdat.__free_pages(page, order);
        }
        // Everything merges back; the stolen pageblock keeps its new type.
        assert_eq!(
            pgdat.zone(ZoneType::Normal).lock().buddyinfo()[MAX_ORDER - 1],
            8
        );
        assert_eq!(blocks(&pgdat), [1, 0, 7, 0]);
        pgdat
            .zone(ZoneType::Normal)
            .lock()
            .check_free_lists()
            .unwrap();
    }

    #[test]
    fn a_small_fallback_leaves_the_pageblock_alone() {
        let pgdat = eight_pageblocks();
        // Take everything in movable order-2 blocks, then give one back: the
        // only free block left is that order-2 block, in a movable pageblock.
        let mut blocks_held = Vec::new();
        while let Some(page) = pgdat.alloc_pages(GfpFlags::GFP_HIGHUSER_MOVABLE, 2) {
            blocks_held.push(page);
        }
        let victim = blocks_held.pop().unwrap();
        let victim_pfn = pgdat.page_to_pfn(victim).unwrap();
        pgdat.__free_pages(victim, 2);
        // The only free block is an order-2 block in a movable pageblock.
        assert_eq!(free_of_type(&pgdat, MIGRATE_MOVABLE), 4);
        let before = blocks(&pgdat);
        let page = pgdat.alloc_pages(GfpFlags::GFP_KERNEL, 0).unwrap();
        assert_eq!(pgdat.page_to_pfn(page), Some(victim_pfn));
        // Order 2 < pageblock_order / 2: nothing moved, nothing stolen, and
        // the split-off halves went back to the movable lists.
        assert_eq!(blocks(&pgdat), before);
        assert_eq!(free_of_type(&pgdat, MIGRATE_MOVABLE), 3);
        let events = pgdat.zone_vm_events(ZoneType::Normal);
        assert_eq!(
            (
                events.get(VmEventItem::ExtfragFallback),
                events.get(VmEventItem::PageblockSteal)
            ),
            (1, 0)
        );
        pgdat.__free_page(page);
        for page in blocks_held {
            pgdat.__free_pages(page, 2);
        }
        assert_eq!(
            pgdat.zone(ZoneType::Normal).lock().buddyinfo()[MAX_ORDER - 1],
            8
        );
    }

    #[test]
    fn the_reserve_is_used_only_when_everything_else_is_gone() {
        let pgdat = eight_pageblocks();
        pgdat.set_min_free_kbytes(4096);
        // pages_min = 1024 pages: one reserve pageblock, the first one.
        assert_eq!(blocks(&pgdat), [0, 0, 7, 1]);
        assert_eq!(
            pgdat
                .zone(ZoneType::Normal)
                .lock()
                .get_pageblock_migratetype(0),
            MIGRATE_RESERVE
        );
        // Memory-releasing code may take every page: the reserve goes last.
        let saved = pgdat.memalloc_noreclaim_save();
        let mut pages = Vec::new();
        for _ in 0..7 {
            pages.push(
                pgdat
                    .alloc_pages(GfpFlags::GFP_KERNEL, MAX_ORDER - 1)
                    .unwrap(),
            );
        }
        assert!(
            pages
                .iter()
                .all(|&page| pgdat.page_to_pfn(page).unwrap() >= PAGEBLOCK_NR_PAGES)
        );
        let last = pgdat
            .alloc_pages(GfpFlags::GFP_KERNEL, MAX_ORDER - 1)
            .unwrap();
        assert_eq!(pgdat.page_to_pfn(last), Some(0));
        pgdat.memalloc_noreclaim_restore(saved);
        pgdat.__free_pages(last, MAX_ORDER - 1);
        for page in pages {
            pgdat.__free_pages(page, MAX_ORDER - 1);
        }
        // Running the setup again keeps the same reserve block.
        pgdat.setup_per_zone_pages_min();
        assert_eq!(
            pgdat
                .zone(ZoneType::Normal)
                .lock()
                .get_pageblock_migratetype(0),
            MIGRATE_RESERVE
        );
        assert_eq!(free_of_type(&pgdat, MIGRATE_RESERVE), PAGEBLOCK_NR_PAGES);
    }
}

#[cfg(all(test, target_os = "none"))]
mod kernel_tests {
    use super::*;
    use crate::mm::gfp::GfpFlags;
    use crate::mm::init::node;
    use crate::mm::kernel_test_support::{only, quiesced_snapshot};
    use crate::mm::mmzone::ZoneType;

    /// Needs nothing on Normal's reclaimable lists: the harness runs tests
    /// in the order of their paths, and the tests before this one
    /// (`mm::init`) allocate no reclaimable pages.
    #[test_case]
    fn a_reclaimable_request_steals_a_whole_pageblock() {
        let node = node();
        let before = quiesced_snapshot(node);
        let zone_free = |migratetype: MigrateType| {
            let zone = node.zone(ZoneType::Normal).lock();
            (0..MAX_ORDER)
                .map(|order| zone.free_area(order).nr_free_of_type(migratetype) << order)
                .sum::<usize>()
        };
        let blocks = || node.zone(ZoneType::Normal).lock().pageblock_counts();
        let events = || node.zone_vm_events(ZoneType::Normal);
        assert_eq!(zone_free(MIGRATE_RECLAIMABLE), 0);
        let donors = |blocks: [usize; MIGRATE_TYPES]| {
            blocks[MIGRATE_UNMOVABLE as usize] + blocks[MIGRATE_MOVABLE as usize]
        };
        {
            let zone = node.zone(ZoneType::Normal).lock();
            let top = zone.free_area(MAX_ORDER - 1);
            assert!(
                top.nr_free_of_type(MIGRATE_UNMOVABLE) + top.nr_free_of_type(MIGRATE_MOVABLE) > 0
            );
        }
        let (blocks_before, events_before) = (blocks(), events());
        let cpu = crate::arch::current::smp::smp_processor_id();
        let batch = node.zone_pcp(ZoneType::Normal, cpu).lock().pcp().batch();
        let page = node
            .__alloc_pages(GfpFlags::GFP_TEMPORARY, 0, &only(ZoneType::Normal))
            .unwrap();
        let pfn = node.page_to_pfn(page).unwrap();
        assert_eq!(
            node.zone(ZoneType::Normal)
                .lock()
                .get_pageblock_migratetype(pfn),
            MIGRATE_RECLAIMABLE
        );
        let after = blocks();
        assert_eq!(
            after[MIGRATE_RECLAIMABLE as usize],
            blocks_before[MIGRATE_RECLAIMABLE as usize] + 1
        );
        assert_eq!(donors(after), donors(blocks_before) - 1);
        // One fallback, one steal; the per-CPU refill took `batch` pages of
        // the pageblock, the rest waits on the reclaimable lists.
        assert_eq!(
            events().get(VmEventItem::ExtfragFallback)
                - events_before.get(VmEventItem::ExtfragFallback),
            1
        );
        assert_eq!(
            events().get(VmEventItem::PageblockSteal)
                - events_before.get(VmEventItem::PageblockSteal),
            1
        );
        assert_eq!(zone_free(MIGRATE_RECLAIMABLE), PAGEBLOCK_NR_PAGES - batch);
        node.__free_page(page);
        assert_eq!(quiesced_snapshot(node), before);
        assert_eq!(zone_free(MIGRATE_RECLAIMABLE), PAGEBLOCK_NR_PAGES);
    }
}
