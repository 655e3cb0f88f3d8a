//! The panic handler: Linux's `panic()` for Rust panics.
//!
//! A panic in the kernel is final (`panic=abort`, no unwinding).  The
//! handler prints `Kernel panic - not syncing: <message>` with the source
//! location, lets the test harness claim the panic if a test was running,
//! and otherwise stops QEMU with the failure code.

use crate::arch::x86::qemu::{QemuExitCode, exit_qemu};
use crate::arch::x86::{irqflags, serial};
use crate::println;
use core::panic::PanicInfo;
use core::sync::atomic::{AtomicBool, Ordering};

static PANICKING: AtomicBool = AtomicBool::new(false);

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    irqflags::local_irq_disable();
    // Whoever held the console lock on this CPU will never run again.
    serial::force_unlock();
    if PANICKING.swap(true, Ordering::Relaxed) {
        println!("\nKernel panic while panicking: {}", info.message());
        exit_qemu(QemuExitCode::Failed);
    }
    let message = info.message();
    crate::testing::test_panicked(&format_args!("{message}{}", Location(info)));
    println!();
    println!("Kernel panic - not syncing: {message}{}", Location(info));
    println!("---[ end Kernel panic - not syncing ]---");
    exit_qemu(QemuExitCode::Failed)
}

/// Formats ` at file:line:column` if the panic has a location.
struct Location<'a>(&'a PanicInfo<'a>);

impl core::fmt::Display for Location<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0.location() {
            Some(location) => write!(f, " at {}:{}:{}", location.file(), location.line(), location.column()),
            None => Ok(()),
        }
    }
}
