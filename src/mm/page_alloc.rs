//! # The buddy allocator
//!
//! Each zone hands out physically contiguous blocks of `2^order` page frames,
//! `order` from 0 (one 4 KiB page) to `MAX_ORDER - 1` = 10 (1024 pages, 4 MiB).
//! A block of order `k` always starts at a PFN that is a multiple of `2^k`.
//! The free blocks of each order sit on `zone->free_area[order]`.
//!
//! Cut an aligned block of order `k+1` in half and you get two aligned blocks
//! of order `k`, the *buddies* of each other. A block's buddy is found by
//! flipping one bit of its PFN: `buddy_pfn = pfn ^ (1 << k)`
//! ([`__find_buddy_index`]). That is the whole trick:
//!
//! * **Allocating** order `k` (`Zone::__rmqueue`): take a block from the
//!   smallest non-empty list of order ≥ `k`; if it is bigger than needed,
//!   split it (`Zone::expand`), keep the lower half, put each upper half
//!   back on the list one order down.
//! * **Freeing** order `k` (`Zone::__free_one_page`): if the buddy is free
//!   and exactly of order `k` ([`Zone::page_is_buddy`]), take it off its list
//!   and merge the two into one block of order `k+1`; repeat one order up.
//!   When the buddy is busy (or we reach the top order), put what we have on
//!   its list. Free memory therefore always ends up in the biggest blocks its
//!   alignment allows: a zone that is completely free again has exactly the
//!   free lists it had before anything was allocated.
//!
//! On top of the algorithm sit the entry points kernel code calls:
//! [`PgData::alloc_pages`] / [`PgData::__alloc_pages`] (scan the zonelist of
//! the request's GFP class with lower and lower watermarks, wake kswapd,
//! reclaim, and as a last resort report OOM; see its doc) and
//! [`PgData::__free_pages`] (drop a reference; on the last one, give the
//! block back), and the checks that keep a buggy caller from corrupting the
//! free lists ([`free_pages_check`], `PgData::prep_new_page`,
//! [`PgData::bad_page`]).
//!
//! ## Where it sits in boot
//! The free lists are empty after `free_area_init_node`. `mem_init`
//! (`bootmem.rs`) fills them by "freeing" every frame memblock did not keep,
//! through [`PgData::__free_pages`]. From then on every page-frame allocation
//! in the kernel ends up here.
//!
//! ## Linux source
//! `mm/page_alloc.c`: `__find_buddy_index`, `page_is_buddy`,
//! `__free_one_page`, `expand`, `__rmqueue`, `buffered_rmqueue`,
//! `prep_new_page`, `free_pages_check`, `bad_page`, `__alloc_pages`,
//! `__free_pages`, `__free_pages_ok`; `include/linux/gfp.h`: `alloc_pages`,
//! `alloc_page`, `__free_page`. Seeds 000 and 001; *Understanding the Linux
//! Kernel*, 3rd ed., §8.1.7 "The Buddy System Algorithm".
//!
//! ## What we simplified and why
//! * PFNs instead of `page_idx`: 2.6 computes buddies on the index relative to
//!   a `MAX_ORDER`-aligned boundary because it steps through `zone_mem_map`
//!   with pointers. With absolute PFNs the arithmetic is identical and the
//!   buddy is simply a PFN the zone may or may not cover.
//! * The policy around the buddy core has files of its own: watermarks and
//!   `lowmem_reserve` (`watermark.rs`), per-CPU page lists
//!   (`percpu_pages.rs`), migrate types and fallbacks (`migratetype.rs`),
//!   reclaim (`vmscan.rs`), OOM (`oom_kill.rs`), counters (`vmstat.rs`).
//!   This file keeps the buddy algorithm, `buffered_rmqueue`, and the
//!   passes of `__alloc_pages` that tie them together.
//! * The work of `prep_new_page` is done while the zone lock is dropped (as in
//!   Linux), but retiring a bad block takes the lock again to count it.
//! * Bad pages, with an outcome defined for every case (Linux only promises
//!   "a reboot is needed"):
//!   - *Refused* requests (freeing a reserved page, a page already free, a
//!     block not aligned to its order or not inside one zone, a block whose
//!     pages are not all in the expected state): reported through
//!     [`PgData::bad_page`] or a log line; nothing at all changes, not even
//!     the reference count. The caller still owns what it owned.
//!   - A block found corrupt *while being handed out* (someone wrote to a
//!     free page's descriptor) is *retired*: taken out of circulation for
//!     good, its pages marked reserved and counted in the zone's
//!     `nr_bad_pages`, and the allocation retried. Linux reports the page
//!     and then simply leaks the block; we keep the books balanced:
//!     `managed_pages == free_pages + pages allocated + nr_bad_pages`.
//! * `__get_free_pages` and `free_pages` take and return *virtual* addresses,
//!   which only the kernel proper can compute (`page_address`, the direct
//!   map at `PAGE_OFFSET`). They live in `direct_map.rs`, as thin wrappers
//!   around [`PgData::alloc_pages`] and [`PgData::__free_pages`].
//! * `__GFP_ZERO` needs the page contents: `prep_new_page` asks the arch
//!   code (`arch::current::highpage::clear_highpage`) to clear each frame.

use core::fmt;
use core::sync::atomic::Ordering;

use super::MAX_ORDER;
use super::gfp::{GfpFlags, Zonelist};
use super::migratetype::{MIGRATE_RESERVE, MigrateType, allocflags_to_migratetype};
use super::mmzone::{PgData, Zone, ZoneType};
use super::page::Page;
use super::vmscan::TaskFlags;
use super::vmstat::VmEventItem;
use super::watermark::AllocFlags;
use crate::arch::current::highpage::clear_highpage;

/// The PFN of the buddy of the order-`order` block at `pfn` (Linux
/// `__find_buddy_index`): the two halves of an order-`order + 1` block
/// differ only in bit `order` of their PFN.
pub const fn __find_buddy_index(pfn: usize, order: usize) -> usize {
    pfn ^ (1 << order)
}

/// The first PFN of the block made by merging the order-`order` block at
/// `pfn` with its buddy (Linux computes `combined_idx = buddy_idx & page_idx`):
/// bit `order` cleared.
const fn combined_pfn(pfn: usize, order: usize) -> usize {
    pfn & !(1 << order)
}

/// Is `pfn` a valid start for a block of this order?
const fn is_aligned(pfn: usize, order: usize) -> bool {
    pfn & ((1 << order) - 1) == 0
}

/// Mark `page` as the head of a free block of `order` on the `migratetype`
/// list (Linux `set_page_order`, plus 3.8's `set_freepage_migratetype`):
/// the order goes into `private`, then one write of `flags` sets
/// `PG_buddy` (which says that `private` means "order") and the list.
/// Every block the buddy allocator puts on a free list gets both marks,
/// so the split and merge loops set them at once.
pub(super) fn set_page_order(page: &Page, order: usize, migratetype: MigrateType) {
    page.set_page_private(order as u32);
    page.set_buddy_on_list(migratetype);
}

/// Undo [`set_page_order`] when a block leaves the free lists (Linux
/// `rmv_page_order`).
pub(super) fn rmv_page_order(page: &Page) {
    page.clear_buddy();
    page.set_page_private(0);
}

/// Whether every page of a block is checked when it enters or leaves the
/// free lists (Linux `CONFIG_DEBUG_VM`): on in debug builds — every test
/// kernel and host test —, off in the release build the benchmark runs,
/// where only the first page is checked. Linux 2.6.11 checked every page
/// always; from 2.6.2x the tail pages of a block are looked at only with
/// `CONFIG_DEBUG_VM` (6.1: `free_tail_page_prepare` / `check_new_pages`),
/// which removes a loop over 512 descriptors from each order-9 allocation
/// and free.
pub const DEBUG_VM: bool = cfg!(debug_assertions);

/// The pages of the order-`order` block at `pfn`, headed by `head`, that
/// [`free_pages_check`] looks at: all of them with [`DEBUG_VM`], the head
/// only without (which then costs no slicing of `mem_map` at all).
fn checked_pages<'a>(map: &'a [Page], head: &'a Page, pfn: usize, order: usize) -> &'a [Page] {
    if DEBUG_VM { &map[pfn..][..1 << order] } else { core::slice::from_ref(head) }
}

/// Does `page` look like a page that may enter or leave the free lists?
/// (Linux `free_pages_check` at free time, `check_new_page` at allocation
/// time: the two test the same state.) It must have no owner left
/// (`_count` 0), be mapped nowhere, and carry neither `PG_reserved` (not the
/// buddy allocator's to manage) nor `PG_buddy` (already free). Returns the
/// first problem found, in Linux's words where Linux has them.
#[doc(alias = "check_new_page")]
#[inline]
pub fn free_pages_check(page: &Page) -> Result<(), &'static str> {
    if page.page_mapcount() != 0 {
        Err("nonzero mapcount")
    } else if page.page_count() != 0 {
        Err("nonzero _count")
    } else if page.is_reserved() {
        Err("PG_reserved set")
    } else if page.is_buddy() {
        Err("PG_buddy set")
    } else if page.is_slab() {
        Err("PG_slab set")
    } else {
        Ok(())
    }
}

