//! # Memory statistics: per-zone counters, `/proc/zoneinfo`, `/proc/vmstat`
//!
//! Every interesting thing the zone allocator does is counted per zone
//! ([`VmEventItem`]): pages allocated and freed, per-CPU refills and spills,
//! migrate-type fallbacks and pageblock steals, kswapd wake-ups, direct
//! reclaim stalls, pages reclaimed, OOM invocations. The dumps print them the
//! way Linux's `/proc` files do, so a boot log can be read beside a real
//! machine's:
//!
//! * [`PgData::show_zoneinfo`]: `/proc/zoneinfo`, per zone: free pages, the
//!   watermarks, sizes, `protection` (the `lowmem_reserve`), and each CPU's
//!   per-CPU list;
//! * [`PgData::show_vmstat`]: `/proc/vmstat`, the counters summed over zones
//!   (split by zone where Linux splits them: `pgalloc_dma`, ...);
//! * [`PgData::show_pagetypeinfo`]: `/proc/pagetypeinfo`, free blocks per
//!   order and migrate type, and pageblocks per type.
//!
//! Where a count is made, Linux's rule applies: cheap, no extra lock, no
//! shared cache line on the fast path. An event on the per-CPU fast path
//! goes into that CPU's pageset (`vm_stat_diff`, under the pageset lock the
//! path already holds); once a count there passes the pageset's
//! `stat_threshold` ([`calculate_threshold`], 2.6.18's formula) it is
//! folded into the zone's shared atomic total (`vm_stat`) and starts again
//! from 0 — the shared line is written once per threshold events, not on
//! every one. [`PgData::refresh_cpu_vm_stats`] folds a CPU's residues
//! (Linux runs it every second on every CPU). An event under the zone lock
//! goes into the zone (`zone.vm_events`). An exact total is all three
//! added up ([`PgData::zone_vm_events`]); [`PgData::zone_vm_stat_folded`]
//! is the cheap, slightly late one Linux's readers use.
//!
//! ## Linux source
//! `include/linux/vmstat.h`, `include/linux/vm_event_item.h`,
//! `mm/vmstat.c` (`zone_statistics`, `zoneinfo_show_print`,
//! `vmstat_show`, `pagetypeinfo_show`), `include/linux/mmzone.h`
//! (`NR_FREE_PAGES`, `NUMA_HIT`).
//!
//! ## What we simplified and why
//! * Linux keeps two kinds of counters: zone state (`vm_stat`, folded at
//!   the threshold) and events (`vm_event_states`, per CPU, summed when
//!   read). Ours are all events, counted the first way, so that both
//!   mechanisms are there to read; `NR_FREE_PAGES` is the zone's
//!   `free_pages`, kept exactly under the zone lock for the watermarks.
//! * `NR_FREE_PAGES` is the zone's `free_pages`, kept under the zone lock.
//! * One node: every allocation is a NUMA hit, so `zone_statistics` counts
//!   `numa_hit` only (`numa_miss`, `numa_foreign`, `numa_other` would stay
//!   0).
//! * `pcp_refill`, `pcp_spill`, `extfrag_fallback`, `pageblock_steal`,
//!   `kswapd_wakeup` and `oom_invoked` are our own counters (Linux traces
//!   the first four with tracepoints); the others have Linux's names.

use core::fmt;

use super::MAX_ORDER;
use super::migratetype::{MIGRATE_TYPES, MigrateType, PAGEBLOCK_NR_PAGES, PAGEBLOCK_ORDER};
use super::mmzone::{MAX_NR_ZONES, PgData, ZoneType};
use super::percpu_pages::PerCpuPageset;
use crate::arch::current::irqflags::{local_irq_restore, local_irq_save};
use crate::mm::layout::NR_CPUS;
use core::sync::atomic::Ordering;

