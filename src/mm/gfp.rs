//! # GFP flags and zonelists: *where* may an allocation come from?
//!
//! Every request to the page allocator carries a `gfp_mask` ("get free pages"
//! mask). Its low bits pick the highest zone the caller can use; the other bits
//! say how hard the allocator may try (may it sleep? start I/O? dip into the
//! emergency reserve?).
//!
//! The zone bits work as a ceiling, not as an exact choice. A caller that can
//! use high memory can also use low memory, so a `__GFP_HIGHMEM` request may
//! fall back to ZONE_NORMAL and then ZONE_DMA; an ordinary request may fall
//! back from ZONE_NORMAL to ZONE_DMA; a `__GFP_DMA` request (an ISA device that
//! can only reach the first 16 MiB) can use nothing but ZONE_DMA. The ordered
//! list of zones a request may try is a *zonelist*; Linux precomputes one per
//! zone class in `pgdat->node_zonelists` ([`build_zonelists`]).
//!
//! ## Linux source
//! `include/linux/gfp.h` (flag values, `gfp_zone`), `mm/page_alloc.c`
//! (`build_zonelists`, `build_zonelists_node`). *Understanding the Linux
//! Kernel*, 3rd ed., §8.1.5 "The Zoned Page Frame Allocator", Tables 8-5/8-6.
//!
//! The other bits, and who reads them:
//!
//! | flag | meaning | read by |
//! |------|---------|---------|
//! | `__GFP_MOVABLE`, `__GFP_RECLAIMABLE` | the page's mobility | `allocflags_to_migratetype` (`migratetype.rs`) |
//! | `__GFP_WAIT` | may sleep, so may reclaim | `__alloc_pages` (passes 5-8), `gfp_to_alloc_flags` |
//! | `__GFP_HIGH` | may dig half below `pages_min` | `gfp_to_alloc_flags` (`watermark.rs`) |
//! | `__GFP_IO`, `__GFP_FS` | reclaim may do I/O / call filesystems; `__GFP_FS` allows the OOM path | shrinkers, `__alloc_pages` |
//! | `__GFP_COLD` | take a cache-cold page | `buffered_rmqueue` (`percpu_pages.rs`) |
//! | `__GFP_NOWARN` | no "page allocation failure" warning | `__alloc_pages` |
//! | `__GFP_REPEAT`, `__GFP_NOFAIL`, `__GFP_NORETRY` | how hard to retry | `do_retry`, `__alloc_pages` |
//! | `__GFP_ZERO` | hand the frames out zero-filled | `prep_new_page` |
//!
//! ## What we simplified and why
//! * Bit values are those of Linux 2.6.24 (the first kernel with migrate
//!   types). No `__GFP_DMA32` (64-bit only), `__GFP_COMP` (no compound
//!   pages), `__GFP_NOMEMALLOC`, `__GFP_HARDWALL` (no cpusets) or
//!   `__GFP_THISNODE` (one node).
//! * The combinations use the values from the 2.6.11 era that ULK3 describes
//!   (`GFP_USER` without the later cpuset bit `__GFP_HARDWALL`).
//! * One node, so there is no cross-node fallback: a zonelist is just the
//!   populated zones of our node, from the requested class downwards.

use bitflags::bitflags;

use super::mmzone::{MAX_NR_ZONES, ZoneType};

