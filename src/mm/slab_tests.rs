//! Host unit tests of the slab allocator (`slab.rs`, `slab_debug.rs`,
//! `slab_cpucache.rs`, `kmalloc.rs`): each test builds its own node of
//! page descriptors, an arena of host memory behind it, and a slab
//! allocator over both, started with `kmem_cache_init` exactly as the
//! kernel starts its own. Expected numbers are worked out by hand from
//! Linux 2.6.11's formulas (cited at each one), for the word size of the
//! build: 4-byte words in the kernel, 8 on the host.

use core::sync::atomic::{AtomicUsize, Ordering};
use std::collections::HashSet;

use super::bootmem::free_all_bootmem;
use super::gfp::GfpFlags;
use super::kmalloc::{KMALLOC_MAX_SIZE, MALLOC_SIZES};
use super::mmzone::{PgData, ZoneType};
use super::page::Page;
use super::slab::*;
use super::slab_cpucache::{SlabShrinker, cpucache_tunables};
use super::slab_debug::{POISON_END, POISON_FREE, POISON_INUSE, RED_ACTIVE, dbg_redzone2};
use super::{PAGE_SIZE, pfn_phys};
use crate::xorshift::XorShift32;

/// A node of `nr_pages` frames (the first 16 MiB DMA, the rest Normal), all
/// free, with a started slab allocator over it.
fn host_slab(nr_pages: usize) -> &'static SlabAllocator {
    let map: &'static [Page] = Box::leak((0..nr_pages).map(|_| Page::new()).collect());
    let dma_end = nr_pages.min(4096);
    let pgdat: &'static PgData =
        Box::leak(Box::new(PgData::free_area_init_node(map, [dma_end, nr_pages, nr_pages], [(0, nr_pages)].into_iter())));
    free_all_bootmem(pgdat, [(0, pfn_phys(nr_pages as u64))].into_iter());
    let boot: &'static [AtomicUsize] = Box::leak((0..BOOT_AREA_WORDS).map(|_| AtomicUsize::new(0)).collect());
    let mem = SlabMemory::host_arena(pgdat, nr_pages, boot);
    let slab: &'static SlabAllocator =
        Box::leak(Box::new(SlabAllocator::new(mem, boot.as_ptr() as usize, pgdat.totalram_pages())));
    slab.kmem_cache_init(Box::leak(Box::new(SlabShrinker::new())));
    slab
}

/// Free pages of every zone.
fn free_pages(pgdat: &PgData) -> usize {
    [ZoneType::Dma, ZoneType::Normal, ZoneType::HighMem].iter().map(|&z| pgdat.zone(z).lock().free_pages()).sum()
}

/// Objects per slab and bytes left over, by Linux `cache_estimate`'s rule
/// worked from first principles: the largest `i` whose objects plus
/// (on-slab) the aligned descriptor and `i` bufctls fit.
fn by_hand(slab_bytes: usize, size: usize, align: usize, on_slab: bool) -> (usize, usize) {
    let mgmt = |i: usize| if on_slab { (SLAB_DESCRIPTOR_SIZE + 4 * i).div_ceil(align) * align } else { 0 };
    let mut i = 0;
    while (i + 1) * size + mgmt(i + 1) <= slab_bytes {
        i += 1;
    }
    (i, slab_bytes - i * size - mgmt(i))
}

