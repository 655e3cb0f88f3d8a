//! The in-kernel test harness.
//!
//! Tests are ordinary functions marked `#[test_case]` next to the code they
//! test (the nightly `custom_test_frameworks` feature collects them);
//! `cargo test --target i686-kernel.json` links each crate's tests into a
//! bootable kernel whose `kernel_init` calls [`test_runner`].  `xtask test`
//! boots those kernels in QEMU and reads the serial port.
//!
//! ## The protocol: KTAP version 1
//! Linux's in-kernel tests (KUnit, kselftest) report in KTAP, the Kernel
//! Test Anything Protocol (`Documentation/dev-tools/ktap.rst`), and so does
//! this harness, so the tools students already have (`kunit.py parse`, any
//! TAP reader) read our results:
//!
//! ```text
//! KTAP version 1                             <- the document starts
//! 1..4                                       <- the plan: 4 tests follow
//! # running kernel::mm::a                    <- diagnostic: a test starts
//! ok 1 kernel::mm::a
//! # running kernel::mm::b
//! # Zone ranges: ...                         <- what the test logged
//! ok 2 kernel::mm::b
//! # running kernel::mm::c
//! # assertion failed: nr_free == 3 at ...    <- why it failed, before the result
//! not ok 3 kernel::mm::c
//! # running kernel::mm::d
//! ok 4 kernel::mm::d # SKIP no high memory at this size
//! # Totals: pass:2 fail:1 skip:1 total:4
//! ```
//!
//! Everything the kernel prints while the harness runs goes out as a `# `
//! diagnostic line: the harness gives the console that line prefix
//! ([`serial::set_line_prefix`]), and writes its own result lines without
//! it.  The `# running` line is ours, not KTAP's: when a test hangs or
//! crashes the machine, it tells xtask which test to blame.
//!
//! ## Skipping
//! A test that cannot mean anything in this configuration (a high-memory
//! test on a machine without high memory) calls [`skip!`] with the reason
//! and is reported `ok N name # SKIP reason`, never a silent `ok`.
//!
//! ## Panics
//! A failing assertion panics, and the kernel is built with `panic=abort`,
//! so a panicking test cannot be caught and the boot cannot go on.  The
//! panic handler reports the test (`not ok`, or `ok` for a test that is
//! supposed to panic, see [`ShouldPanic`]) and exits with
//! [`QemuExitCode::Restart`]; xtask then boots the kernel again with
//! `test_resume=<path>`, and the new boot's KTAP document plans and numbers
//! the tests that are left.

use crate::arch::x86::qemu::{QemuExitCode, exit_qemu};
use crate::arch::x86::serial;
use crate::spinlock::SpinLockIrq;
use crate::println;
use crate::fixed_text::FixedText;
use core::fmt::{self, Write};

/// Something the harness can run.
pub trait Testable: Sync {
    /// Full path of the test, e.g. `kernel::cmdline::tests::good_input`.
    fn name(&self) -> &'static str;
    /// Runs the test; returning means it passed (or skipped, see [`skip!`]).
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

/// Ends the running test as skipped, with a reason (KTAP's
/// `ok N name # SKIP reason`).  Use it in the test function itself, before
/// the test has changed anything:
///
/// ```ignore
/// if !has_highmem() {
///     skip!("no high memory at this size");
/// }
/// ```
#[macro_export]
macro_rules! skip {
    ($reason:expr) => {{
        $crate::testing::mark_skipped($reason);
        return;
    }};
}

/// The test running now, for the panic handler.
struct CurrentTest {
    /// The test's number in this boot's KTAP document (from 1).
    number: usize,
    name: &'static str,
    expected_panic: Option<&'static str>,
    /// Set by [`skip!`].
    skipped: Option<&'static str>,
}

/// Interrupt-safe: a panic in an interrupt handler must find it unlocked.
static CURRENT_TEST: SpinLockIrq<Option<CurrentTest>> = SpinLockIrq::new(None);

/// How one test ended.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Passed,
    Failed,
    Skipped,
}

/// Which tests this boot runs: those matching `test=` (all if unset),
/// under a `test_only=` prefix (if given) and not under a `test_exclude=`
/// prefix, after the one named by `test_resume=`.
fn selected<'a>(
    tests: &'a [&'a dyn Testable],
    params: &crate::cmdline::KernelParams<'a>,
) -> impl Iterator<Item = &'a dyn Testable> + 'a {
    let start = match params.test_resume {
        Some(name) => match tests.iter().position(|t| t.name() == name) {
            Some(index) => index + 1,
            None => {
                log::warn!("test_resume={name}: no such test, nothing to resume");
                tests.len()
            }
        },
        None => 0,
    };
    let filter = params.test_filter;
    let exclude = params.test_exclude;
    let only = params.test_only;
    let under = |list: &str, name: &str| list.split(',').any(|prefix| name.starts_with(prefix));
    tests[start..].iter().copied().filter(move |t| {
        let excluded = exclude.is_some_and(|list| under(list, t.name()));
        let included = only.is_none_or(|list| under(list, t.name()));
        filter.is_none_or(|f| t.name().contains(f)) && included && !excluded
    })
}

