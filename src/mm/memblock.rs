//! # memblock: the boot-time memory allocator
//!
//! Picture two short, sorted lists of physical address ranges:
//!
//! * `memory`: every range of RAM the firmware said we may use;
//! * `reserved`: every range of that RAM somebody has already claimed — the kernel image, the
//!   Multiboot information, page tables built during boot, `mem_map` itself.
//!
//! Free memory is simply `memory` minus `reserved`. Allocating means finding a hole in that
//! difference and adding the hole to `reserved`; freeing means cutting a range back out of
//! `reserved`. That is all memblock is, and it is all the kernel can afford this early.
//!
//! ## Why the kernel needs it
//!
//! The buddy allocator (`page_alloc.rs`) keeps one `struct page` per page frame in `mem_map` and
//! its free lists inside the zones of a `pg_data_t`. Those structures have to live *somewhere* in
//! physical memory, and how big they are depends on how much RAM there is — so something must hand
//! out memory before the buddy allocator exists. The kernel also must not hand the buddy
//! allocator pages that hold the kernel image or the firmware's data. memblock answers both: it
//! allocates the early structures and it remembers what is taken. At the end of boot
//! `free_all_bootmem()` (`bootmem.rs`) walks [`Memblock::free_mem_ranges`] and releases every free
//! page into the buddy allocator; after that memblock is no longer consulted.
//!
//! Boot order in this kernel (as in Linux's `setup_arch()` on i386):
//!
//! 1. [`memblock_x86_fill`] copies the usable RAM of the Multiboot2 memory map into `memory`;
//! 2. the caller reserves the kernel image, the Multiboot information and the first page;
//! 3. `paging_init()` builds the direct map, setting [`Memblock::set_current_limit`] to its end,
//!    and takes page tables with [`Memblock::alloc`];
//! 4. [`Memblock::dump`] prints the configuration, in the format of Linux's `memblock_dump_all()`;
//! 5. `mem_map` and the zones are allocated, then `free_all_bootmem()` hands everything over.
//!
//! ## How Linux does it
//!
//! Linux 2.6 started with *bootmem*: one bit per page frame, a bitmap that itself had to be
//! placed in memory first. PowerPC meanwhile used *LMB* ("logical memory blocks"), the two-list
//! design above. In 2.6.35 LMB was renamed memblock and made generic, x86 switched its early
//! allocations to it over the next releases (2.6.36–2.6.38), and bootmem's interface was kept as
//! a thin wrapper on top (`mm/nobootmem.c`) — which is why Linux 3.x still says
//! `free_all_bootmem()` although no bootmem bitmap exists. (bootmem was finally deleted in 4.20.)
//!
//! The code here follows `mm/memblock.c` of Linux 3.x and the x86 glue
//! `memblock_x86_fill()` in `arch/x86/kernel/e820.c`:
//!
//! | Linux                                   | here |
//! |-----------------------------------------|------|
//! | `struct memblock_region`                | [`MemblockRegion`] |
//! | `struct memblock_type`                  | [`MemblockType`] |
//! | `struct memblock` (the global `memblock`) | [`Memblock`] (the caller owns the static) |
//! | `memblock_add` / `memblock_remove`      | [`Memblock::add`] / [`Memblock::remove`] |
//! | `memblock_reserve` / `memblock_free`    | [`Memblock::reserve`] / [`Memblock::free`] |
//! | `memblock_add_range`, `memblock_insert_region`, `memblock_merge_regions` | private, same names |
//! | `memblock_remove_range` + `memblock_isolate_range` | private `memblock_remove_range` |
//! | `for_each_free_mem_range`               | [`Memblock::free_mem_ranges`] |
//! | `memblock_find_in_range_node`           | private `memblock_find_in_range` |
//! | `memblock_alloc` / `memblock_alloc_base`| [`Memblock::alloc`] / [`Memblock::alloc_base`] |
//! | `memblock_trim_memory`                  | [`Memblock::trim_memory`] |
//! | `memblock_dump_all`                     | [`Memblock::dump`] |
//! | `memblock_x86_fill`                     | [`memblock_x86_fill`] |
//!
//! ## What we simplified, and why
//!
//! * **Fixed arrays, never doubled.** Linux starts with 128 static slots per list and, once the
//!   allocator works, `memblock_double_array()` moves a list into a bigger block taken from
//!   memblock itself. We have no use for more than 128 regions on a PC and doubling is subtle
//!   (it allocates from the very lists it is resizing), so a full list is an error: the operation
//!   is refused with [`MemblockError::ArrayFull`] and *nothing* changes. Because we cannot grow,
//!   we check capacity against the exact number of regions the operation will leave behind, not
//!   against Linux's worst case (see `memblock_add_range` and `memblock_remove_range`).
//! * **One node, no flags.** No NUMA node id (`nid`) and no region flags (hotplug, mirror): a
//!   32-bit teaching PC has one node, and nothing here needs the flags.
//! * **Empty means empty.** Linux keeps `cnt == 1` with a zero-sized dummy region in an empty
//!   list; our `cnt` is 0. `total_size` is summed on demand instead of being kept in a field.
//! * **Addresses are `u64`**, like `phys_addr_t` on PAE kernels: the firmware may report RAM at
//!   and above 4 GiB, which does not fit a `u32`. Without PAE that RAM is unreachable, so
//!   [`memblock_x86_fill`] drops it with a log line.
//! * **Byte granularity, like Linux.** `add`/`reserve` accept any byte range (the Multiboot
//!   information is not page aligned); only the RAM list is trimmed to whole pages, once, in
//!   [`memblock_x86_fill`].
//!
//! All of this is safe Rust over `core` only, so the same code runs in the kernel and in the host
//! unit tests at the bottom of this file.

use core::fmt;

use super::PAGE_SIZE;

/// Capacity of each region array. Linux uses the same number for its static arrays
/// (`INIT_MEMBLOCK_REGIONS`); it can later double them, we never do.
pub const INIT_MEMBLOCK_REGIONS: usize = 128;

/// 4 GiB: the first byte a 32-bit non-PAE kernel can NOT address.
pub const MAX_PHYS_ADDR: u64 = 1 << 32;

/// "No upper bound" for [`Memblock::alloc_base`] and the initial
/// [`Memblock::current_limit`] (Linux `MEMBLOCK_ALLOC_ANYWHERE`).
pub const MEMBLOCK_ALLOC_ANYWHERE: u64 = u64::MAX;

// Trimming RAM to whole pages and clipping it at 4 GiB must agree on what a page boundary is.
const _: () = assert!(MAX_PHYS_ADDR.is_multiple_of(PAGE_SIZE as u64));

/// One contiguous physical range `[base, base + size)` (Linux `struct memblock_region`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemblockRegion {
    /// Physical address of the first byte.
    pub base: u64,
    /// Length in bytes. Regions stored in a [`MemblockType`] are never empty.
    pub size: u64,
}

impl MemblockRegion {
    /// The value of an unused slot.
    const EMPTY: Self = Self { base: 0, size: 0 };

    /// The region covering `[base, end)`; callers guarantee `base <= end`.
    const fn from_range(base: u64, end: u64) -> Self {
        Self {
            base,
            size: end - base,
        }
    }

    /// First byte after the region. Regions stored by memblock never wrap; for a hand-made
    /// region that would, the end saturates at `u64::MAX` instead of overflowing.
    pub const fn end(&self) -> u64 {
        self.base.saturating_add(self.size)
    }
}

/// Prints the region as Linux prints physical ranges in boot messages:
/// `[mem 0x0000000000100000-0x000000007ffdffff]`, with an inclusive end.
impl fmt::Display for MemblockRegion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.size {
            0 => write!(f, "[mem {:#018x} (empty)]", self.base),
            _ => write!(f, "[mem {:#018x}-{:#018x}]", self.base, self.end() - 1),
        }
    }
}

/// Why a memblock operation was refused. In every case the arrays are left exactly as they were.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemblockError {
    /// The result would need more than [`INIT_MEMBLOCK_REGIONS`] regions in the named array
    /// (`"memory"` or `"reserved"`). Linux would double the array here; we cannot.
    ArrayFull {
        /// Name of the array that ran out of slots.
        array: &'static str,
    },
    /// `base + size` does not fit in 64 bits: the range wraps around the address space.
    Overflow {
        /// Base address passed in.
        base: u64,
        /// Size passed in.
        size: u64,
    },
}

impl fmt::Display for MemblockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::ArrayFull { array } => write!(
                f,
                "memblock.{array} is full ({INIT_MEMBLOCK_REGIONS} regions) and cannot grow"
            ),
            Self::Overflow { base, size } => write!(
                f,
                "range at {base:#x} of {size:#x} bytes wraps past the end of the address space"
            ),
        }
    }
}