#[test]
fn general_cache_geometry_is_linux_2_6_11s() {
    let slab = host_slab(8192);
    // size-32: HWCACHE_ALIGN halves the 64-byte line to 32 (32 <= 64/2),
    // on-slab (32 < 4096/8), order 0.
    let c32 = slab.kmem_find_general_cachep(32, GfpFlags::GFP_KERNEL).unwrap();
    let (num, left) = by_hand(PAGE_SIZE, 32, 32, true);
    assert_eq!((c32.name(), c32.objsize(), c32.align(), c32.off_slab(), c32.gfporder(), c32.num()), ("size-32", 32, 32, false, 0, num));
    assert_eq!(num, if BYTES_PER_WORD == 4 { 113 } else { 112 });
    assert_eq!(c32.colouring(), (left / 64, 64));
    // size-192: align stays 64 (192 > 32), on-slab, 192*21 = 4032.
    let c192 = slab.kmem_find_general_cachep(150, GfpFlags::GFP_KERNEL).unwrap();
    assert_eq!((c192.name(), c192.objsize(), c192.align(), c192.off_slab()), ("size-192", 192, 64, false));
    assert_eq!(c192.num(), by_hand(PAGE_SIZE, 192, 64, true).0);
    // size-512: 512 >= 4096/8 goes off-slab; 8 objects fill the page and
    // nothing is left over, so the descriptor stays off-slab, in a cache
    // of 8 bufctls + 24-or-48 bytes: size-64 (or size-128 on the host? no:
    // 32 + 48 = 80 bytes -> size-128).
    let c512 = slab.kmem_find_general_cachep(512, GfpFlags::GFP_KERNEL).unwrap();
    assert_eq!((c512.off_slab(), c512.gfporder(), c512.num(), c512.colouring().0), (true, 0, 8, 0));
    assert_eq!(c512.slab_size(), 8 * 4 + SLAB_DESCRIPTOR_SIZE);
    assert_eq!(c512.slabp_cache().unwrap().name(), if BYTES_PER_WORD == 4 { "size-64" } else { "size-128" });
    // size-4096: one object per order-0 slab.
    let c4k = slab.kmem_find_general_cachep(4000, GfpFlags::GFP_KERNEL).unwrap();
    assert_eq!((c4k.name(), c4k.gfporder(), c4k.num()), ("size-4096", 0, 1));
    // size-131072: 32 pages, one object (MAX_GFP_ORDER 5).
    let cmax = slab.kmem_find_general_cachep(KMALLOC_MAX_SIZE, GfpFlags::GFP_KERNEL).unwrap();
    assert_eq!((cmax.gfporder(), cmax.num()), (5, 1));
    // Every size has a DMA twin of the same geometry whose pages are DMA.
    for size in MALLOC_SIZES {
        let normal = slab.kmem_find_general_cachep(size, GfpFlags::GFP_KERNEL).unwrap();
        let dma = slab.kmem_find_general_cachep(size, GfpFlags::GFP_DMA).unwrap();
        assert_eq!(dma.name(), format!("size-{size}(DMA)"));
        assert_eq!((dma.objsize(), dma.num(), dma.gfporder()), (normal.objsize(), normal.num(), normal.gfporder()));
    }
    // Array sizes (enable_cpucache; the debug build caps limit at 32).
    let (limit, batchcount, shared) = c32.tunables();
    assert_eq!((limit, batchcount, shared), if DEBUG_SLAB { (32, 16, 8) } else { (120, 60, 8) });
    assert_eq!(cmax.tunables(), (8, 4, 0));
    assert_eq!(cpucache_tunables(1024, false), (54, 27, 8));
    assert_eq!(cpucache_tunables(1025, false), (24, 12, 8));
}

#[test]
fn bootstrap_replaced_the_static_arrays() {
    let slab = host_slab(4096);
    for cachep in slab.caches() {
        let ac = cachep.cpu_array(0).expect("CPU 0 has an array");
        let (limit, ..) = cachep.tunables();
        assert_eq!(ac.limit(&slab.mem), limit, "{}: the array has the tuned size", cachep.name());
        assert!(slab.mem.virt_to_page(ac.addr()).is_some_and(Page::is_slab), "{}: array is a kmalloc object", cachep.name());
    }
    assert_eq!(slab.caches().count(), 1 + 2 * MALLOC_SIZES.len());
    assert_eq!(slab.caches().next().unwrap().name(), "kmem_cache");
}

