//! The two cascaded 8259A programmable interrupt controllers (Linux
//! `arch/x86/kernel/i8259.c`).
//!
//! A PC routes its 16 legacy interrupt lines through two 8259As: the
//! *master* (I/O ports 0x20/0x21) takes IRQ 0-7 and the *slave* (0xa0/0xa1)
//! IRQ 8-15, wired into the master's input 2 (the *cascade*).  When a line
//! rises, the PIC sets its bit in the Interrupt Request Register, and if the
//! line is not masked in the Interrupt Mask Register and nothing more
//! important is in service, it interrupts the CPU and hands it a vector
//! number; the bit moves to the In-Service Register until the kernel sends
//! an End Of Interrupt (EOI).
//!
//! ## What we do, as Linux does
//! * **Remap** ([`init_8259A`]): the BIOS leaves IRQ 0-7 on vectors 8-15,
//!   which collide with the CPU's exceptions (IRQ 0, the timer, would look
//!   like a double fault).  The four initialisation words move the master to
//!   vectors 0x20-0x27 and the slave to 0x28-0x2f.  Everything starts
//!   masked except the cascade line; `request_irq` unmasks a line when a
//!   handler is installed.
//! * **Mask and acknowledge** ([`mask_and_ack_8259A`]): at the start of an
//!   interrupt the line is masked and a *specific* EOI names it (for a slave
//!   line, the slave gets one and the master one for the cascade), so the
//!   PIC can deliver other lines while the handler runs; the line is
//!   unmasked when the handler is done (Linux's `handle_level_irq` flow).
//! * **Spurious interrupts**: when a request disappears before the CPU
//!   acknowledges it (electrical noise, or a device that lowered its line),
//!   the 8259A still has to give the CPU a vector and gives its lowest
//!   priority one: IRQ 7 for the master, IRQ 15 for the slave.  Linux's
//!   cheap test: an interrupt arrives for a line we have *masked*, so it
//!   cannot be real unless the ISR says the line is in service.  Such an
//!   interrupt is counted in [`irq_err_count`] (Linux `irq_err_count`,
//!   the `ERR:` line of `/proc/interrupts`), reported once per line at debug
//!   level, and no handler runs.  The EOIs are still sent, as Linux does:
//!   a *specific* EOI for a line that is not in service changes nothing,
//!   and for a spurious IRQ 15 the master *did* see a real request on the
//!   cascade line and needs its EOI.
//!
//! ## Simplified
//! No auto-EOI mode and no I/O APIC: the 8259As deliver every device
//! interrupt to the boot CPU, through its local APIC's LINT0 pin in
//! virtual-wire mode (`apic.rs`); the other CPUs take only their APIC
//! timer and IPIs.

// The functions keep Linux's names, capital A of "8259A" included.
#![allow(non_snake_case)]

use crate::spinlock::SpinLockIrq;
use core::sync::atomic::{AtomicU32, Ordering};

/// Master PIC command port (ICW1, OCW2, OCW3).
const PIC_MASTER_CMD: u16 = 0x20;
/// Master PIC data port (ICW2-4, the mask register).
const PIC_MASTER_IMR: u16 = 0x21;
/// Slave PIC command port.
const PIC_SLAVE_CMD: u16 = 0xa0;
/// Slave PIC data port.
const PIC_SLAVE_IMR: u16 = 0xa1;
/// The master input the slave is wired to.
pub const PIC_CASCADE_IR: u32 = 2;
/// Number of legacy interrupt lines.
pub const NR_IRQS_LEGACY: u32 = 16;
/// Vector of IRQ 0 after the remap (Linux: `FIRST_EXTERNAL_VECTOR` on i386).
pub const IRQ0_VECTOR: u32 = 0x20;

/// ICW1: edge triggered, cascade mode, ICW4 follows.
const ICW1_INIT_ICW4: u8 = 0x11;
/// ICW4: 8086 mode, normal (not automatic) EOI.
const ICW4_8086: u8 = 0x01;
/// OCW2: specific EOI; the line number goes in the low three bits.
const OCW2_SPECIFIC_EOI: u8 = 0x60;
/// OCW3: the next read of the command port returns the ISR.
const OCW3_READ_ISR: u8 = 0x0b;
/// OCW3: the next read of the command port returns the IRR (the default).
const OCW3_READ_IRR: u8 = 0x0a;

/// What the PICs' mask registers hold, plus which lines were already
/// reported spurious (Linux: `cached_irq_mask`, `spurious_irq_mask`).
struct PicState {
    /// Bit n set: IRQ n masked.  Bits 0-7 mirror the master's IMR, 8-15 the slave's.
    cached_irq_mask: u16,
    /// Bit n set: a spurious IRQ n has been reported already.
    spurious_reported: u16,
}

/// The PIC registers are shared by every CPU and by interrupt handlers:
/// all access under this lock (Linux `i8259A_lock`).
static I8259A: SpinLockIrq<PicState> = SpinLockIrq::new(PicState { cached_irq_mask: 0xffff, spurious_reported: 0 });

/// Spurious interrupts seen so far (Linux `irq_err_count`).
static IRQ_ERR_COUNT: AtomicU32 = AtomicU32::new(0);

