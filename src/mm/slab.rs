//! # The slab allocator: caches of objects on top of the buddy allocator
//!
//! The buddy allocator hands out whole pages; the kernel mostly wants small
//! objects (a 40-byte `vm_struct`, a 24-byte descriptor) and wants them
//! fast, often of one type over and over. Linux 2.6's answer is Jeff
//! Bonwick's slab allocator (`mm/slab.c`, *Understanding the Linux Kernel*
//! §8.2), which this file rebuilds, following **Linux 2.6.11** (the version
//! ULK describes) unless a comment names a later kernel.
//!
//! ## The picture
//! * A **cache** ([`KmemCache`], Linux `kmem_cache_t`) holds objects of one
//!   size: `kmem_cache_create("vm_struct", 40, ...)`.
//! * A cache owns **slabs**: blocks of `2^gfporder` contiguous pages from the
//!   buddy allocator (`kmem_getpages`), cut into `num` objects. Each slab
//!   has a descriptor (`struct slab`: `colouroff`, `s_mem` — the first
//!   object —, `inuse`, `free`) followed by an array of `kmem_bufctl_t`, one
//!   per object: `bufctl[i]` is the index of the next free object after
//!   `i`, so the free objects form a chain that starts at `free` and ends at
//!   `BUFCTL_END`, costing no memory beyond 4 bytes per object.
//! * The descriptor sits **on-slab** (at the start of the slab, after the
//!   colour offset) for small objects, or **off-slab** (`CFLGS_OFF_SLAB`, in
//!   an object of a general cache) when objects are `PAGE_SIZE/8` or larger
//!   and the descriptor would waste space in the slab.
//! * **Colouring**: what is left over in a slab after the objects is used
//!   to start consecutive slabs at different offsets (`colour_next *
//!   colour_off`, cycling through `colour` values), so that the first
//!   objects of different slabs do not all fall into the same hardware
//!   cache lines.
//! * The slabs of a cache are on three lists (`kmem_list3`): `slabs_full`,
//!   `slabs_partial` and `slabs_free`; allocation prefers partial slabs, so
//!   free slabs stay free and can be given back to the buddy allocator.
//! * In front of the lists, every CPU has an **array cache** (`struct
//!   array_cache`: `avail`, `limit`, `batchcount`, `touched`, then `limit`
//!   object pointers). `kmem_cache_alloc` pops from this CPU's array with
//!   interrupts off and no lock; only when it is empty does
//!   `cache_alloc_refill` take the cache's lock and move `batchcount`
//!   objects from the slabs; a full array on free gives `batchcount` back
//!   (`cache_flusharray`). On SMP a small **shared** array per cache passes
//!   objects between CPUs before they go back to the slabs.
//! * Each slab page's descriptor points back to its cache and slab
//!   (`page->lru.next` / `.prev`, [`Page::page_set_cache_and_slab`](super::page::Page::page_set_cache_and_slab)), which
//!   is how `kfree` finds the cache of a bare pointer.
//!
//! The bootstrap (`kmem_cache_init`: caches are made of objects of a cache,
//! and per-CPU arrays are allocated with `kmalloc`) is in `kmalloc.rs`,
//! the `CONFIG_DEBUG_SLAB` checks in `slab_debug.rs`.
//!
//! ## What we changed and why
//! * **Memory through a window.** Linux dereferences pointers into its
//!   slabs; we are safe Rust, so the slab descriptor, the bufctl array and
//!   the array caches are words in slab memory read and written through
//!   [`SlabMemory`], which checks every address is slab-owned. Their layout
//!   is Linux's (descriptor = 6 words, then the 32-bit bufctls; array cache
//!   = 4 header words, then the entries). Only the cache descriptor itself
//!   is a Rust struct, constructed inside an object of `cache_cache`.
//! * **Slab lists** are doubly linked through the first two words of each
//!   slab descriptor, like Linux's `list_head`, but linear (first/last kept in
//!   [`KmemList3`]) rather than circular, as in `list.rs`.
//! * **`page->lru` holds the cache's slot** in the cache chain (32-bit links
//!   cannot hold a 64-bit host pointer) and the slab descriptor's offset in
//!   the memory window.
//! * **One node** (2.6.11 has one `kmem_list3` per cache before NUMA slab in
//!   2.6.14), no RCU-freed slabs, no destructors (2.6.11 still had them;
//!   Linux removed them in 2.6.22), no `SLAB_STORE_USER`.
//! * **Statistics** (`STATS` in Linux: hits, misses, grown, reaped...) are
//!   kept when [`DEBUG_SLAB`] is on, as Linux keeps them only under
//!   `CONFIG_DEBUG_SLAB`.
//! * **Errors are values.** A bad `kmem_cache_free` returns a [`SlabError`]
//!   after the report and leaves the object alone, where Linux would `BUG()`.

use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use bitflags::bitflags;

use super::gfp::GfpFlags;
use super::layout::NR_CPUS;
use super::mmzone::PgData;

use super::PAGE_SIZE;
use crate::arch::current::irqflags::{irqs_enabled, local_irq_disable, local_irq_enable, local_irq_restore, local_irq_save};
use crate::arch::current::smp::smp_processor_id;
pub use crate::arch::slab_memory::{BYTES_PER_WORD, SlabMemory};
use crate::spinlock::{SpinLockIrq, SpinLockIrqGuard};

pub use super::slab_debug::DEBUG_SLAB;

/// Marks the end of a slab's free-object chain (Linux `BUFCTL_END`).
pub const BUFCTL_END: u32 = !0;
/// With [`DEBUG_SLAB`], the bufctl of an object that is allocated (Linux
/// `BUFCTL_FREE`: "free" of the chain, i.e. not on it).
pub const BUFCTL_FREE: u32 = !0 - 1;
/// Most objects a slab may hold (Linux `SLAB_LIMIT`).
pub const SLAB_LIMIT: u32 = !0 - 2;

/// Objects in the bootstrap per-CPU arrays (Linux `BOOT_CPUCACHE_ENTRIES`).
pub const BOOT_CPUCACHE_ENTRIES: usize = 1;
/// A refill of an array that saw no use since the last reap moves at most
/// this many objects (Linux `BATCHREFILL_LIMIT`).
pub const BATCHREFILL_LIMIT: usize = 16;
/// Largest object: `2^MAX_OBJ_ORDER` pages (Linux `MAX_OBJ_ORDER`, 128 KiB).
pub const MAX_OBJ_ORDER: usize = 5;
/// Largest slab: `2^MAX_GFP_ORDER` pages (Linux `MAX_GFP_ORDER`).
pub const MAX_GFP_ORDER: usize = 5;
/// Slabs stop growing at this order on machines with more than 32 MiB,
/// unless no object fits (Linux `BREAK_GFP_ORDER_HI`)...
pub const BREAK_GFP_ORDER_HI: usize = 1;
/// ...and at this one on smaller machines (Linux `BREAK_GFP_ORDER_LO`).
pub const BREAK_GFP_ORDER_LO: usize = 0;
/// The L1 cache line the general caches align to (Linux `cache_line_size()`,
/// `L1_CACHE_BYTES`): 64 bytes, the line of every x86 CPU since the
/// Pentium 4 and QEMU's model (the same size `PerCpuPageset` is aligned to).
pub const L1_CACHE_BYTES: usize = 64;
/// How many caches may exist at once: the fixed cache chain's slots.
pub const MAX_CACHES: usize = 64;

/// Words of a slab descriptor (Linux `struct slab`: `list.next`,
/// `list.prev`, `colouroff`, `s_mem`, `inuse`, `free`).
const SLAB_DESCRIPTOR_WORDS: usize = 6;
/// Bytes of a slab descriptor (Linux `sizeof(struct slab)`, 24 on i386).
pub const SLAB_DESCRIPTOR_SIZE: usize = SLAB_DESCRIPTOR_WORDS * BYTES_PER_WORD;
/// Bytes of a `kmem_bufctl_t` (an `unsigned int` in 2.6.11).
pub const BUFCTL_SIZE: usize = 4;
/// Header words of an array cache (Linux `struct array_cache`: `avail`,
/// `limit`, `batchcount`, `touched`); the entries follow.
const ARRAY_CACHE_HEADER_WORDS: usize = 4;
/// Bytes of an array cache with `entries` object slots (Linux
/// `sizeof(struct array_cache) + entries * sizeof(void *)`).
pub const fn array_cache_size(entries: usize) -> usize {
    (ARRAY_CACHE_HEADER_WORDS + entries) * BYTES_PER_WORD
}

/// Round `x` up to a multiple of `align`, a power of two (Linux `ALIGN`).
pub const fn align_up(x: usize, align: usize) -> usize {
    (x + align - 1) & !(align - 1)
}

bitflags! {
    /// Flags of `kmem_cache_create` (Linux 2.6.11 `include/linux/slab.h`,
    /// same values), plus the internal `CFLGS_OFF_SLAB`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct SlabFlags: u32 {
        /// Guard words before and after each object, checked on free
        /// (`CONFIG_DEBUG_SLAB`).
        const SLAB_RED_ZONE = 0x400;
        /// Fill free objects with `0x6b` and new ones with `0x5a`, and check
        /// on allocation that nobody wrote a free object.
        const SLAB_POISON = 0x800;
        /// Never reap this cache's free slabs (`cache_cache` has it).
        const SLAB_NO_REAP = 0x1000;
        /// Align objects to the L1 cache line (halved while two objects fit).
        const SLAB_HWCACHE_ALIGN = 0x2000;
        /// Slabs from `ZONE_DMA` (the `(DMA)` general caches).
        const SLAB_CACHE_DMA = 0x4000;
        /// The cache's pages count as reclaimable (dentries, inodes).
        const SLAB_RECLAIM_ACCOUNT = 0x20000;
        /// Panic if the cache cannot be created.
        const SLAB_PANIC = 0x40000;
        /// Internal: the slab descriptor lives off-slab (Linux `CFLGS_OFF_SLAB`).
        const CFLGS_OFF_SLAB = 0x8000_0000;
    }
}