#[test]
fn every_general_cache_allocates_aligned_disjoint_objects_in_the_right_slab() {
    let slab = host_slab(16384);
    for size in MALLOC_SIZES {
        for flags in [GfpFlags::GFP_KERNEL, GfpFlags::GFP_DMA] {
            let cachep = slab.kmem_find_general_cachep(size, flags).unwrap();
            let n = (2 * cachep.num()).max(3).min(24);
            let objs: Vec<usize> = (0..n).map(|_| slab.kmalloc(size, flags).expect("memory")).collect();
            let mut spans: Vec<(usize, usize)> = objs.iter().map(|&o| (o, o + size)).collect();
            spans.sort();
            for w in spans.windows(2) {
                assert!(w[0].1 <= w[1].0, "{}: objects overlap", cachep.name());
            }
            for &objp in &objs {
                assert_eq!(objp % size.min(64), 0, "{}: {objp:#x} misaligned", cachep.name());
                assert_eq!(slab.ksize(objp), Some(size));
                let slabp = cachep.slab_of(&slab.mem, objp).expect("in a slab of its cache");
                let s_mem = slabp.s_mem(&slab.mem);
                assert!(objp >= s_mem && objp < s_mem + cachep.num() * cachep.objsize());
                assert_eq!((objp - s_mem) % cachep.objsize(), 0);
                let page = slab.mem.virt_to_page(objp).unwrap();
                assert!(page.is_slab());
                if flags.contains(GfpFlags::__GFP_DMA) {
                    assert_eq!(page.page_zonenum(), ZoneType::Dma);
                }
                slab.mem.fill(objp, size, 0xc3);
            }
            for &objp in &objs {
                slab.kfree(objp).unwrap();
            }
            slab.check_cache(cachep).unwrap();
        }
    }
}

static CTOR_CALLS: AtomicUsize = AtomicUsize::new(0);
const CTOR_MAGIC: usize = 0x1234_5678;

fn counting_ctor(mem: &SlabMemory, objp: usize) {
    CTOR_CALLS.fetch_add(1, Ordering::Relaxed);
    mem.write_word(objp, CTOR_MAGIC);
}

#[test]
fn constructor_runs_once_per_object_when_the_slab_is_made() {
    let slab = host_slab(4096);
    let cachep = slab.kmem_cache_create("ctor-test", 100, 0, SlabFlags::empty(), Some(counting_ctor)).unwrap();
    let first = slab.kmem_cache_alloc(cachep, GfpFlags::GFP_KERNEL).unwrap();
    assert_eq!(CTOR_CALLS.load(Ordering::Relaxed), cachep.num(), "one slab made, every object constructed");
    assert_eq!(slab.mem.read_word(first), CTOR_MAGIC);
    slab.kmem_cache_free(cachep, first).unwrap();
    let again: Vec<usize> = (0..cachep.num()).map(|_| slab.kmem_cache_alloc(cachep, GfpFlags::GFP_KERNEL).unwrap()).collect();
    assert_eq!(CTOR_CALLS.load(Ordering::Relaxed), cachep.num(), "allocations do not construct");
    assert!(again.iter().all(|&o| slab.mem.read_word(o) == CTOR_MAGIC));
    for o in again {
        slab.kmem_cache_free(cachep, o).unwrap();
    }
    slab.kmem_cache_destroy(cachep).unwrap();
}

#[test]
fn consecutive_slabs_cycle_through_the_colours() {
    let slab = host_slab(4096);
    // 200-byte objects, word aligned, on-slab: left over / 64 colours.
    let cachep = slab.kmem_cache_create("colour-test", 200, 0, SlabFlags::empty(), None).unwrap();
    let (num, left_over) = by_hand(PAGE_SIZE, 200, BYTES_PER_WORD, true);
    let colours = left_over / 64;
    assert!(colours >= 2, "the example must have colours to cycle ({colours})");
    assert_eq!((cachep.num(), cachep.colouring()), (num, (colours, 64)));
    let slab_size = (SLAB_DESCRIPTOR_SIZE + 4 * num).div_ceil(BYTES_PER_WORD) * BYTES_PER_WORD;
    let nr_slabs = 2 * colours + 1;
    let objs: Vec<usize> = (0..nr_slabs * num).map(|_| slab.kmem_cache_alloc(cachep, GfpFlags::GFP_KERNEL).unwrap()).collect();
    let mut starts: Vec<usize> = Vec::new();
    for &o in &objs {
        let s_mem = cachep.slab_of(&slab.mem, o).unwrap().s_mem(&slab.mem);
        if !starts.contains(&s_mem) {
            starts.push(s_mem);
        }
    }
    assert_eq!(starts.len(), nr_slabs);
    let offsets: Vec<usize> = starts.iter().map(|s| s % PAGE_SIZE).collect();
    let expected: Vec<usize> = (0..nr_slabs).map(|i| (i % colours) * 64 + slab_size).collect();
    assert_eq!(offsets, expected, "slab k starts at colour (k mod colour) * colour_off, after the descriptor");
    for o in objs {
        slab.kmem_cache_free(cachep, o).unwrap();
    }
    slab.kmem_cache_destroy(cachep).unwrap();
}

