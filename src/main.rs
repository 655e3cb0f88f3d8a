//! The kernel image `cargo xtask run` boots.
//!
//! Everything up to `kernel_init` is the library's [`kernel::init::start_kernel`];
//! this image then runs a short self-check of what the boot built and
//! powers QEMU off.  `kernel_init` runs in a kernel thread, with the timer
//! ticking: the self-check measures the tick, runs a second thread that
//! sleeps until the timer interrupt wakes it, and prints the interrupt
//! counts.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicBool, Ordering};
use kernel::arch::x86::irq::{IrqReturn, TIMER_IRQ, free_irq, request_irq, show_interrupts};
use kernel::arch::x86::qemu::{QemuExitCode, exit_qemu};
use kernel::arch::x86::time::measure_tick_rate_millihz;
use kernel::sched::{WaitQueueHead, kthread_join, kthread_run, nr_context_switches};

// Bring the library (entry code, panic handler) into the link.
extern crate kernel;

static TICKED: WaitQueueHead = WaitQueueHead::new();
static TICK_SEEN: AtomicBool = AtomicBool::new(false);

/// A timer hook that wakes the sleeping thread once.
fn wake_on_tick(_irq: u32) -> IrqReturn {
    if TICKED.waitqueue_active() && !TICK_SEEN.swap(true, Ordering::SeqCst) {
        TICKED.wake_up();
    }
    IrqReturn::Handled
}

#[unsafe(no_mangle)]
fn kernel_init() -> ! {
    let millihz = measure_tick_rate_millihz(200);
    log::info!("self-check: timer at {}.{:03} Hz against the TSC (HZ={})", millihz / 1000, millihz % 1000, kernel::time::hz());

    let hook = request_irq(TIMER_IRQ, wake_on_tick, "self-check").expect("a slot on IRQ 0");
    let sleeper = kthread_run(
        &|| {
            TICKED.wait_event(|| TICK_SEEN.load(Ordering::SeqCst));
            0
        },
        "self-check",
    )
    .expect("a kernel thread");
    let code = kthread_join(sleeper);
    free_irq(hook);
    log::info!("self-check: a kernel thread slept until the timer interrupt woke it (exit code {code}); {} context switches", nr_context_switches());
    show_interrupts();
    log::info!("self-check: boot complete, powering off");
    exit_qemu(QemuExitCode::Success)
}