/// One sorted list of regions: `memblock.memory` or `memblock.reserved`
/// (Linux `struct memblock_type`).
///
/// Invariants, kept by every operation and checked by the tests:
/// `regions[..cnt]` are sorted by base, none is empty, and between two neighbours there is a gap
/// of at least one byte — overlapping or touching regions are always merged into one.
pub struct MemblockType {
    /// Number of slots in use: `regions[..cnt]` are the live regions, the rest are
    /// [`MemblockRegion::EMPTY`]. 0 means the list is empty.
    cnt: usize,
    /// Fixed storage; Linux's `max` is the constant [`INIT_MEMBLOCK_REGIONS`] here.
    regions: [MemblockRegion; INIT_MEMBLOCK_REGIONS],
    /// `"memory"` or `"reserved"`, used in `dump()` and in error messages.
    name: &'static str,
}

impl MemblockType {
    /// An empty list called `name`.
    pub const fn new(name: &'static str) -> Self {
        Self {
            cnt: 0,
            regions: [MemblockRegion::EMPTY; INIT_MEMBLOCK_REGIONS],
            name,
        }
    }

    /// The list's name, `"memory"` or `"reserved"`.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The live regions, sorted by base, disjoint and merged.
    pub fn regions(&self) -> &[MemblockRegion] {
        &self.regions[..self.cnt]
    }

    /// Bytes covered by the list (Linux keeps this in `memblock_type.total_size`).
    pub fn total_size(&self) -> u64 {
        self.regions().iter().map(|region| region.size).sum()
    }

    /// Refuses, with a log line, an operation that would leave more than
    /// [`INIT_MEMBLOCK_REGIONS`] regions. `new_cnt` is the count the operation would leave.
    fn check_room(&self, new_cnt: usize, range: MemblockRegion) -> Result<(), MemblockError> {
        if new_cnt <= INIT_MEMBLOCK_REGIONS {
            return Ok(());
        }
        log::error!(
            "memblock: {} array full ({} regions), cannot record {}; nothing changed",
            self.name,
            INIT_MEMBLOCK_REGIONS,
            range
        );
        Err(MemblockError::ArrayFull { array: self.name })
    }

    /// Puts `region` into slot `idx`, shifting the slots after it up by one
    /// (Linux `memblock_insert_region`). The caller has checked there is a free slot and that
    /// the list stays sorted.
    fn memblock_insert_region(&mut self, idx: usize, region: MemblockRegion) {
        self.regions.copy_within(idx..self.cnt, idx + 1);
        self.regions[idx] = region;
        self.cnt += 1;
    }

    /// Deletes the region in slot `idx`, shifting the slots after it down by one
    /// (Linux `memblock_remove_region`).
    fn memblock_remove_region(&mut self, idx: usize) {
        self.regions.copy_within(idx + 1..self.cnt, idx);
        self.cnt -= 1;
        self.regions[self.cnt] = MemblockRegion::EMPTY;
    }

    /// Merges every pair of neighbours that touch or overlap (Linux `memblock_merge_regions`).
    ///
    /// The list must be sorted by base. One pass with a read index and a write index: a region
    /// that starts at or before the end of the last kept one is absorbed into it; any other
    /// region becomes the next kept one. Linux only merges regions that touch (its callers
    /// never leave overlaps); ours also absorbs overlaps, which `memblock_add_range` relies on.
    fn memblock_merge_regions(&mut self) {
        if self.cnt == 0 {
            return;
        }
        let mut kept = 0;
        for idx in 1..self.cnt {
            let next = self.regions[idx];
            let last = self.regions[kept];
            if next.base <= last.end() {
                self.regions[kept] =
                    MemblockRegion::from_range(last.base, last.end().max(next.end()));
            } else {
                kept += 1;
                self.regions[kept] = next;
            }
        }
        self.regions[kept + 1..self.cnt].fill(MemblockRegion::EMPTY);
        self.cnt = kept + 1;
    }

    /// Adds `[base, end)` to the list, merging with whatever it touches (Linux
    /// `memblock_add_range`). The range is non-empty and does not wrap (checked by the caller).
    ///
    /// Linux walks the list twice: a first pass counts how many pieces of the new range fall into
    /// gaps between existing regions, the array is doubled if those pieces would not fit, and a
    /// second pass inserts the pieces; `memblock_merge_regions()` then glues everything together.
    /// Counting the pieces overestimates what is finally needed — a range that fills three gaps
    /// inserts three pieces, then merges them all away. Linux can afford that; a fixed array
    /// cannot, so we go straight to the result:
    ///
    /// 1. Find the run of regions `[first, last)` that overlap or touch `[base, end)`. Both ends
    ///    are binary searches, because the list is sorted and disjoint.
    /// 2. If the run is empty, the range sits alone in a gap: it needs one new slot.
    /// 3. Otherwise no slot is needed: stretch the first region of the run to cover the union
    ///    of the run and the new range; it now overlaps the rest of the run, which
    ///    `memblock_merge_regions()` absorbs. The union cannot reach the regions outside the run:
    ///    they are separated from both the range and the run by at least one byte.
    fn memblock_add_range(&mut self, base: u64, end: u64) -> Result<(), MemblockError> {
        let regions = self.regions();
        let first = regions.partition_point(|region| region.end() < base);
        let last = regions.partition_point(|region| region.base <= end);
        if first == last {
            self.check_room(self.cnt + 1, MemblockRegion::from_range(base, end))?;
            self.memblock_insert_region(first, MemblockRegion::from_range(base, end));
            return Ok(());
        }
        let union_base = base.min(regions[first].base);
        let union_end = end.max(regions[last - 1].end());
        self.regions[first] = MemblockRegion::from_range(union_base, union_end);
        self.memblock_merge_regions();
        Ok(())
    }

    /// Cuts `[base, end)` out of the list (Linux `memblock_remove_range`). The range is
    /// non-empty and does not wrap (checked by the caller).
    ///
    /// Linux first calls `memblock_isolate_range()`, which splits the regions at `base` and at
    /// `end` so that the range is covered by whole regions, and then deletes those regions. The
    /// splits need up to two spare slots even when the end result needs one or none — on a full,
    /// fixed array that would refuse removals that shrink the list. So we compute the result
    /// directly:
    ///
    /// 1. Find the run of regions `[first, last)` that overlap the range (touching is not
    ///    enough here: nothing to cut).
    /// 2. What survives of the run is at most a *head* (the part of the first region below
    ///    `base`) and a *tail* (the part of the last region from `end` on).
    /// 3. Check the final count — the run replaced by head and tail — fits. Only cutting a hole
    ///    strictly inside one region grows the list, by one.
    /// 4. Delete the run, last region first as Linux does, then insert tail and head.
    #[doc(alias = "memblock_isolate_range")]
    fn memblock_remove_range(&mut self, base: u64, end: u64) -> Result<(), MemblockError> {
        let regions = self.regions();
        let first = regions.partition_point(|region| region.end() <= base);
        let last = regions.partition_point(|region| region.base < end);
        if first >= last {
            return Ok(());
        }
        let head = (regions[first].base < base)
            .then(|| MemblockRegion::from_range(regions[first].base, base));
        let tail = (regions[last - 1].end() > end)
            .then(|| MemblockRegion::from_range(end, regions[last - 1].end()));
        let survivors = usize::from(head.is_some()) + usize::from(tail.is_some());
        self.check_room(
            self.cnt - (last - first) + survivors,
            MemblockRegion::from_range(base, end),
        )?;

        for idx in (first..last).rev() {
            self.memblock_remove_region(idx);
        }
        if let Some(tail) = tail {
            self.memblock_insert_region(first, tail);
        }
        if let Some(head) = head {
            self.memblock_insert_region(first, head);
        }
        Ok(())
    }

    /// Index of the region containing `addr`, by binary search (Linux `memblock_search`).
    fn memblock_search(&self, addr: u64) -> Option<usize> {
        self.regions()
            .binary_search_by(|region| {
                if region.end() <= addr {
                    core::cmp::Ordering::Less
                } else if region.base > addr {
                    core::cmp::Ordering::Greater
                } else {
                    core::cmp::Ordering::Equal
                }
            })
            .ok()
    }

    /// Whether any region shares at least one byte with `[base, end)`
    /// (Linux `memblock_overlaps_region`).
    fn memblock_overlaps_region(&self, base: u64, end: u64) -> bool {
        let regions = self.regions();
        let idx = regions.partition_point(|region| region.end() <= base);
        regions.get(idx).is_some_and(|region| region.base < end)
    }
}

/// The boot memory allocator's state (Linux's global `struct memblock memblock`).
///
/// `Memblock::new()` is `const`, so the kernel can keep one in a `static spin::Mutex<Memblock>`.
/// It is about 4 KiB, all of it in the two fixed arrays.
pub struct Memblock {
    /// RAM the firmware says is usable, after trimming to whole pages and to the low 4 GiB.
    pub memory: MemblockType,
    /// Ranges already taken: kernel image, boot information, early allocations.
    pub reserved: MemblockType,
    /// Allocations end at or below this address (Linux `memblock.current_limit`).
    /// [`MEMBLOCK_ALLOC_ANYWHERE`] until the direct map exists; then the end of the direct map,
    /// because an allocation the kernel cannot reach through a virtual address is useless to it.
    current_limit: u64,
}