#[test]
fn a_slab_moves_full_partial_free_and_destroy_returns_every_page() {
    let slab = host_slab(4096);
    let pgdat = slab.pgdat();
    let cachep = slab.kmem_cache_create("lists-test", 256, 0, SlabFlags::empty(), None).unwrap();
    let after_create = free_pages(pgdat);
    let num = cachep.num();
    let objs: Vec<usize> = (0..num).map(|_| slab.kmem_cache_alloc(cachep, GfpFlags::GFP_KERNEL).unwrap()).collect();
    // Empty the arrays so the slab's own state shows.
    slab.drain_cpu_caches(cachep);
    let counts = || {
        let l3 = cachep.lock_lists();
        (l3.slabs_full.len(), l3.slabs_partial.len(), l3.slabs_free.len())
    };
    assert_eq!(counts(), (1, 0, 0), "all objects in use: full");
    assert_eq!(slab.cache_counts(cachep).active_objs, num);
    slab.kmem_cache_free(cachep, objs[0]).unwrap();
    slab.drain_cpu_caches(cachep);
    assert_eq!(counts(), (0, 1, 0), "one object back: partial");
    for &o in &objs[1..] {
        slab.kmem_cache_free(cachep, o).unwrap();
    }
    slab.drain_cpu_caches(cachep);
    assert_eq!(counts(), (0, 0, 1), "every object back: free");
    slab.check_cache(cachep).unwrap();
    assert_eq!(slab.kmem_cache_shrink(cachep), 0);
    assert_eq!(counts(), (0, 0, 0));
    assert_eq!(free_pages(pgdat), after_create, "shrink gave the slab's page back");
    slab.kmem_cache_destroy(cachep).unwrap();
}

#[test]
fn destroy_refuses_a_cache_with_objects_and_shrink_then_destroy_restores_the_count_exactly() {
    let slab = host_slab(4096);
    let pgdat = slab.pgdat();
    // Warm the caches a new cache's arrays and descriptor come from, so the
    // measurement below sees only this cache's own slabs.
    let warm = slab.kmem_cache_create("warm", 64, 0, SlabFlags::empty(), None).unwrap();
    slab.kmem_cache_destroy(warm).unwrap();
    let cachep = slab.kmem_cache_create("destroy-test", 1000, 0, SlabFlags::empty(), None).unwrap();
    let before = free_pages(pgdat);
    let objs: Vec<usize> = (0..50).map(|_| slab.kmem_cache_alloc(cachep, GfpFlags::GFP_KERNEL).unwrap()).collect();
    let used = before - free_pages(pgdat);
    let slabs = 50usize.div_ceil(cachep.num());
    assert_eq!(used, slabs << cachep.gfporder(), "pages taken = slabs made");
    assert!(slab.kmem_cache_destroy(cachep).is_err(), "objects still allocated");
    for o in objs {
        slab.kmem_cache_free(cachep, o).unwrap();
    }
    assert_eq!(slab.kmem_cache_shrink(cachep), 0);
    assert_eq!(free_pages(pgdat), before, "every slab page is back");
    slab.kmem_cache_destroy(cachep).unwrap();
}

