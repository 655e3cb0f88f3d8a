//! Hardware interrupts: entry stubs, `do_IRQ`, and the registry of handlers
//! (Linux `arch/x86/kernel/entry_32.S` `common_interrupt`/`ret_from_intr`,
//! `irq_32.c` `do_IRQ`, `irqinit.c` `init_IRQ`, and the generic
//! `kernel/irq/handle.c`, `chip.c` `handle_level_irq`, `manage.c`
//! `request_irq`/`free_irq`).
//!
//! ## The path of one interrupt
//! 1. A device raises its line; the 8259A (`i8259.rs`) hands the CPU vector
//!    `0x20 + irq`.  The IDT entry is an *interrupt gate*, so the CPU clears
//!    IF: handlers run with interrupts off (Linux 2.6 ran most handlers with
//!    interrupts on; since 2.6.35 it runs all of them with interrupts off,
//!    which is what we do).
//! 2. The stub for that vector saves the registers the same way the
//!    exception stubs do (a [`TrapFrame`]) and calls `do_IRQ`.
//! 3. `do_IRQ`: [`irq_enter`] (hardirq count + 1), mask-and-acknowledge the
//!    line at the PIC — which also tells a spurious interrupt from a real
//!    one —, run every handler registered for the line, count the
//!    interrupt, unmask the line, [`irq_exit`] (hardirq count - 1, then
//!    the softirqs this interrupt raised, if it was the outermost).
//! 4. **Return from interrupt** (Linux `ret_from_intr` -> `resume_kernel`):
//!    if the interrupted code had interrupts on, the preemption count is
//!    back to 0 and a handler (usually the timer's) asked for a reschedule,
//!    call `preempt_schedule_irq`: the interrupted thread is switched out
//!    right here, with its frame on its own stack, and continues from this
//!    point when it is next scheduled.  This is how a thread that never
//!    calls `schedule()` loses the CPU.
//!
//! ## The registry
//! Each line has a few slots for handlers ([`request_irq`] / [`free_irq`]).
//! Every line is shared (Linux needs `IRQF_SHARED` for that): handlers of
//! one line all run, in registration order.  The timer handler is
//! registered first on IRQ 0, so test code can hook the timer interrupt
//! too — that is how the tests run code "inside an interrupt handler" at a
//! known rate.  A line is unmasked while it has a handler.
//!
//! Handlers are plain functions; state they need lives in statics.
//! A handler must not sleep (`might_sleep` reports it) and must not take
//! locks that are held with interrupts on.

use super::i8259::{self, Delivery, IRQ0_VECTOR, NR_IRQS_LEGACY, PIC_CASCADE_IR};
use super::irqflags::X86_EFLAGS_IF;
use super::traps::{TrapFrame, set_intr_gate};
use crate::mm::layout::NR_CPUS;
use crate::percpu::PerCpu;
use crate::preempt::{irq_enter, preempt_count};
use crate::softirq::irq_exit;
use crate::spinlock::SpinLockIrq;
use core::arch::global_asm;
use core::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

/// Number of interrupt lines (Linux `NR_IRQS` for a PIC-only PC).
pub const NR_IRQS: usize = NR_IRQS_LEGACY as usize;
/// IRQ line of the PIT (the tick).
pub const TIMER_IRQ: u32 = 0;
/// IRQ line of COM1.
pub const COM1_IRQ: u32 = 4;
/// Handlers one line can have.
pub const MAX_ACTIONS_PER_IRQ: usize = 4;
/// Bytes between two entry stubs.
const STUB_ALIGN: usize = 16;

/// What a handler says about an interrupt (Linux `irqreturn_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IrqReturn {
    /// Not this handler's device (Linux `IRQ_NONE`).
    None,
    /// The handler dealt with its device (Linux `IRQ_HANDLED`).
    Handled,
}

/// An interrupt handler: gets the line number (Linux `irq_handler_t`
/// without `dev_id`: state lives in statics).
pub type IrqHandler = fn(irq: u32) -> IrqReturn;

/// One registered handler (Linux `struct irqaction`).
#[derive(Clone, Copy)]
struct IrqAction {
    handler: IrqHandler,
    name: &'static str,
}

/// One line (Linux `struct irq_desc`, without the flow-handler pointer: all
/// 8259A lines use the same level flow).
#[derive(Clone, Copy)]
struct IrqDesc {
    actions: [Option<IrqAction>; MAX_ACTIONS_PER_IRQ],
}

impl IrqDesc {
    const EMPTY: IrqDesc = IrqDesc { actions: [None; MAX_ACTIONS_PER_IRQ] };