impl Default for Memblock {
    fn default() -> Self {
        Self::new()
    }
}

/// Validates a range passed to one of the four list operations `op` (named as in Linux for the
/// log lines). `Ok(Some(end))` for a range to act on, `Ok(None)` for a zero-length range (a
/// no-op, as in Linux, but logged because it usually means a bug in the caller), and an error
/// for a range that wraps around the address space.
fn memblock_check_range(op: &str, base: u64, size: u64) -> Result<Option<u64>, MemblockError> {
    let Some(end) = base.checked_add(size) else {
        log::error!("{op}: base {base:#x} + size {size:#x} overflows the address space; ignored");
        return Err(MemblockError::Overflow { base, size });
    };
    if size == 0 {
        log::warn!("{op}: zero-length range at {base:#x} ignored");
        return Ok(None);
    }
    log::debug!("{op}: [{:#016x}-{:#016x}]", base, end - 1);
    Ok(Some(end))
}

impl Memblock {
    /// Empty lists and no allocation limit.
    pub const fn new() -> Self {
        Self {
            memory: MemblockType::new("memory"),
            reserved: MemblockType::new("reserved"),
            current_limit: MEMBLOCK_ALLOC_ANYWHERE,
        }
    }

    /// Declares `[base, base + size)` to be usable RAM (Linux `memblock_add`).
    /// Overlaps with RAM already known are fine: only the new bytes are added, and touching
    /// regions merge.
    #[doc(alias = "memblock_add")]
    pub fn add(&mut self, base: u64, size: u64) -> Result<(), MemblockError> {
        match memblock_check_range("memblock_add", base, size)? {
            Some(end) => self.memory.memblock_add_range(base, end),
            None => Ok(()),
        }
    }

    /// Forgets that `[base, base + size)` is RAM (Linux `memblock_remove`), splitting a region
    /// if the range lies inside it. Parts of the range that are not RAM are ignored.
    /// `reserved` is not touched.
    #[doc(alias = "memblock_remove")]
    pub fn remove(&mut self, base: u64, size: u64) -> Result<(), MemblockError> {
        match memblock_check_range("memblock_remove", base, size)? {
            Some(end) => self.memory.memblock_remove_range(base, end),
            None => Ok(()),
        }
    }

    /// Marks `[base, base + size)` as taken (Linux `memblock_reserve`). Reserving a range that
    /// is (partly) reserved already, or that is not RAM, is allowed, as in Linux.
    #[doc(alias = "memblock_reserve")]
    pub fn reserve(&mut self, base: u64, size: u64) -> Result<(), MemblockError> {
        match memblock_check_range("memblock_reserve", base, size)? {
            Some(end) => self.reserved.memblock_add_range(base, end),
            None => Ok(()),
        }
    }

    /// Gives `[base, base + size)` back (Linux `memblock_free`): cuts it out of `reserved`.
    /// Freeing bytes that are not reserved is a no-op for those bytes.
    #[doc(alias = "memblock_free")]
    pub fn free(&mut self, base: u64, size: u64) -> Result<(), MemblockError> {
        match memblock_check_range("memblock_free", base, size)? {
            Some(end) => self.reserved.memblock_remove_range(base, end),
            None => Ok(()),
        }
    }

    /// The free ranges — `memory` minus `reserved` — as `(start, end)` pairs with `end`
    /// exclusive, in ascending order (Linux `for_each_free_mem_range`).
    ///
    /// This is what `free_all_bootmem()` hands to the buddy allocator, and what
    /// [`Memblock::alloc`] searches.
    #[doc(alias = "for_each_free_mem_range")]
    pub fn free_mem_ranges(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        FreeMemRanges {
            memory: self.memory.regions(),
            reserved: self.reserved.regions(),
            idx_memory: 0,
            idx_gap: 0,
        }
    }

    /// Sets the highest address (exclusive) that allocations may use
    /// (Linux `memblock_set_current_limit`). On i386 this becomes the end of the direct-mapped
    /// low memory once `paging_init()` has built it.
    #[doc(alias = "memblock_set_current_limit")]
    pub fn set_current_limit(&mut self, limit: u64) {
        log::debug!("memblock: current limit set to {limit:#x}");
        self.current_limit = limit;
    }

    /// The allocation limit set by [`Memblock::set_current_limit`].
    pub fn current_limit(&self) -> u64 {
        self.current_limit
    }

    /// Allocates `size` bytes aligned to `align` below the current limit, as high as possible,
    /// and reserves them (Linux `memblock_alloc`). Returns the physical base address, or `None`
    /// (with a log line) if no free range fits or `align` is not a power of two.
    #[doc(alias = "memblock_alloc")]
    pub fn alloc(&mut self, size: u64, align: u64) -> Option<u64> {
        self.alloc_base(size, align, MEMBLOCK_ALLOC_ANYWHERE)
    }

    /// Like [`Memblock::alloc`], but the allocation also ends at or below `max_addr`
    /// (Linux `memblock_alloc_base`, without its panic on failure).
    ///
    /// The search is bounded by `min(max_addr, current_limit)`. (Linux lets an explicit
    /// `max_addr` go past `current_limit` and uses the limit only for
    /// `MEMBLOCK_ALLOC_ACCESSIBLE`; we always honour the limit, so no allocation can land
    /// outside the direct map by accident.) The first page is never handed out, as in Linux:
    /// physical address 0 looks too much like "nothing".
    #[doc(alias = "memblock_alloc_base")]
    pub fn alloc_base(&mut self, size: u64, align: u64, max_addr: u64) -> Option<u64> {
        if size == 0 {
            log::warn!("memblock_alloc: zero-size allocation refused");
            return None;
        }
        if !align.is_power_of_two() {
            log::error!("memblock_alloc: alignment {align:#x} is not a power of two");
            return None;
        }
        let limit = max_addr.min(self.current_limit);
        let Some(base) = self.memblock_find_in_range(PAGE_SIZE as u64, limit, size, align) else {
            log::warn!(
                "memblock_alloc: failed to allocate {size:#x} bytes (align {align:#x}) below {limit:#x}"
            );
            return None;
        };
        // The range is free, so reserving it can only fail for lack of a slot in `reserved`;
        // that has been logged, and nothing was changed.
        self.reserve(base, size).ok()?;
        Some(base)
    }

    /// The highest `align`-aligned base in `[start, end)` where `size` free bytes fit
    /// (Linux `memblock_find_in_range_node`, top-down).
    ///
    /// Linux walks the free ranges from the top (`for_each_free_mem_range_reverse`) and stops
    /// at the first that fits. We walk them upwards and keep the last fit, which is the same
    /// address: the ranges are disjoint and ascending, so a later fit is always higher. In each
    /// range (clipped to `[start, end)`), the best candidate is its end minus `size`, rounded
    /// down to the alignment; it fits if that is still inside the range.
    #[doc(alias = "memblock_find_in_range_node")]
    fn memblock_find_in_range(&self, start: u64, end: u64, size: u64, align: u64) -> Option<u64> {
        let mut found = None;
        for (range_start, range_end) in self.free_mem_ranges() {
            if range_start >= end {
                break;
            }
            let low = range_start.max(start);
            let high = range_end.min(end);
            if let Some(top) = high.checked_sub(size) {
                let candidate = top & !(align - 1);
                if candidate >= low {
                    found = Some(candidate);
                }
            }
        }
        found
    }

    /// Bytes of RAM known to memblock (Linux `memblock_phys_mem_size`).
    #[doc(alias = "memblock_phys_mem_size")]
    pub fn phys_mem_size(&self) -> u64 {
        self.memory.total_size()
    }

    /// Lowest RAM address, 0 if there is no RAM (Linux `memblock_start_of_DRAM`).
    #[doc(alias = "memblock_start_of_DRAM")]
    pub fn start_of_ram(&self) -> u64 {
        self.memory
            .regions()
            .first()
            .map_or(0, |region| region.base)
    }

    /// First byte after the highest RAM, 0 if there is no RAM (Linux `memblock_end_of_DRAM`).
    /// On i386 this gives `max_pfn`, and with it the size of `mem_map`.
    #[doc(alias = "memblock_end_of_DRAM")]
    pub fn end_of_ram(&self) -> u64 {
        self.memory.regions().last().map_or(0, MemblockRegion::end)
    }

    /// Whether any byte of `[base, base + size)` is reserved (Linux
    /// `memblock_is_region_reserved`). An empty range is never reserved; a range running past
    /// the end of the address space is clipped there.
    #[doc(alias = "memblock_is_region_reserved")]
    pub fn is_region_reserved(&self, base: u64, size: u64) -> bool {
        size != 0
            && self
                .reserved
                .memblock_overlaps_region(base, base.saturating_add(size))
    }