/// Prints one KTAP line (version, plan, result), in column 0.
fn ktap_line(line: fmt::Arguments) {
    serial::with_console(|console| console.write_unprefixed_line(line));
}

/// Runs the tests of this kernel and ends the QEMU run (the
/// `custom_test_frameworks` runner).
pub fn test_runner(tests: &[&dyn Testable]) -> ! {
    let params = crate::init::kernel_params();
    let count = selected(tests, &params).count();
    serial::set_line_prefix("# ");
    ktap_line(format_args!("KTAP version 1"));
    ktap_line(format_args!("1..{count}"));
    let [mut passed, mut failed, mut skipped] = [0; 3];
    for (index, test) in selected(tests, &params).enumerate() {
        match run_one(index + 1, test) {
            Outcome::Passed => passed += 1,
            Outcome::Failed => failed += 1,
            Outcome::Skipped => skipped += 1,
        }
    }
    println!("Totals: pass:{passed} fail:{failed} skip:{skipped} total:{count}");
    if count == 0 {
        println!("error: no tests were run");
        exit_qemu(QemuExitCode::Failed);
    }
    exit_qemu(if failed == 0 { QemuExitCode::Success } else { QemuExitCode::Failed })
}

/// Runs one test and prints its result line (a failure by panic does not
/// return, see the module doc).
fn run_one(number: usize, test: &dyn Testable) -> Outcome {
    println!("running {}", test.name());
    *CURRENT_TEST.lock() = Some(CurrentTest {
        number,
        name: test.name(),
        expected_panic: test.expected_panic(),
        skipped: None,
    });
    test.run();
    let current = CURRENT_TEST.lock().take().expect("set above");
    let context_broken = left_context_broken();
    let outcome = match (current.expected_panic, current.skipped) {
        _ if context_broken => Outcome::Failed,
        (_, Some(_)) => Outcome::Skipped,
        (None, None) => Outcome::Passed,
        (Some(expected), None) => {
            println!("the test returned, but it should have panicked with \"{expected}\"");
            Outcome::Failed
        }
    };
    report(&current, outcome);
    if context_broken {
        // The next test would run in a broken context: start afresh.
        exit_qemu(QemuExitCode::Restart);
    }
    outcome
}

/// A test must give back the context it was given: interrupts on and a
/// preemption count of 0 (a lock guard dropped in the wrong order, a
/// missing `preempt_enable`...). Reports what it finds wrong and returns
/// whether it found anything.
fn left_context_broken() -> bool {
    let interrupts_off = !crate::arch::x86::irqflags::irqs_enabled();
    let count = crate::preempt::preempt_count();
    if interrupts_off {
        println!("the test returned with interrupts disabled");
    }
    if count.0 != 0 {
        println!("the test returned with preempt_count {:#x}", count.0);
    }
    interrupts_off || count.0 != 0
}

/// `ok N name`, `not ok N name` or `ok N name # SKIP reason`.
fn report(test: &CurrentTest, outcome: Outcome) {
    let (number, name) = (test.number, test.name);
    match outcome {
        Outcome::Passed => ktap_line(format_args!("ok {number} {name}")),
        Outcome::Failed => ktap_line(format_args!("not ok {number} {name}")),
        Outcome::Skipped => {
            let reason = test.skipped.unwrap_or("");
            ktap_line(format_args!("ok {number} {name} # SKIP {reason}"))
        }
    }
}

/// Records that the running test skips itself; called by [`skip!`].
pub fn mark_skipped(reason: &'static str) {
    match CURRENT_TEST.lock().as_mut() {
        Some(current) => current.skipped = Some(reason),
        None => log::warn!("skip!({reason}) outside a test"),
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
    let outcome = match current.expected_panic {
        Some(expected) if text.as_str().contains(expected) => Outcome::Passed,
        Some(expected) => {
            println!("panicked with \"{}\"", text.as_str());
            println!("but the expected message contains \"{expected}\"");
            Outcome::Failed
        }
        None => {
            println!("panicked on CPU {}: {}", crate::arch::x86::smp::smp_processor_id(), text.as_str());
            Outcome::Failed
        }
    };
    report(&current, outcome);
    exit_qemu(QemuExitCode::Restart)
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
