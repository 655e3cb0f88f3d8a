//! `preempt_count`: what kind of context is this CPU running in? (Linux
//! `include/linux/preempt.h`, `include/linux/hardirq.h`, `kernel/softirq.c`
//! for `irq_enter`/`irq_exit`, `kernel/sched.c` for `__might_sleep`.)
//!
//! One 32-bit counter per CPU answers every "may I sleep here?" question.
//! Linux 2.6 packs four things into it:
//!
//! | bits  | mask         | field | raised by |
//! |-------|--------------|-------|-----------|
//! | 0-7   | `0x000000ff` | preemption-disable depth | [`preempt_disable`], `kmap_atomic` |
//! | 8-15  | `0x0000ff00` | softirq depth | softirq processing (none in this kernel yet) |
//! | 16-27 | `0x0fff0000` | hardirq depth | [`irq_enter`] at the start of every interrupt |
//! | 28    | `0x10000000` | `PREEMPT_ACTIVE` | the scheduler, while it preempts a thread |
//!
//! so that one load decides:
//! * [`in_irq`]: a hardware interrupt handler is running;
//! * [`in_interrupt`]: a hardware interrupt or a softirq is running —
//!   there is no thread to put to sleep;
//! * [`in_atomic`]: anything at all is raised (except `PREEMPT_ACTIVE`):
//!   the code must not sleep, because it disabled preemption (it holds a
//!   per-CPU resource such as a `kmap_atomic` slot) or runs in an interrupt.
//!
//! [`might_sleep`] is the check a function that can sleep puts at its top:
//! in atomic context, or with interrupts off, it reports
//! `BUG: sleeping function called from invalid context at FILE:LINE` with a
//! call trace — the caller's location comes from `#[track_caller]` — and
//! carries on (as Linux does: the report is the point; the sleep may even
//! not happen this time, which is exactly why the check is made
//! unconditionally).
//!
//! ## Per CPU, saved per task
//! The counter lives in per-CPU storage (Linux x86 since 3.13; 2.6 kept it
//! in `thread_info`).  A thread that is switched out takes its value with
//! it: the scheduler saves this CPU's counter into the outgoing task and
//! loads the incoming task's (`sched::context_switch`), so
//! `PREEMPT_ACTIVE` and a new thread's initial count of 1 behave as in 2.6.
//!
//! ## Portable
//! The arithmetic ([`PreemptCount`]) and the per-CPU counter build on the
//! host too; only rescheduling and the call trace need the kernel.

use crate::arch::current::irqflags::irqs_enabled;
use crate::mm::layout::NR_CPUS;
use crate::percpu::PerCpu;
use crate::spinlock::SpinLockIrq;
use core::panic::Location;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

/// Width of the preemption-disable field.
pub const PREEMPT_BITS: u32 = 8;
/// Width of the softirq field.
pub const SOFTIRQ_BITS: u32 = 8;
/// Width of the hardirq field (Linux 2.6's default).
pub const HARDIRQ_BITS: u32 = 12;

pub const PREEMPT_SHIFT: u32 = 0;
pub const SOFTIRQ_SHIFT: u32 = PREEMPT_SHIFT + PREEMPT_BITS;
pub const HARDIRQ_SHIFT: u32 = SOFTIRQ_SHIFT + SOFTIRQ_BITS;

const fn field_mask(bits: u32, shift: u32) -> u32 {
    ((1 << bits) - 1) << shift
}

/// `0x000000ff`
pub const PREEMPT_MASK: u32 = field_mask(PREEMPT_BITS, PREEMPT_SHIFT);
/// `0x0000ff00`
pub const SOFTIRQ_MASK: u32 = field_mask(SOFTIRQ_BITS, SOFTIRQ_SHIFT);
/// `0x0fff0000`
pub const HARDIRQ_MASK: u32 = field_mask(HARDIRQ_BITS, HARDIRQ_SHIFT);

/// One level of `preempt_disable`.
pub const PREEMPT_OFFSET: u32 = 1 << PREEMPT_SHIFT;
/// One level of softirq processing.
pub const SOFTIRQ_OFFSET: u32 = 1 << SOFTIRQ_SHIFT;
/// One level of hardware interrupt.
pub const HARDIRQ_OFFSET: u32 = 1 << HARDIRQ_SHIFT;
/// Set while the scheduler preempts a thread: the thread is switched out
/// but must stay runnable whatever its state says (Linux x86 2.6 value).
pub const PREEMPT_ACTIVE: u32 = 0x1000_0000;

