//! # Zones and the node: `struct zone`, `pg_data_t`, `free_area_init_node`
//!
//! Not all page frames are equal on a 32-bit PC:
//!
//! * **ZONE_DMA**, frames below 16 MiB: the only ones an ISA DMA controller
//!   can reach (it has 24 address lines).
//! * **ZONE_NORMAL**, from 16 MiB to `max_low_pfn` (at most 896 MiB): frames
//!   the kernel reaches through its permanent direct map at `PAGE_OFFSET`
//!   (3 GiB); `page_address()` is a simple addition.
//! * **ZONE_HIGHMEM**, from `max_low_pfn` to `max_pfn`: frames the kernel has
//!   no permanent address for. With the 3G/1G split only 1 GiB of virtual
//!   addresses belongs to the kernel and the top 128 MiB of it is kept for
//!   vmalloc, kmap and the fixmap, so anything above 896 MiB must be mapped
//!   on demand (`kmap`).
//!
//! Each zone runs its own buddy allocator (`page_alloc.rs`) under its own lock,
//! with its own counts. The zones of one memory node hang off the node
//! descriptor `pg_data_t`; a PC is a single node, Linux's `contig_page_data`,
//! here [`CONTIG_PAGE_DATA`].
//!
//! A machine with less than 896 MiB simply has an empty HighMem zone, and one
//! with less than 16 MiB an empty Normal zone too; empty zones exist, have
//! `spanned_pages == 0`, and are skipped by the zonelists.
//!
//! ## Where it sits in boot
//! `paging_init` → `zone_sizes_init` computes the zone boundaries
//! ([`max_zone_pfns`]) and calls `free_area_init_nodes` →
//! [`PgData::free_area_init_node`], which sizes each zone, initialises every
//! page descriptor (`memmap_init_zone`: reserved, count 1, zone link) and
//! prints the "Zone ranges:" block. The free lists stay empty until
//! `mem_init` hands free memory over (see `bootmem.rs`).
//!
//! ## Linux source
//! `include/linux/mmzone.h` (`struct zone`, `struct free_area`, `pg_data_t`),
//! `mm/page_alloc.c` (`free_area_init_nodes`, `free_area_init_node`,
//! `free_area_init_core`, `memmap_init_zone`, `zone_spanned_pages_in_node`,
//! `zone_absent_pages_in_node`), `mm/vmstat.c` (`/proc/buddyinfo`,
//! `/proc/zoneinfo`), `arch/x86/mm/init.c` (`zone_sizes_init`).
//! *Understanding the Linux Kernel*, 3rd ed., §8.1.2–8.1.3.
//!
//! ## What we simplified and why
//! * One node, FLATMEM: `node_mem_map[pfn]` describes frame `pfn` for every
//!   PFN from 0 up to the end of the map, like Linux's global `mem_map`. A
//!   hole in the physical address space still has descriptors; they stay
//!   reserved forever. So [`PgData::pfn_valid`] is just "inside the map".
//! * No `ZONE_MOVABLE` (optional in Linux, for memory hot-remove) and no
//!   `ZONE_DMA32` (64-bit only). The zone's watermarks and `lowmem_reserve`
//!   are computed in `watermark.rs`, its per-CPU lists live in the node
//!   (`percpu_pages.rs`), and [`FreeArea`] holds one list per migrate type
//!   (`migratetype.rs`).
//! * Linux globals of the zone allocator (`min_free_kbytes`, the shrinker
//!   and OOM notifier lists, `page_group_by_mobility_disabled`) are kept in
//!   [`PgData`] too, for the same reason.
//! * `totalram_pages` / `totalhigh_pages` are Linux globals; we keep them in
//!   [`PgData`] so that host tests can build several independent nodes.
//! * `managed_pages` is counted from 0 by `mem_init` (see `bootmem.rs`);
//!   `free_area_init_node` only sets a first estimate, `present_pages`
//!   (Linux 3.x also subtracts the pages `mem_map` itself occupies).

use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};

use crate::spinlock::SpinLockIrq;

use super::gfp::{GfpFlags, Zonelist, build_zonelists, gfp_zone};
use super::list::{LIST_NONE, PageList};
use super::migratetype::{MIGRATE_TYPES, MigrateType, PAGEBLOCK_NR_PAGES, init_pageblock_migratetypes};
use super::oom_kill::OomNotifierList;
use super::page::{MemMap, Page};
use super::percpu_pages::PerCpuPageset;
use super::vmscan::{KswapdHook, ShrinkerList};
use super::vmstat::VmEvents;
use super::zone_lock::ZoneLock;
use super::{MAX_ORDER, PAGE_SHIFT, pfn_phys};
use crate::mm::layout::NR_CPUS;
use crate::percpu::PerCpu;

/// The zones of a node (Linux `enum zone_type`). The value is the zone's
/// index in [`PgData::node_zones`] and in the zone link of `page->flags`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ZoneType {
    /// ZONE_DMA: frames below 16 MiB.
    Dma = 0,
    /// ZONE_NORMAL: directly mapped frames above 16 MiB.
    Normal = 1,
    /// ZONE_HIGHMEM: frames above `max_low_pfn` (896 MiB at most).
    HighMem = 2,
}

/// Linux's name for [`ZoneType::Dma`].
pub const ZONE_DMA: ZoneType = ZoneType::Dma;
/// Linux's name for [`ZoneType::Normal`].
pub const ZONE_NORMAL: ZoneType = ZoneType::Normal;
/// Linux's name for [`ZoneType::HighMem`].
pub const ZONE_HIGHMEM: ZoneType = ZoneType::HighMem;
/// Number of zones per node (Linux `MAX_NR_ZONES`).
pub const MAX_NR_ZONES: usize = 3;

impl ZoneType {
    /// All zones, lowest first: `for zone_type in ZoneType::ALL` is Linux's
    /// `for_each_zone` on our one node.
    #[doc(alias = "for_each_zone")]
    pub const ALL: [ZoneType; MAX_NR_ZONES] = [ZoneType::Dma, ZoneType::Normal, ZoneType::HighMem];

