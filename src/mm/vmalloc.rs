//! `vmalloc`: virtually contiguous memory from scattered page frames.
//!
//! The buddy allocator hands out *physically* contiguous blocks, which get
//! hard to find once memory is fragmented, and high-memory frames have no
//! kernel address at all.  `vmalloc(size)` sidesteps both: it takes single
//! pages wherever they are (high memory preferred, `GFP_KERNEL |
//! __GFP_HIGHMEM`) and maps them one after another into the vmalloc area,
//! the stretch of kernel address space between `VMALLOC_START` (8 MiB above
//! the direct map) and `VMALLOC_END` (below the pkmap window).  This is the
//! third of the three ways to reach high memory that seed 003 lists, beside
//! kmap and kmap_atomic.
//!
//! Picture the area as a sorted list of busy ranges (Linux 2.6's `vmlist`
//! of `struct vm_struct`), each followed by one unmapped **guard page**:
//!
//! ```text
//! VMALLOC_START                                                 VMALLOC_END
//! | area A (mapped) |guard| area B (mapped) |guard|     free ...          |
//! ```
//!
//! A buffer overrun off the end of an area runs into its guard page and
//! faults at once instead of corrupting the next area; the page-fault
//! handler asks [`describe_address`] and names the area in its report.
//!
//! Steps, as in Linux 2.6 `mm/vmalloc.c`:
//! * `vmalloc` -> `__vmalloc_node`: `get_vm_area` finds the first gap big
//!   enough for the pages plus the guard (`__get_vm_area_node`), then
//!   `__vmalloc_area_node` allocates the pages one by one, remembers them in
//!   `area->pages` and maps them (`map_vm_area`).
//! * `vfree` -> `__vunmap`: `remove_vm_area` takes the area off the list and
//!   clears its page-table entries (`unmap_vm_area`, then a TLB flush of the
//!   range), then every page goes back to the buddy allocator.
//!
//! The top 4 MiB of Linux's vmalloc range hold this kernel's thread stacks
//! (`sched/stack.rs`, fixed windows with guard pages), so vmalloc areas end
//! at [`VMALLOC_AREA_END`] = `THREAD_STACK_AREA_START`.
//!
//! As in Linux, each `struct vm_struct` comes from the slab allocator (a
//! `Vec` on the kernel heap, `kmalloc` underneath: `kmalloc.rs`), so the
//! number of areas is limited only by memory. Simplification: Linux takes
//! the `pages` array from kmalloc or (when large) vmalloc itself; ours is a
//! block from the page allocator (4 bytes per page: a 64 MiB area needs a
//! 64 KiB array).  The
//! area list is searched linearly, as 2.6 did before the red-black tree of
//! `vmap_area`s arrived in 2.6.28.

use super::PAGE_SIZE;
#[cfg(target_os = "none")]
pub use kernel_side::*;

/// Where vmalloc areas end: the thread-stack windows sit above.
#[cfg(target_os = "none")]
pub const VMALLOC_AREA_END: usize = crate::sched::stack::THREAD_STACK_AREA_START;

use alloc::vec::Vec;

/// One busy range of the vmalloc area (Linux `struct vm_struct`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VmStruct {
    /// First virtual address.
    pub addr: usize,
    /// Bytes reserved, *including* the guard page at the end.
    pub size: usize,
    /// Direct-map address of the array of PFNs backing the area (0 while
    /// the area is being set up).
    pub pages: usize,
    /// Number of pages mapped (size / PAGE_SIZE - 1).
    pub nr_pages: usize,
}

impl VmStruct {
    /// The mapped part, without the guard page.
    pub fn mapped_range(&self) -> core::ops::Range<usize> {
        self.addr..self.addr + self.size - PAGE_SIZE
    }
    /// The guard page's address range.
    pub fn guard_range(&self) -> core::ops::Range<usize> {
        self.addr + self.size - PAGE_SIZE..self.addr + self.size
    }
}

/// The sorted list of busy ranges (Linux `vmlist`), its descriptors on the
/// kernel heap.
pub struct VmList {
    /// The areas, sorted by address.
    areas: Vec<VmStruct>,
}

/// Why `get_vm_area` could not reserve a range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmAreaError {
    /// Zero bytes were requested, or the size overflows.
    BadSize,
    /// No gap in [start, end) is large enough.
    NoSpace,
    /// No memory for the descriptor (Linux: the `kmalloc` of the
    /// `vm_struct` failed).
    NoDescriptor,
}

