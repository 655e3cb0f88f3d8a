//! # Watermarks and `lowmem_reserve`: how much each zone keeps back
//!
//! Some allocations cannot wait for memory to be freed: interrupt handlers,
//! code holding spinlocks, and the reclaim code itself, which needs a page or
//! two to free many. So the allocator never lets an ordinary request empty a
//! zone. Each zone has three *watermarks*, in pages:
//!
//! * `pages_min`: ordinary requests stop when the free count would fall to
//!   it. Below it only `GFP_ATOMIC` (a quarter and a half deeper), other
//!   `__GFP_HIGH` requests (half deeper), requests that cannot sleep (a
//!   quarter deeper) and memory-releasing code (`PF_MEMALLOC`, no limit) may
//!   go.
//! * `pages_low` = 5/4 of `pages_min`: when an allocation finds the zone
//!   this low it wakes kswapd to reclaim in the background.
//! * `pages_high` = 6/4 of `pages_min`: kswapd stops reclaiming there.
//!
//! The watermarks come from one number, `min_free_kbytes`
//! ([`PgData::init_per_zone_pages_min`]): the square root of 16 times the
//! low memory in KiB (so it grows slower than memory: 128 KiB... 64 MiB),
//! shared out among the low-memory zones in proportion to their size
//! ([`PgData::setup_per_zone_pages_min`]). HighMem gets a small fixed
//! minimum instead (1/1024 of the zone, 32 to 128 pages): nothing that must
//! not fail can use high memory anyway.
//!
//! **`lowmem_reserve`** protects the lower zones from requests that could
//! have been served higher up. A `GFP_HIGHUSER` request falls back from
//! HighMem to Normal to DMA; without protection, a big user process could
//! eat all of ZONE_NORMAL, leaving nothing for kernel data structures that
//! can *only* live there. So zone `z` keeps `lowmem_reserve[k]` extra pages
//! against requests whose zonelist starts at zone `k` (their "class zone"):
//! the pages of the zones above `z` up to `k`, divided by
//! `sysctl_lowmem_reserve_ratio[z]` (256 for DMA, 32 for Normal)
//! ([`PgData::setup_per_zone_lowmem_reserve`]).
//!
//! [`Zone::zone_watermark_ok`] puts it together, and also looks at
//! fragmentation: for an order-`k` request, the pages in blocks of order
//! below `k` cannot serve it, so they are discounted order by order while
//! the required reserve halves at each step.
//!
//! ## Where it sits in boot
//! `mm_init` calls [`PgData::init_per_zone_pages_min`] right after
//! `mem_init` (Linux runs it as a `module_init` call, shortly after).
//! Until then all watermarks are 0.
//!
//! ## Linux source
//! `mm/page_alloc.c`: `init_per_zone_pages_min` (later
//! `init_per_zone_wmark_min`), `setup_per_zone_pages_min`,
//! `setup_per_zone_lowmem_reserve`, `sysctl_lowmem_reserve_ratio`,
//! `zone_watermark_ok`, `nr_free_buffer_pages`, the `ALLOC_*` flags;
//! `lib/int_sqrt.c`. *Understanding the Linux Kernel*, 3rd ed., §8.1.4
//! "The Pool of Reserved Page Frames"; seed 000.
//!
//! ## Which Linux
//! Linux 2.6.11, the kernel of seed 000, for every formula here:
//! * the shares and the reserves are computed from `present_pages` (the
//!   RAM in the zone, kernel image and `mem_map` included), so they depend
//!   on the firmware's memory map only, not on how big the kernel is.
//!   Linux 3.x uses `managed_pages` (what the buddy allocator really got);
//! * `pages_low` and `pages_high` are 5/4 and 6/4 of `pages_min` in *every*
//!   zone. Linux 2.6.15 changed them to `pages_min` plus 1/4 and 1/2 of the
//!   zone's proportional share, which differs only for HighMem (whose
//!   `pages_min` is not its share): 2.6.11 gives a 2 GiB machine's HighMem
//!   128/160/192 pages, 2.6.15+ gives 128/435/743;
//! * `nr_free_buffer_pages` is `present - pages_high` summed over DMA and
//!   Normal (`nr_free_zone_pages`); when it first runs no watermark is set,
//!   so it is their present pages.
//!
//! The expected values for 128 MiB, 2 GiB and 4 GiB are worked out by hand
//! in the kernel tests at the bottom of this file.