    /// The zone's name as Linux prints it (Linux `zone_names[]`).
    #[doc(alias = "zone_names")]
    pub const fn name(self) -> &'static str {
        match self {
            ZoneType::Dma => "DMA",
            ZoneType::Normal => "Normal",
            ZoneType::HighMem => "HighMem",
        }
    }

    /// Is this the high-memory zone? (Linux `is_highmem_idx`)
    #[doc(alias = "is_highmem_idx")]
    pub const fn is_highmem(self) -> bool {
        matches!(self, ZoneType::HighMem)
    }
}

/// First PFN above ZONE_DMA: 16 MiB, the reach of ISA DMA (Linux `MAX_DMA_PFN`).
pub const MAX_DMA_PFN: usize = (16 << 20) >> PAGE_SHIFT;

/// The end PFN of each zone on i386, as `zone_sizes_init` computes it
/// (Linux `max_zone_pfns[]`): DMA ends at 16 MiB or `max_low_pfn` if that is
/// lower, Normal at `max_low_pfn`, HighMem at `max_pfn`.
#[doc(alias = "zone_sizes_init")]
pub fn max_zone_pfns(max_low_pfn: usize, max_pfn: usize) -> [usize; MAX_NR_ZONES] {
    [MAX_DMA_PFN.min(max_low_pfn), max_low_pfn, max_pfn]
}

/// The free blocks of one order in one zone (Linux `struct free_area`).
#[derive(Debug)]
pub struct FreeArea {
    /// The free blocks of this order, one list per migrate type, linked
    /// through the `lru` of each block's first page (see `migratetype.rs`).
    pub(super) free_list: [PageList; MIGRATE_TYPES],
    /// Number of blocks (not pages) on all of `free_list`.
    pub(super) nr_free: usize,
}

impl FreeArea {
    const fn new() -> Self {
        FreeArea {
            free_list: [const { PageList::new() }; MIGRATE_TYPES],
            nr_free: 0,
        }
    }

    /// Number of free blocks of this order on the `migratetype` list.
    pub fn nr_free_of_type(&self, migratetype: MigrateType) -> usize {
        self.free_list[migratetype as usize].len()
    }

    /// Number of free blocks of this order.
    pub const fn nr_free(&self) -> usize {
        self.nr_free
    }
}

/// One memory zone (Linux `struct zone`). Lives inside a `SpinLockIrq` in
/// [`PgData::node_zones`]; holding the guard is holding `zone->lock`, taken
/// with interrupts off (`spin_lock_irqsave`) because interrupt handlers
/// allocate pages too.
///
/// Page accounting, from biggest to smallest:
/// `spanned_pages` ≥ `present_pages` ≥ `managed_pages` ≥ `free_pages`.
#[derive(Debug)]
pub struct Zone {
    /// `zone->name`: "DMA", "Normal" or "HighMem".
    pub(super) name: &'static str,
    /// Which zone this is (Linux computes it as `zone - pgdat->node_zones`).
    pub(super) zone_type: ZoneType,
    /// First PFN the zone covers.
    pub(super) zone_start_pfn: usize,
    /// Every PFN from `zone_start_pfn` to the zone's end, holes included.
    pub(super) spanned_pages: usize,
    /// PFNs of the span that are RAM (`spanned_pages` minus holes).
    pub(super) present_pages: usize,
    /// RAM pages the buddy allocator manages: present pages minus what boot
    /// code kept (kernel image, `mem_map`, firmware tables, ...). Counted up
    /// by `mem_init` as pages are handed to the buddy allocator.
    pub(super) managed_pages: usize,
    /// `zone->free_area[order]`: the free lists, one per block size.
    pub(super) free_area: [FreeArea; MAX_ORDER],
    /// Free pages in the zone, summed over all orders (2.6's
    /// `zone->free_pages`, later the `NR_FREE_PAGES` counter). Always equal to
    /// the sum of `nr_free << order`. Changed in place under the zone lock,
    /// where seed 001's kernel calls `__mod_zone_page_state(zone,
    /// NR_FREE_PAGES, delta)`.
    #[doc(alias = "__mod_zone_page_state")]
    pub(super) free_pages: usize,
    /// Pages the allocator found corrupt when handing them out and retired:
    /// they are marked reserved and never reused (see `page_alloc.rs`).
    pub(super) nr_bad_pages: usize,
    /// The watermarks (2.6's `zone->pages_min/low/high`, see
    /// `watermark.rs`): below `pages_low` the allocator wakes kswapd, below
    /// `pages_min` only `__GFP_HIGH`, atomic and memory-releasing requests
    /// may allocate, and kswapd works until `pages_high` pages are free.
    /// All 0 until `init_per_zone_pages_min` runs.
    pub(super) pages_min: usize,
    /// See `pages_min`.
    pub(super) pages_low: usize,
    /// See `pages_min`.
    pub(super) pages_high: usize,
    /// `zone->lowmem_reserve[k]`: pages this zone keeps back from requests
    /// whose zonelist starts at zone `k` (they could have been served
    /// higher up). 0 for `k` at or below this zone. See `watermark.rs`.
    pub(super) lowmem_reserve: [usize; MAX_NR_ZONES],
    /// The zone's event counters that are counted under `zone->lock`
    /// (fallbacks, steals, order > 0 frees); the per-CPU pagesets hold the
    /// rest (see `vmstat.rs`).
    pub(super) vm_events: VmEvents,
    /// The zone's part of `mem_map` (2.6's `zone->zone_mem_map`): index
    /// `pfn - zone_start_pfn`.
    pub(super) zone_mem_map: &'static [Page],
    /// The whole node's `mem_map` (Linux reaches it through
    /// `zone->zone_pgdat`): the pageblock types live in the first descriptor
    /// of each pageblock, which may precede the zone's start.
    pub(super) node_mem_map: &'static [Page],
}

