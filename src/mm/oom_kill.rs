//! # Out of memory: `out_of_memory`, `show_free_areas`, OOM notifiers
//!
//! When an allocation that may sleep and call filesystems has run every pass
//! of `__alloc_pages`, reclaim found nothing to free, and even a last look at
//! a high watermark failed, the machine is out of memory. Linux then prints
//! the state of memory (`show_free_areas`), asks the OOM notifier chain
//! whether some subsystem can give memory back (balloon drivers do), and if
//! not, kills the process whose death frees the most memory; the allocation
//! then starts over.
//!
//! Here [`PgData::out_of_memory`] reports (`<comm> invoked oom-killer:` and
//! the `show_free_areas` dump, [`PgData::show_free_areas`]), counts the
//! event (`oom_invoked`) and calls the registered [`OomNotifier`]s. It
//! returns the pages they freed: `__alloc_pages` starts over only if that is
//! more than zero (or the request is `__GFP_NOFAIL`), and fails otherwise.
//!
//! ## Where it sits in boot
//! Nothing registers a notifier at boot; tests do.
//!
//! ## Linux source
//! `mm/oom_kill.c` (`out_of_memory`, `register_oom_notifier`,
//! `oom_notify_list`), `mm/page_alloc.c` (`show_free_areas`).
//! *Understanding the Linux Kernel*, 3rd ed., §17.4.2 "The Out of Memory
//! Killer".
//!
//! ## What we simplified and why
//! * There are no processes, so there is nothing to kill: when no notifier
//!   frees memory, the allocation fails instead of waiting for a victim to
//!   exit. (Linux's `goto restart` after the kill relies on the victim's
//!   memory coming back; without a victim it would loop for ever.)
//! * The notifier list is a fixed array (no heap): 8 notifiers. It lives in
//!   the node so that host tests can build independent machines.
//! * `show_free_areas` prints the fields we have: no active/inactive lists,
//!   no slab, no swap.

use super::MAX_ORDER;
use super::PAGE_SIZE;
use super::gfp::{GfpFlags, Zonelist};
use super::mmzone::{PgData, ZoneType};
use super::registry::{RegisterError, Registry};
use super::vmstat::VmEventItem;
use crate::mm::layout::NR_CPUS;

/// How many OOM notifiers can be registered at once.
pub const MAX_OOM_NOTIFIERS: usize = 8;

/// Something that can give memory back when the machine is out of memory
/// (a callback on Linux's `oom_notify_list`).
pub trait OomNotifier: Sync {
    /// A name for reports.
    fn name(&self) -> &'static str;
    /// Free what can be freed into `pgdat`; return the pages freed.
    fn oom_notify(&self, pgdat: &PgData) -> usize;
}

/// The registered notifiers (Linux `oom_notify_list`).
pub type OomNotifierList = Registry<dyn OomNotifier, MAX_OOM_NOTIFIERS>;

impl PgData {
    /// Add `notifier` to the OOM notifier list (Linux
    /// `register_oom_notifier`).
    pub fn register_oom_notifier(
        &self,
        notifier: &'static dyn OomNotifier,
    ) -> Result<(), RegisterError> {
        self.oom_notifiers.lock().register(notifier)
    }

    /// Remove `notifier` (Linux `unregister_oom_notifier`); returns whether
    /// it was registered.
    pub fn unregister_oom_notifier(&self, notifier: &'static dyn OomNotifier) -> bool {
        self.oom_notifiers.lock().unregister(notifier)
    }

    /// The machine is out of memory for an order-`order` `gfp_mask` request
    /// on `zonelist` (Linux `out_of_memory`): report it, count it on the
    /// preferred zone, and ask every OOM notifier to free memory. Returns
    /// the pages freed (see the module doc for what the caller does with
    /// it).
    pub fn out_of_memory(&self, zonelist: &Zonelist, gfp_mask: GfpFlags, order: usize) -> usize {
        log::warn!(
            "kernel invoked oom-killer: gfp_mask={:#x}, order={}",
            gfp_mask.bits(),
            order
        );
        if let Some(&preferred) = zonelist.zones().first() {
            self.count_zone_vm_events(preferred, VmEventItem::OomInvoked, 1);
        }
        self.show_free_areas();
        let notifiers = self.oom_notifiers.lock().snapshot();
        let freed: usize = notifiers
            .iter()
            .flatten()
            .map(|notifier| notifier.oom_notify(self))
            .sum();
        if freed == 0 {
            log::error!(
                "Out of memory: no OOM notifier freed memory, and there is no process to kill"
            );
        } else {
            log::warn!("Out of memory: OOM notifiers freed {freed} pages");
        }
        freed
    }

