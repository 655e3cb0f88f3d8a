//! The kernel's virtual address space: the 3G/1G split without PAE.
//!
//! A 32-bit CPU sees 4 GiB of virtual addresses.  Linux on i386 gives the
//! lower 3 GiB to user processes and keeps the top gigabyte,
//! `PAGE_OFFSET` (0xC0000000) and up, for the kernel — in every process's
//! page tables, so entering the kernel never switches address spaces.
//! Picture the kernel's gigabyte from bottom to top:
//!
//! ```text
//!  0xC0000000  PAGE_OFFSET  ┌──────────────────────────────┐
//!                           │ direct map ("lowmem"):       │  physical 0 .. max_low_pfn,
//!                           │ virtual = physical + 3 GiB   │  at most MAXMEM = 896 MiB
//!  high_memory              ├──────────────────────────────┤
//!                           │ 8 MiB gap (VMALLOC_OFFSET)   │  catches overruns off the direct map
//!  VMALLOC_START            ├──────────────────────────────┤
//!                           │ vmalloc area                 │  page-by-page mappings
//!  VMALLOC_END              ├──────────────────────────────┤
//!                           │ 2-page guard                 │
//!  PKMAP_BASE               ├──────────────────────────────┤
//!                           │ pkmap: LAST_PKMAP = 1024     │  kmap(): permanent mappings of
//!                           │ slots, one page table        │  high pages
//!                           ├──────────────────────────────┤
//!  FIXADDR_START            │ fixmap: compile-time slots,  │  kmap_atomic(): per-CPU windows
//!  FIXADDR_TOP (0xfffff000) └──────────────────────────────┘
//! ```
//!
//! Physical memory beyond what the direct map holds is **high memory**: it
//! has no permanent kernel address and is reached through the pkmap, the
//! fixmap or vmalloc.  Why 896 MiB?  The kernel's gigabyte minus the 128 MiB
//! (`__VMALLOC_RESERVE`) kept for the three areas above the direct map.
//!
//! The constants mirror `arch/x86/include/asm/page_32_types.h`,
//! `pgtable_32_types.h`, `highmem.h` and `fixmap.h`; the ones that depend on
//! the amount of RAM (`high_memory`, `VMALLOC_START`) are computed at boot
//! in `mm/init.rs`.  The compile-time assertions at the end are Linux's
//! `BUILD_BUG_ON` checks from `mem_init()`.

use super::{PAGE_SHIFT, PAGE_SIZE};

/// The end of the 32-bit virtual address space (4 GiB).  Computed in u64 so
/// the constants below are also right when the host runs the unit tests.
const ADDRESS_SPACE_END: u64 = 1 << 32;
/// Start of the kernel's part of every address space (the 3G/1G split).
pub const PAGE_OFFSET: usize = 0xC000_0000;
/// Address space kept above the direct map for vmalloc, pkmap and fixmap.
pub const VMALLOC_RESERVE: usize = 128 << 20;
/// The most physical memory the direct map can hold: 896 MiB.
pub const MAXMEM: usize = (ADDRESS_SPACE_END - PAGE_OFFSET as u64) as usize - VMALLOC_RESERVE;
/// Number of page frames in MAXMEM (max_low_pfn never exceeds it).
pub const MAXMEM_PFN: u64 = (MAXMEM >> PAGE_SHIFT) as u64;
/// Gap between the end of the direct map and the vmalloc area.
pub const VMALLOC_OFFSET: usize = 8 << 20;
/// Bytes mapped by one page-directory entry without PAE (4 MiB): Linux's
/// PMD_SIZE when the pmd level is folded into the pgd.
pub const PMD_SIZE: usize = 4 << 20;
/// Mask that rounds an address down to its page-directory entry.
pub const PMD_MASK: usize = !(PMD_SIZE - 1);

/// Maximum number of CPUs the per-CPU structures are sized for.
pub const NR_CPUS: usize = 4;
/// Number of `kmap_atomic` windows per CPU (`enum km_type` of Linux 2.6).
pub const KM_TYPE_NR: usize = 13;