impl Zone {
    fn new(
        zone_type: ZoneType,
        zone_start_pfn: usize,
        present_pages: usize,
        zone_mem_map: &'static [Page],
        node_mem_map: &'static [Page],
    ) -> Self {
        Zone {
            name: zone_type.name(),
            zone_type,
            zone_start_pfn,
            spanned_pages: zone_mem_map.len(),
            present_pages,
            managed_pages: present_pages,
            free_area: [const { FreeArea::new() }; MAX_ORDER],
            free_pages: 0,
            nr_bad_pages: 0,
            pages_min: 0,
            pages_low: 0,
            pages_high: 0,
            lowmem_reserve: [0; MAX_NR_ZONES],
            vm_events: VmEvents::new(),
            zone_mem_map,
            node_mem_map,
        }
    }

    /// `zone->name`.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Which zone this is (Linux `zone_idx`).
    #[doc(alias = "zone_idx")]
    pub fn zone_type(&self) -> ZoneType {
        self.zone_type
    }

    /// Is this the high-memory zone? (Linux `is_highmem`)
    pub fn is_highmem(&self) -> bool {
        self.zone_type.is_highmem()
    }

    /// First PFN of the zone.
    pub fn zone_start_pfn(&self) -> usize {
        self.zone_start_pfn
    }

    /// One past the last PFN of the zone (Linux `zone_end_pfn`).
    pub fn zone_end_pfn(&self) -> usize {
        self.zone_start_pfn + self.spanned_pages
    }

    /// Does the zone's span include `pfn`? (Linux `zone_spans_pfn`)
    pub fn zone_spans_pfn(&self, pfn: usize) -> bool {
        pfn >= self.zone_start_pfn && pfn < self.zone_end_pfn()
    }

    /// PFNs spanned, holes included.
    pub fn spanned_pages(&self) -> usize {
        self.spanned_pages
    }

    /// PFNs that are RAM.
    pub fn present_pages(&self) -> usize {
        self.present_pages
    }

    /// Pages managed by the buddy allocator.
    pub fn managed_pages(&self) -> usize {
        self.managed_pages
    }

    /// Free pages (Linux `zone_page_state(zone, NR_FREE_PAGES)`).
    #[doc(alias = "NR_FREE_PAGES")]
    pub fn free_pages(&self) -> usize {
        self.free_pages
    }

    /// Pages retired as corrupt.
    pub fn nr_bad_pages(&self) -> usize {
        self.nr_bad_pages
    }

    /// `zone->pages_min`.
    pub fn pages_min(&self) -> usize {
        self.pages_min
    }

    /// `zone->pages_low`.
    pub fn pages_low(&self) -> usize {
        self.pages_low
    }

    /// `zone->pages_high`.
    pub fn pages_high(&self) -> usize {
        self.pages_high
    }

    /// `zone->lowmem_reserve[classzone]`.
    pub fn lowmem_reserve(&self, classzone: ZoneType) -> usize {
        self.lowmem_reserve[classzone as usize]
    }

    /// The free area of `order` (`zone->free_area[order]`).
    pub fn free_area(&self, order: usize) -> &FreeArea {
        &self.free_area[order]
    }

    /// Does the zone have any RAM? (Linux `populated_zone`)
    #[doc(alias = "populated_zone")]
    pub fn is_populated(&self) -> bool {
        self.present_pages != 0
    }

    /// The zone's page descriptors as a PFN-indexed view.
    pub fn mem_map(&self) -> MemMap<'static> {
        MemMap::new(self.zone_start_pfn, self.zone_mem_map)
    }

    /// Number of free blocks of each order, the numbers of one
    /// `/proc/buddyinfo` line.
    pub fn buddyinfo(&self) -> [usize; MAX_ORDER] {
        core::array::from_fn(|order| self.free_area[order].nr_free)
    }

    /// A snapshot of the zone's `/proc/buddyinfo` line, to print after the
    /// lock is dropped.
    pub fn buddyinfo_line(&self) -> BuddyinfoLine {
        BuddyinfoLine {
            name: self.name,
            nr_free: self.buddyinfo(),
        }
    }
}

/// One `/proc/buddyinfo` line: `Node 0, zone   Normal      3      1 ...`, the
/// number of free blocks of each order (Linux `frag_show_print`: `%8s` for
/// the name, `%6lu ` for each count, trailing space included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuddyinfoLine {
    name: &'static str,
    nr_free: [usize; MAX_ORDER],
}

impl fmt::Display for BuddyinfoLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Node 0, zone {:>8} ", self.name)?;
        self.nr_free
            .iter()
            .try_for_each(|nr_free| write!(f, "{nr_free:>6} "))
    }
}

/// One line of the "Zone ranges:" block printed by `free_area_init_nodes`:
/// `  DMA      [mem 0x0000000000001000-0x0000000000ffffff]` or
/// `  HighMem  empty`. The range is the *possible* range of the zone (its
/// arch boundaries), not clipped to the RAM actually found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZoneRangeLine {
    name: &'static str,
    start_pfn: usize,
    end_pfn: usize,
}

impl fmt::Display for ZoneRangeLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "  {:<8} ", self.name)?;
        if self.start_pfn == self.end_pfn {
            write!(f, "empty")
        } else {
            let first = pfn_phys(self.start_pfn as u64);
            let last = pfn_phys(self.end_pfn as u64) - 1;
            write!(f, "[mem {first:#018x}-{last:#018x}]")
        }
    }
}

