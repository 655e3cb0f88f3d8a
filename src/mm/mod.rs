//! # Physical memory management
//!
//! How a 32-bit Linux 2.6 kernel (PAE off) keeps track of every page frame
//! of RAM and hands them out, rebuilt one Linux concept per file.  Follow a
//! boot (`init.rs` has the order) and the files come in this sequence:
//!
//! 1. **memblock** (`memblock.rs`): while nothing else exists, physical
//!    memory is two sorted lists of byte ranges — RAM the firmware
//!    reported, and what is already in use.  Early allocations (page
//!    tables, `mem_map`) are carved out of it.
//! 2. **the virtual layout** (`layout.rs`): the kernel's top gigabyte holds
//!    the direct map of the first 896 MiB ("low memory") and, above it,
//!    vmalloc, pkmap and fixmap windows for everything else.
//! 3. **page frames and zones** (`page.rs`, `list.rs`, `mmzone.rs`): one
//!    `struct page` per frame in `mem_map`; frames grouped into the DMA
//!    (< 16 MiB), Normal (< 896 MiB) and HighMem zones, each with its free
//!    lists.
//! 4. **the buddy allocator** (`page_alloc.rs`, `gfp.rs`): blocks of 2^order
//!    frames, split on allocation and merged with their buddy on free; GFP
//!    flags choose the zone and the fallback order.
//! 5. **hand-over** (`bootmem.rs`): `mem_init` frees every page memblock did
//!    not keep into the buddy allocator; memblock's job is done.
//! 6. **reaching high memory**: `direct_map.rs` translates low pages to
//!    addresses; `highmem.rs` maps high pages on demand (`kmap`),
//!    `kmap_atomic.rs` for a moment in per-CPU windows; `vmalloc.rs`
//!    builds virtually contiguous areas from scattered pages.
//!
//! | file          | Linux counterpart                         | concept |
//! |---------------|-------------------------------------------|---------|
//! | `layout.rs`   | `asm/page_32_types.h`, `pgtable_32_types.h`, `fixmap.h` | the 3G/1G virtual layout |
//! | `memblock.rs` | `mm/memblock.c`, `arch/x86/kernel/e820.c` | boot-time memory regions |
//! | `page.rs`     | `include/linux/mm_types.h`, `page-flags.h`| `struct page`, page flags |
//! | `list.rs`     | `include/linux/list.h` (for `page->lru`)  | intrusive page lists |
//! | `mmzone.rs`   | `include/linux/mmzone.h`, `free_area_init_node` | zones, `pg_data_t` |
//! | `zone_lock.rs`| `spinlock_t lock` of `struct zone`         | `zone->lock`, and the watermark counters read without it |
//! | `gfp.rs`      | `include/linux/gfp.h`                     | allocation flags |
//! | `page_alloc.rs`| `mm/page_alloc.c`                        | the buddy allocator, `__alloc_pages` and its passes |
//! | `migratetype.rs`| `mm/page_alloc.c`, `pageblock-flags.h`  | grouping pages by mobility, fallbacks |
//! | `watermark.rs`| `mm/page_alloc.c`                         | `min_free_kbytes`, watermarks, `lowmem_reserve` |
//! | `percpu_pages.rs`| `mm/page_alloc.c`, `mmzone.h`          | per-CPU page lists (hot/cold, refill, spill, drain) |
//! | `registry.rs`| (`shrinker_list`, notifier chains) | fixed-capacity lists of registered objects |
//! | `vmscan.rs`   | `mm/vmscan.c`                             | shrinkers, direct reclaim, kswapd wake-ups, `PF_MEMALLOC` |
//! | `kswapd.rs`   | `mm/vmscan.c`                             | the `kswapd0` thread: sleeps on `kswapd_wait`, runs `balance_pgdat` (kernel only) |
//! | `page_cache.rs`| `mm/filemap.c`, `mm/swap.c`              | a reclaimable cache of clean pages |
//! | `oom_kill.rs` | `mm/oom_kill.c`                           | `out_of_memory`, `show_free_areas` |
//! | `vmstat.rs`   | `mm/vmstat.c`                             | counters, `/proc/zoneinfo`, `/proc/vmstat`, `/proc/pagetypeinfo` |
//! | `bootmem.rs`  | `mm/nobootmem.c`, `arch/x86/mm/highmem_32.c` | handing boot memory to the buddy |
//! | `highmem.rs`  | `mm/highmem.c`                            | `kmap`/`kunmap`, pkmap counts, `page_address_htable` |
//! | `kmap_atomic.rs`| `arch/x86/mm/highmem_32.c`, `kmap_types.h` | `kmap_atomic` over per-CPU fixmap windows, `km_type` (kernel only) |
//! | `vmalloc.rs`  | `mm/vmalloc.c`                            | `vmalloc`/`vfree`, guard pages |
//! | `slab.rs`     | `mm/slab.c` (2.6.11)                      | caches, slabs, bufctl chains, colouring, per-CPU arrays: `kmem_cache_create`/`alloc`/`free`/`shrink`/`destroy` |
//! | `slab_debug.rs`| `mm/slab.c` (`CONFIG_DEBUG_SLAB`)        | poisoning, red zones, the checks on free |
//! | `slab_cpucache.rs`| `mm/slab.c`                           | array sizing (`enable_cpucache`), CPUs coming up, `cache_reap`, the slab shrinker |
//! | `heap.rs`     | `kmalloc`, `kmalloc_large`, `kvmalloc`    | the Rust heap's policy: `Box`/`Vec` from slab, pages or vmalloc (kernel only) |
//! | `kmalloc.rs`  | `mm/slab.c`, `kmalloc_sizes.h`            | `kmem_cache_init` (the bootstrap), the general caches, `kmalloc`/`kfree`/`ksize`, `/proc/slabinfo` |
//! | `direct_map.rs`| `include/linux/mm.h`, `asm/page.h` | `page_address`, `virt_to_page`, `__get_free_pages` (kernel only) |
//! | `init.rs`     | `arch/x86/mm/init_32.c`, `init/main.c` | the boot sequence of memory setup (kernel only) |
//! | `kernel_test_support.rs` | — | helpers of the in-kernel allocator tests (test kernels only) |

