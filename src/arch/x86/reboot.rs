//! Restarting the machine (Linux `machine_restart`, `arch/x86/kernel/reboot.c`).
//!
//! Linux i386 tries several ways in turn (`reboot=` picks them); the oldest
//! and most portable is the keyboard controller: command `0xfe` on port
//! `0x64` pulses the CPU's reset line (Linux `kb_wait` + `outb(0xfe, 0x64)`).
//! QEMU's i8042 implements it. If the machine is still running after that,
//! we report it and halt rather than trying a triple fault.

use x86::io::{inb, outb};

/// The i8042 keyboard controller's status/command port.
const KBD_STATUS_PORT: u16 = 0x64;
/// Status bit: the controller's input buffer is full (it is still busy).
const KBD_STAT_IBF: u8 = 0x02;
/// Command: pulse output line 0, wired to the CPU's reset.
const KBD_CMD_PULSE_RESET: u8 = 0xfe;

/// Resets the machine (Linux `machine_restart` with `reboot=k`).
pub fn machine_restart() -> ! {
    for _ in 0..0x10000 {
        // SAFETY: port 0x64 is the i8042's status register on every PC;
        // reading it has no side effect.
        if unsafe { inb(KBD_STATUS_PORT) } & KBD_STAT_IBF == 0 {
            break;
        }
        core::hint::spin_loop();
    }
    // SAFETY: the reset command of the i8042; the machine restarts, which
    // is what the caller asked for.
    unsafe { outb(KBD_STATUS_PORT, KBD_CMD_PULSE_RESET) };
    super::time::mdelay(50);
    log::error!("machine_restart: the keyboard controller did not reset the machine; halting");
    super::cpu::halt_forever()
}
