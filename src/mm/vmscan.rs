//! # Reclaim: shrinkers, `try_to_free_pages`, `wakeup_kswapd`
//!
//! When the free lists run low, the allocator does not simply fail: much of
//! "used" memory is caches that can be given back. Linux reclaims in two
//! ways, and the zone allocator drives both (seed 000):
//!
//! * **in the background**: an allocation that finds a zone below
//!   `pages_low` wakes `kswapd`, a kernel thread that frees pages until the
//!   zone is back above `pages_high` ([`PgData::wakeup_kswapd`],
//!   [`PgData::balance_pgdat`]);
//! * **directly**: an allocation that may sleep and still finds nothing at
//!   `pages_min` frees memory itself, `try_to_free_pages`, before trying
//!   again ([`PgData::try_to_free_pages`]).
//!
//! What can be freed is whatever a *shrinker* offers: a cache registers an
//! object that can count its freeable objects and free some on request
//! ([`Shrinker`], Linux `struct shrinker` with `count_objects` /
//! `scan_objects`). The kernel's own cache of clean pages (`page_cache.rs`)
//! is one.
//!
//! Reclaim must not recurse: freeing memory may itself need a page (a
//! buffer head, a bio), and that allocation must not start another round of
//! reclaim. So reclaim runs with `PF_MEMALLOC` set in `current->flags`; an
//! allocation that sees it skips reclaim and may take pages below every
//! watermark (pass 4 of `__alloc_pages`), which is what the reserve below
//! `pages_min` is for.
//!
//! ## Where it sits in boot
//! `mm_init` registers the page cache's shrinker. `kernel_init` starts the
//! `kswapd0` thread (`kswapd.rs`), which registers its waker as the hook
//! `wakeup_kswapd` calls ([`PgData::set_kswapd_hook`]): the allocator does
//! not know about threads, and the host tests run it without one. The
//! background work itself, [`PgData::balance_pgdat`], is here.
//!
//! ## Linux source
//! `mm/vmscan.c` (`struct shrinker`, `register_shrinker`, `shrink_slab`,
//! `try_to_free_pages`, `do_try_to_free_pages`, `wakeup_kswapd`,
//! `SWAP_CLUSTER_MAX`, `DEF_PRIORITY`), `include/linux/sched.h`
//! (`PF_MEMALLOC`), `include/linux/sched/mm.h` (`memalloc_noreclaim_save`).
//! *Understanding the Linux Kernel*, 3rd ed., chapter 17 "Page Frame
//! Reclaiming".
//!
//! ## What we simplified and why
//! * No LRU lists of anonymous and file pages, no swap, no writeback: the
//!   shrinkers are the only source of reclaimable memory. Reclaim keeps
//!   Linux's shape: priorities from `DEF_PRIORITY` (12) down to 0, and at
//!   priority `p` each shrinker is asked to scan `1/2^p` of its objects
//!   (at least one), until `SWAP_CLUSTER_MAX` (32) pages are freed.
//! * The shrinker registry and the kswapd hook are Linux globals; we keep
//!   them in the node ([`PgData`]), as `totalram_pages`, so that host tests
//!   can build independent machines. `current->flags` is a word per CPU in
//!   the node that the scheduler saves into the outgoing task and loads
//!   from the incoming one at every switch, so `PF_MEMALLOC` belongs to the
//!   task, as in Linux (the host, which has no tasks, has just the word).
//! * `blk_congestion_wait` waits for time to pass, not for a queue: there
//!   is no block layer whose writeback could end sooner.
//! * Registries are fixed arrays (no heap): 8 shrinkers.

use core::sync::atomic::Ordering;

use bitflags::bitflags;

use super::registry::Registry;
pub use super::registry::RegisterError;
use super::gfp::{GfpFlags, Zonelist};
use super::mmzone::{PgData, ZoneType};
use super::vmstat::VmEventItem;
use super::watermark::AllocFlags;