/// The memory node (Linux `pg_data_t` / `struct pglist_data`); a PC has one,
/// [`CONTIG_PAGE_DATA`]. Shared by `&'static` reference once built: the zones
/// are behind their locks and the totals are atomics.
#[derive(Debug)]
pub struct PgData {
    /// `pgdat->node_zones[]`, indexed by [`ZoneType`]. The lock is
    /// `zone->lock`.
    pub node_zones: [ZoneLock; MAX_NR_ZONES],
    /// `pgdat->node_zonelists[]`: the fallback order for each zone class.
    node_zonelists: [Zonelist; MAX_NR_ZONES],
    /// `pgdat->node_mem_map`: one descriptor per PFN from 0 (FLATMEM).
    node_mem_map: &'static [Page],
    /// First PFN of RAM in the node.
    node_start_pfn: usize,
    /// PFNs from `node_start_pfn` to the end of RAM, holes included.
    node_spanned_pages: usize,
    /// RAM pages in the node.
    node_present_pages: usize,
    /// Where each zone could start (the first RAM PFN for DMA, otherwise the
    /// end of the zone below); printed in "Zone ranges:". A Linux global.
    arch_zone_lowest_possible_pfn: [usize; MAX_NR_ZONES],
    /// Where each zone could end (the `max_zone_pfn` given at init, made
    /// non-decreasing). A Linux global.
    arch_zone_highest_possible_pfn: [usize; MAX_NR_ZONES],
    /// Pages managed by the buddy allocator in all zones (Linux global
    /// `totalram_pages`); set by `mem_init`.
    pub totalram_pages: AtomicUsize,
    /// Of those, the pages in ZONE_HIGHMEM (Linux global `totalhigh_pages`).
    pub totalhigh_pages: AtomicUsize,
    /// Has `reset_all_zones_managed_pages` run? (Linux `__initdata` static
    /// `reset_managed_pages_done`; see `bootmem.rs`.)
    pub(super) reset_managed_pages_done: AtomicBool,
    /// How many bad-page reports were issued (Linux taints the kernel with
    /// `TAINT_BAD_PAGE` instead).
    pub(super) nr_bad_page_reports: AtomicUsize,
    /// How many requests `__alloc_pages` refused with a BUG report because
    /// their GFP flags are wrong for the context (Linux halts instead).
    pub(super) nr_gfp_bug_reports: AtomicUsize,
    /// Each zone's per-CPU page lists and event counters (2.6's
    /// `zone->pageset[NR_CPUS]`, see `percpu_pages.rs`). They live outside
    /// the zone's lock on purpose: that is what makes them cheap.
    pub(super) pageset: [PerCpu<SpinLockIrq<PerCpuPageset>>; MAX_NR_ZONES],
    /// Whether each zone's per-CPU lists also keep blocks of order 1 to
    /// `PAGE_ALLOC_COSTLY_ORDER`, as Linux 5.14 onwards does; off (2.6:
    /// order 0 only) unless the lists are sized as 6.1 sizes them (see
    /// `percpu_pages.rs`). Read without a lock on every allocation and free.
    pub(super) pcp_high_order: [AtomicBool; MAX_NR_ZONES],
    /// Each zone's shared event totals that the CPUs fold their counts
    /// into at `stat_threshold` (Linux `zone->vm_stat`, see `vmstat.rs`);
    /// outside the zone lock, atomic.
    pub(super) vm_stat: [[AtomicUsize; super::vmstat::NR_VM_EVENT_ITEMS]; MAX_NR_ZONES],
    /// The reserve the watermarks are derived from, in KiB (Linux sysctl
    /// `vm.min_free_kbytes`); set by `init_per_zone_pages_min`.
    pub(super) min_free_kbytes: AtomicUsize,
    /// Linux global `page_group_by_mobility_disabled`: with too little
    /// memory for grouping by mobility to pay off, every request is
    /// unmovable (see `migratetype.rs`).
    pub(super) page_group_by_mobility_disabled: AtomicBool,
    /// The registered shrinkers (Linux global `shrinker_list`, see
    /// `vmscan.rs`).
    pub(super) shrinkers: SpinLockIrq<ShrinkerList>,
    /// The background reclaimer `wakeup_kswapd` calls, if one is
    /// registered (see `vmscan.rs`).
    pub(super) kswapd_hook: SpinLockIrq<Option<KswapdHook>>,
    /// The registered OOM notifiers (Linux `oom_notify_list`, see
    /// `oom_kill.rs`).
    pub(super) oom_notifiers: SpinLockIrq<OomNotifierList>,
    /// `current->flags` of whatever runs on each CPU (`PF_MEMALLOC`): there
    /// are no tasks yet, so each CPU has a flag word (see `vmscan.rs`).
    pub(super) current_flags: PerCpu<AtomicU32>,
}

/// Every zone's and CPU's boot pageset (see `percpu_pages.rs`), as one
/// constant: `free_area_init_node` copies it straight into the node it
/// returns, where an array expression in the struct literal made the
/// compiler build it twice on the (boot) stack first.
#[allow(clippy::declare_interior_mutable_const)]
const BOOT_PAGESETS: [PerCpu<SpinLockIrq<PerCpuPageset>>; MAX_NR_ZONES] =
    [const { PerCpu::new([const { SpinLockIrq::new(PerCpuPageset::boot_pageset()) }; NR_CPUS]) }; MAX_NR_ZONES];