impl Zone {
    /// The descriptor of a PFN the zone's own bookkeeping produced (a block on
    /// a free list, a block being split or merged). Such PFNs are inside the
    /// zone by construction, so a miss would be a bug in this file.
    pub(super) fn zone_page(&self, pfn: usize) -> &'static Page {
        &self.zone_mem_map[pfn - self.zone_start_pfn]
    }

    /// Is the order-`order` block at `buddy_pfn` free, so that it can be
    /// merged? (Linux `page_is_buddy`.) Four conditions, as in Linux:
    /// 1. `buddy_pfn` has a descriptor (`pfn_valid`) and
    /// 2. it lies in this zone: blocks never merge across zones; our
    ///    `zone_mem_map` only covers the zone, so the one lookup checks
    ///    both (Linux compares the two pages' `page_zone_id` because its
    ///    `mem_map` spans the node; the zone link would say the same here);
    /// 3. it heads a free block (`PG_buddy`) ...
    /// 4. ... of exactly this order. A free block of a lower order at that
    ///    PFN means part of the buddy is still in use.
    #[inline]
    pub fn page_is_buddy(&self, buddy_pfn: usize, order: usize) -> bool {
        self.free_buddy(buddy_pfn, order).is_some()
    }

    /// [`Zone::page_is_buddy`] that hands back the buddy's descriptor, so
    /// that the merge loop looks it up once.
    #[inline]
    fn free_buddy(&self, buddy_pfn: usize, order: usize) -> Option<&'static Page> {
        self.mem_map().pfn_to_page(buddy_pfn).filter(|buddy| buddy.is_buddy() && buddy.page_order() == order)
    }

    /// Put the order-`order` block at `pfn` back into the free lists, merging
    /// it with its buddies as far as possible (Linux `__free_one_page`).
    ///
    /// Caller's contract (checked by [`PgData::__free_pages`] before it calls
    /// here, with the zone lock held): the block is aligned to its order, lies
    /// inside the zone, and every page of it passed [`free_pages_check`].
    ///
    /// The loop, one order at a time:
    /// * find the buddy PFN by flipping bit `order`;
    /// * stop if the buddy is not a free block of this very order;
    /// * otherwise take the buddy off `free_area[order]`, wipe its "head of a
    ///   free block" marks (it is about to become the middle of a bigger
    ///   block), and continue with the merged block, which starts at the
    ///   lower of the two PFNs.
    ///
    /// Finally mark the head with its order and `PG_buddy` and put it at the
    /// head of the `migratetype` list of its order (Linux `list_add`: the most
    /// recently freed block is the next one reused, while its cache lines may
    /// still be warm). The buddies merged on the way may have sat on other
    /// types' lists: each is taken off the list its head records.
    pub(super) fn __free_one_page(&mut self, mut pfn: usize, mut order: usize, migratetype: MigrateType) {
        let map = self.mem_map();
        self.free_pages += 1 << order;
        while order < MAX_ORDER - 1 {
            let buddy_pfn = __find_buddy_index(pfn, order);
            let Some(buddy) = self.free_buddy(buddy_pfn, order) else {
                break;
            };
            let area = &mut self.free_area[order];
            area.free_list[buddy.get_freepage_migratetype() as usize].del(buddy_pfn, &map);
            area.nr_free -= 1;
            rmv_page_order(buddy);
            pfn = combined_pfn(pfn, order);
            order += 1;
        }
        set_page_order(self.zone_page(pfn), order, migratetype);
        let area = &mut self.free_area[order];
        area.free_list[migratetype as usize].add(pfn, &map);
        area.nr_free += 1;
    }

    /// Split the order-`high` block at `pfn` down to order `low`, keeping the
    /// lowest `2^low` pages for the caller and freeing the rest (Linux
    /// `expand`).
    ///
    /// Each round halves the block: the upper half becomes a free block one
    /// order down, the lower half is split further. For `low = 0, high = 3`
    /// at PFN 16: PFNs 20–23 go to `free_area[2]`, 18–19 to `free_area[1]`,
    /// 17 to `free_area[0]`, and PFN 16 is returned.
    ///
    /// The split-off halves were already counted in `free_pages` and stay
    /// free, so the counter does not change here. They go on the
    /// `migratetype` lists.
    pub(super) fn expand(&mut self, pfn: usize, low: usize, high: usize, migratetype: MigrateType) {
        let map = self.mem_map();
        for order in (low..high).rev() {
            let upper_half_pfn = pfn + (1 << order);
            let area = &mut self.free_area[order];
            area.free_list[migratetype as usize].add(upper_half_pfn, &map);
            area.nr_free += 1;
            set_page_order(self.zone_page(upper_half_pfn), order, migratetype);
        }
    }

    /// Take a free block of `order` out of the zone for a request of type
    /// `migratetype`, splitting a bigger one if needed (Linux `__rmqueue`);
    /// the zone lock must be held. Returns the block's first PFN (Linux
    /// returns its `struct page`).
    ///
    /// Three tries, as in Linux since 2.6.24 (see `migratetype.rs`):
    /// 1. the request's own lists, smallest sufficient order first
    ///    (splitting a big block when a small one would do destroys
    ///    contiguity that a later big request may need; the block taken from
    ///    a list is its head, the most recently freed);
    /// 2. the other types' lists, largest block first (`__rmqueue_fallback`);
    /// 3. the reserve pageblocks.
    ///
    /// So the request fails only if the zone has no free block of `order`
    /// or more at all.
    pub(super) fn __rmqueue(&mut self, order: usize, migratetype: MigrateType) -> Option<usize> {
        self.__rmqueue_smallest(order, migratetype)
            .or_else(|| self.__rmqueue_fallback(order, migratetype))
            .or_else(|| self.__rmqueue_smallest(order, MIGRATE_RESERVE))
    }

    /// Take a block that failed `PgData::prep_new_page` out of circulation
    /// for good: every page is marked reserved, so no path will free it or
    /// hand it out again, and any `PG_buddy` a corrupting write left on it is
    /// cleared, so no neighbour can merge with it. The pages are counted in
    /// `nr_bad_pages`. (Our own defined outcome; Linux just leaks the block.)
    fn retire_bad_block(&mut self, pfn: usize, order: usize) {
        for page in &self.zone_mem_map[pfn - self.zone_start_pfn..][..1 << order] {
            page.clear_buddy();
            page.set_page_private(0);
            page.set_reserved();
        }
        self.nr_bad_pages += 1 << order;
        log::error!(
            "page allocator: retired {} page(s) at pfn {:#x} in zone {} after a bad page state",
            1 << order,
            pfn,
            self.name
        );
    }

    /// Check every invariant of the zone's free lists; the zone lock must be
    /// held (it is, through the guard this is called on). Used by the host
    /// property tests after every step and by the kernel's own tests.
    ///
    /// For every block on `free_area[order].free_list[migratetype]`:
    /// * the list links agree in both directions and each walk ends after
    ///   exactly `free_list.len()` entries, which add up to `nr_free` (so no
    ///   block is on a list twice and no list has a cycle);
    /// * the head records that it is on this `migratetype`'s list;
    /// * the block is aligned to `order` and lies entirely inside the zone;
    /// * its head carries `PG_buddy` and `private == order`;
    /// * every page of it looks free: count 0, unmapped, not reserved, linked
    ///   to this zone, and no page but the head carries `PG_buddy` (so free
    ///   blocks never overlap: of two overlapping aligned blocks one contains
    ///   the other's head);
    /// * its buddy is not a free block of the same order (it would have been
    ///   merged).
    ///
    /// And for the zone: `free_pages` is the sum of `nr_free << order`, and
    /// every `PG_buddy` page in the zone heads a block on some list.
    pub fn check_free_lists(&self) -> Result<(), FreeListError> {
        let map = self.mem_map();
        let error = |order, pfn, problem| {
            Err(FreeListError {
                zone: self.name,
                order,
                pfn,
                problem,
            })
        };
        let mut free_pages = 0;
        let mut nr_blocks = 0;
        for (order, area) in self.free_area.iter().enumerate() {
          let mut nr_walked = 0;
          for (migratetype, free_list) in MigrateType::ALL.into_iter().zip(&area.free_list) {
            let mut walk = free_list.iter(&map);
            let mut expected_prev = None;
            let mut nr_walked_on_list = 0;
            for (pfn, prev) in walk.by_ref() {
                nr_walked_on_list += 1;
                if prev != expected_prev {
                    return error(
                        order,
                        Some(pfn),
                        "lru.prev does not point to the previous block",
                    );
                }
                expected_prev = Some(pfn);
                if !is_aligned(pfn, order) {
                    return error(order, Some(pfn), "free block not aligned to its order");
                }
                if pfn + (1 << order) > self.zone_end_pfn() {
                    return error(order, Some(pfn), "free block runs past the end of its zone");
                }
                let head = self.zone_page(pfn);
                if !head.is_buddy() || head.page_order() != order {
                    return error(
                        order,
                        Some(pfn),
                        "free block head lacks PG_buddy or has the wrong order",
                    );
                }
                if head.get_freepage_migratetype() != migratetype {
                    return error(order, Some(pfn), "free block on another migratetype's list than it records");
                }
                for (i, page) in self.zone_mem_map[pfn - self.zone_start_pfn..][..1 << order]
                    .iter()
                    .enumerate()
                {
                    if i != 0 && page.is_buddy() {
                        return error(order, Some(pfn + i), "free blocks overlap");
                    }
                    if page.page_zonenum() != self.zone_type {
                        return error(order, Some(pfn + i), "free page linked to another zone");
                    }
                    if page.page_count() != 0 || page.page_mapcount() != 0 || page.is_reserved() {
                        return error(
                            order,
                            Some(pfn + i),
                            "page in a free block is in use or reserved",
                        );
                    }
                }
                if order < MAX_ORDER - 1
                    && self.page_is_buddy(__find_buddy_index(pfn, order), order)
                {
                    return error(order, Some(pfn), "two free buddies left unmerged");
                }
            }
            if walk.dangling().is_some() || nr_walked_on_list != free_list.len() {
                return error(
                    order,
                    walk.dangling(),
                    "free list links disagree with its length",
                );
            }
            nr_walked += nr_walked_on_list;
          }
            if nr_walked != area.nr_free {
                return error(order, None, "nr_free disagrees with the free list");
            }
            free_pages += nr_walked << order;
            nr_blocks += nr_walked;
        }
        if free_pages != self.free_pages {
            return error(0, None, "free_pages disagrees with the free lists");
        }
        if self
            .zone_mem_map
            .iter()
            .filter(|page| page.is_buddy())
            .count()
            != nr_blocks
        {
            return error(0, None, "a PG_buddy page is on no free list");
        }
        Ok(())
    }
}

/// What [`Zone::check_free_lists`] found wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FreeListError {
    /// Name of the zone.
    pub zone: &'static str,
    /// The free list (order) being checked.
    pub order: usize,
    /// The PFN concerned, when there is one.
    pub pfn: Option<usize>,
    /// What is wrong.
    pub problem: &'static str,
}

impl fmt::Display for FreeListError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "zone {} order {}: {}",
            self.zone, self.order, self.problem
        )?;
        match self.pfn {
            Some(pfn) => write!(f, " (pfn {pfn:#x})"),
            None => Ok(()),
        }
    }
}

impl PgData {
    /// Report a page whose state is wrong for what was asked of it (Linux
    /// `bad_page`). This only reports and counts the report (Linux taints the
    /// kernel); the caller decides the page's fate, see the module doc.
    /// `page` should be one of this node's descriptors (the allocator only
    /// reports those); another page is printed with pfn `ffffffff`.
    pub fn bad_page(&self, page: &Page, reason: &str) {
        self.nr_bad_page_reports.fetch_add(1, Ordering::Relaxed);
        let pfn = self.page_to_pfn(page).unwrap_or(u32::MAX as usize);
        log::error!(
            "BUG: Bad page state: pfn:{:05x} flags:{:#010x} count:{} mapcount:{} private:{:#x} reason: {}",
            pfn,
            page.raw_flags(),
            page.page_count(),
            page.page_mapcount(),
            page.page_private(),
            reason
        );
    }

