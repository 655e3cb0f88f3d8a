//! The slab allocator inside the kernel (test kernels only): the heap
//! (`Box`, `Vec`) on top of it, each general cache on real memory, the
//! per-CPU arrays used by every CPU, and a cache destroyed with every page
//! back in the buddy allocator. The algorithms' exact numbers are checked
//! by the host tests (`slab_tests.rs`); these check the kernel's own
//! allocator, started by `kmem_cache_init` during the boot.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};

use super::gfp::GfpFlags;
use super::heap::heap_route_name;
use super::init::node;
use super::kernel_test_support::quiesced_snapshot;
use super::kmalloc::{KMALLOC_MAX_SIZE, MALLOC_SIZES, kfree, kmalloc, ksize, slab};
use super::slab::{KmemCache, SlabFlags};
use crate::arch::x86::smp::{num_online_cpus, online_cpus, run_bound_on_each_cpu, smp_processor_id, wait_for_go};
use crate::mm::layout::NR_CPUS;

/// Which allocator a heap pointer came from, seen from the memory itself:
/// a slab page, a buddy block in the direct map, or a vmalloc area.
fn origin(ptr: usize) -> &'static str {
    if slab().virt_to_cache(ptr).is_some() {
        "kmalloc"
    } else if crate::mm::vmalloc::find_vm_area(ptr).is_some() {
        "vmalloc"
    } else if crate::mm::direct_map::virt_to_page(ptr).is_some() {
        "pages"
    } else {
        "unknown"
    }
}

#[test_case]
fn box_and_vec_live_on_the_slab() {
    let boxed = Box::new([0x5au8; 48]);
    let addr = boxed.as_ptr() as usize;
    assert_eq!(slab().virt_to_cache(addr).map(KmemCache::name), Some("size-64"), "48 bytes come from size-64");
    assert!(boxed.iter().all(|&b| b == 0x5a));
    let mut v: Vec<u64> = Vec::new();
    for i in 0..20_000u64 {
        v.push(i * 3);
        if v.len() == 100 {
            assert_eq!(origin(v.as_ptr() as usize), "kmalloc", "a small Vec is a kmalloc object");
        }
    }
    assert!(v.iter().enumerate().all(|(i, &x)| x == i as u64 * 3));
    assert_eq!(origin(v.as_ptr() as usize), "pages", "160 000 bytes: beyond size-131072, a buddy block");
    drop(v);
    drop(boxed);
}

/// A 10 MiB `Vec` grows through kmalloc objects, then buddy blocks, then
/// vmalloc (above the buddy allocator's 4 MiB blocks), keeping its contents.
#[test_case]
fn a_10_mib_vec_grows_from_kmalloc_to_pages_to_vmalloc() {
    let free_pages: usize = crate::mm::mmzone::ZoneType::ALL.iter().map(|&z| node().zone(z).lock().free_pages()).sum();
    let free_mib = (free_pages * crate::mm::PAGE_SIZE) >> 20;
    if free_mib < 40 {
        crate::skip!("needs 40 MiB free for the 8 + 10 MiB of the last growth step");
    }
    let mut v: Vec<u8> = Vec::new();
    let mut seen = [false; 3];
    let mut target = 32usize;
    while v.len() < 10 << 20 {
        target = (target * 2).min(10 << 20);
        v.reserve_exact(target - v.len());
        let from = origin(v.as_ptr() as usize);
        assert_eq!(from, heap_route_name(v.capacity(), 1), "capacity {} comes from where the policy says", v.capacity());
        seen[["kmalloc", "pages", "vmalloc"].iter().position(|&r| r == from).expect("a known origin")] = true;
        let start = v.len();
        v.extend((start..target).map(|i| (i % 251) as u8));
    }
    assert_eq!(seen, [true, true, true], "every route was taken");
    assert!(v.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8), "growth kept every byte");
}

#[test_case]
fn every_general_cache_allocates_and_frees_on_real_memory() {
    for size in MALLOC_SIZES {
        for flags in [GfpFlags::GFP_KERNEL, GfpFlags::GFP_DMA] {
            let objp = kmalloc(size, flags).expect("a fresh system has memory");
            let cachep = slab().virt_to_cache(objp).unwrap();
            assert_eq!(ksize(objp), Some(size), "{}", cachep.name());
            assert_eq!(objp % size.min(64), 0);
            let page = crate::mm::direct_map::virt_to_page(objp).unwrap();
            if flags.contains(GfpFlags::__GFP_DMA) {
                assert_eq!(page.page_zonenum(), crate::mm::mmzone::ZoneType::Dma, "{}", cachep.name());
            }
            // The whole object is writable memory of its own.
            crate::mm::kmalloc::slab().mem.fill(objp, size, 0xee);
            kfree(objp).unwrap();
            slab().check_cache(cachep).unwrap();
        }
    }
    assert_eq!(kmalloc(KMALLOC_MAX_SIZE + 1, GfpFlags::GFP_KERNEL), None);
}

