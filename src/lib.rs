//! # A teaching kernel for Linux 2.6's physical-memory management
//!
//! A bare-metal i386 kernel (32-bit, PAE off) that boots from GRUB via
//! Multiboot2 and rebuilds, function by function, how Linux 2.6 manages
//! physical memory: the 3G/1G split with its 896 MiB direct map, memblock,
//! `struct page` and zones, the buddy allocator.  It is written to be read
//! beside the Linux sources and *Understanding the Linux Kernel*: functions
//! keep their Linux names, and every module says which Linux file it
//! mirrors and what it simplifies.
//!
//! ## Design principles
//! * **Hardware behind `arch`.**  Inline assembly, port I/O, control
//!   registers and raw page-table memory live under [`arch::x86`]; every
//!   `unsafe` block there says why it is sound.
//! * **Algorithms are safe Rust.**  `mm/` works on page descriptors and
//!   page frame numbers with ordinary safe code, so the same files compile
//!   on the host (`#![cfg_attr(target_os = "none", no_std)]`) and their
//!   unit tests run there as well as inside the kernel.
//! * **Simple over clever.**  Where Linux optimises (per-architecture
//!   assembly, bit tricks, lockless fast paths) we keep the plain version
//!   and say so.
//!
//! ## Reading order
//! [`init::start_kernel`] is the table of contents of the boot.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(all(test, target_os = "none"), no_main)]
#![cfg_attr(target_os = "none", feature(custom_test_frameworks))]
#![cfg_attr(target_os = "none", test_runner(crate::testing::test_runner))]
#![cfg_attr(target_os = "none", reexport_test_harness_main = "test_main")]

extern crate alloc;

pub mod arch;
pub mod cmdline;
pub mod fixed_text;
pub mod mm;
pub mod percpu;
pub mod preempt;
pub mod sched;
#[cfg(target_os = "none")]
pub mod softirq;
pub mod spinlock;
pub mod time;
#[cfg(any(target_os = "none", test))]
pub mod timer;
pub mod xorshift;

#[cfg(target_os = "none")]
pub mod init;
#[cfg(target_os = "none")]
pub mod monitor;
#[cfg(target_os = "none")]
mod panic;
#[cfg(target_os = "none")]
pub mod printk;
#[cfg(target_os = "none")]
pub mod testing;

/// The library's own test kernel: boot, then run every `#[test_case]` of
/// the crate.
#[cfg(all(test, target_os = "none"))]
#[unsafe(no_mangle)]
fn kernel_init() -> ! {
    test_main();
    unreachable!("the test runner ends the QEMU run");
}