#[test]
fn random_alloc_free_keeps_every_list_and_count_consistent() {
    let slab = host_slab(16384);
    let pgdat = slab.pgdat();
    let sizes = [24usize, 100, 256, 700, 3000, 9000];
    let caches: Vec<&'static KmemCache> = sizes
        .iter()
        .zip(["prop-24", "prop-100", "prop-256", "prop-700", "prop-3000", "prop-9000"])
        .map(|(&size, name)| slab.kmem_cache_create(name, size, 0, SlabFlags::SLAB_HWCACHE_ALIGN, None).unwrap())
        .collect();
    let before = free_pages(pgdat);
    let mut rng = XorShift32(0x5eed);
    let mut live: Vec<(usize, usize, u8)> = Vec::new();
    let mut seen_addrs: HashSet<usize> = HashSet::new();
    for step in 0..100_000u32 {
        let which = rng.below(caches.len());
        if live.len() < 400 && (rng.below(3) != 0 || live.is_empty()) {
            let cachep = caches[which];
            let objp = slab.kmem_cache_alloc(cachep, GfpFlags::GFP_KERNEL).expect("memory");
            assert!(seen_addrs.insert(objp), "step {step}: {objp:#x} handed out twice");
            let tag = (step & 0xff) as u8;
            slab.mem.write_u8(objp, tag);
            slab.mem.write_u8(objp + sizes[which] - 1, tag);
            live.push((which, objp, tag));
        } else {
            let i = rng.below(live.len());
            let (which, objp, tag) = live.swap_remove(i);
            assert_eq!(slab.mem.read_u8(objp), tag, "step {step}: object changed while allocated");
            assert_eq!(slab.mem.read_u8(objp + sizes[which] - 1), tag);
            seen_addrs.remove(&objp);
            slab.kmem_cache_free(caches[which], objp).unwrap();
        }
        if step % 5000 == 0 {
            for &c in &caches {
                slab.check_cache(c).unwrap();
            }
        }
    }
    for (which, objp, _) in live.drain(..) {
        slab.kmem_cache_free(caches[which], objp).unwrap();
    }
    for &c in &caches {
        slab.check_cache(c).unwrap();
        assert_eq!(slab.kmem_cache_shrink(c), 0);
        assert_eq!(slab.cache_counts(c).num_slabs, 0);
    }
    assert_eq!(free_pages(pgdat), before, "no page lost or double-counted");
    for c in caches {
        slab.kmem_cache_destroy(c).unwrap();
    }
}

#[test]
fn kmalloc_edges() {
    let slab = host_slab(4096);
    assert_eq!(slab.kmalloc(KMALLOC_MAX_SIZE + 1, GfpFlags::GFP_KERNEL), None, "too large fails");
    assert_eq!(slab.kfree(0), Ok(()), "kfree(NULL) is a no-op");
    let p = slab.kmalloc(33, GfpFlags::GFP_KERNEL).unwrap();
    assert_eq!(slab.ksize(p), Some(64), "33 bytes come from size-64");
    let z = slab.kzalloc(200, GfpFlags::GFP_KERNEL).unwrap();
    assert_eq!(slab.mem.find_mismatch(z, 200, |_| 0), None);
    slab.kfree(z).unwrap();
    slab.kfree(p).unwrap();
    let page = slab.pgdat().alloc_pages(GfpFlags::GFP_KERNEL, 0).unwrap();
    let addr = slab.mem.page_address(page).unwrap();
    assert_eq!(slab.kfree(addr), Err(SlabError::NotSlabMemory), "a page that is not a slab is refused");
    assert!(!page.is_slab());
    slab.pgdat().__free_pages(page, 0);
}

#[test]
fn create_rejects_bad_arguments() {
    let slab = host_slab(4096);
    assert_eq!(slab.kmem_cache_create("tiny", 1, 0, SlabFlags::empty(), None).err(), Some(CreateError::BadSize));
    assert_eq!(slab.kmem_cache_create("huge", (PAGE_SIZE << 5) + 1, 0, SlabFlags::empty(), None).err(), Some(CreateError::BadSize));
    assert_eq!(slab.kmem_cache_create("odd-align", 64, 3, SlabFlags::empty(), None).err(), Some(CreateError::BadSize));
    assert_eq!(slab.kmem_cache_create("size-64", 64, 0, SlabFlags::empty(), None).err(), Some(CreateError::Duplicate));
    assert_eq!(slab.kmem_cache_create("bad-flags", 64, 0, SlabFlags::CFLGS_OFF_SLAB, None).err(), Some(CreateError::BadFlags));
    let aligned = slab.kmem_cache_create("align-256", 40, 256, SlabFlags::empty(), None).unwrap();
    let a = slab.kmem_cache_alloc(aligned, GfpFlags::GFP_KERNEL).unwrap();
    let b = slab.kmem_cache_alloc(aligned, GfpFlags::GFP_KERNEL).unwrap();
    assert_eq!((a % 256, b % 256, aligned.objsize()), (0, 0, 256));
    slab.kmem_cache_free(aligned, a).unwrap();
    slab.kmem_cache_free(aligned, b).unwrap();
    slab.kmem_cache_destroy(aligned).unwrap();
}

fn debug_cache(slab: &'static SlabAllocator, name: &'static str) -> &'static KmemCache {
    slab.kmem_cache_create(name, 60, 0, SlabFlags::SLAB_RED_ZONE | SlabFlags::SLAB_POISON, None).unwrap()
}