/// log2 of the page size: i386 without PAE uses 4 KiB pages.
pub const PAGE_SHIFT: u32 = 12;
/// Bytes in one page frame.
pub const PAGE_SIZE: usize = 1 << PAGE_SHIFT;
/// Number of block sizes the buddy allocator manages: orders 0 ..= MAX_ORDER - 1,
/// i.e. blocks of 1 page up to 1024 pages (4 MiB), as in Linux 2.6.
pub const MAX_ORDER: usize = 11;

/// First page frame number at or above physical address `paddr` (Linux `PFN_UP`).
pub const fn pfn_up(paddr: u64) -> u64 {
    (paddr + PAGE_SIZE as u64 - 1) >> PAGE_SHIFT
}

/// Page frame number containing physical address `paddr` (Linux `PFN_DOWN`).
pub const fn pfn_down(paddr: u64) -> u64 {
    paddr >> PAGE_SHIFT
}

/// Physical address of the first byte of page frame `pfn` (Linux `PFN_PHYS`).
pub const fn pfn_phys(pfn: u64) -> u64 {
    pfn << PAGE_SHIFT
}

pub mod layout;
pub mod memblock;
pub mod page;
pub mod list;
pub mod mmzone;
pub mod zone_lock;
pub mod gfp;
pub mod page_alloc;
pub mod migratetype;
pub mod watermark;
pub mod percpu_pages;
pub mod registry;
pub mod vmscan;
#[cfg(target_os = "none")]
pub mod kswapd;
pub mod page_cache;
pub mod oom_kill;
pub mod vmstat;
pub mod vmalloc;
pub mod slab;
pub mod slab_debug;
pub mod slab_cpucache;
pub mod kmalloc;
#[cfg(target_os = "none")]
pub mod heap;
#[cfg(all(test, not(target_os = "none")))]
mod slab_tests;
#[cfg(all(test, target_os = "none"))]
mod slab_kernel_tests;
pub mod highmem;
#[cfg(target_os = "none")]
pub mod kmap_atomic;
pub mod bootmem;
#[cfg(target_os = "none")]
pub mod direct_map;
#[cfg(target_os = "none")]
pub mod init;
#[cfg(all(test, target_os = "none"))]
pub(crate) mod kernel_test_support;
#[cfg(all(test, target_os = "none"))]
mod smp_kernel_tests;