/// What is counted (Linux `enum zone_stat_item` and `enum vm_event_item`,
/// the parts we have).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VmEventItem {
    /// Pages allocated (`pgalloc_<zone>`).
    PgAlloc,
    /// Pages freed (`pgfree`).
    PgFree,
    /// Allocations served on the preferred node (`numa_hit`).
    NumaHit,
    /// Per-CPU lists refilled from the buddy allocator.
    PcpRefill,
    /// Per-CPU lists that reached `high` and spilled a batch.
    PcpSpill,
    /// Requests served from another migrate type's lists.
    ExtfragFallback,
    /// Pageblocks that changed migrate type on a fallback.
    PageblockSteal,
    /// Times an allocation found the zone below `pages_low` and woke kswapd.
    KswapdWakeup,
    /// Allocations that entered direct reclaim (`allocstall`, counted on
    /// the request's preferred zone).
    AllocStall,
    /// Pages freed by reclaim (`pgsteal_<zone>`).
    PgSteal,
    /// Times the OOM path ran (counted on the request's preferred zone).
    OomInvoked,
    /// Rounds of kswapd's `balance_pgdat` (`pageoutrun`, counted on the
    /// lowest zone that was short).
    PageOutRun,
    /// Pages kswapd freed (`kswapd_steal`, on the same zone).
    KswapdSteal,
}

/// Number of counters.
pub const NR_VM_EVENT_ITEMS: usize = 13;

impl VmEventItem {
    /// Every counter, in `/proc/vmstat` order.
    pub const ALL: [VmEventItem; NR_VM_EVENT_ITEMS] = [
        VmEventItem::PgAlloc,
        VmEventItem::PgFree,
        VmEventItem::NumaHit,
        VmEventItem::PcpRefill,
        VmEventItem::PcpSpill,
        VmEventItem::ExtfragFallback,
        VmEventItem::PageblockSteal,
        VmEventItem::KswapdWakeup,
        VmEventItem::AllocStall,
        VmEventItem::PgSteal,
        VmEventItem::OomInvoked,
        VmEventItem::PageOutRun,
        VmEventItem::KswapdSteal,
    ];

    /// The name `/proc/vmstat` uses (Linux `vmstat_text[]`).
    pub const fn name(self) -> &'static str {
        match self {
            VmEventItem::PgAlloc => "pgalloc",
            VmEventItem::PgFree => "pgfree",
            VmEventItem::NumaHit => "numa_hit",
            VmEventItem::PcpRefill => "pcp_refill",
            VmEventItem::PcpSpill => "pcp_spill",
            VmEventItem::ExtfragFallback => "extfrag_fallback",
            VmEventItem::PageblockSteal => "pageblock_steal",
            VmEventItem::KswapdWakeup => "kswapd_wakeup",
            VmEventItem::AllocStall => "allocstall",
            VmEventItem::PgSteal => "pgsteal",
            VmEventItem::OomInvoked => "oom_invoked",
            VmEventItem::PageOutRun => "pageoutrun",
            VmEventItem::KswapdSteal => "kswapd_steal",
        }
    }

    /// Does `/proc/vmstat` show this counter per zone (`pgalloc_dma`,
    /// `pgalloc_normal`, `pgalloc_high`), as Linux does for these?
    const fn split_by_zone(self) -> bool {
        matches!(
            self,
            VmEventItem::PgAlloc | VmEventItem::AllocStall | VmEventItem::PgSteal
        )
    }
}

/// The suffix of a per-zone counter in `/proc/vmstat` (Linux
/// `TEXTS_FOR_ZONES`).
const fn zone_suffix(zone_type: ZoneType) -> &'static str {
    match zone_type {
        ZoneType::Dma => "dma",
        ZoneType::Normal => "normal",
        ZoneType::HighMem => "high",
    }
}

/// How many counts a CPU may hold back before folding them into a zone's
/// total (Linux 2.6.18's `calculate_threshold`): grows with the CPUs (more
/// CPUs, more contention on the shared line) and with the zone's size (in
/// 128 MiB units), at most 125.
pub fn calculate_threshold(present_pages: usize, online_cpus: usize) -> usize {
    let fls = |x: usize| (usize::BITS - x.leading_zeros()) as usize;
    let mem = present_pages >> (27 - crate::mm::PAGE_SHIFT);
    (2 * fls(online_cpus) * (1 + fls(mem))).min(125)
}