    /// Make a block just taken off the free lists ready for its new owner
    /// (Linux `prep_new_page`): every page must pass [`free_pages_check`]
    /// (a descriptor of a free page changed while it was free means someone
    /// used memory they had freed), then the head gets its one reference.
    /// The tail pages keep count 0: the head's reference covers the block.
    /// With `__GFP_ZERO` every frame is filled with zeroes
    /// (`prep_zero_page`). On failure the bad page has been reported and the
    /// caller retires the block.
    pub(super) fn prep_new_page(&self, pfn: usize, order: usize, gfp_mask: GfpFlags) -> Result<&'static Page, ()> {
        let map = self.node_mem_map().pages();
        let head = &map[pfn];
        for page in checked_pages(map, head, pfn, order) {
            if let Err(reason) = free_pages_check(page) {
                self.bad_page(page, reason);
                return Err(());
            }
        }
        // The tails' `private` is already 0: the buddy allocator clears a
        // block's order when it merges or splits it (`rmv_page_order`), and
        // the debug check above verifies exactly that for every page.
        head.set_page_private(0);
        if gfp_mask.contains(GfpFlags::__GFP_ZERO) {
            (pfn..pfn + (1 << order)).for_each(clear_highpage);
        }
        head.set_page_refcounted();
        Ok(head)
    }

    /// Take an order-`order` block from `zone_type` for a request whose
    /// zonelist starts at `preferred_zone`, and prepare it (Linux
    /// `buffered_rmqueue`, seed 001).
    ///
    /// * Order 0 comes from this CPU's per-CPU list of the request's migrate
    ///   type, refilled from the buddy in one go when empty
    ///   ([`PgData::rmqueue_pcp`], see `percpu_pages.rs`); `__GFP_COLD`
    ///   takes the cold end of the list.
    /// * Bigger orders go straight to the buddy allocator, under the zone
    ///   lock with interrupts off — unless the zone's lists were made as
    ///   Linux 6.1 makes them, which keep orders up to 3 too
    ///   ([`PgData::pcp_allowed_order`]).
    ///
    /// If the block turns out to be corrupt it is retired and another one is
    /// tried, as Linux's `goto again`; every retry consumes free pages, so
    /// this ends. The allocation is counted (`pgalloc`, `zone_statistics`)
    /// before the block is prepared, in the same interrupts-off region, as
    /// Linux counts it; a retired block has been counted too.
    fn buffered_rmqueue(
        &self,
        preferred_zone: ZoneType,
        zone_type: ZoneType,
        order: usize,
        gfp_mask: GfpFlags,
    ) -> Option<&'static Page> {
        let migratetype = allocflags_to_migratetype(gfp_mask, self.page_group_by_mobility_disabled());
        let cold = gfp_mask.contains(GfpFlags::__GFP_COLD);
        loop {
            let pfn = if self.pcp_allowed_order(zone_type, order) {
                self.rmqueue_pcp(preferred_zone, zone_type, order, migratetype, cold)?
            } else {
                // Counted where the zone lock already is: the zone's own
                // counters (Linux counts on this CPU, still interrupts off).
                let mut zone = self.zone(zone_type).lock();
                let pfn = zone.__rmqueue(order, migratetype)?;
                zone.vm_events.add(VmEventItem::PgAlloc, 1 << order);
                zone.vm_events.add(Self::zone_statistics(preferred_zone, zone_type), 1);
                pfn
            };
            match self.prep_new_page(pfn, order, gfp_mask) {
                Ok(page) => return Some(page),
                Err(()) => self.zone(zone_type).lock().retire_bad_block(pfn, order),
            }
        }
    }

    /// One scan of the zonelist (Linux `get_page_from_freelist`): the first
    /// zone that passes the watermark `alloc_flags` names
    /// ([`Zone::zone_watermark_ok`], with the `lowmem_reserve` the zone keeps
    /// against requests whose zonelist starts at the first zone of this
    /// list) and has a block serves the request. `ALLOC_NO_WATERMARKS`
    /// skips the check: every free page may be taken.
    pub(super) fn get_page_from_freelist(
        &self,
        gfp_mask: GfpFlags,
        order: usize,
        zonelist: &Zonelist,
        alloc_flags: AllocFlags,
    ) -> Option<&'static Page> {
        let zones = zonelist.zones();
        let classzone = *zones.first()?;
        zones.iter().find_map(|&zone_type| {
            // The check reads the zone's counters without its lock, as
            // Linux does (see zone_lock.rs).
            if !alloc_flags.contains(AllocFlags::ALLOC_NO_WATERMARKS)
                && !self.zone(zone_type).zone_watermark_ok(order, alloc_flags, classzone)
            {
                return None;
            }
            self.buffered_rmqueue(classzone, zone_type, order, gfp_mask)
        })
    }

    /// Allocate `2^order` contiguous page frames from the zones in `zonelist`,
    /// preferred zone first (Linux `__alloc_pages`, the front end of the zone
    /// allocator that seed 000 walks through, in 2.6.11's order). Returns
    /// the descriptor of the first frame, with a reference count of 1; the
    /// other frames of the block have count 0.
    ///
    /// It opens with `might_sleep_if(wait)`: a request with `__GFP_WAIT`
    /// (`GFP_KERNEL`) may sleep, so one made in an interrupt handler or an
    /// atomic section is reported with its location and call trace, even
    /// when memory is plentiful and it would not have slept this time.
    ///
    /// The passes, each a scan of the zonelist (`get_page_from_freelist`)
    /// that stops at the first zone able to serve:
    /// 1. every zone must keep `pages_low` free pages (plus its
    ///    `lowmem_reserve`): the comfortable case;
    /// 2. memory is getting short: wake the background reclaimer of every
    ///    zone ([`PgData::wakeup_kswapd`]);
    /// 3. scan again down to `pages_min`, lower still for requests that
    ///    cannot wait (`ALLOC_HARDER`: they cannot reclaim for themselves)
    ///    and for `__GFP_HIGH` (`ALLOC_HIGH`, e.g. `GFP_ATOMIC`);
    /// 4. if this code is itself freeing memory (`PF_MEMALLOC`, set during
    ///    direct reclaim) and is not an interrupt handler, it may take every
    ///    free page, watermarks ignored, but never recurses into reclaim;
    /// 5. a request that may not sleep (no `__GFP_WAIT`) fails here;
    /// 6. `rebalance:` `cond_resched()`, then direct reclaim
    ///    ([`PgData::__alloc_pages_direct_reclaim`]): free pages through the
    ///    shrinkers, `cond_resched()` again, scan at `pages_min`;
    /// 7. if reclaim freed nothing and the request may call into
    ///    filesystems without `__GFP_NORETRY`: one scan at `pages_high`, then
    ///    the OOM path ([`PgData::out_of_memory`]), then `goto restart`;
    /// 8. otherwise, if [`do_retry`] allows it (order <= 3 or
    ///    `__GFP_REPEAT`, or `__GFP_NOFAIL`; never `__GFP_NORETRY`), wait
    ///    for writeback to make progress (`blk_congestion_wait(WRITE,
    ///    HZ/50)`) and `goto rebalance`; else fail.
    ///
    /// Where we differ from 2.6.11, and why:
    /// * Linux 2.6.11 restarts after the OOM killer unconditionally: killing
    ///   a process frees its memory. We have no processes; the OOM path asks
    ///   the OOM notifiers, and a restart is worth it only if they freed
    ///   something (or for `__GFP_NOFAIL`, which loops for ever by request).
    /// * Linux 2.6.11 retries even after a round that freed nothing, counting
    ///   on writeback finishing meanwhile. Nothing writes back here, so every
    ///   retry except `__GFP_NOFAIL`'s requires that the previous round freed
    ///   something; the memory that can be freed is finite, so the loop ends.
    /// * The scan after reclaim drains the per-CPU lists once and scans
    ///   again if it fails, as later kernels do (2.6.24 added a drain after
    ///   direct reclaim for order > 0 requests; 2.6.3x's
    ///   `__alloc_pages_direct_reclaim` drains once for any order when the
    ///   scan fails). We do that even when reclaim freed nothing, because
    ///   here the per-CPU lists are the one place free pages can hide.
    ///
    /// An order of `MAX_ORDER` or more can never be satisfied and is refused
    /// with a warning; so is a request whose zonelist is empty (a DMA request
    /// on a machine without RAM below 16 MiB).
    pub fn __alloc_pages(
        &self,
        gfp_mask: GfpFlags,
        order: usize,
        zonelist: &Zonelist,
    ) -> Option<&'static Page> {
        crate::preempt::might_sleep_if(gfp_mask.contains(GfpFlags::__GFP_WAIT));
        if gfp_mask.contains(GfpFlags::__GFP_ZERO | GfpFlags::__GFP_HIGHMEM) && crate::preempt::in_interrupt() {
            // Linux 2.6.17's `BUG_ON((gfp_flags & __GFP_HIGHMEM) &&
            // in_interrupt())` in `prep_zero_page` (2.6.11 refused every
            // non-waiting request of the kind): clearing a high page goes
            // through the KM_USER0 window, which the interrupted thread may
            // be using. Linux halts; we report and refuse before taking a
            // page, so nothing is lost.
            self.nr_gfp_bug_reports.fetch_add(1, Ordering::Relaxed);
            log::error!(
                "BUG: __alloc_pages: __GFP_ZERO | __GFP_HIGHMEM in interrupt context (order:{order}, mode:{:#x}): \
                 clearing a high page needs KM_USER0, which the interrupted task may hold; refused",
                gfp_mask.bits()
            );
            crate::arch::current::traps::dump_stack();
            return None;
        }
        if order >= MAX_ORDER {
            log::warn!("__alloc_pages: order {order} >= MAX_ORDER ({MAX_ORDER}), refused");
            return None;
        }
        let page = self.__alloc_pages_passes(gfp_mask, order, zonelist);
        if page.is_none() && !gfp_mask.contains(GfpFlags::__GFP_NOWARN) {
            log::warn!(
                "page allocation failure: order:{}, mode:{:#x}",
                order,
                gfp_mask.bits()
            );
        }
        page
    }

    /// The passes of [`PgData::__alloc_pages`] (its steps 1 to 8): the
    /// first scan, then, if it found nothing, the rest out of line.
    fn __alloc_pages_passes(&self, gfp_mask: GfpFlags, order: usize, zonelist: &Zonelist) -> Option<&'static Page> {
        self.get_page_from_freelist(gfp_mask, order, zonelist, AllocFlags::ALLOC_WMARK_LOW)
            .or_else(|| self.__alloc_pages_slowpath(gfp_mask, order, zonelist))
    }

    /// Steps 2 to 8 of [`PgData::__alloc_pages`], once the first scan at
    /// `pages_low` failed. Linux 2.6.31 splits them off the same way (as
    /// `__alloc_pages_slowpath`): kept out of line, the common case's code
    /// is short and needs nothing of this worked out.
    #[cold]
    #[inline(never)]
    fn __alloc_pages_slowpath(&self, gfp_mask: GfpFlags, order: usize, zonelist: &Zonelist) -> Option<&'static Page> {
        let wait = gfp_mask.contains(GfpFlags::__GFP_WAIT);
        let min_flags = gfp_to_alloc_flags(gfp_mask);
        'restart: loop {
            for &zone_type in zonelist.zones() {
                self.wakeup_kswapd(zone_type, order);
            }
            if let Some(page) = self.get_page_from_freelist(gfp_mask, order, zonelist, min_flags) {
                return Some(page);
            }
            // Seed 000: only outside interrupts — an interrupt handler that
            // arrives during reclaim must not eat the last reserves.
            if self.current_flags().contains(TaskFlags::PF_MEMALLOC) && !crate::preempt::in_interrupt() {
                return self.get_page_from_freelist(gfp_mask, order, zonelist, AllocFlags::ALLOC_NO_WATERMARKS);
            }
            if !wait {
                return None;
            }
            let mut drained = false;
            // rebalance:
            loop {
                crate::sched::cond_resched();
                let (page, progress) =
                    self.__alloc_pages_direct_reclaim(gfp_mask, order, zonelist, min_flags, &mut drained);
                if page.is_some() {
                    return page;
                }
                let may_oom = gfp_mask.contains(GfpFlags::__GFP_FS) && !gfp_mask.contains(GfpFlags::__GFP_NORETRY);
                if progress == 0 && may_oom {
                    // Linux's last look, at a high watermark: only catches
                    // memory that someone else freed meanwhile.
                    if let Some(page) =
                        self.get_page_from_freelist(gfp_mask, order, zonelist, AllocFlags::ALLOC_WMARK_HIGH)
                    {
                        return Some(page);
                    }
                    let freed = self.out_of_memory(zonelist, gfp_mask, order);
                    if freed > 0 || gfp_mask.contains(GfpFlags::__GFP_NOFAIL) {
                        // Start over with step 1's scan.
                        if let Some(page) =
                            self.get_page_from_freelist(gfp_mask, order, zonelist, AllocFlags::ALLOC_WMARK_LOW)
                        {
                            return Some(page);
                        }
                        continue 'restart;
                    }
                    return None;
                }
                let nothing_to_wait_for = progress == 0 && !gfp_mask.contains(GfpFlags::__GFP_NOFAIL);
                if !do_retry(gfp_mask, order) || nothing_to_wait_for {
                    return None;
                }
                super::vmscan::blk_congestion_wait();
            }
        }
    }

    /// Step 6 of [`PgData::__alloc_pages`] (Linux 2.6.11's inline code,
    /// later `__alloc_pages_direct_reclaim`): reclaim with `PF_MEMALLOC` set
    /// (so that allocations the shrinkers make go to the no-watermark pass
    /// and never recurse into reclaim), `cond_resched()`, then scan at
    /// `alloc_flags`. If that still fails, the pages may be pinned on
    /// per-CPU lists (another CPU's, or ours under another migrate type):
    /// drain them all, once per allocation, and scan again (a later
    /// kernel's step, see [`PgData::__alloc_pages`]). Returns the page, if
    /// any, and the number of pages reclaimed.
    fn __alloc_pages_direct_reclaim(
        &self,
        gfp_mask: GfpFlags,
        order: usize,
        zonelist: &Zonelist,
        alloc_flags: AllocFlags,
        drained: &mut bool,
    ) -> (Option<&'static Page>, usize) {
        let saved = self.memalloc_noreclaim_save();
        let progress = self.try_to_free_pages(zonelist, order, gfp_mask);
        self.memalloc_noreclaim_restore(saved);
        crate::sched::cond_resched();
        loop {
            let page = self.get_page_from_freelist(gfp_mask, order, zonelist, alloc_flags);
            if page.is_some() || *drained {
                return (page, progress);
            }
            self.drain_all_pages();
            *drained = true;
        }
    }

    /// Allocate `2^order` contiguous frames for a `gfp_mask` request (Linux
    /// `alloc_pages`): pick the zonelist of the request's zone class
    /// (`gfp_zone`) and call [`PgData::__alloc_pages`].
    pub fn alloc_pages(&self, gfp_mask: GfpFlags, order: usize) -> Option<&'static Page> {
        self.__alloc_pages(gfp_mask, order, self.zonelist(gfp_mask))
    }

    /// Allocate one frame (Linux `alloc_page`).
    pub fn alloc_page(&self, gfp_mask: GfpFlags) -> Option<&'static Page> {
        self.alloc_pages(gfp_mask, 0)
    }

    /// Drop a reference to the order-`order` block headed by `page`, and give
    /// the block back to its zone if that was the last one (Linux
    /// `__free_pages`).
    ///
    /// Before touching anything the request itself is checked; a request that
    /// fails is reported and refused, leaving every count and list as it was:
    /// * the page is one of this node's descriptors, `order < MAX_ORDER`, the
    ///   block is aligned to its order and lies inside the page's zone;
    /// * the page is not reserved (boot memory, holes, retired pages belong
    ///   to nobody who may free them);
    /// * the page is in use: `PG_buddy` or a count of 0 means it is already
    ///   free (a double free), a tail page of some block, or a page sitting
    ///   on a per-CPU list.
    ///
    /// Then `put_page_testzero`: if other references remain, that is all.
    /// Otherwise a single page goes to this CPU's per-CPU list
    /// (`free_hot_page`, the hot end), a bigger block to the buddy
    /// allocator (`__free_pages_ok`) — or, on lists made as 6.1 makes them,
    /// a block of order up to 3 to its per-CPU list too.
    pub fn __free_pages(&self, page: &Page, order: usize) {
        self.free_pages_hot_cold(page, order, false);
    }

    /// Free one frame (Linux `__free_page`).
    pub fn __free_page(&self, page: &Page) {
        self.__free_pages(page, 0);
    }

    /// Free one frame whose contents will not be needed soon, e.g. a page
    /// reclaim just dropped (Linux `free_cold_page`): like
    /// [`PgData::__free_page`], but the page goes to the *cold* end of the
    /// per-CPU list, so that hot allocations reuse it last.
    pub fn free_cold_page(&self, page: &Page) {
        self.free_pages_hot_cold(page, 0, true);
    }

    /// The common body of [`PgData::__free_pages`] and
    /// [`PgData::free_cold_page`].
    fn free_pages_hot_cold(&self, page: &Page, order: usize, cold: bool) {
        let Some(pfn) = self.check_free_request(page, order) else {
            return;
        };
        if page.put_page_testzero() {
            if self.pcp_allowed_order(page.page_zonenum(), order) {
                self.free_hot_cold_page(page, pfn, order, cold);
            } else {
                self.__free_pages_ok(page, pfn, order);
            }
        }
    }

    /// The request checks of [`PgData::__free_pages`]; returns the block's PFN
    /// if the request is acceptable.
    fn check_free_request(&self, page: &Page, order: usize) -> Option<usize> {
        let Some(pfn) = self.page_to_pfn(page) else {
            log::error!(
                "__free_pages: {:p} is not a page descriptor of this node, refused",
                page
            );
            return None;
        };
        let problem = if order >= MAX_ORDER {
            Some("freeing a block of order >= MAX_ORDER")
        } else if page.is_reserved() {
            Some("freeing a reserved page")
        } else if page.is_buddy() {
            Some("double free: page is already free")
        } else if page.page_count() <= 0 {
            Some("freeing a page with no reference (double free or tail page)")
        } else if !is_aligned(pfn, order) {
            Some("freeing a block not aligned to its order")
        } else if !self.block_inside_its_zone(page, pfn, order) {
            Some("freeing a block that is not inside one zone")
        } else {
            None
        };
        match problem {
            Some(reason) => {
                self.bad_page(page, reason);
                None
            }
            None => Some(pfn),
        }
    }

    /// Do all `2^order` frames from `pfn` (the frame of `page`) lie inside
    /// `page`'s zone? A block may only be freed into one zone's lists.
    /// (Linux's `bad_range(zone, page)` is the opposite question, asked in
    /// `__free_pages_ok` and, as a `VM_BUG_ON`, in `buffered_rmqueue`.)
    #[doc(alias = "bad_range")]
    #[inline]
    pub(super) fn block_inside_its_zone(&self, page: &Page, pfn: usize, order: usize) -> bool {
        // The span never changes after boot: no zone lock on the free path.
        self.page_zone(page).zone_spans_range(pfn, 1 << order)
    }

    /// Check the pages of a block whose last reference was just dropped
    /// (the `free_pages_check` loop of Linux's `__free_pages_ok` and
    /// `free_hot_cold_page`): every page must now look free.
    ///
    /// If a page fails the check, the block is not ours to free: a page is
    /// still mapped, or `order` was wrong and the block overlaps someone
    /// else's pages or a free block. The page is reported and the reference
    /// the caller just dropped is given back, so the block is exactly as it
    /// was before the call, and `false` is returned. (Linux leaks such a
    /// block; we refuse the call.)
    #[inline]
    pub(super) fn free_pages_check_block(&self, head: &Page, pfn: usize, order: usize) -> bool {
        match checked_pages(self.node_mem_map().pages(), head, pfn, order).iter().find_map(|page| free_pages_check(page).err().map(|reason| (page, reason))) {
            Some((page, reason)) => {
                self.bad_page(page, reason);
                head.set_page_refcounted();
                false
            }
            None => true,
        }
    }

    /// Free a block of order > 0 whose last reference was just dropped
    /// (Linux `__free_pages_ok`): check it, then, under the zone lock with
    /// interrupts off, [`Zone::__free_one_page`] merges it into the free
    /// lists of its pageblock's migrate type.
    fn __free_pages_ok(&self, head: &Page, pfn: usize, order: usize) {
        if !self.free_pages_check_block(head, pfn, order) {
            return;
        }
        // One interrupts-off region: the zone lock saves and restores the
        // interrupt state itself (Linux `spin_lock_irqsave(&zone->lock)`).
        let mut zone = self.page_zone(head).lock();
        let migratetype = zone.get_pageblock_migratetype(pfn);
        zone.__free_one_page(pfn, order, migratetype);
        zone.vm_events.add(VmEventItem::PgFree, 1 << order);
    }

    /// Is grouping by mobility off (Linux `page_group_by_mobility_disabled`)?
    pub fn page_group_by_mobility_disabled(&self) -> bool {
        self.page_group_by_mobility_disabled.load(Ordering::Relaxed)
    }

    /// Switch grouping by mobility off or on. Linux decides once at boot
    /// (`build_all_zonelists`: off below 4 pageblocks of memory per type);
    /// the benchmark switches it to compare fragmentation.
    pub fn set_page_group_by_mobility_disabled(&self, disabled: bool) {
        self.page_group_by_mobility_disabled.store(disabled, Ordering::Relaxed);
    }
}