/// Pages one round of reclaim aims to free (Linux `SWAP_CLUSTER_MAX`).
pub const SWAP_CLUSTER_MAX: usize = 32;
/// The first, gentlest reclaim priority: scan `1/2^12` of each cache (Linux
/// `DEF_PRIORITY`). Priority 0 scans everything.
pub const DEF_PRIORITY: u32 = 12;
/// How many shrinkers can be registered at once.
pub const MAX_SHRINKERS: usize = 8;

/// A cache that can give memory back under pressure (Linux `struct
/// shrinker`). Registered with [`PgData::register_shrinker`].
pub trait Shrinker: Sync {
    /// A name for reports.
    fn name(&self) -> &'static str;
    /// How many objects could be freed now (Linux `count_objects`).
    fn count_objects(&self) -> usize;
    /// Free up to `nr_to_scan` objects of the cache, back into `pgdat`, and
    /// return how many *pages* that gave back (Linux `scan_objects`, with
    /// the pages counted through `reclaim_state`). `gfp_mask` is the mask of
    /// the allocation that needs the memory: a cache whose freeing needs
    /// I/O or filesystem calls must check `__GFP_IO` / `__GFP_FS`.
    fn scan_objects(&self, pgdat: &PgData, nr_to_scan: usize, gfp_mask: GfpFlags) -> usize;
}

/// How long a failed allocation waits before it reclaims again: seed 000's
/// `blk_congestion_wait(WRITE, HZ/50)`, 20 ms.
pub const CONGESTION_WAIT_MS: u32 = 20;

/// Sleeps [`CONGESTION_WAIT_MS`] for writeback to make progress before
/// another round of reclaim (Linux 2.6.11 `blk_congestion_wait(WRITE,
/// HZ/50)` in `drivers/block/ll_rw_blk.c`; later `congestion_wait` in
/// `mm/backing-dev.c`). Linux sleeps on the queue's congestion wait queue
/// with a timeout; with no block layer here the sleep always lasts its
/// time (`schedule_timeout`), and kswapd and other threads run meanwhile.
#[cfg(target_os = "none")]
pub fn blk_congestion_wait() {
    crate::timer::schedule_timeout_uninterruptible(crate::time::msecs_to_jiffies(CONGESTION_WAIT_MS) as i64);
}

/// The host build has no clock to wait on: reclaim just goes again.
#[cfg(not(target_os = "none"))]
pub fn blk_congestion_wait() {}

/// The registered shrinkers (Linux `shrinker_list`).
pub type ShrinkerList = Registry<dyn Shrinker, MAX_SHRINKERS>;

/// Called by [`PgData::wakeup_kswapd`] with the zone and order that ran low
/// (in the kernel, `kswapd.rs`'s waker of the kswapd thread).
pub type KswapdHook = fn(&PgData, ZoneType, usize);

bitflags! {
    /// The bits of `current->flags` the allocator looks at (Linux `PF_*`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct TaskFlags: u32 {
        /// This code is freeing memory: it may use every free page and
        /// must not recurse into reclaim.
        const PF_MEMALLOC = 0x0000_0800;
        /// This task is kswapd (Linux `PF_KSWAPD`): reclaim it does is
        /// background reclaim, counted as such.
        const PF_KSWAPD = 0x0004_0000;
    }
}

/// The old `PF_MEMALLOC` state, returned by
/// [`PgData::memalloc_noreclaim_save`] for
/// [`PgData::memalloc_noreclaim_restore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "give the saved state back to memalloc_noreclaim_restore()"]
pub struct MemallocState(bool);

impl PgData {
    /// Add `shrinker` to the list reclaim asks (Linux `register_shrinker`).
    pub fn register_shrinker(&self, shrinker: &'static dyn Shrinker) -> Result<(), RegisterError> {
        self.shrinkers.lock().register(shrinker)
    }

    /// Remove `shrinker` (Linux `unregister_shrinker`); returns whether it
    /// was registered.
    pub fn unregister_shrinker(&self, shrinker: &'static dyn Shrinker) -> bool {
        self.shrinkers.lock().unregister(shrinker)
    }

