//! # Page frames: `struct page` and `mem_map`
//!
//! Picture a global array with one small record for every 4 KiB page frame of
//! physical memory: entry `n` describes the frame that starts at physical
//! address `n << PAGE_SHIFT`. Linux calls a record a *page descriptor*
//! (`struct page`) and the array `mem_map`; the index is the *page frame
//! number* (PFN). Every allocator above this level (buddy, per-CPU lists, slab,
//! kmap) talks about memory in terms of these descriptors, never in terms of
//! raw addresses.
//!
//! ## Where it sits in boot
//! The kernel's `zone_sizes_init` (`init.rs`) asks memblock for memory to hold one [`Page`]
//! per frame up to `max_pfn` and hands the resulting `&'static [Page]` to
//! [`PgData::free_area_init_node`](super::mmzone::PgData::free_area_init_node),
//! which stamps every descriptor "reserved, in use once, in zone Z". Later
//! `mem_init` (see `bootmem.rs`) clears the reserved bit on the frames memblock
//! says are free and hands them to the buddy allocator.
//!
//! ## Linux source
//! `include/linux/mm_types.h` (`struct page`), `include/linux/page-flags.h`
//! (`PG_*` bits and the `PageXxx()/SetPageXxx()` accessors), `include/linux/mm.h`
//! (`page_count`, `get_page`, `put_page_testzero`, `page_zonenum`,
//! `set_page_zone`, `page_private`). *Understanding the Linux Kernel*, 3rd ed.,
//! §8.1.1 "Page Descriptors".
//!
//! ## What we simplified and why
//! * Only the fields the page-frame allocator needs: `flags`, `_count`,
//!   `_mapcount`, `private`, `lru`. No `mapping`/`index` (page cache), no
//!   `virtual` (`page_address` computes a low page's address from the PFN and looks
//!   high pages up in `highmem.rs`'s table).
//! * Every field is an atomic. Linux shares `struct page *` freely between CPUs
//!   and protects the interesting transitions with `zone->lock` or atomic
//!   operations; making the fields atomics lets us hand out `&'static Page`
//!   the same way, and keeps `Page` `Sync` without a line of `unsafe`. Fields
//!   that Linux protects with `zone->lock` (`private`, `lru`, `PG_buddy`) are
//!   accessed with `Relaxed` ordering: the lock already orders them.
//! * The list links in `lru` are PFNs (`u32`), not pointers, so the list code
//!   stays safe Rust (see `list.rs`).
//! * Besides the zone link, `flags` holds two small fields Linux keeps
//!   elsewhere: the migrate type of the free list a free page is on, and, in
//!   a pageblock's first descriptor, the pageblock's migrate type (see
//!   `migratetype.rs`).
//! * Only three `PG_*` bits are defined, because only three are used so far:
//!   `PG_slab`, `PG_reserved` and `PG_buddy`. They sit at the bit positions Linux
//!   2.6.19–2.6.22 used (7, 10 and 19), so a `flags` value in our log reads like
//!   one from a kernel of that era. `PageHighMem` is not a bit: as in Linux 2.6
//!   it is derived from the zone link (`page_zonenum(page) == ZONE_HIGHMEM`).

use core::sync::atomic::{AtomicI32, AtomicU32, Ordering};

use bitflags::bitflags;

use super::list::ListHead;
use super::migratetype::{MIGRATE_TYPES, MigrateType};
use super::mmzone::ZoneType;

bitflags! {
    /// The `PG_*` status bits in the low part of [`Page`]`::flags`
    /// (Linux `include/linux/page-flags.h`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct PageFlags: u32 {
        /// `PG_reserved`: the frame is not managed by the buddy allocator and
        /// must never be handed out or freed into it: the kernel image,
        /// `mem_map` itself, memory holes, firmware areas, frames memblock
        /// kept, and frames we retired after finding them corrupt. Every
        /// descriptor starts out reserved; `free_all_bootmem` clears the bit
        /// on the frames that are really free.
        #[doc(alias = "PG_reserved")]
        const RESERVED = 1 << 10;
        /// `PG_slab`: the frame belongs to a slab of the slab allocator
        /// (`slab.rs`); while it is set, `lru` does not link the frame into a
        /// list but names its cache and slab (see [`Page::page_set_cache`]).
        /// Set on every frame of the slab by `kmem_getpages`, cleared by
        /// `kmem_freepages`; the buddy allocator refuses a frame that still
        /// carries it. Bit 7, as in Linux 2.6.
        #[doc(alias = "PG_slab")]
        const SLAB = 1 << 7;
        /// `PG_buddy`: this frame is the *first* frame of a free block sitting
        /// on `zone->free_area[order]`, and `private` holds that `order`. The
        /// other frames of the block do not carry the bit. Set and cleared
        /// only under `zone->lock`.
        #[doc(alias = "PG_buddy")]
        const BUDDY = 1 << 19;
    }
}