/// The watermark flags of the `pages_min` scan for a request (Linux
/// `gfp_to_alloc_flags`, the `can_try_harder` / `__GFP_HIGH` arguments of
/// 2.6.11's `zone_watermark_ok`): a request that cannot sleep may go a
/// quarter deeper (it cannot reclaim for itself; Linux also lets real-time
/// tasks do so, we have no tasks), `__GFP_HIGH` half deeper.
pub fn gfp_to_alloc_flags(gfp_mask: GfpFlags) -> AllocFlags {
    let mut alloc_flags = AllocFlags::ALLOC_WMARK_MIN;
    if !gfp_mask.contains(GfpFlags::__GFP_WAIT) {
        alloc_flags |= AllocFlags::ALLOC_HARDER;
    }
    if gfp_mask.contains(GfpFlags::__GFP_HIGH) {
        alloc_flags |= AllocFlags::ALLOC_HIGH;
    }
    alloc_flags
}

/// Largest order whose allocation Linux treats as cheap enough to retry
/// implicitly (Linux `PAGE_ALLOC_COSTLY_ORDER`).
pub const PAGE_ALLOC_COSTLY_ORDER: usize = 3;

/// May [`PgData::__alloc_pages`] reclaim again after a round that did not
/// satisfy the request? (seed 000's `do_retry`, 2.6.11): never with
/// `__GFP_NORETRY`; for orders up to `PAGE_ALLOC_COSTLY_ORDER` (3) or with
/// `__GFP_REPEAT`; always with `__GFP_NOFAIL`. (2.6.3x's
/// `should_alloc_retry` later limited `__GFP_REPEAT` to as many pages as
/// the request wants; 2.6.11 retries it as long as reclaim goes on.)
pub fn do_retry(gfp_mask: GfpFlags, order: usize) -> bool {
    if gfp_mask.contains(GfpFlags::__GFP_NORETRY) {
        return false;
    }
    order <= PAGE_ALLOC_COSTLY_ORDER
        || gfp_mask.contains(GfpFlags::__GFP_REPEAT)
        || gfp_mask.contains(GfpFlags::__GFP_NOFAIL)
}

#[cfg(all(test, not(target_os = "none")))]
mod tests {
    use super::super::bootmem::{free_all_bootmem, set_highmem_pages_init};
    use super::super::gfp::build_zonelists;
    use super::super::layout::NR_CPUS;
    use super::super::mmzone::MAX_NR_ZONES;
    use super::super::mmzone::test_support::node;
    use super::super::pfn_phys;
    use super::*;

    const GFP_KERNEL: GfpFlags = GfpFlags::GFP_KERNEL;
    const GFP_HIGHUSER: GfpFlags = GfpFlags::GFP_HIGHUSER;
    const GFP_DMA: GfpFlags = GfpFlags::GFP_DMA;

    /// Build a node and run `mem_init` on it: `free` are the free PFN ranges.
    fn booted(
        nr_pages: usize,
        max_zone_pfn: [usize; MAX_NR_ZONES],
        memory: &[(usize, usize)],
        free: &[(usize, usize)],
    ) -> PgData {
        let pgdat = node(nr_pages, max_zone_pfn, memory);
        let ranges: Vec<(u64, u64)> = free
            .iter()
            .map(|&(s, e)| (pfn_phys(s as u64), pfn_phys(e as u64)))
            .collect();
        set_highmem_pages_init(&pgdat, ranges.iter().copied());
        free_all_bootmem(&pgdat, ranges.iter().copied());
        pgdat
    }

    /// DMA [0,64), Normal [64,256), HighMem [256,512), all RAM, all free.
    fn three_zones() -> PgData {
        booted(512, [64, 256, 512], &[(0, 512)], &[(0, 512)])
    }

    /// One zone of exactly one order-10 block.
    fn one_big_block() -> PgData {
        booted(1024, [1024, 1024, 1024], &[(0, 1024)], &[(0, 1024)])
    }

    fn check_all(pgdat: &PgData) {
        for zone_type in ZoneType::ALL {
            if let Err(error) = pgdat.zone(zone_type).lock().check_free_lists() {
                panic!("free lists corrupt: {error}");
            }
            if let Err(error) = pgdat.check_pcp_lists(zone_type) {
                panic!("per-CPU lists corrupt: {error}");
            }
        }
    }

    /// What a test compares before/after a refused operation: the buddy
    /// state and the per-CPU lists.
    fn snapshot(pgdat: &PgData) -> [(usize, [usize; MAX_ORDER], usize, usize); MAX_NR_ZONES] {
        ZoneType::ALL.map(|zone_type| {
            let pcp = pgdat.nr_pcp_pages(zone_type);
            let zone = pgdat.zone(zone_type).lock();
            (zone.free_pages(), zone.buddyinfo(), zone.nr_bad_pages(), pcp)
        })
    }

    fn buddyinfo(pgdat: &PgData, zone: ZoneType) -> [usize; MAX_ORDER] {
        pgdat.zone(zone).lock().buddyinfo()
    }

    fn pfn(pgdat: &PgData, page: &Page) -> usize {
        pgdat.page_to_pfn(page).unwrap()
    }

    /// The zonelist that tries `zone` and nothing else.
    fn only(zone: ZoneType) -> Zonelist {
        build_zonelists(|z| z == zone)[zone as usize]
    }

    #[test]
    fn find_buddy_flips_one_bit() {
        assert_eq!(__find_buddy_index(0, 0), 1);
        assert_eq!(__find_buddy_index(1, 0), 0);
        assert_eq!(__find_buddy_index(8, 3), 0);
        assert_eq!(__find_buddy_index(16, 3), 24);
        assert_eq!(combined_pfn(24, 3), 16);
        assert_eq!(combined_pfn(16, 3), 16);
    }

    #[test]
    fn mem_init_leaves_maximal_blocks() {
        let pgdat = three_zones();
        check_all(&pgdat);
        assert_eq!(
            buddyinfo(&pgdat, ZoneType::Dma),
            [0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]
        );
        assert_eq!(
            buddyinfo(&pgdat, ZoneType::Normal),
            [0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0]
        );
        assert_eq!(
            buddyinfo(&pgdat, ZoneType::HighMem),
            [0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0]
        );
        // Blocks never merge across a zone boundary: DMA's order-6 block at 0
        // and Normal's order-6 block at 64 are buddies by PFN, but stay apart.
        assert!(!pgdat.zone(ZoneType::Dma).lock().page_is_buddy(64, 6));
        assert!(pgdat.zone(ZoneType::Normal).lock().page_is_buddy(64, 6));
    }

    /// Seed 001 passes `cold` to `rmqueue_bulk` (2.6.31): a refill lands on
    /// the per-CPU list so that the end the request takes from hands out
    /// ascending PFNs. One order-10 block at PFN 0 is the whole zone, so
    /// `__rmqueue` hands out 0, 1, 2... and a refill (batch 16) takes 0..15.
    #[test]
    fn refills_hand_out_pages_in_physical_order_from_the_end_each_request_takes() {
        let hot_then_cold = |first: GfpFlags, second: GfpFlags| {
            let pgdat = one_big_block();
            pgdat.setup_pagelist_highmark(ZoneType::Dma, 64);
            let zonelist = only(ZoneType::Dma);
            let pfns: Vec<usize> = [first, first, second]
                .iter()
                .map(|&gfp| pfn(&pgdat, pgdat.__alloc_pages(gfp, 0, &zonelist).unwrap()))
                .collect();
            assert_eq!(pgdat.nr_pcp_pages(ZoneType::Dma), 13, "one refill of 16");
            pfns
        };
        let hot = GfpFlags::GFP_HIGHUSER_MOVABLE;
        let cold = hot | GfpFlags::__GFP_COLD;
        // A hot refill runs 0..15 from the head: hot requests get 0, 1; a
        // cold one then gets the tail, 15.
        assert_eq!(hot_then_cold(hot, cold), [0, 1, 15]);
        // A cold refill runs 0..15 from the tail: cold requests get 0, 1; a
        // hot one then gets the head, 15.
        assert_eq!(hot_then_cold(cold, hot), [0, 1, 15]);
    }