/// Compile-time slots of the fixmap (Linux `enum fixed_addresses`); slot
/// `idx` lives at `__fix_to_virt(idx)`, growing *down* from FIXADDR_TOP.
pub mod fixed_addresses {
    use super::{KM_TYPE_NR, NR_CPUS};
    /// Slot 0 is left unmapped, as in Linux.
    pub const FIX_HOLE: usize = 0;
    /// The local APIC's registers (physical 0xfee00000), uncached: every
    /// CPU sees its own APIC at the same physical address, so one slot
    /// serves all of them (Linux `FIX_APIC_BASE`).
    pub const FIX_APIC_BASE: usize = 1;
    /// First `kmap_atomic` window (CPU 0, km_type 0).
    pub const FIX_KMAP_BEGIN: usize = 2;
    /// Last `kmap_atomic` window.
    pub const FIX_KMAP_END: usize = FIX_KMAP_BEGIN + KM_TYPE_NR * NR_CPUS - 1;
    /// Pages of the window through which boot code reads ACPI tables that
    /// lie outside the direct map (Linux `FIX_ACPI_PAGES`).
    pub const FIX_ACPI_PAGES: usize = 4;
    /// First ACPI window page (Linux `FIX_ACPI_BEGIN`, after the kmap
    /// windows as in 2.6.11's `enum fixed_addresses`).
    pub const FIX_ACPI_BEGIN: usize = FIX_KMAP_END + 1;
    /// Last ACPI window page.
    pub const FIX_ACPI_END: usize = FIX_ACPI_BEGIN + FIX_ACPI_PAGES - 1;
    /// Number of fixmap slots.
    pub const __END_OF_FIXED_ADDRESSES: usize = FIX_ACPI_END + 1;
}

/// One page below the top of the address space: the last page is never
/// mapped, so an "address" of -1 .. -4096 (an error code) faults.
pub const FIXADDR_TOP: usize = (ADDRESS_SPACE_END - PAGE_SIZE as u64) as usize;
/// Bytes covered by the fixmap.
pub const FIXADDR_SIZE: usize = fixed_addresses::__END_OF_FIXED_ADDRESSES << PAGE_SHIFT;
/// Lowest fixmap address.
pub const FIXADDR_START: usize = FIXADDR_TOP - FIXADDR_SIZE;

/// Virtual address of fixmap slot `idx` (Linux `__fix_to_virt`).
pub const fn __fix_to_virt(idx: usize) -> usize {
    FIXADDR_TOP - (idx << PAGE_SHIFT)
}

/// Fixmap slot of a fixmap address (Linux `__virt_to_fix`).
pub const fn __virt_to_fix(vaddr: usize) -> usize {
    (FIXADDR_TOP - (vaddr & !(PAGE_SIZE - 1))) >> PAGE_SHIFT
}

/// Number of permanent kmap slots: one page table's worth.
pub const LAST_PKMAP: usize = 1024;
/// Start of the pkmap window, 4 MiB-aligned so a single page table covers it.
pub const PKMAP_BASE: usize = (FIXADDR_START - PAGE_SIZE * (LAST_PKMAP + 1)) & PMD_MASK;
/// End of the vmalloc area: two guard pages below the pkmap window.
pub const VMALLOC_END: usize = PKMAP_BASE - 2 * PAGE_SIZE;

/// Slot number of a pkmap address (Linux `PKMAP_NR`).
pub const fn pkmap_nr(vaddr: usize) -> usize {
    (vaddr - PKMAP_BASE) >> PAGE_SHIFT
}

/// Address of pkmap slot `nr` (Linux `PKMAP_ADDR`).
pub const fn pkmap_addr(nr: usize) -> usize {
    PKMAP_BASE + (nr << PAGE_SHIFT)
}

/// Start of the vmalloc area for a given end of the direct map (Linux 2.6
/// i386 `VMALLOC_START`, `include/asm-i386/pgtable.h`): `high_memory` plus
/// *two* `VMALLOC_OFFSET`s minus one, rounded down to a multiple of 8 MiB.
/// The result is the first 8 MiB boundary that leaves a gap of at least
/// 8 MiB after the direct map: with 128 MiB of RAM `high_memory` is
/// 0xc7fe0000 and the area starts at 0xc8800000 (a gap of 8 MiB + 128 KiB),
/// with exactly 896 MiB of direct map at 0xf8800000 (a gap of 8 MiB). The
/// gap is a no-man's-land: a pointer run off the end of the direct map
/// faults instead of landing in someone's vmalloc area. (2.6.11 also adds
/// `vmalloc_earlyreserve`, which only NUMA machines set; it is 0 here.)
pub const fn vmalloc_start(high_memory: usize) -> usize {
    (high_memory + 2 * VMALLOC_OFFSET - 1) & !(VMALLOC_OFFSET - 1)
}

