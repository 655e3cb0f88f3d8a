//! # Softirqs: work deferred out of the hardware interrupt
//!
//! A hardware interrupt handler runs with its line masked and often with
//! interrupts off, so it does the least it can and leaves the rest for
//! later: it *raises a softirq*. Pending softirqs run when the outermost
//! interrupt returns ([`irq_exit`]), with interrupts on again but still "in
//! interrupt" (`in_softirq()` is true: the softirq field of `preempt_count`
//! is raised by `SOFTIRQ_OFFSET`), so they cannot sleep and the thread they
//! interrupted does not run until they are done. Linux 2.6 has six, in
//! priority order ([`SoftirqNr`]); the timer wheel runs from
//! `TIMER_SOFTIRQ` (see `timer.rs`), which is why seed 003 says temporary
//! kernel mappings (`KM_SOFTIRQ0/1`) may be used "in deferrable functions".
//!
//! * [`open_softirq`] installs the action of a softirq (at boot);
//! * [`raise_softirq`] marks it pending on this CPU; outside an interrupt
//!   it also wakes this CPU's `ksoftirqd`, since no `irq_exit` is coming;
//! * [`do_softirq`] runs what is pending, unless this CPU is already in an
//!   interrupt (a softirq never interrupts another, nor a hardirq handler);
//! * [`local_bh_disable`] / [`local_bh_enable`] keep softirqs away from a
//!   section of thread code (they raise the same softirq field), and
//!   `local_bh_enable` runs what became pending meanwhile;
//! * a softirq that keeps raising itself would starve threads: after
//!   [`MAX_SOFTIRQ_RESTART`] rounds `__do_softirq` hands the rest to
//!   `ksoftirqd/N`, a kernel thread of ordinary priority.
//!
//! ## Linux source
//! `kernel/softirq.c` (2.6.11: `open_softirq`, `raise_softirq`,
//! `__do_softirq`, `do_softirq`, `irq_exit`, `local_bh_enable`,
//! `ksoftirqd`), `include/linux/interrupt.h` (the softirq numbers),
//! `include/linux/hardirq.h` (`in_softirq`); `/proc/softirqs` is 2.6.31's.
//! *Understanding the Linux Kernel*, 3rd ed., §4.7 "Softirqs and Tasklets".
//!
//! ## What we simplified
//! * No tasklets: `HI_SOFTIRQ` and `TASKLET_SOFTIRQ` exist as numbers, but
//!   nothing raises them (the tests borrow the unused `NET_RX_SOFTIRQ`).
//! * Per-CPU from the start (pending bits, counts, `ksoftirqd/N`), but only
//!   the boot CPU runs until other CPUs are brought up.

use crate::arch::x86::irqflags::{irqs_enabled, local_irq_disable, local_irq_enable, local_irq_restore, local_irq_save};
use crate::arch::x86::smp::smp_processor_id;
use crate::mm::layout::NR_CPUS;
use crate::percpu::PerCpu;
use crate::preempt::{self, SOFTIRQ_OFFSET, add_preempt_count, in_interrupt, sub_preempt_count};
use crate::sched::{KthreadHandle, TASK_RUNNING, TASK_UNINTERRUPTIBLE, Task};
use crate::spinlock::SpinLockIrq;
use core::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

/// The softirqs of Linux 2.6.11, highest priority first (the bit number is
/// the priority: `__do_softirq` runs them from bit 0 up).
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SoftirqNr {
    /// High-priority tasklets.
    HI_SOFTIRQ = 0,
    /// The timer wheel (`run_timer_softirq`).
    TIMER_SOFTIRQ = 1,
    /// Network transmit completion.
    NET_TX_SOFTIRQ = 2,
    /// Network receive.
    NET_RX_SOFTIRQ = 3,
    /// SCSI completions (later `BLOCK_SOFTIRQ`).
    SCSI_SOFTIRQ = 4,
    /// Ordinary tasklets.
    TASKLET_SOFTIRQ = 5,
}