fn outb(port: u16, value: u8) {
    // SAFETY: the ports of this file are the two 8259As of every PC; only
    // this file touches them, under I8259A (or before interrupts exist).
    unsafe { x86::io::outb(port, value) }
}

fn inb(port: u16) -> u8 {
    // SAFETY: as in outb; reading a PIC register has no side effect beyond
    // what OCW3 selected.
    unsafe { x86::io::inb(port) }
}

/// A write to the unused POST diagnostic port, which takes about a
/// microsecond on an ISA bus: old 8259As need that pause between
/// initialisation words (Linux `outb_pic` / `slow_down_io`).
fn io_delay() {
    outb(0x80, 0);
}

/// Remaps and initialises both PICs with every line masked except the
/// cascade (Linux `init_8259A`, called from `init_IRQ`).
pub fn init_8259A() {
    let mut state = I8259A.lock();
    outb(PIC_MASTER_IMR, 0xff);
    outb(PIC_SLAVE_IMR, 0xff);

    outb(PIC_MASTER_CMD, ICW1_INIT_ICW4);
    io_delay();
    outb(PIC_MASTER_IMR, IRQ0_VECTOR as u8); // ICW2: master vectors 0x20-0x27
    io_delay();
    outb(PIC_MASTER_IMR, 1 << PIC_CASCADE_IR); // ICW3: a slave hangs on input 2
    io_delay();
    outb(PIC_MASTER_IMR, ICW4_8086);
    io_delay();

    outb(PIC_SLAVE_CMD, ICW1_INIT_ICW4);
    io_delay();
    outb(PIC_SLAVE_IMR, IRQ0_VECTOR as u8 + 8); // ICW2: slave vectors 0x28-0x2f
    io_delay();
    outb(PIC_SLAVE_IMR, PIC_CASCADE_IR as u8); // ICW3: our cascade identity
    io_delay();
    outb(PIC_SLAVE_IMR, ICW4_8086);
    io_delay();

    state.cached_irq_mask = !(1 << PIC_CASCADE_IR);
    write_masks(&state);
}

fn write_masks(state: &PicState) {
    outb(PIC_MASTER_IMR, state.cached_irq_mask as u8);
    outb(PIC_SLAVE_IMR, (state.cached_irq_mask >> 8) as u8);
}

/// Masks line `irq` (Linux `disable_8259A_irq` / `mask_8259A_irq`).
pub fn mask_8259A_irq(irq: u32) {
    let mut state = I8259A.lock();
    state.cached_irq_mask |= 1 << irq;
    write_masks(&state);
}

/// Unmasks line `irq` (Linux `enable_8259A_irq` / `unmask_8259A_irq`).
pub fn unmask_8259A_irq(irq: u32) {
    let mut state = I8259A.lock();
    state.cached_irq_mask &= !(1 << irq);
    write_masks(&state);
}

/// Whether line `irq` is masked.
pub fn irq_masked(irq: u32) -> bool {
    I8259A.lock().cached_irq_mask & (1 << irq) != 0
}

/// Whether the PIC has line `irq` in service, i.e. it really delivered it
/// (Linux `i8259A_irq_real`): select the ISR with OCW3, read it, select the
/// IRR again.
fn i8259A_irq_real(irq: u32) -> bool {
    let (cmd, bit) = if irq < 8 { (PIC_MASTER_CMD, irq) } else { (PIC_SLAVE_CMD, irq - 8) };
    outb(cmd, OCW3_READ_ISR);
    let in_service = inb(cmd) & (1 << bit) != 0;
    outb(cmd, OCW3_READ_IRR);
    in_service
}

/// Whether an interrupt that arrived for a line was real.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// A device raised the line: run its handlers, then unmask it.
    Real,
    /// The line was masked and is not in service: nothing to handle.
    Spurious,
}

/// Masks `irq` and acknowledges it with specific EOIs (Linux
/// `mask_and_ack_8259A`); tells whether the interrupt was spurious (see the
/// module doc).
pub fn mask_and_ack_8259A(irq: u32) -> Delivery {
    let mut state = I8259A.lock();
    let bit = 1u16 << irq;
    let delivery = if state.cached_irq_mask & bit != 0 && !i8259A_irq_real(irq) {
        IRQ_ERR_COUNT.fetch_add(1, Ordering::Relaxed);
        if state.spurious_reported & bit == 0 {
            state.spurious_reported |= bit;
            log::debug!("spurious 8259A interrupt: IRQ{irq}.");
        }
        Delivery::Spurious
    } else {
        Delivery::Real
    };
    state.cached_irq_mask |= bit;
    if irq >= 8 {
        outb(PIC_SLAVE_IMR, (state.cached_irq_mask >> 8) as u8);
        outb(PIC_SLAVE_CMD, OCW2_SPECIFIC_EOI + (irq - 8) as u8);
        outb(PIC_MASTER_CMD, OCW2_SPECIFIC_EOI + PIC_CASCADE_IR as u8);
    } else {
        outb(PIC_MASTER_IMR, state.cached_irq_mask as u8);
        outb(PIC_MASTER_CMD, OCW2_SPECIFIC_EOI + irq as u8);
    }
    delivery
}

/// Spurious interrupts counted so far (Linux `irq_err_count`).
pub fn irq_err_count() -> u32 {
    IRQ_ERR_COUNT.load(Ordering::Relaxed)
}