use core::sync::atomic::Ordering;

use bitflags::bitflags;

use super::MAX_ORDER;
use super::mmzone::{MAX_NR_ZONES, PgData, Zone, ZoneType};
use super::{PAGE_SHIFT, PAGE_SIZE};

bitflags! {
    /// How far one scan of the zonelist may dig (Linux `ALLOC_*`, internal
    /// to `mm/page_alloc.c`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct AllocFlags: u32 {
        /// Ignore the watermarks: every free page may be taken.
        const ALLOC_NO_WATERMARKS = 0x01;
        /// Check against `pages_min` (the default when no other mark is set).
        const ALLOC_WMARK_MIN = 0x02;
        /// Check against `pages_low`.
        const ALLOC_WMARK_LOW = 0x04;
        /// Check against `pages_high`.
        const ALLOC_WMARK_HIGH = 0x08;
        /// The caller cannot sleep: go a quarter below the mark.
        const ALLOC_HARDER = 0x10;
        /// `__GFP_HIGH`: go half below the mark.
        const ALLOC_HIGH = 0x20;
    }
}

/// How much `min_free_kbytes` may be, in KiB (the clamp of
/// `init_per_zone_pages_min`).
pub const MIN_FREE_KBYTES_RANGE: (usize, usize) = (128, 65536);

/// How strongly each zone protects itself from requests that could have
/// been served by a higher zone (Linux `sysctl_lowmem_reserve_ratio`): the
/// reserve is the higher zones' pages divided by this. HighMem's entry is
/// never used (no zone is above it).
pub const SYSCTL_LOWMEM_RESERVE_RATIO: [usize; MAX_NR_ZONES] = [256, 32, 32];

/// The smallest `pages_min` of the HighMem zone (Linux `SWAP_CLUSTER_MAX`
/// pages), and the largest.
const HIGHMEM_PAGES_MIN_RANGE: (usize, usize) = (32, 128);

/// Integer square root, rounded down (Linux `int_sqrt`).
pub fn int_sqrt(x: usize) -> usize {
    // Newton's iteration from above: it decreases monotonically to the
    // floor of the root.
    if x < 2 {
        return x;
    }
    let mut guess = x;
    let mut next = x / 2 + 1;
    while next < guess {
        guess = next;
        next = (guess + x / guess) / 2;
    }
    guess
}

impl Zone {
    /// The watermark a scan with `alloc_flags` checks against.
    pub fn watermark(&self, alloc_flags: AllocFlags) -> usize {
        [self.pages_min, self.pages_low, self.pages_high][Zone::watermark_index(alloc_flags)]
    }

    /// Which watermark `alloc_flags` names: 0 `pages_min`, 1 `pages_low`,
    /// 2 `pages_high`.
    pub fn watermark_index(alloc_flags: AllocFlags) -> usize {
        if alloc_flags.contains(AllocFlags::ALLOC_WMARK_HIGH) {
            2
        } else if alloc_flags.contains(AllocFlags::ALLOC_WMARK_LOW) {
            1
        } else {
            0
        }
    }

    /// May an order-`order` request whose zonelist starts at `classzone`
    /// take a block from this zone without going below `mark`? (Linux
    /// `zone_watermark_ok`.)
    ///
    /// 1. The mark is lowered by half for `ALLOC_HIGH`, then by a quarter
    ///    for `ALLOC_HARDER` (`GFP_ATOMIC` gets both: 3/8 of the mark).
    /// 2. The free pages left *after* this allocation must stay above the
    ///    mark plus the reserve this zone keeps against `classzone`
    ///    (`free - 2^order + 1 > mark + lowmem_reserve[classzone]`, i.e. the
    ///    last allowed allocation leaves exactly `mark + reserve` pages).
    /// 3. For each order `o` below `order`, the blocks of order `o` are no
    ///    use to this request: their pages are taken out of the count, and
    ///    the mark halves (bigger blocks need a smaller reserve of their
    ///    own, but some must remain); the rest must still stay above it.
    pub fn zone_watermark_ok(
        &self,
        order: usize,
        mark: usize,
        classzone: ZoneType,
        alloc_flags: AllocFlags,
    ) -> bool {
        watermark_ok(
            self.free_pages,
            |order| self.free_area[order].nr_free,
            order,
            mark,
            self.lowmem_reserve[classzone as usize],
            alloc_flags,
        )
    }
}

