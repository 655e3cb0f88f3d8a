//! Helpers shared by the in-kernel tests of the zone allocator: holding many
//! allocated blocks without a heap, exhausting zones, and comparing the state
//! of memory before and after.
//!
//! Blocks are held on a [`PageList`] threaded through their heads' `lru`
//! links (an allocated page's links are its owner's to use), with the order
//! kept in the head's `private` word, as a slab would keep its own data
//! there.

use super::MAX_ORDER;
use super::gfp::{GfpFlags, Zonelist, build_zonelists};
use super::init::node;
use super::list::PageList;
use super::mmzone::{MAX_NR_ZONES, PgData, ZoneType};

/// The buddy state of every zone (buddyinfo, free pages), taken after the
/// per-CPU lists have been drained so that it is comparable.
pub type Snapshot = [([usize; MAX_ORDER], usize); MAX_NR_ZONES];

/// Give back every free slab and empty every slab array (`kmem_cache_shrink`
/// of each cache), so that neither the slab shrinker nor `cache_reap` has
/// anything to free while a test counts pages exactly. (The tests of the
/// page allocator do not use the heap, so nothing refills them meanwhile.)
///
/// Largest caches first, and again until nothing changes: destroying an
/// off-slab slab frees its descriptor into a smaller general cache.
pub fn slab_quiesce() {
    let slab = super::kmalloc::slab();
    loop {
        let before = slab.nr_slab_pages();
        for cachep in slab.caches_newest_first() {
            slab.kmem_cache_shrink(cachep);
        }
        if slab.nr_slab_pages() == before {
            return;
        }
    }
}

/// Quiesce the slab and drain every per-CPU list, then read every zone's
/// buddyinfo and free count.
pub fn quiesced_snapshot(pgdat: &PgData) -> Snapshot {
    slab_quiesce();
    pgdat.drain_all_pages();
    ZoneType::ALL.map(|zone_type| {
        let zone = pgdat.zone(zone_type).lock();
        (zone.buddyinfo(), zone.free_pages())
    })
}

/// The zonelist that holds `zone_type` alone.
pub fn only(zone_type: ZoneType) -> Zonelist {
    build_zonelists(|zone| zone == zone_type)[zone_type as usize]
}

/// Is `zone_type` populated on this machine?
pub fn populated(zone_type: ZoneType) -> bool {
    node().zone(zone_type).lock().is_populated()
}

/// While it lives, kswapd is not woken (for tests that count reclaim
/// exactly); made when kswapd has finished any run in progress.
pub struct KswapdOff(Option<super::vmscan::KswapdHook>);

impl KswapdOff {
    pub fn new() -> KswapdOff {
        slab_quiesce();
        let saved = node().set_kswapd_hook(None);
        while !super::kswapd::kswapd_idle() {
            crate::sched::schedule();
        }
        KswapdOff(saved)
    }
}

impl Drop for KswapdOff {
    fn drop(&mut self) {
        node().set_kswapd_hook(self.0);
    }
}

/// Blocks a test holds.
pub struct Held {
    blocks: PageList,
    pages: usize,
}

impl Held {
    pub const fn new() -> Held {
        Held {
            blocks: PageList::new(),
            pages: 0,
        }
    }

    /// Pages held, all blocks together.
    pub fn pages(&self) -> usize {
        self.pages
    }

    /// Allocate one block from `zonelist` and hold it; returns its zone.
    pub fn alloc(&mut self, gfp: GfpFlags, order: usize, zonelist: &Zonelist) -> Option<ZoneType> {
        let pgdat = node();
        let page = pgdat.__alloc_pages(gfp | GfpFlags::__GFP_NOWARN, order, zonelist)?;
        page.set_page_private(order as u32);
        self.blocks
            .add(pgdat.page_to_pfn(page).unwrap(), &pgdat.node_mem_map());
        self.pages += 1 << order;
        Some(page.page_zonenum())
    }

    /// Allocate order-`order` blocks from `zonelist` until one fails;
    /// returns how many were taken.
    pub fn alloc_until_fail(&mut self, gfp: GfpFlags, order: usize, zonelist: &Zonelist) -> usize {
        let mut taken = 0;
        while self.alloc(gfp, order, zonelist).is_some() {
            taken += 1;
        }
        taken
    }

    /// Take every free page of `zone_type`, watermarks ignored (as
    /// memory-releasing code may: `PF_MEMALLOC`), biggest blocks first, and
    /// per-CPU lists included.
    pub fn exhaust(&mut self, zone_type: ZoneType) {
        let pgdat = node();
        let zonelist = only(zone_type);
        let saved = pgdat.memalloc_noreclaim_save();
        for order in (0..MAX_ORDER).rev() {
            self.alloc_until_fail(GfpFlags::GFP_HIGHUSER, order, &zonelist);
        }
        // Pages left on per-CPU lists of other migrate types.
        while pgdat.drain_all_pages() > 0 {
            self.alloc_until_fail(GfpFlags::GFP_HIGHUSER, 0, &zonelist);
        }
        pgdat.memalloc_noreclaim_restore(saved);
        assert_eq!(
            pgdat.zone(zone_type).lock().free_pages(),
            0,
            "{zone_type:?} exhausted"
        );
    }

    /// Free the most recently taken block; `false` if none is held.
    pub fn free_one(&mut self) -> bool {
        let pgdat = node();
        let Some(pfn) = self.blocks.pop_front(&pgdat.node_mem_map()) else {
            return false;
        };
        let page = pgdat.pfn_to_page(pfn).unwrap();
        let order = page.page_private() as usize;
        page.set_page_private(0);
        pgdat.__free_pages(page, order);
        self.pages -= 1 << order;
        true
    }

    /// Free every block held.
    pub fn free_all(&mut self) {
        while self.free_one() {}
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.free_all();
    }
}