    /// Free memory for an allocation of `order` with `gfp_mask` whose
    /// zonelist is `zonelist` (Linux `try_to_free_pages` /
    /// `do_try_to_free_pages` with `shrink_slab` as the only source).
    /// Returns the pages freed: 0 means no progress.
    ///
    /// For each priority from `DEF_PRIORITY` down to 0, each shrinker with
    /// something to free is asked to scan `count >> priority` objects (at
    /// least one, and no more than the pages still wanted), until
    /// `SWAP_CLUSTER_MAX` pages have been freed. At most 13 rounds over at
    /// most `MAX_SHRINKERS` shrinkers: this always ends. Counted:
    /// `allocstall` on the preferred zone.
    pub fn try_to_free_pages(
        &self,
        zonelist: &Zonelist,
        order: usize,
        gfp_mask: GfpFlags,
    ) -> usize {
        if let Some(&preferred) = zonelist.zones().first() {
            self.count_zone_vm_events(preferred, VmEventItem::AllocStall, 1);
        }
        let nr_reclaimed = self.shrink_slab(gfp_mask, SWAP_CLUSTER_MAX);
        log::debug!(
            "try_to_free_pages: order {order}, mode {:#x}: {nr_reclaimed} pages",
            gfp_mask.bits()
        );
        nr_reclaimed
    }

    /// Ask the shrinkers for up to `nr_wanted` pages (Linux `shrink_slab`
    /// in the priority loop of `do_try_to_free_pages` / `balance_pgdat`):
    /// see [`PgData::try_to_free_pages`]. Returns the pages freed.
    fn shrink_slab(&self, gfp_mask: GfpFlags, nr_wanted: usize) -> usize {
        let shrinkers = self.shrinkers.lock().snapshot();
        let mut nr_reclaimed = 0;
        for priority in (0..=DEF_PRIORITY).rev() {
            for shrinker in shrinkers.iter().flatten() {
                if nr_reclaimed >= nr_wanted {
                    return nr_reclaimed;
                }
                let count = shrinker.count_objects();
                if count == 0 {
                    continue;
                }
                let nr_to_scan = (count >> priority).max(1).min(nr_wanted - nr_reclaimed);
                nr_reclaimed += shrinker.scan_objects(self, nr_to_scan, gfp_mask);
            }
        }
        nr_reclaimed
    }

    /// kswapd's work (Linux 2.6.11 `balance_pgdat`): reclaim until every
    /// populated zone has `pages_high` free pages (for an order-`order`
    /// block, as `zone_watermark_ok` counts), or until a round frees
    /// nothing. Each round asks the shrinkers for `SWAP_CLUSTER_MAX` pages
    /// (`GFP_KERNEL`: kswapd may do I/O and call filesystems) and counts a
    /// `pageoutrun` and the pages as `kswapd_steal` on the lowest zone that
    /// was short. Returns the pages freed.
    ///
    /// Linux scans each short zone's LRU lists at falling priorities and
    /// the slab caches once per round; our only source is the shrinkers,
    /// which are not per zone, so a round frees from wherever the caches
    /// hold pages.
    pub fn balance_pgdat(&self, order: usize) -> usize {
        let mut total = 0;
        loop {
            let short = ZoneType::ALL.into_iter().find(|&zone_type| {
                let zone = self.zone(zone_type).lock();
                zone.is_populated()
                    && !zone.zone_watermark_ok(order, zone.pages_high(), zone_type, AllocFlags::empty())
            });
            let Some(zone_type) = short else { break };
            self.count_zone_vm_events(zone_type, VmEventItem::PageOutRun, 1);
            let freed = self.shrink_slab(GfpFlags::GFP_KERNEL, SWAP_CLUSTER_MAX);
            if freed == 0 {
                break;
            }
            self.count_zone_vm_events(zone_type, VmEventItem::KswapdSteal, freed);
            total += freed;
        }
        total
    }