/// Width of the field of `flags` that names the free list a free page sits
/// on (see [`Page::get_freepage_migratetype`]): two bits for four
/// migratetypes.
const MIGRATETYPE_WIDTH: u32 = 2;
/// Position of that field: just below the zone link, far from the `PG_*` bits.
const MIGRATETYPE_PGSHIFT: u32 = ZONES_PGSHIFT - MIGRATETYPE_WIDTH;
/// Mask of the migratetype field after shifting it down.
const MIGRATETYPE_MASK: u32 = (1 << MIGRATETYPE_WIDTH) - 1;
/// `flags` with its free-list field set to `migratetype`.
const fn with_freepage_migratetype(flags: u32, migratetype: MigrateType) -> u32 {
    (flags & !(MIGRATETYPE_MASK << MIGRATETYPE_PGSHIFT)) | (migratetype as u32) << MIGRATETYPE_PGSHIFT
}

/// Position of the pageblock's migrate type, kept in the descriptor of the
/// pageblock's first frame (see [`Page::pageblock_migratetype_bits`]).
const PAGEBLOCK_PGSHIFT: u32 = MIGRATETYPE_PGSHIFT - MIGRATETYPE_WIDTH;

/// Number of high bits of `flags` that hold the zone index (Linux `ZONES_WIDTH`):
/// two bits are enough for three zones.
const ZONES_WIDTH: u32 = 2;
/// Position of the zone index inside `flags` (Linux `ZONES_PGSHIFT`): the very
/// top of the word, far away from the `PG_*` bits.
const ZONES_PGSHIFT: u32 = u32::BITS - ZONES_WIDTH;
/// Mask of the zone index after shifting it down (Linux `ZONES_MASK`).
const ZONES_MASK: u32 = (1 << ZONES_WIDTH) - 1;

// The zone link, the migratetype field and the PG_* bits must not overlap,
// and the field must hold every migratetype.
const _: () = assert!(PageFlags::all().bits() >> PAGEBLOCK_PGSHIFT == 0);
const _: () = assert!(MIGRATE_TYPES <= 1 << MIGRATETYPE_WIDTH);

/// `_mapcount` value of a frame that no page table maps (Linux initialises
/// `_mapcount` to -1 so that "first mapping" is the transition to 0).
const MAPCOUNT_UNMAPPED: i32 = -1;

/// The page descriptor: one per physical page frame (Linux `struct page`).
///
/// A `Page` does not know its own PFN: the PFN is its index in `mem_map`
/// (see [`MemMap::page_to_pfn`]), exactly as in Linux.
#[derive(Debug)]
pub struct Page {
    /// `page->flags`: [`PageFlags`] in the low bits, the zone index in the
    /// top [`ZONES_WIDTH`] bits (Linux keeps the zone, node and section links
    /// "in the high bits of page->flags"; with one node and FLATMEM only the
    /// zone is left). Read it through [`Page::flags`] and [`Page::page_zonenum`].
    pub(super) flags: AtomicU32,
    /// `page->_count`, the reference count (Linux `page_count()` reads it):
    /// * `0`: the frame is free (in the buddy allocator), or it is a *tail*
    ///   frame of a block whose first frame holds the reference for the
    ///   whole block;
    /// * `1`: one user: the normal state of a freshly allocated block's first
    ///   frame, and of every reserved frame after `free_area_init_node`;
    /// * `n > 1`: `n` users ([`Page::get_page`] added the extra ones); the
    ///   block goes back to the buddy when the last user drops it.
    /// * negative: never legal; reported as a bad page.
    pub(super) _count: AtomicI32,
    /// `page->_mapcount`: number of page-table entries mapping the frame,
    /// *minus one*: `-1` means "not mapped", `0` one mapping, and so on.
    /// Nothing maps frames yet in this kernel, so it stays `-1`; the buddy
    /// allocator still checks it, as Linux does, to catch freeing a frame
    /// that is still mapped.
    pub(super) _mapcount: AtomicI32,
    /// `page->private`: a word the current owner may use. While the frame is
    /// the head of a free block (`PG_buddy` set) the buddy allocator keeps
    /// the block's *order* here ([`Page::page_order`]); otherwise it is 0.
    pub(super) private: AtomicU32,
    /// `page->lru`: links threading the frame onto one list at a time; here,
    /// a buddy free list (`free_area[order].free_list`). Both links are
    /// PFNs; see `list.rs`.
    pub(super) lru: ListHead,
}

