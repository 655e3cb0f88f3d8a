//! # The slab allocator's per-CPU arrays: sizing, CPUs coming up, reaping, shrinking
//!
//! The array caches in front of each cache's slabs (see `slab.rs`) need
//! looking after, which Linux 2.6.11 does in `mm/slab.c`:
//!
//! * **Sizing** (`enable_cpucache` → `do_tune_cpucache`): once `kmalloc`
//!   works, every cache gets arrays of `limit` entries chosen from its
//!   object size — 120 for objects up to 256 bytes, 54 up to 1 KiB, 24 up
//!   to a page, 8 above, 1 above 128 KiB — with `batchcount = (limit+1)/2`,
//!   and on SMP a shared array of `8 * batchcount` for objects up to a page.
//!   New arrays are allocated for every online CPU, and each CPU swaps in
//!   its own in an IPI (`do_ccupdate_local`): no CPU ever touches another's
//!   array. The old arrays' objects go back to the slabs.
//! * **CPUs coming up** (`cpuup_callback`, `CPU_UP_PREPARE`): before a CPU
//!   runs, every existing cache gets an array for it.
//! * **Reaping** (`cache_reap`, every `REAPTIMEOUT_CPUC` = 2 s on each CPU):
//!   an array not used since the last reap gives a fifth of its objects
//!   back; every `REAPTIMEOUT_LIST3` (4 s) a cache whose free slabs were not
//!   touched gives about a fifth of its `free_limit` worth of free slabs back
//!   to the buddy allocator.
//! * **Shrinking under pressure**: the slab allocator registers a shrinker
//!   with reclaim (`vmscan.rs`), so that `try_to_free_pages` empties the
//!   arrays and gives free slabs back when an allocation is short of
//!   memory — the job 2.4's `kmem_cache_reap` did for `try_to_free_pages`
//!   (2.6.11 reaps only by timer and leaves reclaim to the dcache/icache
//!   shrinkers).
//!
//! Linux runs `cache_reap` from the `events/N` workqueue; we have no
//! workqueues, so it runs from a per-CPU timer. Everything it does is
//! allowed in softirq context (array drains with interrupts off, freeing
//! pages), and it takes the cache chain with a try-lock, as Linux's
//! `down_trylock(&cache_chain_sem)`.

use core::sync::atomic::{AtomicUsize, Ordering};

use super::gfp::GfpFlags;
use super::layout::NR_CPUS;
use super::mmzone::PgData;
use super::slab::{ArrayCacheRef, KmemCache, SlabAllocator, SlabFlags, array_cache_size};
use super::vmscan::Shrinker;
use super::PAGE_SIZE;
use crate::arch::current::smp::{cpu_online, num_online_cpus, smp_processor_id};

/// How often each CPU reaps, in seconds (Linux `REAPTIMEOUT_CPUC`, `2*HZ`).
pub const REAPTIMEOUT_CPUC_SECS: u32 = 2;
/// How often a cache's free slabs are reaped, in seconds (Linux
/// `REAPTIMEOUT_LIST3`, `4*HZ`).
pub const REAPTIMEOUT_LIST3_SECS: u32 = 4;

/// When a new cache is first reaped, in jiffies from now: 4 s plus a
/// per-cache offset so caches are not all reaped in the same tick (Linux
/// adds `(unsigned long)cachep % REAPTIMEOUT_LIST3`; we use the slot).
pub fn reaptimeout_list3(id: usize) -> u32 {
    let period = REAPTIMEOUT_LIST3_SECS * crate::time::hz();
    period + (id as u32 * 7) % period
}

/// The array size a cache gets (the heuristic of Linux 2.6.11
/// `enable_cpucache`), as `(limit, batchcount, shared)`.
pub fn cpucache_tunables(objsize: usize, debug: bool) -> (usize, usize, usize) {
    let mut limit = if objsize > 131072 {
        1
    } else if objsize > PAGE_SIZE {
        8
    } else if objsize > 1024 {
        24
    } else if objsize > 256 {
        54
    } else {
        120
    };
    // On SMP, a shared array passes objects between CPUs (CONFIG_SMP: our
    // kernel is always built for NR_CPUS > 1).
    let shared = if NR_CPUS > 1 && objsize <= PAGE_SIZE { 8 } else { 0 };
    // With debugging, long batches would keep interrupts off too long.
    if debug && limit > 32 {
        limit = 32;
    }
    (limit, limit.div_ceil(2), shared)
}

impl SlabAllocator {
    /// Give `cachep` its final per-CPU arrays (Linux `enable_cpucache`).
    pub fn enable_cpucache(&'static self, cachep: &'static KmemCache) -> Result<(), ()> {
        let (limit, batchcount, shared) = cpucache_tunables(cachep.objsize(), super::slab::DEBUG_SLAB);
        let result = self.do_tune_cpucache(cachep, limit, batchcount, shared);
        if result.is_err() {
            log::error!("enable_cpucache failed for {}, error 12.", cachep.name());
        }
        result
    }