/// Number of softirqs (Linux `NR_SOFTIRQS`).
pub const NR_SOFTIRQS: usize = 6;

impl SoftirqNr {
    /// All of them, in priority order.
    pub const ALL: [SoftirqNr; NR_SOFTIRQS] = [
        SoftirqNr::HI_SOFTIRQ,
        SoftirqNr::TIMER_SOFTIRQ,
        SoftirqNr::NET_TX_SOFTIRQ,
        SoftirqNr::NET_RX_SOFTIRQ,
        SoftirqNr::SCSI_SOFTIRQ,
        SoftirqNr::TASKLET_SOFTIRQ,
    ];

    /// The name `/proc/softirqs` prints (2.6.31's `softirq_to_name`).
    pub const fn name(self) -> &'static str {
        match self {
            SoftirqNr::HI_SOFTIRQ => "HI",
            SoftirqNr::TIMER_SOFTIRQ => "TIMER",
            SoftirqNr::NET_TX_SOFTIRQ => "NET_TX",
            SoftirqNr::NET_RX_SOFTIRQ => "NET_RX",
            SoftirqNr::SCSI_SOFTIRQ => "BLOCK",
            SoftirqNr::TASKLET_SOFTIRQ => "TASKLET",
        }
    }
}

/// How many times `__do_softirq` goes round for softirqs raised while it
/// ran, before it leaves them to `ksoftirqd` (Linux `MAX_SOFTIRQ_RESTART`).
pub const MAX_SOFTIRQ_RESTART: u32 = 10;

/// A softirq's action (Linux `softirq_action.action`).
pub type SoftirqAction = fn();

/// The actions (Linux `softirq_vec`).
static SOFTIRQ_VEC: SpinLockIrq<[Option<SoftirqAction>; NR_SOFTIRQS]> = SpinLockIrq::new([None; NR_SOFTIRQS]);

/// Pending bits per CPU (Linux `local_softirq_pending()`, in `irq_stat`).
static PENDING: PerCpu<AtomicU32> = PerCpu::new([const { AtomicU32::new(0) }; NR_CPUS]);

/// How often each softirq ran on each CPU (`/proc/softirqs`).
static COUNTS: PerCpu<[AtomicU64; NR_SOFTIRQS]> = PerCpu::new([const { [const { AtomicU64::new(0) }; NR_SOFTIRQS] }; NR_CPUS]);

/// Times `__do_softirq` gave up after [`MAX_SOFTIRQ_RESTART`] rounds and
/// woke `ksoftirqd`, per CPU.
static DEFERRED_TO_KSOFTIRQD: PerCpu<AtomicUsize> = PerCpu::new([const { AtomicUsize::new(0) }; NR_CPUS]);

/// `ksoftirqd/N`'s task, once it runs (an index into the task table + 1).
static KSOFTIRQD: PerCpu<AtomicUsize> = PerCpu::new([const { AtomicUsize::new(0) }; NR_CPUS]);

/// Installs the action of softirq `nr` (Linux `open_softirq`). A second
/// call replaces the first; `None` takes it away (our addition, for tests).
pub fn open_softirq(nr: SoftirqNr, action: Option<SoftirqAction>) {
    SOFTIRQ_VEC.lock()[nr as usize] = action;
}

/// This CPU's pending softirqs (Linux `local_softirq_pending`).
pub fn local_softirq_pending() -> u32 {
    PENDING.this_cpu().load(Ordering::Relaxed)
}

/// Marks `nr` pending on this CPU, interrupts already off (Linux
/// `raise_softirq_irqoff`). In an interrupt, `irq_exit` will run it; in
/// thread context nothing will, so `ksoftirqd` is woken.
pub fn raise_softirq_irqoff(nr: SoftirqNr) {
    PENDING.this_cpu().fetch_or(1 << nr as u32, Ordering::Relaxed);
    if !in_interrupt() {
        wakeup_softirqd();
    }
}