/// The flags a caller may pass to `kmem_cache_create` (Linux `CREATE_MASK`).
const CREATE_MASK: SlabFlags = SlabFlags::SLAB_RED_ZONE
    .union(SlabFlags::SLAB_POISON)
    .union(SlabFlags::SLAB_NO_REAP)
    .union(SlabFlags::SLAB_HWCACHE_ALIGN)
    .union(SlabFlags::SLAB_CACHE_DMA)
    .union(SlabFlags::SLAB_RECLAIM_ACCOUNT)
    .union(SlabFlags::SLAB_PANIC);

/// A constructor: called on each object (its address, through the memory
/// window) when its slab is made, not on every allocation (Linux `ctor`;
/// with `SLAB_POISON` it also runs after each allocation's poison check, as
/// 2.6.11's debug code does, since poisoning destroyed the constructed state).
pub type Ctor = fn(&SlabMemory, usize);

/// Why `kmem_cache_create` refused (Linux returns NULL or `BUG()`s).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreateError {
    /// Size below a word, above `2^MAX_OBJ_ORDER` pages, or an alignment
    /// that is not a power of two ("Early error in slab").
    BadSize,
    /// A flag outside `CREATE_MASK`.
    BadFlags,
    /// Called from an interrupt.
    InInterrupt,
    /// A cache of that name exists ("duplicate cache").
    Duplicate,
    /// No memory for the descriptor, or no free slot in the chain.
    NoMemory,
    /// No object fits in the largest slab ("couldn't create cache").
    NoFit,
}

/// Why `kmem_cache_free` / `kfree` refused a pointer; each was reported with
/// the cache's name and the address, and the object was left as it was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlabError {
    /// The address is not in a slab page (`kfree_debugcheck: bad ptr`).
    NotSlabMemory,
    /// The object belongs to another cache ("mismatch in kmem_cache_free").
    WrongCache,
    /// Not the start of an object of its slab.
    NotObjectBoundary,
    /// Already free: in its slab's free chain, in this CPU's array, or its
    /// red zones say "inactive".
    DoubleFree,
    /// A red zone word was overwritten: the caller wrote outside the object.
    RedZoneOverwritten,
}

/// Counters of one cache (Linux `STATS`), kept when [`DEBUG_SLAB`] is on.
#[derive(Debug, Default)]
pub struct SlabStats {
    /// Allocations served from this CPU's array (`allochit`).
    pub allochit: AtomicUsize,
    /// Allocations that had to refill the array (`allocmiss`).
    pub allocmiss: AtomicUsize,
    /// Frees that fit into this CPU's array (`freehit`).
    pub freehit: AtomicUsize,
    /// Frees that found the array full and flushed a batch (`freemiss`).
    pub freemiss: AtomicUsize,
    /// Slabs made (`grown`).
    pub grown: AtomicUsize,
    /// Slabs given back by reaping or shrinking (`reaped`).
    pub reaped: AtomicUsize,
    /// Objects taken from the slabs (`num_allocations`).
    pub num_allocations: AtomicUsize,
}

/// Bump a statistics counter when statistics are kept.
fn stat_inc(counter: &AtomicUsize) {
    if DEBUG_SLAB {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// A slab descriptor in slab memory (Linux `struct slab *`): the address of
/// its first word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlabRef(usize);

impl SlabRef {
    fn word(self, i: usize) -> usize {
        self.0 + i * BYTES_PER_WORD
    }
    fn next(self, mem: &SlabMemory) -> Option<SlabRef> {
        let next = mem.read_word(self.word(0));
        (next != 0).then_some(SlabRef(next))
    }
    fn prev(self, mem: &SlabMemory) -> Option<SlabRef> {
        let prev = mem.read_word(self.word(1));
        (prev != 0).then_some(SlabRef(prev))
    }
    fn set_links(self, mem: &SlabMemory, next: Option<SlabRef>, prev: Option<SlabRef>) {
        mem.write_word(self.word(0), next.map_or(0, |s| s.0));
        mem.write_word(self.word(1), prev.map_or(0, |s| s.0));
    }
    /// Bytes from the start of the slab's pages to `s_mem`: the colour
    /// offset plus, on-slab, the descriptor (Linux `slabp->colouroff`).
    pub fn colouroff(self, mem: &SlabMemory) -> usize {
        mem.read_word(self.word(2))
    }
    /// Address of object 0 (Linux `slabp->s_mem`).
    pub fn s_mem(self, mem: &SlabMemory) -> usize {
        mem.read_word(self.word(3))
    }
    /// Objects of this slab in use: allocated or in an array cache (Linux
    /// `slabp->inuse`).
    pub fn inuse(self, mem: &SlabMemory) -> usize {
        mem.read_word(self.word(4))
    }
    fn set_inuse(self, mem: &SlabMemory, inuse: usize) {
        mem.write_word(self.word(4), inuse);
    }
    /// Index of the first free object, or `BUFCTL_END` (Linux `slabp->free`).
    pub fn free(self, mem: &SlabMemory) -> u32 {
        mem.read_word(self.word(5)) as u32
    }
    fn set_free(self, mem: &SlabMemory, free: u32) {
        mem.write_word(self.word(5), free as usize);
    }
    /// Address of `bufctl[i]` (Linux `slab_bufctl(slabp)[i]`): the array
    /// right after the descriptor.
    fn bufctl_addr(self, i: usize) -> usize {
        self.0 + SLAB_DESCRIPTOR_SIZE + i * BUFCTL_SIZE
    }
    /// `bufctl[i]`: the next free object after `i`.
    pub fn bufctl(self, mem: &SlabMemory, i: usize) -> u32 {
        mem.read_u32(self.bufctl_addr(i))
    }
    fn set_bufctl(self, mem: &SlabMemory, i: usize, value: u32) {
        mem.write_u32(self.bufctl_addr(i), value);
    }
    /// The descriptor's address.
    pub fn addr(self) -> usize {
        self.0
    }
}

/// One of the three slab lists of a cache: linear, doubly linked through
/// the slab descriptors' first two words (see the module doc).
#[derive(Debug, Default)]
pub struct SlabList {
    first: Option<SlabRef>,
    last: Option<SlabRef>,
    len: usize,
}

impl SlabList {
    /// Slabs on the list.
    pub fn len(&self) -> usize {
        self.len
    }
    /// Is the list empty? (Linux `list_empty`)
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// The first slab (Linux `list->next`).
    pub fn first(&self) -> Option<SlabRef> {
        self.first
    }
    /// Put `slab` first (Linux `list_add`).
    fn add(&mut self, mem: &SlabMemory, slab: SlabRef) {
        slab.set_links(mem, self.first, None);
        match self.first {
            Some(old) => old.set_links(mem, old.next(mem), Some(slab)),
            None => self.last = Some(slab),
        }
        self.first = Some(slab);
        self.len += 1;
    }
    /// Put `slab` last (Linux `list_add_tail`).
    fn add_tail(&mut self, mem: &SlabMemory, slab: SlabRef) {
        slab.set_links(mem, None, self.last);
        match self.last {
            Some(old) => old.set_links(mem, Some(slab), old.prev(mem)),
            None => self.first = Some(slab),
        }
        self.last = Some(slab);
        self.len += 1;
    }
    /// Take `slab`, which is on this list, off it (Linux `list_del`).
    fn del(&mut self, mem: &SlabMemory, slab: SlabRef) {
        let (next, prev) = (slab.next(mem), slab.prev(mem));
        match prev {
            Some(p) => p.set_links(mem, next, p.prev(mem)),
            None => self.first = next,
        }
        match next {
            Some(n) => n.set_links(mem, n.next(mem), prev),
            None => self.last = prev,
        }
        slab.set_links(mem, None, None);
        self.len -= 1;
    }
    /// The slabs, first to last (Linux `list_for_each_entry`).
    pub fn iter<'a>(&self, mem: &'a SlabMemory) -> impl Iterator<Item = SlabRef> + 'a {
        core::iter::successors(self.first, move |s| s.next(mem))
    }
}

/// Which list a slab is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ListKind {
    Partial,
    Full,
    Free,
}

/// The slab lists of a cache and what goes with them (Linux 2.6.11 `struct
/// kmem_list3`, plus `colour_next`, which 2.6.11 also guards with the
/// cache's spinlock). Reached only through the cache's lock.
#[derive(Debug, Default)]
pub struct KmemList3 {
    /// Slabs with some objects in use (Linux `slabs_partial`).
    pub slabs_partial: SlabList,
    /// Slabs whose every object is in use (Linux `slabs_full`).
    pub slabs_full: SlabList,
    /// Slabs with no object in use (Linux `slabs_free`).
    pub slabs_free: SlabList,
    /// Objects free in the slabs, not counting array caches (Linux
    /// `free_objects`).
    pub free_objects: usize,
    /// A refill took a free slab since the last reap (Linux `free_touched`):
    /// the free slabs are in use, do not reap them yet.
    pub free_touched: bool,
    /// When the lists are next reaped, in jiffies (Linux `next_reap`).
    pub next_reap: u32,
    /// The shared array cache (its address), or none (Linux `shared`).
    pub shared: Option<ArrayCacheRef>,
    /// Colour of the next slab (Linux `colour_next`).
    pub colour_next: usize,
}

impl KmemList3 {
    fn list(&mut self, kind: ListKind) -> &mut SlabList {
        match kind {
            ListKind::Partial => &mut self.slabs_partial,
            ListKind::Full => &mut self.slabs_full,
            ListKind::Free => &mut self.slabs_free,
        }
    }
}

/// An array cache in slab memory (Linux `struct array_cache *`): the
/// address of its header; the entries follow the four header words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArrayCacheRef(usize);

