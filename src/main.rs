//! The kernel image `cargo xtask run` boots.
//!
//! Everything up to `kernel_init` is the library's [`kernel::init::start_kernel`];
//! this image then runs a short self-check of what the boot built and
//! powers QEMU off.
#![no_std]
#![no_main]

use kernel::arch::x86::qemu::{QemuExitCode, exit_qemu};

// Bring the library (entry code, panic handler) into the link.
extern crate kernel;

#[unsafe(no_mangle)]
fn kernel_init() -> ! {
    log::info!("self-check: boot complete, powering off");
    exit_qemu(QemuExitCode::Success)
}