/// A set of counters (one zone's, or one CPU's share of one zone's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VmEvents([usize; NR_VM_EVENT_ITEMS]);

impl VmEvents {
    /// All counters at zero.
    pub const fn new() -> Self {
        VmEvents([0; NR_VM_EVENT_ITEMS])
    }

    /// Count `delta` more `item`s.
    pub fn add(&mut self, item: VmEventItem, delta: usize) {
        self.0[item as usize] += delta;
    }

    /// Counts `delta` more `item`s; if that takes the count past
    /// `threshold`, empties it and returns what it held, for the caller to
    /// fold into a shared total (the test of Linux `__inc_zone_state`).
    pub fn add_or_fold(&mut self, item: VmEventItem, delta: usize, threshold: usize) -> usize {
        self.0[item as usize] += delta;
        if self.0[item as usize] > threshold { core::mem::take(&mut self.0[item as usize]) } else { 0 }
    }

    /// Empties every count, returning what they held.
    fn take(&mut self) -> VmEvents {
        core::mem::take(self)
    }

    /// The count of `item`.
    pub fn get(&self, item: VmEventItem) -> usize {
        self.0[item as usize]
    }

    fn merge(&mut self, other: &VmEvents) {
        for (total, part) in self.0.iter_mut().zip(other.0) {
            *total += part;
        }
    }
}

impl PgData {
    /// Count `delta` `item`s in `zone_type` from anywhere but under a zone
    /// lock (Linux `__count_zone_vm_events`, seed 001): into this CPU's
    /// pageset, with interrupts off.
    #[doc(alias = "__count_zone_vm_events")]
    pub fn count_zone_vm_events(&self, zone_type: ZoneType, item: VmEventItem, delta: usize) {
        let mut pageset = self.pageset[zone_type as usize].lock_this_cpu();
        self.count_on_pageset(&mut pageset, zone_type, item, delta);
    }

    /// Adds `amount` of `item` to the zone's shared total (Linux
    /// `zone_page_state_add`): the one write to a shared line, once per
    /// `stat_threshold` counts of a CPU.
    pub(super) fn fold_zone_vm_event(&self, zone_type: ZoneType, item: VmEventItem, amount: usize) {
        if amount > 0 {
            self.vm_stat[zone_type as usize][item as usize].fetch_add(amount, Ordering::Relaxed);
        }
    }

    /// Folds every count CPU `cpu` still holds into the zones' totals
    /// (Linux `refresh_cpu_vm_stats`, which `vmstat_update` runs every
    /// second on each CPU; here also whoever wants the totals to be exact
    /// without adding the residues up).
    pub fn refresh_cpu_vm_stats(&self, cpu: usize) {
        for zone_type in ZoneType::ALL {
            let flags = local_irq_save();
            let residue = self.zone_pcp(zone_type, cpu).lock().vm_stat_diff.take();
            local_irq_restore(flags);
            for (item, amount) in residue.0.iter().enumerate() {
                if *amount > 0 {
                    self.vm_stat[zone_type as usize][item].fetch_add(*amount, Ordering::Relaxed);
                }
            }
        }
    }

    /// Sets every pageset's `stat_threshold` for `online_cpus` CPUs (Linux
    /// `refresh_zone_stat_thresholds`, on boot and when a CPU comes up).
    pub fn refresh_zone_stat_thresholds(&self, online_cpus: usize) {
        for zone_type in ZoneType::ALL {
            let threshold = calculate_threshold(self.zone(zone_type).lock().present_pages(), online_cpus);
            for cpu in 0..NR_CPUS {
                let flags = local_irq_save();
                self.zone_pcp(zone_type, cpu).lock().stat_threshold = threshold;
                local_irq_restore(flags);
            }
        }
    }

    /// The shared total of `item` in `zone_type` (Linux `zone_page_state`):
    /// what has been folded so far, without the CPUs' residues.
    pub fn zone_vm_stat_folded(&self, zone_type: ZoneType, item: VmEventItem) -> usize {
        self.vm_stat[zone_type as usize][item as usize].load(Ordering::Relaxed)
    }