impl ArrayCacheRef {
    /// The array cache at `addr` (which the caller allocated or reserved).
    pub fn at(addr: usize) -> ArrayCacheRef {
        ArrayCacheRef(addr)
    }
    /// Its address.
    pub fn addr(self) -> usize {
        self.0
    }
    /// Objects in the array (Linux `ac->avail`).
    pub fn avail(self, mem: &SlabMemory) -> usize {
        mem.read_word(self.0)
    }
    fn set_avail(self, mem: &SlabMemory, avail: usize) {
        mem.write_word(self.0, avail);
    }
    /// Capacity (Linux `ac->limit`).
    pub fn limit(self, mem: &SlabMemory) -> usize {
        mem.read_word(self.0 + BYTES_PER_WORD)
    }
    /// Objects moved per refill or flush (Linux `ac->batchcount`).
    pub fn batchcount(self, mem: &SlabMemory) -> usize {
        mem.read_word(self.0 + 2 * BYTES_PER_WORD)
    }
    /// Was the array used since the last reap? (Linux `ac->touched`)
    pub fn touched(self, mem: &SlabMemory) -> bool {
        mem.read_word(self.0 + 3 * BYTES_PER_WORD) != 0
    }
    fn set_touched(self, mem: &SlabMemory, touched: bool) {
        mem.write_word(self.0 + 3 * BYTES_PER_WORD, touched as usize);
    }
    /// Write a fresh header: empty, `limit` slots (Linux `alloc_arraycache`).
    pub fn init(self, mem: &SlabMemory, limit: usize, batchcount: usize) {
        mem.write_word(self.0, 0);
        mem.write_word(self.0 + BYTES_PER_WORD, limit);
        mem.write_word(self.0 + 2 * BYTES_PER_WORD, batchcount);
        mem.write_word(self.0 + 3 * BYTES_PER_WORD, 0);
    }
    /// Address of entry `i` (Linux `ac_entry(ac)[i]`).
    fn entry_addr(self, i: usize) -> usize {
        self.0 + (ARRAY_CACHE_HEADER_WORDS + i) * BYTES_PER_WORD
    }
    /// Entry `i`: an object's address.
    pub fn entry(self, mem: &SlabMemory, i: usize) -> usize {
        mem.read_word(self.entry_addr(i))
    }
    fn push(self, mem: &SlabMemory, objp: usize) {
        let avail = self.avail(mem);
        mem.write_word(self.entry_addr(avail), objp);
        self.set_avail(mem, avail + 1);
    }
    fn pop(self, mem: &SlabMemory) -> usize {
        let avail = self.avail(mem) - 1;
        self.set_avail(mem, avail);
        mem.read_word(self.entry_addr(avail))
    }
    /// Drop the first `n` entries, sliding the rest down (the `memmove` of
    /// `cache_flusharray` / `drain_array_locked`).
    fn remove_first(self, mem: &SlabMemory, n: usize) {
        let avail = self.avail(mem) - n;
        mem.move_words(self.entry_addr(0), self.entry_addr(n), avail);
        self.set_avail(mem, avail);
    }
    /// Is `objp` among the entries? (a debug check for double frees)
    pub fn contains(self, mem: &SlabMemory, objp: usize) -> bool {
        (0..self.avail(mem)).any(|i| self.entry(mem, i) == objp)
    }
}

/// A cache of objects of one size (Linux `kmem_cache_t`, `struct
/// kmem_cache_s`). The field order follows Linux's: what every allocation
/// touches first.
#[derive(Debug)]
pub struct KmemCache {
    /// Each CPU's array cache (its address; 0 = none yet) (Linux `array[]`).
    /// Only its own CPU touches an array, with interrupts off.
    array: [AtomicUsize; NR_CPUS],
    /// Objects moved per refill or flush (Linux `batchcount`).
    batchcount: AtomicUsize,
    /// Size of the per-CPU arrays (Linux `limit`).
    limit: AtomicUsize,
    /// Shared-array size, in batches (Linux's `shared` tunable).
    shared: AtomicUsize,
    /// The slab lists, under the cache's lock (Linux `lists` + `spinlock`).
    lists: SpinLockIrq<KmemList3>,
    /// Bytes per object including alignment and red zones (Linux `objsize`).
    objsize: usize,
    /// Creation flags plus `CFLGS_OFF_SLAB` (Linux `flags`).
    flags: SlabFlags,
    /// Objects per slab (Linux `num`).
    num: usize,
    /// Free objects the lists may keep before a freed slab goes back to
    /// the buddy allocator (Linux `free_limit`).
    free_limit: AtomicUsize,
    /// Each slab is `2^gfporder` pages (Linux `gfporder`).
    gfporder: usize,
    /// Flags added to every page allocation: `__GFP_DMA` for a DMA cache
    /// (Linux `gfpflags`).
    gfpflags: GfpFlags,
    /// Number of different colours (Linux `colour`).
    colour: usize,
    /// Bytes between two colours (Linux `colour_off`).
    colour_off: usize,
    /// Object alignment the cache guarantees (Linux keeps it implicit).
    align: usize,
    /// The general cache off-slab descriptors come from (Linux `slabp_cache`).
    slabp_cache: Option<&'static KmemCache>,
    /// Bytes of descriptor + bufctls (Linux `slab_size`).
    slab_size: usize,
    /// The constructor (Linux `ctor`).
    ctor: Option<Ctor>,
    /// The name in `/proc/slabinfo` (Linux `name`).
    name: &'static str,
    /// The cache's slot in the cache chain, stored in its pages' `lru`.
    id: usize,
    /// Bytes before the caller's object: a red zone word (Linux `dbghead`).
    dbghead: usize,
    /// The caller's size before padding and red zones (Linux `reallen`).
    reallen: usize,
    /// Being destroyed: `cache_reap` and the shrinker leave it alone.
    dying: AtomicBool,
    /// Debug counters (Linux `STATS`).
    pub stats: SlabStats,
    /// Bad frees refused (Linux `errors`, counted even without stats).
    errors: AtomicUsize,
}

// The descriptor is placed in cache_cache objects and given back without
// dropping (see SlabMemory::emplace).
const _: () = assert!(!core::mem::needs_drop::<KmemCache>());

/// The numbers that decide a slab's layout (Linux `cache_estimate`'s
/// outputs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Estimate {
    /// Objects per slab.
    pub num: usize,
    /// Bytes of the slab left over: what colouring can use.
    pub left_over: usize,
}

/// How many objects of `size` bytes fit in a slab of `2^gfporder` pages,
/// and what is left over (Linux `cache_estimate`). On-slab, the descriptor
/// and one bufctl per object come first, padded to `align`: the loop finds
/// the largest `i` with `i * size + ALIGN(desc + i * bufctl, align) <=
/// slab bytes`.
pub fn cache_estimate(gfporder: usize, size: usize, align: usize, flags: SlabFlags) -> Estimate {
    let wastage = PAGE_SIZE << gfporder;
    let (base, extra) = if flags.contains(SlabFlags::CFLGS_OFF_SLAB) {
        (0, 0)
    } else {
        (SLAB_DESCRIPTOR_SIZE, BUFCTL_SIZE)
    };
    let fits = |i: usize| i * size + align_up(base + i * extra, align) <= wastage;
    let mut num = 0;
    while fits(num + 1) {
        num += 1;
    }
    let num = num.min(SLAB_LIMIT as usize);
    Estimate { num, left_over: wastage - num * size - align_up(base + num * extra, align) }
}

/// The arguments of [`KmemCache::layout`], the part of `kmem_cache_create`
/// that decides sizes (a pure function of them, so host tests can check
/// the numbers by hand).
#[derive(Clone, Copy, Debug)]
pub struct LayoutRequest {
    /// Bytes the caller asked for.
    pub size: usize,
    /// Alignment the caller asked for (0 = none).
    pub align: usize,
    /// Creation flags.
    pub flags: SlabFlags,
    /// `slab_break_gfp_order` of this machine.
    pub break_gfp_order: usize,
    /// `offslab_limit`: most objects an off-slab slab may have, given the
    /// largest on-slab general cache its descriptor can come from.
    pub offslab_limit: usize,
}

/// A cache's geometry, as `kmem_cache_create` computes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Bytes per object (Linux `objsize`).
    pub objsize: usize,
    /// Object alignment.
    pub align: usize,
    /// Flags after the debug and off-slab decisions.
    pub flags: SlabFlags,
    /// Slab order (Linux `gfporder`).
    pub gfporder: usize,
    /// Objects per slab (Linux `num`).
    pub num: usize,
    /// Colours (Linux `colour`).
    pub colour: usize,
    /// Colour step (Linux `colour_off`).
    pub colour_off: usize,
    /// Descriptor + bufctl bytes (Linux `slab_size`).
    pub slab_size: usize,
    /// Red zone bytes before the object (Linux `dbghead`).
    pub dbghead: usize,
    /// The caller's size rounded to words (Linux `reallen`).
    pub reallen: usize,
}