    /// Memory in `zone_type` is short for an order-`order` allocation: wake
    /// the background reclaimer (Linux `wakeup_kswapd`). Nothing to do for
    /// an empty zone or one still above `pages_low`; otherwise the wake-up
    /// is counted (`kswapd_wakeup`) and the registered hook, if any, is
    /// called.
    pub fn wakeup_kswapd(&self, zone_type: ZoneType, order: usize) {
        {
            let zone = self.zone(zone_type).lock();
            if !zone.is_populated()
                || zone.zone_watermark_ok(
                    order,
                    zone.pages_low(),
                    ZoneType::Dma,
                    AllocFlags::empty(),
                )
            {
                return;
            }
        }
        self.count_zone_vm_events(zone_type, VmEventItem::KswapdWakeup, 1);
        let hook = *self.kswapd_hook.lock();
        if let Some(hook) = hook {
            hook(self, zone_type, order);
        }
    }

    /// Register the background reclaimer [`PgData::wakeup_kswapd`] calls
    /// (`None` removes it) and return the one it replaces. The kswapd
    /// thread registers its waker here (`mm/kswapd.rs`); a test that needs
    /// exact reclaim counts takes it away for its duration.
    pub fn set_kswapd_hook(&self, hook: Option<KswapdHook>) -> Option<KswapdHook> {
        core::mem::replace(&mut *self.kswapd_hook.lock(), hook)
    }


    /// `current->flags` of the code running on this CPU.
    pub fn current_flags(&self) -> TaskFlags {
        TaskFlags::from_bits_truncate(self.current_flags.this_cpu().load(Ordering::Relaxed))
    }

    /// Replaces this CPU's flags word: the scheduler's hand-over when it
    /// switches to another task, which brings its own flags.
    pub fn set_current_flags(&self, flags: TaskFlags) {
        self.current_flags.this_cpu().store(flags.bits(), Ordering::Relaxed);
    }

    /// Set `PF_MEMALLOC` for this CPU's current code and return the old
    /// state (Linux `memalloc_noreclaim_save`): allocations until the
    /// matching restore may use every free page and never enter reclaim.
    pub fn memalloc_noreclaim_save(&self) -> MemallocState {
        let old = self
            .current_flags
            .this_cpu()
            .fetch_or(TaskFlags::PF_MEMALLOC.bits(), Ordering::Relaxed);
        MemallocState(old & TaskFlags::PF_MEMALLOC.bits() != 0)
    }

    /// Put `PF_MEMALLOC` back as it was (Linux `memalloc_noreclaim_restore`).
    pub fn memalloc_noreclaim_restore(&self, state: MemallocState) {
        let flag = self.current_flags.this_cpu();
        if state.0 {
            flag.fetch_or(TaskFlags::PF_MEMALLOC.bits(), Ordering::Relaxed);
        } else {
            flag.fetch_and(!TaskFlags::PF_MEMALLOC.bits(), Ordering::Relaxed);
        }
    }
}

#[cfg(all(test, not(target_os = "none")))]
mod tests {
    use super::super::bootmem::free_all_bootmem;
    use super::super::mmzone::test_support::node;
    use super::super::page_alloc::do_retry;
    use super::super::page_cache::PageCache;
    use super::super::pfn_phys;
    use super::*;

    /// Seed 000's `do_retry`: (order <= 3 or `__GFP_REPEAT`) or
    /// `__GFP_NOFAIL`, and never with `__GFP_NORETRY`.
    #[test]
    fn retry_rules_follow_seed_000() {
        let kernel = GfpFlags::GFP_KERNEL;
        assert!(do_retry(kernel, 0));
        assert!(do_retry(kernel, 3));
        assert!(!do_retry(kernel, 4), "costly orders are not retried");
        assert!(do_retry(kernel | GfpFlags::__GFP_REPEAT, 9), "unless asked to");
        assert!(do_retry(kernel | GfpFlags::__GFP_NOFAIL, 9));
        assert!(!do_retry(kernel | GfpFlags::__GFP_NORETRY, 0));
        assert!(!do_retry(kernel | GfpFlags::__GFP_NORETRY | GfpFlags::__GFP_REPEAT, 0), "NORETRY wins over REPEAT");
    }

