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
//!
//! ## Receiving
//! Output is polled (the console must work before interrupts do); input is
//! interrupt driven.  [`serial8250_startup`] (Linux's 8250 driver does the
//! same in `serial8250_startup`) registers `serial8250_interrupt` on IRQ 4
//! and sets the UART's "received data available" interrupt enable bit.
//! The handler moves every byte the UART holds into a ring buffer, so
//! nothing reads the UART in a loop; [`serial_read`] takes bytes out of the
//! ring.  A full ring drops new bytes and counts them (Linux counts
//! `buf_overrun`).  The handler touches only the receive and status
//! registers, with raw port reads: it must not take the console lock,
//! which a thread may hold while it prints (with interrupts off, so the
//! two never overlap on one CPU).

use crate::arch::x86::irq::{COM1_IRQ, IrqReturn, request_irq};
use crate::arch::x86::irqflags::{local_irq_restore, local_irq_save};
use crate::spinlock::SpinLockIrq;
use core::fmt;
use spin::Mutex;
use uart_16550::backend::PioBackend;
use uart_16550::{Config, Uart16550};

const COM1_PORT: u16 = 0x3f8;
/// Receive buffer (read) / transmit holding (write) register.
const UART_RX: u16 = COM1_PORT;
/// Interrupt enable register.
const UART_IER: u16 = COM1_PORT + 1;
/// Line status register.
const UART_LSR: u16 = COM1_PORT + 5;
/// IER: interrupt when received data is available.
const UART_IER_RDI: u8 = 0x01;
/// LSR: a received byte is waiting.
const UART_LSR_DR: u8 = 0x01;
/// Bytes the receive ring holds.
pub const RX_RING_SIZE: usize = 256;

/// COM1, whether the last byte ended a line, and what every line starts
/// with.
pub struct SerialConsole {
    uart: Option<Uart16550<PioBackend>>,
    at_line_start: bool,
    /// Written before the first byte of every line (see [`set_line_prefix`]).
    line_prefix: &'static str,
}

static COM1: Mutex<SerialConsole> =
    Mutex::new(SerialConsole { uart: None, at_line_start: true, line_prefix: "" });

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
    /// Writes `bytes`, starting each line with the line prefix.
    fn write_bytes(&mut self, bytes: &[u8]) {
        for line in bytes.split_inclusive(|&byte| byte == b'\n') {
            if self.at_line_start {
                self.send(self.line_prefix.as_bytes());
            }
            self.send(line);
            self.at_line_start = line.ends_with(b"\n");
        }
    }

    /// Puts bytes on the wire, with a carriage return before each newline.
    fn send(&mut self, bytes: &[u8]) {
        let Some(uart) = self.uart.as_mut() else { return };
        for &byte in bytes {
            if byte == b'\n' {
                uart.send_bytes_exact(b"\r");
            }
            uart.send_bytes_exact(&[byte]);
        }
    }

    /// Writes one whole line without the line prefix, on a line of its own:
    /// for the test harness's KTAP lines, which must start in column 0.
    pub fn write_unprefixed_line(&mut self, line: fmt::Arguments) {
        if !self.at_line_start {
            self.write_bytes(b"\n");
        }
        let prefix = core::mem::take(&mut self.line_prefix);
        let _ = fmt::Write::write_fmt(self, format_args!("{line}\n"));
        self.line_prefix = prefix;
    }
}