    /// Print the state of memory as Linux's OOM report does (Linux
    /// `show_free_areas`): each zone's per-CPU lists, its free memory,
    /// watermarks and reserves in kB, then its free blocks by order.
    pub fn show_free_areas(&self) {
        let kb = |pages: usize| pages * (PAGE_SIZE >> 10);
        log::info!("Mem-Info:");
        for zone_type in ZoneType::ALL {
            if !self.zone(zone_type).lock().is_populated() {
                continue;
            }
            log::info!("{} per-cpu:", zone_type.name());
            for cpu in 0..NR_CPUS {
                let pageset = self.zone_pcp(zone_type, cpu).lock();
                let pcp = pageset.pcp();
                log::info!(
                    "CPU {:4}: hi: {:5}, btch: {:4} usd: {:4}",
                    cpu,
                    pcp.high(),
                    pcp.batch(),
                    pcp.count()
                );
            }
        }
        let free: usize = ZoneType::ALL
            .iter()
            .map(|&z| self.zone(z).lock().free_pages())
            .sum();
        log::info!("free:{free}");
        for zone_type in ZoneType::ALL {
            let (line, reserve, areas) = {
                let zone = self.zone(zone_type).lock();
                if !zone.is_populated() {
                    continue;
                }
                (
                    [
                        zone.free_pages(),
                        zone.pages_min(),
                        zone.pages_low(),
                        zone.pages_high(),
                        zone.present_pages(),
                    ]
                    .map(kb),
                    ZoneType::ALL.map(|classzone| zone.lowmem_reserve(classzone)),
                    zone.buddyinfo(),
                )
            };
            let [free, min, low, high, present] = line;
            log::info!(
                "{} free:{free}kB min:{min}kB low:{low}kB high:{high}kB present:{present}kB",
                zone_type.name()
            );
            let [dma, normal, highmem] = reserve;
            log::info!("lowmem_reserve[]: {dma} {normal} {highmem}");
            log::info!("{}: {}", zone_type.name(), FreeAreaSummary(areas));
        }
    }
}

/// `2*4kB 1*8kB ... = 16kB`: a zone's free blocks by order, as
/// `show_free_areas` prints them.
struct FreeAreaSummary([usize; MAX_ORDER]);

impl core::fmt::Display for FreeAreaSummary {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let block_kb = |order: usize| (PAGE_SIZE >> 10) << order;
        for (order, nr_free) in self.0.iter().enumerate() {
            write!(f, "{}*{}kB ", nr_free, block_kb(order))?;
        }
        let total: usize = self
            .0
            .iter()
            .enumerate()
            .map(|(order, &n)| n * block_kb(order))
            .sum();
        write!(f, "= {total}kB")
    }
}

#[cfg(all(test, not(target_os = "none")))]
mod tests {
    use super::*;

    #[test]
    fn free_area_summary_prints_like_show_free_areas() {
        let mut areas = [0; MAX_ORDER];
        areas[0] = 2;
        areas[1] = 1;
        areas[10] = 1;
        assert_eq!(
            FreeAreaSummary(areas).to_string(),
            "2*4kB 1*8kB 0*16kB 0*32kB 0*64kB 0*128kB 0*256kB 0*512kB 0*1024kB 0*2048kB 1*4096kB = 4112kB"
        );
    }
}

#[cfg(all(test, target_os = "none"))]
mod kernel_tests {
    use core::sync::atomic::{AtomicUsize, Ordering};

    use spin::Mutex;

    use super::*;
    use crate::mm::init::node;
    use crate::mm::kernel_test_support::{Held, only, quiesced_snapshot};
    use crate::mm::page_cache::PAGE_CACHE;

    /// A "balloon driver": holds pages and gives them all back on OOM.
    struct Balloon {
        held: Mutex<Held>,
        calls: AtomicUsize,
    }

    impl OomNotifier for Balloon {
        fn name(&self) -> &'static str {
            "test balloon"
        }
        fn oom_notify(&self, _pgdat: &PgData) -> usize {
            self.calls.fetch_add(1, Ordering::Relaxed);
            let mut held = self.held.lock();
            let pages = held.pages();
            held.free_all();
            pages
        }
    }

    static BALLOON: Balloon = Balloon {
        held: Mutex::new(Held::new()),
        calls: AtomicUsize::new(0),
    };

    #[test_case]
    fn the_oom_path_is_reported_and_notifiers_free_memory() {
        let node = node();
        let before = quiesced_snapshot(node);
        assert_eq!(PAGE_CACHE.nr_pages(), 0, "nothing to reclaim");
        node.setup_pagelist_highmark(ZoneType::Normal, 0);
        let zonelist = only(ZoneType::Normal);
        let min = node.zone(ZoneType::Normal).lock().pages_min();
        for _ in 0..min + 64 {
            BALLOON
                .held
                .lock()
                .alloc(GfpFlags::GFP_KERNEL, 0, &zonelist)
                .unwrap();
        }
        node.register_oom_notifier(&BALLOON).unwrap();
        let mut held = Held::new();
        held.exhaust(ZoneType::Normal);
        let ooms = || {
            node.zone_vm_events(ZoneType::Normal)
                .get(VmEventItem::OomInvoked)
        };
        let ooms_before = ooms();
        // Reclaim finds nothing, the OOM path runs, the balloon deflates,
        // and the allocation starts over and succeeds.
        let page = node
            .__alloc_pages(GfpFlags::GFP_KERNEL, 0, &zonelist)
            .expect("the notifier freed memory");
        assert_eq!(
            (ooms() - ooms_before, BALLOON.calls.load(Ordering::Relaxed)),
            (1, 1)
        );
        assert_eq!(node.zone(ZoneType::Normal).lock().free_pages(), min + 63);
        // Nothing left anywhere: the OOM path runs again and the request fails.
        held.exhaust(ZoneType::Normal);
        assert!(
            node.__alloc_pages(GfpFlags::GFP_KERNEL | GfpFlags::__GFP_NOWARN, 0, &zonelist)
                .is_none()
        );
        assert_eq!(
            (ooms() - ooms_before, BALLOON.calls.load(Ordering::Relaxed)),
            (2, 2)
        );
        assert!(node.unregister_oom_notifier(&BALLOON));
        node.__free_page(page);
        held.free_all();
        node.setup_per_cpu_pageset();
        assert_eq!(quiesced_snapshot(node), before);
    }
}