// Linux works hard to keep struct page small because there is one per 4 KiB
// of RAM. Ours is 24 bytes: 0.6 % of memory on any machine.
const _: () = assert!(core::mem::size_of::<Page>() <= 24);

impl Page {
    /// A descriptor in its "never touched" state: no flags, zone 0, count 0,
    /// unmapped, off every list. `const` so that an array of pages can be
    /// built with `[const { Page::new() }; N]`;
    /// [`PgData::free_area_init_node`](super::mmzone::PgData::free_area_init_node)
    /// then gives every descriptor its boot-time state.
    pub const fn new() -> Self {
        Page {
            flags: AtomicU32::new(0),
            _count: AtomicI32::new(0),
            _mapcount: AtomicI32::new(MAPCOUNT_UNMAPPED),
            private: AtomicU32::new(0),
            lru: ListHead::new(),
        }
    }

    /// The `PG_*` bits of `page->flags`, without the zone link.
    pub fn flags(&self) -> PageFlags {
        PageFlags::from_bits_truncate(self.flags.load(Ordering::Relaxed))
    }

    /// The raw `page->flags` word (bits and zone link), for bad-page reports.
    pub fn raw_flags(&self) -> u32 {
        self.flags.load(Ordering::Relaxed)
    }

    fn test_flag(&self, flag: PageFlags) -> bool {
        self.flags().contains(flag)
    }

    fn set_flag(&self, flag: PageFlags) {
        self.flags.fetch_or(flag.bits(), Ordering::Relaxed);
    }

    fn clear_flag(&self, flag: PageFlags) {
        self.flags.fetch_and(!flag.bits(), Ordering::Relaxed);
    }

    /// Change `flags` with a plain read and write rather than an atomic
    /// read-modify-write (Linux's double-underscore flag operations,
    /// `__SetPageBuddy`, `__ClearPageBuddy`). Correct only where nobody else
    /// can write this descriptor's flags meanwhile: the buddy allocator's
    /// marks on a free block, under `zone->lock`. A free page has no owner
    /// who could set a flag, and the one field other code writes in a
    /// free page's `flags` (the pageblock bits of a pageblock's first
    /// frame) is written under the same lock. Two cheap instructions
    /// instead of a locked one, on every split and merge.
    fn update_flags_locked(&self, update: impl FnOnce(u32) -> u32) {
        self.flags.store(update(self.flags.load(Ordering::Relaxed)), Ordering::Relaxed);
    }

    /// Is `PG_reserved` set? (Linux `PageReserved`)
    #[doc(alias = "PageReserved")]
    pub fn is_reserved(&self) -> bool {
        self.test_flag(PageFlags::RESERVED)
    }

    /// Set `PG_reserved` (Linux `SetPageReserved` / `__SetPageReserved`).
    #[doc(alias = "SetPageReserved", alias = "__SetPageReserved")]
    pub fn set_reserved(&self) {
        self.set_flag(PageFlags::RESERVED);
    }

    /// Clear `PG_reserved` (Linux `ClearPageReserved` / `__ClearPageReserved`).
    /// Linux's `__` variant is the non-atomic one for descriptors nobody else
    /// can see yet; with atomic fields both are the same operation.
    #[doc(alias = "ClearPageReserved", alias = "__ClearPageReserved")]
    pub fn clear_reserved(&self) {
        self.clear_flag(PageFlags::RESERVED);
    }

    /// Is `PG_buddy` set, i.e. is this the first frame of a free block?
    /// (Linux `PageBuddy`)
    #[doc(alias = "PageBuddy")]
    pub fn is_buddy(&self) -> bool {
        self.test_flag(PageFlags::BUDDY)
    }