    /// The residue of `item` in `zone_type` on CPU `cpu`.
    pub fn cpu_vm_stat_diff(&self, zone_type: ZoneType, cpu: usize, item: VmEventItem) -> usize {
        let flags = local_irq_save();
        let value = self.zone_pcp(zone_type, cpu).lock().vm_stat_diff.get(item);
        local_irq_restore(flags);
        value
    }

    /// The NUMA event an allocation served by `zone_type` for a request
    /// whose zonelist starts at `_preferred_zone` counts (Linux
    /// `zone_statistics`, which compares the two zones' nodes): with one
    /// node they are always on the same node, a hit. The allocator counts
    /// it together with `pgalloc`, in the same interrupts-off region
    /// (`PgData::rmqueue_pcp` for order 0, under the zone lock for bigger
    /// blocks).
    pub(super) fn zone_statistics(_preferred_zone: ZoneType, _zone_type: ZoneType) -> VmEventItem {
        VmEventItem::NumaHit
    }

    /// Count `delta` `item`s of `zone_type` into `pageset`, the locked
    /// pageset of this CPU for that zone, folding into the zone's total
    /// when the count passes `stat_threshold` (Linux `__inc_zone_state` /
    /// `__mod_zone_page_state`, called with interrupts already off).
    pub(super) fn count_on_pageset(&self, pageset: &mut PerCpuPageset, zone_type: ZoneType, item: VmEventItem, delta: usize) {
        let fold = pageset.vm_stat_diff.add_or_fold(item, delta, pageset.stat_threshold);
        self.fold_zone_vm_event(zone_type, item, fold);
    }

    /// The counters of `zone_type`, exactly: those counted under the zone
    /// lock, the folded totals, and every CPU's residue.
    /// The zone lock and each pageset lock are taken one after the other,
    /// never nested (see the lock order in `percpu_pages.rs`).
    pub fn zone_vm_events(&self, zone_type: ZoneType) -> VmEvents {
        let mut total = self.zone(zone_type).lock().vm_events;
        for (sum, folded) in total.0.iter_mut().zip(&self.vm_stat[zone_type as usize]) {
            *sum += folded.load(Ordering::Relaxed);
        }
        for cpu in 0..NR_CPUS {
            let flags = local_irq_save();
            let part = self.zone_pcp(zone_type, cpu).lock().vm_stat_diff;
            local_irq_restore(flags);
            total.merge(&part);
        }
        total
    }

    /// One counter summed over all zones.
    pub fn global_vm_event(&self, item: VmEventItem) -> usize {
        ZoneType::ALL
            .iter()
            .map(|&zone| self.zone_vm_events(zone).get(item))
            .sum()
    }

    /// Print `/proc/zoneinfo` for every populated zone (Linux
    /// `zoneinfo_show_print`, the fields we have).
    pub fn show_zoneinfo(&self) {
        ZoneType::ALL.into_iter().for_each(|zone_type| self.show_zoneinfo_of(zone_type));
    }

    /// One zone's part of [`PgData::show_zoneinfo`] (nothing if the zone is
    /// empty).
    pub fn show_zoneinfo_of(&self, zone_type: ZoneType) {
        {
            let zone = {
                let zone = self.zone(zone_type).lock();
                if !zone.is_populated() {
                    return;
                }
                ZoneinfoNumbers {
                    free: zone.free_pages(),
                    marks: [zone.pages_min(), zone.pages_low(), zone.pages_high()],
                    sizes: [
                        zone.spanned_pages(),
                        zone.present_pages(),
                        zone.managed_pages(),
                    ],
                    bad: zone.nr_bad_pages(),
                    protection: ZoneType::ALL.map(|classzone| zone.lowmem_reserve(classzone)),
                    start_pfn: zone.zone_start_pfn(),
                }
            };
            let events = self.zone_vm_events(zone_type);
            log::info!("Node 0, zone {:>8}", zone_type.name());
            log::info!("  pages free     {}", zone.free);
            log::info!("        min      {}", zone.marks[0]);
            log::info!("        low      {}", zone.marks[1]);
            log::info!("        high     {}", zone.marks[2]);
            log::info!("        spanned  {}", zone.sizes[0]);
            log::info!("        present  {}", zone.sizes[1]);
            log::info!("        managed  {}", zone.sizes[2]);
            log::info!("    nr_free_pages {}", zone.free);
            log::info!("    nr_bad_pages {}", zone.bad);
            log::info!("    numa_hit     {}", events.get(VmEventItem::NumaHit));
            let [dma, normal, high] = zone.protection;
            log::info!("        protection: ({dma}, {normal}, {high})");
            log::info!("  pagesets");
            // Linux: for_each_online_cpu (CPUs come up in order and stay up).
            for cpu in 0..crate::arch::current::smp::num_online_cpus() {
                let (count, high, batch) = {
                    // The pageset lock keeps interrupts off while held.
                    let pageset = self.zone_pcp(zone_type, cpu).lock();
                    (pageset.pcp().count(), pageset.pcp().high(), pageset.pcp().batch())
                };
                log::info!("    cpu: {cpu}");
                log::info!("              count: {count}");
                log::info!("              high:  {high}");
                log::info!("              batch: {batch}");
            }
            log::info!("  start_pfn:         {}", zone.start_pfn);
        }
    }

