//! # A reclaimable cache of clean pages
//!
//! The page cache keeps the contents of files in memory. A *clean* page of
//! it holds exactly what is on disk, so when memory runs short it can simply
//! be dropped: the data can be read again. That makes it the reclaimable
//! memory par excellence, and the first thing `try_to_free_pages` turns to.
//!
//! This kernel has no files, but the allocator's reclaim path deserves a real
//! cache to work on, so [`PageCache`] is the part of the page cache that
//! reclaim sees: real pages, allocated from the buddy allocator and owned by
//! the cache (one reference each), each filed under an index (the file
//! offset, Linux `page->index`, kept here in `page->private`), on an LRU list
//! threaded through `page->lru`: [`PageCache::find_get_page`] moves a page
//! it finds to the head (Linux `mark_page_accessed`), and
//! [`PageCache::shrink`] drops pages from the tail, the least recently used,
//! freeing them cold (`free_cold_page`: their contents are of no further
//! interest). Registered as a [`Shrinker`], it gives memory back when an
//! allocation needs it.
//!
//! ## Where it sits in boot
//! [`PAGE_CACHE`] is the kernel's instance; `mm_init` registers it as a
//! shrinker. It starts empty; tests fill it.
//!
//! ## Linux source
//! `mm/filemap.c` (`add_to_page_cache_lru`, `find_get_page`), `mm/swap.c`
//! (`mark_page_accessed`, `lru_cache_add`), `mm/vmscan.c`
//! (`shrink_inactive_list`, `__remove_mapping` for a clean page),
//! `include/linux/pagemap.h` (`page_cache_alloc_cold`).
//!
//! ## What we simplified and why
//! * One cache, not one radix tree per file: a lookup walks the LRU list
//!   (O(n)); the cache exists to be reclaimed, not to be fast.
//! * Every page is clean, so reclaim never writes anything back; and one LRU
//!   list instead of Linux's active and inactive lists.
//! * The cache's page lists need the node's `mem_map`, so every operation
//!   takes the [`PgData`] the pages come from.

use crate::spinlock::SpinLockIrq;

use super::gfp::GfpFlags;
use super::list::PageList;
use super::mmzone::PgData;
use super::page::Page;
use super::vmscan::Shrinker;
use super::vmstat::VmEventItem;
use crate::arch::current::irqflags::{local_irq_restore, local_irq_save};

/// A cache of clean pages that reclaim can drop (see the module doc).
#[derive(Debug)]
pub struct PageCache {
    lru: SpinLockIrq<PageList>,
}

/// The kernel's page cache, registered as a shrinker at boot.
pub static PAGE_CACHE: PageCache = PageCache::new();

impl Default for PageCache {
    fn default() -> Self {
        PageCache::new()
    }
}

impl PageCache {
    /// An empty cache.
    pub const fn new() -> Self {
        PageCache {
            lru: SpinLockIrq::new(PageList::new()),
        }
    }

    /// Pages in the cache.
    pub fn nr_pages(&self) -> usize {
        self.lru.lock().len()
    }

