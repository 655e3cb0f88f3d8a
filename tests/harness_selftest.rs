//! The test harness tested: a kernel with passing, failing, panicking,
//! skipping and should-panic tests, and one that returns with interrupts
//! off.  `xtask test` boots it and checks that
//! exactly the bad tests are reported FAILED, the skipping one skipped — including two whose panic happens in
//! another kernel thread and in an interrupt handler, not in the test's own
//! code —, that the run goes on after each panic, and that the boot ends
//! with a failure status.
#![no_std]
#![no_main]
#![feature(custom_test_frameworks)]
#![test_runner(kernel::testing::test_runner)]
#![reexport_test_harness_main = "test_main"]

use kernel::arch::x86::irq::{IrqReturn, TIMER_IRQ, request_irq};
use kernel::sched::{kthread_join, kthread_run, schedule};
use kernel::should_panic_test;

kernel::test_kernel_init!();

#[test_case]
fn passing_test() {
    assert_eq!(core::hint::black_box(2) + 2, 4);
}

#[test_case]
fn deliberately_failing() {
    assert_eq!(core::hint::black_box(1), 2, "this test fails on purpose");
}

should_panic_test!(should_panic_test, "expected panic", || panic!("an expected panic"));

#[test_case]
fn skipping_test() {
    if core::hint::black_box(true) {
        kernel::skip!("this test skips itself");
    }
    panic!("a skipped test must not go on");
}

#[test_case]
fn panicking_test() {
    log::info!("a log line in the middle of a test");
    panic!("a panic inside a test");
}

#[test_case]
fn runs_after_panic() {
    log::info!("the harness resumed after the panicking test");
}

#[test_case]
fn panic_in_a_kernel_thread() {
    let thread = kthread_run(&|| -> i32 { panic!("a panic in a kernel thread") }, "panicker").expect("a thread");
    kthread_join(thread);
}

#[test_case]
fn panic_in_an_interrupt_handler() {
    let _cookie = request_irq(TIMER_IRQ, |_: u32| -> IrqReturn { panic!("a panic in the timer interrupt") }, "panicker")
        .expect("a slot on IRQ 0");
    loop {
        schedule(); // until the next tick
    }
}

#[test_case]
fn leaves_interrupts_disabled() {
    kernel::arch::x86::irqflags::local_irq_disable();
}

#[test_case]
fn runs_after_thread_and_interrupt_panics() {
    log::info!("the harness resumed after the panics in a thread and in an interrupt handler");
}