/// Marks `nr` pending on this CPU (Linux `raise_softirq`).
pub fn raise_softirq(nr: SoftirqNr) {
    let flags = local_irq_save();
    raise_softirq_irqoff(nr);
    local_irq_restore(flags);
}

/// Runs the pending softirqs (Linux `__do_softirq`), interrupts off on
/// entry and exit, `in_interrupt()` false on entry:
/// 1. raise the softirq field of `preempt_count` (`in_softirq()` is now
///    true: no other softirq run can start on this CPU, and whatever runs
///    here may not sleep);
/// 2. take the pending bits and clear them, then run each pending action in
///    priority order with interrupts *on*, so hardware interrupts are not
///    held up by deferred work;
/// 3. if the actions (or interrupts meanwhile) raised more, go round
///    again, at most [`MAX_SOFTIRQ_RESTART`] times; what is still pending
///    then is `ksoftirqd`'s job.
fn __do_softirq() {
    add_preempt_count(SOFTIRQ_OFFSET);
    let cpu = smp_processor_id();
    let mut restarts = MAX_SOFTIRQ_RESTART;
    let mut pending = PENDING.cpu(cpu).swap(0, Ordering::Relaxed);
    loop {
        let actions = *SOFTIRQ_VEC.lock();
        local_irq_enable();
        for nr in SoftirqNr::ALL.into_iter().filter(|&nr| pending & (1 << nr as u32) != 0) {
            if let Some(action) = actions[nr as usize] {
                COUNTS.cpu(cpu)[nr as usize].fetch_add(1, Ordering::Relaxed);
                action();
            }
        }
        local_irq_disable();
        pending = PENDING.cpu(cpu).swap(0, Ordering::Relaxed);
        restarts -= 1;
        if pending == 0 || restarts == 0 {
            break;
        }
    }
    if pending != 0 {
        // Give back what is left for ksoftirqd.
        PENDING.cpu(cpu).fetch_or(pending, Ordering::Relaxed);
        DEFERRED_TO_KSOFTIRQD.cpu(cpu).fetch_add(1, Ordering::Relaxed);
        wakeup_softirqd();
    }
    sub_preempt_count(SOFTIRQ_OFFSET);
}

/// Runs this CPU's pending softirqs, unless it is in an interrupt already
/// (Linux `do_softirq`).
pub fn do_softirq() {
    if in_interrupt() {
        return;
    }
    let flags = local_irq_save();
    if local_softirq_pending() != 0 {
        __do_softirq();
    }
    local_irq_restore(flags);
}

/// Leaves hardirq context and, if this was the outermost interrupt, runs
/// what it raised (Linux `irq_exit`, 2.6.11's `invoke_softirq` being
/// `do_softirq`). `do_IRQ` calls it with interrupts off, as Linux does;
/// code that enters hardirq context by hand (a test playing interrupt
/// handler) may call it with them on, and gets them back as they were.
pub fn irq_exit() {
    let flags = local_irq_save();
    preempt::__irq_exit();
    if !in_interrupt() && local_softirq_pending() != 0 {
        __do_softirq();
    }
    local_irq_restore(flags);
}

/// Keeps softirqs from running on this CPU until [`local_bh_enable`]
/// (Linux `local_bh_disable`): thread code that shares data with a softirq
/// protects it so. Nests.
pub fn local_bh_disable() {
    add_preempt_count(SOFTIRQ_OFFSET);
}

/// Ends a [`local_bh_disable`]; at the outermost level, runs what was
/// raised meanwhile, then reschedules if someone asked (Linux
/// `local_bh_enable`). Calling it with interrupts off is a bug Linux warns
/// about (the softirqs would run with interrupts off): reported here, and
/// they wait for the next chance instead.
#[track_caller]
pub fn local_bh_enable() {
    sub_preempt_count(SOFTIRQ_OFFSET);
    if in_interrupt() || local_softirq_pending() == 0 {
        return;
    }
    if !irqs_enabled() {
        let at = core::panic::Location::caller();
        log::warn!("WARNING: local_bh_enable() with interrupts disabled at {}:{}", at.file(), at.line());
        return;
    }
    do_softirq();
}

