//! Seed coverage: every function the seed documents show has a counterpart
//! in the kernel, findable by its Linux name.
//!
//! The project grew from four Chinese write-ups of Linux 2.6 memory-management
//! code (`../shared/seeds/`, beside the repository). A student reads them
//! next to this kernel and greps for the names they show, so each name must
//! lead somewhere: a `fn` of that name, or an item with
//! `#[doc(alias = "name")]` where Rust's naming rules or our types make the
//! name differ. This module lists the names and checks both directions:
//! every name the seeds call appears in one of the lists below, and every
//! name of [`COVERED`] is found in `src/`.

/// Seed functions (and function-like macros) that the kernel has.
pub const COVERED: &[&str] = &[
    // seed 000: kmap / kunmap, kmap_atomic, __alloc_pages
    "kmap", "kunmap", "kunmap_high", "map_new_virtual", "page_address", "kmap_atomic", "__fix_to_virt",
    "set_pte", "mk_pte", "pte_none", "inc_preempt_count", "__flush_tlb_one", "smp_processor_id",
    "waitqueue_active", "wake_up", "in_interrupt", "might_sleep_if", "zone_watermark_ok", "wakeup_kswapd",
    "try_to_free_pages", "out_of_memory", "cond_resched", "blk_congestion_wait", "__alloc_pages",
    "alloc_pages", "alloc_page", "__get_free_pages", "__free_pages", "__free_page", "is_highmem",
    // seed 001: buffered_rmqueue and the per-CPU lists
    "buffered_rmqueue", "zone_pcp", "rmqueue_bulk", "local_irq_save", "local_irq_restore", "__rmqueue",
    "spin_lock_irqsave", "__mod_zone_page_state", "__count_zone_vm_events", "zone_statistics", "bad_range",
    "prep_new_page",
    // seed 002: mm_init, mem_init, free_all_bootmem, set_highmem_pages_init
    "mm_init", "mem_init", "mem_init_print_info", "vmalloc_init", "free_all_bootmem",
    "free_low_memory_core_early", "for_each_free_mem_range", "__free_pages_memory", "__free_pages_bootmem",
    "reset_all_zones_managed_pages", "for_each_zone", "set_highmem_pages_init",
    "add_highpages_with_active_regions", "free_highmem_page", "__free_reserved_page", "__free_memory_core",
    "set_page_count", "set_page_refcounted", "init_page_count", "pfn_to_page", "pfn_valid", "page_zone",
    "zone_idx", "virt_to_page", "__va", "high_memory", "PageHighMem", "ClearPageReserved", "__ClearPageReserved",
    // not called in the seeds' code, but named in their text
    "set_page_address",
    // seed 002's next step after mem_init: the slab allocator
    "kmem_cache_init",
    // seed 003: vmalloc
    "vmalloc",
];

/// Seed names that have no counterpart, with the reason.
pub const NOT_HERE: &[(&str, &str)] = &[
    ("get_cpu", "seed 001 pins the CPU with get_cpu; our per-CPU path runs with interrupts off, which pins it too, until other CPUs run (issue 11)"),
    ("put_cpu", "as get_cpu"),
    ("prep_compound_page", "named in a comment of seed 001; no compound pages here"),
    ("__rmqueue_bulk", "named in the same comment of seed 001; Linux has no such function either"),
    ("page_cgroup_init_flatmem", "memory cgroups: seed 002 names it in mm_init, outside this kernel's scope"),
    ("percpu_init_late", "seed 002's mm_init: our per-CPU data is static arrays, nothing to finish late"),
    ("pgtable_init", "seed 002's mm_init: creates slab caches for page tables (a 3.x step); ours come from the buddy, as in 2.6.11 i386"),
    ("pci_iommu_alloc", "seed 002's mem_init on x86: no IOMMU here"),
    ("sort_iommu_table", "as pci_iommu_alloc"),
    ("check_iommu_entries", "as pci_iommu_alloc"),
    ("test_wp_bit", "seed 002's mem_init checks that the CPU honours WP in supervisor mode; we set CR0.WP and test it at boot instead"),
    ("get_allocated_memblock_reserved_regions_info", "memblock's arrays are fixed here: nothing to free after boot"),
    ("get_allocated_memblock_memory_regions_info", "as get_allocated_memblock_reserved_regions_info"),
    ("find_range_array", "old bootmem-era helper in seed 002; memblock's ranges are walked directly"),
    ("zone_to_nid", "one node only (UMA)"),
    ("rt_task", "no real-time scheduling class: every task is treated alike"),
    ("test_thread_flag", "thread flags (TIF_MEMDIE) are not modelled: there are no processes to kill"),
];

