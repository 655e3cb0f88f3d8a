//! The COM1 serial port: the kernel's console.
//!
//! Everything the kernel prints goes to the first 16550 UART at I/O port
//! 0x3f8, which QEMU connects to the host's standard output (`-serial
//! stdio`).  Linux has an early serial console for the same reason: it works
//! before any other driver does.
//!
//! The port sits behind a `spin::Mutex`; a panic that interrupts a print in
//! progress would deadlock on it, so [`force_unlock`] lets the panic path
//! take the port over.

use crate::arch::x86::irqflags::{local_irq_restore, local_irq_save};
use core::fmt;
use spin::Mutex;
use uart_16550::backend::PioBackend;
use uart_16550::{Config, Uart16550};

const COM1_PORT: u16 = 0x3f8;

/// COM1, plus the column we are at (the test harness needs to know whether
/// a line was started but not finished).
pub struct SerialConsole {
    uart: Option<Uart16550<PioBackend>>,
    at_line_start: bool,
}

static COM1: Mutex<SerialConsole> = Mutex::new(SerialConsole { uart: None, at_line_start: true });

/// Initialises COM1 (115200 8N1, FIFOs on).  Printing before this is lost.
pub fn serial_init() {
    // SAFETY: 0x3f8..0x3ff are COM1's registers on every PC and QEMU
    // machine; this module is their only user.
    let mut uart = unsafe { Uart16550::new_port(COM1_PORT) }.expect("COM1's port range is valid");
    // A missing UART is not fatal: the kernel just runs silently.
    if uart.init(Config::default()).is_ok() {
        COM1.lock().uart = Some(uart);
    }
}

impl SerialConsole {
    fn write_bytes(&mut self, bytes: &[u8]) {
        let Some(uart) = self.uart.as_mut() else { return };
        for &byte in bytes {
            if byte == b'\n' {
                uart.send_bytes_exact(b"\r");
            }
            uart.send_bytes_exact(&[byte]);
        }
        if let Some(&last) = bytes.last() {
            self.at_line_start = last == b'\n';
        }
    }
}

impl fmt::Write for SerialConsole {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.write_bytes(s.as_bytes());
        Ok(())
    }
}

/// Runs `f` with the console locked, with interrupts off so that an
/// interrupt handler printing on this CPU cannot deadlock on the lock.
pub fn with_console<R>(f: impl FnOnce(&mut SerialConsole) -> R) -> R {
    let flags = local_irq_save();
    let result = f(&mut COM1.lock());
    local_irq_restore(flags);
    result
}

impl SerialConsole {
    /// Whether the last byte written ended a line.
    pub fn at_line_start(&self) -> bool {
        self.at_line_start
    }
}

/// Breaks the console lock for the panic path.  Called only when this CPU is
/// about to stop for good, so whoever held the lock never continues.
pub fn force_unlock() {
    // SAFETY: see above; the holder (an interrupted print on this CPU) will
    // never resume, so no two writers can use the port at the same time.
    unsafe { COM1.force_unlock() };
}