const _: () = assert!(PREEMPT_MASK == 0xff && SOFTIRQ_MASK == 0xff00 && HARDIRQ_MASK == 0x0fff_0000);
const _: () = assert!(PREEMPT_ACTIVE & (PREEMPT_MASK | SOFTIRQ_MASK | HARDIRQ_MASK) == 0);

/// A value of the packed counter, with the field accessors of `hardirq.h`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PreemptCount(pub u32);

impl PreemptCount {
    /// The hardirq field, still shifted (Linux `hardirq_count`).
    pub const fn hardirq_count(self) -> u32 {
        self.0 & HARDIRQ_MASK
    }
    /// The softirq field, still shifted (Linux `softirq_count`).
    pub const fn softirq_count(self) -> u32 {
        self.0 & SOFTIRQ_MASK
    }
    /// Hardirq and softirq fields together (Linux `irq_count`).
    pub const fn irq_count(self) -> u32 {
        self.0 & (HARDIRQ_MASK | SOFTIRQ_MASK)
    }
    pub const fn in_irq(self) -> bool {
        self.hardirq_count() != 0
    }
    pub const fn in_softirq(self) -> bool {
        self.softirq_count() != 0
    }
    pub const fn in_interrupt(self) -> bool {
        self.irq_count() != 0
    }
    /// Anything raised but `PREEMPT_ACTIVE` (Linux 2.6 `in_atomic`).
    pub const fn in_atomic(self) -> bool {
        self.0 & !PREEMPT_ACTIVE != 0
    }

    /// The counter after adding `offset` to one field; a field that would
    /// overflow into its neighbour is a kernel bug and panics (Linux
    /// `add_preempt_count` with `CONFIG_DEBUG_PREEMPT`).
    pub fn add_offset(self, offset: u32) -> PreemptCount {
        let mask = Self::mask_of(offset);
        assert!(
            self.0 & mask != mask,
            "preempt_count overflow: {:#010x} + {offset:#x}",
            self.0
        );
        PreemptCount(self.0 + offset)
    }

    /// The counter after subtracting `offset` from one field; taking more
    /// than was added (a `preempt_enable` without its `preempt_disable`) is
    /// a kernel bug and panics (Linux `sub_preempt_count`'s underflow check).
    pub fn sub_offset(self, offset: u32) -> PreemptCount {
        assert!(
            self.0 & Self::mask_of(offset) >= offset,
            "preempt_count underflow: {:#010x} - {offset:#x}",
            self.0
        );
        PreemptCount(self.0 - offset)
    }

    /// The field an offset belongs to.
    fn mask_of(offset: u32) -> u32 {
        match offset {
            PREEMPT_OFFSET => PREEMPT_MASK,
            SOFTIRQ_OFFSET => SOFTIRQ_MASK,
            HARDIRQ_OFFSET => HARDIRQ_MASK,
            PREEMPT_ACTIVE => PREEMPT_ACTIVE,
            _ => panic!("{offset:#x} is not a preempt_count offset"),
        }
    }
}

/// This CPU's counter; changed only by its own CPU, with interrupts in
/// check (an interrupt handler restores what it raised before returning).
static PREEMPT_COUNT: PerCpu<AtomicU32> = PerCpu::new([const { AtomicU32::new(0) }; NR_CPUS]);

/// The running CPU's counter (Linux `preempt_count()`).
#[inline]
pub fn preempt_count() -> PreemptCount {
    PreemptCount(PREEMPT_COUNT.this_cpu().load(Ordering::Relaxed))
}

/// Replaces this CPU's counter: the scheduler's hand-over at a context
/// switch (see the module doc), with interrupts off.
pub fn set_preempt_count(count: PreemptCount) {
    PREEMPT_COUNT.this_cpu().store(count.0, Ordering::Relaxed);
}

/// Adds one of the offsets to this CPU's counter (Linux `add_preempt_count`).
/// Interrupts may arrive in between the read and the write, but every
/// handler gives back what it added, so the value we write is still right.
#[inline]
pub fn add_preempt_count(offset: u32) {
    let counter = PREEMPT_COUNT.this_cpu();
    let new = PreemptCount(counter.load(Ordering::Relaxed)).add_offset(offset);
    counter.store(new.0, Ordering::Relaxed);
}