impl KmemCache {
    /// The geometry `kmem_cache_create` gives a cache (Linux 2.6.11
    /// `kmem_cache_create`, the part before the descriptor is filled in):
    /// 1. round the size up to a word;
    /// 2. alignment: the L1 line for `SLAB_HWCACHE_ALIGN`, halved while two
    ///    objects fit in half of it; a word otherwise; the caller's if
    ///    larger — and a red zone, which needs word alignment, is dropped
    ///    when the caller demands more;
    /// 3. red zones add a word on each side and force word alignment;
    /// 4. objects of `PAGE_SIZE/8` and more go off-slab;
    /// 5. the order: grow from 0 until an object fits, until
    ///    `slab_break_gfp_order`, or until no more than 1/8 is wasted (and
    ///    never more objects off-slab than `offslab_limit`);
    ///    `SLAB_RECLAIM_ACCOUNT` caches of up to a page stay at order 0;
    /// 6. an off-slab descriptor comes back on-slab when the leftover
    ///    holds it; the rest of the leftover is for colouring, in steps of
    ///    the cache line (or the alignment, if larger).
    ///
    /// `None` if no object fits even at `MAX_GFP_ORDER`.
    pub fn layout(req: LayoutRequest) -> Option<Layout> {
        let mut flags = req.flags;
        if !DEBUG_SLAB {
            // Without CONFIG_DEBUG_SLAB there is no code to honour them.
            flags.remove(SlabFlags::SLAB_RED_ZONE | SlabFlags::SLAB_POISON);
        }
        let mut size = align_up(req.size, BYTES_PER_WORD);
        let mut align = if flags.contains(SlabFlags::SLAB_HWCACHE_ALIGN) {
            let mut ralign = L1_CACHE_BYTES;
            while size <= ralign / 2 {
                ralign /= 2;
            }
            ralign
        } else {
            BYTES_PER_WORD
        };
        if align < req.align {
            align = req.align;
            if align > BYTES_PER_WORD {
                flags.remove(SlabFlags::SLAB_RED_ZONE);
            }
        }
        let reallen = size;
        let mut dbghead = 0;
        if flags.contains(SlabFlags::SLAB_RED_ZONE) {
            align = BYTES_PER_WORD;
            dbghead = BYTES_PER_WORD;
            size += 2 * BYTES_PER_WORD;
        }
        if size >= PAGE_SIZE >> 3 {
            flags.insert(SlabFlags::CFLGS_OFF_SLAB);
        }
        let size = align_up(size, align);

        let mut gfporder = 0;
        let mut est;
        if flags.contains(SlabFlags::SLAB_RECLAIM_ACCOUNT) && size <= PAGE_SIZE {
            est = cache_estimate(0, size, align, flags);
        } else {
            loop {
                est = cache_estimate(gfporder, size, align, flags);
                if gfporder >= MAX_GFP_ORDER {
                    break;
                }
                if est.num > 0 {
                    if flags.contains(SlabFlags::CFLGS_OFF_SLAB) && est.num > req.offslab_limit {
                        // Too many objects for a descriptor from the largest
                        // on-slab general cache: one order down, and stop.
                        gfporder -= 1;
                        est = cache_estimate(gfporder, size, align, flags);
                        break;
                    }
                    if gfporder >= req.break_gfp_order || est.left_over * 8 <= PAGE_SIZE << gfporder {
                        break;
                    }
                }
                gfporder += 1;
            }
        }
        if est.num == 0 {
            return None;
        }
        let mut left_over = est.left_over;
        let mut slab_size = align_up(est.num * BUFCTL_SIZE + SLAB_DESCRIPTOR_SIZE, align);
        if flags.contains(SlabFlags::CFLGS_OFF_SLAB) && left_over >= slab_size {
            flags.remove(SlabFlags::CFLGS_OFF_SLAB);
            left_over -= slab_size;
        }
        if flags.contains(SlabFlags::CFLGS_OFF_SLAB) {
            slab_size = est.num * BUFCTL_SIZE + SLAB_DESCRIPTOR_SIZE;
        }
        let colour_off = L1_CACHE_BYTES.max(align);
        Some(Layout {
            objsize: size,
            align,
            flags,
            gfporder,
            num: est.num,
            colour: left_over / colour_off,
            colour_off,
            slab_size,
            dbghead,
            reallen,
        })
    }

    /// A descriptor for `layout`, with no array caches yet.
    fn new(name: &'static str, id: usize, layout: Layout, ctor: Option<Ctor>, slabp_cache: Option<&'static KmemCache>) -> KmemCache {
        KmemCache {
            array: [const { AtomicUsize::new(0) }; NR_CPUS],
            batchcount: AtomicUsize::new(1),
            limit: AtomicUsize::new(BOOT_CPUCACHE_ENTRIES),
            shared: AtomicUsize::new(0),
            lists: SpinLockIrq::new(KmemList3 {
                slabs_partial: SlabList::default(),
                slabs_full: SlabList::default(),
                slabs_free: SlabList::default(),
                free_objects: 0,
                free_touched: false,
                next_reap: 0,
                shared: None,
                colour_next: 0,
            }),
            objsize: layout.objsize,
            flags: layout.flags,
            num: layout.num,
            free_limit: AtomicUsize::new(0),
            gfporder: layout.gfporder,
            gfpflags: if layout.flags.contains(SlabFlags::SLAB_CACHE_DMA) { GfpFlags::GFP_DMA } else { GfpFlags::empty() },
            colour: layout.colour,
            colour_off: layout.colour_off,
            align: layout.align,
            slabp_cache,
            slab_size: layout.slab_size,
            ctor,
            name,
            id,
            dbghead: layout.dbghead,
            reallen: layout.reallen,
            dying: AtomicBool::new(false),
            stats: SlabStats::default(),
            errors: AtomicUsize::new(0),
        }
    }

    /// The cache's name.
    pub fn name(&self) -> &'static str {
        self.name
    }
    /// Bytes per object, padding and red zones included (Linux `objsize`).
    pub fn objsize(&self) -> usize {
        self.objsize
    }
    /// Bytes the caller may use in an object (Linux `obj_reallen` with
    /// debugging, `objsize` without).
    pub fn obj_size(&self) -> usize {
        if self.flags.contains(SlabFlags::SLAB_RED_ZONE) { self.reallen } else { self.objsize }
    }
    /// Bytes from an object's start to the caller's pointer (Linux
    /// `obj_dbghead`).
    pub fn obj_dbghead(&self) -> usize {
        self.dbghead
    }
    /// The constructor.
    pub fn ctor(&self) -> Option<Ctor> {
        self.ctor
    }
    /// Creation flags, `CFLGS_OFF_SLAB` included.
    pub fn flags(&self) -> SlabFlags {
        self.flags
    }
    /// Objects per slab (Linux `num`).
    pub fn num(&self) -> usize {
        self.num
    }
    /// Slab order (Linux `gfporder`).
    pub fn gfporder(&self) -> usize {
        self.gfporder
    }
    /// Colours and colour step (Linux `colour`, `colour_off`).
    pub fn colouring(&self) -> (usize, usize) {
        (self.colour, self.colour_off)
    }
    /// The alignment every object has.
    pub fn align(&self) -> usize {
        self.align
    }
    /// Descriptor + bufctl bytes (Linux `slab_size`).
    pub fn slab_size(&self) -> usize {
        self.slab_size
    }
    /// Is the slab descriptor off-slab? (Linux `OFF_SLAB`)
    #[doc(alias = "OFF_SLAB")]
    pub fn off_slab(&self) -> bool {
        self.flags.contains(SlabFlags::CFLGS_OFF_SLAB)
    }
    /// The general cache off-slab descriptors come from.
    pub fn slabp_cache(&self) -> Option<&'static KmemCache> {
        self.slabp_cache
    }
    /// The cache's slot in the chain.
    pub fn id(&self) -> usize {
        self.id
    }
    /// Per-CPU tunables: `(limit, batchcount, shared)`.
    pub fn tunables(&self) -> (usize, usize, usize) {
        (self.limit.load(Ordering::Relaxed), self.batchcount.load(Ordering::Relaxed), self.shared.load(Ordering::Relaxed))
    }
    /// Free objects the lists may hold (Linux `free_limit`).
    pub fn free_limit(&self) -> usize {
        self.free_limit.load(Ordering::Relaxed)
    }
    /// Bad frees refused so far.
    pub fn errors(&self) -> usize {
        self.errors.load(Ordering::Relaxed)
    }
    /// CPU `cpu`'s array cache, if it has one.
    pub fn cpu_array(&self, cpu: usize) -> Option<ArrayCacheRef> {
        let addr = self.array[cpu].load(Ordering::Relaxed);
        (addr != 0).then_some(ArrayCacheRef(addr))
    }
    /// This CPU's array (Linux `ac_data`); callers have interrupts off.
    fn ac_data(&self) -> ArrayCacheRef {
        self.cpu_array(smp_processor_id()).expect("every online CPU has an array cache")
    }
    /// Install `ac` as CPU `cpu`'s array and return the old one.
    pub(super) fn set_cpu_array(&self, cpu: usize, ac: Option<ArrayCacheRef>) -> Option<ArrayCacheRef> {
        let old = self.array[cpu].swap(ac.map_or(0, |a| a.0), Ordering::Relaxed);
        (old != 0).then_some(ArrayCacheRef(old))
    }
    /// Set the tunables after a resize (part of Linux `do_tune_cpucache`).
    pub(super) fn set_tunables(&self, limit: usize, batchcount: usize, shared: usize, online_cpus: usize) {
        self.limit.store(limit, Ordering::Relaxed);
        self.batchcount.store(batchcount, Ordering::Relaxed);
        self.shared.store(shared, Ordering::Relaxed);
        self.set_free_limit(online_cpus);
    }
    /// `free_limit = (1 + online CPUs) * batchcount + num` (Linux, in
    /// `kmem_cache_create`, `do_tune_cpucache` and the CPU-up callback).
    pub(super) fn set_free_limit(&self, online_cpus: usize) {
        let batchcount = self.batchcount.load(Ordering::Relaxed);
        self.free_limit.store((1 + online_cpus) * batchcount + self.num, Ordering::Relaxed);
    }
    /// The cache's lists, locked.
    pub fn lock_lists(&self) -> SpinLockIrqGuard<'_, KmemList3> {
        self.lists.lock()
    }
    pub(super) fn count_error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }
    pub(super) fn is_dying(&self) -> bool {
        self.dying.load(Ordering::Relaxed)
    }
    pub(super) fn set_dying(&self, dying: bool) {
        self.dying.store(dying, Ordering::Relaxed);
    }
    pub(super) fn set_next_reap(&self, next_reap: u32) {
        self.lists.lock().next_reap = next_reap;
    }
    /// The slab an object of this cache belongs to (Linux
    /// `GET_PAGE_SLAB(virt_to_page(objp))`).
    pub fn slab_of(&self, mem: &SlabMemory, objp: usize) -> Option<SlabRef> {
        let page = mem.virt_to_page(objp).filter(|p| p.is_slab())?;
        let (cache_id, slab) = page.page_get_cache_and_slab();
        (cache_id as usize == self.id).then(|| SlabRef(mem.at_offset(slab)))
    }
}