    /// Set `PG_buddy` (Linux `__SetPageBuddy`). Only the buddy allocator,
    /// holding `zone->lock`, should call this.
    #[doc(alias = "__SetPageBuddy")]
    pub fn set_buddy(&self) {
        self.update_flags_locked(|flags| flags | PageFlags::BUDDY.bits());
    }

    /// Clear `PG_buddy` (Linux `__ClearPageBuddy`). Only the buddy allocator,
    /// holding `zone->lock`, should call this.
    #[doc(alias = "__ClearPageBuddy")]
    pub fn clear_buddy(&self) {
        self.update_flags_locked(|flags| flags & !PageFlags::BUDDY.bits());
    }

    /// Is `PG_slab` set? (Linux `PageSlab`)
    #[doc(alias = "PageSlab")]
    pub fn is_slab(&self) -> bool {
        self.test_flag(PageFlags::SLAB)
    }

    /// Set `PG_slab` (Linux `SetPageSlab`): the slab allocator took the frame.
    #[doc(alias = "SetPageSlab")]
    pub fn set_slab(&self) {
        self.set_flag(PageFlags::SLAB);
    }

    /// Clear `PG_slab` and say whether it was set (Linux `TestClearPageSlab`):
    /// the slab allocator gives the frame back, and its links are reset to
    /// "on no list" for the buddy allocator.
    #[doc(alias = "TestClearPageSlab")]
    pub fn test_clear_slab(&self) -> bool {
        let was = self.flags.fetch_and(!PageFlags::SLAB.bits(), Ordering::Relaxed) & PageFlags::SLAB.bits() != 0;
        self.lru.init();
        was
    }

    /// Record which cache and which slab the frame belongs to (Linux 2.6.11
    /// `SET_PAGE_CACHE` / `SET_PAGE_SLAB`, later `page_set_cache` /
    /// `page_set_slab`): Linux parks the two pointers in `page->lru.next` and
    /// `page->lru.prev`, which a slab page does not need for a list. We do the
    /// same with the 32-bit links: `cache_id` is the cache's slot in the
    /// cache chain, `slab` the slab descriptor's offset in the slab
    /// allocator's memory window (see `slab.rs`).
    #[doc(alias = "page_set_cache", alias = "page_set_slab", alias = "SET_PAGE_CACHE", alias = "SET_PAGE_SLAB")]
    pub fn page_set_cache_and_slab(&self, cache_id: u32, slab: u32) {
        self.lru.set_raw(cache_id, slab);
    }

    /// The cache slot and slab offset [`Page::page_set_cache_and_slab`]
    /// stored (Linux `page_get_cache` / `page_get_slab`); only meaningful
    /// while [`Page::is_slab`].
    #[doc(alias = "page_get_cache", alias = "page_get_slab", alias = "GET_PAGE_CACHE", alias = "GET_PAGE_SLAB")]
    pub fn page_get_cache_and_slab(&self) -> (u32, u32) {
        self.lru.raw()
    }

    /// Which zone the frame belongs to (Linux `page_zonenum`), read from the
    /// top bits of `flags`.
    pub fn page_zonenum(&self) -> ZoneType {
        match (self.flags.load(Ordering::Relaxed) >> ZONES_PGSHIFT) & ZONES_MASK {
            0 => ZoneType::Dma,
            1 => ZoneType::Normal,
            // Only `set_page_zone` writes these bits and it never writes 3.
            _ => ZoneType::HighMem,
        }
    }