    /// An empty array cache of `entries` slots, from `kmalloc` (Linux
    /// `alloc_arraycache`).
    fn alloc_arraycache(&'static self, entries: usize, batchcount: usize) -> Option<ArrayCacheRef> {
        let ac = ArrayCacheRef::at(self.kmalloc(array_cache_size(entries), GfpFlags::GFP_KERNEL)?);
        ac.init(&self.mem, entries, batchcount);
        Some(ac)
    }

    /// Resize a cache's arrays (Linux `do_tune_cpucache`): allocate new
    /// ones for every online CPU, let each CPU swap in its own, set the
    /// tunables and `free_limit`, give the old arrays' objects back to the
    /// slabs, and replace the shared array the same way.
    pub fn do_tune_cpucache(&'static self, cachep: &'static KmemCache, limit: usize, batchcount: usize, shared: usize) -> Result<(), ()> {
        let new: [AtomicUsize; NR_CPUS] = [const { AtomicUsize::new(0) }; NR_CPUS];
        for cpu in (0..NR_CPUS).filter(|&cpu| cpu_online(cpu)) {
            match self.alloc_arraycache(limit, batchcount) {
                Some(ac) => new[cpu].store(ac.addr(), Ordering::Relaxed),
                None => {
                    for slot in &new {
                        let addr = slot.load(Ordering::Relaxed);
                        if addr != 0 {
                            self.free_array_cache(ArrayCacheRef::at(addr));
                        }
                    }
                    return Err(());
                }
            }
        }
        // Each CPU installs its new array and leaves its old one in `new`
        // (Linux do_ccupdate_local).
        let ccupdate = || {
            let cpu = smp_processor_id();
            let mine = new[cpu].load(Ordering::Relaxed);
            let old = cachep.set_cpu_array(cpu, (mine != 0).then(|| ArrayCacheRef::at(mine)));
            new[cpu].store(old.map_or(0, |a| a.addr()), Ordering::Relaxed);
        };
        assert!(super::slab::run_on_each_cpu(&ccupdate), "do_tune_cpucache with interrupts off and other CPUs running");
        cachep.set_tunables(limit, batchcount, shared, num_online_cpus());
        for slot in &new {
            let addr = slot.load(Ordering::Relaxed);
            if addr == 0 {
                continue;
            }
            let old = ArrayCacheRef::at(addr);
            {
                let mut l3 = cachep.lock_lists();
                self.free_block(cachep, &mut l3, old, old.avail(&self.mem));
            }
            self.free_array_cache(old);
        }
        let new_shared = if shared > 0 { self.alloc_arraycache(batchcount * shared, 0xbaad_f00d) } else { None };
        let old_shared = {
            let mut l3 = cachep.lock_lists();
            let old = core::mem::replace(&mut l3.shared, new_shared);
            if let Some(old) = old {
                self.free_block(cachep, &mut l3, old, old.avail(&self.mem));
            }
            old
        };
        if let Some(old) = old_shared {
            self.free_array_cache(old);
        }
        Ok(())
    }

    /// Before CPU `cpu` starts, give every cache an array for it (Linux
    /// `cpuup_callback`, `CPU_UP_PREPARE`), and count it in `free_limit`.
    /// Fails if memory runs out; the CPU must then not be started.
    pub fn cpuup_prepare(&'static self, cpu: usize) -> Result<(), ()> {
        for cachep in self.caches() {
            if cachep.cpu_array(cpu).is_none() {
                let (limit, batchcount, _) = cachep.tunables();
                let ac = self.alloc_arraycache(limit, batchcount).ok_or(())?;
                cachep.set_cpu_array(cpu, Some(ac));
            }
            cachep.set_free_limit(num_online_cpus() + 1);
        }
        Ok(())
    }

    /// Undo [`SlabAllocator::cpuup_prepare`] for a CPU that did not come up
    /// (Linux `CPU_UP_CANCELED`): its arrays, still empty, are freed.
    pub fn cpuup_canceled(&'static self, cpu: usize) {
        for cachep in self.caches() {
            if let Some(ac) = cachep.set_cpu_array(cpu, None) {
                let mut l3 = cachep.lock_lists();
                self.free_block(cachep, &mut l3, ac, ac.avail(&self.mem));
                drop(l3);
                self.free_array_cache(ac);
            }
            cachep.set_free_limit(num_online_cpus());
        }
    }