    /// Allocate a page for the cache with `gfp_mask` (Linux
    /// `page_cache_alloc_cold`: a page about to be filled by a device is
    /// asked for cold) and file it under `index` (Linux
    /// `add_to_page_cache_lru`). Returns the page, or `None` if the
    /// allocation failed.
    pub fn page_cache_alloc(
        &self,
        pgdat: &PgData,
        gfp_mask: GfpFlags,
        index: u32,
    ) -> Option<&'static Page> {
        let page = pgdat.alloc_page(gfp_mask | GfpFlags::__GFP_COLD)?;
        self.add_to_page_cache_lru(pgdat, page, index);
        Some(page)
    }

    /// File `page`, which the caller allocated and whose one reference the
    /// cache now owns, under `index`, at the head of the LRU list (Linux
    /// `add_to_page_cache_lru`).
    pub fn add_to_page_cache_lru(&self, pgdat: &PgData, page: &'static Page, index: u32) {
        let pfn = pgdat.page_to_pfn(page).expect("a page of this node");
        page.set_page_private(index);
        let flags = local_irq_save();
        self.lru.lock().add(pfn, &pgdat.node_mem_map());
        local_irq_restore(flags);
    }

    /// The page filed under `index`, if it is cached (Linux `find_get_page`
    /// followed by `mark_page_accessed`): it moves to the head of the LRU
    /// list, and the caller gets a reference of its own, which it drops with
    /// `__free_page` (Linux `page_cache_release`).
    pub fn find_get_page(&self, pgdat: &PgData, index: u32) -> Option<&'static Page> {
        let map = pgdat.node_mem_map();
        let flags = local_irq_save();
        let found = {
            let mut lru = self.lru.lock();
            let pfn = lru.iter(&map).map(|(pfn, _)| pfn).find(|&pfn| {
                map.pfn_to_page(pfn)
                    .is_some_and(|page| page.page_private() == index)
            });
            pfn.map(|pfn| {
                lru.del(pfn, &map);
                lru.add(pfn, &map);
                let page = pgdat
                    .pfn_to_page(pfn)
                    .expect("a cached PFN has a descriptor");
                page.get_page();
                page
            })
        };
        local_irq_restore(flags);
        found
    }

    /// Drop up to `nr_to_scan` pages from the cold end of the LRU list,
    /// freeing them cold into `pgdat`; returns the pages actually freed,
    /// each counted as reclaimed (`pgsteal`) in its zone. A page someone
    /// still holds a reference to (from `find_get_page`) leaves the cache
    /// but is not freed by the drop: its last holder frees it.
    pub fn shrink(&self, pgdat: &PgData, nr_to_scan: usize) -> usize {
        let map = pgdat.node_mem_map();
        let mut freed = 0;
        for _ in 0..nr_to_scan {
            let flags = local_irq_save();
            let pfn = self.lru.lock().pop_back(&map);
            local_irq_restore(flags);
            let Some(pfn) = pfn else { break };
            let page = pgdat
                .pfn_to_page(pfn)
                .expect("a cached PFN has a descriptor");
            page.set_page_private(0);
            let zone_type = page.page_zonenum();
            let last_reference = page.page_count() == 1;
            pgdat.free_cold_page(page);
            if last_reference {
                pgdat.count_zone_vm_events(zone_type, VmEventItem::PgSteal, 1);
                freed += 1;
            }
        }
        freed
    }
}

impl Shrinker for PageCache {
    fn name(&self) -> &'static str {
        "page cache"
    }

    fn count_objects(&self) -> usize {
        self.nr_pages()
    }

    /// Clean pages need no I/O to drop, so every `gfp_mask` may reclaim them.
    fn scan_objects(&self, pgdat: &PgData, nr_to_scan: usize, _gfp_mask: GfpFlags) -> usize {
        self.shrink(pgdat, nr_to_scan)
    }
}

#[cfg(all(test, not(target_os = "none")))]
mod tests {
    use super::super::bootmem::free_all_bootmem;
    use super::super::mmzone::ZoneType;
    use super::super::mmzone::test_support::node;
    use super::super::pfn_phys;
    use super::*;

    #[test]
    fn lookups_refresh_pages_and_shrinking_drops_the_least_recently_used() {
        let pgdat = node(256, [256, 256, 256], &[(0, 256)]);
        free_all_bootmem(&pgdat, [(0, pfn_phys(256))].into_iter());
        let cache = PageCache::new();
        for index in 0..4 {
            cache
                .page_cache_alloc(&pgdat, GfpFlags::GFP_KERNEL, index)
                .unwrap();
        }
        assert_eq!(cache.nr_pages(), 4);
        assert_eq!(pgdat.zone(ZoneType::Dma).lock().free_pages(), 252);
        // Looking up index 0 makes it the most recently used.
        let page = cache.find_get_page(&pgdat, 0).unwrap();
        assert_eq!(page.page_count(), 2);
        pgdat.__free_page(page);
        assert!(cache.find_get_page(&pgdat, 9).is_none());
        // The two least recently used are 1 and 2.
        assert_eq!(cache.scan_objects(&pgdat, 2, GfpFlags::GFP_NOFS), 2);
        assert!(
            cache.find_get_page(&pgdat, 1).is_none() && cache.find_get_page(&pgdat, 2).is_none()
        );
        let (three, zero) = (
            cache.find_get_page(&pgdat, 3).unwrap(),
            cache.find_get_page(&pgdat, 0).unwrap(),
        );
        // A page someone holds leaves the cache but is not freed by it.
        assert_eq!(cache.shrink(&pgdat, 10), 0);
        assert_eq!(cache.count_objects(), 0);
        pgdat.__free_page(three);
        pgdat.__free_page(zero);
        pgdat.drain_all_pages();
        assert_eq!(pgdat.zone(ZoneType::Dma).lock().free_pages(), 256);
        assert_eq!(
            pgdat
                .zone_vm_events(ZoneType::Dma)
                .get(VmEventItem::PgSteal),
            2
        );
    }
}