/// Whether a softirq is running or softirqs are disabled on this CPU
/// (Linux `in_softirq`).
pub fn in_softirq() -> bool {
    preempt::preempt_count().in_softirq()
}

fn wakeup_softirqd() {
    let slot = KSOFTIRQD.this_cpu().load(Ordering::Relaxed);
    if slot != 0 {
        crate::sched::wake_up_process(crate::sched::task::task(slot - 1));
    }
}

/// The body of `ksoftirqd/N` (Linux `ksoftirqd`): sleep until softirqs
/// are pending, run them with preemption allowed between rounds, and sleep
/// again.
fn ksoftirqd() -> i32 {
    loop {
        crate::sched::set_current_state(TASK_UNINTERRUPTIBLE);
        if local_softirq_pending() == 0 {
            crate::sched::schedule();
            continue;
        }
        crate::sched::set_current_state(TASK_RUNNING);
        while local_softirq_pending() != 0 {
            do_softirq();
            crate::sched::cond_resched();
        }
    }
}

/// Starts `ksoftirqd/N` bound to CPU `cpu` (Linux `spawn_ksoftirqd`, an
/// early initcall, for the boot CPU, and the CPU-up notifier
/// `cpu_callback` for the others).
pub fn spawn_ksoftirqd(cpu: usize) -> KthreadHandle {
    const NAMES: [&str; NR_CPUS] = ["ksoftirqd/0", "ksoftirqd/1", "ksoftirqd/2", "ksoftirqd/3"];
    let handle = crate::sched::kthread_create_on_cpu(&ksoftirqd, cpu, NAMES[cpu]).expect("a task slot at boot");
    KSOFTIRQD.cpu(cpu).store(handle.task().index() + 1, Ordering::Relaxed);
    crate::sched::wake_up_process(handle.task());
    handle
}

/// `ksoftirqd` of CPU `cpu`, once started.
pub fn ksoftirqd_task(cpu: usize) -> Option<&'static Task> {
    let slot = KSOFTIRQD.cpu(cpu).load(Ordering::Relaxed);
    (slot != 0).then(|| crate::sched::task::task(slot - 1))
}

/// How often softirq `nr` ran on CPU `cpu`.
pub fn softirq_count(nr: SoftirqNr, cpu: usize) -> u64 {
    COUNTS.cpu(cpu)[nr as usize].load(Ordering::Relaxed)
}

/// How many times `__do_softirq` left work to `ksoftirqd` on CPU `cpu`.
pub fn deferred_to_ksoftirqd(cpu: usize) -> usize {
    DEFERRED_TO_KSOFTIRQD.cpu(cpu).load(Ordering::Relaxed)
}