/// Subtracts one of the offsets (Linux `sub_preempt_count`).
#[inline]
pub fn sub_preempt_count(offset: u32) {
    let counter = PREEMPT_COUNT.this_cpu();
    let new = PreemptCount(counter.load(Ordering::Relaxed)).sub_offset(offset);
    counter.store(new.0, Ordering::Relaxed);
}

/// Whether a hardware interrupt handler is running (Linux `in_irq`).
#[inline]
pub fn in_irq() -> bool {
    preempt_count().in_irq()
}

/// Whether an interrupt (hard or soft) is running (Linux `in_interrupt`).
#[inline]
pub fn in_interrupt() -> bool {
    preempt_count().in_interrupt()
}

/// Whether sleeping is forbidden by the counter (Linux `in_atomic`).
#[inline]
pub fn in_atomic() -> bool {
    preempt_count().in_atomic()
}

/// Forbids preemption on this CPU until the matching [`preempt_enable`]
/// (Linux `preempt_disable`; 2.6.11's `kmap_atomic`, seed 000, calls the
/// bare `inc_preempt_count`, the same increment without the compiler
/// barrier).  Nests.
#[doc(alias = "inc_preempt_count")]
#[inline]
pub fn preempt_disable() {
    add_preempt_count(PREEMPT_OFFSET);
}

/// Ends a [`preempt_disable`]; if that was the last level and the timer
/// asked for a reschedule meanwhile, reschedules now (Linux
/// `preempt_enable` -> `preempt_check_resched` -> `preempt_schedule`).
#[inline]
pub fn preempt_enable() {
    sub_preempt_count(PREEMPT_OFFSET);
    preempt_check_resched();
}

/// Ends a [`preempt_disable`] without rescheduling (Linux
/// `preempt_enable_no_resched`): for the scheduler itself, which is about
/// to decide anyway.
#[inline]
pub fn preempt_enable_no_resched() {
    sub_preempt_count(PREEMPT_OFFSET);
}

#[cfg(target_os = "none")]
#[inline]
fn preempt_check_resched() {
    if crate::sched::need_resched() {
        crate::sched::preempt_schedule();
    }
}

/// The host has no scheduler: nothing ever asks for a reschedule.
#[cfg(not(target_os = "none"))]
fn preempt_check_resched() {}

/// Enters hardirq context: the first thing every interrupt does (Linux
/// `irq_enter`).
pub fn irq_enter() {
    add_preempt_count(HARDIRQ_OFFSET);
}

/// Leaves hardirq context, the counter only (Linux `__irq_exit`); the
/// full `irq_exit`, which then runs pending softirqs, is in `softirq.rs`.
/// Does not reschedule: the interrupt return path decides that (`do_IRQ`).
pub fn __irq_exit() {
    sub_preempt_count(HARDIRQ_OFFSET);
}

/// Set once the boot is far enough for sleeping to make sense (Linux
/// `system_state == SYSTEM_RUNNING`): before that, the boot CPU runs with
/// interrupts off and [`might_sleep`] would report every call.
static SYSTEM_RUNNING: AtomicBool = AtomicBool::new(false);

/// Marks the boot as done for [`might_sleep`] (called by `rest_init`).
pub fn set_system_running() {
    SYSTEM_RUNNING.store(true, Ordering::Relaxed);
}

/// What [`might_sleep`] found wrong, kept for whoever wants to check (the
/// tests; Linux only prints and taints the kernel).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MightSleepReport {
    /// Where the sleeping function was called.
    pub location: &'static Location<'static>,
    /// The counter at that moment.
    pub preempt_count: PreemptCount,
    /// Whether interrupts were off.
    pub irqs_disabled: bool,
}

static LAST_REPORT: SpinLockIrq<Option<MightSleepReport>> = SpinLockIrq::new(None);
static NR_REPORTS: AtomicU32 = AtomicU32::new(0);

/// Checks that the caller may sleep; reports if it may not (Linux
/// `might_sleep` -> `__might_sleep`).  See the module doc.
#[track_caller]
pub fn might_sleep() {
    __might_sleep(Location::caller());
}

/// [`might_sleep`] if `condition` holds (Linux `might_sleep_if`): for
/// functions that sleep only in some modes, such as `__alloc_pages`, which
/// may sleep when the request has `__GFP_WAIT`.
#[track_caller]
pub fn might_sleep_if(condition: bool) {
    if condition {
        __might_sleep(Location::caller());
    }
}