#[cfg(debug_assertions)]
#[test]
fn double_free_is_reported_and_refused() {
    let slab = host_slab(4096);
    let cachep = debug_cache(slab, "dbl-free");
    let a = slab.kmem_cache_alloc(cachep, GfpFlags::GFP_KERNEL).unwrap();
    let b = slab.kmem_cache_alloc(cachep, GfpFlags::GFP_KERNEL).unwrap();
    slab.kmem_cache_free(cachep, a).unwrap();
    assert_eq!(slab.kmem_cache_free(cachep, a), Err(SlabError::DoubleFree), "in this CPU's array");
    slab.drain_cpu_caches(cachep);
    assert_eq!(slab.kmem_cache_free(cachep, a), Err(SlabError::DoubleFree), "free in its slab");
    assert_eq!(cachep.errors(), 2);
    // Nothing damaged: a is handed out once, b is still b's.
    let again = slab.kmem_cache_alloc(cachep, GfpFlags::GFP_KERNEL).unwrap();
    let other = slab.kmem_cache_alloc(cachep, GfpFlags::GFP_KERNEL).unwrap();
    assert_ne!(again, other);
    assert_ne!(other, b);
    slab.check_cache(cachep).unwrap();
    for o in [again, other, b] {
        slab.kmem_cache_free(cachep, o).unwrap();
    }
    slab.kmem_cache_destroy(cachep).unwrap();
}

#[cfg(debug_assertions)]
#[test]
fn wrong_cache_and_misaligned_pointers_are_refused() {
    let slab = host_slab(4096);
    let one = slab.kmem_cache_create("one", 64, 0, SlabFlags::empty(), None).unwrap();
    let two = slab.kmem_cache_create("two", 64, 0, SlabFlags::empty(), None).unwrap();
    let a = slab.kmem_cache_alloc(one, GfpFlags::GFP_KERNEL).unwrap();
    assert_eq!(slab.kmem_cache_free(two, a), Err(SlabError::WrongCache));
    assert_eq!(slab.kmem_cache_free(one, a + 8), Err(SlabError::NotObjectBoundary));
    assert_eq!(two.errors() + one.errors(), 2);
    slab.kmem_cache_free(one, a).unwrap();
    slab.check_cache(one).unwrap();
    slab.kmem_cache_destroy(one).unwrap();
    slab.kmem_cache_destroy(two).unwrap();
}

#[cfg(debug_assertions)]
#[test]
fn overwritten_red_zone_is_reported_and_the_object_kept() {
    let slab = host_slab(4096);
    let cachep = debug_cache(slab, "redzone");
    let objp = slab.kmem_cache_alloc(cachep, GfpFlags::GFP_KERNEL).unwrap();
    // The caller's 60 bytes (64 with word rounding on i386... reallen) end
    // where the second red zone begins.
    let real = objp - cachep.obj_dbghead();
    let rz2 = dbg_redzone2(cachep, real);
    assert_eq!(rz2, objp + cachep.obj_size());
    assert_eq!(slab.mem.read_word(rz2), RED_ACTIVE);
    slab.mem.write_u8(rz2, 0); // one byte too far
    let (counts, in_arrays) = (slab.cache_counts(cachep), slab.cached_in_arrays(cachep));
    assert_eq!(slab.kmem_cache_free(cachep, objp), Err(SlabError::RedZoneOverwritten));
    assert_eq!(cachep.errors(), 1);
    // The object was left alone: still allocated, in no array.
    assert_eq!((slab.cache_counts(cachep), slab.cached_in_arrays(cachep)), (counts, in_arrays));
    assert!(!cachep.cpu_array(0).unwrap().contains(&slab.mem, real));
    slab.mem.write_word(rz2, RED_ACTIVE);
    slab.kmem_cache_free(cachep, objp).unwrap();
    slab.kmem_cache_destroy(cachep).unwrap();
}

