//! The bytes behind the slab allocator's addresses: reading and writing the
//! words of slab descriptors, `kmem_bufctl_t` chains, per-CPU arrays and
//! objects, and placing a cache descriptor (`kmem_cache_t`) in memory.
//!
//! Linux's `mm/slab.c` simply dereferences pointers into the pages it owns.
//! Our `mm/slab.rs` is safe Rust, so every such access goes through this
//! one window type instead, which checks each address before touching it:
//!
//! * an address must lie in the window's RAM (in the kernel: the direct
//!   map, `PAGE_OFFSET` .. `high_memory`; on the host: an arena the unit
//!   tests allocate), **and** in a page whose descriptor carries `PG_slab`,
//!   or in the small bootstrap area `kmem_cache_init` starts from (Linux's
//!   static `initarray_cache` / `initarray_generic`);
//! * a word access must be aligned.
//!
//! So a bug in the slab code can at worst scribble over slab memory — its
//! own objects — never over page tables, `mem_map`, or a free page; a wild
//! address panics with a message instead. The check costs a `mem_map`
//! lookup per access; Linux has no such check (it trusts its pointers).
//!
//! The same code serves both builds: only how the window is made differs
//! ([`SlabMemory::direct_map`] in the kernel, [`SlabMemory::host_arena`]
//! on the host), which is why this file sits under `arch/` but not under
//! `arch/x86/`.

use core::sync::atomic::AtomicUsize;

use crate::mm::PAGE_SIZE;
use crate::mm::mmzone::PgData;
use crate::mm::page::Page;

/// Bytes in a machine word (Linux `BYTES_PER_WORD`, `sizeof(void *)`): 4 in
/// the kernel, 8 in host unit tests.
pub const BYTES_PER_WORD: usize = core::mem::size_of::<usize>();

/// A window onto the RAM the slab allocator carves its slabs from (see the
/// module doc).
#[derive(Debug)]
pub struct SlabMemory {
    /// Virtual address of page frame 0.
    base: usize,
    /// Frames `0 .. nr_pages` have an address in the window (low memory).
    nr_pages: usize,
    /// The node whose `mem_map` says which frames are `PG_slab`.
    pgdat: &'static PgData,
    /// The bootstrap words (`[start, end)` as addresses).
    boot_area: (usize, usize),
}

impl SlabMemory {
    /// The kernel's window: the direct map of low memory, `PAGE_OFFSET +
    /// physical address`, for frames below `max_low_pfn`.
    #[cfg(target_os = "none")]
    pub fn direct_map(pgdat: &'static PgData, boot_area: &'static [AtomicUsize]) -> SlabMemory {
        SlabMemory {
            base: crate::mm::layout::PAGE_OFFSET,
            nr_pages: crate::mm::init::max_low_pfn(),
            pgdat,
            boot_area: Self::range_of(boot_area),
        }
    }

    /// A host unit test's window: `nr_pages` zeroed, page-aligned frames of
    /// host memory standing in for the direct map of `pgdat`'s frames
    /// `0 .. nr_pages`. The arena is leaked: like the kernel's RAM, it
    /// outlives every cache made in it.
    #[cfg(not(target_os = "none"))]
    pub fn host_arena(pgdat: &'static PgData, nr_pages: usize, boot_area: &'static [AtomicUsize]) -> SlabMemory {
        assert!(nr_pages > 0, "a host arena needs at least one page");
        let layout = std::alloc::Layout::from_size_align(nr_pages * PAGE_SIZE, PAGE_SIZE).expect("arena layout");
        // SAFETY: the layout's size is non-zero (asserted above); the block
        // is never freed, so its addresses stay valid for the whole process.
        let base = unsafe { std::alloc::alloc_zeroed(layout) } as usize;
        assert!(base != 0, "host arena of {nr_pages} pages could not be allocated");
        SlabMemory { base, nr_pages, pgdat, boot_area: Self::range_of(boot_area) }
    }

    fn range_of(boot_area: &'static [AtomicUsize]) -> (usize, usize) {
        let start = boot_area.as_ptr() as usize;
        (start, start + core::mem::size_of_val(boot_area))
    }

