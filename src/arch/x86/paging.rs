//! Two-level i386 page tables and `paging_init` (Linux:
//! `arch/x86/mm/init_32.c`, `arch/x86/include/asm/pgtable*.h`).
//!
//! Without PAE a virtual address splits 10 + 10 + 12: the top 10 bits index
//! the page directory (1024 PDEs, each covering 4 MiB), the next 10 a page
//! table (1024 PTEs, 4 KiB each), the low 12 the byte in the page.  A PDE
//! may instead map a whole 4 MiB page directly (`_PAGE_PSE`) if CR4.PSE is
//! on.  Linux's generic code talks about four levels (pgd, pud, pmd, pte);
//! on this configuration the pud and pmd are "folded" into the pgd, so a
//! PDE is all three at once.  We name the two levels that exist.
//!
//! `paging_init()` replaces the boot page tables (`_start` mapped 16 MiB)
//! with the kernel's real page directory `swapper_pg_dir`:
//!
//! 1. `kernel_physical_mapping_init`: the direct map of all low memory,
//!    physical [0, max_low_pfn) at PAGE_OFFSET — with 4 MiB pages where the
//!    CPU has PSE (fewer TLB entries, no page tables) unless `nopse` was
//!    given, with 4 KiB pages through page tables otherwise and for the tail
//!    that does not fill a whole 4 MiB;
//! 2. `permanent_kmaps_init`: one page table under PKMAP_BASE, kept in
//!    `pkmap_page_table` for kmap();
//! 3. `fixrange_init`: page tables under the fixmap, kept in `kmap_pte`
//!    for kmap_atomic();
//! 4. `load_cr3(swapper_pg_dir)` and a full TLB flush.
//!
//! Page tables made during boot come from memblock (`alloc_low_page`);
//! they must lie in memory the *boot* tables already map, so the caller
//! keeps memblock's allocation limit at 16 MiB until this returns.
//!
//! Simplifications: no global pages (PGE), no NX (needs PAE), kernel text
//! is writable (no `mark_rodata_ro`).

use crate::arch::x86::{cpu, gdt};
use crate::mm::layout::{self, __pa, __va, FIXADDR_START, FIXADDR_TOP, PAGE_OFFSET, PKMAP_BASE, PMD_SIZE};
use crate::mm::{PAGE_SHIFT, PAGE_SIZE};
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Entries per page directory or page table.
pub const PTRS_PER_PGD: usize = 1024;
/// Entries per page table.
pub const PTRS_PER_PTE: usize = 1024;
/// log2 of the bytes one PDE covers.
pub const PGDIR_SHIFT: u32 = 22;

bitflags::bitflags! {
    /// Bits of a PDE or PTE (Linux `_PAGE_*` in `pgtable_types.h`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct PageFlags: u32 {
        /// The entry is valid.
        const _PAGE_PRESENT = 1 << 0;
        /// Writable.
        const _PAGE_RW = 1 << 1;
        /// Accessible from user mode (never set: no user space here).
        const _PAGE_USER = 1 << 2;
        /// Write-through caching.
        const _PAGE_PWT = 1 << 3;
        /// Caching disabled.
        const _PAGE_PCD = 1 << 4;
        /// Set by the CPU on access.
        const _PAGE_ACCESSED = 1 << 5;
        /// Set by the CPU on write (PTEs and 4 MiB PDEs).
        const _PAGE_DIRTY = 1 << 6;
        /// In a PDE: maps a 4 MiB page instead of pointing to a page table.
        const _PAGE_PSE = 1 << 7;
        /// Not flushed on CR3 reload (needs CR4.PGE).
        const _PAGE_GLOBAL = 1 << 8;
    }
}

/// Protection of kernel data pages (Linux `PAGE_KERNEL`).
pub const PAGE_KERNEL: PageFlags = PageFlags::_PAGE_PRESENT
    .union(PageFlags::_PAGE_RW)
    .union(PageFlags::_PAGE_ACCESSED)
    .union(PageFlags::_PAGE_DIRTY);