impl PgData {
    /// Size the zones and initialise every page descriptor of the node (Linux
    /// `free_area_init_nodes` + `free_area_init_node` + `free_area_init_core`
    /// + `memmap_init_zone`, for our single FLATMEM node).
    ///
    /// * `node_mem_map`: one descriptor per PFN from 0 up to at least
    ///   `max_pfn`; each is overwritten, whatever it held.
    /// * `max_zone_pfn`: the end PFN of DMA, Normal and HighMem, as
    ///   [`max_zone_pfns`] computes them.
    /// * `memory`: the RAM ranges `[start_pfn, end_pfn)` in ascending order
    ///   and not overlapping, as memblock keeps them; every PFN not in a range
    ///   is a hole. A range that goes backwards or overlaps the previous one
    ///   is clipped with a warning.
    ///
    /// Steps:
    /// 1. One pass over `memory`: find where RAM starts and ends
    ///    (`node_start_pfn`, `node_end_pfn`) and count the RAM pages falling
    ///    into each zone's possible range (Linux computes the same numbers as
    ///    `zone_spanned_pages_in_node` - `zone_absent_pages_in_node`).
    /// 2. Each zone spans its possible range clipped to the node's RAM; the
    ///    zones end up back to back.
    /// 3. `memmap_init_zone`: every descriptor of the map becomes "reserved,
    ///    one reference, unmapped, on no list, linked to its zone". Frames
    ///    outside every zone (below the first RAM PFN, or above the last)
    ///    get the zone their PFN would belong to; they stay reserved forever.
    /// 4. The zonelists are built from the populated zones, and the "Zone
    ///    ranges:" block and the per-zone sizes are printed.
    pub fn free_area_init_node(
        node_mem_map: &'static [Page],
        max_zone_pfn: [usize; MAX_NR_ZONES],
        memory: impl Iterator<Item = (usize, usize)>,
    ) -> PgData {
        // Free-list links store PFNs in 32 bits (see list.rs).
        let node_mem_map = if node_mem_map.len() > LIST_NONE as usize {
            log::error!(
                "free_area_init_node: mem_map of {} pages truncated to fit 32-bit PFNs",
                node_mem_map.len()
            );
            &node_mem_map[..LIST_NONE as usize]
        } else {
            node_mem_map
        };

        // The zone boundaries must not go backwards (Linux makes each zone
        // start where the previous one ended, whatever the arch asked for).
        let mut zone_end_pfn = max_zone_pfn;
        for i in 1..MAX_NR_ZONES {
            zone_end_pfn[i] = zone_end_pfn[i].max(zone_end_pfn[i - 1]);
        }
        let max_pfn = zone_end_pfn[MAX_NR_ZONES - 1];
        if node_mem_map.len() < max_pfn {
            log::warn!(
                "free_area_init_node: mem_map has {} descriptors but max_pfn is {:#x}; RAM above is ignored",
                node_mem_map.len(),
                max_pfn
            );
        }
        let limit_pfn = max_pfn.min(node_mem_map.len());

        // Step 1.
        let ram = scan_memory(memory, limit_pfn, &zone_end_pfn);

        // Step 2.
        let mut arch_zone_lowest_possible_pfn = [0; MAX_NR_ZONES];
        let mut arch_zone_highest_possible_pfn = [0; MAX_NR_ZONES];
        let mut lowest = ram.start_pfn;
        for i in 0..MAX_NR_ZONES {
            arch_zone_lowest_possible_pfn[i] = lowest;
            arch_zone_highest_possible_pfn[i] = zone_end_pfn[i].max(lowest);
            lowest = arch_zone_highest_possible_pfn[i];
        }
        let make_zone = |zone_type: ZoneType| {
            let i = zone_type as usize;
            let start = arch_zone_lowest_possible_pfn[i].clamp(ram.start_pfn, ram.end_pfn);
            let end = arch_zone_highest_possible_pfn[i].clamp(ram.start_pfn, ram.end_pfn);
            ZoneLock::new(Zone::new(
                zone_type,
                start,
                ram.present_pages[i],
                &node_mem_map[start..end],
                node_mem_map,
            ))
        };

        // Step 3.
        for (pfn, page) in node_mem_map.iter().enumerate() {
            let zone_type = ZoneType::ALL
                .into_iter()
                .find(|&zone| pfn < arch_zone_highest_possible_pfn[zone as usize])
                .unwrap_or(ZoneType::HighMem);
            memmap_init_page(page, zone_type);
        }
        // Every pageblock starts movable, so boot memory lands on the movable
        // lists (Linux memmap_init_zone).
        init_pageblock_migratetypes(&MemMap::new(0, node_mem_map), MigrateType::Movable);

        // Step 4.
        let node_zonelists = build_zonelists(|zone| ram.present_pages[zone as usize] != 0);
        let mobility_disabled = ram.present_pages.iter().sum::<usize>() < PAGEBLOCK_NR_PAGES * MIGRATE_TYPES;
        // The node is the function's value, built in place: a node is
        // several KiB, and a copy on the stack too many overflows a kernel
        // thread's 16 KiB. So the boot log's lines about it come from
        // `print_node_init`, which the caller runs once the node is stored.
        PgData {
            node_zones: ZoneType::ALL.map(make_zone),
            node_zonelists,
            node_mem_map,
            node_start_pfn: ram.start_pfn,
            node_spanned_pages: ram.end_pfn - ram.start_pfn,
            node_present_pages: ram.present_pages.iter().sum(),
            arch_zone_lowest_possible_pfn,
            arch_zone_highest_possible_pfn,
            totalram_pages: AtomicUsize::new(0),
            totalhigh_pages: AtomicUsize::new(0),
            reset_managed_pages_done: AtomicBool::new(false),
            nr_bad_page_reports: AtomicUsize::new(0),
            nr_gfp_bug_reports: AtomicUsize::new(0),
            pageset: BOOT_PAGESETS,
            pcp_high_order: [const { AtomicBool::new(false) }; MAX_NR_ZONES],
            vm_stat: [const { [const { AtomicUsize::new(0) }; super::vmstat::NR_VM_EVENT_ITEMS] }; MAX_NR_ZONES],
            min_free_kbytes: AtomicUsize::new(0),
            page_group_by_mobility_disabled: AtomicBool::new(mobility_disabled),
            shrinkers: SpinLockIrq::new(ShrinkerList::new()),
            kswapd_hook: SpinLockIrq::new(None),
            oom_notifiers: SpinLockIrq::new(OomNotifierList::new()),
            current_flags: PerCpu::new([const { AtomicU32::new(0) }; NR_CPUS]),
        }
    }

    /// The boot log's lines about a new node: the zone ranges, the
    /// zonelists (Linux prints that line from `build_all_zonelists`) and
    /// each zone's sizes. `zone_sizes_init` calls it right after
    /// [`PgData::free_area_init_node`].
    pub fn print_node_init(&self) {
        self.print_zone_ranges();
        log::info!(
            "Built 1 zonelists in Zone order, mobility grouping {}.  Total pages: {}",
            if self.page_group_by_mobility_disabled() { "off" } else { "on" },
            self.node_present_pages
        );
        log::info!("On node 0 totalpages: {}", self.node_present_pages);
        for zone in &self.node_zones {
            let zone = zone.lock();
            log::info!(
                "  {} zone: {} pages present, {} spanned, start_pfn {:#x}",
                zone.name,
                zone.present_pages,
                zone.spanned_pages,
                zone.zone_start_pfn
            );
        }
    }

