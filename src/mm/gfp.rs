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
//! ## What we simplified and why
//! * Only the flags this kernel defines a meaning for. `__GFP_WAIT`,
//!   `__GFP_HIGH`, `__GFP_IO` and `__GFP_FS` are accepted and carried along but
//!   nothing acts on them yet: the watermark and reclaim logic that reads them
//!   comes with a later issue. `__GFP_ZERO` is missing on purpose: zeroing
//!   needs the page's contents, which only the kernel proper can reach
//!   (`kmap`), so it belongs to that later code.
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
