//! `CONFIG_DEBUG_HIGHMEM`-style checks of `kmap_atomic` (on in debug
//! builds): mapping into a window that is already in use, and unmapping
//! with the wrong `km_type`, are bugs that must be caught, not silently
//! corrupt another user's mapping.  Booted with 2 GiB so high pages exist
//! (low pages need no window, so there would be nothing to check).
#![no_std]
#![no_main]
#![feature(custom_test_frameworks)]
#![test_runner(kernel::testing::test_runner)]
#![reexport_test_harness_main = "test_main"]

use kernel::mm::gfp::GfpFlags;
use kernel::mm::init::node;
use kernel::arch::x86::paging::kmap_atomic_pte;
use kernel::mm::kmap_atomic::{km_type, kmap_atomic, kunmap_atomic};
use kernel::mm::page::Page;
use kernel::should_panic_test;

kernel::test_kernel_init!();

fn high_page() -> &'static Page {
    let page = node().alloc_page(GfpFlags::GFP_HIGHUSER).expect("a free page");
    assert!(page.is_highmem(), "this kernel is booted with high memory");
    page
}

/// The checks stay quiet for correct use: a window is mapped while held,
/// empty after its `kunmap_atomic`, and can be taken again at once (the
/// two tests below then show that misuse is caught).
#[test_case]
fn correct_use_passes_the_checks_and_leaves_the_window_empty() {
    let window = km_type::KM_USER1 as usize;
    for _ in 0..2 {
        let page = high_page();
        let vaddr = kmap_atomic(page, km_type::KM_USER1);
        assert!(kmap_atomic_pte(window).is_present(), "the window maps the page while held");
        kunmap_atomic(vaddr, km_type::KM_USER1);
        assert!(kmap_atomic_pte(window).is_none(), "and is empty afterwards");
        node().__free_page(page);
    }
}

should_panic_test!(
    a_second_kmap_atomic_into_a_busy_window_is_caught,
    "kmap_atomic: window KM_USER1 of CPU 0 is already in use",
    || {
        kmap_atomic(high_page(), km_type::KM_USER1);
        kmap_atomic(high_page(), km_type::KM_USER1);
    }
);

should_panic_test!(
    kunmap_atomic_with_the_wrong_type_is_caught,
    "is not the KM_USER1 window of CPU 0",
    || {
        let vaddr = kmap_atomic(high_page(), km_type::KM_USER0);
        kunmap_atomic(vaddr, km_type::KM_USER1);
    }
);
