//! Faults in kernel threads and interrupt handlers are reported, and
//! blamed on the test that was running.
//!
//! Each test ends its boot with a panic (xtask boots again for the next):
//! * a kernel thread recursing without end runs into the unmapped guard
//!   page below its stack; the double-fault task reports the overflow and
//!   names the thread;
//! * a panic in a kernel thread, and one in an interrupt handler, reach
//!   the panic handler while the test runs in another thread (or is the
//!   thread that was interrupted): the harness must still report it as
//!   this test's outcome.
#![no_std]
#![no_main]
#![feature(custom_test_frameworks)]
#![test_runner(kernel::testing::test_runner)]
#![reexport_test_harness_main = "test_main"]

use kernel::arch::x86::irq::{IrqReturn, TIMER_IRQ, request_irq};
use kernel::sched::{kthread_join, kthread_run, schedule};
use kernel::should_panic_test;

kernel::test_kernel_init!();

#[allow(unconditional_recursion)]
fn recurse(depth: u32) -> u32 {
    let frame = core::hint::black_box([depth; 32]);
    recurse(depth + 1).wrapping_add(frame[depth as usize % 32])
}

should_panic_test!(
    stack_overflow_in_a_kernel_thread_is_caught,
    "double fault: kernel stack overflow in stack_hog, stack guard page hit",
    || {
        let hog = kthread_run(&|| recurse(0) as i32, "stack_hog").expect("a thread");
        kthread_join(hog);
    }
);

should_panic_test!(a_panic_in_a_kernel_thread_fails_the_running_test, "panic in a kernel thread", || {
    let thread = kthread_run(&|| -> i32 { panic!("panic in a kernel thread") }, "panicker").expect("a thread");
    kthread_join(thread);
});

should_panic_test!(a_panic_in_an_interrupt_handler_fails_the_running_test, "panic in an interrupt handler", || {
    let _cookie = request_irq(TIMER_IRQ, |_: u32| -> IrqReturn { panic!("panic in an interrupt handler") }, "panicker")
        .expect("a slot on IRQ 0");
    loop {
        schedule(); // the next tick panics
    }
});