/// Prints the softirq counts per CPU in Linux's `/proc/softirqs` format.
pub fn show_softirqs() {
    let mut header = crate::fixed_text::FixedText::<128>::new();
    let _ = core::fmt::Write::write_str(&mut header, "                ");
    for cpu in 0..NR_CPUS {
        let _ = core::fmt::write(&mut header, format_args!("    CPU{cpu:<6}"));
    }
    log::info!("{}", header.as_str().trim_end());
    for nr in SoftirqNr::ALL {
        let mut line = crate::fixed_text::FixedText::<128>::new();
        let _ = core::fmt::write(&mut line, format_args!("{:>12}:", nr.name()));
        for cpu in 0..NR_CPUS {
            let _ = core::fmt::write(&mut line, format_args!(" {:>10}", softirq_count(nr, cpu)));
        }
        log::info!("{}", line.as_str());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::x86::irq::{IrqReturn, TIMER_IRQ, free_irq, request_irq};
    use crate::mm::gfp::GfpFlags;
    use crate::mm::init::node;
    use crate::mm::kmap_atomic::{km_type, kmap_atomic, kunmap_atomic};
    use core::sync::atomic::AtomicBool;

    /// The tests borrow `NET_RX_SOFTIRQ`: nothing else raises it here.
    const TEST_SOFTIRQ: SoftirqNr = SoftirqNr::NET_RX_SOFTIRQ;

    static RAISED_IN_IRQ: AtomicBool = AtomicBool::new(false);
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    static RAN_IN_SOFTIRQ: AtomicBool = AtomicBool::new(false);
    static RAN_AFTER_THE_HANDLER: AtomicBool = AtomicBool::new(false);
    static RAN_IN_HARDIRQ: AtomicBool = AtomicBool::new(false);

    fn reset() {
        for flag in [&RAISED_IN_IRQ, &RAN_IN_SOFTIRQ, &RAN_AFTER_THE_HANDLER, &RAN_IN_HARDIRQ] {
            flag.store(false, Ordering::SeqCst);
        }
        RUNS.store(0, Ordering::SeqCst);
    }

    fn note_context() {
        RAN_IN_SOFTIRQ.store(in_softirq(), Ordering::SeqCst);
        RAN_IN_HARDIRQ.fetch_or(crate::preempt::in_irq(), Ordering::SeqCst);
        RAN_AFTER_THE_HANDLER.store(RAISED_IN_IRQ.load(Ordering::SeqCst), Ordering::SeqCst);
        RUNS.fetch_add(1, Ordering::SeqCst);
    }

    fn raise_once_from_the_tick(_irq: u32) -> IrqReturn {
        if !RAISED_IN_IRQ.load(Ordering::SeqCst) {
            raise_softirq(TEST_SOFTIRQ);
            RAISED_IN_IRQ.store(true, Ordering::SeqCst);
        }
        IrqReturn::Handled
    }

    fn wait_for_runs(runs: usize) {
        let deadline = crate::time::jiffies() + 2 * crate::time::hz() as u64;
        while RUNS.load(Ordering::SeqCst) < runs && crate::time::jiffies() < deadline {
            crate::sched::schedule();
        }
    }

    /// A softirq raised by an interrupt handler runs when the interrupt
    /// returns (`irq_exit`), after the handler, in softirq context and not
    /// in hardirq context, and is counted for `/proc/softirqs`.
    #[test_case]
    fn a_softirq_raised_in_the_timer_interrupt_runs_after_it_in_softirq_context() {
        reset();
        let count = softirq_count(TEST_SOFTIRQ, smp_processor_id());
        open_softirq(TEST_SOFTIRQ, Some(note_context));
        let cookie = request_irq(TIMER_IRQ, raise_once_from_the_tick, "softirq-test").unwrap();
        wait_for_runs(1);
        free_irq(cookie);
        open_softirq(TEST_SOFTIRQ, None);
        assert_eq!(RUNS.load(Ordering::SeqCst), 1, "ran once");
        assert!(RAN_AFTER_THE_HANDLER.load(Ordering::SeqCst), "after the handler raised it");
        assert!(RAN_IN_SOFTIRQ.load(Ordering::SeqCst), "in_softirq() inside the action");
        assert!(!RAN_IN_HARDIRQ.load(Ordering::SeqCst), "not in hardirq context");
        assert_eq!(softirq_count(TEST_SOFTIRQ, smp_processor_id()), count + 1);
        assert!(!in_softirq(), "and the thread is back to normal");
    }

    /// `irq_exit` from code that entered hardirq context by hand, with
    /// interrupts on: the softirq raised meanwhile runs, and the interrupt
    /// flag is as it was (a test that plays interrupt handler relies on it).
    #[test_case]
    fn irq_exit_runs_what_was_raised_and_keeps_the_interrupt_flag() {
        reset();
        open_softirq(TEST_SOFTIRQ, Some(note_context));
        crate::preempt::irq_enter();
        raise_softirq(TEST_SOFTIRQ);
        assert_eq!(RUNS.load(Ordering::SeqCst), 0, "not inside the hardirq");
        irq_exit();
        open_softirq(TEST_SOFTIRQ, None);
        assert_eq!(RUNS.load(Ordering::SeqCst), 1, "irq_exit ran it");
        assert!(irqs_enabled(), "interrupts on, as before irq_enter");
    }

    /// Between `local_bh_disable` and `local_bh_enable` a pending softirq
    /// waits, through timer interrupts; `local_bh_enable` runs it.
    #[test_case]
    fn local_bh_disable_defers_a_softirq_until_local_bh_enable() {
        reset();
        open_softirq(TEST_SOFTIRQ, Some(note_context));
        local_bh_disable();
        assert!(in_softirq() && in_interrupt(), "bh disabled counts as softirq context");
        raise_softirq(TEST_SOFTIRQ);
        let start = crate::time::jiffies();
        while crate::time::jiffies() < start + 3 {
            core::hint::spin_loop();
        }
        let runs_while_disabled = RUNS.load(Ordering::SeqCst);
        local_bh_enable();
        let runs_after_enable = RUNS.load(Ordering::SeqCst);
        open_softirq(TEST_SOFTIRQ, None);
        assert_eq!(runs_while_disabled, 0, "three ticks came and went, the softirq waited");
        assert_eq!(runs_after_enable, 1, "local_bh_enable ran it at once");
        assert!(RAN_IN_SOFTIRQ.load(Ordering::SeqCst));
    }

    const SELF_RAISES: usize = 25;
    static RAN_IN_KSOFTIRQD: AtomicBool = AtomicBool::new(false);

    fn raise_again() {
        let runs = RUNS.fetch_add(1, Ordering::SeqCst) + 1;
        if ksoftirqd_task(0).is_some_and(|task| core::ptr::eq(task, crate::sched::current())) {
            RAN_IN_KSOFTIRQD.store(true, Ordering::SeqCst);
        }
        if runs < SELF_RAISES {
            raise_softirq_irqoff(TEST_SOFTIRQ);
        }
    }

    /// A softirq that keeps raising itself gets `MAX_SOFTIRQ_RESTART` rounds
    /// on the way out of the interrupt; the rest is `ksoftirqd/0`'s.
    #[test_case]
    fn a_softirq_that_keeps_raising_itself_is_handed_to_ksoftirqd() {
        reset();
        RAN_IN_KSOFTIRQD.store(false, Ordering::SeqCst);
        let deferred = deferred_to_ksoftirqd(0);
        open_softirq(TEST_SOFTIRQ, Some(raise_again));
        let cookie = request_irq(TIMER_IRQ, raise_once_from_the_tick, "softirq-test").unwrap();
        wait_for_runs(SELF_RAISES);
        free_irq(cookie);
        open_softirq(TEST_SOFTIRQ, None);
        assert_eq!(RUNS.load(Ordering::SeqCst), SELF_RAISES);
        assert!(deferred_to_ksoftirqd(0) > deferred, "__do_softirq gave up after MAX_SOFTIRQ_RESTART rounds");
        assert!(RAN_IN_KSOFTIRQD.load(Ordering::SeqCst), "ksoftirqd ran the rest");
    }

    static HIGH_PFN: AtomicUsize = AtomicUsize::new(0);
    static SOFTIRQ_READ: AtomicU32 = AtomicU32::new(0);
    static SOFTIRQ_GOT_ATOMIC_PAGE: AtomicBool = AtomicBool::new(false);

    fn allocate_and_map_in_a_softirq() {
        let node = node();
        let page = node.alloc_page(GfpFlags::GFP_ATOMIC);
        SOFTIRQ_GOT_ATOMIC_PAGE.store(page.is_some(), Ordering::SeqCst);
        if let Some(page) = page {
            node.__free_page(page);
        }
        let theirs = node.pfn_to_page(HIGH_PFN.load(Ordering::SeqCst)).unwrap();
        let window = kmap_atomic(theirs, km_type::KM_SOFTIRQ0);
        // SAFETY: the window maps the test's page until kunmap_atomic.
        SOFTIRQ_READ.store(unsafe { (window as *const u32).read_volatile() }, Ordering::SeqCst);
        kunmap_atomic(window, km_type::KM_SOFTIRQ0);
        RUNS.fetch_add(1, Ordering::SeqCst);
    }

    /// In a softirq, `GFP_ATOMIC` allocates and `kmap_atomic(KM_SOFTIRQ0)`
    /// maps a page, while the interrupted thread holds `KM_USER0` on
    /// another: neither window disturbs the other (seed 003's "deferrable
    /// functions").
    #[test_case]
    fn gfp_atomic_and_km_softirq0_work_in_a_softirq_while_a_thread_holds_km_user0() {
        if !crate::mm::kernel_test_support::populated(crate::mm::mmzone::ZoneType::HighMem) {
            crate::skip!("no high memory at this size: low pages need no window");
        }
        reset();
        let node = node();
        let before = crate::mm::kernel_test_support::quiesced_snapshot(node);
        let (mine, theirs) = (node.alloc_page(GfpFlags::GFP_HIGHUSER).unwrap(), node.alloc_page(GfpFlags::GFP_HIGHUSER).unwrap());
        let window = kmap_atomic(theirs, km_type::KM_USER0);
        // SAFETY: the window maps `theirs` until kunmap_atomic below.
        unsafe { (window as *mut u32).write_volatile(0x50f7_1240) };
        kunmap_atomic(window, km_type::KM_USER0);
        HIGH_PFN.store(node.page_to_pfn(theirs).unwrap(), Ordering::SeqCst);
        open_softirq(TEST_SOFTIRQ, Some(allocate_and_map_in_a_softirq));
        let held = kmap_atomic(mine, km_type::KM_USER0);
        // SAFETY: as above, for `mine`.
        unsafe { (held as *mut u32).write_volatile(0x0000_0a11) };
        let cookie = request_irq(TIMER_IRQ, raise_once_from_the_tick, "softirq-test").unwrap();
        while RUNS.load(Ordering::SeqCst) == 0 {
            core::hint::spin_loop();
        }
        free_irq(cookie);
        // SAFETY: as above.
        let still_mine = unsafe { (held as *const u32).read_volatile() };
        kunmap_atomic(held, km_type::KM_USER0);
        open_softirq(TEST_SOFTIRQ, None);
        assert!(SOFTIRQ_GOT_ATOMIC_PAGE.load(Ordering::SeqCst), "GFP_ATOMIC in a softirq");
        assert_eq!(SOFTIRQ_READ.load(Ordering::SeqCst), 0x50f7_1240, "KM_SOFTIRQ0 reached its page");
        assert_eq!(still_mine, 0x0000_0a11, "KM_USER0 still maps the thread's page");
        node.__free_page(mine);
        node.__free_page(theirs);
        assert_eq!(crate::mm::kernel_test_support::quiesced_snapshot(node), before);
    }

    fn kmap_in_a_softirq() {
        let page = node().alloc_page(GfpFlags::GFP_ATOMIC).unwrap();
        crate::mm::highmem::kmap(page);
        crate::mm::highmem::kunmap(page);
        node().__free_page(page);
        RUNS.fetch_add(1, Ordering::SeqCst);
    }

    /// `kmap` may sleep: called from a softirq, it is reported (`might_sleep`
    /// sees the softirq count), with softirq context named in the report.
    #[test_case]
    fn kmap_in_a_softirq_is_reported() {
        reset();
        let reports = crate::preempt::might_sleep_reports();
        open_softirq(TEST_SOFTIRQ, Some(kmap_in_a_softirq));
        let cookie = request_irq(TIMER_IRQ, raise_once_from_the_tick, "softirq-test").unwrap();
        wait_for_runs(1);
        free_irq(cookie);
        open_softirq(TEST_SOFTIRQ, None);
        assert!(crate::preempt::might_sleep_reports() > reports, "might_sleep reported the kmap");
        let report = crate::preempt::last_might_sleep_report().unwrap();
        assert!(report.preempt_count.in_softirq() && !report.preempt_count.in_irq());
    }
}