    #[test]
    fn split_at_every_order() {
        let pgdat = one_big_block();
        for order in 0..MAX_ORDER {
            let page = pgdat.alloc_pages(GFP_KERNEL, order).unwrap();
            // The lower half is kept at every split, so the block starts at 0
            // and one free block of each order from `order` to 9 is left.
            assert_eq!(pfn(&pgdat, page), 0);
            assert_eq!(page.page_count(), 1);
            let expected: [usize; MAX_ORDER] =
                core::array::from_fn(|o| usize::from(o >= order && o < MAX_ORDER - 1));
            assert_eq!(buddyinfo(&pgdat, ZoneType::Dma), expected, "order {order}");
            assert_eq!(
                pgdat.zone(ZoneType::Dma).lock().free_pages(),
                1024 - (1 << order)
            );
            check_all(&pgdat);
            pgdat.__free_pages(page, order);
            assert_eq!(
                buddyinfo(&pgdat, ZoneType::Dma),
                [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
            );
            check_all(&pgdat);
        }
    }

    #[test]
    fn merge_at_every_order() {
        let pgdat = one_big_block();
        for order in 0..MAX_ORDER - 1 {
            let a = pgdat.alloc_pages(GFP_KERNEL, order).unwrap();
            let b = pgdat.alloc_pages(GFP_KERNEL, order).unwrap();
            assert_eq!((pfn(&pgdat, a), pfn(&pgdat, b)), (0, 1 << order));
            pgdat.__free_pages(a, order);
            // `a`'s buddy `b` is busy: `a` waits on free_area[order].
            let info = buddyinfo(&pgdat, ZoneType::Dma);
            assert_eq!(info[order], 1);
            assert_eq!(info[MAX_ORDER - 1], 0);
            check_all(&pgdat);
            pgdat.__free_pages(b, order);
            // Freeing `b` merges all the way up.
            assert_eq!(
                buddyinfo(&pgdat, ZoneType::Dma),
                [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
                "order {order}"
            );
            check_all(&pgdat);
        }
    }

    #[test]
    fn smallest_sufficient_block_is_split_first() {
        let pgdat = one_big_block();
        let big = pgdat.alloc_pages(GFP_KERNEL, 3).unwrap(); // leaves 8 (o3), 16 (o4), ...
        let small = pgdat.alloc_page(GFP_KERNEL).unwrap();
        // Order 0 came from the order-3 block at 8, not from the bigger ones.
        assert_eq!(pfn(&pgdat, small), 8);
        assert_eq!(
            buddyinfo(&pgdat, ZoneType::Dma),
            [1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 0]
        );
        pgdat.__free_page(small);
        pgdat.__free_pages(big, 3);
        assert_eq!(
            buddyinfo(&pgdat, ZoneType::Dma),
            [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
        );
    }

    #[test]
    fn every_block_is_aligned_and_inside_one_zone() {
        // Odd zone boundaries and holes: DMA [1,100), Normal [100,700),
        // HighMem [700,1000), holes at [37,41) and [333,400).
        let pgdat = booted(
            1000,
            [100, 700, 1000],
            &[(1, 37), (41, 333), (400, 1000)],
            &[(1, 37), (41, 333), (400, 1000)],
        );
        check_all(&pgdat);
        let managed: usize = ZoneType::ALL
            .iter()
            .map(|&zone| pgdat.zone(zone).lock().managed_pages())
            .sum();
        // Biggest blocks first, every GFP class, until nothing is left.
        let mut blocks = Vec::new();
        for order in (0..MAX_ORDER).rev() {
            for gfp in [GFP_DMA, GFP_KERNEL, GFP_HIGHUSER] {
                while let Some(page) = pgdat.alloc_pages(gfp, order) {
                    let start = pfn(&pgdat, page);
                    assert_eq!(start % (1 << order), 0, "pfn {start:#x} order {order}");
                    let zone = pgdat.page_zone(page).lock();
                    assert!(
                        zone.zone_spans_pfn(start) && zone.zone_spans_pfn(start + (1 << order) - 1)
                    );
                    drop(zone);
                    let block = start..start + (1 << order);
                    assert!(
                        !(37..41).any(|p| block.contains(&p))
                            && !(333..400).any(|p| block.contains(&p))
                    );
                    blocks.push((page, order));
                }
            }
        }
        check_all(&pgdat);
        assert_eq!(
            blocks.iter().map(|&(_, order)| 1 << order).sum::<usize>(),
            managed
        );
        assert!(blocks.iter().any(|&(_, order)| order >= 6));
        for (page, order) in blocks {
            pgdat.__free_pages(page, order);
        }
        check_all(&pgdat);
    }

    #[test]
    fn highmem_requests_fall_back_to_normal_then_dma() {
        let pgdat = three_zones();
        let mut zones = Vec::new();
        while let Some(page) = pgdat.alloc_page(GFP_HIGHUSER) {
            zones.push(page.page_zonenum());
        }
        assert_eq!(zones.len(), 512);
        assert!(zones[..256].iter().all(|&z| z == ZoneType::HighMem));
        assert!(zones[256..448].iter().all(|&z| z == ZoneType::Normal));
        assert!(zones[448..].iter().all(|&z| z == ZoneType::Dma));
        check_all(&pgdat);
    }

    #[test]
    fn normal_requests_never_use_highmem_and_dma_requests_never_use_normal() {
        let pgdat = three_zones();
        let mut kernel = Vec::new();
        while let Some(page) = pgdat.alloc_page(GFP_KERNEL) {
            kernel.push(page);
        }
        // Normal (192 pages) then DMA (64), and never HighMem.
        assert_eq!(kernel.len(), 256);
        assert!(kernel.iter().all(|page| !page.is_highmem()));
        assert_eq!(pgdat.zone(ZoneType::HighMem).lock().free_pages(), 256);
        for page in kernel.drain(..) {
            pgdat.__free_page(page);
        }
        let mut dma = Vec::new();
        while let Some(page) = pgdat.alloc_page(GFP_DMA) {
            dma.push(page);
        }
        assert_eq!(dma.len(), 64);
        assert!(dma.iter().all(|page| page.page_zonenum() == ZoneType::Dma));
        assert_eq!(pgdat.zone(ZoneType::Normal).lock().free_pages(), 192);
        check_all(&pgdat);
    }

    #[test]
    fn big_requests_skip_zones_without_a_big_enough_block() {
        let pgdat = three_zones();
        // HighMem's biggest block is order 8, Normal has an order 7: an
        // order-8 HighMem request is served by HighMem, the next one by nobody
        // (Normal and DMA have nothing of order 8).
        assert!(pgdat.alloc_pages(GFP_HIGHUSER, 8).unwrap().is_highmem());
        assert!(pgdat.alloc_pages(GFP_HIGHUSER, 8).is_none());
        // An order-7 request now falls back to Normal.
        assert_eq!(
            pgdat.alloc_pages(GFP_HIGHUSER, 7).unwrap().page_zonenum(),
            ZoneType::Normal
        );
        check_all(&pgdat);
    }

    #[test]
    fn orders_of_max_order_and_above_are_refused() {
        let pgdat = one_big_block();
        let before = snapshot(&pgdat);
        assert!(pgdat.alloc_pages(GFP_KERNEL, MAX_ORDER).is_none());
        assert!(pgdat.alloc_pages(GFP_KERNEL, 40).is_none());
        let page = pgdat.alloc_pages(GFP_KERNEL, MAX_ORDER - 1).unwrap();
        pgdat.__free_pages(page, MAX_ORDER);
        assert_eq!(
            page.page_count(),
            1,
            "refused free must not drop the reference"
        );
        pgdat.__free_pages(page, MAX_ORDER - 1);
        assert_eq!(snapshot(&pgdat), before);
    }

    #[test]
    fn double_free_is_reported_and_refused() {
        let pgdat = three_zones();
        let page = pgdat.alloc_page(GFP_KERNEL).unwrap();
        let other = pgdat.alloc_page(GFP_KERNEL).unwrap();
        pgdat.__free_page(page);
        let before = snapshot(&pgdat);
        let reports = pgdat.nr_bad_page_reports();
        // `page` is now a free block of order 0 (its buddy `other` is busy).
        assert!(page.is_buddy());
        pgdat.__free_page(page);
        assert_eq!(pgdat.nr_bad_page_reports(), reports + 1);
        assert_eq!(snapshot(&pgdat), before);
        check_all(&pgdat);
        // After merging it is a tail page of a bigger free block: count 0.
        pgdat.__free_page(other);
        let before = snapshot(&pgdat);
        pgdat.__free_page(page);
        pgdat.__free_page(other);
        assert_eq!(pgdat.nr_bad_page_reports(), reports + 3);
        assert_eq!(snapshot(&pgdat), before);
        check_all(&pgdat);
    }

    #[test]
    fn freeing_a_reserved_page_is_reported_and_refused() {
        // PFNs [20,30) are kept by memblock.
        let pgdat = booted(64, [64, 64, 64], &[(0, 64)], &[(0, 20), (30, 64)]);
        let before = snapshot(&pgdat);
        let reserved = pgdat.pfn_to_page(25).unwrap();
        pgdat.__free_page(reserved);
        pgdat.__free_pages(pgdat.pfn_to_page(24).unwrap(), 2);
        assert_eq!(pgdat.nr_bad_page_reports(), 2);
        assert_eq!(snapshot(&pgdat), before);
        assert!(reserved.is_reserved());
        assert_eq!(reserved.page_count(), 1);
        check_all(&pgdat);
    }

    #[test]
    fn misaligned_zone_crossing_and_foreign_frees_are_refused() {
        let pgdat = three_zones();
        let first = pgdat.alloc_page(GFP_DMA).unwrap();
        let second = pgdat.alloc_page(GFP_DMA).unwrap();
        assert_eq!((pfn(&pgdat, first), pfn(&pgdat, second)), (0, 1));
        let before = snapshot(&pgdat);
        pgdat.__free_pages(second, 1); // PFN 1 is not order-1 aligned
        pgdat.__free_pages(first, 7); // [0,128) crosses into Normal
        let stranger = Page::new();
        stranger.init_page_count();
        pgdat.__free_page(&stranger);
        assert_eq!(snapshot(&pgdat), before);
        assert_eq!(
            (
                first.page_count(),
                second.page_count(),
                stranger.page_count()
            ),
            (1, 1, 1)
        );
        assert_eq!(pgdat.nr_bad_page_reports(), 2);
        pgdat.__free_page(second);
        pgdat.__free_page(first);
        assert_eq!(
            buddyinfo(&pgdat, ZoneType::Dma),
            [0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]
        );
        check_all(&pgdat);
    }

    #[test]
    fn freeing_with_a_wrong_order_is_refused_without_damage() {
        let pgdat = one_big_block();
        let a = pgdat.alloc_page(GFP_KERNEL).unwrap();
        let before = snapshot(&pgdat);
        // [0,4) would overlap the free blocks at 1 (o0) and 2 (o1).
        pgdat.__free_pages(a, 2);
        assert_eq!(snapshot(&pgdat), before);
        assert_eq!(a.page_count(), 1);
        let b = pgdat.alloc_page(GFP_KERNEL).unwrap();
        assert_eq!(pfn(&pgdat, b), 1);
        let before = snapshot(&pgdat);
        // [0,2) would free `b`, which belongs to someone else.
        pgdat.__free_pages(a, 1);
        assert_eq!(snapshot(&pgdat), before);
        assert_eq!((a.page_count(), b.page_count()), (1, 1));
        assert_eq!(pgdat.nr_bad_page_reports(), 2);
        check_all(&pgdat);
        pgdat.__free_page(a);
        pgdat.__free_page(b);
        assert_eq!(
            buddyinfo(&pgdat, ZoneType::Dma),
            [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
        );
    }

    #[test]
    fn a_shared_page_is_freed_by_its_last_user() {
        let pgdat = one_big_block();
        let page = pgdat.alloc_pages(GFP_KERNEL, 2).unwrap();
        page.get_page();
        pgdat.__free_pages(page, 2);
        assert_eq!(page.page_count(), 1);
        assert_eq!(pgdat.zone(ZoneType::Dma).lock().free_pages(), 1020);
        pgdat.__free_pages(page, 2);
        assert_eq!(pgdat.zone(ZoneType::Dma).lock().free_pages(), 1024);
        assert_eq!(pgdat.nr_bad_page_reports(), 0);
        check_all(&pgdat);
    }

    #[test]
    fn a_page_corrupted_while_free_is_retired_at_allocation() {
        let pgdat = booted(64, [64, 64, 64], &[(0, 64)], &[(0, 64)]);
        // Someone keeps using PFN 5 after it was freed.
        let victim = pgdat.pfn_to_page(5).unwrap();
        victim.get_page();
        let pages: Vec<_> = (0..6)
            .map(|_| pgdat.alloc_page(GFP_KERNEL).unwrap())
            .collect();
        let pfns: Vec<_> = pages.iter().map(|page| pfn(&pgdat, page)).collect();
        // PFN 5 was caught by prep_new_page and skipped.
        assert_eq!(pfns, [0, 1, 2, 3, 4, 6]);
        assert_eq!(pgdat.nr_bad_page_reports(), 1);
        let zone = pgdat.zone(ZoneType::Dma).lock();
        assert_eq!(zone.nr_bad_pages(), 1);
        // The books balance: free + allocated + retired = managed.
        assert_eq!(
            zone.free_pages() + pages.len() + zone.nr_bad_pages(),
            zone.managed_pages()
        );
        zone.check_free_lists().unwrap();
        drop(zone);
        // The retired page can never come back.
        pgdat.__free_page(victim);
        assert!(victim.is_reserved());
        for page in pages {
            pgdat.__free_page(page);
        }
        check_all(&pgdat);
        assert_eq!(pgdat.zone(ZoneType::Dma).lock().free_pages(), 63);
        // 63 free pages around the hole at 5: 4 (o0), 6 (o1), 0 (o2), 8 (o3), ...
        assert_eq!(
            buddyinfo(&pgdat, ZoneType::Dma),
            [1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0]
        );
    }

    #[test]
    fn a_free_page_marked_buddy_by_mistake_is_retired_with_its_mark_removed() {
        let pgdat = booted(64, [64, 64, 64], &[(0, 64)], &[(0, 64)]);
        let victim = pgdat.pfn_to_page(1).unwrap();
        victim.set_buddy();
        assert!(pgdat.zone(ZoneType::Dma).lock().check_free_lists().is_err());
        let whole = pgdat.alloc_pages(GFP_KERNEL, 6);
        assert!(whole.is_none(), "the only block held a corrupt page");
        assert!(!victim.is_buddy() && victim.is_reserved());
        let zone = pgdat.zone(ZoneType::Dma).lock();
        assert_eq!((zone.free_pages(), zone.nr_bad_pages()), (0, 64));
        zone.check_free_lists().unwrap();
    }

    #[test]
    fn the_checker_catches_corruption() {
        let pgdat = one_big_block();
        let a = pgdat.alloc_pages(GFP_KERNEL, 3).unwrap();
        let b = pgdat.alloc_pages(GFP_KERNEL, 3).unwrap();
        let zone_lock = pgdat.zone(ZoneType::Dma);
        let problem = |zone: &Zone| zone.check_free_lists().unwrap_err().problem;

        let mut zone = zone_lock.lock();
        zone.free_area[4].nr_free += 1;
        assert_eq!(problem(&zone), "nr_free disagrees with the free list");
        zone.free_area[4].nr_free -= 1;
        zone.free_pages += 1;
        assert_eq!(problem(&zone), "free_pages disagrees with the free lists");
        zone.free_pages -= 1;
        zone.check_free_lists().unwrap();

        // A page inside a free block claims to be reserved / in use.
        let tail = pgdat.pfn_to_page(17).unwrap();
        tail.set_reserved();
        assert_eq!(problem(&zone), "page in a free block is in use or reserved");
        tail.clear_reserved();
        tail.set_buddy();
        assert_eq!(problem(&zone), "free blocks overlap");
        tail.clear_buddy();
        tail.set_page_zone(ZoneType::Normal);
        assert_eq!(problem(&zone), "free page linked to another zone");
        tail.set_page_zone(ZoneType::Dma);
        // A PG_buddy page on no list.
        b.set_buddy();
        assert_eq!(problem(&zone), "a PG_buddy page is on no free list");
        b.clear_buddy();

        // A buggy free that puts two buddies on the list without merging.
        let map = zone.mem_map();
        for page in [a, b] {
            page.set_page_count(0);
            set_page_order(page, 3, MigrateType::Unmovable);
            zone.free_area[3].free_list[MigrateType::Unmovable as usize].add(pfn(&pgdat, page), &map);
            zone.free_area[3].nr_free += 1;
            zone.free_pages += 8;
        }
        assert_eq!(problem(&zone), "two free buddies left unmerged");
        // A block that sits on one migratetype's list but records another.
        b.set_freepage_migratetype(MigrateType::Movable);
        assert_eq!(problem(&zone), "free block on another migratetype's list than it records");
    }

    #[test]
    fn allocating_a_whole_zone_and_freeing_it_restores_buddyinfo() {
        // Holes and reserved pages give every zone an irregular set of
        // blocks. DMA [1,300), Normal [300,1800), HighMem [1800,3000).
        let memory = [(1, 150), (200, 2900)];
        let free = [(1, 150), (200, 400), (450, 1000), (1001, 2900)];
        let pgdat = booted(3000, [300, 1800, 3000], &memory, &free);
        let initial: [[usize; MAX_ORDER]; MAX_NR_ZONES] =
            ZoneType::ALL.map(|zone| buddyinfo(&pgdat, zone));
        assert!(
            initial
                .iter()
                .all(|info| info.iter().filter(|&&n| n > 0).count() >= 3),
            "{initial:?}"
        );
        for zone_type in ZoneType::ALL {
            let zonelist = only(zone_type);
            for order in 0..MAX_ORDER {
                let free_before = pgdat.zone(zone_type).lock().free_pages();
                let mut blocks = Vec::new();
                while let Some(page) = pgdat.__alloc_pages(GFP_HIGHUSER, order, &zonelist) {
                    assert_eq!(page.page_zonenum(), zone_type);
                    blocks.push(page);
                }
                {
                    let zone = pgdat.zone(zone_type).lock();
                    zone.check_free_lists().unwrap();
                    // Only blocks too small for this order are left.
                    assert!(zone.buddyinfo()[order..].iter().all(|&n| n == 0));
                    assert_eq!(zone.free_pages() + (blocks.len() << order), free_before);
                }
                for page in blocks {
                    pgdat.__free_pages(page, order);
                }
                assert_eq!(
                    buddyinfo(&pgdat, zone_type),
                    initial[zone_type as usize],
                    "zone {zone_type:?} order {order}"
                );
                check_all(&pgdat);
            }
        }
        assert_eq!(pgdat.nr_bad_page_reports(), 0);
    }

    use crate::xorshift::XorShift64 as XorShift;

    /// Every frame of the node is free (in exactly one free block), allocated
    /// (in exactly one live block), or neither; never both or twice.
    fn check_no_overlap(pgdat: &PgData, allocated: &[(&'static Page, usize)]) {
        let mut owner = vec![0u8; pgdat.node_mem_map().pages().len()];
        for zone in &pgdat.node_zones {
            let zone = zone.lock();
            let map = zone.mem_map();
            for (order, area) in zone.free_area.iter().enumerate() {
                for (start, _) in area.free_list.iter().flat_map(|list| list.iter(&map)) {
                    owner[start..][..1 << order]
                        .iter_mut()
                        .for_each(|n| *n += 1);
                }
            }
        }
        // Pages on the per-CPU lists are free too, and in no free block.
        let map = pgdat.node_mem_map();
        for zone_type in ZoneType::ALL {
            for cpu in 0..NR_CPUS {
                let pageset = pgdat.zone_pcp(zone_type, cpu).lock();
                for (pfn, order) in pageset.pcp().blocks(&map) {
                    owner[pfn..][..1 << order].iter_mut().for_each(|n| *n += 1);
                }
            }
        }
        for &(page, order) in allocated {
            let start = pfn(pgdat, page);
            assert_eq!(page.page_count(), 1);
            assert!(!page.is_buddy() && !page.is_reserved());
            owner[start..][..1 << order]
                .iter_mut()
                .for_each(|n| *n += 1);
            for tail in start + 1..start + (1 << order) {
                assert_eq!(pgdat.pfn_to_page(tail).unwrap().page_count(), 0);
            }
        }
        if let Some(p) = owner.iter().position(|&n| n > 1) {
            panic!("pfn {p:#x} is in two blocks");
        }
    }

    /// For each zone: free (in the buddy or on a per-CPU list) + allocated
    /// + retired = managed.
    fn check_conservation(pgdat: &PgData, allocated: &[(&'static Page, usize)]) {
        for zone_type in ZoneType::ALL {
            let in_use: usize = allocated
                .iter()
                .filter(|(page, _)| page.page_zonenum() == zone_type)
                .map(|&(_, order)| 1 << order)
                .sum();
            let pcp = pgdat.nr_pcp_pages(zone_type);
            let zone = pgdat.zone(zone_type).lock();
            assert_eq!(
                zone.free_pages() + pcp + in_use + zone.nr_bad_pages(),
                zone.managed_pages()
            );
        }
    }

    /// The zone `alloc_pages(gfp, order)` must use when no watermark is set:
    /// the first zone of the zonelist whose buddy lists have a free block of
    /// at least `order`. (Pages on the per-CPU lists do not count: the
    /// watermark check looks at the buddy's free pages, as in Linux. With
    /// no buddy page at all even `pages_min = 0` is not met.)
    fn expected_zone(pgdat: &PgData, gfp: GfpFlags, order: usize) -> Option<ZoneType> {
        pgdat.zonelist(gfp).zones().iter().copied().find(|&zone| has_block(pgdat, zone, order))
    }

    fn has_block(pgdat: &PgData, zone: ZoneType, order: usize) -> bool {
        pgdat.zone(zone).lock().buddyinfo()[order..].iter().any(|&n| n > 0)
    }

    /// How one random allocation went.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Outcome {
        Preferred,
        FallbackZone,
        AfterDrain,
        Failed,
    }

    /// Allocate with `gfp` and check the zone that served it against the
    /// policy. If no zone can serve from its buddy lists, a request that may
    /// sleep drains the per-CPU lists (after a reclaim that finds nothing)
    /// and tries again: then every zone before the one that served must
    /// still have no block, every per-CPU list must be empty, and a failure
    /// means no zone has a block even after the drain.
    fn checked_alloc(pgdat: &PgData, gfp: GfpFlags, order: usize, step: usize) -> (Option<&'static Page>, Outcome) {
        let zones = pgdat.zonelist(gfp).zones();
        let expected = expected_zone(pgdat, gfp, order);
        let page = pgdat.alloc_pages(gfp, order);
        let served = page.map(|page| page.page_zonenum());
        if expected.is_some() || !gfp.contains(GfpFlags::__GFP_WAIT) {
            assert_eq!(served, expected, "step {step}");
            let outcome = match expected {
                Some(zone) if Some(&zone) == zones.first() => Outcome::Preferred,
                Some(_) => Outcome::FallbackZone,
                None => Outcome::Failed,
            };
            return (page, outcome);
        }
        assert!(ZoneType::ALL.iter().all(|&z| pgdat.nr_pcp_pages(z) == 0), "step {step}: not drained");
        let before_served = zones.iter().take_while(|&&zone| Some(zone) != served);
        for &zone in before_served {
            assert!(!has_block(pgdat, zone, order), "step {step}: {zone:?} had a block after the drain");
        }
        (page, if page.is_some() { Outcome::AfterDrain } else { Outcome::Failed })
    }

    fn random_alloc_free_run(seed: u64, steps: usize) {
        let memory = [(1, 0x9f), (0x100, 1400), (1500, 2500)];
        let free = [
            (1, 2),
            (3, 0x9f),
            (0x100, 0x180),
            (0x1a0, 1400),
            (1500, 2400),
        ];
        let pgdat = booted(2500, [256, 1024, 2500], &memory, &free);
        // Group by mobility even on this small machine, and give Normal and
        // HighMem per-CPU lists (high 8, batch 2); DMA keeps none.
        pgdat.set_page_group_by_mobility_disabled(false);
        pgdat.setup_pagelist_highmark(ZoneType::Normal, 8);
        pgdat.setup_pagelist_highmark(ZoneType::HighMem, 8);
        let initial: [[usize; MAX_ORDER]; MAX_NR_ZONES] =
            ZoneType::ALL.map(|zone| buddyinfo(&pgdat, zone));
        let mut rng = XorShift(seed);
        let mut allocated: Vec<(&'static Page, usize)> = Vec::new();
        let mut last_freed: Option<(&'static Page, usize)> = None;
        let mut expected_reports = 0;
        let mut outcomes = [0usize; 4];
        for step in 0..steps {
            // Alternate phases that mostly fill memory and mostly drain it,
            // so that both exhaustion and coalescing happen mid-run.
            let nr_alloc_choices = if (step / 500) % 2 == 0 { 14 } else { 5 };
            match rng.below(20) {
                // Allocate, with small orders more likely than big ones.
                roll if roll < nr_alloc_choices => {
                    let gfp = [
                        GFP_KERNEL,
                        GFP_HIGHUSER,
                        GFP_DMA,
                        GfpFlags::GFP_ATOMIC,
                        GfpFlags::GFP_HIGHUSER_MOVABLE,
                        GfpFlags::GFP_TEMPORARY,
                        GFP_KERNEL | GfpFlags::__GFP_COLD,
                        GfpFlags::GFP_HIGHUSER_MOVABLE | GfpFlags::__GFP_COLD,
                    ][rng.below(8)];
                    let order = rng.below(MAX_ORDER).min(rng.below(MAX_ORDER));
                    let (page, outcome) = checked_alloc(&pgdat, gfp, order, step);
                    outcomes[outcome as usize] += 1;
                    if let Some(page) = page {
                        assert_eq!(pfn(&pgdat, page) % (1 << order), 0);
                        allocated.push((page, order));
                    }
                }
                // Free a random live block; sometimes cold.
                0..19 if !allocated.is_empty() => {
                    let (page, order) = allocated.swap_remove(rng.below(allocated.len()));
                    if order == 0 && rng.below(4) == 0 {
                        pgdat.free_cold_page(page);
                    } else {
                        pgdat.__free_pages(page, order);
                    }
                    last_freed = Some((page, order));
                }
                // Misbehave: free the last freed block again, or a reserved page.
                _ => {
                    let before = snapshot(&pgdat);
                    match last_freed.take() {
                        Some((page, order))
                            if !allocated.iter().any(|&(p, _)| core::ptr::eq(p, page)) =>
                        {
                            pgdat.__free_pages(page, order)
                        }
                        _ => pgdat.__free_page(pgdat.pfn_to_page(2).unwrap()),
                    }
                    expected_reports += 1;
                    assert_eq!(
                        snapshot(&pgdat),
                        before,
                        "step {step}: a refused free changed the zones"
                    );
                }
            }
            assert_eq!(pgdat.nr_bad_page_reports(), expected_reports, "step {step}");
            check_all(&pgdat);
            check_no_overlap(&pgdat, &allocated);
            check_conservation(&pgdat, &allocated);
        }
        // The run went through every path: served, fallen back to another
        // zone, served after a drain of the per-CPU lists, exhausted; and the
        // per-CPU lists and the migrate-type fallback were used.
        assert!(outcomes.iter().all(|&n| n > 0), "{outcomes:?}");
        for item in [VmEventItem::PcpRefill, VmEventItem::PcpSpill, VmEventItem::ExtfragFallback, VmEventItem::PageblockSteal] {
            assert!(pgdat.global_vm_event(item) > 0, "{item:?} never happened");
        }
        // Whatever phase the run ended in, a few single pages freed last
        // stay on the per-CPU lists (fewer than `high`), so the final
        // coalescing check below needs the drain.
        for _ in 0..4 {
            let page = pgdat.alloc_pages(GfpFlags::GFP_HIGHUSER_MOVABLE | GfpFlags::__GFP_NORETRY, 0).expect("memory was freed");
            allocated.push((page, 0));
        }
        pgdat.drain_all_pages();
        for (page, order) in allocated.drain(..) {
            pgdat.__free_pages(page, order);
        }
        check_all(&pgdat);
        assert!(pgdat.nr_pcp_pages(ZoneType::Normal) + pgdat.nr_pcp_pages(ZoneType::HighMem) > 0);
        pgdat.drain_all_pages();
        check_all(&pgdat);
        // Full coalescing: exactly the blocks we started with.
        assert_eq!(ZoneType::ALL.map(|zone| buddyinfo(&pgdat, zone)), initial);
        for zone in &pgdat.node_zones {
            let zone = zone.lock();
            assert_eq!(zone.free_pages(), zone.managed_pages());
        }
    }

    #[test]
    fn random_alloc_free_sequences_keep_every_invariant() {
        for seed in [1, 0x9e37_79b9_7f4a_7c15, 0xdead_beef, 42] {
            random_alloc_free_run(seed, 10_000);
        }
    }
}

/// The same properties on the real machine: the zones `mem_init` filled
/// from the firmware's memory map, at whatever RAM size QEMU was given.
#[cfg(all(test, target_os = "none"))]
mod kernel_tests {
    use super::*;
    use crate::arch::x86::irq::{IrqReturn, TIMER_IRQ, free_irq, request_irq};
    use crate::mm::init::node;
    use crate::mm::kernel_test_support::{only, quiesced_snapshot};
    use crate::mm::list::PageList;
    use core::sync::atomic::AtomicBool;

    /// The GFP class whose zonelist starts with `zone_type`.
    fn gfp_for(zone_type: ZoneType) -> GfpFlags {
        match zone_type {
            ZoneType::Dma => GfpFlags::GFP_DMA,
            ZoneType::Normal => GfpFlags::GFP_KERNEL,
            ZoneType::HighMem => GfpFlags::GFP_HIGHUSER,
        }
    }

    /// Allocates order-`order` blocks from `zone_type` (and nothing else:
    /// its zonelist holds it alone) until it has none left, keeping them on
    /// a list threaded through the blocks' own descriptors (no heap
    /// needed).  Runs as memory-releasing code (`PF_MEMALLOC`), which may
    /// take every free page: the buddy allocator itself is under test here,
    /// not the watermarks.
    fn drain_zone(node: &PgData, zone_type: ZoneType, order: usize) -> PageList {
        let map = node.node_mem_map();
        let mut blocks = PageList::new();
        let zonelist = only(zone_type);
        let saved = node.memalloc_noreclaim_save();
        while let Some(page) = node.__alloc_pages(gfp_for(zone_type) | GfpFlags::__GFP_NOWARN, order, &zonelist) {
            assert_eq!(page.page_zonenum(), zone_type);
            let pfn = node.page_to_pfn(page).unwrap();
            assert_eq!(pfn % (1 << order), 0, "order-{order} block at pfn {pfn:#x} is misaligned");
            blocks.add(pfn, &map);
        }
        node.memalloc_noreclaim_restore(saved);
        blocks
    }

    fn free_all(node: &PgData, mut blocks: PageList, order: usize) {
        let map = node.node_mem_map();
        while let Some(pfn) = blocks.pop_front(&map) {
            node.__free_pages(node.pfn_to_page(pfn).unwrap(), order);
        }
    }

    #[test_case]
    fn allocating_every_page_of_each_zone_at_each_order_restores_buddyinfo() {
        let node = node();
        for zone_type in ZoneType::ALL {
            if !node.zone(zone_type).lock().is_populated() {
                continue;
            }
            for order in 0..MAX_ORDER {
                let before = quiesced_snapshot(node);
                let expected_blocks: usize = before[zone_type as usize].0[order..]
                    .iter()
                    .enumerate()
                    .map(|(i, &count)| count << i)
                    .sum();
                let blocks = drain_zone(node, zone_type, order);
                assert_eq!(blocks.len(), expected_blocks, "{zone_type:?} order {order}: every block handed out");
                {
                    let zone = node.zone(zone_type).lock();
                    assert!(zone.buddyinfo()[order..].iter().all(|&n| n == 0), "{zone_type:?} has no block >= order {order} left");
                    zone.check_free_lists().unwrap_or_else(|e| panic!("{e}"));
                }
                node.check_pcp_lists(zone_type).unwrap_or_else(|e| panic!("{e}"));
                free_all(node, blocks, order);
                assert_eq!(quiesced_snapshot(node), before, "{zone_type:?} order {order}: everything merged back");
            }
        }
    }

    /// Every order of every populated zone: when the zone passes its own
    /// `pages_low` check for the order (the first pass of `__alloc_pages`),
    /// the block must come from that zone; otherwise the request may fall
    /// back to a lower zone or fail, and a block it gets is checked alike.
    #[test_case]
    fn each_order_splits_aligned_and_merges_back() {
        let node = node();
        let mut served_by_own_zone = 0;
        for zone_type in ZoneType::ALL.into_iter().filter(|&z| node.zone(z).lock().is_populated()) {
            for order in 0..MAX_ORDER {
                let before = quiesced_snapshot(node);
                let own_zone_can_serve = {
                    let zone = node.zone(zone_type).lock();
                    zone.zone_watermark_ok(order, zone.pages_low(), zone_type, AllocFlags::ALLOC_WMARK_LOW)
                };
                let page = node.alloc_pages(gfp_for(zone_type), order);
                if own_zone_can_serve {
                    let page = page.unwrap_or_else(|| panic!("{zone_type:?} has a free order-{order} block above pages_low"));
                    assert_eq!(page.page_zonenum(), zone_type, "the first pass takes the zonelist's first zone");
                    served_by_own_zone += 1;
                }
                let Some(page) = page else { continue };
                let pfn = node.page_to_pfn(page).unwrap();
                assert_eq!(pfn % (1 << order), 0);
                assert_eq!(page.page_count(), 1);
                assert!(!page.is_buddy() && !page.is_reserved());
                let zone = page.page_zonenum();
                // An order-0 page may come with a per-CPU refill: count those
                // pages as free too.
                let free_now = node.zone(zone).lock().free_pages() + node.nr_pcp_pages(zone);
                assert_eq!(free_now, before[zone as usize].1 - (1 << order));
                node.__free_pages(page, order);
                assert_eq!(quiesced_snapshot(node), before);
            }
        }
        assert!(served_by_own_zone >= 2 * 8, "at least orders 0..8 of DMA and Normal were served, got {served_by_own_zone}");
    }

    #[test_case]
    fn requests_fall_back_to_lower_zones_only() {
        let node = node();
        let populated = |z: ZoneType| node.zone(z).lock().is_populated();
        let zone_of = |gfp| {
            let page = node.alloc_page(gfp).expect("memory is free");
            let zone = page.page_zonenum();
            node.__free_page(page);
            zone
        };
        let best = |order: &[ZoneType]| *order.iter().find(|&&z| populated(z)).unwrap();
        assert_eq!(zone_of(GfpFlags::GFP_DMA), ZoneType::Dma);
        assert_eq!(zone_of(GfpFlags::GFP_KERNEL), best(&[ZoneType::Normal, ZoneType::Dma]));
        assert_eq!(zone_of(GfpFlags::GFP_HIGHUSER), best(&[ZoneType::HighMem, ZoneType::Normal, ZoneType::Dma]));

        // With Normal exhausted, GFP_KERNEL is served from DMA and never
        // from HighMem.
        let before = quiesced_snapshot(node);
        let normal = drain_zone(node, ZoneType::Normal, 0);
        let page = node.alloc_page(GfpFlags::GFP_KERNEL).expect("DMA still has pages");
        assert_eq!(page.page_zonenum(), ZoneType::Dma);
        node.__free_page(page);
        free_all(node, normal, 0);

        // With DMA exhausted, a DMA request fails rather than use Normal.
        let dma = drain_zone(node, ZoneType::Dma, 0);
        assert!(node.alloc_page(GfpFlags::GFP_DMA).is_none());
        free_all(node, dma, 0);
        assert_eq!(quiesced_snapshot(node), before);
    }

    #[test_case]
    fn double_free_and_freeing_a_reserved_page_are_refused() {
        let node = node();
        let page = node.alloc_pages(GfpFlags::GFP_KERNEL, 2).unwrap();
        node.__free_pages(page, 2);
        let before = quiesced_snapshot(node);
        let reports = node.nr_bad_page_reports();
        node.__free_pages(page, 2);
        assert_eq!(quiesced_snapshot(node), before, "a double free changes nothing");
        assert_eq!(node.nr_bad_page_reports(), reports + 1);

        // Page 0 is reserved (BIOS data) forever.
        let page0 = node.pfn_to_page(0).unwrap();
        assert!(page0.is_reserved());
        node.__free_page(page0);
        assert_eq!(quiesced_snapshot(node), before, "a reserved page never reaches the free lists");
        assert_eq!(node.nr_bad_page_reports(), reports + 2);
        for zone_type in ZoneType::ALL {
            node.zone(zone_type).lock().check_free_lists().unwrap_or_else(|e| panic!("{e}"));
        }
    }

    #[test_case]
    fn gfp_zero_hands_out_a_zeroed_low_frame() {
        use crate::arch::x86::paging::clear_page;
        use crate::mm::highmem::page_address;
        let node = node();
        // Dirty a low page, free it (it goes to the hot end of this CPU's
        // list), and ask for a zeroed one: the same frame comes back, zeroed.
        let page = node.alloc_page(GfpFlags::GFP_KERNEL).unwrap();
        let vaddr = page_address(page).unwrap();
        let words = vaddr as *mut u32;
        for index in 0..1024 {
            // SAFETY: the page is ours and direct-mapped at `vaddr`.
            unsafe { words.add(index).write_volatile(0xdead_beef) };
        }
        node.__free_page(page);
        let zeroed = node.alloc_page(GfpFlags::GFP_KERNEL | GfpFlags::__GFP_ZERO).unwrap();
        assert!(core::ptr::eq(zeroed, page), "the hot page is reused");
        // SAFETY: as above; the page is ours again.
        assert!((0..1024).all(|index| unsafe { words.add(index).read_volatile() } == 0));
        // SAFETY: leave it as clean as we found it.
        unsafe { clear_page(vaddr) };
        node.__free_page(zeroed);
    }

    /// A high page has no address: `__GFP_ZERO` clears it through the
    /// KM_USER0 window. Dirty a high page through kmap, free it to the hot
    /// end of this CPU's list, ask for a zeroed one: the same frame comes
    /// back and reads as zeros through another mapping; the window is
    /// unmapped again.
    #[test_case]
    fn a_zeroed_high_page_reads_back_as_zeros() {
        use crate::mm::highmem::{kmap, kunmap};
        use crate::mm::kmap_atomic::{km_type, kmap_atomic, kunmap_atomic};
        if !crate::mm::kernel_test_support::populated(ZoneType::HighMem) {
            crate::skip!("no high memory at this size");
        }
        let node = node();
        let page = node.alloc_page(GfpFlags::GFP_HIGHUSER).unwrap();
        assert!(page.is_highmem());
        let words = kmap(page) as *mut u32;
        for index in 0..1024 {
            // SAFETY: the page is ours and kmapped at `words`.
            unsafe { words.add(index).write_volatile(0xdead_beef) };
        }
        kunmap(page);
        node.__free_page(page);
        let zeroed = node.alloc_page(GfpFlags::GFP_HIGHUSER | GfpFlags::__GFP_ZERO).unwrap();
        assert!(core::ptr::eq(zeroed, page), "the hot page is reused");
        let window = crate::mm::layout::__fix_to_virt(
            crate::mm::layout::fixed_addresses::FIX_KMAP_BEGIN + km_type::KM_USER0 as usize,
        );
        assert!(crate::arch::x86::paging::lookup_address(window).is_none(), "the clearing window is unmapped");
        let words = kmap_atomic(zeroed, km_type::KM_USER1) as *const u32;
        // SAFETY: the page is ours and mapped at `words` until kunmap_atomic.
        let nonzero = (0..1024).filter(|&index| unsafe { words.add(index).read_volatile() } != 0).count();
        kunmap_atomic(words as usize, km_type::KM_USER1);
        assert_eq!(nonzero, 0, "every word of the high page reads 0");
        node.__free_page(zeroed);
    }

    /// Seed 000's `might_sleep_if(wait)`: a request that may sleep is
    /// reported in an atomic section or an interrupt handler, with the
    /// location in `__alloc_pages`, even though memory is plentiful; one
    /// that may not sleep is not.
    #[test_case]
    fn a_request_that_may_sleep_is_reported_in_atomic_context() {
        use crate::preempt::{last_might_sleep_report, might_sleep_reports, preempt_disable, preempt_enable};
        let node = node();
        let reports = might_sleep_reports();
        node.__free_page(node.alloc_page(GfpFlags::GFP_KERNEL).unwrap());
        assert_eq!(might_sleep_reports(), reports, "no report where sleeping is fine");
        preempt_disable();
        node.__free_page(node.alloc_page(GfpFlags::GFP_ATOMIC).unwrap());
        assert_eq!(might_sleep_reports(), reports, "GFP_ATOMIC never sleeps");
        let page = node.alloc_page(GfpFlags::GFP_KERNEL);
        preempt_enable();
        node.__free_page(page.expect("plenty of memory"));
        assert_eq!(might_sleep_reports(), reports + 1);
        let report = last_might_sleep_report().unwrap();
        assert_eq!(report.location.file(), file!(), "reported at __alloc_pages");
        assert!(report.preempt_count.in_atomic());
        IN_IRQ_DONE.store(false, Ordering::SeqCst);
        let cookie = request_irq(TIMER_IRQ, gfp_kernel_in_the_tick, "gfp-kernel-in-irq").unwrap();
        while !IN_IRQ_DONE.load(Ordering::SeqCst) {
            crate::sched::schedule();
        }
        free_irq(cookie);
        assert_eq!(might_sleep_reports(), reports + 2, "and in an interrupt handler");
        assert!(last_might_sleep_report().unwrap().preempt_count.in_irq());
    }

    static IN_IRQ_DONE: AtomicBool = AtomicBool::new(false);
    static IN_IRQ_GOT_PAGE: AtomicBool = AtomicBool::new(false);

    fn gfp_kernel_in_the_tick(_irq: u32) -> IrqReturn {
        if !IN_IRQ_DONE.load(Ordering::SeqCst) {
            let node = node();
            node.__free_page(node.alloc_page(GfpFlags::GFP_KERNEL).expect("plenty of memory"));
            IN_IRQ_DONE.store(true, Ordering::SeqCst);
        }
        IrqReturn::Handled
    }

    fn zeroed_high_page_in_the_tick(_irq: u32) -> IrqReturn {
        if !IN_IRQ_DONE.load(Ordering::SeqCst) {
            let gfp = GfpFlags::GFP_ATOMIC | GfpFlags::__GFP_HIGHMEM | GfpFlags::__GFP_ZERO;
            IN_IRQ_GOT_PAGE.store(node().alloc_page(gfp).is_some(), Ordering::SeqCst);
            IN_IRQ_DONE.store(true, Ordering::SeqCst);
        }
        IrqReturn::Handled
    }

    /// `__GFP_ZERO | __GFP_HIGHMEM` from an interrupt handler is refused
    /// with a BUG report (2.6.17's check in `prep_zero_page`): clearing a
    /// high page needs KM_USER0, which this thread holds meanwhile. No page
    /// is taken; the same request from a thread works.
    #[test_case]
    fn a_zeroed_high_page_is_refused_in_interrupt_context() {
        use crate::mm::kmap_atomic::{km_type, kmap_atomic, kunmap_atomic};
        let node = node();
        let mine = node.alloc_page(GfpFlags::GFP_HIGHUSER).unwrap();
        let before = quiesced_snapshot(node);
        let bugs = node.nr_gfp_bug_reports();
        IN_IRQ_DONE.store(false, Ordering::SeqCst);
        IN_IRQ_GOT_PAGE.store(true, Ordering::SeqCst);
        let cookie = request_irq(TIMER_IRQ, zeroed_high_page_in_the_tick, "zeroed-highmem-in-irq").unwrap();
        let held = kmap_atomic(mine, km_type::KM_USER0);
        while !IN_IRQ_DONE.load(Ordering::SeqCst) {
            core::hint::spin_loop();
        }
        kunmap_atomic(held, km_type::KM_USER0);
        free_irq(cookie);
        assert!(!IN_IRQ_GOT_PAGE.load(Ordering::SeqCst), "refused");
        assert_eq!(node.nr_gfp_bug_reports(), bugs + 1, "with a BUG report");
        assert_eq!(quiesced_snapshot(node), before, "no page taken");
        let gfp = GfpFlags::GFP_ATOMIC | GfpFlags::__GFP_HIGHMEM | GfpFlags::__GFP_ZERO;
        node.__free_page(node.alloc_page(gfp).expect("from a thread the same request works"));
        assert_eq!(node.nr_gfp_bug_reports(), bugs + 1);
        node.__free_page(mine);
    }

    use crate::xorshift::XorShift32 as XorShift;

    /// Marks the head of a block this test allocated, with its order in the
    /// low bits of `private`.
    const STRESS_MAGIC: u32 = 0x5a5a_0000;

    #[test_case]
    fn exhaustion_stress_with_mixed_orders_and_flags_restores_every_count() {
        let node = node();
        let start = quiesced_snapshot(node);
        let mut rng = XorShift(0x1234_5678);
        let mut held_blocks = 0usize;
        let mut held_pages = 0usize;
        let keep = |page: &'static Page, order: usize, blocks: &mut usize, pages: &mut usize| {
            page.set_page_private(STRESS_MAGIC | order as u32);
            *blocks += 1;
            *pages += 1 << order;
        };
        // Phase 1: mixed flags and orders, watermarks in force, until every
        // kind of request fails in a row.
        let flags = [
            GfpFlags::GFP_KERNEL | GfpFlags::__GFP_NORETRY,
            GfpFlags::GFP_HIGHUSER | GfpFlags::__GFP_NORETRY,
            GfpFlags::GFP_HIGHUSER_MOVABLE | GfpFlags::__GFP_NORETRY | GfpFlags::__GFP_COLD,
            GfpFlags::GFP_TEMPORARY | GfpFlags::__GFP_NORETRY,
            GfpFlags::GFP_ATOMIC,
            GfpFlags::GFP_DMA,
            GfpFlags::GFP_KERNEL | GfpFlags::__GFP_NORETRY | GfpFlags::__GFP_ZERO,
        ];
        let mut failures_in_a_row = 0;
        while failures_in_a_row < 64 {
            let gfp = flags[rng.below(flags.len())] | GfpFlags::__GFP_NOWARN;
            let order = rng.below(MAX_ORDER).min(rng.below(MAX_ORDER));
            let order = if gfp.contains(GfpFlags::__GFP_ZERO) { order.min(2) } else { order };
            match node.alloc_pages(gfp, order) {
                Some(page) => {
                    keep(page, order, &mut held_blocks, &mut held_pages);
                    failures_in_a_row = 0;
                }
                None => failures_in_a_row += 1,
            }
        }
        // Phase 2: what the watermarks kept back, with PF_MEMALLOC, biggest
        // blocks first, until not a page is left anywhere.
        let saved = node.memalloc_noreclaim_save();
        let everything = GfpFlags::GFP_HIGHUSER | GfpFlags::__GFP_NOWARN;
        loop {
            for order in (0..MAX_ORDER).rev() {
                while let Some(page) = node.alloc_pages(everything, order) {
                    keep(page, order, &mut held_blocks, &mut held_pages);
                }
            }
            if node.drain_all_pages() == 0 {
                break;
            }
        }
        node.memalloc_noreclaim_restore(saved);
        for zone_type in ZoneType::ALL {
            assert_eq!(node.zone(zone_type).lock().free_pages(), 0, "{zone_type:?} is empty");
        }
        let total: usize = start.iter().map(|(_, free)| free).sum();
        assert_eq!(held_pages, total, "every free page was handed out exactly once");
        // Phase 3: free in a scrambled order: walk the PFNs by a stride
        // coprime to their number (a prime larger than any PFN).
        let nr_pfns = node.node_mem_map().pages().len();
        let mut freed_blocks = 0;
        for i in 0..nr_pfns {
            let pfn = ((i as u64 * 1_000_003 + 12_345) % nr_pfns as u64) as usize;
            let page = node.pfn_to_page(pfn).unwrap();
            let private = page.page_private();
            if private & !0xf != STRESS_MAGIC || page.page_count() != 1 || page.is_reserved() {
                continue;
            }
            let order = (private & 0xf) as usize;
            page.set_page_private(0);
            if order == 0 && i % 3 == 0 {
                node.free_cold_page(page);
            } else {
                node.__free_pages(page, order);
            }
            freed_blocks += 1;
        }
        assert_eq!(freed_blocks, held_blocks);
        for zone_type in ZoneType::ALL {
            node.check_pcp_lists(zone_type).unwrap_or_else(|e| panic!("{e}"));
        }
        assert_eq!(quiesced_snapshot(node), start, "exactly the starting free counts and blocks");
        for zone_type in ZoneType::ALL {
            node.zone(zone_type).lock().check_free_lists().unwrap_or_else(|e| panic!("{e}"));
        }
    }
}