    /// Record the frame's zone in the top bits of `flags`, leaving the `PG_*`
    /// bits alone (Linux `set_page_zone`).
    pub fn set_page_zone(&self, zone: ZoneType) {
        let link = (zone as u32) << ZONES_PGSHIFT;
        // A read-modify-write of two fields of one word: retry until no other
        // CPU changed a flag bit under us.
        let _ = self
            .flags
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |flags| {
                Some((flags & !(ZONES_MASK << ZONES_PGSHIFT)) | link)
            });
    }

    /// The free list this free page (the head of a free block, or a page on
    /// a per-CPU list) belongs to (Linux 3.8+ `get_freepage_migratetype`).
    ///
    /// Linux's `list_del` needs no list head, so Linux can take a buddy off
    /// "whatever list it is on". Our lists keep their head, length and ends
    /// in the [`PageList`](super::list::PageList), so the allocator must know
    /// *which* `free_list[migratetype]` holds a block: it records it here,
    /// in two spare bits of `flags`, whenever it puts a page on a list.
    /// Meaningless for a page in use.
    pub fn get_freepage_migratetype(&self) -> MigrateType {
        MigrateType::from_index(
            ((self.flags.load(Ordering::Relaxed) >> MIGRATETYPE_PGSHIFT) & MIGRATETYPE_MASK) as usize,
        )
    }

    /// Record the free list a free block is put on (Linux 3.8+
    /// `set_freepage_migratetype`); see [`Page::get_freepage_migratetype`].
    /// Only the buddy allocator calls it, on a free block under the zone
    /// lock, so a plain read and write of `flags` is enough (as for
    /// [`Page::set_buddy`]).
    pub fn set_freepage_migratetype(&self, migratetype: MigrateType) {
        self.update_flags_locked(|flags| with_freepage_migratetype(flags, migratetype));
    }

    /// The per-CPU list this page sits on (Linux 4.6+
    /// `get_pcppage_migratetype`). A page on a per-CPU list is not a buddy
    /// block, so `private` is free to hold it — where 2.6.24 to 3.x keep
    /// it too (`set_page_private(page, migratetype)` in
    /// `free_hot_cold_page` and `rmqueue_bulk`). The free-list field in
    /// `flags` would not do here: the per-CPU path runs without the zone
    /// lock, while the zone lock's holder may rewrite the pageblock bits in
    /// the same word, so writing it would need an atomic read-modify-write;
    /// `private` takes one plain store. Meaningless off a per-CPU list;
    /// `prep_new_page` sets `private` back to 0.
    pub fn get_pcppage_migratetype(&self) -> MigrateType {
        MigrateType::from_index(self.private.load(Ordering::Relaxed) as usize & MIGRATETYPE_MASK as usize)
    }

    /// Record the per-CPU list a page is put on (Linux 4.6+
    /// `set_pcppage_migratetype`); see [`Page::get_pcppage_migratetype`].
    pub fn set_pcppage_migratetype(&self, migratetype: MigrateType) {
        self.private.store(migratetype as u32, Ordering::Relaxed);
    }

    /// Set `PG_buddy` and the free-list field at once: the head of a free
    /// block put on the `migratetype` list ([`Page::set_buddy`] and
    /// [`Page::set_freepage_migratetype`] in one plain write of `flags`,
    /// under the zone lock as both require).
    pub fn set_buddy_on_list(&self, migratetype: MigrateType) {
        self.update_flags_locked(|flags| with_freepage_migratetype(flags, migratetype) | PageFlags::BUDDY.bits());
    }

    /// The migrate type of the pageblock this frame starts (see
    /// `migratetype.rs`). Linux keeps a separate bitmap per zone
    /// (`zone->pageblock_flags`); we have no heap to size one at boot, but
    /// every pageblock's first frame has a descriptor with two spare bits.
    /// Meaningless on any other frame. Read without locks, written under
    /// the zone lock, like Linux's bitmap.
    #[doc(alias = "get_pageblock_flags_group")]
    pub fn pageblock_migratetype_bits(&self) -> MigrateType {
        MigrateType::from_index(
            ((self.flags.load(Ordering::Relaxed) >> PAGEBLOCK_PGSHIFT) & MIGRATETYPE_MASK) as usize,
        )
    }

    /// Set the migrate type of the pageblock this frame starts (Linux
    /// `set_pageblock_flags_group`).
    #[doc(alias = "set_pageblock_flags_group")]
    pub fn set_pageblock_migratetype_bits(&self, migratetype: MigrateType) {
        let field = (migratetype as u32) << PAGEBLOCK_PGSHIFT;
        let _ = self
            .flags
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |flags| {
                Some((flags & !(MIGRATETYPE_MASK << PAGEBLOCK_PGSHIFT)) | field)
            });
    }

    /// Is the frame in ZONE_HIGHMEM, i.e. outside the kernel's direct map?
    /// (Linux 2.6 `PageHighMem`, which is derived from the zone link rather
    /// than stored as a bit.)
    #[doc(alias = "PageHighMem")]
    pub fn is_highmem(&self) -> bool {
        self.page_zonenum() == ZoneType::HighMem
    }

    /// The reference count (Linux `page_count`).
    pub fn page_count(&self) -> i32 {
        self._count.load(Ordering::Acquire)
    }

    /// Overwrite the reference count (Linux `set_page_count`). For code that
    /// owns the frame exclusively: initialisation and the allocator itself.
    pub fn set_page_count(&self, count: i32) {
        self._count.store(count, Ordering::Release);
    }

    /// Give a frame its first reference (Linux `init_page_count`).
    pub fn init_page_count(&self) {
        self.set_page_count(1);
    }

    /// Make a frame that is about to be handed out (or freed through the
    /// normal path) hold exactly one reference (Linux `set_page_refcounted`).
    pub fn set_page_refcounted(&self) {
        self.set_page_count(1);
    }

    /// Take one more reference on a frame the caller already holds (Linux
    /// `get_page`). Taking a reference on a frame with count 0 means the
    /// caller is using a free frame; it is reported, and the frame will be
    /// caught as bad when the allocator next looks at it.
    pub fn get_page(&self) {
        let old = self._count.fetch_add(1, Ordering::Relaxed);
        if old <= 0 {
            log::warn!("get_page: page had count {} (use after free?)", old);
        }
    }

    /// Drop one reference and say whether it was the last (Linux
    /// `put_page_testzero`). The caller that sees `true` owns the frame and
    /// must free it. A frame whose count is already 0 or less is left
    /// unchanged, reported, and `false` is returned: there is no reference
    /// to drop.
    #[inline]
    pub fn put_page_testzero(&self) -> bool {
        // AcqRel, like Linux's fully ordered atomic_dec_and_test: the CPU
        // that frees the frame must see everything the other users did.
        match self
            ._count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |count| {
                (count > 0).then(|| count - 1)
            }) {
            Ok(old) => old == 1,
            Err(old) => {
                log::warn!("put_page_testzero: page count is {}, nothing to put", old);
                false
            }
        }
    }

    /// Number of page-table entries mapping the frame (Linux `page_mapcount`:
    /// `_mapcount + 1`).
    pub fn page_mapcount(&self) -> i32 {
        self._mapcount.load(Ordering::Relaxed) + 1
    }

    /// Mark the frame as mapped nowhere (Linux `reset_page_mapcount`).
    pub fn reset_page_mapcount(&self) {
        self._mapcount.store(MAPCOUNT_UNMAPPED, Ordering::Relaxed);
    }

    /// `page->private` (Linux `page_private`).
    pub fn page_private(&self) -> u32 {
        self.private.load(Ordering::Relaxed)
    }

    /// Set `page->private` (Linux `set_page_private`).
    pub fn set_page_private(&self, private: u32) {
        self.private.store(private, Ordering::Relaxed);
    }

    /// The order of the free block this frame heads (Linux `page_order`).
    /// Only meaningful while [`Page::is_buddy`] is true.
    pub fn page_order(&self) -> usize {
        self.page_private() as usize
    }
}