/// Kernel virtual address of a low-memory physical address (Linux `__va`).
/// Only meaningful below `max_low_pfn`; callers check that.
#[allow(non_snake_case)]
pub const fn __va(paddr: u64) -> usize {
    paddr as usize + PAGE_OFFSET
}

/// Physical address of a direct-map virtual address (Linux `__pa`).
#[allow(non_snake_case)]
pub const fn __pa(vaddr: usize) -> u64 {
    (vaddr - PAGE_OFFSET) as u64
}

// Linux's BUILD_BUG_ON checks in mem_init(), for the constant parts.
const _: () = assert!(PKMAP_BASE + LAST_PKMAP * PAGE_SIZE <= FIXADDR_START);
const _: () = assert!(VMALLOC_END <= PKMAP_BASE);
// Even with the largest direct map (high_memory = PAGE_OFFSET + MAXMEM) the
// vmalloc area is not empty.
const _: () = assert!(vmalloc_start(PAGE_OFFSET + MAXMEM) < VMALLOC_END);
const _: () = assert!(MAXMEM == 896 << 20);
const _: () = assert!(PKMAP_BASE % PMD_SIZE == 0);

#[cfg(all(test, not(target_os = "none")))]
mod tests {
    use super::*;

    #[test]
    fn linux_i386_values() {
        assert_eq!(MAXMEM, 0x3800_0000);
        assert_eq!(FIXADDR_TOP, 0xffff_f000);
        // The hole, FIX_APIC_BASE, 13 kmap windows for each of 4 CPUs, 4 ACPI pages.
        assert_eq!(FIXADDR_START, 0xffff_f000 - (1 + 1 + 13 * 4 + 4) * 4096);
        assert_eq!(PKMAP_BASE, 0xff80_0000);
        assert_eq!(VMALLOC_END, 0xff7f_e000);
        assert_eq!(vmalloc_start(PAGE_OFFSET + MAXMEM), 0xf880_0000);
    }

    #[test]
    fn vmalloc_start_leaves_at_least_vmalloc_offset_after_the_direct_map() {
        // 128 MiB of RAM: high_memory is not 8 MiB aligned (QEMU keeps the
        // top 128 KiB for its firmware tables).
        assert_eq!(vmalloc_start(0xc7fe_0000), 0xc880_0000);
        // Aligned ends get exactly the 8 MiB gap.
        assert_eq!(vmalloc_start(0xc800_0000), 0xc880_0000);
        assert_eq!(vmalloc_start(0xc800_1000), 0xc900_0000);
        // 32 MiB of RAM.
        assert_eq!(vmalloc_start(0xc1fe_0000), 0xc280_0000);
        for high_memory in (PAGE_OFFSET..=PAGE_OFFSET + MAXMEM).step_by(0x1_f000) {
            let start = vmalloc_start(high_memory);
            assert!(start - high_memory >= VMALLOC_OFFSET, "{high_memory:#x}: gap of at least 8 MiB");
            assert!(start - high_memory < 2 * VMALLOC_OFFSET, "{high_memory:#x}: the first boundary that does");
            assert_eq!(start % VMALLOC_OFFSET, 0);
        }
    }

    #[test]
    fn fixmap_round_trip() {
        for idx in 0..fixed_addresses::__END_OF_FIXED_ADDRESSES {
            assert_eq!(__virt_to_fix(__fix_to_virt(idx) + 123), idx);
        }
        assert!(__fix_to_virt(fixed_addresses::FIX_KMAP_END) >= FIXADDR_START);
    }

    #[test]
    fn pkmap_round_trip() {
        assert_eq!(pkmap_nr(pkmap_addr(LAST_PKMAP - 1)), LAST_PKMAP - 1);
        assert_eq!(pkmap_addr(0), PKMAP_BASE);
    }

    #[test]
    fn direct_map_translation() {
        assert_eq!(__va(0x1234), 0xc000_1234);
        assert_eq!(__pa(0xc000_1234), 0x1234);
    }
}