/// [`might_sleep`] with an explicit location. The check is a debugging
/// aid, compiled into debug builds only (every test kernel, and `cargo
/// xtask run`), as Linux's is only with `CONFIG_DEBUG_ATOMIC_SLEEP`; the
/// release build the benchmark runs skips it.
pub fn __might_sleep(location: &'static Location<'static>) {
    if !cfg!(debug_assertions) {
        return;
    }
    let count = preempt_count();
    let irqs_disabled = !irqs_enabled();
    if !SYSTEM_RUNNING.load(Ordering::Relaxed) || (!count.in_atomic() && !irqs_disabled) {
        return;
    }
    let report = MightSleepReport { location, preempt_count: count, irqs_disabled };
    *LAST_REPORT.lock() = Some(report);
    NR_REPORTS.fetch_add(1, Ordering::Relaxed);
    log::error!("BUG: sleeping function called from invalid context at {}:{}", location.file(), location.line());
    log::error!(
        "in_atomic(): {}, irqs_disabled(): {}, preempt_count: {:#010x}{}",
        count.in_atomic() as u32,
        irqs_disabled as u32,
        count.0,
        if count.in_irq() { " (in hardirq)" } else { "" }
    );
    report_context();
}

/// The thread and the call chain of a report (kernel only).
#[cfg(target_os = "none")]
fn report_context() {
    let task = crate::sched::current();
    log::error!("pid: {}, comm: {}", task.pid(), task.comm());
    crate::arch::x86::traps::dump_stack();
}

#[cfg(not(target_os = "none"))]
fn report_context() {}

/// The most recent [`might_sleep`] report, if any.
pub fn last_might_sleep_report() -> Option<MightSleepReport> {
    *LAST_REPORT.lock()
}

/// How many [`might_sleep`] reports there have been.
pub fn might_sleep_reports() -> u32 {
    NR_REPORTS.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg_attr(target_os = "none", test_case)]
    #[cfg_attr(not(target_os = "none"), test)]
    fn fields_nest_independently() {
        let count = PreemptCount(0).add_offset(PREEMPT_OFFSET).add_offset(PREEMPT_OFFSET).add_offset(HARDIRQ_OFFSET);
        assert_eq!(count, PreemptCount(0x0001_0002));
        assert!(count.in_irq() && count.in_interrupt() && count.in_atomic() && !count.in_softirq());
        let count = count.sub_offset(HARDIRQ_OFFSET);
        assert!(!count.in_irq() && !count.in_interrupt() && count.in_atomic());
        let count = count.add_offset(SOFTIRQ_OFFSET);
        assert!(count.in_softirq() && count.in_interrupt() && !count.in_irq());
        assert_eq!(count.sub_offset(SOFTIRQ_OFFSET).sub_offset(PREEMPT_OFFSET).sub_offset(PREEMPT_OFFSET), PreemptCount(0));
    }

    #[cfg_attr(target_os = "none", test_case)]
    #[cfg_attr(not(target_os = "none"), test)]
    fn preempt_active_alone_is_not_atomic() {
        let count = PreemptCount(0).add_offset(PREEMPT_ACTIVE);
        assert!(!count.in_atomic() && !count.in_interrupt());
        assert!(count.add_offset(PREEMPT_OFFSET).in_atomic());
    }

    #[cfg_attr(target_os = "none", test_case)]
    #[cfg_attr(not(target_os = "none"), test)]
    fn the_full_depth_of_a_field_is_usable() {
        let mut count = PreemptCount(0);
        for _ in 0..255 {
            count = count.add_offset(PREEMPT_OFFSET);
        }
        assert_eq!(count, PreemptCount(0xff), "255 levels fit without touching the softirq field");
        for _ in 0..4095 {
            count = count.add_offset(HARDIRQ_OFFSET);
        }
        assert_eq!(count, PreemptCount(0x0fff_00ff));
    }
}

#[cfg(all(test, not(target_os = "none")))]
mod host_tests {
    use super::*;

    #[test]
    #[should_panic(expected = "preempt_count underflow")]
    fn enable_without_disable_is_caught() {
        PreemptCount(0x0001_0000).sub_offset(PREEMPT_OFFSET);
    }

    #[test]
    #[should_panic(expected = "preempt_count overflow")]
    fn a_field_cannot_overflow_into_the_next() {
        PreemptCount(0xff).add_offset(PREEMPT_OFFSET);
    }
}
