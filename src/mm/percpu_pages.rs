//! # Per-CPU page lists: `per_cpu_pages`, `buffered_rmqueue`'s fast path
//!
//! Most allocations are single pages, and most single pages are freed soon
//! after. Taking the zone lock for each one would make every CPU queue up on
//! it. So each zone keeps, *per CPU*, a small stock of free order-0 pages
//! ([`PerCpuPages`], Linux `struct per_cpu_pages`): an order-0 allocation
//! takes a page from this CPU's list with only interrupts disabled, and an
//! order-0 free puts the page back there. The zone lock is taken once per
//! `batch` pages:
//!
//! * **refill**: when the list the request needs is empty,
//!   [`Zone::rmqueue_bulk`] moves `batch` pages from the buddy allocator to
//!   it in one go;
//! * **spill**: when a free brings `count` up to `high`,
//!   [`Zone::free_pcppages_bulk`] gives `batch` pages back to the buddy
//!   allocator.
//!
//! The list is also a cache of *hot* pages: a page freed a moment ago is
//! probably still in this CPU's caches, so frees go to the head and
//! allocations take from the head. Code that wants a page it will not touch
//! soon (DMA targets) asks with `__GFP_COLD` and gets the tail; reclaim
//! frees its pages to the tail ([`PgData::free_cold_page`]). Spilling takes
//! from the tails too: the coldest pages go back to the buddy.
//!
//! Since 2.6.32 each pageset has one list per migrate type
//! (`lists[MIGRATE_PCPTYPES]`), so the grouping by mobility of
//! `migratetype.rs` survives the detour through the per-CPU lists.
//!
//! The pages on a per-CPU list are free (count 0, unmapped) but not in the
//! buddy allocator: `free_pages` (NR_FREE_PAGES) and the watermarks do not
//! count them, and they cannot merge with their buddies until they are given
//! back. [`PgData::drain_local_pages`] / [`PgData::drain_all_pages`] give
//! them all back, which the allocator does before giving up on a request,
//! and which tests do before comparing free counts.
//!
//! `batch` follows the size of the zone ([`zone_batchsize`]): about a
//! quarter of 1/1024 of the zone, at most 32 pages (128 KiB), rounded to
//! 2^n - 1 (so that batches of different zones do not all hit the same
//! cache colours); `high = 6 * batch`.
//!
//! ## 2.6's sizing and 6.1's
//! The kernel sizes its lists as 2.6 does: `high = 6 * batch`, 186 pages
//! for a zone of 512 MiB or more, and only order-0 pages are kept. Linux
//! 5.14 changed both: `high` comes from the zone's *low watermark* split
//! among the CPUs that use the zone ([`zone_highsize`]: lists that are all
//! full cannot push the zone below the point where kswapd wakes), about
//! 1200 pages for a 1 GiB zone and one CPU, and orders 1 to 3 get lists
//! of their own (`PAGE_ALLOC_COSTLY_ORDER`). A burst of 1024 pages thus
//! spills through the zone lock on 2.6's lists and never does on 6.1's.
//! [`PgData::zone_set_pageset_high_and_batch`] makes a zone's lists the 6.1
//! way, with 6.1's `batch` ([`zone_batchsize_6_1`]: a cap of 1 MiB, not
//! 512 KiB, so 63 pages at 1 GiB) and both changes (one list per order and migrate type,
//! [`NR_PCP_LISTS`]; a refill of a high order takes `max(batch >> order,
//! 2)` blocks; `count` and `high` are in pages, so an order-3 block counts
//! 8); the benchmark measures its bursts and order-3 pairs on both kinds
//! of lists and says which row is which. The kernel itself stays with
//! 2.6's, which seed 001 shows.
//!
//! ## Where it sits in boot
//! `free_area_init_node` gives every zone and CPU a *boot pageset* with
//! `high = 0, batch = 1` (every free goes straight through to the buddy), so
//! `mem_init` leaves no page behind on a per-CPU list.
//! [`PgData::setup_per_cpu_pageset`] then installs the real sizes, from the
//! exact `managed_pages` (Linux 3.x does the same with `boot_pageset` and
//! `setup_per_cpu_pageset`).
//!
//! ## Linux source
//! `include/linux/mmzone.h` (`struct per_cpu_pages`, `struct
//! per_cpu_pageset`), `mm/page_alloc.c` (`zone_batchsize`, `setup_pageset`,
//! `setup_pagelist_highmark`, `setup_per_cpu_pageset`, `rmqueue_bulk`,
//! `buffered_rmqueue`, `free_hot_cold_page`, `free_pcppages_bulk`,
//! `drain_local_pages`, `drain_all_pages`). Seed 001; *Understanding the
//! Linux Kernel*, 3rd ed., §8.1.8 "The Per-CPU Page Frame Cache".
//!
//! ## What we simplified and why
//! * Linux 2.6 needs no lock for a CPU's own pageset: only that CPU
//!   touches it, with interrupts off. Rust wants proof of exclusive access,
//!   so each pageset sits in a spin lock that its CPU takes with interrupts
//!   off, in one step (`PerCpu::lock_this_cpu`: one interrupt save, the CPU
//!   read once interrupts are off); the lock is never contended by the
//!   CPU's own code. Linux 5.19 adds the same lock (`pcp->lock`), for the
//!   same reason as ours: other CPUs drain the lists. `drain_all_pages`
//!   asks every CPU by IPI to drain itself, as Linux does; only where it
//!   cannot wait for IPIs (interrupts off) does it drain another CPU's
//!   lists under that CPU's lock, which waits at most for one list operation.
//! * Lock order: pageset, then zone. Nothing takes a pageset lock while
//!   holding a zone lock.
//! * Spilling ([`Zone::free_pcppages_bulk`]) takes one page per non-empty
//!   list in turn, starting with the list that reached `high` (6.1's
//!   order); 2.6.32 weights the rotation to free more from lists it had to
//!   skip, 6.1 empties a list before moving on. The count freed is the
//!   same.
//! * `count >= high` triggers the spill, as in Linux (the page that reaches
//!   `high` is the one that spills).

