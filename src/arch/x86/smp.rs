//! Which CPU is this, and talking to the others: `smp_processor_id`, the
//! online map, `smp_call_function` / `on_each_cpu`, the reschedule IPI and
//! `smp_send_stop` (Linux 2.6.11 `arch/i386/kernel/smp.c`, and the per-CPU
//! segment of i386 2.6.2x `asm/percpu.h`).
//!
//! ## This CPU's number
//! Every CPU has a small area of its own, a [`PerCpuArea`], and its `%fs`
//! segment starts there (the GDT's per-CPU descriptor, loaded by
//! `gdt::load`). Reading this CPU's number is then one memory load,
//! `mov eax, fs:[0]`, as on Linux i386 2.6.2x, where `%fs` is based at
//! `__per_cpu_offset[cpu]` and `smp_processor_id()` reads `cpu_number`
//! through it. (Before, this kernel asked `CPUID` every time: a serialising
//! instruction, and a VM exit under KVM.)
//!
//! ## Calling a function on the other CPUs
//! [`smp_call_function`] is 2.6.11's: one global `call_data` slot under
//! `call_lock`; the caller fills it, sends `CALL_FUNCTION_VECTOR` to every
//! other online CPU and spins until each has *started* (copied the
//! function out) — and, with `wait`, *finished*. Each target runs the
//! function in its interrupt handler.
//!
//! **The deadlock it must avoid.** Suppose CPU 0 and CPU 1 both call it.
//! CPU 0 takes `call_lock` and waits for CPU 1 to answer; CPU 1 spins on
//! `call_lock`. If CPU 1 spun with interrupts *off*, it would never take
//! CPU 0's IPI, CPU 0 would never finish, and neither would move. The same
//! happens if CPU 1 waits with interrupts off for anything CPU 0 holds.
//! Hence Linux's rule, kept here: never call it with interrupts disabled
//! or from an interrupt handler. We check and refuse
//! ([`SmpCallError::IrqsDisabled`], with a warning and a backtrace) rather
//! than hang; `call_lock` is taken with interrupts *on*, so a CPU waiting
//! for it still answers the holder's IPI.
//!
//! ## Stopping everything
//! [`smp_send_stop`] (from the panic handler) sends every other online CPU
//! an NMI, which arrives even where interrupts are off, and their NMI
//! handler halts for good ([`stop_this_cpu`]). 2.6.11 used a call-function
//! IPI, which a CPU spinning with interrupts off never takes; later
//! kernels fall back to an NMI for that reason, and we go straight to it.

use super::apic::{self, CALL_FUNCTION_VECTOR, RESCHEDULE_VECTOR};
use super::irqflags::{irqs_enabled, local_irq_disable, local_irq_restore, local_irq_save};
use crate::mm::layout::NR_CPUS;
use crate::preempt::{in_interrupt, preempt_disable, preempt_enable};
use core::arch::asm;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8, AtomicU32, AtomicUsize, Ordering};

/// What a CPU finds at the base of its `%fs` segment (Linux's per-CPU
/// variables of i386, of which we need one so far).
#[repr(C, align(64))]
pub struct PerCpuArea {
    /// This CPU's number (Linux `per_cpu(cpu_number)`); at offset 0.
    cpu_number: u32,
}

/// One area per possible CPU; each on a cache line of its own, so that no
/// CPU writes a line another CPU reads.
static PER_CPU_AREAS: [PerCpuArea; NR_CPUS] = {
    let mut areas = [const { PerCpuArea { cpu_number: 0 } }; NR_CPUS];
    let mut cpu = 0;
    while cpu < NR_CPUS {
        areas[cpu].cpu_number = cpu as u32;
        cpu += 1;
    }
    areas
};

/// The base of CPU `cpu`'s per-CPU area (Linux `__per_cpu_offset[cpu]`),
/// for its segment descriptor.
pub fn per_cpu_area_base(cpu: usize) -> u32 {
    &raw const PER_CPU_AREAS[cpu] as u32
}