#[cfg(debug_assertions)]
#[test]
fn poison_catches_a_write_after_free() {
    let slab = host_slab(4096);
    let cachep = debug_cache(slab, "poison");
    let objp = slab.kmem_cache_alloc(cachep, GfpFlags::GFP_KERNEL).unwrap();
    let len = cachep.obj_size();
    let inuse = |i: usize| if i == len - 1 { POISON_END } else { POISON_INUSE };
    assert_eq!(slab.mem.find_mismatch(objp, len, inuse), None, "a new object reads 0x5a..0xa5");
    slab.kmem_cache_free(cachep, objp).unwrap();
    let free = |i: usize| if i == len - 1 { POISON_END } else { POISON_FREE };
    assert_eq!(slab.mem.find_mismatch(objp, len, free), None, "a freed object reads 0x6b..0xa5");
    slab.mem.write_u8(objp + 10, 0x00); // use after free
    assert_eq!(cachep.errors(), 0);
    let again = slab.kmem_cache_alloc(cachep, GfpFlags::GFP_KERNEL).unwrap();
    assert_eq!(again, objp, "LIFO: the same object comes back");
    assert_eq!(cachep.errors(), 1, "the corruption was reported");
    assert_eq!(slab.mem.find_mismatch(again, len, inuse), None, "and the object re-poisoned");
    slab.kmem_cache_free(cachep, again).unwrap();
    slab.kmem_cache_destroy(cachep).unwrap();
}

#[test]
fn memory_pressure_shrinks_a_large_free_slab_cache() {
    let slab = host_slab(2048);
    let pgdat = slab.pgdat();
    let cachep = slab.kmem_cache_create("pressure", 16384, 0, SlabFlags::empty(), None).unwrap();
    // Fill 256 objects of 16 KiB (4 MiB), then free them: the arrays and
    // free_limit keep some of their slabs cached.
    let objs: Vec<usize> = (0..256).map(|_| slab.kmem_cache_alloc(cachep, GfpFlags::GFP_KERNEL).unwrap()).collect();
    for o in objs {
        slab.kmem_cache_free(cachep, o).unwrap();
    }
    let cached_pages = slab.cache_counts(cachep).num_slabs << cachep.gfporder();
    assert!(cached_pages >= 8, "the cache holds free slabs ({cached_pages} pages)");
    // Take every free page with an allocation that may not reclaim.
    let mut held = Vec::new();
    while let Some(page) = pgdat.alloc_pages(GfpFlags::GFP_ATOMIC | GfpFlags::__GFP_NOWARN, 0) {
        held.push(page);
    }
    assert!(pgdat.alloc_pages(GfpFlags::GFP_ATOMIC | GfpFlags::__GFP_NOWARN, 2).is_none());
    // An order-2 GFP_KERNEL allocation reclaims: the slab shrinker gives
    // the cached slabs back and the allocation succeeds.
    let block = pgdat.alloc_pages(GfpFlags::GFP_KERNEL, 2).expect("reclaim freed the slab cache's pages");
    assert!(slab.cache_counts(cachep).num_slabs << cachep.gfporder() < cached_pages);
    pgdat.__free_pages(block, 2);
    for page in held {
        pgdat.__free_pages(page, 0);
    }
    slab.kmem_cache_destroy(cachep).unwrap();
}

#[test]
fn reclaimable_caches_are_accounted() {
    let slab = host_slab(4096);
    let cachep = slab.kmem_cache_create("dentry-like", 128, 0, SlabFlags::SLAB_RECLAIM_ACCOUNT, None).unwrap();
    let before = slab.nr_slab_reclaimable();
    let objs: Vec<usize> = (0..cachep.num() * 3).map(|_| slab.kmem_cache_alloc(cachep, GfpFlags::GFP_KERNEL).unwrap()).collect();
    assert_eq!(slab.nr_slab_reclaimable() - before, 3, "three order-0 slabs");
    assert_eq!(cachep.gfporder(), 0);
    for o in objs {
        slab.kmem_cache_free(cachep, o).unwrap();
    }
    slab.kmem_cache_shrink(cachep);
    assert_eq!(slab.nr_slab_reclaimable(), before);
    slab.kmem_cache_destroy(cachep).unwrap();
}

