//! # `kmalloc`, the general caches, and how the slab allocator starts itself
//!
//! `kmalloc(size, flags)` is the slab allocator for callers without a cache
//! of their own: it rounds `size` up to the next of fourteen **general
//! caches** (`malloc_sizes`, Linux `include/linux/kmalloc_sizes.h` for 4 KiB
//! pages and 64-byte cache lines: `size-32`, `size-64`, `size-128`,
//! `size-192`, `size-256`, ..., `size-131072`), each with a twin
//! `size-N(DMA)` whose slabs come from `ZONE_DMA` for `GFP_DMA`.
//! `kfree(p)` finds the cache from `p`'s page (`virt_to_cache`); `ksize(p)`
//! says how many bytes `p` really has.
//!
//! ## The chicken-and-egg of `kmem_cache_init` (Linux 2.6.11)
//! Every cache descriptor is an object of a cache (`cache_cache`), and
//! every cache needs per-CPU arrays, which are allocated with `kmalloc` —
//! from general caches, which are caches. Linux breaks the circle with
//! static data and an order of creation:
//! 1. `cache_cache` is a **static** descriptor (here: a field of
//!    [`SlabAllocator`], set up by `SlabAllocator::new`), its array the static
//!    `initarray_cache` of one entry. Allocating a descriptor from it only
//!    needs pages.
//! 2. The first general cache created is the one `kmalloc` will use for
//!    array caches; it gets the static `initarray_generic`
//!    (`g_cpucache_up = PARTIAL`). Every later cache's one-entry boot array
//!    is `kmalloc`ed — from that first cache. (2.6.11 simply creates
//!    `size-32` first and relies on arrays fitting in 32 bytes; 2.6.14
//!    names the cache `INDEX_AC`. We follow 2.6.14 here, because with a
//!    host test's 8-byte words the boot array needs `size-64`.)
//! 3. All general caches are created, smallest first, so that off-slab
//!    descriptors of big objects find a smaller general cache already there
//!    (`offslab_limit` grows with each on-slab cache).
//! 4. The two static arrays are **replaced** by `kmalloc`ed copies, with
//!    interrupts off.
//! 5. `enable_cpucache` gives every cache its real, full-size arrays
//!    (`g_cpucache_up = FULL`); from now on `kmem_cache_create` does so at
//!    once.
//!
//! Linux's `kmem_cache_init` runs in `mm_init` right after `mem_init`
//! (seed 002), as ours does (`init.rs`).

use core::sync::atomic::Ordering;

use super::gfp::GfpFlags;
use super::slab::{
    ArrayCacheRef, BOOT_CPUCACHE_ENTRIES, BUFCTL_SIZE, CPUCACHE_FULL, KmemCache, SLAB_DESCRIPTOR_SIZE, SlabAllocator,
    SlabError, SlabFlags, array_cache_size,
};
use crate::arch::current::irqflags::{local_irq_restore, local_irq_save};
use crate::arch::current::smp::smp_processor_id;

/// The general caches' sizes (Linux `kmalloc_sizes.h` with `PAGE_SIZE`
/// 4096 and `L1_CACHE_BYTES` 64: no `size-96`, but `size-192`).
pub const MALLOC_SIZES: [usize; 14] = [32, 64, 128, 192, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072];
/// The largest `kmalloc` (Linux `KMALLOC_MAX_SIZE` for 2.6.11 i386).
pub const KMALLOC_MAX_SIZE: usize = MALLOC_SIZES[MALLOC_SIZES.len() - 1];
/// The caches' names (Linux `cache_names`).
const CACHE_NAMES: [(&str, &str); 14] = [
    ("size-32", "size-32(DMA)"),
    ("size-64", "size-64(DMA)"),
    ("size-128", "size-128(DMA)"),
    ("size-192", "size-192(DMA)"),
    ("size-256", "size-256(DMA)"),
    ("size-512", "size-512(DMA)"),
    ("size-1024", "size-1024(DMA)"),
    ("size-2048", "size-2048(DMA)"),
    ("size-4096", "size-4096(DMA)"),
    ("size-8192", "size-8192(DMA)"),
    ("size-16384", "size-16384(DMA)"),
    ("size-32768", "size-32768(DMA)"),
    ("size-65536", "size-65536(DMA)"),
    ("size-131072", "size-131072(DMA)"),
];