    /// The whole map as a PFN-indexed view.
    #[inline]
    pub fn node_mem_map(&self) -> MemMap<'static> {
        MemMap::new(0, self.node_mem_map)
    }

    /// First PFN of RAM.
    pub fn node_start_pfn(&self) -> usize {
        self.node_start_pfn
    }

    /// PFNs from the first to the last RAM PFN, holes included.
    pub fn node_spanned_pages(&self) -> usize {
        self.node_spanned_pages
    }

    /// RAM pages in the node.
    pub fn node_present_pages(&self) -> usize {
        self.node_present_pages
    }

    /// The end of the directly mapped memory: the first PFN that is not in
    /// DMA or Normal (Linux global `max_low_pfn`, which `zone_sizes_init`
    /// passes as the end of ZONE_NORMAL).
    pub fn max_low_pfn(&self) -> usize {
        self.arch_zone_highest_possible_pfn[ZoneType::Normal as usize]
    }

    /// Pages the buddy allocator manages (Linux `totalram_pages`).
    pub fn totalram_pages(&self) -> usize {
        self.totalram_pages.load(Ordering::Relaxed)
    }

    /// High-memory pages the buddy allocator manages (Linux `totalhigh_pages`).
    pub fn totalhigh_pages(&self) -> usize {
        self.totalhigh_pages.load(Ordering::Relaxed)
    }

    /// Number of bad-page reports so far.
    pub fn nr_bad_page_reports(&self) -> usize {
        self.nr_bad_page_reports.load(Ordering::Relaxed)
    }

    /// Number of requests refused for GFP flags wrong in their context.
    pub fn nr_gfp_bug_reports(&self) -> usize {
        self.nr_gfp_bug_reports.load(Ordering::Relaxed)
    }

    /// The zone of type `zone_type`, behind its lock.
    pub fn zone(&self, zone_type: ZoneType) -> &ZoneLock {
        &self.node_zones[zone_type as usize]
    }

    /// The zones a `gfp_mask` request may use, preferred first (Linux
    /// `node_zonelist(nid, gfp)`).
    #[doc(alias = "node_zonelist")]
    pub fn zonelist(&self, gfp_mask: GfpFlags) -> &Zonelist {
        &self.node_zonelists[gfp_zone(gfp_mask) as usize]
    }

    /// Is there a descriptor for `pfn`? (Linux FLATMEM `pfn_valid`: `pfn <
    /// max_mapnr`.) Holes have descriptors too; they are simply reserved.
    pub fn pfn_valid(&self, pfn: usize) -> bool {
        pfn < self.node_mem_map.len()
    }

    /// The descriptor of `pfn` (Linux `pfn_to_page`), `None` outside the map.
    #[inline]
    pub fn pfn_to_page(&self, pfn: usize) -> Option<&'static Page> {
        self.node_mem_map.get(pfn)
    }

    /// The PFN `page` describes (Linux `page_to_pfn`): its offset from the
    /// start of `node_mem_map`. `None` if `page` is not one of this node's
    /// descriptors.
    #[inline]
    pub fn page_to_pfn(&self, page: &Page) -> Option<usize> {
        self.node_mem_map().page_to_pfn(page)
    }

    /// The zone a page belongs to, from the zone link in its flags (Linux
    /// `page_zone`).
    pub fn page_zone(&self, page: &Page) -> &ZoneLock {
        self.zone(page.page_zonenum())
    }

    /// The line of the "Zone ranges:" block for `zone_type`.
    pub fn zone_range_line(&self, zone_type: ZoneType) -> ZoneRangeLine {
        ZoneRangeLine {
            name: zone_type.name(),
            start_pfn: self.arch_zone_lowest_possible_pfn[zone_type as usize],
            end_pfn: self.arch_zone_highest_possible_pfn[zone_type as usize],
        }
    }

    /// Print the "Zone ranges:" block as `free_area_init_nodes` does.
    pub fn print_zone_ranges(&self) {
        log::info!("Zone ranges:");
        for zone_type in ZoneType::ALL {
            log::info!("{}", self.zone_range_line(zone_type));
        }
    }

    /// Print `/proc/buddyinfo`: one line per populated zone with the number
    /// of free blocks of each order (Linux `frag_show`).
    pub fn show_buddyinfo(&self) {
        for zone in &self.node_zones {
            let line = {
                let zone = zone.lock();
                if !zone.is_populated() {
                    continue;
                }
                zone.buddyinfo_line()
            };
            log::info!("{line}");
        }
    }
}

/// What one pass over the RAM ranges found.
struct RamScan {
    /// First RAM PFN (0 if there is no RAM).
    start_pfn: usize,
    /// One past the last RAM PFN (0 if there is no RAM).
    end_pfn: usize,
    /// RAM pages inside each zone's possible range.
    present_pages: [usize; MAX_NR_ZONES],
}

/// Walk the RAM ranges once, clipping them to `[0, limit_pfn)` and to the end
/// of the previous range, and count RAM pages per zone. `zone_end_pfn` holds
/// the non-decreasing end of each zone.
fn scan_memory(
    memory: impl Iterator<Item = (usize, usize)>,
    limit_pfn: usize,
    zone_end_pfn: &[usize; MAX_NR_ZONES],
) -> RamScan {
    let mut scan = RamScan {
        start_pfn: 0,
        end_pfn: 0,
        present_pages: [0; MAX_NR_ZONES],
    };
    let mut seen_ram = false;
    for (start_pfn, end_pfn) in memory {
        let end_pfn = end_pfn.min(limit_pfn);
        let start_pfn = if seen_ram && start_pfn < scan.end_pfn {
            log::warn!(
                "free_area_init_node: memory range {start_pfn:#x}-{end_pfn:#x} is out of order or overlaps; clipped"
            );
            scan.end_pfn
        } else {
            start_pfn
        };
        if start_pfn >= end_pfn {
            continue;
        }
        if !seen_ram {
            scan.start_pfn = start_pfn;
            seen_ram = true;
        }
        scan.end_pfn = end_pfn;
        let mut zone_start_pfn = 0;
        for (i, &zone_end) in zone_end_pfn.iter().enumerate() {
            let overlap_start = start_pfn.max(zone_start_pfn);
            let overlap_end = end_pfn.min(zone_end);
            scan.present_pages[i] += overlap_end.saturating_sub(overlap_start);
            zone_start_pfn = zone_end;
        }
    }
    scan
}