    /// Whether `addr` is RAM (Linux `memblock_is_memory`).
    #[doc(alias = "memblock_is_memory")]
    pub fn is_memory(&self, addr: u64) -> bool {
        self.memory.memblock_search(addr).is_some()
    }

    /// Shrinks every RAM region inward to `align` boundaries and drops regions that hold no
    /// whole aligned block (Linux `memblock_trim_memory`). Returns the bytes dropped.
    ///
    /// The buddy allocator deals in whole pages: a partial page at either end of a RAM region
    /// must not be handed out, since its other part may be firmware data. Shrinking regions
    /// only widens the gaps between them, so the list stays sorted and merged.
    #[doc(alias = "memblock_trim_memory")]
    pub fn trim_memory(&mut self, align: u64) -> u64 {
        if !align.is_power_of_two() {
            log::error!("memblock_trim_memory: alignment {align:#x} is not a power of two");
            return 0;
        }
        let mut dropped = 0;
        let mut idx = 0;
        while idx < self.memory.cnt {
            let region = self.memory.regions[idx];
            let start = region.base.checked_next_multiple_of(align);
            let end = region.end() & !(align - 1);
            match start {
                Some(start) if start < end => {
                    let trimmed = MemblockRegion::from_range(start, end);
                    if trimmed != region {
                        log::info!("memblock: RAM {region} trimmed to {trimmed} (partial pages)");
                        dropped += region.size - trimmed.size;
                        self.memory.regions[idx] = trimmed;
                    }
                    idx += 1;
                }
                _ => {
                    log::warn!("memblock: RAM {region} dropped: no whole {align:#x}-byte block");
                    dropped += region.size;
                    self.memory.memblock_remove_region(idx);
                }
            }
        }
        dropped
    }

    /// Prints both lists with `log::info!`, in the format of Linux's `memblock_dump_all()`, so
    /// the output can be put beside a real `dmesg` booted with `memblock=debug`:
    ///
    /// ```text
    /// MEMBLOCK configuration:
    ///  memory size = 0x7ff7e000 reserved size = 0x1234000
    ///  memory.cnt  = 0x2
    ///  memory[0x0]    [0x00000000001000-0x0000000009efff], 0x9e000 bytes
    ///  ...
    /// ```
    ///
    /// A tab follows `memory[0x0]`, as in Linux. The end address is inclusive and Linux's
    /// `%#016llx` padding (16 characters *including* `0x`) is kept. An empty list prints
    /// `cnt = 0x0` and no regions, where Linux shows its dummy region.
    #[doc(alias = "memblock_dump_all")]
    pub fn dump(&self) {
        self.dump_to(&mut |line| log::info!("{line}"));
    }

    /// [`Memblock::dump`], handing each line to `emit` (the tests collect them).
    fn dump_to(&self, emit: &mut dyn FnMut(fmt::Arguments<'_>)) {
        emit(format_args!("MEMBLOCK configuration:"));
        emit(format_args!(
            " memory size = {:#x} reserved size = {:#x}",
            self.memory.total_size(),
            self.reserved.total_size()
        ));
        memblock_dump(&self.memory, emit);
        memblock_dump(&self.reserved, emit);
    }
}

/// Prints one list (Linux `memblock_dump`).
fn memblock_dump(list: &MemblockType, emit: &mut dyn FnMut(fmt::Arguments<'_>)) {
    emit(format_args!(" {}.cnt  = {:#x}", list.name, list.cnt));
    for (idx, region) in list.regions().iter().enumerate() {
        emit(format_args!(
            " {}[{:#x}]\t[{:#016x}-{:#016x}], {:#x} bytes",
            list.name,
            idx,
            region.base,
            region.end() - 1,
            region.size
        ));
    }
}

/// Walk over `memory` minus `reserved` (Linux `__next_free_mem_range`).
///
/// Think of the reserved list as cutting the address space into *gaps*: gap 0 runs from 0 to the
/// first reserved region, gap `i` from the end of reserved region `i - 1` to the start of region
/// `i`, and the last gap from the end of the last reserved region to the top of the address
/// space. A free range is the intersection of a memory region with a gap. Both lists are sorted,
/// so one index into each suffices: at every step whichever of the two current ranges ends first
/// is done and its index moves on — like merging two sorted lists.
struct FreeMemRanges<'a> {
    memory: &'a [MemblockRegion],
    reserved: &'a [MemblockRegion],
    /// Current memory region.
    idx_memory: usize,
    /// Current gap, `0..=reserved.len()`.
    idx_gap: usize,
}

impl FreeMemRanges<'_> {
    /// Start and (exclusive) end of gap `idx_gap` between reserved regions.
    fn reserved_gap(&self, idx_gap: usize) -> (u64, u64) {
        let start = match idx_gap {
            0 => 0,
            _ => self.reserved[idx_gap - 1].end(),
        };
        let end = self
            .reserved
            .get(idx_gap)
            .map_or(u64::MAX, |region| region.base);
        (start, end)
    }
}

impl Iterator for FreeMemRanges<'_> {
    type Item = (u64, u64);

    fn next(&mut self) -> Option<(u64, u64)> {
        // Every pass moves one index forward. `idx_gap` never passes `reserved.len()`: the last
        // gap ends at u64::MAX, at or beyond the end of any memory region, so on the last gap it
        // is always `idx_memory` that moves.
        loop {
            let memory = self.memory.get(self.idx_memory)?;
            let (gap_start, gap_end) = self.reserved_gap(self.idx_gap);
            if gap_start >= memory.end() {
                // This gap (and every later one) lies above the memory region.
                self.idx_memory += 1;
            } else if gap_end <= memory.base {
                // This gap lies below the memory region.
                self.idx_gap += 1;
            } else {
                let free = (memory.base.max(gap_start), memory.end().min(gap_end));
                if memory.end() <= gap_end {
                    self.idx_memory += 1;
                } else {
                    self.idx_gap += 1;
                }
                return Some(free);
            }
        }
    }
}

/// One entry of the firmware memory map as the boot loader reports it.
#[derive(Clone, Copy, Debug)]
pub struct BootMemoryEntry {
    /// Physical address of the first byte.
    pub base: u64,
    /// Length in bytes.
    pub size: u64,
    /// `true` for RAM the OS may use (Multiboot2 type 1, e820 `E820_RAM`); `false` for
    /// everything else — reserved, ACPI, NVS, bad memory.
    pub usable: bool,
}

/// What [`memblock_x86_fill`] did with the firmware map; every byte it did not add is in one of
/// these counters, and each was also logged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemblockFillReport {
    /// Net growth of `memblock.memory`, in bytes.
    pub added_bytes: u64,
    /// Usable bytes at or above [`MAX_PHYS_ADDR`], dropped because a non-PAE kernel cannot
    /// address them.
    pub ignored_above_4g_bytes: u64,
    /// Usable bytes lost to trimming RAM regions to whole pages.
    pub trimmed_bytes: u64,
    /// Usable bytes that a non-usable entry also claimed; the non-usable entry wins.
    pub reserved_overlap_bytes: u64,
    /// Entries ignored as malformed: zero length, or wrapping around the address space.
    pub skipped_entries: usize,
    /// Entries that could not be applied because a region array was full (logged as errors).
    pub failed_entries: usize,
}