impl Default for Page {
    fn default() -> Self {
        Page::new()
    }
}

/// A view of (part of) `mem_map`: the descriptors of the frames
/// `start_pfn .. start_pfn + pages.len()`.
///
/// Linux turns a PFN into a descriptor and back with pointer arithmetic on
/// `mem_map` (`pfn_to_page`, `page_to_pfn`). A `MemMap` does the same with a
/// slice, so both directions are bounds-checked. The node's whole map
/// (`node_mem_map`, starting at PFN 0) and each zone's part of it
/// (`zone_mem_map`) are `MemMap`s.
#[derive(Debug, Clone, Copy)]
pub struct MemMap<'a> {
    start_pfn: usize,
    pages: &'a [Page],
}

impl<'a> MemMap<'a> {
    /// The descriptors `pages`, the first of which describes `start_pfn`.
    pub const fn new(start_pfn: usize, pages: &'a [Page]) -> Self {
        MemMap { start_pfn, pages }
    }

    /// First PFN described.
    pub const fn start_pfn(&self) -> usize {
        self.start_pfn
    }

    /// One past the last PFN described.
    pub const fn end_pfn(&self) -> usize {
        self.start_pfn + self.pages.len()
    }

    /// The descriptors themselves.
    pub const fn pages(&self) -> &'a [Page] {
        self.pages
    }

    /// The descriptor of `pfn`, if this view has one (Linux `pfn_to_page`).
    #[inline]
    pub fn pfn_to_page(&self, pfn: usize) -> Option<&'a Page> {
        self.pages.get(pfn.checked_sub(self.start_pfn)?)
    }

    /// The PFN `page` describes, if `page` lies in this view (Linux
    /// `page_to_pfn`). Like Linux, this is the distance of the descriptor
    /// from the start of the array; a reference from anywhere else gives
    /// `None`.
    #[inline]
    pub fn page_to_pfn(&self, page: &Page) -> Option<usize> {
        let base = self.pages.as_ptr() as usize;
        let offset = (page as *const Page as usize).checked_sub(base)?;
        let index = offset / core::mem::size_of::<Page>();
        let exact = offset % core::mem::size_of::<Page>() == 0;
        (exact && index < self.pages.len()).then_some(self.start_pfn + index)
    }
}