/// Makes every line the console prints from now on start with `prefix`.
/// The test harness sets `"# "`: the kernel's messages during a test run
/// then are KTAP diagnostic lines, and the serial log stays valid KTAP.
pub fn set_line_prefix(prefix: &'static str) {
    with_console(|console| console.line_prefix = prefix);
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

/// Received bytes not read yet.
struct RxRing {
    bytes: [u8; RX_RING_SIZE],
    /// Index of the oldest byte.
    head: usize,
    len: usize,
    /// Bytes dropped because the ring was full.
    overruns: u32,
}

static RX: SpinLockIrq<RxRing> = SpinLockIrq::new(RxRing { bytes: [0; RX_RING_SIZE], head: 0, len: 0, overruns: 0 });
/// Where a reader sleeps until a byte arrives ([`serial_read_wait`]).
static RX_WAIT: crate::sched::WaitQueueHead = crate::sched::WaitQueueHead::new();

fn uart_inb(port: u16) -> u8 {
    // SAFETY: COM1's receive and status registers; reading them only takes
    // a received byte (which the caller stores) or clears status bits.
    unsafe { x86::io::inb(port) }
}

fn uart_outb(port: u16, value: u8) {
    // SAFETY: COM1's registers, written by this module only, under the
    // console lock.
    unsafe { x86::io::outb(port, value) }
}

/// Turns on the receive interrupt (see the module doc).  Called by
/// `start_kernel` after `init_IRQ`; does nothing without a UART.
pub fn serial8250_startup() {
    with_console(|console| {
        if console.uart.is_none() {
            return;
        }
        let _ = request_irq(COM1_IRQ, serial8250_interrupt, "serial").expect("IRQ 4 is free at boot");
        uart_outb(UART_IER, uart_inb(UART_IER) | UART_IER_RDI);
    });
}

/// Moves every received byte into the ring (Linux `serial8250_interrupt`
/// -> `receive_chars`).
fn serial8250_interrupt(_irq: u32) -> IrqReturn {
    let mut rx = RX.lock();
    let mut handled = IrqReturn::None;
    while uart_inb(UART_LSR) & UART_LSR_DR != 0 {
        let byte = uart_inb(UART_RX);
        handled = IrqReturn::Handled;
        if rx.len == RX_RING_SIZE {
            rx.overruns += 1;
            continue;
        }
        let tail = (rx.head + rx.len) % RX_RING_SIZE;
        rx.bytes[tail] = byte;
        rx.len += 1;
    }
    drop(rx);
    if handled == IrqReturn::Handled && RX_WAIT.waitqueue_active() {
        RX_WAIT.wake_up();
    }
    handled
}

/// Like [`serial_read`], but sleeps until at least one byte has arrived
/// (a tty's blocking `read`). Must be called where sleeping is allowed.
pub fn serial_read_wait(buf: &mut [u8]) -> usize {
    loop {
        let count = serial_read(buf);
        if count > 0 || buf.is_empty() {
            return count;
        }
        RX_WAIT.wait_event(|| RX.lock().len > 0);
    }
}

/// Takes up to `buf.len()` received bytes, oldest first; returns how many.
/// Never waits.
pub fn serial_read(buf: &mut [u8]) -> usize {
    let mut rx = RX.lock();
    let count = rx.len.min(buf.len());
    for slot in &mut buf[..count] {
        *slot = rx.bytes[rx.head];
        rx.head = (rx.head + 1) % RX_RING_SIZE;
        rx.len -= 1;
    }
    count
}

/// Bytes dropped because the ring was full.
pub fn serial_rx_overruns() -> u32 {
    RX.lock().overruns
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::x86::irq::kstat_irqs_cpu;
    use crate::arch::x86::smp::smp_processor_id;
    use crate::preempt::{preempt_disable, preempt_enable};

    /// Modem control register and its loopback bit: the transmitter feeds
    /// the receiver instead of the line.
    const UART_MCR: u16 = COM1_PORT + 4;
    const UART_MCR_LOOP: u8 = 0x10;
    /// LSR: the transmitter (holding and shift register) is empty.
    const UART_LSR_TEMT: u8 = 0x40;

    fn wait_transmitter_empty() {
        while uart_inb(UART_LSR) & UART_LSR_TEMT == 0 {
            core::hint::spin_loop();
        }
    }

    /// Bytes sent in loopback mode arrive through the receive interrupt.
    /// QEMU raises IRQ 4 in loopback mode (a real PC would not: there the
    /// MCR's OUT2 bit, which gates the IRQ line, is disconnected in
    /// loopback), so this exercises the whole path: UART, PIC, `do_IRQ`,
    /// handler, ring.  The console stays locked meanwhile — anything
    /// printed would be looped back too — with interrupts on, and
    /// preemption off so no other thread waits on the lock.
    #[test_case]
    fn received_bytes_arrive_through_the_interrupt() {
        let mut scratch = [0; RX_RING_SIZE];
        serial_read(&mut scratch);
        let sent = b"rx via IRQ 4";
        let irqs_before = kstat_irqs_cpu(COM1_IRQ, smp_processor_id());
        let overruns_before = serial_rx_overruns();

        preempt_disable();
        let console = COM1.lock();
        wait_transmitter_empty();
        let mcr = uart_inb(UART_MCR);
        uart_outb(UART_MCR, mcr | UART_MCR_LOOP);
        for &byte in sent {
            wait_transmitter_empty();
            uart_outb(UART_RX, byte);
        }
        let deadline = crate::time::jiffies() + crate::time::msecs_to_jiffies(2000);
        while RX.lock().len < sent.len() && crate::time::jiffies() < deadline {
            core::hint::spin_loop();
        }
        wait_transmitter_empty();
        uart_outb(UART_MCR, mcr);
        drop(console);
        preempt_enable();

        let mut received = [0; 32];
        let count = serial_read(&mut received);
        assert_eq!(&received[..count], sent);
        assert!(kstat_irqs_cpu(COM1_IRQ, smp_processor_id()) > irqs_before, "IRQ 4 was taken");
        assert_eq!(serial_rx_overruns(), overruns_before);
    }
}