/// What a PDE pointing to a kernel page table carries (Linux `_KERNPG_TABLE`).
pub const _KERNPG_TABLE: PageFlags = PAGE_KERNEL;
/// Kernel data, caching disabled: device registers such as the local
/// APIC's (Linux `PAGE_KERNEL_NOCACHE`).
pub const PAGE_KERNEL_NOCACHE: PageFlags = PAGE_KERNEL.union(PageFlags::_PAGE_PCD).union(PageFlags::_PAGE_PWT);
/// A 4 MiB kernel page (Linux `PAGE_KERNEL_LARGE`).
pub const PAGE_KERNEL_LARGE: PageFlags = PAGE_KERNEL.union(PageFlags::_PAGE_PSE);

/// A page-directory or page-table entry: a 4 KiB-aligned physical address
/// (4 MiB-aligned for a PSE page) plus [`PageFlags`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry(pub u32);

impl Entry {
    /// The empty entry.
    pub const NONE: Entry = Entry(0);

    /// Builds an entry for physical address `paddr` (Linux `pfn_pte`,
    /// `__pmd`; `mk_pte(page, prot)` is this with the page's address).
    #[doc(alias = "mk_pte")]
    pub const fn new(paddr: u64, flags: PageFlags) -> Entry {
        Entry(paddr as u32 | flags.bits())
    }
    /// Flag bits of the entry.
    pub fn flags(self) -> PageFlags {
        PageFlags::from_bits_truncate(self.0)
    }
    /// Whether the entry is empty: no frame, no flags (Linux `pte_none`).
    #[doc(alias = "pte_none")]
    pub fn is_none(self) -> bool {
        self == Entry::NONE
    }
    /// Whether the entry maps something (Linux `pte_present`).
    pub fn is_present(self) -> bool {
        self.flags().contains(PageFlags::_PAGE_PRESENT)
    }
    /// Whether this PDE maps a 4 MiB page (Linux `pmd_large`).
    pub fn is_large(self) -> bool {
        self.flags().contains(PageFlags::_PAGE_PSE)
    }
    /// Physical address the entry points to (frame or page table).
    pub fn paddr(self) -> u64 {
        let mask = if self.is_large() { !(PMD_SIZE as u32 - 1) } else { !(PAGE_SIZE as u32 - 1) };
        (self.0 & mask) as u64
    }
}

/// Page-directory index of a virtual address (Linux `pgd_index`).
pub const fn pgd_index(vaddr: usize) -> usize {
    (vaddr >> PGDIR_SHIFT) & (PTRS_PER_PGD - 1)
}

/// Page-table index of a virtual address (Linux `pte_index`).
pub const fn pte_index(vaddr: usize) -> usize {
    (vaddr >> PAGE_SHIFT) & (PTRS_PER_PTE - 1)
}

/// A page-aligned page of entries.
#[repr(C, align(4096))]
pub struct PageTablePage(UnsafeCell<[u32; 1024]>);

// SAFETY: the kernel page directory is written only by the paging code in
// this file (boot CPU, during boot, or under the caller's serialisation for
// later `set_pte_vaddr` calls); the MMU reads it.
unsafe impl Sync for PageTablePage {}

/// The kernel's page directory (Linux `swapper_pg_dir`).
#[unsafe(no_mangle)]
#[unsafe(link_section = ".bss.page_aligned")]
pub static swapper_pg_dir: PageTablePage = PageTablePage(UnsafeCell::new([0; 1024]));

/// Virtual address of the pkmap page table (Linux `pkmap_page_table`), 0
/// until `paging_init` made it.
static PKMAP_PAGE_TABLE: AtomicUsize = AtomicUsize::new(0);
/// Virtual address of the PTE of fixmap slot FIX_KMAP_BEGIN (Linux `kmap_pte`).
static KMAP_PTE: AtomicUsize = AtomicUsize::new(0);
/// Whether `paging_init` used 4 MiB pages for the direct map.
static DIRECT_MAP_USES_PSE: AtomicBool = AtomicBool::new(false);