    #[test]
    fn reclaim_asks_the_shrinkers_for_one_cluster_at_rising_priority() {
        let pgdat = node(256, [256, 256, 256], &[(0, 256)]);
        free_all_bootmem(&pgdat, [(0, pfn_phys(256))].into_iter());
        let cache: &'static PageCache = Box::leak(Box::new(PageCache::new()));
        pgdat.register_shrinker(cache).unwrap();
        assert_eq!(
            pgdat.register_shrinker(cache),
            Err(RegisterError::AlreadyRegistered)
        );
        for index in 0..100 {
            cache
                .page_cache_alloc(&pgdat, GfpFlags::GFP_KERNEL, index)
                .unwrap();
        }
        let zonelist = *pgdat.zonelist(GfpFlags::GFP_KERNEL);
        assert_eq!(
            pgdat.try_to_free_pages(&zonelist, 0, GfpFlags::GFP_KERNEL),
            SWAP_CLUSTER_MAX
        );
        assert_eq!(cache.nr_pages(), 100 - SWAP_CLUSTER_MAX);
        assert!(pgdat.unregister_shrinker(cache));
        assert_eq!(
            pgdat.try_to_free_pages(&zonelist, 0, GfpFlags::GFP_KERNEL),
            0
        );
        assert_eq!(
            pgdat
                .zone_vm_events(ZoneType::Dma)
                .get(VmEventItem::AllocStall),
            2
        );
        cache.shrink(&pgdat, 100);
    }

    #[test]
    fn memalloc_flag_nests() {
        let pgdat = node(64, [64, 64, 64], &[(0, 64)]);
        assert!(!pgdat.current_flags().contains(TaskFlags::PF_MEMALLOC));
        let outer = pgdat.memalloc_noreclaim_save();
        let inner = pgdat.memalloc_noreclaim_save();
        pgdat.memalloc_noreclaim_restore(inner);
        assert!(pgdat.current_flags().contains(TaskFlags::PF_MEMALLOC));
        pgdat.memalloc_noreclaim_restore(outer);
        assert!(!pgdat.current_flags().contains(TaskFlags::PF_MEMALLOC));
    }
}

#[cfg(all(test, target_os = "none"))]
mod kernel_tests {
    use super::*;
    use crate::mm::init::node;
    use crate::mm::kernel_test_support::{Held, KswapdOff, only, quiesced_snapshot};
    use crate::mm::page_cache::PAGE_CACHE;

    /// Fill the kernel's page cache with `nr` pages of Normal, exhaust
    /// Normal, and return what holds it. The per-CPU lists of Normal are
    /// off, so every freed page is at once in the buddy.
    fn cache_then_exhaust(nr: usize) -> Held {
        let node = node();
        node.setup_pagelist_highmark(ZoneType::Normal, 0);
        for index in 0..nr {
            let page = PAGE_CACHE
                .page_cache_alloc(node, GfpFlags::GFP_KERNEL, index as u32)
                .unwrap();
            assert_eq!(page.page_zonenum(), ZoneType::Normal);
        }
        let mut held = Held::new();
        held.exhaust(ZoneType::Normal);
        held
    }

    fn cleanup(mut held: Held, before: crate::mm::kernel_test_support::Snapshot) {
        let node = node();
        held.free_all();
        PAGE_CACHE.shrink(node, usize::MAX);
        assert_eq!(PAGE_CACHE.nr_pages(), 0);
        node.setup_per_cpu_pageset();
        assert_eq!(quiesced_snapshot(node), before);
    }

    fn events(item: VmEventItem) -> usize {
        node().zone_vm_events(ZoneType::Normal).get(item)
    }