/// The arithmetic of Linux `zone_watermark_ok` on a zone's counters:
/// `free_pages` and `nr_free(order)` (blocks free per order), for a block
/// of `order` against `mark` plus the `reserve` kept for the request's
/// class zone. `ALLOC_HIGH` lowers the mark by half, `ALLOC_HARDER` by a
/// further quarter; then for each order below the request, the pages in
/// smaller blocks do not count and the mark halves.
pub fn watermark_ok(
    free_pages: usize,
    nr_free: impl Fn(usize) -> usize,
    order: usize,
    mark: usize,
    reserve: usize,
    alloc_flags: AllocFlags,
) -> bool {
    let mut min = mark as isize;
    if alloc_flags.contains(AllocFlags::ALLOC_HIGH) {
        min -= min / 2;
    }
    if alloc_flags.contains(AllocFlags::ALLOC_HARDER) {
        min -= min / 4;
    }
    let mut free_pages = free_pages as isize - (1 << order) + 1;
    if free_pages <= min + reserve as isize {
        return false;
    }
    for lower_order in 0..order.min(MAX_ORDER) {
        free_pages -= (nr_free(lower_order) << lower_order) as isize;
        min >>= 1;
        if free_pages <= min {
            return false;
        }
    }
    true
}

impl PgData {
    /// Pages of the zones that can hold kernel buffers, DMA and Normal, less
    /// what each keeps free (Linux `nr_free_buffer_pages` ->
    /// `nr_free_zone_pages`: `present_pages - pages_high` per zone).
    pub fn nr_free_buffer_pages(&self) -> usize {
        [ZoneType::Dma, ZoneType::Normal]
            .iter()
            .map(|&zone| {
                let zone = self.zone(zone).lock();
                zone.present_pages.saturating_sub(zone.pages_high)
            })
            .sum()
    }

    /// Present pages of DMA and Normal: low memory, the base of every
    /// zone's share of `min_free_kbytes` (2.6.11's `lowmem_pages`).
    fn lowmem_present_pages(&self) -> usize {
        [ZoneType::Dma, ZoneType::Normal].iter().map(|&zone| self.zone(zone).lock().present_pages).sum()
    }

    /// Compute `min_free_kbytes` and everything derived from it (Linux
    /// `init_per_zone_pages_min`): `sqrt(lowmem_kbytes * 16)`, clamped to
    /// 128 KiB .. 64 MiB, then the watermarks and the reserves.
    /// 16 MiB of low memory gives 512 KiB, 896 MiB about 3.7 MiB.
    pub fn init_per_zone_pages_min(&self) {
        let lowmem_kbytes = self.nr_free_buffer_pages() * (PAGE_SIZE >> 10);
        let (lowest, highest) = MIN_FREE_KBYTES_RANGE;
        let min_free_kbytes = int_sqrt(lowmem_kbytes * 16).clamp(lowest, highest);
        self.min_free_kbytes
            .store(min_free_kbytes, Ordering::Relaxed);
        self.setup_per_zone_pages_min();
        self.setup_per_zone_lowmem_reserve();
    }

    /// `min_free_kbytes` (Linux sysctl `vm.min_free_kbytes`).
    pub fn min_free_kbytes(&self) -> usize {
        self.min_free_kbytes.load(Ordering::Relaxed)
    }

    /// Set `min_free_kbytes` and recompute the watermarks, as writing the
    /// sysctl does (Linux `min_free_kbytes_sysctl_handler`).
    pub fn set_min_free_kbytes(&self, min_free_kbytes: usize) {
        self.min_free_kbytes
            .store(min_free_kbytes, Ordering::Relaxed);
        self.setup_per_zone_pages_min();
    }

