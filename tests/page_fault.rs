//! A kernel whose tests provoke page faults on purpose and check the oops
//! names the faulting address (CR2), the decoded error code and EIP.
#![no_std]
#![no_main]
#![feature(custom_test_frameworks)]
#![test_runner(kernel::testing::test_runner)]
#![reexport_test_harness_main = "test_main"]

use kernel::should_panic_test;

kernel::test_kernel_init!();

fn read(vaddr: usize) -> u32 {
    // SAFETY: deliberately reads an unmapped address; the page-fault handler
    // panics and the harness checks the message. Nothing is read.
    unsafe { (vaddr as *const u32).read_volatile() }
}

fn write(vaddr: usize) {
    // SAFETY: as in `read`: the write faults before touching memory.
    unsafe { (vaddr as *mut u32).write_volatile(0x5a5a_5a5a) }
}

should_panic_test!(
    read_of_unmapped_kernel_address,
    "page fault at 0xdead0000 (not-present page, read access, kernel mode)",
    || { read(0xdead_0000); }
);

should_panic_test!(
    write_to_unmapped_kernel_address,
    "page fault at 0xdeadb004 (not-present page, write access, kernel mode)",
    || write(0xdead_b004)
);

should_panic_test!(
    null_pointer_dereference,
    "page fault at 0x00000010 (not-present page, read access, kernel mode)",
    || { read(0x10); }
);

// The kernel's physical load address was identity-mapped while paging was
// switched on; that mapping must be gone.
should_panic_test!(
    identity_mapping_of_the_kernel_is_gone,
    "page fault at 0x00100000",
    || { read(0x0010_0000); }
);