/// Give one descriptor its boot-time state (the body of Linux's
/// `memmap_init_zone` loop): reserved (so nothing frees it by accident before
/// `mem_init` decides), one reference, unmapped, no private data, on no list,
/// linked to `zone_type`. Every field is written because the memory under
/// `mem_map` may hold anything.
fn memmap_init_page(page: &Page, zone_type: ZoneType) {
    page.flags.store(0, Ordering::Relaxed);
    page.set_page_zone(zone_type);
    page.set_reserved();
    page.init_page_count();
    page.reset_page_mapcount();
    page.set_page_private(0);
    page.lru.init();
}

/// The node of this machine (Linux `contig_page_data`). Built once by the
/// kernel's `paging_init` with [`PgData::free_area_init_node`].
#[doc(alias = "contig_page_data")]
pub static CONTIG_PAGE_DATA: spin::Once<PgData> = spin::Once::new();

/// The node descriptor, once `paging_init` has built it (Linux `NODE_DATA(0)`).
#[doc(alias = "NODE_DATA")]
pub fn node_data() -> Option<&'static PgData> {
    CONTIG_PAGE_DATA.get()
}

/// Helpers shared by the host tests of the `mm` files.
#[cfg(all(test, not(target_os = "none")))]
pub(super) mod test_support {
    use super::*;

    /// A `mem_map` of `nr_pages` descriptors that lives for the rest of the
    /// test process, like the kernel's.
    pub fn leak_mem_map(nr_pages: usize) -> &'static [Page] {
        Box::leak(
            (0..nr_pages)
                .map(|_| Page::new())
                .collect::<Vec<_>>()
                .into_boxed_slice(),
        )
    }

    /// A node of `nr_pages` PFNs with the given zone ends and RAM ranges.
    pub fn node(
        nr_pages: usize,
        max_zone_pfn: [usize; MAX_NR_ZONES],
        memory: &[(usize, usize)],
    ) -> PgData {
        PgData::free_area_init_node(leak_mem_map(nr_pages), max_zone_pfn, memory.iter().copied())
    }
}

#[cfg(all(test, not(target_os = "none")))]
mod tests {
    use super::test_support::*;
    use super::*;

    const MIB: usize = (1 << 20) >> PAGE_SHIFT;

    /// (start_pfn, spanned, present) of each zone.
    fn sizes(pgdat: &PgData) -> [(usize, usize, usize); MAX_NR_ZONES] {
        ZoneType::ALL.map(|zone| {
            let zone = pgdat.zone(zone).lock();
            (
                zone.zone_start_pfn(),
                zone.spanned_pages(),
                zone.present_pages(),
            )
        })
    }

    /// A PC layout: RAM from PFN 1 (page 0 holds BIOS data) to 640 KiB, then
    /// from 1 MiB to the end; the ISA hole in between.
    fn pc_node(total_pfns: usize, max_low_pfn: usize) -> PgData {
        node(
            total_pfns,
            max_zone_pfns(max_low_pfn, total_pfns),
            &[(1, 0xa0), (0x100, total_pfns)],
        )
    }

    #[test]
    fn machine_of_32_mib_has_no_high_memory() {
        let pgdat = pc_node(32 * MIB, 32 * MIB);
        let hole = 0x100 - 0xa0;
        assert_eq!(
            sizes(&pgdat),
            [(1, 4095, 4095 - hole), (4096, 4096, 4096), (8192, 0, 0)]
        );
        assert_eq!(pgdat.node_start_pfn(), 1);
        assert_eq!(pgdat.node_spanned_pages(), 8191);
        assert_eq!(pgdat.node_present_pages(), 8191 - hole);
        assert_eq!(pgdat.max_low_pfn(), 8192);
        assert_eq!(
            pgdat.zonelist(GfpFlags::GFP_HIGHUSER).zones(),
            [ZoneType::Normal, ZoneType::Dma]
        );
    }

    #[test]
    fn machine_of_128_mib() {
        let pgdat = pc_node(128 * MIB, 128 * MIB);
        assert_eq!(sizes(&pgdat)[1], (4096, 128 * MIB - 4096, 128 * MIB - 4096));
        assert_eq!(sizes(&pgdat)[2].1, 0);
    }

    #[test]
    fn machine_of_exactly_896_mib_has_an_empty_highmem_zone() {
        let pgdat = pc_node(896 * MIB, 896 * MIB);
        assert_eq!(sizes(&pgdat)[1], (4096, 896 * MIB - 4096, 896 * MIB - 4096));
        assert_eq!(sizes(&pgdat)[2], (896 * MIB, 0, 0));
        assert_eq!(
            pgdat.zone_range_line(ZoneType::HighMem).to_string(),
            "  HighMem  empty"
        );
    }

    #[test]
    fn machine_of_2_gib_has_1152_mib_of_high_memory() {
        let pgdat = pc_node(2048 * MIB, 896 * MIB);
        assert_eq!(sizes(&pgdat)[2], (896 * MIB, 1152 * MIB, 1152 * MIB));
        assert_eq!(pgdat.zonelist(GfpFlags::GFP_HIGHUSER).zones().len(), 3);
        // Zone links follow the boundaries.
        let zone_of = |pfn| pgdat.pfn_to_page(pfn).unwrap().page_zonenum();
        assert_eq!(zone_of(0), ZoneType::Dma);
        assert_eq!(zone_of(4095), ZoneType::Dma);
        assert_eq!(zone_of(4096), ZoneType::Normal);
        assert_eq!(zone_of(896 * MIB - 1), ZoneType::Normal);
        assert_eq!(zone_of(896 * MIB), ZoneType::HighMem);
        assert!(pgdat.pfn_to_page(896 * MIB).unwrap().is_highmem());
    }