bitflags! {
    /// An allocation's `gfp_mask` (Linux `gfp_t`). Bit values are Linux's.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct GfpFlags: u32 {
        /// The frames must be in ZONE_DMA (below 16 MiB), e.g. for ISA DMA.
        const __GFP_DMA = 0x01;
        /// The frames may come from ZONE_HIGHMEM: the caller will map them
        /// itself (`kmap`) or never needs a kernel address for them.
        const __GFP_HIGHMEM = 0x02;
        /// The allocator may block the caller to wait for memory to be freed.
        const __GFP_WAIT = 0x10;
        /// The caller may use the emergency reserve (used with the watermarks).
        const __GFP_HIGH = 0x20;
        /// The allocator may start disk I/O to free memory.
        const __GFP_IO = 0x40;
        /// The allocator may call into filesystem code to free memory.
        const __GFP_FS = 0x80;
        /// The caller wants a cache-cold page (it will not touch the
        /// contents soon, e.g. a DMA target).
        const __GFP_COLD = 0x100;
        /// No warning if the allocation fails: the caller has a fallback.
        const __GFP_NOWARN = 0x200;
        /// Try hard, retrying reclaim for big orders too, but may fail.
        const __GFP_REPEAT = 0x400;
        /// Retry for ever: the caller cannot handle failure.
        const __GFP_NOFAIL = 0x800;
        /// Reclaim once, never retry and never invoke the OOM path.
        const __GFP_NORETRY = 0x1000;
        /// Hand the frames out filled with zeroes.
        const __GFP_ZERO = 0x8000;
        /// The page belongs to a cache a shrinker can drop (migrate type
        /// reclaimable).
        const __GFP_RECLAIMABLE = 0x8_0000;
        /// The page's contents can be moved or dropped and read again: user
        /// memory, page cache (migrate type movable).
        const __GFP_MOVABLE = 0x10_0000;
    }
}

impl GfpFlags {
    /// Interrupt handlers and code holding spinlocks: must not sleep, may use
    /// the emergency reserve.
    pub const GFP_ATOMIC: GfpFlags = GfpFlags::__GFP_HIGH;
    /// Ordinary kernel allocations: may sleep, do I/O and call filesystems.
    pub const GFP_KERNEL: GfpFlags = GfpFlags::__GFP_WAIT
        .union(GfpFlags::__GFP_IO)
        .union(GfpFlags::__GFP_FS);
    /// Memory for user space that the kernel also touches directly.
    pub const GFP_USER: GfpFlags = GfpFlags::GFP_KERNEL;
    /// Memory for user space that the kernel never needs to address directly
    /// (process pages): may come from high memory.
    pub const GFP_HIGHUSER: GfpFlags = GfpFlags::GFP_USER.union(GfpFlags::__GFP_HIGHMEM);
    /// `GFP_HIGHUSER` for pages that can be migrated: user memory and the
    /// page cache.
    pub const GFP_HIGHUSER_MOVABLE: GfpFlags = GfpFlags::GFP_HIGHUSER.union(GfpFlags::__GFP_MOVABLE);
    /// May sleep and do I/O, but must not call into filesystems (code a
    /// filesystem itself runs): reclaim without the OOM path.
    pub const GFP_NOFS: GfpFlags = GfpFlags::__GFP_WAIT.union(GfpFlags::__GFP_IO);
    /// Short-lived kernel allocations that a shrinker-backed cache could
    /// give back (2.6.24's `GFP_TEMPORARY`): migrate type reclaimable.
    pub const GFP_TEMPORARY: GfpFlags = GfpFlags::GFP_KERNEL.union(GfpFlags::__GFP_RECLAIMABLE);
    /// Memory that an ISA device must be able to reach.
    pub const GFP_DMA: GfpFlags = GfpFlags::__GFP_DMA;
}

/// The highest zone a request with `flags` may use (Linux `gfp_zone`).
/// `__GFP_DMA` wins over `__GFP_HIGHMEM` if a caller sets both, because the
/// DMA restriction is the one that can't be relaxed.
pub const fn gfp_zone(flags: GfpFlags) -> ZoneType {
    if flags.contains(GfpFlags::__GFP_DMA) {
        ZoneType::Dma
    } else if flags.contains(GfpFlags::__GFP_HIGHMEM) {
        ZoneType::HighMem
    } else {
        ZoneType::Normal
    }
}

/// The zones one class of request tries, in order (Linux `struct zonelist`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Zonelist {
    zones: [ZoneType; MAX_NR_ZONES],
    nr_zones: usize,
}

impl Zonelist {
    /// The zones to try, preferred first.
    pub fn zones(&self) -> &[ZoneType] {
        &self.zones[..self.nr_zones]
    }
}