    #[test_case]
    fn reclaim_frees_cache_pages_that_satisfy_the_retry() {
        let _kswapd = KswapdOff::new();
        let node = node();
        let before = quiesced_snapshot(node);
        let min = node.zone(ZoneType::Normal).lock().pages_min();
        let nr = min + 1024;
        let held = cache_then_exhaust(nr);
        let (stalls, steals) = (
            events(VmEventItem::AllocStall),
            events(VmEventItem::PgSteal),
        );
        // Each round of reclaim frees 32 cache pages; the request (order 0,
        // so retried) succeeds once more than pages_min are free. Between
        // rounds it waits HZ/50 (seed 000's blk_congestion_wait).
        let start = crate::time::jiffies();
        let switches = crate::sched::nr_context_switches();
        let page = node
            .__alloc_pages(GfpFlags::GFP_KERNEL, 0, &only(ZoneType::Normal))
            .expect("reclaim made room");
        let switches = crate::sched::nr_context_switches() - switches;
        let rounds = min / SWAP_CLUSTER_MAX + 1;
        let wait_ticks = crate::time::msecs_to_jiffies(CONGESTION_WAIT_MS);
        assert!(
            crate::time::jiffies() - start >= (rounds as u64 - 1) * wait_ticks,
            "{} ticks for {rounds} rounds: a wait of {wait_ticks} ticks before each retry",
            crate::time::jiffies() - start
        );
        assert!(switches >= rounds as u64 - 1, "it slept (another task ran) before each retry: {switches} switches");
        assert_eq!(events(VmEventItem::AllocStall) - stalls, rounds);
        assert_eq!(
            events(VmEventItem::PgSteal) - steals,
            rounds * SWAP_CLUSTER_MAX
        );
        assert_eq!(PAGE_CACHE.nr_pages(), nr - rounds * SWAP_CLUSTER_MAX);
        assert_eq!(
            node.zone(ZoneType::Normal).lock().free_pages(),
            rounds * SWAP_CLUSTER_MAX - 1
        );
        node.__free_page(page);
        cleanup(held, before);
    }

    #[test_case]
    fn noretry_gives_up_after_one_round_and_nofail_keeps_reclaiming() {
        let _kswapd = KswapdOff::new();
        let node = node();
        let before = quiesced_snapshot(node);
        let min = node.zone(ZoneType::Normal).lock().pages_min();
        let nr = min + 1024;
        let held = cache_then_exhaust(nr);
        let zonelist = only(ZoneType::Normal);
        let stalls = events(VmEventItem::AllocStall);
        let quiet = GfpFlags::__GFP_NOWARN;
        assert!(
            node.__alloc_pages(
                GfpFlags::GFP_KERNEL | GfpFlags::__GFP_NORETRY | quiet,
                0,
                &zonelist
            )
            .is_none()
        );
        assert_eq!(
            events(VmEventItem::AllocStall) - stalls,
            1,
            "NORETRY reclaims once"
        );
        assert_eq!(PAGE_CACHE.nr_pages(), nr - SWAP_CLUSTER_MAX);
        // An order-4 request is above PAGE_ALLOC_COSTLY_ORDER: not retried.
        assert!(
            node.__alloc_pages(GfpFlags::GFP_KERNEL | quiet, 4, &zonelist)
                .is_none()
        );
        assert_eq!(events(VmEventItem::AllocStall) - stalls, 2);
        // __GFP_NOFAIL reclaims as long as it takes.
        let page = node
            .__alloc_pages(GfpFlags::GFP_KERNEL | GfpFlags::__GFP_NOFAIL, 4, &zonelist)
            .unwrap();
        assert_eq!(node.page_to_pfn(page).unwrap() % 16, 0);
        let rounds = events(VmEventItem::AllocStall) - stalls - 2;
        assert!(rounds >= 1);
        assert_eq!(PAGE_CACHE.nr_pages(), nr - (rounds + 2) * SWAP_CLUSTER_MAX);
        node.__free_pages(page, 4);
        cleanup(held, before);
    }