use super::list::PageList;
use super::migratetype::{MIGRATE_MOVABLE, MIGRATE_PCPTYPES, MigrateType};
use super::mmzone::{PgData, Zone, ZoneType};
use super::page::{MemMap, Page};
use super::page_alloc::{FreeListError, PAGE_ALLOC_COSTLY_ORDER};
use super::vmstat::{VmEventItem, VmEvents};
use super::{PAGE_SHIFT, PAGE_SIZE};
use crate::arch::current::irqflags::{local_irq_restore, local_irq_save};
use crate::arch::current::smp::smp_processor_id;
use crate::mm::layout::NR_CPUS;
use core::sync::atomic::Ordering;

/// Lists per pageset: one per migrate type and order up to
/// `PAGE_ALLOC_COSTLY_ORDER` (Linux 5.14 `NR_PCP_LISTS`). 2.6 uses only the
/// order-0 ones; the others fill only when the zone's lists keep high
/// orders ([`PgData::zone_set_pageset_high_and_batch`]).
pub const NR_PCP_LISTS: usize = MIGRATE_PCPTYPES * (PAGE_ALLOC_COSTLY_ORDER + 1);

/// The list of blocks of `order` and `migratetype` (Linux 5.14
/// `order_to_pindex`): the order-0 lists first, then order 1's, and so on.
fn order_to_pindex(migratetype: MigrateType, order: usize) -> usize {
    order * MIGRATE_PCPTYPES + pcp_list_index(migratetype)
}

/// The order of the blocks on list `pindex` (Linux `pindex_to_order`).
fn pindex_to_order(pindex: usize) -> usize {
    pindex / MIGRATE_PCPTYPES
}

/// One CPU's stock of free pages of one zone (Linux `struct
/// per_cpu_pages`).
#[derive(Debug)]
pub struct PerCpuPages {
    /// Pages on all the lists together (a block of order `n` counts
    /// `2^n`).
    pub(super) count: usize,
    /// When a free brings `count` to `high`, `batch` pages go back to the
    /// buddy allocator. 0 means "keep nothing": every free spills at once.
    pub(super) high: usize,
    /// Pages moved to or from the buddy allocator at a time; at least 1.
    pub(super) batch: usize,
    /// One list per migrate type (the reserve's pages sit on the movable
    /// list) and order ([`order_to_pindex`]); hot end at the head.
    pub(super) lists: [PageList; NR_PCP_LISTS],
}

impl PerCpuPages {
    /// Pages on the lists.
    pub fn count(&self) -> usize {
        self.count
    }

    /// The spill threshold.
    pub fn high(&self) -> usize {
        self.high
    }

    /// The refill and spill size.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// The order-0 list of `migratetype` (the reserve shares the movable
    /// list).
    pub fn list(&self, migratetype: MigrateType) -> &PageList {
        &self.lists[order_to_pindex(migratetype, 0)]
    }

    /// Every block on the lists, as `(first PFN, order)`.
    pub fn blocks(&self, map: &MemMap<'_>) -> impl Iterator<Item = (usize, usize)> {
        self.lists.iter().enumerate().flat_map(move |(pindex, list)| {
            list.iter(map).map(move |(pfn, _)| (pfn, pindex_to_order(pindex)))
        })
    }
}

/// A zone's per-CPU data on one CPU (Linux `struct per_cpu_pageset`): the
/// page lists and this CPU's share of the zone's event counters (summed
/// when read, as Linux sums its per-CPU `vm_event_states`: `vmstat.rs`).
///
/// Aligned to a cache line (Linux allocates each CPU's pagesets in that
/// CPU's per-CPU area): the order-0 fast path writes only this and the page
/// descriptor, so two CPUs allocating at once never write the same line.
#[derive(Debug)]
#[repr(align(64))]
pub struct PerCpuPageset {
    pub(super) pcp: PerCpuPages,
    /// This CPU's counts not yet folded into the zone's totals, each at
    /// most `stat_threshold` (Linux `vm_stat_diff`).
    pub(super) vm_stat_diff: VmEvents,
    /// How far a count may grow here before it is folded into the zone's
    /// shared total (Linux `stat_threshold`, see `vmstat.rs`).
    pub(super) stat_threshold: usize,
}

impl PerCpuPageset {
    /// The pageset every zone and CPU starts with (Linux `boot_pageset`,
    /// `setup_pageset(p, 0)`): nothing is kept, every free spills at once.
    pub(super) const fn boot_pageset() -> Self {
        PerCpuPageset {
            pcp: PerCpuPages {
                count: 0,
                high: 0,
                batch: 1,
                lists: [const { PageList::new() }; NR_PCP_LISTS],
            },
            vm_stat_diff: VmEvents::new(),
            stat_threshold: 0,
        }
    }

    /// The page lists.
    pub fn pcp(&self) -> &PerCpuPages {
        &self.pcp
    }

    /// Give the lists a batch size, keeping their pages (Linux
    /// `setup_pageset`): `high = 6 * batch`, and a batch of 0 (a tiny zone)
    /// becomes 1 with `high = 0`.
    fn setup_pageset(&mut self, batch: usize) {
        self.pcp.high = 6 * batch;
        self.pcp.batch = batch.max(1);
    }

    /// Give the lists an explicit `high`, with a batch of a quarter of it,
    /// at least 1 and at most `PAGE_SHIFT * 8` (Linux
    /// `setup_pagelist_highmark`, the `percpu_pagelist_fraction` sysctl).
    fn setup_pagelist_highmark(&mut self, high: usize) {
        self.pcp.high = high;
        self.pcp.batch = (high / 4).clamp(1, PAGE_SHIFT as usize * 8);
    }
}

/// The per-CPU list a page of `migratetype` goes on: the reserve has none
/// and uses the movable one (Linux `free_hot_cold_page`: "treat RESERVE as
/// movable pages so we can get those areas back if necessary").
fn pcp_list_index(migratetype: MigrateType) -> usize {
    if (migratetype as usize) < MIGRATE_PCPTYPES {
        migratetype as usize
    } else {
        MIGRATE_MOVABLE as usize
    }
}