/// The number of the CPU running this code, below [`NR_CPUS`]: one load
/// through `%fs`.
pub fn smp_processor_id() -> usize {
    let cpu: u32;
    // SAFETY: from `gdt::load` on (the kernel's first step) %fs is this
    // CPU's per-CPU segment, its `PerCpuArea`, whose offset 0 is
    // `cpu_number`; the load has no side effects.
    unsafe { asm!("mov {0:e}, fs:[0]", out(reg) cpu, options(nostack, readonly, preserves_flags)) };
    cpu as usize
}

/// The CPUs that run kernel code (Linux `cpu_online_map`), one bit each.
static CPU_ONLINE_MAP: AtomicU32 = AtomicU32::new(1);
/// Each CPU's local APIC id, the destination of its IPIs (Linux
/// `x86_cpu_to_apicid`). Filled from the MADT by `smpboot::find_cpus`.
static CPU_TO_APICID: [AtomicU8; NR_CPUS] = [const { AtomicU8::new(0) }; NR_CPUS];

/// Whether CPU `cpu` is online (Linux `cpu_online`).
pub fn cpu_online(cpu: usize) -> bool {
    cpu < NR_CPUS && CPU_ONLINE_MAP.load(Ordering::Acquire) & (1 << cpu) != 0
}

/// The number of online CPUs (Linux `num_online_cpus`).
pub fn num_online_cpus() -> usize {
    CPU_ONLINE_MAP.load(Ordering::Acquire).count_ones() as usize
}

/// The online CPUs, lowest first (Linux `for_each_online_cpu`).
pub fn online_cpus() -> impl Iterator<Item = usize> {
    let map = CPU_ONLINE_MAP.load(Ordering::Acquire);
    (0..NR_CPUS).filter(move |cpu| map & (1 << cpu) != 0)
}

/// Marks CPU `cpu` online or offline (`cpu_set(cpu, cpu_online_map)`).
pub(super) fn set_cpu_online(cpu: usize, online: bool) {
    if online {
        CPU_ONLINE_MAP.fetch_or(1 << cpu, Ordering::Release);
    } else {
        CPU_ONLINE_MAP.fetch_and(!(1 << cpu), Ordering::Release);
    }
}

/// Records CPU `cpu`'s APIC id.
pub(super) fn set_cpu_to_apicid(cpu: usize, apicid: u8) {
    CPU_TO_APICID[cpu].store(apicid, Ordering::Relaxed);
}

/// CPU `cpu`'s APIC id (Linux `cpu_physical_id`).
pub fn cpu_physical_id(cpu: usize) -> u8 {
    CPU_TO_APICID[cpu].load(Ordering::Relaxed)
}

/// A function [`smp_call_function`] runs on other CPUs, in their
/// interrupt handlers: it must not sleep; `info` is its argument.
pub type SmpCallFn = fn(info: usize);

/// What the caller of [`smp_call_function`] tells the targets (Linux
/// `struct call_data_struct`). Lives on the caller's stack while the
/// targets may read it.
struct CallData {
    func: SmpCallFn,
    info: usize,
    /// Targets that have copied `func`/`info` out.
    started: AtomicUsize,
    /// Targets that have returned from `func` (counted only with `wait`).
    finished: AtomicUsize,
    wait: bool,
}

/// The request being sent, or null (Linux `call_data`).
static CALL_DATA: AtomicPtr<CallData> = AtomicPtr::new(core::ptr::null_mut());
/// One request at a time (Linux `call_lock`); taken with interrupts on.
static CALL_LOCK: spin::Mutex<()> = spin::Mutex::new(());

/// Why [`smp_call_function`] refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmpCallError {
    /// Called with interrupts disabled or in interrupt context: waiting for
    /// the other CPUs could deadlock (see the module doc).
    IrqsDisabled,
}

#[cfg(test)]
static CALLS_REFUSED: AtomicUsize = AtomicUsize::new(0);

