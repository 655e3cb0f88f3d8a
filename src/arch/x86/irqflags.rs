//! Turning interrupts off and on (Linux: `arch/x86/include/asm/irqflags.h`).
//!
//! `local_irq_save()` returns the previous state as a value of its own type,
//! so it can only be given back to `local_irq_restore()`; nested
//! save/restore pairs therefore restore exactly the state their caller had.

use core::arch::asm;

/// EFLAGS.IF: maskable interrupts enabled.
const X86_EFLAGS_IF: u32 = 1 << 9;

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
    }
}