/// Reads entry `index` of the table at virtual address `table`.
fn read_entry(table: usize, index: usize) -> Entry {
    debug_assert!(index < 1024 && table % PAGE_SIZE == 0 && table >= PAGE_OFFSET);
    // SAFETY: `table` is the direct-map address of a page directory or page
    // table (callers derive it from CR3, swapper_pg_dir or a present PDE),
    // so all 1024 u32 entries are mapped and readable.
    Entry(unsafe { (table as *const u32).add(index).read_volatile() })
}

/// Writes entry `index` of the table at virtual address `table` (Linux
/// `set_pte`, which takes a pointer to the entry instead).
#[doc(alias = "set_pte")]
fn write_entry(table: usize, index: usize, entry: Entry) {
    debug_assert!(index < 1024 && table % PAGE_SIZE == 0 && table >= PAGE_OFFSET);
    // SAFETY: as in `read_entry`; the tables belong to the kernel and only
    // this file writes them.  A stale TLB entry is the caller's to flush.
    unsafe { (table as *mut u32).add(index).write_volatile(entry.0) }
}

/// Virtual address of the kernel page directory.
pub fn swapper_pg_dir_vaddr() -> usize {
    swapper_pg_dir.0.get() as usize
}

/// The entry of `swapper_pg_dir` that covers `vaddr` (Linux
/// `*pgd_offset_k(vaddr)`; without PAE the pmd level is folded into it).
#[doc(alias = "pgd_offset_k")]
pub fn kernel_pde(vaddr: usize) -> Entry {
    read_entry(swapper_pg_dir_vaddr(), pgd_index(vaddr))
}

/// Source of zeroed, direct-mapped pages for page tables: memblock during
/// boot, the page allocator afterwards.  Returns a physical address.
pub type PageTableAlloc<'a> = &'a mut dyn FnMut() -> Option<u64>;

/// Zero-fills the page at kernel virtual address `vaddr` (Linux
/// `clear_page`).
///
/// # Safety
/// `vaddr` must be the page-aligned, mapped address of a page the caller
/// owns: nothing else may be reading or writing it.
pub unsafe fn clear_page(vaddr: usize) {
    debug_assert!(vaddr % PAGE_SIZE == 0);
    // SAFETY: the caller owns the mapped page; u32 stores stay inside it.
    unsafe { core::ptr::write_bytes(vaddr as *mut u8, 0, PAGE_SIZE) };
}

/// Returns the page table behind PDE `pgd_idx` of `pgd`, allocating and
/// installing an empty one if there is none (Linux `one_page_table_init`).
fn one_page_table_init(pgd: usize, pgd_idx: usize, alloc: PageTableAlloc) -> usize {
    let pde = read_entry(pgd, pgd_idx);
    if pde.is_present() {
        assert!(!pde.is_large(), "PDE {pgd_idx} maps a 4 MiB page, not a page table");
        return __va(pde.paddr());
    }
    let paddr = alloc().expect("out of memory for a kernel page table");
    // SAFETY: the allocator just handed this low-memory page to us.
    unsafe { clear_page(__va(paddr)) };
    write_entry(pgd, pgd_idx, Entry::new(paddr, _KERNPG_TABLE));
    __va(paddr)
}

/// Maps physical [0, `max_low_pfn`) at PAGE_OFFSET (Linux
/// `kernel_physical_mapping_init`).  Whole 4 MiB stretches get one PSE PDE
/// each when `use_pse`; the rest gets 4 KiB PTEs, so nothing beyond
/// `max_low_pfn` is mapped.
fn kernel_physical_mapping_init(pgd: usize, max_low_pfn: u64, use_pse: bool, alloc: PageTableAlloc) {
    let end = max_low_pfn << PAGE_SHIFT;
    let mut paddr = 0u64;
    while paddr < end {
        let vaddr = __va(paddr);
        let pgd_idx = pgd_index(vaddr);
        if use_pse && paddr + PMD_SIZE as u64 <= end {
            write_entry(pgd, pgd_idx, Entry::new(paddr, PAGE_KERNEL_LARGE));
            paddr += PMD_SIZE as u64;
            continue;
        }
        let table = one_page_table_init(pgd, pgd_idx, alloc);
        for pte_idx in 0..PTRS_PER_PTE {
            if paddr >= end {
                break;
            }
            write_entry(table, pte_idx, Entry::new(paddr, PAGE_KERNEL));
            paddr += PAGE_SIZE as u64;
        }
    }
}

