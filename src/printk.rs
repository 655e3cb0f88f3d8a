//! `printk`: the kernel log, printed on the serial console.
//!
//! The kernel logs through the `log` crate's macros (`log::info!` ...); this
//! module is the backend that puts those records on COM1 in the shape of a
//! Linux boot log, so a student can hold our output next to a real `dmesg`:
//! one message per line, no decoration.  Messages below the console log
//! level are printed; the level comes from `loglevel=` and follows Linux's
//! numbering:
//!
//! | Linux level | number | `log` macro |
//! |-------------|--------|-------------|
//! | KERN_ERR    | 3      | `error!`    |
//! | KERN_WARNING| 4      | `warn!`     |
//! | KERN_INFO   | 6      | `info!`     |
//! | KERN_DEBUG  | 7      | `debug!`, `trace!` |
//!
//! The default console log level is 7, so everything but debug output is
//! shown; `loglevel=8` shows debug too, `loglevel=4` only errors.
//!
//! A message always starts on a fresh line, even if something printed half
//! a line before it.  In a test kernel every line also starts with `# ` (the
//! harness sets the console's line prefix), which makes the kernel's
//! messages KTAP diagnostics.

use crate::arch::x86::serial;
use core::fmt::Write;
use core::sync::atomic::{AtomicU8, Ordering};

/// Default console log level (Linux `CONSOLE_LOGLEVEL_DEFAULT`).
pub const DEFAULT_CONSOLE_LOGLEVEL: u8 = 7;

static CONSOLE_LOGLEVEL: AtomicU8 = AtomicU8::new(DEFAULT_CONSOLE_LOGLEVEL);

/// Linux's number for a `log` level.
fn kern_level(level: log::Level) -> u8 {
    match level {
        log::Level::Error => 3,
        log::Level::Warn => 4,
        log::Level::Info => 6,
        log::Level::Debug | log::Level::Trace => 7,
    }
}

struct Printk;

impl log::Log for Printk {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        kern_level(metadata.level()) < CONSOLE_LOGLEVEL.load(Ordering::Relaxed)
    }

    fn log(&self, record: &log::Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        serial::with_console(|console| {
            if !console.at_line_start() {
                let _ = console.write_str("\n");
            }
            let _ = writeln!(console, "{}", record.args());
        });
    }

    fn flush(&self) {}
}

/// Installs the backend (Linux: the console is registered in `setup_arch`).
pub fn printk_init() {
    // A second call (there is none) would just keep the first logger.
    let _ = log::set_logger(&Printk);
    log::set_max_level(log::LevelFilter::Trace);
}

/// Sets the console log level (`loglevel=`).
pub fn set_console_loglevel(level: u8) {
    CONSOLE_LOGLEVEL.store(level, Ordering::Relaxed);
}

/// Prints without a log level or line handling, for text that must appear
/// exactly as written (tables, reports).
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => {
        $crate::printk::_print(format_args!($($arg)*))
    };
}

/// The body of [`print!`]. The arguments are evaluated by the caller,
/// before the console is locked: an argument that allocates, sleeps or logs
/// would otherwise run with the console lock held and interrupts off.
#[doc(hidden)]
pub fn _print(args: core::fmt::Arguments) {
    serial::with_console(|console| {
        let _ = console.write_fmt(args);
    });
}

/// [`print!`] with a newline.
#[macro_export]
macro_rules! println {
    () => { $crate::print!("\n") };
    ($($arg:tt)*) => { $crate::print!("{}\n", format_args!($($arg)*)) };
}