/// Adds the usable RAM of the firmware memory map to `memblock.memory`
/// (Linux `memblock_x86_fill`, with the part of `sanitize_e820_map` that matters here).
///
/// 1. Skip malformed entries (zero length, or `base + size` wrapping), with a warning.
/// 2. Usable entries: drop what lies at or above [`MAX_PHYS_ADDR`] (QEMU with `-m 4G` or more
///    puts RAM there), with a log line per entry, and add the rest. Entries may come in any
///    order and overlap each other: `add` merges.
/// 3. Non-usable entries below 4 GiB are collected in a scratch list. The firmware may
///    contradict itself and report a range both as RAM and as reserved; Linux's
///    `sanitize_e820_map()` lets the reserved type win, and so do we: each collected range is cut
///    out of `memory`, with a warning. (The scratch list is a third [`MemblockType`], 2 KiB on
///    the boot stack.)
/// 4. Trim the RAM regions to whole pages (Linux calls `memblock_trim_memory(PAGE_SIZE)` here
///    too). Trimming after merging, not entry by entry, keeps a page that two adjacent entries
///    split between them.
///
/// A full region array is logged and counted in [`MemblockFillReport::failed_entries`]; the
/// arrays stay consistent. Call it once, on an empty `memblock`, before anything is reserved.
pub fn memblock_x86_fill(
    memblock: &mut Memblock,
    entries: impl IntoIterator<Item = BootMemoryEntry>,
) -> MemblockFillReport {
    let mut report = MemblockFillReport::default();
    let size_before = memblock.phys_mem_size();
    let mut firmware_reserved = MemblockType::new("firmware-reserved");

    for entry in entries {
        let Some(end) = entry.base.checked_add(entry.size) else {
            log::warn!(
                "memblock: map entry at {:#x} of {:#x} bytes wraps around the address space; ignored",
                entry.base,
                entry.size
            );
            report.skipped_entries += 1;
            continue;
        };
        if entry.size == 0 {
            log::warn!(
                "memblock: zero-length map entry at {:#x} ignored",
                entry.base
            );
            report.skipped_entries += 1;
            continue;
        }
        if !entry.usable {
            // Only the part below 4 GiB can collide with RAM we keep.
            let end = end.min(MAX_PHYS_ADDR);
            if entry.base < end
                && firmware_reserved
                    .memblock_add_range(entry.base, end)
                    .is_err()
            {
                report.failed_entries += 1;
            }
            continue;
        }
        let usable_end = end.min(MAX_PHYS_ADDR);
        if usable_end < end {
            let ignored = MemblockRegion::from_range(entry.base.max(MAX_PHYS_ADDR), end);
            log::warn!(
                "memblock: RAM {} ({}MB) above 4096MB ignored: no PAE, only the low 4GB is addressable",
                ignored,
                ignored.size >> 20
            );
            report.ignored_above_4g_bytes += ignored.size;
        }
        if entry.base < usable_end
            && memblock
                .memory
                .memblock_add_range(entry.base, usable_end)
                .is_err()
        {
            report.failed_entries += 1;
        }
    }

    for claimed in firmware_reserved.regions() {
        if !memblock
            .memory
            .memblock_overlaps_region(claimed.base, claimed.end())
        {
            continue;
        }
        log::warn!(
            "memblock: map reports {claimed} both usable and reserved; treating it as reserved"
        );
        let size = memblock.memory.total_size();
        match memblock
            .memory
            .memblock_remove_range(claimed.base, claimed.end())
        {
            Ok(()) => report.reserved_overlap_bytes += size - memblock.memory.total_size(),
            Err(_) => report.failed_entries += 1,
        }
    }

    report.trimmed_bytes = memblock.trim_memory(PAGE_SIZE as u64);
    report.added_bytes = memblock.phys_mem_size().saturating_sub(size_before);
    log::info!(
        "memblock: {}KB usable RAM in {} regions",
        memblock.phys_mem_size() >> 10,
        memblock.memory.regions().len()
    );
    report
}

#[cfg(all(test, not(target_os = "none")))]
mod tests {
    use super::*;

    /// `(base, end)` pairs of a list, for compact assertions.
    fn ranges(list: &MemblockType) -> Vec<(u64, u64)> {
        list.regions()
            .iter()
            .map(|region| (region.base, region.end()))
            .collect()
    }

    /// Both lists as `(base, end)` pairs, and the allocation limit.
    type Snapshot = (Vec<(u64, u64)>, Vec<(u64, u64)>, u64);

    /// Snapshot of both lists and the limit, to prove a refused operation changed nothing.
    fn snapshot(memblock: &Memblock) -> Snapshot {
        (
            ranges(&memblock.memory),
            ranges(&memblock.reserved),
            memblock.current_limit(),
        )
    }

    /// The list invariants: sorted, non-empty regions, at least one byte between neighbours,
    /// unused slots cleared.
    fn check_invariants(list: &MemblockType) {
        let regions = list.regions();
        assert!(regions.len() <= INIT_MEMBLOCK_REGIONS);
        for region in regions {
            assert!(region.size > 0, "{}: empty region {region:?}", list.name());
            assert!(region.base.checked_add(region.size).is_some());
        }
        for pair in regions.windows(2) {
            assert!(
                pair[0].end() < pair[1].base,
                "{}: unsorted, overlapping or unmerged: {:?} then {:?}",
                list.name(),
                pair[0],
                pair[1]
            );
        }
        assert!(
            list.regions[list.cnt..]
                .iter()
                .all(|slot| *slot == MemblockRegion::EMPTY)
        );
    }

    fn usable(base: u64, end: u64) -> BootMemoryEntry {
        BootMemoryEntry {
            base,
            size: end - base,
            usable: true,
        }
    }

    fn firmware(base: u64, end: u64) -> BootMemoryEntry {
        BootMemoryEntry {
            base,
            size: end - base,
            usable: false,
        }
    }

    /// 128 one-page RAM regions with one-page holes between them: the memory array is full.
    fn full_memory() -> Memblock {
        let mut memblock = Memblock::new();
        for idx in 0..INIT_MEMBLOCK_REGIONS as u64 {
            memblock.add(0x10_0000 + idx * 0x2000, 0x1000).unwrap();
        }
        assert_eq!(memblock.memory.regions().len(), INIT_MEMBLOCK_REGIONS);
        memblock
    }

    #[test]
    fn add_merges_adjacent_regions() {
        let mut memblock = Memblock::new();
        memblock.add(0x1000, 0x1000).unwrap();
        memblock.add(0x2000, 0x1000).unwrap();
        memblock.add(0x0, 0x1000).unwrap();
        assert_eq!(ranges(&memblock.memory), [(0x0, 0x3000)]);
        assert_eq!(memblock.phys_mem_size(), 0x3000);
    }

    #[test]
    fn add_merges_overlapping_and_ignores_contained() {
        let mut memblock = Memblock::new();
        memblock.add(0x1000, 0x3000).unwrap();
        memblock.add(0x3000, 0x2000).unwrap();
        assert_eq!(ranges(&memblock.memory), [(0x1000, 0x5000)]);
        memblock.add(0x2000, 0x1000).unwrap();
        assert_eq!(ranges(&memblock.memory), [(0x1000, 0x5000)]);
        memblock.add(0x0, 0x8000).unwrap();
        assert_eq!(ranges(&memblock.memory), [(0x0, 0x8000)]);
        check_invariants(&memblock.memory);
    }

    #[test]
    fn add_sorts_unsorted_input_and_bridges_gaps() {
        let mut memblock = Memblock::new();
        for base in [0x9000, 0x1000, 0x5000, 0x3000, 0x7000] {
            memblock.add(base, 0x1000).unwrap();
        }
        assert_eq!(
            ranges(&memblock.memory),
            [
                (0x1000, 0x2000),
                (0x3000, 0x4000),
                (0x5000, 0x6000),
                (0x7000, 0x8000),
                (0x9000, 0xa000)
            ]
        );
        // One range filling all four gaps (ending exactly where the last region starts) merges
        // the five regions into one.
        memblock.add(0x1800, 0x7800).unwrap();
        assert_eq!(ranges(&memblock.memory), [(0x1000, 0xa000)]);
        check_invariants(&memblock.memory);
    }

    #[test]
    fn add_at_the_top_of_the_address_space() {
        let mut memblock = Memblock::new();
        memblock.add(u64::MAX - 0x1000, 0x1000).unwrap();
        assert_eq!(memblock.end_of_ram(), u64::MAX);
        assert!(memblock.is_memory(u64::MAX - 1));
        assert_eq!(
            memblock.free_mem_ranges().collect::<Vec<_>>(),
            [(u64::MAX - 0x1000, u64::MAX)]
        );
    }

    #[test]
    fn remove_splits_a_region() {
        let mut memblock = Memblock::new();
        memblock.add(0x0, 0x10000).unwrap();
        memblock.remove(0x4000, 0x2000).unwrap();
        assert_eq!(ranges(&memblock.memory), [(0x0, 0x4000), (0x6000, 0x10000)]);
        assert_eq!(memblock.phys_mem_size(), 0xe000);
        check_invariants(&memblock.memory);
    }

    #[test]
    fn remove_across_several_regions_and_outside_memory() {
        let mut memblock = Memblock::new();
        for base in [0x0, 0x4000, 0x8000, 0xc000] {
            memblock.add(base, 0x2000).unwrap();
        }
        memblock.remove(0x1000, 0x8000).unwrap();
        assert_eq!(
            ranges(&memblock.memory),
            [(0x0, 0x1000), (0x9000, 0xa000), (0xc000, 0xe000)]
        );
        // Entirely in a hole, or beyond all RAM: nothing to cut.
        memblock.remove(0xa000, 0x2000).unwrap();
        memblock.remove(0x100000, 0x1000).unwrap();
        assert_eq!(
            ranges(&memblock.memory),
            [(0x0, 0x1000), (0x9000, 0xa000), (0xc000, 0xe000)]
        );
        // Exactly one whole region.
        memblock.remove(0x9000, 0x1000).unwrap();
        assert_eq!(ranges(&memblock.memory), [(0x0, 0x1000), (0xc000, 0xe000)]);
        memblock.remove(0x0, 0x100000).unwrap();
        assert!(memblock.memory.regions().is_empty());
        check_invariants(&memblock.memory);
    }