/// Words followed by `(` in the seeds that are C syntax, generic kernel
/// helpers or prose, not memory-management functions.
const NOT_FUNCTIONS: &[&str] = &[
    "if", "for", "while", "switch", "return", "likely", "unlikely", "printk", "spin_lock", "spin_unlock",
    "list_entry", "list_empty", "list_del", "min", "clamp_t", "prefetchw", "clear_bit", "__ffs", "uname", "d",
    "data", "detect", "early_init",
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::path::{Path, PathBuf};

    fn repository() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
    }

    fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    /// Is `name` defined in `text` as a function, macro, static, const or
    /// doc alias?
    fn defines(text: &str, name: &str) -> bool {
        let is_ident = |c: char| c.is_alphanumeric() || c == '_';
        let word_at = |prefix: &str| {
            text.match_indices(&format!("{prefix}{name}"))
                .any(|(i, m)| !text[i + m.len()..].starts_with(is_ident))
        };
        word_at("fn ")
            || word_at("macro_rules! ")
            || word_at("static ")
            || word_at("const ")
            || text.contains(&format!("alias = \"{name}\""))
    }

    #[test]
    fn every_covered_seed_name_is_in_the_kernel() {
        let mut files = Vec::new();
        rust_files(&repository().join("src"), &mut files);
        let source: String = files.iter().map(|f| std::fs::read_to_string(f).unwrap()).collect();
        let missing: Vec<&str> = COVERED.iter().copied().filter(|name| !defines(&source, name)).collect();
        assert!(missing.is_empty(), "seed names with no `fn` or `doc(alias)` in src/: {missing:?}");
    }

    /// The seed documents sit beside the repository (`../shared/seeds/`,
    /// as on every developer's machine and in CI).
    #[test]
    fn every_function_the_seeds_call_is_listed() {
        let seeds = repository().join("../shared/seeds");
        let entries = std::fs::read_dir(&seeds)
            .unwrap_or_else(|e| panic!("{}: {e} (the seed documents belong beside the repository)", seeds.display()));
        let mut called = BTreeSet::new();
        for entry in entries {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            let chars: Vec<char> = text.chars().collect();
            let mut i = 0;
            while i < chars.len() {
                if chars[i].is_ascii_alphabetic() || chars[i] == '_' {
                    let start = i;
                    while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                        i += 1;
                    }
                    let word: String = chars[start..i].iter().collect();
                    let mut j = i;
                    while j < chars.len() && chars[j] == ' ' {
                        j += 1;
                    }
                    let preceded_by_ident = start > 0 && (chars[start - 1].is_alphanumeric() || chars[start - 1] == '_');
                    if chars.get(j) == Some(&'(') && !preceded_by_ident && word.chars().any(|c| c.is_ascii_lowercase()) {
                        called.insert(word);
                    }
                } else {
                    i += 1;
                }
            }
        }
        assert!(called.len() > 50, "the seeds call many functions, found {}", called.len());
        let listed: BTreeSet<&str> = COVERED
            .iter()
            .copied()
            .chain(NOT_HERE.iter().map(|(name, _)| *name))
            .chain(NOT_FUNCTIONS.iter().copied())
            .collect();
        let unlisted: Vec<&String> = called.iter().filter(|name| !listed.contains(name.as_str())).collect();
        assert!(unlisted.is_empty(), "seed functions missing from xtask/src/seed_names.rs: {unlisted:?}");
    }
}