/// Makes sure page tables exist for every PDE in [start, end) without
/// mapping anything (Linux `page_table_range_init`/`fixrange_init`).
fn page_table_range_init(pgd: usize, start: usize, end: usize, alloc: PageTableAlloc) {
    let mut vaddr = start & layout::PMD_MASK;
    while vaddr < end {
        one_page_table_init(pgd, pgd_index(vaddr), alloc);
        match vaddr.checked_add(PMD_SIZE) {
            Some(next) => vaddr = next,
            None => break,
        }
    }
}

/// Builds `swapper_pg_dir` and switches to it (see the module doc).
/// `use_pse` is "the CPU has PSE and `nopse` was not given".
pub fn paging_init(max_low_pfn: u64, use_pse: bool, alloc: PageTableAlloc) {
    let pgd = swapper_pg_dir_vaddr();
    if use_pse {
        // SAFETY: enabling 4 MiB pages changes nothing until a PDE uses
        // _PAGE_PSE; the CPU supports it (the caller checked CPUID).
        unsafe { x86::controlregs::cr4_write(cpu::read_cr4() | x86::controlregs::Cr4::CR4_ENABLE_PSE) };
    }
    DIRECT_MAP_USES_PSE.store(use_pse, Ordering::Relaxed);
    kernel_physical_mapping_init(pgd, max_low_pfn, use_pse, alloc);

    // permanent_kmaps_init: the one page table that holds the pkmap slots.
    page_table_range_init(pgd, PKMAP_BASE, PKMAP_BASE + layout::LAST_PKMAP * PAGE_SIZE, alloc);
    PKMAP_PAGE_TABLE.store(__va(read_entry(pgd, pgd_index(PKMAP_BASE)).paddr()), Ordering::Relaxed);

    // fixrange_init for the fixmap; kmap_pte points at FIX_KMAP_BEGIN's PTE.
    page_table_range_init(pgd, FIXADDR_START, FIXADDR_TOP, alloc);
    let kmap_vaddr = layout::__fix_to_virt(layout::fixed_addresses::FIX_KMAP_BEGIN);
    let kmap_table = __va(read_entry(pgd, pgd_index(kmap_vaddr)).paddr());
    KMAP_PTE.store(kmap_table + pte_index(kmap_vaddr) * 4, Ordering::Relaxed);

    load_cr3(__pa(pgd));
    log::info!(
        "paging_init: swapper_pg_dir at {:#010x}, direct map of {} MiB with {} pages",
        pgd,
        (max_low_pfn << PAGE_SHIFT) >> 20,
        if use_pse { "4 MiB (PSE)" } else { "4 KiB" }
    );
}

/// Fills the page directory at `dst` (a zeroed page's direct-map address)
/// for the SMP trampoline: the kernel's PDEs of `swapper_pg_dir`, plus its
/// first direct-map PDE again at index 0, so physical 0-4 MiB is also
/// mapped at virtual 0-4 MiB (Linux 2.6.3x `trampoline_pg_dir`, built with
/// `clone_pgd_range`). Paging can then be turned on while running at a
/// physical address.
pub fn clone_pgd_for_trampoline(dst: usize) {
    let src = swapper_pg_dir_vaddr();
    // The user half maps nothing (the page came from the allocator unzeroed).
    for index in 1..pgd_index(PAGE_OFFSET) {
        write_entry(dst, index, Entry::NONE);
    }
    for index in pgd_index(PAGE_OFFSET)..PTRS_PER_PGD {
        write_entry(dst, index, read_entry(src, index));
    }
    write_entry(dst, 0, read_entry(src, pgd_index(PAGE_OFFSET)));
}