    fn has_actions(&self) -> bool {
        self.actions.iter().any(Option::is_some)
    }
}

static IRQ_DESC: SpinLockIrq<[IrqDesc; NR_IRQS]> = SpinLockIrq::new([IrqDesc::EMPTY; NR_IRQS]);

/// The CPU (+1) running each line's handlers right now, 0 for none (Linux
/// `IRQ_INPROGRESS` in `desc->status`), for [`free_irq`].
static IRQ_IN_PROGRESS: [AtomicUsize; NR_IRQS] = [const { AtomicUsize::new(0) }; NR_IRQS];

/// Interrupts handled, per CPU and line (Linux `kstat_irqs`, the columns
/// of `/proc/interrupts`).
static KSTAT_IRQS: PerCpu<[AtomicU64; NR_IRQS]> =
    PerCpu::new([const { [const { AtomicU64::new(0) }; NR_IRQS] }; NR_CPUS]);

/// Names a handler registered by [`request_irq`], to give to [`free_irq`]
/// (Linux identifies it by `dev_id`).
#[derive(Debug, PartialEq, Eq)]
#[must_use = "free_irq() needs the cookie to remove the handler"]
pub struct IrqCookie {
    irq: u32,
    slot: usize,
}

/// Why [`request_irq`] refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestIrqError {
    /// No such line, or the cascade line (Linux `-EINVAL`).
    InvalidIrq(u32),
    /// All [`MAX_ACTIONS_PER_IRQ`] slots of the line are taken (Linux `-EBUSY`).
    Busy(u32),
}

/// Adds `handler` to line `irq` and unmasks the line (Linux `request_irq`).
pub fn request_irq(irq: u32, handler: IrqHandler, name: &'static str) -> Result<IrqCookie, RequestIrqError> {
    if irq >= NR_IRQS as u32 || irq == PIC_CASCADE_IR {
        return Err(RequestIrqError::InvalidIrq(irq));
    }
    let mut descs = IRQ_DESC.lock();
    let desc = &mut descs[irq as usize];
    let slot = desc.actions.iter().position(Option::is_none).ok_or(RequestIrqError::Busy(irq))?;
    desc.actions[slot] = Some(IrqAction { handler, name });
    i8259::unmask_8259A_irq(irq);
    Ok(IrqCookie { irq, slot })
}

/// Removes a handler; the line is masked when its last handler goes (Linux
/// `free_irq`). Once this returns the handler runs nowhere: device
/// interrupts are taken by the boot CPU, so a caller on another CPU waits
/// until that CPU has left the line's handlers (Linux `synchronize_irq`);
/// a handler freeing itself does not wait for itself.
pub fn free_irq(cookie: IrqCookie) {
    remove_irq_action(&cookie);
    let me = super::smp::smp_processor_id() + 1;
    loop {
        match IRQ_IN_PROGRESS[cookie.irq as usize].load(Ordering::Acquire) {
            0 => break,
            cpu if cpu == me => break,
            _ => core::hint::spin_loop(),
        }
    }
}

/// The first half of [`free_irq`]: out of the table, line masked if empty.
fn remove_irq_action(cookie: &IrqCookie) {
    let mut descs = IRQ_DESC.lock();
    let desc = &mut descs[cookie.irq as usize];
    desc.actions[cookie.slot] = None;
    if !desc.has_actions() {
        i8259::mask_8259A_irq(cookie.irq);
    }
}

/// How many times line `irq` was handled on `cpu` (Linux `kstat_irqs_cpu`).
pub fn kstat_irqs_cpu(irq: u32, cpu: usize) -> u64 {
    KSTAT_IRQS.cpu(cpu)[irq as usize].load(Ordering::Relaxed)
}

/// Prints the lines that have handlers, with their counts on every online
/// CPU, the APIC vectors' rows and the spurious count, in the shape of
/// `/proc/interrupts`.
pub fn show_interrupts() {
    let online = super::smp::num_online_cpus();
    let mut header = crate::fixed_text::FixedText::<128>::new();
    for cpu in 0..online {
        let _ = core::fmt::write(&mut header, format_args!("       CPU{cpu}"));
    }
    log::info!("    {}", header.as_str());
    for irq in 0..NR_IRQS as u32 {
        let desc = IRQ_DESC.lock()[irq as usize];
        if !desc.has_actions() {
            continue;
        }
        let mut line = crate::fixed_text::FixedText::<128>::new();
        for cpu in 0..online {
            let _ = core::fmt::write(&mut line, format_args!(" {:10}", kstat_irqs_cpu(irq, cpu)));
        }
        let _ = core::fmt::Write::write_str(&mut line, "   XT-PIC  ");
        for (index, action) in desc.actions.iter().flatten().enumerate() {
            let _ = core::fmt::Write::write_fmt(&mut line, format_args!("{}{}", if index > 0 { ", " } else { "" }, action.name));
        }
        log::info!("{irq:3}:{}", line.as_str());
    }
    if super::apic::apic_mapped() {
        super::apic::show_apic_interrupts(online);
    }
    log::info!("ERR: {:10}", i8259::irq_err_count());
}