    /// Share `min_free_kbytes` out among the zones (Linux 2.6.11
    /// `setup_per_zone_pages_min`):
    /// * a low zone's `pages_min` is its share of the total,
    ///   `pages_min_total * present / lowmem_present`, rounded down;
    /// * HighMem's `pages_min` is 1/1024 of its present pages, between 32
    ///   and 128 (high memory needs no emergency reserve, but kswapd needs a
    ///   target that batches its work);
    /// * every zone's `pages_low` is `pages_min * 5 / 4` and `pages_high`
    ///   `pages_min * 6 / 4` (see the module doc for 2.6.15's change).
    ///
    /// Then the reserve pageblocks follow the new `pages_min`
    /// (`setup_zone_migrate_reserve`, 2.6.24).
    pub fn setup_per_zone_pages_min(&self) {
        let pages_min_total = self.min_free_kbytes() >> (PAGE_SHIFT - 10);
        let lowmem_pages = self.lowmem_present_pages();
        for zone in &self.node_zones {
            let mut zone = zone.lock();
            let pages_min = if zone.is_highmem() {
                let (lowest, highest) = HIGHMEM_PAGES_MIN_RANGE;
                (zone.present_pages / 1024).clamp(lowest, highest)
            } else if lowmem_pages == 0 {
                0
            } else {
                (pages_min_total as u64 * zone.present_pages as u64 / lowmem_pages as u64) as usize
            };
            zone.set_watermarks(pages_min, pages_min * 5 / 4, pages_min * 6 / 4);
            zone.setup_zone_migrate_reserve();
        }
    }

    /// Compute every zone's `lowmem_reserve[]` (Linux
    /// `setup_per_zone_lowmem_reserve`). For each class zone `k`, walk down
    /// from `k`: zone `k` keeps nothing against its own class; each lower
    /// zone `z` keeps the pages of the zones from `z + 1` to `k` divided by
    /// `SYSCTL_LOWMEM_RESERVE_RATIO[z]`.
    ///
    /// On a 2 GiB machine DMA keeps about 2000 pages (8 MiB, half of it)
    /// against HighMem requests and 880 against Normal ones; Normal keeps
    /// about 9000 (36 MiB) against HighMem requests.
    pub fn setup_per_zone_lowmem_reserve(&self) {
        let present = ZoneType::ALL.map(|zone| self.zone(zone).lock().present_pages);
        for classzone in 0..MAX_NR_ZONES {
            let mut pages_above = present[classzone];
            self.node_zones[classzone].lock().set_lowmem_reserve(ZoneType::ALL[classzone], 0);
            for lower in (0..classzone).rev() {
                self.node_zones[lower]
                    .lock()
                    .set_lowmem_reserve(ZoneType::ALL[classzone], pages_above / SYSCTL_LOWMEM_RESERVE_RATIO[lower]);
                pages_above += present[lower];
            }
        }
    }
}

#[cfg(all(test, not(target_os = "none")))]
mod tests {
    use super::*;

    #[test]
    fn int_sqrt_rounds_down() {
        let cases = [
            (0, 0),
            (1, 1),
            (3, 1),
            (4, 2),
            (15, 3),
            (16, 4),
            (1_000_000, 1000),
            (999_999, 999),
        ];
        for (x, root) in cases {
            assert_eq!(int_sqrt(x), root, "sqrt({x})");
        }
    }

    #[test]
    fn min_free_kbytes_follows_the_square_root_rule() {
        // 896 MiB of low memory: sqrt(917504 * 16) = 3831 KiB.
        assert_eq!(int_sqrt(917_504 * 16), 3831);
        // 16 MiB gives 512 KiB; tiny and huge machines hit the clamp.
        assert_eq!(int_sqrt(16_384 * 16), 512);
        assert_eq!(
            int_sqrt(256 * 16).clamp(MIN_FREE_KBYTES_RANGE.0, MIN_FREE_KBYTES_RANGE.1),
            128
        );
    }
}

#[cfg(all(test, target_os = "none"))]
mod kernel_tests {
    use core::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::mm::gfp::GfpFlags;
    use crate::mm::init::node;
    use crate::mm::kernel_test_support::{Held, only, populated, quiesced_snapshot};
    use crate::mm::vmstat::VmEventItem;

    /// What a machine must come out with, worked out by hand from its
    /// firmware memory map with Linux 2.6.11's formulas (see each
    /// constant's arithmetic).
    struct Expected {
        /// The usable RAM ranges of QEMU's e820 map, [start, end).
        usable: &'static [(u64, u64)],
        min_free_kbytes: usize,
        /// (pages_min, pages_low, pages_high) of DMA, Normal, HighMem.
        watermarks: [(usize, usize, usize); 3],
        /// `lowmem_reserve[class]` of DMA, Normal, HighMem.
        protection: [[usize; 3]; 3],
        /// Per-CPU list (high, batch) of DMA, Normal, HighMem.
        pcp: [(usize, usize); 3],
        vmalloc_start: usize,
    }

