//! # `zone->lock`, and what the allocator reads without it
//!
//! Every allocation checks the zone's watermark (`zone_watermark_ok`:
//! enough free pages above `pages_min`/`low`/`high`, less the
//! `lowmem_reserve` kept against lower zones' users). Linux reads
//! `zone->free_pages` and `free_area[].nr_free` for that *without* the zone
//! lock: a racy snapshot is good enough for a heuristic, and taking the
//! lock — a cache line every CPU writes — on every allocation would undo
//! what the per-CPU lists save.
//!
//! Our [`Zone`] lives inside its lock, so its counters cannot be read
//! without it in safe Rust. [`ZoneLock`] therefore keeps a copy of the
//! counters the check needs in atomics beside the lock, and its guard
//! ([`ZoneGuard`]) publishes them when it is dropped, before the lock is
//! released: whatever changed the zone under the lock, the copy is exact
//! at every unlock and lags only while someone holds the lock — the same
//! staleness Linux's unlocked reads have. Readers: [`ZoneLock::zone_watermark_ok`].

use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicUsize, Ordering};

use super::MAX_ORDER;
use super::mmzone::{MAX_NR_ZONES, Zone, ZoneType};
use super::watermark::{AllocFlags, watermark_ok};
use crate::spinlock::{SpinLockIrq, SpinLockIrqGuard};

/// The counters `zone_watermark_ok` reads, as of the last unlock.
#[derive(Debug)]
struct Published {
    free_pages: AtomicUsize,
    nr_free: [AtomicUsize; MAX_ORDER],
    /// `pages_min`, `pages_low`, `pages_high`.
    watermarks: [AtomicUsize; 3],
    lowmem_reserve: [AtomicUsize; MAX_NR_ZONES],
}

impl Published {
    /// The free counts, which nearly every locked section changes: copied at
    /// every unlock.
    fn publish_counters(&self, zone: &Zone) {
        self.free_pages.store(zone.free_pages(), Ordering::Relaxed);
        for (copy, area) in self.nr_free.iter().zip(&zone.free_area) {
            copy.store(area.nr_free, Ordering::Relaxed);
        }
    }

    /// The watermarks and reserves, which change only when they are
    /// computed (boot, `min_free_kbytes`): copied by the unlock after
    /// [`ZoneGuard::set_watermarks`] or [`ZoneGuard::set_lowmem_reserve`],
    /// so that the common unlock writes 12 words, not 18.
    fn publish_limits(&self, zone: &Zone) {
        let marks = [zone.pages_min(), zone.pages_low(), zone.pages_high()];
        for (copy, mark) in self.watermarks.iter().zip(marks) {
            copy.store(mark, Ordering::Relaxed);
        }
        for (copy, reserve) in self.lowmem_reserve.iter().zip(ZoneType::ALL.map(|classzone| zone.lowmem_reserve(classzone))) {
            copy.store(reserve, Ordering::Relaxed);
        }
    }
}

/// A zone behind `zone->lock` (Linux `spinlock_t lock` in `struct zone`,
/// taken with interrupts off), with its watermark counters readable
/// without the lock (see the module doc).
#[derive(Debug)]
pub struct ZoneLock {
    lock: SpinLockIrq<Zone>,
    published: Published,
    /// The zone's span, `[start, end)` in PFNs: fixed when the zone is made
    /// (no memory hotplug here), so readable without the lock.
    span: (usize, usize),
}

/// Holding `zone->lock`; dropping it publishes the counters, then unlocks.
pub struct ZoneGuard<'a> {
    guard: SpinLockIrqGuard<'a, Zone>,
    published: &'a Published,
    /// A watermark or reserve was set under this guard: publish them too.
    limits_changed: bool,
}

impl ZoneLock {
    /// `zone` behind its lock, its counters published.
    pub fn new(zone: Zone) -> ZoneLock {
        let published = Published {
            free_pages: AtomicUsize::new(0),
            nr_free: [const { AtomicUsize::new(0) }; MAX_ORDER],
            watermarks: [const { AtomicUsize::new(0) }; 3],
            lowmem_reserve: [const { AtomicUsize::new(0) }; MAX_NR_ZONES],
        };
        published.publish_counters(&zone);
        published.publish_limits(&zone);
        let span = (zone.zone_start_pfn(), zone.zone_end_pfn());
        ZoneLock { lock: SpinLockIrq::new(zone), published, span }
    }

    /// Does the zone span `pfn`? (Linux `zone_spans_pfn`, which reads the
    /// span without the lock too.)
    pub fn zone_spans_pfn(&self, pfn: usize) -> bool {
        (self.span.0..self.span.1).contains(&pfn)
    }

    /// Does the zone span all of `[pfn, pfn + nr_pages)`? The free path's
    /// check that a block lies inside one zone, in one comparison pair.
    pub fn zone_spans_range(&self, pfn: usize, nr_pages: usize) -> bool {
        pfn >= self.span.0 && pfn.checked_add(nr_pages).is_some_and(|end| end <= self.span.1)
    }