    #[test]
    fn reserve_and_free_work_on_the_reserved_list_only() {
        let mut memblock = Memblock::new();
        memblock.add(0x0, 0x100000).unwrap();
        memblock.reserve(0x10000, 0x4000).unwrap();
        memblock.reserve(0x14000, 0x1000).unwrap();
        memblock.reserve(0x90000, 0x800).unwrap();
        assert_eq!(
            ranges(&memblock.reserved),
            [(0x10000, 0x15000), (0x90000, 0x90800)]
        );
        assert_eq!(memblock.reserved.total_size(), 0x5800);
        memblock.free(0x11000, 0x1000).unwrap();
        assert_eq!(
            ranges(&memblock.reserved),
            [(0x10000, 0x11000), (0x12000, 0x15000), (0x90000, 0x90800)]
        );
        memblock.free(0x90000, 0x800).unwrap();
        assert_eq!(
            ranges(&memblock.reserved),
            [(0x10000, 0x11000), (0x12000, 0x15000)]
        );
        assert_eq!(ranges(&memblock.memory), [(0x0, 0x100000)]);
        // Reserving outside RAM is allowed, as in Linux.
        memblock.reserve(0x200000, 0x1000).unwrap();
        assert!(memblock.is_region_reserved(0x200000, 1));
        check_invariants(&memblock.reserved);
    }

    #[test]
    fn free_ranges_are_memory_minus_reserved() {
        let mut memblock = Memblock::new();
        assert_eq!(memblock.free_mem_ranges().count(), 0);
        memblock.add(0x0, 0x9f000).unwrap();
        memblock.add(0x100000, 0x700000).unwrap();
        assert_eq!(
            memblock.free_mem_ranges().collect::<Vec<_>>(),
            [(0x0, 0x9f000), (0x100000, 0x800000)]
        );
        memblock.reserve(0x0, 0x1000).unwrap(); // at the very start of RAM
        memblock.reserve(0x9e000, 0x80000).unwrap(); // straddles the hole below 1 MiB
        memblock.reserve(0x200000, 0x100000).unwrap(); // inside a region
        memblock.reserve(0x7ff000, 0x100000).unwrap(); // past the end of RAM
        memblock.reserve(0x900000, 0x1000).unwrap(); // outside RAM altogether
        assert_eq!(
            memblock.free_mem_ranges().collect::<Vec<_>>(),
            [
                (0x1000, 0x9e000),
                (0x11e000, 0x200000),
                (0x300000, 0x7ff000)
            ]
        );
        // Everything reserved: nothing free.
        memblock.reserve(0x0, 0x1000000).unwrap();
        assert_eq!(memblock.free_mem_ranges().count(), 0);
    }

    #[test]
    fn alloc_is_top_down_aligned_and_reserves() {
        let mut memblock = Memblock::new();
        memblock.add(0x0, 0x9f000).unwrap();
        memblock.add(0x100000, 0x300000).unwrap(); // [1 MiB, 4 MiB)
        memblock.reserve(0x3ff000, 0x1000).unwrap();

        let first = memblock.alloc(0x1000, 0x1000).unwrap();
        assert_eq!(first, 0x3fe000);
        let second = memblock.alloc(0x800, 0x1000).unwrap();
        assert_eq!(second, 0x3fd000);
        // Below the 0x800 bytes just reserved at 0x3fd000, aligned down to 64 KiB.
        let third = memblock.alloc(0x10000, 0x10000).unwrap();
        assert_eq!(third, 0x3e0000);
        assert_eq!(
            ranges(&memblock.reserved),
            [
                (0x3e0000, 0x3f0000),
                (0x3fd000, 0x3fd800),
                (0x3fe000, 0x400000)
            ]
        );
        // With align 1 the half page left free at 0x3fd800 is the highest fit.
        assert_eq!(memblock.alloc(0x10, 1), Some(0x3fdff0));
        assert_eq!(ranges(&memblock.reserved)[2], (0x3fdff0, 0x400000));
        check_invariants(&memblock.reserved);
    }

    #[test]
    fn alloc_honours_current_limit_and_max_addr() {
        let mut memblock = Memblock::new();
        memblock.add(0x0, 0x1000000).unwrap();
        memblock.set_current_limit(0x800000);
        assert_eq!(memblock.current_limit(), 0x800000);
        assert_eq!(memblock.alloc(0x1000, 0x1000), Some(0x7ff000));
        assert_eq!(
            memblock.alloc_base(0x1000, 0x1000, 0x400000),
            Some(0x3ff000)
        );
        // A max_addr above the limit does not lift the limit.
        assert_eq!(
            memblock.alloc_base(0x1000, 0x1000, MEMBLOCK_ALLOC_ANYWHERE),
            Some(0x7fe000)
        );
        // A block that does not fit below the bound fails, even though RAM above it is free.
        assert_eq!(memblock.alloc_base(0x2000, 0x1000, 0x1800), None);
    }

    #[test]
    fn alloc_never_returns_the_first_page() {
        let mut memblock = Memblock::new();
        memblock.add(0x0, 0x2000).unwrap();
        assert_eq!(memblock.alloc(0x1000, 0x1000), Some(0x1000));
        assert_eq!(memblock.alloc(0x1000, 0x1000), None);
        assert_eq!(ranges(&memblock.reserved), [(0x1000, 0x2000)]);
    }

    #[test]
    fn alloc_failures_leave_everything_unchanged() {
        let mut memblock = Memblock::new();
        memblock.add(0x100000, 0x4000).unwrap();
        memblock.reserve(0x101000, 0x1000).unwrap();
        let before = snapshot(&memblock);
        assert_eq!(memblock.alloc(0x3000, 0x1000), None); // no hole that big
        assert_eq!(memblock.alloc(0x1000, 0x3000), None); // align not a power of two
        assert_eq!(memblock.alloc(0x1000, 0), None); // align zero
        assert_eq!(memblock.alloc(0, 0x1000), None); // size zero
        assert_eq!(memblock.alloc(u64::MAX, 1), None); // larger than the address space
        assert_eq!(snapshot(&memblock), before);
        // Use up the RAM, then nothing is left.
        assert_eq!(memblock.alloc(0x2000, 0x1000), Some(0x102000));
        assert_eq!(memblock.alloc(0x1000, 0x1000), Some(0x100000));
        assert_eq!(memblock.free_mem_ranges().count(), 0);
        assert_eq!(memblock.alloc(0x1, 1), None);
        assert_eq!(ranges(&memblock.reserved), [(0x100000, 0x104000)]);
    }

    #[test]
    fn full_array_refuses_growth_and_changes_nothing() {
        let mut memblock = full_memory();
        let before = snapshot(&memblock);
        assert_eq!(
            memblock.add(0x1, 0x10),
            Err(MemblockError::ArrayFull { array: "memory" })
        );
        // Cutting a hole strictly inside one region would need a 129th slot.
        assert_eq!(
            memblock.remove(0x10_0400, 0x100),
            Err(MemblockError::ArrayFull { array: "memory" })
        );
        assert_eq!(snapshot(&memblock), before);
        check_invariants(&memblock.memory);
    }

    #[test]
    fn full_array_still_accepts_operations_that_do_not_grow_it() {
        let mut memblock = full_memory();
        // Touching an existing region: merged, no new slot.
        memblock.add(0x10_1000, 0x800).unwrap();
        assert_eq!(memblock.memory.regions().len(), INIT_MEMBLOCK_REGIONS);
        // Bridging two regions: one slot freed. (Linux's insert-then-merge would need a spare.)
        memblock.add(0x10_3000, 0x1000).unwrap();
        assert_eq!(memblock.memory.regions().len(), INIT_MEMBLOCK_REGIONS - 1);
        assert_eq!(ranges(&memblock.memory)[1], (0x10_2000, 0x10_5000));
        // Refill, then trim the edges of two regions at once: still 128 regions.
        memblock.add(0x1000, 0x1000).unwrap();
        assert_eq!(memblock.memory.regions().len(), INIT_MEMBLOCK_REGIONS);
        memblock.remove(0x10_6800, 0x2000).unwrap();
        assert_eq!(
            ranges(&memblock.memory)[3..5],
            [(0x10_6000, 0x10_6800), (0x10_8800, 0x10_9000)]
        );
        assert_eq!(memblock.memory.regions().len(), INIT_MEMBLOCK_REGIONS);
        check_invariants(&memblock.memory);
    }

    #[test]
    fn alloc_fails_cleanly_when_reserved_is_full() {
        let mut memblock = Memblock::new();
        memblock.add(0x0, 0x1000000).unwrap();
        for idx in 0..INIT_MEMBLOCK_REGIONS as u64 {
            memblock.reserve(0x1000 + idx * 0x2000, 0x1000).unwrap();
        }
        // The top of RAM is free but not next to any reservation: a 129th region is needed.
        let before = snapshot(&memblock);
        assert_eq!(memblock.alloc(0x1000, 0x1000), None);
        assert_eq!(snapshot(&memblock), before);
        // The topmost free page that touches a reservation can still be had by bounding the
        // search: the last reservation ends at 0x100000, so the block lands right above it.
        assert_eq!(
            memblock.alloc_base(0x1000, 0x1000, 0x101000),
            Some(0x100000)
        );
        assert_eq!(memblock.reserved.regions().len(), INIT_MEMBLOCK_REGIONS);
    }