impl VmList {
    pub const fn new() -> Self {
        Self { areas: Vec::new() }
    }

    /// The busy areas, lowest address first.
    pub fn iter(&self) -> impl Iterator<Item = &VmStruct> {
        self.areas.iter()
    }

    /// Finds the first gap in [start, end) that holds `size` bytes plus a
    /// guard page, and records the area there (Linux `__get_vm_area_node`:
    /// walk the sorted list, the candidate address moves past each busy
    /// area until the next one starts far enough away).
    pub fn get_vm_area(&mut self, size: usize, start: usize, end: usize) -> Result<VmStruct, VmAreaError> {
        if size == 0 {
            return Err(VmAreaError::BadSize);
        }
        let size = size.checked_next_multiple_of(PAGE_SIZE).and_then(|s| s.checked_add(PAGE_SIZE)).ok_or(VmAreaError::BadSize)?;
        self.areas.try_reserve(1).map_err(|_| VmAreaError::NoDescriptor)?;
        let mut addr = start;
        let mut index = 0;
        for area in self.iter() {
            if addr.checked_add(size).is_some_and(|e| e <= area.addr) {
                break;
            }
            addr = addr.max(area.addr + area.size);
            index += 1;
        }
        if addr.checked_add(size).is_none_or(|e| e > end) {
            return Err(VmAreaError::NoSpace);
        }
        let area = VmStruct { addr, size, pages: 0, nr_pages: size / PAGE_SIZE - 1 };
        self.areas.insert(index, area);
        Ok(area)
    }

    /// Records the pages array of the area starting at `addr`.
    pub fn set_pages(&mut self, addr: usize, pages: usize) {
        if let Some(area) = self.areas.iter_mut().find(|a| a.addr == addr) {
            area.pages = pages;
        }
    }

    /// Takes the area starting exactly at `addr` off the list (Linux
    /// `remove_vm_area` without the unmapping).
    pub fn remove_vm_area(&mut self, addr: usize) -> Option<VmStruct> {
        let index = self.iter().position(|a| a.addr == addr)?;
        Some(self.areas.remove(index))
    }

    /// The area whose reserved range (mapped part or guard) contains `vaddr`.
    pub fn find_vm_area(&self, vaddr: usize) -> Option<&VmStruct> {
        self.iter().find(|a| (a.addr..a.addr + a.size).contains(&vaddr))
    }
}

impl Default for VmList {
    fn default() -> Self {
        Self::new()
    }
}

/// The kernel's half: mapping pages into the area and back out.
#[cfg(target_os = "none")]
mod kernel_side {
    use super::*;
    use crate::arch::x86::paging::{Entry, PAGE_KERNEL, lookup_address, set_pte_vaddr};
    use crate::mm::direct_map::{__get_free_pages, free_pages, page_to_pfn, pfn_to_page};
    use crate::mm::gfp::GfpFlags;
    use crate::mm::init::{VMALLOC_START, node};
    use crate::mm::layout::VMALLOC_END;
    use crate::mm::mmzone::{MAX_NR_ZONES, ZoneType};
    use crate::mm::{MAX_ORDER, PAGE_SHIFT};
    use crate::spinlock::SpinLockIrq;
    use core::sync::atomic::{AtomicUsize, Ordering};

    /// The vmalloc area's bookkeeping (Linux `vmlist` under `vmlist_lock`).
    static VMLIST: SpinLockIrq<VmList> = SpinLockIrq::new(VmList::new());

    /// Bytes of `pages` array per mapped page.
    const PFN_BYTES: usize = size_of::<u32>();

    /// Reports the vmalloc area at boot (Linux `vmalloc_init` sets up the
    /// area's allocator; ours is the list, so this only checks the
    /// bounds that `mem_init` computed).
    pub fn vmalloc_init() {
        assert!(VMALLOC_START() < VMALLOC_AREA_END && VMALLOC_AREA_END <= VMALLOC_END);
        log::info!("vmalloc: areas in [{:#010x}-{:#010x}), {} MB; thread stacks above",
            VMALLOC_START(), VMALLOC_AREA_END, (VMALLOC_AREA_END - VMALLOC_START()) >> 20);
    }