    /// Take `zone->lock` (interrupts off; Linux `spin_lock_irqsave(&zone->lock)`).
    pub fn lock(&self) -> ZoneGuard<'_> {
        ZoneGuard { guard: self.lock.lock(), published: &self.published, limits_changed: false }
    }

    /// [`Zone::zone_watermark_ok`] without the lock, on the counters of the
    /// last unlock: the check every allocation makes (Linux reads the same
    /// counters unlocked).
    pub fn zone_watermark_ok(&self, order: usize, alloc_flags: AllocFlags, classzone: ZoneType) -> bool {
        let p = &self.published;
        let mark = p.watermarks[Zone::watermark_index(alloc_flags)].load(Ordering::Relaxed);
        watermark_ok(
            p.free_pages.load(Ordering::Relaxed),
            |order| p.nr_free[order].load(Ordering::Relaxed),
            order,
            mark,
            p.lowmem_reserve[classzone as usize].load(Ordering::Relaxed),
            alloc_flags,
        )
    }
}

impl ZoneGuard<'_> {
    /// Set `pages_min`, `pages_low` and `pages_high`; the unlock publishes
    /// them for the unlocked check. (Writing the fields directly would
    /// leave that check on the old values.)
    pub fn set_watermarks(&mut self, min: usize, low: usize, high: usize) {
        self.guard.pages_min = min;
        self.guard.pages_low = low;
        self.guard.pages_high = high;
        self.limits_changed = true;
    }

    /// Set what the zone keeps against requests of `classzone`
    /// (`lowmem_reserve[classzone]`); published at the unlock.
    pub fn set_lowmem_reserve(&mut self, classzone: ZoneType, pages: usize) {
        self.guard.lowmem_reserve[classzone as usize] = pages;
        self.limits_changed = true;
    }
}

impl Deref for ZoneGuard<'_> {
    type Target = Zone;
    fn deref(&self) -> &Zone {
        &self.guard
    }
}

impl DerefMut for ZoneGuard<'_> {
    fn deref_mut(&mut self) -> &mut Zone {
        &mut self.guard
    }
}

impl Drop for ZoneGuard<'_> {
    fn drop(&mut self) {
        // Still under the lock: the copy matches the zone it leaves behind.
        self.published.publish_counters(&self.guard);
        if self.limits_changed {
            self.published.publish_limits(&self.guard);
        }
    }
}

#[cfg(all(test, not(target_os = "none")))]
mod tests {
    use super::*;
    use crate::mm::bootmem::free_all_bootmem;
    use crate::mm::gfp::GfpFlags;
    use crate::mm::mmzone::test_support::node;
    use crate::mm::pfn_phys;

    /// After every allocation and free the unlocked check answers exactly
    /// what the locked one does, for every order, watermark and class zone:
    /// the guard published the zone's counters when it unlocked. (Without
    /// the publish in `ZoneGuard::drop` the copy would keep the boot's
    /// counters and the answers part as soon as memory runs low.)
    #[test]
    fn the_unlocked_watermark_check_agrees_with_the_locked_one() {
        let pgdat: &'static _ = Box::leak(Box::new(node(8192, [4096, 8192, 8192], &[(0, 8192)])));
        free_all_bootmem(pgdat, [(0, pfn_phys(8192))].into_iter());
        pgdat.init_per_zone_pages_min();
        let mut held = Vec::new();
        let flags = [AllocFlags::ALLOC_WMARK_MIN, AllocFlags::ALLOC_WMARK_LOW, AllocFlags::ALLOC_WMARK_HIGH, AllocFlags::ALLOC_WMARK_MIN | AllocFlags::ALLOC_HIGH];
        let mut disagreements = 0;
        let mut checks = 0;
        for step in 0..4000 {
            if let Some(page) = pgdat.alloc_pages(GfpFlags::GFP_ATOMIC | GfpFlags::__GFP_NOWARN, step % 3) {
                held.push((page, step % 3));
            }
            for zone_type in [ZoneType::Dma, ZoneType::Normal] {
                let zone = pgdat.zone(zone_type);
                for order in 0..MAX_ORDER {
                    for &alloc_flags in &flags {
                        for classzone in [ZoneType::Dma, ZoneType::Normal] {
                            let locked = {
                                let z = zone.lock();
                                let mark = z.watermark(alloc_flags);
                                z.zone_watermark_ok(order, mark, classzone, alloc_flags)
                            };
                            checks += 1;
                            if locked != zone.zone_watermark_ok(order, alloc_flags, classzone) {
                                disagreements += 1;
                            }
                        }
                    }
                }
            }
            if step % 7 == 0 {
                if let Some((page, order)) = held.pop() {
                    pgdat.__free_pages(page, order);
                }
            }
        }
        assert!(held.len() > 1000, "memory ran low, so the watermarks were crossed");
        assert_eq!((disagreements, checks > 100_000), (0, true));
    }
}