/// Loads `swapper_pg_dir` into CR3 (an AP leaving the trampoline's page
/// directory).
pub fn load_swapper_pg_dir() {
    load_cr3(__pa(swapper_pg_dir_vaddr()));
}

/// Switches to the page directory at physical `paddr` (Linux `load_cr3`),
/// which also flushes all non-global TLB entries.
fn load_cr3(paddr: u64) {
    // SAFETY: `paddr` is swapper_pg_dir, which maps the kernel image, its
    // stacks and all of low memory at the same virtual addresses as the
    // boot tables (or the trampoline's page directory) did, so execution
    // continues unchanged.
    unsafe { x86::controlregs::cr3_write(paddr) };
    gdt::set_doublefault_cr3(paddr as u32);
}

/// Invalidates the TLB entry of one page (Linux `__flush_tlb_one`).
pub fn __flush_tlb_one(vaddr: usize) {
    // SAFETY: INVLPG only drops a cached translation.
    unsafe { x86::tlb::flush(vaddr) };
}

/// Invalidates all (non-global) TLB entries (Linux `__flush_tlb_all`).
pub fn __flush_tlb_all() {
    // SAFETY: reloading CR3 with its own value only drops cached translations.
    unsafe { x86::tlb::flush_all() };
}

/// What a virtual address translates to in the current page directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Translation {
    /// Physical address the virtual address maps to.
    pub paddr: u64,
    /// Whether a 4 MiB PDE (rather than a PTE) maps it.
    pub large: bool,
    /// Flags of the final entry.
    pub flags: PageFlags,
}

/// Walks the current page tables for `vaddr` as the MMU would (Linux
/// `lookup_address`).  `None` if nothing maps it.
pub fn lookup_address(vaddr: usize) -> Option<Translation> {
    let pgd = __va(cpu::read_cr3() as u64 & !(PAGE_SIZE as u64 - 1));
    let pde = read_entry(pgd, pgd_index(vaddr));
    if !pde.is_present() {
        return None;
    }
    if pde.is_large() {
        let offset = (vaddr & (PMD_SIZE - 1)) as u64;
        return Some(Translation { paddr: pde.paddr() + offset, large: true, flags: pde.flags() });
    }
    let pte = read_entry(__va(pde.paddr()), pte_index(vaddr));
    pte.is_present().then(|| Translation {
        paddr: pte.paddr() + (vaddr & (PAGE_SIZE - 1)) as u64,
        large: false,
        flags: pte.flags(),
    })
}

/// Maps (or, with `Entry::NONE`, unmaps) one 4 KiB kernel page at `vaddr`
/// in `swapper_pg_dir`, creating its page table from `alloc` if needed,
/// and flushes that TLB entry (Linux `set_pte_vaddr`).  Refuses addresses
/// inside the direct map, whose layout must never change.
pub fn set_pte_vaddr(vaddr: usize, entry: Entry, alloc: PageTableAlloc) {
    assert!(vaddr % PAGE_SIZE == 0, "set_pte_vaddr: {vaddr:#x} is not page aligned");
    assert!(vaddr >= crate::mm::init::high_memory(), "set_pte_vaddr: {vaddr:#x} is inside the direct map");
    let table = one_page_table_init(swapper_pg_dir_vaddr(), pgd_index(vaddr), alloc);
    write_entry(table, pte_index(vaddr), entry);
    __flush_tlb_one(vaddr);
}

/// Points fixmap slot `idx` at the page of physical address `paddr` with
/// `flags` and flushes this CPU's TLB entry for it (Linux `__set_fixmap`).
/// The fixmap's page table exists from `paging_init` on, so this never
/// allocates.  Another CPU that used the slot before must flush too; the
/// slots this kernel maps (the APIC, the ACPI window) are set up before
/// the other CPUs start, or never change.
#[doc(alias = "__set_fixmap")]
pub fn set_fixmap(idx: usize, paddr: u64, flags: PageFlags) {
    assert!(idx != layout::fixed_addresses::FIX_HOLE && idx < layout::fixed_addresses::__END_OF_FIXED_ADDRESSES);
    let entry = Entry::new(paddr & !(PAGE_SIZE as u64 - 1), flags);
    set_pte_vaddr(layout::__fix_to_virt(idx), entry, &mut || None);
}

