//! The in-kernel test harness.
//!
//! Tests are ordinary functions marked `#[test_case]` next to the code they
//! test (the nightly `custom_test_frameworks` feature collects them);
//! `cargo test --target i686-kernel.json` links each crate's tests into a
//! bootable kernel whose `kernel_init` calls [`test_runner`].  `xtask test`
//! boots those kernels in QEMU and reads the serial port.
//!
//! The protocol on the serial port (xtask's parser follows it):
//!
//! * `running N tests` when the harness starts;
//! * `test <path> ... ` when a test starts, `ok` or `FAILED` when it ends;
//!   if the test logged something in between, the whole line
//!   `test <path> ... ok` is printed again after the log lines;
//! * failure details follow a `FAILED` on lines indented by four spaces;
//! * `test result: ok. N passed; M failed` at the end, then QEMU exits with
//!   success or failure.
//!
//! A failing assertion panics, and the kernel is built with `panic=abort`,
//! so a panicking test cannot be caught and the boot cannot go on.  The
//! panic handler reports the test as FAILED (or `ok`, for a test that is
//! supposed to panic, see [`ShouldPanic`]) and exits with
//! [`QemuExitCode::Restart`]; xtask then boots the kernel again with
//! `test_resume=<path>` and the run continues with the next test.

use crate::arch::x86::qemu::{QemuExitCode, exit_qemu};
use crate::printk::LOG_LINES;
use crate::{print, println};
use core::fmt::{self, Write};
use crate::spinlock::SpinLockIrq;
use core::sync::atomic::Ordering;

/// Something the harness can run.
pub trait Testable: Sync {
    /// Full path of the test, e.g. `kernel::cmdline::tests::good_input`.
    fn name(&self) -> &'static str;
    /// Runs the test; returning means it passed.
    fn run(&self);
    /// `Some(text)` if the test passes only by panicking with a message that
    /// contains `text`.
    fn expected_panic(&self) -> Option<&'static str> {
        None
    }
}

impl<T: Fn() + Sync> Testable for T {
    fn name(&self) -> &'static str {
        core::any::type_name::<T>()
    }
    fn run(&self) {
        self()
    }
}

/// A test that must panic with a message containing `expected`, e.g. one
/// that provokes a page fault.  Declare it with [`should_panic_test!`].
pub struct ShouldPanic {
    pub name: &'static str,
    pub expected: &'static str,
    pub test: fn(),
}

impl Testable for ShouldPanic {
    fn name(&self) -> &'static str {
        self.name
    }
    fn run(&self) {
        (self.test)()
    }
    fn expected_panic(&self) -> Option<&'static str> {
        Some(self.expected)
    }
}

/// Declares a test that passes only if it panics with a message containing
/// `$expected`:
///
/// ```ignore
/// should_panic_test!(reads_unmapped_page, "page fault at 0xdead0000", || { ... });
/// ```
#[macro_export]
macro_rules! should_panic_test {
    ($name:ident, $expected:expr, $body:expr) => {
        #[test_case]
        #[allow(non_upper_case_globals)]
        static $name: $crate::testing::ShouldPanic = $crate::testing::ShouldPanic {
            name: concat!(module_path!(), "::", stringify!($name)),
            expected: $expected,
            test: $body,
        };
    };
}

/// The test running now, for the panic handler.
struct CurrentTest {
    name: &'static str,
    expected_panic: Option<&'static str>,
    log_lines_at_start: usize,
}

/// Interrupt-safe: a panic in an interrupt handler must find it unlocked.
static CURRENT_TEST: SpinLockIrq<Option<CurrentTest>> = SpinLockIrq::new(None);

/// Which tests this boot runs: those matching `test=` (all if unset), after
/// the one named by `test_resume=`.
fn selected<'a>(
    tests: &'a [&'a dyn Testable],
    filter: Option<&'a str>,
    resume_after: Option<&'a str>,
) -> impl Iterator<Item = &'a dyn Testable> + 'a {
    let start = match resume_after {
        Some(name) => match tests.iter().position(|t| t.name() == name) {
            Some(index) => index + 1,
            None => {
                log::warn!("test_resume={name}: no such test, nothing to resume");
                tests.len()
            }
        },
        None => 0,
    };
    tests[start..]
        .iter()
        .copied()
        .filter(move |t| filter.is_none_or(|f| t.name().contains(f)))
}