global_asm!(
    r#"
    .section .text
    .balign {ALIGN}
    .global irq_entries_start
irq_entries_start:
    .irp vector, 0x20,0x21,0x22,0x23,0x24,0x25,0x26,0x27,0x28,0x29,0x2a,0x2b,0x2c,0x2d,0x2e,0x2f
    .balign {ALIGN}
    push 0                  /* no error code: keep the TrapFrame layout */
    push \vector
    jmp common_interrupt
    .endr

    .global common_interrupt   /* the APIC vectors' stubs come here too */
common_interrupt:
    pushad
    cld
    push esp                /* argument: &mut TrapFrame */
    call do_IRQ             /* may switch threads before it returns */
    add esp, 4
    popad
    add esp, 8              /* vector and error code */
    iretd
    "#,
    ALIGN = const STUB_ALIGN,
);

unsafe extern "C" {
    /// Start of the 16 IRQ stubs, `STUB_ALIGN` bytes apart.
    fn irq_entries_start();
}

/// Remaps the PICs and points vectors 0x20-0x2f at the IRQ stubs (Linux
/// `init_IRQ` -> `native_init_IRQ`).  Every line stays masked until a
/// handler is registered.
#[allow(non_snake_case)]
pub fn init_IRQ() {
    i8259::init_8259A();
    for irq in 0..NR_IRQS {
        let stub = irq_entries_start as *const () as usize + irq * STUB_ALIGN;
        set_intr_gate(IRQ0_VECTOR as usize + irq, stub);
    }
    super::apic::apic_intr_init();
    log::info!("NR_IRQS:{NR_IRQS}");
}

/// The Rust half of every hardware interrupt (see the module doc).
#[unsafe(no_mangle)]
extern "C" fn do_IRQ(frame: &mut TrapFrame) {
    if frame.vector >= super::apic::FIRST_SYSTEM_VECTOR {
        return super::apic::smp_apic_interrupt(frame);
    }
    let irq = frame.vector - IRQ0_VECTOR;
    irq_enter();
    if i8259::mask_and_ack_8259A(irq) == Delivery::Real {
        handle_level_irq(irq);
    }
    irq_exit();
    ret_from_intr(frame);
}

/// The end of every interrupt, device or APIC (Linux `ret_from_intr` ->
/// `resume_kernel`): preempt the interrupted thread if it had interrupts
/// on, holds no preemption count and someone asked for the CPU.
pub fn ret_from_intr(frame: &TrapFrame) {
    let interrupted_with_irqs_on = frame.eflags & X86_EFLAGS_IF != 0;
    if interrupted_with_irqs_on && preempt_count().0 == 0 && crate::sched::need_resched() {
        crate::sched::preempt_schedule_irq();
    }
}

/// Runs the handlers of a line that the PIC has masked and acknowledged,
/// then unmasks it if it still has handlers (Linux `handle_level_irq`).
/// The table is copied out so a handler may call `free_irq` on itself.
fn handle_level_irq(irq: u32) {
    KSTAT_IRQS.this_cpu()[irq as usize].fetch_add(1, Ordering::Relaxed);
    let desc = IRQ_DESC.lock()[irq as usize];
    let mut handled = false;
    // Linux's IRQ_INPROGRESS: which CPU (+1) runs the line's handlers.
    IRQ_IN_PROGRESS[irq as usize].store(super::smp::smp_processor_id() + 1, Ordering::Release);
    for action in desc.actions.iter().flatten() {
        handled |= (action.handler)(irq) == IrqReturn::Handled;
    }
    IRQ_IN_PROGRESS[irq as usize].store(0, Ordering::Release);
    note_interrupt(irq, handled);
    if IRQ_DESC.lock()[irq as usize].has_actions() {
        i8259::unmask_8259A_irq(irq);
    }
}