static CACHE: spin::Once<&'static KmemCache> = spin::Once::new();
static OBJECTS: [AtomicUsize; NR_CPUS * 64] = [const { AtomicUsize::new(0) }; NR_CPUS * 64];

/// Every CPU allocates 64 objects of one cache and frees half: each
/// CPU's own array serves it (its array is the one touched), no object is
/// handed to two CPUs, and after the rest are freed and the cache
/// destroyed, every page is back in the buddy allocator.
#[test_case]
fn every_cpu_allocates_from_its_own_array_and_destroy_gives_every_page_back() {
    let before = quiesced_snapshot(node());
    let cachep = crate::mm::kmalloc::kmem_cache_create("percpu-test", 96, 0, SlabFlags::SLAB_HWCACHE_ALIGN, None).unwrap();
    CACHE.call_once(|| cachep);
    static GO: AtomicBool = AtomicBool::new(false);
    static CPU_OF_ARRAY: [AtomicUsize; NR_CPUS] = [const { AtomicUsize::new(usize::MAX) }; NR_CPUS];
    let cpu_of_array = &CPU_OF_ARRAY;
    run_bound_on_each_cpu(
        &|| {
            wait_for_go(&GO);
            let cachep = *CACHE.get().unwrap();
            let cpu = smp_processor_id();
            for i in 0..64 {
                let objp = crate::mm::kmalloc::kmem_cache_alloc(cachep, GfpFlags::GFP_KERNEL).unwrap();
                slab().mem.write_word(objp, cpu);
                OBJECTS[cpu * 64 + i].store(objp, SeqCst);
            }
            let mut last = 0;
            for i in 0..32 {
                last = OBJECTS[cpu * 64 + i].swap(0, SeqCst);
                crate::mm::kmalloc::kmem_cache_free(cachep, last).unwrap();
            }
            // The object freed last waits in this CPU's array, which was used.
            let ac = cachep.cpu_array(cpu).unwrap();
            if ac.contains(&slab().mem, last) && ac.touched(&slab().mem) {
                CPU_OF_ARRAY[cpu].store(cpu, SeqCst);
            }
            0
        },
        "slab-percpu",
        &GO,
    );
    let mut live: Vec<usize> = OBJECTS.iter().map(|o| o.load(SeqCst)).filter(|&o| o != 0).collect();
    assert_eq!(live.len(), 32 * num_online_cpus());
    for cpu in online_cpus() {
        assert_eq!(cpu_of_array[cpu].load(SeqCst), cpu, "CPU{cpu} freed into its own array");
        assert!(OBJECTS[cpu * 64 + 32..cpu * 64 + 64].iter().all(|o| slab().mem.read_word(o.load(SeqCst)) == cpu), "CPU{cpu}'s objects kept its mark");
    }
    live.sort_unstable();
    live.dedup();
    assert_eq!(live.len(), 32 * num_online_cpus(), "no object was handed out twice");
    slab().check_cache(cachep).unwrap();
    for objp in live {
        crate::mm::kmalloc::kmem_cache_free(cachep, objp).unwrap();
    }
    OBJECTS.iter().for_each(|o| o.store(0, SeqCst));
    crate::mm::kmalloc::kmem_cache_destroy(cachep).unwrap();
    assert_eq!(quiesced_snapshot(node()), before, "the cache's pages, arrays and descriptor are all back");
}

/// Every CPU that is online has a reap timer pending and an array in
/// every cache (given by `cpuup_prepare` before it started).
#[test_case]
fn every_online_cpu_has_arrays_in_every_cache() {
    for cachep in slab().caches() {
        for cpu in online_cpus() {
            let ac = cachep.cpu_array(cpu).unwrap_or_else(|| panic!("{} has no array for CPU{cpu}", cachep.name()));
            assert_eq!(ac.limit(&slab().mem), cachep.tunables().0);
        }
        assert_eq!(cachep.free_limit(), (1 + num_online_cpus()) * cachep.tunables().1 + cachep.num(), "{}", cachep.name());
    }
}

/// A double free through `kfree` on the kernel's own heap is refused and
/// reported, and the allocator stays consistent.
#[test_case]
fn kfree_twice_is_refused() {
    let objp = kmalloc(100, GfpFlags::GFP_KERNEL).unwrap();
    let cachep = slab().virt_to_cache(objp).unwrap();
    let errors = cachep.errors();
    kfree(objp).unwrap();
    assert_eq!(kfree(objp), Err(super::slab::SlabError::DoubleFree));
    assert_eq!(cachep.errors(), errors + 1);
    slab().check_cache(cachep).unwrap();
    assert_eq!(kfree(0), Ok(()));
}