/// Unmaps fixmap slot `idx` (Linux `clear_fixmap`).
pub fn clear_fixmap(idx: usize) {
    set_pte_vaddr(layout::__fix_to_virt(idx), Entry::NONE, &mut || None);
}

/// Virtual address of the pkmap page table (`pkmap_page_table`).
pub fn pkmap_page_table() -> usize {
    PKMAP_PAGE_TABLE.load(Ordering::Relaxed)
}

/// Writes the PTE of pkmap slot `nr` (Linux `set_pte_at(&init_mm, vaddr,
/// &pkmap_page_table[nr], pte)`).  No TLB flush: the pkmap code flushes
/// lazily, see `mm/highmem.rs`.
pub fn set_pkmap_pte(nr: usize, entry: Entry) {
    assert!(nr < layout::LAST_PKMAP);
    write_entry(pkmap_page_table(), nr, entry);
}

/// Reads the PTE of pkmap slot `nr`.
pub fn pkmap_pte(nr: usize) -> Entry {
    assert!(nr < layout::LAST_PKMAP);
    read_entry(pkmap_page_table(), nr)
}

/// Virtual address of the first kmap_atomic PTE (`kmap_pte`).
pub fn kmap_pte() -> usize {
    KMAP_PTE.load(Ordering::Relaxed)
}

/// The PTE of kmap_atomic window `idx` (`kmap_pte - idx` in Linux: fixmap
/// slots grow downwards, so window `idx` is `idx` entries below
/// FIX_KMAP_BEGIN's PTE).  All windows sit in the one fixmap page table.
fn kmap_pte_slot(idx: usize) -> (usize, usize) {
    let pte = kmap_pte() - idx * 4;
    (pte & !(PAGE_SIZE - 1), (pte & (PAGE_SIZE - 1)) / 4)
}

/// Reads the PTE of kmap_atomic window `idx`.
pub fn kmap_atomic_pte(idx: usize) -> Entry {
    let (table, index) = kmap_pte_slot(idx);
    read_entry(table, index)
}

/// Writes the PTE of kmap_atomic window `idx` and flushes that one TLB
/// entry (Linux `set_pte(kmap_pte - idx, ...)` + `__flush_tlb_one`).
pub fn set_kmap_atomic_pte(idx: usize, entry: Entry) {
    assert!(idx < layout::KM_TYPE_NR * layout::NR_CPUS);
    let (table, index) = kmap_pte_slot(idx);
    write_entry(table, index, entry);
    __flush_tlb_one(layout::__fix_to_virt(layout::fixed_addresses::FIX_KMAP_BEGIN + idx));
}

/// Copies `buf.len()` bytes of kernel memory at `vaddr` into `buf`, if every
/// page of the range is mapped; else returns the first unmapped address
/// (the monitor's `peek`: reading memory by hand must not fault).
pub fn copy_from_kernel(vaddr: usize, buf: &mut [u8]) -> Result<(), usize> {
    let end = vaddr.checked_add(buf.len()).ok_or(vaddr)?;
    let mut page = vaddr & !(PAGE_SIZE - 1);
    while page < end {
        if lookup_address(page).is_none() {
            return Err(page.max(vaddr));
        }
        page += PAGE_SIZE;
    }
    // SAFETY: every page of [vaddr, end) is mapped (checked just above, in
    // the tables this CPU uses); a byte copy reads them and writes `buf` only.
    unsafe { core::ptr::copy_nonoverlapping(vaddr as *const u8, buf.as_mut_ptr(), buf.len()) };
    Ok(())
}

/// Whether the direct map was built with 4 MiB pages.
pub fn direct_map_uses_pse() -> bool {
    DIRECT_MAP_USES_PSE.load(Ordering::Relaxed)
}