/// One general size (Linux `struct cache_sizes`).
pub struct CacheSizes {
    /// Object size (Linux `cs_size`).
    pub cs_size: usize,
    /// The normal cache (Linux `cs_cachep`), once created.
    cs_cachep: spin::Once<&'static KmemCache>,
    /// The `GFP_DMA` twin (Linux `cs_dmacachep`), once created.
    cs_dmacachep: spin::Once<&'static KmemCache>,
}

/// The general caches (Linux `malloc_sizes[]`).
pub struct MallocSizes([CacheSizes; MALLOC_SIZES.len()]);

impl MallocSizes {
    pub(super) const fn new() -> MallocSizes {
        let mut sizes = [const { CacheSizes { cs_size: 0, cs_cachep: spin::Once::new(), cs_dmacachep: spin::Once::new() } }; MALLOC_SIZES.len()];
        let mut i = 0;
        while i < MALLOC_SIZES.len() {
            sizes[i].cs_size = MALLOC_SIZES[i];
            i += 1;
        }
        MallocSizes(sizes)
    }

    /// The sizes, smallest first.
    pub fn iter(&self) -> impl Iterator<Item = &CacheSizes> {
        self.0.iter()
    }
}

impl CacheSizes {
    /// The cache for `GFP_DMA` or not, if created yet.
    pub fn cache(&self, dma: bool) -> Option<&'static KmemCache> {
        if dma { self.cs_dmacachep.get().copied() } else { self.cs_cachep.get().copied() }
    }
}

/// Index of the general cache `kmalloc(n)` uses (the first size >= n).
fn size_index(size: usize) -> Option<usize> {
    MALLOC_SIZES.iter().position(|&cs_size| size <= cs_size)
}

impl SlabAllocator {
    /// Build the slab allocator (Linux `kmem_cache_init`; see the module doc
    /// for the steps) and register its shrinker with the node.
    pub fn kmem_cache_init(&'static self, shrinker: &'static super::slab_cpucache::SlabShrinker) {
        // 2.6.14's INDEX_AC: the cache that will hold array caches first.
        let index_ac = size_index(array_cache_size(BOOT_CPUCACHE_ENTRIES)).expect("a boot array is small");
        let order = core::iter::once(index_ac).chain((0..MALLOC_SIZES.len()).filter(|&i| i != index_ac));
        for i in order {
            let sizes = &self.malloc_sizes.0[i];
            let (name, name_dma) = CACHE_NAMES[i];
            let flags = SlabFlags::SLAB_HWCACHE_ALIGN | SlabFlags::SLAB_PANIC;
            let cachep = self.kmem_cache_create(name, sizes.cs_size, 0, flags, None).expect("SLAB_PANIC");
            sizes.cs_cachep.call_once(|| cachep);
            // The largest on-slab cache bounds how many bufctls an off-slab
            // descriptor may need.
            if !cachep.off_slab() {
                let limit = sizes.cs_size.saturating_sub(SLAB_DESCRIPTOR_SIZE) / BUFCTL_SIZE;
                self.offslab_limit.fetch_max(limit, Ordering::Relaxed);
            }
            let dma = self.kmem_cache_create(name_dma, sizes.cs_size, 0, flags | SlabFlags::SLAB_CACHE_DMA, None).expect("SLAB_PANIC");
            sizes.cs_dmacachep.call_once(|| dma);
        }
        // 4) Swap the static arrays for kmalloc'ed copies.
        let generic = self.malloc_sizes.0[index_ac].cache(false).expect("created above");
        for (cachep, initarray) in [(&self.cache_cache, self.initarray_cache), (generic, self.initarray_generic)] {
            let copy = self.kmalloc(array_cache_size(BOOT_CPUCACHE_ENTRIES), GfpFlags::GFP_KERNEL).expect("memory at boot");
            let irqs = local_irq_save();
            let cpu = smp_processor_id();
            assert_eq!(cachep.cpu_array(cpu), Some(initarray), "{} still runs on its static array", cachep.name());
            self.mem.move_words(copy, initarray.addr(), array_cache_size(BOOT_CPUCACHE_ENTRIES) / super::slab::BYTES_PER_WORD);
            cachep.set_cpu_array(cpu, Some(ArrayCacheRef::at(copy)));
            local_irq_restore(irqs);
        }
        // 5) Full-size arrays for everyone.
        for cachep in self.caches() {
            if self.enable_cpucache(cachep).is_err() {
                panic!("kmem_cache_init: no memory for the per-CPU arrays of {}", cachep.name());
            }
        }
        self.g_cpucache_up.store(CPUCACHE_FULL, Ordering::Relaxed);
        shrinker.register(self);
    }

