//! The panic handler: Linux's `panic()` for Rust panics.
//!
//! A panic in the kernel is final (`panic=abort`, no unwinding).  The
//! handler prints `Kernel panic - not syncing: <message>` with the source
//! location and the CPU, lets the test harness claim the panic if a test
//! was running, and otherwise stops QEMU with the failure code. The first
//! CPU to panic stops the others (`smp_send_stop`); a second CPU panicking
//! meanwhile halts without a word.

use crate::arch::x86::qemu::{QemuExitCode, exit_qemu};
use crate::arch::x86::{irqflags, serial, smp};
use crate::println;
use core::panic::PanicInfo;
use core::sync::atomic::{AtomicUsize, Ordering};

/// The CPU that panicked first, plus one (0: nobody has).
static PANIC_CPU: AtomicUsize = AtomicUsize::new(0);

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    irqflags::local_irq_disable();
    let cpu = smp::smp_processor_id();
    match PANIC_CPU.compare_exchange(0, cpu + 1, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => {}
        Err(first) if first == cpu + 1 => {
            serial::force_unlock();
            println!("\nKernel panic while panicking: {}", info.message());
            exit_qemu(QemuExitCode::Failed);
        }
        // Another CPU is already reporting its panic: stop here quietly.
        Err(_) => smp::stop_this_cpu(),
    }
    // Linux `panic()`: stop the other CPUs first, so nothing changes under
    // the report and nobody else prints.
    smp::smp_send_stop();
    // Whoever held the console lock will never run again.
    serial::force_unlock();
    let message = info.message();
    crate::testing::test_panicked(&format_args!("{message}{}", Location(info)));
    println!();
    let task = crate::sched::current();
    println!("CPU: {cpu} PID: {} Comm: {}", task.pid(), task.comm());
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