    #[test]
    fn machine_below_16_mib_has_only_dma() {
        let pgdat = pc_node(8 * MIB, 8 * MIB);
        assert_eq!(max_zone_pfns(8 * MIB, 8 * MIB), [2048, 2048, 2048]);
        assert_eq!(
            sizes(&pgdat),
            [(1, 2047, 2047 - 0x60), (2048, 0, 0), (2048, 0, 0)]
        );
        assert_eq!(
            pgdat.zonelist(GfpFlags::GFP_KERNEL).zones(),
            [ZoneType::Dma]
        );
    }

    #[test]
    fn ram_starting_above_16_mib_leaves_dma_empty() {
        let pgdat = node(
            64 * MIB,
            max_zone_pfns(64 * MIB, 64 * MIB),
            &[(32 * MIB, 64 * MIB)],
        );
        assert_eq!(
            sizes(&pgdat),
            [
                (32 * MIB, 0, 0),
                (32 * MIB, 32 * MIB, 32 * MIB),
                (64 * MIB, 0, 0)
            ]
        );
        assert_eq!(
            pgdat.zone_range_line(ZoneType::Dma).to_string(),
            "  DMA      empty"
        );
        assert!(pgdat.zonelist(GfpFlags::GFP_DMA).zones().is_empty());
    }

    #[test]
    fn holes_count_in_spanned_but_not_in_present() {
        // Synthetic zones: DMA [0,64), Normal [64,256), HighMem [256,512).
        // Holes at [20,40) (DMA), [100,164) (Normal), [300,512) (HighMem tail).
        let pgdat = node(512, [64, 256, 512], &[(0, 20), (40, 100), (164, 300)]);
        assert_eq!(sizes(&pgdat), [(0, 64, 44), (64, 192, 128), (256, 44, 44)]);
        // Descriptors in holes exist and are reserved.
        assert!(pgdat.pfn_valid(30));
        assert!(pgdat.pfn_to_page(30).unwrap().is_reserved());
        assert!(pgdat.pfn_valid(511));
        assert!(!pgdat.pfn_valid(512));
        assert!(pgdat.pfn_to_page(512).is_none());
    }

    #[test]
    fn every_descriptor_starts_reserved_with_one_reference() {
        let pgdat = node(300, [64, 256, 300], &[(1, 300)]);
        for pfn in 0..300 {
            let page = pgdat.pfn_to_page(pfn).unwrap();
            assert!(page.is_reserved() && !page.is_buddy());
            assert_eq!(page.page_count(), 1);
            assert_eq!(page.page_mapcount(), 0);
            assert_eq!(pgdat.page_to_pfn(page), Some(pfn));
        }
        for zone in ZoneType::ALL {
            let zone = pgdat.zone(zone).lock();
            assert_eq!(zone.free_pages(), 0);
            assert_eq!(zone.buddyinfo(), [0; MAX_ORDER]);
        }
    }

    #[test]
    fn overlapping_and_out_of_order_ranges_are_clipped() {
        let pgdat = node(
            256,
            [64, 256, 256],
            &[(0, 50), (40, 80), (10, 20), (100, 120)],
        );
        // [0,50) + [50,80) + nothing + [100,120)
        assert_eq!(pgdat.node_present_pages(), 100);
        assert_eq!(sizes(&pgdat), [(0, 64, 64), (64, 56, 36), (120, 0, 0)]);
    }

    #[test]
    fn short_mem_map_clips_the_zones() {
        let pgdat = node(200, [64, 256, 512], &[(0, 512)]);
        assert_eq!(sizes(&pgdat), [(0, 64, 64), (64, 136, 136), (200, 0, 0)]);
        assert_eq!(pgdat.node_spanned_pages(), 200);
    }

    #[test]
    fn no_ram_at_all_gives_empty_zones() {
        let pgdat = node(64, [16, 64, 64], &[]);
        assert_eq!(sizes(&pgdat), [(0, 0, 0); 3]);
        assert_eq!(pgdat.node_present_pages(), 0);
    }

    #[test]
    fn zone_ranges_print_like_linux() {
        let pgdat = pc_node(2048 * MIB, 896 * MIB);
        let lines: Vec<String> = ZoneType::ALL
            .iter()
            .map(|&z| pgdat.zone_range_line(z).to_string())
            .collect();
        assert_eq!(
            lines,
            [
                "  DMA      [mem 0x0000000000001000-0x0000000000ffffff]",
                "  Normal   [mem 0x0000000001000000-0x0000000037ffffff]",
                "  HighMem  [mem 0x0000000038000000-0x000000007fffffff]",
            ]
        );
    }

    #[test]
    fn buddyinfo_line_prints_like_proc_buddyinfo() {
        let line = BuddyinfoLine {
            name: "Normal",
            nr_free: [3, 1, 0, 0, 0, 0, 0, 0, 0, 0, 123456],
        };
        assert_eq!(
            line.to_string(),
            "Node 0, zone   Normal      3      1      0      0      0      0      0      0      0      0 123456 "
        );
        let dma = BuddyinfoLine {
            name: "DMA",
            nr_free: [1; MAX_ORDER],
        };
        assert!(
            dma.to_string()
                .starts_with("Node 0, zone      DMA      1      1 ")
        );
    }

    #[test]
    fn foreign_pages_have_no_pfn() {
        let a = node(64, [64, 64, 64], &[(0, 64)]);
        let b = node(64, [64, 64, 64], &[(0, 64)]);
        let page = b.pfn_to_page(3).unwrap();
        assert_eq!(a.page_to_pfn(page), None);
        assert_eq!(b.page_to_pfn(page), Some(3));
    }
}