    /// The general cache for `size` bytes and `flags` (Linux
    /// `kmem_find_general_cachep`), if there is one (and it exists yet).
    pub fn kmem_find_general_cachep(&'static self, size: usize, flags: GfpFlags) -> Option<&'static KmemCache> {
        self.malloc_sizes.0[size_index(size)?].cache(flags.contains(GfpFlags::__GFP_DMA))
    }

    /// `size` bytes from the general caches (Linux `__kmalloc`): the
    /// smallest cache that fits, the DMA twin for `GFP_DMA`. More than
    /// [`KMALLOC_MAX_SIZE`] fails with a warning (as Linux's `kmalloc`
    /// does since 2.6.22's `WARN_ON_ONCE`; 2.6.11 fails silently).
    pub fn kmalloc(&'static self, size: usize, flags: GfpFlags) -> Option<usize> {
        if size > KMALLOC_MAX_SIZE {
            log::warn!("WARNING: kmalloc({size}): larger than the largest general cache ({KMALLOC_MAX_SIZE}), failed");
            crate::arch::current::traps::dump_stack();
            return None;
        }
        let cachep = self.kmem_find_general_cachep(size.max(1), flags)?;
        self.kmem_cache_alloc(cachep, flags)
    }

    /// `kmalloc` and zero the `size` bytes (Linux `kzalloc`, 2.6.14 adds it).
    pub fn kzalloc(&'static self, size: usize, flags: GfpFlags) -> Option<usize> {
        let objp = self.kmalloc(size, flags)?;
        self.mem.fill(objp, size, 0);
        Some(objp)
    }

    /// Free a `kmalloc`ed object (Linux `kfree`): its page names its cache.
    /// `kfree(0)` — `kfree(NULL)` — does nothing.
    pub fn kfree(&'static self, objp: usize) -> Result<(), SlabError> {
        if objp == 0 {
            return Ok(());
        }
        match self.virt_to_cache(objp) {
            Some(cachep) => self.kmem_cache_free(cachep, objp),
            None => {
                log::error!("slab: kfree({objp:#x}): not a slab object, ignored");
                Err(SlabError::NotSlabMemory)
            }
        }
    }

    /// Bytes usable at `objp` (Linux `ksize`, 2.6.22; `kobjsize` before):
    /// the object size of its cache; `None` if `objp` is not a slab object.
    pub fn ksize(&'static self, objp: usize) -> Option<usize> {
        self.virt_to_cache(objp).map(KmemCache::obj_size)
    }

    /// Print `/proc/slabinfo` (Linux 2.6.11 `s_show`, format version 2.1).
    pub fn show_slabinfo(&'static self) {
        log::info!("slabinfo - version: 2.1");
        log::info!(
            "# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>"
        );
        for cachep in self.caches() {
            let counts = self.cache_counts(cachep);
            let (limit, batchcount, shared) = cachep.tunables();
            log::info!(
                "{:<17} {:>6} {:>6} {:>6} {:>4} {:>4} : tunables {:>4} {:>4} {:>4} : slabdata {:>6} {:>6} {:>6}",
                cachep.name(),
                counts.active_objs,
                counts.num_objs,
                cachep.objsize(),
                cachep.num(),
                1usize << cachep.gfporder(),
                limit,
                batchcount,
                shared,
                counts.active_slabs,
                counts.num_slabs,
                counts.shared_avail
            );
        }
    }
}

/// The kernel's slab allocator and Linux's free-function interface to it.
#[cfg(target_os = "none")]
mod kernel {
    use core::sync::atomic::AtomicUsize;

    use super::super::gfp::GfpFlags;
    use super::super::init::node;
    use super::super::slab::{BOOT_AREA_WORDS, CreateError, Ctor, KmemCache, SlabAllocator, SlabError, SlabFlags, SlabMemory};
    use super::super::slab_cpucache::{REAPTIMEOUT_CPUC_SECS, SlabShrinker};
    use crate::arch::current::smp::smp_processor_id;
    use crate::mm::layout::NR_CPUS;
    use crate::timer::{TimerList, add_timer, mod_timer};

    /// Linux's static `initarray_cache` and `initarray_generic`.
    static BOOT_AREA: [AtomicUsize; BOOT_AREA_WORDS] = [const { AtomicUsize::new(0) }; BOOT_AREA_WORDS];
    static SLAB: spin::Once<SlabAllocator> = spin::Once::new();
    static SHRINKER: SlabShrinker = SlabShrinker::new();
    /// Each CPU's reap timer (Linux's per-CPU `reap_work`).
    static REAP_TIMERS: [spin::Once<TimerList>; NR_CPUS] = [const { spin::Once::new() }; NR_CPUS];