/// The batch size for a zone of `present_pages` (Linux 2.6.24
/// `zone_batchsize`): 1/1024 of the zone, at most 512 KiB worth, divided by
/// 4, at least 1, then `(batch * 1.5)` rounded down to a power of two,
/// minus one (2.6.11 had no rounding and a 256 KiB cap; 2.6.15 brought
/// both of today's). A 16 MiB zone gets 0 (so `batch` 1 and `high` 0: no
/// list), 112 MiB gets 7, 512 MiB and more get 31.
pub fn zone_batchsize(present_pages: usize) -> usize {
    batchsize(present_pages, 512 * 1024 / PAGE_SIZE)
}

/// The batch size Linux 6.1 gives a zone of `managed_pages` (its
/// `zone_batchsize`): 2.6's steps from the managed pages, with the cap
/// raised to 1 MiB worth (256 pages), so zones of 1 GiB and more get 63.
#[doc(alias = "zone_batchsize")]
pub fn zone_batchsize_6_1(managed_pages: usize) -> usize {
    batchsize(managed_pages, 1024 * 1024 / PAGE_SIZE)
}

/// `zone_batchsize`'s steps: 1/1024 of `pages`, at most `cap`, divided by
/// 4, at least 1, times 1.5 rounded down to a power of two, minus one.
fn batchsize(pages: usize, cap: usize) -> usize {
    let batch = ((pages / 1024).min(cap) / 4).max(1);
    let scaled = batch + batch / 2;
    (1 << (usize::BITS - 1 - scaled.leading_zeros())) - 1
}

/// The `high` that Linux 5.14 onwards gives a zone's lists by default
/// (6.1 `zone_highsize` with `percpu_pagelist_high_fraction` 0): the zone's
/// low watermark shared among the `cpus` CPUs that use the zone, but never
/// below four batches. The idea: lists that are all full never push the
/// zone under its low watermark, so they cannot wake kswapd early; on a
/// small machine this keeps far more pages per CPU than 2.6's `6 * batch`
/// (1 GiB, one CPU: about 1200 against 186), so a burst of a thousand
/// pages goes to the list and comes back from it without touching the
/// zone lock.
pub fn zone_highsize(low_wmark: usize, batch: usize, cpus: usize) -> usize {
    (low_wmark / cpus.max(1)).max(batch << 2)
}

impl Zone {
    /// Take up to `count` blocks of `order` and `migratetype` from the
    /// buddy allocator onto `list` (Linux `rmqueue_bulk`, with the `cold`
    /// argument seed 001 passes: 2.6.31 and later; the `order` argument is
    /// 5.14's, always 0 on 2.6's lists); the zone lock is held. Returns how
    /// many were taken. Each block's head records the list it is on.
    ///
    /// The list is empty when this is called (the per-CPU path refills only
    /// an empty list), and `__rmqueue` hands the pages out in ascending PFN
    /// order within each block split. Linux adds each page next to the
    /// previous one: a hot refill after it (`list_add`), so the pages run
    /// from the head in ascending order; a cold refill before it
    /// (`list_add_tail`), so they run from the *tail* in ascending order.
    /// Either way the end that the request takes from (the head for hot,
    /// the tail for cold) hands out the pages in physical order, which is
    /// what 2.6.31's change ("preserve PFN ordering when `__GFP_COLD` is
    /// set") was for: a device doing DMA into pages allocated one after the
    /// other gets contiguous memory more often.
    pub(super) fn rmqueue_bulk(
        &mut self,
        order: usize,
        count: usize,
        list: &mut PageList,
        migratetype: MigrateType,
        cold: bool,
    ) -> usize {
        debug_assert!(list.is_empty(), "rmqueue_bulk refills an empty list");
        let map = self.mem_map();
        let mut taken = 0;
        while taken < count {
            let Some(pfn) = self.__rmqueue(order, migratetype) else {
                break;
            };
            self.zone_page(pfn).set_pcppage_migratetype(migratetype);
            if cold {
                list.add(pfn, &map);
            } else {
                list.add_tail(pfn, &map);
            }
            taken += 1;
        }
        taken
    }

    /// Give `count` pages (at most all of them) from `pcp`'s lists back to
    /// the buddy allocator (Linux `free_pcppages_bulk`); the zone lock is
    /// held. The lists are visited in turn, one block from the tail (the
    /// cold end) of each non-empty one, starting with list `pindex` (a spill
    /// passes the list the freed block just went on); each block returns to
    /// the free list its head records. A block of order `n` counts `2^n`
    /// pages, so the last one may take the total past `count`, as in Linux.
    /// Returns the pages freed.
    ///
    /// Two steps are 6.1's: the `pindex` argument (the list the caller
    /// names gives up its blocks first) and the bounds `min_pindex` /
    /// `max_pindex` (a list found empty at either end of the range still
    /// visited narrows the range, so the rotation stops circling lists that
    /// hold nothing). The bounds matter here because 2.6's lists use 3 of
    /// the 12 (order 0 only): without them, a spill of 31 pages from one
    /// list would look at all twelve for every page. Unlike 6.1, which
    /// empties one list before moving on, we keep 2.6.32's rotation of one
    /// block per list.
    pub(super) fn free_pcppages_bulk(&mut self, count: usize, pcp: &mut PerCpuPages, pindex: usize) -> usize {
        let map = self.mem_map();
        let to_free = count.min(pcp.count);
        let mut freed = 0;
        // The lists that may still hold a block: `lo..hi` (6.1's
        // `min_pindex..=max_pindex`).
        let (mut lo, mut hi) = (0, NR_PCP_LISTS);
        let mut list = pindex;
        // Ends when enough is freed or the range is empty, i.e. every list
        // is: a correct `count` rules that out, and it keeps a corrupt one
        // from looping for ever.
        while freed < to_free && lo < hi {
            if let Some(pfn) = pcp.lists[list].pop_back(&map) {
                let order = pindex_to_order(list);
                let migratetype = self.zone_page(pfn).get_pcppage_migratetype();
                self.__free_one_page(pfn, order, migratetype);
                freed += 1 << order;
            } else {
                if list + 1 == hi {
                    hi -= 1;
                }
                if list == lo {
                    lo += 1;
                }
            }
            list = if list + 1 >= hi { lo } else { list + 1 };
        }
        pcp.count -= freed;
        freed
    }
}