    /// Print `/proc/vmstat` (Linux `vmstat_show`): `nr_free_pages`, then
    /// every counter, per zone where Linux splits it.
    pub fn show_vmstat(&self) {
        let free: usize = ZoneType::ALL
            .iter()
            .map(|&zone| self.zone(zone).lock().free_pages())
            .sum();
        log::info!("nr_free_pages {free}");
        let per_zone = ZoneType::ALL.map(|zone| self.zone_vm_events(zone));
        for item in VmEventItem::ALL {
            if item.split_by_zone() {
                for zone_type in ZoneType::ALL {
                    let count = per_zone[zone_type as usize].get(item);
                    log::info!("{}_{} {}", item.name(), zone_suffix(zone_type), count);
                }
            } else {
                let total: usize = per_zone.iter().map(|events| events.get(item)).sum();
                log::info!("{} {}", item.name(), total);
            }
        }
    }

    /// Print `/proc/pagetypeinfo` (Linux `pagetypeinfo_show`): the free
    /// blocks of each order on each migrate type's lists, then the number of
    /// pageblocks of each type, per populated zone.
    pub fn show_pagetypeinfo(&self) {
        log::info!("Page block order: {PAGEBLOCK_ORDER}");
        log::info!("Pages per block:  {PAGEBLOCK_NR_PAGES}");
        log::info!("Free pages count per migrate type at order {}", OrderHeader);
        for zone_type in ZoneType::ALL {
            let lines = {
                let zone = self.zone(zone_type).lock();
                if !zone.is_populated() {
                    continue;
                }
                MigrateType::ALL.map(|migratetype| PagetypeLine {
                    zone: zone_type.name(),
                    migratetype,
                    nr_free: core::array::from_fn(|order| {
                        zone.free_area(order).nr_free_of_type(migratetype)
                    }),
                })
            };
            for line in lines {
                log::info!("{line}");
            }
        }
        log::info!("Number of blocks type     Unmovable  Reclaimable      Movable      Reserve ");
        for zone_type in ZoneType::ALL {
            let counts = {
                let zone = self.zone(zone_type).lock();
                if !zone.is_populated() {
                    continue;
                }
                zone.pageblock_counts()
            };
            log::info!(
                "{}",
                BlockCountLine {
                    zone: zone_type.name(),
                    counts
                }
            );
        }
    }
}

/// The numbers of one zone's `/proc/zoneinfo` block, copied out so that
/// nothing is printed under the lock.
struct ZoneinfoNumbers {
    free: usize,
    marks: [usize; 3],
    sizes: [usize; 3],
    bad: usize,
    protection: [usize; MAX_NR_ZONES],
    start_pfn: usize,
}

/// The order numbers heading `/proc/pagetypeinfo`'s free table.
struct OrderHeader;

impl fmt::Display for OrderHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (0..MAX_ORDER).try_for_each(|order| write!(f, "{order:>6} "))
    }
}