    /// Start the slab allocator on the boot node (Linux `kmem_cache_init`,
    /// called from `mm_init` after `mem_init`).
    pub fn kmem_cache_init() {
        let pgdat = node();
        let slab = SLAB.call_once(|| {
            let boot = BOOT_AREA.as_ptr() as usize;
            SlabAllocator::new(SlabMemory::direct_map(pgdat, &BOOT_AREA), boot, pgdat.totalram_pages())
        });
        slab.kmem_cache_init(&SHRINKER);
    }

    /// The kernel's slab allocator (after `kmem_cache_init`).
    pub fn slab() -> &'static SlabAllocator {
        SLAB.get().expect("kmem_cache_init has run")
    }

    /// The slab allocator, if `kmem_cache_init` has run.
    pub fn try_slab() -> Option<&'static SlabAllocator> {
        SLAB.get()
    }

    /// Linux `kmalloc`: see [`SlabAllocator::kmalloc`].
    pub fn kmalloc(size: usize, flags: GfpFlags) -> Option<usize> {
        slab().kmalloc(size, flags)
    }
    /// Linux `kzalloc`: see [`SlabAllocator::kzalloc`].
    pub fn kzalloc(size: usize, flags: GfpFlags) -> Option<usize> {
        slab().kzalloc(size, flags)
    }
    /// Linux `kfree`: see [`SlabAllocator::kfree`].
    pub fn kfree(objp: usize) -> Result<(), SlabError> {
        slab().kfree(objp)
    }
    /// Linux `ksize`: see [`SlabAllocator::ksize`].
    pub fn ksize(objp: usize) -> Option<usize> {
        slab().ksize(objp)
    }
    /// Linux `kmem_cache_create`: see [`SlabAllocator::kmem_cache_create`].
    pub fn kmem_cache_create(
        name: &'static str,
        size: usize,
        align: usize,
        flags: SlabFlags,
        ctor: Option<Ctor>,
    ) -> Result<&'static KmemCache, CreateError> {
        slab().kmem_cache_create(name, size, align, flags, ctor)
    }
    /// Linux `kmem_cache_alloc`: see [`SlabAllocator::kmem_cache_alloc`].
    pub fn kmem_cache_alloc(cachep: &'static KmemCache, flags: GfpFlags) -> Option<usize> {
        slab().kmem_cache_alloc(cachep, flags)
    }
    /// Linux `kmem_cache_free`: see [`SlabAllocator::kmem_cache_free`].
    pub fn kmem_cache_free(cachep: &'static KmemCache, objp: usize) -> Result<(), SlabError> {
        slab().kmem_cache_free(cachep, objp)
    }
    /// Linux `kmem_cache_destroy`: see [`SlabAllocator::kmem_cache_destroy`].
    pub fn kmem_cache_destroy(cachep: &'static KmemCache) -> Result<(), usize> {
        slab().kmem_cache_destroy(cachep)
    }
    /// Linux `kmem_cache_shrink`: see [`SlabAllocator::kmem_cache_shrink`].
    pub fn kmem_cache_shrink(cachep: &'static KmemCache) -> usize {
        slab().kmem_cache_shrink(cachep)
    }

    /// The reap timer's function: reap on this CPU, then again in 2 s.
    fn reap_timer_fn(cpu: usize) {
        slab().cache_reap();
        if let Some(timer) = REAP_TIMERS[cpu].get() {
            mod_timer(timer, crate::time::jiffies_32().wrapping_add(REAPTIMEOUT_CPUC_SECS * crate::time::hz()));
        }
    }

    /// Start this CPU's reap timer (Linux `start_cpu_timer`, from
    /// `cpucache_init` for the boot CPU and the CPU-online callback for the
    /// others; staggered by `3 * cpu` ticks as Linux does). Called on the CPU
    /// itself, since a timer runs on the CPU that added it.
    pub fn start_cpu_timer() {
        let cpu = smp_processor_id();
        let Ok(timer) = TimerList::new(reap_timer_fn, cpu) else {
            log::error!("slab: no timer for CPU{cpu}'s cache_reap");
            return;
        };
        let timer = REAP_TIMERS[cpu].call_once(|| timer);
        timer.set_expires(crate::time::jiffies_32().wrapping_add(crate::time::hz() + 3 * cpu as u32));
        add_timer(timer);
    }
}

#[cfg(target_os = "none")]
pub use kernel::*;
