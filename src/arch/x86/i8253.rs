//! The 8253/8254 programmable interval timer (Linux `arch/x86/kernel/i8253.c`
//! for the tick, `tsc.c:pit_calibrate_tsc` for the calibration).
//!
//! The PIT counts down a 1.193182 MHz clock ([`PIT_TICK_RATE`], a third of
//! the NTSC colour-burst frequency the original PC derived everything from)
//! on three channels:
//!
//! * **channel 0** drives IRQ 0.  In mode 2 ("rate generator") it reloads
//!   its 16-bit count every time it reaches zero, so loading
//!   `LATCH = PIT_TICK_RATE / HZ` gives an interrupt HZ times a second —
//!   the kernel's tick ([`setup_pit_timer`]).
//! * **channel 2** is wired to the PC speaker, but its gate and output can
//!   be read and written through port 0x61 without making a sound.  In mode
//!   0 ("interrupt on terminal count") its output goes high when the count
//!   runs out: a stopwatch the kernel can poll.  [`pit_calibrate_tsc`]
//!   starts it for a known number of PIT ticks and counts how far the TSC
//!   advances meanwhile: that is the TSC's frequency.
//!
//! Simplified: no one-shot mode (clock events), no HPET or local APIC timer.

/// Input clock of the PIT in Hz (Linux `PIT_TICK_RATE`).
pub const PIT_TICK_RATE: u32 = 1_193_182;

/// Mode/command register.
const PIT_MODE: u16 = 0x43;
/// Channel 0 data port.
const PIT_CH0: u16 = 0x40;
/// Channel 2 data port.
const PIT_CH2: u16 = 0x42;
/// Port B of the keyboard controller: bit 0 gates channel 2, bit 1 connects
/// it to the speaker, bit 5 reads channel 2's output.
const PORT_B: u16 = 0x61;

/// Command: channel 0, low then high byte, mode 2 (rate generator), binary.
const CH0_RATE_GENERATOR: u8 = 0x34;
/// Command: channel 2, low then high byte, mode 0 (terminal count), binary.
const CH2_TERMINAL_COUNT: u8 = 0xb0;

fn outb(port: u16, value: u8) {
    // SAFETY: ports 0x40-0x43 and 0x61 are the PIT and its gate on every
    // PC; only this file touches them.
    unsafe { x86::io::outb(port, value) }
}

fn inb(port: u16) -> u8 {
    // SAFETY: as in outb; reading port B has no side effect.
    unsafe { x86::io::inb(port) }
}

/// The channel-0 reload value for `hz` interrupts per second, rounded to
/// the nearest count (Linux `LATCH`).  It must fit the 16-bit counter,
/// which limits `hz` to 19 and above (the cmdline parser enforces it).
pub const fn latch(hz: u32) -> u16 {
    let latch = (PIT_TICK_RATE + hz / 2) / hz;
    assert!(latch <= u16::MAX as u32, "HZ too low for the PIT's 16-bit counter");
    latch as u16
}

/// Programs channel 0 to interrupt `hz` times a second (Linux
/// `setup_pit_timer` / `init_pit_timer` in periodic mode).
pub fn setup_pit_timer(hz: u32) {
    let latch = latch(hz);
    outb(PIT_MODE, CH0_RATE_GENERATOR);
    outb(PIT_CH0, latch as u8);
    outb(PIT_CH0, (latch >> 8) as u8);
}

/// Measures the TSC's frequency in kHz against PIT channel 2 over `ms`
/// milliseconds (Linux `pit_calibrate_tsc`).  Interrupts do not matter:
/// both clocks run on while the CPU is elsewhere.
///
/// Steps: gate channel 2 on with the speaker disconnected; load it in mode
/// 0 with the number of PIT ticks in `ms` (it starts counting when the
/// second byte arrives); read the TSC; poll port B until channel 2's
/// output goes high; read the TSC again.  TSC cycles per millisecond are
/// kHz.  If the CPU is taken away right after the count is loaded (an SMI
/// on real hardware, the host descheduling the emulator under QEMU) the
/// result is too small; right before the output is seen, too large; in
/// between, it does not matter.  The caller repeats the measurement.
pub fn pit_calibrate_tsc(ms: u32) -> u64 {
    let latch = PIT_TICK_RATE / 1000 * ms;
    assert!(latch <= u16::MAX as u32, "calibration interval of {ms} ms does not fit channel 2");
    outb(PORT_B, (inb(PORT_B) & !0x02) | 0x01);
    outb(PIT_MODE, CH2_TERMINAL_COUNT);
    outb(PIT_CH2, latch as u8);
    outb(PIT_CH2, (latch >> 8) as u8);
    let start = super::cpu::rdtsc();
    while inb(PORT_B) & 0x20 == 0 {
        core::hint::spin_loop();
    }
    let end = super::cpu::rdtsc();
    (end - start) / ms as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test_case]
    fn latch_gives_the_nearest_rate() {
        assert_eq!(latch(100), 11932);
        assert_eq!(latch(1000), 1193);
        // The rate the PIT really produces is within 0.1% of the request.
        for hz in [19, 100, 250, 300, 1000] {
            let actual_millihz = PIT_TICK_RATE as u64 * 1000 / latch(hz) as u64;
            assert!(actual_millihz.abs_diff(hz as u64 * 1000) <= hz as u64, "hz {hz}: {actual_millihz} mHz");
        }
    }
}