#[cfg(all(test, not(target_os = "none")))]
mod tests {
    use super::*;

    #[test]
    fn new_page_is_unmapped_unreferenced_and_flagless() {
        let page = Page::new();
        assert_eq!(page.flags(), PageFlags::empty());
        assert_eq!(page.page_count(), 0);
        assert_eq!(page.page_mapcount(), 0);
        assert_eq!(page.page_zonenum(), ZoneType::Dma);
        assert_eq!(page.page_private(), 0);
    }

    #[test]
    fn zone_link_and_flag_bits_are_independent() {
        let page = Page::new();
        page.set_reserved();
        page.set_buddy();
        for zone in ZoneType::ALL {
            page.set_page_zone(zone);
            assert_eq!(page.page_zonenum(), zone);
            assert_eq!(page.flags(), PageFlags::RESERVED | PageFlags::BUDDY);
        }
        assert!(page.is_highmem());
        page.clear_reserved();
        assert_eq!(page.page_zonenum(), ZoneType::HighMem);
        assert!(!page.is_reserved());
        assert!(page.is_buddy());
        page.clear_buddy();
        assert_eq!(page.flags(), PageFlags::empty());
        assert_eq!(page.raw_flags(), 2 << 30);
        page.set_page_zone(ZoneType::Normal);
        assert!(!page.is_highmem());
        // The free-list field sits between them and disturbs neither.
        for migratetype in MigrateType::ALL {
            page.set_freepage_migratetype(migratetype);
            page.set_pageblock_migratetype_bits(MigrateType::from_index(3 - migratetype as usize));
            assert_eq!(page.get_freepage_migratetype(), migratetype);
            assert_eq!(page.pageblock_migratetype_bits() as usize, 3 - migratetype as usize);
            assert_eq!(page.page_zonenum(), ZoneType::Normal);
            assert_eq!(page.flags(), PageFlags::empty());
        }
    }

    #[test]
    fn reference_counting_follows_linux() {
        let page = Page::new();
        page.init_page_count();
        page.get_page();
        assert_eq!(page.page_count(), 2);
        assert!(!page.put_page_testzero());
        assert!(page.put_page_testzero());
        assert_eq!(page.page_count(), 0);
        // Nothing left to put: refused, count unchanged.
        assert!(!page.put_page_testzero());
        assert_eq!(page.page_count(), 0);
    }

    #[test]
    fn mapcount_reset_means_unmapped() {
        let page = Page::new();
        page._mapcount.store(3, Ordering::Relaxed);
        assert_eq!(page.page_mapcount(), 4);
        page.reset_page_mapcount();
        assert_eq!(page.page_mapcount(), 0);
    }

    #[test]
    fn mem_map_translates_both_ways_and_rejects_foreign_pages() {
        let pages: Vec<Page> = (0..8).map(|_| Page::new()).collect();
        let map = MemMap::new(100, &pages);
        for pfn in 100..108 {
            let page = map.pfn_to_page(pfn).unwrap();
            assert_eq!(map.page_to_pfn(page), Some(pfn));
        }
        assert!(map.pfn_to_page(99).is_none());
        assert!(map.pfn_to_page(108).is_none());
        let stranger = Page::new();
        assert_eq!(map.page_to_pfn(&stranger), None);
        let sub = MemMap::new(102, &pages[2..4]);
        assert_eq!(sub.page_to_pfn(&pages[1]), None);
        assert_eq!(sub.page_to_pfn(&pages[3]), Some(103));
        assert_eq!(sub.page_to_pfn(&pages[4]), None);
    }
}