/// Build the zonelist of every zone class (Linux `build_zonelists`, with
/// `build_zonelists_node` for our only node).
///
/// The list for class `k` holds zone `k` and every zone below it, highest
/// first, skipping zones with no memory at all (`populated(zone)` false) just
/// as Linux skips unpopulated zones: walking them could never succeed.
/// Entry `k` of the result is indexed by `ZoneType as usize`, so the list for
/// a request is `lists[gfp_zone(gfp) as usize]`.
pub fn build_zonelists(populated: impl Fn(ZoneType) -> bool) -> [Zonelist; MAX_NR_ZONES] {
    ZoneType::ALL.map(|class| {
        let mut list = Zonelist {
            zones: [ZoneType::Dma; MAX_NR_ZONES],
            nr_zones: 0,
        };
        for zone in ZoneType::ALL
            .into_iter()
            .rev()
            .filter(|&zone| zone <= class)
        {
            if populated(zone) {
                list.zones[list.nr_zones] = zone;
                list.nr_zones += 1;
            }
        }
        list
    })
}

#[cfg(all(test, not(target_os = "none")))]
mod tests {
    use super::*;

    #[test]
    fn combinations_have_linux_values() {
        assert_eq!(GfpFlags::GFP_ATOMIC.bits(), 0x20);
        assert_eq!(GfpFlags::GFP_KERNEL.bits(), 0xd0);
        assert_eq!(GfpFlags::GFP_USER.bits(), 0xd0);
        assert_eq!(GfpFlags::GFP_HIGHUSER.bits(), 0xd2);
        assert_eq!(GfpFlags::GFP_DMA.bits(), 0x01);
        assert_eq!(GfpFlags::GFP_HIGHUSER_MOVABLE.bits(), 0x10_00d2);
        assert_eq!(GfpFlags::GFP_NOFS.bits(), 0x50);
        assert_eq!(GfpFlags::GFP_TEMPORARY.bits(), 0x8_00d0);
    }

    #[test]
    fn gfp_zone_picks_the_ceiling() {
        assert_eq!(gfp_zone(GfpFlags::GFP_KERNEL), ZoneType::Normal);
        assert_eq!(gfp_zone(GfpFlags::GFP_ATOMIC), ZoneType::Normal);
        assert_eq!(gfp_zone(GfpFlags::GFP_HIGHUSER), ZoneType::HighMem);
        assert_eq!(
            gfp_zone(GfpFlags::GFP_DMA | GfpFlags::GFP_KERNEL),
            ZoneType::Dma
        );
        assert_eq!(
            gfp_zone(GfpFlags::__GFP_DMA | GfpFlags::__GFP_HIGHMEM),
            ZoneType::Dma
        );
    }

    #[test]
    fn zonelists_fall_back_downwards_only() {
        let lists = build_zonelists(|_| true);
        assert_eq!(
            lists[ZoneType::HighMem as usize].zones(),
            [ZoneType::HighMem, ZoneType::Normal, ZoneType::Dma]
        );
        assert_eq!(
            lists[ZoneType::Normal as usize].zones(),
            [ZoneType::Normal, ZoneType::Dma]
        );
        assert_eq!(lists[ZoneType::Dma as usize].zones(), [ZoneType::Dma]);
    }

    #[test]
    fn zonelists_skip_unpopulated_zones() {
        // A 512 MiB machine: no high memory.
        let lists = build_zonelists(|zone| zone != ZoneType::HighMem);
        assert_eq!(
            lists[ZoneType::HighMem as usize].zones(),
            [ZoneType::Normal, ZoneType::Dma]
        );
        // A machine whose RAM starts above 16 MiB: DMA requests have nowhere to go.
        let lists = build_zonelists(|zone| zone != ZoneType::Dma);
        assert!(lists[ZoneType::Dma as usize].zones().is_empty());
        assert_eq!(lists[ZoneType::Normal as usize].zones(), [ZoneType::Normal]);
    }
}
