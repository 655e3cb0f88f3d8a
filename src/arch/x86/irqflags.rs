//! Turning interrupts off and on (Linux: `arch/x86/include/asm/irqflags.h`).
//!
//! `local_irq_save()` returns the previous state as a value of its own type,
//! so it can only be given back to `local_irq_restore()`; nested
//! save/restore pairs therefore restore exactly the state their caller had.
//! `local_irq_restore()` sets the saved state whatever the current one is,
//! as Linux's `popf` does: a restore of "disabled" disables even if
//! something in between enabled interrupts.
//!
//! [`safe_halt`] is the idle loop's way to sleep until the next interrupt
//! without losing a wake-up (Linux `native_safe_halt`).

use core::arch::asm;

/// EFLAGS.IF: maskable interrupts enabled.
pub const X86_EFLAGS_IF: u32 = 1 << 9;

/// Saved interrupt state from [`local_irq_save`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "give the saved state back to local_irq_restore()"]
pub struct IrqFlags(u32);

fn read_eflags() -> u32 {
    let eflags: u32;
    // SAFETY: pushing EFLAGS and popping it into a register touches only
    // the stack slot the push created.
    unsafe { asm!("pushfd", "pop {}", out(reg) eflags, options(preserves_flags)) };
    eflags
}

/// Whether interrupts are enabled on this CPU (Linux `!irqs_disabled()`).
pub fn irqs_enabled() -> bool {
    read_eflags() & X86_EFLAGS_IF != 0
}

/// `cli` (Linux `local_irq_disable`).
pub fn local_irq_disable() {
    // SAFETY: masking interrupts cannot break memory safety.
    unsafe { asm!("cli", options(nomem, nostack)) };
}

/// `sti` (Linux `local_irq_enable`).
pub fn local_irq_enable() {
    // SAFETY: the IDT is loaded before anything enables interrupts, so an
    // interrupt that arrives now has a handler.
    unsafe { asm!("sti", options(nomem, nostack)) };
}

/// Disables interrupts and returns the previous state (Linux `local_irq_save`).
pub fn local_irq_save() -> IrqFlags {
    let flags = IrqFlags(read_eflags());
    local_irq_disable();
    flags
}

/// Restores the state saved by [`local_irq_save`] (Linux `local_irq_restore`).
pub fn local_irq_restore(flags: IrqFlags) {
    if flags.0 & X86_EFLAGS_IF != 0 {
        local_irq_enable();
    } else {
        local_irq_disable();
    }
}

/// `sti; hlt`: enables interrupts and halts until the next one (Linux
/// `native_safe_halt`).  The CPU takes no interrupt between `sti` and the
/// instruction after it, so an interrupt that is already pending, or that
/// arrives right after a "nothing to do" check made with interrupts off,
/// ends the `hlt` instead of being taken before it and leaving the CPU
/// asleep with work queued.  Returns with interrupts enabled.
pub fn safe_halt() {
    // SAFETY: see local_irq_enable; HLT only waits for an interrupt.
    unsafe { asm!("sti", "hlt", options(nomem, nostack)) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::x86::cpu::rdtsc;
    use crate::arch::x86::time::tsc_khz;
    use crate::time::{hz, jiffies};

    #[test_case]
    fn nested_save_restore_gives_each_caller_its_state_back() {
        local_irq_enable();
        let outer = local_irq_save();
        assert!(!irqs_enabled());
        let inner = local_irq_save();
        assert!(!irqs_enabled());
        local_irq_restore(inner);
        assert!(!irqs_enabled(), "the inner restore leaves the outer section's interrupts off");
        local_irq_restore(outer);
        assert!(irqs_enabled(), "the outer restore turns them back on");

        // Restoring a "disabled" state disables, even if something in
        // between turned interrupts on.
        local_irq_disable();
        let off = local_irq_save();
        local_irq_enable();
        local_irq_restore(off);
        assert!(!irqs_enabled());
        local_irq_enable();
    }

    /// The state is real: with interrupts off for three tick periods
    /// (timed by the TSC) the tick does not advance; the PIC holds the
    /// request, and the restore delivers it at once.
    #[test_case]
    fn a_tick_waits_while_interrupts_are_off_and_arrives_on_restore() {
        let flags = local_irq_save();
        let before = jiffies();
        let three_ticks = tsc_khz() * 1000 * 3 / hz() as u64;
        let start = rdtsc();
        while rdtsc() - start < three_ticks {
            core::hint::spin_loop();
        }
        assert_eq!(jiffies(), before, "no tick is taken while interrupts are off");
        local_irq_restore(flags);
        let after = jiffies();
        // The 8259A latches one request per line, so the missed ticks
        // collapse into one, taken right at the restore.  (Two if the
        // emulator was descheduled long enough for the next tick to come
        // too before this line ran.)
        assert!((before + 1..=before + 2).contains(&after), "jiffies {before} -> {after} at the restore");
    }
}