/// Runs `func(info)` on every other online CPU (Linux 2.6.11
/// `smp_call_function`): returns once each has started it, or with `wait`
/// once each has finished. See the module doc for the deadlock this must
/// not be called into.
#[track_caller]
pub fn smp_call_function(func: SmpCallFn, info: usize, wait: bool) -> Result<(), SmpCallError> {
    if !irqs_enabled() || in_interrupt() {
        let at = core::panic::Location::caller();
        log::warn!("WARNING: smp_call_function() with interrupts disabled or from an interrupt at {}:{}, refused", at.file(), at.line());
        super::traps::dump_stack();
        #[cfg(test)]
        CALLS_REFUSED.fetch_add(1, Ordering::Relaxed);
        return Err(SmpCallError::IrqsDisabled);
    }
    preempt_disable();
    let me = smp_processor_id();
    let targets = online_cpus().filter(|&cpu| cpu != me).count();
    if targets > 0 {
        let data = CallData { func, info, started: AtomicUsize::new(0), finished: AtomicUsize::new(0), wait };
        let _call_lock = CALL_LOCK.lock();
        CALL_DATA.store(&raw const data as *mut CallData, Ordering::Release);
        for cpu in online_cpus().filter(|&cpu| cpu != me) {
            apic::send_IPI(cpu_physical_id(cpu), CALL_FUNCTION_VECTOR);
        }
        while data.started.load(Ordering::Acquire) != targets {
            core::hint::spin_loop();
        }
        if wait {
            while data.finished.load(Ordering::Acquire) != targets {
                core::hint::spin_loop();
            }
        }
        CALL_DATA.store(core::ptr::null_mut(), Ordering::Release);
    }
    preempt_enable();
    Ok(())
}

/// Runs `func(info)` on every online CPU, this one included, with
/// interrupts off on each (Linux `on_each_cpu`). Same rules as
/// [`smp_call_function`].
#[track_caller]
pub fn on_each_cpu(func: SmpCallFn, info: usize, wait: bool) -> Result<(), SmpCallError> {
    preempt_disable();
    let result = smp_call_function(func, info, wait);
    if result.is_ok() {
        let flags = local_irq_save();
        func(info);
        local_irq_restore(flags);
    }
    preempt_enable();
    result
}

/// What [`on_each_cpu_sum`] hands every CPU: the function and the total.
struct SumRequest {
    func: fn() -> usize,
    total: AtomicUsize,
}

fn add_to_sum(info: usize) {
    // The caller of on_each_cpu_sum waits for every CPU (wait = true).
    // SAFETY: so `info` is the address of its live SumRequest.
    let request = unsafe { &*(info as *const SumRequest) };
    request.total.fetch_add((request.func)(), Ordering::Relaxed);
}

/// Runs `func` on every online CPU (as [`on_each_cpu`] with `wait`) and
/// returns the sum of what they returned: e.g. how many pages every CPU's
/// `drain_local_pages` gave back.
#[track_caller]
pub fn on_each_cpu_sum(func: fn() -> usize) -> Result<usize, SmpCallError> {
    let request = SumRequest { func, total: AtomicUsize::new(0) };
    on_each_cpu(add_to_sum, &raw const request as usize, true)?;
    Ok(request.total.load(Ordering::Relaxed))
}

/// What [`on_each_cpu_with`] hands every CPU: the closure to run.
struct ClosureRequest<'a> {
    func: &'a (dyn Fn() + Sync),
}