/// Where a slab allocator takes pages from and keeps its caches: the node,
/// the memory window, the cache chain, the general caches (Linux's
/// globals in `mm/slab.c`, gathered in one value so that host tests can
/// make as many independent allocators as they like).
pub struct SlabAllocator {
    /// The bytes behind the addresses.
    pub mem: SlabMemory,
    /// The cache of cache descriptors (Linux `cache_cache`, a static).
    pub(super) cache_cache: KmemCache,
    /// Every cache by slot (Linux `cache_chain`, guarded by
    /// `cache_chain_sem`); slot 0 is `cache_cache`.
    pub(super) chain: SpinLockIrq<[Option<&'static KmemCache>; MAX_CACHES]>,
    /// The general caches of `kmalloc` (Linux `malloc_sizes`).
    pub(super) malloc_sizes: super::kmalloc::MallocSizes,
    /// How far `kmem_cache_init` got (Linux `g_cpucache_up`).
    pub(super) g_cpucache_up: AtomicUsize,
    /// Most objects an off-slab slab may have (Linux `offslab_limit`).
    pub(super) offslab_limit: AtomicUsize,
    /// Order slabs stop growing at (Linux `slab_break_gfp_order`).
    pub(super) slab_break_gfp_order: usize,
    /// Pages in slabs (Linux 2.6.11 `nr_slab` page state).
    pub(super) nr_slab: AtomicUsize,
    /// Pages in `SLAB_RECLAIM_ACCOUNT` slabs (Linux `slab_reclaim_pages`).
    pub(super) slab_reclaim_pages: AtomicUsize,
    /// The bootstrap arrays (Linux `initarray_cache`, `initarray_generic`).
    pub(super) initarray_cache: ArrayCacheRef,
    pub(super) initarray_generic: ArrayCacheRef,
    /// Switches that turn a mechanism off, so that a test can show its
    /// check fails without it; only test builds read them.
    pub test_switches: TestSwitches,
}

/// Mechanisms a test may switch off (read in test builds only).
#[derive(Debug, Default)]
pub struct TestSwitches {
    /// Every slab starts at colour 0.
    pub no_colouring: AtomicBool,
    /// The slab shrinker reports nothing to reclaim.
    pub no_shrinker: AtomicBool,
    /// `kmem_cache_free` skips the double-free checks.
    pub no_double_free_check: AtomicBool,
}

impl SlabAllocator {
    /// Is the test switch `pick` on? Never outside test builds.
    pub(super) fn switched_off(&self, pick: impl Fn(&TestSwitches) -> &AtomicBool) -> bool {
        cfg!(test) && pick(&self.test_switches).load(Ordering::Relaxed)
    }
}

/// `g_cpucache_up` states (Linux's enum): no cache yet, the first general
/// cache uses the static array, every cache has real arrays.
pub(super) const CPUCACHE_NONE: usize = 0;
pub(super) const CPUCACHE_PARTIAL: usize = 1;
pub(super) const CPUCACHE_FULL: usize = 2;

/// Words of bootstrap memory an allocator needs: two arrays of
/// `BOOT_CPUCACHE_ENTRIES` (Linux's `struct arraycache_init` pair).
pub const BOOT_AREA_WORDS: usize = 2 * (ARRAY_CACHE_HEADER_WORDS + BOOT_CPUCACHE_ENTRIES);

impl SlabAllocator {
    /// Start an allocator over `mem` (Linux's static initialisers of
    /// `cache_cache` and the bootstrap arrays, and step 1 of
    /// `kmem_cache_init`: `cache_cache`'s geometry). `boot_area` must be the
    /// [`BOOT_AREA_WORDS`] words `mem` was made with. Nothing is allocated
    /// yet; [`SlabAllocator::kmem_cache_init`] does the rest.
    pub fn new(mem: SlabMemory, boot_area_start: usize, totalram_pages: usize) -> SlabAllocator {
        let slab_break_gfp_order =
            if totalram_pages > (32 << 20) / PAGE_SIZE { BREAK_GFP_ORDER_HI } else { BREAK_GFP_ORDER_LO };
        // cache_cache: objects are cache descriptors, L1-aligned.
        let objsize = align_up(core::mem::size_of::<KmemCache>(), L1_CACHE_BYTES);
        let est = cache_estimate(0, objsize, L1_CACHE_BYTES, SlabFlags::empty());
        assert!(est.num > 0, "a cache descriptor fits in a page");
        let layout = Layout {
            objsize,
            align: L1_CACHE_BYTES,
            flags: SlabFlags::SLAB_NO_REAP,
            gfporder: 0,
            num: est.num,
            colour: est.left_over / L1_CACHE_BYTES,
            colour_off: L1_CACHE_BYTES,
            slab_size: align_up(est.num * BUFCTL_SIZE + SLAB_DESCRIPTOR_SIZE, L1_CACHE_BYTES),
            dbghead: 0,
            reallen: objsize,
        };
        let initarray_cache = ArrayCacheRef(boot_area_start);
        let initarray_generic = ArrayCacheRef(boot_area_start + array_cache_size(BOOT_CPUCACHE_ENTRIES));
        initarray_cache.init(&mem, BOOT_CPUCACHE_ENTRIES, 1);
        initarray_generic.init(&mem, BOOT_CPUCACHE_ENTRIES, 1);
        let cache_cache = KmemCache::new("kmem_cache", 0, layout, None, None);
        cache_cache.set_cpu_array(smp_processor_id(), Some(initarray_cache));
        cache_cache.set_free_limit(1);
        SlabAllocator {
            mem,
            cache_cache,
            chain: SpinLockIrq::new([None; MAX_CACHES]),
            malloc_sizes: super::kmalloc::MallocSizes::new(),
            g_cpucache_up: AtomicUsize::new(CPUCACHE_NONE),
            offslab_limit: AtomicUsize::new(0),
            slab_break_gfp_order,
            nr_slab: AtomicUsize::new(0),
            slab_reclaim_pages: AtomicUsize::new(0),
            initarray_cache,
            initarray_generic,
            test_switches: TestSwitches::default(),
        }
    }

    /// The node slabs come from.
    pub fn pgdat(&self) -> &'static PgData {
        self.mem.pgdat()
    }

    /// Pages in slabs (Linux `nr_slab`; `Slab:` in `/proc/meminfo`).
    pub fn nr_slab_pages(&self) -> usize {
        self.nr_slab.load(Ordering::Relaxed)
    }

    /// Pages in `SLAB_RECLAIM_ACCOUNT` slabs (Linux 2.6.11
    /// `slab_reclaim_pages`; 2.6.19's `NR_SLAB_RECLAIMABLE`).
    pub fn nr_slab_reclaimable(&self) -> usize {
        self.slab_reclaim_pages.load(Ordering::Relaxed)
    }

