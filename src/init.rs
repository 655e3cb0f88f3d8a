//! `start_kernel`: the boot sequence, as a table of contents.
//!
//! Linux's `init/main.c:start_kernel()` is a long list of named steps;
//! ours is the same list cut down to what a physical-memory manager needs.
//! Read it top to bottom, then follow each call into its file.
//!
//! After memory, the steps that make the kernel interruptible and able to
//! sleep, in Linux's order: `sched_init` (the boot thread becomes the idle
//! task `swapper/0`), `init_IRQ` (PICs remapped, IRQ gates), `time_init`
//! (TSC calibrated, PIT ticking at `HZ`), the serial receive interrupt,
//! then interrupts on.  `rest_init` starts `kernel_init` as the first
//! kernel thread and the boot thread turns into the idle loop for good.
//! `kernel_init` first enables the boot CPU's local APIC and calibrates its
//! timer, then wakes the other CPUs (`smp_init`, `arch/x86/smpboot.rs`).
//!
//! `kernel_init` is defined by each kernel image for itself: the normal
//! kernel (`src/main.rs`) runs its boot self-check, a test kernel runs its
//! tests — in a kernel thread, so tests can sleep, be preempted and start
//! threads of their own.

use crate::arch::x86::boot::{self, BootHandoff};
use crate::arch::x86::{irq, irqflags, serial, setup, time};
use crate::cmdline::KernelParams;

unsafe extern "Rust" {
    /// The image-specific last step of the boot (see the module doc).
    fn kernel_init() -> !;
}

/// Version banner printed first, like Linux's `linux_banner`.
const BANNER: &str = concat!(
    env!("CARGO_PKG_NAME"), " version ", env!("CARGO_PKG_VERSION"),
    " (i386, 3G/1G split, PAE off): ", env!("CARGO_PKG_DESCRIPTION")
);

/// The boot sequence.  Called once, on the boot stack, by the entry code.
pub fn start_kernel(handoff: BootHandoff) -> ! {
    serial::serial_init();
    crate::printk::printk_init();
    log::info!("{BANNER}");
    let boot_info = boot::boot_info_bytes(&handoff).unwrap_or_else(|why| {
        panic!("{why} (EAX={:#010x}, EBX={:#010x})", handoff.magic, handoff.boot_info_paddr)
    });
    setup::setup_arch(boot_info);
    crate::mm::init::mm_init();
    crate::sched::sched_init();
    irq::init_IRQ();
    time::time_init(kernel_params().hz.unwrap_or(crate::time::DEFAULT_HZ), kernel_params().initial_jiffies);
    crate::timer::init_timers();
    // Linux `cpucache_init`: the boot CPU's cache_reap timer.
    crate::mm::kmalloc::start_cpu_timer();
    serial::serial8250_startup();
    irqflags::local_irq_enable();
    rest_init()
}

/// Starts `kernel_init` in a kernel thread and becomes the idle task
/// (Linux `rest_init`).
fn rest_init() -> ! {
    // The handle is dropped: kernel_init never exits, nobody waits for it.
    let _ = crate::sched::kthread_run(&run_kernel_init, "kernel_init")
        .unwrap_or_else(|why| panic!("cannot start kernel_init: {why}"));
    crate::sched::cpu_idle()
}

/// The body of the `kernel_init` thread.
fn run_kernel_init() -> i32 {
    crate::preempt::set_system_running();
    // Linux `init()`: the boot CPU's APIC and its timer, the boot CPU's
    // ksoftirqd (an early initcall), then the other CPUs and theirs.
    crate::arch::x86::smpboot::smp_prepare_cpus();
    // The daemons' handles are dropped: they never exit.
    let _ = crate::softirq::spawn_ksoftirqd(0);
    crate::arch::x86::smpboot::smp_init();
    // Linux's CPU-up notifier `vmstat_cpuup_callback`: thresholds for the CPUs now online.
    crate::mm::init::node().refresh_zone_stat_thresholds(crate::arch::x86::smp::num_online_cpus());
    for cpu in crate::arch::x86::smp::online_cpus().skip(1) {
        let _ = crate::softirq::spawn_ksoftirqd(cpu);
    }
    // `kswapd_init`, a module_init.
    let _ = crate::mm::kswapd::kswapd_init();
    // SAFETY: every kernel image links exactly one `kernel_init` (see
    // src/main.rs, the test kernels in tests/, and the library's own test
    // kernel in lib.rs).
    unsafe { kernel_init() }
}

/// The parsed kernel command line.
pub fn kernel_params() -> &'static KernelParams<'static> {
    &setup::boot_data().params
}