fn run_closure(info: usize) {
    // The caller of on_each_cpu_with waits for every CPU (wait = true).
    // SAFETY: so `info` is the address of its live ClosureRequest, whose
    // closure is `Sync` and may be called from any CPU.
    let request = unsafe { &*(info as *const ClosureRequest<'_>) };
    (request.func)();
}

/// Runs `func` on every online CPU with interrupts off on each, and returns
/// when all have finished (as [`on_each_cpu`] with `wait`, for a closure
/// that borrows the caller's data: e.g. the slab allocator draining one
/// cache's per-CPU arrays, Linux's `smp_call_function_all_cpus(do_drain,
/// cachep)`).
#[track_caller]
pub fn on_each_cpu_with(func: &(dyn Fn() + Sync)) -> Result<(), SmpCallError> {
    let request = ClosureRequest { func };
    on_each_cpu(run_closure, &raw const request as usize, true)
}

/// The target's half (Linux `smp_call_function_interrupt`), in hardirq
/// context.
pub(super) fn smp_call_function_interrupt() {
    let data = CALL_DATA.load(Ordering::Acquire);
    if data.is_null() {
        log::warn!("CPU{}: call-function IPI without a request", smp_processor_id());
        return;
    }
    // The sender keeps `data` alive on its stack, under call_lock, until
    // every target has incremented `started` (and, with `wait`, `finished`).
    // SAFETY: we read it before our increment of `started` (see above).
    let (func, info, wait) = unsafe { ((*data).func, (*data).info, (*data).wait) };
    // SAFETY: as above: `started` is not yet complete, so `data` is alive.
    unsafe { (*data).started.fetch_add(1, Ordering::AcqRel) };
    func(info);
    if wait {
        // SAFETY: the sender waits for `finished`, so `data` is alive.
        unsafe { (*data).finished.fetch_add(1, Ordering::AcqRel) };
    }
}

/// Asks CPU `cpu` to reschedule (Linux `smp_send_reschedule`): its
/// interrupt return path calls `schedule()` if `need_resched` is set.
pub fn smp_send_reschedule(cpu: usize) {
    apic::send_IPI(cpu_physical_id(cpu), RESCHEDULE_VECTOR);
}

/// Set by [`smp_send_stop`]: an NMI now means "stop".
static STOPPING: AtomicBool = AtomicBool::new(false);

/// Whether the CPUs are being stopped (the NMI handler asks).
pub fn stopping() -> bool {
    STOPPING.load(Ordering::Acquire)
}

/// Stops every other online CPU (Linux `smp_send_stop`): an NMI each, see
/// the module doc. Waits up to a second for them to go offline.
pub fn smp_send_stop() {
    STOPPING.store(true, Ordering::Release);
    let me = smp_processor_id();
    if !apic::apic_mapped() {
        return;
    }
    for cpu in online_cpus().filter(|&cpu| cpu != me) {
        apic::send_NMI(cpu_physical_id(cpu));
    }
    let deadline = super::cpu::rdtsc() + super::time::tsc_khz() * 1000;
    while online_cpus().any(|cpu| cpu != me) && super::cpu::rdtsc() < deadline {
        core::hint::spin_loop();
    }
}

/// Takes this CPU out of service for good (Linux `stop_this_cpu`).
pub fn stop_this_cpu() -> ! {
    local_irq_disable();
    set_cpu_online(smp_processor_id(), false);
    super::cpu::halt_forever()
}

/// For tests: runs `threadfn` in a kernel thread bound to each online CPU,
/// all released together once every thread exists, and returns their exit
/// codes by CPU (`None` for CPUs that are not online).
#[cfg(test)]
pub(crate) fn run_bound_on_each_cpu(threadfn: &'static dyn crate::sched::ThreadFn, name: &'static str, go: &AtomicBool) -> [Option<i32>; NR_CPUS] {
    go.store(false, Ordering::SeqCst);
    let mut handles = [const { None }; NR_CPUS];
    for cpu in online_cpus() {
        let handle = crate::sched::kthread_create_on_cpu(threadfn, cpu, name).expect("a thread for each CPU");
        crate::sched::wake_up_process(handle.task());
        handles[cpu] = Some(handle);
    }
    go.store(true, Ordering::SeqCst);
    handles.map(|handle| handle.map(crate::sched::kthread_join))
}

/// For tests: spins until `go` is set (threads started by
/// [`run_bound_on_each_cpu`] wait for each other this way).
#[cfg(test)]
pub(crate) fn wait_for_go(go: &AtomicBool) {
    while !go.load(Ordering::SeqCst) {
        core::hint::spin_loop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::x86::cpu::cpuid;

    /// The number read through %fs agrees with an independent source: the
    /// initial APIC ID CPUID reports (QEMU numbers CPUs 0, 1, ...), and %fs
    /// holds the per-CPU selector.
    #[test_case]
    fn smp_processor_id_is_read_through_the_per_cpu_segment() {
        let apic_id = (cpuid(1, 0).ebx >> 24) as usize;
        assert_eq!(smp_processor_id(), apic_id);
        let fs: u16;
        // SAFETY: reading a segment register has no side effects.
        unsafe { asm!("mov {0:x}, fs", out(reg) fs, options(nomem, nostack, preserves_flags)) };
        assert_eq!(fs, crate::arch::x86::gdt::PERCPU_SELECTOR);
        assert_eq!(PER_CPU_AREAS[smp_processor_id()].cpu_number as usize, smp_processor_id());
    }

    /// Every online CPU reports its own number from a thread bound to it,
    /// and its APIC id is the one the MADT gave that number.
    #[test_case]
    fn a_thread_bound_to_each_cpu_runs_there() {
        static GO: AtomicBool = AtomicBool::new(false);
        let codes = run_bound_on_each_cpu(
            &|| {
                wait_for_go(&GO);
                let cpu = smp_processor_id();
                let apicid = (cpuid(1, 0).ebx >> 24) as u8;
                if apicid == cpu_physical_id(cpu) { cpu as i32 } else { -1 }
            },
            "on-cpu",
            &GO,
        );
        for cpu in 0..NR_CPUS {
            assert_eq!(codes[cpu], cpu_online(cpu).then_some(cpu as i32), "CPU{cpu}");
        }
        assert_eq!(codes.iter().flatten().count(), num_online_cpus());
    }

    static HITS: crate::percpu::PerCpu<AtomicUsize> = crate::percpu::PerCpu::new([const { AtomicUsize::new(0) }; NR_CPUS]);
    static HIT_WITH_IRQS_ON: AtomicBool = AtomicBool::new(false);

    fn hit(info: usize) {
        HITS.this_cpu().fetch_add(info, Ordering::SeqCst);
        if irqs_enabled() {
            HIT_WITH_IRQS_ON.store(true, Ordering::SeqCst);
        }
    }

    /// `on_each_cpu(.., wait)` has run the function exactly once on every
    /// online CPU, interrupts off, by the time it returns.
    #[test_case]
    fn on_each_cpu_runs_once_on_every_cpu_and_waits() {
        HITS.iter().for_each(|h| h.store(0, Ordering::SeqCst));
        HIT_WITH_IRQS_ON.store(false, Ordering::SeqCst);
        let me = smp_processor_id();
        let ipis_before: [u64; NR_CPUS] = core::array::from_fn(|cpu| apic::apic_irqs(CALL_FUNCTION_VECTOR, cpu));
        assert_eq!(on_each_cpu(hit, 1, true), Ok(()));
        for cpu in 0..NR_CPUS {
            assert_eq!(HITS.cpu(cpu).load(Ordering::SeqCst), usize::from(cpu_online(cpu)), "CPU{cpu}");
            let ipis = apic::apic_irqs(CALL_FUNCTION_VECTOR, cpu) - ipis_before[cpu];
            assert_eq!(ipis, u64::from(cpu_online(cpu) && cpu != me), "CPU{cpu}: one call-function IPI for each other CPU");
        }
        assert!(!HIT_WITH_IRQS_ON.load(Ordering::SeqCst), "the function runs with interrupts off everywhere");
    }

    /// Called with interrupts off, `smp_call_function` refuses instead of
    /// risking the deadlock of the module doc; nothing runs anywhere.
    #[test_case]
    fn smp_call_function_with_interrupts_off_is_refused() {
        HITS.iter().for_each(|h| h.store(0, Ordering::SeqCst));
        let refused = CALLS_REFUSED.load(Ordering::SeqCst);
        let flags = local_irq_save();
        let result = smp_call_function(hit, 1, true);
        local_irq_restore(flags);
        assert_eq!(result, Err(SmpCallError::IrqsDisabled));
        assert_eq!(CALLS_REFUSED.load(Ordering::SeqCst), refused + 1);
        assert_eq!(HITS.iter().map(|h| h.load(Ordering::SeqCst)).sum::<usize>(), 0);
    }

    const INCREMENTS: usize = 100_000;

    /// Each CPU increments its own per-CPU counter 10^5 times, all CPUs at
    /// once, with a plain load and store (no atomic read-modify-write, no
    /// lock): only that CPU writes its copy, so nothing is lost.
    #[test_case]
    fn per_cpu_counters_incremented_in_parallel_sum_exactly() {
        static GO: AtomicBool = AtomicBool::new(false);
        static COUNTS: crate::percpu::PerCpu<AtomicUsize> = crate::percpu::PerCpu::new([const { AtomicUsize::new(0) }; NR_CPUS]);
        COUNTS.iter().for_each(|c| c.store(0, Ordering::SeqCst));
        run_bound_on_each_cpu(
            &|| {
                wait_for_go(&GO);
                for _ in 0..INCREMENTS {
                    preempt_disable();
                    let counter = COUNTS.this_cpu();
                    counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
                    preempt_enable();
                }
                0
            },
            "percpu-inc",
            &GO,
        );
        for cpu in 0..NR_CPUS {
            assert_eq!(COUNTS.cpu(cpu).load(Ordering::SeqCst), if cpu_online(cpu) { INCREMENTS } else { 0 }, "CPU{cpu}");
        }
    }

    static SHARED: crate::spinlock::SpinLockIrq<u64> = crate::spinlock::SpinLockIrq::new(0);
    static RACY: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

    /// All CPUs increment one counter under a spin lock, 10^5 times each;
    /// the read and the write are separate steps inside the lock. Not one
    /// increment is lost. (The next test shows the same loop without the
    /// lock losing some.)
    #[test_case]
    fn a_spin_lock_loses_no_increment_under_contention_from_every_cpu() {
        static GO: AtomicBool = AtomicBool::new(false);
        *SHARED.lock() = 0;
        run_bound_on_each_cpu(
            &|| {
                wait_for_go(&GO);
                for _ in 0..INCREMENTS {
                    let mut counter = SHARED.lock();
                    let value = *counter;
                    core::hint::spin_loop();
                    *counter = value + 1;
                }
                0
            },
            "lock-inc",
            &GO,
        );
        assert_eq!(*SHARED.lock(), (INCREMENTS * num_online_cpus()) as u64);
    }

    /// The same increments without the lock lose updates once two CPUs run
    /// them at the same time: the proof that the previous test can fail.
    #[test_case]
    fn without_the_lock_concurrent_increments_are_lost() {
        static GO: AtomicBool = AtomicBool::new(false);
        if num_online_cpus() < 2 {
            crate::skip!("needs a second CPU (boot with -smp 2 or more)");
        }
        let expected = (INCREMENTS * num_online_cpus()) as u64;
        let mut lost = 0;
        for _round in 0..10 {
            RACY.store(0, Ordering::SeqCst);
            run_bound_on_each_cpu(
                &|| {
                    wait_for_go(&GO);
                    for _ in 0..INCREMENTS {
                        let value = RACY.load(Ordering::Relaxed);
                        core::hint::spin_loop();
                        RACY.store(value + 1, Ordering::Relaxed);
                    }
                    0
                },
                "racy-inc",
                &GO,
            );
            lost = expected - RACY.load(Ordering::SeqCst);
            if lost > 0 {
                break;
            }
        }
        log::info!("without a lock, {lost} of {expected} increments were lost");
        assert!(lost > 0, "in ten rounds the CPUs never overlapped: they do not run in parallel");
    }
}