    /// QEMU `-m 128M`: usable [0, 0x9fc00) and [1 MiB, 0x7fe0000).
    /// * present: DMA = 159 pages below the EBDA (0x9fc00 / 4096 rounded
    ///   down) + 3840 from 1 MiB to 16 MiB = 3999; Normal = 0x7fe0 - 0x1000
    ///   = 28640; low memory = 32639 pages = 130556 KiB.
    /// * min_free_kbytes = int_sqrt(130556 * 16 = 2088896) = 1445
    ///   (1445^2 = 2088025, 1446^2 = 2090916); 1445 >> 2 = 361 pages.
    /// * DMA min = 361 * 3999 / 32639 = 44 (1443639 / 32639 = 44.2),
    ///   low = 44 * 5 / 4 = 55, high = 44 * 6 / 4 = 66.
    /// * Normal min = 361 * 28640 / 32639 = 316 (10339040 / 32639 = 316.8),
    ///   low = 395, high = 474.
    /// * protection: DMA against Normal and HighMem = 28640 / 256 = 111.
    /// * HighMem is empty, and 2.6.11 still gives it the smallest minimum:
    ///   0 / 1024 -> SWAP_CLUSTER_MAX = 32, low 40, high 48.
    /// * batch: DMA 3999 / 1024 = 3, / 4 = 0 -> 1, (1 << (fls(1) - 1)) - 1
    ///   = 0: no list (high 0, batch 1); Normal 28640 / 1024 = 27, / 4 = 6,
    ///   6 + 3 = 9, (1 << (fls(9) - 1)) - 1 = 7: high 6 * 7 = 42.
    /// * high_memory = 0xc7fe0000; VMALLOC_START = (0xc7fe0000 + 16 MiB -
    ///   1) & ~(8 MiB - 1) = 0xc8800000.
    const QEMU_128M: Expected = Expected {
        usable: &[(0, 0x9fc00), (0x10_0000, 0x7fe_0000)],
        min_free_kbytes: 1445,
        watermarks: [(44, 55, 66), (316, 395, 474), (32, 40, 48)],
        protection: [[0, 111, 111], [0, 0, 0], [0, 0, 0]],
        pcp: [(0, 1), (42, 7), (0, 1)],
        vmalloc_start: 0xc880_0000,
    };

    /// QEMU `-m 2G`: usable [0, 0x9fc00) and [1 MiB, 0x7ffe0000).
    /// * present: DMA 3999 (as at 128 MiB); Normal = 896 MiB - 16 MiB =
    ///   0x38000 - 0x1000 = 225280; HighMem = 0x7ffe0 - 0x38000 = 294880.
    ///   Low memory = 229279 pages = 917116 KiB.
    /// * min_free_kbytes = int_sqrt(917116 * 16 = 14673856) = 3830
    ///   (3830^2 = 14668900, 3831^2 = 14676561); 3830 >> 2 = 957 pages.
    /// * DMA min = 957 * 3999 / 229279 = 16 (3827043 / 229279 = 16.7):
    ///   16 / 20 / 24. Normal min = 957 * 225280 / 229279 = 940
    ///   (215592960 / 229279 = 940.3): 940 / 1175 / 1410.
    /// * HighMem min = 294880 / 1024 = 287, clamped to 128: 128 / 160 / 192
    ///   (2.6.15+ would give 128 + 1230 / 4 = 435 and 128 + 1230 / 2 = 743,
    ///   from its share 957 * 294880 / 229279 = 1230).
    /// * protection: DMA against Normal 225280 / 256 = 880, against HighMem
    ///   (294880 + 225280) / 256 = 2031; Normal against HighMem
    ///   294880 / 32 = 9215.
    /// * batch: Normal 225280 / 1024 = 220, capped at 512 KiB = 128 pages,
    ///   / 4 = 32, 32 + 16 = 48, (1 << (fls(48) - 1)) - 1 = 31: high 186;
    ///   HighMem likewise 31 / 186; DMA none.
    /// * high_memory = 0xf8000000 (896 MiB); VMALLOC_START = 0xf8800000.
    const QEMU_2G: Expected = Expected {
        usable: &[(0, 0x9fc00), (0x10_0000, 0x7ffe_0000)],
        min_free_kbytes: 3830,
        watermarks: [(16, 20, 24), (940, 1175, 1410), (128, 160, 192)],
        protection: [[0, 880, 2031], [0, 0, 9215], [0, 0, 0]],
        pcp: [(0, 1), (186, 31), (186, 31)],
        vmalloc_start: 0xf880_0000,
    };