    /// Page-table pages allocated for the vmalloc area, per zone (Linux
    /// counts them in `NR_PAGETABLE`). Never freed: once the area has a page
    /// table for a 4 MiB stretch it keeps it, as in Linux.
    static PAGE_TABLE_PAGES: [AtomicUsize; MAX_NR_ZONES] = [const { AtomicUsize::new(0) }; MAX_NR_ZONES];

    /// Page-table pages of zone `zone` the vmalloc area holds.
    pub fn nr_page_table_pages(zone: ZoneType) -> usize {
        PAGE_TABLE_PAGES[zone as usize].load(Ordering::Relaxed)
    }

    /// A page-table page for the vmalloc area (Linux `pte_alloc_kernel`).
    fn pte_alloc_kernel() -> Option<u64> {
        let page = node().alloc_page(GfpFlags::GFP_KERNEL)?;
        PAGE_TABLE_PAGES[page.page_zonenum() as usize].fetch_add(1, Ordering::Relaxed);
        Some((page_to_pfn(page) as u64) << PAGE_SHIFT)
    }

    /// The order of a block holding `nr_pages` PFNs.
    pub(super) fn pages_array_order(nr_pages: usize) -> usize {
        (nr_pages * PFN_BYTES).div_ceil(PAGE_SIZE).next_power_of_two().trailing_zeros() as usize
    }

    /// Allocates `size` bytes (rounded up to pages) of virtually contiguous
    /// memory from any zone, high memory first (Linux `vmalloc`).  Returns
    /// the start address, or `None` (with a message) if the area or memory
    /// is exhausted; on failure everything taken so far is given back.
    pub fn vmalloc(size: usize) -> Option<usize> {
        __vmalloc(size, GfpFlags::GFP_KERNEL | GfpFlags::__GFP_HIGHMEM)
    }

    /// [`vmalloc`] with explicit allocation flags for the pages (Linux
    /// `__vmalloc`).
    pub fn __vmalloc(size: usize, gfp_mask: GfpFlags) -> Option<usize> {
        let area = match VMLIST.lock().get_vm_area(size, VMALLOC_START(), VMALLOC_AREA_END) {
            Ok(area) => area,
            Err(why) => {
                log::warn!("vmalloc: allocation of {size} bytes failed: {why:?}");
                return None;
            }
        };
        match __vmalloc_area_node(&area, gfp_mask) {
            Some(pages) => {
                VMLIST.lock().set_pages(area.addr, pages);
                Some(area.addr)
            }
            None => {
                log::warn!("vmalloc: out of memory for {} pages", area.nr_pages);
                VMLIST.lock().remove_vm_area(area.addr);
                None
            }
        }
    }

    /// Allocates the pages array and the pages, and maps them (Linux
    /// `__vmalloc_area_node` + `map_vm_area`).  Returns the array's
    /// address; on failure unmaps and frees what it took.
    fn __vmalloc_area_node(area: &VmStruct, gfp_mask: GfpFlags) -> Option<usize> {
        let order = pages_array_order(area.nr_pages);
        if order >= MAX_ORDER {
            return None;
        }
        let pages = __get_free_pages(GfpFlags::GFP_KERNEL, order)?;
        let pfns = pages as *mut u32;
        for index in 0..area.nr_pages {
            let Some(page) = node().alloc_page(gfp_mask) else {
                unmap_and_free(area.addr, pages, index);
                free_pages(pages, order);
                return None;
            };
            let pfn = page_to_pfn(page);
            // SAFETY: `pages` is a block of 2^order pages we just allocated
            // and own; index < nr_pages fits in it (pages_array_order).
            unsafe { pfns.add(index).write(pfn as u32) };
            let vaddr = area.addr + index * PAGE_SIZE;
            set_pte_vaddr(vaddr, Entry::new((pfn as u64) << PAGE_SHIFT, PAGE_KERNEL), &mut pte_alloc_kernel);
        }
        Some(pages)
    }

    /// Clears the first `nr_mapped` PTEs of the area at `addr` and frees
    /// their pages (Linux `unmap_vm_area` + the freeing loop of `__vunmap`),
    /// for an area no other CPU has used yet (a failed `vmalloc`).
    fn unmap_and_free(addr: usize, pages: usize, nr_mapped: usize) {
        unmap_vm_area(addr, nr_mapped);
        free_vm_pages(pages, nr_mapped);
    }