impl PgData {
    /// The pageset of `zone_type` on CPU `cpu` (Linux `zone_pcp(zone, cpu)`,
    /// later `per_cpu_ptr(zone->pageset, cpu)`).
    pub fn zone_pcp(&self, zone_type: ZoneType, cpu: usize) -> &crate::spinlock::SpinLockIrq<PerCpuPageset> {
        self.pageset[zone_type as usize].cpu(cpu)
    }

    /// Install the real per-CPU list sizes of every zone on every CPU
    /// (Linux `setup_per_cpu_pageset`), from the zones' `present_pages`.
    pub fn setup_per_cpu_pageset(&self) {
        for zone_type in ZoneType::ALL {
            self.pcp_high_order[zone_type as usize].store(false, Ordering::Relaxed);
            let batch = zone_batchsize(self.zone(zone_type).lock().present_pages());
            for cpu in 0..NR_CPUS {
                self.zone_pcp(zone_type, cpu).lock().setup_pageset(batch);
            }
        }
        // At boot one CPU runs; `smp_init` refreshes them once all are up.
        self.refresh_zone_stat_thresholds(crate::arch::current::smp::num_online_cpus());
    }

    /// Set `high` of `zone_type`'s lists on every CPU, with the batch that
    /// goes with it (Linux `setup_pagelist_highmark`, as the
    /// `percpu_pagelist_fraction` sysctl applies it). Pages already on the
    /// lists stay; a list above its new `high` spills on its next free.
    /// `high = 0` switches the lists off (every free spills at once).
    pub fn setup_pagelist_highmark(&self, zone_type: ZoneType, high: usize) {
        for cpu in 0..NR_CPUS {
            self.zone_pcp(zone_type, cpu)
                .lock()
                .setup_pagelist_highmark(high);
        }
    }

    /// Make `zone_type`'s lists on every CPU what Linux 6.1 has by default
    /// (`zone_set_pageset_high_and_batch`): `high` from the zone's low
    /// watermark ([`zone_highsize`], split over the online CPUs), `batch`
    /// from 6.1's [`zone_batchsize_6_1`] (63 at 1 GiB, where 2.6's gives
    /// 31, so a refill brings twice as many pages), and blocks of orders 1
    /// to 3 kept too (5.14's [`PgData::pcp_allowed_order`]). The kernel
    /// keeps 2.6's lists (`setup_per_cpu_pageset`, which also undoes
    /// this); the benchmark uses this to compare its bursts and order-3
    /// pairs with Linux 6.1's on lists of the same kind. Returns
    /// `(high, batch)`.
    pub fn zone_set_pageset_high_and_batch(&self, zone_type: ZoneType) -> (usize, usize) {
        let (managed, low) = {
            let zone = self.zone(zone_type).lock();
            (zone.managed_pages(), zone.pages_low())
        };
        let batch = zone_batchsize_6_1(managed).max(1);
        let high = zone_highsize(low, batch, crate::arch::current::smp::num_online_cpus());
        for cpu in 0..NR_CPUS {
            let mut pageset = self.zone_pcp(zone_type, cpu).lock();
            pageset.pcp.high = high;
            pageset.pcp.batch = batch;
        }
        self.pcp_high_order[zone_type as usize].store(true, Ordering::Relaxed);
        (high, batch)
    }

    /// May a block of `order` of `zone_type` go through the per-CPU lists?
    /// Order 0 always; orders up to `PAGE_ALLOC_COSTLY_ORDER` when the
    /// zone's lists keep high orders, as Linux 5.14 onwards
    /// (`pcp_allowed_order`, where it is the only case).
    pub(super) fn pcp_allowed_order(&self, zone_type: ZoneType, order: usize) -> bool {
        order == 0 || (order <= PAGE_ALLOC_COSTLY_ORDER && self.pcp_high_order[zone_type as usize].load(Ordering::Relaxed))
    }

    /// Take one free block of `order` and `migratetype` from this CPU's
    /// list for `zone_type` and count the allocation (the per-CPU half of
    /// Linux `buffered_rmqueue`, seed 001, where `order` is always 0; 5.14's
    /// `rmqueue_pcplist` for the higher orders): with interrupts off,
    /// refill the list from the buddy allocator if it is empty
    /// (`rmqueue_bulk`, `batch` pages' worth under the zone lock), take the
    /// head (hot) or, for `cold`, the tail, and count `pgalloc` and
    /// `zone_statistics` for a request whose zonelist starts at
    /// `preferred_zone`. `None` if the zone has no block at all for the
    /// list.
    ///
    /// The whole of it is one interrupts-off region with one pageset lock
    /// (`lock_this_cpu`), as Linux's is one `local_irq_save` region: the
    /// counting happens here rather than after the page is prepared, so it
    /// needs no second visit to the pageset. Like Linux, a page that then
    /// fails `prep_new_page` has been counted.
    pub(super) fn rmqueue_pcp(
        &self,
        preferred_zone: ZoneType,
        zone_type: ZoneType,
        order: usize,
        migratetype: MigrateType,
        cold: bool,
    ) -> Option<usize> {
        let map = self.node_mem_map();
        let list = order_to_pindex(migratetype, order);
        let mut pageset = self.pageset[zone_type as usize].lock_this_cpu();
        if pageset.pcp.lists[list].is_empty() {
            let PerCpuPages { batch, lists, count, .. } = &mut pageset.pcp;
            // A batch of pages, in blocks: at least two blocks of a high
            // order (Linux 5.14: `max(batch >> order, 2)`).
            let blocks = if order == 0 { *batch } else { (*batch >> order).max(2) };
            let taken = self.zone(zone_type).lock().rmqueue_bulk(order, blocks, &mut lists[list], migratetype, cold);
            *count += taken << order;
            if taken > 0 {
                self.count_on_pageset(&mut pageset, zone_type, VmEventItem::PcpRefill, 1);
            }
        }
        let pcp = &mut pageset.pcp;
        let pfn = if cold { pcp.lists[list].pop_back(&map)? } else { pcp.lists[list].pop_front(&map)? };
        pcp.count -= 1 << order;
        self.count_on_pageset(&mut pageset, zone_type, VmEventItem::PgAlloc, 1 << order);
        self.count_on_pageset(&mut pageset, zone_type, Self::zone_statistics(preferred_zone, zone_type), 1);
        Some(pfn)
    }