    /// QEMU `-m 4G`: usable [0, 0x9fc00), [1 MiB, 0xbffe0000) and
    /// [4 GiB, 5 GiB), which a kernel without PAE cannot address.
    /// * present: DMA 3999, Normal 225280 (low memory as at 2 GiB, so
    ///   min_free_kbytes 3830 and the same DMA and Normal watermarks);
    ///   HighMem = 0xbffe0 - 0x38000 = 557024.
    /// * HighMem min = 557024 / 1024 = 543, clamped to 128: 128 / 160 / 192.
    /// * protection: DMA against HighMem (557024 + 225280) / 256 = 3055;
    ///   Normal against HighMem 557024 / 32 = 17407.
    /// * batch: HighMem 557024 / 1024 = 543, capped at 128, -> 31 / 186.
    const QEMU_4G: Expected = Expected {
        usable: &[(0, 0x9fc00), (0x10_0000, 0xbffe_0000), (0x1_0000_0000, 0x1_4000_0000)],
        min_free_kbytes: 3830,
        watermarks: [(16, 20, 24), (940, 1175, 1410), (128, 160, 192)],
        protection: [[0, 880, 3055], [0, 0, 17407], [0, 0, 0]],
        pcp: [(0, 1), (186, 31), (186, 31)],
        vmalloc_start: 0xf880_0000,
    };