    /// Clears the first `nr_mapped` PTEs of the area at `addr`, flushing
    /// them from this CPU's TLB (Linux `unmap_vm_area`).
    fn unmap_vm_area(addr: usize, nr_mapped: usize) {
        for index in 0..nr_mapped {
            set_pte_vaddr(addr + index * PAGE_SIZE, Entry::NONE, &mut pte_alloc_kernel);
        }
    }

    /// Frees the first `nr_mapped` pages listed in the area's array.
    fn free_vm_pages(pages: usize, nr_mapped: usize) {
        let pfns = pages as *const u32;
        for index in 0..nr_mapped {
            // SAFETY: `pages` is the area's array, written for every index
            // below nr_mapped by __vmalloc_area_node.
            let pfn = unsafe { pfns.add(index).read() } as usize;
            node().__free_page(pfn_to_page(pfn).expect("vmalloc pages are inside mem_map"));
        }
    }

    /// Frees an area `vmalloc` returned (Linux `vfree` -> `__vunmap`).  An
    /// address that does not start an area is reported and ignored.
    ///
    /// With several CPUs the order matters (Linux `__vunmap` ->
    /// `remove_vm_area` -> `unmap_vm_area` + `flush_tlb_kernel_range`):
    /// clear the PTEs, flush the range on *every* CPU, and only then give
    /// the range back to the list and the pages to the allocator — else
    /// another CPU could still reach the freed pages through a stale TLB
    /// entry, or get the range from `vmalloc` while such entries exist. The
    /// list lock disables interrupts, so the shootdown runs outside it; a
    /// second `vfree` of the same address racing this one finds the area
    /// gone at the end and frees nothing.
    pub fn vfree(addr: usize) {
        let Some(area) = VMLIST.lock().find_vm_area(addr).copied().filter(|area| area.addr == addr) else {
            log::error!("Trying to vfree() nonexistent vm area ({addr:#010x})");
            return;
        };
        unmap_vm_area(area.addr, area.nr_pages);
        crate::arch::x86::tlb::flush_tlb_kernel_range(area.addr, area.addr + area.nr_pages * PAGE_SIZE);
        if VMLIST.lock().remove_vm_area(addr).is_none() {
            log::error!("vfree({addr:#010x}) raced with another vfree of the same area; its pages are freed once");
            return;
        }
        free_vm_pages(area.pages, area.nr_pages);
        free_pages(area.pages, pages_array_order(area.nr_pages));
    }

    /// Calls `f` with a copy of every area, lowest first (for Linux's
    /// `/proc/vmallocinfo`); the list is not locked while `f` runs.
    pub fn for_each_vm_area(mut f: impl FnMut(&VmStruct)) {
        let mut next = 0;
        loop {
            let area = VMLIST.lock().iter().filter(|a| a.addr >= next).min_by_key(|a| a.addr).copied();
            let Some(area) = area else { return };
            f(&area);
            next = area.addr + 1;
        }
    }

    /// A copy of the area starting at or containing `vaddr`.
    pub fn find_vm_area(vaddr: usize) -> Option<VmStruct> {
        VMLIST.try_lock()?.find_vm_area(vaddr).copied()
    }

    /// For the page-fault report: names the vmalloc area (or its guard
    /// page) an address belongs to.  Never blocks: a fault while the list
    /// is locked just gets no description.
    pub fn describe_address(vaddr: usize) -> Option<VmFaultSite> {
        let area = find_vm_area(vaddr)?;
        Some(VmFaultSite { area, in_guard_page: area.guard_range().contains(&vaddr) })
    }

    /// Where in the vmalloc area a faulting address lies.
    #[derive(Clone, Copy, Debug)]
    pub struct VmFaultSite {
        pub area: VmStruct,
        pub in_guard_page: bool,
    }