    /// Free a block whose last reference was just dropped onto this CPU's
    /// list of its order (Linux `free_hot_cold_page`, order 0 only; 5.14's
    /// `free_unref_page` for orders up to 3): check it, record the free
    /// list it belongs to (its pageblock's type), put it at the head, or
    /// the tail for `cold`, and if that brings the lists to `high` pages,
    /// spill `batch` pages back to the buddy allocator. The list work, the count and the
    /// spill are one interrupts-off region under this CPU's pageset lock.
    pub(super) fn free_hot_cold_page(&self, page: &Page, pfn: usize, order: usize, cold: bool) {
        if !self.free_pages_check_block(page, pfn, order) {
            return;
        }
        let map = self.node_mem_map();
        let zone_type = page.page_zonenum();
        let migratetype = super::migratetype::get_pageblock_migratetype(&map, pfn);
        page.set_pcppage_migratetype(migratetype);
        let list = order_to_pindex(migratetype, order);
        let mut pageset = self.pageset[zone_type as usize].lock_this_cpu();
        let pcp = &mut pageset.pcp;
        if cold {
            pcp.lists[list].add_tail(pfn, &map);
        } else {
            pcp.lists[list].add(pfn, &map);
        }
        pcp.count += 1 << order;
        if pcp.count >= pcp.high {
            let batch = pcp.batch;
            self.zone(zone_type).lock().free_pcppages_bulk(batch, pcp, list);
            self.count_on_pageset(&mut pageset, zone_type, VmEventItem::PcpSpill, 1);
        }
        self.count_on_pageset(&mut pageset, zone_type, VmEventItem::PgFree, 1 << order);
    }

    /// Give every page on `cpu`'s lists, in every zone, back to the buddy
    /// allocator; returns how many there were.
    fn drain_pages(&self, cpu: usize) -> usize {
        let flags = local_irq_save();
        let mut drained = 0;
        for zone_type in ZoneType::ALL {
            let mut pageset = self.zone_pcp(zone_type, cpu).lock();
            let count = pageset.pcp.count;
            drained += self
                .zone(zone_type)
                .lock()
                .free_pcppages_bulk(count, &mut pageset.pcp, 0);
        }
        local_irq_restore(flags);
        drained
    }

    /// Empty this CPU's lists (Linux `drain_local_pages`); returns the pages
    /// given back.
    pub fn drain_local_pages(&self) -> usize {
        self.drain_pages(smp_processor_id())
    }

    /// Empty every CPU's lists; returns the pages given back (Linux
    /// `drain_all_pages`, which 2.6.24 adds: `on_each_cpu(drain_local_pages)`).
    ///
    /// In the kernel each CPU drains its own lists in its call-function IPI,
    /// so a CPU's pageset is only ever touched by that CPU, as in Linux.
    /// Where an IPI cannot be waited for — interrupts off (see the deadlock
    /// in `arch/x86/smp.rs`), a private node of a test, the host build —
    /// this CPU drains every CPU's lists itself under their pageset locks,
    /// which gives the same result.
    pub fn drain_all_pages(&self) -> usize {
        #[cfg(target_os = "none")]
        if core::ptr::eq(self, crate::mm::init::node())
            && crate::arch::current::irqflags::irqs_enabled()
            && !crate::preempt::in_interrupt()
        {
            return crate::arch::x86::smp::on_each_cpu_sum(|| crate::mm::init::node().drain_local_pages())
                .expect("interrupts are on, so the IPIs can be waited for");
        }
        (0..NR_CPUS).map(|cpu| self.drain_pages(cpu)).sum()
    }

    /// Pages on the per-CPU lists of `zone_type`, all CPUs together.
    pub fn nr_pcp_pages(&self, zone_type: ZoneType) -> usize {
        (0..NR_CPUS)
            .map(|cpu| self.zone_pcp(zone_type, cpu).lock().pcp.count)
            .sum()
    }

    /// Check the per-CPU lists of `zone_type` on every CPU: each list's
    /// links agree with its length, the lengths add up to `count`, and every
    /// page on them is a free page of this zone (count 0, unmapped, not
    /// reserved, not `PG_buddy`) recording the list it is on (a reserve
    /// page on the movable list records "reserve"). Returns the pages
    /// counted. Used by the property tests next to
    /// [`Zone::check_free_lists`].
    pub fn check_pcp_lists(&self, zone_type: ZoneType) -> Result<usize, FreeListError> {
        let map = self.node_mem_map();
        let error = |pfn, problem| {
            Err(FreeListError {
                zone: zone_type.name(),
                order: 0,
                pfn,
                problem,
            })
        };
        let mut total = 0;
        for cpu in 0..NR_CPUS {
            let pageset = self.zone_pcp(zone_type, cpu).lock();
            let mut on_lists = 0;
            for (index, list) in pageset.pcp.lists.iter().enumerate() {
                let mut walk = list.iter(&map);
                for (pfn, _) in walk.by_ref() {
                    on_lists += 1 << pindex_to_order(index);
                    let page = map.pfn_to_page(pfn).expect("list walks yield mapped PFNs");
                    if page.page_zonenum() != zone_type {
                        return error(Some(pfn), "per-CPU page belongs to another zone");
                    }
                    if page.page_count() != 0
                        || page.page_mapcount() != 0
                        || page.is_reserved()
                        || page.is_buddy()
                    {
                        return error(
                            Some(pfn),
                            "per-CPU page is in use, reserved or in the buddy lists",
                        );
                    }
                    if order_to_pindex(page.get_pcppage_migratetype(), pindex_to_order(index)) != index {
                        return error(
                            Some(pfn),
                            "per-CPU page on another migratetype's list than it records",
                        );
                    }
                }
                if walk.dangling().is_some() {
                    return error(
                        walk.dangling(),
                        "per-CPU list links disagree with its length",
                    );
                }
            }
            if on_lists != pageset.pcp.count {
                return error(None, "per-CPU count disagrees with its lists");
            }
            total += on_lists;
        }
        Ok(total)
    }
}