    /// The node the window's frames belong to.
    pub fn pgdat(&self) -> &'static PgData {
        self.pgdat
    }

    /// The address of a low-memory frame (Linux `page_address` for a
    /// `lowmem` page); `None` for a high-memory frame, which has none.
    pub fn page_address(&self, page: &Page) -> Option<usize> {
        let pfn = self.pgdat.page_to_pfn(page)?;
        (pfn < self.nr_pages).then(|| self.base + pfn * PAGE_SIZE)
    }

    /// The descriptor of the frame holding `vaddr` (Linux `virt_to_page`),
    /// if `vaddr` is inside the window.
    pub fn virt_to_page(&self, vaddr: usize) -> Option<&'static Page> {
        let pfn = vaddr.checked_sub(self.base)? / PAGE_SIZE;
        if pfn >= self.nr_pages {
            return None;
        }
        self.pgdat.pfn_to_page(pfn)
    }

    /// `vaddr` as an offset into the window, small enough for a 32-bit
    /// `page->lru` word (the window is at most 896 MiB in the kernel and a
    /// few MiB in host tests).
    pub fn offset_of(&self, vaddr: usize) -> u32 {
        u32::try_from(vaddr - self.base).expect("the window is below 4 GiB")
    }

    /// The address at `offset` (inverse of [`SlabMemory::offset_of`]).
    pub fn at_offset(&self, offset: u32) -> usize {
        self.base + offset as usize
    }

    /// Is every byte of `[vaddr, vaddr + len)` memory the slab allocator
    /// owns? (The bootstrap area, or a range whose first and last frames are
    /// `PG_slab`: a range handed to us never spans more than one slab.)
    pub fn owns(&self, vaddr: usize, len: usize) -> bool {
        let Some(end) = vaddr.checked_add(len) else { return false };
        if vaddr >= self.boot_area.0 && end <= self.boot_area.1 {
            return true;
        }
        let is_slab = |addr: usize| self.virt_to_page(addr).is_some_and(Page::is_slab);
        len > 0 && is_slab(vaddr) && is_slab(end - 1)
    }

    /// Panic unless the slab allocator owns `[vaddr, vaddr + len)` and
    /// `vaddr` is aligned to `align`: every access below starts here.
    fn check(&self, vaddr: usize, len: usize, align: usize) {
        assert!(
            vaddr % align == 0 && self.owns(vaddr, len),
            "slab: access to {vaddr:#x}..+{len:#x} outside slab memory (or misaligned)"
        );
    }

    /// The word at `vaddr`.
    pub fn read_word(&self, vaddr: usize) -> usize {
        self.check(vaddr, BYTES_PER_WORD, BYTES_PER_WORD);
        // SAFETY: `check` proved the word is inside mapped RAM that the slab
        // allocator owns (a PG_slab frame or the bootstrap area) and aligned.
        unsafe { (vaddr as *const usize).read_volatile() }
    }

    /// Store `value` in the word at `vaddr`.
    pub fn write_word(&self, vaddr: usize, value: usize) {
        self.check(vaddr, BYTES_PER_WORD, BYTES_PER_WORD);
        // SAFETY: as in `read_word`; no Rust reference covers slab memory
        // except cache descriptors, which `emplace` placed in objects this
        // module is never asked to write word by word.
        unsafe { (vaddr as *mut usize).write_volatile(value) }
    }

    /// The 32-bit value at `vaddr` (a `kmem_bufctl_t`).
    pub fn read_u32(&self, vaddr: usize) -> u32 {
        self.check(vaddr, 4, 4);
        // SAFETY: as in `read_word`, for a 4-byte aligned value.
        unsafe { (vaddr as *const u32).read_volatile() }
    }

    /// Store the 32-bit `value` at `vaddr`.
    pub fn write_u32(&self, vaddr: usize, value: u32) {
        self.check(vaddr, 4, 4);
        // SAFETY: as in `write_word`, for a 4-byte aligned value.
        unsafe { (vaddr as *mut u32).write_volatile(value) }
    }

    /// The byte at `vaddr`.
    pub fn read_u8(&self, vaddr: usize) -> u8 {
        self.check(vaddr, 1, 1);
        // SAFETY: as in `read_word`, for one byte.
        unsafe { (vaddr as *const u8).read_volatile() }
    }

    /// Store the byte `value` at `vaddr`.
    pub fn write_u8(&self, vaddr: usize, value: u8) {
        self.check(vaddr, 1, 1);
        // SAFETY: as in `write_word`, for one byte.
        unsafe { (vaddr as *mut u8).write_volatile(value) }
    }

    /// Fill `len` bytes from `vaddr` with `value` (Linux `memset`).
    pub fn fill(&self, vaddr: usize, len: usize, value: u8) {
        if len == 0 {
            return;
        }
        self.check(vaddr, len, 1);
        // SAFETY: `check` proved the whole range is slab-owned mapped RAM.
        unsafe { core::ptr::write_bytes(vaddr as *mut u8, value, len) }
    }

    /// The offset of the first of `len` bytes from `vaddr` that differs from
    /// `expected(offset)`, if any: how poison checks scan an object.
    pub fn find_mismatch(&self, vaddr: usize, len: usize, expected: impl Fn(usize) -> u8) -> Option<usize> {
        if len == 0 {
            return None;
        }
        self.check(vaddr, len, 1);
        // SAFETY: `check` proved the range is slab-owned mapped RAM; the
        // slice lives only inside this call, while the object is free (or
        // being handed out) and nobody else writes it.
        let bytes = unsafe { core::slice::from_raw_parts(vaddr as *const u8, len) };
        bytes.iter().enumerate().position(|(i, &b)| b != expected(i))
    }

    /// Move `nr_words` words from `src` to `dst` (Linux `memmove` /
    /// `memcpy` on array-cache entries); the ranges may overlap.
    pub fn move_words(&self, dst: usize, src: usize, nr_words: usize) {
        if nr_words == 0 {
            return;
        }
        let len = nr_words * BYTES_PER_WORD;
        self.check(dst, len, BYTES_PER_WORD);
        self.check(src, len, BYTES_PER_WORD);
        // SAFETY: both ranges are slab-owned, aligned and mapped; `copy`
        // handles overlap.
        unsafe { core::ptr::copy(src as *const usize, dst as *mut usize, nr_words) }
    }

    /// Construct `value` in the slab object at `vaddr` and return a
    /// reference to it for the rest of the kernel's life (how
    /// `kmem_cache_create` turns an object of `cache_cache` into a cache
    /// descriptor). `T` must need no `Drop` (the memory is later given
    /// back to its cache without dropping it), and the object must stay
    /// allocated while the reference is used: `kmem_cache_destroy` is the
    /// only place that frees one, as Linux's does.
    pub fn emplace<T: Sync + 'static>(&self, vaddr: usize, value: T) -> &'static T {
        const { assert!(!core::mem::needs_drop::<T>()) };
        self.check(vaddr, core::mem::size_of::<T>(), core::mem::align_of::<T>());
        let ptr = vaddr as *mut T;
        // The object at `vaddr` was just allocated for this purpose, so
        // nothing else refers to it; `T: Sync`, so any CPU may use the result.
        // SAFETY: slab-owned RAM, large enough and aligned for T (checked).
        unsafe {
            ptr.write(value);
            &*ptr
        }
    }
}