    #[test]
    fn zero_length_is_a_no_op() {
        let mut memblock = Memblock::new();
        memblock.add(0x1000, 0x1000).unwrap();
        memblock.reserve(0x1000, 0x100).unwrap();
        let before = snapshot(&memblock);
        assert_eq!(memblock.add(0x5000, 0), Ok(()));
        assert_eq!(memblock.remove(0x1000, 0), Ok(()));
        assert_eq!(memblock.reserve(0x1800, 0), Ok(()));
        assert_eq!(memblock.free(0x1000, 0), Ok(()));
        assert_eq!(snapshot(&memblock), before);
        assert!(!memblock.is_region_reserved(0x1000, 0));
    }

    #[test]
    fn overflowing_ranges_are_refused() {
        let mut memblock = Memblock::new();
        memblock.add(0x1000, 0x1000).unwrap();
        let before = snapshot(&memblock);
        let overflow = MemblockError::Overflow {
            base: u64::MAX - 0xfff,
            size: 0x1000,
        };
        assert_eq!(memblock.add(u64::MAX - 0xfff, 0x1000), Err(overflow));
        assert_eq!(memblock.remove(u64::MAX - 0xfff, 0x1000), Err(overflow));
        assert_eq!(memblock.reserve(u64::MAX - 0xfff, 0x1000), Err(overflow));
        assert_eq!(memblock.free(u64::MAX - 0xfff, 0x1000), Err(overflow));
        assert_eq!(snapshot(&memblock), before);
        // Exactly reaching the top is not an overflow.
        assert_eq!(memblock.reserve(u64::MAX - 0x1000, 0x1000), Ok(()));
    }

    #[test]
    fn queries() {
        let mut memblock = Memblock::new();
        assert_eq!((memblock.start_of_ram(), memblock.end_of_ram()), (0, 0));
        assert!(!memblock.is_memory(0));
        memblock.add(0x1000, 0x9e000).unwrap();
        memblock.add(0x100000, 0x7fee0000).unwrap();
        memblock.reserve(0x100000, 0x200000).unwrap();
        assert_eq!(memblock.start_of_ram(), 0x1000);
        assert_eq!(memblock.end_of_ram(), 0x7ffe0000);
        assert_eq!(memblock.phys_mem_size(), 0x7ff7e000);
        assert!(!memblock.is_memory(0xfff));
        assert!(memblock.is_memory(0x1000));
        assert!(memblock.is_memory(0x9efff));
        assert!(!memblock.is_memory(0x9f000));
        assert!(memblock.is_memory(0x7ffdffff));
        assert!(!memblock.is_memory(0x7ffe0000));
        assert!(memblock.is_region_reserved(0xff000, 0x1001));
        assert!(!memblock.is_region_reserved(0xff000, 0x1000));
        assert!(memblock.is_region_reserved(0x2ff000, 0x1000));
        assert!(!memblock.is_region_reserved(0x300000, 0x1000));
        assert!(memblock.is_region_reserved(0x0, u64::MAX));
    }

    #[test]
    fn dump_prints_linux_format() {
        let mut memblock = Memblock::new();
        memblock.add(0x1000, 0x9e000).unwrap();
        memblock.add(0x100000, 0x7fee0000).unwrap();
        memblock.reserve(0x100000, 0x1234000).unwrap();
        let mut lines = Vec::new();
        memblock.dump_to(&mut |line| lines.push(line.to_string()));
        assert_eq!(
            lines,
            [
                "MEMBLOCK configuration:",
                " memory size = 0x7ff7e000 reserved size = 0x1234000",
                " memory.cnt  = 0x2",
                " memory[0x0]\t[0x00000000001000-0x0000000009efff], 0x9e000 bytes",
                " memory[0x1]\t[0x00000000100000-0x0000007ffdffff], 0x7fee0000 bytes",
                " reserved.cnt  = 0x1",
                " reserved[0x0]\t[0x00000000100000-0x00000001333fff], 0x1234000 bytes",
            ]
        );
        let mut empty = Vec::new();
        Memblock::new().dump_to(&mut |line| empty.push(line.to_string()));
        assert_eq!(
            empty[1..],
            [
                " memory size = 0x0 reserved size = 0x0",
                " memory.cnt  = 0x0",
                " reserved.cnt  = 0x0"
            ]
        );
    }

    #[test]
    fn display_formats() {
        let region = MemblockRegion {
            base: 0x100000,
            size: 0x7fee0000,
        };
        assert_eq!(
            region.to_string(),
            "[mem 0x0000000000100000-0x000000007ffdffff]"
        );
        assert_eq!(
            MemblockRegion {
                base: 0x10,
                size: 0
            }
            .to_string(),
            "[mem 0x0000000000000010 (empty)]"
        );
        assert_eq!(
            MemblockError::ArrayFull { array: "reserved" }.to_string(),
            "memblock.reserved is full (128 regions) and cannot grow"
        );
        assert_eq!(
            MemblockError::Overflow {
                base: 0xffff_ffff_ffff_f000,
                size: 0x2000
            }
            .to_string(),
            "range at 0xfffffffffffff000 of 0x2000 bytes wraps past the end of the address space"
        );
    }

    /// The memory map QEMU's SeaBIOS reports for `-m 6G` (as the issue lists it).
    fn qemu_map() -> Vec<BootMemoryEntry> {
        vec![
            usable(0x0, 0x9fc00),
            firmware(0x9fc00, 0xa0000),
            firmware(0xf0000, 0x100000),
            usable(0x100000, 0x7ffe0000),
            firmware(0x7ffe0000, 0x80000000),
            firmware(0xfffc0000, 0x1_0000_0000),
            usable(0x1_0000_0000, 0x1_c000_0000),
        ]
    }

    #[test]
    fn fill_from_qemu_map_drops_ram_above_4g() {
        let mut memblock = Memblock::new();
        let report = memblock_x86_fill(&mut memblock, qemu_map());
        assert_eq!(
            ranges(&memblock.memory),
            [(0x0, 0x9f000), (0x100000, 0x7ffe0000)]
        );
        assert!(memblock.reserved.regions().is_empty());
        assert_eq!(
            report,
            MemblockFillReport {
                added_bytes: 0x9f000 + 0x7fee0000,
                ignored_above_4g_bytes: 0xc000_0000,
                trimmed_bytes: 0xc00,
                reserved_overlap_bytes: 0,
                skipped_entries: 0,
                failed_entries: 0,
            }
        );
        assert_eq!(memblock.end_of_ram(), 0x7ffe0000);
    }

    #[test]
    fn fill_clips_an_entry_straddling_4g() {
        let mut memblock = Memblock::new();
        let report = memblock_x86_fill(&mut memblock, [usable(0xc000_0000, 0x1_4000_0000)]);
        assert_eq!(ranges(&memblock.memory), [(0xc000_0000, MAX_PHYS_ADDR)]);
        assert_eq!(report.ignored_above_4g_bytes, 0x4000_0000);
        assert_eq!(report.added_bytes, 0x4000_0000);
    }

    #[test]
    fn fill_trims_unaligned_entries_to_whole_pages() {
        let mut memblock = Memblock::new();
        let report = memblock_x86_fill(
            &mut memblock,
            [
                usable(0x1234, 0x5678),       // -> [0x2000, 0x5000)
                usable(0x10_0800, 0x10_1800), // no whole page: dropped
                usable(0x20_0000, 0x20_0800), // these two halves make one page together
                usable(0x20_0800, 0x20_1000),
            ],
        );
        assert_eq!(
            ranges(&memblock.memory),
            [(0x2000, 0x5000), (0x20_0000, 0x20_1000)]
        );
        assert_eq!(
            report.trimmed_bytes,
            (0x2000 - 0x1234) + (0x5678 - 0x5000) + 0x1000
        );
        assert_eq!(report.added_bytes, 0x4000);
    }

    #[test]
    fn fill_merges_unsorted_and_overlapping_usable_entries() {
        let mut memblock = Memblock::new();
        let report = memblock_x86_fill(
            &mut memblock,
            [
                usable(0x100000, 0x800000),
                usable(0x0, 0x9f000),
                usable(0x400000, 0x1000000),
            ],
        );
        assert_eq!(
            ranges(&memblock.memory),
            [(0x0, 0x9f000), (0x100000, 0x1000000)]
        );
        assert_eq!(report.added_bytes, 0x9f000 + 0xf00000);
        assert_eq!(report.reserved_overlap_bytes, 0);
    }

    #[test]
    fn fill_lets_reserved_entries_win_over_usable_ones() {
        let mut memblock = Memblock::new();
        let report = memblock_x86_fill(
            &mut memblock,
            [
                firmware(0x300000, 0x300800), // listed before the RAM it punches into
                usable(0x100000, 0x800000),
                firmware(0x7ff000, 0x900000),
            ],
        );
        // The half page left at 0x300800 is trimmed away too.
        assert_eq!(
            ranges(&memblock.memory),
            [(0x100000, 0x300000), (0x301000, 0x7ff000)]
        );
        assert_eq!(report.reserved_overlap_bytes, 0x800 + 0x1000);
        assert_eq!(report.trimmed_bytes, 0x800);
        assert_eq!(report.added_bytes, 0x6fe000);
    }