// A pageset must stay small: there is one per zone and CPU, and the node
// descriptor holding them is built on the boot stack (in place, see
// `free_area_init_node`). Four cache lines each since the lists have one
// per order up to 3 (5.14's layout).
#[cfg(target_pointer_width = "32")]
const _: () =
    assert!(super::mmzone::MAX_NR_ZONES * NR_CPUS * core::mem::size_of::<PerCpuPageset>() <= 3072);

#[cfg(all(test, not(target_os = "none")))]
mod tests {
    use super::*;

    /// Each CPU's pageset starts a cache line of its own and fills whole
    /// lines, so neighbouring CPUs' fast paths never write a shared line.
    #[test]
    fn pagesets_of_neighbouring_cpus_share_no_cache_line() {
        let slot = core::mem::size_of::<crate::spinlock::SpinLockIrq<PerCpuPageset>>();
        assert_eq!(core::mem::align_of::<crate::spinlock::SpinLockIrq<PerCpuPageset>>(), 64);
        assert_eq!(slot % 64, 0, "{slot} bytes per CPU");
    }

    #[test]
    fn zone_batchsize_follows_linux() {
        // (present pages, batch): 16 MiB, 112 MiB, 128 MiB, 512 MiB, 1 GiB.
        let cases = [
            (4096, 0),
            (28_672, 7),
            (32_768, 7),
            (131_072, 31),
            (262_144, 31),
        ];
        for (pages, batch) in cases {
            assert_eq!(zone_batchsize(pages), batch, "{pages} pages");
        }
        // 6.1's cap of 256 pages: 1 GiB gives 256 / 4 = 64, times 1.5 is
        // 96, rounded down to 64, minus one; below 1 GiB the two agree.
        let cases_6_1 = [(4096, 0), (131_072, 31), (225_000, 63), (262_144, 63), (1 << 22, 63)];
        for (pages, batch) in cases_6_1 {
            assert_eq!(zone_batchsize_6_1(pages), batch, "{pages} pages");
        }
        let mut pageset = PerCpuPageset::boot_pageset();
        assert_eq!((pageset.pcp.high, pageset.pcp.batch), (0, 1));
        pageset.setup_pageset(31);
        assert_eq!((pageset.pcp.high, pageset.pcp.batch), (186, 31));
        pageset.setup_pageset(0);
        assert_eq!((pageset.pcp.high, pageset.pcp.batch), (0, 1));
        pageset.setup_pagelist_highmark(64);
        assert_eq!((pageset.pcp.high, pageset.pcp.batch), (64, 16));
        pageset.setup_pagelist_highmark(4096);
        assert_eq!(pageset.pcp.batch, PAGE_SHIFT as usize * 8);
    }

    /// 6.1's sizing, by hand from `zone_highsize`: the low watermark split
    /// over the CPUs, at least four batches.
    #[test]
    fn zone_highsize_follows_linux_6_1() {
        assert_eq!(zone_highsize(1172, 31, 1), 1172);
        assert_eq!(zone_highsize(1172, 31, 4), 293);
        assert_eq!(zone_highsize(1172, 63, 8), 252, "four batches at least");
        assert_eq!(zone_highsize(1172, 31, 0), 1172, "no CPU counted: the whole watermark");
    }

    /// A burst of 1024 pages spills past 2.6's `high` (186 here) but stays
    /// on lists sized as 6.1 sizes them, whose `high` is the zone's low
    /// watermark: the second burst then never takes the zone lock. Both
    /// figures are counted by the allocator itself (`PcpSpill`,
    /// `PcpRefill`), so the switch between the two sizings is what the
    /// difference shows.
    #[test]
    fn a_burst_fits_on_lists_sized_as_6_1() {
        use crate::mm::gfp::GfpFlags;
        let (pgdat, _) = gib_node();
        let events = |item| pgdat.zone_vm_events(ZoneType::Normal).get(item);
        let burst = || {
            let held: Vec<_> = (0..1024).map(|_| pgdat.alloc_page(GfpFlags::GFP_KERNEL).unwrap()).collect();
            for page in held {
                pgdat.__free_page(page);
            }
        };
        burst();
        let spills = events(VmEventItem::PcpSpill);
        burst();
        // 2.6, high 186, batch 31: the first burst leaves 155 pages on the
        // list (spilled down from 186). The second takes those and 29
        // refills of 31, 30 left over; its frees reach 186 after 156 and
        // then every 31 frees: 1 + (1024 - 156) / 31 = 29 spills.
        assert_eq!(events(VmEventItem::PcpSpill) - spills, 29);

        let low = pgdat.zone(ZoneType::Normal).lock().pages_low();
        let (high, batch) = pgdat.zone_set_pageset_high_and_batch(ZoneType::Normal);
        assert_eq!((high, batch), (low, 63), "6.1's batch for a zone of 1 GiB");
        assert!(high > 1024, "the 1 GiB zone's low watermark, {high}, holds a burst");
        burst();
        let (spills, refills) = (events(VmEventItem::PcpSpill), events(VmEventItem::PcpRefill));
        burst();
        assert_eq!((events(VmEventItem::PcpSpill) - spills, events(VmEventItem::PcpRefill) - refills), (0, 0));
        let on_lists = pgdat.zone_pcp(ZoneType::Normal, 0).lock().pcp().count();
        assert_eq!(pgdat.drain_local_pages(), on_lists);
    }

    /// A 1 GiB node (one Normal zone after a 16 MiB DMA zone) with 2.6's
    /// lists, and its Normal zone's buddy state at the start.
    fn gib_node() -> (&'static PgData, [usize; crate::mm::MAX_ORDER]) {
        use crate::mm::bootmem::free_all_bootmem;
        use crate::mm::mmzone::test_support::node;
        use crate::mm::pfn_phys;
        let pages = 262_144;
        let pgdat: &'static PgData = Box::leak(Box::new(node(pages, [4096, pages, pages], &[(0, pages)])));
        free_all_bootmem(pgdat, [(0, pfn_phys(pages as u64))].into_iter());
        pgdat.init_per_zone_pages_min();
        pgdat.setup_per_cpu_pageset();
        let start = pgdat.zone(ZoneType::Normal).lock().buddyinfo();
        (pgdat, start)
    }