/// Runs the tests of this kernel and ends the QEMU run (the
/// `custom_test_frameworks` runner).
pub fn test_runner(tests: &[&dyn Testable]) -> ! {
    let params = crate::init::kernel_params();
    let count = selected(tests, params.test_filter, params.test_resume).count();
    println!("running {count} tests");
    let mut passed = 0;
    let mut failed = 0;
    for test in selected(tests, params.test_filter, params.test_resume) {
        if run_one(test) {
            passed += 1;
        } else {
            failed += 1;
        }
    }
    let verdict = if failed == 0 { "ok" } else { "FAILED" };
    println!("test result: {verdict}. {passed} passed; {failed} failed");
    if count == 0 {
        println!("error: no tests were run");
        exit_qemu(QemuExitCode::Failed);
    }
    exit_qemu(if failed == 0 { QemuExitCode::Success } else { QemuExitCode::Failed })
}

/// Runs one test; returns whether it passed (a failure by panic does not
/// return, see the module doc).
fn run_one(test: &dyn Testable) -> bool {
    print!("test {} ... ", test.name());
    *CURRENT_TEST.lock() = Some(CurrentTest {
        name: test.name(),
        expected_panic: test.expected_panic(),
        log_lines_at_start: LOG_LINES.load(Ordering::Relaxed),
    });
    test.run();
    let current = CURRENT_TEST.lock().take().expect("set above");
    match current.expected_panic {
        None => {
            report(&current, "ok");
            true
        }
        Some(expected) => {
            report(&current, "FAILED");
            println!("    the test returned, but it should have panicked with \"{expected}\"");
            false
        }
    }
}

/// Finishes the `test ... ` line, repeating it in full if log output broke it.
fn report(test: &CurrentTest, verdict: &str) {
    if LOG_LINES.load(Ordering::Relaxed) != test.log_lines_at_start {
        println!("test {} ... {verdict}", test.name);
    } else {
        println!("{verdict}");
    }
}

/// Called by the panic handler.  If a test is running, reports it and ends
/// this boot with [`QemuExitCode::Restart`]; otherwise returns so the
/// handler reports a kernel panic.
pub fn test_panicked(message: &fmt::Arguments) {
    // The panic may have interrupted the harness itself holding the lock.
    let Some(current) = CURRENT_TEST.try_lock().and_then(|mut c| c.take()) else { return };
    let mut text = FixedText::<512>::new();
    let _ = write!(text, "{message}");
    match current.expected_panic {
        Some(expected) if text.as_str().contains(expected) => report(&current, "ok"),
        Some(expected) => {
            report(&current, "FAILED");
            println!("    panicked with \"{}\"", text.as_str());
            println!("    but the expected message contains \"{expected}\"");
        }
        None => {
            report(&current, "FAILED");
            println!("    {}", text.as_str());
        }
    }
    exit_qemu(QemuExitCode::Restart)
}

/// A fixed-capacity string (no heap here) that silently truncates.
pub struct FixedText<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> FixedText<N> {
    pub const fn new() -> Self {
        Self { bytes: [0; N], len: 0 }
    }
    pub fn as_str(&self) -> &str {
        // Truncation in write_str keeps whole characters, so this is valid.
        core::str::from_utf8(&self.bytes[..self.len]).unwrap_or("<invalid utf-8>")
    }
}

impl<const N: usize> Write for FixedText<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            let mut buf = [0; 4];
            let encoded = c.encode_utf8(&mut buf).as_bytes();
            if self.len + encoded.len() > N {
                break;
            }
            self.bytes[self.len..self.len + encoded.len()].copy_from_slice(encoded);
            self.len += encoded.len();
        }
        Ok(())
    }
}

/// Defines `kernel_init` for a test kernel in `tests/`: boot, then run the
/// kernel's tests (the crate root names the harness entry with
/// `#![reexport_test_harness_main = "test_main"]`).
#[macro_export]
macro_rules! test_kernel_init {
    () => {
        #[unsafe(no_mangle)]
        fn kernel_init() -> ! {
            test_main();
            unreachable!("the test runner ends the QEMU run")
        }
    };
}