    #[test]
    fn fill_skips_malformed_entries() {
        let mut memblock = Memblock::new();
        let report = memblock_x86_fill(
            &mut memblock,
            [
                BootMemoryEntry {
                    base: 0x100000,
                    size: 0,
                    usable: true,
                },
                BootMemoryEntry {
                    base: u64::MAX - 0xfff,
                    size: 0x2000,
                    usable: true,
                },
                BootMemoryEntry {
                    base: 0x5000,
                    size: 0,
                    usable: false,
                },
                usable(0x100000, 0x200000),
            ],
        );
        assert_eq!(ranges(&memblock.memory), [(0x100000, 0x200000)]);
        assert_eq!(report.skipped_entries, 3);
        assert_eq!(report.failed_entries, 0);
        assert_eq!(report.added_bytes, 0x100000);
    }

    #[test]
    fn fill_reports_a_full_memory_array() {
        let mut memblock = Memblock::new();
        let entries: Vec<_> = (0..=INIT_MEMBLOCK_REGIONS as u64)
            .map(|idx| usable(idx * 0x2000, idx * 0x2000 + 0x1000))
            .collect();
        let report = memblock_x86_fill(&mut memblock, entries);
        assert_eq!(report.failed_entries, 1);
        assert_eq!(memblock.memory.regions().len(), INIT_MEMBLOCK_REGIONS);
        assert_eq!(report.added_bytes, INIT_MEMBLOCK_REGIONS as u64 * 0x1000);
        check_invariants(&memblock.memory);
    }

    #[test]
    fn trim_memory_rejects_a_bad_alignment() {
        let mut memblock = Memblock::new();
        memblock.add(0x1234, 0x1000).unwrap();
        assert_eq!(memblock.trim_memory(0x3000), 0);
        assert_eq!(ranges(&memblock.memory), [(0x1234, 0x2234)]);
    }

    #[test]
    fn usable_in_a_static() {
        static MEMBLOCK: spin::Mutex<Memblock> = spin::Mutex::new(Memblock::new());
        let mut memblock = MEMBLOCK.lock();
        memblock.add(0x100000, 0x100000).unwrap();
        assert_eq!(memblock.alloc(0x1000, 0x1000), Some(0x1ff000));
    }

    use crate::xorshift::XorShift64 as XorShift;

    /// The model's granule: every address in the randomized test is a multiple of it.
    const UNIT: u64 = 0x100;
    /// Size of the model's address space, in granules (512 KiB).
    const UNITS: usize = 2048;

    /// Maximal runs of `true` in a bitmap, as `(base, end)` byte ranges: exactly what a sorted,
    /// merged region list must contain.
    fn runs(bits: &[bool]) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let mut start = None;
        for (idx, &bit) in bits.iter().chain([false].iter()).enumerate() {
            match (bit, start) {
                (true, None) => start = Some(idx),
                (false, Some(first)) => {
                    out.push((first as u64 * UNIT, idx as u64 * UNIT));
                    start = None;
                }
                _ => {}
            }
        }
        out
    }

    /// Highest `align`-aligned base at or above the first page where `size` bytes are memory and
    /// not reserved, ending at or below `limit`: what a top-down `alloc_base` must return.
    fn model_alloc(
        memory: &[bool],
        reserved: &[bool],
        size: u64,
        align: u64,
        limit: u64,
    ) -> Option<u64> {
        let top = limit.min(UNITS as u64 * UNIT).checked_sub(size)?;
        let mut base = top & !(align - 1);
        loop {
            if base < PAGE_SIZE as u64 {
                return None;
            }
            let units = (base / UNIT) as usize..((base + size) / UNIT) as usize;
            if units.clone().all(|unit| memory[unit] && !reserved[unit]) {
                return Some(base);
            }
            base = base.checked_sub(align)?;
        }
    }

    /// Applies random operations to a `Memblock` and to a bitmap model in lockstep, and after
    /// every step checks the lists against the model's runs, the invariants, and the free ranges.
    /// A refused operation must be one whose result really needs more than 128 regions, and must
    /// leave the lists unchanged.
    fn randomized(seed: u64) {
        let mut rng = XorShift(seed);
        let mut memblock = Memblock::new();
        let mut memory = vec![false; UNITS];
        let mut reserved = vec![false; UNITS];
        let (mut refused_memory, mut refused_reserved, mut allocated) = (0, 0, 0);

        for step in 0..10_000 {
            match rng.below_u64(10) {
                kind @ 0..=7 => {
                    let first = rng.below_u64(UNITS as u64) as usize;
                    let len = (if rng.below_u64(16) == 0 {
                        rng.below_u64(64)
                    } else {
                        rng.below_u64(5)
                    }) as usize;
                    let len = len.min(UNITS - first);
                    let (base, size) = (first as u64 * UNIT, len as u64 * UNIT);
                    let (bits, name, set, result) = match kind % 4 {
                        0 => (&mut memory, "memory", true, memblock.add(base, size)),
                        1 => (&mut memory, "memory", false, memblock.remove(base, size)),
                        2 => (
                            &mut reserved,
                            "reserved",
                            true,
                            memblock.reserve(base, size),
                        ),
                        _ => (&mut reserved, "reserved", false, memblock.free(base, size)),
                    };
                    let mut expected = bits.clone();
                    expected[first..first + len].fill(set);
                    match result {
                        Ok(()) => *bits = expected,
                        Err(MemblockError::ArrayFull { array }) => {
                            assert_eq!(array, name, "step {step}");
                            assert!(
                                runs(&expected).len() > INIT_MEMBLOCK_REGIONS,
                                "step {step}: refused needlessly"
                            );
                            match array {
                                "memory" => refused_memory += 1,
                                _ => refused_reserved += 1,
                            }
                        }
                        Err(error) => panic!("step {step}: unexpected {error:?}"),
                    }
                }
                8 => {
                    let size = (1 + rng.below_u64(8)) * UNIT;
                    let align = UNIT << rng.below_u64(7);
                    let max_addr = match rng.below_u64(2) {
                        0 => MEMBLOCK_ALLOC_ANYWHERE,
                        _ => rng.below_u64(UNITS as u64 + 1) * UNIT,
                    };
                    let limit = max_addr.min(memblock.current_limit());
                    let got = memblock.alloc_base(size, align, max_addr);
                    match model_alloc(&memory, &reserved, size, align, limit) {
                        None => assert_eq!(got, None, "step {step}"),
                        Some(base) => {
                            let mut expected = reserved.clone();
                            expected[(base / UNIT) as usize..((base + size) / UNIT) as usize]
                                .fill(true);
                            if runs(&expected).len() > INIT_MEMBLOCK_REGIONS {
                                assert_eq!(got, None, "step {step}");
                            } else {
                                assert_eq!(got, Some(base), "step {step}");
                                reserved = expected;
                                allocated += 1;
                            }
                        }
                    }
                }
                _ => {
                    let limit = match rng.below_u64(4) {
                        0 => MEMBLOCK_ALLOC_ANYWHERE,
                        _ => rng.below_u64(UNITS as u64 + 1) * UNIT,
                    };
                    memblock.set_current_limit(limit);
                }
            }

            check_invariants(&memblock.memory);
            check_invariants(&memblock.reserved);
            assert_eq!(
                ranges(&memblock.memory),
                runs(&memory),
                "step {step}: memory"
            );
            assert_eq!(
                ranges(&memblock.reserved),
                runs(&reserved),
                "step {step}: reserved"
            );
            let free: Vec<bool> = memory
                .iter()
                .zip(&reserved)
                .map(|(&m, &r)| m && !r)
                .collect();
            assert_eq!(
                memblock.free_mem_ranges().collect::<Vec<_>>(),
                runs(&free),
                "step {step}: free"
            );
            assert_eq!(
                memblock.phys_mem_size(),
                memory.iter().filter(|&&bit| bit).count() as u64 * UNIT
            );
        }
        // The test must have exercised the full-array path and successful allocations.
        assert!(refused_memory > 0, "no operation hit a full memory array");
        assert!(
            refused_reserved > 0,
            "no operation hit a full reserved array"
        );
        assert!(allocated > 0, "no allocation succeeded");
    }

    #[test]
    fn randomized_against_bitmap_model() {
        for seed in [0x9e37_79b9_7f4a_7c15, 0xdead_beef_cafe_f00d, 1] {
            randomized(seed);
        }
    }
}

/// The machine's boot memory map (Linux's global `struct memblock memblock`).
/// Filled by `setup_arch`, used by the early allocations, and read one
/// last time by `mem_init` when its free ranges go to the buddy allocator.
#[doc(alias = "memblock")]
pub static MEMBLOCK: spin::Mutex<Memblock> = spin::Mutex::new(Memblock::new());