#[test]
fn cache_reap_gives_back_untouched_free_slabs() {
    let slab = host_slab(4096);
    let cachep = slab.kmem_cache_create("reap-test", 2048, 0, SlabFlags::empty(), None).unwrap();
    let objs: Vec<usize> = (0..64).map(|_| slab.kmem_cache_alloc(cachep, GfpFlags::GFP_KERNEL).unwrap()).collect();
    for o in objs {
        slab.kmem_cache_free(cachep, o).unwrap();
    }
    let ac = cachep.cpu_array(0).unwrap();
    let avail = ac.avail(&slab.mem);
    assert!(avail > 0);
    // First reap: the array was touched, it is only marked untouched (the
    // lists are not due: next_reap is 4 s away, and host time stands still).
    slab.cache_reap();
    assert_eq!(ac.avail(&slab.mem), avail);
    assert!(!ac.touched(&slab.mem));
    // Second reap: the untouched array gives (limit + 4) / 5 objects back
    // (Linux drain_array_locked), or half if it holds fewer.
    slab.cache_reap();
    let (limit, ..) = cachep.tunables();
    let tofree = if (limit + 4) / 5 > avail { avail.div_ceil(2) } else { (limit + 4) / 5 };
    assert_eq!(ac.avail(&slab.mem), avail - tofree);
    slab.check_cache(cachep).unwrap();
    slab.kmem_cache_shrink(cachep);
    slab.kmem_cache_destroy(cachep).unwrap();
}

// The mechanisms switched off: each check above fails without its mechanism.

#[test]
fn without_colouring_every_slab_starts_at_the_same_offset() {
    let slab = host_slab(4096);
    slab.test_switches.no_colouring.store(true, Ordering::Relaxed);
    let cachep = slab.kmem_cache_create("no-colour", 200, 0, SlabFlags::empty(), None).unwrap();
    assert!(cachep.colouring().0 >= 2, "the cache has colours to use");
    let objs: Vec<usize> = (0..3 * cachep.num()).map(|_| slab.kmem_cache_alloc(cachep, GfpFlags::GFP_KERNEL).unwrap()).collect();
    let offsets: HashSet<usize> = objs.iter().map(|&o| cachep.slab_of(&slab.mem, o).unwrap().s_mem(&slab.mem) % PAGE_SIZE).collect();
    assert_eq!(offsets.len(), 1, "what consecutive_slabs_cycle_through_the_colours rules out");
}

#[test]
fn without_the_slab_shrinker_the_allocation_under_pressure_fails() {
    let slab = host_slab(2048);
    slab.test_switches.no_shrinker.store(true, Ordering::Relaxed);
    let pgdat = slab.pgdat();
    let cachep = slab.kmem_cache_create("pressure-off", 16384, 0, SlabFlags::empty(), None).unwrap();
    let objs: Vec<usize> = (0..256).map(|_| slab.kmem_cache_alloc(cachep, GfpFlags::GFP_KERNEL).unwrap()).collect();
    for o in objs {
        slab.kmem_cache_free(cachep, o).unwrap();
    }
    let mut held = Vec::new();
    while let Some(page) = pgdat.alloc_pages(GfpFlags::GFP_ATOMIC | GfpFlags::__GFP_NOWARN, 0) {
        held.push(page);
    }
    let no_oom_kill = GfpFlags::GFP_KERNEL | GfpFlags::__GFP_NORETRY | GfpFlags::__GFP_NOWARN;
    assert!(pgdat.alloc_pages(no_oom_kill, 2).is_none(), "the cached slabs stay cached: nothing to reclaim");
    for page in held {
        pgdat.__free_pages(page, 0);
    }
}

#[cfg(debug_assertions)]
#[test]
fn without_the_double_free_check_one_object_is_handed_out_twice() {
    let slab = host_slab(4096);
    slab.test_switches.no_double_free_check.store(true, Ordering::Relaxed);
    let cachep = slab.kmem_cache_create("dbl-off", 64, 0, SlabFlags::empty(), None).unwrap();
    let a = slab.kmem_cache_alloc(cachep, GfpFlags::GFP_KERNEL).unwrap();
    slab.kmem_cache_free(cachep, a).unwrap();
    assert_eq!(slab.kmem_cache_free(cachep, a), Ok(()), "the second free is taken");
    let first = slab.kmem_cache_alloc(cachep, GfpFlags::GFP_KERNEL).unwrap();
    let second = slab.kmem_cache_alloc(cachep, GfpFlags::GFP_KERNEL).unwrap();
    assert_eq!((first, second), (a, a), "two owners of one object: what double_free_is_reported_and_refused prevents");
}
