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
//! Where a count is made, Linux's rule applies: cheap, no extra lock. An
//! event on the per-CPU fast path goes into that CPU's pageset
//! (`vm_stat_diff`, under the pageset lock the path already holds); an event
//! under the zone lock goes into the zone (`zone.vm_events`). A total is the
//! zone's count plus every CPU's ([`PgData::zone_vm_events`]).
//!
//! ## Linux source
//! `include/linux/vmstat.h`, `include/linux/vm_event_item.h`,
//! `mm/vmstat.c` (`zone_statistics`, `zoneinfo_show_print`,
//! `vmstat_show`, `pagetypeinfo_show`), `include/linux/mmzone.h`
//! (`NR_FREE_PAGES`, `NUMA_HIT`).
//!
//! ## What we simplified and why
//! * Linux folds each CPU's differential into the zone's atomic counter when
//!   it passes a threshold; we keep the per-CPU parts apart and add them up
//!   when asked (nothing here reads them often).
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
use crate::arch::current::irqflags::{local_irq_restore, local_irq_save};
use crate::arch::current::smp::smp_processor_id;
use crate::mm::layout::NR_CPUS;

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
        let flags = local_irq_save();
        self.zone_pcp(zone_type, smp_processor_id())
            .lock()
            .vm_stat_diff
            .add(item, delta);
        local_irq_restore(flags);
    }

    /// Account an allocation served by `zone_type` for a request whose
    /// zonelist starts at `_preferred_zone` (Linux `zone_statistics`, which
    /// compares the two zones' nodes). With one node they are always on the
    /// same node: a hit.
    pub fn zone_statistics(&self, _preferred_zone: ZoneType, zone_type: ZoneType) {
        self.count_zone_vm_events(zone_type, VmEventItem::NumaHit, 1);
    }

    /// The counters of `zone_type`: the zone's own plus every CPU's share.
    /// The zone lock and each pageset lock are taken one after the other,
    /// never nested (see the lock order in `percpu_pages.rs`).
    pub fn zone_vm_events(&self, zone_type: ZoneType) -> VmEvents {
        let mut total = self.zone(zone_type).lock().vm_events;
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
        for zone_type in ZoneType::ALL {
            let zone = {
                let zone = self.zone(zone_type).lock();
                if !zone.is_populated() {
                    continue;
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
            for cpu in 0..NR_CPUS {
                let (count, high, batch) = {
                    let flags = local_irq_save();
                    let pageset = self.zone_pcp(zone_type, cpu).lock();
                    let numbers = (
                        pageset.pcp().count(),
                        pageset.pcp().high(),
                        pageset.pcp().batch(),
                    );
                    local_irq_restore(flags);
                    numbers
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
}
