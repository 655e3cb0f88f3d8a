//! Leaving QEMU with an exit status.
//!
//! QEMU's `isa-debug-exit` device (configured by xtask at I/O port 0xf4)
//! ends the emulator when a value is written to it; QEMU's own exit status is
//! then `(value << 1) | 1`.  The test runner in `xtask` reads that status, so
//! the three values below are the whole protocol between a test kernel and
//! its host.

/// I/O port of the `isa-debug-exit` device.
const ISA_DEBUG_EXIT_PORT: u16 = 0xf4;

/// Why the kernel asks QEMU to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum QemuExitCode {
    /// Everything ran and passed (QEMU exits with 33).
    Success = 0x10,
    /// A test failed or the kernel panicked (QEMU exits with 35).
    Failed = 0x11,
    /// A test ended this boot (it panicked): boot again and resume after it (QEMU exits with 37).
    Restart = 0x12,
}

/// Stops QEMU with `code`.  On real hardware, or a QEMU without the device,
/// the write does nothing and the CPU is halted instead.
pub fn exit_qemu(code: QemuExitCode) -> ! {
    // SAFETY: port 0xf4 is the isa-debug-exit device xtask configures; on a
    // machine without it the port is unused and the write is ignored.
    unsafe { x86::io::outl(ISA_DEBUG_EXIT_PORT, code as u32) };
    crate::arch::x86::cpu::halt_forever()
}