    impl core::fmt::Display for VmFaultSite {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            let mapped = self.area.mapped_range();
            let what = if self.in_guard_page { "guard page" } else { "mapped part" };
            write!(f, "vmalloc {what} of area [{:#010x}-{:#010x})", mapped.start, mapped.end)
        }
    }

    /// The physical address `vaddr` of a vmalloc area maps to (Linux
    /// `vmalloc_to_pfn`), through the page tables.
    pub fn vmalloc_to_pfn(vaddr: usize) -> Option<usize> {
        lookup_address(vaddr).map(|t| (t.paddr >> PAGE_SHIFT) as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const START: usize = 0x1000_0000;
    const END: usize = 0x1010_0000;

    #[cfg_attr(target_os = "none", test_case)]
    #[cfg_attr(not(target_os = "none"), test)]
    fn areas_get_a_guard_page_and_fill_gaps_first_fit() {
        let mut list = VmList::new();
        let a = list.get_vm_area(1, START, END).unwrap();
        assert_eq!((a.addr, a.size, a.nr_pages), (START, 2 * PAGE_SIZE, 1));
        let b = list.get_vm_area(3 * PAGE_SIZE, START, END).unwrap();
        assert_eq!(b.addr, START + 2 * PAGE_SIZE, "b starts after a's guard page");
        let c = list.get_vm_area(PAGE_SIZE, START, END).unwrap();
        assert_eq!(c.addr, START + 6 * PAGE_SIZE);
        assert_eq!(list.remove_vm_area(b.addr), Some(b));
        // A 2-page request fits where b was (4 pages with its guard).
        let d = list.get_vm_area(2 * PAGE_SIZE, START, END).unwrap();
        assert_eq!(d.addr, b.addr);
        // A 4-page request does not (it needs 5 with the guard): after c.
        let e = list.get_vm_area(4 * PAGE_SIZE, START, END).unwrap();
        assert_eq!(e.addr, c.addr + c.size);
        let addrs: [usize; 4] = core::array::from_fn(|i| list.iter().nth(i).unwrap().addr);
        assert_eq!(addrs, [a.addr, d.addr, c.addr, e.addr], "the list stays sorted");
        assert_eq!(list.find_vm_area(d.addr + 2 * PAGE_SIZE).map(|x| x.addr), Some(d.addr), "guard page belongs to d");
        assert!(d.guard_range().contains(&(d.addr + 2 * PAGE_SIZE)));
        assert_eq!(list.find_vm_area(d.addr + 3 * PAGE_SIZE), None, "the gap after d's guard is free");
    }

    #[cfg_attr(target_os = "none", test_case)]
    #[cfg_attr(not(target_os = "none"), test)]
    fn exhaustion_and_bad_sizes_are_errors() {
        let mut list = VmList::new();
        assert_eq!(list.get_vm_area(0, START, END), Err(VmAreaError::BadSize));
        assert_eq!(list.get_vm_area(usize::MAX, START, END), Err(VmAreaError::BadSize));
        assert_eq!(list.get_vm_area(END - START, START, END), Err(VmAreaError::NoSpace), "no room for the guard");
        assert!(list.get_vm_area(END - START - PAGE_SIZE, START, END).is_ok());
        assert_eq!(list.get_vm_area(1, START, END), Err(VmAreaError::NoSpace));
        let mut list = VmList::new();
        // More areas than the 64-entry pool of the first round allowed.
        for i in 0..100 {
            assert_eq!(list.get_vm_area(1, START, END).unwrap().addr, START + i * 2 * PAGE_SIZE);
        }
        assert_eq!(list.remove_vm_area(START + 1), None, "only an area's start address frees it");
    }
}

#[cfg(all(test, target_os = "none"))]
mod kernel_tests {
    use super::*;
    use crate::mm::gfp::GfpFlags;
    use crate::mm::init::node;
    use crate::mm::mmzone::ZoneType;
    use crate::should_panic_test;

    /// Free pages per zone with the per-CPU lists drained into the buddy,
    /// so that counts before and after are comparable.
    fn free_pages_per_zone() -> [usize; 3] {
        crate::mm::kernel_test_support::quiesced_snapshot(node()).map(|(_, free)| free)
    }

    /// Writes a distinct value into every word of [addr, addr + len) and
    /// reads all of them back.
    fn fill_and_check(addr: usize, len: usize) {
        let words = addr as *mut u32;
        for index in 0..len / 4 {
            // SAFETY: [addr, addr + len) is a vmalloc area this test owns.
            unsafe { words.add(index).write_volatile(index as u32 ^ 0x5a5a_0000) };
        }
        for index in 0..len / 4 {
            // SAFETY: as above.
            let value = unsafe { words.add(index).read_volatile() };
            assert_eq!(value, index as u32 ^ 0x5a5a_0000, "word {index} of the area");
        }
    }

    #[test_case]
    fn vmalloc_64m_is_usable_end_to_end_and_vfree_returns_every_page() {
        let free_total: usize = free_pages_per_zone().iter().sum();
        let size = (64 << 20).min(free_total / 2 * PAGE_SIZE);
        // The page tables of the vmalloc area are created once and kept (as
        // in Linux), so warm them up before measuring what vfree returns.
        vfree(vmalloc(size).expect("warm-up vmalloc"));
        let before = free_pages_per_zone();
        let addr = vmalloc(size).expect("vmalloc");
        let area = find_vm_area(addr).unwrap();
        assert_eq!(area.nr_pages, size / PAGE_SIZE);
        let after_alloc = free_pages_per_zone();
        let taken: usize = before.iter().zip(after_alloc).map(|(b, a)| b - a).sum();
        let array_pages = 1 << kernel_side::pages_array_order(area.nr_pages);
        assert_eq!(taken, area.nr_pages + array_pages, "before {before:?} after {after_alloc:?}");
        let highmem_free = before[ZoneType::HighMem as usize];
        if highmem_free >= area.nr_pages {
            assert_eq!(before[2] - after_alloc[2], area.nr_pages, "all pages from HighMem");
            let pfn = vmalloc_to_pfn(addr).unwrap();
            assert!(node().pfn_to_page(pfn).unwrap().is_highmem());
        }
        fill_and_check(addr, size);
        vfree(addr);
        assert_eq!(free_pages_per_zone(), before, "vfree gave back every page");
        assert_eq!(find_vm_area(addr), None);
    }

    #[test_case]
    fn impossible_requests_fail_cleanly() {
        let before = free_pages_per_zone();
        let whole_area = VMALLOC_AREA_END - crate::mm::init::VMALLOC_START();
        assert_eq!(vmalloc(whole_area), None, "no room for the guard page");
        assert_eq!(vmalloc(0), None);
        vfree(0xdead_0000);
        assert_eq!(free_pages_per_zone(), before);
    }

    /// A request the area has room for but memory has not: vmalloc takes
    /// pages one by one, runs out, and must give back every page it took.
    /// On a machine with more free memory than the area has room, the test
    /// first holds big blocks until memory is the smaller of the two.
    #[test_case]
    fn running_out_of_pages_midway_gives_back_what_was_taken() {
        let area_pages = (VMALLOC_AREA_END - crate::mm::init::VMALLOC_START()) / PAGE_SIZE;
        let mut held = crate::mm::kernel_test_support::Held::new();
        let too_much_free = || free_pages_per_zone().iter().sum::<usize>() + 16 >= area_pages / 2;
        // High pages first; then low ones, which lowmem_reserve keeps from
        // GFP_HIGHUSER (Normal keeps 17407 pages from it at 4 GiB).
        for gfp in [GfpFlags::GFP_HIGHUSER, GfpFlags::GFP_KERNEL] {
            let gfp = gfp | GfpFlags::__GFP_NORETRY;
            for order in (0..crate::mm::MAX_ORDER).rev() {
                while too_much_free() && held.alloc(gfp, order, node().zonelist(gfp)).is_some() {}
            }
        }
        assert!(!too_much_free(), "held {} pages: less than half of the area's room is free now", held.pages());
        let free_total: usize = free_pages_per_zone().iter().sum();
        let too_much = (free_total + 16) * PAGE_SIZE;
        // The first attempt may create page tables for the range, which the
        // kernel keeps; the second must leave every count as it found it.
        assert_eq!(vmalloc(too_much), None);
        let before = free_pages_per_zone();
        assert_eq!(vmalloc(too_much), None);
        assert_eq!(free_pages_per_zone(), before);
        assert!(before.iter().sum::<usize>() + 64 >= free_total, "at most a few page tables were kept");
        held.free_all();
    }

    should_panic_test!(
        overrunning_an_area_faults_in_its_guard_page,
        "in vmalloc guard page of area",
        || {
            let addr = vmalloc(2 * PAGE_SIZE).unwrap();
            fill_and_check(addr, 2 * PAGE_SIZE);
            // SAFETY: deliberately reads one word past the area: the guard
            // page is unmapped, the fault handler panics.
            unsafe { ((addr + 2 * PAGE_SIZE) as *const u32).read_volatile() };
        }
    );
}