/// One line of `/proc/pagetypeinfo`'s free table:
/// `Node    0, zone   Normal, type    Unmovable      3      1 ...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PagetypeLine {
    zone: &'static str,
    migratetype: MigrateType,
    nr_free: [usize; MAX_ORDER],
}

impl fmt::Display for PagetypeLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Node {:>4}, zone {:>8}, type {:>12} ",
            0,
            self.zone,
            self.migratetype.name()
        )?;
        self.nr_free.iter().try_for_each(|n| write!(f, "{n:>6} "))
    }
}

/// One line of `/proc/pagetypeinfo`'s pageblock table.
struct BlockCountLine {
    zone: &'static str,
    counts: [usize; MIGRATE_TYPES],
}

impl fmt::Display for BlockCountLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Node 0, zone {:>8} ", self.zone)?;
        self.counts.iter().try_for_each(|n| write!(f, "{n:>12} "))
    }
}

#[cfg(all(test, not(target_os = "none")))]
mod tests {
    use super::*;

    #[test]
    fn pagetype_lines_print_like_proc_pagetypeinfo() {
        let line = PagetypeLine {
            zone: "Normal",
            migratetype: MigrateType::Movable,
            nr_free: [3, 1, 0, 0, 0, 0, 0, 0, 0, 0, 214],
        };
        assert_eq!(
            line.to_string(),
            "Node    0, zone   Normal, type      Movable      3      1      0      0      0      0      0      0      0      0    214 "
        );
        let blocks = BlockCountLine {
            zone: "DMA",
            counts: [1, 0, 2, 1],
        };
        assert_eq!(
            blocks.to_string(),
            "Node 0, zone      DMA            1            0            2            1 "
        );
    }

    #[test]
    fn counters_add_and_merge() {
        let mut zone = VmEvents::new();
        zone.add(VmEventItem::PgFree, 8);
        let mut cpu = VmEvents::new();
        cpu.add(VmEventItem::PgFree, 1);
        cpu.add(VmEventItem::PcpSpill, 2);
        zone.merge(&cpu);
        assert_eq!(
            (
                zone.get(VmEventItem::PgFree),
                zone.get(VmEventItem::PcpSpill)
            ),
            (9, 2)
        );
        assert_eq!(
            VmEventItem::ALL
                .iter()
                .map(|&item| item as usize)
                .collect::<Vec<_>>(),
            (0..NR_VM_EVENT_ITEMS).collect::<Vec<_>>()
        );
        assert_eq!(zone_suffix(ZoneType::HighMem), "high");
    }

    /// 2.6.18's formula by hand: 2 * fls(cpus) * (1 + fls(128 MiB units)),
    /// at most 125.
    #[test]
    fn thresholds_follow_linux() {
        assert_eq!(calculate_threshold(32_768, 1), 2 * 1 * (1 + 1)); // 128 MiB, 1 CPU
        assert_eq!(calculate_threshold(225_280, 2), 2 * 2 * (1 + 3)); // Normal at 2 GiB, 2 CPUs
        assert_eq!(calculate_threshold(225_280, 4), 2 * 3 * (1 + 3)); // ... 4 CPUs
        assert_eq!(calculate_threshold(3_999, 1), 2 * 1 * (1 + 0)); // DMA: under 128 MiB
        assert_eq!(calculate_threshold(1 << 30, 16), 125, "capped");
    }

    /// Counts stay on the CPU up to the threshold; the next one folds them
    /// all, and nothing is lost.
    #[test]
    fn a_count_is_folded_once_it_passes_the_threshold() {
        let mut diff = VmEvents::new();
        let folded: usize = (0..4).map(|_| diff.add_or_fold(VmEventItem::PgFree, 1, 4)).sum();
        assert_eq!((folded, diff.get(VmEventItem::PgFree)), (0, 4));
        assert_eq!(diff.add_or_fold(VmEventItem::PgFree, 1, 4), 5);
        assert_eq!(diff.get(VmEventItem::PgFree), 0);
        assert_eq!(diff.add_or_fold(VmEventItem::PgAlloc, 8, 4), 8, "a big step folds at once");
    }
}