    /// The machine this kernel booted on, if its expectations are written
    /// down here.
    fn expected_for_this_machine() -> Option<&'static Expected> {
        let boot = crate::arch::x86::setup::boot_data();
        let usable = || {
            boot.e820()
                .iter()
                .filter(|e| e.kind == crate::arch::x86::setup::E820Type::Ram)
                .map(|e| (e.addr, e.addr + e.size))
        };
        let known = [&QEMU_128M, &QEMU_2G, &QEMU_4G];
        known.into_iter().find(|expected| {
            boot.params.mem.is_none() && usable().count() == expected.usable.len() && usable().eq(expected.usable.iter().copied())
        })
    }

    #[test_case]
    fn watermarks_reserves_and_batches_are_the_hand_computed_numbers() {
        let Some(expected) = expected_for_this_machine() else {
            crate::skip!("hand-computed numbers exist for QEMU's 128 MiB, 2 GiB and 4 GiB memory maps only");
        };
        let node = node();
        assert_eq!(node.min_free_kbytes(), expected.min_free_kbytes, "min_free_kbytes");
        for zone_type in ZoneType::ALL {
            let index = zone_type as usize;
            let zone = node.zone(zone_type).lock();
            assert_eq!(
                (zone.pages_min(), zone.pages_low(), zone.pages_high()),
                expected.watermarks[index],
                "{zone_type:?} min/low/high"
            );
            let protection = ZoneType::ALL.map(|class| zone.lowmem_reserve(class));
            assert_eq!(protection, expected.protection[index], "{zone_type:?} protection");
            drop(zone);
            for cpu in 0..crate::mm::layout::NR_CPUS {
                let pageset = node.zone_pcp(zone_type, cpu).lock();
                assert_eq!((pageset.pcp.high(), pageset.pcp.batch()), expected.pcp[index], "{zone_type:?} cpu {cpu} high/batch");
            }
        }
        assert_eq!(crate::mm::init::VMALLOC_START(), expected.vmalloc_start);
    }

    static KSWAPD_WAKEUPS: AtomicUsize = AtomicUsize::new(0);

    fn count_wakeup(_: &PgData, zone: ZoneType, order: usize) {
        assert_eq!((zone, order), (ZoneType::Normal, 0));
        KSWAPD_WAKEUPS.fetch_add(1, Ordering::Relaxed);
    }

    /// Take big blocks from `zone` while that keeps its free count above
    /// `target + 1024`, so that the order-0 steps that follow are few.  Each
    /// step takes the largest block (up to order 9) that the zone still
    /// gives out: after earlier tests memory may be too fragmented for the
    /// big orders, and far above the watermarks an order-0 page always is.
    fn bulk_down_to(held: &mut Held, zone_type: ZoneType, target: usize, gfp: GfpFlags) {
        let zonelist = only(zone_type);
        loop {
            let free = node().zone(zone_type).lock().free_pages();
            if free <= target + 1024 {
                break;
            }
            let budget = free - target - 1024;
            let taken = (0..=9)
                .rev()
                .filter(|&order| 1 << order <= budget)
                .find_map(|order| held.alloc(gfp | GfpFlags::__GFP_NORETRY, order, &zonelist));
            assert!(taken.is_some(), "far above the watermark");
        }
    }

    #[test_case]
    fn allocations_stop_at_the_watermark_of_their_class() {
        let node = node();
        let before = quiesced_snapshot(node);
        // No per-CPU stock: every order-0 allocation takes exactly one page
        // from the buddy, so the free count moves in steps of one.
        node.setup_pagelist_highmark(ZoneType::Normal, 0);
        let mut held = Held::new();
        let low = node.zone(ZoneType::Normal).lock().pages_low();
        bulk_down_to(&mut held, ZoneType::Normal, low, GfpFlags::GFP_KERNEL);
        let kswapd = node.set_kswapd_hook(Some(count_wakeup));
        KSWAPD_WAKEUPS.store(0, Ordering::Relaxed);
        let zonelist = only(ZoneType::Normal);
        let (min, low) = {
            let zone = node.zone(ZoneType::Normal).lock();
            (zone.pages_min(), zone.pages_low())
        };
        let free = || node.zone(ZoneType::Normal).lock().free_pages();
        let events = || node.zone_vm_events(ZoneType::Normal);
        let (wakeups_before, ooms_before) = (
            events().get(VmEventItem::KswapdWakeup),
            events().get(VmEventItem::OomInvoked),
        );
        // Down to pages_low nobody is woken.
        while free() > low {
            held.alloc(GfpFlags::GFP_KERNEL, 0, &zonelist)
                .expect("above pages_low");
        }
        assert_eq!(KSWAPD_WAKEUPS.load(Ordering::Relaxed), 0);
        // GFP_KERNEL goes on down to pages_min exactly, waking kswapd each
        // time; the failing request wakes it once more, finds nothing to
        // reclaim and reports OOM.
        held.alloc_until_fail(GfpFlags::GFP_KERNEL, 0, &zonelist);
        assert_eq!(free(), min, "GFP_KERNEL stops at pages_min");
        assert_eq!(KSWAPD_WAKEUPS.load(Ordering::Relaxed), low - min + 1);
        assert_eq!(
            events().get(VmEventItem::KswapdWakeup) - wakeups_before,
            low - min + 1
        );
        assert_eq!(events().get(VmEventItem::OomInvoked) - ooms_before, 1);
        // __GFP_HIGH (that may sleep) digs half of pages_min deeper.
        held.alloc_until_fail(
            GfpFlags::GFP_KERNEL | GfpFlags::__GFP_HIGH | GfpFlags::__GFP_NORETRY,
            0,
            &zonelist,
        );
        let high_min = min - min / 2;
        assert_eq!(free(), high_min, "__GFP_HIGH stops at pages_min / 2");
        // GFP_ATOMIC cannot sleep either: a quarter deeper still.
        held.alloc_until_fail(GfpFlags::GFP_ATOMIC, 0, &zonelist);
        assert_eq!(
            free(),
            high_min - high_min / 4,
            "GFP_ATOMIC stops at 3/8 of pages_min"
        );
        // Memory-releasing code takes the rest.
        let saved = node.memalloc_noreclaim_save();
        // An interrupt that arrives during reclaim may not use the reserves
        // PF_MEMALLOC opens (seed 000: `!in_interrupt()`).
        crate::preempt::irq_enter();
        let in_irq = held.alloc(GfpFlags::GFP_ATOMIC | GfpFlags::__GFP_NOWARN, 0, &zonelist);
        crate::softirq::irq_exit();
        assert_eq!(in_irq, None, "no reserves for interrupt context");
        held.alloc_until_fail(GfpFlags::GFP_ATOMIC, 0, &zonelist);
        node.memalloc_noreclaim_restore(saved);
        assert_eq!(free(), 0, "PF_MEMALLOC ignores the watermarks");
        held.free_all();
        node.set_kswapd_hook(kswapd);
        node.setup_per_cpu_pageset();
        assert_eq!(quiesced_snapshot(node), before);
    }

    #[test_case]
    fn lowmem_reserve_keeps_dma_for_dma_requests() {
        let node = node();
        let before = quiesced_snapshot(node);
        let mut held = Held::new();
        held.exhaust(ZoneType::Normal);
        let (min, reserve_normal, reserve_high) = {
            let dma = node.zone(ZoneType::Dma).lock();
            (
                dma.pages_min(),
                dma.lowmem_reserve(ZoneType::Normal),
                dma.lowmem_reserve(ZoneType::HighMem),
            )
        };
        let dma_free = || node.zone(ZoneType::Dma).lock().free_pages();
        // GFP_KERNEL falls back to DMA (DMA keeps no per-CPU stock: its
        // batch is 1, high 0) but must leave pages_min + lowmem_reserve.
        let kernel = node.zonelist(GfpFlags::GFP_KERNEL);
        assert_eq!(kernel.zones(), [ZoneType::Normal, ZoneType::Dma]);
        let taken =
            held.alloc_until_fail(GfpFlags::GFP_KERNEL | GfpFlags::__GFP_NORETRY, 0, kernel);
        assert!(taken > 0);
        assert_eq!(
            dma_free(),
            min + reserve_normal,
            "DMA keeps lowmem_reserve[Normal] from GFP_KERNEL"
        );
        // Requests that could have used HighMem are kept out even more.
        assert_eq!(reserve_high > reserve_normal, populated(ZoneType::HighMem));
        {
            let dma = node.zone(ZoneType::Dma).lock();
            let ok = |class| dma.zone_watermark_ok(0, min, class, AllocFlags::ALLOC_WMARK_MIN);
            assert!(!ok(ZoneType::HighMem) && !ok(ZoneType::Normal) && ok(ZoneType::Dma));
        }
        // A DMA request has no reserve to respect (and, being atomic, goes a
        // quarter below pages_min).
        held.alloc_until_fail(GfpFlags::GFP_DMA, 0, node.zonelist(GfpFlags::GFP_DMA));
        assert_eq!(dma_free(), min - min / 4, "GFP_DMA takes the reserve");
        held.free_all();
        assert_eq!(quiesced_snapshot(node), before);
    }

    #[test_case]
    fn highuser_requests_take_highmem_first_then_fall_back() {
        let node = node();
        let before = quiesced_snapshot(node);
        let gfp = GfpFlags::GFP_HIGHUSER | GfpFlags::__GFP_NORETRY;
        let zonelist = node.zonelist(gfp);
        let mut held = Held::new();
        if !populated(ZoneType::HighMem) {
            assert_eq!(zonelist.zones().first(), Some(&ZoneType::Normal));
            assert_eq!(held.alloc(gfp, 0, zonelist), Some(ZoneType::Normal));
            held.free_all();
            return;
        }
        node.setup_pagelist_highmark(ZoneType::HighMem, 0);
        let low = node.zone(ZoneType::HighMem).lock().pages_low();
        bulk_down_to(&mut held, ZoneType::HighMem, low, gfp);
        let mut from_highmem = 0;
        let fallback = loop {
            match held.alloc(gfp, 0, zonelist).expect("Normal has room") {
                ZoneType::HighMem => from_highmem += 1,
                other => break other,
            }
        };
        assert_eq!(fallback, ZoneType::Normal);
        assert!(from_highmem > 0);
        assert_eq!(
            node.zone(ZoneType::HighMem).lock().free_pages(),
            low,
            "HighMem is left at pages_low"
        );
        // With HighMem completely exhausted, Normal keeps serving.
        held.exhaust(ZoneType::HighMem);
        assert_eq!(held.alloc(gfp, 0, zonelist), Some(ZoneType::Normal));
        held.free_all();
        node.setup_per_cpu_pageset();
        assert_eq!(quiesced_snapshot(node), before);
    }
}