    /// Memory pressure from this thread takes Normal below `pages_low`;
    /// the allocation that goes below wakes kswapd, which brings the zone
    /// back above `pages_high` by shrinking the page cache, and the
    /// counters agree: `kswapd_wakeup`, `pageoutrun` (one per round of 32
    /// pages), `kswapd_steal` = `pgsteal` = what the cache lost.
    #[test_case]
    fn kswapd_brings_a_zone_below_pages_low_back_above_pages_high() {
        let node = node();
        let before = quiesced_snapshot(node);
        let (low, high) = {
            let zone = node.zone(ZoneType::Normal).lock();
            (zone.pages_low(), zone.pages_high())
        };
        let kswapd_off = KswapdOff::new();
        node.setup_pagelist_highmark(ZoneType::Normal, 0);
        let nr_cache = 2 * high + 256;
        for index in 0..nr_cache {
            let page = PAGE_CACHE.page_cache_alloc(node, GfpFlags::GFP_KERNEL, index as u32).unwrap();
            assert_eq!(page.page_zonenum(), ZoneType::Normal);
        }
        let zonelist = only(ZoneType::Normal);
        // Requests that cannot sleep: a big block missing for fragmentation
        // must not send this thread into direct reclaim, which would empty
        // the cache before kswapd gets to it.
        let gfp = GfpFlags::empty();
        let free = || node.zone(ZoneType::Normal).lock().free_pages();
        let mut held = Held::new();
        for order in (0..crate::mm::MAX_ORDER).rev() {
            while free() > low + (1 << order) && held.alloc(gfp, order, &zonelist).is_some() {}
        }
        let counts = || [VmEventItem::KswapdWakeup, VmEventItem::PageOutRun, VmEventItem::KswapdSteal, VmEventItem::PgSteal]
            .map(|item| node.global_vm_event(item));
        let cache_before = PAGE_CACHE.nr_pages();
        // Allocate until one finds the zone at or below pages_low and wakes
        // kswapd (a page or two more). Nothing reclaims before that wake-up;
        // after it, kswapd may already run on another CPU.
        let go_below_low = |held: &mut Held| {
            let wakeups = node.global_vm_event(VmEventItem::KswapdWakeup);
            while node.global_vm_event(VmEventItem::KswapdWakeup) == wakeups {
                assert_eq!(PAGE_CACHE.nr_pages(), cache_before, "no direct reclaim on the way");
                held.alloc(gfp, 0, &zonelist).expect("above pages_min");
                assert!(free() + 2 >= low, "within two pages of pages_low");
            }
        };
        // First with kswapd switched off: the wake-up is counted, but nothing
        // reclaims, however long we wait.
        go_below_low(&mut held);
        let free_below_low = free();
        crate::timer::msleep(50);
        assert_eq!((free(), PAGE_CACHE.nr_pages()), (free_below_low, cache_before), "without kswapd nothing happens");
        drop(kswapd_off);
        let runs = crate::mm::kswapd::kswapd_runs();
        let counts_before = counts();
        go_below_low(&mut held);
        let deadline = crate::time::jiffies() + 2 * crate::time::hz() as u64;
        while crate::mm::kswapd::kswapd_runs() == runs && crate::time::jiffies() < deadline {
            crate::timer::msleep(10);
        }
        assert!(crate::mm::kswapd::kswapd_runs() > runs, "kswapd ran");
        let after = counts();
        let [wakeups, rounds, stolen, pgsteal] = core::array::from_fn(|i| after[i] - counts_before[i]);
        assert!(free() > high, "Normal is above pages_high again: {} free, high {high}", free());
        assert!(wakeups >= 1);
        assert!(stolen > 0 && pgsteal == stolen, "kswapd_steal {stolen} = pgsteal {pgsteal}");
        assert_eq!(PAGE_CACHE.nr_pages(), cache_before - stolen, "the cache shrank by exactly what kswapd freed");
        assert_eq!(rounds * SWAP_CLUSTER_MAX, stolen, "one pageoutrun per round of {SWAP_CLUSTER_MAX} pages");
        held.free_all();
        PAGE_CACHE.shrink(node, usize::MAX);
        node.setup_per_cpu_pageset();
        assert_eq!(quiesced_snapshot(node), before, "slab pages {}", crate::mm::kmalloc::slab().nr_slab_pages());
    }
}