    /// A spill begins with the list whose free reached `high` (6.1's
    /// "drain the requested list first"): with `batch` 1, the page that
    /// goes back is the cold end of that list, even though another list
    /// comes first in the rotation. Starting from the first list after
    /// list 0, as before, would give back a movable page instead.
    #[test]
    fn a_spill_starts_with_the_list_that_reached_high() {
        use crate::mm::gfp::GfpFlags;
        let (pgdat, _) = gib_node();
        pgdat.setup_pagelist_highmark(ZoneType::Normal, 4);
        let movable = GfpFlags::GFP_KERNEL | GfpFlags::__GFP_MOVABLE;
        let (a, b) = (pgdat.alloc_page(movable).unwrap(), pgdat.alloc_page(movable).unwrap());
        let (c, d) = (pgdat.alloc_page(GfpFlags::GFP_KERNEL).unwrap(), pgdat.alloc_page(GfpFlags::GFP_KERNEL).unwrap());
        let map = pgdat.node_mem_map();
        let pfn = |page| pgdat.page_to_pfn(page).unwrap();
        let list_of = |page| pcp_list_index(super::super::migratetype::get_pageblock_migratetype(&map, pfn(page)));
        assert_eq!([a, b, c, d].map(list_of), [2, 2, 0, 0], "two movable pages, then two unmovable");
        let on_lists = || {
            let mut blocks: Vec<usize> =
                pgdat.zone_pcp(ZoneType::Normal, 0).lock().pcp().blocks(&map).map(|(pfn, _)| pfn).collect();
            blocks.sort();
            blocks
        };
        let spills = pgdat.zone_vm_events(ZoneType::Normal).get(VmEventItem::PcpSpill);
        for page in [a, b, c] {
            pgdat.__free_page(page);
        }
        // Whatever the refills left on the lists stays there; only the
        // spill moves a page.
        let before: Vec<usize> = on_lists();
        assert!([a, b, c].iter().all(|&page| before.contains(&pfn(page))));
        pgdat.__free_page(d);
        assert_eq!(pgdat.zone_vm_events(ZoneType::Normal).get(VmEventItem::PcpSpill) - spills, 1);
        let mut expected: Vec<usize> = before.iter().copied().filter(|&p| p != pfn(c)).collect();
        expected.push(pfn(d));
        expected.sort();
        assert_eq!(on_lists(), expected, "c, the cold end of the unmovable list, went back");
        pgdat.check_pcp_lists(ZoneType::Normal).unwrap();
    }

    /// 2.6's lists hand an order-3 block straight back to the buddy
    /// allocator; lists made as 6.1 makes them keep it (5.14's high-order
    /// lists): it is the next order-3 block handed out, without a refill,
    /// and a drain gives every page back to the buddy allocator exactly.
    #[test]
    fn order_3_blocks_stay_on_lists_made_as_6_1() {
        use crate::mm::gfp::GfpFlags;
        let (pgdat, start) = gib_node();
        let buddyinfo = || pgdat.zone(ZoneType::Normal).lock().buddyinfo();
        let block = pgdat.alloc_pages(GfpFlags::GFP_KERNEL, 3).unwrap();
        pgdat.__free_pages(block, 3);
        assert_eq!((buddyinfo(), pgdat.nr_pcp_pages(ZoneType::Normal)), (start, 0), "2.6: order 3 goes to the buddy");

        pgdat.zone_set_pageset_high_and_batch(ZoneType::Normal);
        let refills = || pgdat.zone_vm_events(ZoneType::Normal).get(VmEventItem::PcpRefill);
        let block = pgdat.alloc_pages(GfpFlags::GFP_KERNEL, 3).unwrap();
        // One refill of max(63 >> 3, 2) = 7 blocks (6.1's batch of 63), one
        // handed out.
        assert_eq!((pgdat.nr_pcp_pages(ZoneType::Normal), refills()), (48, 1));
        pgdat.__free_pages(block, 3);
        assert_eq!(pgdat.nr_pcp_pages(ZoneType::Normal), 56);
        assert_eq!(pgdat.check_pcp_lists(ZoneType::Normal), Ok(56));
        let again = pgdat.alloc_pages(GfpFlags::GFP_KERNEL, 3).unwrap();
        assert!(core::ptr::eq(again, block), "the hot end hands the same block out again");
        assert_eq!(refills(), 1, "no second refill");
        pgdat.__free_pages(again, 3);
        assert_eq!(pgdat.drain_local_pages(), 56);
        assert_eq!(buddyinfo(), start);
        pgdat.zone(ZoneType::Normal).lock().check_free_lists().unwrap();
    }

    /// Random orders 0 to 4 on lists made as 6.1 makes them, with spills
    /// and refills of every order: after each step the lists and the free
    /// areas pass their checkers, and once everything is freed and drained
    /// the zone is exactly as it started.
    #[test]
    fn random_orders_on_lists_made_as_6_1_lose_no_page() {
        use crate::mm::gfp::GfpFlags;
        let (pgdat, start) = gib_node();
        pgdat.zone_set_pageset_high_and_batch(ZoneType::Normal);
        let mut rng = crate::xorshift::XorShift32(0x5eed_1234);
        let mut held = Vec::new();
        for step in 0..6000 {
            if held.len() < 400 && (held.is_empty() || rng.below(3) != 0) {
                let order = rng.below(5);
                held.push((pgdat.alloc_pages(GfpFlags::GFP_KERNEL, order).unwrap(), order));
            } else {
                let (page, order) = held.swap_remove(rng.below(held.len()));
                pgdat.__free_pages(page, order);
            }
            if step % 500 == 0 {
                pgdat.check_pcp_lists(ZoneType::Normal).unwrap();
                pgdat.zone(ZoneType::Normal).lock().check_free_lists().unwrap();
            }
        }
        for (page, order) in held {
            pgdat.__free_pages(page, order);
        }
        let on_lists = pgdat.check_pcp_lists(ZoneType::Normal).unwrap();
        assert_eq!(pgdat.drain_local_pages(), on_lists);
        assert_eq!(pgdat.zone(ZoneType::Normal).lock().buddyinfo(), start);
    }
}

#[cfg(all(test, target_os = "none"))]
mod kernel_tests {
    use super::*;
    use crate::mm::gfp::GfpFlags;
    use crate::mm::init::node;
    use crate::mm::kernel_test_support::{Held, only, quiesced_snapshot};