    /// This CPU's periodic reap (Linux 2.6.11 `cache_reap`): for every
    /// cache but `SLAB_NO_REAP` ones, give back part of this CPU's array if
    /// it was not used since the last time; every `REAPTIMEOUT_LIST3`, the
    /// same for the shared array, and then, unless a refill took a free slab
    /// meanwhile (`free_touched`), destroy about a fifth of `free_limit`'s
    /// worth of free slabs. Returns the slabs destroyed.
    pub fn cache_reap(&'static self) -> usize {
        let Some(chain) = self.chain.try_lock() else { return 0 };
        let now = crate::time::jiffies_32();
        let mut destroyed = 0;
        for cachep in core::iter::once(&self.cache_cache).chain(chain.iter().skip(1).flatten().copied()) {
            if cachep.flags().contains(SlabFlags::SLAB_NO_REAP) || cachep.is_dying() {
                continue;
            }
            let mut l3 = cachep.lock_lists();
            if let Some(ac) = cachep.cpu_array(smp_processor_id()) {
                self.drain_array_locked(cachep, &mut l3, ac, false);
            }
            if crate::time::time_after(l3.next_reap, now) {
                continue;
            }
            l3.next_reap = now.wrapping_add(REAPTIMEOUT_LIST3_SECS * crate::time::hz());
            if let Some(shared) = l3.shared {
                self.drain_array_locked(cachep, &mut l3, shared, false);
            }
            if l3.free_touched {
                l3.free_touched = false;
                continue;
            }
            let tofree = (cachep.free_limit() + 5 * cachep.num() - 1) / (5 * cachep.num());
            drop(l3);
            for _ in 0..tofree {
                let Some(slabp) = self.take_free_slab(cachep) else { break };
                self.destroy_unlinked_slab(cachep, slabp);
                destroyed += 1;
            }
        }
        destroyed
    }

    /// Pages the shrinker could give back now: the free slabs of every
    /// reapable cache.
    pub fn reclaimable_slab_pages(&'static self) -> usize {
        self.caches()
            .filter(|c| !c.flags().contains(SlabFlags::SLAB_NO_REAP) && !c.is_dying())
            .map(|c| c.lock_lists().slabs_free.len() << c.gfporder())
            .sum()
    }

    /// The shrinker's work: for every reapable cache, empty the arrays
    /// into the slabs (on every CPU) and destroy free slabs, until
    /// `nr_pages` pages are back in the buddy allocator. Returns the pages
    /// freed.
    pub fn shrink_caches(&'static self, nr_pages: usize) -> usize {
        let mut freed = 0;
        for cachep in self.caches_newest_first() {
            if freed >= nr_pages {
                break;
            }
            if cachep.flags().contains(SlabFlags::SLAB_NO_REAP) || cachep.is_dying() {
                continue;
            }
            self.drain_cpu_caches(cachep);
            while freed < nr_pages {
                let Some(slabp) = self.take_free_slab(cachep) else { break };
                self.destroy_unlinked_slab(cachep, slabp);
                freed += 1 << cachep.gfporder();
            }
        }
        freed
    }
}

/// The slab allocator as a reclaim source (see the module doc), registered
/// on the node by `kmem_cache_init`.
pub struct SlabShrinker {
    slab: spin::Once<&'static SlabAllocator>,
}

impl SlabShrinker {
    /// A shrinker not yet tied to an allocator.
    pub const fn new() -> SlabShrinker {
        SlabShrinker { slab: spin::Once::new() }
    }

    /// Tie it to `slab` and register it with `slab`'s node.
    pub fn register(&'static self, slab: &'static SlabAllocator) {
        self.slab.call_once(|| slab);
        if slab.pgdat().register_shrinker(self).is_err() {
            log::error!("slab: no room to register the slab shrinker");
        }
    }
}

impl Default for SlabShrinker {
    fn default() -> Self {
        Self::new()
    }
}

impl Shrinker for SlabShrinker {
    fn name(&self) -> &'static str {
        "slab"
    }

    fn count_objects(&self) -> usize {
        self.slab.get().filter(|slab| !slab.switched_off(|s| &s.no_shrinker)).map_or(0, |slab| {
            // Objects parked in arrays also become free slabs once drained:
            // count the caches that hold any, one page each, so a shrinker
            // round is tried even when no slab is free yet.
            slab.reclaimable_slab_pages() + slab.caches().filter(|c| slab.cached_in_arrays(c) > 0).count()
        })
    }

    fn scan_objects(&self, _pgdat: &PgData, nr_to_scan: usize, _gfp_mask: GfpFlags) -> usize {
        self.slab.get().map_or(0, |slab| slab.shrink_caches(nr_to_scan))
    }
}

impl SlabAllocator {
    /// Objects of `cachep` sitting in per-CPU and shared arrays.
    pub fn cached_in_arrays(&'static self, cachep: &'static KmemCache) -> usize {
        let per_cpu: usize = (0..NR_CPUS).filter_map(|cpu| cachep.cpu_array(cpu)).map(|ac| ac.avail(&self.mem)).sum();
        per_cpu + cachep.lock_lists().shared.map_or(0, |s| s.avail(&self.mem))
    }
}