    /// `cache_cache`.
    pub fn cache_cache(&'static self) -> &'static KmemCache {
        &self.cache_cache
    }

    /// Every cache, `cache_cache` first (a snapshot of the chain).
    pub fn caches(&'static self) -> impl Iterator<Item = &'static KmemCache> {
        let chain = *self.chain.lock();
        core::iter::once(&self.cache_cache).chain(chain.into_iter().skip(1).flatten())
    }

    /// Every cache, newest first and `cache_cache` last: the general caches
    /// largest first, the order for shrinking everything (an off-slab
    /// slab's descriptor goes back to a smaller, earlier cache).
    pub fn caches_newest_first(&'static self) -> impl Iterator<Item = &'static KmemCache> {
        let chain = *self.chain.lock();
        chain.into_iter().skip(1).rev().flatten().chain(core::iter::once(&self.cache_cache))
    }

    /// The cache in slot `id`.
    fn cache_by_id(&'static self, id: usize) -> Option<&'static KmemCache> {
        if id == 0 { Some(&self.cache_cache) } else { self.chain.lock().get(id).copied().flatten() }
    }

    /// The cache an object belongs to (Linux `virt_to_cache` /
    /// `GET_PAGE_CACHE(virt_to_page(objp))`), if `objp` is in a slab.
    pub fn virt_to_cache(&'static self, objp: usize) -> Option<&'static KmemCache> {
        let page = self.mem.virt_to_page(objp).filter(|p| p.is_slab())?;
        self.cache_by_id(page.page_get_cache_and_slab().0 as usize)
    }

    /// Make a cache (Linux `kmem_cache_create`): check the arguments,
    /// compute the geometry ([`KmemCache::layout`]), take a descriptor from
    /// `cache_cache`, give it per-CPU arrays (the static one for the very
    /// first general cache, a `kmalloc`ed boot-size one while
    /// `kmem_cache_init` runs, full-size ones afterwards), and link it into
    /// the chain. `SLAB_PANIC` turns a failure into a panic.
    pub fn kmem_cache_create(
        &'static self,
        name: &'static str,
        size: usize,
        align: usize,
        flags: SlabFlags,
        ctor: Option<Ctor>,
    ) -> Result<&'static KmemCache, CreateError> {
        let result = self.try_create(name, size, align, flags, ctor);
        if let Err(err) = result {
            if flags.contains(SlabFlags::SLAB_PANIC) {
                panic!("kmem_cache_create(): failed to create slab `{name}' ({err:?})");
            }
            log::error!("kmem_cache_create: couldn't create cache {name}: {err:?}");
        }
        result
    }

    fn try_create(
        &'static self,
        name: &'static str,
        size: usize,
        align: usize,
        flags: SlabFlags,
        ctor: Option<Ctor>,
    ) -> Result<&'static KmemCache, CreateError> {
        if crate::preempt::in_interrupt() {
            return Err(CreateError::InInterrupt);
        }
        if size < BYTES_PER_WORD || size > (PAGE_SIZE << MAX_OBJ_ORDER) || (align != 0 && !align.is_power_of_two()) {
            return Err(CreateError::BadSize);
        }
        if !CREATE_MASK.contains(flags) {
            return Err(CreateError::BadFlags);
        }
        if self.caches().any(|c| c.name == name) {
            log::error!("kmem_cache_create: duplicate cache {name}");
            return Err(CreateError::Duplicate);
        }
        let layout = KmemCache::layout(LayoutRequest {
            size,
            align,
            flags,
            break_gfp_order: self.slab_break_gfp_order,
            offslab_limit: self.offslab_limit.load(Ordering::Relaxed),
        })
        .ok_or(CreateError::NoFit)?;
        let slabp_cache = if layout.flags.contains(SlabFlags::CFLGS_OFF_SLAB) {
            Some(self.kmem_find_general_cachep(layout.slab_size, GfpFlags::empty()).ok_or(CreateError::NoMemory)?)
        } else {
            None
        };
        let id = {
            let mut chain = self.chain.lock();
            let id = (1..MAX_CACHES).find(|&i| chain[i].is_none()).ok_or(CreateError::NoMemory)?;
            // Reserve the slot while the descriptor is made.
            chain[id] = Some(&self.cache_cache);
            id
        };
        let release_slot = || self.chain.lock()[id] = None;
        let Some(vaddr) = self.kmem_cache_alloc(&self.cache_cache, GfpFlags::GFP_KERNEL) else {
            release_slot();
            return Err(CreateError::NoMemory);
        };
        let cachep = self.mem.emplace(vaddr, KmemCache::new(name, id, layout, ctor, slabp_cache));
        if let Err(err) = self.setup_cpu_cache(cachep) {
            release_slot();
            // The descriptor never held objects: straight back.
            let _ = self.kmem_cache_free(&self.cache_cache, vaddr);
            return Err(err);
        }
        cachep.set_next_reap(crate::time::jiffies_32().wrapping_add(super::slab_cpucache::reaptimeout_list3(id)));
        self.chain.lock()[id] = Some(cachep);
        Ok(cachep)
    }

    /// Give a new cache its per-CPU arrays (the `g_cpucache_up` branch of
    /// Linux `kmem_cache_create`).
    fn setup_cpu_cache(&'static self, cachep: &'static KmemCache) -> Result<(), CreateError> {
        match self.g_cpucache_up.load(Ordering::Relaxed) {
            CPUCACHE_FULL => self.enable_cpucache(cachep).map_err(|_| CreateError::NoMemory),
            state => {
                // During kmem_cache_init only the boot CPU runs.
                let ac = if state == CPUCACHE_NONE {
                    // The first general cache: kmalloc would need this very
                    // cache, so it starts on the static array.
                    self.g_cpucache_up.store(CPUCACHE_PARTIAL, Ordering::Relaxed);
                    self.initarray_generic
                } else {
                    let addr = self
                        .kmalloc(array_cache_size(BOOT_CPUCACHE_ENTRIES), GfpFlags::GFP_KERNEL)
                        .ok_or(CreateError::NoMemory)?;
                    ArrayCacheRef(addr)
                };
                ac.init(&self.mem, BOOT_CPUCACHE_ENTRIES, 1);
                cachep.set_cpu_array(smp_processor_id(), Some(ac));
                cachep.set_free_limit(crate::arch::current::smp::num_online_cpus());
                Ok(())
            }
        }
    }

    /// Destroy a cache (Linux `kmem_cache_destroy`): it leaves the chain
    /// only if shrinking freed every slab; otherwise "Can't free all
    /// objects" and it stays, usable, with its objects (Linux returns 1).
    /// On success every page of the cache is back in the buddy allocator,
    /// its arrays and descriptor are freed, and `cachep` must not be used
    /// again.
    pub fn kmem_cache_destroy(&'static self, cachep: &'static KmemCache) -> Result<(), usize> {
        assert!(!core::ptr::eq(cachep, &self.cache_cache), "cache_cache is never destroyed");
        cachep.set_dying(true);
        let still_in_use = self.__cache_shrink(cachep);
        if still_in_use > 0 {
            super::slab_debug::slab_error(cachep, "kmem_cache_destroy", "Can't free all objects");
            cachep.set_dying(false);
            return Err(still_in_use);
        }
        for cpu in 0..NR_CPUS {
            if let Some(ac) = cachep.set_cpu_array(cpu, None) {
                self.free_array_cache(ac);
            }
        }
        if let Some(shared) = cachep.lock_lists().shared.take() {
            self.free_array_cache(shared);
        }
        self.chain.lock()[cachep.id] = None;
        let vaddr = core::ptr::from_ref(cachep) as usize;
        self.kmem_cache_free(&self.cache_cache, vaddr).expect("a cache descriptor is a cache_cache object");
        Ok(())
    }

    /// Give back an array cache: `kfree`, except for the two static ones.
    pub(super) fn free_array_cache(&'static self, ac: ArrayCacheRef) {
        if ac != self.initarray_cache && ac != self.initarray_generic {
            self.kfree(ac.0).expect("array caches are kmalloc objects");
        }
    }

    /// Shrink a cache (Linux `kmem_cache_shrink`): empty every CPU's array
    /// and the shared one into the slabs, then give every free slab back to
    /// the buddy allocator. Returns the slabs still in use (0: the cache
    /// holds no pages now).
    pub fn kmem_cache_shrink(&'static self, cachep: &'static KmemCache) -> usize {
        self.__cache_shrink(cachep)
    }

    /// Linux `__cache_shrink`; returns partial + full slabs left.
    fn __cache_shrink(&'static self, cachep: &'static KmemCache) -> usize {
        self.drain_cpu_caches(cachep);
        while let Some(slabp) = self.take_free_slab(cachep) {
            self.destroy_unlinked_slab(cachep, slabp);
        }
        let l3 = cachep.lock_lists();
        l3.slabs_partial.len() + l3.slabs_full.len()
    }

    /// Unlink the first free slab of `cachep`, if any, for destruction.
    pub(super) fn take_free_slab(&'static self, cachep: &'static KmemCache) -> Option<SlabRef> {
        let mut l3 = cachep.lock_lists();
        let slabp = l3.slabs_free.first()?;
        l3.slabs_free.del(&self.mem, slabp);
        l3.free_objects -= cachep.num;
        Some(slabp)
    }

    /// Destroy a slab [`SlabAllocator::take_free_slab`] unlinked, counted
    /// as reaped.
    pub(super) fn destroy_unlinked_slab(&'static self, cachep: &'static KmemCache, slabp: SlabRef) {
        self.slab_destroy(cachep, slabp);
        stat_inc(&cachep.stats.reaped);
    }

    /// Empty every CPU's array of `cachep` into the slabs, each CPU its own
    /// (Linux `drain_cpu_caches`: `smp_call_function_all_cpus(do_drain)`),
    /// then the shared array. Needs interrupts on (it waits for the other
    /// CPUs); with them off only this CPU's array can be drained, and the
    /// others keep their objects until their next reap.
    pub fn drain_cpu_caches(&'static self, cachep: &'static KmemCache) {
        let do_drain = || {
            let ac = cachep.ac_data();
            let mut l3 = cachep.lock_lists();
            let avail = ac.avail(&self.mem);
            self.free_block(cachep, &mut l3, ac, avail);
            ac.set_avail(&self.mem, 0);
        };
        if !run_on_each_cpu(&do_drain) {
            let flags = local_irq_save();
            do_drain();
            local_irq_restore(flags);
        }
        let mut l3 = cachep.lock_lists();
        if let Some(shared) = l3.shared {
            self.drain_array_locked(cachep, &mut l3, shared, true);
        }
    }

    /// Take up to a fifth of an array's objects back to the slabs, or all
    /// with `force`; an array used since the last call is only marked
    /// untouched (Linux `drain_array_locked`). Caller holds the lists.
    pub(super) fn drain_array_locked(&'static self, cachep: &'static KmemCache, l3: &mut KmemList3, ac: ArrayCacheRef, force: bool) {
        if ac.touched(&self.mem) && !force {
            ac.set_touched(&self.mem, false);
            return;
        }
        let avail = ac.avail(&self.mem);
        if avail == 0 {
            return;
        }
        let mut tofree = if force { avail } else { (ac.limit(&self.mem) + 4) / 5 };
        if tofree > avail {
            tofree = avail.div_ceil(2);
        }
        self.free_block(cachep, l3, ac, tofree);
        ac.remove_first(&self.mem, tofree);
    }

    /// Allocate an object (Linux `kmem_cache_alloc` / `__cache_alloc`):
    /// with interrupts off, pop the newest object of this CPU's array (an
    /// "allochit": no lock, cache-warm), or refill the array from the slabs
    /// first. `None` when no memory could be found.
    pub fn kmem_cache_alloc(&'static self, cachep: &'static KmemCache, flags: GfpFlags) -> Option<usize> {
        // A caller with interrupts off cannot sleep, whatever its flags say
        // (early boot, before interrupts are set up, allocates GFP_KERNEL:
        // 2.6.31's `gfp_allowed_mask` makes the same correction).
        let flags = if irqs_enabled() { flags } else { flags - GfpFlags::__GFP_WAIT };
        let irqs = local_irq_save();
        let ac = cachep.ac_data();
        let objp = if ac.avail(&self.mem) > 0 {
            stat_inc(&cachep.stats.allochit);
            ac.set_touched(&self.mem, true);
            Some(ac.pop(&self.mem))
        } else {
            stat_inc(&cachep.stats.allocmiss);
            self.cache_alloc_refill(cachep, flags)
        };
        local_irq_restore(irqs);
        objp.map(|objp| if DEBUG_SLAB { self.cache_alloc_debugcheck_after(cachep, objp) } else { objp })
    }

    /// Refill this CPU's empty array and take one object (Linux 2.6.11
    /// `cache_alloc_refill`), interrupts off:
    /// 1. a batch (`batchcount`, only `BATCHREFILL_LIMIT` for an array
    ///    unused since the last reap) comes from the shared array if it has
    ///    objects;
    /// 2. otherwise from partial slabs, then free ones, following each
    ///    slab's bufctl chain; each slab then moves to the full or partial
    ///    list;
    /// 3. if still nothing, `cache_grow` makes a slab (interrupts may be
    ///    enabled meanwhile, so the array is looked at again) and we retry.
    fn cache_alloc_refill(&'static self, cachep: &'static KmemCache, flags: GfpFlags) -> Option<usize> {
        let mem = &self.mem;
        loop {
            let ac = cachep.ac_data();
            let mut batchcount = ac.batchcount(mem);
            if !ac.touched(mem) && batchcount > BATCHREFILL_LIMIT {
                batchcount = BATCHREFILL_LIMIT;
            }
            debug_assert_eq!(ac.avail(mem), 0);
            {
                let mut l3 = cachep.lock_lists();
                let from_shared = l3.shared.filter(|s| s.avail(mem) > 0);
                if let Some(shared) = from_shared {
                    let n = batchcount.min(shared.avail(mem));
                    let top = shared.avail(mem) - n;
                    mem.move_words(ac.entry_addr(0), shared.entry_addr(top), n);
                    shared.set_avail(mem, top);
                    shared.set_touched(mem, true);
                    ac.set_avail(mem, n);
                } else {
                    while batchcount > 0 {
                        let slab = match l3.slabs_partial.first() {
                            Some(slab) => (slab, ListKind::Partial),
                            None => {
                                l3.free_touched = true;
                                match l3.slabs_free.first() {
                                    Some(slab) => (slab, ListKind::Free),
                                    None => break,
                                }
                            }
                        };
                        let (slabp, from) = slab;
                        while slabp.inuse(mem) < cachep.num && batchcount > 0 {
                            let objnr = slabp.free(mem);
                            ac.push(mem, slabp.s_mem(mem) + objnr as usize * cachep.objsize);
                            slabp.set_inuse(mem, slabp.inuse(mem) + 1);
                            let next = slabp.bufctl(mem, objnr as usize);
                            if DEBUG_SLAB {
                                slabp.set_bufctl(mem, objnr as usize, BUFCTL_FREE);
                            }
                            slabp.set_free(mem, next);
                            stat_inc(&cachep.stats.num_allocations);
                            batchcount -= 1;
                        }
                        l3.list(from).del(mem, slabp);
                        if slabp.free(mem) == BUFCTL_END {
                            l3.slabs_full.add(mem, slabp);
                        } else {
                            l3.slabs_partial.add(mem, slabp);
                        }
                    }
                    l3.free_objects -= ac.avail(mem);
                }
            }
            if ac.avail(mem) == 0 {
                let grown = self.cache_grow(cachep, flags);
                // cache_grow may have enabled interrupts: an interrupt
                // handler may have refilled (or used) the array meanwhile.
                let ac = cachep.ac_data();
                if !grown && ac.avail(mem) == 0 {
                    return None;
                }
                if ac.avail(mem) == 0 {
                    continue;
                }
            }
            let ac = cachep.ac_data();
            ac.set_touched(mem, true);
            return Some(ac.pop(mem));
        }
    }

    /// Add one slab to a cache (Linux `cache_grow`), called with interrupts
    /// off: pick its colour, get pages (`kmem_getpages`, with interrupts on
    /// if the caller may sleep), place the descriptor (`alloc_slabmgmt`),
    /// point the pages at cache and slab (`set_slab_attr`), build the free
    /// chain and run the constructor on every object (`cache_init_objs`),
    /// and put the slab on `slabs_free`. False if no memory.
    fn cache_grow(&'static self, cachep: &'static KmemCache, flags: GfpFlags) -> bool {
        let offset = {
            let mut l3 = cachep.lock_lists();
            let colour = l3.colour_next;
            l3.colour_next += 1;
            if l3.colour_next >= cachep.colour {
                l3.colour_next = 0;
            }
            if self.switched_off(|s| &s.no_colouring) { 0 } else { colour * cachep.colour_off }
        };
        let may_sleep = flags.contains(GfpFlags::__GFP_WAIT);
        if may_sleep {
            local_irq_enable();
        }
        let grown = self.kmem_getpages(cachep, flags).and_then(|objp| {
            let Some(slabp) = self.alloc_slabmgmt(cachep, objp, offset, flags) else {
                self.kmem_freepages(cachep, objp);
                return None;
            };
            self.set_slab_attr(cachep, slabp, objp);
            self.cache_init_objs(cachep, slabp);
            Some(slabp)
        });
        if may_sleep {
            local_irq_disable();
        }
        let Some(slabp) = grown else { return false };
        let mut l3 = cachep.lock_lists();
        l3.slabs_free.add_tail(&self.mem, slabp);
        l3.free_objects += cachep.num;
        stat_inc(&cachep.stats.grown);
        true
    }

    /// Pages for a new slab (Linux `kmem_getpages`): `alloc_pages` with the
    /// cache's order and `gfpflags` (`__GFP_DMA` for a DMA cache), marked
    /// `PG_slab`, counted in `nr_slab` (and `slab_reclaim_pages`). Never
    /// high memory: a slab needs a permanent address, so `__GFP_HIGHMEM`
    /// is refused with a warning and dropped. Reclaimable caches' pages are
    /// grouped as `MIGRATE_RECLAIMABLE` (2.6.24 adds `__GFP_RECLAIMABLE`).
    fn kmem_getpages(&'static self, cachep: &KmemCache, flags: GfpFlags) -> Option<usize> {
        let mut gfp = (flags | cachep.gfpflags) - GfpFlags::__GFP_ZERO;
        if gfp.contains(GfpFlags::__GFP_HIGHMEM) {
            log::warn!("slab {}: __GFP_HIGHMEM is not allowed for slab pages, ignored", cachep.name);
            gfp.remove(GfpFlags::__GFP_HIGHMEM);
        }
        if cachep.flags.contains(SlabFlags::SLAB_RECLAIM_ACCOUNT) {
            gfp.insert(GfpFlags::__GFP_RECLAIMABLE);
        }
        let page = self.pgdat().alloc_pages(gfp, cachep.gfporder)?;
        let addr = self.mem.page_address(page).expect("slab pages are low memory");
        let nr_pages = 1 << cachep.gfporder;
        for i in 0..nr_pages {
            self.mem.virt_to_page(addr + i * PAGE_SIZE).expect("inside the block").set_slab();
        }
        self.nr_slab.fetch_add(nr_pages, Ordering::Relaxed);
        if cachep.flags.contains(SlabFlags::SLAB_RECLAIM_ACCOUNT) {
            self.slab_reclaim_pages.fetch_add(nr_pages, Ordering::Relaxed);
        }
        Some(addr)
    }

    /// Give a slab's pages back (Linux `kmem_freepages`): clear `PG_slab`
    /// on each (a page without it is reported: someone broke the slab),
    /// uncount, and free the block to the buddy allocator.
    fn kmem_freepages(&'static self, cachep: &KmemCache, addr: usize) {
        let nr_pages = 1 << cachep.gfporder;
        for i in 0..nr_pages {
            let page = self.mem.virt_to_page(addr + i * PAGE_SIZE).expect("inside the block");
            if !page.test_clear_slab() {
                log::error!("slab {}: kmem_freepages: page at {:#x} lost PG_slab", cachep.name, addr + i * PAGE_SIZE);
            }
        }
        self.nr_slab.fetch_sub(nr_pages, Ordering::Relaxed);
        if cachep.flags.contains(SlabFlags::SLAB_RECLAIM_ACCOUNT) {
            self.slab_reclaim_pages.fetch_sub(nr_pages, Ordering::Relaxed);
        }
        let page = self.mem.virt_to_page(addr).expect("a slab address");
        self.pgdat().__free_pages(page, cachep.gfporder);
    }

    /// Place a slab's descriptor (Linux `alloc_slabmgmt`): off-slab in an
    /// object of `slabp_cache`, or on-slab right after the colour offset,
    /// with the objects after it. `s_mem` is where object 0 starts.
    fn alloc_slabmgmt(&'static self, cachep: &KmemCache, objp: usize, colour_off: usize, flags: GfpFlags) -> Option<SlabRef> {
        let (slabp, colouroff) = match cachep.slabp_cache {
            Some(slabp_cache) if cachep.off_slab() => (SlabRef(self.kmem_cache_alloc(slabp_cache, flags)?), colour_off),
            _ => (SlabRef(objp + colour_off), colour_off + cachep.slab_size),
        };
        slabp.set_links(&self.mem, None, None);
        self.mem.write_word(slabp.word(2), colouroff);
        self.mem.write_word(slabp.word(3), objp + colouroff);
        slabp.set_inuse(&self.mem, 0);
        Some(slabp)
    }

    /// Point every page of the slab at its cache and slab (Linux
    /// `set_slab_attr`: `SET_PAGE_CACHE` / `SET_PAGE_SLAB`).
    fn set_slab_attr(&'static self, cachep: &KmemCache, slabp: SlabRef, objp: usize) {
        let slab = self.mem.offset_of(slabp.0);
        for i in 0..1usize << cachep.gfporder {
            let page = self.mem.virt_to_page(objp + i * PAGE_SIZE).expect("inside the slab");
            page.page_set_cache_and_slab(cachep.id as u32, slab);
        }
    }

    /// Build a new slab's free chain `0 -> 1 -> ... -> num-1 -> END` and
    /// construct its objects (Linux `cache_init_objs`); with debugging,
    /// poison them and set their red zones first.
    fn cache_init_objs(&'static self, cachep: &KmemCache, slabp: SlabRef) {
        let s_mem = slabp.s_mem(&self.mem);
        for i in 0..cachep.num {
            let objp = s_mem + i * cachep.objsize;
            if DEBUG_SLAB {
                super::slab_debug::init_obj(&self.mem, cachep, objp);
            } else if let Some(ctor) = cachep.ctor {
                ctor(&self.mem, objp);
            }
            slabp.set_bufctl(&self.mem, i, i as u32 + 1);
        }
        slabp.set_bufctl(&self.mem, cachep.num - 1, BUFCTL_END);
        slabp.set_free(&self.mem, 0);
    }

    /// Free a slab that is off every list (Linux `slab_destroy`): with
    /// debugging, check each object's poison and red zones one last time;
    /// give the pages back, and an off-slab descriptor to its cache.
    fn slab_destroy(&'static self, cachep: &KmemCache, slabp: SlabRef) {
        let s_mem = slabp.s_mem(&self.mem);
        let addr = s_mem - slabp.colouroff(&self.mem);
        if DEBUG_SLAB {
            for i in 0..cachep.num {
                super::slab_debug::check_destroyed_obj(&self.mem, cachep, s_mem + i * cachep.objsize);
            }
        }
        self.kmem_freepages(cachep, addr);
        if let Some(slabp_cache) = cachep.slabp_cache.filter(|_| cachep.off_slab()) {
            self.kmem_cache_free(slabp_cache, slabp.0).expect("an off-slab descriptor is an object of slabp_cache");
        }
    }

    /// Put `nr_objects` objects of array `ac` (its first entries) back into
    /// their slabs (Linux `free_block`), holding the lists: each object's
    /// index goes to the head of its slab's free chain, and the slab moves
    /// to the partial list — or, when it becomes empty, to the free list,
    /// unless the cache already holds more than `free_limit` free objects,
    /// in which case the slab goes straight back to the buddy allocator.
    pub(super) fn free_block(&'static self, cachep: &'static KmemCache, l3: &mut KmemList3, ac: ArrayCacheRef, nr_objects: usize) {
        let mem = &self.mem;
        for i in 0..nr_objects {
            let objp = ac.entry(mem, i);
            let slabp = cachep.slab_of(mem, objp).expect("array caches hold objects of their cache");
            let objnr = (objp - slabp.s_mem(mem)) / cachep.objsize;
            if DEBUG_SLAB && slabp.bufctl(mem, objnr) != BUFCTL_FREE {
                super::slab_debug::slab_error(cachep, "free_block", "double free detected");
                log::error!("slab: object {objp:#x} of cache `{}' dropped from the array", cachep.name);
                cachep.count_error();
                continue;
            }
            // The list the slab is on follows from its count, before this free.
            let kind = slab_kind_for(cachep, slabp.inuse(mem));
            l3.list(kind).del(mem, slabp);
            slabp.set_bufctl(mem, objnr, slabp.free(mem));
            slabp.set_free(mem, objnr as u32);
            slabp.set_inuse(mem, slabp.inuse(mem) - 1);
            l3.free_objects += 1;
            if slabp.inuse(mem) == 0 {
                if l3.free_objects > cachep.free_limit() {
                    l3.free_objects -= cachep.num;
                    self.slab_destroy(cachep, slabp);
                    stat_inc(&cachep.stats.reaped);
                } else {
                    l3.slabs_free.add(mem, slabp);
                }
            } else {
                l3.slabs_partial.add_tail(mem, slabp);
            }
        }
    }

    /// Make room in a full array (Linux `cache_flusharray`): its oldest
    /// `batchcount` objects go to the shared array if it has room, or back
    /// to their slabs.
    fn cache_flusharray(&'static self, cachep: &'static KmemCache, ac: ArrayCacheRef) {
        let mem = &self.mem;
        let mut batchcount = ac.batchcount(mem);
        let mut l3 = cachep.lock_lists();
        let shared_room = l3.shared.map(|s| (s, s.limit(mem) - s.avail(mem))).filter(|&(_, room)| room > 0);
        if let Some((shared, room)) = shared_room {
            batchcount = batchcount.min(room);
            let avail = shared.avail(mem);
            mem.move_words(shared.entry_addr(avail), ac.entry_addr(0), batchcount);
            shared.set_avail(mem, avail + batchcount);
        } else {
            self.free_block(cachep, &mut l3, ac, batchcount);
        }
        drop(l3);
        ac.remove_first(mem, batchcount);
    }

    /// Free an object of `cachep` (Linux `kmem_cache_free` /
    /// `__cache_free`): with interrupts off, push it on this CPU's array
    /// (a "freehit"), flushing a batch first if the array is full. The
    /// object must be in a slab page of this cache — anything else is
    /// reported and refused; with [`DEBUG_SLAB`] the full
    /// `cache_free_debugcheck` runs first (boundary, double free, red
    /// zones, poisoning).
    pub fn kmem_cache_free(&'static self, cachep: &'static KmemCache, objp: usize) -> Result<(), SlabError> {
        let objp = super::slab_debug::cache_free_check(self, cachep, objp)?;
        let irqs = local_irq_save();
        let ac = cachep.ac_data();
        if ac.avail(&self.mem) < ac.limit(&self.mem) {
            stat_inc(&cachep.stats.freehit);
        } else {
            stat_inc(&cachep.stats.freemiss);
            self.cache_flusharray(cachep, ac);
        }
        ac.push(&self.mem, objp);
        local_irq_restore(irqs);
        Ok(())
    }

    /// Counts of one cache for `/proc/slabinfo` (Linux `s_show`): active
    /// objects are those not free in a slab (allocated, or in an array).
    pub fn cache_counts(&'static self, cachep: &'static KmemCache) -> CacheCounts {
        let l3 = cachep.lock_lists();
        let mem = &self.mem;
        let partial_inuse: usize = l3.slabs_partial.iter(mem).map(|s| s.inuse(mem)).sum();
        let full = l3.slabs_full.len();
        let num_slabs = full + l3.slabs_partial.len() + l3.slabs_free.len();
        CacheCounts {
            active_objs: full * cachep.num + partial_inuse,
            num_objs: num_slabs * cachep.num,
            active_slabs: full + l3.slabs_partial.len(),
            num_slabs,
            free_slabs: l3.slabs_free.len(),
            free_objects: l3.free_objects,
            shared_avail: l3.shared.map_or(0, |s| s.avail(mem)),
        }
    }

    /// Check every invariant of a cache's lists (for tests and the
    /// monitor): each slab on the right list for its `inuse`, its free
    /// chain exactly `num - inuse` long with distinct indices below `num`,
    /// its pages pointing back at it, and `free_objects` the sum of the
    /// free chains. Holds the lists while it looks.
    pub fn check_cache(&'static self, cachep: &'static KmemCache) -> Result<(), &'static str> {
        let mem = &self.mem;
        let l3 = cachep.lock_lists();
        let mut free_objects = 0;
        for (kind, list) in [(ListKind::Partial, &l3.slabs_partial), (ListKind::Full, &l3.slabs_full), (ListKind::Free, &l3.slabs_free)] {
            if list.iter(mem).count() != list.len() {
                return Err("a slab list's length does not match its links");
            }
            for slabp in list.iter(mem) {
                let inuse = slabp.inuse(mem);
                if slab_kind_for(cachep, inuse) != kind {
                    return Err("a slab is on the wrong list for its inuse count");
                }
                let mut seen = [false; 1024];
                let mut n = 0;
                let mut i = slabp.free(mem);
                while i != BUFCTL_END {
                    let idx = i as usize;
                    if idx >= cachep.num || (idx < seen.len() && seen[idx]) {
                        return Err("a free chain has an index out of range or twice");
                    }
                    if idx < seen.len() {
                        seen[idx] = true;
                    }
                    n += 1;
                    i = slabp.bufctl(mem, idx);
                }
                if n + inuse != cachep.num {
                    return Err("free chain length + inuse != num");
                }
                free_objects += n;
                let page_of_slab = mem.virt_to_page(slabp.s_mem(mem)).ok_or("s_mem outside memory")?;
                let (cache_id, slab) = page_of_slab.page_get_cache_and_slab();
                if !page_of_slab.is_slab() || cache_id as usize != cachep.id || mem.at_offset(slab) != slabp.0 {
                    return Err("a slab page does not point back at its cache and slab");
                }
            }
        }
        if free_objects != l3.free_objects {
            return Err("free_objects does not match the free chains");
        }
        Ok(())
    }
}

/// Run `f` on every online CPU with interrupts off, each CPU on its own
/// data (Linux `smp_call_function_all_cpus`). Alone, it just runs here —
/// early in the boot interrupts are still off and an IPI would be refused.
/// False if the other CPUs could not be asked (interrupts off).
pub(super) fn run_on_each_cpu(f: &(dyn Fn() + Sync)) -> bool {
    if crate::arch::current::smp::num_online_cpus() == 1 {
        let flags = local_irq_save();
        f();
        local_irq_restore(flags);
        true
    } else {
        crate::arch::current::smp::on_each_cpu_with(f).is_ok()
    }
}

/// The list a slab with `inuse` objects in use belongs on.
fn slab_kind_for(cachep: &KmemCache, inuse: usize) -> ListKind {
    if inuse == 0 {
        ListKind::Free
    } else if inuse == cachep.num {
        ListKind::Full
    } else {
        ListKind::Partial
    }
}

/// What `/proc/slabinfo` shows of a cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheCounts {
    /// Objects not free in a slab.
    pub active_objs: usize,
    /// Objects of every slab.
    pub num_objs: usize,
    /// Full and partial slabs.
    pub active_slabs: usize,
    /// Every slab.
    pub num_slabs: usize,
    /// Free slabs.
    pub free_slabs: usize,
    /// Free objects in the slabs (Linux `free_objects`).
    pub free_objects: usize,
    /// Objects in the shared array.
    pub shared_avail: usize,
}