    fn this_cpu_count(zone_type: ZoneType) -> usize {
        node()
            .zone_pcp(zone_type, smp_processor_id())
            .lock()
            .pcp()
            .count()
    }

    #[test_case]
    fn pageset_sizes_follow_zone_batchsize() {
        let node = node();
        for zone_type in ZoneType::ALL {
            let batch = zone_batchsize(node.zone(zone_type).lock().present_pages());
            for cpu in 0..NR_CPUS {
                let pageset = node.zone_pcp(zone_type, cpu).lock();
                assert_eq!(
                    (pageset.pcp().batch(), pageset.pcp().high()),
                    (batch.max(1), 6 * batch),
                    "{zone_type:?}"
                );
            }
        }
    }

    #[test_case]
    fn refill_and_spill_move_exactly_one_batch() {
        let node = node();
        let before = quiesced_snapshot(node);
        node.setup_pagelist_highmark(ZoneType::Normal, 64);
        let zonelist = only(ZoneType::Normal);
        let free = || node.zone(ZoneType::Normal).lock().free_pages();
        let event = |item| node.zone_vm_events(ZoneType::Normal).get(item);
        let state = || (free(), this_cpu_count(ZoneType::Normal));
        let (f0, refills, spills) = (
            free(),
            event(VmEventItem::PcpRefill),
            event(VmEventItem::PcpSpill),
        );
        let mut held = Held::new();
        // The first page brings a batch of 16 from the buddy.
        held.alloc(GfpFlags::GFP_KERNEL, 0, &zonelist).unwrap();
        assert_eq!(state(), (f0 - 16, 15));
        for _ in 0..15 {
            held.alloc(GfpFlags::GFP_KERNEL, 0, &zonelist).unwrap();
        }
        assert_eq!(state(), (f0 - 16, 0));
        held.alloc(GfpFlags::GFP_KERNEL, 0, &zonelist).unwrap();
        assert_eq!(state(), (f0 - 32, 15));
        while held.pages() < 80 {
            held.alloc(GfpFlags::GFP_KERNEL, 0, &zonelist).unwrap();
        }
        assert_eq!(state(), (f0 - 80, 0));
        assert_eq!(event(VmEventItem::PcpRefill) - refills, 5);
        // Frees stay on the list until it reaches high (64); then a batch of
        // 16 goes back.
        for kept in 1..64 {
            held.free_one();
            assert_eq!(state(), (f0 - 80, kept));
        }
        held.free_one();
        assert_eq!(state(), (f0 - 80 + 16, 48));
        assert_eq!(event(VmEventItem::PcpSpill) - spills, 1);
        held.free_all();
        assert_eq!(state(), (f0 - 80 + 32, 48));
        assert_eq!(event(VmEventItem::PcpSpill) - spills, 2);
        assert_eq!(node.drain_local_pages(), 48);
        assert_eq!(state(), (f0, 0));
        node.setup_per_cpu_pageset();
        assert_eq!(quiesced_snapshot(node), before);
    }

    /// A request whose pages go on per-CPU list `index`.
    fn gfp_of_list(index: usize) -> GfpFlags {
        match index {
            0 => GfpFlags::GFP_KERNEL,
            1 => GfpFlags::GFP_TEMPORARY,
            _ => GfpFlags::GFP_KERNEL | GfpFlags::__GFP_MOVABLE,
        }
    }

    #[test_case]
    fn hot_pages_are_reused_first_and_cold_pages_last() {
        let node = node();
        let before = quiesced_snapshot(node);
        node.setup_pagelist_highmark(ZoneType::Normal, 64);
        let zonelist = only(ZoneType::Normal);
        let map = node.node_mem_map();
        let list_of = |page: &Page| {
            pcp_list_index(super::super::migratetype::get_pageblock_migratetype(
                &map,
                node.page_to_pfn(page).unwrap(),
            ))
        };
        let a = node
            .__alloc_pages(GfpFlags::GFP_KERNEL, 0, &zonelist)
            .unwrap();
        // A second page that will go on the same list when freed; pages of
        // other pageblock types are kept aside meanwhile.
        let mut others = PageList::new();
        let b = loop {
            let page = node
                .__alloc_pages(GfpFlags::GFP_KERNEL, 0, &zonelist)
                .unwrap();
            if list_of(page) == list_of(a) {
                break page;
            }
            others.add(node.page_to_pfn(page).unwrap(), &map);
        };
        node.__free_page(a);
        node.free_cold_page(b);
        let gfp = gfp_of_list(list_of(a));
        let hot = node.__alloc_pages(gfp, 0, &zonelist).unwrap();
        let cold = node
            .__alloc_pages(gfp | GfpFlags::__GFP_COLD, 0, &zonelist)
            .unwrap();
        assert!(
            core::ptr::eq(hot, a),
            "the page freed hot is the next one handed out"
        );
        assert!(
            core::ptr::eq(cold, b),
            "the page freed cold is the one __GFP_COLD gets"
        );
        node.__free_page(hot);
        node.__free_page(cold);
        while let Some(pfn) = others.pop_front(&map) {
            node.__free_page(node.pfn_to_page(pfn).unwrap());
        }
        node.setup_per_cpu_pageset();
        assert_eq!(quiesced_snapshot(node), before);
    }

    #[test_case]
    fn drain_returns_every_page_on_every_list() {
        let node = node();
        let before = quiesced_snapshot(node);
        node.setup_pagelist_highmark(ZoneType::Normal, 64);
        let zonelist = only(ZoneType::Normal);
        let mut held = Held::new();
        // 40 pages come in three batches of 16: 8 stay on the list; freeing
        // the 40 (below high) leaves 48 there.
        for _ in 0..40 {
            held.alloc(GfpFlags::GFP_KERNEL, 0, &zonelist).unwrap();
        }
        held.free_all();
        assert_eq!(node.nr_pcp_pages(ZoneType::Normal), 48);
        node.check_pcp_lists(ZoneType::Normal)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(node.drain_all_pages(), 48);
        assert_eq!(ZoneType::ALL.map(|zone| node.nr_pcp_pages(zone)), [0; 3]);
        assert_eq!(quiesced_snapshot(node), before);
        node.setup_per_cpu_pageset();
    }
}