/// Interrupts per line, and how many no handler claimed, since the last
/// verdict (Linux `desc->irq_count`, `desc->irqs_unhandled`).
static IRQ_COUNT: [AtomicU32; NR_IRQS] = [const { AtomicU32::new(0) }; NR_IRQS];
static IRQS_UNHANDLED: [AtomicU32; NR_IRQS] = [const { AtomicU32::new(0) }; NR_IRQS];

/// Watches for a line nobody handles (Linux 2.6.11 `note_interrupt`): every
/// 100,000 interrupts of a line, if more than 99,900 of them went unclaimed,
/// report `irq N: nobody cared` (Linux also disables the line). A stray
/// unclaimed interrupt now and then — a UART whose byte the previous
/// interrupt already took — is normal and says nothing.
fn note_interrupt(irq: u32, handled: bool) {
    let line = irq as usize;
    if !handled {
        IRQS_UNHANDLED[line].fetch_add(1, Ordering::Relaxed);
    }
    if IRQ_COUNT[line].fetch_add(1, Ordering::Relaxed) + 1 < 100_000 {
        return;
    }
    IRQ_COUNT[line].store(0, Ordering::Relaxed);
    if IRQS_UNHANDLED[line].swap(0, Ordering::Relaxed) > 99_900 {
        log::warn!("irq {irq}: nobody cared");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::x86::smp::smp_processor_id;
    use core::sync::atomic::AtomicBool;

    /// A line no device of QEMU's PC uses.
    const FREE_IRQ: u32 = 5;

    fn quiet(_irq: u32) -> IrqReturn {
        IrqReturn::None
    }

    #[test_case]
    fn request_irq_refuses_bad_lines_and_full_lines() {
        assert_eq!(request_irq(PIC_CASCADE_IR, quiet, "t"), Err(RequestIrqError::InvalidIrq(2)));
        assert_eq!(request_irq(16, quiet, "t"), Err(RequestIrqError::InvalidIrq(16)));
        let cookies = [(); MAX_ACTIONS_PER_IRQ].map(|_| request_irq(FREE_IRQ, quiet, "t").expect("a free slot"));
        assert_eq!(request_irq(FREE_IRQ, quiet, "t"), Err(RequestIrqError::Busy(FREE_IRQ)));
        cookies.into_iter().for_each(free_irq);
    }

    #[test_case]
    fn a_line_is_unmasked_exactly_while_it_has_handlers() {
        assert!(i8259::irq_masked(FREE_IRQ));
        let first = request_irq(FREE_IRQ, quiet, "t").unwrap();
        let second = request_irq(FREE_IRQ, quiet, "t").unwrap();
        assert!(!i8259::irq_masked(FREE_IRQ));
        free_irq(first);
        assert!(!i8259::irq_masked(FREE_IRQ), "one handler left");
        free_irq(second);
        assert!(i8259::irq_masked(FREE_IRQ));
        assert!(!i8259::irq_masked(TIMER_IRQ), "the tick's line is open");
    }

    static TICK_SEEN_IN_IRQ: AtomicBool = AtomicBool::new(false);

    fn note_context(_irq: u32) -> IrqReturn {
        let count = preempt_count();
        if count.in_irq() && count.hardirq_count() == crate::preempt::HARDIRQ_OFFSET && !super::super::irqflags::irqs_enabled() {
            TICK_SEEN_IN_IRQ.store(true, Ordering::SeqCst);
        }
        IrqReturn::Handled
    }

    /// A handler hooked onto the timer runs on the tick, in hardirq context
    /// (one level), with interrupts off; the line's count goes up.
    #[test_case]
    fn timer_handlers_run_in_hardirq_context() {
        TICK_SEEN_IN_IRQ.store(false, Ordering::SeqCst);
        let ticks = kstat_irqs_cpu(TIMER_IRQ, smp_processor_id());
        let cookie = request_irq(TIMER_IRQ, note_context, "test").unwrap();
        while !TICK_SEEN_IN_IRQ.load(Ordering::SeqCst) {
            core::hint::spin_loop();
        }
        free_irq(cookie);
        assert!(kstat_irqs_cpu(TIMER_IRQ, smp_processor_id()) > ticks);
        assert_eq!(preempt_count().hardirq_count(), 0, "irq_exit gave the count back");
    }

    /// `int 0x27` / `int 0x2f` enter the IRQ 7 / IRQ 15 path although the
    /// PICs delivered nothing — exactly how a spurious interrupt looks to
    /// the kernel: the line is masked and not in service.  Each is counted
    /// in `irq_err_count`, runs no handler and leaves the line masked; the
    /// EOIs sent for it do not disturb the PICs (the tick goes on).
    #[test_case]
    fn spurious_irq7_and_irq15_are_counted_not_handled() {
        let cpu = smp_processor_id();
        assert!(i8259::irq_masked(7) && i8259::irq_masked(15), "no handler on IRQ 7 or 15");
        let errors = i8259::irq_err_count();
        let (count7, count15) = (kstat_irqs_cpu(7, cpu), kstat_irqs_cpu(15, cpu));
        // SAFETY: vectors 0x27 and 0x2f are IRQ gates installed by init_IRQ;
        // the software interrupt runs do_IRQ like a hardware one would.
        unsafe { core::arch::asm!("int 0x27", "int 0x2f") };
        assert_eq!(i8259::irq_err_count(), errors + 2);
        assert_eq!((kstat_irqs_cpu(7, cpu), kstat_irqs_cpu(15, cpu)), (count7, count15), "no handler ran");
        assert!(i8259::irq_masked(7) && i8259::irq_masked(15));
        let now = crate::time::jiffies();
        while crate::time::jiffies() < now + 2 {
            core::hint::spin_loop();
        }
    }

    static SLOW_ENTERED: AtomicBool = AtomicBool::new(false);
    static SLOW_RUNNING: AtomicBool = AtomicBool::new(false);
    static FREE_CALLED: AtomicBool = AtomicBool::new(false);
    static SAW_RUNNING_AFTER_FREE: AtomicBool = AtomicBool::new(true);
    static SLOW_COOKIE: spin::Mutex<Option<IrqCookie>> = spin::Mutex::new(None);

    /// The first time: stay in the handler until the other CPU is about to
    /// call `free_irq` (at most 2 s), then 10 ms more.
    fn slow_handler(_irq: u32) -> IrqReturn {
        if !SLOW_ENTERED.swap(true, Ordering::SeqCst) {
            SLOW_RUNNING.store(true, Ordering::SeqCst);
            let ms = crate::arch::x86::time::tsc_khz();
            let give_up = crate::arch::x86::cpu::rdtsc() + 2000 * ms;
            while !FREE_CALLED.load(Ordering::SeqCst) && crate::arch::x86::cpu::rdtsc() < give_up {
                core::hint::spin_loop();
            }
            let end = crate::arch::x86::cpu::rdtsc() + 10 * ms;
            while crate::arch::x86::cpu::rdtsc() < end {
                core::hint::spin_loop();
            }
            SLOW_RUNNING.store(false, Ordering::SeqCst);
        }
        IrqReturn::Handled
    }

    /// `free_irq` on another CPU while the boot CPU is inside the handler
    /// returns only once the handler has finished (Linux
    /// `synchronize_irq`); without that wait this test sees it running.
    #[test_case]
    fn free_irq_on_another_cpu_waits_for_the_running_handler() {
        let Some(other) = crate::arch::x86::smp::online_cpus().find(|&cpu| cpu != 0) else {
            crate::skip!("needs a second CPU (boot with -smp 2 or more)");
        };
        SLOW_ENTERED.store(false, Ordering::SeqCst);
        FREE_CALLED.store(false, Ordering::SeqCst);
        SAW_RUNNING_AFTER_FREE.store(true, Ordering::SeqCst);
        // The freeing thread first (the handler holds CPU 0 until it acts).
        let thread = crate::sched::kthread_create_on_cpu(
            &|| {
                let deadline = crate::time::jiffies() + 5 * crate::time::hz() as u64;
                while !SLOW_RUNNING.load(Ordering::SeqCst) {
                    if crate::time::jiffies() > deadline {
                        return -1;
                    }
                    core::hint::spin_loop();
                }
                let cookie = SLOW_COOKIE.lock().take().expect("stored before the handler could run");
                FREE_CALLED.store(true, Ordering::SeqCst);
                free_irq(cookie);
                SAW_RUNNING_AFTER_FREE.store(SLOW_RUNNING.load(Ordering::SeqCst), Ordering::SeqCst);
                0
            },
            other,
            "free-irq",
        )
        .expect("a thread on the other CPU");
        crate::sched::wake_up_process(thread.task());
        // No tick between registering the handler and storing its cookie.
        let flags = crate::arch::x86::irqflags::local_irq_save();
        *SLOW_COOKIE.lock() = Some(request_irq(TIMER_IRQ, slow_handler, "slow").unwrap());
        crate::arch::x86::irqflags::local_irq_restore(flags);
        assert_eq!(crate::sched::kthread_join(thread), 0, "the handler ran while the other CPU watched");
        assert!(!SAW_RUNNING_AFTER_FREE.load(Ordering::SeqCst), "free_irq returned while the handler still ran");
    }

}
